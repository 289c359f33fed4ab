//! The two-layer ReLU autoencoder u(x) = (κ/√m) V σ(W x), its loss, gradients and one
//! full-batch gradient-descent step (Nguyen, Wong & Hegde 2021, arXiv:1911.11983).
//!
//! With data X (n × d, rows x_i), Z = X Wᵀ, A = σ(Z), D = 1{Z > 0} (all n × m),
//! U = (κ/√m) A Vᵀ (n × d) and R = U − X, the loss is L = s · ½‖R‖²_F with s = 1 (`sum`)
//! or 1/n (`mean`), and
//!
//! ```text
//! ∇_V = s (κ/√m) Rᵀ A                              (d × m)
//! ∇_W = s (κ/√m) (D ∘ (R V))ᵀ X                    (m × d)   weak, joint
//! ∇_W = s (κ/√m) [ Aᵀ R + (D ∘ (R Wᵀ))ᵀ X ]         (m × d)   tied (V ≡ Wᵀ)
//! ```
//!
//! Storage: W is kept transposed (`w_t`, d × m, column r is w_r) so that the hidden units
//! of a chunk are one contiguous slice of both `w_t` and V. Work is split into fixed chunks
//! of [`CHUNK`] hidden units processed in parallel; the only cross-chunk sum (U) is reduced
//! in chunk order, so every result is bit-identical for any number of threads.

use nalgebra::DMatrix;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linalg::{mul, tr, tr_slice, view, view_slice};
use crate::rng::Rng;

/// Hidden units per chunk of parallel work (fixed: results do not depend on threads).
pub const CHUNK: usize = 4096;

/// Which weights gradient descent trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// Encoder W only; the decoder V stays at its initial value.
    Weak,
    /// Encoder W and decoder V.
    #[default]
    Joint,
    /// Weight-tied: V ≡ Wᵀ, u(x) = (κ/√m) Σ_r w_r σ(w_rᵀx); W is trained.
    Tied,
}

impl Regime {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Weak => "weak",
            Regime::Joint => "joint",
            Regime::Tied => "tied",
        }
    }
}

/// Law of the initial decoder entries (any law with E v_p v_q = δ_pq has the same kernels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VLaw {
    /// N(0, 1).
    #[default]
    Gaussian,
    /// ±1 with probability ½ each.
    Rademacher,
}

/// Normalisation of the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossNorm {
    /// L = ½ Σ_i ‖u(x_i) − x_i‖².
    #[default]
    Sum,
    /// L = (1/n) ½ Σ_i ‖u(x_i) − x_i‖² (the same dynamics as `sum` with η/n).
    Mean,
}

impl LossNorm {
    /// The factor s multiplying ½‖R‖²_F for n points.
    pub fn scale(self, n: usize) -> f64 {
        match self {
            LossNorm::Sum => 1.0,
            LossNorm::Mean => 1.0 / n as f64,
        }
    }
}

/// Why a network cannot be built (the caller names the config key).
#[derive(Debug, Clone, PartialEq)]
pub enum NetError {
    /// m = 0 or d = 0.
    Empty,
    /// Symmetric initialisation needs an even width.
    OddWidth(usize),
    /// Symmetric initialisation is impossible with V ≡ Wᵀ.
    SymmetricTied,
    /// Encoder and decoder shapes disagree.
    Shape(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Empty => write!(f, "width and dimension must be ≥ 1"),
            NetError::OddWidth(m) => {
                write!(f, "symmetric initialisation needs an even width, got {m}")
            }
            NetError::SymmetricTied => write!(
                f,
                "symmetric initialisation (u₀ ≡ 0) needs a separate decoder; impossible with V ≡ Wᵀ"
            ),
            NetError::Shape(s) => write!(f, "{s}"),
        }
    }
}

/// The network's parameters and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// Training regime.
    pub regime: Regime,
    /// κ, the output scale.
    pub kappa: f64,
    /// Wᵀ (d × m): column r is w_r.
    w_t: DMatrix<f64>,
    /// V (d × m): column r is v_r; empty (0 × 0) when tied.
    v: DMatrix<f64>,
}

/// The activations of one forward pass: per chunk A_c = σ(X W_cᵀ) (n × |c|), and U (n × d).
pub struct Forward {
    /// Activations per chunk, in chunk order.
    pub a: Vec<DMatrix<f64>>,
    /// Outputs U (n × d).
    pub u: DMatrix<f64>,
}

