//! The mean-field model's figure parts: block gains and MSE over time.

use crate::mean_field::{MeanFieldExperiment, MfTrajectory};
use crate::plot::{format_number, theory_sgd_keys, Figure, Panel, Series, SeriesStyle};

/// At most this many blocks (the largest eigenvalues) are drawn in mean-field gain panels.
pub const MAX_GAIN_CURVES: usize = 6;

/// Mean-field gain panel: block gains over time, theory lines and simulation markers
/// (first [`MAX_GAIN_CURVES`] blocks).
pub fn gain_panel(
    exp: &MeanFieldExperiment,
    theory: &MfTrajectory,
    sims: &[(&MfTrajectory, String)],
) -> Panel {
    let mut p = Panel::new("t", "gain g_j");
    for (j, b) in exp
        .data
        .block_list()
        .iter()
        .take(MAX_GAIN_CURVES)
        .enumerate()
    {
        let kappa = format!("κ = {}", format_number(b.kappa));
        p.series.push(
            Series::new(theory.times(), theory.gain(j), SeriesStyle::Line)
                .with_label(&kappa)
                .with_name(format!("theory, {kappa}"))
                .with_color(j + 1),
        );
        for (s, (tr, name)) in sims.iter().enumerate() {
            let mut m = Series::new(tr.times(), tr.gain(j), SeriesStyle::Markers)
                .with_name(format!("{name}, {kappa}"))
                .with_color(j + 1);
            if s + 1 < sims.len() {
                m = m.faint();
            }
            p.series.push(m);
        }
    }
    p.series.extend(theory_sgd_keys());
    p
}

/// A mean-field figure: block gains and MSE over time, theory lines and SGD markers
/// (`aedyn compare`: the seed mean).
pub fn gains_figure(
    exp: &MeanFieldExperiment,
    theory: &MfTrajectory,
    sim: &MfTrajectory,
    titles: (String, Option<String>),
) -> Figure {
    let mut g = gain_panel(exp, theory, &[(sim, "SGD".into())]);
    g.title = Some(titles.0);
    let mut e = Panel::new("t", "MSE");
    e.y_log = true;
    e.title = titles.1;
    e.series.push(
        Series::new(theory.times(), theory.test_errors(), SeriesStyle::Line)
            .with_label("theory")
            .with_color(5),
    );
    e.series.push(
        Series::new(sim.times(), sim.test_errors(), SeriesStyle::Markers)
            .with_label("SGD")
            .with_color(6),
    );
    Figure::row(vec![g, e])
}
