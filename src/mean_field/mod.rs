//! Weight-tied two-layer autoencoders in mean-field scaling (P.-M. Nguyen, *Analysis of
//! feature learning in weight-tied autoencoders via the mean field lens*, arXiv:2102.08373;
//! maths and notation: docs/mean-field.md).
//!
//! The network (docs/mean-field.md §1) is `x̂(x; Θ) = (α/N) Σ_i θ_i σ(γ θ_iᵀx)`, trained on
//! `ℓ = ½‖x − x̂‖² + (λ/2N) Σ_i ‖θ_i‖²` by online SGD with learning rate εN (time `t = kε`).
//! Everything works in the eigenbasis of the data's second moment `Σ = diag(κ_1..κ_d)`
//! (no loss of generality: the initialisation is isotropic).
//!
//! * [`kernels`]: the Gaussian kernels K1, K2, Kss, Kdd, Kds (§2.2–2.3);
//! * [`particles`]: exact population velocity and risk of P particles, the deterministic
//!   particle solver (§2.4) — the mean-field limit as P → ∞, the finite-N population flow
//!   at P = N;
//! * [`relu`]: the exact ReLU reduction (§3): Riccati ODE for `M = ∫θθᵀdρ`, the logistic
//!   gain per principal direction, final gains `(1 − λ/(βκ_j))₊`, phase times;
//! * [`sgd`]: N-neuron online SGD, many seeds in parallel, thread-count invariant;
//! * [`MeanFieldExperiment`]: a validated experiment (built by
//!   `Config::resolve_mean_field`) with its theory and simulation runs.
//!
//! ```
//! use aedyn::base::Dynamics;
//!
//! let mut p = aedyn::mean_field::Params::default(); // ReLU, d = 50, four blocks, λ = 0.3
//! p.network.neurons = 200;
//! p.output.t_max = 1.0;
//! p.output.points = 5;
//! let exp = p.check()?; // validated before any numerics
//! let theory = exp.theory(0, &|_| {})?; // the exact logistic solution (ReLU)
//! let sgd = exp.simulate(exp.replicate_seed(0), &|_| {})?;
//! assert_eq!(theory.table.names, sgd.table.names); // test_error, gain_0, …
//! # Ok::<(), aedyn::Error>(())
//! ```
//!
//! Observables (docs/mean-field.md §4): the population MSE `½E‖x − x̂‖²` and the block gains
//! `g_j = E[(u·x̂)(u·x)]/κ_j` averaged over a block's directions `u`.

pub mod figures;
pub mod kernels;
mod pairs;
pub mod params;
pub mod particles;
pub mod relu;
pub mod sgd;

use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::rng::{rng_for, stream, Rng};

pub use kernels::{MfKernels, PairKernels};
pub use params::{Params, DEFAULT_CONFIG};
pub use particles::{ParticleRun, Population, Risk, VelocityCase};
pub use sgd::{MfSeedRun, MfSimulator};

/// The network's scalings, activation and penalty (docs/mean-field.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanFieldModel {
    /// σ.
    pub activation: Activation,
    /// α = `output_scale` (default 1).
    pub alpha: f64,
    /// γ = `preact_scale` (default 1).
    pub gamma: f64,
    /// λ, the ℓ2 penalty.
    pub lambda: f64,
}

impl MeanFieldModel {
    /// β = αγ (docs/mean-field.md §1, §3).
    pub fn beta(&self) -> f64 {
        self.alpha * self.gamma
    }
}

/// A group of consecutive eigendirections whose gains are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Block {
    /// Mean eigenvalue κ of the block.
    pub kappa: f64,
    /// First direction.
    pub start: usize,
    /// Number of directions.
    pub len: usize,
}

/// Input data in the eigenbasis of its second moment Σ.
#[derive(Debug, Clone)]
pub struct MfData {
    kappa: Vec<f64>,
    blocks: Vec<Block>,
    samples: Option<Samples>,
}

/// A real data set: centred samples in Σ̂'s eigenbasis, drawn with replacement.
#[derive(Debug, Clone)]
struct Samples {
    /// d×n, column μ is sample μ.
    x: DMatrix<f64>,
    sign_flip: bool,
}

