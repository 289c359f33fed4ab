//! Parameter sweeps: a `[sweep]` section in an experiment config varies any config field over
//! a list or a linear/log range, on a product or zipped grid, with replicate seeds; every
//! point runs the theory, the simulation or both, and is summarised by [`crate::autoencoder::analysis`].
//!
//! ```toml
//! [sweep]
//! what = "theory"            # "theory" | "simulate" | "both"
//! grid = "product"           # "product" (first axis slowest) | "zip" (axes of equal length)
//! seeds = 1                  # replicates per point: seeds init.seed, init.seed + 1, …
//! trajectories = true        # write each task's trajectory next to its result
//! [[sweep.axis]]
//! field = "training.lr"      # any config field, dotted; list elements as "data.spikes.1"
//! values = [0.1, 0.2, 0.4]   # or: from = 0.05, to = 2.0, n = 20, scale = "log" | "linear"
//! ```
//!
//! The `[sweep]` section is not part of a model's config: the file is read as a TOML table,
//! the section is taken out, the rest is the base config (the selected model's keys, all
//! defaults filled in), and each point sets its dotted fields on that table and builds the
//! model's experiment through [`crate::registry`] — so an unknown or mistyped field is an
//! error naming it before anything runs, and every point config is validated up front.
//! Range values on an integer field (e.g. `data.dim`) are rounded to integers.
//!
//! **Tasks.** A task is one point × one replicate. Replicate `j` uses the model's replicate
//! seed (`init.seed + j`, the convention of `aedyn simulate`), the same at every point
//! (common random numbers: the points differ only in their parameters, so phase diagrams
//! are smooth), and independent of the task order or the thread count. A task is
//! identified by its key, a stable 128-bit FNV-1a hash of `what`, the model, the canonical
//! JSON of its resolved config and the seed.
//!
//! **Files** in the output folder: `points/<key>.json` (the task's config, seed, status and
//! summary, written atomically and last, so its presence marks the task done) and
//! `points/<key>.theory.csv` / `points/<key>.sim.csv` (the run's trajectory, the columns of
//! `theory.csv`/`sim.csv`); `sweep.csv`, the table of finished tasks; `sweep.json`, the
//! manifest (config, grid, missing tasks, crate version). Rerunning skips finished tasks,
//! so a killed sweep loses only the tasks in flight. A task that diverges or fails is
//! recorded as such and does not stop the sweep.
//!
//! **Table** `sweep.csv`: one row per task and source (theory/simulate): the axis fields
//! (named by their dotted field), `seed`, `source`, `status` (`ok` | `diverged` | `error`), the
//! model's headline final value (`final_test_error`, …), `diverged`, `divergence_time`, the
//! model's other summary columns (autoencoder: `t_learn_1…t_learn_K`,
//! `plateau_m_{start,end,duration,level}`; mean-field: `final_gain_j`, `half_gain_time_j`;
//! …), `error`, `key`;
//! empty cells where a value does not exist (a PC never learned, no plateau).
//!
//! ```
//! let text = r#"
//! [model]
//! kind = "mean-field"
//! [network]
//! neurons = 100
//! [output]
//! t_max = 0.5
//! points = 3
//! [sweep]
//! [[sweep.axis]]
//! field = "training.l2"
//! values = [0.1, 1.0]
//! "#;
//! let sweep = aedyn::sweep::Sweep::from_toml(text, "s.toml".as_ref(), ".".as_ref())?;
//! let results = aedyn::sweep::evaluate(&sweep, sweep.tasks()?, &|_| {});
//! let gain = |i: usize| results[i].1.results[0].get("final_gain_0").unwrap();
//! assert!(gain(1) < gain(0)); // a larger penalty shrinks the leading gain
//! # Ok::<(), aedyn::Error>(())
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::model::{Dynamics, Progress, Run};
use crate::base::table::{csv, push_cell};
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// What each point runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum What {
    /// The limit theory.
    #[default]
    Theory,
    /// Finite-size training.
    Simulate,
    /// Both, the theory matched to the simulation (same initial state and output grid).
    Both,
}

/// How the axes combine into points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Grid {
    /// Every combination; the first axis varies slowest.
    #[default]
    Product,
    /// The i-th value of every axis together (all axes of equal length).
    Zip,
}

/// Spacing of a range axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Equally spaced.
    #[default]
    Linear,
    /// Geometrically spaced.
    Log,
}

/// `[[sweep.axis]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisSpec {
    field: String,
    values: Option<Vec<toml::Value>>,
    from: Option<f64>,
    to: Option<f64>,
    n: Option<usize>,
    scale: Option<Scale>,
}

fn default_seeds() -> usize {
    1
}

fn default_true() -> bool {
    true
}

