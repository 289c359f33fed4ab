//! Figures shared by every model: the `aedyn validate` figure. Every figure is written as
//! `<stem>.png`, `<stem>.svg` and `<stem>.csv` ([`crate::plot::write_figure`]: the plotted
//! data, long format `panel,series,x,y,z`). The paper figures of each model and the one
//! figure table are in [`crate::reproduce`].

use crate::base::compare::Validation;
use crate::plot::{format_number, Figure, Panel, Series, SeriesStyle};

/// The `aedyn validate` figure: each validation metric against the size on log–log axes
/// (mean ± s.e. over seeds where available), with the headline metric's fitted power law.
pub fn validate_figure(v: &Validation) -> Figure {
    let sizes: Vec<f64> = v.rows.iter().map(|r| r.size).collect();
    let head = v.headline();
    let dev: Vec<f64> = v.rows.iter().map(|r| r.metrics[0].1).collect();
    // The fitted line through the geometric centre of the points.
    let (lx, ly): (Vec<f64>, Vec<f64>) = (
        sizes.iter().map(|d| d.ln()).collect(),
        dev.iter().map(|d| d.ln()).collect(),
    );
    let (mx, my) = (
        lx.iter().sum::<f64>() / lx.len() as f64,
        ly.iter().sum::<f64>() / ly.len() as f64,
    );
    let fit: Vec<f64> = lx
        .iter()
        .map(|x| (my + head.exponent * (x - mx)).exp())
        .collect();
    let size_name = v.size_key.rsplit('.').next().unwrap_or("size");
    let mut p = Panel::new(size_name, "deviation (theory vs simulation)");
    p.x_log = true;
    p.y_log = true;
    // Two decimals, as the fit warrants; metric names lose their underscores (markup).
    let two = |v: f64| format_number((100.0 * v).round() / 100.0);
    let exponent = two(head.exponent);
    p.title = Some(format!(
        "{}: ∝ {size_name}^{{{exponent} ± {}}}",
        head.metric.replace('_', " "),
        two(head.exponent_se)
    ));
    for (i, (name, _, _)) in v.rows[0].metrics.iter().enumerate() {
        let y: Vec<f64> = v.rows.iter().map(|r| r.metrics[i].1).collect();
        let err: Vec<f64> = v.rows.iter().map(|r| r.metrics[i].2).collect();
        let style = if err.iter().all(|e| e.is_finite()) {
            SeriesStyle::ErrorBars { err }
        } else {
            SeriesStyle::Markers
        };
        p.series.push(
            Series::new(sizes.clone(), y, style)
                .with_label(name.replace('_', " "))
                .with_color(5 + i),
        );
    }
    p.series.push(
        Series::new(sizes, fit, SeriesStyle::Line)
            .with_label(format!("fit, slope {exponent}"))
            .with_color(0),
    );
    Figure::row(vec![p])
}
