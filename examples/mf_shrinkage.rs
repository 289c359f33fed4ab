//! Writes `plots/mf_shrinkage.png`, `.svg` and `.csv` (the figure `mf_shrinkage` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_shrinkage`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_shrinkage"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
