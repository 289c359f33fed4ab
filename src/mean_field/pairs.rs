//! The pair sums of the particle velocity (docs/mean-field.md §2.4), each pair once:
//!
//! ```text
//! W_p = Σ_q [ Kss_pq θ_q + γ² G_pq Kdd_pq (Σθ)_q ],     r_p = γ² Σ_q G_pq Kds_pq
//! ```
//!
//! `G = ΘΘᵀ`, `Bm = γ²ΘΣΘᵀ`, `Kss` and `Kdd` are symmetric and `Kds_qp` differs from `Kds_pq`
//! only by a per-particle factor, so only the upper block triangle is formed: row tile
//! `[r0, r0 + TILE)` (one parallel task) takes the columns `q ≥ r0`. A column chunk of `G` and `Bm` comes from two
//! small GEMMs (the `gemm` crate, one thread), its kernels are evaluated in place, and two more
//! GEMMs add `[Kss | γ²G∘Kdd]·[Θ; ΘΣ]` to the tile's rows and, off the diagonal block, the
//! transposed products to the rows `q` (kept per tile and added in tile order, so the result does
//! not depend on the thread count). The closed-form kernels (erf, ReLU, linear) run lane-wise
//! with a branch-free [`asin`], under AVX-512 or AVX2 + FMA when the CPU has them
//! ([`vectorised`]).

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::kernels::{MfKernels, RowPath, TWO_OVER_PI, ZERO_VARIANCE, Z_CLIP};
use super::particles::TILE;

/// Columns per chunk: the chunk's `G` and `Bm` blocks (2·TILE·CHUNK values) stay in L2.
const CHUNK: usize = 512;
/// Independent accumulators of a kernel row's sum (one AVX-512 register).
const LANES: usize = 8;
/// 1/(2π).
const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;

/// `π/2` split as in fdlibm: `PIO2_HI` is `π/2` rounded to double, `PIO2_LO = π/2 − PIO2_HI`.
const PIO2_HI: f64 = 1.570_796_326_794_896_558;
const PIO2_LO: f64 = 6.123_233_995_736_766_036e-17;
/// fdlibm's (FreeBSD `e_asin.c`) rational `R(t) = t·P(t)/Q(t) ≈ (asin x − x)/x³·t`, `t = x²`,
/// on `t ∈ [0, ¼]`, Remez error `< 2^−58.75` relative to the `x³` term.
const P_S: [f64; 6] = [
    1.666_666_666_666_666_574_15e-1,
    -3.255_658_186_224_009_154_05e-1,
    2.012_125_321_348_629_258_81e-1,
    -4.005_553_450_067_941_140_27e-2,
    7.915_349_942_898_145_321_76e-4,
    3.479_331_075_960_211_675_70e-5,
];
const Q_S: [f64; 4] = [
    -2.403_394_911_734_414_218_78,
    2.020_945_760_233_505_694_71,
    -6.882_839_716_054_532_930_30e-1,
    7.703_815_055_590_193_527_91e-2,
];

/// `asin x` for `x ∈ [−1, 1]`, branch-free so that a loop over it vectorises:
///
/// ```text
/// |x| ≤ ½:  asin |x| = y + y·R(t),            y = |x|,        t = x²
/// |x| > ½:  asin |x| = π/2 − 2(y + y·R(t)),   y = √t,   t = (1 − |x|)/2
/// ```
///
/// with fdlibm's rational `R` on `t ∈ [0, ¼]` in both branches; relative error ≤ 1e-15
/// (`tests::ASIN_REL_ERROR`).
/// Uses `f64::mul_add`: call it under [`vectorised`].
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let ax = x.abs();
    let big = ax > 0.5;
    let t = if big { 0.5 * (1.0 - ax) } else { ax * ax };
    let y = if big { t.sqrt() } else { ax };
    let p = t * P_S[5]
        .mul_add(t, P_S[4])
        .mul_add(t, P_S[3])
        .mul_add(t, P_S[2])
        .mul_add(t, P_S[1])
        .mul_add(t, P_S[0]);
    let q = Q_S[3]
        .mul_add(t, Q_S[2])
        .mul_add(t, Q_S[1])
        .mul_add(t, Q_S[0])
        .mul_add(t, 1.0);
    let s = y.mul_add(p / q, y);
    let v = if big {
        (-2.0f64).mul_add(s, PIO2_HI) + PIO2_LO
    } else {
        s
    };
    v.copysign(x)
}

