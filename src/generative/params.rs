//! The generative model's config: [`Params`] is the unchecked file content (sections
//! `[data] [network] [training] [init] [output] [simulation] [theory]`); [`Params::check`]
//! validates everything and builds an [`Experiment`] before any numerics run. The embedded
//! default, with every key documented, is [`DEFAULT_CONFIG`]. This is the only file of the
//! model that names config keys.

use std::path::{Path, PathBuf};

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

use super::data::{normalise_columns, welch_bound, CodeLaw, CoherenceNotReached, Magnitudes, Sign};
use super::init::{InitKind as InitChoice, InitSpec};
use super::model::{Activation, GradPath, Model};
use super::{Dictionary, Experiment, SimAlgorithm, TheoryAlgorithm};
use crate::base::grid::{output_steps, Spacing};
use crate::error::{Error, Result};
use crate::io::{read_matrix, read_vector};

/// The default config file, with every key documented (the orthonormal headline case).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Largest number of enumerated codes for the exact expected gradient.
pub const MAX_EXACT_CODES: u128 = 1_000_000;

/// Largest m for which `theory.hessian = "auto"` computes the numerical Hessian (m² span
/// coordinates, i.e. at most 1024 parameters).
pub const MAX_AUTO_HESSIAN_ATOMS: usize = 32;

/// The generative model of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    /// k-sparse codes with Rademacher signs.
    SparseCoding,
    /// k-sparse codes with positive entries.
    NonnegSparseCoding,
    /// Mixture of Gaussians with means a_j (k = 1).
    Mixture,
}

/// How the dictionary A is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DictionaryKind {
    /// iid N(0,1), columns normalised.
    Gaussian,
    /// Haar orthonormal columns (m ≤ n).
    Orthonormal,
    /// From `dictionary_path`.
    File,
}

/// Code magnitudes: a list of values, or the word "uniform" (then `lo`, `hi`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Values {
    /// Discrete magnitudes.
    List(Vec<f64>),
    /// `"uniform"`: U[lo, hi].
    Law(String),
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataParams {
    /// Generative model.
    pub kind: DataKind,
    /// n.
    pub dim: usize,
    /// m.
    pub atoms: usize,
    /// k (ignored by the mixture: k = 1).
    pub sparsity: usize,
    /// Magnitudes (ignored by the mixture: magnitude 1).
    pub values: Values,
    /// Lower end of U[lo, hi].
    pub lo: f64,
    /// Upper end of U[lo, hi].
    pub hi: f64,
    /// Probabilities of `values` (empty: uniform).
    pub value_probs: Vec<f64>,
    /// σ_η (absent: 0 for sparse coding, 0.1 for the mixture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// Dictionary kind.
    pub dictionary: DictionaryKind,
    /// CSV file, n × m, atoms as columns (dictionary = "file").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dictionary_path: Option<PathBuf>,
    /// μ_max for the Gaussian dictionary (0 = none).
    pub max_coherence: f64,
    /// N, the fixed training set of `training.gradient = "fixed"` / `"sgd"`.
    pub samples: usize,
}

impl Default for DataParams {
    fn default() -> Self {
        DataParams {
            kind: DataKind::SparseCoding,
            dim: 24,
            atoms: 16,
            sparsity: 3,
            values: Values::List(vec![1.0]),
            lo: 1.0,
            hi: 2.0,
            value_probs: Vec::new(),
            noise: None,
            dictionary: DictionaryKind::Orthonormal,
            dictionary_path: None,
            max_coherence: 0.0,
            samples: 10_000,
        }
    }
}

/// Activation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivationKind {
    /// u·1{|u| ≥ τ}.
    #[serde(rename = "threshold")]
    Threshold,
    /// u·1{u ≥ τ}.
    #[serde(rename = "threshold+")]
    ThresholdPlus,
    /// max(u, 0).
    #[serde(rename = "relu")]
    Relu,
    /// u.
    #[serde(rename = "linear")]
    Linear,
}

/// Encoder bias: one number for every unit, or a file with m values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bias {
    /// b_i = value.
    Value(f64),
    /// A CSV/npy file with m values.
    File(PathBuf),
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkParams {
    /// σ (absent: threshold, or threshold+ for non-negative codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationKind>,
    /// τ of the threshold activations.
    pub tau: f64,
    /// b (absent: −τ for relu, else 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<Bias>,
}

