//! Writes `plots/digits.png`, `.svg` and `.csv` (the figure `digits` of `aedyn reproduce`).
//! Run: `cargo run --release --example digits`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("digits"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
