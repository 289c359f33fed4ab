//! Neural-tangent Gram matrices H = J Jᵀ (J = ∂ vec U/∂θ, outputs indexed (i, p) ↦ i·d + p)
//! at finite width, and their infinite-width limits (Nguyen, Wong & Hegde 2021).
//!
//! Finite width, with D = 1{X Wᵀ > 0}, A = σ(X Wᵀ):
//!
//! ```text
//! H^W_{(i,p),(j,q)} = (κ²/m) ⟨x_i,x_j⟩ Σ_r v_rp v_rq D_ir D_jr        (encoder block)
//! H^V_{(i,p),(j,q)} = δ_pq (κ²/m) Σ_r A_ir A_jr                       (decoder block)
//! weak: H = H^W,  joint: H = H^W + H^V
//! tied: J_{(i,p),(r,q)} = (κ/√m)(δ_pq A_ir + w_rp D_ir x_iq),  H = J Jᵀ
//! ```
//!
//! Infinite width (expectation over w ~ N(0, I), E v_p v_q = δ_pq), θ_ij the angle between
//! x_i and x_j — the arc-cosine kernels of degree 0 (times ⟨x_i, x_j⟩) and 1:
//!
//! ```text
//! K_enc(x, y) = ⟨x, y⟩ (π − θ) / (2π)
//! K_dec(x, y) = ‖x‖‖y‖ (sin θ + (π − θ) cos θ) / (2π)
//! H^∞_weak = κ² K_enc ⊗ I_d,   H^∞_joint = κ² (K_enc + K_dec) ⊗ I_d
//! ```
//!
//! Sums over hidden units run over fixed chunks reduced in chunk order (thread-count
//! invariant).

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::linalg::{mul, tr, view, view_slice};
use super::net::{chunks, Net, Regime};

/// Hidden units per chunk in the weak/joint Gram sums.
const GRAM_CHUNK: usize = 512;
/// Target number of entries of one tied Jacobian chunk (nd × |c|d), bounding memory.
const JACOBIAN_ENTRIES: usize = 1 << 21;
/// Chunks computed concurrently before their (ordered) reduction, bounding memory.
const GROUP: usize = 4;

/// Σ_c f(c) over chunks c = 0..count, computed in parallel groups and summed in order c.
fn ordered_sum(count: usize, f: impl Fn(usize) -> DMatrix<f64> + Sync) -> Option<DMatrix<f64>> {
    let mut total: Option<DMatrix<f64>> = None;
    for g in (0..count).step_by(GROUP) {
        let parts: Vec<DMatrix<f64>> = (g..(g + GROUP).min(count))
            .into_par_iter()
            .map(&f)
            .collect();
        for p in parts {
            total = Some(match total {
                None => p,
                Some(t) => t + p,
            });
        }
    }
    total
}

/// A = σ(X W_cᵀ) for the hidden units `(s, len)` (n × len).
fn activations(net: &Net, x: &DMatrix<f64>, s: usize, len: usize) -> DMatrix<f64> {
    let d = net.dim();
    let wc = view_slice(&net.w_t().as_slice()[d * s..d * (s + len)], d, len);
    let mut a = mul(1.0, &view(x), &wc);
    a.apply(|z| *z = z.max(0.0));
    a
}

/// The encoder block H^W (nd × nd) of a network with a separate decoder.
pub fn gram_w(net: &Net, x: &DMatrix<f64>) -> DMatrix<f64> {
    let (n, d, m) = (x.nrows(), net.dim(), net.width());
    let parts = chunks(m, GRAM_CHUNK);
    let dec = net.decoder();
    let g = ordered_sum(parts.len(), |c| {
        let (s, len) = parts[c];
        let a = activations(net, x, s, len);
        // B_{(i,p), r} = D_ir v_rp
        let b = DMatrix::from_fn(n * d, len, |ip, r| {
            let (i, p) = (ip / d, ip % d);
            if a[(i, r)] > 0.0 {
                dec[(p, s + r)]
            } else {
                0.0
            }
        });
        mul(1.0, &view(&b), &tr(&b))
    })
    .expect("m ≥ 1");
    let gx = x * x.transpose();
    let k2m = net.kappa * net.kappa / m as f64;
    DMatrix::from_fn(n * d, n * d, |a, b| k2m * gx[(a / d, b / d)] * g[(a, b)])
}

