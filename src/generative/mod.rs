//! Weight-shared autoencoders learning generative linear models (T. V. Nguyen, R. K. W.
//! Wong, C. Hegde, *On the Dynamics of Gradient Descent for Autoencoders*, AISTATS 2019,
//! arXiv:1806.00572 *Autoencoders Learn Generative Linear Models*).
//!
//! # Data
//!
//! `y = A x + σ_η ξ ∈ ℝⁿ` with a dictionary `A = [a_1 … a_m]` of unit-norm atoms
//! (Gaussian, Haar-orthonormal or from a file), a k-sparse code `x` (uniform random support
//! S, iid magnitudes from a list or `U[lo, hi]`, Rademacher or positive signs) and
//! `ξ ~ N(0, I_n)`. The mixture of Gaussians is the case k = 1, magnitude 1, positive:
//! `y = a_j + σ_η ξ`. Write `v₁ = E[|x_i| | i ∈ S]`, `v₂ = E[x_i² | i ∈ S]`,
//! `p₁ = k(m−k)/(m(m−1))`, `p₂ = k(k−1)/(m(m−1))`, `G = AᵀA`, `Ĝ = G − I` and the coherence
//! `μ = √n max_{i≠j}|G_ij|` ([`data`]).
//!
//! # Model and training
//!
//! `ŷ = Wᵀσ(Wy + b)`: encoder `W ∈ ℝ^{m×n}` (rows w_i), decoder `Wᵀ`, encoder bias b,
//! activation `σ ∈ {threshold u·1{|u|≥τ}, threshold+ u·1{u≥τ}, relu, linear}`. The loss
//! `L = ½E‖y − ŷ‖²` is minimised by `W ← W − η∇W` with the expectation of the a.e.
//! per-sample gradient `∇_{w_i} = σ(u_i) r + σ'(u_i)(w_iᵀr) y`, `r = ŷ − y` ([`model`]):
//! exactly (every code enumerated with its probability), by Monte Carlo (fresh batch per
//! step), on a fixed set of N samples, or by minibatch SGD over it. The default step is
//! `η = m/(4 v₂ k)`.
//!
//! # What the theory predicts ([`theory`])
//!
//! For orthonormal atoms and signed codes, `W = Aᵀ` is a stationary point whose Hessian
//! has the eigenvalues `v₂·{4k/m, k/m, p₁, p₁ + 4p₂}`; expected GD contracts linearly with
//! `ρ = 1 − η v₂ p₁` per step (≈ 3/4 at the default η). Incoherent atoms leave a floor: the
//! limit is a partially decorrelated dictionary `w̄_i = a_i − f Σ_{l≠i} G_il a_l`,
//! `f = 2(k−1)/(m+3k−4)`, at distance `f‖Ĝ_{i,:}‖ ≈ f√((m−1)/n)`. A ReLU unit with bias
//! −β learns `c·s_j` with `c(c − β) = 1`. For non-negative codes the rate is
//! the worst `|1 − ηλ|` over the eigenvalues of a numerically differentiated Hessian (`1 − ηλ_min`
//! recorded beside it). The basin is δ ≲ 0.7 (orthonormal,
//! k = 3 of m = 16); random initialisation mostly fails.
//!
//! # Runs
//!
//! [`Params::check`] validates a config into an [`Experiment`]. For a seed s,
//! [`Experiment::theory`] runs expected GD (exact or Monte Carlo) and
//! [`Experiment::simulate`] the configured finite-sample algorithm, both from the same
//! dictionary and W⁰ (separate random streams for the dictionary, W⁰, training data, test
//! set and Monte Carlo batches). Each returns a table (columns [`run::COLUMNS`] at the
//! output steps; `support_f1` is measured at every row on the held-out test set), a JSON
//! record (predictions, fitted rate and floor, support precision/recall/exact rate, …) and
//! CSV files: the theory writes `dictionary.csv`, `init/weights.csv`, `final/weights.csv`;
//! simulation seed s writes `init/weights_seed{s}.csv`, `final/weights_seed{s}.csv` and,
//! because a random dictionary depends on the seed, `dictionary_seed{s}.csv` (not for
//! `dictionary = "file"`). A trained bias adds `final/bias.csv` / `final/bias_seed{s}.csv`.
//!
//! Matching of units to atoms (Hungarian on |cos|, with signs) is computed once from W⁰
//! for `sphere`/`tangent` initialisation and from the final weights for `random`/`file`.
//! A run *succeeds* when the final weights are within `output.success_distance` of the
//! atoms up to permutation and sign (matching recomputed at the end, row-wise max).

