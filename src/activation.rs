//! Activation functions g and the Gaussian kernels of the ODEs
//! (Refinetti & Goldt 2022; docs/autoencoder.md §3.1, §3.4).
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
//!
//! [`KernelEvaluator`] computes them: closed forms (§3.4) for erf (β = 0), linear and ReLU
//! (with Owen's T for the bivariate normal CDF, [`owens_t`], [`bivariate_normal_cdf`]),
//! probabilists' Gauss–Hermite quadrature (§3.4, generic g) otherwise. The quadrature
//! converges geometrically for smooth g, but the rate depends on how wide g is compared with
//! √Q^{kk}: at Q^{kk} ≈ 2 and 48 nodes, sigmoid/softplus are accurate to ~1e−11 while tanh
//! (poles at ±iπ/2) is only ~5e−5 (6e−7 at 100 nodes). Choose the node count accordingly.
//! Nodes of negligible weight are dropped (`PRUNE_WEIGHT`), and tanh and sigmoid sum their
//! pair kernels without a transcendental per node pair (docs/autoencoder.md §3.4).

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

    /// Gauss–Hermite nodes per dimension used by default for this activation's quadrature
    /// kernels. Measured max error vs a 200-node reference at Q^{kk} ≤ 2: sigmoid 5e-11 and
    /// softplus 6e-12 at 48 nodes; tanh (poles at ±iπ/2) 5e-5 at 48, 6e-7 at 100, hence 128.
    pub fn default_quadrature_nodes(self) -> usize {
        match self {
            Activation::Tanh => 128,
            _ => DEFAULT_QUADRATURE_NODES,
        }
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

    /// `(g(−z), g'(−z))` from `(g(z), g'(z))` where the activation has such a rule: tanh
    /// (odd: `(−g, g')`) and sigmoid (`(1 − g, g')`); `None` for the others.
    pub fn mirrored(self, g: f64, dg: f64) -> Option<(f64, f64)> {
        match self {
            Activation::Tanh => Some((-g, dg)),
            Activation::Sigmoid => Some((1.0 - g, dg)),
            _ => None,
        }
    }

    /// `(g(z), g'(z))` evaluated together (one transcendental where possible);
    /// used by the Gauss–Hermite path.
    #[inline]
    pub fn g_dg(self, z: f64) -> (f64, f64) {
        match self {
            Activation::Tanh => {
                // tanh z = 1 − 2/(e^{2z} + 1): one exp (faster than libm tanh), absolute
                // error ~1e−16, saturates correctly (e^{2z} = ∞ or 0)
                let t = 1.0 - 2.0 / ((2.0 * z).exp() + 1.0);
                (t, 1.0 - t * t)
            }
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s, s * (1.0 - s))
            }
            Activation::Softplus => {
                // e = e^{−|z|} ∈ (0, 1]: ln(1+e^z) = max(z,0) + ln(1+e), σ(z) without overflow
                let e = (-z.abs()).exp();
                let sp = z.max(0.0) + e.ln_1p();
                let sig = if z >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                (sp, sig)
            }
            _ => (self.g(z), self.dg(z)),
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

/// Default number of Gauss–Hermite nodes per dimension (docs/autoencoder.md §3.4 suggests 40–60).
pub const DEFAULT_QUADRATURE_NODES: usize = 48;
/// Smallest accepted number of Gauss–Hermite nodes.
pub const MIN_QUADRATURE_NODES: usize = 8;
/// Largest accepted number of Gauss–Hermite nodes (the Golub–Welsch eigenproblem is n×n).
pub const MAX_QUADRATURE_NODES: usize = 200;

/// Relative tolerance of the input checks: `|Q^{ka} − Q^{ak}| ≤ tol·√(Q^{kk}Q^{aa})`, and a
/// pivot `d_j` of the LDLᵀ factorisation of Q counts as a roundoff zero (Q positive
/// semi-definite up to roundoff) when `|d_j| ≤ tol·Q^{jj}`, as indefinite when `d_j < −tol·Q^{jj}`.
const STATE_TOL: f64 = 1e-10;

/// Gauss–Hermite nodes with a normalised weight below this are dropped. Every kernel
/// integrand is bounded by `C(1 + |z1|)(1 + |z2|)` (C of order max(1, s_k, s_a, |β|) for
/// tanh, sigmoid, softplus, erf; |g| ≤ 1 for the first two), so the dropped terms change a
/// kernel by at most `2C(1 + max|x_i|)² Σ_{dropped} w_i`: below 1e−14·C for every n ≤ 200,
/// where Σ_{dropped} w_i < 1e−17. What it buys: at n = 128 only 62 nodes per dimension
/// remain (4.3× fewer pair terms), at n = 48 36.
const PRUNE_WEIGHT: f64 = 1e-18;

/// Largest `|κz|` whose factors `E = e^{κz}`, `F` the logistic path combines (see
/// [`KernelEvaluator::logistic_rows`]): `(1 + EF)(F + E) ≤ 2e^{3·230} < e^{709}` stays finite
/// (f64 overflows past `e^{709.8}`) and `≥ e^{−230}` non-zero. A pair whose node arguments go
/// beyond it (`|κ| s x_max > 230`, i.e. `Q^{kk}` above ~170 for tanh at the pruned
/// `x_max ≈ 8.7`) takes the direct path.
const EXP_ARG_MAX: f64 = 230.0;

/// The rows of [`KernelEvaluator::logistic_rows`] are padded to a multiple of this (8 f64,
/// one AVX-512 register) so that the vectorised row loop has no scalar remainder.
const ROW_BLOCK: usize = 8;

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// √(2/π)
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;

/// Evaluates the Gaussian kernels of docs/autoencoder.md §3.1 for one activation; build once per run.
///
/// Closed forms (docs/autoencoder.md §3.4) are used for erf (β = 0), linear (any β) and ReLU (any β);
/// everything else — tanh, sigmoid, softplus and erf with a non-zero bias — goes through
/// the generic probabilists' Gauss–Hermite path ([`KernelEvaluator::kernels_quadrature`]),
/// whose nodes and weights are precomputed here.
#[derive(Debug, Clone)]
pub struct KernelEvaluator {
    activation: Activation,
    /// The configured number n of Gauss–Hermite nodes per dimension.
    quadrature_nodes: usize,
    /// The probabilists' Gauss–Hermite nodes whose weight is at least [`PRUNE_WEIGHT`]
    /// (ascending, symmetric about 0).
    nodes: Vec<f64>,
    /// Matching weights, normalised so that `Σ_i w_i f(x_i) ≈ E[f(z)]`, `z ~ N(0,1)`.
    weights: Vec<f64>,
}

/// The entries of one unordered pair k ≠ a (both orientations of A and P).
struct PairKernels {
    i2: f64,
    b: f64,
    a_ka: f64,
    a_ak: f64,
    p_ka: f64,
    p_ak: f64,
}

/// The validated scalars of one unordered pair k < a.
struct Pair {
    qkk: f64,
    qaa: f64,
    qka: f64,
    /// `det_{ka} = Q^{kk}Q^{aa} − (Q^{ka})²`, clamped to ≥ 0.
    det: f64,
}

/// Check a Gauss–Hermite node count against [`MIN_QUADRATURE_NODES`]..=[`MAX_QUADRATURE_NODES`]
/// (the one place this range is checked; callers attribute the error to their config key).
pub fn check_quadrature_nodes(quadrature_nodes: usize) -> Result<()> {
    if (MIN_QUADRATURE_NODES..=MAX_QUADRATURE_NODES).contains(&quadrature_nodes) {
        Ok(())
    } else {
        Err(Error::InvalidState(format!(
            "must be in {MIN_QUADRATURE_NODES}..={MAX_QUADRATURE_NODES} Gauss–Hermite nodes, got {quadrature_nodes}"
        )))
    }
}

impl KernelEvaluator {
    /// Build an evaluator for `activation` with `quadrature_nodes` Gauss–Hermite nodes per
    /// dimension (in `MIN_QUADRATURE_NODES..=MAX_QUADRATURE_NODES`; see
    /// [`DEFAULT_QUADRATURE_NODES`]). The nodes are computed once (Golub–Welsch, then
    /// Newton-polished, with Christoffel weights).
    pub fn new(activation: Activation, quadrature_nodes: usize) -> Result<Self> {
        Self::with_pruning(activation, quadrature_nodes, PRUNE_WEIGHT)
    }

    /// [`Self::new`] keeping only the nodes of weight ≥ `prune_weight` (0 keeps all).
    fn with_pruning(
        activation: Activation,
        quadrature_nodes: usize,
        prune_weight: f64,
    ) -> Result<Self> {
        check_quadrature_nodes(quadrature_nodes)?;
        let (all_nodes, all_weights) = gauss_hermite(quadrature_nodes);
        let (nodes, weights): (Vec<f64>, Vec<f64>) = all_nodes
            .into_iter()
            .zip(all_weights)
            .filter(|&(_, w)| w >= prune_weight)
            .unzip();
        Ok(Self {
            activation,
            quadrature_nodes,
            nodes,
            weights,
        })
    }

    /// The activation whose kernels are evaluated.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Number of Gauss–Hermite nodes per dimension.
    pub fn quadrature_nodes(&self) -> usize {
        self.quadrature_nodes
    }

    /// The kernels E1, M, I2, A, B (and P, Mb if `bias_kernels`) of docs/autoencoder.md §3.1/§3.5 at the
    /// state `Q` (K×K, symmetric positive (semi-)definite with `Q^{kk} > 0`),
    /// `r_diag[k] = R^{kk}` and biases `beta` (`None` ⇒ β = 0).
    ///
    /// Uses the closed forms of docs/autoencoder.md §3.4 where available (erf with β = 0, linear, ReLU),
    /// otherwise [`Self::kernels_quadrature`]. All forms are division-free in the sense of
    /// docs/autoencoder.md §7.2: they divide only by `Q^{kk}` (or `√Q^{kk}`), never by `det_k` or `det_{ka}`.
    ///
    /// Errors: [`Error::InvalidState`] for mismatched lengths, non-finite input, an
    /// asymmetric Q, `Q^{kk} ≤ 0`, or a Q that is indefinite beyond roundoff.
    pub fn kernels(
        &self,
        q: &DMatrix<f64>,
        r_diag: &DVector<f64>,
        beta: Option<&DVector<f64>>,
        bias_kernels: bool,
    ) -> Result<Kernels> {
        validate_state(q, r_diag, beta)?;
        let beta_zero = beta.is_none_or(|b| b.iter().all(|&x| x == 0.0));
        Ok(match self.activation {
            Activation::Erf if beta_zero => erf_kernels(q, r_diag, bias_kernels),
            Activation::Linear => linear_kernels(q, beta, bias_kernels),
            Activation::Relu if beta_zero => relu_kernels_unbiased(q, r_diag, bias_kernels),
            Activation::Relu => relu_kernels_biased(q, r_diag, beta, bias_kernels),
            _ => self.quadrature(q, r_diag, beta, bias_kernels),
        })
    }

    /// The same kernels as [`Self::kernels`] but always by Gauss–Hermite quadrature
    /// (docs/autoencoder.md §3.4, "generic g"), for any activation (cross-checks of the closed forms).
    ///
    /// With `z ~ N(0,1)` and `s_k = √Q^{kk}`, the 1-D kernels are
    /// `E1_k = E[g_k'(s_k z)]`, `M_k = (R^{kk}/Q^{kk}) E[g_k'(s_k z)(z² − 1)]`,
    /// `Mb_k = R^{kk} E[g_k'(λ)λ]/Q^{kk} = (R^{kk}/s_k) E[g_k'(s_k z) z]` (Stein:
    /// `E[g''(λ)] = E[g'(λ)λ]/Q^{kk}`), and the diagonal entries use the same 1-D nodes.
    /// For k ≠ a, `(λ^k, λ^a) = L_c (z1, z2)` with `L_c` the Cholesky factor of
    /// `[[Q^{kk}, Q^{ka}], [Q^{ka}, Q^{aa}]]` (a tiny negative Schur complement is clamped to
    /// 0), and I2, B, P and the Stein form
    /// `A_{ka} = (E[g_k'(λ^k) λ^k g_a(λ^a)] − Q^{ka} B_{ka}) / Q^{kk}` are tensor-product sums.
    /// Convergence is spectral for smooth g and only algebraic for ReLU (kinked).
    pub fn kernels_quadrature(
        &self,
        q: &DMatrix<f64>,
        r_diag: &DVector<f64>,
        beta: Option<&DVector<f64>>,
        bias_kernels: bool,
    ) -> Result<Kernels> {
        validate_state(q, r_diag, beta)?;
        Ok(self.quadrature(q, r_diag, beta, bias_kernels))
    }

    /// Gauss–Hermite kernels on a validated state.
    fn quadrature(
        &self,
        q: &DMatrix<f64>,
        r_diag: &DVector<f64>,
        beta: Option<&DVector<f64>>,
        bias_kernels: bool,
    ) -> Kernels {
        let act = self.activation;
        let (x, w) = (&self.nodes, &self.weights);
        let n = x.len();
        let k_units = q.nrows();
        let bias = |k: usize| beta.map_or(0.0, |b| b[k]);
        let mut out = Kernels::zeros(k_units, bias_kernels);

        // g_k and g_k' on the 1-D nodes λ^k = s_k x_i, unit after unit.
        let mut g_tab = vec![0.0; k_units * n];
        let mut dg_tab = vec![0.0; k_units * n];
        for k in 0..k_units {
            let qkk = q[(k, k)];
            let sk = qkk.sqrt();
            let bk = bias(k);
            let (mut e1, mut m_sum, mut mb_sum) = (0.0, 0.0, 0.0);
            let (mut i2, mut b, mut gdgx, mut p) = (0.0, 0.0, 0.0, 0.0);
            let (gk, dgk) = (
                &mut g_tab[k * n..(k + 1) * n],
                &mut dg_tab[k * n..(k + 1) * n],
            );
            // without a bias, the rule's symmetric nodes x_{n−1−i} = −x_i and an activation
            // with a mirror rule (tanh, sigmoid) need g and g' on half of them
            let first = match act.mirrored(0.0, 0.0) {
                Some(_) if bk == 0.0 => n / 2,
                _ => 0,
            };
            for i in first..n {
                (gk[i], dgk[i]) = act.g_dg(sk * x[i] + bk);
            }
            for i in 0..first {
                let j = n - 1 - i;
                (gk[i], dgk[i]) = act.mirrored(gk[j], dgk[j]).expect("a mirror rule");
            }
            for i in 0..n {
                let (g, dg) = (gk[i], dgk[i]);
                let wi = w[i];
                e1 += wi * dg;
                m_sum += wi * dg * (x[i] * x[i] - 1.0);
                mb_sum += wi * dg * x[i];
                i2 += wi * g * g;
                b += wi * dg * dg;
                gdgx += wi * dg * x[i] * g;
                p += wi * dg * g;
            }
            let rkk = r_diag[k];
            out.e1[k] = e1;
            out.m[k] = rkk / qkk * m_sum;
            out.i2[(k, k)] = i2;
            out.b[(k, k)] = b;
            // (E[g' λ g] − Q^{kk} B_kk)/Q^{kk} with λ = s_k z
            out.a[(k, k)] = gdgx / sk - b;
            if let (Some(pm), Some(mb)) = (out.p.as_mut(), out.mb.as_mut()) {
                pm[(k, k)] = p;
                mb[k] = rkk / sk * mb_sum;
            }
        }

        // inner sums over z2 given z1 = x_i, one row i after another
        let mut rows = vec![[0.0; 3]; n];
        let mut scratch = LogisticScratch::default();
        let logistic = act.logistic();
        for k in 0..k_units {
            for a in (k + 1)..k_units {
                let pair = Pair::new(q, k, a);
                let sk = pair.qkk.sqrt();
                let l21 = pair.qka / sk;
                let l22 = (pair.det / pair.qkk).sqrt();
                let ba = bias(a);
                match logistic {
                    Some(form) if form.fits(l21, l22, ba, x[n - 1]) => {
                        vectorised(
                            #[inline(always)]
                            || self.logistic_rows(form, l21, l22, ba, &mut rows, &mut scratch),
                        );
                    }
                    _ => self.direct_rows(l21, l22, ba, &mut rows),
                }
                let (gk, dgk) = (&g_tab[k * n..(k + 1) * n], &dg_tab[k * n..(k + 1) * n]);
                let mut pk = PairKernels {
                    i2: 0.0,
                    b: 0.0,
                    a_ka: 0.0,
                    a_ak: 0.0,
                    p_ka: 0.0,
                    p_ak: 0.0,
                };
                for (i, &[sg, sdg, sdgl]) in rows.iter().enumerate() {
                    let wi = w[i];
                    pk.i2 += wi * gk[i] * sg;
                    pk.b += wi * dgk[i] * sdg;
                    pk.a_ka += wi * dgk[i] * x[i] * sg;
                    pk.a_ak += wi * gk[i] * sdgl;
                    pk.p_ka += wi * dgk[i] * sg;
                    pk.p_ak += wi * gk[i] * sdg;
                }
                // Stein forms: λ^k = s_k z1, so E[g_k' λ^k g_a] = s_k · pk.a_ka
                pk.a_ka = (sk * pk.a_ka - pair.qka * pk.b) / pair.qkk;
                pk.a_ak = (pk.a_ak - pair.qka * pk.b) / pair.qaa;
                out.set_pair(k, a, &pk);
            }
        }
        out
    }

    /// The inner sums of a pair for every outer node `z1 = x_i`, with
    /// `λ^a = l21 x_i + l22 z2` (`la` below, without the bias):
    /// `rows[i] = (E[g_a(λ^a)], E[g_a'(λ^a)], E[g_a'(λ^a) λ^a])` over z2, evaluating `g_a`
    /// at every node pair (n² transcendentals; any activation).
    fn direct_rows(&self, l21: f64, l22: f64, ba: f64, rows: &mut [[f64; 3]]) {
        let (x, w) = (&self.nodes, &self.weights);
        for (row, &xi) in rows.iter_mut().zip(x) {
            let base = l21 * xi;
            let (mut sg, mut sdg, mut sdgl) = (0.0, 0.0, 0.0);
            for (&xj, &wj) in x.iter().zip(w) {
                let la = base + l22 * xj;
                let (g, dg) = self.activation.g_dg(la + ba);
                let wdg = wj * dg;
                sg += wj * g;
                sdg += wdg;
                sdgl += wdg * la;
            }
            *row = [sg, sdg, sdgl];
        }
    }

    /// [`Self::direct_rows`] for an activation of logistic form (tanh, sigmoid) without a
    /// transcendental in the inner loop: `e^{κ(λ^a + β_a)} = E_i F_j` with
    /// `E_i = e^{κ(l21 x_i + β_a)}` and `F_j = e^{κ l22 x_j}` (2n exponentials per pair), so
    /// with `r_{ij} = 1/(1 + E_i F_j)` and `h_{ij} = r_{ij}(1 − r_{ij})`:
    /// `E[g_a] = α W + γ Σ_j w_j r_{ij}` (`W = Σ_j w_j`), `E[g_a'] = −γκ Σ_j w_j h_{ij}`,
    /// `E[g_a' λ^a] = l21 x_i E[g_a'] − γκ l22 Σ_j w_j x_j h_{ij}`.
    /// Without a bias the rule's symmetry `x_{n−1−i} = −x_i` gives `E_{n−1−i} = 1/E_i` and
    /// `r(1/(E_i F_j)) = 1 − r(E_i F_j)`, so the rows of negative `x_i` follow from those of
    /// positive `x_i`: `Σ_j w_j r ↦ W − Σ_j w_j r`, `Σ_j w_j h ↦ Σ_j w_j h`,
    /// `Σ_j w_j x_j h ↦ −Σ_j w_j x_j h` (half the work).
    /// The sums run over j in node order for all rows i at once (the loop over i is
    /// element-wise, so it vectorises without reordering a sum). The caller checks
    /// [`Logistic::fits`] (no overflow of `E_i F_j`).
    #[inline(always)]
    fn logistic_rows(
        &self,
        form: Logistic,
        l21: f64,
        l22: f64,
        ba: f64,
        rows: &mut [[f64; 3]],
        scratch: &mut LogisticScratch,
    ) {
        let (x, w) = (&self.nodes, &self.weights);
        let n = x.len();
        let w_sum: f64 = w.iter().sum();
        // rows computed directly: all, or without a bias the upper half (x_i ≥ 0)
        let first = if ba == 0.0 { n / 2 } else { 0 };
        // padded with E = 1 to whole vectors of ROW_BLOCK rows (the padding rows are dropped)
        let LogisticScratch { e, s0, s1, s2 } = scratch;
        e.clear();
        e.extend(
            x[first..]
                .iter()
                .map(|&xi| (form.kappa * (l21 * xi + ba)).exp()),
        );
        let m = e.len().next_multiple_of(ROW_BLOCK);
        e.resize(m, 1.0);
        for s in [&mut *s0, &mut *s1, &mut *s2] {
            s.clear();
            s.resize(m, 0.0);
        }
        let (s0, s1, s2) = (&mut s0[..], &mut s1[..], &mut s2[..]);
        let e = &e[..];
        if n % 2 == 1 {
            // the middle node x_j = 0: F_j = 1
            let wj = w[n / 2];
            for ((ei, s0i), s1i) in e.iter().zip(s0.iter_mut()).zip(s1.iter_mut()) {
                let r = 1.0 / (1.0 + ei);
                *s0i += wj * r;
                *s1i += wj * (r - r * r);
            }
        }
        // the nodes ±x_j (x_j > 0) together: F_{−j} = 1/F_j, so with d1 = 1 + E_i F_j and
        // d2 = F_j + E_i, r(E_i F_j) = d2/(d1 d2) and r(E_i/F_j) = F_j d1/(d1 d2): one division
        let wide = crate::simd::has_avx512_fma();
        for (&xj, &wj) in x[n.div_ceil(2)..].iter().zip(&w[n.div_ceil(2)..]) {
            let fj = (form.kappa * l22 * xj).exp();
            let wxj = wj * xj;
            #[cfg(target_arch = "x86_64")]
            if wide {
                // SAFETY: `wide` only when the CPU has AVX-512F and FMA; the slices have
                // the same length, a multiple of ROW_BLOCK = 8.
                unsafe { logistic_columns_avx512(e, s0, s1, s2, fj, wj, wxj) };
                continue;
            }
            let _ = wide;
            for (((ei, s0i), s1i), s2i) in e
                .iter()
                .zip(s0.iter_mut())
                .zip(s1.iter_mut())
                .zip(s2.iter_mut())
            {
                let d1 = 1.0 + ei * fj;
                let d2 = fj + ei;
                let inv = 1.0 / (d1 * d2);
                let (rp, rm) = (d2 * inv, fj * d1 * inv);
                let (hp, hm) = (rp - rp * rp, rm - rm * rm);
                *s0i += wj * (rp + rm);
                *s1i += wj * (hp + hm);
                *s2i += wxj * (hp - hm);
            }
        }
        let slope = -form.gamma * form.kappa;
        for (i, row) in rows.iter_mut().enumerate() {
            let (sr, sh, sxh) = if i >= first {
                (s0[i - first], s1[i - first], s2[i - first])
            } else {
                let mirror = n - 1 - i - first;
                (w_sum - s0[mirror], s1[mirror], -s2[mirror])
            };
            let sdg = slope * sh;
            *row = [
                form.alpha * w_sum + form.gamma * sr,
                sdg,
                l21 * x[i] * sdg + slope * l22 * sxh,
            ];
        }
    }
}

/// Relative error of [`logistic_columns_avx512`]'s reciprocal: `vrcp14pd` (< 2⁻¹⁴) after two
/// Newton steps, (2⁻¹⁴)⁴ = 2⁻⁵⁶ ≈ 1.4e-17, plus the steps' roundings (≈ 2 ulp).
#[cfg(test)]
const RECIPROCAL_REL_ERROR: f64 = 5e-16;

/// One node pair column `±x_j` of [`KernelEvaluator::logistic_rows`] added to the row sums,
/// eight rows at a time: the plain loop's formulas, with `1/(d1 d2)` from `vrcp14pd` and two
/// Newton steps `y ← y + y(1 − D y)` instead of a division (the division bounds the plain
/// loop; the result differs from it by ≈ 1 ulp, [`RECIPROCAL_REL_ERROR`]).
///
/// # Safety
/// The CPU must support AVX-512F and FMA; all slices must have one length, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn logistic_columns_avx512(
    e: &[f64],
    s0: &mut [f64],
    s1: &mut [f64],
    s2: &mut [f64],
    fj: f64,
    wj: f64,
    wxj: f64,
) {
    use std::arch::x86_64::*;
    let m = e.len();
    assert!(m.is_multiple_of(8) && s0.len() == m && s1.len() == m && s2.len() == m);
    let (one, f, w, wx) = (
        _mm512_set1_pd(1.0),
        _mm512_set1_pd(fj),
        _mm512_set1_pd(wj),
        _mm512_set1_pd(wxj),
    );
    for c in (0..m).step_by(8) {
        // SAFETY: c + 8 ≤ m, the length of every slice (asserted above).
        unsafe {
            let ei = _mm512_loadu_pd(e.as_ptr().add(c));
            let d1 = _mm512_fmadd_pd(ei, f, one);
            let d2 = _mm512_add_pd(f, ei);
            let inv = crate::simd::recip_avx512(_mm512_mul_pd(d1, d2));
            let rp = _mm512_mul_pd(d2, inv);
            let rm = _mm512_mul_pd(_mm512_mul_pd(f, d1), inv);
            let hp = _mm512_fnmadd_pd(rp, rp, rp);
            let hm = _mm512_fnmadd_pd(rm, rm, rm);
            let (p0, p1, p2) = (
                s0.as_mut_ptr().add(c),
                s1.as_mut_ptr().add(c),
                s2.as_mut_ptr().add(c),
            );
            _mm512_storeu_pd(
                p0,
                _mm512_fmadd_pd(w, _mm512_add_pd(rp, rm), _mm512_loadu_pd(p0)),
            );
            _mm512_storeu_pd(
                p1,
                _mm512_fmadd_pd(w, _mm512_add_pd(hp, hm), _mm512_loadu_pd(p1)),
            );
            _mm512_storeu_pd(
                p2,
                _mm512_fmadd_pd(wx, _mm512_sub_pd(hp, hm), _mm512_loadu_pd(p2)),
            );
        }
    }
}

