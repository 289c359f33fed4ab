//! A spectrum of your own: a power law ρ_τ ∝ τ^(−1.5) over D = 500 directions, normalised to
//! tr Ω/D = 1 and binned into 24 groups for the theory, and the times at which the
//! autoencoder learns its first three principal components.
//! `cargo run --release --example custom_spectrum`.

use aedyn::autoencoder::params::{DataKind, Params};
use aedyn::base::Dynamics;

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rho: Vec<String> = (1..=500)
        .map(|t| format!("{}", (t as f64).powf(-1.5)))
        .collect();
    let file = dir.path().join("rho.csv");
    std::fs::write(&file, rho.join("\n"))?;
    let mut p = Params::default();
    p.data.kind = DataKind::Eigen;
    p.data.dim = 500;
    p.data.eigenvalues = Some(file);
    p.data.bins = Some(24);
    p.network.hidden = 3;
    p.output.t_max = 2000.0;
    let exp = p.check()?;
    let run = exp.theory(0, &|_| {})?;
    let pca = exp.covariance.pca_errors(3);
    println!("ε_PCA(m), m = 0…3: {pca:.4?}");
    for (name, v) in run.summary.iter().filter(|(n, _)| n.starts_with("t_learn")) {
        println!("{name} = {v:.1}");
    }
    println!(
        "final ε_g = {:.4}",
        run.table.last("test_error").unwrap_or(f64::NAN)
    );
    Ok(())
}
