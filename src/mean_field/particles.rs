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

use super::{
    initial_neurons, pairs, MeanFieldModel, MfData, MfKernels, MfSnapshot, MfTrajectory, Symmetry,
};
use crate::activation::Activation;
use crate::error::{Error, Result};

/// Rows per tile of the pair sums (one parallel task).
pub const TILE: usize = 128;
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

impl<'a> Population<'a> {
    /// The population of `model` with data eigenvalues `kappa`.
    pub fn new(model: &'a MeanFieldModel, kernels: &'a MfKernels, kappa: &'a [f64]) -> Self {
        Self {
            model,
            kernels,
            kappa,
        }
    }

    /// `a_p = γ² Σ_j κ_j θ_pj²`, summed over `j` in order.
    fn variances(&self, theta: &DMatrix<f64>) -> Vec<f64> {
        let p = theta.nrows();
        let mut a = vec![0.0; p];
        for (col, &k) in theta.as_slice().chunks_exact(p.max(1)).zip(self.kappa) {
            for (ap, &t) in a.iter_mut().zip(col) {
                *ap += t * (k * t);
            }
        }
        let g2 = self.model.gamma * self.model.gamma;
        a.iter_mut().for_each(|ap| *ap *= g2);
        a
    }

    /// The velocity of every particle (P×d), docs/mean-field.md §2.4:
    /// `V = αγ diag(K1+K2) ΘΣ − (α²/P) [W + diag(r) ΘΣ] − λΘ` with the pair sums
    /// `W = Kss Θ + γ²(G∘Kdd) ΘΣ` and `r = γ² (G∘Kds)𝟙` of [`pairs::pair_sums`] (each pair once).
    pub fn velocity(&self, theta: &DMatrix<f64>) -> DMatrix<f64> {
        let m = self.model;
        let a = self.variances(theta);
        let (mut v, r) = pairs::pair_sums(self.kernels, m.gamma * m.gamma, theta, self.kappa, &a);
        let k12: Vec<f64> = a
            .iter()
            .map(|&ap| {
                let (k1, k2) = self.kernels.single(ap);
                k1 + k2
            })
            .collect();
        let p = theta.nrows();
        let c = m.alpha * m.alpha / p as f64;
        // V in place of W
        let columns = v.as_mut_slice().chunks_exact_mut(p.max(1));
        for ((vc, tc), &kj) in columns
            .zip(theta.as_slice().chunks_exact(p.max(1)))
            .zip(self.kappa)
        {
            for (((vij, &tij), &k), &ri) in vc.iter_mut().zip(tc).zip(&k12).zip(&r) {
                let sij = tij * kj;
                *vij = m.alpha * m.gamma * k * sij - c * (*vij + ri * sij) - m.lambda * tij;
            }
        }
        v
    }

