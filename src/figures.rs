//! The paper-style figures of aedyn, built on [`crate::plot`]: theory as lines, simulation
//! as markers, PCA plateaus as dashed lines. Every figure is written as `<stem>.png`,
//! `<stem>.svg` and `<stem>.csv` (the plotted data, long format
//! `panel,series,x,y,z`, exactly the numbers handed to the renderer; `z` is the cell value
//! of heat maps, whose rows are named by the colour-bar label, and empty for series).

use std::fmt::Write as _;
use std::path::Path;

use crate::compare::{Comparison, Validation};
use crate::config::Experiment;
use crate::error::Result;
use crate::io::write_atomic;
use crate::plot::{render, Figure, HLine, LegendPos, Panel, Series, SeriesStyle};
use crate::trajectory::Trajectory;

/// Render `fig` and write its data as `<stem>.csv`.
pub fn write_figure(fig: &Figure, stem: &Path) -> Result<()> {
    render(fig, stem)?;
    let mut csv = String::from("panel,series,x,y,z\n");
    for (p, panel) in fig.panels.iter().enumerate() {
        if let Some(h) = &panel.heatmap {
            let name = h.label.replace(',', ";");
            for (j, y) in h.y.iter().enumerate() {
                for (i, x) in h.x.iter().enumerate() {
                    let z = h.z.get(j * h.x.len() + i).copied().unwrap_or(f64::NAN);
                    let _ = writeln!(csv, "{p},{name},{x:e},{y:e},{z:e}");
                }
            }
        }
        for (s, series) in panel.series.iter().enumerate() {
            let name = series
                .label
                .clone()
                .unwrap_or_else(|| format!("series {s}"));
            let name = name.replace(',', ";");
            for (x, y) in series.x.iter().zip(&series.y) {
                let _ = writeln!(csv, "{p},{name},{x:e},{y:e},");
            }
        }
    }
    let mut path = stem.as_os_str().to_owned();
    path.push(".csv");
    write_atomic(Path::new(&path), csv.as_bytes())
}

/// Dashed reference lines at `ε_PCA(m)`, m = 0..=K.
pub fn pca_lines(pca: &[f64]) -> Vec<HLine> {
    pca.iter()
        .enumerate()
        .map(|(m, &y)| HLine {
            y,
            label: Some(format!("ε_{{PCA}}({m})")),
        })
        .collect()
}

/// Indices of the spike groups (multiplicity 1), largest first, at most `n`.
fn spike_groups(exp: &Experiment, n: usize) -> Vec<usize> {
    exp.covariance
        .spectrum()
        .groups()
        .iter()
        .enumerate()
        .filter(|(_, g)| g.multiplicity == 1)
        .map(|(i, _)| i)
        .take(n)
        .collect()
}

/// Squared cosine between unit k's encoder (`enc = true`) or decoder and principal
/// direction group `g`: `q_g^{kk}/Σ_G q_G^{kk}` or `t_g^{kk}/T0^{kk}`.
pub fn overlap_series(tr: &Trajectory, g: usize, k: usize, enc: bool) -> Vec<f64> {
    tr.snapshots
        .iter()
        .map(|s| {
            let pick =
                |d: &crate::trajectory::GroupDensity| if enc { d.q[(k, k)] } else { d.t[(k, k)] };
            let total: f64 = s.groups.iter().map(pick).sum();
            pick(&s.groups[g]) / total
        })
        .collect()
}

fn overlap_panel(exp: &Experiment, theory: &Trajectory, sim: &Trajectory, enc: bool) -> Panel {
    let k = exp.model.hidden;
    let who = if enc { "encoder w" } else { "decoder v" };
    let mut p = Panel::new("t", format!("overlap² of {who} with PC m"));
    p.x_log = true;
    p.legend = LegendPos::Outside;
    p.title = Some(if enc {
        "encoder: (w^k·u_m)² / |w^k|²".to_string()
    } else {
        "decoder: (v^k·u_m)² / |v^k|²".to_string()
    });
    let mut color = 1;
    for (m, g) in spike_groups(exp, k + 1).into_iter().enumerate() {
        for unit in 0..k {
            let label = format!("k={unit}, m={}", m + 1);
            p.series.push(
                Series::new(
                    theory.times(),
                    overlap_series(theory, g, unit, enc),
                    SeriesStyle::Line,
                )
                .with_label(format!("{label} theory"))
                .with_color(color),
            );
            p.series.push(
                Series::new(
                    sim.times(),
                    overlap_series(sim, g, unit, enc),
                    SeriesStyle::Markers,
                )
                .with_color(color),
            );
            color += 1;
        }
    }
    p
}

/// Test-error panel: the highlighted seed's theory (line) and simulation (markers), the
/// other seeds faint, PCA plateaus dashed.
pub fn test_error_panel(exp: &Experiment, cmp: &Comparison, title: &str) -> Panel {
    let mut p = Panel::new("t", "ε_g");
    p.x_log = true;
    p.title = Some(title.to_string());
    p.hlines = pca_lines(&exp.covariance.pca_errors(exp.model.hidden));
    for (i, (run, th)) in cmp.pairs.iter().enumerate() {
        let mut line = Series::new(th.times(), th.test_errors(), SeriesStyle::Line).with_color(5);
        let mut marks = Series::new(
            run.trajectory.times(),
            run.trajectory.test_errors(),
            SeriesStyle::Markers,
        )
        .with_color(6);
        if i == 0 {
            line = line.with_label(format!("theory (seed {})", run.seed));
            marks = marks.with_label(format!(
                "SGD, D = {} (seed {})",
                exp.covariance.dim(),
                run.seed
            ));
        } else {
            line = line.faint();
            marks = marks.faint();
        }
        p.series.push(line);
        p.series.push(marks);
    }
    p
}

