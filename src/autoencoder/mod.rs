//! The two-layer autoencoder under online SGD (Refinetti & Goldt, ICML 2022; maths in
//! `docs/autoencoder.md`): the high-dimensional ODEs for the overlaps of encoder and decoder
//! with the eigendirections of the input covariance ([`theory`]), finite-width SGD
//! ([`sgd`]), their observables ([`trajectory`]), timescale analysis ([`analysis`]), its
//! validated config ([`params`]) and the [`Dynamics`] implementation that gives it every
//! command.
//!
//! ```
//! use aedyn::autoencoder::Params;
//! use aedyn::base::Dynamics;
//!
//! let mut params = Params::default(); // erf, K = 2, θ = (25, 9)/35, D = 1000, η = 0.4
//! params.output.t_max = 50.0;
//! let exp = params.check()?; // validated before any numerics run
//! let run = exp.theory(exp.replicate_seed(0), &|_| {})?;
//! let pca = exp.covariance.pca_errors(2); // ε_PCA(m), m = 0, 1, 2
//! assert!(run.table.last("test_error").unwrap() < pca[1]); // past the first plateau by t = 50
//! # Ok::<(), aedyn::Error>(())
//! ```

pub mod analysis;
pub mod figures;
pub mod model;
pub mod params;
pub mod sgd;
pub mod theory;
pub mod trajectory;

use serde_json::{json, Value};

use crate::base::compare::Comparison;
use crate::base::model::{Dynamics, Payload, Progress, Run, Source};
use crate::base::table::Table;
use crate::error::Result;
use crate::plot::Figure;
use crate::spectrum::Spectrum;

pub use params::{Experiment, Params, DEFAULT_CONFIG};
use trajectory::{order_param_columns, Snapshot, Trajectory};

/// The model's name in `[model] kind`.
pub const KIND: &str = "autoencoder";

/// The range in which the fitted exponent of `validate` (deviation of ε_g against D) is
/// expected: O(D^{-1/2}) fluctuations plus O(1/D) corrections.
pub const EXPECTED_EXPONENT: std::ops::RangeInclusive<f64> = -0.8..=-0.3;

/// The trajectory as a table: `time,test_error[,test_error_empirical],Q_0_0,…,R_…,T_…,T0_…[,beta_k]`
/// (order parameters row-major, decoder index first in R).
pub fn trajectory_table(tr: &Trajectory, k: usize) -> Table {
    let with_emp = tr
        .snapshots
        .iter()
        .any(|s| s.test_error_empirical.is_some());
    let bias = tr
        .snapshots
        .first()
        .is_some_and(|s| s.order_params.beta.is_some());
    let mut names = vec!["test_error".to_string()];
    if with_emp {
        names.push("test_error_empirical".into());
    }
    names.extend(order_param_columns(k, bias));
    let mut t = Table::new("time", names);
    for s in &tr.snapshots {
        let mut row = vec![s.test_error];
        if with_emp {
            row.push(s.test_error_empirical.unwrap_or(f64::NAN));
        }
        row.extend(s.order_params.flatten());
        t.push(s.time, row);
    }
    t
}

/// The overlaps of the decoder span with the leading principal directions,
/// `time,o_1,…,o_K` ([`analysis::pc_overlaps`]: 1 when PC m is reconstructible, ≈ K/D for
/// random weights).
pub fn overlap_table(tr: &Trajectory, spectrum: &Spectrum, k: usize) -> Table {
    overlaps_as_table(tr, pc_overlaps(tr, spectrum, k), k)
}

/// [`analysis::pc_overlaps`] of every snapshot.
fn pc_overlaps(tr: &Trajectory, spectrum: &Spectrum, k: usize) -> Vec<Vec<f64>> {
    tr.snapshots
        .iter()
        .map(|s| analysis::pc_overlaps(s, spectrum, k))
        .collect()
}

/// [`overlap_table`] of overlaps already computed, one vector per snapshot.
fn overlaps_as_table(tr: &Trajectory, overlaps: Vec<Vec<f64>>, k: usize) -> Table {
    let mut t = Table::new("time", (1..=k).map(|m| format!("o_{m}")).collect());
    for (s, o) in tr.snapshots.iter().zip(overlaps) {
        t.push(s.time, o);
    }
    t
}

