//! `aedyn._aedyn`: the Python bindings of aedyn. Every function here calls the library's
//! model interface exactly as the CLI does (`aedyn::commands::run_*`, `aedyn::sweep`,
//! `aedyn::reproduce`) and returns the command's finished [`Output`] in memory: its tables as
//! numpy arrays, its record as a dict, and `save(dir)`, which writes the CLI's files through
//! the same writer. The thin pure-Python layer `aedyn/__init__.py` adds progress bars and
//! accepts plain dicts.
//!
//! **Long runs** release the GIL and check for signals every 100 ms: the parallel commands run
//! on a thread of rayon's pool while the calling thread waits ([`run_interruptible`]), a
//! theory runs on the calling thread, which checks from its progress calls ([`run_inline`]).
//! Ctrl-C sets a cancellation flag that the work's progress callback turns into an unwinding
//! that is caught, and `KeyboardInterrupt` is raised; an interrupted call returns and writes
//! nothing.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aedyn::base::model::{Dynamics, Source};
use aedyn::commands::{self, Output};
use aedyn::sweep::{Cell, Sweep};
use numpy::PyArray1;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

create_exception!(
    aedyn,
    AedynError,
    PyException,
    "Base class of aedyn's errors; the message is the CLI's."
);
create_exception!(
    aedyn,
    ConfigError,
    AedynError,
    "An invalid config: the message (and the attribute `field`, the dotted key, when known) \
     names the offending field, as the CLI does."
);
create_exception!(
    aedyn,
    DivergenceError,
    AedynError,
    "A run diverged (NaN/inf or a blow-up); the message says which run and when."
);

/// The Python exception of a library error, with the CLI's message: `ConfigError` (with
/// `field`, None for unparsable config text) for invalid configs and unparsable text, `DivergenceError` for diverged
/// runs, `AedynError` otherwise.
fn py_err(e: aedyn::Error) -> PyErr {
    let message = e.to_string();
    let config_error = |field: Option<String>| {
        Python::attach(|py| {
            let err = ConfigError::new_err(message.clone());
            // Setting an attribute on a fresh exception object cannot fail.
            let _ = err.value(py).setattr("field", field);
            err
        })
    };
    match e {
        aedyn::Error::InvalidConfig { field, .. } => config_error(Some(field)),
        aedyn::Error::Parse { .. } => config_error(None),
        aedyn::Error::Diverged { .. } => DivergenceError::new_err(message),
        _ => AedynError::new_err(message),
    }
}

