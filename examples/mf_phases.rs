//! Writes `plots/mf_phases.png`, `.svg` and `.csv` (the figure `mf_phases` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_phases`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_phases"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
