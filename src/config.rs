//! Experiment configuration: one TOML file describes an experiment for `aedyn theory`,
//! `aedyn simulate` and `aedyn compare`. [`Config`] is the unchecked file content;
//! [`Config::resolve`] turns it into a validated [`Experiment`] before any numerics run.
//! The embedded default, with every field documented, is [`DEFAULT_CONFIG`].

use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::dataset::{Centering, DataFormat, Dataset, Sampling};
use crate::error::{Error, Result};
use crate::io;
use crate::mean_field::{MeanFieldExperiment, MeanFieldModel, MfData, SgdParams, Solver, Symmetry};
use crate::model::{Model, Rule};
use crate::spectrum::{Covariance, SpikeDirections, SpikedParams};
use crate::theory::{InitialState, Tolerances};
use crate::trajectory::GroupDensity;

/// The default config file, with every field documented.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Kind of input data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Spikes plus an isotropic bulk.
    Spiked,
    /// Eigenvalues (and eigenvectors) from files.
    Eigen,
    /// A real data matrix (rows are samples).
    Dataset,
    /// Gaussian with a block spectrum `blocks` (mean-field model only).
    Blocks,
}

/// What the simulator trains on with `data.kind = "dataset"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Inputs {
    /// The data's own samples, drawn uniformly with replacement.
    #[default]
    Samples,
    /// Gaussian surrogates `N(0, Ω)` with the data's second moment Ω.
    Gaussian,
}

/// Which model an experiment trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The shallow autoencoder of Refinetti & Goldt (spec `autoencoder-ode.md`).
    #[default]
    Autoencoder,
    /// The weight-tied mean-field autoencoder of Nguyen (spec `mean-field.md`).
    MeanField,
}

/// `[model]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Kind.
    pub kind: ModelKind,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Data kind.
    pub kind: DataKind,
    /// D.
    pub dim: usize,
    /// θ_m (spiked).
    pub spikes: Vec<f64>,
    /// b (spiked).
    pub bulk: f64,
    /// Normalise tr Ω/D = 1 (spiked).
    pub normalize: bool,
    /// Spike directions (spiked).
    pub directions: SpikeDirections,
    /// Seed of random spike directions.
    pub seed: u64,
    /// Eigenvalue file (eigen).
    pub eigenvalues: Option<PathBuf>,
    /// Eigenvector file (eigen).
    pub eigenvectors: Option<PathBuf>,
    /// Number of spectrum bins (eigen, dataset).
    pub bins: Option<usize>,
    /// Data matrix file (dataset).
    pub path: Option<PathBuf>,
    /// Its format (dataset).
    pub format: DataFormat,
    /// Centring (dataset).
    pub center: Centering,
    /// Use only the first rows (dataset).
    pub max_rows: Option<usize>,
    /// Training inputs of the simulator (dataset).
    pub inputs: Inputs,
    /// How the simulator draws the samples (dataset).
    pub sampling: Sampling,
    /// `[κ, multiplicity]` blocks (blocks).
    pub blocks: Option<Vec<(f64, usize)>>,
    /// Multiply each draw by a random ±1 (dataset, mean-field).
    pub sign_flip: Option<bool>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            kind: DataKind::Spiked,
            dim: 1000,
            spikes: vec![25.0, 9.0],
            bulk: 1.0,
            normalize: true,
            directions: SpikeDirections::Random,
            seed: 0,
            eigenvalues: None,
            eigenvectors: None,
            bins: None,
            path: None,
            format: DataFormat::Auto,
            center: Centering::Scalar,
            max_rows: None,
            inputs: Inputs::Samples,
            sampling: Sampling::Replacement,
            blocks: None,
            sign_flip: None,
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// K.
    pub hidden: usize,
    /// g.
    pub activation: Activation,
    /// Tied weights.
    pub tied: bool,
    /// N (mean-field).
    pub neurons: Option<usize>,
    /// α (mean-field).
    pub output_scale: Option<f64>,
    /// γ (mean-field).
    pub preact_scale: Option<f64>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            hidden: 2,
            activation: Activation::Erf,
            tied: false,
            neurons: None,
            output_scale: None,
            preact_scale: None,
        }
    }
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// η.
    pub lr: f64,
    /// wd.
    pub weight_decay: f64,
    /// Rule.
    pub rule: Rule,
    /// η_b.
    pub bias_lr: Option<f64>,
    /// Minibatch size B.
    pub batch: usize,
    /// λ (mean-field).
    pub l2: Option<f64>,
    /// ε (mean-field).
    pub step: Option<f64>,
    /// Antithetic minibatches (mean-field).
    pub antithetic: Option<bool>,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            lr: 0.4,
            weight_decay: 0.0,
            rule: Rule::Sgd,
            bias_lr: None,
            batch: 1,
            l2: None,
            step: None,
            antithetic: None,
        }
    }
}