/// Loss and gradients at the current weights.
pub struct Grad {
    /// L = s ½‖R‖²_F.
    pub loss: f64,
    /// R = U − X.
    pub r: DMatrix<f64>,
    /// ∇_{Wᵀ} (d × m), i.e. the transpose of ∇_W.
    pub g_w_t: DMatrix<f64>,
    /// ∇_V (d × m); `None` unless joint.
    pub g_v: Option<DMatrix<f64>>,
}

/// The chunks `(start, len)` of m hidden units.
pub fn chunks(m: usize, size: usize) -> Vec<(usize, usize)> {
    (0..m.div_ceil(size))
        .map(|c| (c * size, size.min(m - c * size)))
        .collect()
}

impl Net {
    /// A network from explicit weights: `w` is m × d (rows w_r), `v` is d × m (columns
    /// v_r; required for weak/joint, ignored for tied).
    pub fn from_weights(
        regime: Regime,
        kappa: f64,
        w: &DMatrix<f64>,
        v: Option<&DMatrix<f64>>,
    ) -> Result<Self, NetError> {
        let (m, d) = w.shape();
        if m == 0 || d == 0 {
            return Err(NetError::Empty);
        }
        let v = match (regime, v) {
            (Regime::Tied, _) => DMatrix::zeros(0, 0),
            (_, None) => return Err(NetError::Shape("a decoder V (d × m) is required".into())),
            (_, Some(v)) if v.shape() != (d, m) => {
                return Err(NetError::Shape(format!(
                    "decoder V must be d × m = {d} × {m}, got {} × {}",
                    v.nrows(),
                    v.ncols()
                )))
            }
            (_, Some(v)) => v.clone(),
        };
        Ok(Net {
            regime,
            kappa,
            w_t: w.transpose(),
            v,
        })
    }

    /// Random initialisation from `rng`: W_rj iid N(0, 1) drawn row by row (w_1 first),
    /// then (weak/joint) the decoder columns v_1, v_2, … with entries from `law`.
    /// `symmetric` draws the first m/2 units and sets w_{r+m/2} = w_r, v_{r+m/2} = −v_r,
    /// so that u₀ ≡ 0. The encoder draws are the same in every regime.
    pub fn random(
        regime: Regime,
        kappa: f64,
        m: usize,
        d: usize,
        law: VLaw,
        symmetric: bool,
        rng: &mut Rng,
    ) -> Result<Self, NetError> {
        if m == 0 || d == 0 {
            return Err(NetError::Empty);
        }
        if symmetric && regime == Regime::Tied {
            return Err(NetError::SymmetricTied);
        }
        if symmetric && m % 2 == 1 {
            return Err(NetError::OddWidth(m));
        }
        let drawn = if symmetric { m / 2 } else { m };
        let mut w_t = DMatrix::zeros(d, m);
        for r in 0..drawn {
            for k in 0..d {
                w_t[(k, r)] = StandardNormal.sample(rng);
            }
        }
        let mut v = DMatrix::zeros(0, 0);
        if regime != Regime::Tied {
            v = DMatrix::zeros(d, m);
            for r in 0..drawn {
                for p in 0..d {
                    v[(p, r)] = match law {
                        VLaw::Gaussian => StandardNormal.sample(rng),
                        VLaw::Rademacher => {
                            if rng.random::<bool>() {
                                1.0
                            } else {
                                -1.0
                            }
                        }
                    };
                }
            }
        }
        if symmetric {
            for r in 0..drawn {
                for k in 0..d {
                    w_t[(k, r + drawn)] = w_t[(k, r)];
                    v[(k, r + drawn)] = -v[(k, r)];
                }
            }
        }
        Ok(Net {
            regime,
            kappa,
            w_t,
            v,
        })
    }

    /// m.
    pub fn width(&self) -> usize {
        self.w_t.ncols()
    }

    /// d.
    pub fn dim(&self) -> usize {
        self.w_t.nrows()
    }

    /// κ/√m.
    pub fn scale(&self) -> f64 {
        self.kappa / (self.width() as f64).sqrt()
    }

    /// W (m × d, rows w_r).
    pub fn w(&self) -> DMatrix<f64> {
        self.w_t.transpose()
    }

    /// Wᵀ (d × m, columns w_r).
    pub fn w_t(&self) -> &DMatrix<f64> {
        &self.w_t
    }

    /// V (d × m, columns v_r); Wᵀ when tied.
    pub fn v(&self) -> DMatrix<f64> {
        if self.regime == Regime::Tied {
            self.w_t.clone()
        } else {
            self.v.clone()
        }
    }

