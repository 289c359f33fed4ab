//! The autoencoder's figure parts: test error with the PCA plateaus, overlaps of encoder
//! and decoder with the principal components, and the `aedyn compare` figure.

use crate::autoencoder::sgd::SeedRun;
use crate::autoencoder::trajectory::Trajectory;
use crate::autoencoder::Experiment;
use crate::base::compare::Comparison;
use crate::plot::{
    count, format_number, theory_sgd_keys, Figure, HLine, Panel, Series, SeriesStyle,
};

/// The typed (simulation, theory) pairs of an autoencoder comparison.
pub fn pairs(cmp: &Comparison) -> Vec<(&SeedRun, &Trajectory)> {
    cmp.pairs
        .iter()
        .map(|(sim, th)| {
            (
                sim.payload
                    .get::<SeedRun>()
                    .expect("autoencoder simulation"),
                th.payload.get::<Trajectory>().expect("autoencoder theory"),
            )
        })
        .collect()
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
pub fn spike_groups(exp: &Experiment, n: usize) -> Vec<usize> {
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
            let pick = |d: &crate::autoencoder::trajectory::GroupDensity| {
                if enc {
                    d.q[(k, k)]
                } else {
                    d.t[(k, k)]
                }
            };
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
                .with_label(&label)
                .with_name(format!("theory, {label}"))
                .with_color(color),
            );
            p.series.push(
                Series::new(
                    sim.times(),
                    overlap_series(sim, g, unit, enc),
                    SeriesStyle::Markers,
                )
                .with_name(format!("SGD, {label}"))
                .with_color(color),
            );
            color += 1;
        }
    }
    p.series.extend(theory_sgd_keys());
    p
}

/// Test-error panel: the highlighted seed's theory (line) and simulation (markers), the
/// other seeds faint, PCA plateaus dashed.
pub fn test_error_panel(exp: &Experiment, cmp: &Comparison, title: &str) -> Panel {
    let mut p = Panel::new("t", "ε_g");
    p.x_log = true;
    p.title = Some(title.to_string());
    p.hlines = pca_lines(&exp.covariance.pca_errors(exp.model.hidden));
    let pairs = pairs(cmp);
    let others = pairs.len() > 1;
    for (i, (run, th)) in pairs.into_iter().enumerate() {
        let mut line = Series::new(th.times(), th.test_errors(), SeriesStyle::Line)
            .with_name(format!("theory, seed {}", run.seed))
            .with_color(5);
        let mut marks = Series::new(
            run.trajectory.times(),
            run.trajectory.test_errors(),
            SeriesStyle::Markers,
        )
        .with_name(format!("SGD, seed {}", run.seed))
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
    if others {
        p.series.push(
            Series::key("other seeds", SeriesStyle::Line)
                .with_color(5)
                .faint(),
        );
    }
    p
}

/// The `aedyn compare` figure: test error, and the encoder and decoder overlaps with the
/// principal components (highlighted seed).
pub fn compare_figure(exp: &Experiment, cmp: &Comparison) -> Figure {
    let te = cmp
        .summary("test_error")
        .and_then(|s| s.mean_over_seeds.max_norm)
        .unwrap_or(f64::NAN);
    let title = format!(
        "{}, K = {}, η = {}: {}, mean norm. max dev. {}",
        exp.model.activation,
        exp.model.hidden,
        format_number(exp.model.lr),
        count(cmp.pairs.len(), "seed"),
        format_number(te)
    );
    let (run, th) = pairs(cmp)[0];
    Figure::row(vec![
        test_error_panel(exp, cmp, &title),
        overlap_panel(exp, th, &run.trajectory, true),
        overlap_panel(exp, th, &run.trajectory, false),
    ])
}
