//! The deterministic particle solver (docs/mean-field.md §2.4): P particles
//! `ρ ≈ (1/P) Σ_p δ_{θ_p}`, rows of Θ ∈ ℝ^{P×d}, move with the exact population velocity
//!
//! ```text
//! Bm = γ² Θ Σ Θᵀ,  a_p = Bm_pp,  G = Θ Θᵀ;   Kss, Kdd, Kds entrywise at (a_p, a_q, Bm_pq)
//! V  = αγ diag(K1+K2) ΘΣ − (α²/P) [ Kss Θ + γ² diag((G∘Kds)𝟙) ΘΣ + γ² (G∘Kdd) ΘΣ ] − λΘ
//! ```
//!
//! (self-pairs included), which is `V_p = −P ∂R_P/∂θ_p` for the risk
//! `R = ½ tr Σ − αγ ∫ s K1(γ²s) dρ + (α²/2) ∬ (θᵀθ') Kss dρ dρ' + (λ/2) ∫‖θ‖² dρ`
//! (§2.2). Σ is diagonal (the eigenbasis), so ΘΣ costs O(Pd); the pair sums cost O(P²d)
//! per evaluation in row tiles of [`TILE`] rows (memory O(TILE·P)), tiles in parallel.
//! Time stepping: classical RK4.

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::{MeanFieldModel, MfData, MfKernels, MfSnapshot, MfTrajectory};
use crate::error::{Error, Result};

/// Rows per tile of the pair sums.
pub const TILE: usize = 64;
/// A run whose MSE exceeds this multiple of ½ tr Σ (the zero network's error) has diverged.
pub const BLOWUP_FACTOR: f64 = 1e6;

/// The population (Gaussian data `N(0, diag κ)`) seen by a set of particles.
#[derive(Debug, Clone, Copy)]
pub struct Population<'a> {
    model: &'a MeanFieldModel,
    kernels: &'a MfKernels,
    kappa: &'a [f64],
}

/// The population risk split into its two parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Risk {
    /// `½ E‖x − f_ρ(x)‖²`.
    pub mse: f64,
    /// `(λ/2) ∫‖θ‖² dρ`.
    pub penalty: f64,
}

/// A particle-solver run.
#[derive(Debug, Clone)]
pub struct ParticleRun {
    /// Observables at the output times.
    pub trajectory: MfTrajectory,
    /// The particles at the last time.
    pub theta: DMatrix<f64>,
    /// Velocity evaluations made.
    pub evaluations: u64,
}

/// Per-evaluation precomputations: ΘΣ, Θᵀ, a_p, K1(a_p), K2(a_p).
struct Prepared {
    s: DMatrix<f64>,
    theta_t: DMatrix<f64>,
    a: Vec<f64>,
    k1: Vec<f64>,
    k2: Vec<f64>,
}

impl<'a> Population<'a> {
    /// The population of `model` with data eigenvalues `kappa`.
    pub fn new(model: &'a MeanFieldModel, kernels: &'a MfKernels, kappa: &'a [f64]) -> Self {
        Self {
            model,
            kernels,
            kappa,
        }
    }

    fn prepare(&self, theta: &DMatrix<f64>) -> Prepared {
        let g2 = self.model.gamma * self.model.gamma;
        let mut s = theta.clone();
        for (j, mut col) in s.column_iter_mut().enumerate() {
            col *= self.kappa[j];
        }
        let a: Vec<f64> = (0..theta.nrows())
            .map(|p| g2 * theta.row(p).dot(&s.row(p)))
            .collect();
        let (k1, k2) = a.iter().map(|&ap| self.kernels.single(ap)).unzip();
        Prepared {
            theta_t: theta.transpose(),
            s,
            a,
            k1,
            k2,
        }
    }

    /// Row tiles `[r0, r0 + len)` with their `G` and `Bm` blocks (len×P), mapped by `f`.
    fn tiles<T: Send>(
        &self,
        theta: &DMatrix<f64>,
        prep: &Prepared,
        f: impl Fn(usize, usize, DMatrix<f64>, DMatrix<f64>) -> T + Sync,
    ) -> Vec<T> {
        let p = theta.nrows();
        let g2 = self.model.gamma * self.model.gamma;
        (0..p.div_ceil(TILE))
            .into_par_iter()
            .map(|t| {
                let r0 = t * TILE;
                let len = TILE.min(p - r0);
                let g = theta.rows(r0, len) * &prep.theta_t;
                let bm = prep.s.rows(r0, len) * &prep.theta_t * g2;
                f(r0, len, g, bm)
            })
            .collect()
    }

    /// The velocity of every particle (P×d), docs/mean-field.md §2.4.
    pub fn velocity(&self, theta: &DMatrix<f64>) -> DMatrix<f64> {
        let m = self.model;
        let (p, d) = theta.shape();
        let g2 = m.gamma * m.gamma;
        let prep = self.prepare(theta);
        let blocks = self.tiles(theta, &prep, |r0, len, mut g, mut bm| {
            // In place: bm ← Kss, g ← γ² G∘Kdd; rds_i = γ² Σ_q G_iq Kds_iq.
            let mut rds = vec![0.0; len];
            for q in 0..p {
                let aq = prep.a[q];
                for i in 0..len {
                    let k = self.kernels.pair(prep.a[r0 + i], aq, bm[(i, q)]);
                    let gq = g2 * g[(i, q)];
                    bm[(i, q)] = k.ss;
                    g[(i, q)] = gq * k.dd;
                    rds[i] += gq * k.ds;
                }
            }
            let mut pair = bm * theta;
            pair.gemm(1.0, &g, &prep.s, 1.0);
            let c = m.alpha * m.alpha / p as f64;
            DMatrix::from_fn(len, d, |i, j| {
                let r = r0 + i;
                let sij = prep.s[(r, j)];
                m.alpha * m.gamma * (prep.k1[r] + prep.k2[r]) * sij
                    - c * (pair[(i, j)] + rds[i] * sij)
                    - m.lambda * theta[(r, j)]
            })
        });
        let mut v = DMatrix::zeros(p, d);
        for (t, b) in blocks.into_iter().enumerate() {
            v.rows_mut(t * TILE, b.nrows()).copy_from(&b);
        }
        v
    }

