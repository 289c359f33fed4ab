//! The paper's sequential learning (Refinetti & Goldt 2022, Fig. 1): an erf autoencoder with
//! K = 2 on the normalised two-spike data (the default config: θ = (25, 9)/35, b = 1/35)
//! passes through plateaus at the PCA errors ε_PCA(m) (docs/autoencoder.md §3.7). Slow: run in release.

use aedyn::autoencoder::params::Params;
use aedyn::autoencoder::sgd::Simulator;
use aedyn::base::grid::Spacing;

/// Seeds averaged.
const SEEDS: usize = 8;
/// Half-width of the band around ε_PCA(1) that counts as "on the plateau", relative.
const BAND: f64 = 0.2;
/// Minimum time spent inside the band. Without a plateau the mean error falls through it at
/// the speed of the first drop (≈ 0.03 per unit time around t ≈ 12), i.e. in ≈ 2 time units.
const MIN_PLATEAU: f64 = 10.0;
/// Relative tolerance of the initial plateau at ε_PCA(0): the initial network output is
/// O(σ0²) (σ0 = 0.1), so ε(0) = ε_PCA(0)(1 + O(σ0²)) up to O(1/√D) fluctuations.
const INITIAL_TOL: f64 = 0.02;

#[test]
fn erf_autoencoder_passes_through_the_pca_plateaus() {
    let mut c = Params::default();
    c.data.dim = 2000;
    c.output.t_max = 100.0;
    c.output.points = 201;
    c.output.spacing = Spacing::Linear;
    c.simulation.test_samples = aedyn::autoencoder::params::TestSamples::Count(0);
    let exp = c.check().unwrap();
    assert_eq!(exp.model.lr, 0.4);
    assert_eq!(exp.config.init.std, 0.1);
    let pca = exp.covariance.pca_errors(2);
    let sim = Simulator::new(&exp).unwrap();
    let seeds: Vec<u64> = (0..SEEDS).map(|j| exp.replicate_seed(j)).collect();
    let runs: Vec<_> = aedyn::base::runner::run_seeds(&seeds, |s| sim.run_seed(s, &|_| {}))
        .into_iter()
        .map(|(s, r)| r.unwrap_or_else(|e| panic!("seed {s}: {e}")))
        .collect();
    let times = runs[0].trajectory.times();
    let mean: Vec<f64> = (0..times.len())
        .map(|i| {
            runs.iter()
                .map(|r| r.trajectory.snapshots[i].test_error)
                .sum::<f64>()
                / SEEDS as f64
        })
        .collect();
    for (t, e) in times.iter().zip(&mean).step_by(10) {
        eprintln!("t = {t:6.1}: mean ε = {e:.5}");
    }
    eprintln!("ε_PCA = {pca:?}");
    assert!(
        (mean[0] / pca[0] - 1.0).abs() < INITIAL_TOL,
        "ε(0) = {} vs ε_PCA(0) = {}",
        mean[0],
        pca[0]
    );
    let dt = times[1] - times[0];
    let inside = mean
        .iter()
        .filter(|e| (*e / pca[1] - 1.0).abs() < BAND)
        .count() as f64
        * dt;
    eprintln!("time within ±{BAND} of ε_PCA(1): {inside}");
    assert!(
        inside >= MIN_PLATEAU,
        "only {inside} time units near ε_PCA(1)"
    );
    let last = *mean.last().unwrap();
    assert!(last < pca[1], "final ε = {last} ≥ ε_PCA(1) = {}", pca[1]);
    assert!(
        last > pca[2],
        "final ε = {last} below the best rank-2 error {}",
        pca[2]
    );
}
