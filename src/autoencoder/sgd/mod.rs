//! Finite-width online SGD simulations of the autoencoder (docs/autoencoder.md §1, §5,
//! §8.3), measured in the same order parameters as the theory.
//!
//! * [`Network`]: weights and the training step of every rule;
//! * [`DataSource`]: inputs `x ~ N(0, Ω)` from the experiment's [`Covariance`];
//! * [`Simulator`]: one replicate per seed, many seeds in parallel (rayon). Every replicate
//!   draws from its own streams (`rng::rng_for(seed, stream::{INIT, TRAIN, TEST})`), so the
//!   results are bit-identical for any thread count.
//!
//! At every output time `t` the replicate has made `n = round(t·D)` steps (the first step
//! count ≥ t·D up to rounding of t·D) and records the exact time `n/D`. With minibatches
//! (B > 1) a step averages B gradients, and time still counts steps: `t = steps/D`.

mod data;
mod frame;
mod linalg;
mod network;

use nalgebra::{DMatrix, DVector};

pub use data::{DataSource, GaussianSampler, InputStream};
pub use frame::Frame;
pub use network::Network;

use crate::activation::{test_error, KernelEvaluator};
use crate::autoencoder::model::Model;
use crate::autoencoder::params::{Experiment, TestSamples};
use crate::autoencoder::trajectory::{GroupDensity, OrderParams, Snapshot, Trajectory};
use crate::error::{Error, Result};
use crate::rng::{rng_for, stream};
use crate::spectrum::Covariance;

/// A run whose test error exceeds this multiple of its initial scale is declared diverged.
/// (A blow-up, not a slow drift: a healthy run stays within O(1) of its initial error.)
pub const BLOWUP_FACTOR: f64 = 1e6;

/// The number of steps at output time `t`: [`crate::base::grid::step_count`] of `t·D`.
pub fn steps_at(t: f64, dim: usize) -> u64 {
    crate::base::grid::step_count(t * dim as f64)
}

/// The exact order parameters, group densities and test error of a network (docs/autoencoder.md §2, §3.6).
#[derive(Debug, Clone)]
pub struct Measurement {
    /// (Q, R, T, T0, β).
    pub order_params: OrderParams,
    /// Densities of each eigenvalue group.
    pub groups: Vec<GroupDensity>,
    /// ε_g from the order parameters (exact for Gaussian inputs).
    pub test_error: f64,
}

/// An empirical mean with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The sample mean.
    pub mean: f64,
    /// Its standard error `sd/√n`.
    pub std_err: f64,
    /// The number of samples n.
    pub samples: usize,
}

/// `simulation.test_samples = "auto"`: the target standard error of the empirical test
/// error, relative to its value. 1 % resolves the test error's evolution on a log scale
/// and checks the exact ε_g to that precision, at a cost below the training's (the
/// per-sample loss `|x − x̂|²/(2D)` concentrates as D grows, so large D needs few samples).
pub const AUTO_RELATIVE_STD_ERR: f64 = 0.01;

/// `"auto"`: the pilot sample (also the least count): enough for the sample variance that
/// sets the count to be within ±10 % (relative s.e. of a variance ≈ √(2/n) for Gaussian
/// losses, more for heavy tails).
pub const AUTO_MIN_TEST_SAMPLES: usize = 200;

/// `"auto"`: the most test inputs per output time (the former fixed default).
pub const AUTO_MAX_TEST_SAMPLES: usize = 10_000;

/// Test inputs per block of the loss evaluation (a K×D by D×B product).
const TEST_BLOCK: usize = 8;

/// The result of one replicate.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// The replicate's seed.
    pub seed: u64,
    /// Initial encoder W0 (K×D).
    pub w0: DMatrix<f64>,
    /// Initial decoder V0 (K×D; the effective decoder κW0 when tied).
    pub v0: DMatrix<f64>,
    /// The measurements at the output times (the first is the initial state).
    pub trajectory: Trajectory,
    /// Steps made.
    pub steps: u64,
}

