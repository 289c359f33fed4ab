//! The commands behind the `aedyn` binary, written once for every model against
//! [`Dynamics`], and usable from Rust without the CLI. Each command writes its results into a
//! fresh temporary folder beside `--out` and renames it into place only when complete
//! ([`OutDir`]), so `--out` always holds one whole run or none; every record holds the full
//! config, the seeds and the crate version. Each command is its computation in memory
//! (`run_theory`, `run_simulate`, `run_compare`, `run_validate`), whose [`Output`] is then
//! written — the same writing for the CLI and for the Python bindings' `save`.
//!
//! ```
//! use aedyn::commands::{self, Options};
//!
//! let exp = aedyn::registry::load_table(
//!     aedyn::registry::default_table("mean-field")?,
//!     std::path::Path::new("."),
//! )?;
//! let out = tempfile::tempdir().unwrap();
//! let run = commands::theory(exp.as_ref(), &out.path().join("mf"), &Options::default())?;
//! assert_eq!(run.table.names[0], "test_error");
//! assert!(out.path().join("mf/theory.csv").exists());
//! # Ok::<(), aedyn::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::base::compare::{Comparison, Validation, ValidationRow};
use crate::base::model::{Dynamics, Progress, Run, Source};
use crate::base::runner::{run_seeds, split, SeedStatus};
use crate::base::table::{OutputFormat, Table};
use crate::error::{Error, Result};
use crate::io::write_atomic;

use crate::provenance::Provenance;
pub use crate::provenance::{REVISION, VERSION};

/// Options shared by the commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Number of replicates (overrides the config's `simulation.seeds`).
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

/// A progress bar over `total` units (a spinner when 0), or a hidden one when not `enabled`.
pub fn progress_bar(enabled: bool, total: u64, label: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    if !enabled {
        return ProgressBar::hidden();
    }
    if total == 0 {
        let bar = ProgressBar::new_spinner();
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        return bar;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{label} {{bar:40}} {{percent:>3}}% {{pos}}/{{len}} elapsed {{elapsed}} eta {{eta}}"
        ))
        .expect("valid template"),
    );
    bar
}

/// An output folder written atomically: files go into a temporary sibling folder, which
/// replaces the target only in [`OutDir::commit`] (the previous run, if any, is moved aside
/// and then removed). A target that exists but holds something other than an aedyn run is
/// refused, so a mistyped `--out` never deletes anything else.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

/// Files that mark a folder as an aedyn run folder.
const RUN_MARKERS: [&str; 4] = ["run.json", "compare.json", "validate.json", "sweep.json"];

impl OutDir {
    /// Check `target` (not a file; empty, absent or a previous run) and create the
    /// temporary folder beside it — before any work starts.
    pub fn create(target: &Path) -> Result<Self> {
        if target.is_file() {
            return Err(Error::config(
                "--out",
                format!("{} is a file, not a folder", target.display()),
            ));
        }
        if target.is_dir() {
            let mut entries = std::fs::read_dir(target).map_err(|e| Error::io(target, e))?;
            let empty = entries.next().is_none();
            if !empty && !RUN_MARKERS.iter().any(|m| target.join(m).is_file()) {
                return Err(Error::config(
                    "--out",
                    format!(
                        "{} is not empty and holds no aedyn run (no run.json); choose a new folder",
                        target.display()
                    ),
                ));
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::config("--out", format!("{} has no folder name", target.display()))
            })?;
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        // Leftovers of runs that were killed before their commit.
        for e in std::fs::read_dir(parent)
            .map_err(|e| Error::io(parent, e))?
            .flatten()
        {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-")) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(OutDir {
            target: target.to_path_buf(),
            tmp,
            committed: false,
        })
    }

    /// The folder to write into (the temporary one).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Write a file (relative path) into the folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.tmp.join(name), bytes)
    }

    /// Write tables into the folder as `<stem>.<ext>` in `format`, buffered (`.npy`: with
    /// its `<stem>.columns.txt`). Returns the written file names.
    pub fn write_table(
        &self,
        stem: &str,
        format: OutputFormat,
        tables: &[(Option<u64>, &Table)],
    ) -> Result<Vec<String>> {
        let files = format.file_names(stem);
        crate::io::write_atomic_with(&self.tmp.join(&files[0]), |w| format.write(w, tables))?;
        if let Some(columns) = files.get(1) {
            self.write(columns, crate::base::table::npy_columns(tables).as_bytes())?;
        }
        Ok(files)
    }

    /// Put the finished folder in place of the target: on Linux one atomic exchange
    /// (`renameat2(RENAME_EXCHANGE)`), so `--out` holds the old run or the new one at every
    /// instant; elsewhere two renames.
    pub fn commit(mut self) -> Result<()> {
        if self.target.exists() && exchange(&self.tmp, &self.target)? {
            // `tmp` now holds the previous run.
            self.committed = true;
            std::fs::remove_dir_all(&self.tmp).map_err(|e| Error::io(&self.tmp, e))?;
            return Ok(());
        }
        let old = self.tmp.with_file_name(
            self.tmp
                .file_name()
                .expect("named")
                .to_string_lossy()
                .replace(".tmp-", ".old-"),
        );
        if self.target.exists() {
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }
}

