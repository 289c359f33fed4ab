//! The autoencoder model's config: [`Params`] is the unchecked file content (sections
//! `[data] [network] [training] [init] [output] [theory] [simulation]`); [`Params::check`]
//! turns it into a validated [`Experiment`] before any numerics run. The embedded default,
//! with every field documented, is [`DEFAULT_CONFIG`]. This is the only place of the
//! autoencoder wing that names config keys.

use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::autoencoder::model::{Model, Rule};
use crate::autoencoder::theory::{InitialState, Tolerances};
use crate::autoencoder::trajectory::GroupDensity;
use crate::base::grid::{Spacing, TimeGrid};
use crate::base::table::OutputFormat;
use crate::dataset::{Centering, DataFormat, Dataset, Sampling};
use crate::error::{Error, Result};
use crate::io;
use crate::spectrum::{Covariance, SpikeDirections, SpikedParams};

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

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// K.
    pub hidden: usize,
    /// g.
    pub activation: Activation,
    /// Tied weights.
    pub tied: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            hidden: 2,
            activation: Activation::Erf,
            tied: false,
        }
    }
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            lr: 0.4,
            weight_decay: 0.0,
            rule: Rule::Sgd,
            bias_lr: None,
            batch: 1,
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
#[serde(default)]
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
        }
    }
}

/// `[theory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TheoryConfig {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Gauss–Hermite nodes; default per activation
    /// ([`Activation::default_quadrature_nodes`]).
    pub quadrature_nodes: Option<usize>,
}

impl Default for TheoryConfig {
    fn default() -> Self {
        let t = Tolerances::default();
        TheoryConfig {
            rtol: t.rtol,
            atol: t.atol,
            quadrature_nodes: None,
        }
    }
}

/// How many held-out inputs measure the empirical test error (`simulation.test_samples`):
/// `"auto"` or a number (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestSamples {
    /// Enough for a target standard error (see `sgd::auto_test_samples`).
    #[default]
    Auto,
    /// Exactly this many (0: no empirical test error).
    Count(usize),
}