/// Relative size below which an eigenvalue of a data set counts as zero (no gain column).
pub const ZERO_EIGENVALUE: f64 = 1e-10;

impl MfData {
    /// Gaussian data `N(0, Σ)` with a block spectrum `[(κ_k, d_k)]` (docs/mean-field.md §1), in the given
    /// order; sampling costs O(d) per input.
    pub fn blocks(blocks: &[(f64, usize)]) -> Result<Self> {
        if blocks.is_empty() {
            return Err(Error::InvalidState(
                "a block spectrum needs at least one block".into(),
            ));
        }
        let mut kappa = Vec::new();
        let mut out = Vec::new();
        for (i, &(k, m)) in blocks.iter().enumerate() {
            if !(k.is_finite() && k >= 0.0) {
                return Err(Error::InvalidState(format!(
                    "block {i}: eigenvalue κ must be a finite number ≥ 0, got {k}"
                )));
            }
            if m == 0 {
                return Err(Error::InvalidState(format!(
                    "block {i}: multiplicity must be ≥ 1"
                )));
            }
            out.push(Block {
                kappa: k,
                start: kappa.len(),
                len: m,
            });
            kappa.extend(std::iter::repeat_n(k, m));
        }
        Ok(Self {
            kappa,
            blocks: out,
            samples: None,
        })
    }

    /// A real data set (n×d, one sample per row): centred, rotated into the eigenbasis of
    /// its second moment Σ̂ = (1/n) Σ_μ x_μ x_μᵀ (eigenvalues decreasing), optionally scaled
    /// to tr Σ̂/d = 1 (`normalize`) and sign-flipped at every draw (`sign_flip`, docs/mean-field.md §1).
    /// Every direction with κ > [`ZERO_EIGENVALUE`]·κ_max is its own block.
    pub fn from_samples(x: &DMatrix<f64>, normalize: bool, sign_flip: bool) -> Result<Self> {
        let (n, d) = x.shape();
        if n < 2 || d < 1 {
            return Err(Error::InvalidState(format!(
                "a data set needs ≥ 2 samples and ≥ 1 column, got {n}×{d}"
            )));
        }
        let mean = x.row_mean();
        let mut xc = x.clone();
        for mut r in xc.row_iter_mut() {
            r -= &mean;
        }
        let cov = xc.transpose() * &xc / n as f64;
        let eig = nalgebra::SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let u = DMatrix::from_fn(d, d, |i, j| eig.eigenvectors[(i, order[j])]);
        let mut kappa: Vec<f64> = order.iter().map(|&j| eig.eigenvalues[j].max(0.0)).collect();
        let trace: f64 = kappa.iter().sum();
        if trace <= 0.0 {
            return Err(Error::InvalidState("the data set has zero variance".into()));
        }
        let scale = if normalize {
            (d as f64 / trace).sqrt()
        } else {
            1.0
        };
        kappa.iter_mut().for_each(|k| *k *= scale * scale);
        let rotated = (xc * u).transpose() * scale;
        let kmax = kappa[0];
        let blocks = kappa
            .iter()
            .enumerate()
            .filter(|(_, &k)| k > ZERO_EIGENVALUE * kmax)
            .map(|(j, &k)| Block {
                kappa: k,
                start: j,
                len: 1,
            })
            .collect();
        Ok(Self {
            kappa,
            blocks,
            samples: Some(Samples {
                x: rotated,
                sign_flip,
            }),
        })
    }

    /// d.
    pub fn dim(&self) -> usize {
        self.kappa.len()
    }

    /// κ_1..κ_d (the diagonal of Σ in its eigenbasis).
    pub fn kappa(&self) -> &[f64] {
        &self.kappa
    }

    /// The blocks whose gains are reported.
    pub fn block_list(&self) -> &[Block] {
        &self.blocks
    }

    /// tr Σ.
    pub fn trace(&self) -> f64 {
        self.kappa.iter().sum()
    }

    /// True for a real data set (observables are then empirical averages over it).
    pub fn is_dataset(&self) -> bool {
        self.samples.is_some()
    }

