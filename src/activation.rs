//! Activation functions g and the Gaussian kernels of the ODEs
//! (Refinetti & Goldt 2022; spec `autoencoder-ode.md` §3.1, §3.4).
//!
//! All kernels are expectations over the centred Gaussian pre-activations
//! `λ ~ N(0, Q)` (with `ν^k` jointly Gaussian, `E[ν^k λ^l] = R^{kl}`), for the
//! biased units `g_k(λ) := g(λ + β_k)` (β = 0 without a bias):
//!
//! ```text
//! E1_k    = E[g_k'(λ^k)]
//! M_k     = E[g_k''(λ^k) ν^k] = (R^{kk}/Q^{kk}) E[g_k'(λ^k)((λ^k)²/Q^{kk} − 1)]
//! I2_{ka} = E[g_k(λ^k) g_a(λ^a)]
//! A_{ka}  = E[g_k''(λ^k) g_a(λ^a)] = (E[g_k'(λ^k) λ^k g_a(λ^a)] − Q^{ka} B_{ka}) / Q^{kk}
//! B_{ka}  = E[g_k'(λ^k) g_a'(λ^a)]
//! P_{ka}  = E[g_k'(λ^k) g_a(λ^a)]        (bias ODE only)
//! Mb_k    = E[g_k'(λ^k) ν^k] = R^{kk} E[g_k''(λ^k)]   (bias ODE only)
//! ```

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An activation function g of the hidden units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `g(z) = erf(z/√2)` (closed-form kernels).
    Erf,
    /// `g(z) = z` (closed-form kernels).
    Linear,
    /// `g(z) = max(0, z)` (closed-form kernels, with or without bias).
    Relu,
    /// `g(z) = tanh(z)` (Gauss–Hermite kernels).
    Tanh,
    /// `g(z) = 1/(1+e^{−z})` (Gauss–Hermite kernels).
    Sigmoid,
    /// `g(z) = ln(1+e^{z})` (Gauss–Hermite kernels).
    Softplus,
}

impl Activation {
    /// All activations available by name.
    pub const ALL: [Activation; 6] = [
        Activation::Erf,
        Activation::Linear,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
    ];

    /// The name used in configs and outputs.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Erf => "erf",
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
        }
    }

    /// Parse a name as used in configs.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// True where the kernels are computed in closed form (otherwise Gauss–Hermite).
    pub fn has_closed_form(self) -> bool {
        matches!(
            self,
            Activation::Erf | Activation::Linear | Activation::Relu
        )
    }

    /// `g(z)`.
    #[inline]
    pub fn g(self, z: f64) -> f64 {
        match self {
            Activation::Erf => libm::erf(z * std::f64::consts::FRAC_1_SQRT_2),
            Activation::Linear => z,
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Softplus => {
                // ln(1+e^z) without overflow
                if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                }
            }
        }
    }

    /// `g'(z)` (ReLU: the indicator `1[z > 0]`).
    #[inline]
    pub fn dg(self, z: f64) -> f64 {
        match self {
            Activation::Erf => {
                // √(2/π) e^{−z²/2}
                const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
                SQRT_2_OVER_PI * (-0.5 * z * z).exp()
            }
            Activation::Linear => 1.0,
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                1.0 - t * t
            }
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Activation::Softplus => 1.0 / (1.0 + (-z).exp()),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Gaussian kernels at one state (Q, diag R, β); see the module docs for the definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernels {
    /// `E1_k` (length K).
    pub e1: DVector<f64>,
    /// `M_k` (length K).
    pub m: DVector<f64>,
    /// `I2_{ka}` (K×K, symmetric).
    pub i2: DMatrix<f64>,
    /// `A_{ka}` (K×K, not symmetric).
    pub a: DMatrix<f64>,
    /// `B_{ka}` (K×K, symmetric).
    pub b: DMatrix<f64>,
    /// `P_{ka}` (K×K), only when biases are trained.
    pub p: Option<DMatrix<f64>>,
    /// `Mb_k` (length K), only when biases are trained.
    pub mb: Option<DVector<f64>>,
}

/// Default Gauss–Hermite nodes per dimension.
pub const DEFAULT_QUADRATURE_NODES: usize = 48;

/// TEMPORARY (replaced by the full evaluator on merge): erf and linear closed forms.
pub struct KernelEvaluator {
    activation: Activation,
}

impl KernelEvaluator {
    /// New evaluator.
    pub fn new(activation: Activation, _nodes: usize) -> Result<Self> {
        Ok(KernelEvaluator { activation })
    }

    /// Kernels at (Q, diag R, β).
    pub fn kernels(
        &self,
        q: &DMatrix<f64>,
        r_diag: &DVector<f64>,
        _beta: Option<&DVector<f64>>,
        _bias: bool,
    ) -> Result<Kernels> {
        let k = q.nrows();
        let pi = std::f64::consts::PI;
        match self.activation {
            Activation::Erf => {
                let e1 = DVector::from_fn(k, |a, _| (2.0 / pi).sqrt() / (1.0 + q[(a, a)]).sqrt());
                let m = DVector::from_fn(k, |a, _| {
                    -(2.0 / pi).sqrt() * r_diag[a] / (1.0 + q[(a, a)]).powf(1.5)
                });
                let lam =
                    |a: usize, b: usize| (1.0 + q[(a, a)]) * (1.0 + q[(b, b)]) - q[(a, b)].powi(2);
                let i2 = DMatrix::from_fn(k, k, |a, b| {
                    2.0 / pi * (q[(a, b)] / ((1.0 + q[(a, a)]) * (1.0 + q[(b, b)])).sqrt()).asin()
                });
                let bm = DMatrix::from_fn(k, k, |a, b| 2.0 / pi / lam(a, b).sqrt());
                let am = DMatrix::from_fn(k, k, |a, b| {
                    -2.0 / pi * q[(a, b)] / ((1.0 + q[(a, a)]) * lam(a, b).sqrt())
                });
                Ok(Kernels {
                    e1,
                    m,
                    i2,
                    a: am,
                    b: bm,
                    p: None,
                    mb: None,
                })
            }
            Activation::Linear => Ok(Kernels {
                e1: DVector::from_element(k, 1.0),
                m: DVector::zeros(k),
                i2: q.clone(),
                a: DMatrix::zeros(k, k),
                b: DMatrix::from_element(k, k, 1.0),
                p: None,
                mb: None,
            }),
            a => Err(Error::Unsupported(format!("{a}"))),
        }
    }
}

/// Test error from the kernels and order parameters (spec §3.6), exact at any D for Gaussian
/// inputs: `ε_g = ½ tr Ω/D − Σ_k E1_k R^{kk} + ½ Σ_{k,l} T0^{kl} I2_{kl}`.
pub fn test_error(
    kernels: &Kernels,
    r: &DMatrix<f64>,
    t0: &DMatrix<f64>,
    trace_over_dim: f64,
) -> f64 {
    let k = r.nrows();
    let mut eps = 0.5 * trace_over_dim;
    for a in 0..k {
        eps -= kernels.e1[a] * r[(a, a)];
        for b in 0..k {
            eps += 0.5 * t0[(a, b)] * kernels.i2[(a, b)];
        }
    }
    eps
}
