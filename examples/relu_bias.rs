//! Writes `plots/relu_bias.png`, `.svg` and `.csv` (the figure `relu_bias` of `aedyn reproduce`).
//! Run: `cargo run --release --example relu_bias`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("relu_bias"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