/// Σ_r A_ir A_jr (n × n).
fn act_gram(net: &Net, x: &DMatrix<f64>) -> DMatrix<f64> {
    let parts = chunks(net.width(), GRAM_CHUNK);
    ordered_sum(parts.len(), |c| {
        let (s, len) = parts[c];
        let a = activations(net, x, s, len);
        mul(1.0, &view(&a), &tr(&a))
    })
    .expect("m ≥ 1")
}

/// The decoder block H^V = (κ²/m) (A Aᵀ) ⊗ I_d (nd × nd).
pub fn gram_v(net: &Net, x: &DMatrix<f64>) -> DMatrix<f64> {
    let aa = act_gram(net, x) * (net.kappa * net.kappa / net.width() as f64);
    kron_identity(&aa, net.dim())
}

/// The tied Gram J Jᵀ with J from its definition (nd × nd).
pub fn gram_tied(net: &Net, x: &DMatrix<f64>) -> DMatrix<f64> {
    let (n, d, m) = (x.nrows(), net.dim(), net.width());
    let size = (JACOBIAN_ENTRIES / (n * d * d)).max(1);
    let parts = chunks(m, size);
    let sc = net.scale();
    let w_t = net.w_t();
    ordered_sum(parts.len(), |c| {
        let (s, len) = parts[c];
        let a = activations(net, x, s, len);
        // J_{(i,p),(r,q)} = (κ/√m)(δ_pq A_ir + w_rp D_ir x_iq), column r·d + q
        let j = DMatrix::from_fn(n * d, len * d, |ip, rq| {
            let (i, p) = (ip / d, ip % d);
            let (r, q) = (rq / d, rq % d);
            let air = a[(i, r)];
            let mut v = if air > 0.0 {
                w_t[(p, s + r)] * x[(i, q)]
            } else {
                0.0
            };
            if p == q {
                v += air;
            }
            sc * v
        });
        mul(1.0, &view(&j), &tr(&j))
    })
    .expect("m ≥ 1")
}

/// The finite-width Gram H of the network's regime at its current weights (nd × nd).
pub fn gram(net: &Net, x: &DMatrix<f64>) -> DMatrix<f64> {
    match net.regime {
        Regime::Weak => gram_w(net, x),
        Regime::Joint => gram_w(net, x) + gram_v(net, x),
        Regime::Tied => gram_tied(net, x),
    }
}

/// K ⊗ I_d for an n × n matrix K (nd × nd, index i·d + p).
pub fn kron_identity(k: &DMatrix<f64>, d: usize) -> DMatrix<f64> {
    let n = k.nrows();
    DMatrix::from_fn(n * d, n * d, |a, b| {
        if a % d == b % d {
            k[(a / d, b / d)]
        } else {
            0.0
        }
    })
}

/// Angle between two vectors, accurate at all angles: θ = 2 atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖).
fn angle(x: &[f64], y: &[f64], nx: f64, ny: f64) -> f64 {
    let (mut dm, mut dp) = (0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (u, v) = (a / nx, b / ny);
        dm += (u - v) * (u - v);
        dp += (u + v) * (u + v);
    }
    2.0 * dm.sqrt().atan2(dp.sqrt())
}

/// K_enc(a_i, b_j) and K_dec(a_i, b_j) for the rows of `a` (k × d) and `b` (l × d).
pub fn kernels(a: &DMatrix<f64>, b: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    use std::f64::consts::PI;
    let rows = |m: &DMatrix<f64>| -> Vec<Vec<f64>> {
        (0..m.nrows())
            .map(|i| m.row(i).iter().copied().collect())
            .collect()
    };
    let (ra, rb) = (rows(a), rows(b));
    let na: Vec<f64> = ra
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let nb: Vec<f64> = rb
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let mut ke = DMatrix::zeros(ra.len(), rb.len());
    let mut kd = DMatrix::zeros(ra.len(), rb.len());
    for i in 0..ra.len() {
        for j in 0..rb.len() {
            let th = angle(&ra[i], &rb[j], na[i], nb[j]);
            let nn = na[i] * nb[j];
            ke[(i, j)] = nn * th.cos() * (PI - th) / (2.0 * PI);
            kd[(i, j)] = nn * (th.sin() + (PI - th) * th.cos()) / (2.0 * PI);
        }
    }
    (ke, kd)
}

