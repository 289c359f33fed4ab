//! `aedyn reproduce`: the paper-style figure set on built-in experiments, each figure as
//! PNG + SVG + CSV of the plotted data. Sizes are chosen to finish in a few minutes on two
//! cores.

pub mod mean_field;

use std::path::Path;

use crate::compare::{compare, Comparison};
use crate::config::{Config, Experiment};
use crate::error::{Error, Result};
use crate::figures::{compare_figure, pca_lines, test_error_panel, validate_figure, write_figure};
use crate::plot::{Figure, LegendPos, Panel, Series, SeriesStyle};

/// The figures, by name.
pub const FIGURES: [&str; 4] = ["sequential", "order_params", "activations", "validate"];

/// Dimensions of the agreement-against-D figure.
pub const VALIDATE_DIMS: [usize; 5] = [250, 500, 1000, 2000, 4000];
/// Seeds per dimension of the agreement-against-D figure.
pub const VALIDATE_SEEDS: usize = 4;

/// The sequential-learning experiment: erf, K = 3, the paper's three-spike data
/// θ = (81, 25, 9)/116 + bulk 1/116, D = 1000, η = 0.4, σ0 = 0.1, t ≤ 300, 4 seeds.
pub fn sequential_config() -> Config {
    let mut c = Config::default();
    c.data.spikes = vec![81.0, 25.0, 9.0];
    c.network.hidden = 3;
    c.output.t_max = 300.0;
    c.output.points = 61;
    c.simulation.seeds = 4;
    c.simulation.test_samples = 0;
    c
}

fn run_compare(c: &Config, progress: &(dyn Fn(u64) + Sync)) -> Result<(Experiment, Comparison)> {
    let exp = c.resolve()?;
    let seeds: Vec<u64> = (0..c.simulation.seeds)
        .map(|j| exp.replicate_seed(j))
        .collect();
    let cmp = compare(&exp, &seeds, progress)?;
    Ok((exp, cmp))
}

/// Order parameters over time: diagonal Q, R, T0 of the highlighted seed, theory vs SGD.
fn order_params_figure(exp: &Experiment, cmp: &Comparison, stem: &Path) -> Result<()> {
    let (run, th) = &cmp.pairs[0];
    let k = exp.model.hidden;
    let mut panels = Vec::new();
    for (name, pick) in [
        (
            "Q_{kk}",
            (|o: &crate::trajectory::OrderParams, k: usize| o.q[(k, k)])
                as fn(&crate::trajectory::OrderParams, usize) -> f64,
        ),
        ("R_{kk}", |o, k| o.r[(k, k)]),
        ("T0_{kk}", |o, k| o.t0[(k, k)]),
    ] {
        let mut p = Panel::new("t", name);
        p.x_log = true;
        p.legend = LegendPos::Best;
        for unit in 0..k {
            let series = |tr: &crate::trajectory::Trajectory| -> Vec<f64> {
                tr.snapshots
                    .iter()
                    .map(|s| pick(&s.order_params, unit))
                    .collect()
            };
            p.series.push(
                Series::new(th.times(), series(th), SeriesStyle::Line)
                    .with_label(format!("k = {unit}"))
                    .with_color(unit + 1),
            );
            p.series.push(
                Series::new(
                    run.trajectory.times(),
                    series(&run.trajectory),
                    SeriesStyle::Markers,
                )
                .with_color(unit + 1),
            );
        }
        panels.push(p);
    }
    panels[0].title = Some(format!(
        "erf, K = {k}, D = {}: theory (lines) vs SGD (markers), seed {}",
        exp.covariance.dim(),
        run.seed
    ));
    write_figure(&Figure::row(panels), stem)
}

/// linear vs erf vs ReLU (K = 2, default data): theory lines and SGD markers, one seed each.
fn activations_figure(stem: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
    let mut p = Panel::new("t", "ε_g");
    p.x_log = true;
    p.y_log = true;
    p.title = Some("K = 2, θ = (25, 9)/35, D = 1000: theory (lines) vs SGD (markers)".into());
    p.legend = LegendPos::LowerLeft;
    let mut pca = Vec::new();
    for (i, act) in ["linear", "erf", "relu"].into_iter().enumerate() {
        let mut c = Config::default();
        c.network.activation =
            crate::activation::Activation::from_name(act).expect("known activation");
        c.output.t_max = 1000.0;
        c.output.points = 61;
        c.simulation.test_samples = 0;
        c.simulation.seeds = 1;
        let (exp, cmp) = run_compare(&c, progress)?;
        let (run, th) = &cmp.pairs[0];
        p.series.push(
            Series::new(th.times(), th.test_errors(), SeriesStyle::Line)
                .with_label(act)
                .with_color(i + 1),
        );
        p.series.push(
            Series::new(
                run.trajectory.times(),
                run.trajectory.test_errors(),
                SeriesStyle::Markers,
            )
            .with_color(i + 1),
        );
        pca = exp.covariance.pca_errors(2);
    }
    p.hlines = pca_lines(&pca);
    write_figure(&Figure::row(vec![p]), stem)
}

/// Write the figures (all, or only `only`) into `out`.
pub fn reproduce(
    out: &Path,
    only: Option<&str>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<String>> {
    if let Some(name) = only {
        if !FIGURES.contains(&name) && !mean_field::FIGURES.contains(&name) {
            return Err(Error::config(
                "--only",
                format!(
                    "unknown figure `{name}`; one of {}, {}",
                    FIGURES.join(", "),
                    mean_field::FIGURES.join(", ")
                ),
            ));
        }
    }
    let wanted = |n: &str| only.is_none_or(|o| o == n);
    let mut written = Vec::new();
    if wanted("sequential") || wanted("order_params") {
        let (exp, cmp) = run_compare(&sequential_config(), progress)?;
        if wanted("sequential") {
            let p = test_error_panel(&exp, &cmp, "erf, K = 3, θ = (81, 25, 9)/116, D = 1000");
            write_figure(&Figure::row(vec![p]), &out.join("sequential"))?;
            compare_figure(&exp, &cmp, &out.join("sequential_overlaps"))?;
            written.extend(["sequential".to_string(), "sequential_overlaps".to_string()]);
        }
        if wanted("order_params") {
            order_params_figure(&exp, &cmp, &out.join("order_params"))?;
            written.push("order_params".into());
        }
    }
    if wanted("activations") {
        activations_figure(&out.join("activations"), progress)?;
        written.push("activations".into());
    }
    if wanted("validate") {
        let mut c = Config::default();
        c.simulation.test_samples = 0;
        let v = crate::compare::validate(&c, &VALIDATE_DIMS, VALIDATE_SEEDS, progress)?;
        validate_figure(&v, &out.join("validate"))?;
        written.push("validate".into());
    }
    written.extend(mean_field::reproduce(out, &wanted, progress)?);
    Ok(written)
}
