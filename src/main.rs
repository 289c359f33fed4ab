//! The `aedyn` command line: parses arguments and dispatches to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aedyn::base::Dynamics;
use aedyn::commands::{self, progress_wanted, Options};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Learning dynamics of shallow autoencoders: the limit theory of each model, finite-size
/// training, their comparison and parameter studies.
#[derive(Parser)]
#[command(name = "aedyn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Experiment config (TOML); the built-in default of --model when omitted.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Output folder (reproduce: default `plots`).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, global = true)]
    quiet: bool,
    /// Override a config key, as in sweeps (repeatable): `--set training.lr=0.2`.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Seed of replicate 0 (sets `init.seed`).
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// The model of the built-in default config (without --config): autoencoder,
    /// mean-field, generative, ntk.
    #[arg(long, global = true)]
    model: Option<String>,
    /// Memory a config may need (e.g. 64G, or `none`); by default what the system reports
    /// available. Sets AEDYN_MAX_MEMORY.
    #[arg(long, global = true, value_name = "SIZE")]
    max_memory: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// The limit theory: writes OUT/theory.csv (+ the model's tables) and OUT/run.json.
    Theory {
        /// Print the default config of --model (every key documented) and exit.
        #[arg(long)]
        print_default_config: bool,
    },
    /// Finite-size training for several seeds in parallel: OUT/sim.csv (+ the model's tables
    /// and files) and OUT/run.json.
    Simulate {
        /// Number of replicates (seeds init.seed, init.seed + 1, …); overrides simulation.seeds.
        #[arg(long)]
        seeds: Option<usize>,
    },
    /// Simulate and compute each seed's theory from its exact initial state: OUT/theory.csv,
    /// OUT/sim.csv, OUT/compare.json, OUT/compare.png + .svg.
    Compare {
        /// Number of replicates; overrides simulation.seeds.
        #[arg(long)]
        seeds: Option<usize>,
    },
    /// Deviation between theory and simulation against the model's size (D for the
    /// autoencoder, N for mean-field): OUT/validate.csv, .json, .png, .svg.
    Validate {
        /// Sizes, comma-separated (default: the model's, e.g. D = 250,500,1000,2000,4000).
        #[arg(long, alias = "dims", value_delimiter = ',')]
        sizes: Option<Vec<usize>>,
        /// Seeds per size.
        #[arg(long, default_value_t = 4)]
        seeds: usize,
    },
    /// The paper-style figure set on built-in experiments (PNG, SVG, CSV per figure).
    Reproduce {
        /// Only these figures (comma-separated); `--list` shows them.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// List the figures and exit.
        #[arg(long)]
        list: bool,
        /// Small, fast versions of the figures that have one (for tests).
        #[arg(long)]
        quick: bool,
    },
    /// Parameter sweep over the config's [sweep] section: runs every point (theory, simulation
    /// or both) in parallel, resumably; writes OUT/sweep.csv, OUT/sweep.json, OUT/points/.
    Sweep {
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
    },
    /// Run one chunk of a sweep's tasks (used by the SLURM job array of `sweep --slurm`).
    SweepPoint {
        /// Chunk index (the SLURM array task id).
        #[arg(long)]
        chunk: usize,
        /// Tasks per chunk.
        #[arg(long)]
        chunk_size: usize,
    },
}

/// The config table (file or built-in default, with `--set`/`--seed` applied) and the folder
/// its relative paths resolve against.
fn config_table(cli: &Cli) -> anyhow::Result<(toml::Table, PathBuf)> {
    let (mut table, base) = match &cli.config {
        Some(p) => aedyn::registry::read_file(p)?,
        None => (
            aedyn::registry::default_table(cli.model.as_deref().unwrap_or("autoencoder"))?,
            PathBuf::from("."),
        ),
    };
    if cli.config.is_some() && cli.model.is_some() {
        anyhow::bail!("--model selects a built-in default config; with --config, set [model] kind in the file");
    }
    let mut root = toml::Value::Table(std::mem::take(&mut table));
    for kv in &cli.set {
        let (key, value) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        let value = parse_value(value.trim());
        aedyn::sweep::set_field(&mut root, key.trim(), value)?;
    }
    if let Some(seed) = cli.seed {
        aedyn::sweep::set_field(&mut root, "init.seed", toml::Value::Integer(seed as i64))?;
    }
    let toml::Value::Table(table) = root else {
        unreachable!("the root stays a table")
    };
    Ok((table, base))
}