/// Simulates an [`Experiment`] with SGD.
///
/// Gaussian inputs with dense explicit eigendirections are drawn in the eigenframe of Ω
/// ([`Frame`]; O(D) per input instead of O(D) per direction): the networks of
/// [`Simulator::initial_network`] and the inputs of [`Simulator::source`] live in that frame,
/// and [`Simulator::measure`] / [`Simulator::weights`] map the weights back, so every output
/// is in the original coordinates.
pub struct Simulator<'a> {
    exp: &'a Experiment,
    source: DataSource,
    /// The eigenframe the simulation runs in, if any.
    frame: Option<Frame>,
    evaluator: KernelEvaluator,
    /// The exact covariance of the inputs when it differs from the theory's (binned) one.
    exact: Option<&'a Covariance>,
}

impl<'a> Simulator<'a> {
    /// A simulator of `exp`. Inputs are Gaussian with `exp.covariance` itself, or for a real
    /// dataset its samples (or Gaussian surrogates with their exact second moment).
    pub fn new(exp: &'a Experiment) -> Result<Self> {
        if exp.initial_weights(exp.replicate_seed(0)).is_none() {
            return Err(Error::Unsupported(
                "a simulation needs initial weights (init.kind = \"random\" or \"weights\"), not densities".into(),
            ));
        }
        let (source, frame) = match &exp.samples {
            None => DataSource::gaussian_in_eigenframe(&exp.covariance),
            Some(s) => match s.inputs {
                crate::autoencoder::params::Inputs::Samples => (
                    DataSource::Samples(s.samples.clone(), exp.sim.sampling),
                    None,
                ),
                crate::autoencoder::params::Inputs::Gaussian => {
                    DataSource::gaussian_in_eigenframe(&s.covariance)
                }
            },
        };
        Ok(Simulator {
            exp,
            source,
            frame,
            evaluator: KernelEvaluator::new(exp.model.activation, exp.quadrature_nodes)?,
            exact: exp.samples.as_ref().map(|s| &s.covariance),
        })
    }

    /// The input source (in the simulation's frame, see [`Simulator::frame`]).
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// The eigenframe the simulation runs in (`None`: the original coordinates).
    pub fn frame(&self) -> Option<&Frame> {
        self.frame.as_ref()
    }

    /// The encoder and decoder of `net` (a network of this simulator, in its frame) in the
    /// original coordinates.
    pub fn weights(&self, net: &Network) -> (DMatrix<f64>, DMatrix<f64>) {
        let (w, v) = (net.encoder(), net.decoder());
        match &self.frame {
            Some(f) => (f.rows_backward(&w), f.rows_backward(&v)),
            None => (w, v),
        }
    }

    /// Total steps of one replicate (to the last output time).
    pub fn total_steps(&self) -> u64 {
        let d = self.exp.covariance.dim();
        self.exp
            .times
            .iter()
            .map(|&t| steps_at(t, d))
            .max()
            .unwrap_or(0)
    }

    /// The network of replicate `seed` at initialisation (in the simulation's frame).
    pub fn initial_network(&self, seed: u64) -> Result<Network> {
        self.network_at_init(seed, self.frame.as_ref())
    }

    /// The network of replicate `seed` at initialisation, its weights mapped into `frame`.
    fn network_at_init(&self, seed: u64, frame: Option<&Frame>) -> Result<Network> {
        let (mut w0, mut v0) = self
            .exp
            .initial_weights(seed)
            .expect("checked in Simulator::new");
        if let Some(f) = frame {
            (w0, v0) = (f.rows_forward(&w0), f.rows_forward(&v0));
        }
        Network::new(
            &self.exp.model,
            &w0,
            &v0,
            self.exp.bias0.as_ref(),
            self.exp.sim.batch,
        )
    }

    /// Exact measurement of `net` (docs/autoencoder.md §2: densities from the weights through the
    /// covariance's group structure, O(K·D·n_explicit + K²·D); §3.6: test error).
    pub fn measure(&self, net: &Network) -> Result<Measurement> {
        let (w, v) = self.weights(net);
        measure(
            &self.exp.covariance,
            self.exact,
            &self.exp.model,
            &self.evaluator,
            (&w, &v),
            net.beta(),
        )
    }

