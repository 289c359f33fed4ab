//! Writes `plots/validate.png`, `.svg` and `.csv` (the figure `validate` of `aedyn reproduce`).
//! Run: `cargo run --release --example validate`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("validate"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