impl Default for NetworkParams {
    fn default() -> Self {
        NetworkParams {
            activation: None,
            tau: 0.5,
            bias: None,
        }
    }
}

/// The simulation algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gradient {
    /// Exact expected GD (every code enumerated).
    Exact,
    /// A fresh batch of `batch` samples every step (online SGD).
    Mc,
    /// Full-batch GD on the fixed set of `data.samples`.
    Fixed,
    /// Minibatch SGD: epochs over the fixed set, reshuffled every epoch.
    Sgd,
}

/// Gradient path name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradPathKind {
    /// Decoder + encoder terms.
    Full,
    /// Decoder term only.
    Decoder,
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingParams {
    /// Simulation algorithm.
    pub gradient: Gradient,
    /// Number of updates.
    pub steps: u64,
    /// η (absent: m/(4 v₂ k)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Batch of "mc" (absent: 10⁵) and "sgd" (absent: min(256, N)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Gradient path.
    pub grad_path: GradPathKind,
    /// Train the encoder bias.
    pub train_bias: bool,
    /// η_b (absent: η).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias_lr: Option<f64>,
}

impl Default for TrainingParams {
    fn default() -> Self {
        TrainingParams {
            gradient: Gradient::Sgd,
            steps: 150,
            lr: None,
            batch: None,
            grad_path: GradPathKind::Full,
            train_bias: false,
            bias_lr: None,
        }
    }
}

/// Initialisation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitKind {
    /// Truth + δ·(uniform unit vector).
    Sphere,
    /// Truth + δ·(uniform unit vector ⟂ atom).
    Tangent,
    /// Rows N(0, I/n).
    Random,
    /// From `weights`.
    File,
}

/// `[init]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitParams {
    /// Kind.
    pub kind: InitKind,
    /// δ.
    pub distance: f64,
    /// m × n weights file (kind = "file").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// Randomly permute the rows.
    pub permute_rows: bool,
    /// Random row signs.
    pub flip_signs: bool,
    /// Base seed; replicate j uses seed + j.
    pub seed: u64,
}

impl Default for InitParams {
    fn default() -> Self {
        InitParams {
            kind: InitKind::Sphere,
            distance: 0.1,
            weights: None,
            permute_rows: false,
            flip_signs: false,
            seed: 0,
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputParams {
    /// Number of recorded steps.
    pub points: usize,
    /// Their spacing.
    pub spacing: Spacing,
    /// A run succeeds when its final `distance_max` is below this.
    pub success_distance: f64,
}

impl Default for OutputParams {
    fn default() -> Self {
        OutputParams {
            points: 60,
            spacing: Spacing::Linear,
            success_distance: 1e-3,
        }
    }
}

/// `[simulation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulationParams {
    /// Number of replicate seeds.
    pub seeds: usize,
    /// Held-out samples for the support metrics.
    pub test_samples: usize,
}

impl Default for SimulationParams {
    fn default() -> Self {
        SimulationParams {
            seeds: 3,
            test_samples: 10_000,
        }
    }
}

/// How the theory computes the expected gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TheoryGradient {
    /// Exact when feasible (σ_η = 0, discrete magnitudes, ≤ 10⁶ codes), else mc.
    Auto,
    /// Enumerate every code.
    Exact,
    /// A fresh Monte Carlo batch per step.
    Mc,
}

/// When the numerical Hessian is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HessianMode {
    /// For non-negative codes (exact theory, m ≤ 32).
    Auto,
    /// Always (needs the exact theory).
    Always,
    /// Never.
    Never,
}

/// `[theory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TheoryParams {
    /// Expected-gradient method.
    pub gradient: TheoryGradient,
    /// Monte Carlo batch.
    pub batch: usize,
    /// Numerical Hessian at the limit point.
    pub hessian: HessianMode,
    /// Its central-difference step.
    pub hessian_step: f64,
}

impl Default for TheoryParams {
    fn default() -> Self {
        TheoryParams {
            gradient: TheoryGradient::Auto,
            batch: 100_000,
            hessian: HessianMode::Auto,
            hessian_step: 1e-5,
        }
    }
}