/// The buffers of [`KernelEvaluator::logistic_rows`], reused from pair to pair: `E_i` and the
/// three row sums.
#[derive(Default)]
struct LogisticScratch {
    e: Vec<f64>,
    s0: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
}

/// `g(z) = α + γ/(1 + e^{κz})`: tanh (κ = 2, α = 1, γ = −2) and sigmoid (κ = −1, α = 0,
/// γ = 1). With `r = 1/(1 + e^{κz})`, `g = α + γ r` and `g' = −γκ r(1 − r)`.
#[derive(Debug, Clone, Copy)]
struct Logistic {
    kappa: f64,
    alpha: f64,
    gamma: f64,
}

impl Logistic {
    /// True if every factor `E_i`, `F_j` of [`KernelEvaluator::logistic_rows`] has
    /// `|exponent| ≤ EXP_ARG_MAX` for nodes within `±x_max`.
    fn fits(self, l21: f64, l22: f64, ba: f64, x_max: f64) -> bool {
        let k = self.kappa.abs();
        k * (l21.abs() * x_max + ba.abs()) <= EXP_ARG_MAX && k * l22 * x_max <= EXP_ARG_MAX
    }
}

impl Activation {
    /// The logistic form of tanh and sigmoid (see [`Logistic`]); `None` for the others.
    fn logistic(self) -> Option<Logistic> {
        match self {
            Activation::Tanh => Some(Logistic {
                kappa: 2.0,
                alpha: 1.0,
                gamma: -2.0,
            }),
            Activation::Sigmoid => Some(Logistic {
                kappa: -1.0,
                alpha: 0.0,
                gamma: 1.0,
            }),
            _ => None,
        }
    }
}

