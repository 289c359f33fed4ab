//! Writes `plots/sweep_lr.png`, `.svg` and `.csv` (the figure `sweep_lr` of `aedyn reproduce`).
//! Run: `cargo run --release --example sweep_lr`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("sweep_lr"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
