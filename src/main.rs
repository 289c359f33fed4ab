//! The `aedyn` command line: parses arguments and dispatches to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use aedyn::config::{Config, DEFAULT_CONFIG};
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

fn load(common: &Common) -> anyhow::Result<Option<(aedyn::config::Experiment, PathBuf)>> {
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
    Ok(Some((config.resolve()?, out)))
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Theory(common) => {
            if let Some((exp, out)) = load(&common)? {
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
        }
        Command::Simulate(args) => {
            if let Some((exp, out)) = load(&args.common)? {
                let opts = aedyn::cli::SimulateOptions {
                    seeds: args.seeds,
                    progress: aedyn::cli::progress_wanted(args.quiet),
                };
                let report = aedyn::cli::simulate(&exp, &out, &opts)?;
                for (seed, e) in &report.failures {
                    eprintln!("seed {seed} failed: {e}");
                }
                eprintln!(
                    "simulate: {} seeds finished, {} failed, {:.0} steps/s, {:.1} s → {}",
                    report.runs.len(),
                    report.failures.len(),
                    report.steps_per_second,
                    report.wall_seconds,
                    out.display()
                );
                if !report.failures.is_empty() {
                    anyhow::bail!(
                        "{} of {} seeds failed (finished seeds were written)",
                        report.failures.len(),
                        report.failures.len() + report.runs.len()
                    );
                }
            }
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
