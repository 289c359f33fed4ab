//! The autoencoder's paper-style figures (Refinetti & Goldt 2022): sequential learning,
//! order parameters, activations, agreement against D, the phase diagram and the
//! learning-rate study; the variants are in [`super::variants`].

use std::path::Path;

use super::{axis_floats, mean_se, per_point, Ctx};
use crate::autoencoder::figures::{compare_figure, pca_lines, test_error_panel};
use crate::autoencoder::sgd::SeedRun;
use crate::autoencoder::trajectory::Trajectory;
use crate::autoencoder::{Experiment, Params};
use crate::base::compare::Comparison;
use crate::error::Result;
use crate::plot::{theory_sgd_keys, Figure, LegendPos, Panel, Series, SeriesStyle};

/// An autoencoder comparison with its typed (simulation, theory) pairs.
pub struct Compared {
    /// The typed pairs, in seed order.
    pub pairs: Vec<(SeedRun, Trajectory)>,
    /// The generic comparison.
    pub inner: Comparison,
}

impl Compared {
    /// The summary of one observable.
    pub fn summary(&self, name: &str) -> Option<&crate::base::compare::ObservableSummary> {
        self.inner.summary(name)
    }
}

/// The theory sweep of the `phase_diagram` figure: 20 × 20 points over the second spike
/// θ₂ (θ₁ = 81, θ₃ = 9, bulk 1, normalised) and the initial weight scale σ0, K = 3 erf
/// units, η = 0.4, t ≤ 10⁴ (the issue's performance case: 400 points in well under a
/// minute on two cores).
pub const PHASE_DIAGRAM_SWEEP: &str = r#"
[data]
spikes = [81.0, 40.0, 9.0]
[network]
hidden = 3
[output]
t_max = 10000.0
points = 161
[sweep]
what = "theory"
trajectories = false
[[sweep.axis]]
field = "data.spikes.1"
from = 12.0
to = 72.0
n = 20
[[sweep.axis]]
field = "init.std"
from = 0.01
to = 1.0
n = 20
scale = "log"
"#;

/// Learning rates of the `sweep_lr` figure (log-spaced).
pub const SWEEP_LR_ETAS: (f64, f64, usize) = (0.5, 2000.0, 12);
/// Dimensions of the `sweep_lr` figure.
pub const SWEEP_LR_DIMS: [usize; 3] = [250, 500, 1000];
/// Seeds per point of the `sweep_lr` figure.
pub const SWEEP_LR_SEEDS: usize = 4;
/// Every point of `sweep_lr` runs to the same rescaled time η·t_max (the theory depends on
/// η and t only through η·t when wd = 0, docs/autoencoder.md §4).
pub const SWEEP_LR_ETA_T_MAX: f64 = 100.0;

/// The `sweep_lr` sweep: erf, K = 2, default data; a zipped grid over η × D with
/// `t_max = η·t_max/η` (and `t_min = t_max/10³`), theory and SGD, [`SWEEP_LR_SEEDS`] seeds.
pub fn sweep_lr_toml() -> String {
    let (lo, hi, n) = SWEEP_LR_ETAS;
    let etas: Vec<f64> = (0..n)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
        .collect();
    let mut lr = Vec::new();
    let mut dim = Vec::new();
    let mut t_max = Vec::new();
    let mut t_min = Vec::new();
    for &d in &SWEEP_LR_DIMS {
        for &eta in &etas {
            lr.push(format!("{eta:?}"));
            dim.push(d.to_string());
            t_max.push(format!("{:?}", SWEEP_LR_ETA_T_MAX / eta));
            t_min.push(format!("{:?}", SWEEP_LR_ETA_T_MAX / eta * 1e-3));
        }
    }
    let axis = |f: &str, v: &[String]| {
        format!(
            "[[sweep.axis]]\nfield = \"{f}\"\nvalues = [{}]\n",
            v.join(", ")
        )
    };
    format!(
        "[output]\npoints = 61\n[simulation]\ntest_samples = 0\n\
         [sweep]\nwhat = \"both\"\ngrid = \"zip\"\nseeds = {SWEEP_LR_SEEDS}\ntrajectories = false\n{}{}{}{}",
        axis("training.lr", &lr),
        axis("data.dim", &dim),
        axis("output.t_max", &t_max),
        axis("output.t_min", &t_min),
    )
}