use crate::simd::vectorised_without_fma as vectorised;

impl Kernels {
    /// All-zero kernels for K units (P, Mb present iff `bias_kernels`).
    fn zeros(k_units: usize, bias_kernels: bool) -> Self {
        Self {
            e1: DVector::zeros(k_units),
            m: DVector::zeros(k_units),
            i2: DMatrix::zeros(k_units, k_units),
            a: DMatrix::zeros(k_units, k_units),
            b: DMatrix::zeros(k_units, k_units),
            p: bias_kernels.then(|| DMatrix::zeros(k_units, k_units)),
            mb: bias_kernels.then(|| DVector::zeros(k_units)),
        }
    }

    /// Store the off-diagonal entries of the pair k ≠ a.
    fn set_pair(&mut self, k: usize, a: usize, pk: &PairKernels) {
        self.i2[(k, a)] = pk.i2;
        self.i2[(a, k)] = pk.i2;
        self.b[(k, a)] = pk.b;
        self.b[(a, k)] = pk.b;
        self.a[(k, a)] = pk.a_ka;
        self.a[(a, k)] = pk.a_ak;
        if let Some(p) = self.p.as_mut() {
            p[(k, a)] = pk.p_ka;
            p[(a, k)] = pk.p_ak;
        }
    }
}

