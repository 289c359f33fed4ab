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
use crate::theory::TheoryRun;
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
    let theory = exp.theory()?;
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

/// A progress bar over `total` units (SGD steps), or a hidden one when not `enabled`.
pub fn progress_bar(enabled: bool, total: u64, label: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    if !enabled {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {label} [{{elapsed_precise}}] {{wide_bar}} {{percent}}% ({{per_sec}}, eta {{eta}})"
        ))
        .expect("valid template"),
    );
    b
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

/// Write `out/sim.csv` (`seed,time,test_error,test_error_empirical,Q_0_0,…`) for the given
/// replicates; returns their labelled rows.
fn write_sim_csv<'a>(
    exp: &Experiment,
    runs: &[&'a crate::sgd::SeedRun],
    out: &Path,
) -> Result<Vec<Labelled<'a>>> {
    let rows: Vec<Labelled<'a>> = runs
        .iter()
        .map(|r| Labelled {
            seed: Some(r.seed),
            trajectory: &r.trajectory,
        })
        .collect();
    let csv = order_param_csv(
        &rows,
        exp.model.hidden,
        exp.model.bias_lr.is_some(),
        true,
        exp.config.simulation.test_samples > 0,
    );
    write_atomic(&out.join("sim.csv"), csv.as_bytes())?;
    Ok(rows)
}

/// `aedyn simulate`: run SGD for every replicate in parallel and write `out/sim.csv`,
/// `out/groups.csv`, `out/init/` (initial weights `W0_seed{s}.csv`, `V0_seed{s}.csv` and the
/// exact initial group densities `groups0.csv` of the finished seeds) and `out/run.json`
/// (last). Failed seeds are recorded in the report and in `run.json`; the finished seeds'
/// results are written regardless.
pub fn simulate(exp: &Experiment, out: &Path, opts: &SimulateOptions) -> Result<SimulationReport> {
    use crate::io::write_matrix_csv;
    use crate::sgd::Simulator;

    let start = Instant::now();
    let n = opts.seeds.unwrap_or(exp.config.simulation.seeds);
    if n == 0 {
        return Err(crate::error::Error::config("--seeds", "must be ≥ 1"));
    }
    let seeds: Vec<u64> = (0..n).map(|j| exp.replicate_seed(j)).collect();
    let sim = Simulator::new(exp)?;
    let total = sim.total_steps() * n as u64;
    let bar = progress_bar(opts.progress, total, "simulate");
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
    let spectrum = exp.covariance.spectrum();
    let rows = write_sim_csv(exp, &runs.iter().collect::<Vec<_>>(), out)?;
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

/// What `aedyn compare` wrote.
#[derive(Debug)]
pub struct CompareReport {
    /// The comparison (runs, theories, summaries).
    pub comparison: crate::compare::Comparison,
    /// Wall time in seconds.
    pub wall_seconds: f64,
}

#[derive(Serialize)]
struct CompareRecord<'a> {
    aedyn_version: &'a str,
    command: &'a str,
    config: &'a crate::config::Config,
    seeds: Vec<u64>,
    failed_seeds: &'a [(u64, String)],
    pca_errors: Vec<f64>,
    spectrum: Vec<GroupRecord>,
    wall_seconds: f64,
    observables: &'a [crate::compare::ObservableSummary],
}

/// The seeds of `n` replicates (`init.seed + j`), with `n` from `--seeds` or the config.
fn replicate_seeds(exp: &Experiment, seeds: Option<usize>) -> Result<Vec<u64>> {
    let n = seeds.unwrap_or(exp.config.simulation.seeds);
    if n == 0 {
        return Err(crate::error::Error::config("--seeds", "must be ≥ 1"));
    }
    Ok((0..n).map(|j| exp.replicate_seed(j)).collect())
}

