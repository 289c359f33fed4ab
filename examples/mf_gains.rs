//! Writes `plots/mf_gains.png`, `.svg` and `.csv` (the figure `mf_gains` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_gains`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_gains"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
