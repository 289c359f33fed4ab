//! The commands behind the `aedyn` binary, usable from Rust without the CLI. Each writes its
//! files atomically (temporary file + rename) and `run.json` last, recording the full config,
//! seed and crate version.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::config::Experiment;
use crate::error::Result;
use crate::io::write_atomic;
use crate::spectrum::Spectrum;
use crate::theory::{Theory, TheoryRun};
use crate::trajectory::{group_csv, order_param_csv, Labelled};

/// The crate version recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One eigenvalue group as recorded in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRecord {
    /// ρ_G, eigenvalue of Ω.
    pub rho: f64,
    /// ρ̃_G = ρ_G / D.
    pub rho_tilde: f64,
    /// n_G.
    pub multiplicity: usize,
}

/// The spectrum as recorded in `run.json`.
pub fn spectrum_record(s: &Spectrum) -> Vec<GroupRecord> {
    s.groups()
        .iter()
        .enumerate()
        .map(|(g, e)| GroupRecord {
            rho: e.rho,
            rho_tilde: s.rho_tilde(g),
            multiplicity: e.multiplicity,
        })
        .collect()
}

#[derive(Serialize)]
struct TheoryRecord<'a> {
    aedyn_version: &'a str,
    command: &'a str,
    config: &'a crate::config::Config,
    seed: u64,
    trace_over_dim: f64,
    pca_errors: Vec<f64>,
    spectrum: Vec<GroupRecord>,
    integrator: crate::theory::IntegratorStats,
    wall_seconds: f64,
    final_test_error: Option<f64>,
    files: [&'a str; 2],
}

/// `aedyn theory`: integrate the ODEs for the experiment (from the initial state of replicate
/// seed `init.seed`) and write `out/theory.csv`, `out/groups.csv` and `out/run.json`.
pub fn theory(exp: &Experiment, out: &Path) -> Result<TheoryRun> {
    let start = Instant::now();
    let seed = exp.replicate_seed(0);
    let theory = Theory::new(
        exp.model.clone(),
        exp.covariance.spectrum().clone(),
        exp.quadrature_nodes,
    )?;
    let init = exp.initial_state(seed)?;
    let run = theory.run(&init, &exp.times, exp.tolerances)?;
    let k = exp.model.hidden;
    let bias = exp.model.bias_lr.is_some();
    let rows = [Labelled {
        seed: None,
        trajectory: &run.trajectory,
    }];
    write_atomic(
        &out.join("theory.csv"),
        order_param_csv(&rows, k, bias, false, false).as_bytes(),
    )?;
    write_atomic(
        &out.join("groups.csv"),
        group_csv(&rows, exp.covariance.spectrum(), k, false).as_bytes(),
    )?;
    let record = TheoryRecord {
        aedyn_version: VERSION,
        command: "theory",
        config: &exp.config,
        seed,
        trace_over_dim: exp.covariance.spectrum().trace_over_dim(),
        pca_errors: exp.covariance.pca_errors(k),
        spectrum: spectrum_record(exp.covariance.spectrum()),
        integrator: run.stats,
        wall_seconds: start.elapsed().as_secs_f64(),
        final_test_error: run.trajectory.snapshots.last().map(|s| s.test_error),
        files: ["theory.csv", "groups.csv"],
    };
    let json = serde_json::to_string_pretty(&record).expect("serialisable record");
    write_atomic(&out.join("run.json"), json.as_bytes())?;
    Ok(run)
}