/// Kind of initial condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitKind {
    /// iid Gaussian weights from a seed.
    Random,
    /// Weights from files.
    Weights,
    /// Per-group densities.
    Densities,
}

/// One group's initial densities (`[[init.groups]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInit {
    /// q_G (K×K).
    pub q: Vec<Vec<f64>>,
    /// r_G (K×K, decoder index first).
    pub r: Vec<Vec<f64>>,
    /// t_G (K×K).
    pub t: Vec<Vec<f64>>,
}

/// `[init]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitConfig {
    /// Kind.
    pub kind: InitKind,
    /// σ0.
    pub std: f64,
    /// Seed.
    pub seed: u64,
    /// W0 file.
    pub encoder: Option<PathBuf>,
    /// V0 file.
    pub decoder: Option<PathBuf>,
    /// Initial β.
    pub bias: Option<Vec<f64>>,
    /// Per-group densities.
    pub groups: Option<Vec<GroupInit>>,
    /// Sign symmetry of the initial neurons (mean-field).
    pub symmetry: Option<Symmetry>,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig {
            kind: InitKind::Random,
            std: 0.1,
            seed: 0,
            encoder: None,
            decoder: None,
            bias: None,
            groups: None,
            symmetry: None,
        }
    }
}

/// Spacing of output times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Equally spaced from 0 to t_max.
    Linear,
    /// t = 0, then log-spaced from t_min to t_max.
    Log,
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Last time.
    pub t_max: f64,
    /// Number of output times.
    pub points: usize,
    /// Spacing.
    pub spacing: Spacing,
    /// First positive time (log spacing).
    pub t_min: f64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            t_max: 100.0,
            points: 121,
            spacing: Spacing::Log,
            t_min: 0.01,
        }
    }
}

/// `[theory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TheoryConfig {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Gauss–Hermite nodes; default per activation
    /// ([`Activation::default_quadrature_nodes`]).
    pub quadrature_nodes: Option<usize>,
    /// Theory solver (mean-field).
    pub solver: Option<Solver>,
    /// P of the particle solver (mean-field).
    pub particles: Option<usize>,
    /// RK4 step of the particle solver (mean-field).
    pub dt: Option<f64>,
}

impl Default for TheoryConfig {
    fn default() -> Self {
        let t = Tolerances::default();
        TheoryConfig {
            rtol: t.rtol,
            atol: t.atol,
            quadrature_nodes: None,
            solver: None,
            particles: None,
            dt: None,
        }
    }
}

/// `[simulation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulationConfig {
    /// Number of replicates.
    pub seeds: usize,
    /// Held-out test inputs.
    pub test_samples: usize,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            seeds: 1,
            test_samples: 10_000,
        }
    }
}

/// The whole config file (unchecked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[model]`.
    pub model: ModelConfig,
    /// `[data]`.
    pub data: DataConfig,
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[training]`.
    pub training: TrainingConfig,
    /// `[init]`.
    pub init: InitConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[theory]`.
    pub theory: TheoryConfig,
    /// `[simulation]`.
    pub simulation: SimulationConfig,
}

/// Validated initial condition.
#[derive(Debug, Clone)]
pub enum InitSpec {
    /// iid N(0, std²) weights; replicate seed `seed + j`.
    Random {
        /// σ0.
        std: f64,
        /// Seed of replicate 0.
        seed: u64,
    },
    /// Given weights (K×D each).
    Weights {
        /// W0.
        encoder: DMatrix<f64>,
        /// V0.
        decoder: DMatrix<f64>,
    },
    /// Given group densities.
    Densities(Vec<GroupDensity>),
}

/// A validated experiment: everything the dynamics need, checked.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The config as given (paths resolved), recorded in every output.
    pub config: Config,
    /// The network and training rule.
    pub model: Model,
    /// The data covariance Ω.
    pub covariance: Covariance,
    /// The output times, starting at 0.
    pub times: Vec<f64>,
    /// Integrator tolerances.
    pub tolerances: Tolerances,
    /// Gauss–Hermite nodes.
    pub quadrature_nodes: usize,
    /// Initial condition.
    pub init: InitSpec,
    /// Initial biases.
    pub bias0: Option<DVector<f64>>,
    /// The real data (`data.kind = "dataset"`).
    pub samples: Option<DataSamples>,
}

