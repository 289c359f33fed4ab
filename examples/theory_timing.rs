//! Wall time of the default autoencoder theory through the library, the work that
//! `aedyn theory` and the Python bindings' `aedyn.theory(aedyn.default_config())` do: build
//! the validated experiment from the default config, then `commands::run_theory`. The
//! reference of `python/benchmarks/theory_speed.py`, which runs this and the Python call in
//! one go. Prints the minimum and the median over the repeats, in seconds.
//!
//! `cargo run --release --example theory_timing [REPEATS]`

use std::time::Instant;

fn main() -> aedyn::Result<()> {
    let repeats: usize = std::env::args()
        .nth(1)
        .map_or(Ok(20), |a| a.parse())
        .map_err(|e| aedyn::Error::config("REPEATS", format!("{e}")))?;
    let once = || -> aedyn::Result<f64> {
        let start = Instant::now();
        let table = aedyn::registry::default_table("autoencoder")?;
        let exp = aedyn::registry::load_table(table, std::path::Path::new("."))?;
        aedyn::commands::run_theory(exp.as_ref(), &|_| {})?;
        Ok(start.elapsed().as_secs_f64())
    };
    once()?; // warm-up
    let mut times = (0..repeats.max(1))
        .map(|_| once())
        .collect::<aedyn::Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    println!("min {:.6} median {:.6}", times[0], times[times.len() / 2]);
    Ok(())
}
