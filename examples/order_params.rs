//! Writes `plots/order_params.png`, `.svg` and `.csv` (the figure `order_params` of `aedyn reproduce`).
//! Run: `cargo run --release --example order_params`.

fn main() -> anyhow::Result<()> {
    let written =
        aedyn::reproduce::reproduce(std::path::Path::new("plots"), Some("order_params"), &|_| {})?;
    println!("wrote {} → plots/", written.join(", "));
    Ok(())
}