    /// Empirical test error on the `n` held-out inputs of replicate `seed` (stream TEST; the
    /// same inputs at every call): mean of `|x − x̂|²/(2D)` with its standard error.
    pub fn empirical_test_error(&self, net: &Network, seed: u64, n: usize) -> Estimate {
        self.test_error_estimate(net, seed, TestSamples::Count(n))
            .unwrap_or(Estimate {
                mean: f64::NAN,
                std_err: f64::NAN,
                samples: 0,
            })
    }

    /// Empirical test error on held-out inputs of replicate `seed` (stream TEST, the same
    /// inputs in the same order at every call), `None` for a count of 0. With
    /// [`TestSamples::Auto`], a pilot of [`AUTO_MIN_TEST_SAMPLES`] inputs estimates the
    /// per-sample variance σ², and the count is raised to `σ²/(r·mean)²` for the relative
    /// standard error r = [`AUTO_RELATIVE_STD_ERR`] (at most [`AUTO_MAX_TEST_SAMPLES`]); the
    /// estimate uses every input drawn. The losses are evaluated in blocks through the
    /// training step's vector kernels ([`Network::loss_evaluator`]).
    pub fn test_error_estimate(
        &self,
        net: &Network,
        seed: u64,
        samples: TestSamples,
    ) -> Option<Estimate> {
        let (first, auto) = match samples {
            TestSamples::Count(0) => return None,
            TestSamples::Count(n) => (n, false),
            TestSamples::Auto => (AUTO_MIN_TEST_SAMPLES, true),
        };
        let mut rng = rng_for(seed, stream::TEST);
        let mut eval = net.loss_evaluator();
        let (d, dp) = (self.source.dim(), eval.stride());
        let mut xs = vec![0.0; TEST_BLOCK * dp];
        let mut losses = [0.0; TEST_BLOCK];
        let (mut sum, mut sum2, mut n) = (0.0, 0.0, 0usize);
        let mut draw = |count: usize, sum: &mut f64, sum2: &mut f64, n: &mut usize| {
            while *n < count {
                let nb = TEST_BLOCK.min(count - *n);
                for x in xs.chunks_exact_mut(dp).take(nb) {
                    self.source.sample(&mut rng, &mut x[..d]);
                }
                eval.losses(&xs[..nb * dp], &mut losses[..nb]);
                for &l in &losses[..nb] {
                    *sum += l;
                    *sum2 += l * l;
                }
                *n += nb;
            }
        };
        draw(first, &mut sum, &mut sum2, &mut n);
        let stats = |sum: f64, sum2: f64, n: usize| {
            let nf = n as f64;
            let mean = sum / nf;
            let var = (sum2 / nf - mean * mean).max(0.0) * nf / (nf - 1.0).max(1.0);
            (mean, var)
        };
        if auto {
            let (mean, var) = stats(sum, sum2, n);
            let target = AUTO_RELATIVE_STD_ERR * mean.abs();
            let want = if target > 0.0 {
                (var / (target * target))
                    .ceil()
                    .min(AUTO_MAX_TEST_SAMPLES as f64) as usize
            } else {
                AUTO_MAX_TEST_SAMPLES
            };
            draw(want, &mut sum, &mut sum2, &mut n);
        }
        let (mean, var) = stats(sum, sum2, n);
        Some(Estimate {
            mean,
            std_err: (var / n as f64).sqrt(),
            samples: n,
        })
    }