/// `?` for library results inside the bindings.
trait OrPy<T> {
    fn or_py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for aedyn::Result<T> {
    fn or_py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

// ---------------------------------------------------------------------------------------
// Running the work: a worker thread, the GIL released, Ctrl-C honoured.

/// The payload of the unwinding that stops cancelled work.
struct Cancelled;

/// How often signals are checked and progress is reported.
const POLL: Duration = Duration::from_millis(100);

/// How long an interrupted call waits for its work to stop before it returns anyway.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// What a call's work shares with the call: the units done and the cancellation flag.
#[derive(Default)]
struct Watch {
    done: AtomicU64,
    cancel: AtomicBool,
}

impl Watch {
    /// The work's progress callback: count the units, or unwind once cancelled (the library
    /// reports progress from its inner loops, so the work stops within milliseconds).
    fn tick(&self, n: u64) {
        if self.cancel.load(Ordering::Relaxed) {
            // resume_unwind skips the panic hook: a cancellation prints nothing.
            resume_unwind(Box::new(Cancelled));
        }
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// The caller's progress callback, called with `(done, total)` when the count changed.
struct Reporter {
    callback: Option<Py<PyAny>>,
    total: u64,
    reported: Option<u64>,
}

impl Reporter {
    fn new(callback: Option<&Bound<'_, PyAny>>, total: u64) -> Self {
        Reporter {
            callback: callback.map(|c| c.clone().unbind()),
            total,
            reported: None,
        }
    }

    fn report(&mut self, py: Python<'_>, watch: &Watch) -> PyResult<()> {
        let n = watch.done.load(Ordering::Relaxed);
        match &self.callback {
            Some(f) if self.reported != Some(n) => {
                self.reported = Some(n);
                f.bind(py).call1((n, self.total)).map(drop)
            }
            _ => Ok(()),
        }
    }
}

/// The work's result as Python; a panic (a bug) becomes an `AedynError`.
fn outcome<T>(result: std::thread::Result<aedyn::Result<T>>) -> PyResult<T> {
    result
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the work was cancelled".into());
            AedynError::new_err(format!("internal error: {what}"))
        })?
        .or_py()
}

/// Run `work` on a thread of rayon's pool while this thread waits with the GIL released, for
/// the parallel commands (their progress comes from the pool's threads). Every [`POLL`] it
/// checks for signals and reports progress. On a signal (Ctrl-C) or an exception from
/// `progress`, the work is cancelled ([`Watch::tick`]) and given [`STOP_GRACE`] to finish
/// unwinding, and the exception is raised; nothing the work computed is returned. Work that
/// reports no progress for longer keeps its pool thread until it ends, its result dropped.
fn run_interruptible<T: Send + 'static>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    total: u64,
    work: impl FnOnce(aedyn::base::Progress) -> aedyn::Result<T> + Send + 'static,
) -> PyResult<T> {
    let watch = Arc::new(Watch::default());
    let (tx, rx) = mpsc::channel();
    // Waited on with the GIL released, hence shared with that closure.
    let rx = Mutex::new(rx);
    let recv = |timeout| rx.lock().expect("one waiter").recv_timeout(timeout);
    let w = watch.clone();
    // A thread of rayon's pool, where the work's parallel parts run anyway: no thread is
    // started per call.
    rayon::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(|| work(&|n| w.tick(n)))));
    });
    let mut reporter = Reporter::new(progress, total);
    loop {
        match py.detach(|| recv(POLL)) {
            Ok(result) => {
                reporter.report(py, &watch)?;
                return outcome(result);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(AedynError::new_err(
                    "the worker thread ended without a result",
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = py
            .check_signals()
            .and_then(|()| reporter.report(py, &watch))
        {
            watch.cancel.store(true, Ordering::Relaxed);
            let _ = py.detach(|| recv(STOP_GRACE));
            return Err(e);
        }
    }
}

/// Run `work` on this thread with the GIL released, for single runs (the theory): no hand-over
/// between threads, which would cost more than a short theory. Every [`POLL`], a progress
/// call of the work on this thread takes the GIL back for a moment to check for signals and
/// report progress; a signal (or an exception from `progress`) cancels the work as in
/// [`run_interruptible`] and is raised.
fn run_inline<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    total: u64,
    work: impl FnOnce(aedyn::base::Progress) -> aedyn::Result<T> + Send,
) -> PyResult<T> {
    let watch = Watch::default();
    let reporter = Mutex::new(Reporter::new(progress, total));
    let caller = std::thread::current().id();
    let next_check = Mutex::new(Instant::now() + POLL);
    let interrupted: Mutex<Option<PyErr>> = Mutex::new(None);
    let tick = |n: u64| {
        watch.tick(n);
        if std::thread::current().id() != caller {
            return;
        }
        let mut next = next_check.lock().expect("this thread only");
        if Instant::now() < *next {
            return;
        }
        *next = Instant::now() + POLL;
        let checked = Python::attach(|py| {
            py.check_signals()?;
            reporter
                .lock()
                .expect("this thread only")
                .report(py, &watch)
        });
        if let Err(e) = checked {
            *interrupted.lock().expect("this thread only") = Some(e);
            watch.cancel.store(true, Ordering::Relaxed);
            resume_unwind(Box::new(Cancelled));
        }
    };
    let result = py.detach(|| catch_unwind(AssertUnwindSafe(|| work(&tick))));
    if let Some(e) = interrupted.into_inner().expect("this thread only") {
        return Err(e);
    }
    reporter
        .into_inner()
        .expect("this thread only")
        .report(py, &watch)?;
    outcome(result)
}

// ---------------------------------------------------------------------------------------
// Config.

/// Where a config's text came from: sweeps record it (`sweep.json`), as the CLI does.
#[derive(Clone, Debug)]
enum Origin {
    /// A file, unmodified: a sweep reads it as `aedyn sweep --config FILE` does.
    File(PathBuf),
    /// TOML text, unmodified.
    Text(String),
    /// Built from a dict or modified with `set`: its TOML serialisation.
    Table,
}

/// An experiment config: the sections and keys of aedyn's TOML files (`[model] kind`
/// selects the model; absent keys take their defaults). Build it from a dict
/// (`Config({"network": {"hidden": 3}})`), TOML text (`Config.from_toml`), a file
/// (`Config.from_file`, relative paths resolve against its folder) or a model's default
/// (`aedyn.default_config`). Nothing is checked until `validate()` or a run.
#[pyclass(module = "aedyn", name = "Config")]
#[derive(Clone, Debug)]
struct Config {
    table: toml::Table,
    base: PathBuf,
    origin: Origin,
}

impl Config {
    /// The validated experiment.
    fn experiment(&self) -> aedyn::Result<Box<dyn Dynamics>> {
        aedyn::registry::load_table(self.table.clone(), &self.base)
    }

    /// This config with `init.seed` set, as the CLI's `--seed`.
    fn seeded(&self, seed: Option<u64>) -> PyResult<Config> {
        let mut c = self.clone();
        if let Some(seed) = seed {
            c.set_value("init.seed", toml::Value::Integer(seed as i64))?;
        }
        Ok(c)
    }

    fn set_value(&mut self, key: &str, value: toml::Value) -> PyResult<()> {
        let mut root = toml::Value::Table(std::mem::take(&mut self.table));
        let set = aedyn::sweep::set_field(&mut root, key, value);
        if let toml::Value::Table(t) = root {
            self.table = t;
        }
        self.origin = Origin::Table;
        set.or_py()
    }

    /// The sweep of this config's `[sweep]` section, read as `aedyn sweep` reads it.
    fn sweep(&self) -> aedyn::Result<Sweep> {
        match &self.origin {
            Origin::File(path) => Sweep::from_file(path),
            Origin::Text(text) => Sweep::from_toml(text, Path::new("<config>"), &self.base),
            Origin::Table => {
                let text = toml::to_string(&self.table)
                    .map_err(|e| aedyn::Error::InvalidState(e.to_string()))?;
                Sweep::from_toml(&text, Path::new("<config>"), &self.base)
            }
        }
    }
}

#[pymethods]
impl Config {
    /// Config(data=None, base_dir=".")
    ///
    /// A config from a dict of sections (`{"training": {"lr": 0.2}, ...}`); relative paths
    /// in it resolve against `base_dir`.
    #[new]
    #[pyo3(signature = (data=None, base_dir=None))]
    fn new(data: Option<&Bound<'_, PyDict>>, base_dir: Option<PathBuf>) -> PyResult<Self> {
        let table = match data {
            Some(d) => match to_toml(d.as_any(), "")? {
                toml::Value::Table(t) => t,
                _ => unreachable!("a dict converts to a table"),
            },
            None => toml::Table::new(),
        };
        Ok(Config {
            table,
            base: base_dir.unwrap_or_else(|| PathBuf::from(".")),
            origin: Origin::Table,
        })
    }

    /// Config.from_toml(text, base_dir=".")
    ///
    /// A config from TOML text (the format of aedyn's config files). Raises `ConfigError`
    /// if the text is not TOML.
    #[staticmethod]
    #[pyo3(signature = (text, base_dir=None))]
    fn from_toml(text: &str, base_dir: Option<PathBuf>) -> PyResult<Self> {
        let table = aedyn::base::config::parse_table(text, Path::new("<config>")).or_py()?;
        Ok(Config {
            table,
            base: base_dir.unwrap_or_else(|| PathBuf::from(".")),
            origin: Origin::Text(text.to_string()),
        })
    }

    /// Config.from_file(path)
    ///
    /// A config file, read as `aedyn --config FILE` reads it; its relative paths resolve
    /// against its folder.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Self> {
        let (table, base) = aedyn::registry::read_file(&path).or_py()?;
        Ok(Config {
            table,
            base,
            origin: Origin::File(path),
        })
    }

    /// The model this config selects (`[model] kind`, default "autoencoder").
    #[getter]
    fn model(&self) -> PyResult<&'static str> {
        Ok(aedyn::registry::entry_for(&self.table).or_py()?.kind)
    }

    /// validate()
    ///
    /// Check the config as every command does before running: raises `ConfigError` naming
    /// the field (an unknown key, a wrong type, a value out of range).
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.experiment().map(drop)).or_py()
    }

    /// set(key, value)
    ///
    /// Set a dotted key, as the CLI's `--set key=value` and sweeps do: `"training.lr"`,
    /// list elements as `"data.spikes.1"`; missing tables are created. The value is checked
    /// when the config is validated or run.
    fn set(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_toml(value, key)?;
        self.set_value(key, value)
    }

    /// to_dict()
    ///
    /// The config as a dict of sections (only the keys that were given; defaults are
    /// filled in by `filled()`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_toml(py, &toml::Value::Table(self.table.clone()))
    }

    /// filled()
    ///
    /// This config with every key of its model present (the defaults filled in) and
    /// `[model] kind` set; raises `ConfigError` for unknown keys or wrong types.
    fn filled(&self) -> PyResult<Config> {
        let entry = aedyn::registry::entry_for(&self.table).or_py()?;
        let mut sweep = self.table.clone();
        let section = sweep.remove("sweep");
        let mut table = (entry.filled)(sweep).or_py()?;
        if let Some(s) = section {
            table.insert("sweep".into(), s);
        }
        Ok(Config {
            table,
            base: self.base.clone(),
            origin: Origin::Table,
        })
    }

    /// to_toml()
    ///
    /// The config as TOML text (a config file for the CLI).
    fn to_toml(&self) -> PyResult<String> {
        toml::to_string(&self.table).map_err(|e| AedynError::new_err(e.to_string()))
    }

    /// copy()
    ///
    /// An independent copy.
    fn copy(&self) -> Config {
        self.clone()
    }

    fn __repr__(&self) -> String {
        format!("aedyn.Config({:?})", self.table.to_string())
    }
}

