//! The unchecked configuration of the NTK model and its validation. This is the only file
//! that knows config key names: every error raised here names the dotted key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::net::{LossNorm, Regime, VLaw};
use crate::base::grid::Spacing;

/// The built-in default configuration (documented TOML); parses to [`Params::default`].
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Where the training points come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// n rows of iid N(0, 1) normalised to unit norm, from `data.seed`.
    #[default]
    Sphere,
    /// An n × d matrix file (CSV or .npy), one point per row, used as is.
    File,
}

/// How the weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitKind {
    /// Random: W iid N(0, 1), V from `init.v_law`, from the replicate seed.
    #[default]
    Random,
    /// From files `init.encoder` (m × d) and `init.decoder` (d × m).
    Weights,
}

/// Which infinite-width kernel sets the default step size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrKernel {
    /// The kernel of the training regime (weak: K_enc; joint: K_enc + K_dec; tied: H_tied(0)).
    #[default]
    Regime,
    /// Always the joint kernel K_enc + K_dec: a common η for weak-vs-joint comparisons.
    Joint,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataParams {
    /// `sphere` or `file`.
    pub kind: DataKind,
    /// n (sphere).
    pub samples: usize,
    /// d (sphere).
    pub dim: usize,
    /// Seed of the data set and of the test points (shared by all replicates).
    pub seed: u64,
    /// The n × d data file (kind = "file").
    pub path: Option<PathBuf>,
}

impl Default for DataParams {
    fn default() -> Self {
        Self {
            kind: DataKind::Sphere,
            samples: 12,
            dim: 6,
            seed: 42,
            path: None,
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkParams {
    /// m, the number of hidden units.
    pub width: usize,
    /// κ, the output scale.
    pub kappa: f64,
}

impl Default for NetworkParams {
    fn default() -> Self {
        Self {
            width: 1000,
            kappa: 1.0,
        }
    }
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingParams {
    /// `weak`, `joint` or `tied`.
    pub regime: Regime,
    /// Number of full-batch GD steps T.
    pub steps: u64,
    /// η; absent: `lr_scale / (s λ_max)` of the kernel chosen by `lr_kernel`.
    pub lr: Option<f64>,
    /// Factor of the default η; absent: 1, or ½ for tied with `lr_kernel = "regime"` (its λ_max
    /// is that of H_tied(0)).
    pub lr_scale: Option<f64>,
    /// `regime` or `joint`.
    pub lr_kernel: LrKernel,
    /// `sum` or `mean`.
    pub loss_norm: LossNorm,
}

impl Default for TrainingParams {
    fn default() -> Self {
        Self {
            regime: Regime::Joint,
            steps: 500,
            lr: None,
            lr_scale: None,
            lr_kernel: LrKernel::Regime,
            loss_norm: LossNorm::Sum,
        }
    }
}

/// `[init]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitParams {
    /// `random` or `weights`.
    pub kind: InitKind,
    /// Law of the decoder entries: `gaussian` or `rademacher`.
    pub v_law: VLaw,
    /// Mirror the units so that u₀ ≡ 0 (even width, weak/joint only).
    pub symmetric: bool,
    /// Seed of replicate 0 (replicate j uses seed + j).
    pub seed: u64,
    /// Encoder file W (m × d), kind = "weights".
    pub encoder: Option<PathBuf>,
    /// Decoder file V (d × m), kind = "weights" (weak, joint).
    pub decoder: Option<PathBuf>,
}

impl Default for InitParams {
    fn default() -> Self {
        Self {
            kind: InitKind::Random,
            v_law: VLaw::Gaussian,
            symmetric: false,
            seed: 0,
            encoder: None,
            decoder: None,
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputParams {
    /// Number of recorded steps (including 0 and T).
    pub points: usize,
    /// `linear` or `log`.
    pub spacing: Spacing,
    /// Compute λ_min(H(t)) at every recorded step and ‖H(0) − H^∞‖/‖H^∞‖ (cost O(n²d²m)).
    pub gram: bool,
}

impl Default for OutputParams {
    fn default() -> Self {
        Self {
            points: 50,
            spacing: Spacing::Log,
            gram: true,
        }
    }
}

/// `[simulation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulationParams {
    /// Number of replicates.
    pub seeds: usize,
    /// Fresh unit test points for the memorisation and tied observables.
    pub test_points: usize,
    /// A run succeeds when L(T)/L(0) is below this.
    pub success_ratio: f64,
    /// `[lo, hi]`: the slope of log L is fitted over lo·L(0) < L < hi·L(0).
    pub slope_window: [f64; 2],
}

impl Default for SimulationParams {
    fn default() -> Self {
        Self {
            seeds: 4,
            test_points: 100,
            success_ratio: 1e-6,
            slope_window: [1e-7, 1e-2],
        }
    }
}

/// The NTK model's configuration (unchecked; [`Params::check`] validates it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
}

fn resolve(p: &mut Option<PathBuf>, base: &Path) {
    if let Some(path) = p {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
}

impl Params {
    /// The memory every command needs at least (bytes by key; see [`crate::resources`]):
    /// the nd×nd Gram matrix with its eigen-decomposition workspace (`data.samples`, or
    /// `data.dim` when d > n), the m×d weights with their gradients (`network.width`), the
    /// test points (`simulation.test_points`) and the output table (`output.points`).
    pub fn memory(&self) -> crate::resources::Estimate {
        use crate::resources::F64;
        let (n, d) = (self.data.samples as f64, self.data.dim as f64);
        vec![
            (
                if n >= d { "data.samples" } else { "data.dim" },
                F64 * 3.0 * (n * d) * (n * d),
            ),
            ("network.width", F64 * 6.0 * self.network.width as f64 * d),
            (
                "simulation.test_points",
                F64 * 2.0 * self.simulation.test_points as f64 * d,
            ),
            ("output.points", F64 * 10.0 * self.output.points as f64),
        ]
    }

    /// Make the file keys (`data.path`, `init.encoder`, `init.decoder`) relative to `base`
    /// (the config file's folder) absolute.
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve(&mut self.data.path, base);
        resolve(&mut self.init.encoder, base);
        resolve(&mut self.init.decoder, base);
    }

    /// Parse a TOML document (with `[model]` and `[sweep]` removed) into parameters.
    pub fn from_toml(text: &str) -> Result<Self> {
        crate::base::config::params_from_toml(text, std::path::Path::new("config"), super::KIND)
    }
}

use nalgebra::DMatrix;

use super::data::{check_points, sphere, DataError};
use super::gram::kernels;
use super::linalg::sym_eigen;
use super::net::NetError;
use super::{Experiment, Spectra};
use crate::base::grid::output_steps;
use crate::error::{Error, Result};
use crate::io::read_matrix;
use crate::rng::{rng_for, stream};

fn positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("must be a finite number > 0, got {v}"),
        ))
    }
}

