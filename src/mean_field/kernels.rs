//! Gaussian kernels of the mean-field velocity and risk (docs/mean-field.md §2.2–§2.3).
//!
//! For a pair of neurons the pre-activations `u = γθᵀx`, `u' = γθ'ᵀx` are centred Gaussian with
//! covariance `[[a, b], [b, a']]`, `a = γ²θᵀΣθ`, `a' = γ²θ'ᵀΣθ'`, `b = γ²θᵀΣθ'`:
//!
//! ```text
//! K1(a) = E σ'(u)          K2(a) = E[σ'(u) + u σ''(u)] = E[u² σ'(u)] / a
//! Kss = E[σ(u)σ(u')]       Kdd = E[σ'(u)σ'(u')]      Kds = E[σ''(u)σ(u')]   (first slot)
//! ```
//!
//! Closed forms for erf, ReLU and linear; tensor Gauss–Hermite quadrature for every other σ,
//! with the Stein forms `K2 = E[z²σ'(√a z)]` and `Kds = (E[u σ'(u) σ(u')] − b Kdd)/a`, so σ''
//! is never needed.

use crate::activation::{gauss_hermite, Activation};
use crate::error::Result;

/// √(2/π).
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// 2/π.
pub(super) const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// 1/(2π).
const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;
/// Below this pre-activation variance a neuron counts as θ = 0 (docs/mean-field.md §6: the product
/// `(θᵀθ') Kds Σθ` tends to 0 there, so `Kds` is set to 0).
pub const ZERO_VARIANCE: f64 = 1e-12;
/// Largest |z| used in the erf kernels: `z` is clipped to the open interval (−1, 1) (docs/mean-field.md §6).
pub(super) const Z_CLIP: f64 = 1.0 - 1e-15;

/// The three pair kernels at `(a, a', b)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairKernels {
    /// `Kss = E[σ(u)σ(u')]` (symmetric).
    pub ss: f64,
    /// `Kdd = E[σ'(u)σ'(u')]` (symmetric).
    pub dd: f64,
    /// `Kds = E[σ''(u)σ(u')]`, derivative on the first slot (not symmetric).
    pub ds: f64,
}

/// How the particle solver's pair sums evaluate a row of pair kernels (`pairs.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowPath {
    /// erf closed form, lane-wise.
    Erf,
    /// ReLU closed form, lane-wise.
    Relu,
    /// Linear closed form, lane-wise.
    Linear,
    /// Tensor Gauss–Hermite, pair by pair ([`MfKernels::pair_both`]).
    Quadrature,
}

