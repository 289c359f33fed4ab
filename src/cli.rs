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

/// Options of `aedyn simulate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulateOptions {
    /// Number of replicates (overrides `simulation.seeds`).
    pub seeds: Option<usize>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Whether a progress bar should be shown: stderr is a terminal, `CI` is not set, and the
/// user did not ask for quiet.
pub fn progress_wanted(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && std::env::var_os("CI").is_none() && std::io::stderr().is_terminal()
}

/// Outcome of one replicate as recorded in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedStatus {
    /// The seed.
    pub seed: u64,
    /// `"ok"` or `"failed"`.
    pub status: &'static str,
    /// Steps made (finished seeds).
    pub steps: Option<u64>,
    /// Final test error (finished seeds).
    pub final_test_error: Option<f64>,
    /// The error message (failed seeds).
    pub error: Option<String>,
}

/// What `aedyn simulate` did.
#[derive(Debug)]
pub struct SimulationReport {
    /// The finished replicates, in seed order.
    pub runs: Vec<crate::sgd::SeedRun>,
    /// The failed replicates: seed and error.
    pub failures: Vec<(u64, crate::error::Error)>,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// SGD steps per second, summed over the replicates.
    pub steps_per_second: f64,
}

#[derive(Serialize)]
struct SimulateRecord<'a> {
    aedyn_version: &'a str,
    command: &'a str,
    config: &'a crate::config::Config,
    seeds: Vec<u64>,
    status: Vec<SeedStatus>,
    trace_over_dim: f64,
    pca_errors: Vec<f64>,
    spectrum: Vec<GroupRecord>,
    wall_seconds: f64,
    steps_per_second: f64,
    threads: usize,
    files: Vec<String>,
}

/// `aedyn simulate`: run SGD for every replicate in parallel and write `out/sim.csv`,
/// `out/groups.csv`, `out/init/` (initial weights `W0_seed{s}.csv`, `V0_seed{s}.csv` and the
/// exact initial group densities `groups0.csv` of the finished seeds) and `out/run.json`
/// (last). Failed seeds are recorded in the report and in `run.json`; the finished seeds'
/// results are written regardless.
pub fn simulate(exp: &Experiment, out: &Path, opts: &SimulateOptions) -> Result<SimulationReport> {
    use crate::io::write_matrix_csv;
    use crate::sgd::Simulator;
    use indicatif::{ProgressBar, ProgressStyle};

    let start = Instant::now();
    let n = opts.seeds.unwrap_or(exp.config.simulation.seeds);
    if n == 0 {
        return Err(crate::error::Error::config("--seeds", "must be ≥ 1"));
    }
    let seeds: Vec<u64> = (0..n).map(|j| exp.replicate_seed(j)).collect();
    let sim = Simulator::new(exp)?;
    let total = sim.total_steps() * n as u64;
    let bar = if opts.progress {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} simulate [{elapsed_precise}] {wide_bar} {percent}% ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let results = sim.run(&seeds, &|steps| bar.inc(steps));
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();

    let mut runs = Vec::new();
    let mut failures = Vec::new();
    let mut status = Vec::new();
    for (seed, r) in results {
        match r {
            Ok(run) => {
                status.push(SeedStatus {
                    seed,
                    status: "ok",
                    steps: Some(run.steps),
                    final_test_error: run.trajectory.snapshots.last().map(|s| s.test_error),
                    error: None,
                });
                runs.push(run);
            }
            Err(e) => {
                status.push(SeedStatus {
                    seed,
                    status: "failed",
                    steps: None,
                    final_test_error: None,
                    error: Some(e.to_string()),
                });
                failures.push((seed, e));
            }
        }
    }
    let k = exp.model.hidden;
    let bias = exp.model.bias_lr.is_some();
    let empirical = exp.config.simulation.test_samples > 0;
    let spectrum = exp.covariance.spectrum();
    let rows: Vec<Labelled<'_>> = runs
        .iter()
        .map(|r| Labelled {
            seed: Some(r.seed),
            trajectory: &r.trajectory,
        })
        .collect();
    write_atomic(
        &out.join("sim.csv"),
        order_param_csv(&rows, k, bias, true, empirical).as_bytes(),
    )?;
    write_atomic(
        &out.join("groups.csv"),
        group_csv(&rows, spectrum, k, true).as_bytes(),
    )?;
    let mut files = vec!["sim.csv".to_string(), "groups.csv".to_string()];
    let initial: Vec<crate::trajectory::Trajectory> = runs
        .iter()
        .map(|r| crate::trajectory::Trajectory {
            snapshots: r
                .trajectory
                .snapshots
                .first()
                .cloned()
                .into_iter()
                .collect(),
        })
        .collect();
    let init_rows: Vec<Labelled<'_>> = runs
        .iter()
        .zip(&initial)
        .map(|(r, t)| Labelled {
            seed: Some(r.seed),
            trajectory: t,
        })
        .collect();
    let init_dir = out.join("init");
    for r in &runs {
        for (name, m) in [("W0", &r.w0), ("V0", &r.v0)] {
            let file = format!("init/{name}_seed{}.csv", r.seed);
            write_matrix_csv(&out.join(&file), m)?;
            files.push(file);
        }
    }
    write_atomic(
        &init_dir.join("groups0.csv"),
        group_csv(&init_rows, spectrum, k, true).as_bytes(),
    )?;
    files.push("init/groups0.csv".into());
    let steps: u64 = runs.iter().map(|r| r.steps).sum();
    let steps_per_second = steps as f64 / wall;
    let record = SimulateRecord {
        aedyn_version: VERSION,
        command: "simulate",
        config: &exp.config,
        seeds,
        status,
        trace_over_dim: spectrum.trace_over_dim(),
        pca_errors: exp.covariance.pca_errors(k),
        spectrum: spectrum_record(spectrum),
        wall_seconds: wall,
        steps_per_second,
        threads: rayon::current_num_threads(),
        files,
    };
    let json = serde_json::to_string_pretty(&record).expect("serialisable record");
    write_atomic(&out.join("run.json"), json.as_bytes())?;
    Ok(SimulationReport {
        runs,
        failures,
        wall_seconds: wall,
        steps_per_second,
    })
}