/// Swap two paths atomically; `false` where the system cannot (then the caller renames).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| Error::config("--out", "the path contains a NUL byte"))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both arguments are valid NUL-terminated paths relative to the current folder.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(true)
    } else {
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            // Not supported by this file system or kernel: fall back to renames.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => Ok(false),
            _ => Err(Error::io(b, e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> Result<bool> {
    Ok(false)
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The JSON record of a command: the model's own facts and `fields` merged in at the top
/// level, then version, revision, command, model and config (which nothing overrides).
fn record(command: &str, exp: &dyn Dynamics, fields: Value) -> Value {
    let mut r = serde_json::Map::new();
    for part in [exp.record(), fields] {
        if let Value::Object(m) = part {
            r.extend(m);
        }
    }
    let fixed = json!({
        "aedyn_version": VERSION,
        "aedyn_revision": REVISION,
        "command": command,
        "model": exp.kind(),
        "config": exp.config(),
        "threads": rayon::current_num_threads(),
    });
    if let Value::Object(m) = fixed {
        r.extend(m);
    }
    let warnings = exp.warnings();
    if !warnings.is_empty() {
        r.insert("warnings".into(), json!(warnings));
    }
    Value::Object(r)
}

/// The last row of a table as `{column: value}` (null where missing).
fn final_values(t: &Table) -> Value {
    let Some(row) = t.rows.last() else {
        return Value::Null;
    };
    Value::Object(
        t.names
            .iter()
            .zip(row)
            .map(|(n, v)| (n.clone(), json!(v.is_finite().then_some(*v))))
            .collect(),
    )
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serialisable record")
}

/// Tables by file stem: each the tables of its runs, labelled with the run's seed when the
/// file has a `seed` column.
pub type Tables<'a> = Vec<(String, Vec<(Option<u64>, &'a Table)>)>;

/// A command's finished result in memory: everything its output folder holds, before
/// anything is written. The CLI commands compute one and write it into their folder; the
/// Python bindings return it and write it only when asked ([`Output::save`]) — so both write
/// the same files, and saving never re-runs anything.
pub trait Output: Send + Sync {
    /// The record file's name (`run.json`, `compare.json`, `validate.json`) and its content,
    /// complete with the list of files.
    fn record(&self) -> (&'static str, &Value);
    /// The tables (`theory`, `sim`, the model's extra tables, …), by file stem.
    fn tables(&self) -> Tables<'_>;
    /// The format the tables are written in.
    fn format(&self) -> OutputFormat;
    /// Write the files other than the tables and the record (figures, the runs' own files).
    fn write_files(&self, dir: &OutDir) -> Result<()>;

    /// Where this output came from (for its figures), read off its record: the command,
    /// the model, the seeds (`seeds`, or the theory's `seed`) and the config as TOML.
    fn provenance(&self) -> Result<Provenance> {
        let (_, r) = self.record();
        let seeds: Vec<u64> = match (&r["seeds"], &r["seed"]) {
            (Value::Array(a), _) => a.iter().filter_map(Value::as_u64).collect(),
            (_, s) => s.as_u64().into_iter().collect(),
        };
        Provenance::of(
            &format!("aedyn {}", r["command"].as_str().unwrap_or("")),
            r["model"].as_str().unwrap_or(""),
            &seeds,
            &r["config"],
        )
    }

    /// Write everything into `dir`: the other files, the tables, `run.toml` (the config as
    /// `--config` reads it, so `aedyn <command> --config OUT/run.toml` re-runs it), then the
    /// record.
    fn write_into(&self, dir: &OutDir) -> Result<()> {
        self.write_files(dir)?;
        for (stem, tables) in self.tables() {
            dir.write_table(&stem, self.format(), &tables)?;
        }
        dir.write("run.toml", self.provenance()?.config.as_bytes())?;
        let (name, record) = self.record();
        dir.write(name, &pretty(record))
    }

    /// Write everything into the output folder `out`, atomically (see [`OutDir`]).
    fn save(&self, out: &Path) -> Result<()> {
        let dir = OutDir::create(out)?;
        self.write_into(&dir)?;
        dir.commit()
    }
}

/// The CLI's way to run a command: check the output folder `out` before any work, compute
/// with a progress bar (`enabled`, `total` units, `label`), write the result, and put the
/// folder in place.
fn into_folder<O: Output>(
    out: &Path,
    (enabled, total, label): (bool, u64, &str),
    compute: impl FnOnce(Progress) -> Result<O>,
) -> Result<O> {
    let dir = OutDir::create(out)?;
    let bar = progress_bar(enabled, total, label);
    let output = compute(&|n| bar.inc(n))?;
    bar.finish_and_clear();
    output.write_into(&dir)?;
    dir.commit()?;
    Ok(output)
}

/// The tables of runs: `<main>` and each of the model's extra tables, every run's rows
/// labelled with its seed when `seeded`.
fn run_tables<'a>(main: &str, runs: &[&'a Run], seeded: bool) -> Tables<'a> {
    let label = |r: &Run| seeded.then_some(r.seed);
    let mut tables = vec![(
        main.to_string(),
        runs.iter().map(|r| (label(r), &r.table)).collect(),
    )];
    if let Some(first) = runs.first() {
        for (i, (name, _)) in first.extra.iter().enumerate() {
            tables.push((
                name.clone(),
                runs.iter().map(|r| (label(r), &r.extra[i].1)).collect(),
            ));
        }
    }
    tables
}

