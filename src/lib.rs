//! # aedyn — learning dynamics of shallow autoencoders
//!
//! Integrates the high-dimensional-limit ODEs for the order parameters of online SGD
//! in two-layer autoencoders (Refinetti & Goldt, ICML 2022), runs the matching
//! finite-width SGD simulations, and compares the two.
//!
//! The library works without the CLI; the theory of the built-in default experiment:
//!
//! ```
//! use aedyn::config::Config;
//!
//! let mut config = Config::default(); // erf, K = 2, θ = (25, 9)/35, D = 1000, η = 0.4
//! config.output.t_max = 50.0;
//! let exp = config.resolve()?; // validated before any numerics run
//! let init = exp.initial_state(exp.replicate_seed(0))?;
//! let run = exp.theory()?.run(&init, &exp.times, exp.tolerances)?;
//! let pca = exp.covariance.pca_errors(2); // ε_PCA(m), m = 0, 1, 2
//! let last = run.trajectory.snapshots.last().unwrap();
//! assert!(last.test_error < pca[1]); // past the first plateau by t = 50
//! # Ok::<(), aedyn::Error>(())
//! ```
//!
//! Module dependencies point one way:
//! `spectrum → dataset → activation → model → theory | sgd → compare | analysis → sweep → plot →
//! figures → reproduce → cli`;
//! the dynamics modules share only [`trajectory`] (order parameters and trajectories).
//! [`mean_field`] (the weight-tied mean-field autoencoder of Nguyen 2021: SGD, particle
//! solver, exact ReLU reduction) depends only on `spectrum`-level modules (`activation`,
//! `rng`, `io`, `error`); `config` resolves it with `Config::resolve_mean_field`.

pub mod activation;
pub mod analysis;
pub mod cli;
pub mod compare;
pub mod config;
pub mod dataset;
pub mod error;
pub mod figures;
pub mod io;
pub mod mean_field;
pub mod model;
pub mod plot;
pub mod reproduce;
pub mod rng;
pub mod sgd;
pub mod spectrum;
pub mod sweep;
pub mod theory;
pub mod trajectory;

pub use error::{Error, Result};