/// Runs `f` with the wider vector instructions of the running CPU enabled: AVX-512 or AVX2,
/// each with FMA, on x86-64 when available. `f` and every kernel it calls must be
/// `#[inline(always)]` to benefit. Every multiply–add is one `f64::mul_add` (correctly
/// rounded everywhere) and every sum has a fixed order, so the results are identical on every
/// path; only the plain path of an x86-64 CPU without FMA is slow (software `fma`).
#[inline(always)]
pub fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("fma") {
            // SAFETY: the CPU supports these features (checked just above).
            return unsafe { with_avx512(f) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

/// Per-particle inputs of the lane-wise kernels: erf `(1/√(1+a), 1/(1+a))`, ReLU
/// `(a, 1/a or 0 below ZERO_VARIANCE)`, quadrature `(a, ·)`, linear none.
struct Singles {
    u: Vec<f64>,
    w: Vec<f64>,
}

impl Singles {
    fn new(path: RowPath, a: &[f64]) -> Self {
        let (u, w) = match path {
            RowPath::Erf => a
                .iter()
                .map(|&a| (1.0 / (1.0 + a).sqrt(), 1.0 / (1.0 + a)))
                .unzip(),
            RowPath::Relu => a
                .iter()
                .map(|&a| (a, if a < ZERO_VARIANCE { 0.0 } else { 1.0 / a }))
                .unzip(),
            RowPath::Linear | RowPath::Quadrature => (a.to_vec(), vec![0.0; a.len()]),
        };
        Self { u, w }
    }
}

/// One kernel row `i` over the columns of a chunk: in place `b ← Kss`, `g ← γ²G∘Kdd`;
/// `rev[q] += γ² G_iq Kds_qi`; returns `Σ_q γ² G_iq Kds_iq` (lane-wise, fixed order).
/// `f(g, b, u_q, w_q) = [Kss, γ²G·Kdd, γ²G·Kds_iq, γ²G·Kds_qi]`.
#[inline(always)]
fn row_lanes(
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
    f: impl Fn(f64, f64, f64, f64) -> [f64; 4],
) -> f64 {
    let n = g.len();
    let split = n - n % LANES;
    let mut acc = [0.0; LANES];
    let (g0, g1) = g.split_at_mut(split);
    let (b0, b1) = b[..n].split_at_mut(split);
    let (r0, r1) = rev[..n].split_at_mut(split);
    let (u0, u1) = uq[..n].split_at(split);
    let (w0, w1) = wq[..n].split_at(split);
    for ((((gc, bc), uc), wc), rc) in g0
        .chunks_exact_mut(LANES)
        .zip(b0.chunks_exact_mut(LANES))
        .zip(u0.chunks_exact(LANES))
        .zip(w0.chunks_exact(LANES))
        .zip(r0.chunks_exact_mut(LANES))
    {
        for l in 0..LANES {
            let [ss, dd, fwd, back] = f(gc[l], bc[l], uc[l], wc[l]);
            bc[l] = ss;
            gc[l] = dd;
            acc[l] += fwd;
            rc[l] += back;
        }
    }
    let mut tail = 0.0;
    for ((((gv, bv), &u), &w), rv) in g1.iter_mut().zip(b1).zip(u1).zip(w1).zip(r1) {
        let [ss, dd, fwd, back] = f(*gv, *bv, u, w);
        *bv = ss;
        *gv = dd;
        tail += fwd;
        *rv += back;
    }
    // Pairwise over the lanes, then the tail: a fixed order.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + tail
}

/// Kernel row `i` (particle inputs `ui`, `wi`, `ai`) of a chunk, see [`row_lanes`]. Closed forms
/// (docs/mean-field.md §2.2) lane-wise; quadrature per pair with both `Kds` in one pass.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn kernel_row(
    kernels: &MfKernels,
    path: RowPath,
    g2: f64,
    (ui, wi): (f64, f64),
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
) -> f64 {
    match path {
        // z = b/√((1+a)(1+a')), c = √(1−z²): Kss = (2/π) asin z, Kdd = (2/π)/(√(..)·c),
        // Kds_iq = −(2/π) z/((1+a_i) c).
        RowPath::Erf => row_lanes(g, b, uq, wq, rev, |g, b, uq, wq| {
            let gg = g2 * g;
            let rr = ui * uq;
            let z = (b * rr).clamp(-Z_CLIP, Z_CLIP);
            let ic = 1.0 / ((1.0 - z) * (1.0 + z)).sqrt();
            let ds = -TWO_OVER_PI * z * ic * gg;
            [
                TWO_OVER_PI * asin(z),
                TWO_OVER_PI * rr * ic * gg,
                ds * wi,
                ds * wq,
            ]
        }),
        // q = clip(b/√(aa'), ±1), π − arccos q = π/2 + asin q, w = √max(aa' − b², 0):
        // Kss = (w + b(π − φ))/(2π), Kdd = (π − φ)/(2π), Kds_iq = w/(2π a_i).
        RowPath::Relu => row_lanes(g, b, uq, wq, rev, |g, b, aq, iaq| {
            let gg = g2 * g;
            let aa = ui * aq;
            let q = if aa > 0.0 {
                (b / aa.sqrt()).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let pi_phi = std::f64::consts::FRAC_PI_2 + asin(q);
            let w = (aa - b * b).max(0.0).sqrt();
            let wg = w * FRAC_1_2PI * gg;
            [
                (w + b * pi_phi) * FRAC_1_2PI,
                pi_phi * FRAC_1_2PI * gg,
                wg * wi,
                wg * iaq,
            ]
        }),
        RowPath::Linear => row_lanes(g, b, uq, wq, rev, |g, b, _, _| [b, g2 * g, 0.0, 0.0]),
        RowPath::Quadrature => {
            let mut fwd = 0.0;
            for (((gv, bv), &aq), rv) in g.iter_mut().zip(b.iter_mut()).zip(uq).zip(rev) {
                let (k, ds_back) = kernels.pair_both(ui, aq, *bv);
                let gg = g2 * *gv;
                *bv = k.ss;
                *gv = gg * k.dd;
                fwd += gg * k.ds;
                *rv += gg * ds_back;
            }
            fwd
        }
    }
}

/// A strided read-only matrix in a slice: element `(i, j)` at `off + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f64],
    off: usize,
    rs: usize,
    cs: usize,
}

/// `dst ← [dst if acc] + β·lhs·rhs` for `dst` m×n (`dst_at = (off, rs, cs)` in `dst`), `lhs`
/// m×k, `rhs` k×n: the `gemm` crate on this thread. Panics if a view leaves its slice.
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f64],
    (off, rs, cs): (usize, usize, usize),
    acc: bool,
    lhs: View,
    rhs: View,
    beta: f64,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let last =
        |off: usize, rs: usize, cs: usize, r: usize, c: usize| off + (r - 1) * rs + (c - 1) * cs;
    assert!(last(off, rs, cs, m, n) < dst.len());
    assert!(last(lhs.off, lhs.rs, lhs.cs, m, k) < lhs.data.len());
    assert!(last(rhs.off, rhs.rs, rhs.cs, k, n) < rhs.data.len());
    // SAFETY: every element the views address lies in its slice (checked above), `dst` is
    // borrowed mutably and does not alias the shared `lhs`/`rhs`; no threads are spawned.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(off),
            cs as isize,
            rs as isize,
            acc,
            lhs.data.as_ptr().add(lhs.off),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr().add(rhs.off),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The sums of one row tile over the columns `q ≥ r0`.