/// The file names of tables and of the runs' own files, in writing order (`files` of a
/// record).
fn file_names(tables: &Tables, format: OutputFormat, runs: &[&Run]) -> Vec<String> {
    tables
        .iter()
        .flat_map(|(stem, _)| format.file_names(stem))
        .chain(
            runs.iter()
                .flat_map(|r| r.files.iter().map(|(n, _)| n.clone())),
        )
        .chain(std::iter::once("run.toml".to_string()))
        .collect()
}

/// Write the runs' own files.
fn write_run_files(dir: &OutDir, runs: &[&Run]) -> Result<()> {
    for (name, bytes) in runs.iter().flat_map(|r| &r.files) {
        dir.write(name, bytes)?;
    }
    Ok(())
}

/// The replicate seeds of a command: `n` from the options or the config.
fn replicate_seeds(exp: &dyn Dynamics, seeds: Option<usize>) -> Result<Vec<u64>> {
    let n = seeds.unwrap_or_else(|| exp.default_seeds());
    if n == 0 {
        return Err(Error::config("--seeds", "must be ≥ 1"));
    }
    Ok((0..n).map(|j| exp.replicate_seed(j)).collect())
}

/// Progress units of simulating `seeds` replicates (the config's number when `None`).
pub fn simulation_work(exp: &dyn Dynamics, seeds: Option<usize>) -> u64 {
    exp.work(Source::Simulation) * seeds.unwrap_or_else(|| exp.default_seeds()) as u64
}

/// What `aedyn theory` computes: the run and its `run.json`.
#[derive(Debug)]
pub struct TheoryOutput {
    /// The limit theory from replicate 0's initial state.
    pub run: Run,
    format: OutputFormat,
    record: Value,
}

