//! Writes `plots/activations.png`, `.svg` and `.csv` (the figure `activations` of `aedyn reproduce`).
//! Run: `cargo run --release --example activations`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("activations"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
