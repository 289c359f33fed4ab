//! The mean-field model's config: [`Params`] is the unchecked file content (sections
//! `[data] [network] [training] [init] [output] [theory] [simulation]`, keys as documented in
//! [`DEFAULT_CONFIG`]); [`Params::check`] validates it into a [`MeanFieldExperiment`]. This is
//! the only place of the mean-field wing that names config keys.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{MeanFieldExperiment, MeanFieldModel, MfData, MfKernels, SgdParams, Solver, Symmetry};
use crate::activation::Activation;
use crate::base::grid::TimeGrid;
use crate::dataset::{DataFormat, Dataset};
use crate::error::{Error, Result};

/// The documented default config of the mean-field model.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Default N of the mean-field model.
pub const DEFAULT_NEURONS: usize = 1000;
/// Default SGD step ε (Nguyen 2021's reference experiment: ε = 10⁻³).
pub const DEFAULT_STEP: f64 = 1e-3;
/// Default P of the particle solver.
pub const DEFAULT_PARTICLES: usize = 1000;
/// Default RK4 step of the particle solver (dt ≈ 0.01 resolves the O(1) time scales).
pub const DEFAULT_DT: f64 = 0.01;

/// Kind of input data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Gaussian `N(0, diag κ)` with a block spectrum `data.blocks`.
    #[default]
    Blocks,
    /// A real data matrix (rows are samples).
    Dataset,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataParams {
    /// Data kind.
    pub kind: DataKind,
    /// d.
    pub dim: usize,
    /// `[κ, multiplicity]` blocks (blocks).
    pub blocks: Vec<(f64, usize)>,
    /// Data matrix file (dataset).
    pub path: Option<PathBuf>,
    /// Its format (dataset).
    pub format: DataFormat,
    /// Use only the first rows (dataset).
    pub max_rows: Option<usize>,
    /// Scale to tr Σ̂/d = 1 (dataset).
    pub normalize: bool,
    /// Multiply each draw by a random ±1 (dataset).
    pub sign_flip: bool,
}

impl Default for DataParams {
    fn default() -> Self {
        DataParams {
            kind: DataKind::Blocks,
            dim: 50,
            blocks: vec![(4.0, 5), (2.0, 5), (1.0, 10), (0.1, 30)],
            path: None,
            format: DataFormat::Auto,
            max_rows: None,
            normalize: true,
            sign_flip: false,
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkParams {
    /// N.
    pub neurons: usize,
    /// σ.
    pub activation: Activation,
    /// α.
    pub output_scale: f64,
    /// γ.
    pub preact_scale: f64,
}

impl Default for NetworkParams {
    fn default() -> Self {
        NetworkParams {
            neurons: DEFAULT_NEURONS,
            activation: Activation::Relu,
            output_scale: 1.0,
            preact_scale: 1.0,
        }
    }
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingParams {
    /// λ.
    pub l2: f64,
    /// ε.
    pub step: f64,
    /// B.
    pub batch: usize,
    /// Antithetic minibatches.
    pub antithetic: bool,
}

impl Default for TrainingParams {
    fn default() -> Self {
        TrainingParams {
            l2: 0.3,
            step: DEFAULT_STEP,
            batch: 16,
            antithetic: false,
        }
    }
}

/// `[init]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitParams {
    /// s₀.
    pub std: f64,
    /// Seed of replicate 0.
    pub seed: u64,
    /// Initial law of the neurons.
    pub symmetry: Symmetry,
}

impl Default for InitParams {
    fn default() -> Self {
        InitParams {
            std: 0.1414,
            seed: 0,
            symmetry: Symmetry::Iid,
        }
    }
}

/// `[theory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TheoryParams {
    /// Solver.
    pub solver: Solver,
    /// P.
    pub particles: usize,
    /// RK4 step.
    pub dt: f64,
    /// Gauss–Hermite nodes (default per activation).
    pub quadrature_nodes: Option<usize>,
}

impl Default for TheoryParams {
    fn default() -> Self {
        TheoryParams {
            solver: Solver::Auto,
            particles: DEFAULT_PARTICLES,
            dt: DEFAULT_DT,
            quadrature_nodes: None,
        }
    }
}

/// `[simulation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulationParams {
    /// Number of replicates.
    pub seeds: usize,
}

impl Default for SimulationParams {
    fn default() -> Self {
        SimulationParams { seeds: 2 }
    }
}

/// The mean-field model's config (unchecked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// `[data]`.
    pub data: DataParams,
    /// `[network]`.
    pub network: NetworkParams,
    /// `[training]`.
    pub training: TrainingParams,
    /// `[init]`.
    pub init: InitParams,
    /// `[output]`.
    pub output: TimeGrid,
    /// `[theory]`.
    pub theory: TheoryParams,
    /// `[simulation]`.
    pub simulation: SimulationParams,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            data: DataParams::default(),
            network: NetworkParams::default(),
            training: TrainingParams::default(),
            init: InitParams::default(),
            output: TimeGrid {
                t_max: 8.0,
                points: 33,
                spacing: crate::base::grid::Spacing::Linear,
                t_min: 0.01,
            },
            theory: TheoryParams::default(),
            simulation: SimulationParams::default(),
        }
    }
}