/// A `--set` value as TOML (`0.2`, `[1, 2]`, `true`, `"relu"`), or a bare string.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn out_dir(cli: &Cli) -> anyhow::Result<&Path> {
    cli.out.as_deref().context("--out DIR is required")
}

fn load(cli: &Cli) -> anyhow::Result<Box<dyn Dynamics>> {
    let (table, base) = config_table(cli)?;
    let exp = aedyn::registry::load_table(table, &base)?;
    for w in exp.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(exp)
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(size) = &cli.max_memory {
        aedyn::resources::parse_size(size).map_err(|m| anyhow::anyhow!("--max-memory: {m}"))?;
        std::env::set_var(aedyn::resources::MAX_MEMORY_ENV, size);
    }
    let progress = progress_wanted(cli.quiet);
    let options = |seeds: Option<usize>| Options { seeds, progress };
    match &cli.command {
        Command::Theory {
            print_default_config,
        } => {
            if *print_default_config {
                let kind = cli.model.as_deref().unwrap_or("autoencoder");
                print!("{}", aedyn::registry::entry_of(kind)?.default_config);
                return Ok(());
            }
            let exp = load(&cli)?;
            let out = out_dir(&cli)?;
            let run = commands::theory(exp.as_ref(), out, &options(None))?;
            let head = &run.table.names[0];
            eprintln!(
                "theory ({}): {} outputs, final {head} = {:.6} → {}",
                exp.kind(),
                run.table.len(),
                run.table.last(head).unwrap_or(f64::NAN),
                out.display()
            );
        }
        Command::Simulate { seeds } => {
            let exp = load(&cli)?;
            let out = out_dir(&cli)?;
            let sim = commands::simulate(exp.as_ref(), out, &options(*seeds))?;
            report_failures(&sim.failures);
            eprintln!(
                "simulate ({}): {} finished, {} failed, {:.0} steps/s, {:.1} s → {}",
                exp.kind(),
                aedyn::plot::count(sim.runs.len(), "seed"),
                sim.failures.len(),
                sim.steps_per_second,
                sim.wall_seconds,
                out.display()
            );
            if !sim.failures.is_empty() {
                anyhow::bail!(
                    "{} of {} seeds failed (finished seeds were written)",
                    sim.failures.len(),
                    sim.failures.len() + sim.runs.len()
                );
            }
        }
        Command::Compare { seeds } => {
            let exp = load(&cli)?;
            let out = out_dir(&cli)?;
            let (cmp, sim) = commands::compare(exp.as_ref(), out, &options(*seeds))?;
            report_failures(&sim.failures);
            let head = exp.compared().into_iter().next().unwrap_or_default().0;
            if let Some(s) = cmp.summary(&head) {
                eprintln!(
                    "compare ({}): {}, {head}: normalised max deviation {:.4} (mean over seeds), {:.4} (worst), {:.4} (ensemble) → {}",
                    exp.kind(),
                    aedyn::plot::count(cmp.pairs.len(), "seed"),
                    s.mean_over_seeds.max_norm.unwrap_or(f64::NAN),
                    s.worst_over_seeds.max_norm.unwrap_or(f64::NAN),
                    s.ensemble.max_norm.unwrap_or(f64::NAN),
                    out.display()
                );
            }
            for w in cmp.warnings() {
                eprintln!("warning: {w}");
            }
            if !cmp.failed.is_empty() {
                anyhow::bail!(
                    "{} seeds failed (the others were written)",
                    cmp.failed.len()
                );
            }
        }
        Command::Validate { sizes, seeds } => {
            let (table, base) = config_table(&cli)?;
            let out = out_dir(&cli)?;
            let exp = aedyn::registry::load_table(table.clone(), &base)?;
            let sizes = sizes.clone().unwrap_or_else(|| exp.default_sizes());
            let v = commands::validate(&table, &base, &sizes, *seeds, out, progress)?;
            for r in &v.rows {
                let (name, m, se) = &r.metrics[0];
                eprintln!(
                    "{} = {:>7}: {name} {m:.4} ± {se:.4} ({} seeds)",
                    v.size_key, r.size, r.seeds
                );
            }
            for f in &v.fits {
                println!(
                    "validate ({}): {} ∝ size^({:.3} ± {:.3})",
                    exp.kind(),
                    f.metric,
                    f.exponent,
                    f.exponent_se
                );
            }
            println!("→ {}", out.display());
        }
        Command::Reproduce { only, list, quick } => {
            if *list {
                for f in aedyn::reproduce::FIGURES {
                    println!("{:<20} {:<12} {}", f.name, f.model, f.about);
                }
                return Ok(());
            }
            let out = cli.out.clone().unwrap_or_else(|| PathBuf::from("plots"));
            let n = if only.is_empty() {
                aedyn::reproduce::FIGURES.len()
            } else {
                only.len()
            };
            let bar = commands::progress_bar(progress, n as u64, "reproduce");
            let written = aedyn::reproduce::reproduce(&out, only, *quick, &|s| bar.inc(s))?;
            bar.finish_and_clear();
            eprintln!(
                "reproduce: wrote {} → {}",
                written.join(", "),
                out.display()
            );
        }
        Command::Sweep {
            collect,
            slurm,
            chunk_size,
            partition,
            time,
            mem,
            cpus,
        } => {
            let config = cli
                .config
                .as_deref()
                .context("--config FILE with a [sweep] section is required")?;
            let out = out_dir(&cli)?;
            let sweep = load_sweep(&cli, config)?;
            if *slurm {
                let opts = aedyn::sweep::SlurmOptions {
                    chunk_size: *chunk_size,
                    partition: partition.clone(),
                    time: time.clone(),
                    mem: mem.clone(),
                    cpus: *cpus,
                };
                let exe = std::env::current_exe().context("locating the aedyn binary")?;
                let (path, chunks) = commands::sweep_slurm(&sweep, &exe, config, out, &opts)?;
                println!(
                    "sweep: wrote {} ({chunks} array tasks); submit with `sbatch {}`, then run `aedyn sweep --collect --config {} --out {}`",
                    path.display(),
                    path.display(),
                    config.display(),
                    out.display()
                );
            } else if *collect {
                let report = commands::sweep_collect(&sweep, out)?;
                report_missing(&report, out)?;
            } else {
                let report = commands::sweep(&sweep, out, progress)?;
                if let Some(r) = &report.run {
                    eprintln!(
                        "sweep: computed {} tasks, reused {}, {:.1} s",
                        r.computed, r.skipped, r.wall_seconds
                    );
                }
                report_missing(&report, out)?;
            }
        }
        Command::SweepPoint { chunk, chunk_size } => {
            let config = cli.config.as_deref().context("--config FILE is required")?;
            let out = out_dir(&cli)?;
            let sweep = load_sweep(&cli, config)?;
            let r = commands::sweep_chunk(&sweep, out, *chunk, *chunk_size, progress)?;
            eprintln!(
                "sweep-point: chunk {chunk}: computed {} tasks, reused {}, {:.1} s",
                r.computed, r.skipped, r.wall_seconds
            );
        }
    }
    Ok(())
}

/// The sweep of a config file, with `--set`/`--seed` applied to its base config.
fn load_sweep(cli: &Cli, config: &Path) -> anyhow::Result<aedyn::sweep::Sweep> {
    if cli.set.is_empty() && cli.seed.is_none() {
        return Ok(aedyn::sweep::Sweep::from_file(config)?);
    }
    let (table, base) = config_table(cli)?;
    let text = toml::to_string(&table).context("serialising the config")?;
    Ok(aedyn::sweep::Sweep::from_toml(&text, config, &base)?)
}

fn report_failures(failures: &[(u64, aedyn::Error)]) {
    for (seed, e) in failures {
        eprintln!("seed {seed} failed: {e}");
    }
}

fn report_missing(report: &commands::SweepReport, out: &Path) -> anyhow::Result<()> {
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

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
