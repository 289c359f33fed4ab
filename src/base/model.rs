//! The model interface. Every learning-dynamics model of aedyn implements [`Dynamics`] on its
//! validated experiment type; the commands (`theory`, `simulate`, `compare`, `validate`,
//! `sweep`), the Python bindings and the figure code are written once against it. A model
//! is registered in [`crate::registry`], the only place that matches on `[model] kind`.

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;

use crate::base::compare::Comparison;
use crate::base::table::Table;
use crate::error::Result;
use crate::plot::Figure;

/// A progress callback: called with the number of work units just finished.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A model's typed result kept in memory beside the generic [`Run`] (e.g. its trajectory with
/// every order parameter), for the model's own figures; downcast with
/// [`Payload::get`].
#[derive(Clone, Default)]
pub struct Payload(Option<Arc<dyn Any + Send + Sync>>);

impl Payload {
    /// Wrap a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Payload(Some(Arc::new(value)))
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|v| v.downcast_ref())
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Payload(..)"
        } else {
            "Payload(none)"
        })
    }
}

/// One finished run: the theory, or one simulated replicate.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The replicate seed (of the initial state, for a theory).
    pub seed: u64,
    /// The trajectory (`theory.csv` / `sim.csv` rows of this run).
    pub table: Table,
    /// Further tables, each written as `<name>.csv` (runs concatenated, with a `seed` column
    /// for simulations), e.g. the autoencoder's per-group densities `groups`.
    pub extra: Vec<(String, Table)>,
    /// Further files: path relative to the output folder, content.
    pub files: Vec<(String, Vec<u8>)>,
    /// Facts of this run for `run.json` (steps made, integrator statistics, fitted rates…).
    pub record: Value,
    /// Scalar results for parameter studies (`sweep.csv` columns; NaN = does not exist).
    pub summary: Vec<(String, f64)>,
    /// The model's typed result (see [`Payload`]).
    pub payload: Payload,
}

/// Which side of a model a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The limit theory.
    Theory,
    /// Finite-size training.
    Simulation,
}

/// One validated learning-dynamics experiment: its limit theory, its finite-size training,
/// and what is recorded and compared.
pub trait Dynamics: Send + Sync {
    /// The model's `[model] kind`.
    fn kind(&self) -> &'static str;
    /// The full config (defaults filled in, paths resolved), recorded in every output.
    fn config(&self) -> Value;
    /// The model's facts for `run.json` (spectrum, predictions, …).
    fn record(&self) -> Value;
    /// What is legal but outside the model's regime (printed by the CLI before it runs,
    /// recorded in every output's `warnings`).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Number of replicates when the command does not say (`simulation.seeds`).
    fn default_seeds(&self) -> usize;
    /// The seed of replicate `j`.
    fn replicate_seed(&self, j: usize) -> u64;
    /// Progress units of one run of `source` (0 = unknown).
    fn work(&self, source: Source) -> u64;
    /// Training steps of one simulated replicate (for `steps_per_second`); by default its
    /// progress units.
    fn simulation_steps(&self) -> u64 {
        self.work(Source::Simulation)
    }
    /// The limit theory, from the initial state of replicate seed `seed`.
    fn theory(&self, seed: u64, progress: Progress) -> Result<Run>;
    /// Finite-size training of replicate seed `seed`.
    fn simulate(&self, seed: u64, progress: Progress) -> Result<Run>;
    /// The theory matched to a finished simulation (same initial state, same output grid);
    /// by default `theory(sim.seed)`.
    fn theory_for(&self, sim: &Run, progress: Progress) -> Result<Run> {
        self.theory(sim.seed, progress)
    }
    /// Whether the theory depends on the replicate seed (if not, `compare` computes it once).
    fn theory_per_seed(&self) -> bool {
        true
    }
    /// The file format of the trajectory tables (`output.format`; CSV unless the model
    /// offers a choice).
    fn output_format(&self) -> crate::base::table::OutputFormat {
        crate::base::table::OutputFormat::Csv
    }
    /// The observables compared between simulation and theory, as (simulation column,
    /// theory column) — usually the same name; the first is the headline observable (its
    /// deviation is what `validate` fits by default).
    fn compared(&self) -> Vec<(String, String)>;
    /// Model-specific results of a comparison (fitted rates, slopes …) for `compare.json`.
    fn compare_extra(&self, _cmp: &Comparison) -> Result<Value> {
        Ok(Value::Null)
    }
    /// The comparison figure (`compare.png`), theory as lines and simulation as markers.
    fn compare_figure(&self, cmp: &Comparison) -> Option<Figure>;
    /// The dotted config key of the size that `validate` varies (`data.dim`, …).
    fn size_key(&self) -> &'static str;
    /// The sizes `validate` uses when none are given.
    fn default_sizes(&self) -> Vec<usize>;
    /// What `validate` fits against the size, from one size's comparison: name, value and
    /// its standard error over seeds (NaN if none). By default the headline observable's
    /// normalised max deviation, mean over seeds.
    fn validation_metrics(&self, cmp: &Comparison) -> Vec<(String, f64, f64)> {
        let head = self.compared().into_iter().next().unwrap_or_default().0;
        let norms: Vec<f64> = cmp
            .summary(&head)
            .map(|s| s.per_seed.iter().filter_map(|(_, d)| d.max_norm).collect())
            .unwrap_or_default();
        let (m, se) = crate::base::compare::mean_se(&norms);
        vec![(format!("{head}_max_norm"), m, se)]
    }
}
