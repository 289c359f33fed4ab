//! The paper's variants end to end (docs/autoencoder.md §1.4, §3.5, §5.1–§5.3, §8.4–§8.5):
//! truncated SGD and Sanger's rule, tied weights, ReLU with a trained bias, and real data.
//! Each experiment is one of the shipped configs in `examples/configs/` (embedded here, so the
//! figure and `aedyn compare --config examples/configs/<name>.toml` run the same experiment).

use std::path::Path;

use super::autoencoder::{run_compare, Compared};
use super::Ctx;
use crate::autoencoder::figures::pca_lines;
use crate::autoencoder::params::{Experiment, Inputs, Params};
use crate::autoencoder::trajectory::Trajectory;
use crate::error::{Error, Result};
use crate::plot::{count, theory_sgd_keys, Figure, Panel, Series, SeriesStyle};

/// The shipped example configs of the variants: (name, TOML text).
pub const VARIANT_CONFIGS: [(&str, &str); 8] = [
    ("untied", include_str!("../../examples/configs/untied.toml")),
    (
        "truncated",
        include_str!("../../examples/configs/truncated.toml"),
    ),
    ("sanger", include_str!("../../examples/configs/sanger.toml")),
    ("tied", include_str!("../../examples/configs/tied.toml")),
    (
        "tied_linear",
        include_str!("../../examples/configs/tied_linear.toml"),
    ),
    ("relu", include_str!("../../examples/configs/relu.toml")),
    (
        "relu_bias",
        include_str!("../../examples/configs/relu_bias.toml"),
    ),
    ("digits", include_str!("../../examples/configs/digits.toml")),
];

/// The folder the shipped configs' relative paths refer to.
const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/configs");

/// The shipped config `name` (see [`VARIANT_CONFIGS`]), its paths resolved.
pub fn variant_config(name: &str) -> Result<Params> {
    let (_, text) = VARIANT_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Error::InvalidState(format!("no shipped config `{name}`")))?;
    let origin = Path::new(CONFIG_DIR).join(format!("{name}.toml"));
    let mut c = Params::from_toml(text, &origin)?;
    c.resolve_paths(Path::new(CONFIG_DIR));
    Ok(c)
}

/// Run `aedyn compare` on the shipped config `name`.
pub fn run_variant(name: &str, progress: &(dyn Fn(u64) + Sync)) -> Result<(Experiment, Compared)> {
    run_compare(&variant_config(name)?, progress)
}

/// `|w^k·u_m|` for the top `K` principal directions (spike groups of multiplicity 1, largest
/// first) at the last time: row k, column m.
pub fn final_overlaps(exp: &Experiment, tr: &Trajectory) -> Result<Vec<Vec<f64>>> {
    let k = exp.model.hidden;
    let groups = exp.covariance.spectrum().groups();
    let last = tr
        .snapshots
        .last()
        .ok_or_else(|| Error::InvalidState("empty trajectory".into()))?;
    if groups.len() < k || groups[..k].iter().any(|g| g.multiplicity != 1) {
        return Err(Error::InvalidState(
            "overlaps with single principal directions need K spike groups of multiplicity 1"
                .into(),
        ));
    }
    Ok((0..k)
        .map(|unit| {
            (0..k)
                .map(|m| last.groups[m].q[(unit, unit)].max(0.0).sqrt())
                .collect()
        })
        .collect())
}

/// The largest ratio `|w^k·u_m| / |w^k·u_k|` over `m ≠ k`: how far the encoder is from the
/// exact principal components (0 for `w^k ∥ u_k` within the top subspace).
pub fn off_diagonal_ratio(overlaps: &[Vec<f64>]) -> f64 {
    let mut worst: f64 = 0.0;
    for (k, row) in overlaps.iter().enumerate() {
        for (m, &o) in row.iter().enumerate() {
            if m != k {
                worst = worst.max(o / row[k]);
            }
        }
    }
    worst
}

/// One curve per experiment: the first seed's theory (line) and SGD (markers), same colour.
fn add_run(
    p: &mut Panel,
    label: &str,
    color: usize,
    cmp: &Compared,
    pick: &dyn Fn(&Trajectory) -> Vec<f64>,
) {
    let (run, th) = &cmp.pairs[0];
    p.series.push(
        Series::new(th.times(), pick(th), SeriesStyle::Line)
            .with_label(label)
            .with_name(format!("theory, {label}"))
            .with_color(color),
    );
    p.series.push(
        Series::new(
            run.trajectory.times(),
            pick(&run.trajectory),
            SeriesStyle::Markers,
        )
        .with_name(format!("SGD, {label}"))
        .with_color(color),
    );
}

fn error_panel(title: String) -> Panel {
    let mut p = Panel::new("t", "ε_g");
    p.x_log = true;
    p.y_log = true;
    p.title = Some(title);
    p
}