impl Output for TheoryOutput {
    fn record(&self) -> (&'static str, &Value) {
        ("run.json", &self.record)
    }

    fn tables(&self) -> Tables<'_> {
        run_tables("theory", &[&self.run], false)
    }

    fn format(&self) -> OutputFormat {
        self.format
    }

    fn write_files(&self, dir: &OutDir) -> Result<()> {
        write_run_files(dir, &[&self.run])
    }
}

/// [`theory`] in memory.
pub fn run_theory(exp: &dyn Dynamics, progress: Progress) -> Result<TheoryOutput> {
    let start = Instant::now();
    let seed = exp.replicate_seed(0);
    let run = exp.theory(seed, progress)?;
    let format = exp.output_format();
    let files = file_names(&run_tables("theory", &[&run], false), format, &[&run]);
    let record = record(
        "theory",
        exp,
        json!({
            "seed": seed,
            "run": run.record,
            "final": final_values(&run.table),
            "wall_seconds": start.elapsed().as_secs_f64(),
            "files": files,
        }),
    );
    Ok(TheoryOutput {
        run,
        format,
        record,
    })
}

/// `aedyn theory`: the limit theory from replicate 0's initial state → `out/theory.csv`,
/// the model's extra tables and files, and `out/run.json`.
pub fn theory(exp: &dyn Dynamics, out: &Path, opts: &Options) -> Result<Run> {
    let bar = (opts.progress, exp.work(Source::Theory), "theory");
    Ok(into_folder(out, bar, |p| run_theory(exp, p))?.run)
}

/// What `aedyn simulate` did.
#[derive(Debug)]
pub struct Simulation {
    /// The finished replicates, in seed order.
    pub runs: Vec<Run>,
    /// The failed replicates: seed and error.
    pub failures: Vec<(u64, Error)>,
    /// Per seed: ok or failed.
    pub status: Vec<SeedStatus>,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Progress units (steps) per second, summed over replicates.
    pub steps_per_second: f64,
}

/// Simulate the replicates (`seeds`, or the config's number) in parallel, in memory.
pub fn run_simulation(
    exp: &dyn Dynamics,
    seeds: Option<usize>,
    progress: Progress,
) -> Result<Simulation> {
    let start = Instant::now();
    let seeds = replicate_seeds(exp, seeds)?;
    let results = run_seeds(&seeds, |s| exp.simulate(s, progress));
    let wall = start.elapsed().as_secs_f64();
    let (runs, failures, status) = split(results);
    Ok(Simulation {
        steps_per_second: (exp.simulation_steps() * runs.len() as u64) as f64 / wall,
        runs,
        failures,
        status,
        wall_seconds: wall,
    })
}

/// What `aedyn simulate` computes: the replicates and their `run.json`.
#[derive(Debug)]
pub struct SimulationOutput {
    /// The replicates.
    pub sim: Simulation,
    format: OutputFormat,
    record: Value,
}

impl SimulationOutput {
    fn runs(&self) -> Vec<&Run> {
        self.sim.runs.iter().collect()
    }
}

impl Output for SimulationOutput {
    fn record(&self) -> (&'static str, &Value) {
        ("run.json", &self.record)
    }

    fn tables(&self) -> Tables<'_> {
        run_tables("sim", &self.runs(), true)
    }

    fn format(&self) -> OutputFormat {
        self.format
    }

    fn write_files(&self, dir: &OutDir) -> Result<()> {
        write_run_files(dir, &self.runs())
    }
}

/// [`simulate`] in memory (`seeds` replicates, or the config's number).
pub fn run_simulate(
    exp: &dyn Dynamics,
    seeds: Option<usize>,
    progress: Progress,
) -> Result<SimulationOutput> {
    let sim = run_simulation(exp, seeds, progress)?;
    let runs: Vec<&Run> = sim.runs.iter().collect();
    let format = exp.output_format();
    let files = file_names(&run_tables("sim", &runs, true), format, &runs);
    let record = record(
        "simulate",
        exp,
        json!({
            "seeds": sim.status.iter().map(|s| s.seed).collect::<Vec<_>>(),
            "status": sim.status,
            "runs": sim.runs.iter().map(|r| json!({"seed": r.seed, "run": r.record})).collect::<Vec<_>>(),
            "wall_seconds": sim.wall_seconds,
            "steps_per_second": sim.steps_per_second,
            "files": files,
        }),
    );
    Ok(SimulationOutput {
        sim,
        format,
        record,
    })
}

