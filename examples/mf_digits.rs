//! Writes `plots/mf_digits.png`, `.svg` and `.csv` (the figure `mf_digits` of `aedyn reproduce`).
//! Run: `cargo run --release --example mf_digits`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("mf_digits"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