fn positive(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::config(
            field,
            format!("must be a finite number > 0, got {v}"),
        ))
    }
}

crate::model_params!(Params, MeanFieldExperiment, super::KIND);

/// Largest accepted ε·tr Σ (SGD step times the input power E‖x‖²): beyond 1 a single
/// sample's update of a neuron is as large as the input itself (the per-sample curvature of
/// the linear part is ∝ ‖x‖², and a gradient step past 2/‖x‖² overshoots), far outside the
/// small-step (mean-field ODE) regime; the reference experiment has 0.043.
const STEP_POWER_LIMIT: f64 = 1.0;

impl Params {
    /// The memory every command needs at least (bytes by key; see [`crate::resources`]):
    /// the d×d covariance and the particles' d-vectors with their velocity workspaces
    /// (`data.dim`), the pair sums' row tiles on each worker thread (`theory.particles`; never
    /// the P×P kernels at once, docs/mean-field.md §2.4), the N neurons'
    /// weights (`network.neurons`) and the output table (`output.points`).
    pub fn memory(&self) -> crate::resources::Estimate {
        use crate::resources::F64;
        let d = self.data.dim as f64;
        let particles = self.theory.particles as f64;
        let n = self.network.neurons as f64;
        let blocks = self.data.blocks.len() as f64;
        let (workers, tile) = (
            rayon::current_num_threads() as f64,
            super::particles::TILE as f64,
        );
        vec![
            ("data.dim", F64 * d * (d + 6.0 * particles)),
            // per worker thread: a tile's G and Bm chunk blocks (2·TILE·CHUNK ≤ 2·TILE·P) and
            // a finished tile's sums (≤ 2·P·d)
            (
                "theory.particles",
                F64 * workers * particles * (2.0 * tile + 2.0 * d),
            ),
            ("network.neurons", F64 * 4.0 * n * d),
            (
                "output.points",
                F64 * self.output.points as f64 * (8.0 + blocks),
            ),
        ]
    }

