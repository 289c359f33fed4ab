//! Writes `plots/sequential.png`, `.svg` and `.csv` (the figure `sequential` of `aedyn reproduce`).
//! Run: `cargo run --release --example sequential`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("sequential"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
