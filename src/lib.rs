//! # aedyn — learning dynamics of shallow autoencoders
//!
//! Integrates the high-dimensional-limit ODEs for the order parameters of online SGD
//! in two-layer autoencoders (Refinetti & Goldt, ICML 2022), runs the matching
//! finite-width SGD simulations, and compares the two.
//!
//! Module dependencies point one way:
//! `spectrum → activation → theory | sgd → compare → plot → cli`.

pub mod activation;
pub mod error;

pub use error::{Error, Result};