    /// True when x and −x are equal in law (Gaussian data, or sign-flipped samples): the
    /// condition of the ReLU reduction (docs/mean-field.md §3.1).
    pub fn sign_symmetric(&self) -> bool {
        self.samples.as_ref().is_none_or(|s| s.sign_flip)
    }

    /// Number of samples of a real data set.
    pub fn samples(&self) -> Option<usize> {
        self.samples.as_ref().map(|s| s.x.ncols())
    }

    /// Draw one input into `x` (length d).
    pub fn sample(&self, rng: &mut Rng, x: &mut [f64]) {
        use rand::Rng as _;
        match &self.samples {
            None => {
                for (xj, k) in x.iter_mut().zip(&self.kappa) {
                    let z: f64 = StandardNormal.sample(rng);
                    *xj = k.sqrt() * z;
                }
            }
            Some(s) => {
                let mu = rng.random_range(0..s.x.ncols());
                let sign = if s.sign_flip && rng.random::<bool>() {
                    -1.0
                } else {
                    1.0
                };
                for (xj, v) in x.iter_mut().zip(s.x.column(mu).iter()) {
                    *xj = sign * v;
                }
            }
        }
    }

    /// Block means of per-direction values.
    pub fn block_means(&self, per_direction: &[f64]) -> Vec<f64> {
        self.blocks
            .iter()
            .map(|b| per_direction[b.start..b.start + b.len].iter().sum::<f64>() / b.len as f64)
            .collect()
    }

    /// Empirical observables of the network Θ over the data set (each sample, and its
    /// negative when sign-flipped): `(MSE, per-direction gains E[x̂_j x_j]/κ_j)`. `None` for
    /// Gaussian data.
    pub fn empirical_observables(
        &self,
        model: &MeanFieldModel,
        theta: &DMatrix<f64>,
    ) -> Option<(f64, Vec<f64>)> {
        let s = self.samples.as_ref()?;
        let (n_neurons, d) = theta.shape();
        let signs: &[f64] = if s.sign_flip { &[1.0, -1.0] } else { &[1.0] };
        let mut sq = 0.0;
        let mut cross = vec![0.0; d];
        for &sign in signs {
            let x = &s.x * sign;
            let z = theta * &x; // N×n pre-activations / γ
            let act = z.map(|v| model.activation.g(model.gamma * v));
            let xhat = theta.tr_mul(&act) * (model.alpha / n_neurons as f64);
            for (mu, col) in xhat.column_iter().enumerate() {
                for j in 0..d {
                    let (xh, xv) = (col[j], x[(j, mu)]);
                    sq += (xv - xh) * (xv - xh);
                    cross[j] += xh * xv;
                }
            }
        }
        let count = (signs.len() * s.x.ncols()) as f64;
        let gains = cross
            .iter()
            .zip(&self.kappa)
            .map(|(c, &k)| if k > 0.0 { c / count / k } else { f64::NAN })
            .collect();
        Some((0.5 * sq / count, gains))
    }
}

/// How initial neurons are drawn (docs/mean-field.md §1, "Initialisation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Symmetry {
    /// θ_i i.i.d. N(0, s₀² I).
    Iid,
    /// N/2 i.i.d. draws and their negatives (exactly sign-symmetric empirical measure).
    Paired,
    /// Paired, with the N/2 draws whitened so that `(1/N)Σθθᵀ = s₀² I` exactly (needs
    /// N/2 ≥ d): the particle solver then starts from the mean-field initial second moment.
    Whitened,
}