/// `aedyn compare`: simulate the seeds, integrate each seed's theory from its exact initial
/// state, and write `out/theory.csv` (with a `seed` column), `out/sim.csv`, `out/compare.json`
/// (per observable and seed: max/mean absolute deviation, normalised by the theory's range;
/// mean and worst over seeds; the ensemble means' deviation) and the figure
/// `out/compare.png` + `.svg`.
pub fn compare(exp: &Experiment, out: &Path, opts: &SimulateOptions) -> Result<CompareReport> {
    let start = Instant::now();
    let seeds = replicate_seeds(exp, opts.seeds)?;
    let sim = crate::sgd::Simulator::new(exp)?;
    let bar = progress_bar(
        opts.progress,
        sim.total_steps() * seeds.len() as u64,
        "compare",
    );
    let comparison = crate::compare::compare(exp, &seeds, &|s| bar.inc(s))?;
    bar.finish_and_clear();
    let k = exp.model.hidden;
    let bias = exp.model.bias_lr.is_some();
    let theory_rows: Vec<Labelled<'_>> = comparison
        .pairs
        .iter()
        .map(|(r, t)| Labelled {
            seed: Some(r.seed),
            trajectory: t,
        })
        .collect();
    write_atomic(
        &out.join("theory.csv"),
        order_param_csv(&theory_rows, k, bias, true, false).as_bytes(),
    )?;
    let runs: Vec<&crate::sgd::SeedRun> = comparison.pairs.iter().map(|(r, _)| r).collect();
    write_sim_csv(exp, &runs, out)?;
    crate::figures::compare_figure(exp, &comparison, &out.join("compare"))?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let record = CompareRecord {
        aedyn_version: VERSION,
        command: "compare",
        config: &exp.config,
        seeds: comparison.pairs.iter().map(|(r, _)| r.seed).collect(),
        failed_seeds: &comparison.failed,
        pca_errors: exp.covariance.pca_errors(k),
        spectrum: spectrum_record(exp.covariance.spectrum()),
        wall_seconds,
        observables: &comparison.summaries,
    };
    let json = serde_json::to_string_pretty(&record).expect("serialisable record");
    write_atomic(&out.join("compare.json"), json.as_bytes())?;
    Ok(CompareReport {
        comparison,
        wall_seconds,
    })
}

#[derive(Serialize)]
struct ValidateRecord<'a> {
    aedyn_version: &'a str,
    command: &'a str,
    config: &'a crate::config::Config,
    dims: &'a [usize],
    seeds: usize,
    validation: &'a crate::compare::Validation,
    exponent_in_expected_range: bool,
    wall_seconds: f64,
}

/// The range in which the fitted exponent is expected for O(D^{-1/2}) fluctuations plus
/// O(1/D) corrections (issue: comparison).
pub const EXPECTED_EXPONENT: std::ops::RangeInclusive<f64> = -0.8..=-0.3;

/// `aedyn validate`: the deviation between theory and simulation against D, as
/// `out/validate.csv`, `out/validate.json` (with the fitted exponent and whether it lies in
/// [`EXPECTED_EXPONENT`]) and the log–log figure `out/validate.png` + `.svg`.
pub fn validate(
    config: &crate::config::Config,
    dims: &[usize],
    seeds: usize,
    out: &Path,
    progress: bool,
) -> Result<crate::compare::Validation> {
    let start = Instant::now();
    let exp = config.resolve()?;
    let total_steps: u64 = dims
        .iter()
        .map(|&d| exp.times.last().map_or(0, |t| crate::sgd::steps_at(*t, d)) * seeds as u64)
        .sum();
    let bar = progress_bar(progress, total_steps, "validate");
    let v = crate::compare::validate(config, dims, seeds, &|s| bar.inc(s))?;
    bar.finish_and_clear();
    let mut csv = String::from(
        "dim,seeds,test_error_max_norm,test_error_max_norm_se,test_error_max_abs,order_params_max_norm\n",
    );
    for r in &v.rows {
        csv.push_str(&format!(
            "{},{},{:e},{:e},{:e},{:e}\n",
            r.dim,
            r.seeds,
            r.test_error_max_norm,
            r.test_error_max_norm_se,
            r.test_error_max_abs,
            r.order_params_max_norm
        ));
    }
    write_atomic(&out.join("validate.csv"), csv.as_bytes())?;
    crate::figures::validate_figure(&v, &out.join("validate"))?;
    let record = ValidateRecord {
        aedyn_version: VERSION,
        command: "validate",
        config,
        dims,
        seeds,
        validation: &v,
        exponent_in_expected_range: EXPECTED_EXPONENT.contains(&v.exponent),
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&record).expect("serialisable record");
    write_atomic(&out.join("validate.json"), json.as_bytes())?;
    Ok(v)
}