/// A real dataset, processed (spec §1.1), with the exact covariance of its samples.
#[derive(Debug, Clone)]
pub struct DataSamples {
    /// The centred and scaled samples.
    pub samples: std::sync::Arc<Dataset>,
    /// Ω = X̃ᵀX̃/n with every distinct eigenvalue its own group (the experiment's
    /// `covariance` is this one binned into `data.bins` groups).
    pub covariance: Covariance,
    /// What the simulator trains on.
    pub inputs: Inputs,
}

impl Config {
    /// Parse a TOML config; unknown fields and wrong types are errors naming the field.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::parse(origin, e.to_string()))
    }

    /// Read a config file; relative paths inside it resolve against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut c = Self::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.resolve_paths(base);
        Ok(c)
    }

    /// Make the relative paths of the config absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.data.eigenvalues,
            &mut self.data.eigenvectors,
            &mut self.data.path,
            &mut self.init.encoder,
            &mut self.init.decoder,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The network/training part as a [`Model`] (unvalidated).
    pub fn model(&self) -> Model {
        Model {
            activation: self.network.activation,
            hidden: self.network.hidden,
            lr: self.training.lr,
            weight_decay: self.training.weight_decay,
            rule: self.training.rule,
            bias_lr: self.training.bias_lr,
            tied: self.network.tied,
        }
    }

    /// The data: Ω for the theory, and for `data.kind = "dataset"` the samples with the exact
    /// (unbinned) Ω of their second moment.
    pub fn data(&self) -> Result<(Covariance, Option<DataSamples>)> {
        let d = &self.data;
        let check_unused = |fields: &[(&str, bool)], kinds: &str| -> Result<()> {
            match fields.iter().find(|(_, set)| *set) {
                Some((field, _)) => Err(Error::config(
                    *field,
                    format!("only allowed with data.kind = {kinds}"),
                )),
                None => Ok(()),
            }
        };
        let dataset_fields = [
            ("data.path", d.path.is_some()),
            ("data.format", d.format != DataFormat::Auto),
            ("data.center", d.center != Centering::Scalar),
            ("data.max_rows", d.max_rows.is_some()),
            ("data.inputs", d.inputs != Inputs::Samples),
            ("data.sampling", d.sampling != Sampling::Replacement),
        ];
        match d.kind {
            DataKind::Spiked => {
                check_unused(
                    &[
                        ("data.eigenvalues", d.eigenvalues.is_some()),
                        ("data.eigenvectors", d.eigenvectors.is_some()),
                        ("data.bins", d.bins.is_some()),
                    ],
                    "\"eigen\" or \"dataset\"",
                )?;
                check_unused(&dataset_fields, "\"dataset\"")?;
                let cov = Covariance::spiked(&SpikedParams {
                    dim: d.dim,
                    spikes: d.spikes.clone(),
                    bulk: d.bulk,
                    normalize: d.normalize,
                    directions: d.directions,
                    seed: d.seed,
                })?;
                Ok((cov, None))
            }
            DataKind::Dataset => {
                check_unused(
                    &[
                        ("data.eigenvalues", d.eigenvalues.is_some()),
                        ("data.eigenvectors", d.eigenvectors.is_some()),
                    ],
                    "\"eigen\"",
                )?;
                let path = d.path.as_ref().ok_or_else(|| {
                    Error::config("data.path", "required with data.kind = \"dataset\"")
                })?;
                if d.max_rows.is_some_and(|r| r < 2) {
                    return Err(Error::config("data.max_rows", "must be ≥ 2"));
                }
                if d.inputs == Inputs::Gaussian && d.sampling != Sampling::Replacement {
                    return Err(Error::config(
                        "data.sampling",
                        "applies to data.inputs = \"samples\" only (Gaussian surrogates are drawn independently)",
                    ));
                }
                let mut samples = Dataset::load(path, d.format, d.max_rows)?;
                if samples.dim() != d.dim {
                    return Err(Error::config(
                        "data.dim",
                        format!(
                            "is {}, but the samples in {} have dimension {}",
                            d.dim,
                            path.display(),
                            samples.dim()
                        ),
                    ));
                }
                samples.standardise(d.center, d.normalize)?;
                let (binned, exact) = samples.covariances(d.bins)?;
                Ok((
                    binned,
                    Some(DataSamples {
                        samples: std::sync::Arc::new(samples),
                        covariance: exact,
                        inputs: d.inputs,
                    }),
                ))
            }
            DataKind::Eigen => {
                check_unused(&dataset_fields, "\"dataset\"")?;
                let path = d.eigenvalues.as_ref().ok_or_else(|| {
                    Error::config("data.eigenvalues", "required with data.kind = \"eigen\"")
                })?;
                let mut values = io::read_vector(path)?;
                let vectors = d.eigenvectors.as_deref().map(io::read_matrix).transpose()?;
                if d.normalize {
                    let tr = values.iter().sum::<f64>() / values.len() as f64;
                    if tr > 0.0 {
                        values.iter_mut().for_each(|v| *v /= tr);
                    }
                }
                if values.len() != d.dim {
                    return Err(Error::config(
                        "data.dim",
                        format!(
                            "is {}, but {} has {} eigenvalues",
                            d.dim,
                            path.display(),
                            values.len()
                        ),
                    ));
                }
                Ok((
                    Covariance::from_eigen(&values, vectors.as_ref(), d.bins)?,
                    None,
                ))
            }
            DataKind::Blocks => Err(Error::config(
                "data.kind",
                "\"blocks\" is for model.kind = \"mean-field\"",
            )),
        }
    }

    /// The output times: linear `0..t_max`, or `0` then log-spaced `t_min..t_max`.
    pub fn times(&self) -> Result<Vec<f64>> {
        let o = &self.output;
        if !(o.t_max.is_finite() && o.t_max > 0.0) {
            return Err(Error::config(
                "output.t_max",
                format!("must be a finite number > 0, got {}", o.t_max),
            ));
        }
        if o.points < 2 {
            return Err(Error::config(
                "output.points",
                format!("must be ≥ 2 (t = 0 and t_max), got {}", o.points),
            ));
        }
        let n = o.points;
        Ok(match o.spacing {
            Spacing::Linear => (0..n)
                .map(|i| o.t_max * i as f64 / (n - 1) as f64)
                .collect(),
            Spacing::Log => {
                if !(o.t_min > 0.0 && o.t_min < o.t_max) {
                    return Err(Error::config(
                        "output.t_min",
                        format!("must be in (0, t_max = {}), got {}", o.t_max, o.t_min),
                    ));
                }
                let (a, b) = (o.t_min.ln(), o.t_max.ln());
                // Exact end points: t_min first, t_max last (no roundoff from exp(ln t)).
                std::iter::once(0.0)
                    .chain((0..n - 1).map(|i| match i {
                        _ if i == n - 2 => o.t_max,
                        0 => o.t_min,
                        _ => (a + (b - a) * i as f64 / (n - 2) as f64).exp(),
                    }))
                    .collect()
            }
        })
    }

    /// Validate everything and build the [`Experiment`] (`model.kind = "autoencoder"`).
    pub fn resolve(&self) -> Result<Experiment> {
        if self.model.kind != ModelKind::Autoencoder {
            return Err(Error::config(
                "model.kind",
                "is \"mean-field\": resolve with Config::resolve_mean_field",
            ));
        }
        if let Some(field) = self.mean_field_keys_set().first() {
            return Err(Error::config(
                *field,
                "only applies to model.kind = \"mean-field\"",
            ));
        }
        let model = self.model();
        model.validate()?;
        let (covariance, samples) = self.data()?;
        let times = self.times()?;
        let th = &self.theory;
        if !(th.rtol > 0.0 && th.rtol < 1.0) {
            return Err(Error::config(
                "theory.rtol",
                format!("must be in (0, 1), got {}", th.rtol),
            ));
        }
        if !(th.atol > 0.0 && th.atol.is_finite()) {
            return Err(Error::config(
                "theory.atol",
                format!("must be > 0, got {}", th.atol),
            ));
        }
        let quadrature_nodes = th
            .quadrature_nodes
            .unwrap_or_else(|| model.activation.default_quadrature_nodes());
        let range =
            crate::activation::MIN_QUADRATURE_NODES..=crate::activation::MAX_QUADRATURE_NODES;
        if !range.contains(&quadrature_nodes) {
            return Err(Error::config(
                "theory.quadrature_nodes",
                format!(
                    "must be in {}..={}, got {quadrature_nodes}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        if self.training.batch == 0 {
            return Err(Error::config("training.batch", "must be ≥ 1"));
        }
        if self.simulation.seeds == 0 {
            return Err(Error::config("simulation.seeds", "must be ≥ 1"));
        }
        let k = model.hidden;
        let d = covariance.dim();
        let init = match self.init.kind {
            InitKind::Random => {
                if !(self.init.std.is_finite() && self.init.std >= 0.0) {
                    return Err(Error::config(
                        "init.std",
                        format!("must be a finite number ≥ 0, got {}", self.init.std),
                    ));
                }
                InitSpec::Random {
                    std: self.init.std,
                    seed: self.init.seed,
                }
            }
            InitKind::Weights => {
                let read = |field: &str, p: &Option<PathBuf>| -> Result<DMatrix<f64>> {
                    let p = p.as_ref().ok_or_else(|| {
                        Error::config(field, "required with init.kind = \"weights\"")
                    })?;
                    let m = io::read_matrix(p)?;
                    if m.nrows() != k || m.ncols() != d {
                        return Err(Error::config(
                            field,
                            format!(
                                "{} is {}×{}, expected K×D = {k}×{d}",
                                p.display(),
                                m.nrows(),
                                m.ncols()
                            ),
                        ));
                    }
                    Ok(m)
                };
                if self.data.kind == DataKind::Eigen && self.data.eigenvectors.is_none() {
                    return Err(Error::config(
                        "data.eigenvectors",
                        "required with init.kind = \"weights\": the weights' projections need Ω's eigenvectors",
                    ));
                }
                let tied = model.decoder_tie(d).is_some();
                if tied && self.init.decoder.is_some() {
                    return Err(Error::config(
                        "init.decoder",
                        "not used: the decoder is tied to the encoder (network.tied or training.rule = \"sanger\"); remove it",
                    ));
                }
                let encoder = read("init.encoder", &self.init.encoder)?;
                let decoder = if tied {
                    DMatrix::zeros(k, d)
                } else {
                    read("init.decoder", &self.init.decoder)?
                };
                InitSpec::Weights { encoder, decoder }
            }
            InitKind::Densities => {
                let groups = self.init.groups.as_ref().ok_or_else(|| {
                    Error::config("init.groups", "required with init.kind = \"densities\"")
                })?;
                let dens = groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let m = |name: &str, rows: &Vec<Vec<f64>>| -> Result<DMatrix<f64>> {
                            let field = format!("init.groups.{i}.{name}");
                            if rows.len() != k || rows.iter().any(|r| r.len() != k) {
                                return Err(Error::config(
                                    field,
                                    format!("must be a {k}×{k} matrix"),
                                ));
                            }
                            if rows.iter().flatten().any(|v| !v.is_finite()) {
                                return Err(Error::config(field, "entries must be finite"));
                            }
                            Ok(DMatrix::from_fn(k, k, |a, b| rows[a][b]))
                        };
                        Ok(GroupDensity {
                            q: m("q", &g.q)?,
                            r: m("r", &g.r)?,
                            t: m("t", &g.t)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if let Some(kappa) = model.decoder_tie(d) {
                    check_tied_densities(&dens, kappa / (d as f64).sqrt())?;
                }
                InitSpec::Densities(dens)
            }
        };
        let bias0 = match (&self.init.bias, model.bias_lr) {
            (Some(b), Some(_)) if b.len() == k => Some(DVector::from_vec(b.clone())),
            (Some(b), Some(_)) => {
                return Err(Error::config(
                    "init.bias",
                    format!("has {} entries, expected K = {k}", b.len()),
                ))
            }
            (Some(_), None) => {
                return Err(Error::config(
                    "init.bias",
                    "only allowed when training.bias_lr is set",
                ))
            }
            (None, Some(_)) => Some(DVector::zeros(k)),
            (None, None) => None,
        };
        Ok(Experiment {
            config: self.clone(),
            model,
            covariance,
            times,
            tolerances: Tolerances {
                rtol: th.rtol,
                atol: th.atol,
            },
            quadrature_nodes,
            init,
            bias0,
            samples,
        })
    }
}

/// Relative tolerance of the tie `r = c q`, `t = c² q` in given densities (roundoff of
/// values written with ≥ 12 digits stays far below it).
const TIE_TOL: f64 = 1e-9;

/// A decoder tied as `v = κ w` has `ν̃ = c ω` with `c = κ/√D`, hence `r_G = c q_G` and
/// `t_G = c² q_G` in every group.
fn check_tied_densities(dens: &[GroupDensity], c: f64) -> Result<()> {
    for (i, g) in dens.iter().enumerate() {
        let scale = g.q.amax().max(f64::MIN_POSITIVE);
        for (name, m, f) in [("r", &g.r, c), ("t", &g.t, c * c)] {
            if (m - &g.q * f).amax() > TIE_TOL * scale * f.max(1.0) {
                return Err(Error::config(
                    format!("init.groups.{i}.{name}"),
                    format!("must equal {f} × q: the decoder is tied to the encoder (ν̃ = {c} ω)"),
                ));
            }
        }
    }
    Ok(())
}

impl Experiment {
    /// The seed of replicate `j` (`init.seed + j`).
    pub fn replicate_seed(&self, j: usize) -> u64 {
        self.config.init.seed.wrapping_add(j as u64)
    }

    /// The initial weights `(W, V)` of the replicate with seed `seed` (K×D each), when the
    /// initial condition is given by weights (random or from files). A decoder tied to the
    /// encoder is `V = κ W` ([`Model::decoder_tie`]); the drawn or given V is then unused.
    pub fn initial_weights(&self, seed: u64) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
        let (w, v) = match &self.init {
            InitSpec::Random { std, .. } => {
                crate::rng::initial_weights(self.model.hidden, self.covariance.dim(), *std, seed)
            }
            InitSpec::Weights { encoder, decoder } => (encoder.clone(), decoder.clone()),
            InitSpec::Densities(_) => return None,
        };
        match self.model.decoder_tie(self.covariance.dim()) {
            Some(kappa) => {
                let v = &w * kappa;
                Some((w, v))
            }
            None => Some((w, v)),
        }
    }

    /// The ODE system of this experiment (its model, spectrum and quadrature nodes).
    pub fn theory(&self) -> Result<crate::theory::Theory> {
        crate::theory::Theory::new(
            self.model.clone(),
            self.covariance.spectrum().clone(),
            self.quadrature_nodes,
        )
    }

    /// The ODE's initial state for the replicate with seed `seed`.
    pub fn initial_state(&self, seed: u64) -> Result<InitialState> {
        match &self.init {
            InitSpec::Densities(d) => {
                InitialState::from_densities(self.covariance.spectrum(), d, self.bias0.clone())
            }
            _ => {
                let (w, v) = self
                    .initial_weights(seed)
                    .expect("weights exist for random and file inits");
                InitialState::from_weights(&self.covariance, &w, &v, self.bias0.clone())
            }
        }
    }
}

/// Mean-field experiments (spec `mean-field.md`; `model.kind = "mean-field"`).
impl Config {
    /// The mean-field-only keys that are set, by dotted name.
    fn mean_field_keys_set(&self) -> Vec<&'static str> {
        let (d, n, t, i, th) = (
            &self.data,
            &self.network,
            &self.training,
            &self.init,
            &self.theory,
        );
        [
            ("data.blocks", d.blocks.is_some()),
            ("data.sign_flip", d.sign_flip.is_some()),
            ("network.neurons", n.neurons.is_some()),
            ("network.output_scale", n.output_scale.is_some()),
            ("network.preact_scale", n.preact_scale.is_some()),
            ("training.l2", t.l2.is_some()),
            ("training.step", t.step.is_some()),
            ("training.antithetic", t.antithetic.is_some()),
            ("init.symmetry", i.symmetry.is_some()),
            ("theory.solver", th.solver.is_some()),
            ("theory.particles", th.particles.is_some()),
            ("theory.dt", th.dt.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }

    /// The autoencoder-only keys set to a value other than their default, by dotted name.
    fn autoencoder_keys_set(&self) -> Vec<&'static str> {
        let def = Config::default();
        let (d, n, t, i, th, sim) = (
            &self.data,
            &self.network,
            &self.training,
            &self.init,
            &self.theory,
            &self.simulation,
        );
        [
            ("data.spikes", d.spikes != def.data.spikes),
            ("data.bulk", d.bulk != def.data.bulk),
            ("data.directions", d.directions != def.data.directions),
            ("data.seed", d.seed != def.data.seed),
            ("data.eigenvalues", d.eigenvalues.is_some()),
            ("data.eigenvectors", d.eigenvectors.is_some()),
            ("data.bins", d.bins.is_some()),
            ("data.center", d.center != def.data.center),
            ("data.inputs", d.inputs != def.data.inputs),
            ("data.sampling", d.sampling != def.data.sampling),
            ("network.hidden", n.hidden != def.network.hidden),
            ("network.tied", n.tied != def.network.tied),
            ("training.lr", t.lr != def.training.lr),
            (
                "training.weight_decay",
                t.weight_decay != def.training.weight_decay,
            ),
            ("training.rule", t.rule != def.training.rule),
            ("training.bias_lr", t.bias_lr.is_some()),
            ("init.kind", i.kind != def.init.kind),
            ("init.encoder", i.encoder.is_some()),
            ("init.decoder", i.decoder.is_some()),
            ("init.bias", i.bias.is_some()),
            ("init.groups", i.groups.is_some()),
            ("theory.rtol", th.rtol != def.theory.rtol),
            ("theory.atol", th.atol != def.theory.atol),
            (
                "simulation.test_samples",
                sim.test_samples != def.simulation.test_samples,
            ),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }

    /// Validate a `model.kind = "mean-field"` config and build its experiment. Keys of the
    /// autoencoder model set to non-default values are errors naming the key.
    pub fn resolve_mean_field(&self) -> Result<MeanFieldExperiment> {
        if self.model.kind != ModelKind::MeanField {
            return Err(Error::config(
                "model.kind",
                "must be \"mean-field\" for Config::resolve_mean_field",
            ));
        }
        if let Some(field) = self.autoencoder_keys_set().first() {
            return Err(Error::config(
                *field,
                "does not apply to model.kind = \"mean-field\"",
            ));
        }
        let positive = |field: &str, v: f64| -> Result<f64> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(Error::config(
                    field,
                    format!("must be a finite number > 0, got {v}"),
                ))
            }
        };
        let (d, n, t, i, th) = (
            &self.data,
            &self.network,
            &self.training,
            &self.init,
            &self.theory,
        );
        let data = match d.kind {
            DataKind::Blocks => {
                if let Some(f) = [
                    ("data.path", d.path.is_some()),
                    ("data.sign_flip", d.sign_flip.is_some()),
                ]
                .into_iter()
                .find_map(|(f, set)| set.then_some(f))
                {
                    return Err(Error::config(
                        f,
                        "only allowed with data.kind = \"dataset\"",
                    ));
                }
                let blocks = d.blocks.as_ref().ok_or_else(|| {
                    Error::config("data.blocks", "required with data.kind = \"blocks\"")
                })?;
                MfData::blocks(blocks)?
            }
            DataKind::Dataset => {
                if d.blocks.is_some() {
                    return Err(Error::config(
                        "data.blocks",
                        "only allowed with data.kind = \"blocks\"",
                    ));
                }
                let path = d.path.as_ref().ok_or_else(|| {
                    Error::config("data.path", "required with data.kind = \"dataset\"")
                })?;
                if d.max_rows.is_some_and(|r| r < 2) {
                    return Err(Error::config("data.max_rows", "must be ≥ 2"));
                }
                MfData::from_samples(
                    &Dataset::load(path, d.format, d.max_rows)?.matrix(),
                    d.normalize,
                    d.sign_flip.unwrap_or(false),
                )?
            }
            DataKind::Spiked | DataKind::Eigen => {
                return Err(Error::config(
                    "data.kind",
                    "must be \"blocks\" or \"dataset\" with model.kind = \"mean-field\"",
                ))
            }
        };
        if data.dim() != d.dim {
            return Err(Error::config(
                "data.dim",
                format!("is {}, but the data have dimension {}", d.dim, data.dim()),
            ));
        }
        let neurons = n.neurons.unwrap_or(DEFAULT_NEURONS);
        if neurons == 0 {
            return Err(Error::config("network.neurons", "must be ≥ 1"));
        }
        let model = MeanFieldModel {
            activation: n.activation,
            alpha: positive("network.output_scale", n.output_scale.unwrap_or(1.0))?,
            gamma: positive("network.preact_scale", n.preact_scale.unwrap_or(1.0))?,
            lambda: t.l2.unwrap_or(0.0),
        };
        if !(model.lambda.is_finite() && model.lambda >= 0.0) {
            return Err(Error::config(
                "training.l2",
                format!("must be a finite number ≥ 0, got {}", model.lambda),
            ));
        }
        let antithetic = t.antithetic.unwrap_or(false);
        if t.batch == 0 || (antithetic && t.batch % 2 != 0) {
            return Err(Error::config(
                "training.batch",
                format!(
                    "must be ≥ 1 (and even with training.antithetic), got {}",
                    t.batch
                ),
            ));
        }
        let sgd = SgdParams {
            step: positive("training.step", t.step.unwrap_or(DEFAULT_STEP))?,
            batch: t.batch,
            antithetic,
        };
        if !(i.std.is_finite() && i.std >= 0.0) {
            return Err(Error::config(
                "init.std",
                format!("must be a finite number ≥ 0, got {}", i.std),
            ));
        }
        let symmetry = i.symmetry.unwrap_or(Symmetry::Iid);
        if symmetry != Symmetry::Iid && neurons % 2 != 0 {
            return Err(Error::config(
                "network.neurons",
                format!("must be even with init.symmetry = paired/whitened, got {neurons}"),
            ));
        }
        if symmetry == Symmetry::Whitened && neurons < 2 * data.dim() {
            return Err(Error::config(
                "network.neurons",
                format!(
                    "must be ≥ 2d = {} with init.symmetry = \"whitened\"",
                    2 * data.dim()
                ),
            ));
        }
        let particles = th.particles.unwrap_or(DEFAULT_PARTICLES);
        if particles % 2 != 0 || particles < 2 * data.dim() {
            return Err(Error::config(
                "theory.particles",
                format!(
                    "must be even and ≥ 2d = {} (whitened paired particles), got {particles}",
                    2 * data.dim()
                ),
            ));
        }
        let quadrature_nodes = th
            .quadrature_nodes
            .unwrap_or_else(|| n.activation.default_quadrature_nodes());
        crate::mean_field::MfKernels::new(n.activation, quadrature_nodes)?;
        if self.simulation.seeds == 0 {
            return Err(Error::config("simulation.seeds", "must be ≥ 1"));
        }
        Ok(MeanFieldExperiment {
            model,
            data,
            neurons,
            init_std: i.std,
            symmetry,
            sgd,
            times: self.times()?,
            solver: th.solver.unwrap_or(Solver::Auto),
            particles,
            dt: positive("theory.dt", th.dt.unwrap_or(DEFAULT_DT))?,
            quadrature_nodes,
            seed: i.seed,
            seeds: self.simulation.seeds,
        })
    }
}

/// Default N of the mean-field model.
pub const DEFAULT_NEURONS: usize = 1000;
/// Default SGD step ε of the mean-field model (spec §4, config R).
pub const DEFAULT_STEP: f64 = 1e-3;
/// Default P of the particle solver.
pub const DEFAULT_PARTICLES: usize = 1000;
/// Default RK4 step of the particle solver (spec §2.4: dt ≈ 0.01).
pub const DEFAULT_DT: f64 = 0.01;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_equals_built_in_defaults() {
        let c = Config::from_toml(DEFAULT_CONFIG, Path::new("default.toml")).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Config::from_toml("[training]\nlearning_rate = 0.1\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rate"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let cases = [
            ("[training]\nlr = -1.0\n", "training.lr"),
            ("[network]\nhidden = 0\n", "network.hidden"),
            ("[data]\ndim = 1\n", "data.dim"),
            ("[data]\nspikes = [1.0, -2.0]\n", "data.spikes.1"),
            ("[output]\npoints = 1\n", "output.points"),
            ("[output]\nt_min = 500.0\n", "output.t_min"),
            ("[init]\nstd = -0.1\n", "init.std"),
            ("[init]\nbias = [0.0, 0.0]\n", "init.bias"),
            ("[theory]\nrtol = 0.0\n", "theory.rtol"),
            ("[init]\nkind = \"weights\"\n", "init.encoder"),
            // Impossible combinations.
            (
                "[training]\nrule = \"sanger\"\n",
                "Sanger's rule is defined for linear units only",
            ),
            (
                "[network]\nactivation = \"linear\"\ntied = true\n[training]\nrule = \"sanger\"\n",
                "network.tied",
            ),
            (
                "[training]\nrule = \"truncated\"\nbias_lr = 0.4\n",
                "training.bias_lr",
            ),
            ("[data]\nkind = \"dataset\"\n", "data.path"),
            ("[data]\npath = \"x.csv\"\n", "data.path"),
            ("[data]\ninputs = \"gaussian\"\n", "data.inputs"),
            (
                "[data]\nkind = \"dataset\"\npath = \"x.csv\"\neigenvalues = \"r.csv\"\n",
                "data.eigenvalues",
            ),
            (
                "[network]\ntied = true\n[init]\nkind = \"weights\"\nencoder = \"w.csv\"\ndecoder = \"v.csv\"\n",
                "init.decoder",
            ),
        ];
        for (text, field) in cases {
            let e = Config::from_toml(text, Path::new("x.toml"))
                .unwrap()
                .resolve()
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }

    #[test]
    fn log_times_start_at_zero_and_end_at_t_max() {
        let c = Config::default();
        let t = c.times().unwrap();
        assert_eq!(t.len(), c.output.points);
        assert_eq!(t[0], 0.0);
        assert!((t[1] - c.output.t_min).abs() < 1e-15);
        assert!((t.last().unwrap() - c.output.t_max).abs() < 1e-12);
        assert!(t.windows(2).all(|w| w[1] > w[0]));
    }
}