/// A Python value as TOML (`at` names the key in errors): bool, int, float, str, lists and
/// dicts (also numpy scalars); anything else (None, objects) is a `ConfigError`.
fn to_toml(v: &Bound<'_, PyAny>, at: &str) -> PyResult<toml::Value> {
    let key = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    Ok(if v.is_instance_of::<PyBool>() {
        toml::Value::Boolean(v.extract()?)
    } else if v.is_instance_of::<PyInt>() {
        toml::Value::Integer(v.extract()?)
    } else if v.is_instance_of::<PyFloat>() {
        toml::Value::Float(v.extract()?)
    } else if v.is_instance_of::<PyString>() {
        toml::Value::String(v.extract()?)
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, x) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("config keys must be str ({at})")))?;
            let value = to_toml(&x, &key(&k))?;
            t.insert(k, value);
        }
        toml::Value::Table(t)
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = v.extract()?;
        let values = items
            .iter()
            .enumerate()
            .map(|(i, x)| to_toml(x, &key(&i.to_string())));
        toml::Value::Array(values.collect::<PyResult<_>>()?)
    } else if let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
        toml::Value::Integer(i)
    } else if let Ok(f) = v.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
        toml::Value::Float(f)
    } else {
        let field = if at.is_empty() { "config" } else { at };
        return Err(py_err(aedyn::Error::config(
            field,
            format!(
                "cannot be set to a Python {} (TOML has bool, int, float, str, lists and tables)",
                v.get_type().name()?
            ),
        )));
    })
}