    /// The population risk of the empirical measure of `theta` (docs/mean-field.md §2.2); with P = N
    /// it is the network's exact population risk `R_N = E ℓ`.
    pub fn risk(&self, theta: &DMatrix<f64>) -> Risk {
        let m = self.model;
        let p = theta.nrows();
        let prep = self.prepare(theta);
        let g2 = m.gamma * m.gamma;
        let pair_sum: f64 = self
            .tiles(theta, &prep, |r0, len, g, bm| {
                let mut acc = 0.0;
                for q in 0..p {
                    for i in 0..len {
                        acc +=
                            g[(i, q)] * self.kernels.pair(prep.a[r0 + i], prep.a[q], bm[(i, q)]).ss;
                    }
                }
                acc
            })
            .into_iter()
            .sum();
        let pf = p as f64;
        let linear: f64 = prep.a.iter().zip(&prep.k1).map(|(a, k1)| a / g2 * k1).sum();
        let mse = 0.5 * self.kappa.iter().sum::<f64>() - m.alpha * m.gamma * linear / pf
            + 0.5 * m.alpha * m.alpha * pair_sum / (pf * pf);
        Risk {
            mse,
            penalty: 0.5 * m.lambda * theta.norm_squared() / pf,
        }
    }

    /// Per-direction gains `G_jj = (αγ/P) Σ_p K1(γ² s_p) θ_pj²` (docs/mean-field.md §4; exact for Gaussian
    /// data by Stein's lemma).
    pub fn gains(&self, theta: &DMatrix<f64>) -> Vec<f64> {
        let m = self.model;
        let (p, d) = theta.shape();
        let g2 = m.gamma * m.gamma;
        let mut out = vec![0.0; d];
        for i in 0..p {
            let row = theta.row(i);
            let a: f64 = g2
                * row
                    .iter()
                    .zip(self.kappa)
                    .map(|(t, k)| k * t * t)
                    .sum::<f64>();
            let k1 = self.kernels.single(a).0;
            for (o, t) in out.iter_mut().zip(row.iter()) {
                *o += k1 * t * t;
            }
        }
        out.iter()
            .map(|v| m.alpha * m.gamma * v / p as f64)
            .collect()
    }

    /// Observables of `theta` at `time`: exact population values for Gaussian data,
    /// empirical averages over a real data set.
    pub fn snapshot(&self, theta: &DMatrix<f64>, time: f64, data: &MfData) -> MfSnapshot {
        let (test_error, per_dir) = match data.empirical_observables(self.model, theta) {
            Some(obs) => obs,
            None => (self.risk(theta).mse, self.gains(theta)),
        };
        MfSnapshot {
            time,
            test_error,
            gains: data.block_means(&per_dir),
        }
    }

    /// One classical RK4 step of length `h`.
    pub fn rk4_step(&self, theta: &DMatrix<f64>, h: f64) -> DMatrix<f64> {
        let k1 = self.velocity(theta);
        let k2 = self.velocity(&(theta + &k1 * (0.5 * h)));
        let k3 = self.velocity(&(theta + &k2 * (0.5 * h)));
        let k4 = self.velocity(&(theta + &k3 * h));
        theta + (k1 + (k2 + k3) * 2.0 + k4) * (h / 6.0)
    }

    /// Integrate `theta0` through `times` (increasing, starting at the initial time) with
    /// RK4 steps of at most `dt` (each output interval split evenly); observables at every
    /// output time. `progress(1)` after every step. Non-finite particles or an MSE above
    /// [`BLOWUP_FACTOR`]·½tr Σ are reported as [`Error::Diverged`] with their time.
    pub fn run(
        &self,
        theta0: DMatrix<f64>,
        times: &[f64],
        dt: f64,
        data: &MfData,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ParticleRun> {
        let mut theta = theta0;
        let mut trajectory = MfTrajectory::default();
        let mut evaluations = 0;
        let scale = 0.5 * self.kappa.iter().sum::<f64>();
        let mut t_prev = times.first().copied().unwrap_or(0.0);
        for &t in times {
            let steps = ((t - t_prev) / dt).ceil().max(0.0) as u64;
            let h = if steps > 0 {
                (t - t_prev) / steps as f64
            } else {
                0.0
            };
            for _ in 0..steps {
                theta = self.rk4_step(&theta, h);
                evaluations += 4;
                progress(1);
            }
            t_prev = t;
            let snap = self.snapshot(&theta, t, data);
            if !theta.iter().all(|v| v.is_finite())
                || !snap.test_error.is_finite()
                || snap.test_error > BLOWUP_FACTOR * scale.max(1.0)
            {
                return Err(Error::Diverged {
                    what: "particle solver".into(),
                    time: t,
                    detail: format!("MSE {:e}", snap.test_error),
                });
            }
            trajectory.snapshots.push(snap);
        }
        Ok(ParticleRun {
            trajectory,
            theta,
            evaluations,
        })
    }
}