impl Pair {
    /// The pair (k, a) of a validated Q (symmetrised, `det_{ka}` clamped to ≥ 0).
    #[inline]
    fn new(q: &DMatrix<f64>, k: usize, a: usize) -> Self {
        let (qkk, qaa) = (q[(k, k)], q[(a, a)]);
        let qka = 0.5 * (q[(k, a)] + q[(a, k)]);
        Self {
            qkk,
            qaa,
            qka,
            det: (qkk * qaa - qka * qka).max(0.0),
        }
    }
}

/// Check the state: matching lengths, finite entries, Q symmetric with `Q^{kk} > 0` and
/// positive semi-definite up to roundoff (LDLᵀ pivots ≥ −[`STATE_TOL`]·Q^{jj}).
fn validate_state(
    q: &DMatrix<f64>,
    r_diag: &DVector<f64>,
    beta: Option<&DVector<f64>>,
) -> Result<()> {
    let k_units = q.nrows();
    if q.ncols() != k_units || k_units == 0 {
        return Err(Error::InvalidState(format!(
            "Q must be a non-empty square matrix, got {}×{}",
            q.nrows(),
            q.ncols()
        )));
    }
    if r_diag.len() != k_units {
        return Err(Error::InvalidState(format!(
            "diag R has length {}, expected K = {k_units}",
            r_diag.len()
        )));
    }
    if let Some(b) = beta {
        if b.len() != k_units {
            return Err(Error::InvalidState(format!(
                "β has length {}, expected K = {k_units}",
                b.len()
            )));
        }
        if let Some(k) = b.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidState(format!(
                "β_{k} = {} is not finite",
                b[k]
            )));
        }
    }
    if let Some(k) = r_diag.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidState(format!(
            "R^{{{k}{k}}} = {} is not finite",
            r_diag[k]
        )));
    }
    for k in 0..k_units {
        let qkk = q[(k, k)];
        if !(qkk.is_finite() && qkk > 0.0) {
            return Err(Error::InvalidState(format!(
                "Q^{{{k}{k}}} = {qkk} must be finite and > 0"
            )));
        }
    }
    for k in 0..k_units {
        for a in (k + 1)..k_units {
            let (qka, qak) = (q[(k, a)], q[(a, k)]);
            let scale = (q[(k, k)] * q[(a, a)]).sqrt();
            if !(qka.is_finite() && qak.is_finite()) || (qka - qak).abs() > STATE_TOL * scale {
                return Err(Error::InvalidState(format!(
                    "Q is not symmetric/finite: Q^{{{k}{a}}} = {qka}, Q^{{{a}{k}}} = {qak}"
                )));
            }
        }
    }
    // LDLᵀ of Q (lower triangle of `l`, pivots in `d`); roundoff-zero pivots zero their column.
    let mut l = vec![0.0; k_units * k_units];
    let mut d = vec![0.0; k_units];
    for j in 0..k_units {
        let mut dj = q[(j, j)];
        for p in 0..j {
            dj -= l[j * k_units + p] * l[j * k_units + p] * d[p];
        }
        if dj < -STATE_TOL * q[(j, j)] {
            return Err(Error::InvalidState(format!(
                "Q is not positive definite (LDLᵀ pivot {j} = {dj:e}, Q^{{{j}{j}}} = {})",
                q[(j, j)]
            )));
        }
        if dj <= STATE_TOL * q[(j, j)] {
            continue; // roundoff zero: column j of L stays 0
        }
        d[j] = dj;
        for i in (j + 1)..k_units {
            let mut lij = 0.5 * (q[(i, j)] + q[(j, i)]);
            for p in 0..j {
                lij -= l[i * k_units + p] * l[j * k_units + p] * d[p];
            }
            l[i * k_units + j] = lij / dj;
        }
    }
    Ok(())
}

/// erf kernels with β = 0 (docs/autoencoder.md §3.4), `Λ_{ka} = (1+Q^{kk})(1+Q^{aa}) − (Q^{ka})²`
/// (`Λ_kk = 1 + 2Q^{kk}`):
/// `E1_k = √(2/π)/√(1+Q^{kk})`, `M_k = −√(2/π) R^{kk}/(1+Q^{kk})^{3/2}`,
/// `I2_{ka} = (2/π) arcsin(Q^{ka}/√((1+Q^{kk})(1+Q^{aa}))) = (2/π) atan2(Q^{ka}, √Λ_{ka})`,
/// `B_{ka} = (2/π)/√Λ_{ka}`, `A_{ka} = −(2/π) Q^{ka}/((1+Q^{kk})√Λ_{ka})`.
/// With β = 0, g' is even and g, g'' odd, so `P = 0` and `Mb = 0` (docs/autoencoder.md §3.5).
fn erf_kernels(q: &DMatrix<f64>, r_diag: &DVector<f64>, bias_kernels: bool) -> Kernels {
    let k_units = q.nrows();
    let two_over_pi = std::f64::consts::FRAC_2_PI;
    let mut out = Kernels::zeros(k_units, bias_kernels);
    for k in 0..k_units {
        let opq = 1.0 + q[(k, k)];
        let inv_sqrt = 1.0 / opq.sqrt();
        out.e1[k] = SQRT_2_OVER_PI * inv_sqrt;
        out.m[k] = -SQRT_2_OVER_PI * r_diag[k] * inv_sqrt / opq;
        for a in 0..k_units {
            let qka = if a == k {
                q[(k, k)]
            } else {
                0.5 * (q[(k, a)] + q[(a, k)])
            };
            let lam = opq * (1.0 + q[(a, a)]) - qka * qka;
            let sqrt_lam = lam.sqrt();
            out.i2[(k, a)] = two_over_pi * qka.atan2(sqrt_lam);
            out.b[(k, a)] = two_over_pi / sqrt_lam;
            out.a[(k, a)] = -two_over_pi * qka / (opq * sqrt_lam);
        }
    }
    out
}