/// The unchecked config of `model.kind = "generative"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    pub output: OutputParams,
    /// `[simulation]`.
    pub simulation: SimulationParams,
    /// `[theory]`.
    pub theory: TheoryParams,
}

fn resolve(base: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p {
        if path.is_relative() && !path.as_os_str().is_empty() {
            *path = base.join(&*path);
        }
    }
}

fn finite(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::config(
            field,
            format!("must be a finite number, got {v}"),
        ))
    }
}

/// The error of a Gaussian dictionary that never met `data.max_coherence`.
pub(crate) fn coherence_error(e: CoherenceNotReached) -> Error {
    Error::config(
        "data.max_coherence",
        format!(
            "no dictionary with coherence ≤ {} found in {} draws (smallest μ seen: {:.3}); raise it or \
             increase data.dim",
            e.max_coherence, e.tries, e.best
        ),
    )
}

impl Params {
    /// The memory every command needs at least (bytes by key; see [`crate::resources`]):
    /// the n×m dictionary, weights and gradient workspaces (`data.dim`, or `data.atoms` when
    /// m > n), the training and test sets with their codes (`data.samples`,
    /// `simulation.test_samples`) and the output table (`output.points`).
    pub fn memory(&self) -> crate::resources::Estimate {
        use crate::resources::F64;
        let (n, m) = (self.data.dim as f64, self.data.atoms as f64);
        vec![
            (
                if n >= m { "data.dim" } else { "data.atoms" },
                F64 * 4.0 * n * m,
            ),
            ("data.samples", F64 * self.data.samples as f64 * (n + m)),
            (
                "simulation.test_samples",
                F64 * self.simulation.test_samples as f64 * (n + m),
            ),
            ("output.points", F64 * 8.0 * self.output.points as f64),
        ]
    }

    /// Make the file keys (`data.dictionary_path`, `init.weights`, a bias file) relative to
    /// `base`, the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve(base, &mut self.data.dictionary_path);
        resolve(base, &mut self.init.weights);
        if let Some(Bias::File(p)) = &mut self.network.bias {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
    }