struct TileSums {
    /// `Σ_{q ≥ r0} [Kss θ_q + γ²G Kdd (Σθ)_q]` for the tile's rows (len×d, column-major).
    rows: Vec<f64>,
    /// `γ² Σ_{q ≥ r0} G_pq Kds_pq` for the tile's rows.
    rds: Vec<f64>,
    /// The transposed sums `Σ_{p in tile} [Kss θ_p + γ²G Kdd (Σθ)_p]` for the rows
    /// `q ≥ r0 + len` ((P − r0 − len)×d, column-major).
    cols: Vec<f64>,
    /// `γ² Σ_{p in tile} G_pq Kds_qp` for the rows `q ≥ r0 + len`.
    cds: Vec<f64>,
}

/// The inputs shared by the tiles.
struct Inputs<'a> {
    kernels: &'a MfKernels,
    path: RowPath,
    g2: f64,
    theta: &'a [f64],
    s: &'a [f64],
    a: &'a [f64],
    singles: Singles,
    p: usize,
    d: usize,
}

impl Inputs<'_> {
    /// Row tile `t`: its diagonal block, then the chunks of the columns to its right.
    fn tile(&self, t: usize) -> TileSums {
        let (p, d) = (self.p, self.d);
        let r0 = t * TILE;
        let len = TILE.min(p - r0);
        let right = r0 + len;
        let width = p - right;
        let mut sums = TileSums {
            rows: vec![0.0; len * d],
            rds: vec![0.0; len],
            cols: vec![0.0; width * d],
            cds: vec![0.0; width],
        };
        let mut g = vec![0.0; len * CHUNK.max(len)];
        let mut b = vec![0.0; len * CHUNK.max(len)];
        let mut scratch = vec![0.0; len];
        let theta_rows = |off| View {
            data: self.theta,
            off,
            rs: 1,
            cs: p,
        };
        let s_rows = |off| View {
            data: self.s,
            off,
            rs: 1,
            cs: p,
        };
        let chunks = std::iter::once((r0, len))
            .chain((right..p).step_by(CHUNK).map(|c| (c, CHUNK.min(p - c))));
        for (c0, cw) in chunks {
            let diagonal = c0 == r0;
            let (g, b) = (&mut g[..len * cw], &mut b[..len * cw]);
            // G = Θ_t Θ_cᵀ, Bm = γ² (ΘΣ)_t Θ_cᵀ, row-major len×cw.
            let theta_t = View {
                data: self.theta,
                off: c0,
                rs: p,
                cs: 1,
            };
            matmul(
                (len, cw, d),
                g,
                (0, cw, 1),
                false,
                theta_rows(r0),
                theta_t,
                1.0,
            );
            matmul(
                (len, cw, d),
                b,
                (0, cw, 1),
                false,
                s_rows(r0),
                theta_t,
                self.g2,
            );
            if diagonal {
                // b_pp = a_p exactly (the same rounding as a_p itself).
                for i in 0..len {
                    b[i * cw + i] = self.a[r0 + i];
                }
            }
            let rev = if diagonal {
                &mut scratch[..]
            } else {
                &mut sums.cds[c0 - right..c0 - right + cw]
            };
            let (uq, wq) = (&self.singles.u[c0..c0 + cw], &self.singles.w[c0..c0 + cw]);
            for i in 0..len {
                let ui = (self.singles.u[r0 + i], self.singles.w[r0 + i]);
                let row = i * cw..(i + 1) * cw;
                let (gr, br) = (&mut g[row.clone()], &mut b[row]);
                sums.rds[i] += vectorised(|| {
                    kernel_row(self.kernels, self.path, self.g2, ui, gr, br, uq, wq, rev)
                });
            }
            // rows += Kss·Θ_c + (γ²G∘Kdd)·(ΘΣ)_c
            let kss = View {
                data: b,
                off: 0,
                rs: cw,
                cs: 1,
            };
            let kdd = View { data: g, ..kss };
            let at = (0, 1, len);
            matmul(
                (len, d, cw),
                &mut sums.rows,
                at,
                true,
                kss,
                theta_rows(c0),
                1.0,
            );
            matmul((len, d, cw), &mut sums.rows, at, true, kdd, s_rows(c0), 1.0);
            if !diagonal {
                // cols[c] += Kssᵀ·Θ_t + (γ²G∘Kdd)ᵀ·(ΘΣ)_t
                let (kss_t, kdd_t) = (
                    View {
                        rs: 1,
                        cs: cw,
                        ..kss
                    },
                    View {
                        rs: 1,
                        cs: cw,
                        ..kdd
                    },
                );
                let at = (c0 - right, 1, width);
                matmul(
                    (cw, d, len),
                    &mut sums.cols,
                    at,
                    true,
                    kss_t,
                    theta_rows(r0),
                    1.0,
                );
                matmul(
                    (cw, d, len),
                    &mut sums.cols,
                    at,
                    true,
                    kdd_t,
                    s_rows(r0),
                    1.0,
                );
            }
        }
        sums
    }
}