/// Linear kernels `g_k(λ) = λ + β_k` (docs/autoencoder.md §3.4 with the bias of §1.4): `E1 = 1, M = 0,
/// I2_{ka} = Q^{ka} + β_kβ_a, A = 0, B = 1` (all ones), `P_{ka} = E[g_a(λ^a)] = β_a`,
/// `Mb = R^{kk} E[g''] = 0`.
fn linear_kernels(q: &DMatrix<f64>, beta: Option<&DVector<f64>>, bias_kernels: bool) -> Kernels {
    let k_units = q.nrows();
    let bias = |k: usize| beta.map_or(0.0, |b| b[k]);
    let mut out = Kernels::zeros(k_units, bias_kernels);
    out.e1.fill(1.0);
    out.b.fill(1.0);
    for k in 0..k_units {
        for a in 0..k_units {
            out.i2[(k, a)] = 0.5 * (q[(k, a)] + q[(a, k)]) + bias(k) * bias(a);
        }
    }
    if let Some(p) = out.p.as_mut() {
        for a in 0..k_units {
            p.column_mut(a).fill(bias(a));
        }
    }
    out
}

/// ReLU kernels with β = 0 (docs/autoencoder.md §3.4, bias-free special case), `ρ = Q^{ka}/√(Q^{kk}Q^{aa})`,
/// `arcsin ρ = atan2(Q^{ka}, √det_{ka})`: `E1 = ½, M = 0, I2_kk = Q^{kk}/2, B_kk = ½, A_kk = 0`,
/// `I2_{ka} = [√det_{ka} + Q^{ka}(π/2 + arcsin ρ)]/(2π)`, `B_{ka} = ¼ + arcsin(ρ)/(2π)`,
/// `A_{ka} = √det_{ka}/(2π Q^{kk})`; bias kernels at β = 0 (the general formulas at m = 0):
/// `P_kk = √Q^{kk}/√(2π)`, `P_{ka} = √Q^{aa}(1+ρ)/(2√(2π))`, `Mb_k = R^{kk}/√(2πQ^{kk})`.
fn relu_kernels_unbiased(q: &DMatrix<f64>, r_diag: &DVector<f64>, bias_kernels: bool) -> Kernels {
    let k_units = q.nrows();
    let mut out = Kernels::zeros(k_units, bias_kernels);
    out.e1.fill(0.5);
    for k in 0..k_units {
        let qkk = q[(k, k)];
        let sk = qkk.sqrt();
        out.i2[(k, k)] = 0.5 * qkk;
        out.b[(k, k)] = 0.5;
        if let (Some(p), Some(mb)) = (out.p.as_mut(), out.mb.as_mut()) {
            p[(k, k)] = sk * FRAC_1_SQRT_2PI;
            mb[k] = r_diag[k] / sk * FRAC_1_SQRT_2PI;
        }
    }
    for k in 0..k_units {
        for a in (k + 1)..k_units {
            let pair = Pair::new(q, k, a);
            let sqrt_det = pair.det.sqrt();
            let asin_rho = pair.qka.atan2(sqrt_det);
            let (sk, sa) = (pair.qkk.sqrt(), pair.qaa.sqrt());
            // (1 + ρ)/2 = ½ + Q^{ka}/(2 s_k s_a)
            let half_1p_rho = 0.5 + 0.5 * pair.qka / (sk * sa);
            let b = 0.25 + asin_rho * FRAC_1_2PI;
            out.set_pair(
                k,
                a,
                &PairKernels {
                    i2: (sqrt_det + pair.qka * (std::f64::consts::FRAC_PI_2 + asin_rho))
                        * FRAC_1_2PI,
                    b,
                    a_ka: sqrt_det * FRAC_1_2PI / pair.qkk,
                    a_ak: sqrt_det * FRAC_1_2PI / pair.qaa,
                    p_ka: sa * half_1p_rho * FRAC_1_SQRT_2PI,
                    p_ak: sk * half_1p_rho * FRAC_1_SQRT_2PI,
                },
            );
        }
    }
    out
}

/// ReLU kernels with bias, `g_k(λ) = max(0, λ + β_k)` (docs/autoencoder.md §3.4), `s_k = √Q^{kk}`,
/// `m_k = β_k/s_k`:
/// `E1_k = Φ(m_k)`, `M_k = −(R^{kk}β_k/Q^{kk}) φ(m_k)/s_k`, `Mb_k = R^{kk}φ(m_k)/s_k`,
/// `I2_kk = (Q^{kk}+β_k²)Φ(m_k) + β_k s_k φ(m_k)`, `B_kk = Φ(m_k)`, `A_kk = 0`,
/// `P_kk = β_kΦ(m_k) + s_kφ(m_k)`; the pairs k ≠ a as in [`relu_pair`].
fn relu_kernels_biased(
    q: &DMatrix<f64>,
    r_diag: &DVector<f64>,
    beta: Option<&DVector<f64>>,
    bias_kernels: bool,
) -> Kernels {
    let k_units = q.nrows();
    let bias = |k: usize| beta.map_or(0.0, |b| b[k]);
    let mut out = Kernels::zeros(k_units, bias_kernels);
    for k in 0..k_units {
        let qkk = q[(k, k)];
        let sk = qkk.sqrt();
        let bk = bias(k);
        let mk = bk / sk;
        let (cdf, pdf) = (norm_cdf(mk), norm_pdf(mk));
        out.e1[k] = cdf;
        out.m[k] = -(r_diag[k] * bk / qkk) * pdf / sk;
        out.i2[(k, k)] = (qkk + bk * bk) * cdf + bk * sk * pdf;
        out.b[(k, k)] = cdf;
        if let (Some(p), Some(mb)) = (out.p.as_mut(), out.mb.as_mut()) {
            p[(k, k)] = bk * cdf + sk * pdf;
            mb[k] = r_diag[k] * pdf / sk;
        }
    }
    for k in 0..k_units {
        for a in (k + 1)..k_units {
            out.set_pair(k, a, &relu_pair(&Pair::new(q, k, a), bias(k), bias(a)));
        }
    }
    out
}

/// The ReLU pair k ≠ a with biases (docs/autoencoder.md §3.4), `ρ = Q^{ka}/(s_k s_a)`,
/// `c = √(1−ρ²) = √det_{ka}/(s_k s_a)`, `Φ2 = Φ2(m_k, m_a; ρ)`,
/// `γ_k = Φ((m_k − ρm_a)/c)`, `γ_a = Φ((m_a − ρm_k)/c)`:
/// `e_k = φ(m_k)γ_a + ρφ(m_a)γ_k`, `e_a = φ(m_a)γ_k + ρφ(m_k)γ_a`,
/// `e_ka = φ(m_k)[−ρ m_kγ_a + cφ((m_a−ρm_k)/c)] + ρ[Φ2 − m_aφ(m_a)γ_k]`,
/// `B = Φ2`, `I2 = β_kβ_aΦ2 + β_k s_a e_a + β_a s_k e_k + s_k s_a e_ka`,
/// `P_{ka} = β_aΦ2 + s_a e_a`, `A_{ka} = (φ(m_k)/s_k)[μΦ(μ/σ) + σφ(μ/σ)]` with
/// `μ = β_a − Q^{ka}β_k/Q^{kk}`, `σ = √(det_{ka}/Q^{kk})` (and k ↔ a).
/// The degenerate limit c → 0 (|ρ| = 1) is taken exactly (`Φ(x/0)` → step, `cφ(x/c)` → 0).
fn relu_pair(pair: &Pair, bk: f64, ba: f64) -> PairKernels {
    let (sk, sa) = (pair.qkk.sqrt(), pair.qaa.sqrt());
    let (mk, ma) = (bk / sk, ba / sa);
    let sksa = sk * sa;
    let rho = (pair.qka / sksa).clamp(-1.0, 1.0);
    let sqrt_det = pair.det.sqrt();
    let c = sqrt_det / sksa;
    let phi2 = bvn_cdf_rc(mk, ma, rho, c);
    let (pk, pa) = (norm_pdf(mk), norm_pdf(ma));
    let gk = cdf_ratio(mk - rho * ma, c);
    let ga = cdf_ratio(ma - rho * mk, c);
    let ek = pk * ga + rho * pa * gk;
    let ea = pa * gk + rho * pk * ga;
    let eka =
        pk * (-rho * mk * ga + scaled_pdf_ratio(ma - rho * mk, c)) + rho * (phi2 - ma * pa * gk);
    let relu_mean = |mu: f64, sigma: f64| mu * cdf_ratio(mu, sigma) + scaled_pdf_ratio(mu, sigma);
    PairKernels {
        i2: bk * ba * phi2 + bk * sa * ea + ba * sk * ek + sksa * eka,
        b: phi2,
        a_ka: pk / sk * relu_mean(ba - pair.qka * bk / pair.qkk, sqrt_det / sk),
        a_ak: pa / sa * relu_mean(bk - pair.qka * ba / pair.qaa, sqrt_det / sa),
        p_ka: ba * phi2 + sa * ea,
        p_ak: bk * phi2 + sk * ek,
    }
}

