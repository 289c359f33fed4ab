//! The mean-field weight-tied autoencoder (Nguyen 2021): the exact ReLU (logistic) theory of
//! the block gains against N-neuron SGD on the reference experiment (d = 50, four blocks,
//! λ = 0.3). `cargo run --release --example mean_field`.

use aedyn::base::Dynamics;
use aedyn::mean_field::Params;

fn main() -> anyhow::Result<()> {
    let mut p = Params::default();
    p.network.neurons = 400;
    let exp = p.check()?;
    let theory = exp.theory(0, &|_| {})?;
    let sgd = exp.simulate(exp.replicate_seed(0), &|_| {})?;
    println!("final gains (theory vs SGD, N = {}):", p.network.neurons);
    for name in theory.table.names.iter().filter(|n| n.starts_with("gain")) {
        println!(
            "  {name}: {:.4} vs {:.4}",
            theory.table.last(name).unwrap(),
            sgd.table.last(name).unwrap()
        );
    }
    println!(
        "MSE at t = {}: {:.5} vs {:.5}",
        theory.table.index.last().unwrap(),
        theory.table.last("test_error").unwrap(),
        sgd.table.last("test_error").unwrap()
    );
    Ok(())
}