/// The per-group densities as a long table, one row per time × group:
/// `time,group,rho_tilde,multiplicity,q_k_l…,r_k_l…,t_k_l…`. `q_G` and `t_G` are symmetric
/// and stored once, as their upper triangles (`k ≤ l`, row-major: `q_l_k = q_k_l`); `r_G`
/// in full.
pub fn group_table(tr: &Trajectory, spectrum: &Spectrum, k: usize) -> Table {
    let layout = GroupLayout::new(k);
    let rows = tr
        .snapshots
        .iter()
        .map(|s| layout.rows(s, spectrum))
        .collect();
    layout.table(tr, rows)
}

/// The columns of [`group_table`]: the `(k, l)` entries kept of `q_G`, `r_G`, `t_G`.
struct GroupLayout {
    upper: Vec<(usize, usize)>,
    full: Vec<(usize, usize)>,
}

impl GroupLayout {
    fn new(k: usize) -> Self {
        GroupLayout {
            upper: (0..k).flat_map(|a| (a..k).map(move |b| (a, b))).collect(),
            full: (0..k).flat_map(|a| (0..k).map(move |b| (a, b))).collect(),
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["group", "rho_tilde", "multiplicity"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (name, pairs) in [("q", &self.upper), ("r", &self.full), ("t", &self.upper)] {
            names.extend(pairs.iter().map(|(a, b)| format!("{name}_{a}_{b}")));
        }
        names
    }

    /// The rows of one snapshot, one per group.
    fn rows(&self, s: &Snapshot, spectrum: &Spectrum) -> Vec<Vec<f64>> {
        let width = 3 + 2 * self.upper.len() + self.full.len();
        s.groups
            .iter()
            .enumerate()
            .map(|(g, dens)| {
                let mut row = Vec::with_capacity(width);
                row.extend([
                    g as f64,
                    spectrum.rho_tilde(g),
                    spectrum.groups()[g].multiplicity as f64,
                ]);
                for (m, pairs) in [
                    (&dens.q, &self.upper),
                    (&dens.r, &self.full),
                    (&dens.t, &self.upper),
                ] {
                    row.extend(pairs.iter().map(|&(a, b)| m[(a, b)]));
                }
                row
            })
            .collect()
    }

    /// The table of every snapshot's [`Self::rows`].
    fn table(&self, tr: &Trajectory, rows: Vec<Vec<Vec<f64>>>) -> Table {
        let mut t = Table::new("time", self.names());
        for (s, rows) in tr.snapshots.iter().zip(rows) {
            for row in rows {
                t.push(s.time, row);
            }
        }
        t
    }
}

/// The `sweep.csv` columns of a trajectory: final test error, divergence time, learning
/// times `t_learn_m` and plateaus (see [`analysis`]).
fn summary(
    tr: &Trajectory,
    overlaps: &[Vec<f64>],
    spectrum: &Spectrum,
    k: usize,
) -> Vec<(String, f64)> {
    let criteria = analysis::Criteria::default();
    let s = analysis::summarise_with_overlaps(tr, overlaps, spectrum, k, &criteria);
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let mut out = vec![
        ("final_test_error".to_string(), nan(s.final_test_error)),
        ("divergence_time".to_string(), nan(s.divergence_time)),
    ];
    for (m, t) in s.learn_times.iter().enumerate() {
        out.push((format!("t_learn_{}", m + 1), nan(*t)));
    }
    for (m, p) in s.plateaus.iter().enumerate() {
        out.push((format!("plateau_{m}_start"), nan(p.map(|p| p.start))));
        out.push((format!("plateau_{m}_end"), nan(p.map(|p| p.end))));
        out.push((
            format!("plateau_{m}_duration"),
            nan(p.map(|p| p.duration())),
        ));
        out.push((format!("plateau_{m}_level"), nan(p.map(|p| p.level))));
    }
    out
}

impl Experiment {
    fn spectrum(&self) -> &Spectrum {
        self.covariance.spectrum()
    }

    /// The theory of replicate `seed` at the given output times; `progress(1)` at each. The
    /// rows of the group and overlap tables are made beside the integration, on the thread
    /// pool.
    fn theory_at(&self, seed: u64, times: &[f64], progress: Progress) -> Result<Run> {
        let init = self.initial_state(seed)?;
        let k = self.model.hidden;
        let s = self.spectrum();
        let layout = GroupLayout::new(k);
        let (run, rows) =
            self.ode()?
                .run_with(&init, times, self.tolerances, progress, |snapshot| {
                    (
                        layout.rows(snapshot, s),
                        analysis::pc_overlaps(snapshot, s, k),
                    )
                })?;
        let tr = run.trajectory;
        let (groups, overlaps): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        let summary = summary(&tr, &overlaps, s, k);
        Ok(Run {
            seed,
            table: trajectory_table(&tr, k),
            extra: vec![
                ("groups".into(), layout.table(&tr, groups)),
                ("overlaps".into(), overlaps_as_table(&tr, overlaps, k)),
            ],
            files: Vec::new(),
            record: json!({ "integrator": run.stats }),
            summary,
            payload: Payload::new(tr),
        })
    }
}

impl Dynamics for Experiment {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn config(&self) -> Value {
        serde_json::to_value(&self.config).expect("serialisable config")
    }

    fn record(&self) -> Value {
        let s = self.spectrum();
        let groups: Vec<Value> = s
            .groups()
            .iter()
            .enumerate()
            .map(|(g, e)| {
                json!({"rho": e.rho, "rho_tilde": s.rho_tilde(g), "multiplicity": e.multiplicity})
            })
            .collect();
        json!({
            "trace_over_dim": s.trace_over_dim(),
            "pca_errors": self.covariance.pca_errors(self.model.hidden),
            "spectrum": groups,
        })
    }

    fn default_seeds(&self) -> usize {
        self.sim.seeds
    }

    fn output_format(&self) -> crate::base::table::OutputFormat {
        self.config.output.format
    }

    fn replicate_seed(&self, j: usize) -> u64 {
        Experiment::replicate_seed(self, j)
    }

    /// A simulation's units are its steps plus, per output time, the test inputs of its
    /// measurement ([`sgd::measurement_units`]), so the progress bar moves from the first
    /// measurement on.
    fn work(&self, source: Source) -> u64 {
        match source {
            Source::Theory => self.times.len() as u64,
            Source::Simulation => {
                self.simulation_steps()
                    + self.times.len() as u64 * sgd::measurement_units(self.sim.test_samples)
            }
        }
    }

    fn simulation_steps(&self) -> u64 {
        self.times
            .last()
            .map_or(0, |t| sgd::steps_at(*t, self.covariance.dim()))
    }

    fn theory(&self, seed: u64, progress: Progress) -> Result<Run> {
        self.theory_at(seed, &self.times, progress)
    }

    /// The theory from the simulation's exact initial weights, on its time grid (t =
    /// steps/D: output times closer than 1/D round to the same step count, so the theory is
    /// integrated over the distinct times and mapped back).
    fn theory_for(&self, sim: &Run, progress: Progress) -> Result<Run> {
        let times = &sim.table.index;
        let mut unique = times.clone();
        unique.dedup();
        let mut run = self.theory_at(sim.seed, &unique, progress)?;
        if unique.len() != times.len() {
            let tr = run
                .payload
                .get::<Trajectory>()
                .expect("autoencoder payload");
            let mut it = tr.snapshots.iter().peekable();
            let snapshots = times
                .iter()
                .map(|&t| {
                    while it.peek().is_some_and(|s| s.time < t) {
                        it.next();
                    }
                    (*it.peek().expect("every time was integrated")).clone()
                })
                .collect();
            let tr = Trajectory { snapshots };
            let k = self.model.hidden;
            run.table = trajectory_table(&tr, k);
            run.extra = vec![
                ("groups".into(), group_table(&tr, self.spectrum(), k)),
                ("overlaps".into(), overlap_table(&tr, self.spectrum(), k)),
            ];
            run.payload = Payload::new(tr);
        }
        Ok(run)
    }

    fn simulate(&self, seed: u64, progress: Progress) -> Result<Run> {
        let sim = sgd::Simulator::new(self)?;
        let r = sim.run_seed(seed, progress)?;
        let k = self.model.hidden;
        let s = self.spectrum();
        let first = Trajectory {
            snapshots: r
                .trajectory
                .snapshots
                .first()
                .cloned()
                .into_iter()
                .collect(),
        };
        let csv = |m: &nalgebra::DMatrix<f64>| crate::io::matrix_csv(m).into_bytes();
        let overlaps = pc_overlaps(&r.trajectory, s, k);
        Ok(Run {
            seed,
            table: trajectory_table(&r.trajectory, k),
            summary: summary(&r.trajectory, &overlaps, s, k),
            extra: vec![
                ("groups".into(), group_table(&r.trajectory, s, k)),
                (
                    "overlaps".into(),
                    overlaps_as_table(&r.trajectory, overlaps, k),
                ),
                ("init/groups0".into(), group_table(&first, s, k)),
            ],
            files: vec![
                (format!("init/W0_seed{seed}.csv"), csv(&r.w0)),
                (format!("init/V0_seed{seed}.csv"), csv(&r.v0)),
            ],
            record: json!({ "steps": r.steps }),
            payload: Payload::new(r),
        })
    }

    fn compared(&self) -> Vec<(String, String)> {
        let mut names = vec!["test_error".to_string()];
        names.extend(order_param_columns(
            self.model.hidden,
            self.model.bias_lr.is_some(),
        ));
        names.into_iter().map(|n| (n.clone(), n)).collect()
    }

    fn compare_figure(&self, cmp: &Comparison) -> Option<Figure> {
        Some(figures::compare_figure(self, cmp))
    }

    fn size_key(&self) -> &'static str {
        "data.dim"
    }

    fn default_sizes(&self) -> Vec<usize> {
        vec![250, 500, 1000, 2000, 4000]
    }

    fn validation_metrics(&self, cmp: &Comparison) -> Vec<(String, f64, f64)> {
        let te = cmp
            .summary("test_error")
            .expect("test_error is always compared");
        let norms: Vec<f64> = te.per_seed.iter().filter_map(|(_, d)| d.max_norm).collect();
        let (m, se) = crate::base::compare::mean_se(&norms);
        let ops: Vec<f64> = cmp
            .summaries
            .iter()
            .filter(|s| {
                s.name.starts_with("Q_") || s.name.starts_with("R_") || s.name.starts_with("T0_")
            })
            .filter_map(|s| s.mean_over_seeds.max_norm)
            .collect();
        vec![
            ("test_error_max_norm".into(), m, se),
            (
                "test_error_max_abs".into(),
                te.mean_over_seeds.max_abs,
                f64::NAN,
            ),
            (
                "order_params_max_norm".into(),
                crate::base::compare::mean_se(&ops).0,
                f64::NAN,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `groups.csv` holds the upper triangles of the symmetric `q_G`, `t_G` and all of
    /// `r_G`, each entry in its named column, for the theory's own snapshots.
    #[test]
    fn group_table_keeps_each_entry_once() {
        let mut params = Params::default();
        params.output.t_max = 5.0;
        params.output.points = 3;
        let exp = params.check().unwrap();
        let run = exp.theory(exp.replicate_seed(0), &|_| {}).unwrap();
        let tr: &Trajectory = run.payload.get().unwrap();
        let k = exp.model.hidden;
        let table = group_table(tr, exp.spectrum(), k);
        assert_eq!(table.names.len(), 3 + k * (k + 1) + k * k);
        assert_eq!(
            &run.extra[0].1, &table,
            "the table made beside the integration"
        );
        assert!(table.position("q_1_0").is_none() && table.position("t_1_0").is_none());
        let groups = tr.snapshots[0].groups.len();
        assert_eq!(table.len(), tr.snapshots.len() * groups);
        for (i, row) in table.rows.iter().enumerate() {
            let (s, g) = (&tr.snapshots[i / groups], i % groups);
            assert_eq!(table.index[i], s.time);
            let dens = &s.groups[g];
            for a in 0..k {
                for b in 0..k {
                    let at = |name: &str| row[table.position(name).unwrap()];
                    let (lo, hi) = (a.min(b), a.max(b));
                    assert_eq!(at(&format!("q_{lo}_{hi}")), dens.q[(a, b)]);
                    assert_eq!(at(&format!("t_{lo}_{hi}")), dens.t[(a, b)]);
                    assert_eq!(at(&format!("r_{a}_{b}")), dens.r[(a, b)]);
                }
            }
        }
    }
}