/// Theory phase diagrams over (θ₂/θ₁, σ0): the time PC 2 is learned, and the duration of
/// the plateau at ε_PCA(1).
pub fn phase_diagram(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let sweep = crate::sweep::Sweep::from_toml(
        PHASE_DIAGRAM_SWEEP,
        Path::new("phase_diagram"),
        Path::new("."),
    )?;
    let results = crate::sweep::evaluate(&sweep, sweep.tasks()?, progress);
    let theta1 = 81.0;
    let x: Vec<f64> = axis_floats(&sweep.axes[0])
        .iter()
        .map(|t| t / theta1)
        .collect();
    let y = axis_floats(&sweep.axes[1]);
    let (nx, ny) = (x.len(), y.len());
    let mut panels = Vec::new();
    for (metric, label, title) in [
        ("t_learn_2", "t_{learn,2}", "time PC 2 is learned (o_2 ≥ ½)"),
        (
            "plateau_1_duration",
            "plateau duration",
            "duration of the plateau at ε_{PCA}(1)",
        ),
    ] {
        let vals = per_point(&results, nx * ny, "theory", metric);
        // Product grid, first axis (θ₂) slowest: point p = i·ny + j; z is row-major in y.
        let mut z = vec![f64::NAN; nx * ny];
        for i in 0..nx {
            for j in 0..ny {
                z[j * nx + i] = mean_se(&vals[i * ny + j]).map_or(f64::NAN, |m| m.0);
            }
        }
        let mut p = Panel::new("θ_2/θ_1", "σ_0");
        p.y_log = true;
        p.legend = LegendPos::None;
        p.title = Some(format!("theory, erf, K = 3, η = 0.4: {title}"));
        p.heatmap = Some(crate::plot::HeatMap {
            x: x.clone(),
            y: y.clone(),
            z,
            label: label.into(),
            log: true,
            missing: "none".into(),
        });
        panels.push(p);
    }
    Ok(Figure::row(panels))
}

/// Dimensions of the agreement-against-D figure.
pub const VALIDATE_DIMS: [usize; 5] = [250, 500, 1000, 2000, 4000];
/// Seeds per dimension of the agreement-against-D figure.
pub const VALIDATE_SEEDS: usize = 4;

/// The sequential-learning experiment: erf, K = 3, the paper's three-spike data
/// θ = (81, 25, 9)/116 + bulk 1/116, D = 1000, η = 0.4, σ0 = 0.1, t ≤ 300, 4 seeds.
pub fn sequential_config() -> Params {
    let mut c = Params::default();
    c.data.spikes = vec![81.0, 25.0, 9.0];
    c.network.hidden = 3;
    c.output.t_max = 300.0;
    c.output.points = 61;
    c.simulation.seeds = 4;
    c.simulation.test_samples = crate::autoencoder::params::TestSamples::Count(0);
    c
}

/// Run `aedyn compare` on config `c` with its own seeds, in memory.
pub fn run_compare(c: &Params, progress: &(dyn Fn(u64) + Sync)) -> Result<(Experiment, Compared)> {
    let exp = c.check()?;
    let (inner, _) = crate::commands::run_comparison(&exp, None, &|_| progress(0))?;
    progress(1);
    let pairs = crate::autoencoder::figures::pairs(&inner)
        .into_iter()
        .map(|(r, t)| (r.clone(), t.clone()))
        .collect();
    Ok((exp, Compared { pairs, inner }))
}