//! ```
//! use aedyn::base::Dynamics;
//!
//! let mut p = aedyn::generative::Params::default(); // orthonormal n = 24, m = 16, k = 3
//! p.training.steps = 20;
//! p.simulation.test_samples = 200;
//! let exp = p.check()?;
//! let theory = exp.theory(exp.replicate_seed(0), &|_| {})?; // exact expected GD
//! let d = theory.table.column("distance_mean").unwrap();
//! assert!(d.last().unwrap() < &(1e-2 * d[0])); // linear contraction to the truth
//! # Ok::<(), aedyn::Error>(())
//! ```

pub mod data;
pub mod figures;
pub mod init;
pub mod metrics;
pub mod model;
pub mod params;
pub mod run;
pub mod theory;

#[cfg(test)]
mod checks;

use nalgebra::{DMatrix, DVector};
use serde_json::{json, Value};

use crate::base::table::Table;
use crate::error::Result;
use crate::rng::{derive_seed, rng_for};

use data::{
    coherence, gaussian_dictionary_with_coherence, max_cross_talk, orthonormal_dictionary, CodeLaw,
    Samples,
};
use init::{initial_weights, InitSpec};
use metrics::Support;
use model::{evaluate, gradient_standard_error, Activation, Model, Source};
use run::{analyse, descend, Algo, Analysis, Trajectory, FIT_LOWER_EXACT, FIT_LOWER_NOISY};

pub use params::{Params, DEFAULT_CONFIG};

/// Random-stream identifiers of this model (one per purpose).
pub mod streams {
    /// The dictionary A.
    pub const DICTIONARY: u64 = 0x4745_4e00;
    /// W⁰.
    pub const INIT: u64 = 0x4745_4e01;
    /// The fixed training set.
    pub const TRAIN: u64 = 0x4745_4e02;
    /// The held-out test set.
    pub const TEST: u64 = 0x4745_4e03;
    /// Monte Carlo batches of the theory.
    pub const THEORY_MC: u64 = 0x4745_4e04;
    /// Fresh batches of the simulation (`mc`).
    pub const SIM_MC: u64 = 0x4745_4e05;
    /// Epoch shuffles of the simulation (`sgd`).
    pub const ORDER: u64 = 0x4745_4e06;
}

/// How the dictionary is obtained (validated).
#[derive(Debug, Clone, PartialEq)]
pub enum Dictionary {
    /// Gaussian, optionally redrawn until μ ≤ max_coherence.
    Gaussian {
        /// μ_max.
        max_coherence: Option<f64>,
    },
    /// Haar orthonormal.
    Orthonormal,
    /// Given (columns normalised).
    File(DMatrix<f64>),
}

/// The simulation algorithm (validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimAlgorithm {
    /// Exact expected GD.
    Exact,
    /// Fresh batch per step.
    Mc {
        /// Batch.
        batch: usize,
    },
    /// Full-batch GD on N samples.
    Fixed {
        /// N.
        samples: usize,
    },
    /// Minibatch epochs over N samples.
    Sgd {
        /// N.
        samples: usize,
        /// Minibatch.
        batch: usize,
    },
}

/// The theory's expected gradient (validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TheoryAlgorithm {
    /// Enumeration of every code.
    Exact,
    /// Fresh Monte Carlo batch per step.
    Mc {
        /// Batch.
        batch: usize,
    },
}