    /// Validate every key and build the experiment. Errors name the dotted key.
    pub fn check(&self) -> Result<Experiment> {
        let d = &self.data;
        if d.dim < 1 {
            return Err(Error::config("data.dim", "n must be ≥ 1"));
        }
        if d.atoms < 1 {
            return Err(Error::config("data.atoms", "m must be ≥ 1"));
        }
        let (n, m) = (d.dim, d.atoms);
        let mixture = d.kind == DataKind::Mixture;
        let law = if mixture {
            CodeLaw::mixture(m)
        } else {
            let k = d.sparsity;
            if k < 1 || k > m {
                return Err(Error::config(
                    "data.sparsity",
                    format!("k must satisfy 1 ≤ k ≤ m = {m}, got {k}"),
                ));
            }
            let magnitudes = match &d.values {
                Values::List(v) => {
                    if v.is_empty() {
                        return Err(Error::config("data.values", "needs at least one magnitude"));
                    }
                    if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                        return Err(Error::config(
                            "data.values",
                            format!("magnitudes must be finite and > 0, got {x}"),
                        ));
                    }
                    let probs = if d.value_probs.is_empty() {
                        vec![1.0 / v.len() as f64; v.len()]
                    } else {
                        if d.value_probs.len() != v.len() {
                            return Err(Error::config(
                                "data.value_probs",
                                format!(
                                    "needs one probability per value ({}), got {}",
                                    v.len(),
                                    d.value_probs.len()
                                ),
                            ));
                        }
                        if d.value_probs.iter().any(|p| !(p.is_finite() && *p >= 0.0)) {
                            return Err(Error::config(
                                "data.value_probs",
                                "probabilities must be ≥ 0",
                            ));
                        }
                        let s: f64 = d.value_probs.iter().sum();
                        if (s - 1.0).abs() > 1e-9 {
                            return Err(Error::config(
                                "data.value_probs",
                                format!("probabilities must sum to 1, got {s}"),
                            ));
                        }
                        d.value_probs.clone()
                    };
                    Magnitudes::Discrete {
                        values: v.clone(),
                        probs,
                    }
                }
                Values::Law(word) if word == "uniform" => {
                    let lo = finite("data.lo", d.lo)?;
                    let hi = finite("data.hi", d.hi)?;
                    if lo <= 0.0 {
                        return Err(Error::config("data.lo", format!("must be > 0, got {lo}")));
                    }
                    if lo > hi {
                        return Err(Error::config(
                            "data.lo",
                            format!("lo = {lo} exceeds hi = {hi}"),
                        ));
                    }
                    Magnitudes::Uniform { lo, hi }
                }
                Values::Law(word) => {
                    return Err(Error::config(
                        "data.values",
                        format!("expected a list of magnitudes or \"uniform\", got \"{word}\""),
                    ))
                }
            };
            CodeLaw {
                m,
                k,
                sign: if d.kind == DataKind::NonnegSparseCoding {
                    Sign::Positive
                } else {
                    Sign::Rademacher
                },
                magnitudes,
            }
        };
        let k = law.k;
        let noise = finite(
            "data.noise",
            d.noise.unwrap_or(if mixture { 0.1 } else { 0.0 }),
        )?;
        if noise < 0.0 {
            return Err(Error::config(
                "data.noise",
                format!("σ_η must be ≥ 0, got {noise}"),
            ));
        }
        let mu_max = finite("data.max_coherence", d.max_coherence)?;
        if mu_max < 0.0 {
            return Err(Error::config(
                "data.max_coherence",
                "must be ≥ 0 (0 = no constraint)",
            ));
        }
        if mu_max > 0.0 && d.dictionary != DictionaryKind::Gaussian {
            return Err(Error::config(
                "data.max_coherence",
                "only applies to dictionary = \"gaussian\"",
            ));
        }
        let dictionary = match d.dictionary {
            DictionaryKind::Gaussian => {
                if mu_max > 0.0 {
                    let welch = welch_bound(n, m);
                    if mu_max / (n as f64).sqrt() < welch {
                        return Err(Error::config(
                            "data.max_coherence",
                            format!(
                                "incoherence impossible for the requested sizes: μ_max/√n = {:.4} is below the \
                                 Welch bound √((m−n)/(n(m−1))) = {welch:.4} (n = {n}, m = {m})",
                                mu_max / (n as f64).sqrt()
                            ),
                        ));
                    }
                }
                Dictionary::Gaussian {
                    max_coherence: (mu_max > 0.0).then_some(mu_max),
                }
            }
            DictionaryKind::Orthonormal => {
                if m > n {
                    return Err(Error::config(
                        "data.dictionary",
                        format!("an orthonormal dictionary needs m ≤ n, got m = {m} > n = {n}"),
                    ));
                }
                Dictionary::Orthonormal
            }
            DictionaryKind::File => {
                let Some(path) = &d.dictionary_path else {
                    return Err(Error::config(
                        "data.dictionary_path",
                        "dictionary = \"file\" needs a CSV file (n rows, m columns)",
                    ));
                };
                let mut a = read_matrix(path)?;
                if a.shape() != (n, m) {
                    return Err(Error::config(
                        "data.dictionary_path",
                        format!(
                            "{} is {}×{}, expected n×m = {n}×{m}",
                            path.display(),
                            a.nrows(),
                            a.ncols()
                        ),
                    ));
                }
                normalise_columns(&mut a).map_err(|j| {
                    Error::config("data.dictionary_path", format!("column {j} is zero"))
                })?;
                Dictionary::File(a)
            }
        };

        // Network.
        let nw = &self.network;
        let kind = nw
            .activation
            .unwrap_or(if d.kind == DataKind::NonnegSparseCoding {
                ActivationKind::ThresholdPlus
            } else {
                ActivationKind::Threshold
            });
        let tau = finite("network.tau", nw.tau)?;
        let act = match kind {
            ActivationKind::Threshold | ActivationKind::ThresholdPlus => {
                if tau <= 0.0 {
                    return Err(Error::config(
                        "network.tau",
                        format!("τ must be > 0, got {tau}"),
                    ));
                }
                if kind == ActivationKind::Threshold {
                    Activation::Threshold { tau }
                } else {
                    Activation::ThresholdPlus { tau }
                }
            }
            ActivationKind::Relu => Activation::Relu,
            ActivationKind::Linear => Activation::Linear,
        };
        let bias = match &nw.bias {
            None => DVector::from_element(
                m,
                if kind == ActivationKind::Relu {
                    -tau
                } else {
                    0.0
                },
            ),
            Some(Bias::Value(v)) => DVector::from_element(m, finite("network.bias", *v)?),
            Some(Bias::File(p)) => {
                let v = read_vector(p)?;
                if v.len() != m {
                    return Err(Error::config(
                        "network.bias",
                        format!("{} has {} values, expected m = {m}", p.display(), v.len()),
                    ));
                }
                DVector::from_vec(v)
            }
        };