/// `(w^k·u_m)² / Σ_{m'<K} (w^k·u_{m'})²`: the direction of unit k's encoder within the top-K
/// principal subspace (the spike groups, largest first), per snapshot.
pub fn subspace_overlaps(tr: &Trajectory, k: usize, unit: usize, m: usize) -> Vec<f64> {
    tr.snapshots
        .iter()
        .map(|s| {
            let total: f64 = s.groups[..k].iter().map(|g| g.q[(unit, unit)]).sum();
            s.groups[m].q[(unit, unit)] / total
        })
        .collect()
}

/// The encoder directions within the top-K subspace of every unit, theory and SGD.
fn overlap_panel(exp: &Experiment, cmp: &Compared, rule: &str) -> Panel {
    let k = exp.model.hidden;
    let mut p = Panel::new("t", "(w^k·u_m)² / Σ_{m'<K} (w^k·u_{m'})²");
    p.x_log = true;
    p.title = Some(format!("{rule}: encoder within the top-{k} PCs"));
    let mut color = 1;
    for m in 0..k {
        for unit in 0..k {
            add_run(
                &mut p,
                &format!("k={unit}, m={m}"),
                color,
                cmp,
                &|tr: &Trajectory| subspace_overlaps(tr, k, unit, m),
            );
            color += 1;
        }
    }
    p.series.extend(theory_sgd_keys());
    p
}

/// Truncated SGD learns the PCs themselves, vanilla SGD a rotation of the top subspace;
/// Sanger's rule as the linear baseline.
pub fn truncated(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut runs = Vec::new();
    for (name, label) in [
        ("untied", "vanilla SGD (erf)"),
        ("truncated", "truncated SGD (erf)"),
        ("sanger", "Sanger's rule (linear, η = 0.4√D)"),
    ] {
        let (exp, cmp) = run_variant(name, progress)?;
        runs.push((label, exp, cmp));
    }
    let exp0 = &runs[0].1;
    let mut err = error_panel(format!(
        "K = 2, θ = (25, 9)/35, D = {}",
        exp0.covariance.dim()
    ));
    for (i, (label, _, cmp)) in runs.iter().enumerate() {
        add_run(&mut err, label, i + 1, cmp, &|tr: &Trajectory| {
            tr.test_errors()
        });
    }
    err.series.extend(theory_sgd_keys());
    err.hlines = pca_lines(&exp0.covariance.pca_errors(2));
    let mut panels = vec![err];
    for (label, exp, cmp) in &runs {
        panels.push(overlap_panel(exp, cmp, label));
    }
    Ok(Figure::grid(panels, 2))
}

/// Tied vs untied erf, and tied linear (docs/autoencoder.md §5.3, §8.5).
pub fn tied(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut p = error_panel(String::new());
    let mut pca = Vec::new();
    let mut dim = 0;
    for (i, (name, label)) in [
        ("untied", "erf, untied"),
        ("tied", "erf, tied"),
        ("tied_linear", "linear, tied"),
    ]
    .into_iter()
    .enumerate()
    {
        let (exp, cmp) = run_variant(name, progress)?;
        add_run(&mut p, label, i + 1, &cmp, &|tr: &Trajectory| {
            tr.test_errors()
        });
        pca = exp.covariance.pca_errors(2);
        dim = exp.covariance.dim();
    }
    p.title = Some(format!("tied (v = √D w) vs untied, K = 2, D = {dim}"));
    p.series.extend(theory_sgd_keys());
    p.hlines = pca_lines(&pca);
    Ok(Figure::row(vec![p]))
}

/// ReLU with and without a trained encoder bias (docs/autoencoder.md §8.4): test error and biases β_k.
pub fn relu_bias(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let mut err = error_panel(String::new());
    let mut beta = Panel::new("t", "β_k");
    beta.x_log = true;
    beta.title = Some("trained biases β_k = b_k/√D".into());
    let mut pca = Vec::new();
    let mut dim = 0;
    for (i, (name, label)) in [
        ("relu", "ReLU, no bias"),
        ("relu_bias", "ReLU, trained bias"),
    ]
    .into_iter()
    .enumerate()
    {
        let (exp, cmp) = run_variant(name, progress)?;
        add_run(&mut err, label, i + 1, &cmp, &|tr: &Trajectory| {
            tr.test_errors()
        });
        if exp.model.bias_lr.is_some() {
            for unit in 0..exp.model.hidden {
                add_run(
                    &mut beta,
                    &format!("β_{unit}"),
                    unit + 3,
                    &cmp,
                    &|tr: &Trajectory| {
                        tr.snapshots
                            .iter()
                            .map(|s| s.order_params.beta.as_ref().map_or(f64::NAN, |b| b[unit]))
                            .collect()
                    },
                );
            }
        }
        pca = exp.covariance.pca_errors(2);
        dim = exp.covariance.dim();
    }
    err.title = Some(format!("ReLU, K = 2, θ = (25, 9)/35, D = {dim}"));
    for p in [&mut err, &mut beta] {
        p.series.extend(theory_sgd_keys());
    }
    err.hlines = pca_lines(&pca);
    Ok(Figure::row(vec![err, beta]))
}