    /// Run replicate `seed` through the output times. `progress(n)` is called with the
    /// number of steps made since its previous call (every 1000 steps and at each output),
    /// and after each measurement with its [`measurement_units`].
    pub fn run_seed(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<SeedRun> {
        let mut net = self.initial_network(seed)?;
        // The initial weights exactly as configured (not through the frame and back).
        let (w0, v0) = {
            let net0 = self.network_at_init(seed, None)?;
            (net0.encoder(), net0.decoder())
        };
        let d = self.exp.covariance.dim();
        let test_samples = self.exp.sim.test_samples;
        let mut inputs = InputStream::new(&self.source, rng_for(seed, stream::TRAIN));
        let mut trajectory = Trajectory::default();
        let mut steps = 0u64;
        let mut scale = None;
        const PROGRESS_CHUNK: u64 = 1000;
        for &t in &self.exp.times {
            let target = steps_at(t, d);
            while steps < target {
                net.train_step(&mut inputs);
                steps += 1;
                if steps.is_multiple_of(PROGRESS_CHUNK) {
                    progress(PROGRESS_CHUNK);
                }
            }
            let time = steps as f64 / d as f64;
            let diverged = |detail: String| Error::Diverged {
                what: format!("simulation seed {seed}"),
                time,
                detail,
            };
            if !net.is_finite() {
                return Err(diverged("non-finite weights".into()));
            }
            let m = self.measure(&net).map_err(|e| diverged(e.to_string()))?;
            // The initial error, or the error of the zero network ½ tr Ω/D if larger.
            let eps_scale = *scale.get_or_insert(
                m.test_error
                    .max(0.5 * self.exp.covariance.spectrum().trace_over_dim()),
            );
            if !(m.test_error.is_finite() && m.order_params.is_finite()) {
                return Err(diverged(format!("test error {}", m.test_error)));
            }
            if m.test_error > BLOWUP_FACTOR * eps_scale {
                return Err(diverged(format!(
                    "test error {:e} > {BLOWUP_FACTOR:e} × its initial scale {eps_scale:e}",
                    m.test_error
                )));
            }
            let empirical = self
                .test_error_estimate(&net, seed, test_samples)
                .map(|e| e.mean);
            trajectory.snapshots.push(Snapshot {
                time,
                test_error: m.test_error,
                test_error_empirical: empirical,
                order_params: m.order_params,
                groups: m.groups,
            });
            // The measurement's units; also a chance for the caller to stop the run.
            progress(measurement_units(test_samples));
        }
        progress(steps % PROGRESS_CHUNK);
        Ok(SeedRun {
            seed,
            w0,
            v0,
            trajectory,
            steps,
        })
    }
}

/// Progress units of one measurement: its test inputs (each costs about one step), at least
/// 1 for the exact order parameters; with `"auto"` the least count
/// [`AUTO_MIN_TEST_SAMPLES`] (the count it settles on is known only as it runs).
pub fn measurement_units(samples: TestSamples) -> u64 {
    match samples {
        TestSamples::Count(n) => n.max(1) as u64,
        TestSamples::Auto => AUTO_MIN_TEST_SAMPLES as u64,
    }
}

/// Exact measurement of the network with encoder and decoder `weights` (K×D each) and biases
/// `beta` for data covariance `cov` (see [`Simulator::measure`]). When
/// `cov` is a binned approximation of the inputs' covariance `exact`, the group densities are
/// still those of `cov`'s groups (exact projections on each bin's eigenvectors), while the
/// order parameters and the test error use the exact eigenvalues.
pub fn measure(
    cov: &Covariance,
    exact: Option<&Covariance>,
    model: &Model,
    evaluator: &KernelEvaluator,
    (w, v): (&DMatrix<f64>, &DMatrix<f64>),
    beta: Option<DVector<f64>>,
) -> Result<Measurement> {
    let (k, d) = (w.nrows(), w.ncols());
    // Rows of y: ω-side w^k and ν̃-side v^k/√D, so S_G = [[q_G, r_Gᵀ], [r_G, t_G]].
    let mut y = DMatrix::zeros(2 * k, d);
    y.view_mut((0, 0), (k, d)).copy_from(w);
    y.view_mut((k, 0), (k, d))
        .copy_from(&(v / (d as f64).sqrt()));
    let groups: Vec<GroupDensity> = cov
        .group_moments(&y)?
        .iter()
        .map(GroupDensity::from_moment)
        .collect();
    let op = match exact {
        Some(ex) => {
            let fine: Vec<GroupDensity> = ex
                .group_moments(&y)?
                .iter()
                .map(GroupDensity::from_moment)
                .collect();
            OrderParams::from_groups(ex.spectrum(), &fine, beta)
        }
        None => OrderParams::from_groups(cov.spectrum(), &groups, beta),
    };
    let ker = evaluator.kernels(
        &op.q,
        &op.r.diagonal(),
        op.beta.as_ref(),
        model.bias_lr.is_some(),
    )?;
    let trace = exact.unwrap_or(cov).spectrum().trace_over_dim();
    let eps = test_error(&ker, &op.r, &op.t0, trace);
    Ok(Measurement {
        order_params: op,
        groups,
        test_error: eps,
    })
}
