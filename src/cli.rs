//! The commands behind the `aedyn` binary, usable from Rust without the CLI. Each writes its
//! files atomically (temporary file + rename) and `run.json` last, recording the full config,
//! seed and crate version.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::config::Experiment;
use crate::error::Result;
use crate::io::write_atomic;
use crate::mean_field::MeanFieldExperiment;
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

/// Finished runs, failures `(seed, error)` and per-seed statuses.
type SplitResults<R> = (Vec<R>, Vec<(u64, crate::error::Error)>, Vec<SeedStatus>);

/// Per-seed results split into the finished runs, the failures and one [`SeedStatus`] per
/// seed; `summary` gives a run's step count and final test error.
fn split_results<R>(
    results: Vec<(u64, Result<R>)>,
    summary: impl Fn(&R) -> (u64, Option<f64>),
) -> SplitResults<R> {
    let (mut runs, mut failures, mut status) = (Vec::new(), Vec::new(), Vec::new());
    for (seed, r) in results {
        match r {
            Ok(run) => {
                let (steps, final_test_error) = summary(&run);
                status.push(SeedStatus {
                    seed,
                    status: "ok",
                    steps: Some(steps),
                    final_test_error,
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
    (runs, failures, status)
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

    let (runs, failures, status) = split_results(results, |r: &crate::sgd::SeedRun| {
        (r.steps, r.trajectory.snapshots.last().map(|s| s.test_error))
    });
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

/// The block spectrum and the ReLU-reduction predictions as recorded in `run.json`.
#[derive(Serialize)]
struct BlockRecord {
    kappa: f64,
    start: usize,
    len: usize,
    /// `(1 − λ/(βκ))₊`, the long-time gain of the ReLU reduction (spec §3.2).
    final_gain_relu: f64,
    /// Exact half-gain time of the ReLU reduction (spec §3.3), when it exists.
    half_gain_time_relu: Option<f64>,
}

fn block_records(exp: &MeanFieldExperiment) -> Vec<BlockRecord> {
    use crate::mean_field::relu::{final_gain, half_gain_time};
    let (beta, lambda) = (exp.model.beta(), exp.model.lambda);
    let g0 = 0.5 * beta * exp.init_std * exp.init_std;
    exp.data
        .block_list()
        .iter()
        .map(|b| BlockRecord {
            kappa: b.kappa,
            start: b.start,
            len: b.len,
            final_gain_relu: final_gain(beta * b.kappa, lambda),
            half_gain_time_relu: half_gain_time(beta * b.kappa, lambda, g0),
        })
        .collect()
}

#[derive(Serialize)]
struct MeanFieldRecord<'a> {
    aedyn_version: &'a str,
    command: &'a str,
    config: &'a crate::config::Config,
    model: &'a crate::mean_field::MeanFieldModel,
    trace: f64,
    /// d_eff = #{j : βκ_j > λ}, the intrinsic dimension (spec §6).
    intrinsic_dimension: usize,
    blocks: Vec<BlockRecord>,
    theory_solver: Option<&'a str>,
    seeds: Vec<u64>,
    status: Vec<SeedStatus>,
    /// Per block, max over t of |mean-over-seeds gain − theory gain| (compare).
    max_gain_error_of_seed_mean: Option<Vec<f64>>,
    /// Per seed and block, max over t of |gain − theory gain| (compare).
    max_gain_error_per_seed: Option<Vec<Vec<f64>>>,
    /// max over t of |MSE/MSE_theory − 1| of the seed mean (compare).
    max_relative_mse_error_of_seed_mean: Option<f64>,
    wall_seconds: f64,
    steps_per_second: Option<f64>,
    threads: usize,
    files: Vec<&'a str>,
}

impl<'a> MeanFieldRecord<'a> {
    fn new(
        command: &'a str,
        config: &'a crate::config::Config,
        exp: &'a MeanFieldExperiment,
    ) -> Self {
        let beta = exp.model.beta();
        MeanFieldRecord {
            aedyn_version: VERSION,
            command,
            config,
            model: &exp.model,
            trace: exp.data.trace(),
            intrinsic_dimension: exp
                .data
                .kappa()
                .iter()
                .filter(|&&k| beta * k > exp.model.lambda)
                .count(),
            blocks: block_records(exp),
            theory_solver: None,
            seeds: Vec::new(),
            status: Vec::new(),
            max_gain_error_of_seed_mean: None,
            max_gain_error_per_seed: None,
            max_relative_mse_error_of_seed_mean: None,
            wall_seconds: 0.0,
            steps_per_second: None,
            threads: rayon::current_num_threads(),
            files: Vec::new(),
        }
    }

    fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("serialisable record");
        write_atomic(path, json.as_bytes())
    }
}

/// `aedyn theory` for `model.kind = "mean-field"`: the mean-field-limit theory
/// ([`MeanFieldExperiment::theory`]) → `out/theory.csv` (`time,test_error,gain_0,…`) and
/// `out/run.json`.
pub fn mean_field_theory(
    config: &crate::config::Config,
    exp: &MeanFieldExperiment,
    out: &Path,
    progress: bool,
) -> Result<crate::mean_field::TheoryRun> {
    let start = Instant::now();
    let bar = progress_bar(progress, 0, "theory");
    let run = exp.theory(&|s| bar.inc(s))?;
    bar.finish_and_clear();
    write_atomic(
        &out.join("theory.csv"),
        crate::mean_field::trajectory_csv(&[(None, &run.trajectory)]).as_bytes(),
    )?;
    let mut rec = MeanFieldRecord::new("theory", config, exp);
    rec.theory_solver = Some(run.solver);
    rec.seeds = vec![exp.seed];
    rec.wall_seconds = start.elapsed().as_secs_f64();
    rec.files = vec!["theory.csv"];
    rec.write(&out.join("run.json"))?;
    Ok(run)
}

/// What a mean-field simulation did.
#[derive(Debug)]
pub struct MeanFieldSimulation {
    /// Finished replicates, in seed order.
    pub runs: Vec<crate::mean_field::MfSeedRun>,
    /// Failed replicates.
    pub failures: Vec<(u64, crate::error::Error)>,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// SGD steps per second, summed over replicates.
    pub steps_per_second: f64,
}

fn mean_field_sgd(
    exp: &MeanFieldExperiment,
    opts: &SimulateOptions,
) -> Result<(MeanFieldSimulation, Vec<SeedStatus>)> {
    let start = Instant::now();
    let n = opts.seeds.unwrap_or(exp.seeds);
    if n == 0 {
        return Err(crate::error::Error::config("--seeds", "must be ≥ 1"));
    }
    let seeds: Vec<u64> = (0..n).map(|j| exp.replicate_seed(j)).collect();
    let sim = crate::mean_field::MfSimulator::new(exp)?;
    let bar = progress_bar(opts.progress, sim.total_steps() * n as u64, "simulate");
    let results = sim.run(&seeds, &|s| bar.inc(s));
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let (runs, failures, status) = split_results(results, |r: &crate::mean_field::MfSeedRun| {
        (r.steps, r.trajectory.snapshots.last().map(|s| s.test_error))
    });
    let steps: u64 = runs.iter().map(|r| r.steps).sum();
    Ok((
        MeanFieldSimulation {
            runs,
            failures,
            wall_seconds: wall,
            steps_per_second: steps as f64 / wall,
        },
        status,
    ))
}

fn write_mean_field_sim(sim: &MeanFieldSimulation, out: &Path) -> Result<()> {
    let rows: Vec<(Option<u64>, &crate::mean_field::MfTrajectory)> = sim
        .runs
        .iter()
        .map(|r| (Some(r.seed), &r.trajectory))
        .collect();
    write_atomic(
        &out.join("sim.csv"),
        crate::mean_field::trajectory_csv(&rows).as_bytes(),
    )
}

/// `aedyn simulate` for `model.kind = "mean-field"`: N-neuron SGD for every replicate in
/// parallel → `out/sim.csv` (`seed,time,test_error,gain_0,…`) and `out/run.json` (last).
pub fn mean_field_simulate(
    config: &crate::config::Config,
    exp: &MeanFieldExperiment,
    out: &Path,
    opts: &SimulateOptions,
) -> Result<MeanFieldSimulation> {
    let (sim, status) = mean_field_sgd(exp, opts)?;
    write_mean_field_sim(&sim, out)?;
    let mut rec = MeanFieldRecord::new("simulate", config, exp);
    rec.seeds = status.iter().map(|s| s.seed).collect();
    rec.status = status;
    rec.wall_seconds = sim.wall_seconds;
    rec.steps_per_second = Some(sim.steps_per_second);
    rec.files = vec!["sim.csv"];
    rec.write(&out.join("run.json"))?;
    Ok(sim)
}

/// A mean-field comparison: the theory and the finished SGD replicates.
#[derive(Debug)]
pub struct MeanFieldComparison {
    /// The mean-field-limit theory.
    pub theory: crate::mean_field::TheoryRun,
    /// The SGD replicates.
    pub simulation: MeanFieldSimulation,
    /// Mean over the finished seeds.
    pub seed_mean: crate::mean_field::MfTrajectory,
    /// Per block, max over t of |seed-mean gain − theory gain|.
    pub max_gain_errors: Vec<f64>,
    /// max over t of |seed-mean MSE / theory MSE − 1|.
    pub max_relative_mse_error: f64,
}

/// `aedyn compare` for `model.kind = "mean-field"`: theory and SGD → `out/theory.csv`,
/// `out/sim.csv`, `out/compare.json` (max gain error per block and seed and of the seed
/// mean, max relative MSE error) and the figure `out/compare.png` + `.svg` (+ `.csv`).
pub fn mean_field_compare(
    config: &crate::config::Config,
    exp: &MeanFieldExperiment,
    out: &Path,
    opts: &SimulateOptions,
) -> Result<MeanFieldComparison> {
    let start = Instant::now();
    let theory = exp.theory(&|_| {})?;
    let (simulation, status) = mean_field_sgd(exp, opts)?;
    if simulation.runs.is_empty() {
        return Err(crate::error::Error::InvalidState(format!(
            "every seed failed: {}",
            simulation.failures[0].1
        )));
    }
    write_atomic(
        &out.join("theory.csv"),
        crate::mean_field::trajectory_csv(&[(None, &theory.trajectory)]).as_bytes(),
    )?;
    write_mean_field_sim(&simulation, out)?;
    let trajs: Vec<&crate::mean_field::MfTrajectory> =
        simulation.runs.iter().map(|r| &r.trajectory).collect();
    let seed_mean = crate::mean_field::MfTrajectory::mean(&trajs);
    let max_gain_errors = seed_mean.max_gain_errors(&theory.trajectory);
    let max_relative_mse_error = seed_mean.max_relative_mse_error(&theory.trajectory);
    crate::figures::mean_field_gains_figure(
        exp,
        &theory.trajectory,
        &seed_mean,
        (
            format!(
                "{}, N = {}, {} seeds; theory: {}: theory (lines), SGD (markers)",
                exp.model.activation,
                exp.neurons,
                trajs.len(),
                theory.solver
            ),
            None,
        ),
        &out.join("compare"),
    )?;
    let mut rec = MeanFieldRecord::new("compare", config, exp);
    rec.theory_solver = Some(theory.solver);
    rec.seeds = status.iter().map(|s| s.seed).collect();
    rec.status = status;
    rec.max_gain_error_of_seed_mean = Some(max_gain_errors.clone());
    rec.max_gain_error_per_seed = Some(
        trajs
            .iter()
            .map(|t| t.max_gain_errors(&theory.trajectory))
            .collect(),
    );
    rec.max_relative_mse_error_of_seed_mean = Some(max_relative_mse_error);
    rec.wall_seconds = start.elapsed().as_secs_f64();
    rec.steps_per_second = Some(simulation.steps_per_second);
    rec.files = vec![
        "theory.csv",
        "sim.csv",
        "compare.png",
        "compare.svg",
        "compare.csv",
    ];
    rec.write(&out.join("compare.json"))?;
    Ok(MeanFieldComparison {
        theory,
        simulation,
        seed_mean,
        max_gain_errors,
        max_relative_mse_error,
    })
}