/// A validated experiment; built only by [`Params::check`].
#[derive(Debug, Clone)]
pub struct Experiment {
    pub(crate) params: Params,
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) law: CodeLaw,
    pub(crate) noise: f64,
    pub(crate) dictionary: Dictionary,
    pub(crate) model: Model,
    pub(crate) bias: DVector<f64>,
    pub(crate) train_bias: bool,
    pub(crate) bias_lr: f64,
    pub(crate) lr: f64,
    pub(crate) sim: SimAlgorithm,
    pub(crate) theory: TheoryAlgorithm,
    pub(crate) hessian: bool,
    pub(crate) hessian_step: f64,
    pub(crate) init: InitSpec,
    pub(crate) steps: u64,
    pub(crate) out_steps: Vec<u64>,
    pub(crate) test_samples: usize,
    pub(crate) seeds: usize,
    pub(crate) success_distance: f64,
    pub(crate) tau: f64,
    pub(crate) mixture: bool,
}

/// One theory run: the generic [`crate::base::Run`] (table, record, files; the seed of its
/// initial state).
pub type TheoryRun = crate::base::Run;

/// One simulated replicate: the generic [`crate::base::Run`].
pub type SimRun = crate::base::Run;

fn opt(x: Option<f64>) -> Value {
    match x {
        Some(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

fn num(x: f64) -> Value {
    opt(Some(x))
}

fn support_json(s: &Support) -> Value {
    json!({
        "precision": num(s.precision()),
        "recall": num(s.recall()),
        "f1": num(s.f1()),
        "exact_rate": num(s.exact_rate()),
    })
}

impl Experiment {
    /// The config it was built from.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The step size η.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The code law.
    pub fn law(&self) -> &CodeLaw {
        &self.law
    }

    /// The output steps.
    pub fn output_steps(&self) -> &[u64] {
        &self.out_steps
    }

    /// The dictionary of seed `seed` (drawn from its own stream).
    pub fn dictionary(&self, seed: u64) -> Result<DMatrix<f64>> {
        let mut rng = rng_for(seed, streams::DICTIONARY);
        match &self.dictionary {
            Dictionary::File(a) => Ok(a.clone()),
            Dictionary::Orthonormal => Ok(orthonormal_dictionary(self.n, self.m, &mut rng)),
            Dictionary::Gaussian { max_coherence } => {
                gaussian_dictionary_with_coherence(self.n, self.m, *max_coherence, &mut rng)
                    .map_err(params::coherence_error)
            }
        }
    }

    /// W⁰ of seed `seed` for dictionary `a`.
    pub fn initial_weights(&self, seed: u64, a: &DMatrix<f64>) -> DMatrix<f64> {
        initial_weights(&self.init, a, &mut rng_for(seed, streams::INIT))
    }

    fn test_set(&self, seed: u64) -> Samples {
        Samples::draw(
            &self.law,
            self.n,
            self.noise,
            self.test_samples,
            derive_seed(seed, streams::TEST),
        )
    }

    /// The predictions that depend only on the sizes, the law, η and the dictionary.
    fn predictions(&self, a: &DMatrix<f64>) -> Value {
        let (v2, p1, p2) = (self.law.v2(), self.law.p1(), self.law.p2());
        let rows = theory::floor_rows(a, self.k);
        let fmean = rows.iter().sum::<f64>() / rows.len() as f64;
        let fmax = rows.iter().copied().fold(0.0, f64::max);
        let f = theory::floor_factor(self.m, self.k);
        let beta = -self.bias.mean();
        json!({
            "rate": num(theory::rate_signed(self.lr, v2, p1)),
            "rate_modes": num(theory::rate_modes(self.lr, self.n, self.m, self.k, v2, p1, p2)),
            "stable_lr": num(self.m as f64 / (2.0 * v2 * self.k as f64)),
            "floor_factor": num(f),
            "floor_mean": num(fmean),
            "floor_max": num(fmax),
            "floor_gaussian": num(f * ((self.m as f64 - 1.0) / self.n as f64).sqrt()),
            "relu_scale": if self.model.act == Activation::Relu { num(theory::relu_scale(beta)) } else { Value::Null },
        })
    }

    fn warnings(&self, a: &DMatrix<f64>) -> Vec<String> {
        let mut w = Vec::new();
        if self.mixture {
            let g = max_cross_talk(a);
            if matches!(
                self.model.act,
                Activation::Threshold { .. } | Activation::ThresholdPlus { .. }
            ) && g + 3.0 * self.noise >= self.tau
            {
                w.push(format!(
                    "max|G_ij| + 3σ_η = {:.3} ≥ τ = {}: units of other components will fire",
                    g + 3.0 * self.noise,
                    self.tau
                ));
            }
        }
        w
    }

    /// Common part of the theory and simulation records.
    fn base_record(
        &self,
        kind: &str,
        seed: u64,
        a: &DMatrix<f64>,
        an: &Analysis,
        traj: &Trajectory,
    ) -> Value {
        let wt = traj.w_final();
        // ‖W_T − W̄‖/‖W_T − truth‖ with W̄ the decorrelated dictionary, rows aligned by the matching.
        let wbar = theory::decorrelated(a, self.k);
        let mut dbar = 0.0;
        let mut dtruth = 0.0;
        for i in 0..self.m {
            let (j, s) = (an.matching.atom[i], an.matching.sign[i]);
            for c in 0..self.n {
                dbar += (wt[(i, c)] - s * wbar[(j, c)]).powi(2);
                dtruth += (wt[(i, c)] - s * a[(c, j)]).powi(2);
            }
        }
        let last = an.dist.last().expect("snapshots");
        // Recovery up to permutation and sign: the matching recomputed at the end.
        let final_match = metrics::distances(wt, a, &metrics::match_atoms(wt, a));
        json!({
            "kind": kind,
            "seed": seed,
            "n": self.n, "m": self.m, "k": self.k,
            "v1": num(self.law.v1()), "v2": num(self.law.v2()),
            "p1": num(self.law.p1()), "p2": num(self.law.p2()),
            "lr": num(self.lr),
            "noise": num(self.noise),
            "coherence": num(coherence(a)),
            "max_cross_talk": num(max_cross_talk(a)),
            "predicted": self.predictions(a),
            "fitted": {
                "rate": opt(an.rate_fit),
                "rate_distance": opt(an.rate_fit_distance),
                "floor_mean": num(an.floor_mean),
                "floor_max": num(an.floor_max),
                "angle_floor_mean": num(an.floor_angle),
                "final_norm_mean": num(last.norm_mean),
                "final_angle_max": num(last.angle_max),
                "final_gradient_norm": num(traj.last.grad_w.norm()),
                "decorrelated_ratio": num((dbar / dtruth).sqrt()),
            },
            "support": {
                "initial": support_json(&an.support_init),
                "final": support_json(&an.support_final),
                "test_samples": self.test_samples,
            },
            "support_f1_rows": "every output row",
            "support_rows": {
                "step": self.out_steps,
                "precision": an.support_rows.iter().map(|s| num(s.precision())).collect::<Vec<_>>(),
                "recall": an.support_rows.iter().map(|s| num(s.recall())).collect::<Vec<_>>(),
                "exact_rate": an.support_rows.iter().map(|s| num(s.exact_rate())).collect::<Vec<_>>(),
            },
            "matching": if self.init.near_truth() { "initial" } else { "final" },
            "final_matched_distance_max": num(final_match.max),
            "success": final_match.max < self.success_distance,
            "success_distance": num(self.success_distance),
            "warnings": self.warnings(a),
        })
    }

    /// Expected GD (exact enumeration or Monte Carlo, `theory.gradient`) from seed `seed`'s
    /// dictionary and W⁰. `progress` receives the number of steps done.
    pub fn theory(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<TheoryRun> {
        let a = self.dictionary(seed)?;
        let gram = a.tr_mul(&a);
        let w0 = self.initial_weights(seed, &a);
        let test = self.test_set(seed);
        let what = format!("theory (seed {seed})");
        let codes;
        let (traj, fit_lower, algo_json) = match self.theory {
            TheoryAlgorithm::Exact => {
                codes = Samples {
                    codes: self.law.enumerate(),
                    noise: None,
                };
                let traj = descend(self, &a, &gram, &w0, Algo::Set(&codes), &what, progress)?;
                (
                    traj,
                    FIT_LOWER_EXACT,
                    json!({"gradient": "exact", "codes": codes.len()}),
                )
            }
            TheoryAlgorithm::Mc { batch } => {
                let mc_seed = derive_seed(seed, streams::THEORY_MC);
                let traj = descend(
                    self,
                    &a,
                    &gram,
                    &w0,
                    Algo::Fresh {
                        batch,
                        seed: mc_seed,
                    },
                    &what,
                    progress,
                )?;
                let se = |w: &DMatrix<f64>, b: &DVector<f64>, step: u64| {
                    let (_, se) = gradient_standard_error(
                        w,
                        b,
                        &a,
                        self.model,
                        Source::Fresh {
                            law: &self.law,
                            noise: self.noise,
                            count: batch,
                            seed: derive_seed(mc_seed, step),
                        },
                    );
                    se.max()
                };
                let se0 = se(&traj.ws[0], &traj.bs[0], 0);
                let se_t = se(traj.w_final(), traj.b_final(), self.steps);
                (
                    traj,
                    FIT_LOWER_NOISY,
                    json!({"gradient": "mc", "batch": batch, "max_se_initial": num(se0), "max_se_final": num(se_t)}),
                )
            }
        };
        let an = analyse(self, &a, &test, &traj, fit_lower);
        let mut record = self.base_record("theory", seed, &a, &an, &traj);
        record["algorithm"] = algo_json;
        if self.hessian {
            record["predicted"]["hessian"] = self.hessian_prediction(&a, &gram, &traj);
        }
        let files = self.run_files(&a, &w0, &traj, None);
        let summary = self.summary(&an.table, &record);
        Ok(TheoryRun {
            seed,
            table: an.table,
            record,
            summary,
            files,
            ..Default::default()
        })
    }

    /// The files of a run: the theory's `dictionary.csv`, `init/weights.csv`,
    /// `final/weights.csv`; simulation seed s's `init/weights_seed{s}.csv`,
    /// `final/weights_seed{s}.csv` and `dictionary_seed{s}.csv` (none for a dictionary read
    /// from a file); then the trained bias, if any.
    fn run_files(
        &self,
        a: &DMatrix<f64>,
        w0: &DMatrix<f64>,
        traj: &Trajectory,
        seed: Option<u64>,
    ) -> Vec<(String, Vec<u8>)> {
        let suffix = seed.map(|s| format!("_seed{s}")).unwrap_or_default();
        let csv = |m: &DMatrix<f64>| crate::io::matrix_csv(m).into_bytes();
        let dictionary = (format!("dictionary{suffix}.csv"), csv(a));
        let mut files = Vec::new();
        if seed.is_none() {
            files.push(dictionary.clone());
        }
        files.push((format!("init/weights{suffix}.csv"), csv(w0)));
        files.push((format!("final/weights{suffix}.csv"), csv(traj.w_final())));
        if seed.is_some() && !matches!(self.dictionary, Dictionary::File(_)) {
            files.push(dictionary);
        }
        if self.train_bias {
            let b = DMatrix::from_column_slice(self.m, 1, traj.b_final().as_slice());
            files.push((format!("final/bias{suffix}.csv"), csv(&b)));
        }
        files
    }

    /// Numerical Hessian of the exact expected loss at the limit point projected on span(A):
    /// central differences in span coordinates (m·rank(A) parameters) plus the exact block
    /// E[hhᵀ] ⊗ I of the directions orthogonal to span(A) (noise-free data lie in span(A),
    /// so that block is exactly quadratic and decoupled). The activation pattern is frozen at
    /// the limit point (the smooth piece of the loss that contains it): with discrete codes
    /// the limit can sit on a switching surface, where differences across it are meaningless.
    fn hessian_prediction(
        &self,
        a: &DMatrix<f64>,
        gram: &DMatrix<f64>,
        traj: &Trajectory,
    ) -> Value {
        let codes = Samples {
            codes: self.law.enumerate(),
            noise: None,
        };
        let q = theory::span_basis(a);
        let w_lim = traj.w_final() * &q * q.transpose();
        let b = traj.b_final().clone();
        let mask = model::activation_pattern(&w_lim, &b, a, self.model, &codes);
        let margin = model::switching_margin(&w_lim, &b, a, self.model, &codes);
        let grad = |w: &DMatrix<f64>| {
            model::evaluate_frozen(w, &b, a, gram, self.model, &codes, &mask).grad_w
        };
        let h = theory::hessian_in_span(&grad, &w_lim, &q, self.hessian_step);
        let mut eig = theory::eigenvalues(&h);
        let m1 = evaluate(&w_lim, &b, a, gram, self.model, Source::Set(&codes)).m1;
        if self.n > q.ncols() {
            eig.extend(theory::eigenvalues(&m1));
            eig.sort_by(f64::total_cmp);
        }
        let lmin = eig[0];
        let lmax = *eig.last().expect("eigenvalues");
        let rate = eig
            .iter()
            .map(|l| (1.0 - self.lr * l).abs())
            .fold(0.0, f64::max);
        json!({
            "lambda_min": num(lmin),
            "lambda_max": num(lmax),
            "rate": num(rate),
            "rate_lambda_min": num(1.0 - self.lr * lmin),
            "step": num(self.hessian_step),
            "switching_margin": num(margin),
            "frozen_pattern": true,
        })
    }

    /// The configured simulation (`training.gradient`) from the same dictionary and W⁰ as
    /// [`Experiment::theory`] with this seed.
    pub fn simulate(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<SimRun> {
        let a = self.dictionary(seed)?;
        let gram = a.tr_mul(&a);
        let w0 = self.initial_weights(seed, &a);
        let test = self.test_set(seed);
        let what = format!("simulation seed {seed}");
        let owned;
        let (algo, fit_lower, algo_json) = match self.sim {
            SimAlgorithm::Exact => {
                owned = Samples {
                    codes: self.law.enumerate(),
                    noise: None,
                };
                (
                    Algo::Set(&owned),
                    FIT_LOWER_EXACT,
                    json!({"gradient": "exact", "codes": owned.len()}),
                )
            }
            SimAlgorithm::Mc { batch } => (
                Algo::Fresh {
                    batch,
                    seed: derive_seed(seed, streams::SIM_MC),
                },
                FIT_LOWER_NOISY,
                json!({"gradient": "mc", "batch": batch}),
            ),
            SimAlgorithm::Fixed { samples } => {
                owned = Samples::draw(
                    &self.law,
                    self.n,
                    self.noise,
                    samples,
                    derive_seed(seed, streams::TRAIN),
                );
                (
                    Algo::Set(&owned),
                    FIT_LOWER_NOISY,
                    json!({"gradient": "fixed", "samples": samples}),
                )
            }
            SimAlgorithm::Sgd { samples, batch } => {
                owned = Samples::draw(
                    &self.law,
                    self.n,
                    self.noise,
                    samples,
                    derive_seed(seed, streams::TRAIN),
                );
                (
                    Algo::Epochs {
                        set: &owned,
                        batch,
                        seed: derive_seed(seed, streams::ORDER),
                    },
                    FIT_LOWER_NOISY,
                    json!({"gradient": "sgd", "samples": samples, "batch": batch}),
                )
            }
        };
        let traj = descend(self, &a, &gram, &w0, algo, &what, progress)?;
        let an = analyse(self, &a, &test, &traj, fit_lower);
        let mut record = self.base_record("simulation", seed, &a, &an, &traj);
        record["algorithm"] = algo_json;
        let files = self.run_files(&a, &w0, &traj, Some(seed));
        let summary = self.summary(&an.table, &record);
        Ok(SimRun {
            seed,
            table: an.table,
            record,
            summary,
            files,
            ..Default::default()
        })
    }

    /// Theory against simulations: fitted and predicted rates and floors of every run, the
    /// spread over seeds, and the deviation of each simulation's `distance_mean` from the
    /// theory of the same seed (else the first theory) at the common output steps.
    pub fn compare(&self, theories: &[TheoryRun], sims: &[SimRun]) -> Result<Value> {
        let get = |r: &Value, a: &str, b: &str| r[a][b].as_f64().unwrap_or(f64::NAN);
        let theory_rows: Vec<Value> = theories
            .iter()
            .map(|t| {
                json!({
                    "seed": t.record["seed"],
                    "rate_fit": opt(Some(get(&t.record, "fitted", "rate"))),
                    "rate_predicted": opt(Some(get(&t.record, "predicted", "rate"))),
                    "floor_mean": opt(Some(get(&t.record, "fitted", "floor_mean"))),
                    "floor_predicted": opt(Some(get(&t.record, "predicted", "floor_mean"))),
                    "success": t.record["success"],
                })
            })
            .collect();
        let stats = |xs: Vec<f64>| {
            let xs: Vec<f64> = xs.into_iter().filter(|x| x.is_finite()).collect();
            if xs.is_empty() {
                return json!({"mean": null, "sd": null, "count": 0});
            }
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let sd = if xs.len() > 1 {
                (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                f64::NAN
            };
            json!({"mean": num(mean), "sd": opt(Some(sd)), "count": xs.len()})
        };
        let mut deviations = Vec::new();
        let mut worst: f64 = 0.0;
        for s in sims {
            let th = theories
                .iter()
                .find(|t| t.record["seed"].as_u64() == Some(s.seed))
                .or(theories.first());
            let Some(th) = th else { continue };
            let (Some(dt), Some(ds)) = (
                th.table.column("distance_mean"),
                s.table.column("distance_mean"),
            ) else {
                continue;
            };
            let mut max_log: f64 = 0.0;
            let mut max_abs: f64 = 0.0;
            for (i, step) in s.table.index.iter().enumerate() {
                if let Some(j) = th.table.index.iter().position(|x| x == step) {
                    let (a, b) = (ds[i], dt[j]);
                    if a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite() {
                        max_log = max_log.max((a / b).ln().abs());
                        max_abs = max_abs.max((a - b).abs());
                    }
                }
            }
            worst = worst.max(max_log);
            deviations.push(json!({
                "seed": s.seed,
                "theory_seed": th.record["seed"],
                "max_abs_log_ratio_distance_mean": num(max_log),
                "max_abs_diff_distance_mean": num(max_abs),
            }));
        }
        Ok(json!({
            "theory": theory_rows,
            "simulation": {
                "seeds": sims.iter().map(|s| s.seed).collect::<Vec<u64>>(),
                "rate_fit": stats(sims.iter().map(|s| get(&s.record, "fitted", "rate")).collect()),
                "floor_mean": stats(sims.iter().map(|s| get(&s.record, "fitted", "floor_mean")).collect()),
                "floor_max": stats(sims.iter().map(|s| get(&s.record, "fitted", "floor_max")).collect()),
                "final_support_f1": stats(sims.iter().map(|s| s.table.last("support_f1").unwrap_or(f64::NAN)).collect()),
                "successes": sims.iter().filter(|s| s.record["success"].as_bool() == Some(true)).count(),
            },
            "rate_predicted": num(theory::rate_signed(self.lr, self.law.v2(), self.law.p1())),
            "deviation": {
                "per_seed": deviations,
                "max_abs_log_ratio_distance_mean": num(worst),
            },
        }))
    }

    /// Sweep columns of one run: final distances, loss and F1, floors, fitted and predicted
    /// rates, exact-support rate and the success flag (1/0).
    pub fn summary(&self, table: &Table, record: &Value) -> Vec<(String, f64)> {
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        let mut out: Vec<(String, f64)> = run::COLUMNS
            .iter()
            .map(|c| (format!("final_{c}"), table.last(c).unwrap_or(f64::NAN)))
            .collect();
        out.push(("floor_mean".into(), f(&record["fitted"]["floor_mean"])));
        out.push(("floor_max".into(), f(&record["fitted"]["floor_max"])));
        out.push((
            "angle_floor_mean".into(),
            f(&record["fitted"]["angle_floor_mean"]),
        ));
        out.push(("rate_fit".into(), f(&record["fitted"]["rate"])));
        out.push(("rate_predicted".into(), f(&record["predicted"]["rate"])));
        out.push((
            "floor_predicted".into(),
            f(&record["predicted"]["floor_mean"]),
        ));
        out.push((
            "rate_hessian".into(),
            f(&record["predicted"]["hessian"]["rate"]),
        ));
        out.push((
            "final_norm_mean".into(),
            f(&record["fitted"]["final_norm_mean"]),
        ));
        out.push((
            "exact_support".into(),
            f(&record["support"]["final"]["exact_rate"]),
        ));
        out.push((
            "success".into(),
            if record["success"].as_bool() == Some(true) {
                1.0
            } else {
                0.0
            },
        ));
        out
    }
}

/// The model's name in `[model] kind`.
pub const KIND: &str = "generative";

/// The columns compared between expected GD and the finite-sample algorithm (the first is
/// the headline).
const COMPARED: [&str; 5] = [
    "distance_mean",
    "distance_max",
    "angle_distance_mean",
    "loss",
    "support_f1",
];

crate::model_params!(Params, Experiment, KIND);

impl crate::base::Dynamics for Experiment {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn config(&self) -> Value {
        serde_json::to_value(&self.params).expect("serialisable config")
    }

    fn record(&self) -> Value {
        json!({
            "lr": self.lr,
            "v1": self.law.v1(),
            "v2": self.law.v2(),
            "p1": self.law.p1(),
            "p2": self.law.p2(),
            "rate_predicted": theory::rate_signed(self.lr, self.law.v2(), self.law.p1()),
        })
    }

    fn default_seeds(&self) -> usize {
        self.seeds
    }

    /// `init.seed + j`.
    fn replicate_seed(&self, j: usize) -> u64 {
        self.params.init.seed.wrapping_add(j as u64)
    }

    /// The steps of one run.
    fn work(&self, _source: crate::base::model::Source) -> u64 {
        self.steps
    }

    fn theory(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        Experiment::theory(self, seed, progress)
    }

    fn simulate(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        Experiment::simulate(self, seed, progress)
    }

    fn compared(&self) -> Vec<(String, String)> {
        COMPARED
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect()
    }

    fn compare_extra(&self, cmp: &crate::base::compare::Comparison) -> Result<Value> {
        let (sims, theories): (Vec<SimRun>, Vec<TheoryRun>) = cmp.pairs.iter().cloned().unzip();
        Experiment::compare(self, &theories, &sims)
    }

    fn compare_figure(
        &self,
        cmp: &crate::base::compare::Comparison,
    ) -> Option<crate::plot::Figure> {
        let (sims, theories): (Vec<SimRun>, Vec<TheoryRun>) = cmp.pairs.iter().cloned().unzip();
        let title = format!(
            "n = {}, m = {}, k = {}, η = {:.3}: seed {}",
            self.n, self.m, self.k, self.lr, sims[0].seed
        );
        Some(crate::plot::Figure::row(vec![figures::distance_panel(
            &title,
            self,
            &theories[0],
            &sims[0],
            "distance to the truth",
        )]))
    }

    /// The fixed training set's size N: the finite-sample floor falls as N^{-1/2}.
    fn size_key(&self) -> &'static str {
        "data.samples"
    }

    fn default_sizes(&self) -> Vec<usize> {
        vec![1000, 4000, 16000]
    }
}
