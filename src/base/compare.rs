//! Theory against simulation, for any model: per observable (a column both trajectories
//! have) and seed, the max and mean absolute deviation normalised by the theory's range;
//! their mean and worst over seeds; the deviation of the ensemble means; and the power-law
//! fit of a deviation against a size (`validate`).

use serde::Serialize;

use crate::base::model::Run;
use crate::error::{Error, Result};

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

/// Mean and standard error of the mean (NaN with fewer than two values).
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let m = mean(v);
    let se = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64 / v.len() as f64)
            .sqrt()
    } else {
        f64::NAN
    };
    (m, se)
}

/// A finished comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The successful seeds: the simulation and its theory (same output grid).
    pub pairs: Vec<(Run, Run)>,
    /// Seeds that failed, with the reason (divergence etc.).
    pub failed: Vec<(u64, String)>,
    /// Per compared observable: deviations per seed, over seeds, and of the ensemble means.
    pub summaries: Vec<ObservableSummary>,
}

impl Comparison {
    /// Summarise the deviations of the `names` (simulation column, theory column) over
    /// `pairs` (simulation, theory); a summary is named by its simulation column. Every pair
    /// must have the same number of rows in both tables.
    pub fn new(
        pairs: Vec<(Run, Run)>,
        failed: Vec<(u64, String)>,
        names: &[(String, String)],
    ) -> Result<Self> {
        if pairs.is_empty() {
            return Err(Error::AllSeedsFailed(
                failed
                    .iter()
                    .map(|(s, e)| format!("seed {s}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        for (sim, th) in &pairs {
            if sim.table.len() != th.table.len() {
                return Err(Error::InvalidState(format!(
                    "seed {}: the theory has {} rows, the simulation {}",
                    sim.seed,
                    th.table.len(),
                    sim.table.len()
                )));
            }
        }
        let summaries = names
            .iter()
            .filter_map(|(sim, th)| summarise(&pairs, sim, th))
            .collect();
        Ok(Comparison {
            pairs,
            failed,
            summaries,
        })
    }

    /// The summary of one observable.
    pub fn summary(&self, name: &str) -> Option<&ObservableSummary> {
        self.summaries.iter().find(|s| s.name == name)
    }

    /// A warning when the headline observable (the first summary) disagrees with the
    /// theory: its ensemble mean deviates by more than [`DEVIATION_WARNING`] of the
    /// theory's range.
    pub fn warnings(&self) -> Vec<String> {
        self.summaries
            .first()
            .and_then(|s| s.ensemble.max_norm.map(|d| (s, d)))
            .filter(|&(_, d)| d > DEVIATION_WARNING)
            .map(|(s, d)| {
                format!(
                    "`{}`: the simulation's mean deviates from the theory by {d:.3} of the \
                     theory's range (warning threshold {DEVIATION_WARNING}); the run is outside \
                     the theory's regime (step size, size, or a divergence)",
                    s.name
                )
            })
            .into_iter()
            .collect()
    }
}

/// Normalised ensemble deviation (max |mean over seeds of simulation − theory| / theory's
/// range) above which `compare` warns: a quarter of the range is far beyond the finite-size
/// fluctuations of the comparisons aedyn ships (≲ 0.05), so the theory does not describe
/// the run.
pub const DEVIATION_WARNING: f64 = 0.25;

/// The deviation summary of simulation column `name` against theory column `theory` (None
/// if a table lacks its column).
fn summarise(pairs: &[(Run, Run)], name: &str, theory: &str) -> Option<ObservableSummary> {
    let cols: Vec<(Vec<f64>, Vec<f64>)> = pairs
        .iter()
        .map(|(sim, th)| Some((th.table.column(theory)?, sim.table.column(name)?)))
        .collect::<Option<_>>()?;
    let per_seed: Vec<(u64, Deviation)> = pairs
        .iter()
        .zip(&cols)
        .map(|((sim, _), (th, s))| (sim.seed, Deviation::between(th, s)))
        .collect();
    let devs: Vec<Deviation> = per_seed.iter().map(|(_, d)| *d).collect();
    // Pointwise means over seeds of the theory (side 0) and the simulation (side 1).
    let ensemble = |side: usize| -> Vec<f64> {
        let pick = |c: &(Vec<f64>, Vec<f64>)| if side == 0 { c.0.clone() } else { c.1.clone() };
        let cols: Vec<Vec<f64>> = cols.iter().map(pick).collect();
        (0..cols[0].len())
            .map(|t| mean(&cols.iter().map(|c| c[t]).collect::<Vec<_>>()))
            .collect()
    };
    Some(ObservableSummary {
        name: name.to_string(),
        per_seed,
        mean_over_seeds: aggregate(&devs, mean),
        worst_over_seeds: aggregate(&devs, worst),
        ensemble: Deviation::between(&ensemble(0), &ensemble(1)),
    })
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

/// One size of a validation study.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationRow {
    /// The size (the model's `size_key`).
    pub size: f64,
    /// Seeds that finished.
    pub seeds: usize,
    /// The model's validation metrics: name, value, standard error over seeds (NaN if none).
    pub metrics: Vec<(String, f64, f64)>,
}

impl ValidationRow {
    /// A metric's value by name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.0 == name).map(|m| m.1)
    }
}

/// A fitted power law `metric ∝ size^exponent`.
#[derive(Debug, Clone, Serialize)]
pub struct PowerLaw {
    /// The metric's name.
    pub metric: String,
    /// Least-squares slope of ln(metric) against ln(size).
    pub exponent: f64,
    /// Its standard error (from the fit residuals).
    pub exponent_se: f64,
}

/// Deviations against a size, with a power-law fit per metric.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// The dotted config key of the size.
    pub size_key: String,
    /// One row per size.
    pub rows: Vec<ValidationRow>,
    /// One fit per metric, in the rows' metric order.
    pub fits: Vec<PowerLaw>,
}

impl Validation {
    /// Fit every metric of `rows` against the size (log–log); `rows` must share metric names.
    pub fn fit(size_key: &str, rows: Vec<ValidationRow>) -> Result<Self> {
        if rows.len() < 2 {
            return Err(Error::config("--sizes", "needs at least two sizes"));
        }
        let fits = rows[0]
            .metrics
            .iter()
            .map(|(name, _, _)| {
                // The sizes where this metric has a positive finite value.
                let (x, y): (Vec<f64>, Vec<f64>) = rows
                    .iter()
                    .filter_map(|r| {
                        let v = r.metric(name)?;
                        (v.is_finite() && v > 0.0).then(|| (r.size.ln(), v.ln()))
                    })
                    .unzip();
                let (exponent, exponent_se) = if x.len() >= 2 {
                    fit_slope(&x, &y)
                } else {
                    (f64::NAN, f64::NAN)
                };
                PowerLaw {
                    metric: name.clone(),
                    exponent,
                    exponent_se,
                }
            })
            .collect();
        Ok(Validation {
            size_key: size_key.to_string(),
            rows,
            fits,
        })
    }

    /// The fit of the first (headline) metric.
    pub fn headline(&self) -> &PowerLaw {
        &self.fits[0]
    }
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
