//! # aedyn — learning dynamics of shallow autoencoders
//!
//! For each model, the **theory** (limit equations, infinite-width or expected-gradient
//! predictions), the matching **finite-size training**, their **comparison** and
//! **parameter studies**, from the CLI, from Rust and from Python. The models (maths in the
//! repository's `docs/`):
//!
//! * [`autoencoder`]: the two-layer autoencoder under online SGD and its high-dimensional
//!   ODEs (Refinetti & Goldt, ICML 2022);
//! * [`mean_field`]: the mean-field weight-tied autoencoder with N neurons (Nguyen 2021);
//! * [`generative`]: the weight-shared autoencoder recovering the parameters of generative
//!   models — Gaussian mixtures, sparse coding, non-negative sparse coding (Nguyen, Wong &
//!   Hegde, AISTATS 2019);
//! * [`ntk`]: over-parameterised two-layer ReLU autoencoders in the NTK regime — weak vs
//!   joint training, memorisation, weight-tied degeneracy (Nguyen, Wong & Hegde, IEEE TIT
//!   2021).
//!
//! Each model implements [`base::Dynamics`]; [`registry`] maps `[model] kind` to it, and
//! [`commands`], [`sweep`] and [`reproduce`] work for every model. The library works without
//! the CLI:
//!
//! ```
//! use aedyn::base::Dynamics;
//!
//! let mut table = aedyn::registry::default_table("autoencoder")?; // erf, K = 2, D = 1000
//! table["output"]["t_max"] = toml::Value::Float(50.0);
//! let exp = aedyn::registry::load_table(table, std::path::Path::new("."))?; // validated
//! let run = exp.theory(exp.replicate_seed(0), &|_| {})?;
//! let eps = run.table.column("test_error").unwrap();
//! assert!(eps.last() < eps.first()); // it learns
//! # Ok::<(), aedyn::Error>(())
//! ```
//!
//! Module dependencies point one way: `error, rng, simd, io, provenance, resources, plot,
//! activation, spectrum, dataset` (neutral) → `base` (the model interface, trajectories, runner, comparison,
//! config reading) → the model folders (`autoencoder`, `mean_field`, `generative`, `ntk`; no model imports
//! another) → `registry` (the only place that names every model) → `sweep`, `commands`,
//! `figures`, `reproduce` (generic over the model) → the binary.

pub mod activation;
pub mod autoencoder;
pub mod base;
pub mod commands;
pub mod dataset;
pub mod error;
pub mod figures;
pub mod generative;
pub mod io;
pub mod mean_field;
pub mod ntk;
pub mod plot;
pub mod provenance;
pub mod registry;
pub mod reproduce;
pub mod resources;
pub mod rng;
pub mod simd;
pub mod spectrum;
pub mod sweep;

pub use error::{Error, Result};