/// `aedyn simulate`: finite-size training of every replicate in parallel → `out/sim.csv`
/// (with a `seed` column), the model's extra tables and files, and `out/run.json`. Failed
/// seeds are recorded; the finished seeds are written regardless.
pub fn simulate(exp: &dyn Dynamics, out: &Path, opts: &Options) -> Result<Simulation> {
    let bar = (opts.progress, simulation_work(exp, opts.seeds), "simulate");
    Ok(into_folder(out, bar, |p| run_simulate(exp, opts.seeds, p))?.sim)
}

/// Simulate the replicates and match each with its theory, in memory (the theory is
/// computed once when it does not depend on the seed). `progress` counts the simulation's
/// units; the theory phase calls it with 0 (so a caller can still stop the work there).
pub fn run_comparison(
    exp: &dyn Dynamics,
    seeds: Option<usize>,
    progress: Progress,
) -> Result<(Comparison, Simulation)> {
    use rayon::prelude::*;
    let mut sim = run_simulation(exp, seeds, progress)?;
    let failed: Vec<(u64, String)> = sim
        .failures
        .iter()
        .map(|(s, e)| (*s, e.to_string()))
        .collect();
    let runs = std::mem::take(&mut sim.runs);
    let tick = |_| progress(0);
    let pairs: Vec<(Run, Run)> = if exp.theory_per_seed() {
        runs.into_par_iter()
            .map(|r| exp.theory_for(&r, &tick).map(|t| (r, t)))
            .collect::<Result<_>>()?
    } else {
        let th = match runs.first() {
            Some(r) => exp.theory_for(r, &tick)?,
            None => Run::default(),
        };
        runs.into_iter().map(|r| (r, th.clone())).collect()
    };
    let cmp = Comparison::new(pairs, failed, &exp.compared())?;
    Ok((cmp, sim))
}

/// What `aedyn compare` computes: the comparison, the simulation's facts, the figure and
/// `compare.json`.
pub struct ComparisonOutput {
    /// The simulation and theory of each finished seed, and their deviations.
    pub cmp: Comparison,
    /// The simulation's facts (its runs are in `cmp.pairs`).
    pub sim: Simulation,
    per_seed: bool,
    figure: Option<crate::plot::Figure>,
    format: OutputFormat,
    record: Value,
}

impl ComparisonOutput {
    fn sims(&self) -> Vec<&Run> {
        self.cmp.pairs.iter().map(|(s, _)| s).collect()
    }
}

impl Output for ComparisonOutput {
    fn record(&self) -> (&'static str, &Value) {
        ("compare.json", &self.record)
    }

    /// `sim` and the model's extra tables, then `theory` (with a `seed` column when the
    /// theory depends on the seed, else once).
    fn tables(&self) -> Tables<'_> {
        let mut tables = run_tables("sim", &self.sims(), true);
        let theory = if self.per_seed {
            let pairs = self.cmp.pairs.iter();
            pairs.map(|(s, t)| (Some(s.seed), &t.table)).collect()
        } else {
            vec![(None, &self.cmp.pairs[0].1.table)]
        };
        tables.push(("theory".into(), theory));
        tables
    }

    fn format(&self) -> OutputFormat {
        self.format
    }

    fn write_files(&self, dir: &OutDir) -> Result<()> {
        write_run_files(dir, &self.sims())?;
        match &self.figure {
            Some(fig) => {
                let prov = self.provenance()?;
                crate::plot::write_figure(fig, &dir.path().join("compare"), &prov)
            }
            None => Ok(()),
        }
    }
}