/// `[sweep]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    #[serde(default)]
    what: What,
    #[serde(default)]
    grid: Grid,
    #[serde(default = "default_seeds")]
    seeds: usize,
    #[serde(default = "default_true")]
    trajectories: bool,
    #[serde(default)]
    axis: Vec<AxisSpec>,
}

/// One swept field and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted config field, e.g. `training.lr` or `data.spikes.1`.
    pub field: String,
    /// The values, in order.
    pub values: Vec<toml::Value>,
}

/// A parsed, validated sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// What each point runs.
    pub what: What,
    /// How the axes combine.
    pub grid: Grid,
    /// Replicates per point.
    pub seeds: usize,
    /// Write per-task trajectories.
    pub trajectories: bool,
    /// The axes.
    pub axes: Vec<Axis>,
    /// The base config with every field present (defaults filled in, paths resolved).
    base: toml::Value,
    /// The folder relative paths of the config resolve against.
    base_dir: PathBuf,
    /// The original file text, recorded in `sweep.json`.
    source_text: String,
}

/// One task: a point of the grid and a replicate.
#[derive(Clone)]
pub struct Task {
    /// Index of the point on the grid.
    pub point: usize,
    /// Replicate index j.
    pub replicate: usize,
    /// The replicate's seed (the model's replicate seed `j` of the point's config).
    pub seed: u64,
    /// The point's value of each axis.
    pub values: Vec<toml::Value>,
    /// The point's validated experiment (shared by its replicates).
    pub experiment: std::sync::Arc<dyn Dynamics>,
    /// The stable key ([`task_key`]).
    pub key: String,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("point", &self.point)
            .field("replicate", &self.replicate)
            .field("seed", &self.seed)
            .field("key", &self.key)
            .finish()
    }
}

/// 128-bit FNV-1a: a stable hash (unlike std's randomly seeded hasher).
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

/// The key of a task: FNV-1a 128 of `what`, the model, the canonical JSON of its config and
/// the seed, as 32 hex digits.
pub fn task_key(what: What, exp: &dyn Dynamics, seed: u64) -> String {
    let json = serde_json::to_string(&(what, exp.kind(), exp.config(), seed))
        .expect("serialisable config");
    format!("{:032x}", fnv1a_128(json.as_bytes()))
}

/// Set the dotted `field` of a TOML tree to `value`: tables are entered (created when
/// missing), numeric parts index lists (which must be long enough).
pub fn set_field(root: &mut toml::Value, field: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = field.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::config(field, "is not a dotted config field"));
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let here = parts[..i].join(".");
        cur = match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*part).to_string(), value);
                    return Ok(());
                }
                t.entry(*part)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let len = a.len();
                let idx: usize = part.parse().map_err(|_| {
                    Error::config(
                        field,
                        format!("`{here}` is a list: `{part}` is not an index"),
                    )
                })?;
                let slot = a.get_mut(idx).ok_or_else(|| {
                    Error::config(
                        field,
                        format!("index {idx} out of range: `{here}` has {len} elements"),
                    )
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(Error::config(
                    field,
                    format!("`{here}` is a value, not a table or a list"),
                ))
            }
        };
    }
    Ok(())
}

