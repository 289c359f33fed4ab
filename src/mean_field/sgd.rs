//! Online SGD of the N-neuron network (docs/mean-field.md §1): each step draws a fresh
//! minibatch x_1..x_B, sets r_b = x_b − x̂(x_b) and
//!
//! ```text
//! θ_i ← θ_i + ε [ (1/B) Σ_b g(θ_i; x_b) − λ θ_i ],   g(θ; x) = α r σ(γθᵀx) + αγ (θᵀr) σ'(γθᵀx) x
//! ```
//!
//! i.e. the step −εN ∇_{θ_i} ℓ; time t = kε after k steps. A step is five matrix products of
//! size N·d·B. Every replicate draws from its own streams (`rng_for(seed, INIT | TRAIN)`),
//! so results are bit-identical for any thread count.

use nalgebra::DMatrix;

use super::particles::BLOWUP_FACTOR;
use super::{initial_neurons, MeanFieldExperiment, MfKernels, MfTrajectory, Population};
use crate::error::{Error, Result};
use crate::rng::{rng_for, stream, Rng};

/// The number of steps at time `t` with step ε: [`crate::base::grid::step_count`] of `t/ε`.
pub fn steps_at(t: f64, step: f64) -> u64 {
    crate::base::grid::step_count(t / step)
}

/// One replicate's result.
#[derive(Debug, Clone)]
pub struct MfSeedRun {
    /// Seed.
    pub seed: u64,
    /// Initial neurons (N×d, eigenbasis of Σ).
    pub theta0: DMatrix<f64>,
    /// Observables at the output times (exact times kε).
    pub trajectory: MfTrajectory,
    /// Steps made.
    pub steps: u64,
}

/// Scratch matrices of one SGD step (sizes d×B and N×B).
struct Workspace {
    x: DMatrix<f64>,
    xhat: DMatrix<f64>,
    z: DMatrix<f64>,
    sig: DMatrix<f64>,
    tm: DMatrix<f64>,
    col: Vec<f64>,
}

/// SGD of a [`MeanFieldExperiment`].
pub struct MfSimulator<'a> {
    exp: &'a MeanFieldExperiment,
    kernels: MfKernels,
}

impl<'a> MfSimulator<'a> {
    /// A simulator of `exp`.
    pub fn new(exp: &'a MeanFieldExperiment) -> Result<Self> {
        Ok(Self {
            exp,
            kernels: exp.kernels()?,
        })
    }

    /// Steps of one replicate to the last output time.
    pub fn total_steps(&self) -> u64 {
        self.exp
            .times
            .last()
            .map_or(0, |&t| steps_at(t, self.exp.sgd.step))
    }

    /// The initial neurons of replicate `seed`.
    pub fn initial_neurons(&self, seed: u64) -> Result<DMatrix<f64>> {
        initial_neurons(
            self.exp.neurons,
            self.exp.data.dim(),
            self.exp.init_std,
            self.exp.symmetry,
            seed,
        )
    }

    fn workspace(&self) -> Workspace {
        let (n, d, b) = (self.exp.neurons, self.exp.data.dim(), self.exp.sgd.batch);
        Workspace {
            x: DMatrix::zeros(d, b),
            xhat: DMatrix::zeros(d, b),
            z: DMatrix::zeros(n, b),
            sig: DMatrix::zeros(n, b),
            tm: DMatrix::zeros(n, b),
            col: vec![0.0; d],
        }
    }

    /// One SGD step on `theta` (N×d) with a fresh minibatch from `rng`.
    fn step(&self, theta: &mut DMatrix<f64>, w: &mut Workspace, rng: &mut Rng) {
        let p = &self.exp.sgd;
        let b = p.batch;
        let fresh = if p.antithetic { b / 2 } else { b };
        for c in 0..fresh {
            self.exp.data.sample(rng, &mut w.col);
            w.x.column_mut(c).copy_from_slice(&w.col);
            if p.antithetic {
                for (dst, v) in w.x.column_mut(c + fresh).iter_mut().zip(&w.col) {
                    *dst = -v;
                }
            }
        }
        self.update(theta, w);
    }

