//! The limit theory of any model from a config file (or a model's built-in default), through
//! the model interface: `cargo run --release --example theory -- [CONFIG.toml | MODEL]`.
//! Prints the trajectory's first column (ε_g, the MSE, …) at a few output times.

use aedyn::base::Dynamics;

fn main() -> anyhow::Result<()> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "autoencoder".into());
    let exp: Box<dyn Dynamics> = if arg.ends_with(".toml") {
        aedyn::registry::load_file(std::path::Path::new(&arg))?
    } else {
        aedyn::registry::load_table(aedyn::registry::default_table(&arg)?, ".".as_ref())?
    };
    let run = exp.theory(exp.replicate_seed(0), &|_| {})?;
    let t = &run.table;
    let head = &t.names[0];
    println!("{} theory, {} output times", exp.kind(), t.len());
    for i in (0..t.len()).step_by((t.len() / 8).max(1)) {
        println!(
            "{} = {:>10.4}   {head} = {:.6}",
            t.index_name, t.index[i], t.rows[i][0]
        );
    }
    Ok(())
}
