//! Writes `plots/truncated.png`, `.svg` and `.csv` (the figure `truncated` of `aedyn reproduce`).
//! Run: `cargo run --release --example truncated`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("truncated"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