        // Training.
        let t = &self.training;
        let v2 = law.v2();
        let lr = match t.lr {
            Some(v) => {
                let v = finite("training.lr", v)?;
                if v <= 0.0 {
                    return Err(Error::config(
                        "training.lr",
                        format!("η must be > 0, got {v}"),
                    ));
                }
                v
            }
            None => m as f64 / (4.0 * v2 * k as f64),
        };
        let bias_lr = match t.bias_lr {
            Some(v) => {
                let v = finite("training.bias_lr", v)?;
                if v <= 0.0 {
                    return Err(Error::config(
                        "training.bias_lr",
                        format!("must be > 0, got {v}"),
                    ));
                }
                v
            }
            None => lr,
        };
        if let Some(b) = t.batch {
            if b < 1 {
                return Err(Error::config("training.batch", "must be ≥ 1"));
            }
        }
        let exact_count = law.exact_count();
        let exact_problem = |what: &str| -> Option<String> {
            if noise > 0.0 {
                return Some(format!(
                    "exact enumeration needs noise-free codes (data.noise = {noise}); use {what} = \"mc\""
                ));
            }
            match exact_count {
                None if matches!(law.magnitudes, Magnitudes::Uniform { .. }) => Some(format!(
                    "exact enumeration needs discrete magnitudes (data.values = \"uniform\"); use {what} = \"mc\""
                )),
                Some(c) if c <= MAX_EXACT_CODES => None,
                _ => Some(format!(
                    "{} codes (C(m,k)·|values|^k·signs) exceed the exact limit {MAX_EXACT_CODES}; use {what} = \"mc\"",
                    exact_count.map_or("too many".to_string(), |c| c.to_string())
                )),
            }
        };
        let sim = match t.gradient {
            Gradient::Exact => {
                if let Some(msg) = exact_problem("training.gradient") {
                    return Err(Error::config("training.gradient", msg));
                }
                SimAlgorithm::Exact
            }
            Gradient::Mc => SimAlgorithm::Mc {
                batch: t.batch.unwrap_or(100_000),
            },
            Gradient::Fixed | Gradient::Sgd => {
                if d.samples < 1 {
                    return Err(Error::config(
                        "data.samples",
                        "the fixed training set needs N ≥ 1",
                    ));
                }
                if t.gradient == Gradient::Fixed {
                    SimAlgorithm::Fixed { samples: d.samples }
                } else {
                    let batch = t.batch.unwrap_or(256.min(d.samples));
                    if batch > d.samples {
                        return Err(Error::config(
                            "training.batch",
                            format!("the SGD minibatch ({batch}) exceeds the training set (data.samples = {})", d.samples),
                        ));
                    }
                    SimAlgorithm::Sgd {
                        samples: d.samples,
                        batch,
                    }
                }
            }
        };

        // Init.
        let i = &self.init;
        let distance = finite("init.distance", i.distance)?;
        if distance < 0.0 {
            return Err(Error::config(
                "init.distance",
                format!("δ must be ≥ 0, got {distance}"),
            ));
        }
        let kind_init = match i.kind {
            InitKind::Sphere => InitChoice::Sphere,
            InitKind::Tangent => InitChoice::Tangent,
            InitKind::Random => InitChoice::Random,
            InitKind::File => {
                let Some(path) = &i.weights else {
                    return Err(Error::config(
                        "init.weights",
                        "init.kind = \"file\" needs an m×n CSV file",
                    ));
                };
                let w = read_matrix(path)?;
                if w.shape() != (m, n) {
                    return Err(Error::config(
                        "init.weights",
                        format!(
                            "{} is {}×{}, expected m×n = {m}×{n}",
                            path.display(),
                            w.nrows(),
                            w.ncols()
                        ),
                    ));
                }
                InitChoice::File(w)
            }
        };