/// [`compare`] in memory (`seeds` replicates, or the config's number).
pub fn run_compare(
    exp: &dyn Dynamics,
    seeds: Option<usize>,
    progress: Progress,
) -> Result<ComparisonOutput> {
    let start = Instant::now();
    let (cmp, sim) = run_comparison(exp, seeds, progress)?;
    let per_seed = exp.theory_per_seed();
    let figure = exp.compare_figure(&cmp);
    let theories: Vec<&Run> = if per_seed {
        cmp.pairs.iter().map(|(_, t)| t).collect()
    } else {
        vec![&cmp.pairs[0].1]
    };
    let sims: Vec<&Run> = cmp.pairs.iter().map(|(s, _)| s).collect();
    let format = exp.output_format();
    let mut files = file_names(&run_tables("sim", &sims, true), format, &sims);
    files.extend(format.file_names("theory"));
    if figure.is_some() {
        files.extend(["compare.png", "compare.svg", "compare.csv"].map(String::from));
    }
    let mut rec = record(
        "compare",
        exp,
        json!({
            "seeds": sim.status.iter().map(|s| s.seed).collect::<Vec<_>>(),
            "status": sim.status,
            "failed_seeds": cmp.failed,
            "observables": cmp.summaries,
            "theory_runs": theories.iter().map(|t| t.record.clone()).collect::<Vec<_>>(),
            "wall_seconds": start.elapsed().as_secs_f64(),
            "steps_per_second": sim.steps_per_second,
            "files": files,
        }),
    );
    if let Value::Object(m) = exp.compare_extra(&cmp)? {
        rec.as_object_mut().expect("object").extend(m);
    }
    let deviation = cmp.warnings();
    if !deviation.is_empty() {
        let obj = rec.as_object_mut().expect("object");
        let all = obj.entry("warnings").or_insert_with(|| json!([]));
        if let Value::Array(a) = all {
            a.extend(deviation.into_iter().map(Value::String));
        }
    }
    Ok(ComparisonOutput {
        cmp,
        sim,
        per_seed,
        figure,
        format,
        record: rec,
    })
}

/// `aedyn compare`: simulate the replicates, compute each one's theory from the same
/// initial state, and write `out/theory.csv`, `out/sim.csv`, `out/compare.json` (per
/// observable and seed: max/mean absolute deviation normalised by the theory's range; mean
/// and worst over seeds; the ensemble means' deviation; the model's own comparison) and the
/// figure `out/compare.png` + `.svg` + `.csv`.
pub fn compare(exp: &dyn Dynamics, out: &Path, opts: &Options) -> Result<(Comparison, Simulation)> {
    let bar = (opts.progress, simulation_work(exp, opts.seeds), "compare");
    let o = into_folder(out, bar, |p| run_compare(exp, opts.seeds, p))?;
    Ok((o.cmp, o.sim))
}

/// Compare theory and simulation at each size (the config with the model's size key —
/// `data.dim`, `network.neurons`, … — set to each value), `seeds` seeds each, and fit each
/// validation metric's power law in the size. `table` is the config, `base` the folder its
/// paths resolve against. `progress(1)` after each size (and `progress(0)` while one runs).
pub fn run_validation(
    table: &toml::Table,
    base: &Path,
    sizes: &[usize],
    seeds: usize,
    progress: Progress,
) -> Result<Validation> {
    let mut unique = sizes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != sizes.len() {
        return Err(Error::config("--sizes", "must not repeat a size"));
    }
    if sizes.len() < 2 {
        return Err(Error::config("--sizes", "needs at least two sizes"));
    }
    if seeds == 0 {
        return Err(Error::config("--seeds", "must be ≥ 1"));
    }
    let key = crate::registry::load_table(table.clone(), base)?.size_key();
    let mut rows = Vec::new();
    for &size in sizes {
        let mut t = toml::Value::Table(table.clone());
        crate::sweep::set_field(&mut t, key, toml::Value::Integer(size as i64))?;
        let exp = crate::registry::load_table(t.as_table().cloned().unwrap_or_default(), base)?;
        let (cmp, _) = run_comparison(exp.as_ref(), Some(seeds), &|_| progress(0))?;
        progress(1);
        rows.push(ValidationRow {
            size: size as f64,
            seeds: cmp.pairs.len(),
            metrics: exp.validation_metrics(&cmp),
        });
    }
    Validation::fit(key, rows)
}

