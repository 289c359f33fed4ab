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