/// Initial neurons (N×d, row i is θ_i) from the stream `rng_for(seed, INIT)`.
pub fn initial_neurons(
    n: usize,
    d: usize,
    std: f64,
    symmetry: Symmetry,
    seed: u64,
) -> Result<DMatrix<f64>> {
    let mut rng = rng_for(seed, stream::INIT);
    let mut draw = |rows: usize| {
        DMatrix::from_fn(rows, d, |_, _| {
            let z: f64 = StandardNormal.sample(&mut rng);
            std * z
        })
    };
    if symmetry == Symmetry::Iid {
        return Ok(draw(n));
    }
    if !n.is_multiple_of(2) {
        return Err(Error::InvalidState(format!(
            "paired/whitened neurons need an even N, got {n}"
        )));
    }
    let mut half = draw(n / 2);
    if symmetry == Symmetry::Whitened {
        if n / 2 < d {
            return Err(Error::InvalidState(format!(
                "whitened neurons need N ≥ 2d = {}, got {n}",
                2 * d
            )));
        }
        // H ← s₀ H C^{-1/2}, C = HᵀH/(N/2), so that (2/N) HᵀH = s₀² I.
        let c = half.tr_mul(&half) / (n / 2) as f64;
        let eig = nalgebra::SymmetricEigen::new(c);
        let inv_sqrt = &eig.eigenvectors
            * DMatrix::from_diagonal(&eig.eigenvalues.map(|l| 1.0 / l.sqrt()))
            * eig.eigenvectors.transpose();
        half = &half * inv_sqrt * std;
    }
    Ok(DMatrix::from_fn(n, d, |i, j| {
        let v = half[(i / 2, j)];
        if i % 2 == 0 {
            v
        } else {
            -v
        }
    }))
}

/// Observables at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MfSnapshot {
    /// t = kε (SGD) or the integration time.
    pub time: f64,
    /// Population MSE `½E‖x − x̂‖²` (the risk without its penalty).
    pub test_error: f64,
    /// Block gains.
    pub gains: Vec<f64>,
}

/// Observables at increasing times.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MfTrajectory {
    /// Snapshots in time order.
    pub snapshots: Vec<MfSnapshot>,
}

impl MfTrajectory {
    /// Times.
    pub fn times(&self) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.time).collect()
    }

    /// Test errors (MSE).
    pub fn test_errors(&self) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.test_error).collect()
    }

    /// Gain of block `j` over time.
    pub fn gain(&self, j: usize) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.gains[j]).collect()
    }

    /// The snapshot-wise mean of trajectories recorded at the same times.
    pub fn mean(runs: &[&MfTrajectory]) -> MfTrajectory {
        let n = runs.len() as f64;
        let first = runs[0];
        MfTrajectory {
            snapshots: (0..first.snapshots.len())
                .map(|k| {
                    let s0 = &first.snapshots[k];
                    MfSnapshot {
                        time: s0.time,
                        test_error: runs.iter().map(|r| r.snapshots[k].test_error).sum::<f64>() / n,
                        gains: (0..s0.gains.len())
                            .map(|j| runs.iter().map(|r| r.snapshots[k].gains[j]).sum::<f64>() / n)
                            .collect(),
                    }
                })
                .collect(),
        }
    }

    /// Per block, `max_t |g_j(t) − g_j^ref(t)|` (same times; docs/mean-field.md §4 "max gain error").
    pub fn max_gain_errors(&self, reference: &MfTrajectory) -> Vec<f64> {
        let nb = self.snapshots.first().map_or(0, |s| s.gains.len());
        (0..nb)
            .map(|j| {
                self.snapshots
                    .iter()
                    .zip(&reference.snapshots)
                    .map(|(a, b)| (a.gains[j] - b.gains[j]).abs())
                    .fold(0.0, f64::max)
            })
            .collect()
    }

    /// `max_t |MSE(t)/MSE^ref(t) − 1|`.
    pub fn max_relative_mse_error(&self, reference: &MfTrajectory) -> f64 {
        self.snapshots
            .iter()
            .zip(&reference.snapshots)
            .map(|(a, b)| (a.test_error / b.test_error - 1.0).abs())
            .fold(0.0, f64::max)
    }

    /// First time block `j`'s gain reaches `level` (linear interpolation between records);
    /// `None` if it never does (docs/mean-field.md §4 "phase-time error").
    pub fn crossing_time(&self, j: usize, level: f64) -> Option<f64> {
        self.snapshots.windows(2).find_map(|w| {
            let (g0, g1) = (w[0].gains[j], w[1].gains[j]);
            (g0 < level && g1 >= level)
                .then(|| w[0].time + (level - g0) / (g1 - g0) * (w[1].time - w[0].time))
        })
    }
}

