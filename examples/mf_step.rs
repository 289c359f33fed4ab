//! Writes `plots/mf_step.png`, `.svg` and `.csv` (the figure `mf_step` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_step`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_step"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