/// Spectrum bin counts of the digits theory shown in the bins panel (`None`: exact).
pub const DIGITS_BINS: [Option<usize>; 5] = [Some(4), Some(8), Some(16), Some(32), None];

/// Real digits: theory on the binned spectrum vs SGD on the samples and on Gaussian
/// surrogates (mean ± s.e. over seeds); second panel, the theory for several bin counts.
pub fn digits(ctx: &Ctx) -> Result<Figure> {
    let progress = ctx.progress;
    let config = variant_config("digits")?;
    let (exp, cmp) = run_compare(&config, progress)?;
    let mut surrogate = config.clone();
    surrogate.data.inputs = Inputs::Gaussian;
    let (_, cmp_gauss) = run_compare(&surrogate, progress)?;
    let mut p = error_panel(format!(
        "8×8 digits (n = 1797, D = {}), erf, K = 2: theory ({} bins) vs SGD, {} (mean ± s.e.)",
        exp.covariance.dim(),
        exp.covariance.spectrum().groups().len(),
        count(cmp.pairs.len(), "seed")
    ));
    // The three curves nearly coincide: the surrogate SGD as a band under the dashed
    // theory, the digits SGD as markers on top, so none hides another.
    let (t, mean, se) = seed_mean(&cmp_gauss, |(run, _)| &run.trajectory);
    let lo = mean.iter().zip(&se).map(|(m, e)| m - e).collect();
    let hi = mean.iter().zip(&se).map(|(m, e)| m + e).collect();
    p.series.push(
        Series::new(t, mean, SeriesStyle::LineWithBand { lo, hi })
            .with_label("SGD, Gaussian surrogate")
            .with_name("SGD on Gaussian surrogates, mean ± s.e.")
            .with_color(3),
    );
    let (t, mean, _) = seed_mean(&cmp, |(_, th)| th);
    p.series.push(
        Series::new(t, mean, SeriesStyle::Dashed)
            .with_label("theory")
            .with_name("theory from each seed's initial weights, mean")
            .with_color(1),
    );
    let (t, mean, se) = seed_mean(&cmp, |(run, _)| &run.trajectory);
    p.series.push(
        Series::new(t, mean, SeriesStyle::ErrorBars { err: se })
            .with_label("SGD, digits")
            .with_name("SGD on the digits, mean ± s.e.")
            .with_color(2),
    );
    p.hlines = pca_lines(&exp.covariance.pca_errors(2));
    let init_seed = exp.replicate_seed(0);
    let mut bins = error_panel(format!(
        "theory for G spectrum groups (log-width bins), seed {init_seed}"
    ));
    // Exact first; the finer binnings, which coincide with it, dashed and dotted over it.
    let styles = [
        SeriesStyle::Line,
        SeriesStyle::Line,
        SeriesStyle::Dashed,
        SeriesStyle::Dotted,
        SeriesStyle::Line,
    ];
    for (i, (b, style)) in DIGITS_BINS.into_iter().zip(styles).enumerate().rev() {
        let mut c = config.clone();
        c.data.bins = b;
        let e = c.check()?;
        let run = e
            .ode()?
            .run(&e.initial_state(init_seed)?, &e.times, e.tolerances)?;
        let g = e.covariance.spectrum().groups().len();
        let label = match b {
            Some(_) => format!("G = {g}"),
            None => format!("exact (G = {g})"),
        };
        bins.series.push(
            Series::new(run.trajectory.times(), run.trajectory.test_errors(), style)
                .with_label(label)
                .with_color(i + 1),
        );
    }
    bins.hlines = pca_lines(&exp.covariance.pca_errors(2));
    Ok(Figure::row(vec![p, bins]))
}

/// Mean and standard error over seeds of the test error of the trajectory `pick` selects
/// from each (simulation, theory) pair; all seeds share the output times.
fn seed_mean(
    cmp: &Compared,
    pick: impl Fn(&(crate::autoencoder::sgd::SeedRun, Trajectory)) -> &Trajectory,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = cmp.pairs.len() as f64;
    let t = pick(&cmp.pairs[0]).times();
    let all: Vec<Vec<f64>> = cmp.pairs.iter().map(|p| pick(p).test_errors()).collect();
    let mean: Vec<f64> = (0..t.len())
        .map(|i| all.iter().map(|e| e[i]).sum::<f64>() / n)
        .collect();
    let se = (0..t.len())
        .map(|i| {
            let var =
                all.iter().map(|e| (e[i] - mean[i]).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            (var / n).sqrt()
        })
        .collect();
    (t, mean, se)
}