/// Evaluates the mean-field kernels of one activation (closed form or quadrature).
#[derive(Debug, Clone)]
pub struct MfKernels {
    activation: Activation,
    /// Closed forms are used (erf, ReLU, linear), not quadrature.
    closed_form: bool,
    /// Probabilists' Gauss–Hermite nodes and weights (empty with closed forms).
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl MfKernels {
    /// Kernels of `activation`; `quadrature_nodes` Gauss–Hermite nodes per dimension are
    /// used where there is no closed form (erf, ReLU, linear have one). docs/mean-field.md §2.3 suggests
    /// ≥ 40 in 1-D and ≥ 30×30 in 2-D.
    pub fn new(activation: Activation, quadrature_nodes: usize) -> Result<Self> {
        Self::build(activation, quadrature_nodes, activation.has_closed_form())
    }

    /// Kernels by Gauss–Hermite quadrature for any activation, even one with closed forms
    /// (to cross-check them, docs/mean-field.md §2.3).
    pub fn quadrature(activation: Activation, quadrature_nodes: usize) -> Result<Self> {
        Self::build(activation, quadrature_nodes, false)
    }

    fn build(activation: Activation, quadrature_nodes: usize, closed_form: bool) -> Result<Self> {
        crate::activation::check_quadrature_nodes(quadrature_nodes)?;
        let (nodes, weights) = if closed_form {
            (Vec::new(), Vec::new())
        } else {
            gauss_hermite(quadrature_nodes)
        };
        Ok(Self {
            activation,
            closed_form,
            nodes,
            weights,
        })
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `(K1(a), K2(a))`.
    pub fn single(&self, a: f64) -> (f64, f64) {
        if !self.closed_form {
            return self.single_quadrature(a);
        }
        match self.activation {
            Activation::Erf => {
                let k1 = SQRT_2_OVER_PI / (1.0 + a).sqrt();
                (k1, k1 / (1.0 + a))
            }
            Activation::Relu => (0.5, 0.5),
            Activation::Linear => (1.0, 1.0),
            _ => self.single_quadrature(a),
        }
    }

    /// The particle solver's way to evaluate pair kernels.
    pub(super) fn row_path(&self) -> RowPath {
        match self.activation {
            Activation::Erf if self.closed_form => RowPath::Erf,
            Activation::Relu if self.closed_form => RowPath::Relu,
            Activation::Linear if self.closed_form => RowPath::Linear,
            _ => RowPath::Quadrature,
        }
    }

    /// `K1 = E σ'(√a z)`, `K2 = E[z² σ'(√a z)]` by Gauss–Hermite.
    fn single_quadrature(&self, a: f64) -> (f64, f64) {
        let act = self.activation;
        let s = a.max(0.0).sqrt();
        let (mut k1, mut k2) = (0.0, 0.0);
        for (&z, &w) in self.nodes.iter().zip(&self.weights) {
            let d = w * act.dg(s * z);
            k1 += d;
            k2 += d * z * z;
        }
        (k1, k2)
    }

    /// The pair kernels at `(a, a', b)` (docs/mean-field.md §2.2; degenerate arguments as in §6).
    #[inline]
    pub fn pair(&self, a: f64, a2: f64, b: f64) -> PairKernels {
        if !self.closed_form {
            return self.pair_quadrature(a, a2, b).0;
        }
        match self.activation {
            Activation::Erf => {
                let (p, p2) = (1.0 + a, 1.0 + a2);
                let sq = (p * p2).sqrt();
                let z = (b / sq).clamp(-Z_CLIP, Z_CLIP);
                let c = ((1.0 - z) * (1.0 + z)).sqrt();
                PairKernels {
                    ss: TWO_OVER_PI * z.asin(),
                    dd: TWO_OVER_PI / (sq * c),
                    ds: -TWO_OVER_PI * z / (p * c),
                }
            }
            Activation::Relu => {
                let aa = a * a2;
                let q = if aa > 0.0 {
                    (b / aa.sqrt()).clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                let pi_phi = std::f64::consts::PI - q.acos();
                let w = (aa - b * b).max(0.0).sqrt();
                PairKernels {
                    ss: (w + b * pi_phi) * FRAC_1_2PI,
                    dd: pi_phi * FRAC_1_2PI,
                    ds: if a < ZERO_VARIANCE {
                        0.0
                    } else {
                        w * FRAC_1_2PI / a
                    },
                }
            }
            Activation::Linear => PairKernels {
                ss: b,
                dd: 1.0,
                ds: 0.0,
            },
            _ => self.pair_quadrature(a, a2, b).0,
        }
    }

    /// The quadrature pair kernels at `(a, a', b)` and, from the same nodes, `Kds` with the
    /// derivative on the second slot, `(E[u' σ'(u') σ(u)] − b Kdd)/a'` (0 below
    /// [`ZERO_VARIANCE`]): both orientations of a pair in one pass, for the particle solver.
    pub(super) fn pair_both(&self, a: f64, a2: f64, b: f64) -> (PairKernels, f64) {
        let (k, uds2) = self.pair_quadrature(a, a2, b);
        let ds2 = if a2 < ZERO_VARIANCE {
            0.0
        } else {
            (uds2 - b * k.dd) / a2
        };
        (k, ds2)
    }

    /// Tensor Gauss–Hermite: `u = √a z₁`, `u' = (b/√a) z₁ + √(a' − b²/a) z₂` (docs/mean-field.md §2.3);
    /// also returns `E[u' σ'(u') σ(u)]` (for [`Self::pair_both`]).
    fn pair_quadrature(&self, a: f64, a2: f64, b: f64) -> (PairKernels, f64) {
        let act = self.activation;
        let s = a.max(0.0).sqrt();
        let (l21, l22) = if s > 0.0 {
            (b / s, (a2 - b * b / a).max(0.0).sqrt())
        } else {
            (0.0, a2.max(0.0).sqrt())
        };
        let (mut ss, mut dd, mut uds, mut uds2) = (0.0, 0.0, 0.0, 0.0);
        for (&z1, &w1) in self.nodes.iter().zip(&self.weights) {
            let (g1, d1) = act.g_dg(s * z1);
            let (mut sg, mut sd, mut szd) = (0.0, 0.0, 0.0);
            for (&z2, &w2) in self.nodes.iter().zip(&self.weights) {
                let (g2, d2) = act.g_dg(l21 * z1 + l22 * z2);
                sg += w2 * g2;
                sd += w2 * d2;
                szd += w2 * z2 * d2;
            }
            ss += w1 * g1 * sg;
            dd += w1 * d1 * sd;
            uds += w1 * s * z1 * d1 * sg;
            uds2 += w1 * g1 * (l21 * z1 * sd + l22 * szd);
        }
        let k = PairKernels {
            ss,
            dd,
            ds: if a < ZERO_VARIANCE {
                0.0
            } else {
                (uds - b * dd) / a
            },
        };
        (k, uds2)
    }
}