/// What `aedyn validate` computes: the validation, its table (`validate.csv`) and
/// `validate.json`.
#[derive(Debug)]
pub struct ValidationOutput {
    /// The metrics per size and their fitted power laws.
    pub validation: Validation,
    table: Table,
    record: Value,
}

impl Output for ValidationOutput {
    fn record(&self) -> (&'static str, &Value) {
        ("validate.json", &self.record)
    }

    fn tables(&self) -> Tables<'_> {
        vec![("validate".into(), vec![(None, &self.table)])]
    }

    /// Always CSV: a handful of rows.
    fn format(&self) -> OutputFormat {
        OutputFormat::Csv
    }

    /// The log–log figure `validate.png` + `.svg`, its plotted data as
    /// `validate.figure.csv` (`validate.csv` is the table).
    fn write_files(&self, dir: &OutDir) -> Result<()> {
        crate::plot::write_figure(
            &crate::figures::validate_figure(&self.validation),
            &dir.path().join("validate"),
            &self.provenance()?,
        )?;
        let (plotted, figure_csv) = (
            dir.path().join("validate.csv"),
            dir.path().join("validate.figure.csv"),
        );
        std::fs::rename(&plotted, &figure_csv).map_err(|e| Error::io(&figure_csv, e))
    }
}

/// [`validate`] in memory.
pub fn run_validate(
    table: &toml::Table,
    base: &Path,
    sizes: &[usize],
    seeds: usize,
    progress: Progress,
) -> Result<ValidationOutput> {
    let start = Instant::now();
    let exp = crate::registry::load_table(table.clone(), base)?;
    let v = run_validation(table, base, sizes, seeds, progress)?;
    let mut t = Table::new(
        v.size_key.rsplit('.').next().unwrap_or("size"),
        std::iter::once("seeds".to_string())
            .chain(
                v.rows[0]
                    .metrics
                    .iter()
                    .flat_map(|(n, _, _)| [n.clone(), format!("{n}_se")]),
            )
            .collect(),
    );
    for r in &v.rows {
        let mut row = vec![r.seeds as f64];
        for (_, m, se) in &r.metrics {
            row.extend([*m, *se]);
        }
        t.push(r.size, row);
    }
    let record = record(
        "validate",
        exp.as_ref(),
        json!({
            "size_key": v.size_key,
            "sizes": sizes,
            "seeds": (0..seeds).map(|j| exp.replicate_seed(j)).collect::<Vec<_>>(),
            "validation": v,
            "wall_seconds": start.elapsed().as_secs_f64(),
        }),
    );
    Ok(ValidationOutput {
        validation: v,
        table: t,
        record,
    })
}

/// `aedyn validate`: [`run_validation`] → `out/validate.csv` (one row per size: the metrics
/// and their standard errors), `out/validate.json` (with the fitted exponents) and the
/// log–log figure `out/validate.png` + `.svg` (its plotted data: `validate.figure.csv`).
pub fn validate(
    table: &toml::Table,
    base: &Path,
    sizes: &[usize],
    seeds: usize,
    out: &Path,
    progress: bool,
) -> Result<Validation> {
    let bar = (progress, sizes.len() as u64, "validate");
    let o = into_folder(out, bar, |p| run_validate(table, base, sizes, seeds, p))?;
    Ok(o.validation)
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
) -> Result<(PathBuf, usize)> {
    let n = sweep.tasks()?.len();
    let abs = |p: &Path| -> Result<PathBuf> { std::path::absolute(p).map_err(|e| Error::io(p, e)) };
    std::fs::create_dir_all(out.join("slurm")).map_err(|e| Error::io(out, e))?;
    let script = crate::sweep::slurm_script(n, &abs(exe)?, &abs(config)?, &abs(out)?, opts)?;
    let path = out.join("sweep.sbatch");
    write_atomic(&path, script.as_bytes())?;
    Ok((path, n.div_ceil(opts.chunk_size)))
}