/// Order parameters over time: diagonal Q, R, T0 of the highlighted seed, theory vs SGD.
fn order_params_figure(exp: &Experiment, cmp: &Compared) -> Figure {
    let (run, th) = &cmp.pairs[0];
    let k = exp.model.hidden;
    let mut panels = Vec::new();
    for (name, pick) in [
        (
            "Q_{kk}",
            (|o: &crate::autoencoder::trajectory::OrderParams, k: usize| o.q[(k, k)])
                as fn(&crate::autoencoder::trajectory::OrderParams, usize) -> f64,
        ),
        ("R_{kk}", |o, k| o.r[(k, k)]),
        ("T0_{kk}", |o, k| o.t0[(k, k)]),
    ] {
        let mut p = Panel::new("t", name);
        p.x_log = true;
        for unit in 0..k {
            let series = |tr: &crate::autoencoder::trajectory::Trajectory| -> Vec<f64> {
                tr.snapshots
                    .iter()
                    .map(|s| pick(&s.order_params, unit))
                    .collect()
            };
            p.series.push(
                Series::new(th.times(), series(th), SeriesStyle::Line)
                    .with_label(format!("k = {unit}"))
                    .with_name(format!("theory, k = {unit}"))
                    .with_color(unit + 1),
            );
            p.series.push(
                Series::new(
                    run.trajectory.times(),
                    series(&run.trajectory),
                    SeriesStyle::Markers,
                )
                .with_name(format!("SGD, k = {unit}"))
                .with_color(unit + 1),
            );
        }
        p.series.extend(theory_sgd_keys());
        panels.push(p);
    }
    panels[0].title = Some(format!(
        "erf, K = {k}, D = {}, seed {}",
        exp.covariance.dim(),
        run.seed
    ));
    Figure::row(panels)
}

/// linear vs erf vs ReLU (K = 2, default data): theory lines and SGD markers, one seed each.
pub fn activations(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut p = Panel::new("t", "ε_g");
    p.x_log = true;
    p.y_log = true;
    p.title = Some("K = 2, θ = (25, 9)/35, D = 1000".into());
    let mut pca = Vec::new();
    for (i, act) in ["linear", "erf", "relu"].into_iter().enumerate() {
        let mut c = Params::default();
        c.network.activation =
            crate::activation::Activation::from_name(act).expect("known activation");
        c.output.t_max = 1000.0;
        c.output.points = 61;
        c.simulation.test_samples = crate::autoencoder::params::TestSamples::Count(0);
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
            .with_name(format!("SGD, {act}"))
            .with_color(i + 1),
        );
        pca = exp.covariance.pca_errors(2);
    }
    p.series.extend(theory_sgd_keys());
    p.hlines = pca_lines(&pca);
    Ok(Figure::row(vec![p]))
}

