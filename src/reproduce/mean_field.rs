//! The mean-field figures of `aedyn reproduce` (Nguyen 2021; `docs/mean-field.md`), sized to
//! run in about a minute on two cores.

use std::path::Path;

use super::Ctx;
use crate::base::compare::fit_slope;
use crate::error::Result;
use crate::mean_field::figures::gain_panel as mean_field_gain_panel;
use crate::mean_field::params::{DataKind, Params};
use crate::mean_field::relu::{
    final_gain, logistic_gain, logistic_trajectory, riccati_trajectory, second_moment,
};
use crate::mean_field::{MeanFieldExperiment, MfData, MfSimulator, MfTrajectory, Symmetry};
use crate::plot::{Figure, Panel, Series, SeriesStyle};

/// Widths of the gains figure.
pub const GAINS_WIDTHS: [usize; 3] = [100, 400, 2000];
/// Widths of the width-scaling figure.
pub const WIDTHS: [usize; 7] = [10, 20, 50, 100, 200, 400, 800];
/// Smallest width included in the fitted slope of the width-scaling figure.
pub const WIDTH_FIT_FROM: usize = 100;
/// Seeds per point of the width and step figures.
pub const SEEDS: [u64; 2] = [0, 1];
/// ε·tr Σ of the step-size figure.
pub const STEP_TRACES: [f64; 5] = [0.2, 0.1, 0.05, 0.025, 0.0125];
/// λ of the shrinkage figure.
pub const SHRINKAGE_L2: [f64; 3] = [0.1, 0.3, 1.0];
/// Stopping time of the shrinkage figure.
pub const SHRINKAGE_T: f64 = 4.0;
/// λ of the real-data figure.
pub const DIGITS_L2: f64 = 1.0;
/// Last time of the real-data figure.
pub const DIGITS_T: f64 = 3.0;

/// Config R of docs/mean-field.md §4: ReLU, d = 50, blocks (4, 5), (2, 5), (1, 10), (0.1, 30), λ = 0.3,
/// s₀² = 0.02, ε = 10⁻³, B = 16, T = 8 (records every 0.25), one seed.
pub fn reference_config() -> Params {
    let mut c = Params::default();
    c.network.activation = crate::activation::Activation::Relu;
    c.network.neurons = 2000;
    c.data.kind = DataKind::Blocks;
    c.data.dim = 50;
    c.data.blocks = vec![(4.0, 5), (2.0, 5), (1.0, 10), (0.1, 30)];
    c.training.l2 = 0.3;
    c.training.step = 1e-3;
    c.training.batch = 16;
    c.init.std = 0.02f64.sqrt();
    c.output.t_max = 8.0;
    c.output.points = 33;
    c.output.spacing = crate::base::grid::Spacing::Linear;
    c
}

fn with(f: impl FnOnce(&mut Params)) -> Result<MeanFieldExperiment> {
    let mut c = reference_config();
    f(&mut c);
    c.check()
}