/// A TOML value as Python (dates as str).
fn from_toml<'py>(py: Python<'py>, v: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        toml::Value::String(s) => s.into_pyobject(py)?.into_any(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        toml::Value::Float(f) => f.into_pyobject(py)?.into_any(),
        toml::Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        toml::Value::Datetime(d) => d.to_string().into_pyobject(py)?.into_any(),
        toml::Value::Array(a) => {
            let items: Vec<Bound<'py, PyAny>> = a
                .iter()
                .map(|x| from_toml(py, x))
                .collect::<PyResult<_>>()?;
            PyList::new(py, items)?.into_any()
        }
        toml::Value::Table(t) => {
            let d = PyDict::new(py);
            for (k, x) in t {
                d.set_item(k, from_toml(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// default_config(model="autoencoder")
///
/// The built-in default config of a model (the documented file of
/// `aedyn theory --print-default-config --model MODEL`).
#[pyfunction]
#[pyo3(signature = (model="autoencoder"))]
fn default_config(model: &str) -> PyResult<Config> {
    let entry = aedyn::registry::entry_of(model).or_py()?;
    Config::from_toml(entry.default_config, None)
}

/// models()
///
/// The registered models: a list of (kind, description).
#[pyfunction]
fn models() -> Vec<(&'static str, &'static str)> {
    aedyn::registry::MODELS
        .iter()
        .map(|e| (e.kind, e.about))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Tables and results.

/// A table of a result, as its CSV file holds it (`theory.csv`, `sim.csv`, `groups.csv`,
/// `sweep.csv`, …): one numpy array per column, built once from the library's values.
/// `table["test_error"]` is a column, `table.index` the index column (`time` or `step`),
/// `table["seed"]` the replicate of each row where the CSV has a `seed` column.
#[pyclass(module = "aedyn", name = "Table", frozen)]
struct PyTable {
    name: String,
    index_name: Option<String>,
    /// The observable columns (without the index and the `seed` label).
    columns: Vec<String>,
    /// Every column in CSV order.
    arrays: Vec<(String, Py<PyAny>)>,
    rows: usize,
}

impl PyTable {
    /// The table of a CSV file from the library's tables (concatenated, seed-labelled):
    /// each array is filled once from the rows and handed to numpy without a copy.
    fn from_runs(py: Python<'_>, name: &str, parts: &[(Option<u64>, &aedyn::base::Table)]) -> Self {
        let rows: usize = parts.iter().map(|(_, t)| t.len()).sum();
        let mut arrays = Vec::new();
        let Some((_, first)) = parts.first() else {
            return PyTable {
                name: name.into(),
                index_name: None,
                columns: Vec::new(),
                arrays,
                rows: 0,
            };
        };
        if parts.iter().any(|(s, _)| s.is_some()) {
            let seeds: Vec<u64> = parts
                .iter()
                .flat_map(|(s, t)| std::iter::repeat_n(s.unwrap_or(0), t.len()))
                .collect();
            arrays.push(("seed".to_string(), array(py, seeds)));
        }
        let index: Vec<f64> = parts
            .iter()
            .flat_map(|(_, t)| t.index.iter().copied())
            .collect();
        arrays.push((first.index_name.clone(), array(py, index)));
        for (j, n) in first.names.iter().enumerate() {
            let col: Vec<f64> = parts
                .iter()
                .flat_map(|(_, t)| t.rows.iter().map(|r| r[j]))
                .collect();
            arrays.push((n.clone(), array(py, col)));
        }
        PyTable {
            name: name.into(),
            index_name: Some(first.index_name.clone()),
            columns: first.names.clone(),
            arrays,
            rows,
        }
    }

    /// `sweep.csv` from its typed cells: numbers (axis values included) as float arrays with
    /// NaN for empty cells, seeds as uint64, flags as bool, everything else as str arrays.
    fn from_cells(py: Python<'_>, header: Vec<String>, cells: &[Vec<Cell>]) -> PyResult<Self> {
        let mut arrays = Vec::new();
        for (j, name) in header.iter().enumerate() {
            let col: Vec<&Cell> = cells.iter().map(|r| &r[j]).collect();
            let number = |c: &Cell| match c {
                Cell::Number(v) => Some(v.unwrap_or(f64::NAN)),
                Cell::Value(toml::Value::Float(f)) => Some(*f),
                Cell::Value(toml::Value::Integer(i)) => Some(*i as f64),
                _ => None,
            };
            let flag = |c: &Cell| match c {
                Cell::Flag(b) | Cell::Value(toml::Value::Boolean(b)) => Some(*b),
                _ => None,
            };
            let seed = |c: &Cell| match c {
                Cell::Seed(s) => Some(*s),
                _ => None,
            };
            let a = if let Some(v) = col.iter().map(|c| number(c)).collect::<Option<Vec<f64>>>() {
                array(py, v)
            } else if let Some(v) = col.iter().map(|c| seed(c)).collect::<Option<Vec<u64>>>() {
                array(py, v)
            } else if let Some(v) = col.iter().map(|c| flag(c)).collect::<Option<Vec<bool>>>() {
                array(py, v)
            } else {
                let text: Vec<String> = col.iter().map(|c| c.text()).collect();
                py.import("numpy")?
                    .getattr("array")?
                    .call1((text,))?
                    .unbind()
            };
            arrays.push((name.clone(), a));
        }
        Ok(PyTable {
            name: "sweep".into(),
            index_name: None,
            columns: header,
            arrays,
            rows: cells.len(),
        })
    }

    fn get(&self, key: &str) -> Option<&Py<PyAny>> {
        self.arrays.iter().find(|(n, _)| n == key).map(|(_, a)| a)
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (n, a) in &self.arrays {
            d.set_item(n, a.bind(py))?;
        }
        Ok(d)
    }
}

/// A numpy array that takes over the vector (no copy).
fn array<T: numpy::Element>(py: Python<'_>, v: Vec<T>) -> Py<PyAny> {
    PyArray1::from_vec(py, v).into_any().unbind()
}

#[pymethods]
impl PyTable {
    /// The file stem (`theory`, `sim`, `groups`, `sweep`, …).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The index column's name (`time` or `step`; None for `sweep.csv`).
    #[getter]
    fn index_name(&self) -> Option<&str> {
        self.index_name.as_deref()
    }

    /// The index column (time or step) as a numpy array (None for `sweep.csv`).
    #[getter]
    fn index(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let name = self.index_name.as_deref()?;
        self.get(name).map(|a| a.clone_ref(py))
    }

    /// The observable columns' names (without the index and the `seed` label).
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// keys()
    ///
    /// Every column's name in CSV order (`seed`, the index, the observables).
    fn keys(&self) -> Vec<String> {
        self.arrays.iter().map(|(n, _)| n.clone()).collect()
    }

    /// to_dict()
    ///
    /// Every column by name, in CSV order.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.dict(py)
    }

    /// to_pandas()
    ///
    /// A pandas DataFrame of every column in CSV order (needs pandas).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pd = py.import("pandas")?;
        pd.getattr("DataFrame")?.call1((self.dict(py)?,))
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        self.get(key).map(|a| a.clone_ref(py)).ok_or_else(|| {
            PyKeyError::new_err(format!(
                "`{key}` is not a column of {}.csv; columns: {}",
                self.name,
                self.keys().join(", ")
            ))
        })
    }

    fn __contains__(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn __len__(&self) -> usize {
        self.rows
    }

    fn __repr__(&self) -> String {
        format!(
            "aedyn.Table({}.csv: {} rows; {})",
            self.name,
            self.rows,
            self.keys().join(", ")
        )
    }
}

/// What a result keeps of the library's answer: enough to build its record and to write
/// its folder.
enum Finished {
    /// A command's output (theory, simulate, compare, validate).
    Command(Box<dyn Output>),
    /// A sweep computed in memory, and its manifest (`sweep.json`).
    Sweep {
        sweep: Sweep,
        evaluated: Vec<aedyn::sweep::Evaluated>,
        manifest: String,
    },
}

impl Finished {
    /// Write the CLI's folder for it.
    fn save(&self, dir: &Path) -> aedyn::Result<()> {
        match self {
            Finished::Command(out) => out.save(dir),
            Finished::Sweep {
                sweep, evaluated, ..
            } => aedyn::sweep::save(sweep, evaluated, dir).map(drop),
        }
    }

    /// Its record as Python (through `json.loads`, so numbers round-trip exactly).
    fn meta(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = match self {
            Finished::Command(out) => serde_json::to_string(out.record().1)
                .map_err(|e| AedynError::new_err(e.to_string()))?,
            Finished::Sweep { manifest, .. } => manifest.clone(),
        };
        Ok(py
            .import("json")?
            .getattr("loads")?
            .call1((text,))?
            .unbind())
    }
}

/// The result of a command, in memory: its tables (`result.tables`, by CSV file stem), the
/// main one's columns directly (`result["test_error"]`, `result.index`, `result.columns`;
/// the main table is `theory` for `theory`, `sim` for `simulate` and `compare`, `validate`,
/// `sweep`), its record as a dict (`result.meta`: what `run.json`, `compare.json`,
/// `validate.json` or `sweep.json` holds) and `save(dir)`, which writes exactly the CLI's
/// files without running anything again.
#[pyclass(module = "aedyn", name = "Result", frozen)]
struct PyResult_ {
    command: &'static str,
    /// The tables' file stems, in writing order.
    names: Vec<String>,
    /// The tables as numpy arrays, each made on first use.
    tables: Vec<PyOnceLock<Py<PyTable>>>,
    main: usize,
    /// The record as Python, made on first use.
    meta: PyOnceLock<Py<PyAny>>,
    finished: Finished,
}

impl PyResult_ {
    /// The result of a command's [`Output`]: its tables and record, and `save` through
    /// [`Output::save`]. Nothing is converted yet: a table becomes numpy arrays when it is
    /// first used, the record a dict.
    fn of<O: Output + 'static>(command: &'static str, main: &str, out: O) -> Self {
        let names: Vec<String> = out.tables().into_iter().map(|(stem, _)| stem).collect();
        PyResult_ {
            command,
            main: names.iter().position(|n| n == main).unwrap_or(0),
            tables: names.iter().map(|_| PyOnceLock::new()).collect(),
            names,
            meta: PyOnceLock::new(),
            finished: Finished::Command(Box::new(out)),
        }
    }

    /// Table `i`, converted on first use.
    fn table_at(&self, py: Python<'_>, i: usize) -> PyResult<&Py<PyTable>> {
        let cell = self.tables.get(i).ok_or_else(|| {
            AedynError::new_err(format!("this {} result has no table", self.command))
        })?;
        cell.get_or_try_init(py, || match &self.finished {
            Finished::Command(out) => {
                let tables = out.tables();
                let (stem, parts) = &tables[i];
                Py::new(py, PyTable::from_runs(py, stem, parts))
            }
            Finished::Sweep { .. } => unreachable!("a sweep's table is made with the result"),
        })
    }

    fn main_table<'a>(&'a self, py: Python<'_>) -> PyResult<&'a PyTable> {
        Ok(self.table_at(py, self.main)?.get())
    }
}

#[pymethods]
impl PyResult_ {
    /// The command: "theory", "simulate", "compare", "validate" or "sweep".
    #[getter]
    fn command(&self) -> &str {
        self.command
    }

    /// The record as a dict: what the command's JSON file holds (version, config, seeds,
    /// per-seed status, deviations, fits, wall time, …).
    #[getter]
    fn meta(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let meta = self.meta.get_or_try_init(py, || self.finished.meta(py))?;
        Ok(meta.clone_ref(py))
    }

    /// Every table by CSV file stem (a dict of `aedyn.Table`).
    #[getter]
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (i, name) in self.names.iter().enumerate() {
            d.set_item(name, self.table_at(py, i)?.bind(py))?;
        }
        Ok(d)
    }

    /// The main table (`theory`, `sim`, `validate` or `sweep`).
    #[getter]
    fn table(&self, py: Python<'_>) -> PyResult<Py<PyTable>> {
        Ok(self.table_at(py, self.main)?.clone_ref(py))
    }

    /// The main table's index (time or step).
    #[getter]
    fn index(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.main_table(py)?.index(py))
    }

    /// The main table's observable columns.
    #[getter]
    fn columns(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self.main_table(py)?.columns())
    }

    /// to_pandas()
    ///
    /// The main table as a pandas DataFrame (needs pandas).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.main_table(py)?.to_pandas(py)
    }

    /// save(dir)
    ///
    /// Write the CLI's output folder for this result (the same files, through the same
    /// writer; nothing is run again). For theory/simulate/compare/validate the folder is
    /// written atomically and must be new, empty or a previous aedyn run; a sweep writes its
    /// tasks' files, `sweep.csv` and `sweep.json` into it as `aedyn sweep` does.
    fn save(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        py.detach(|| self.finished.save(&dir)).or_py()
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        self.main_table(py)?.__getitem__(py, key)
    }

    fn __contains__(&self, py: Python<'_>, key: &str) -> bool {
        self.main_table(py).is_ok_and(|t| t.__contains__(key))
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.main_table(py).map_or(0, |t| t.rows)
    }

    fn __repr__(&self) -> String {
        format!(
            "aedyn.Result({}: tables {})",
            self.command,
            self.names.join(", ")
        )
    }
}

