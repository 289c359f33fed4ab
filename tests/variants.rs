//! The paper's variants end to end (issue: variants), on the shipped configs of
//! `examples/configs/`: theory against simulation through `aedyn compare`, and the paper's
//! qualitative claims in both — tied erf fails where untied erf succeeds, a trained bias
//! helps ReLU, truncated SGD learns the principal components themselves.

use aedyn::autoencoder::params::Experiment;
use aedyn::reproduce::autoencoder::Compared as Comparison;
use aedyn::reproduce::{final_overlaps, off_diagonal_ratio, run_variant};

/// Acceptance bar on the per-seed normalised max deviation of ε_g at D ≥ 1000, averaged over
/// seeds (the criterion of the default experiment's comparison, `tests/compare.rs`).
const MAX_NORM_DEV: f64 = 0.05;
/// The same for the real digits at D = 64, where finite-size effects are large.
const MAX_NORM_DEV_DIGITS: f64 = 0.1;
/// Bound on the worst single seed, as a multiple of the bar: a seed whose noise-driven escape
/// from a plateau comes early or late deviates more (seen: 0.063 for ReLU + bias at D = 1000).
const WORST_SEED_FACTOR: f64 = 2.0;
/// "Exact principal components": off-diagonal overlaps below this fraction of the diagonal.
const OFF_DIAGONAL: f64 = 0.05;

fn run(name: &str, bar: f64) -> (Experiment, Comparison) {
    let (exp, cmp) = run_variant(name, &|_| {}).unwrap();
    assert!(
        cmp.inner.failed.is_empty(),
        "{name}: {:?}",
        cmp.inner.failed
    );
    let te = cmp.summary("test_error").unwrap();
    let worst = te.worst_over_seeds.max_norm.unwrap();
    let mean = te.mean_over_seeds.max_norm.unwrap();
    eprintln!(
        "{name}: {} seeds, normalised max deviation of ε_g: mean {mean:.4}, worst {worst:.4}, ensemble {:.4}",
        cmp.pairs.len(),
        te.ensemble.max_norm.unwrap()
    );
    assert!(mean <= bar, "{name}: mean over seeds {mean} > {bar}");
    assert!(
        worst <= WORST_SEED_FACTOR * bar,
        "{name}: worst seed {worst} > {WORST_SEED_FACTOR} × {bar}"
    );
    (exp, cmp)
}

/// Final ε_g of the first seed's theory, and the seed mean of the simulation's.
fn final_errors(cmp: &Comparison) -> (f64, f64) {
    let last =
        |tr: &aedyn::autoencoder::trajectory::Trajectory| tr.snapshots.last().unwrap().test_error;
    let sim = cmp
        .pairs
        .iter()
        .map(|(r, _)| last(&r.trajectory))
        .sum::<f64>()
        / cmp.pairs.len() as f64;
    (last(&cmp.pairs[0].1), sim)
}

#[test]
fn tied_erf_stalls_where_untied_erf_and_tied_linear_learn() {
    let (exp, untied) = run("untied", MAX_NORM_DEV);
    let (_, tied) = run("tied", MAX_NORM_DEV);
    let (_, linear) = run("tied_linear", MAX_NORM_DEV);
    let pca2 = exp.covariance.pca_errors(2)[2];
    for (name, cmp, lo, hi) in [
        // docs/autoencoder.md §8.5: the tied erf AE plateaus at ε ≈ 0.032 ≈ 2.2 ε_PCA(2).
        ("tied erf", &tied, 2.0, f64::INFINITY),
        // The untied erf AE creeps down to ε_PCA(2) (1.17 ε_PCA(2) at t = 1000).
        ("untied erf", &untied, 1.0, 1.25),
        // Tied linear = Oja's subspace flow: ε_PCA(2) up to the frozen bulk (σ0² b).
        ("tied linear", &linear, 0.99, 1.02),
    ] {
        let (th, sim) = final_errors(cmp);
        eprintln!("{name}: final ε_g theory {th:.5}, SGD {sim:.5}, ε_PCA(2) = {pca2:.5}");
        for (who, e) in [("theory", th), ("SGD", sim)] {
            assert!(
                e > lo * pca2 && e < hi * pca2,
                "{name} {who}: ε = {e} not in ({lo}, {hi}) × ε_PCA(2) = {pca2}"
            );
        }
    }
}

