//! Writes `plots/phase_diagram.png`, `.svg` and `.csv` (the figure `phase_diagram` of
//! `aedyn reproduce`): a 400-point theory sweep (K = 3, three spikes + bulk, t ≤ 10⁴), and
//! prints its wall time — the sweep performance measurement of the README.
//! Run: `cargo run --release --example phase_diagram`.

fn main() -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let written = aedyn::reproduce::reproduce(
        std::path::Path::new("plots"),
        Some("phase_diagram"),
        &|_| {},
    )?;
    println!(
        "wrote {} → plots/ (400 theory points + figure in {:.1} s on {} threads)",
        written.join(", "),
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
