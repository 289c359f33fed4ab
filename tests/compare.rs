//! Theory against simulation on the default experiment (issue: comparison): erf, K = 2, the
//! paper's normalised two-spike data, D = 1000, 8 seeds — the per-seed normalised max
//! deviation of the test error, averaged over seeds, is ≤ 0.05; at D = 4000 it is smaller.
//!
//! "Smaller" is judged on the median over the seeds: the per-seed deviation is heavy-tailed
//! (a seed whose noise-driven escape from the plateau comes late deviates 3–5× the typical
//! one), so the mean of 8 seeds can go either way at these levels (24 seeds: mean 0.0095 at
//! D = 1000, 0.0072 at D = 4000, with single seeds at 0.029 and 0.034).

use aedyn::autoencoder::params::Params;

/// Acceptance bar of the issue for D = 1000.
const MAX_NORM_DEV_D1000: f64 = 0.05;

/// Mean and median over seeds of the per-seed normalised max deviation of ε_g.
fn norm_dev(dim: usize, seeds: usize) -> (f64, f64) {
    let mut c = Params::default();
    c.data.dim = dim;
    c.simulation.test_samples = aedyn::autoencoder::params::TestSamples::Count(0);
    let exp = c.check().unwrap();
    let (cmp, _) = aedyn::commands::run_comparison(&exp, Some(seeds), &|_| {}).unwrap();
    assert!(cmp.failed.is_empty(), "{:?}", cmp.failed);
    let te = cmp.summary("test_error").unwrap();
    let v = te.mean_over_seeds.max_norm.unwrap();
    let mut per_seed: Vec<f64> = te
        .per_seed
        .iter()
        .map(|(_, d)| d.max_norm.unwrap())
        .collect();
    per_seed.sort_by(f64::total_cmp);
    let n = per_seed.len();
    let median = 0.5 * (per_seed[(n - 1) / 2] + per_seed[n / 2]);
    eprintln!(
        "D = {dim}: mean normalised max deviation {v:.4}, median {median:.4}, worst seed {:.4}, \
         ensemble {:.4}",
        te.worst_over_seeds.max_norm.unwrap(),
        te.ensemble.max_norm.unwrap()
    );
    (v, median)
}

#[test]
fn default_experiment_agrees_and_improves_with_dimension() {
    let (d1000, median1000) = norm_dev(1000, 8);
    assert!(d1000 <= MAX_NORM_DEV_D1000, "D = 1000: {d1000}");
    let (_, median4000) = norm_dev(4000, 8);
    assert!(
        median4000 < median1000,
        "median over seeds: D = 4000: {median4000} vs D = 1000: {median1000}"
    );
}