#[test]
fn relu_needs_a_trained_bias() {
    let (exp, plain) = run("relu", MAX_NORM_DEV);
    let (_, bias) = run("relu_bias", MAX_NORM_DEV);
    let pca1 = exp.covariance.pca_errors(2)[1];
    let (plain_th, plain_sim) = final_errors(&plain);
    let (bias_th, bias_sim) = final_errors(&bias);
    eprintln!(
        "ReLU: no bias {plain_th:.5} / {plain_sim:.5}, bias {bias_th:.5} / {bias_sim:.5} (theory / SGD), ε_PCA(1) = {pca1:.5}"
    );
    // docs/autoencoder.md §8.4: without a bias K = 2 ReLU units stall at ε_PCA(1); with one they go below it.
    for e in [plain_th, plain_sim] {
        assert!(
            (e / pca1 - 1.0).abs() < 0.02,
            "no bias: {e} vs ε_PCA(1) = {pca1}"
        );
    }
    for e in [bias_th, bias_sim] {
        assert!(e < 0.95 * pca1, "bias: {e} not below ε_PCA(1) = {pca1}");
    }
}

#[test]
fn truncated_sgd_and_sanger_learn_the_principal_components() {
    let (exp, vanilla) = run("untied", MAX_NORM_DEV);
    let (exp_t, truncated) = run("truncated", MAX_NORM_DEV);
    let (exp_s, sanger) = run("sanger", MAX_NORM_DEV);
    for (name, e, cmp) in [
        ("truncated", &exp_t, &truncated),
        ("sanger", &exp_s, &sanger),
    ] {
        for (run, th) in &cmp.pairs {
            for (who, tr) in [("theory", th), ("SGD", &run.trajectory)] {
                let ratio = off_diagonal_ratio(&final_overlaps(e, tr).unwrap());
                eprintln!(
                    "{name} seed {} {who}: off-diagonal/diagonal {ratio:.2e}",
                    run.seed
                );
                assert!(
                    ratio < OFF_DIAGONAL,
                    "{name} seed {} {who}: {ratio}",
                    run.seed
                );
            }
        }
    }
    // Vanilla SGD mixes the components (no unit is a single PC): for every seed some unit
    // keeps a large overlap with another unit's component.
    for (run, th) in &vanilla.pairs {
        let ratio = off_diagonal_ratio(&final_overlaps(&exp, th).unwrap());
        eprintln!(
            "vanilla seed {} theory: off-diagonal/diagonal {ratio:.2}",
            run.seed
        );
        assert!(
            ratio > 4.0 * OFF_DIAGONAL,
            "vanilla seed {}: {ratio}",
            run.seed
        );
    }
}

#[test]
fn real_digits_theory_matches_training_on_the_samples() {
    let (exp, cmp) = run("digits", MAX_NORM_DEV_DIGITS);
    assert_eq!(exp.covariance.dim(), 64);
    // The simulator really trained on the samples (empirical error on held-out draws of the
    // samples agrees with the Gaussian-equivalent error from the order parameters).
    let (_, sim) = final_errors(&cmp);
    let emp = cmp
        .pairs
        .iter()
        .map(|(r, _)| {
            r.trajectory
                .snapshots
                .last()
                .unwrap()
                .test_error_empirical
                .unwrap()
        })
        .sum::<f64>()
        / cmp.pairs.len() as f64;
    eprintln!("digits: final ε_g from order parameters {sim:.4}, empirical {emp:.4}");
    assert!((emp / sim - 1.0).abs() < 0.05, "{emp} vs {sim}");
    let pca = exp.covariance.pca_errors(2);
    assert!(
        sim < pca[1],
        "digits: {sim} not below ε_PCA(1) = {}",
        pca[1]
    );
}