// ---------------------------------------------------------------------------------------
// The commands.

/// The validated experiment of a config (with `init.seed` = `seed` when given), built with
/// the GIL released; its warnings (legal but outside the theory's regime) are raised as
/// Python `UserWarning`s, as the CLI prints them.
fn experiment(py: Python<'_>, config: &Config, seed: Option<u64>) -> PyResult<Arc<dyn Dynamics>> {
    let c = config.seeded(seed)?;
    let exp: Arc<dyn Dynamics> = py.detach(|| c.experiment()).or_py()?.into();
    for w in exp.warnings() {
        let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
        PyErr::warn(
            py,
            &category,
            &std::ffi::CString::new(w).unwrap_or_default(),
            1,
        )?;
    }
    Ok(exp)
}

/// Failed seeds of a simulation as the CLI reports them: `DivergenceError` when every
/// failure is a divergence, else `AedynError`; the finished seeds' result is attached as
/// the exception's `result`.
fn seed_failures(
    py: Python<'_>,
    failures: &[(u64, aedyn::Error)],
    total: usize,
    result: PyResult_,
) -> PyResult<PyErr> {
    let mut lines: Vec<String> = failures
        .iter()
        .map(|(s, e)| format!("seed {s} failed: {e}"))
        .collect();
    lines.push(format!("{} of {total} seeds failed", failures.len()));
    let message = lines.join("\n");
    let err = if failures
        .iter()
        .all(|(_, e)| matches!(e, aedyn::Error::Diverged { .. }))
    {
        DivergenceError::new_err(message)
    } else {
        AedynError::new_err(message)
    };
    err.value(py).setattr("result", Py::new(py, result)?)?;
    Ok(err)
}