    /// The population risk of the empirical measure of `theta` (docs/mean-field.md §2.2); with P = N
    /// it is the network's exact population risk `R_N = E ℓ`.
    pub fn risk(&self, theta: &DMatrix<f64>) -> Risk {
        let m = self.model;
        let g2 = m.gamma * m.gamma;
        let a = self.variances(theta);
        let pair_sum = pairs::pair_energy(self.kernels, g2, theta, self.kappa, &a);
        let pf = theta.nrows() as f64;
        let linear: f64 = a
            .iter()
            .map(|&ap| ap / g2 * self.kernels.single(ap).0)
            .sum();
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

/// The velocity benchmark case (`benches/mean_field.rs`, `examples/mf_velocity_timing.rs`,
/// beside `benches/baselines/mean_field_numpy.py`): config R's spectrum (κ = 4, 2, 1, 0.1 with
/// multiplicities 5, 5, 10, 30), P = 2000 whitened particles of scale 0.1414 from seed 0,
/// α = γ = 1, λ = 0.3, and `activation`'s kernels (48 quadrature nodes where needed).
pub struct VelocityCase {
    /// The data: its eigenvalues `kappa()`.
    pub data: MfData,
    /// The particles Θ (P×d).
    pub theta: DMatrix<f64>,
    /// The model.
    pub model: MeanFieldModel,
    /// Its kernels.
    pub kernels: MfKernels,
}

impl VelocityCase {
    /// The case for `activation`.
    pub fn new(activation: Activation) -> Result<Self> {
        Ok(VelocityCase {
            data: MfData::blocks(&[(4.0, 5), (2.0, 5), (1.0, 10), (0.1, 30)])?,
            theta: initial_neurons(2000, 50, 0.1414, Symmetry::Whitened, 0)?,
            model: MeanFieldModel {
                activation,
                alpha: 1.0,
                gamma: 1.0,
                lambda: 0.3,
            },
            kernels: MfKernels::new(activation, 48)?,
        })
    }

    /// The population of the case.
    pub fn population(&self) -> Population<'_> {
        Population::new(&self.model, &self.kernels, self.data.kappa())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::mean_field::{initial_neurons, PairKernels, Symmetry};

    /// Largest `max|ΔV| / max|V|` between [`Population::velocity`] and the plain pair-by-pair
    /// loop with closed-form kernels: both evaluate the same formula and differ only by the
    /// order of the sums (blocked GEMMs against one dot product at a time) and by `asin`
    /// (≤ 1e-15 relative against libm).
    const VELOCITY_TOL: f64 = 1e-12;
    /// With quadrature kernels the velocity evaluates a pair once, in the orientation
    /// `(a_p, a_q)`, p < q, for both rows, while the plain loop takes `(a_p, a_q)` for row p
    /// and `(a_q, a_p)` for row q: the two Gauss–Hermite rules (`u` or `u'` as the first
    /// variable) differ by the quadrature error. The velocity must lie within this factor
    /// times the plain loop's own orientation spread (plain loop against the same loop with
    /// every pair swapped).
    const ORIENTATION_FACTOR: f64 = 1.0;

    fn dot(x: impl Iterator<Item = f64>, y: impl Iterator<Item = f64>) -> f64 {
        x.zip(y).map(|(x, y)| x * y).sum()
    }

    /// docs/mean-field.md §2.4 one pair at a time, O(P²d): the test reference. With `swap`,
    /// each pair's kernels come from the rule of the other orientation (quadrature only).
    fn plain_velocity(pop: &Population, theta: &DMatrix<f64>, swap: bool) -> DMatrix<f64> {
        let m = pop.model;
        let (p, d) = theta.shape();
        let g2 = m.gamma * m.gamma;
        let s = DMatrix::from_fn(p, d, |i, j| pop.kappa[j] * theta[(i, j)]);
        let a: Vec<f64> = (0..p)
            .map(|i| g2 * dot(theta.row(i).iter().copied(), s.row(i).iter().copied()))
            .collect();
        let c = m.alpha * m.alpha / p as f64;
        DMatrix::from_fn(p, d, |i, j| {
            let (k1, k2) = pop.kernels.single(a[i]);
            let mut pair = 0.0;
            for q in 0..p {
                let g = dot(theta.row(i).iter().copied(), theta.row(q).iter().copied());
                let b = g2 * dot(s.row(i).iter().copied(), theta.row(q).iter().copied());
                let k = if swap {
                    let (k, ds) = pop.kernels.pair_both(a[q], a[i], b);
                    PairKernels { ds, ..k }
                } else {
                    pop.kernels.pair(a[i], a[q], b)
                };
                pair += k.ss * theta[(q, j)] + g2 * g * (k.ds * s[(i, j)] + k.dd * s[(q, j)]);
            }
            m.alpha * m.gamma * (k1 + k2) * s[(i, j)] - c * pair - m.lambda * theta[(i, j)]
        })
    }

    #[test]
    fn velocity_equals_the_plain_pair_loop() {
        let kappa: Vec<f64> = (0..7).map(|j| 3.0 / (1.0 + j as f64)).collect();
        let model = |activation| MeanFieldModel {
            activation,
            alpha: 1.3,
            gamma: 0.8,
            lambda: 0.2,
        };
        // P = 130: a full tile and a partial one; P = 1100: several column chunks.
        let cases = [
            (Activation::Erf, 130, Symmetry::Whitened),
            (Activation::Erf, 1100, Symmetry::Iid),
            (Activation::Erf, 1100, Symmetry::Whitened),
            (Activation::Relu, 130, Symmetry::Iid),
            (Activation::Relu, 1100, Symmetry::Iid),
            (Activation::Linear, 130, Symmetry::Paired),
            (Activation::Tanh, 140, Symmetry::Iid),
        ];
        for (act, p, sym) in cases {
            let model = model(act);
            // 24 quadrature nodes keep the O(P²·nodes²) plain loop quick.
            let kernels = MfKernels::new(act, 24).unwrap();
            let pop = Population::new(&model, &kernels, &kappa);
            let theta = initial_neurons(p, kappa.len(), 0.7, sym, 1).unwrap();
            let (v, want) = (pop.velocity(&theta), plain_velocity(&pop, &theta, false));
            let err = (&v - &want).amax() / want.amax();
            let tol = if act.has_closed_form() {
                VELOCITY_TOL
            } else {
                let swapped = plain_velocity(&pop, &theta, true);
                let spread = (&swapped - &want).amax() / want.amax();
                eprintln!("{act} P={p}: {err:e}, orientation spread {spread:e}");
                VELOCITY_TOL.max(ORIENTATION_FACTOR * spread)
            };
            assert!(err <= tol, "{act} P={p} {sym:?}: {err:e}");
        }
        // Repeated eigenvalues: a bulk (κ* = 0.5) in scattered columns, and an isotropic Σ
        // (no column off the reference eigenvalue) — the split of `pairs::pair_sums`.
        let spectra = [vec![0.5, 3.0, 0.5, 1.0, 0.5, 0.5, 2.0], vec![1.5; 7]];
        for kappa in &spectra {
            for (act, p) in [
                (Activation::Erf, 1100),
                (Activation::Relu, 130),
                (Activation::Linear, 130),
            ] {
                let model = model(act);
                let kernels = MfKernels::new(act, 24).unwrap();
                let pop = Population::new(&model, &kernels, kappa);
                let theta = initial_neurons(p, kappa.len(), 0.7, Symmetry::Iid, 2).unwrap();
                let (v, want) = (pop.velocity(&theta), plain_velocity(&pop, &theta, false));
                let err = (&v - &want).amax() / want.amax();
                assert!(err <= VELOCITY_TOL, "{act} P={p} κ={kappa:?}: {err:e}");
            }
        }
    }

    /// `benches/baselines/mean_field_numpy.py`'s particles: `θ_pj = 0.4·(h(p·d + j)/2³² − ½)`,
    /// `h(n) = n·2654435761 mod 2³²`.
    fn numpy_theta(p: usize, d: usize) -> DMatrix<f64> {
        DMatrix::from_fn(p, d, |i, j| {
            let h = ((i * d + j) as u64).wrapping_mul(2_654_435_761) & 0xffff_ffff;
            0.4 * (h as f64 / 2f64.powi(32) - 0.5)
        })
    }

    #[test]
    fn velocity_matches_the_numpy_baseline() {
        // Printed by `python3 benches/baselines/mean_field_numpy.py` (erf, P = 2000, d = 50,
        // config R's spectrum, α = γ = 1, λ = 0.3): Σ V, Σ|V|, V_00, V_{P−1,d−1}, max|V|.
        const SUM: f64 = 2.086_658_768_228_322_6;
        const ABS_SUM: f64 = 8_042.411_639_353_309_5;
        const V00: f64 = -0.758_170_201_998_683_1;
        const V_LAST: f64 = -0.031_248_146_821_250_6;
        const AMAX: f64 = 0.785_879_580_007_621_7;
        let data = MfData::blocks(&[(4.0, 5), (2.0, 5), (1.0, 10), (0.1, 30)]).unwrap();
        let model = MeanFieldModel {
            activation: Activation::Erf,
            alpha: 1.0,
            gamma: 1.0,
            lambda: 0.3,
        };
        let kernels = MfKernels::new(Activation::Erf, 48).unwrap();
        let pop = Population::new(&model, &kernels, data.kappa());
        let v = pop.velocity(&numpy_theta(2000, 50));
        let close = |got: f64, want: f64| (got - want).abs() <= VELOCITY_TOL * AMAX;
        assert!(close(v.amax(), AMAX), "max|V| = {}", v.amax());
        assert!(close(v[(0, 0)], V00), "V_00 = {}", v[(0, 0)]);
        assert!(close(v[(1999, 49)], V_LAST), "V_last = {}", v[(1999, 49)]);
        let abs_sum: f64 = v.iter().map(|x| x.abs()).sum();
        assert!(
            (abs_sum - ABS_SUM).abs() <= VELOCITY_TOL * ABS_SUM,
            "Σ|V| = {abs_sum}"
        );
        assert!(
            (v.sum() - SUM).abs() <= VELOCITY_TOL * ABS_SUM,
            "ΣV = {}",
            v.sum()
        );
    }

    /// The risk's pair term `Σ_{p,q} G_pq Kss_pq` ([`pairs::pair_energy`], each pair once,
    /// blocks off the diagonal doubled, quadrature averaged over both orientations) against the
    /// plain double loop over all ordered pairs, to [`VELOCITY_TOL`] (summation order only).
    #[test]
    fn pair_energy_equals_the_plain_double_loop() {
        let kappa = vec![0.5, 3.0, 0.5, 1.0, 0.5, 0.5, 2.0];
        for (act, p) in [
            (Activation::Erf, 1100),
            (Activation::Relu, 300),
            (Activation::Linear, 130),
            (Activation::Tanh, 140),
        ] {
            let kernels = MfKernels::new(act, 24).unwrap();
            let g2 = 0.64;
            let theta = initial_neurons(p, kappa.len(), 0.7, Symmetry::Iid, 4).unwrap();
            let a: Vec<f64> = (0..p)
                .map(|i| {
                    g2 * (0..7)
                        .map(|j| kappa[j] * theta[(i, j)].powi(2))
                        .sum::<f64>()
                })
                .collect();
            let plain = || {
                let mut sum = 0.0;
                for i in 0..p {
                    for q in 0..p {
                        let dot = |k: &dyn Fn(usize) -> f64| {
                            (0..7)
                                .map(|j| k(j) * theta[(i, j)] * theta[(q, j)])
                                .sum::<f64>()
                        };
                        let (g, b) = (dot(&|_| 1.0), g2 * dot(&|j| kappa[j]));
                        sum += g * kernels.pair(a[i], a[q], b).ss;
                    }
                }
                sum
            };
            let (got, want) = (
                pairs::pair_energy(&kernels, g2, &theta, &kappa, &a),
                plain(),
            );
            let err = ((got - want) / want).abs();
            assert!(
                err <= VELOCITY_TOL,
                "{act} P={p}: {got} vs {want} ({err:e})"
            );
        }
    }

    #[test]
    fn velocity_does_not_depend_on_the_thread_count() {
        let kappa = [2.0, 1.0, 0.5, 0.25, 0.1];
        let model = MeanFieldModel {
            activation: Activation::Erf,
            alpha: 1.0,
            gamma: 1.0,
            lambda: 0.3,
        };
        let kernels = MfKernels::new(Activation::Erf, 48).unwrap();
        let pop = Population::new(&model, &kernels, &kappa);
        let theta = initial_neurons(600, 5, 0.5, Symmetry::Whitened, 2).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| pop.velocity(&theta))
        };
        assert_eq!(run(1), run(3));
    }
}