/// Which theory a [`MeanFieldExperiment`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// The logistic closed form for ReLU and sign-symmetric data, the particle solver otherwise.
    Auto,
    /// The ReLU logistic closed form (docs/mean-field.md §3.2); an error for other σ or asymmetric data.
    Logistic,
    /// The particle solver (docs/mean-field.md §2.4) with `theory.particles` whitened paired particles.
    Particles,
}

/// Online SGD settings (docs/mean-field.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SgdParams {
    /// ε.
    pub step: f64,
    /// B.
    pub batch: usize,
    /// Each minibatch is B/2 draws and their negatives.
    pub antithetic: bool,
}

/// A validated mean-field experiment (built by `Config::resolve_mean_field`).
#[derive(Debug, Clone)]
pub struct MeanFieldExperiment {
    /// The config it was built from.
    pub params: Params,
    /// Network.
    pub model: MeanFieldModel,
    /// Data.
    pub data: MfData,
    /// N.
    pub neurons: usize,
    /// s₀.
    pub init_std: f64,
    /// Initial law of the SGD neurons.
    pub symmetry: Symmetry,
    /// SGD.
    pub sgd: SgdParams,
    /// Output times, starting at 0.
    pub times: Vec<f64>,
    /// Theory solver.
    pub solver: Solver,
    /// P of the particle solver.
    pub particles: usize,
    /// Particle-solver RK4 step.
    pub dt: f64,
    /// Gauss–Hermite nodes for activations without closed-form kernels.
    pub quadrature_nodes: usize,
    /// Seed of replicate 0 (replicate j uses seed + j).
    pub seed: u64,
    /// Number of SGD replicates.
    pub seeds: usize,
    /// What is legal but outside the model's regime (printed by the CLI, recorded in every
    /// output's `warnings`).
    pub warnings: Vec<String>,
}

/// A theory run and the solver that produced it.
#[derive(Debug, Clone)]
pub struct TheoryRun {
    /// Observables at the output times.
    pub trajectory: MfTrajectory,
    /// `"logistic"` or `"particles"`.
    pub solver: &'static str,
}

impl MeanFieldExperiment {
    /// The seed of replicate `j`.
    pub fn replicate_seed(&self, j: usize) -> u64 {
        self.seed.wrapping_add(j as u64)
    }

    /// Whether the theory is the ReLU logistic closed form (see [`Solver`]); an error when
    /// `Solver::Logistic` is asked for where it does not hold.
    pub fn uses_logistic(&self) -> Result<bool> {
        let logistic_ok = self.model.activation == crate::activation::Activation::Relu
            && self.data.sign_symmetric();
        match self.solver {
            Solver::Auto => Ok(logistic_ok),
            Solver::Logistic if !logistic_ok => Err(Error::InvalidState(
                "the logistic solution needs a ReLU activation and sign-symmetric data (Gaussian, or sign-flipped)".into(),
            )),
            Solver::Logistic => Ok(true),
            Solver::Particles => Ok(false),
        }
    }

    /// The kernel evaluator of the model's activation.
    pub fn kernels(&self) -> Result<MfKernels> {
        MfKernels::new(self.model.activation, self.quadrature_nodes)
    }

    /// The mean-field-limit theory at the output times: the ReLU logistic solution
    /// (exact, docs/mean-field.md §3.2) or the particle solver from P whitened paired particles (seed
    /// `seed`, docs/mean-field.md §2.4); see [`Solver`].
    pub fn limit(&self, progress: &(dyn Fn(u64) + Sync)) -> Result<TheoryRun> {
        if self.uses_logistic()? {
            let g0 = 0.5 * self.model.beta() * self.init_std * self.init_std;
            return Ok(TheoryRun {
                trajectory: relu::logistic_trajectory(&self.model, &self.data, g0, &self.times),
                solver: "logistic",
            });
        }
        let kernels = self.kernels()?;
        let pop = Population::new(&self.model, &kernels, self.data.kappa());
        let theta0 = initial_neurons(
            self.particles,
            self.data.dim(),
            self.init_std,
            Symmetry::Whitened,
            self.seed,
        )?;
        let run = pop.run(theta0, &self.times, self.dt, &self.data, progress)?;
        Ok(TheoryRun {
            trajectory: run.trajectory,
            solver: "particles",
        })
    }
}