    /// Parse a TOML config; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        crate::base::config::params_from_toml(text, origin, super::KIND)
    }

    /// Make the relative paths absolute against `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = self.data.path.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
    }

    /// Validate everything and build the experiment.
    pub fn check(&self) -> Result<MeanFieldExperiment> {
        let (d, n, t, i, th) = (
            &self.data,
            &self.network,
            &self.training,
            &self.init,
            &self.theory,
        );
        let data = match d.kind {
            DataKind::Blocks => {
                if d.path.is_some() {
                    return Err(Error::config(
                        "data.path",
                        "only allowed with data.kind = \"dataset\"",
                    ));
                }
                if d.sign_flip {
                    return Err(Error::config(
                        "data.sign_flip",
                        "only allowed with data.kind = \"dataset\" (Gaussian blocks are sign-symmetric)",
                    ));
                }
                if d.blocks.is_empty() {
                    return Err(Error::config("data.blocks", "needs at least one block"));
                }
                for (j, &(kappa, m)) in d.blocks.iter().enumerate() {
                    if !(kappa.is_finite() && kappa >= 0.0) {
                        return Err(Error::config(
                            format!("data.blocks.{j}"),
                            format!("eigenvalue κ must be a finite number ≥ 0, got {kappa}"),
                        ));
                    }
                    if m == 0 {
                        return Err(Error::config(
                            format!("data.blocks.{j}"),
                            "multiplicity must be ≥ 1",
                        ));
                    }
                }
                if d.blocks.iter().all(|&(kappa, _)| kappa == 0.0) {
                    return Err(Error::config(
                        "data.blocks",
                        "every eigenvalue κ is 0: the inputs would all be zero",
                    ));
                }
                MfData::blocks(&d.blocks).map_err(|e| e.at("data.blocks"))?
            }
            DataKind::Dataset => {
                let path = d.path.as_ref().ok_or_else(|| {
                    Error::config("data.path", "required with data.kind = \"dataset\"")
                })?;
                if d.max_rows.is_some_and(|r| r < 2) {
                    return Err(Error::config("data.max_rows", "must be ≥ 2"));
                }
                let x = Dataset::load(path, d.format, d.max_rows)
                    .map_err(|e| e.within("data"))?
                    .matrix();
                if x.nrows() < 2 || x.ncols() < 1 {
                    return Err(Error::config(
                        "data.path",
                        format!(
                            "needs ≥ 2 samples and ≥ 1 column, got {}×{}",
                            x.nrows(),
                            x.ncols()
                        ),
                    ));
                }
                MfData::from_samples(&x, d.normalize, d.sign_flip).map_err(|e| e.at("data.path"))?
            }
        };
        if data.dim() != d.dim {
            return Err(Error::config(
                "data.dim",
                format!("is {}, but the data have dimension {}", d.dim, data.dim()),
            ));
        }
        if n.neurons == 0 {
            return Err(Error::config("network.neurons", "must be ≥ 1"));
        }
        let model = MeanFieldModel {
            activation: n.activation,
            alpha: positive("network.output_scale", n.output_scale)?,
            gamma: positive("network.preact_scale", n.preact_scale)?,
            lambda: t.l2,
        };
        if !(t.l2.is_finite() && t.l2 >= 0.0) {
            return Err(Error::config(
                "training.l2",
                format!("must be a finite number ≥ 0, got {}", t.l2),
            ));
        }
        if t.batch == 0 || (t.antithetic && t.batch % 2 != 0) {
            return Err(Error::config(
                "training.batch",
                format!(
                    "must be ≥ 1 (and even with training.antithetic), got {}",
                    t.batch
                ),
            ));
        }
        let sgd = SgdParams {
            step: positive("training.step", t.step)?,
            batch: t.batch,
            antithetic: t.antithetic,
        };
        if !(i.std.is_finite() && i.std >= 0.0) {
            return Err(Error::config(
                "init.std",
                format!("must be a finite number ≥ 0, got {}", i.std),
            ));
        }
        if i.symmetry != Symmetry::Iid && n.neurons % 2 != 0 {
            return Err(Error::config(
                "network.neurons",
                format!(
                    "must be even with init.symmetry = paired/whitened, got {}",
                    n.neurons
                ),
            ));
        }
        if i.symmetry == Symmetry::Whitened && n.neurons < 2 * data.dim() {
            return Err(Error::config(
                "network.neurons",
                format!(
                    "must be ≥ 2d = {} with init.symmetry = \"whitened\"",
                    2 * data.dim()
                ),
            ));
        }
        if th.particles % 2 != 0 || th.particles < 2 * data.dim() {
            return Err(Error::config(
                "theory.particles",
                format!(
                    "must be even and ≥ 2d = {} (whitened paired particles), got {}",
                    2 * data.dim(),
                    th.particles
                ),
            ));
        }
        let quadrature_nodes = th
            .quadrature_nodes
            .unwrap_or_else(|| n.activation.default_quadrature_nodes());
        MfKernels::new(n.activation, quadrature_nodes)
            .map_err(|e| Error::config("theory.quadrature_nodes", e.to_string()))?;
        if self.simulation.seeds == 0 {
            return Err(Error::config("simulation.seeds", "must be ≥ 1"));
        }
        let times = self.output.times("output")?;
        let power = sgd.step * data.trace();
        if power > STEP_POWER_LIMIT {
            return Err(Error::config(
                "training.step",
                format!(
                    "ε·tr Σ = {} × {:.4} = {power:.3} is far above the stable range (≲ \
                     {STEP_POWER_LIMIT}): one SGD step would move the weights by more than the \
                     input's scale; the mean-field limit needs ε·tr Σ ≪ 1",
                    sgd.step,
                    data.trace()
                ),
            ));
        }
        let mut warnings = Vec::new();
        let spacing = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        if sgd.step > spacing {
            warnings.push(format!(
                "training.step = {} is larger than the smallest output interval {spacing:.3e}: \
                 the simulation's rows round to whole steps, so some repeat",
                sgd.step
            ));
        }
        let exp = MeanFieldExperiment {
            warnings,
            params: self.clone(),
            model,
            data,
            neurons: n.neurons,
            init_std: i.std,
            symmetry: i.symmetry,
            sgd,
            times,
            solver: th.solver,
            particles: th.particles,
            dt: positive("theory.dt", th.dt)?,
            quadrature_nodes,
            seed: i.seed,
            seeds: self.simulation.seeds,
        };
        exp.uses_logistic().map_err(|e| e.at("theory.solver"))?;
        Ok(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_equals_built_in_defaults() {
        let p = Params::from_toml(DEFAULT_CONFIG, Path::new("default.toml")).unwrap();
        assert_eq!(p, Params::default());
        p.check().unwrap();
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        for (text, field) in [
            ("[data]\nblocks = [[1.0, 0]]\ndim = 0\n", "data.blocks"),
            ("[data]\nblocks = [[-1.0, 50]]\n", "data.blocks"),
            ("[data]\ndim = 49\n", "data.dim"),
            ("[network]\nneurons = 0\n", "network.neurons"),
            ("[training]\nstep = 0.0\n", "training.step"),
            ("[training]\nl2 = -1.0\n", "training.l2"),
            ("[theory]\nparticles = 3\n", "theory.particles"),
            (
                "[theory]\nquadrature_nodes = 1\n",
                "theory.quadrature_nodes",
            ),
            (
                "[network]\nactivation = \"erf\"\n[theory]\nsolver = \"logistic\"\n",
                "theory.solver",
            ),
        ] {
            let e = Params::from_toml(text, Path::new("x.toml"))
                .unwrap()
                .check()
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }
}