/// The infinite-width kernel of a regime on the training set: K_enc (weak) or
/// K_enc + K_dec (joint); `None` for tied (no NTK limit around the initialisation).
pub fn regime_kernel(
    regime: Regime,
    k_enc: &DMatrix<f64>,
    k_dec: &DMatrix<f64>,
) -> Option<DMatrix<f64>> {
    match regime {
        Regime::Weak => Some(k_enc.clone()),
        Regime::Joint => Some(k_enc + k_dec),
        Regime::Tied => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntk::data::sphere;
    use crate::ntk::linalg::sym_op_norm;
    use crate::ntk::net::{LossNorm, VLaw};
    use crate::rng::rng_for;
    use rand_distr::{Distribution, StandardNormal};

    /// Relative mismatch allowed between the symmetrised change of U under one GD step of
    /// size ±η and −η H vec R: the symmetrised difference cancels the O(η²) term, leaving
    /// O(η²) relative (≈ 1e-10 at η = 1e-5) plus rounding O(ε/η) ≈ 1e-11.
    const GRAM_STEP_TOL: f64 = 1e-8;
    /// The step: small enough that no pre-activation changes sign (checked).
    const TINY_ETA: f64 = 1e-5;

    #[test]
    fn grams_predict_the_change_of_u_under_one_gd_step() {
        let x = sphere(6, 4, &mut rng_for(11, 2));
        for regime in [Regime::Weak, Regime::Joint, Regime::Tied] {
            let net = Net::random(
                regime,
                1.3,
                40,
                4,
                VLaw::Gaussian,
                false,
                &mut rng_for(4, 1),
            )
            .unwrap();
            let h = gram(&net, &x);
            let u0 = net.outputs(&x);
            let r0 = &u0 - &x;
            let mut fwd = net.clone();
            fwd.step(&x, LossNorm::Sum, TINY_ETA);
            let mut bwd = net.clone();
            bwd.step(&x, LossNorm::Sum, -TINY_ETA);
            // same activation pattern before and after (no kink crossed)
            for n2 in [&fwd, &bwd] {
                let same =
                    (&x * net.w_t()).zip_map(&(&x * n2.w_t()), |a, b| (a > 0.0) == (b > 0.0));
                assert!(same.iter().all(|&s| s), "{regime:?}: a kink was crossed");
            }
            let du = (fwd.outputs(&x) - bwd.outputs(&x)) * 0.5;
            let rvec = nalgebra::DVector::from_iterator(
                r0.len(),
                (0..6)
                    .flat_map(|i| (0..4).map(move |p| (i, p)))
                    .map(|(i, p)| r0[(i, p)]),
            );
            let pred = &h * rvec * (-TINY_ETA);
            let mut err: f64 = 0.0;
            for i in 0..6 {
                for p in 0..4 {
                    err = err.max((du[(i, p)] - pred[i * 4 + p]).abs());
                }
            }
            let rel = err / pred.abs().max();
            assert!(rel < GRAM_STEP_TOL, "{regime:?}: {rel}");
            if regime == Regime::Weak {
                // U is exactly linear in W on a fixed activation pattern: one plain step.
                let one = fwd.outputs(&x) - &u0;
                let e1 = (0..24)
                    .map(|k| (one[(k / 4, k % 4)] - pred[k]).abs())
                    .fold(0.0, f64::max);
                assert!(
                    e1 / pred.abs().max() < GRAM_STEP_TOL,
                    "weak one-sided: {e1}"
                );
            }
        }
    }

    #[test]
    fn closed_form_kernels_match_monte_carlo() {
        // Monte Carlo over w ~ N(0, I_d): K_enc = ⟨x,y⟩ E[1{wᵀx>0}1{wᵀy>0}],
        // K_dec = E[σ(wᵀx)σ(wᵀy)], on points of unequal norms.
        const SAMPLES: usize = 200_000;
        /// Standard errors allowed (a 5σ miss has probability 6e-7 per entry).
        const K_SE: f64 = 5.0;
        let x = sphere(5, 4, &mut rng_for(8, 2));
        let x = DMatrix::from_fn(5, 4, |i, j| x[(i, j)] * (0.5 + 0.3 * i as f64));
        let (ke, kd) = kernels(&x, &x);
        let mut rng = rng_for(9, 1);
        let n = 5;
        let (mut se, mut sd) = (DMatrix::<f64>::zeros(n, n), DMatrix::<f64>::zeros(n, n));
        let (mut qe, mut qd) = (DMatrix::<f64>::zeros(n, n), DMatrix::<f64>::zeros(n, n));
        let mut z = vec![0.0; n];
        for _ in 0..SAMPLES {
            let w: Vec<f64> = (0..4).map(|_| StandardNormal.sample(&mut rng)).collect();
            for i in 0..n {
                z[i] = (0..4).map(|k| w[k] * x[(i, k)]).sum();
            }
            for i in 0..n {
                for j in 0..n {
                    let e = if z[i] > 0.0 && z[j] > 0.0 { 1.0 } else { 0.0 };
                    let dd = z[i].max(0.0) * z[j].max(0.0);
                    se[(i, j)] += e;
                    qe[(i, j)] += e * e;
                    sd[(i, j)] += dd;
                    qd[(i, j)] += dd * dd;
                }
            }
        }
        let s = SAMPLES as f64;
        for i in 0..n {
            for j in 0..n {
                let g = x.row(i).dot(&x.row(j));
                let (me, md) = (se[(i, j)] / s, sd[(i, j)] / s);
                let see = ((qe[(i, j)] / s - me * me) / s).sqrt() * g.abs();
                let sed = ((qd[(i, j)] / s - md * md) / s).sqrt();
                assert!(
                    (g * me - ke[(i, j)]).abs() <= K_SE * see + 1e-15,
                    "K_enc {i}{j}"
                );
                assert!((md - kd[(i, j)]).abs() <= K_SE * sed, "K_dec {i}{j}");
            }
        }
        // Unit norm: K(x, x) = ½ for both kernels.
        let u = sphere(3, 5, &mut rng_for(1, 2));
        let (ke, kd) = kernels(&u, &u);
        for i in 0..3 {
            assert!((ke[(i, i)] - 0.5).abs() < 1e-15 && (kd[(i, i)] - 0.5).abs() < 1e-15);
        }
    }

    #[test]
    fn tied_jacobian_gram_matches_its_expanded_form() {
        // H_tied = H^V + H^W(V = Wᵀ) + cross terms
        // C_{(i,p),(j,q)} = (κ²/m) Σ_r (A_ir D_jr w_rq x_jp + D_ir A_jr w_rp x_iq).
        let x = sphere(4, 3, &mut rng_for(3, 2));
        let net = Net::random(
            Regime::Tied,
            0.9,
            30,
            3,
            VLaw::Gaussian,
            false,
            &mut rng_for(6, 1),
        )
        .unwrap();
        let h = gram_tied(&net, &x);
        let as_joint = Net::from_weights(Regime::Joint, 0.9, &net.w(), Some(net.w_t())).unwrap();
        let mut expect = gram_w(&as_joint, &x) + gram_v(&as_joint, &x);
        let a = (&x * net.w_t()).map(|z| z.max(0.0));
        let k2m = 0.81 / 30.0;
        for i in 0..4 {
            for p in 0..3 {
                for j in 0..4 {
                    for q in 0..3 {
                        let mut c = 0.0;
                        for r in 0..30 {
                            let (dir, djr) =
                                (f64::from(a[(i, r)] > 0.0), f64::from(a[(j, r)] > 0.0));
                            c += a[(i, r)] * djr * net.w_t()[(q, r)] * x[(j, p)]
                                + dir * a[(j, r)] * net.w_t()[(p, r)] * x[(i, q)];
                        }
                        expect[(i * 3 + p, j * 3 + q)] += k2m * c;
                    }
                }
            }
        }
        assert!(sym_op_norm(&h - &expect) < 1e-12 * sym_op_norm(expect));
    }
}
