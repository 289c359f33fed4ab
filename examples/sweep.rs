//! A parameter study in memory: the autoencoder's theory over the initial weight scale σ0
//! and the time it takes to learn each principal component (the sweep behind the
//! `phase_diagram` figure, on one axis). `cargo run --release --example sweep`.

use std::path::Path;

use aedyn::sweep::{evaluate, Sweep};

const SWEEP: &str = r#"
[network]
hidden = 2
[output]
t_max = 2000.0
[sweep]
what = "theory"
[[sweep.axis]]
field = "init.std"
from = 0.01
to = 1.0
n = 7
scale = "log"
"#;

fn main() -> anyhow::Result<()> {
    let sweep = Sweep::from_toml(SWEEP, Path::new("example"), Path::new("."))?;
    let results = evaluate(&sweep, sweep.tasks()?, &|_| {});
    println!(
        "{:>8} {:>10} {:>10} {:>14}",
        "σ0", "t_learn_1", "t_learn_2", "plateau_1"
    );
    for (task, record) in &results {
        let r = &record.results[0];
        let get = |n: &str| r.get(n).unwrap_or(f64::NAN);
        println!(
            "{:>8.4} {:>10.2} {:>10.2} {:>14.2}",
            task.values[0].as_float().unwrap_or(f64::NAN),
            get("t_learn_1"),
            get("t_learn_2"),
            get("plateau_1_duration")
        );
    }
    Ok(())
}