/// What `aedyn sweep` (or `sweep-point`) did.
#[derive(Debug)]
pub struct SweepReport {
    /// The run (absent for `--collect` and `--slurm`).
    pub run: Option<crate::sweep::RunReport>,
    /// Finished tasks in `sweep.csv`.
    pub finished: usize,
    /// Tasks without a result, as `(point, seed, key)`.
    pub missing: Vec<(usize, u64, String)>,
}

/// `aedyn sweep`: run every unfinished task of the sweep in parallel (each written as it
/// finishes), then write `out/sweep.csv` and `out/sweep.json`.
pub fn sweep(sweep: &crate::sweep::Sweep, out: &Path, progress: bool) -> Result<SweepReport> {
    let tasks = sweep.tasks()?;
    let bar = progress_bar(progress, tasks.len() as u64, "sweep");
    let run = crate::sweep::run_tasks(sweep, &tasks, out, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    let mut report = sweep_collect(sweep, out)?;
    report.run = Some(run);
    Ok(report)
}

/// `aedyn sweep --collect`: merge the finished tasks into `out/sweep.csv` (and
/// `out/sweep.json`) and list the missing ones.
pub fn sweep_collect(sweep: &crate::sweep::Sweep, out: &Path) -> Result<SweepReport> {
    let c = crate::sweep::collect(sweep, sweep.tasks()?, out)?;
    Ok(SweepReport {
        run: None,
        finished: c.finished.len(),
        missing: c
            .missing
            .iter()
            .map(|t| (t.point, t.seed, t.key.clone()))
            .collect(),
    })
}

/// `aedyn sweep-point`: run the tasks of one array chunk.
pub fn sweep_chunk(
    sweep: &crate::sweep::Sweep,
    out: &Path,
    chunk: usize,
    chunk_size: usize,
    progress: bool,
) -> Result<crate::sweep::RunReport> {
    let tasks = sweep.tasks()?;
    let mine = crate::sweep::chunk(&tasks, chunk, chunk_size)?;
    let bar = progress_bar(progress, mine.len() as u64, "sweep-point");
    let r = crate::sweep::run_tasks(sweep, mine, out, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(r)
}

/// `aedyn sweep --slurm`: write `out/sweep.sbatch`, a job array over chunks of tasks (see
/// [`crate::sweep::slurm_script`]); returns its path and the number of array tasks.
pub fn sweep_slurm(
    sweep: &crate::sweep::Sweep,
    exe: &Path,
    config: &Path,
    out: &Path,
    opts: &crate::sweep::SlurmOptions,
) -> Result<(std::path::PathBuf, usize)> {
    let n = sweep.tasks()?.len();
    let abs = |p: &Path| -> Result<std::path::PathBuf> {
        std::path::absolute(p).map_err(|e| crate::error::Error::io(p, e))
    };
    std::fs::create_dir_all(out.join("slurm")).map_err(|e| crate::error::Error::io(out, e))?;
    let script = crate::sweep::slurm_script(n, &abs(exe)?, &abs(config)?, &abs(out)?, opts)?;
    let path = out.join("sweep.sbatch");
    write_atomic(&path, script.as_bytes())?;
    Ok((path, n.div_ceil(opts.chunk_size)))
}