fn data_error(field: &str, e: DataError) -> Error {
    Error::config(field, e.to_string())
}

impl Params {
    /// Validate everything and build the experiment: the data set, its kernels and their
    /// spectra, the test points, the output steps and (weak/joint) the step size. Errors
    /// name the dotted config key. A step size above 2/λ_max is a warning (printed to
    /// stderr and recorded in every run's `record["warnings"]`), not an error.
    pub fn check(&self) -> Result<Experiment> {
        let p = self;
        let m = p.network.width;
        if m == 0 {
            return Err(Error::config("network.width", "must be ≥ 1"));
        }
        positive("network.kappa", p.network.kappa)?;
        let kappa = p.network.kappa;

        // ---- data
        let (x, data_key) = match p.data.kind {
            DataKind::Sphere => {
                if p.data.samples < 1 {
                    return Err(Error::config("data.samples", "n must be ≥ 1"));
                }
                if p.data.dim < 1 {
                    return Err(Error::config("data.dim", "d must be ≥ 1"));
                }
                let mut rng = rng_for(p.data.seed, stream::TRAIN);
                (sphere(p.data.samples, p.data.dim, &mut rng), "data.seed")
            }
            DataKind::File => {
                let path = p.data.path.as_ref().ok_or_else(|| {
                    Error::config("data.path", "required with data.kind = \"file\"")
                })?;
                (read_matrix(path)?, "data.path")
            }
        };
        check_points(&x).map_err(|e| data_error(data_key, e))?;
        let (n, d) = x.shape();

        // ---- initialisation
        let regime = p.training.regime;
        let weights = match p.init.kind {
            InitKind::Random => {
                if p.init.symmetric && regime == Regime::Tied {
                    return Err(Error::config(
                        "init.symmetric",
                        NetError::SymmetricTied.to_string(),
                    ));
                }
                if p.init.symmetric && m % 2 == 1 {
                    return Err(Error::config(
                        "network.width",
                        NetError::OddWidth(m).to_string(),
                    ));
                }
                None
            }
            InitKind::Weights => {
                if p.init.symmetric {
                    return Err(Error::config(
                        "init.symmetric",
                        "only with init.kind = \"random\" (the weights come from files)",
                    ));
                }
                let path = p.init.encoder.as_ref().ok_or_else(|| {
                    Error::config("init.encoder", "required with init.kind = \"weights\"")
                })?;
                let w = read_matrix(path)?;
                if w.ncols() != d {
                    return Err(Error::config(
                        "init.encoder",
                        format!(
                            "must be m × d with d = {d} (the data's), got {} × {}",
                            w.nrows(),
                            w.ncols()
                        ),
                    ));
                }
                if w.nrows() != m {
                    return Err(Error::config(
                        "network.width",
                        format!("is {m} but init.encoder has {} rows", w.nrows()),
                    ));
                }
                let v = if regime == Regime::Tied {
                    None
                } else {
                    let path = p.init.decoder.as_ref().ok_or_else(|| {
                        Error::config(
                            "init.decoder",
                            "required with init.kind = \"weights\" (weak, joint)",
                        )
                    })?;
                    let v = read_matrix(path)?;
                    if v.shape() != (d, m) {
                        return Err(Error::config(
                            "init.decoder",
                            format!(
                                "must be d × m = {d} × {m}, got {} × {}",
                                v.nrows(),
                                v.ncols()
                            ),
                        ));
                    }
                    Some(v)
                };
                Some((w, v))
            }
        };

        // ---- training and output
        if p.training.steps < 1 {
            return Err(Error::config("training.steps", "must be ≥ 1"));
        }
        if let Some(lr) = p.training.lr {
            positive("training.lr", lr)?;
        }
        if let Some(s) = p.training.lr_scale {
            positive("training.lr_scale", s)?;
        }
        let steps = output_steps(
            p.training.steps,
            p.output.points,
            p.output.spacing,
            "output.points",
        )?;
        if p.simulation.seeds < 1 {
            return Err(Error::config("simulation.seeds", "must be ≥ 1"));
        }
        if p.simulation.test_points < 1 {
            return Err(Error::config("simulation.test_points", "must be ≥ 1"));
        }
        let sr = p.simulation.success_ratio;
        if !(sr > 0.0 && sr < 1.0) {
            return Err(Error::config(
                "simulation.success_ratio",
                format!("must lie in (0, 1), got {sr}"),
            ));
        }
        let [lo, hi] = p.simulation.slope_window;
        if !(lo > 0.0 && lo < hi && hi < 1.0) {
            return Err(Error::config(
                "simulation.slope_window",
                format!("must be [lo, hi] with 0 < lo < hi < 1, got [{lo}, {hi}]"),
            ));
        }

        // ---- kernels
        let (k_enc, k_dec) = kernels(&x, &x);
        let k_joint = &k_enc + &k_dec;
        let extremes = |k: &DMatrix<f64>| {
            let (vals, vecs) = sym_eigen(k.clone());
            (vals, vecs)
        };
        let (enc_vals, enc_vecs) = extremes(&k_enc);
        let (dec_vals, _) = extremes(&k_dec);
        let (joint_vals, joint_vecs) = extremes(&k_joint);
        let spectra = Spectra {
            k_enc: [enc_vals[0], enc_vals[n - 1]],
            k_dec: [dec_vals[0], dec_vals[n - 1]],
            k_joint: [joint_vals[0], joint_vals[n - 1]],
        };
        let kernel = match regime {
            Regime::Weak => Some((enc_vals, enc_vecs)),
            Regime::Joint => Some((joint_vals, joint_vecs)),
            Regime::Tied => None,
        };
        if let Some((vals, _)) = &kernel {
            if vals[0] <= 0.0 {
                return Err(Error::config(
                    data_key,
                    format!("the kernel of the data is not positive definite (λ_min = {:e}): points too close to parallel", vals[0]),
                ));
            }
        }

        // ---- step size (weak/joint: fixed by the data; tied: per replicate)
        let s_l = p.training.loss_norm.scale(n);
        let mut warnings = Vec::new();
        let (lr, lr_rule) = match (p.training.lr, regime, p.training.lr_kernel) {
            (Some(lr), _, _) => (Some(lr), "training.lr".to_string()),
            (None, Regime::Tied, LrKernel::Regime) => (None, String::new()),
            (None, _, which) => {
                let (lmax, name) = match (which, regime) {
                    (LrKernel::Joint, _) | (_, Regime::Joint) | (_, Regime::Tied) => {
                        (spectra.k_joint[1], "H^∞_joint")
                    }
                    (LrKernel::Regime, Regime::Weak) => (spectra.k_enc[1], "H^∞_weak"),
                };
                let scale = p.training.lr_scale.unwrap_or(1.0);
                let lmax = kappa * kappa * lmax;
                let norm = if s_l == 1.0 { "" } else { "·n" };
                (
                    Some(scale / (s_l * lmax)),
                    format!("{scale}{norm}/λ_max({name}) = {scale}{norm}/{lmax:.6}"),
                )
            }
        };
        if let (Some(lr), Some((vals, _))) = (lr, &kernel) {
            let lmax = kappa * kappa * vals[n - 1];
            if lr * s_l > 2.0 / lmax {
                let w = format!(
                    "training.lr: the effective step η = {:.6} exceeds 2/λ_max(H^∞) = {:.6}: GD on the linearised model diverges",
                    lr * s_l,
                    2.0 / lmax
                );
                eprintln!("warning: {w}");
                warnings.push(w);
            }
        }

        let test = sphere(
            p.simulation.test_points,
            d,
            &mut rng_for(p.data.seed, stream::TEST),
        );
        Ok(Experiment {
            params: p.clone(),
            x,
            test,
            k_enc,
            k_dec,
            spectra,
            kernel,
            weights,
            steps,
            lr,
            lr_rule,
            warnings,
        })
    }
}
