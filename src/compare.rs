//! Theory against simulation (issue: comparison). For every simulated seed the theory is
//! integrated from that seed's exact initial state (the initial spike overlaps are O(1)
//! random numbers that do not self-average) on the simulation's exact time grid
//! (t = steps/D), and every observable is compared: the test error and each entry of
//! Q, R, T, T0 (and β).

use serde::Serialize;

use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::sgd::{SeedRun, Simulator};
use crate::theory::{InitialState, Theory};
use crate::trajectory::{order_param_columns, Trajectory};

/// Deviation between a theory curve and a simulation curve on a common time grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Deviation {
    /// `max_t |sim − theory|`.
    pub max_abs: f64,
    /// `mean_t |sim − theory|`.
    pub mean_abs: f64,
    /// Range `max_t theory − min_t theory` of the theory curve (the normaliser).
    pub range: f64,
    /// `max_abs / range` (None when the range is 0).
    pub max_norm: Option<f64>,
    /// `mean_abs / range` (None when the range is 0).
    pub mean_norm: Option<f64>,
}

impl Deviation {
    /// Deviation of `sim` from `theory` (same length, same times).
    pub fn between(theory: &[f64], sim: &[f64]) -> Self {
        let n = theory.len().min(sim.len()).max(1) as f64;
        let diffs = theory.iter().zip(sim).map(|(a, b)| (a - b).abs());
        let (max_abs, sum) = diffs.fold((0.0f64, 0.0), |(m, s), d| (m.max(d), s + d));
        let lo = theory.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = theory.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let range = (hi - lo).max(0.0);
        let norm = |v: f64| (range > 0.0).then(|| v / range);
        Deviation {
            max_abs,
            mean_abs: sum / n,
            range,
            max_norm: norm(max_abs),
            mean_norm: norm(sum / n),
        }
    }
}

/// Summary of one observable over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ObservableSummary {
    /// The observable's column name (`test_error`, `Q_0_0`, …).
    pub name: String,
    /// Per seed: `(seed, deviation)`.
    pub per_seed: Vec<(u64, Deviation)>,
    /// Mean over seeds of `max_abs`, `mean_abs`, `max_norm`, `mean_norm`.
    pub mean_over_seeds: Aggregate,
    /// Worst (largest) over seeds.
    pub worst_over_seeds: Aggregate,
    /// Mean of the theories against the mean of the simulations.
    pub ensemble: Deviation,
}

/// Mean or worst of the deviation measures over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    /// Of `max_abs`.
    pub max_abs: f64,
    /// Of `mean_abs`.
    pub mean_abs: f64,
    /// Of `max_norm` (over seeds where it exists).
    pub max_norm: Option<f64>,
    /// Of `mean_norm`.
    pub mean_norm: Option<f64>,
}

fn aggregate(devs: &[Deviation], f: fn(&[f64]) -> f64) -> Aggregate {
    let pick = |g: fn(&Deviation) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = devs.iter().filter_map(g).collect();
        (!v.is_empty()).then(|| f(&v))
    };
    Aggregate {
        max_abs: f(&devs.iter().map(|d| d.max_abs).collect::<Vec<_>>()),
        mean_abs: f(&devs.iter().map(|d| d.mean_abs).collect::<Vec<_>>()),
        max_norm: pick(|d| d.max_norm),
        mean_norm: pick(|d| d.mean_norm),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn worst(v: &[f64]) -> f64 {
    v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
}

/// The observables of a trajectory as named series: `test_error`, then the order-parameter
/// columns.
pub fn observables(tr: &Trajectory, k: usize, with_bias: bool) -> Vec<(String, Vec<f64>)> {
    let mut out = vec![("test_error".to_string(), tr.test_errors())];
    let flat: Vec<Vec<f64>> = tr
        .snapshots
        .iter()
        .map(|s| s.order_params.flatten())
        .collect();
    for (i, name) in order_param_columns(k, with_bias).into_iter().enumerate() {
        out.push((name, flat.iter().map(|f| f[i]).collect()));
    }
    out
}

/// A finished comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The successful seeds: simulation and the theory from its initial state.
    pub pairs: Vec<(SeedRun, Trajectory)>,
    /// Seeds that failed, with the reason (divergence etc.).
    pub failed: Vec<(u64, String)>,
    /// Per observable: deviations per seed, over seeds, and of the ensemble means.
    pub summaries: Vec<ObservableSummary>,
}