        // Output, simulation, theory.
        let o = &self.output;
        let out_steps = output_steps(t.steps, o.points, o.spacing, "output.points")?;
        let success_distance = finite("output.success_distance", o.success_distance)?;
        if success_distance <= 0.0 {
            return Err(Error::config("output.success_distance", "must be > 0"));
        }
        let s = &self.simulation;
        if s.seeds < 1 {
            return Err(Error::config("simulation.seeds", "must be ≥ 1"));
        }
        if s.test_samples < 1 {
            return Err(Error::config("simulation.test_samples", "must be ≥ 1"));
        }
        let th = &self.theory;
        if th.batch < 1 {
            return Err(Error::config("theory.batch", "must be ≥ 1"));
        }
        let theory = match th.gradient {
            TheoryGradient::Exact => {
                if let Some(msg) = exact_problem("theory.gradient") {
                    return Err(Error::config("theory.gradient", msg));
                }
                TheoryAlgorithm::Exact
            }
            TheoryGradient::Auto if exact_problem("theory.gradient").is_none() => {
                TheoryAlgorithm::Exact
            }
            _ => TheoryAlgorithm::Mc { batch: th.batch },
        };
        let hessian_step = finite("theory.hessian_step", th.hessian_step)?;
        if hessian_step <= 0.0 {
            return Err(Error::config("theory.hessian_step", "must be > 0"));
        }
        let hessian = match th.hessian {
            HessianMode::Never => false,
            HessianMode::Auto => {
                d.kind == DataKind::NonnegSparseCoding
                    && theory == TheoryAlgorithm::Exact
                    && m <= MAX_AUTO_HESSIAN_ATOMS
            }
            HessianMode::Always => {
                if theory != TheoryAlgorithm::Exact {
                    return Err(Error::config(
                        "theory.hessian",
                        "the numerical Hessian differentiates the exact expected gradient: needs the exact theory",
                    ));
                }
                true
            }
        };