/// Failed seeds and the number of finished ones, beside a command's output.
type Replicated<O> = (O, Vec<(u64, aedyn::Error)>, usize);

/// A replicated command's work: the experiment, the number of seeds, progress.
type ReplicatedRun<O> =
    fn(&dyn Dynamics, Option<usize>, aedyn::base::Progress) -> aedyn::Result<Replicated<O>>;

/// A command over replicate seeds (`simulate`, `compare`): run interruptibly, then raise for
/// failed seeds as the CLI reports them (the finished seeds attached to the exception).
fn replicated<O: commands::Output + 'static>(
    py: Python<'_>,
    config: &Config,
    seeds: Option<usize>,
    seed: Option<u64>,
    progress: Option<&Bound<'_, PyAny>>,
    command: &'static str,
    run: ReplicatedRun<O>,
) -> PyResult<PyResult_> {
    let exp = experiment(py, config, seed)?;
    let total = commands::simulation_work(exp.as_ref(), seeds);
    let (out, failures, finished) =
        run_interruptible(py, progress, total, move |p| run(exp.as_ref(), seeds, p))?;
    let result = PyResult_::of(command, "sim", out);
    if failures.is_empty() {
        Ok(result)
    } else {
        Err(seed_failures(
            py,
            &failures,
            failures.len() + finished,
            result,
        )?)
    }
}