impl Serialize for TestSamples {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TestSamples::Auto => s.serialize_str("auto"),
            TestSamples::Count(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for TestSamples {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TestSamples;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"auto\" or a number of samples ≥ 0")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                match v {
                    "auto" => Ok(TestSamples::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                usize::try_from(v)
                    .map(TestSamples::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                usize::try_from(v)
                    .map(TestSamples::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[simulation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulationConfig {
    /// Number of replicates.
    pub seeds: usize,
    /// Held-out test inputs.
    pub test_samples: TestSamples,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            seeds: 1,
            test_samples: TestSamples::Auto,
        }
    }
}

/// `[output]`: the output times (as [`TimeGrid`]) and the tables' file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputConfig {
    /// Last time.
    pub t_max: f64,
    /// Number of output times, 0 and `t_max` included.
    pub points: usize,
    /// Spacing.
    pub spacing: Spacing,
    /// First positive time (log spacing).
    pub t_min: f64,
    /// File format of the trajectory tables.
    pub format: OutputFormat,
}

impl Default for OutputConfig {
    fn default() -> Self {
        let g = TimeGrid::default();
        OutputConfig {
            t_max: g.t_max,
            points: g.points,
            spacing: g.spacing,
            t_min: g.t_min,
            format: OutputFormat::Csv,
        }
    }
}

impl OutputConfig {
    /// The time grid of the section.
    pub fn grid(&self) -> TimeGrid {
        TimeGrid {
            t_max: self.t_max,
            points: self.points,
            spacing: self.spacing,
            t_min: self.t_min,
        }
    }

    /// The output times (see [`TimeGrid::times`]).
    pub fn times(&self, section: &str) -> Result<Vec<f64>> {
        self.grid().times(section)
    }
}

/// The autoencoder model's config (unchecked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
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

/// Settings of the finite-width simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSettings {
    /// Minibatch size B: one step averages B per-sample gradients (the ODE does not depend
    /// on B; B > 1 only reduces the SGD noise).
    pub batch: usize,
    /// Held-out inputs of the empirical test error.
    pub test_samples: TestSamples,
    /// How a real data set's samples are drawn.
    pub sampling: Sampling,
    /// Default number of replicates.
    pub seeds: usize,
}

/// A validated experiment: everything the dynamics need, checked.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The config as given (paths resolved), recorded in every output.
    pub config: Params,
    /// Simulator settings.
    pub sim: SimSettings,
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
    /// What is legal but outside the theory's regime (printed by the CLI, recorded in every
    /// output's `warnings`).
    pub warnings: Vec<String>,
}

/// A real dataset, processed (docs/autoencoder.md §1.1), with the exact covariance of its samples.
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

crate::model_params!(Params, Experiment, super::KIND);

/// `init.std` from which a tied network's initial weights count as O(1) (a warning): at
/// 0.5 the tied reconstruction w·g(w·x) already has a norm comparable to the input's.
const TIED_LARGE_STD: f64 = 0.5;

impl Params {
    /// The memory every command needs at least (bytes by key; see [`crate::resources`]):
    /// the K×D initial weights and M spike directions of length D (`data.dim`), the K×K
    /// order parameters per spike group and the K×K blocks of each output row
    /// (`network.hidden`), and the output rows' other columns: R, T and the per-group
    /// densities (`output.points`).
    pub fn memory(&self) -> crate::resources::Estimate {
        use crate::resources::F64;
        let (d, k) = (self.data.dim as f64, self.network.hidden as f64);
        let m = self.data.spikes.len() as f64;
        let p = self.output.points as f64;
        vec![
            ("data.dim", F64 * d * (2.0 * k + m)),
            ("network.hidden", F64 * k * k * (m + 6.0 + 2.0 * p)),
            ("output.points", F64 * p * (2.0 + 3.0 * k * (m + 1.0))),
        ]
    }

    /// Parse a TOML config; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        crate::base::config::params_from_toml(text, origin, super::KIND)
    }

    /// Read a config file; relative paths inside it resolve against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut c = Self::from_toml(&text, path)?;
        c.resolve_paths(path.parent().unwrap_or(Path::new(".")));
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
                })
                .map_err(|e| e.within("data"))?;
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
                let mut samples =
                    Dataset::load(path, d.format, d.max_rows).map_err(|e| e.within("data"))?;
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
                samples
                    .standardise(d.center, d.normalize)
                    .map_err(|e| e.within("data"))?;
                let (binned, exact) = samples.covariances(d.bins).map_err(|e| e.within("data"))?;
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
                    Covariance::from_eigen(&values, vectors.as_ref(), d.bins)
                        .map_err(|e| e.within("data"))?,
                    None,
                ))
            }
        }
    }

    /// Validate everything and build the [`Experiment`].
    pub fn check(&self) -> Result<Experiment> {
        let model = self.model();
        check_model(&model)?;
        let (covariance, samples) = self.data()?;
        let times = self.output.times("output")?;
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
        crate::activation::check_quadrature_nodes(quadrature_nodes)
            .map_err(|e| e.at("theory.quadrature_nodes"))?;
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
                if !(self.init.std.is_finite() && self.init.std > 0.0) {
                    return Err(Error::config(
                        "init.std",
                        format!(
                            "must be a finite number > 0, got {} (zero weights stay zero under \
                             SGD, and the theory's overlap matrix Q is singular there)",
                            self.init.std
                        ),
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
        if let InitSpec::Densities(dens) = &init {
            // One per group, each positive semi-definite of admissible rank: checked here,
            // so the theory never starts from an impossible state.
            let groups = covariance.spectrum().groups();
            if dens.len() != groups.len() {
                return Err(Error::config(
                    "init.groups",
                    format!(
                        "{} groups given, the spectrum has {}",
                        dens.len(),
                        groups.len()
                    ),
                ));
            }
            for (i, (d, g)) in dens.iter().zip(groups).enumerate() {
                crate::autoencoder::theory::check_density(d, g.multiplicity)
                    .map_err(|e| e.at(&format!("init.groups.{i}")))?;
            }
        }
        if k > d {
            return Err(Error::config(
                "network.hidden",
                format!(
                    "K = {k} exceeds data.dim = {d}: unsupported (the K hidden units span at \
                     most D directions, and the theory describes K ≪ D)"
                ),
            ));
        }
        let mut warnings = Vec::new();
        if model.tied && self.init.kind == InitKind::Random && self.init.std >= TIED_LARGE_STD {
            warnings.push(format!(
                "init.std = {} with tied weights starts at O(1) weights (ε_g(0) of order K·std⁴ \
                 times the input power), far from the small-initialisation regime of the \
                 sequential-learning results; init.std ≲ 0.1 is typical",
                self.init.std
            ));
        }
        Ok(Experiment {
            warnings,
            config: self.clone(),
            sim: SimSettings {
                batch: self.training.batch,
                test_samples: self.simulation.test_samples,
                sampling: self.data.sampling,
                seeds: self.simulation.seeds,
            },
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

/// Check the network and training rule: ranges and supported combinations.
fn check_model(model: &Model) -> Result<()> {
    if model.hidden == 0 {
        return Err(Error::config("network.hidden", "must be ≥ 1"));
    }
    if !(model.lr.is_finite() && model.lr > 0.0) {
        return Err(Error::config(
            "training.lr",
            format!("must be a finite number > 0, got {}", model.lr),
        ));
    }
    if !(model.weight_decay.is_finite() && model.weight_decay >= 0.0) {
        return Err(Error::config(
            "training.weight_decay",
            format!("must be a finite number ≥ 0, got {}", model.weight_decay),
        ));
    }
    if let Some(b) = model.bias_lr {
        if !(b.is_finite() && b > 0.0) {
            return Err(Error::config(
                "training.bias_lr",
                format!("must be a finite number > 0 (omit it to train no bias), got {b}"),
            ));
        }
        if model.rule != Rule::Sgd {
            return Err(Error::config(
                "training.bias_lr",
                "a trained bias is only supported with training.rule = \"sgd\"",
            ));
        }
    }
    if model.rule == Rule::Sanger && model.tied {
        return Err(Error::config(
            "network.tied",
            "Sanger's rule already uses the encoder as decoder (v = w); set network.tied = false",
        ));
    }
    if model.rule == Rule::Sanger && model.activation != Activation::Linear {
        return Err(Error::config(
            "training.rule",
            format!(
                "Sanger's rule is defined for linear units only; network.activation is \"{}\"",
                model.activation
            ),
        ));
    }
    Ok(())
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
    pub fn ode(&self) -> Result<crate::autoencoder::theory::Theory> {
        crate::autoencoder::theory::Theory::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_equals_built_in_defaults() {
        let c = Params::from_toml(DEFAULT_CONFIG, Path::new("default.toml")).unwrap();
        assert_eq!(c, Params::default());
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Params::from_toml("[training]\nlearning_rate = 0.1\n", Path::new("x.toml"))
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
            let e = Params::from_toml(text, Path::new("x.toml"))
                .unwrap()
                .check()
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{text:?}: {e}");
        }
    }
}