/// Whether the dotted field currently holds an integer in `root`.
fn is_integer_field(root: &toml::Value, field: &str) -> bool {
    let mut cur = root;
    for part in field.split('.') {
        let next = match cur {
            toml::Value::Table(t) => t.get(part),
            toml::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    cur.is_integer()
}

fn axis_values(i: usize, spec: &AxisSpec, base: &toml::Value) -> Result<Vec<toml::Value>> {
    let name = |k: &str| format!("sweep.axis.{i}.{k}");
    let range = [spec.from.is_some(), spec.to.is_some(), spec.n.is_some()];
    match (&spec.values, range) {
        (Some(v), [false, false, false]) if spec.scale.is_none() => {
            if v.is_empty() {
                return Err(Error::config(name("values"), "must not be empty"));
            }
            Ok(v.clone())
        }
        (None, [true, true, true]) => {
            let (from, to, n) = (spec.from.unwrap(), spec.to.unwrap(), spec.n.unwrap());
            let scale = spec.scale.unwrap_or_default();
            if n == 0 {
                return Err(Error::config(name("n"), "must be ≥ 1"));
            }
            for (k, v) in [("from", from), ("to", to)] {
                if !v.is_finite() || (scale == Scale::Log && v <= 0.0) {
                    return Err(Error::config(
                        name(k),
                        format!(
                            "must be a finite number{}, got {v}",
                            if scale == Scale::Log {
                                " > 0 (log scale)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            let frac = |j: usize| if n == 1 { 0.0 } else { j as f64 / (n - 1) as f64 };
            let xs: Vec<f64> = (0..n)
                .map(|j| match (j, scale) {
                    (0, _) => from,
                    (j, _) if j == n - 1 => to,
                    (j, Scale::Linear) => from + (to - from) * frac(j),
                    (j, Scale::Log) => (from.ln() + (to.ln() - from.ln()) * frac(j)).exp(),
                })
                .collect();
            let integer = is_integer_field(base, &spec.field);
            Ok(xs
                .into_iter()
                .map(|x| {
                    if integer {
                        toml::Value::Integer(x.round() as i64)
                    } else {
                        toml::Value::Float(x)
                    }
                })
                .collect())
        }
        _ => Err(Error::config(
            format!("sweep.axis.{i}"),
            format!(
                "`{}`: give either `values = [...]` or all of `from`, `to`, `n` (and optionally `scale`)",
                spec.field
            ),
        )),
    }
}

/// A TOML value as a table cell: numbers and booleans as written (floats in Rust's
/// shortest round-trip form), strings raw.
fn cell(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// The base table with `field = value` set deserialises for the base's model.
fn check_value(base: &toml::Value, field: &str, value: &toml::Value) -> Result<()> {
    let mut c = base.clone();
    set_field(&mut c, field, value.clone())?;
    let table = c.as_table().cloned().unwrap_or_default();
    (crate::registry::entry_for(&table)?.filled)(table).map(|_| ())
}

impl Sweep {
    /// Parse a sweep config (`origin` names the file in errors; relative paths of the
    /// experiment resolve against `base_dir`).
    pub fn from_toml(text: &str, origin: &Path, base_dir: &Path) -> Result<Self> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::parse(origin, e.to_string()))?;
        let spec = table.remove("sweep").ok_or_else(|| {
            Error::config(
                "sweep",
                "the config has no [sweep] section (see `aedyn sweep --help`)",
            )
        })?;
        let spec: SweepSpec = spec
            .try_into()
            .map_err(|e| Error::parse(origin, format!("[sweep]: {e}")))?;
        let base = toml::Value::Table((crate::registry::entry_for(&table)?.filled)(table)?);
        if spec.seeds == 0 {
            return Err(Error::config("sweep.seeds", "must be ≥ 1"));
        }
        if spec.axis.is_empty() {
            return Err(Error::config(
                "sweep.axis",
                "at least one [[sweep.axis]] is required",
            ));
        }
        let mut axes = Vec::new();
        for (i, a) in spec.axis.iter().enumerate() {
            if axes.iter().any(|b: &Axis| b.field == a.field) {
                return Err(Error::config(
                    format!("sweep.axis.{i}.field"),
                    format!("`{}` is swept twice", a.field),
                ));
            }
            let values = axis_values(i, a, &base)?;
            // Every value must make a config: unknown fields and wrong types fail here.
            for v in &values {
                check_value(&base, &a.field, v).map_err(|e| {
                    Error::config(
                        a.field.clone(),
                        format!("cannot be set to {v} (sweep.axis.{i}): {e}"),
                    )
                })?;
            }
            axes.push(Axis {
                field: a.field.clone(),
                values,
            });
        }
        if spec.grid == Grid::Zip {
            let n = axes[0].values.len();
            if let Some(a) = axes.iter().find(|a| a.values.len() != n) {
                return Err(Error::config(
                    "sweep.grid",
                    format!(
                        "\"zip\" needs axes of equal length: `{}` has {}, `{}` has {}",
                        axes[0].field,
                        n,
                        a.field,
                        a.values.len()
                    ),
                ));
            }
        }
        Ok(Sweep {
            what: spec.what,
            grid: spec.grid,
            seeds: spec.seeds,
            trajectories: spec.trajectories,
            axes,
            base,
            base_dir: base_dir.to_path_buf(),
            source_text: text.to_string(),
        })
    }

    /// Read a sweep config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path, path.parent().unwrap_or(Path::new(".")))
    }

    /// The points: each a value per axis, in grid order.
    pub fn points(&self) -> Vec<Vec<toml::Value>> {
        match self.grid {
            Grid::Zip => (0..self.axes[0].values.len())
                .map(|i| self.axes.iter().map(|a| a.values[i].clone()).collect())
                .collect(),
            Grid::Product => self.axes.iter().fold(vec![Vec::new()], |acc, a| {
                acc.into_iter()
                    .flat_map(|p| {
                        a.values.iter().map(move |v| {
                            let mut q = p.clone();
                            q.push(v.clone());
                            q
                        })
                    })
                    .collect()
            }),
        }
    }

    /// The validated experiment of a point.
    fn point_experiment(&self, values: &[toml::Value]) -> Result<Box<dyn Dynamics>> {
        let mut v = self.base.clone();
        for (a, x) in self.axes.iter().zip(values) {
            set_field(&mut v, &a.field, x.clone())?;
        }
        let table = v.as_table().cloned().unwrap_or_default();
        crate::registry::load_table(table, &self.base_dir)
    }

    /// Every task, point-major (point 0 seeds 0…, point 1 seeds 0…, …). Each point config is
    /// validated; the first invalid one is an error naming the point.
    pub fn tasks(&self) -> Result<Vec<Task>> {
        let mut tasks = Vec::new();
        for (p, values) in self.points().into_iter().enumerate() {
            let exp: std::sync::Arc<dyn Dynamics> = match self.point_experiment(&values) {
                Ok(exp) => exp.into(),
                Err(e) => {
                    let at: Vec<String> = self
                        .axes
                        .iter()
                        .zip(&values)
                        .map(|(a, v)| format!("{} = {}", a.field, cell(v)))
                        .collect();
                    return Err(match e {
                        Error::InvalidConfig { field, message } => Error::config(
                            field,
                            format!("{message} (sweep point {p}: {})", at.join(", ")),
                        ),
                        e => e,
                    });
                }
            };
            for j in 0..self.seeds {
                let seed = exp.replicate_seed(j);
                tasks.push(Task {
                    point: p,
                    replicate: j,
                    seed,
                    values: values.clone(),
                    key: task_key(self.what, exp.as_ref(), seed),
                    experiment: exp.clone(),
                });
            }
        }
        Ok(tasks)
    }
}

/// Outcome of one run of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Finished.
    Ok,
    /// Diverged (the time is recorded).
    Diverged,
    /// Failed otherwise (the message is recorded).
    Error,
}

/// The result of one source (theory or simulation) of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceResult {
    /// `"theory"` or `"simulate"`.
    pub source: String,
    /// Outcome.
    pub status: Status,
    /// Time (or step) of divergence, if any.
    pub divergence_time: Option<f64>,
    /// The model's summary columns (finished runs), `None` where a value does not exist.
    pub summary: Vec<(String, Option<f64>)>,
    /// The error message (diverged or failed runs).
    pub error: Option<String>,
}

impl SourceResult {
    /// A summary value by its `sweep.csv` column name.
    pub fn get(&self, name: &str) -> Option<f64> {
        if name == "divergence_time" {
            return self.divergence_time;
        }
        self.summary
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| *v)
    }
}

/// The record of a finished task, `points/<key>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Crate version that computed it.
    pub aedyn_version: String,
    /// The task key.
    pub key: String,
    /// The replicate seed.
    pub seed: u64,
    /// The axis values, as `field = value`.
    pub point: Vec<String>,
    /// What was run.
    pub what: What,
    /// One result per source.
    pub results: Vec<SourceResult>,
    /// Wall time of the task in seconds.
    pub wall_seconds: f64,
    /// The model.
    pub model: String,
    /// The resolved config.
    pub config: serde_json::Value,
    /// The task's trajectory files (name inside `points/`) with their checksums
    /// ([`crate::io::checksum`]); a resume recomputes the task when one does not match.
    #[serde(default)]
    pub files: Vec<(String, String)>,
}

fn record_path(out: &Path, key: &str) -> PathBuf {
    out.join("points").join(format!("{key}.json"))
}

/// The finished record of a task, if its file exists, is for this key, was computed by this
/// crate version, and every trajectory file it lists is there with its checksum.
pub fn load_record(out: &Path, task: &Task) -> Option<TaskRecord> {
    let text = std::fs::read_to_string(record_path(out, &task.key)).ok()?;
    let r: TaskRecord = serde_json::from_str(&text).ok()?;
    let files_intact = r.files.iter().all(|(name, sum)| {
        std::fs::read(out.join("points").join(name)).is_ok_and(|b| crate::io::checksum(&b) == *sum)
    });
    (r.key == task.key && r.aedyn_version == crate::provenance::VERSION && files_intact)
        .then_some(r)
}

/// A trajectory file to write: name inside `points/` and content.
pub type TrajectoryFile = (String, String);

/// Run one source of a task; the result is recorded whatever the outcome. A run whose
/// summary reports a finite `divergence_time` (its trajectory blew up without an error)
/// counts as diverged.
fn run_source(
    sweep: &Sweep,
    task: &Task,
    source: &str,
    progress: Progress,
) -> (SourceResult, Option<TrajectoryFile>) {
    let exp = task.experiment.as_ref();
    let run: Result<Run> = match source {
        "theory" => exp.theory(task.seed, &|_| progress(0)),
        _ => exp.simulate(task.seed, &|_| progress(0)),
    };
    let failed = |status, divergence_time, error: String| SourceResult {
        source: source.into(),
        status,
        divergence_time,
        summary: Vec::new(),
        error: Some(error),
    };
    match run {
        Ok(run) => {
            let file = sweep.trajectories.then(|| {
                let suffix = if source == "theory" { "theory" } else { "sim" };
                (
                    format!("{}.{suffix}.csv", task.key),
                    csv(&[(None, &run.table)]),
                )
            });
            let divergence_time = run
                .summary
                .iter()
                .find(|(n, _)| n == "divergence_time")
                .map(|(_, v)| *v)
                .filter(|v| v.is_finite());
            let diverged = divergence_time.is_some();
            let result = SourceResult {
                source: source.into(),
                status: if diverged {
                    Status::Diverged
                } else {
                    Status::Ok
                },
                divergence_time,
                summary: run
                    .summary
                    .iter()
                    .filter(|(n, _)| n != "divergence_time")
                    .map(|(n, v)| (n.clone(), v.is_finite().then_some(*v)))
                    .collect(),
                error: diverged
                    .then(|| "the trajectory blew up (divergence criterion)".to_string()),
            };
            (result, file)
        }
        Err(Error::Diverged { time, detail, what }) => (
            failed(
                Status::Diverged,
                Some(time),
                format!("{what} diverged at t = {time}: {detail}"),
            ),
            None,
        ),
        Err(e) => (failed(Status::Error, None, e.to_string()), None),
    }
}

/// Compute one task in memory: its record and its trajectory files (none when
/// `trajectories = false`). With `what = "both"` the theory is matched to the simulation
/// ([`Dynamics::theory_for`]) when the simulation finished. The runs call `progress(0)` as
/// they go (the units of a sweep are tasks): a chance for the caller to stop them.
pub fn compute_task(
    sweep: &Sweep,
    task: &Task,
    progress: Progress,
) -> (TaskRecord, Vec<TrajectoryFile>) {
    let start = Instant::now();
    let sources: &[&str] = match sweep.what {
        What::Theory => &["theory"],
        What::Simulate => &["simulate"],
        What::Both => &["theory", "simulate"],
    };
    let mut files = Vec::new();
    let results = sources
        .iter()
        .map(|s| {
            let (r, f) = run_source(sweep, task, s, progress);
            files.extend(f);
            r
        })
        .collect();
    let exp = task.experiment.as_ref();
    let record = TaskRecord {
        aedyn_version: crate::provenance::VERSION.into(),
        key: task.key.clone(),
        seed: task.seed,
        point: sweep
            .axes
            .iter()
            .zip(&task.values)
            .map(|(a, v)| format!("{} = {}", a.field, cell(v)))
            .collect(),
        what: sweep.what,
        results,
        wall_seconds: start.elapsed().as_secs_f64(),
        model: exp.kind().to_string(),
        config: exp.config(),
        files: files
            .iter()
            .map(|(name, csv)| (name.clone(), crate::io::checksum(csv.as_bytes())))
            .collect(),
    };
    (record, files)
}

/// Write a computed task's files atomically: the trajectories, then `points/<key>.json`.
pub fn write_task(
    out: &Path,
    task: &Task,
    record: &TaskRecord,
    files: &[TrajectoryFile],
) -> Result<()> {
    for (name, csv) in files {
        write_atomic(&out.join("points").join(name), csv.as_bytes())?;
    }
    let json = serde_json::to_string_pretty(record).expect("serialisable record");
    write_atomic(&record_path(out, &task.key), json.as_bytes())
}

/// Run one task ([`compute_task`]) and write its files ([`write_task`]).
pub fn run_task(sweep: &Sweep, task: &Task, out: &Path, progress: Progress) -> Result<TaskRecord> {
    let (record, files) = compute_task(sweep, task, progress);
    write_task(out, task, &record, &files)?;
    Ok(record)
}

/// A task computed in memory: the task, its record and its trajectory files.
pub type Evaluated = (Task, TaskRecord, Vec<TrajectoryFile>);

/// Compute every task in parallel, in memory (no files), keeping the trajectory files so
/// that [`save`] can write them later; `progress(1)` after each task.
pub fn evaluate_all(
    sweep: &Sweep,
    tasks: Vec<Task>,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<Evaluated> {
    tasks
        .into_par_iter()
        .map(|t| {
            let (r, files) = compute_task(sweep, &t, progress);
            progress(1);
            (t, r, files)
        })
        .collect()
}

/// Compute every task in parallel, in memory (no files): for figures and library use.
pub fn evaluate(
    sweep: &Sweep,
    tasks: Vec<Task>,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<(Task, TaskRecord)> {
    evaluate_all(sweep, tasks, progress)
        .into_iter()
        .map(|(t, r, _)| (t, r))
        .collect()
}

/// Write a sweep computed in memory into `out` as `aedyn sweep` does: each task's files
/// ([`write_task`]), then `sweep.csv` and `sweep.json` ([`collect`]).
pub fn save(sweep: &Sweep, evaluated: &[Evaluated], out: &Path) -> Result<Collected> {
    for (task, record, files) in evaluated {
        write_task(out, task, record, files)?;
    }
    collect(sweep, evaluated.iter().map(|e| e.0.clone()).collect(), out)
}

/// What a run of (some of) the tasks did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Tasks computed now.
    pub computed: usize,
    /// Tasks skipped because their result already existed.
    pub skipped: usize,
    /// Wall time in seconds.
    pub wall_seconds: f64,
}

/// Run the given tasks in parallel (rayon), skipping finished ones; `progress(1)` after each.
/// Each task's files are written as soon as it finishes.
pub fn run_tasks(
    sweep: &Sweep,
    tasks: &[Task],
    out: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunReport> {
    let start = Instant::now();
    let pending: Vec<&Task> = tasks
        .iter()
        .filter(|t| load_record(out, t).is_none())
        .collect();
    progress((tasks.len() - pending.len()) as u64);
    let results: Vec<Result<TaskRecord>> = pending
        .par_iter()
        .map(|t| {
            let r = run_task(sweep, t, out, progress);
            progress(1);
            r
        })
        .collect();
    for r in results {
        r?;
    }
    Ok(RunReport {
        computed: pending.len(),
        skipped: tasks.len() - pending.len(),
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The tasks of array chunk `chunk` with `chunk_size` tasks per chunk.
pub fn chunk(tasks: &[Task], chunk: usize, chunk_size: usize) -> Result<&[Task]> {
    if chunk_size == 0 {
        return Err(Error::config("--chunk-size", "must be ≥ 1"));
    }
    let n = tasks.len().div_ceil(chunk_size);
    if chunk >= n {
        return Err(Error::config(
            "--chunk",
            format!(
                "must be < {n} ({} tasks in chunks of {chunk_size})",
                tasks.len()
            ),
        ));
    }
    Ok(&tasks[chunk * chunk_size..((chunk + 1) * chunk_size).min(tasks.len())])
}

/// What [`collect`] found.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Finished tasks with their records, in task order.
    pub finished: Vec<(Task, TaskRecord)>,
    /// Tasks without a result.
    pub missing: Vec<Task>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    let mut s = String::new();
    if let Some(x) = v {
        push_cell(&mut s, x);
    }
    s
}

/// One cell of `sweep.csv`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// An axis value, as written in the config.
    Value(&'a toml::Value),
    /// A seed.
    Seed(u64),
    /// A text (source, status, error message, key).
    Text(&'a str),
    /// A number; `None` where it does not exist (an empty cell).
    Number(Option<f64>),
    /// A flag (`diverged`).
    Flag(bool),
}

impl Cell<'_> {
    /// The cell's text (axis values as written in the config, numbers in their shortest
    /// round-trip form, empty where a number does not exist).
    pub fn text(&self) -> String {
        match self {
            Cell::Value(v) => cell(v),
            Cell::Seed(s) => s.to_string(),
            Cell::Text(s) => s.to_string(),
            Cell::Number(v) => opt(*v),
            Cell::Flag(b) => b.to_string(),
        }
    }

    /// The cell as written in `sweep.csv` (quoted where needed).
    pub fn render(&self) -> String {
        csv_field(&self.text())
    }
}

/// The `sweep.csv` table of the finished tasks as typed cells: the header and one row per
/// task and source (see the module docs).
pub fn rows<'a>(
    sweep: &'a Sweep,
    finished: &[(&'a Task, &'a TaskRecord)],
) -> (Vec<String>, Vec<Vec<Cell<'a>>>) {
    let mut metrics: Vec<String> = Vec::new();
    for (_, rec) in finished {
        for r in &rec.results {
            for (n, _) in &r.summary {
                if !metrics.contains(n) {
                    metrics.push(n.clone());
                }
            }
        }
    }
    let mut header: Vec<String> = sweep.axes.iter().map(|a| a.field.clone()).collect();
    // The model's first summary column (its headline final value) stands before the
    // divergence columns, the others after them.
    let (head, rest) = metrics.split_at(metrics.len().min(1));
    header.extend(["seed", "source", "status"].map(String::from));
    header.extend(head.iter().cloned());
    header.extend(["diverged", "divergence_time"].map(String::from));
    header.extend(rest.iter().cloned());
    header.extend(["error", "key"].map(String::from));
    let mut rows = Vec::new();
    for (task, rec) in finished {
        for r in &rec.results {
            let mut row: Vec<Cell> = task.values.iter().map(Cell::Value).collect();
            row.push(Cell::Seed(task.seed));
            row.push(Cell::Text(&r.source));
            row.push(Cell::Text(match r.status {
                Status::Ok => "ok",
                Status::Diverged => "diverged",
                Status::Error => "error",
            }));
            row.extend(head.iter().map(|name| Cell::Number(r.get(name))));
            row.push(Cell::Flag(r.status == Status::Diverged));
            row.push(Cell::Number(r.divergence_time));
            row.extend(rest.iter().map(|name| Cell::Number(r.get(name))));
            row.push(Cell::Text(r.error.as_deref().unwrap_or("")));
            row.push(Cell::Text(&task.key));
            rows.push(row);
        }
    }
    (header, rows)
}

/// The `sweep.csv` table of the finished tasks (see the module docs).
pub fn table(sweep: &Sweep, finished: &[(Task, TaskRecord)]) -> String {
    let refs: Vec<(&Task, &TaskRecord)> = finished.iter().map(|(t, r)| (t, r)).collect();
    let (header, rows) = rows(sweep, &refs);
    let header: Vec<String> = header.iter().map(|h| csv_field(h)).collect();
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(Cell::render).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct Manifest<'a> {
    aedyn_version: &'a str,
    what: What,
    grid: Grid,
    seeds: usize,
    axes: Vec<(String, Vec<String>)>,
    tasks: usize,
    finished: usize,
    missing: Vec<MissingTask>,
    config: &'a str,
}

#[derive(Serialize)]
struct MissingTask {
    point: usize,
    seed: u64,
    key: String,
}

/// Gather the finished tasks' records into `out/sweep.csv` and write `out/sweep.json` (the
/// config, the grid, the missing tasks).
pub fn collect(sweep: &Sweep, tasks: Vec<Task>, out: &Path) -> Result<Collected> {
    let mut finished = Vec::new();
    let mut missing = Vec::new();
    for t in tasks {
        match load_record(out, &t) {
            Some(r) => finished.push((t, r)),
            None => missing.push(t),
        }
    }
    write_atomic(&out.join("sweep.csv"), table(sweep, &finished).as_bytes())?;
    let json = manifest(sweep, finished.len(), &missing);
    write_atomic(&out.join("sweep.json"), json.as_bytes())?;
    Ok(Collected { finished, missing })
}

/// The manifest `sweep.json` (pretty JSON): the config text, the grid, the number of
/// finished tasks and the missing ones.
pub fn manifest(sweep: &Sweep, finished: usize, missing: &[Task]) -> String {
    let manifest = Manifest {
        aedyn_version: crate::provenance::VERSION,
        what: sweep.what,
        grid: sweep.grid,
        seeds: sweep.seeds,
        axes: sweep
            .axes
            .iter()
            .map(|a| (a.field.clone(), a.values.iter().map(cell).collect()))
            .collect(),
        tasks: finished + missing.len(),
        finished,
        missing: missing
            .iter()
            .map(|t| MissingTask {
                point: t.point,
                seed: t.seed,
                key: t.key.clone(),
            })
            .collect(),
        config: &sweep.source_text,
    };
    serde_json::to_string_pretty(&manifest).expect("serialisable manifest")
}

/// Options of the SLURM job-array script.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Tasks (point × seed) per array task.
    pub chunk_size: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (SLURM format, e.g. `01:00:00`).
    pub time: Option<String>,
    /// `--mem` (e.g. `2G`).
    pub mem: Option<String>,
    /// `--cpus-per-task` (rayon threads per array task).
    pub cpus: usize,
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// A SLURM job-array script: array task `i` runs
/// `aedyn sweep-point --config CONFIG --out OUT --chunk i --chunk-size N`. `exe` is the
/// aedyn binary; paths should be absolute (the job may start elsewhere).
pub fn slurm_script(
    n_tasks: usize,
    exe: &Path,
    config: &Path,
    out: &Path,
    opts: &SlurmOptions,
) -> Result<String> {
    if opts.chunk_size == 0 {
        return Err(Error::config("--chunk-size", "must be ≥ 1"));
    }
    if opts.cpus == 0 {
        return Err(Error::config("--cpus", "must be ≥ 1"));
    }
    let chunks = n_tasks.div_ceil(opts.chunk_size).max(1);
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# aedyn {} sweep: {n_tasks} tasks in {chunks} array tasks of ≤ {}",
        crate::provenance::VERSION,
        opts.chunk_size
    );
    let _ = writeln!(s, "#SBATCH --job-name=aedyn-sweep");
    let _ = writeln!(s, "#SBATCH --array=0-{}", chunks - 1);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", opts.cpus);
    let _ = writeln!(s, "#SBATCH --output={}/slurm/%A_%a.out", out.display());
    for (k, v) in [
        ("partition", &opts.partition),
        ("time", &opts.time),
        ("mem", &opts.mem),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "#SBATCH --{k}={v}");
        }
    }
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "export RAYON_NUM_THREADS={}", opts.cpus);
    let _ = writeln!(
        s,
        "exec {} sweep-point --quiet --config {} --out {} --chunk \"$SLURM_ARRAY_TASK_ID\" --chunk-size {}",
        shell_quote(exe),
        shell_quote(config),
        shell_quote(out),
        opts.chunk_size
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(text: &str) -> Result<Sweep> {
        Sweep::from_toml(text, Path::new("s.toml"), Path::new("."))
    }

    fn get(t: &Task, section: &str, key: &str) -> serde_json::Value {
        t.experiment.config()[section][key].clone()
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        // FNV-1a 128 test vectors (draft-eastlake-fnv): "" and "a".
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }

    #[test]
    fn product_and_zip_grids_and_ranges() {
        let s = sweep(
            "[sweep]\n[[sweep.axis]]\nfield = \"training.lr\"\nfrom = 0.1\nto = 10.0\nn = 3\nscale = \"log\"\n\
             [[sweep.axis]]\nfield = \"data.spikes.1\"\nvalues = [1.0, 2.0]\n",
        )
        .unwrap();
        let lr: Vec<f64> = s.axes[0]
            .values
            .iter()
            .map(|v| v.as_float().unwrap())
            .collect();
        assert_eq!(lr[0], 0.1);
        assert!((lr[1] - 1.0).abs() < 1e-15);
        assert_eq!(lr[2], 10.0);
        let tasks = s.tasks().unwrap();
        assert_eq!(tasks.len(), 6);
        // First axis slowest.
        assert_eq!(get(&tasks[1], "training", "lr"), 0.1);
        assert_eq!(
            get(&tasks[1], "data", "spikes"),
            serde_json::json!([25.0, 2.0])
        );
        assert_eq!(get(&tasks[2], "training", "lr"), lr[1]);
        let z = sweep(
            "[sweep]\ngrid = \"zip\"\nseeds = 2\n[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [0.1, 0.2]\n\
             [[sweep.axis]]\nfield = \"init.std\"\nvalues = [0.01, 0.02]\n",
        )
        .unwrap();
        let t = z.tasks().unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            (get(&t[3], "training", "lr"), get(&t[3], "init", "std")),
            (serde_json::json!(0.2), serde_json::json!(0.02))
        );
        assert_eq!((t[2].seed, t[3].seed), (0, 1));
        assert_ne!(t[2].key, t[3].key);
        // Integer fields get integer range values.
        let d = sweep("[sweep]\n[[sweep.axis]]\nfield = \"data.dim\"\nfrom = 100\nto = 1000\nn = 3\nscale = \"log\"\n")
            .unwrap();
        let dims: Vec<usize> = d
            .tasks()
            .unwrap()
            .iter()
            .map(|t| get(t, "data", "dim").as_u64().unwrap() as usize)
            .collect();
        assert_eq!(dims, [100, 316, 1000]);
    }

    #[test]
    fn bad_sweeps_are_errors_naming_the_field() {
        let cases = [
            ("[[sweep.axis]]\nfield = \"training.lrate\"\nvalues = [0.1]\n", "training.lrate"),
            ("[[sweep.axis]]\nfield = \"trainin.lr\"\nvalues = [0.1]\n", "trainin.lr"),
            ("[[sweep.axis]]\nfield = \"data.spikes.5\"\nvalues = [0.1]\n", "data.spikes.5"),
            ("[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [\"fast\"]\n", "training.lr"),
            ("[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [-1.0]\n", "training.lr"),
            ("[[sweep.axis]]\nfield = \"training.lr\"\nfrom = 0.0\nto = 1.0\nn = 3\nscale = \"log\"\n", "sweep.axis.0.from"),
            ("[[sweep.axis]]\nfield = \"training.lr\"\nfrom = 0.1\nn = 3\n", "sweep.axis.0"),
            ("seeds = 0\n[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [0.1]\n", "sweep.seeds"),
            ("grid = \"zip\"\n[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [0.1]\n[[sweep.axis]]\nfield = \"init.std\"\nvalues = [0.1, 0.2]\n", "sweep.grid"),
            ("speed = 1\n[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [0.1]\n", "speed"),
        ];
        for (text, field) in cases {
            let e = sweep(&format!("[sweep]\n{text}"))
                .and_then(|s| s.tasks())
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{text:?}: {e}");
        }
        let e = sweep("[training]\nlr = 0.1\n").unwrap_err().to_string();
        assert!(e.contains("[sweep]"), "{e}");
    }
}