/// Standard normal density φ(x).
#[inline]
fn norm_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal CDF Φ(x) = ½ erfc(−x/√2) (accurate in both tails).
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// `Φ(x/c)` for `c ≥ 0`, with the `c → 0` limit (step; ½ at x = 0).
#[inline]
fn cdf_ratio(x: f64, c: f64) -> f64 {
    if c > 0.0 {
        norm_cdf(x / c)
    } else if x > 0.0 {
        1.0
    } else if x < 0.0 {
        0.0
    } else {
        0.5
    }
}

/// `c φ(x/c)` for `c ≥ 0`, with the `c → 0` limit 0.
#[inline]
fn scaled_pdf_ratio(x: f64, c: f64) -> f64 {
    if c > 0.0 {
        c * norm_pdf(x / c)
    } else {
        0.0
    }
}

/// Owen's T function `T(h, a) = (1/2π) ∫_0^a exp(−h²(1+x²)/2)/(1+x²) dx`.
///
/// T is even in h and odd in a. For `0 ≤ a ≤ 1` the (analytic, smooth) integrand is
/// integrated by 32-point Gauss–Legendre; for `a > 1` the identity
/// `T(h,a) = ½[Φ(h)Φ(−ah) + Φ(ah)Φ(−h)] − T(ah, 1/a)` (h ≥ 0) maps back to `1/a < 1`;
/// `T(h, ±∞) = ±½Φ(−|h|)`. Absolute accuracy ≈ 1e−16.
pub fn owens_t(h: f64, a: f64) -> f64 {
    let h = h.abs();
    let (sign, a) = if a < 0.0 { (-1.0, -a) } else { (1.0, a) };
    let t = if a.is_infinite() {
        0.5 * norm_cdf(-h)
    } else if a <= 1.0 {
        owens_t_gl(h, a)
    } else {
        let ah = a * h;
        0.5 * (norm_cdf(h) * norm_cdf(-ah) + norm_cdf(ah) * norm_cdf(-h)) - owens_t_gl(ah, 1.0 / a)
    };
    sign * t
}

/// Gauss–Legendre evaluation of Owen's T integral for `h ≥ 0`, `0 ≤ a ≤ 1`.
fn owens_t_gl(h: f64, a: f64) -> f64 {
    let (nodes, weights) = legendre_32();
    let half_a = 0.5 * a;
    let h2 = -0.5 * h * h;
    let mut sum = 0.0;
    for (&t, &w) in nodes.iter().zip(weights) {
        let x = half_a * (1.0 + t);
        let opx2 = 1.0 + x * x;
        sum += w * (h2 * opx2).exp() / opx2;
    }
    sum * half_a * FRAC_1_2PI
}

/// 32-point Gauss–Legendre nodes and weights on [−1, 1], computed once (Newton on the
/// Legendre recurrence).
fn legendre_32() -> &'static (Vec<f64>, Vec<f64>) {
    static GL: std::sync::OnceLock<(Vec<f64>, Vec<f64>)> = std::sync::OnceLock::new();
    GL.get_or_init(|| gauss_legendre(32))
}

/// n-point Gauss–Legendre rule on [−1, 1] (Newton on `P_n`, weights `2/((1−x²)P_n'(x)²)`).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let nf = n as f64;
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        // Tricomi's initial guess for the i-th largest root
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for j in 2..=n {
                let jf = j as f64;
                let p2 = ((2.0 * jf - 1.0) * x * p1 - (jf - 1.0) * p0) / jf;
                p0 = p1;
                p1 = p2;
            }
            // P_n'(x) = n (x P_n − P_{n−1}) / (x² − 1)
            dp = nf * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

/// Bivariate standard normal CDF `Φ2(h, k; ρ) = P(Z1 < h, Z2 < k)`, `corr(Z1, Z2) = ρ`,
/// via Owen's T (docs/autoencoder.md §3.4):
/// `Φ2 = ½[Φ(h)+Φ(k)] − T(h, (k−ρh)/(hc)) − T(k, (h−ρk)/(kc)) − b`, `c = √(1−ρ²)`,
/// `b = 0` if `hk > 0` or (`hk = 0` and `h+k ≥ 0`), else ½; `Φ2(0, k; ρ) = ½Φ(k) + T(k, ρ/c)`
/// (so `Φ2(0,0;ρ) = ¼ + arcsin(ρ)/(2π)`); `|ρ| = 1` uses the exact limits.
pub fn bivariate_normal_cdf(h: f64, k: f64, rho: f64) -> f64 {
    let rho = rho.clamp(-1.0, 1.0);
    bvn_cdf_rc(h, k, rho, ((1.0 - rho) * (1.0 + rho)).sqrt())
}

/// [`bivariate_normal_cdf`] with `c = √(1−ρ²) ≥ 0` supplied (computed without cancellation
/// by the caller).
fn bvn_cdf_rc(h: f64, k: f64, rho: f64, c: f64) -> f64 {
    if c <= 0.0 {
        return if rho > 0.0 {
            norm_cdf(h.min(k))
        } else {
            (norm_cdf(h) - norm_cdf(-k)).max(0.0)
        };
    }
    if h == 0.0 {
        return 0.5 * norm_cdf(k) + owens_t(k, rho / c);
    }
    if k == 0.0 {
        return 0.5 * norm_cdf(h) + owens_t(h, rho / c);
    }
    let b = if (h > 0.0) == (k > 0.0) { 0.0 } else { 0.5 };
    let v = 0.5 * (norm_cdf(h) + norm_cdf(k))
        - owens_t(h, (k - rho * h) / (h * c))
        - owens_t(k, (h - rho * k) / (k * c))
        - b;
    v.clamp(0.0, 1.0)
}

/// Probabilists' Gauss–Hermite rule with n nodes: `Σ_i w_i f(x_i) ≈ E[f(z)]`, z ~ N(0,1),
/// exact for polynomials of degree ≤ 2n − 1. Golub–Welsch (eigenvalues of the Jacobi matrix
/// with off-diagonal √i) for the nodes, polished by Newton on the orthonormal Hermite
/// recurrence `p_{j+1} = (x p_j − √j p_{j−1})/√(j+1)` (`p_n' = √n p_{n−1}`), and
/// Christoffel weights `w_i = 1/Σ_{j<n} p_j(x_i)²`.
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let jacobi = DMatrix::from_fn(n, n, |i, j| {
        if i.abs_diff(j) == 1 {
            (i.max(j) as f64).sqrt()
        } else {
            0.0
        }
    });
    let mut x: Vec<f64> = nalgebra::SymmetricEigen::new(jacobi)
        .eigenvalues
        .iter()
        .copied()
        .collect();
    x.sort_by(f64::total_cmp);
    // p_{n} and p_{n−1} and Σ_{j<n} p_j² at x
    let hermite = |x: f64| {
        let (mut p0, mut p1) = (0.0, 1.0);
        let mut sum_sq = 0.0;
        for j in 0..n {
            sum_sq += p1 * p1;
            let p2 = (x * p1 - (j as f64).sqrt() * p0) / ((j + 1) as f64).sqrt();
            p0 = p1;
            p1 = p2;
        }
        (p1, p0, sum_sq)
    };
    for xi in &mut x {
        for _ in 0..3 {
            let (pn, pnm1, _) = hermite(*xi);
            *xi -= pn / ((n as f64).sqrt() * pnm1);
        }
    }
    for i in 0..n / 2 {
        let v = 0.5 * (x[n - 1 - i] - x[i]);
        x[i] = -v;
        x[n - 1 - i] = v;
    }
    if n % 2 == 1 {
        x[n / 2] = 0.0;
    }
    // weights from the non-negative nodes, mirrored (exactly symmetric rule)
    let mut w: Vec<f64> = x.iter().map(|&xi| 1.0 / hermite(xi.abs()).2).collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|wi| *wi /= total);
    (x, w)
}

