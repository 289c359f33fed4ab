//! Writes `plots/tied.png`, `.svg` and `.csv` (the figure `tied` of `aedyn reproduce`).
//! Run: `cargo run --release --example tied`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("tied"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