/// SGD trajectories of `seeds` (an error if any seed fails).
fn sgd(
    exp: &MeanFieldExperiment,
    seeds: &[u64],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<(crate::mean_field::MfSeedRun, MfTrajectory)>> {
    let sim = MfSimulator::new(exp)?;
    crate::base::runner::run_seeds(seeds, |s| sim.run_seed(s, progress))
        .into_iter()
        .map(|(_, r)| r.map(|run| (run.clone(), run.trajectory)))
        .collect()
}

fn vline(x: f64, lo: f64, hi: f64, label: &str) -> Series {
    Series::new(vec![x, x], vec![lo, hi], SeriesStyle::Dashed)
        .with_label(label)
        .with_color(0)
}

/// The config-R theory and SGD at each of [`GAINS_WIDTHS`], computed once per
/// `reproduce` call (shared by `mf_gains` and `mf_phases`).
type GainsRuns = (
    MeanFieldExperiment,
    MfTrajectory,
    Vec<(usize, MeanFieldExperiment, MfTrajectory)>,
);

fn gains_runs(ctx: &Ctx) -> Result<std::sync::Arc<GainsRuns>> {
    ctx.shared("mean-field/gains", || {
        let exp = reference_config().check()?;
        let theory = exp.limit(ctx.progress)?.trajectory;
        let mut sims = Vec::new();
        for n in GAINS_WIDTHS {
            let e = with(|c| c.network.neurons = n)?;
            let sim = sgd(&e, &[0], ctx.progress)?.remove(0).1;
            sims.push((n, e, sim));
        }
        Ok((exp, theory, sims))
    })
}

/// Block gains, theory lines vs SGD markers at N = 100, 400, 2000.
pub fn gains(ctx: &Ctx) -> Result<Figure> {
    let g = gains_runs(ctx)?;
    let panels =
        g.2.iter()
            .map(|(n, e, sim)| {
                let mut p = mean_field_gain_panel(e, &g.1, &[(sim, format!("SGD, N = {n}"))]);
                p.title = Some(format!("ReLU, config R, N = {n}: logistic theory vs SGD"));
                p
            })
            .collect();
    Ok(Figure::row(panels))
}

/// Phases of the MSE against t/ln d.
pub fn phases(ctx: &Ctx) -> Result<Figure> {
    let g = gains_runs(ctx)?;
    phases_figure(&g.0, &g.2.last().expect("ran").2)
}

/// Normalised MSE against τ = t/ln d with s₀² = 1/d for growing d (logistic theory), the
/// phase boundaries τ_j = 1/(2(βκ_j − λ)) dashed, SGD at d = 50 (N = 2000) as markers.
fn phases_figure(exp: &MeanFieldExperiment, sgd50: &MfTrajectory) -> Result<Figure> {
    let mut p = Panel::new("τ = t / ln d", "MSE / (½ tr Σ)");
    p.title = Some("ReLU, λ = 0.3, s₀² = 1/d: phases sharpen as d grows".into());
    let tau: Vec<f64> = (0..=200).map(|i| 2.0 * i as f64 / 200.0).collect();
    for (i, d) in [50usize, 400, 3200, 25_600].into_iter().enumerate() {
        let m = |f: f64| (f * d as f64).round() as usize;
        let blocks = [
            (4.0, m(0.1)),
            (2.0, m(0.1)),
            (1.0, m(0.2)),
            (0.1, d - 2 * m(0.1) - m(0.2)),
        ];
        let data = MfData::blocks(&blocks)?;
        let times: Vec<f64> = tau.iter().map(|t| t * (d as f64).ln()).collect();
        let g0 = 0.5 * exp.model.beta() / d as f64;
        let th = logistic_trajectory(&exp.model, &data, g0, &times);
        let half = 0.5 * data.trace();
        p.series.push(
            Series::new(
                tau.clone(),
                th.test_errors().iter().map(|e| e / half).collect(),
                SeriesStyle::Line,
            )
            .with_label(format!("theory, d = {d}"))
            .with_color(i + 1),
        );
    }
    let ln50 = 50f64.ln();
    let half = 0.5 * exp.data.trace();
    p.series.push(
        Series::new(
            sgd50.times().iter().map(|t| t / ln50).collect(),
            sgd50.test_errors().iter().map(|e| e / half).collect(),
            SeriesStyle::Markers,
        )
        .with_label("SGD, d = 50, N = 2000")
        .with_color(1),
    );
    for b in exp
        .data
        .block_list()
        .iter()
        .filter(|b| b.kappa > exp.model.lambda)
    {
        let t = 1.0 / (2.0 * (exp.model.beta() * b.kappa - exp.model.lambda));
        let mut s = vline(t, 0.0, 1.0, "τ_j = 1/(2(βκ_j − λ))").with_name(format!(
            "τ_j, κ_j = {}",
            crate::plot::format_number(b.kappa)
        ));
        if b.kappa != 4.0 {
            s.label = None;
        }
        p.series.push(s);
    }
    Ok(Figure::row(vec![p]))
}

/// Final gain against κ: the shrinkage `(1 − λ/(βκ))₊`, the gain at T, and SGD at T.
pub fn shrinkage(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut p = Panel::new("κ", "gain");
    p.x_log = true;
    p.title = Some(format!("ReLU, N = 1000, T = {SHRINKAGE_T}"));
    let kappas: Vec<f64> = (0..50)
        .map(|i| 0.05 * 100f64.powf(i as f64 / 49.0))
        .collect();
    let fine: Vec<f64> = (0..400)
        .map(|i| 0.05 * 100f64.powf(i as f64 / 399.0))
        .collect();
    for (i, &l2) in SHRINKAGE_L2.iter().enumerate() {
        let exp = with(|c| {
            c.data.blocks = kappas.iter().map(|&k| (k, 1)).collect();
            c.network.neurons = 1000;
            c.training.l2 = l2;
            c.output.t_max = SHRINKAGE_T;
            c.output.points = 2;
        })?;
        let g0 = 0.5 * exp.init_std * exp.init_std;
        p.series.push(
            Series::new(
                fine.clone(),
                fine.iter().map(|&k| final_gain(k, l2)).collect(),
                SeriesStyle::Line,
            )
            .with_label(format!("λ = {l2}"))
            .with_color(i + 1),
        );
        p.series.push(
            Series::new(
                fine.clone(),
                fine.iter()
                    .map(|&k| logistic_gain(k, l2, g0, SHRINKAGE_T))
                    .collect(),
                SeriesStyle::Dashed,
            )
            .with_name(format!("g(T), λ = {l2}"))
            .with_color(i + 1),
        );
        let sim = sgd(&exp, &[0], progress)?.remove(0).1;
        let last = sim.snapshots.last().expect("recorded");
        p.series.push(
            Series::new(kappas.clone(), last.gains.clone(), SeriesStyle::Markers)
                .with_name(format!("SGD at T, λ = {l2}"))
                .with_color(i + 1),
        );
    }
    p.series.extend([
        Series::key("(1 − λ/κ)₊", SeriesStyle::Line),
        Series::key("g(T)", SeriesStyle::Dashed),
        Series::key("SGD at T", SeriesStyle::Markers),
    ]);
    Ok(Figure::row(vec![p]))
}

/// Mean over seeds of `f(seed's trajectory, seed's run)`.
fn seed_mean(vals: &[f64]) -> f64 {
    vals.iter().sum::<f64>() / vals.len() as f64
}

/// Worst block's max gain error.
fn worst(errors: &[f64]) -> f64 {
    errors.iter().copied().fold(0.0, f64::max)
}

/// |MSE_N(T) − MSE_th(T)| and the max gain error against N (log–log), with fitted slopes
/// and the intrinsic dimension d_eff = #{βκ_j > λ} = 20 marked.
pub fn width(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut mse_gap = Vec::new();
    let mut gain_gap = Vec::new();
    let mut d_eff = 0;
    for n in WIDTHS {
        let exp = with(|c| {
            c.network.neurons = n;
            c.output.points = 17;
        })?;
        d_eff = exp
            .data
            .kappa()
            .iter()
            .filter(|&&k| exp.model.beta() * k > exp.model.lambda)
            .count();
        let th = exp.limit(progress)?.trajectory;
        let runs = sgd(&exp, &SEEDS, progress)?;
        let last = |t: &MfTrajectory| t.snapshots.last().expect("recorded").test_error;
        mse_gap.push(seed_mean(
            &runs
                .iter()
                .map(|(_, t)| (last(t) - last(&th)).abs())
                .collect::<Vec<_>>(),
        ));
        gain_gap.push(seed_mean(
            &runs
                .iter()
                .map(|(_, t)| worst(&t.max_gain_errors(&th)))
                .collect::<Vec<_>>(),
        ));
    }
    let ns: Vec<f64> = WIDTHS.iter().map(|&n| n as f64).collect();
    let fit = |y: &[f64]| {
        let (x, y): (Vec<f64>, Vec<f64>) = ns
            .iter()
            .zip(y)
            .filter(|(n, _)| **n >= WIDTH_FIT_FROM as f64)
            .map(|(n, y)| (n.ln(), y.ln()))
            .unzip();
        let (slope, _) = fit_slope(&x, &y);
        let (mx, my) = (
            x.iter().sum::<f64>() / x.len() as f64,
            y.iter().sum::<f64>() / y.len() as f64,
        );
        let xs: Vec<f64> = ns
            .iter()
            .copied()
            .filter(|n| *n >= WIDTH_FIT_FROM as f64)
            .collect();
        let ys = xs
            .iter()
            .map(|x| (my + slope * (x.ln() - mx)).exp())
            .collect();
        (slope, xs, ys)
    };
    let (s_mse, x1, y1) = fit(&mse_gap);
    let (s_gain, x2, y2) = fit(&gain_gap);
    let mut p = Panel::new("N", "gap to the mean-field limit at T = 8");
    p.x_log = true;
    p.y_log = true;
    p.title = Some(
        format!(
            "ReLU, config R, SGD, {}: slopes {s_mse:.2}, {s_gain:.2} (N ≥ {WIDTH_FIT_FROM})",
            crate::plot::count(SEEDS.len(), "seed")
        )
        .replace('-', "\u{2212}"),
    );
    let (lo, hi) = (
        gain_gap
            .iter()
            .chain(&mse_gap)
            .copied()
            .fold(f64::INFINITY, f64::min),
        gain_gap.iter().chain(&mse_gap).copied().fold(0.0, f64::max),
    );
    p.series.push(
        Series::new(ns.clone(), mse_gap, SeriesStyle::Markers)
            .with_label("|MSE_N(T) − MSE(T)|")
            .with_color(5),
    );
    p.series.push(
        Series::new(x1, y1, SeriesStyle::Line)
            .with_label(format!("fit, slope {s_mse:.2}"))
            .with_color(5),
    );
    p.series.push(
        Series::new(ns, gain_gap, SeriesStyle::Markers)
            .with_label("max gain error")
            .with_color(4),
    );
    p.series.push(
        Series::new(x2, y2, SeriesStyle::Line)
            .with_label(format!("fit, slope {s_gain:.2}"))
            .with_color(4),
    );
    p.series
        .push(vline(d_eff as f64, lo, hi, &format!("d_{{eff}} = {d_eff}")));
    Ok(Figure::row(vec![p]))
}

/// Worst block's max gain error of paired + antithetic SGD against the Riccati ODE from
/// the same M_N(0), against ε·tr Σ (log–log, fitted slope): the pure SGD-noise error.
pub fn step(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut errs = Vec::new();
    for x in STEP_TRACES {
        let exp = with(|c| {
            c.network.neurons = 100;
            c.init.symmetry = Symmetry::Paired;
            c.training.antithetic = true;
            c.training.step = x / 43.0;
            c.output.points = 17;
        })?;
        let runs = sgd(&exp, &SEEDS, progress)?;
        errs.push(seed_mean(
            &runs
                .iter()
                .map(|(run, t)| {
                    let ric = riccati_trajectory(
                        &exp.model,
                        &exp.data,
                        &second_moment(&run.theta0),
                        &t.times(),
                        0.01,
                    );
                    worst(&t.max_gain_errors(&ric))
                })
                .collect::<Vec<_>>(),
        ));
    }
    let xs: Vec<f64> = STEP_TRACES.to_vec();
    let (lx, ly): (Vec<f64>, Vec<f64>) =
        xs.iter().zip(&errs).map(|(x, y)| (x.ln(), y.ln())).unzip();
    let (slope, _) = fit_slope(&lx, &ly);
    let (mx, my) = (
        lx.iter().sum::<f64>() / lx.len() as f64,
        ly.iter().sum::<f64>() / ly.len() as f64,
    );
    let fit: Vec<f64> = lx.iter().map(|x| (my + slope * (x - mx)).exp()).collect();
    let mut p = Panel::new("ε · tr Σ", "max gain error vs Riccati from M_N(0)");
    p.x_log = true;
    p.y_log = true;
    p.title = Some(
        format!(
            "ReLU, config R, N = 100 paired, antithetic: slope {slope:.2} ({})",
            crate::plot::count(SEEDS.len(), "seed")
        )
        .replace('-', "\u{2212}"),
    );
    p.series.push(
        Series::new(xs.clone(), errs, SeriesStyle::Markers)
            .with_label("SGD (worst block)")
            .with_color(5),
    );
    p.series.push(
        Series::new(xs, fit, SeriesStyle::Line)
            .with_label(format!("fit, slope {slope:.2}"))
            .with_color(5),
    );
    Ok(Figure::row(vec![p]))
}

/// Real data: the scikit-learn digits, sign-flip augmented, gains of the top PCs and MSE
/// against the ReLU theory computed from the data's spectrum.
pub fn digits(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut c = reference_config();
    c.data.kind = DataKind::Dataset;
    c.data.dim = 64;
    c.data.path = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv"));
    c.data.sign_flip = true;
    c.network.neurons = 1000;
    c.training.l2 = DIGITS_L2;
    c.init.std = 0.125;
    c.output.t_max = DIGITS_T;
    c.output.points = 31;
    let exp = c.check()?;
    let th = exp.limit(progress)?.trajectory;
    let sim = sgd(&exp, &[0], progress)?.remove(0).1;
    Ok(crate::mean_field::figures::gains_figure(
        &exp,
        &th,
        &sim,
        (
            format!("digits (sign-flip augmented), ReLU, N = 1000, λ = {DIGITS_L2}: top PCs"),
            Some("theory from the data spectrum (lines), SGD (markers)".into()),
        ),
    ))
}
