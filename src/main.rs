//! The `aedyn` command line: parses arguments and dispatches to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use aedyn::config::{Config, ModelKind, DEFAULT_CONFIG};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Learning dynamics of shallow autoencoders: high-dimensional ODEs (Refinetti & Goldt 2022),
/// finite-width SGD simulations, and their comparison.
#[derive(Parser)]
#[command(name = "aedyn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Experiment config (TOML); the built-in default when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the embedded default config (every field documented) and exit.
    #[arg(long)]
    print_default_config: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate the ODEs: writes OUT/theory.csv, OUT/groups.csv, OUT/run.json.
    Theory(Common),
    /// Run finite-width SGD for several seeds: writes OUT/sim.csv, OUT/groups.csv, OUT/init/,
    /// OUT/run.json.
    Simulate(SimulateArgs),
    /// Simulate and integrate each seed's theory from its exact initial state: writes
    /// OUT/theory.csv, OUT/sim.csv, OUT/compare.json, OUT/compare.png + .svg.
    Compare(SimulateArgs),
    /// Deviation between theory and simulation against D: OUT/validate.csv, .json, .png, .svg.
    Validate(ValidateArgs),
    /// The paper-style figure set on built-in experiments (PNG, SVG, CSV per figure).
    Reproduce(ReproduceArgs),
    /// Parameter sweep over the config's [sweep] section: runs every point (theory, simulation
    /// or both) in parallel, resumably; writes OUT/sweep.csv, OUT/sweep.json, OUT/points/.
    Sweep(SweepArgs),
    /// Run one chunk of a sweep's tasks (used by the SLURM job array of `sweep --slurm`).
    SweepPoint(SweepPointArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// Experiment config (TOML) with a [sweep] section.
    #[arg(long)]
    config: PathBuf,
    /// Output folder (results of earlier runs in it are reused).
    #[arg(long)]
    out: PathBuf,
    /// Do not run: merge the finished points into OUT/sweep.csv and report missing ones.
    #[arg(long, conflicts_with = "slurm")]
    collect: bool,
    /// Do not run: write the SLURM job-array script OUT/sweep.sbatch (submit with sbatch,
    /// then `aedyn sweep --collect`).
    #[arg(long)]
    slurm: bool,
    /// SLURM: tasks (point × seed) per array task.
    #[arg(long, default_value_t = 10, requires = "slurm")]
    chunk_size: usize,
    /// SLURM: partition.
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    /// SLURM: time limit per array task (e.g. 01:00:00).
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// SLURM: memory per array task (e.g. 2G).
    #[arg(long, requires = "slurm")]
    mem: Option<String>,
    /// SLURM: CPUs (rayon threads) per array task.
    #[arg(long, default_value_t = 1, requires = "slurm")]
    cpus: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct SweepPointArgs {
    /// Experiment config (TOML) with a [sweep] section.
    #[arg(long)]
    config: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Chunk index (the SLURM array task id).
    #[arg(long)]
    chunk: usize,
    /// Tasks per chunk.
    #[arg(long)]
    chunk_size: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn report_missing(report: &aedyn::cli::SweepReport, out: &std::path::Path) -> anyhow::Result<()> {
    eprintln!(
        "sweep: {} tasks in {} → {}",
        report.finished,
        out.join("sweep.csv").display(),
        out.display()
    );
    if !report.missing.is_empty() {
        for (point, seed, key) in report.missing.iter().take(20) {
            eprintln!("  missing: point {point}, seed {seed} (key {key})");
        }
        if report.missing.len() > 20 {
            eprintln!(
                "  … and {} more (all listed in sweep.json)",
                report.missing.len() - 20
            );
        }
        anyhow::bail!(
            "{} of {} tasks missing (rerun `aedyn sweep` to compute them)",
            report.missing.len(),
            report.missing.len() + report.finished
        );
    }
    Ok(())
}

#[derive(Args)]
struct ValidateArgs {
    /// Experiment config (TOML); the built-in default when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Dimensions D, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000,4000")]
    dims: Vec<usize>,
    /// Seeds per dimension.
    #[arg(long, default_value_t = 4)]
    seeds: usize,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Only this figure (sequential, order_params, activations, validate).
    #[arg(long)]
    only: Option<String>,
    /// Output folder.
    #[arg(long, default_value = "plots")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct SimulateArgs {
    #[command(flatten)]
    common: Common,
    /// Number of replicates (seeds init.seed, init.seed + 1, …); overrides simulation.seeds.
    #[arg(long)]
    seeds: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// A loaded experiment of either model kind.
enum Loaded {
    Autoencoder(Box<aedyn::config::Experiment>),
    MeanField(Box<Config>, Box<aedyn::mean_field::MeanFieldExperiment>),
}

fn load(common: &Common) -> anyhow::Result<Option<(Loaded, PathBuf)>> {
    if common.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(None);
    }
    let out = common
        .out
        .clone()
        .context("--out DIR is required (or use --print-default-config)")?;
    let config = match &common.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    let loaded = match config.model.kind {
        ModelKind::Autoencoder => Loaded::Autoencoder(Box::new(config.resolve()?)),
        ModelKind::MeanField => {
            let exp = config.resolve_mean_field()?;
            Loaded::MeanField(Box::new(config), Box::new(exp))
        }
    };
    Ok(Some((loaded, out)))
}

/// Print the max gain errors and MSE error of a mean-field comparison.
fn report_mean_field(cmp: &aedyn::cli::MeanFieldComparison, out: &std::path::Path) {
    let gains: Vec<String> = cmp
        .max_gain_errors
        .iter()
        .map(|g| format!("{g:.4}"))
        .collect();
    eprintln!(
        "compare (mean-field, theory: {}): {} seeds, max gain error of the seed mean by block [{}], max relative MSE error {:.4} → {}",
        cmp.theory.solver,
        cmp.simulation.runs.len(),
        gains.join(", "),
        cmp.max_relative_mse_error,
        out.display()
    );
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Theory(common) => match load(&common)? {
            Some((Loaded::MeanField(config, exp), out)) => {
                let run = aedyn::cli::mean_field_theory(&config, &exp, &out, false)?;
                eprintln!(
                    "theory (mean-field, {}): {} outputs, final MSE = {:.6} → {}",
                    run.solver,
                    run.trajectory.snapshots.len(),
                    run.trajectory
                        .snapshots
                        .last()
                        .map_or(f64::NAN, |s| s.test_error),
                    out.display()
                );
            }
            Some((Loaded::Autoencoder(exp), out)) => {
                let run = aedyn::cli::theory(&exp, &out)?;
                let last = run.trajectory.snapshots.last().map(|s| s.test_error);
                eprintln!(
                    "theory: {} outputs, {} RHS evaluations, final ε_g = {:.6} → {}",
                    run.trajectory.snapshots.len(),
                    run.stats.evaluations,
                    last.unwrap_or(f64::NAN),
                    out.display()
                );
            }
            None => {}
        },
        Command::Simulate(args) => {
            let opts = aedyn::cli::SimulateOptions {
                seeds: args.seeds,
                progress: aedyn::cli::progress_wanted(args.quiet),
            };
            match load(&args.common)? {
                Some((Loaded::MeanField(config, exp), out)) => {
                    let r = aedyn::cli::mean_field_simulate(&config, &exp, &out, &opts)?;
                    let failures: Vec<_> = r.failures.iter().map(|(s, e)| (*s, e)).collect();
                    report_simulation(
                        "simulate (mean-field)",
                        r.runs.len(),
                        &failures,
                        (r.steps_per_second, r.wall_seconds),
                        &out,
                    )?;
                }
                Some((Loaded::Autoencoder(exp), out)) => {
                    let r = aedyn::cli::simulate(&exp, &out, &opts)?;
                    let failures: Vec<_> = r.failures.iter().map(|(s, e)| (*s, e)).collect();
                    report_simulation(
                        "simulate",
                        r.runs.len(),
                        &failures,
                        (r.steps_per_second, r.wall_seconds),
                        &out,
                    )?;
                }
                None => {}
            }
        }
        Command::Compare(args) => {
            let opts = aedyn::cli::SimulateOptions {
                seeds: args.seeds,
                progress: aedyn::cli::progress_wanted(args.quiet),
            };
            match load(&args.common)? {
                Some((Loaded::MeanField(config, exp), out)) => {
                    let cmp = aedyn::cli::mean_field_compare(&config, &exp, &out, &opts)?;
                    for (seed, e) in &cmp.simulation.failures {
                        eprintln!("seed {seed} failed: {e}");
                    }
                    report_mean_field(&cmp, &out);
                    if !cmp.simulation.failures.is_empty() {
                        anyhow::bail!(
                            "{} seeds failed (the others were written)",
                            cmp.simulation.failures.len()
                        );
                    }
                }
                Some((Loaded::Autoencoder(exp), out)) => {
                    let report = aedyn::cli::compare(&exp, &out, &opts)?;
                    let cmp = &report.comparison;
                    for (seed, e) in &cmp.failed {
                        eprintln!("seed {seed} failed: {e}");
                    }
                    if let Some(te) = cmp.summary("test_error") {
                        eprintln!(
                        "compare: {} seeds, test error: normalised max deviation {:.4} (mean over seeds), {:.4} (worst), {:.4} (ensemble) → {}",
                        cmp.pairs.len(),
                        te.mean_over_seeds.max_norm.unwrap_or(f64::NAN),
                        te.worst_over_seeds.max_norm.unwrap_or(f64::NAN),
                        te.ensemble.max_norm.unwrap_or(f64::NAN),
                        out.display()
                    );
                    }
                    if !cmp.failed.is_empty() {
                        anyhow::bail!(
                            "{} seeds failed (the others were written)",
                            cmp.failed.len()
                        );
                    }
                }
                None => {}
            }
        }
        Command::Validate(args) => {
            let config = match &args.config {
                Some(p) => Config::from_file(p)?,
                None => Config::default(),
            };
            let v = aedyn::cli::validate(
                &config,
                &args.dims,
                args.seeds,
                &args.out,
                aedyn::cli::progress_wanted(args.quiet),
            )?;
            for r in &v.rows {
                eprintln!(
                    "D = {:>6}: normalised max deviation of ε_g {:.4} ± {:.4} ({} seeds)",
                    r.dim, r.test_error_max_norm, r.test_error_max_norm_se, r.seeds
                );
            }
            let range = aedyn::cli::EXPECTED_EXPONENT;
            let inside = range.contains(&v.exponent);
            println!(
                "validate: deviation ∝ D^({:.3} ± {:.3}); {} the expected range [{}, {}] → {}",
                v.exponent,
                v.exponent_se,
                if inside { "inside" } else { "OUTSIDE" },
                range.start(),
                range.end(),
                args.out.display()
            );
        }
        Command::Reproduce(args) => {
            let bar =
                aedyn::cli::progress_bar(aedyn::cli::progress_wanted(args.quiet), 0, "reproduce");
            let written =
                aedyn::reproduce::reproduce(&args.out, args.only.as_deref(), &|s| bar.inc(s))?;
            bar.finish_and_clear();
            eprintln!(
                "reproduce: wrote {} → {}",
                written.join(", "),
                args.out.display()
            );
        }
        Command::Sweep(args) => {
            let sweep = aedyn::sweep::Sweep::from_file(&args.config)?;
            if args.slurm {
                let opts = aedyn::sweep::SlurmOptions {
                    chunk_size: args.chunk_size,
                    partition: args.partition,
                    time: args.time,
                    mem: args.mem,
                    cpus: args.cpus,
                };
                let exe = std::env::current_exe().context("locating the aedyn binary")?;
                let (path, chunks) =
                    aedyn::cli::sweep_slurm(&sweep, &exe, &args.config, &args.out, &opts)?;
                println!(
                    "sweep: wrote {} ({chunks} array tasks); submit with `sbatch {}`, then run `aedyn sweep --collect --config {} --out {}`",
                    path.display(),
                    path.display(),
                    args.config.display(),
                    args.out.display()
                );
            } else if args.collect {
                let report = aedyn::cli::sweep_collect(&sweep, &args.out)?;
                report_missing(&report, &args.out)?;
            } else {
                let report =
                    aedyn::cli::sweep(&sweep, &args.out, aedyn::cli::progress_wanted(args.quiet))?;
                if let Some(r) = &report.run {
                    eprintln!(
                        "sweep: computed {} tasks, reused {}, {:.1} s",
                        r.computed, r.skipped, r.wall_seconds
                    );
                }
                report_missing(&report, &args.out)?;
            }
        }
        Command::SweepPoint(args) => {
            let sweep = aedyn::sweep::Sweep::from_file(&args.config)?;
            let r = aedyn::cli::sweep_chunk(
                &sweep,
                &args.out,
                args.chunk,
                args.chunk_size,
                aedyn::cli::progress_wanted(args.quiet),
            )?;
            eprintln!(
                "sweep-point: chunk {}: computed {} tasks, reused {}, {:.1} s",
                args.chunk, r.computed, r.skipped, r.wall_seconds
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Print the failed seeds and a one-line summary of a simulation; an error if any seed failed
/// (the finished seeds were written).
fn report_simulation(
    what: &str,
    finished: usize,
    failures: &[(u64, &aedyn::Error)],
    (steps_per_second, wall_seconds): (f64, f64),
    out: &std::path::Path,
) -> anyhow::Result<()> {
    for (seed, e) in failures {
        eprintln!("seed {seed} failed: {e}");
    }
    eprintln!(
        "{what}: {finished} seeds finished, {} failed, {steps_per_second:.0} steps/s, {wall_seconds:.1} s → {}",
        failures.len(),
        out.display()
    );
    if !failures.is_empty() {
        anyhow::bail!(
            "{} of {} seeds failed (finished seeds were written)",
            failures.len(),
            failures.len() + finished
        );
    }
    Ok(())
}