/// theory(config, seed=None, progress=None)
///
/// The limit theory from replicate 0's initial state (`aedyn theory`); `seed` sets
/// `init.seed`. `progress` is called with (done, total) work units. Returns a `Result` with
/// the tables `theory` (main) and the model's extra tables.
#[pyfunction]
#[pyo3(signature = (config, seed=None, progress=None))]
fn theory(
    py: Python<'_>,
    config: &Config,
    seed: Option<u64>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyResult_> {
    let exp = experiment(py, config, seed)?;
    let total = exp.work(Source::Theory);
    let out = run_inline(py, progress, total, |p| {
        commands::run_theory(exp.as_ref(), p)
    })?;
    Ok(PyResult_::of("theory", "theory", out))
}

/// simulate(config, seeds=None, seed=None, progress=None)
///
/// Finite-size training of `seeds` replicates (default: the config's `simulation.seeds`)
/// in parallel (`aedyn simulate`). Returns a `Result` with the tables `sim` (main, with a
/// `seed` column) and the model's extra tables. Failed seeds raise `DivergenceError` (or
/// `AedynError`) carrying the finished seeds as `err.result`.
#[pyfunction]
#[pyo3(signature = (config, seeds=None, seed=None, progress=None))]
fn simulate(
    py: Python<'_>,
    config: &Config,
    seeds: Option<usize>,
    seed: Option<u64>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyResult_> {
    replicated(
        py,
        config,
        seeds,
        seed,
        progress,
        "simulate",
        |exp, seeds, p| {
            let mut out = commands::run_simulate(exp, seeds, p)?;
            let failures = std::mem::take(&mut out.sim.failures);
            let finished = out.sim.runs.len();
            Ok((out, failures, finished))
        },
    )
}

/// compare(config, seeds=None, seed=None, progress=None)
///
/// Simulate the replicates and compute each one's theory from the same initial state
/// (`aedyn compare`). Returns a `Result` with the tables `sim` (main), the model's extra
/// tables and `theory`; `meta["observables"]` holds the deviations. Failed seeds raise as
/// in `simulate`.
#[pyfunction]
#[pyo3(signature = (config, seeds=None, seed=None, progress=None))]
fn compare(
    py: Python<'_>,
    config: &Config,
    seeds: Option<usize>,
    seed: Option<u64>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyResult_> {
    replicated(
        py,
        config,
        seeds,
        seed,
        progress,
        "compare",
        |exp, seeds, p| {
            let mut out = commands::run_compare(exp, seeds, p)?;
            let failures = std::mem::take(&mut out.sim.failures);
            let finished = out.cmp.pairs.len();
            Ok((out, failures, finished))
        },
    )
}

/// validate(config, sizes=None, seeds=4, seed=None, progress=None)
///
/// Theory against simulation at each size (the model's size key, e.g. `data.dim`; default
/// sizes: the model's), `seeds` seeds each, and the power-law fit of the deviation
/// (`aedyn validate`). Returns a `Result` with the table `validate` (one row per size) and
/// the fits in `meta["validation"]`.
#[pyfunction]
#[pyo3(signature = (config, sizes=None, seeds=4, seed=None, progress=None))]
fn validate(
    py: Python<'_>,
    config: &Config,
    sizes: Option<Vec<usize>>,
    seeds: usize,
    seed: Option<u64>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyResult_> {
    let c = config.seeded(seed)?;
    let sizes = match sizes {
        Some(s) => s,
        None => experiment(py, &c, None)?.default_sizes(),
    };
    let total = sizes.len() as u64;
    let out = run_interruptible(py, progress, total, move |p| {
        commands::run_validate(&c.table, &c.base, &sizes, seeds, p)
    })?;
    Ok(PyResult_::of("validate", "validate", out))
}

/// sweep(config, progress=None)
///
/// The parameter sweep of the config's `[sweep]` section, every task (point × seed) in
/// parallel, in memory (`aedyn sweep` without its files). Returns a `Result` whose table
/// `sweep` holds the rows of `sweep.csv` as arrays (numbers and axis values as float, `seed`
/// as uint64, `diverged` as bool, text as str); `save(dir)` writes the sweep's folder.
#[pyfunction]
#[pyo3(signature = (config, progress=None))]
fn sweep(
    py: Python<'_>,
    config: &Config,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyResult_> {
    let (sweep, tasks) = py
        .detach(|| {
            let s = config.sweep()?;
            let tasks = s.tasks()?;
            Ok((s, tasks))
        })
        .or_py()?;
    let total = tasks.len() as u64;
    let (sweep, evaluated) = run_interruptible(py, progress, total, move |p| {
        let evaluated = aedyn::sweep::evaluate_all(&sweep, tasks, p);
        Ok((sweep, evaluated))
    })?;
    let pairs: Vec<_> = evaluated.iter().map(|(t, r, _)| (t, r)).collect();
    let (header, cells) = aedyn::sweep::rows(&sweep, &pairs);
    let table = Py::new(py, PyTable::from_cells(py, header, &cells)?)?;
    let manifest = aedyn::sweep::manifest(&sweep, evaluated.len(), &[]);
    let cell = PyOnceLock::new();
    let _ = cell.set(py, table);
    Ok(PyResult_ {
        command: "sweep",
        names: vec!["sweep".into()],
        tables: vec![cell],
        main: 0,
        meta: PyOnceLock::new(),
        finished: Finished::Sweep {
            sweep,
            evaluated,
            manifest,
        },
    })
}

/// reproduce(names=None, out="plots", quick=False, progress=None)
///
/// Write the paper-style figures (all, or those named) into `out`, each as PNG, SVG and
/// the CSV of its plotted data (`aedyn reproduce`); `quick` draws the small versions where a
/// figure has one (`--quick`). Returns the names written. `figures()` lists them.
#[pyfunction]
#[pyo3(signature = (names=None, out=PathBuf::from("plots"), quick=false, progress=None))]
fn reproduce(
    py: Python<'_>,
    names: Option<Vec<String>>,
    out: PathBuf,
    quick: bool,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<String>> {
    let names = names.unwrap_or_default();
    for n in &names {
        aedyn::reproduce::figure(n).or_py()?;
    }
    let total = if names.is_empty() {
        aedyn::reproduce::FIGURES.len()
    } else {
        names.len()
    } as u64;
    run_interruptible(py, progress, total, move |p| {
        aedyn::reproduce::reproduce(&out, &names, quick, p)
    })
}

/// figures()
///
/// The figures of `reproduce`: a list of (name, model, description).
#[pyfunction]
fn figures() -> Vec<(&'static str, &'static str, &'static str)> {
    aedyn::reproduce::FIGURES
        .iter()
        .map(|f| (f.name, f.model, f.about))
        .collect()
}

/// The extension module of the `aedyn` package.
#[pymodule]
fn _aedyn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", commands::VERSION)?;
    m.add("AedynError", py.get_type::<AedynError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("DivergenceError", py.get_type::<DivergenceError>())?;
    m.add_class::<Config>()?;
    m.add_class::<PyTable>()?;
    m.add_class::<PyResult_>()?;
    for f in [
        wrap_pyfunction!(default_config, m)?,
        wrap_pyfunction!(models, m)?,
        wrap_pyfunction!(theory, m)?,
        wrap_pyfunction!(simulate, m)?,
        wrap_pyfunction!(compare, m)?,
        wrap_pyfunction!(validate, m)?,
        wrap_pyfunction!(sweep, m)?,
        wrap_pyfunction!(reproduce, m)?,
        wrap_pyfunction!(figures, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