/// The `aedyn compare` figure: test error, and the encoder and decoder overlaps with the
/// principal components (highlighted seed).
pub fn compare_figure(exp: &Experiment, cmp: &Comparison, stem: &Path) -> Result<()> {
    let te = cmp
        .summary("test_error")
        .and_then(|s| s.mean_over_seeds.max_norm)
        .unwrap_or(f64::NAN);
    let title = format!(
        "{}, K = {}, η = {}: {} seeds, mean norm. max dev. {:.3}",
        exp.model.activation,
        exp.model.hidden,
        exp.model.lr,
        cmp.pairs.len(),
        te
    );
    let (run, th) = &cmp.pairs[0];
    let fig = Figure::row(vec![
        test_error_panel(exp, cmp, &title),
        overlap_panel(exp, th, &run.trajectory, true),
        overlap_panel(exp, th, &run.trajectory, false),
    ]);
    write_figure(&fig, stem)
}

/// The `aedyn validate` figure: deviation against D on log–log axes with the fitted power law.
pub fn validate_figure(v: &Validation, stem: &Path) -> Result<()> {
    let dims: Vec<f64> = v.rows.iter().map(|r| r.dim as f64).collect();
    let dev: Vec<f64> = v.rows.iter().map(|r| r.test_error_max_norm).collect();
    let err: Vec<f64> = v.rows.iter().map(|r| r.test_error_max_norm_se).collect();
    let ops: Vec<f64> = v.rows.iter().map(|r| r.order_params_max_norm).collect();
    // The fitted line through the geometric centre of the points.
    let (lx, ly): (Vec<f64>, Vec<f64>) = (
        dims.iter().map(|d| d.ln()).collect(),
        dev.iter().map(|d| d.ln()).collect(),
    );
    let (mx, my) = (
        lx.iter().sum::<f64>() / lx.len() as f64,
        ly.iter().sum::<f64>() / ly.len() as f64,
    );
    let fit: Vec<f64> = lx
        .iter()
        .map(|x| (my + v.exponent * (x - mx)).exp())
        .collect();
    let mut p = Panel::new("D", "normalised max deviation");
    p.x_log = true;
    p.y_log = true;
    p.title = Some(format!(
        "theory vs SGD: ∝ D^({:.2} ± {:.2})",
        v.exponent, v.exponent_se
    ));
    p.series.push(
        Series::new(dims.clone(), dev, SeriesStyle::ErrorBars { err })
            .with_label("ε_g (mean ± s.e. over seeds)")
            .with_color(5),
    );
    p.series.push(
        Series::new(dims.clone(), fit, SeriesStyle::Line)
            .with_label(format!("fit, slope {:.2}", v.exponent))
            .with_color(0),
    );
    p.series.push(
        Series::new(dims, ops, SeriesStyle::Markers)
            .with_label("Q, R, T0 (mean over entries)")
            .with_color(6),
    );
    write_figure(&Figure::row(vec![p]), stem)
}

/// At most this many blocks (the largest eigenvalues) are drawn in mean-field gain panels.
pub const MAX_GAIN_CURVES: usize = 6;

/// Mean-field gain panel: block gains over time, theory lines and simulation markers
/// (first [`MAX_GAIN_CURVES`] blocks).
pub fn mean_field_gain_panel(
    exp: &crate::mean_field::MeanFieldExperiment,
    theory: &crate::mean_field::MfTrajectory,
    sims: &[(&crate::mean_field::MfTrajectory, String)],
) -> Panel {
    let mut p = Panel::new("t", "gain g_j");
    p.legend = LegendPos::Outside;
    for (j, b) in exp
        .data
        .block_list()
        .iter()
        .take(MAX_GAIN_CURVES)
        .enumerate()
    {
        p.series.push(
            Series::new(theory.times(), theory.gain(j), SeriesStyle::Line)
                .with_label(format!("κ = {:.3}", b.kappa))
                .with_color(j + 1),
        );
        for (s, (tr, _)) in sims.iter().enumerate() {
            let mut m = Series::new(tr.times(), tr.gain(j), SeriesStyle::Markers).with_color(j + 1);
            if s + 1 < sims.len() {
                m = m.faint();
            }
            p.series.push(m);
        }
    }
    p
}

/// A mean-field figure: block gains and MSE over time, theory lines and SGD markers
/// (`aedyn compare`: the seed mean).
pub fn mean_field_gains_figure(
    exp: &crate::mean_field::MeanFieldExperiment,
    theory: &crate::mean_field::MfTrajectory,
    sim: &crate::mean_field::MfTrajectory,
    titles: (String, Option<String>),
    stem: &Path,
) -> Result<()> {
    let mut g = mean_field_gain_panel(exp, theory, &[(sim, "SGD".into())]);
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
    write_figure(&Figure::row(vec![g, e]), stem)
}
