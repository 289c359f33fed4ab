//! Finite-width SGD against the theory for the autoencoder (Refinetti & Goldt 2022): four
//! seeds at D = 1000, each seed's ODE started from its exact initial weights, and the
//! deviation of the test error. `cargo run --release --example compare`.

use aedyn::autoencoder::Params;
use aedyn::commands::run_comparison;

fn main() -> anyhow::Result<()> {
    let mut params = Params::default(); // erf, K = 2, θ = (25, 9)/35, η = 0.4
    params.output.t_max = 50.0;
    params.simulation.test_samples = aedyn::autoencoder::params::TestSamples::Count(0); // the exact ε_g from the order parameters suffices
    let exp = params.check()?;
    let (cmp, sim) = run_comparison(&exp, Some(4), &|_| {})?;
    let te = cmp.summary("test_error").expect("compared");
    println!(
        "{} seeds, {:.0} SGD steps/s: normalised max deviation of ε_g {:.4} (mean over seeds), {:.4} (worst)",
        cmp.pairs.len(),
        sim.steps_per_second,
        te.mean_over_seeds.max_norm.unwrap_or(f64::NAN),
        te.worst_over_seeds.max_norm.unwrap_or(f64::NAN),
    );
    let (sgd, theory) = &cmp.pairs[0];
    let (a, b) = (
        sgd.table.column("test_error"),
        theory.table.column("test_error"),
    );
    for (i, t) in sgd.table.index.iter().enumerate().step_by(20) {
        println!(
            "t = {t:8.3}: SGD {:.5}, theory {:.5}",
            a.as_ref().unwrap()[i],
            b.as_ref().unwrap()[i]
        );
    }
    Ok(())
}