impl Comparison {
    /// The summary of one observable.
    pub fn summary(&self, name: &str) -> Option<&ObservableSummary> {
        self.summaries.iter().find(|s| s.name == name)
    }
}

/// The theory of one simulated seed: from its exact initial weights, on its time grid.
pub fn theory_for(exp: &Experiment, theory: &Theory, run: &SeedRun) -> Result<Trajectory> {
    let init = InitialState::from_weights(&exp.covariance, &run.w0, &run.v0, exp.bias0.clone())?;
    // Output times closer than 1/D round to the same step count: integrate over the
    // distinct times and map the snapshots back onto the simulation's grid.
    let times = run.trajectory.times();
    let mut unique = times.clone();
    unique.dedup();
    let tr = theory.run(&init, &unique, exp.tolerances)?.trajectory;
    let mut it = tr.snapshots.iter().peekable();
    let snapshots = times
        .iter()
        .map(|&t| {
            while it.peek().is_some_and(|s| s.time < t) {
                it.next();
            }
            it.peek()
                .map(|s| (*s).clone())
                .expect("every time was integrated")
        })
        .collect();
    Ok(Trajectory { snapshots })
}

/// Simulate `seeds` and integrate the theory of each; summarise the deviations.
pub fn compare(
    exp: &Experiment,
    seeds: &[u64],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Comparison> {
    use rayon::prelude::*;
    let sim = Simulator::new(exp)?;
    let theory = exp.theory()?;
    let results = sim.run(seeds, progress);
    let mut failed = Vec::new();
    let runs: Vec<SeedRun> = results
        .into_iter()
        .filter_map(|(s, r)| r.map_err(|e| failed.push((s, e.to_string()))).ok())
        .collect();
    let pairs: Vec<(SeedRun, Trajectory)> = runs
        .into_par_iter()
        .map(|run| theory_for(exp, &theory, &run).map(|t| (run, t)))
        .collect::<Result<Vec<_>>>()?;
    if pairs.is_empty() {
        return Err(Error::Diverged {
            what: "every simulation seed".into(),
            time: f64::NAN,
            detail: failed
                .iter()
                .map(|(s, e)| format!("seed {s}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let summaries = summarise(exp, &pairs);
    Ok(Comparison {
        pairs,
        failed,
        summaries,
    })
}

/// Named series of a trajectory (see [`observables`]).
type Named = Vec<(String, Vec<f64>)>;

/// Deviation summaries of every observable (see [`ObservableSummary`]).
pub fn summarise(exp: &Experiment, pairs: &[(SeedRun, Trajectory)]) -> Vec<ObservableSummary> {
    let k = exp.model.hidden;
    let bias = exp.model.bias_lr.is_some();
    let theories: Vec<Named> = pairs
        .iter()
        .map(|(_, th)| observables(th, k, bias))
        .collect();
    let sims: Vec<Named> = pairs
        .iter()
        .map(|(run, _)| observables(&run.trajectory, k, bias))
        .collect();
    // Pointwise mean over seeds of observable i.
    let ensemble = |set: &[Named], i: usize| -> Vec<f64> {
        (0..set[0][i].1.len())
            .map(|t| mean(&set.iter().map(|o| o[i].1[t]).collect::<Vec<_>>()))
            .collect()
    };
    theories[0]
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let per_seed: Vec<(u64, Deviation)> = pairs
                .iter()
                .zip(theories.iter().zip(&sims))
                .map(|((run, _), (th, sim))| (run.seed, Deviation::between(&th[i].1, &sim[i].1)))
                .collect();
            let devs: Vec<Deviation> = per_seed.iter().map(|(_, d)| *d).collect();
            ObservableSummary {
                name: name.clone(),
                per_seed,
                mean_over_seeds: aggregate(&devs, mean),
                worst_over_seeds: aggregate(&devs, worst),
                ensemble: Deviation::between(&ensemble(&theories, i), &ensemble(&sims, i)),
            }
        })
        .collect()
}

/// One dimension of a validation study.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationRow {
    /// D.
    pub dim: usize,
    /// Seeds that finished.
    pub seeds: usize,
    /// Mean over seeds of the normalised max deviation of the test error.
    pub test_error_max_norm: f64,
    /// Its standard error over seeds.
    pub test_error_max_norm_se: f64,
    /// Mean over seeds of the max absolute deviation of the test error.
    pub test_error_max_abs: f64,
    /// Mean over seeds and over the entries of Q, R, T0 of the normalised max deviation.
    pub order_params_max_norm: f64,
}

/// Deviation against dimension, with the fitted power law `dev ∝ D^exponent`.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// One row per D.
    pub rows: Vec<ValidationRow>,
    /// Least-squares slope of ln(test-error deviation) against ln D.
    pub exponent: f64,
    /// Standard error of the slope (from the fit residuals).
    pub exponent_se: f64,
}

/// Least-squares line `y = a + b x`: returns `(b, se(b))`; se is NaN with fewer than 3 points.
pub fn fit_slope(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let rss: f64 = x.iter().zip(y).map(|(u, v)| (v - a - b * u).powi(2)).sum();
    let se = if n > 2.0 {
        (rss / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    (b, se)
}

/// Compare theory and simulation at each dimension in `dims` (the experiment's config with
/// `data.dim` replaced), `seeds` seeds each, and fit the deviation's power law in D.
pub fn validate(
    config: &crate::config::Config,
    dims: &[usize],
    seeds: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Validation> {
    if dims.len() < 2 {
        return Err(Error::config("--dims", "needs at least two dimensions"));
    }
    let mut rows = Vec::with_capacity(dims.len());
    for &dim in dims {
        let mut c = config.clone();
        c.data.dim = dim;
        let exp = c.resolve()?;
        let seed_list: Vec<u64> = (0..seeds).map(|j| exp.replicate_seed(j)).collect();
        let cmp = compare(&exp, &seed_list, progress)?;
        let te = cmp
            .summary("test_error")
            .expect("test_error is always summarised");
        let norms: Vec<f64> = te.per_seed.iter().filter_map(|(_, d)| d.max_norm).collect();
        let m = mean(&norms);
        let se = if norms.len() > 1 {
            (norms.iter().map(|v| (v - m).powi(2)).sum::<f64>()
                / (norms.len() - 1) as f64
                / norms.len() as f64)
                .sqrt()
        } else {
            f64::NAN
        };
        let ops: Vec<f64> = cmp
            .summaries
            .iter()
            .filter(|s| {
                s.name.starts_with("Q_") || s.name.starts_with("R_") || s.name.starts_with("T0_")
            })
            .filter_map(|s| s.mean_over_seeds.max_norm)
            .collect();
        rows.push(ValidationRow {
            dim,
            seeds: te.per_seed.len(),
            test_error_max_norm: m,
            test_error_max_norm_se: se,
            test_error_max_abs: te.mean_over_seeds.max_abs,
            order_params_max_norm: mean(&ops),
        });
    }
    let x: Vec<f64> = rows.iter().map(|r| (r.dim as f64).ln()).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.test_error_max_norm.ln()).collect();
    let (exponent, exponent_se) = fit_slope(&x, &y);
    Ok(Validation {
        rows,
        exponent,
        exponent_se,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_of_known_curves() {
        let th = [0.0, 1.0, 2.0, 4.0];
        let sim = [0.1, 1.0, 1.8, 4.0];
        let d = Deviation::between(&th, &sim);
        assert!((d.max_abs - 0.2).abs() < 1e-15);
        assert!((d.mean_abs - 0.075).abs() < 1e-15);
        assert_eq!(d.range, 4.0);
        assert!((d.max_norm.unwrap() - 0.05).abs() < 1e-15);
        let flat = Deviation::between(&[1.0, 1.0], &[1.0, 2.0]);
        assert_eq!(flat.max_norm, None);
    }

    #[test]
    fn slope_of_an_exact_power_law_with_noise() {
        let x: Vec<f64> = [250.0f64, 500.0, 1000.0, 2000.0, 4000.0]
            .iter()
            .map(|d| d.ln())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 1.0 - 0.5 * v + [0.01, -0.02, 0.0, 0.02, -0.01][i])
            .collect();
        let (b, se) = fit_slope(&x, &y);
        assert!((b + 0.5).abs() < 3.0 * se && se < 0.05, "{b} ± {se}");
        let (b, se) = fit_slope(&x, &x.iter().map(|v| 2.0 - 0.5 * v).collect::<Vec<_>>());
        assert!((b + 0.5).abs() < 1e-12 && se < 1e-10);
    }
}