    /// The decoder as stored (d × m): V, or Wᵀ when tied.
    pub fn decoder(&self) -> &DMatrix<f64> {
        if self.regime == Regime::Tied {
            &self.w_t
        } else {
            &self.v
        }
    }

    /// The slice of columns of a d × m matrix belonging to chunk `(s, len)`.
    fn cols<'a>(&self, a: &'a DMatrix<f64>, s: usize, len: usize) -> &'a [f64] {
        let d = self.dim();
        &a.as_slice()[d * s..d * (s + len)]
    }

    /// A_c = σ(X W_cᵀ) and the partial output A_c V_cᵀ of one chunk.
    fn chunk_forward(
        &self,
        x: &DMatrix<f64>,
        s: usize,
        len: usize,
    ) -> (DMatrix<f64>, DMatrix<f64>) {
        let d = self.dim();
        let wc = view_slice(self.cols(&self.w_t, s, len), d, len);
        let mut a = mul(1.0, &view(x), &wc);
        a.apply(|z| *z = z.max(0.0));
        let vc = tr_slice(self.cols(self.decoder(), s, len), d, len);
        let u = mul(1.0, &view(&a), &vc);
        (a, u)
    }

    /// Forward pass on the rows of `x` (k × d): activations per chunk and U = u(X).
    pub fn forward(&self, x: &DMatrix<f64>) -> Forward {
        let parts: Vec<(DMatrix<f64>, DMatrix<f64>)> = chunks(self.width(), CHUNK)
            .into_par_iter()
            .map(|(s, len)| self.chunk_forward(x, s, len))
            .collect();
        let mut u = DMatrix::zeros(x.nrows(), self.dim());
        let mut a = Vec::with_capacity(parts.len());
        for (ac, uc) in parts {
            u += uc;
            a.push(ac);
        }
        u *= self.scale();
        Forward { a, u }
    }

    /// U = u(X) for the rows of `x`.
    pub fn outputs(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        self.forward(x).u
    }

    /// L = s ½‖U − X‖²_F.
    pub fn loss(&self, x: &DMatrix<f64>, norm: LossNorm) -> f64 {
        let r = self.outputs(x) - x;
        norm.scale(x.nrows()) * 0.5 * r.norm_squared()
    }

    /// Loss and gradients (see the module docs) at the current weights.
    pub fn grad(&self, x: &DMatrix<f64>, norm: LossNorm) -> Grad {
        let fwd = self.forward(x);
        let r = &fwd.u - x;
        let s_l = norm.scale(x.nrows());
        let loss = s_l * 0.5 * r.norm_squared();
        let c = s_l * self.scale();
        let d = self.dim();
        let joint = self.regime == Regime::Joint;
        let parts: Vec<(DMatrix<f64>, Option<DMatrix<f64>>)> = chunks(self.width(), CHUNK)
            .into_par_iter()
            .zip(fwd.a.par_iter())
            .map(|((s, len), a)| {
                let dec = view_slice(self.cols(self.decoder(), s, len), d, len);
                // P = D ∘ (R V_c)   (tied: D ∘ (R W_cᵀ))
                let mut p = mul(1.0, &view(&r), &dec);
                p.zip_apply(a, |q, act| {
                    if act <= 0.0 {
                        *q = 0.0
                    }
                });
                let mut gw = mul(c, &tr(x), &view(&p));
                let ra = mul(c, &tr(&r), &view(a));
                match self.regime {
                    Regime::Weak => (gw, None),
                    Regime::Joint => (gw, Some(ra)),
                    Regime::Tied => {
                        gw += ra;
                        (gw, None)
                    }
                }
            })
            .collect();
        let m = self.width();
        let mut g_w_t = DMatrix::zeros(d, m);
        let mut g_v = joint.then(|| DMatrix::zeros(d, m));
        for ((s, len), (gw, gv)) in chunks(m, CHUNK).into_iter().zip(parts) {
            g_w_t.as_mut_slice()[d * s..d * (s + len)].copy_from_slice(gw.as_slice());
            if let (Some(full), Some(gv)) = (g_v.as_mut(), gv) {
                full.as_mut_slice()[d * s..d * (s + len)].copy_from_slice(gv.as_slice());
            }
        }
        Grad {
            loss,
            r,
            g_w_t,
            g_v,
        }
    }

    /// Apply a gradient step θ ← θ − η ∇θ (W only for weak and tied).
    pub fn apply(&mut self, g: &Grad, eta: f64) {
        self.w_t.zip_apply(&g.g_w_t, |w, gw| *w -= eta * gw);
        if let Some(gv) = &g.g_v {
            self.v.zip_apply(gv, |v, gv| *v -= eta * gv);
        }
    }

    /// One full-batch GD step with step size η; returns the loss before the step.
    pub fn step(&mut self, x: &DMatrix<f64>, norm: LossNorm, eta: f64) -> f64 {
        let g = self.grad(x, norm);
        self.apply(&g, eta);
        g.loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntk::data::sphere;
    use crate::rng::rng_for;

    /// Central differences with step h have truncation error O(h²) ≈ 1e-10 and rounding
    /// error O(ε/h) ≈ 1e-11 relative to the O(1) loss; 1e-7 leaves a wide margin while
    /// still catching any wrong factor or missing term.
    const FD_TOL: f64 = 1e-7;
    const FD_STEP: f64 = 1e-5;

    fn central_fd(
        net: &Net,
        x: &DMatrix<f64>,
        norm: LossNorm,
        which: usize,
        r: usize,
        k: usize,
    ) -> f64 {
        let mut plus = net.clone();
        let mut minus = net.clone();
        let (pm, mm) = if which == 0 {
            (&mut plus.w_t, &mut minus.w_t)
        } else {
            (&mut plus.v, &mut minus.v)
        };
        pm[(k, r)] += FD_STEP;
        mm[(k, r)] -= FD_STEP;
        (plus.loss(x, norm) - minus.loss(x, norm)) / (2.0 * FD_STEP)
    }

    #[test]
    fn gradients_equal_central_differences() {
        let x = sphere(5, 3, &mut rng_for(1, 2)) * 1.3;
        for regime in [Regime::Weak, Regime::Joint, Regime::Tied] {
            for norm in [LossNorm::Sum, LossNorm::Mean] {
                let net = Net::random(regime, 0.7, 9, 3, VLaw::Gaussian, false, &mut rng_for(2, 1))
                    .unwrap();
                let g = net.grad(&x, norm);
                assert!((g.loss - net.loss(&x, norm)).abs() < 1e-14 * g.loss.max(1.0));
                let mut worst: f64 = 0.0;
                for r in 0..9 {
                    for k in 0..3 {
                        let fd = central_fd(&net, &x, norm, 0, r, k);
                        worst = worst.max((fd - g.g_w_t[(k, r)]).abs());
                        if regime == Regime::Joint {
                            let fd = central_fd(&net, &x, norm, 1, r, k);
                            worst = worst.max((fd - g.g_v.as_ref().unwrap()[(k, r)]).abs());
                        }
                    }
                }
                let gmax = g.g_w_t.abs().max();
                assert!(
                    worst < FD_TOL * gmax.max(1.0),
                    "{regime:?} {norm:?}: {worst}"
                );
                assert_eq!(g.g_v.is_some(), regime == Regime::Joint);
            }
        }
    }

    #[test]
    fn symmetric_init_has_zero_output_and_rademacher_signs() {
        let x = sphere(4, 3, &mut rng_for(1, 2));
        let net = Net::random(
            Regime::Joint,
            1.0,
            10,
            3,
            VLaw::Rademacher,
            true,
            &mut rng_for(5, 1),
        )
        .unwrap();
        assert!(net.outputs(&x).abs().max() < 1e-15);
        assert!(net.v().iter().all(|v| v.abs() == 1.0));
        assert_eq!(
            Net::random(
                Regime::Joint,
                1.0,
                9,
                3,
                VLaw::Gaussian,
                true,
                &mut rng_for(5, 1)
            ),
            Err(NetError::OddWidth(9))
        );
        assert_eq!(
            Net::random(
                Regime::Tied,
                1.0,
                10,
                3,
                VLaw::Gaussian,
                true,
                &mut rng_for(5, 1)
            ),
            Err(NetError::SymmetricTied)
        );
    }

    #[test]
    fn chunked_forward_equals_a_plain_product() {
        let x = sphere(6, 4, &mut rng_for(1, 2));
        let net = Net::random(
            Regime::Joint,
            1.0,
            2 * CHUNK + 37,
            4,
            VLaw::Gaussian,
            false,
            &mut rng_for(3, 1),
        )
        .unwrap();
        let a = (&x * net.w_t()).map(|z| z.max(0.0));
        let u = &a * net.v().transpose() * net.scale();
        // Sums of 2000 O(1) terms in a different order: rounding ~ 1e-13.
        assert!((net.outputs(&x) - u).abs().max() < 1e-11);
        assert_eq!(chunks(2 * CHUNK + 37, CHUNK).len(), 3);
    }
}