/// The pair sums `(W, r)` of all particles (module docs): `W` P×d, `r` of length P. `theta`
/// holds Θ, `s` ΘΣ, `a` the variances `a_p = γ²θ_pᵀΣθ_p`.
pub fn pair_sums(
    kernels: &MfKernels,
    g2: f64,
    theta: &DMatrix<f64>,
    s: &DMatrix<f64>,
    a: &[f64],
) -> (DMatrix<f64>, Vec<f64>) {
    let (p, d) = theta.shape();
    let path = kernels.row_path();
    let inputs = Inputs {
        kernels,
        path,
        g2,
        theta: theta.as_slice(),
        s: s.as_slice(),
        a,
        singles: Singles::new(path, a),
        p,
        d,
    };
    let tiles = p.div_ceil(TILE);
    let sums: Vec<TileSums> = (0..tiles).into_par_iter().map(|t| inputs.tile(t)).collect();
    // Row tile t: its own sums, then the transposed sums of the tiles above it, in tile order.
    let blocks: Vec<(Vec<f64>, Vec<f64>)> = (0..tiles)
        .into_par_iter()
        .map(|t| {
            let r0 = t * TILE;
            let len = sums[t].rds.len();
            let (mut rows, mut rds) = (sums[t].rows.clone(), sums[t].rds.clone());
            for (u, above) in sums[..t].iter().enumerate() {
                let right = (u * TILE + TILE).min(p);
                let (off, width) = (r0 - right, p - right);
                for j in 0..d {
                    let src = &above.cols[j * width + off..j * width + off + len];
                    for (o, v) in rows[j * len..(j + 1) * len].iter_mut().zip(src) {
                        *o += v;
                    }
                }
                for (o, v) in rds.iter_mut().zip(&above.cds[off..off + len]) {
                    *o += v;
                }
            }
            (rows, rds)
        })
        .collect();
    let mut w = DMatrix::zeros(p, d);
    let mut r = Vec::with_capacity(p);
    for (t, (rows, rds)) in blocks.into_iter().enumerate() {
        let len = rds.len();
        w.rows_mut(t * TILE, len)
            .copy_from(&DMatrix::from_column_slice(len, d, &rows));
        r.extend(rds);
    }
    (w, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Largest relative error of [`asin`] against the correctly rounded arcsine on `[−1, 1]`,
    /// 1e-15 (≈ 4.5 ulp): the rational's Remez error (`2^−58.75` of the `x³` term) and a few
    /// roundings, the largest in the reflected branch `π/2 − 2 asin √((1−|x|)/2)` for
    /// `|x| ∈ (½, 1]`, where `2 asin √t ≤ π/3` loses up to one bit against `π/2` at `|x| = ½`
    /// (fdlibm's extra-precise split of that branch is left out to stay branch-free). Checked
    /// against `libm` on a dense grid, the endpoints and random points.
    const ASIN_REL_ERROR: f64 = 1e-15;

    /// Relative error of `asin` at `x` against `libm` (the C library's correctly rounded or
    /// ≤ 1 ulp arcsine); absolute at 0.
    fn asin_error(x: f64) -> f64 {
        let (got, want) = (vectorised(|| asin(x)), libm::asin(x));
        if want == 0.0 {
            got.abs()
        } else {
            ((got - want) / want).abs()
        }
    }

    #[test]
    fn asin_matches_libm_on_the_whole_domain() {
        const GRID: usize = 2_000_000;
        let mut worst = (0.0, 0.0);
        let mut check = |x: f64| {
            let e = asin_error(x);
            if e > worst.0 {
                worst = (e, x);
            }
        };
        for i in 0..=GRID {
            check(-1.0 + 2.0 * i as f64 / GRID as f64);
        }
        // endpoints, the branch switch at ½, their neighbours, tiny and subnormal arguments
        for x in [1.0f64, 0.5, 0.975, 1e-8, 1e-300, 5e-324, 0.0] {
            for y in [x, x.next_up(), x.next_down()] {
                if y.abs() <= 1.0 {
                    check(y);
                    check(-y);
                }
            }
        }
        let mut rng = crate::rng::rng_for(5, 0);
        for _ in 0..1_000_000 {
            check(rng.random_range(-1.0..=1.0));
            check(rng.random_range(0.97..=1.0));
        }
        assert!(
            worst.0 <= ASIN_REL_ERROR,
            "asin({}) off by {:e}",
            worst.1,
            worst.0
        );
        assert_eq!(vectorised(|| asin(1.0)), std::f64::consts::FRAC_PI_2);
        assert_eq!(vectorised(|| asin(-1.0)), -std::f64::consts::FRAC_PI_2);
        assert_eq!(vectorised(|| asin(-0.0)).to_bits(), (-0.0f64).to_bits());
        eprintln!("asin: max relative error {:e} at {}", worst.0, worst.1);
    }
}