    /// The SGD update of `theta` with the minibatch in `w.x`.
    fn update(&self, theta: &mut DMatrix<f64>, w: &mut Workspace) {
        let m = &self.exp.model;
        let p = &self.exp.sgd;
        let b = w.x.ncols();
        let n = theta.nrows() as f64;
        w.z.gemm(m.gamma, theta, &w.x, 0.0); // u = γθᵀx
        let act = m.activation;
        for (s, u) in w.sig.iter_mut().zip(w.z.iter_mut()) {
            let (g, dg) = act.g_dg(*u);
            *s = g;
            *u = dg; // z now holds σ'(u)
        }
        w.xhat.gemm_tr(m.alpha / n, theta, &w.sig, 0.0);
        let r = &w.x - &w.xhat; // d×B residuals
        w.tm.gemm(1.0, theta, &r, 0.0); // θᵀr
        w.tm.component_mul_assign(&w.z);
        let scale = p.step * m.alpha / b as f64;
        theta.gemm(scale, &w.sig, &r.transpose(), 1.0 - p.step * m.lambda);
        theta.gemm(scale * m.gamma, &w.tm, &w.x.transpose(), 1.0);
    }

    /// One SGD step of `theta` on the given minibatch (d×B, one input per column; B as
    /// configured): `θ_i ← θ_i + ε[(1/B)Σ_b g(θ_i; x_b) − λθ_i]`.
    pub fn sgd_step(&self, theta: &mut DMatrix<f64>, batch: &DMatrix<f64>) {
        let mut w = self.workspace();
        w.x.copy_from(batch);
        self.update(theta, &mut w);
    }

    /// Run replicate `seed` through the output times; `progress(n)` with steps made.
    pub fn run_seed(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<MfSeedRun> {
        let theta0 = self.initial_neurons(seed)?;
        let (trajectory, steps) = self.run_from(seed, theta0.clone(), progress)?;
        Ok(MfSeedRun {
            seed,
            theta0,
            trajectory,
            steps,
        })
    }

    /// Train from given neurons `theta0` with the training stream of `seed`; returns the
    /// observables at the output times and the steps made.
    pub fn run_from(
        &self,
        seed: u64,
        theta0: DMatrix<f64>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(MfTrajectory, u64)> {
        const PROGRESS_CHUNK: u64 = 1000;
        let exp = self.exp;
        let pop = Population::new(&exp.model, &self.kernels, exp.data.kappa());
        let mut theta = theta0;
        let mut w = self.workspace();
        let mut rng = rng_for(seed, stream::TRAIN);
        let mut trajectory = MfTrajectory::default();
        let mut steps = 0u64;
        let scale = 0.5 * exp.data.trace();
        for &t in &exp.times {
            let target = steps_at(t, exp.sgd.step);
            while steps < target {
                self.step(&mut theta, &mut w, &mut rng);
                steps += 1;
                if steps.is_multiple_of(PROGRESS_CHUNK) {
                    progress(PROGRESS_CHUNK);
                }
            }
            let time = steps as f64 * exp.sgd.step;
            let diverged = |detail: String| Error::Diverged {
                what: format!("mean-field simulation seed {seed}"),
                time,
                detail,
            };
            if !theta.iter().all(|v| v.is_finite()) {
                return Err(diverged("non-finite neurons".into()));
            }
            let snap = pop.snapshot(&theta, time, &exp.data);
            if !snap.test_error.is_finite() || snap.test_error > BLOWUP_FACTOR * scale.max(1.0) {
                return Err(diverged(format!("MSE {:e}", snap.test_error)));
            }
            trajectory.snapshots.push(snap);
        }
        progress(steps % PROGRESS_CHUNK);
        Ok((trajectory, steps))
    }
}