/// The model's name in `[model] kind`.
pub const KIND: &str = "mean-field";

/// A trajectory as a table: `time,test_error,gain_0,gain_1,…`.
pub fn trajectory_table(tr: &MfTrajectory) -> crate::base::Table {
    let blocks = tr.snapshots.first().map_or(0, |s| s.gains.len());
    let mut names = vec!["test_error".to_string()];
    names.extend((0..blocks).map(|j| format!("gain_{j}")));
    let mut t = crate::base::Table::new("time", names);
    for s in &tr.snapshots {
        let mut row = vec![s.test_error];
        row.extend(&s.gains);
        t.push(s.time, row);
    }
    t
}

impl MeanFieldExperiment {
    /// The block facts recorded in `run.json`: κ, position, the ReLU reduction's final gain
    /// `(1 − λ/(βκ))₊` and half-gain time.
    fn block_records(&self) -> Vec<serde_json::Value> {
        let (beta, lambda) = (self.model.beta(), self.model.lambda);
        let g0 = 0.5 * beta * self.init_std * self.init_std;
        self.data
            .block_list()
            .iter()
            .map(|b| {
                serde_json::json!({
                    "kappa": b.kappa,
                    "start": b.start,
                    "len": b.len,
                    "final_gain_relu": relu::final_gain(beta * b.kappa, lambda),
                    "half_gain_time_relu": relu::half_gain_time(beta * b.kappa, lambda, g0),
                })
            })
            .collect()
    }

    /// The summary of one run for sweep tables: final MSE, final gains, half-gain times.
    fn summary(&self, tr: &MfTrajectory) -> Vec<(String, f64)> {
        let last = tr.snapshots.last();
        let mut out = vec![(
            "final_test_error".to_string(),
            last.map_or(f64::NAN, |s| s.test_error),
        )];
        let blocks = last.map_or(0, |s| s.gains.len());
        for j in 0..blocks {
            out.push((
                format!("final_gain_{j}"),
                last.map_or(f64::NAN, |s| s.gains[j]),
            ));
        }
        for j in 0..blocks {
            let target = 0.5 * last.map_or(f64::NAN, |s| s.gains[j]);
            out.push((
                format!("half_gain_time_{j}"),
                tr.crossing_time(j, target).unwrap_or(f64::NAN),
            ));
        }
        out
    }

    fn run(&self, seed: u64, tr: MfTrajectory, record: serde_json::Value) -> crate::base::Run {
        crate::base::Run {
            seed,
            table: trajectory_table(&tr),
            record,
            summary: self.summary(&tr),
            payload: crate::base::model::Payload::new(tr),
            ..Default::default()
        }
    }
}