        Ok(Experiment {
            params: self.clone(),
            n,
            m,
            k,
            law,
            noise,
            dictionary,
            model: Model {
                act,
                path: match t.grad_path {
                    GradPathKind::Full => GradPath::Full,
                    GradPathKind::Decoder => GradPath::Decoder,
                },
            },
            bias,
            train_bias: t.train_bias,
            bias_lr,
            lr,
            sim,
            theory,
            hessian,
            hessian_step,
            init: InitSpec {
                kind: kind_init,
                distance,
                permute_rows: i.permute_rows,
                flip_signs: i.flip_signs,
            },
            steps: t.steps,
            out_steps,
            test_samples: s.test_samples,
            seeds: s.seeds,
            success_distance,
            tau,
            mixture,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a model config the way the registry does: drop `[model]` and `[sweep]`.
    pub(crate) fn parse(text: &str) -> Params {
        let mut v: toml::Table = toml::from_str(text).expect("valid TOML");
        v.remove("model");
        v.remove("sweep");
        toml::Value::Table(v).try_into().expect("valid Params")
    }

    #[test]
    fn default_config_round_trips() {
        let p = parse(DEFAULT_CONFIG);
        assert_eq!(p, Params::default());
        let back: Params = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        p.check().unwrap();
        let t: toml::Table = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(t["model"]["kind"].as_str(), Some("generative"));
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::InvalidConfig { field, .. } => field,
            other => panic!("expected InvalidConfig, got {other}"),
        }
    }

    /// Every refusal is an InvalidConfig naming the key.
    #[test]
    fn bad_input_names_the_field() {
        let cases: Vec<(&str, &str)> = vec![
            ("[data]\nsparsity = 17", "data.sparsity"),
            ("[data]\nsparsity = 0", "data.sparsity"),
            (
                "[data]\ndim = 8\ndictionary = \"orthonormal\"",
                "data.dictionary",
            ),
            (
                "[data]\ndim = 16\natoms = 32\ndictionary = \"gaussian\"\nmax_coherence = 0.5",
                "data.max_coherence",
            ),
            (
                "[data]\ndim = 64\natoms = 64\nsparsity = 6\n[theory]\ngradient = \"exact\"",
                "theory.gradient",
            ),
            (
                "[data]\ndim = 64\natoms = 64\nsparsity = 6\n[training]\ngradient = \"exact\"",
                "training.gradient",
            ),
            ("[network]\ntau = 0.0", "network.tau"),
            (
                "[network]\ntau = -1.0\nactivation = \"threshold+\"",
                "network.tau",
            ),
            ("[data]\nnoise = -0.1", "data.noise"),
            (
                "[data]\nvalues = \"uniform\"\nlo = 2.0\nhi = 1.0",
                "data.lo",
            ),
            (
                "[data]\nvalues = \"uniform\"\nlo = 0.0\nhi = 1.0",
                "data.lo",
            ),
            ("[data]\nvalues = \"gauss\"", "data.values"),
            (
                "[data]\nvalues = [1.0, 2.0]\nvalue_probs = [0.5]",
                "data.value_probs",
            ),
            (
                "[data]\nnoise = 0.1\n[theory]\ngradient = \"exact\"",
                "theory.gradient",
            ),
            (
                "[data]\nvalues = \"uniform\"\n[theory]\ngradient = \"exact\"",
                "theory.gradient",
            ),
            ("[training]\nlr = 0.0", "training.lr"),
            (
                "[training]\ngradient = \"sgd\"\nbatch = 20000",
                "training.batch",
            ),
            ("[init]\ndistance = -0.1", "init.distance"),
            ("[init]\nkind = \"file\"", "init.weights"),
            ("[data]\ndictionary = \"file\"", "data.dictionary_path"),
            ("[output]\npoints = 1", "output.points"),
            ("[simulation]\nseeds = 0", "simulation.seeds"),
            (
                "[theory]\nhessian = \"always\"\n[data]\nnoise = 0.1",
                "theory.hessian",
            ),
        ];
        for (text, field) in cases {
            let e = parse(text)
                .check()
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            let msg = e.to_string();
            assert_eq!(field_of(e), field, "{text}: {msg}");
        }
        // The Welch message says why; the exact-count message points to mc.
        let e =
            parse("[data]\ndim = 16\natoms = 32\ndictionary = \"gaussian\"\nmax_coherence = 0.5")
                .check()
                .unwrap_err()
                .to_string();
        assert!(e.contains("incoherence impossible"), "{e}");
        let e = parse("[data]\ndim = 64\natoms = 64\nsparsity = 6\n[theory]\ngradient = \"exact\"")
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"mc\""), "{e}");
        // Auto falls back to mc where exact is impossible.
        let x = parse("[data]\ndim = 64\natoms = 64\nsparsity = 6")
            .check()
            .unwrap();
        assert!(matches!(x.theory, TheoryAlgorithm::Mc { .. }));
    }

    #[test]
    fn files_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let a = nalgebra::DMatrix::from_fn(24, 16, |i, j| if i == j { 2.0 } else { 0.0 });
        crate::io::write_matrix_csv(&dir.path().join("A.csv"), &a).unwrap();
        let w = nalgebra::DMatrix::from_fn(16, 24, |i, j| if i == j { 1.0 } else { 0.01 });
        crate::io::write_matrix_csv(&dir.path().join("W0.csv"), &w).unwrap();
        std::fs::write(dir.path().join("b.csv"), "-0.5\n".repeat(16)).unwrap();
        let mut p = parse(
            "[data]\ndictionary = \"file\"\ndictionary_path = \"A.csv\"\n[init]\nkind = \"file\"\nweights = \"W0.csv\"\n\
             [network]\nbias = \"b.csv\"",
        );
        p.resolve_paths(dir.path());
        let x = p.check().unwrap();
        match &x.dictionary {
            Dictionary::File(a) => assert!((a[(0, 0)] - 1.0).abs() < 1e-15),
            _ => panic!(),
        }
        assert_eq!(x.bias[3], -0.5);
        let mut bad = parse("[init]\nkind = \"file\"\nweights = \"A.csv\"");
        bad.resolve_paths(dir.path());
        assert_eq!(field_of(bad.check().unwrap_err()), "init.weights");
        let mut bad = parse("[network]\nbias = \"W0.csv\"");
        bad.resolve_paths(dir.path());
        assert!(bad.check().is_err());
        let p = parse("[network]\nbias = -0.25");
        assert_eq!(p.check().unwrap().bias[0], -0.25);
    }
}