/// Learning time against η, theory vs SGD with error bars over seeds, and the divergence
/// of SGD against η for several D (the theory never diverges: its η² terms vanish as
/// D → ∞, docs/autoencoder.md §1.2).
pub fn sweep_lr(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let sweep =
        crate::sweep::Sweep::from_toml(&sweep_lr_toml(), Path::new("sweep_lr"), Path::new("."))?;
    let results = crate::sweep::evaluate(&sweep, sweep.tasks()?, progress);
    let eta = axis_floats(&sweep.axes[0]);
    let dim = axis_floats(&sweep.axes[1]);
    let n = eta.len();
    let mut a = Panel::new("η", "η·t_{learn,m}");
    a.x_log = true;
    a.y_log = true;
    let d_a = 500.0;
    a.title = Some(format!(
        "erf, K = 2, θ = (25, 9)/35, D = {d_a}: mean ± s.e. over {SWEEP_LR_SEEDS} seeds"
    ));
    let on_d = |d: f64| -> Vec<usize> { (0..n).filter(|&p| dim[p] == d).collect() };
    for m in 1..=2 {
        let metric = format!("t_learn_{m}");
        let pts = on_d(d_a);
        let x: Vec<f64> = pts.iter().map(|&p| eta[p]).collect();
        let scaled = |source: &str| -> Vec<Option<(f64, f64)>> {
            let vals = per_point(&results, n, source, &metric);
            pts.iter()
                .map(|&p| {
                    let v: Vec<f64> = vals[p].iter().map(|t| eta[p] * t).collect();
                    mean_se(&v)
                })
                .collect()
        };
        let th = scaled("theory");
        let sim = scaled("simulate");
        a.series.push(
            Series::new(
                x.clone(),
                th.iter().map(|v| v.map_or(f64::NAN, |v| v.0)).collect(),
                SeriesStyle::Line,
            )
            .with_label(format!("theory, PC {m}"))
            .with_color(m),
        );
        a.series.push(
            Series::new(
                x,
                sim.iter().map(|v| v.map_or(f64::NAN, |v| v.0)).collect(),
                SeriesStyle::ErrorBars {
                    err: sim.iter().map(|v| v.map_or(f64::NAN, |v| v.1)).collect(),
                },
            )
            .with_label(format!("SGD, PC {m}"))
            .with_color(m),
        );
    }
    let mut b = Panel::new("η", "fraction of seeds diverged");
    b.x_log = true;
    b.title = Some(format!(
        "SGD divergence (η·t ≤ {SWEEP_LR_ETA_T_MAX}), ± binomial s.e."
    ));
    for (c, &d) in SWEEP_LR_DIMS.iter().enumerate() {
        let pts = on_d(d as f64);
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut err = Vec::new();
        for &p in &pts {
            let (tot, div) = results
                .iter()
                .filter(|(t, _)| t.point == p)
                .flat_map(|(_, r)| r.results.iter().filter(|s| s.source == "simulate"))
                .fold((0usize, 0usize), |(tot, div), s| {
                    (
                        tot + 1,
                        div + usize::from(s.status == crate::sweep::Status::Diverged),
                    )
                });
            let f = div as f64 / tot.max(1) as f64;
            x.push(eta[p]);
            y.push(f);
            err.push((f * (1.0 - f) / tot.max(1) as f64).sqrt());
        }
        // Fractions of a few seeds do not interpolate: steps, not sloped lines.
        b.series.push(
            Series::new(x.clone(), y.clone(), SeriesStyle::Steps)
                .with_name(format!("fraction diverged, D = {d}"))
                .with_color(c + 4),
        );
        b.series.push(
            Series::new(x, y, SeriesStyle::ErrorBars { err })
                .with_label(format!("D = {d}"))
                .with_name(format!("fraction diverged ± s.e., D = {d}"))
                .with_color(c + 4),
        );
    }
    Ok(Figure::row(vec![a, b]))
}

/// The sequential-learning comparison, computed once per `reproduce` call.
fn sequential(ctx: &Ctx) -> Result<std::sync::Arc<(Experiment, Compared)>> {
    ctx.shared("autoencoder/sequential", || {
        run_compare(&sequential_config(), ctx.progress)
    })
}

/// Sequential learning: the test error resting on the PCA plateaus.
pub fn sequential_figure(ctx: &Ctx) -> Result<Figure> {
    let s = sequential(ctx)?;
    let p = test_error_panel(
        &s.0,
        &s.1.inner,
        "erf, K = 3, θ = (81, 25, 9)/116, D = 1000",
    );
    Ok(Figure::row(vec![p]))
}

/// Sequential learning: test error and the encoder/decoder overlaps with each PC.
pub fn sequential_overlaps(ctx: &Ctx) -> Result<Figure> {
    let s = sequential(ctx)?;
    Ok(compare_figure(&s.0, &s.1.inner))
}

/// Order parameters over time (the sequential experiment).
pub fn order_params(ctx: &Ctx) -> Result<Figure> {
    let s = sequential(ctx)?;
    Ok(order_params_figure(&s.0, &s.1))
}

/// Agreement of theory and SGD against D with the fitted exponent.
pub fn validate(ctx: &Ctx) -> Result<Figure> {
    let mut c = Params::default();
    c.simulation.test_samples = crate::autoencoder::params::TestSamples::Count(0);
    let table = toml::Table::try_from(&c).map_err(|e| crate::Error::InvalidState(e.to_string()))?;
    let v = crate::commands::run_validation(
        &table,
        Path::new("."),
        &VALIDATE_DIMS,
        VALIDATE_SEEDS,
        ctx.progress,
    )?;
    Ok(crate::figures::validate_figure(&v))
}