/// Test error from the kernels and order parameters (docs/autoencoder.md §3.6), exact at any D for Gaussian
/// inputs since λ and ν are exactly Gaussian:
/// `ε_g = ½ tr Ω/D − Σ_k E1_k R^{kk} + ½ Σ_{k,l} T0^{kl} I2_{kl}`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Roundoff-level agreement for closed-form identities evaluated in double precision.
    const TIGHT: f64 = 1e-14;

    /// Composite Simpson rule with `panels` (even) panels — an independent reference quadrature.
    fn simpson(f: impl Fn(f64) -> f64, lo: f64, hi: f64, panels: usize) -> f64 {
        let h = (hi - lo) / panels as f64;
        let mut s = f(lo) + f(hi);
        for i in 1..panels {
            s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(lo + i as f64 * h);
        }
        s * h / 3.0
    }

    #[test]
    fn owens_t_special_values() {
        for h in [0.0, 0.3, 1.0, 2.5, 6.0] {
            assert_eq!(owens_t(h, 0.0), 0.0);
            let want = 0.5 * norm_cdf(h) * norm_cdf(-h);
            assert!((owens_t(h, 1.0) - want).abs() < TIGHT, "T({h},1)");
            assert!((owens_t(h, f64::INFINITY) - 0.5 * norm_cdf(-h)).abs() < TIGHT);
        }
        for a in [0.1_f64, 0.5, 1.0, 3.0, 1e3, -2.0] {
            let want = a.atan() * FRAC_1_2PI;
            assert!((owens_t(0.0, a) - want).abs() < TIGHT, "T(0,{a})");
        }
        // Patefield & Tandy (2000) test value
        assert!((owens_t(0.0625, 0.25) - 0.038_911_930_234_701_37).abs() < TIGHT);
        // even in h, odd in a
        assert_eq!(owens_t(-1.3, 0.7), owens_t(1.3, 0.7));
        assert_eq!(owens_t(1.3, -0.7), -owens_t(1.3, 0.7));
    }

    #[test]
    fn owens_t_matches_brute_force_integral() {
        // Simpson with 20000 panels on the smooth integrand: error ≲ 1e−15 here.
        for &(h, a) in &[
            (0.2, 0.3),
            (1.5, 0.9),
            (0.7, 2.5),
            (2.0, 7.0),
            (4.0, 0.5),
            (0.05, 40.0),
        ] {
            let f = |x: f64| (-0.5 * h * h * (1.0 + x * x)).exp() / (1.0 + x * x);
            let want = simpson(f, 0.0, a, 20_000) * FRAC_1_2PI;
            let got = owens_t(h, a);
            assert!((got - want).abs() < 1e-14, "T({h},{a}) = {got} vs {want}");
        }
    }

    #[test]
    fn bivariate_cdf_matches_references() {
        for rho in [-0.99_f64, -0.5, 0.0, 0.3, 0.9, 0.999_999] {
            let want = 0.25 + rho.asin() * FRAC_1_2PI;
            assert!((bivariate_normal_cdf(0.0, 0.0, rho) - want).abs() < TIGHT);
        }
        // Φ2(h,k;ρ) = ∫_{−∞}^h φ(z) Φ((k − ρz)/c) dz by Simpson on [−12, h]
        for &(h, k, rho) in &[
            (0.3, -0.4, 0.6_f64),
            (-1.2, 0.8, -0.7),
            (1.5, 2.0, 0.2),
            (-0.5, -1.5, 0.95),
            (0.0, 1.1, -0.3),
            (0.7, 0.0, 0.5),
            (1e-9, -0.2, 0.4),
        ] {
            let c = ((1.0 - rho) * (1.0 + rho)).sqrt();
            let f = |z: f64| norm_pdf(z) * norm_cdf((k - rho * z) / c);
            let want = simpson(f, -12.0, h, 40_000);
            let got = bivariate_normal_cdf(h, k, rho);
            assert!(
                (got - want).abs() < 1e-13,
                "Φ2({h},{k};{rho}) = {got} vs {want}"
            );
        }
        // |ρ| = 1 limits
        assert!((bivariate_normal_cdf(0.3, -0.2, 1.0) - norm_cdf(-0.2)).abs() < TIGHT);
        let want = norm_cdf(0.3) - norm_cdf(0.2);
        assert!((bivariate_normal_cdf(0.3, -0.2, -1.0) - want).abs() < TIGHT);
        assert_eq!(bivariate_normal_cdf(-0.3, -0.2, -1.0), 0.0);
    }

    #[test]
    fn gauss_hermite_is_exact_for_polynomials() {
        for n in [
            MIN_QUADRATURE_NODES,
            9,
            DEFAULT_QUADRATURE_NODES,
            MAX_QUADRATURE_NODES,
        ] {
            let (x, w) = gauss_hermite(n);
            // E[z^{2m}] = (2m−1)!!, odd moments vanish; exact up to degree 2n − 1
            let max_deg = (2 * n - 1).min(20);
            let mut double_fact = 1.0;
            for deg in 0..=max_deg {
                let got: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(&xi, &wi)| wi * xi.powi(deg as i32))
                    .sum();
                let want = if deg % 2 == 1 { 0.0 } else { double_fact };
                if deg % 2 == 1 {
                    double_fact *= deg as f64;
                }
                // odd moments cancel only up to roundoff of the terms Σ w|x|^deg
                let scale: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(&xi, &wi)| wi * xi.abs().powi(deg as i32))
                    .sum();
                assert!(
                    (got - want).abs() <= 1e-12 * scale,
                    "n = {n}, E[z^{deg}] = {got} vs {want}"
                );
            }
            let e4: f64 = x.iter().zip(&w).map(|(&xi, &wi)| wi * xi.powi(4)).sum();
            assert!((e4 - 3.0).abs() < 1e-13);
        }
        // degree 2n is not exact for n = 8: E[z^16] = 15!! = 2027025
        let (x, w) = gauss_hermite(8);
        let e16: f64 = x.iter().zip(&w).map(|(&xi, &wi)| wi * xi.powi(16)).sum();
        assert!((e16 - 2_027_025.0).abs() > 1.0);
    }

    /// The logistic inner sums (tanh, sigmoid) against g evaluated at every node pair, on
    /// the same nodes: the same sums up to roundoff (measured ≤ 7e−15 relative here).
    const LOGISTIC_VS_DIRECT: f64 = 1e-13;

    /// The mirror rules against the activation at −z.
    #[test]
    fn mirrored_values_equal_the_activation_at_minus_z() {
        for act in Activation::ALL {
            for z in [0.0, 0.3, -1.7, 4.2, 25.0] {
                let Some((g, dg)) = act.mirrored(act.g(z), act.dg(z)) else {
                    assert!(!matches!(act, Activation::Tanh | Activation::Sigmoid));
                    continue;
                };
                assert!((g - act.g(-z)).abs() <= 4.0 * f64::EPSILON, "{act} g({z})");
                assert!(
                    (dg - act.dg(-z)).abs() <= 4.0 * f64::EPSILON,
                    "{act} g'({z})"
                );
            }
        }
    }

    /// The AVX-512 column step (reciprocal by `vrcp14pd` and Newton) against the plain
    /// division, on the logistic sums' range of `E_i`, `F_j`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fast_logistic_columns_match_the_division() {
        use rand::{Rng as _, SeedableRng as _};
        if !crate::simd::has_avx512_fma() {
            eprintln!("no AVX-512 here: the plain loop is the only path");
            return;
        }
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let m = 64;
        for _ in 0..2000 {
            let e: Vec<f64> = (0..m)
                .map(|_| (rng.random::<f64>() * 120.0 - 60.0).exp())
                .collect();
            let fj = (rng.random::<f64>() * 120.0 - 60.0).exp();
            let (wj, wxj) = (rng.random::<f64>(), rng.random::<f64>() - 0.5);
            let (mut a0, mut a1, mut a2) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
            // SAFETY: AVX-512F and FMA checked above; equal lengths, a multiple of 8.
            unsafe { logistic_columns_avx512(&e, &mut a0, &mut a1, &mut a2, fj, wj, wxj) };
            for i in 0..m {
                let d1 = 1.0 + e[i] * fj;
                let d2 = fj + e[i];
                let inv = 1.0 / (d1 * d2);
                let (rp, rm) = (d2 * inv, fj * d1 * inv);
                let (hp, hm) = (rp - rp * rp, rm - rm * rm);
                let want = [wj * (rp + rm), wj * (hp + hm), wxj * (hp - hm)];
                for (got, want) in [a0[i], a1[i], a2[i]].into_iter().zip(want) {
                    // r, h ∈ [0, 1]: errors relative to the weights' scale
                    let scale = wj.abs().max(wxj.abs());
                    assert!(
                        (got - want).abs() <= 8.0 * RECIPROCAL_REL_ERROR * scale,
                        "E = {:e}, F = {fj:e}: {got:e} vs {want:e}",
                        e[i]
                    );
                }
            }
        }
    }

    #[test]
    fn logistic_rows_match_direct_rows() {
        for act in [Activation::Tanh, Activation::Sigmoid] {
            let mut worst: f64 = 0.0;
            for n in [9, 48, 128, 200] {
                let ev = KernelEvaluator::new(act, n).unwrap();
                let m = ev.nodes.len();
                let form = act.logistic().unwrap();
                // (l21, l22, β_a): unbiased (mirrored rows) and biased, correlated and
                // nearly degenerate pairs, up to s ≈ 6 (Q^{aa} ≈ 40)
                for &(l21, l22, ba) in &[
                    (0.3, 1.2, 0.0),
                    (-1.1, 0.4, 0.0),
                    (2.0, 1e-6, 0.0),
                    (0.0, 1.4, 0.7),
                    (-0.8, 0.9, -1.3),
                    (4.5, 4.0, 0.2),
                ] {
                    assert!(form.fits(l21, l22, ba, ev.nodes[m - 1]));
                    let (mut fast, mut direct) = (vec![[0.0; 3]; m], vec![[0.0; 3]; m]);
                    ev.logistic_rows(form, l21, l22, ba, &mut fast, &mut Default::default());
                    ev.direct_rows(l21, l22, ba, &mut direct);
                    for (f, d) in fast.iter().zip(&direct) {
                        for c in 0..3 {
                            let scale = 1.0 + d[c].abs();
                            worst = worst.max((f[c] - d[c]).abs() / scale);
                            assert!(
                                (f[c] - d[c]).abs() < LOGISTIC_VS_DIRECT * scale,
                                "{act} n = {n} ({l21}, {l22}, {ba}): {f:?} vs {d:?}"
                            );
                        }
                    }
                }
            }
            println!("{act}: max |logistic − direct|/(1 + |direct|) = {worst:.1e}");
        }
    }

    /// Dropping the nodes of weight < [`PRUNE_WEIGHT`] against all n nodes (with the direct
    /// path for the far nodes that [`Logistic::fits`] rejects): measured ≤ 4e−15 (×30: Q up to 60).
    const PRUNED_VS_ALL: f64 = 1e-13;

    #[test]
    fn pruned_nodes_match_all_nodes() {
        let q = DMatrix::from_row_slice(3, 3, &[1.3, 0.4, -0.6, 0.4, 0.8, 0.1, -0.6, 0.1, 2.0]);
        let r = DVector::from_vec(vec![0.3, -0.7, 1.1]);
        let beta = DVector::from_vec(vec![0.2, -0.5, 0.0]);
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::Softplus] {
            for n in [48, 128, 200] {
                let pruned = KernelEvaluator::new(act, n).unwrap();
                let all = KernelEvaluator::with_pruning(act, n, 0.0).unwrap();
                assert_eq!(all.nodes.len(), n);
                assert_eq!(pruned.quadrature_nodes(), n);
                for (scale, b) in [(1.0, None), (1.0, Some(&beta)), (30.0, Some(&beta))] {
                    let qs = &q * scale;
                    let x = pruned.kernels(&qs, &r, b, true).unwrap();
                    let y = all.kernels(&qs, &r, b, true).unwrap();
                    let d = max_abs_diff(&x, &y);
                    println!("{act} n = {n} ×{scale}: pruned vs all {d:.1e}");
                    assert!(d < PRUNED_VS_ALL * scale, "{act} n = {n} ×{scale}: {d:e}");
                }
            }
        }
    }

    /// An independent truth: with `Q^{ka} = 0` the pair kernels factorise into 1-D Gaussian
    /// averages, `I2_{ka} = E[g_k]E[g_a]`, `B_{ka} = E[g_k']E[g_a']`,
    /// `P_{ka} = E[g_k']E[g_a]`, `A_{ka} = E[g_k'']E[g_a] = E[g_k' λ^k]E[g_a]/Q^{kk}`, here
    /// by composite Simpson on [−12, 12]. Tolerance: the 128-node (tanh) and 48-node
    /// (sigmoid) Gauss–Hermite error at these variances (`Q^{kk}` ≤ 2, measured ≤ 1.2e−10).
    const GH_VS_SIMPSON: f64 = 1e-9;

    #[test]
    fn independent_pair_factorises_as_simpson() {
        let q = DMatrix::from_row_slice(2, 2, &[1.7, 0.0, 0.0, 0.6]);
        let r = DVector::from_vec(vec![0.4, 0.2]);
        for act in [Activation::Tanh, Activation::Sigmoid] {
            for beta in [None, Some(DVector::from_vec(vec![0.3, -0.8]))] {
                let ev = KernelEvaluator::new(act, act.default_quadrature_nodes()).unwrap();
                let kern = ev.kernels(&q, &r, beta.as_ref(), true).unwrap();
                let mean = |k: usize, f: &dyn Fn(f64) -> f64| {
                    let (s, b) = (q[(k, k)].sqrt(), beta.as_ref().map_or(0.0, |v| v[k]));
                    simpson(|z| f(s * z + b) * norm_pdf(z), -12.0, 12.0, 4000)
                };
                let g = |z: f64| act.g(z);
                let dg = |z: f64| act.dg(z);
                let (g0, g1) = (mean(0, &g), mean(1, &g));
                let (dg0, dg1) = (mean(0, &dg), mean(1, &dg));
                let b0 = beta.as_ref().map_or(0.0, |v| v[0]);
                let dgl0 = mean(0, &|z| act.dg(z) * (z - b0));
                let p = kern.p.as_ref().unwrap();
                for (got, want) in [
                    (kern.i2[(0, 1)], g0 * g1),
                    (kern.b[(0, 1)], dg0 * dg1),
                    (p[(0, 1)], dg0 * g1),
                    (p[(1, 0)], dg1 * g0),
                    (kern.a[(0, 1)], dgl0 / q[(0, 0)] * g1),
                ] {
                    println!("{act}: |GH − Simpson| = {:.1e}", (got - want).abs());
                    assert!(
                        (got - want).abs() < GH_VS_SIMPSON,
                        "{act} β = {beta:?}: {got} vs {want}"
                    );
                }
            }
        }
    }

    fn max_abs_diff(x: &Kernels, y: &Kernels) -> f64 {
        let mut d = (&x.e1 - &y.e1).amax().max((&x.m - &y.m).amax());
        for (a, b) in [(&x.i2, &y.i2), (&x.a, &y.a), (&x.b, &y.b)] {
            d = d.max((a - b).amax());
        }
        if let (Some(a), Some(b)) = (&x.p, &y.p) {
            d = d.max((a - b).amax());
        }
        if let (Some(a), Some(b)) = (&x.mb, &y.mb) {
            d = d.max((a - b).amax());
        }
        d
    }

    #[test]
    fn node_count_is_validated() {
        assert!(KernelEvaluator::new(Activation::Tanh, 7).is_err());
        assert!(KernelEvaluator::new(Activation::Tanh, 201).is_err());
        assert!(KernelEvaluator::new(Activation::Tanh, 8).is_ok());
    }

    #[test]
    fn relu_unbiased_equals_general_formulas_at_zero_bias() {
        let q = DMatrix::from_row_slice(3, 3, &[1.3, 0.4, -0.6, 0.4, 0.8, 0.1, -0.6, 0.1, 2.0]);
        let r = DVector::from_vec(vec![0.3, -0.7, 1.1]);
        let zero = DVector::zeros(3);
        let special = relu_kernels_unbiased(&q, &r, true);
        let general = relu_kernels_biased(&q, &r, Some(&zero), true);
        let pairs = [
            (&special.e1, &general.e1),
            (&special.m, &general.m),
            (special.mb.as_ref().unwrap(), general.mb.as_ref().unwrap()),
        ];
        for (s, g) in pairs {
            assert!((s - g).amax() < TIGHT, "{s} vs {g}");
        }
        let mats = [
            (&special.i2, &general.i2),
            (&special.a, &general.a),
            (&special.b, &general.b),
            (special.p.as_ref().unwrap(), general.p.as_ref().unwrap()),
        ];
        for (s, g) in mats {
            assert!((s - g).amax() < TIGHT, "{s} vs {g}");
        }
    }

    #[test]
    fn relu_degenerate_pair_takes_limits() {
        // λ^1 = 2 λ^0 exactly (ρ = 1) and λ^2 = −λ^0 (ρ = −1): finite and continuous.
        let q = DMatrix::from_row_slice(3, 3, &[1.0, 2.0, -1.0, 2.0, 4.0, -2.0, -1.0, -2.0, 1.0]);
        let r = DVector::from_vec(vec![0.5, 0.5, 0.5]);
        let beta = DVector::from_vec(vec![0.2, -0.3, 0.1]);
        let ev = KernelEvaluator::new(Activation::Relu, 48).unwrap();
        let exact = ev.kernels(&q, &r, Some(&beta), true).unwrap();
        let eps = 1e-9;
        let mut qe = q.clone();
        qe[(0, 0)] += eps;
        let near = ev.kernels(&qe, &r, Some(&beta), true).unwrap();
        assert!((&exact.b - &near.b).amax() < 1e-3);
        assert!((&exact.i2 - &near.i2).amax() < 1e-3);
        assert!(exact.a.iter().all(|v| v.is_finite()));
        // B_{01} = P(λ^0 > −0.2, 2λ^0 > 0.3) = Φ(min(m_0, m_1)) with m = (0.2, −0.15)
        assert!((exact.b[(0, 1)] - norm_cdf(-0.15)).abs() < TIGHT);
    }
}
