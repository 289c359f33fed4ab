//! # aedyn — learning dynamics of shallow autoencoders
//!
//! Integrates the high-dimensional-limit ODEs for the order parameters of online SGD
//! in two-layer autoencoders (Refinetti & Goldt, ICML 2022), runs the matching
//! finite-width SGD simulations, and compares the two.
//!
//! Module dependencies point one way:
//! `spectrum → activation → model → theory | sgd → compare → plot → cli`;
//! the dynamics modules share only [`trajectory`] (order parameters and trajectories).

pub mod activation;
pub mod cli;
pub mod config;
pub mod error;
pub mod io;
pub mod model;
pub mod plot;
pub mod rng;
pub mod spectrum;
pub mod theory;
pub mod trajectory;

pub use error::{Error, Result};
