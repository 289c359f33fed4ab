//! Writes `plots/mf_width.png`, `.svg` and `.csv` (the figure `mf_width` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_width`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_width"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