impl crate::base::Dynamics for MeanFieldExperiment {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).expect("serialisable config")
    }

    fn record(&self) -> serde_json::Value {
        let beta = self.model.beta();
        serde_json::json!({
            "coefficients": self.model,
            "trace": self.data.trace(),
            "intrinsic_dimension": self
                .data
                .kappa()
                .iter()
                .filter(|&&k| beta * k > self.model.lambda)
                .count(),
            "blocks": self.block_records(),
        })
    }

    fn default_seeds(&self) -> usize {
        self.seeds
    }

    fn replicate_seed(&self, j: usize) -> u64 {
        MeanFieldExperiment::replicate_seed(self, j)
    }

    fn work(&self, source: crate::base::model::Source) -> u64 {
        let t = self.times.last().copied().unwrap_or(0.0);
        match source {
            crate::base::model::Source::Theory => {
                if self.uses_logistic().unwrap_or(false) {
                    0
                } else {
                    (t / self.dt).ceil() as u64
                }
            }
            crate::base::model::Source::Simulation => sgd::steps_at(t, self.sgd.step),
        }
    }

    /// The mean-field limit: it does not depend on the replicate seed (the particle solver
    /// draws its particles from `init.seed`).
    fn theory(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        let run = self.limit(progress)?;
        Ok(self.run(
            seed,
            run.trajectory,
            serde_json::json!({ "solver": run.solver }),
        ))
    }

    fn theory_per_seed(&self) -> bool {
        false
    }

    fn simulate(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        let r = MfSimulator::new(self)?.run_seed(seed, progress)?;
        Ok(self.run(seed, r.trajectory, serde_json::json!({ "steps": r.steps })))
    }

    fn compared(&self) -> Vec<(String, String)> {
        let mut names = vec!["test_error".to_string()];
        names.extend((0..self.data.block_list().len()).map(|j| format!("gain_{j}")));
        names.into_iter().map(|n| (n.clone(), n)).collect()
    }

    /// Per block the max over t of |gain − theory gain| per seed and of the seed mean, and
    /// the max relative MSE error of the seed mean.
    fn compare_extra(&self, cmp: &crate::base::compare::Comparison) -> Result<serde_json::Value> {
        let (theory, sims) = typed_pairs(cmp);
        let mean = MfTrajectory::mean(&sims);
        Ok(serde_json::json!({
            "theory_solver": cmp.pairs[0].1.record["solver"],
            "max_gain_error_per_seed": sims.iter().map(|t| t.max_gain_errors(theory)).collect::<Vec<_>>(),
            "max_gain_error_of_seed_mean": mean.max_gain_errors(theory),
            "max_relative_mse_error_of_seed_mean": mean.max_relative_mse_error(theory),
        }))
    }

    fn compare_figure(
        &self,
        cmp: &crate::base::compare::Comparison,
    ) -> Option<crate::plot::Figure> {
        let (theory, sims) = typed_pairs(cmp);
        let mean = MfTrajectory::mean(&sims);
        let solver = cmp.pairs[0].1.record["solver"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        Some(figures::gains_figure(
            self,
            theory,
            &mean,
            (
                format!(
                    "{}, N = {}: {solver} theory vs SGD ({})",
                    self.model.activation,
                    self.neurons,
                    match sims.len() {
                        1 => "1 seed".to_string(),
                        n => format!("mean of {n} seeds"),
                    }
                ),
                None,
            ),
        ))
    }

    fn size_key(&self) -> &'static str {
        "network.neurons"
    }

    fn default_sizes(&self) -> Vec<usize> {
        vec![100, 200, 400, 800]
    }

    /// The gap to the mean-field limit at the last output time, |MSE_N(T) − MSE(T)|, and the
    /// max gain error (worst block), each as mean ± s.e. over seeds: both ∝ 1/N.
    fn validation_metrics(
        &self,
        cmp: &crate::base::compare::Comparison,
    ) -> Vec<(String, f64, f64)> {
        let (theory, sims) = typed_pairs(cmp);
        let last = |t: &MfTrajectory| t.snapshots.last().map_or(f64::NAN, |s| s.test_error);
        let mse: Vec<f64> = sims
            .iter()
            .map(|t| (last(t) - last(theory)).abs())
            .collect();
        let gain: Vec<f64> = sims
            .iter()
            .map(|t| t.max_gain_errors(theory).into_iter().fold(0.0, f64::max))
            .collect();
        let (m1, s1) = crate::base::compare::mean_se(&mse);
        let (m2, s2) = crate::base::compare::mean_se(&gain);
        vec![
            ("mse_gap_final".into(), m1, s1),
            ("max_gain_error".into(), m2, s2),
        ]
    }
}

/// The typed theory and simulation trajectories of a mean-field comparison.
pub fn typed_pairs(cmp: &crate::base::compare::Comparison) -> (&MfTrajectory, Vec<&MfTrajectory>) {
    fn get(r: &crate::base::Run) -> &MfTrajectory {
        r.payload.get::<MfTrajectory>().expect("mean-field payload")
    }
    let theory = get(&cmp.pairs[0].1);
    (theory, cmp.pairs.iter().map(|(s, _)| get(s)).collect())
}
