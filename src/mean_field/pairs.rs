//! The pair sums of the particle velocity (docs/mean-field.md §2.4), each pair once:
//!
//! ```text
//! W_p = Σ_q [ Kss_pq θ_q + γ² G_pq Kdd_pq (Σθ)_q ],     r_p = γ² Σ_q G_pq Kds_pq
//! ```
//!
//! `G = ΘΘᵀ`, `Bm = γ²ΘΣΘᵀ`, `Kss` and `Kdd` are symmetric and `Kds_qp` differs from `Kds_pq`
//! only by a per-particle factor, so only the upper block triangle is formed: row tile
//! `[r0, r0 + TILE)` (one parallel task) takes the columns `q ≥ r0`. A column chunk of `G` and
//! `Bm` comes from small GEMMs (the `gemm` crate, one thread), its kernels are evaluated in
//! place, and more GEMMs add `(Kss + κ*H)·Θ + H·E` (`H = γ²G∘Kdd`, `E = Θ(Σ − κ*)` with the
//! reference eigenvalue κ*, see [`pair_sums`]) to the tile's rows and, off the diagonal block,
//! the transposed products to the rows `q` (added in tile order as the tiles finish,
//! [`InOrder`], so the result does not depend on the thread count). The blocks are
//! column-major and the sums particle-major, so that the products read the kernel blocks in
//! place ([`Inputs::tile`]). The closed-form kernels (erf, ReLU, linear)
//! run lane-wise with a branch-free [`asin`], under AVX-512 or AVX2 + FMA when the CPU has
//! them ([`vectorised`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::kernels::{MfKernels, RowPath, TWO_OVER_PI, ZERO_VARIANCE, Z_CLIP};
use super::particles::TILE;

/// Columns per chunk: the chunk's `G` and `Bm` blocks (2·TILE·CHUNK values) stay in L2.
const CHUNK: usize = 256;
/// Independent accumulators of a kernel row's sum (one AVX-512 register).
const LANES: usize = 8;
/// 1/(2π).
const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;

/// `π/2` split as in fdlibm: `PIO2_HI` is `π/2` rounded to double, `PIO2_LO = π/2 − PIO2_HI`.
const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_LO: f64 = f64::from_bits(0x3C91_A626_3314_5C07);
/// fdlibm's (FreeBSD `e_asin.c`, bit patterns as there) rational `R(t) = t·P(t)/Q(t) ≈
/// (asin x − x)/x³·t`, `t = x²`, on `t ∈ [0, ¼]`, Remez error `< 2^−58.75` relative to the `x³`
/// term.
const P_S: [f64; 6] = [
    f64::from_bits(0x3FC5_5555_5555_5555),
    f64::from_bits(0xBFD4_D612_03EB_6F7D),
    f64::from_bits(0x3FC9_C155_0E88_4455),
    f64::from_bits(0xBFA4_8228_B568_8F3B),
    f64::from_bits(0x3F49_EFE0_7501_B288),
    f64::from_bits(0x3F02_3DE1_0DFD_F709),
];
const Q_S: [f64; 4] = [
    f64::from_bits(0xC003_3A27_1C8A_2D4B),
    f64::from_bits(0x4000_2AE5_9C59_8AC8),
    f64::from_bits(0xBFE6_066C_1B8D_0159),
    f64::from_bits(0x3FB3_B8C5_B12E_9282),
];

/// `asin x` for `x ∈ [−1, 1]` on every lane, branch-free:
///
/// ```text
/// |x| ≤ ½:  asin |x| = y + y·R(t),            y = |x|,        t = x²
/// |x| > ½:  asin |x| = π/2 − 2(y + y·R(t)),   y = √t,   t = (1 − |x|)/2
/// ```
///
/// with fdlibm's rational `R` on `t ∈ [0, ¼]` in both branches; relative error ≤ 1e-15
/// (`tests::ASIN_REL_ERROR`). The same operations on one lane ([`f64`]) and on eight, but for
/// the reciprocal `1/Q` ([`Lane::recip`], Newton on eight lanes): the two agree to a few ulp.
///
/// When no lane exceeds ½ (small correlations, the common case) the reflected branch and its
/// square root are skipped: the same bits, since every lane takes the first branch anyway.
#[inline(always)]
fn asin<L: Lane>(x: L) -> L {
    /// `y + y·R(t)`, fdlibm's rational on `t ∈ [0, ¼]` (a function, not a closure: it must
    /// inline into the caller's target features).
    #[inline(always)]
    fn rational<L: Lane>(t: L, y: L) -> L {
        let horner = |c: &[f64]| {
            c.iter()
                .rev()
                .skip(1)
                .fold(L::splat(c[c.len() - 1]), |h, &ci| {
                    h.mul_add(t, L::splat(ci))
                })
        };
        let p = t * horner(&P_S);
        let q = horner(&Q_S).mul_add(t, L::splat(1.0));
        y.mul_add(p * q.recip(), y)
    }
    let ax = x.abs();
    let half = L::splat(0.5);
    if !ax.any_gt(half) {
        return rational(ax * ax, ax).with_sign_of(x);
    }
    let t = ax.gt_select(half, half * (L::splat(1.0) - ax), ax * ax);
    let y = ax.gt_select(half, t.sqrt(), ax);
    let s = rational(t, y);
    let big = L::splat(-2.0).mul_add(s, L::splat(PIO2_HI)) + L::splat(PIO2_LO);
    ax.gt_select(half, big, s).with_sign_of(x)
}

/// Lane-wise `f64` arithmetic: one lane ([`f64`]) or eight (`F64x8`, AVX-512). Every operation
/// is correctly rounded (`mul_add` is one fused multiply–add), so a formula written once over
/// `Lane` gives the same bits on every width. Uses `f64::mul_add`: run under [`vectorised`].
trait Lane:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn splat(x: f64) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `c − self·a`, one fused operation.
    fn mul_sub_from(self, a: Self, c: f64) -> Self;
    fn sqrt(self) -> Self;
    /// `1/self`: correctly rounded on one lane; on eight, `vrcp14pd` and two Newton steps
    /// (relative error ≤ `tests::WIDE_RECIPROCAL_ERROR`), which spares the row its divisions.
    fn recip(self) -> Self;
    /// `1/√self` for `self > 0`, as [`Lane::recip`] (`vrsqrt14pd` and two Newton steps).
    fn rsqrt(self) -> Self;
    fn abs(self) -> Self;
    /// `clamp(self, lo, hi)` for non-NaN `self`.
    fn clamp(self, lo: f64, hi: f64) -> Self;
    /// `max(self, 0)` for non-NaN `self`.
    fn max0(self) -> Self;
    /// `if self > other { x } else { y }`.
    fn gt_select(self, other: Self, x: Self, y: Self) -> Self;
    /// Some lane of `self` exceeds its lane of `other`.
    fn any_gt(self, other: Self) -> bool;
    /// `self` (≥ +0) with the sign of `x`.
    fn with_sign_of(self, x: Self) -> Self;
}

impl Lane for f64 {
    #[inline(always)]
    fn splat(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    #[inline(always)]
    fn mul_sub_from(self, a: Self, c: f64) -> Self {
        f64::mul_add(-self, a, c)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn recip(self) -> Self {
        1.0 / self
    }
    #[inline(always)]
    fn rsqrt(self) -> Self {
        1.0 / f64::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn clamp(self, lo: f64, hi: f64) -> Self {
        f64::clamp(self, lo, hi)
    }
    #[inline(always)]
    fn max0(self) -> Self {
        f64::max(self, 0.0)
    }
    #[inline(always)]
    fn gt_select(self, other: Self, x: Self, y: Self) -> Self {
        if self > other {
            x
        } else {
            y
        }
    }
    #[inline(always)]
    fn any_gt(self, other: Self) -> bool {
        self > other
    }
    #[inline(always)]
    fn with_sign_of(self, x: Self) -> Self {
        self.copysign(x)
    }
}

#[cfg(target_arch = "x86_64")]
mod wide {
    //! Eight `f64` lanes in an AVX-512 register; every method is `#[inline(always)]` and only
    //! runs inside [`row_avx512`] (AVX-512F + FMA enabled, checked at run time).
    use std::arch::x86_64::*;
    use std::ops::{Add, Div, Mul, Sub};

    use super::{Formula, Lane, LANES};

    #[derive(Clone, Copy)]
    pub struct F64x8(__m512d);

    macro_rules! binary {
        ($tr:ident, $f:ident, $intr:ident) => {
            impl $tr for F64x8 {
                type Output = Self;
                #[inline(always)]
                fn $f(self, o: Self) -> Self {
                    // SAFETY: only reached with AVX-512F enabled (module docs).
                    Self(unsafe { $intr(self.0, o.0) })
                }
            }
        };
    }
    binary!(Add, add, _mm512_add_pd);
    binary!(Sub, sub, _mm512_sub_pd);
    binary!(Mul, mul, _mm512_mul_pd);
    binary!(Div, div, _mm512_div_pd);

    // SAFETY (every `unsafe` below): only reached with AVX-512F enabled (module docs).
    impl Lane for F64x8 {
        #[inline(always)]
        fn splat(x: f64) -> Self {
            Self(unsafe { _mm512_set1_pd(x) })
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            Self(unsafe { _mm512_fmadd_pd(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn mul_sub_from(self, a: Self, c: f64) -> Self {
            Self(unsafe { _mm512_fnmadd_pd(self.0, a.0, _mm512_set1_pd(c)) })
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            Self(unsafe { _mm512_sqrt_pd(self.0) })
        }
        #[inline(always)]
        fn recip(self) -> Self {
            Self(unsafe { crate::simd::recip_avx512(self.0) })
        }
        #[inline(always)]
        fn rsqrt(self) -> Self {
            unsafe {
                let half_x = _mm512_mul_pd(_mm512_set1_pd(0.5), self.0);
                let mut y = _mm512_rsqrt14_pd(self.0);
                for _ in 0..2 {
                    // y ← y + y(½ − ½x y²): the error squares
                    let h = _mm512_fnmadd_pd(_mm512_mul_pd(half_x, y), y, _mm512_set1_pd(0.5));
                    y = _mm512_fmadd_pd(y, h, y);
                }
                Self(y)
            }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            Self(unsafe { _mm512_abs_pd(self.0) })
        }
        #[inline(always)]
        fn clamp(self, lo: f64, hi: f64) -> Self {
            unsafe {
                Self(_mm512_min_pd(
                    _mm512_max_pd(self.0, _mm512_set1_pd(lo)),
                    _mm512_set1_pd(hi),
                ))
            }
        }
        #[inline(always)]
        fn max0(self) -> Self {
            Self(unsafe { _mm512_max_pd(self.0, _mm512_setzero_pd()) })
        }
        #[inline(always)]
        fn gt_select(self, other: Self, x: Self, y: Self) -> Self {
            unsafe {
                let m = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, other.0);
                Self(_mm512_mask_blend_pd(m, y.0, x.0))
            }
        }
        #[inline(always)]
        fn any_gt(self, other: Self) -> bool {
            unsafe { _mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, other.0) != 0 }
        }
        #[inline(always)]
        fn with_sign_of(self, x: Self) -> Self {
            unsafe {
                let sign = _mm512_and_si512(_mm512_castpd_si512(x.0), _mm512_set1_epi64(i64::MIN));
                Self(_mm512_castsi512_pd(_mm512_or_si512(
                    _mm512_castpd_si512(self.0),
                    sign,
                )))
            }
        }
    }

    /// [`Lane::recip`] and [`Lane::rsqrt`] on eight lanes (tests).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA.
    #[cfg(test)]
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn recip_rsqrt8(x: [f64; 8]) -> ([f64; 8], [f64; 8]) {
        let (mut r, mut q) = ([0.0; 8], [0.0; 8]);
        // SAFETY: the arrays hold eight f64.
        unsafe {
            let v = F64x8(_mm512_loadu_pd(x.as_ptr()));
            _mm512_storeu_pd(r.as_mut_ptr(), v.recip().0);
            _mm512_storeu_pd(q.as_mut_ptr(), v.rsqrt().0);
        }
        (r, q)
    }

    /// `asin` on eight lanes (tests).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA.
    #[cfg(test)]
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn asin8(x: [f64; 8]) -> [f64; 8] {
        let mut out = [0.0; 8];
        // SAFETY: both arrays hold eight f64.
        unsafe {
            let y = super::asin(F64x8(_mm512_loadu_pd(x.as_ptr())));
            _mm512_storeu_pd(out.as_mut_ptr(), y.0);
        }
        out
    }

    /// [`super::energy_lanes`] eight lanes at a time (the same lanes and order); the tail on
    /// one lane.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn energy_avx512<F: Formula>(
        f: &F,
        g: &[f64],
        b: &[f64],
        uq: &[f64],
        wq: &[f64],
    ) -> f64 {
        let n = g.len();
        assert!(b.len() == n && uq.len() == n && wq.len() == n);
        let split = n - n % LANES;
        let mut acc = _mm512_setzero_pd();
        for c in (0..split).step_by(LANES) {
            // SAFETY: c + LANES ≤ n, the length of every slice (asserted above).
            unsafe {
                let ld = |s: &[f64]| F64x8(_mm512_loadu_pd(s.as_ptr().add(c)));
                let gl = ld(g);
                let bl = gl.mul_add(F64x8::splat(f.chunk().bm_g), ld(b));
                let [ss, ..] = f.eval(gl, bl, ld(uq), ld(wq));
                acc = _mm512_fmadd_pd(gl.0, ss.0, acc);
            }
        }
        let mut lanes = [0.0; LANES];
        // SAFETY: `lanes` holds eight f64.
        unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
        super::lane_sum(lanes)
            + super::energy_lanes(f, &g[split..], &b[split..], &uq[split..], &wq[split..])
    }

    /// [`super::row_lanes`] eight lanes at a time: the same lanes and operations (up to the
    /// Newton reciprocals, [`Lane::recip`]); the tail (fewer than eight columns) on one lane.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn row_avx512<F: Formula>(
        f: &F,
        g: &mut [f64],
        b: &mut [f64],
        uq: &[f64],
        wq: &[f64],
        rev: &mut [f64],
    ) -> f64 {
        let n = g.len();
        assert!(b.len() == n && uq.len() == n && wq.len() == n && rev.len() == n);
        let split = n - n % LANES;
        let mut acc = _mm512_setzero_pd();
        let k = _mm512_set1_pd(f.chunk().kstar);
        for c in (0..split).step_by(LANES) {
            // SAFETY: c + LANES ≤ n, the length of every slice (asserted above).
            unsafe {
                let ld = |s: &[f64]| F64x8(_mm512_loadu_pd(s.as_ptr().add(c)));
                let gl = ld(g);
                let bl = gl.mul_add(F64x8::splat(f.chunk().bm_g), ld(b));
                let [ss, dd, fwd, back] = f.eval(gl, bl, ld(uq), ld(wq));
                _mm512_storeu_pd(b.as_mut_ptr().add(c), _mm512_fmadd_pd(k, dd.0, ss.0));
                _mm512_storeu_pd(g.as_mut_ptr().add(c), dd.0);
                acc = _mm512_add_pd(acc, fwd.0);
                let r = rev.as_mut_ptr().add(c);
                _mm512_storeu_pd(r, _mm512_add_pd(_mm512_loadu_pd(r), back.0));
            }
        }
        let mut lanes = [0.0; LANES];
        // SAFETY: `lanes` holds eight f64.
        unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
        super::finish_row(
            f,
            lanes,
            &mut g[split..],
            &mut b[split..],
            &uq[split..],
            &wq[split..],
            &mut rev[split..],
        )
    }
}

/// The pair formula of a kernel row: `eval(g, b, u_q, w_q) = [Kss, γ²G·Kdd, γ²G·Kds_iq,
/// γ²G·Kds_qi]` lane-wise (row particle `i` fixed); `kstar` the reference eigenvalue κ*
/// ([`pair_sums`]).
///
/// The chunk's `b` holds `Bm − c·G` with `c = bm_g()` (0 on the diagonal block, where `Bm`
/// is formed whole): the row adds `c·G` back lane by lane instead of in a pass of its own.
trait Formula {
    fn eval<L: Lane>(&self, g: L, b: L, uq: L, wq: L) -> [L; 4];
    fn chunk(&self) -> &Chunk;
}

/// The constants of a chunk's kernel rows: γ², the reference eigenvalue κ* and the factor
/// `bm_g` of `G` still to be added to `b` (see [`Formula`]).
#[derive(Clone, Copy)]
struct Chunk {
    g2: f64,
    kstar: f64,
    bm_g: f64,
}

/// erf (docs/mean-field.md §2.2): `z = b/√((1+a)(1+a'))`, `c = √(1−z²)`; `Kss = (2/π) asin z`,
/// `Kdd = (2/π)/(√((1+a)(1+a'))·c)`, `Kds_iq = −(2/π) z/((1+a_i) c)`. `u = 1/√(1+a)`,
/// `w = −1/(1+a)` (the sign of `Kds` folded in). `1 − z²` is one fused `1 − z·z`, correctly
/// rounded, and `γ²G·(2/π)/c` is shared by the three kernels that have it.
struct Erf {
    c: Chunk,
    ui: f64,
    wi: f64,
}

impl Formula for Erf {
    #[inline(always)]
    fn chunk(&self) -> &Chunk {
        &self.c
    }
    #[inline(always)]
    fn eval<L: Lane>(&self, g: L, b: L, uq: L, wq: L) -> [L; 4] {
        let rr = L::splat(self.ui) * uq;
        let z = (b * rr).clamp(-Z_CLIP, Z_CLIP);
        let gc = (L::splat(TWO_OVER_PI * self.c.g2) * g) * z.mul_sub_from(z, 1.0).rsqrt();
        let zgc = z * gc;
        [
            L::splat(TWO_OVER_PI) * asin(z),
            rr * gc,
            zgc * L::splat(self.wi),
            zgc * wq,
        ]
    }
}

/// ReLU (§2.2): `q = clip(b/√(aa'), ±1)` (0 if `aa' = 0`), `π − arccos q = π/2 + asin q`,
/// `w = √max(aa' − b², 0)`; `Kss = (w + b(π − φ))/(2π)`, `Kdd = (π − φ)/(2π)`,
/// `Kds_iq = w/(2π a_i)`. `u = a`, `w = 1/a` (0 below ZERO_VARIANCE).
struct Relu {
    c: Chunk,
    ai: f64,
    iai: f64,
}

impl Formula for Relu {
    #[inline(always)]
    fn chunk(&self) -> &Chunk {
        &self.c
    }
    #[inline(always)]
    fn eval<L: Lane>(&self, g: L, b: L, aq: L, iaq: L) -> [L; 4] {
        let gg = L::splat(self.c.g2) * g;
        let aa = L::splat(self.ai) * aq;
        let zero = L::splat(0.0);
        let q = aa.gt_select(zero, (b / aa.sqrt()).clamp(-1.0, 1.0), zero);
        let pi_phi = L::splat(std::f64::consts::FRAC_PI_2) + asin(q);
        let w = (aa - b * b).max0().sqrt();
        let frac = L::splat(FRAC_1_2PI);
        let wg = w * frac * gg;
        [
            (w + b * pi_phi) * frac,
            pi_phi * frac * gg,
            wg * L::splat(self.iai),
            wg * iaq,
        ]
    }
}

/// Linear (§2.2): `Kss = b`, `Kdd = 1`, `Kds = 0`.
struct Linear {
    c: Chunk,
}

impl Formula for Linear {
    #[inline(always)]
    fn chunk(&self) -> &Chunk {
        &self.c
    }
    #[inline(always)]
    fn eval<L: Lane>(&self, g: L, b: L, _: L, _: L) -> [L; 4] {
        let zero = L::splat(0.0);
        [b, L::splat(self.c.g2) * g, zero, zero]
    }
}

use crate::simd::{has_avx512_fma, vectorised};

/// Per-particle inputs of the lane-wise kernels: erf `(1/√(1+a), −1/(1+a))`, ReLU
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
                .map(|&a| (1.0 / (1.0 + a).sqrt(), -1.0 / (1.0 + a)))
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

/// One kernel row: particle `i` fixed against the particles `q` in the lanes. (In the
/// column-major blocks of [`Inputs::tile`] `i` is a particle of the chunk and the `q` those of
/// the tile: a row here is a column of the block.) In place `g ← H = γ²G∘Kdd`,
/// `b ← Kss + κ*·H` (κ* the reference eigenvalue, see [`pair_sums`]);
/// `rev[q] += γ² G_iq Kds_qi`; returns `Σ_q γ² G_iq Kds_iq`, summed in [`LANES`] lanes (column
/// `q` in lane `q mod LANES`), then pairwise, then the tail: a fixed order.
#[inline(always)]
fn row_lanes<F: Formula>(
    f: &F,
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
) -> f64 {
    let n = g.len();
    let split = n - n % LANES;
    let mut acc = [0.0; LANES];
    for ((((gc, bc), uc), wc), rc) in g[..split]
        .chunks_exact_mut(LANES)
        .zip(b[..split].chunks_exact_mut(LANES))
        .zip(uq[..split].chunks_exact(LANES))
        .zip(wq[..split].chunks_exact(LANES))
        .zip(rev[..split].chunks_exact_mut(LANES))
    {
        for l in 0..LANES {
            let bl = gc[l].mul_add(f.chunk().bm_g, bc[l]);
            let [ss, dd, fwd, back] = f.eval(gc[l], bl, uc[l], wc[l]);
            bc[l] = f.chunk().kstar.mul_add(dd, ss);
            gc[l] = dd;
            acc[l] += fwd;
            rc[l] += back;
        }
    }
    finish_row(
        f,
        acc,
        &mut g[split..],
        &mut b[split..],
        &uq[split..n],
        &wq[split..n],
        &mut rev[split..n],
    )
}

/// The tail of [`row_lanes`] (fewer than [`LANES`] columns) and the lanes' fixed-order sum.
#[inline(always)]
fn finish_row<F: Formula>(
    f: &F,
    acc: [f64; LANES],
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
) -> f64 {
    let mut tail = 0.0;
    for ((((gv, bv), &u), &w), rv) in g.iter_mut().zip(b).zip(uq).zip(wq).zip(rev) {
        let bl = gv.mul_add(f.chunk().bm_g, *bv);
        let [ss, dd, fwd, back] = f.eval(*gv, bl, u, w);
        *bv = f.chunk().kstar.mul_add(dd, ss);
        *gv = dd;
        tail += fwd;
        *rv += back;
    }
    lane_sum(acc) + tail
}

/// [`row_lanes`] on eight lanes at a time when `wide` (AVX-512F + FMA present), else on one
/// (the caller runs it under [`vectorised`]); the same bits either way.
#[inline(always)]
fn row<F: Formula>(
    wide: bool,
    f: &F,
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is set only when the CPU has AVX-512F and FMA (`Inputs::wide`).
        return unsafe { wide::row_avx512(f, g, b, uq, wq, rev) };
    }
    let _ = wide;
    row_lanes(f, g, b, uq, wq, rev)
}

/// Kernel row `i` (particle inputs `(u_i, w_i)`) of a chunk, see [`row_lanes`]. Closed forms
/// (docs/mean-field.md §2.2) lane-wise; quadrature pair by pair with both `Kds` in one pass.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn kernel_row(
    inputs: &Inputs,
    wide: bool,
    (ui, wi, bm_g): (f64, f64, f64),
    g: &mut [f64],
    b: &mut [f64],
    uq: &[f64],
    wq: &[f64],
    rev: &mut [f64],
) -> f64 {
    let (g2, kstar) = (inputs.g2, inputs.kstar);
    let c = Chunk { g2, kstar, bm_g };
    match inputs.path {
        RowPath::Erf => row(wide, &Erf { c, ui, wi }, g, b, uq, wq, rev),
        RowPath::Relu => row(wide, &Relu { c, ai: ui, iai: wi }, g, b, uq, wq, rev),
        RowPath::Linear => row(wide, &Linear { c }, g, b, uq, wq, rev),
        RowPath::Quadrature => {
            // the rule of the orientation (a_p, a_q), p < q: the lane's particle first
            let mut fwd = 0.0;
            for (((gv, bv), &aq), rv) in g.iter_mut().zip(b.iter_mut()).zip(uq).zip(rev) {
                let (k, ds_fwd) = inputs.kernels.pair_both(aq, ui, gv.mul_add(bm_g, *bv));
                let gg = g2 * *gv;
                let h = gg * k.dd;
                *bv = kstar.mul_add(h, k.ss);
                *gv = h;
                fwd += gg * ds_fwd;
                *rv += gg * k.ds;
            }
            fwd
        }
    }
}

/// `Σ_q G_iq Kss_iq` of one kernel row (lanes and order as in [`row_lanes`]; `g`, `b` as
/// there, left unchanged).
#[inline(always)]
fn energy_lanes<F: Formula>(f: &F, g: &[f64], b: &[f64], uq: &[f64], wq: &[f64]) -> f64 {
    let split = g.len() - g.len() % LANES;
    let mut acc = [0.0; LANES];
    let term = |i: usize, acc: f64| {
        let bl = g[i].mul_add(f.chunk().bm_g, b[i]);
        g[i].mul_add(f.eval(g[i], bl, uq[i], wq[i])[0], acc)
    };
    for c in (0..split).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = term(c + l, *a);
        }
    }
    lane_sum(acc) + (split..g.len()).fold(0.0, |t, i| term(i, t))
}

/// The [`LANES`] partial sums of a row added pairwise (a fixed order).
#[inline(always)]
fn lane_sum(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0]
}

/// [`energy_lanes`] on eight lanes at a time when `wide`, as [`row`].
#[inline(always)]
fn energy<F: Formula>(wide: bool, f: &F, g: &[f64], b: &[f64], uq: &[f64], wq: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is set only when the CPU has AVX-512F and FMA (`Inputs::wide`).
        return unsafe { wide::energy_avx512(f, g, b, uq, wq) };
    }
    let _ = wide;
    energy_lanes(f, g, b, uq, wq)
}

/// `Σ_q G_iq Kss_iq` of kernel row `i`, see [`kernel_row`]; quadrature as the mean of the two
/// orientations' rules, which is what the sum over all ordered pairs gives (the pair term is
/// symmetric), so that the risk keeps that accuracy.
#[inline(always)]
fn kernel_energy(
    inputs: &Inputs,
    wide: bool,
    (ui, wi, bm_g): (f64, f64, f64),
    g: &[f64],
    b: &[f64],
    uq: &[f64],
    wq: &[f64],
) -> f64 {
    let c = Chunk {
        g2: inputs.g2,
        kstar: inputs.kstar,
        bm_g,
    };
    match inputs.path {
        RowPath::Erf => energy(wide, &Erf { c, ui, wi }, g, b, uq, wq),
        RowPath::Relu => energy(wide, &Relu { c, ai: ui, iai: wi }, g, b, uq, wq),
        RowPath::Linear => energy(wide, &Linear { c }, g, b, uq, wq),
        RowPath::Quadrature => g
            .iter()
            .zip(b)
            .zip(uq)
            .map(|((&gv, &bv), &aq)| {
                let bl = gv.mul_add(bm_g, bv);
                let k = &inputs.kernels;
                gv * 0.5 * (k.pair(aq, ui, bl).ss + k.pair(ui, aq, bl).ss)
            })
            .sum(),
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

impl<'a> View<'a> {
    /// The particles from `q0` on as the columns of a particle-major `data` (k×P,
    /// column-major).
    fn particles(data: &'a [f64], k: usize, q0: usize) -> Self {
        View {
            data,
            off: q0 * k,
            rs: 1,
            cs: k,
        }
    }
}

/// `dst ← [dst if acc] + β·lhs·rhs` for `dst` m×n (`dst_at = (off, rs, cs)` in `dst`), `lhs`
/// m×k, `rhs` k×n: the `gemm` crate on this thread. Without `acc` the old values of `dst` are
/// never read (zeros when k = 0). Panics if a view leaves its slice.
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
    if m == 0 || n == 0 {
        return;
    }
    let last =
        |off: usize, rs: usize, cs: usize, r: usize, c: usize| off + (r - 1) * rs + (c - 1) * cs;
    assert!(last(off, rs, cs, m, n) < dst.len());
    if k == 0 {
        if !acc {
            for i in 0..m {
                for j in 0..n {
                    dst[off + i * rs + j * cs] = 0.0;
                }
            }
        }
        return;
    }
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

/// The sums of one row tile over the columns `q ≥ r0`, particle-major (a particle's `d` values
/// contiguous): in this layout the products read the kernel blocks without packing them.
struct TileSums {
    /// `Σ_{q ≥ r0} [(Kss + κ*H)_pq θ_q + H_pq e_q]` for the tile's particles `p` (d×len,
    /// column-major; `e_q` fills the first `d1` entries).
    rows: Vec<f64>,
    /// `γ² Σ_{q ≥ r0} G_pq Kds_pq` for the tile's particles.
    rds: Vec<f64>,
    /// The transposed sums `Σ_{p in tile} [(Kss + κ*H)_qp θ_p + H_qp e_p]` for the particles
    /// `q ≥ r0 + len` (d×(P − r0 − len), column-major).
    cols: Vec<f64>,
    /// `γ² Σ_{p in tile} G_pq Kds_qp` for the particles `q ≥ r0 + len`.
    cds: Vec<f64>,
}

/// The inputs shared by the tiles.
struct Inputs<'a> {
    kernels: &'a MfKernels,
    path: RowPath,
    g2: f64,
    /// The reference eigenvalue κ* (see [`pair_sums`]).
    kstar: f64,
    /// Θᵀ with Θ's columns reordered, the `d1` columns of κ_j ≠ κ* first (d×P, column-major:
    /// particle `p`'s row at `p·d`).
    theta: &'a [f64],
    /// `Eᵀ`, `E = Θ_{:, <d1} diag(κ_j − κ*)` (d1×P, column-major).
    e: &'a [f64],
    d1: usize,
    a: &'a [f64],
    singles: Singles,
    p: usize,
    d: usize,
    /// The CPU has AVX-512F and FMA: kernel rows eight lanes at a time.
    wide: bool,
}

impl Inputs<'_> {
    /// The particles from `q0` on as columns of Θᵀ (d×n).
    fn theta_at(&self, q0: usize) -> View<'_> {
        View::particles(self.theta, self.d, q0)
    }

    /// The particles from `q0` on as columns of Eᵀ (d1×n).
    fn e_at(&self, q0: usize) -> View<'_> {
        View::particles(self.e, self.d1, q0)
    }

    /// The chunks `(c0, cw)` of row tile `[r0, r0 + len)`: its diagonal block, then the
    /// columns to its right [`CHUNK`] at a time.
    fn chunks(&self, r0: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
        let p = self.p;
        std::iter::once((r0, len)).chain(
            (r0 + len..p)
                .step_by(CHUNK)
                .map(move |c| (c, CHUNK.min(p - c))),
        )
    }

    /// The `G` and `Bm` blocks of the tile `[r0, r0 + len)` against the chunk from `c0` on
    /// (len×cw, column-major, cw = `g.len() / len`): `G = Θ_t Θ_cᵀ` and
    /// `Bm = γ²κ* G + γ² E_t (Θ_{:, <d1})_cᵀ = γ² (ΘΣ)_t Θ_cᵀ`. Off the diagonal block `b`
    /// holds `γ² E_t Θ_cᵀ` only and the returned factor `bm_g = γ²κ*` of `G` is added lane by
    /// lane by the kernel rows ([`Formula`]); on it `Bm` is formed whole (`bm_g = 0`), for its
    /// exact diagonal `b_pp = a_p`.
    fn gram(&self, r0: usize, len: usize, c0: usize, g: &mut [f64], b: &mut [f64]) -> f64 {
        let (d, d1, cw) = (self.d, self.d1, g.len() / len);
        let diagonal = c0 == r0;
        let column_major = (0, 1, len);
        let theta_t = View {
            rs: d,
            cs: 1,
            ..self.theta_at(r0)
        };
        matmul(
            (len, cw, d),
            g,
            column_major,
            false,
            theta_t,
            self.theta_at(c0),
            1.0,
        );
        let scale = self.g2 * self.kstar;
        let bm_g = if diagonal {
            for (bv, gv) in b.iter_mut().zip(g.iter()) {
                *bv = scale * gv;
            }
            0.0
        } else {
            // with d1 = 0 the product below writes zeros (`matmul`, k = 0)
            scale
        };
        let e_t = View {
            rs: d1,
            cs: 1,
            ..self.e_at(r0)
        };
        let theta_c = self.theta_at(c0);
        matmul(
            (len, cw, d1),
            b,
            column_major,
            diagonal,
            e_t,
            theta_c,
            self.g2,
        );
        if diagonal {
            // b_pp = a_p exactly (the same rounding as a_p itself).
            for i in 0..len {
                b[i * len + i] = self.a[r0 + i];
            }
        }
        bm_g
    }

    /// `Σ_{p in tile, q} G_pq Kss_pq` over the columns `q ≥ r0` of row tile `t`, the blocks off
    /// the diagonal counted twice (for `(q, p)`).
    fn energy_tile(&self, t: usize) -> f64 {
        let r0 = t * TILE;
        let len = TILE.min(self.p - r0);
        let (mut g, mut b) = chunk_blocks(len);
        let (ut, wt) = (&self.singles.u[r0..r0 + len], &self.singles.w[r0..r0 + len]);
        let mut total = 0.0;
        for (c0, cw) in self.chunks(r0, len) {
            let (g, b) = (&mut g[..len * cw], &mut b[..len * cw]);
            let bm_g = self.gram(r0, len, c0, g, b);
            let block: f64 = vectorised(
                #[inline(always)]
                || {
                    let mut sum = 0.0;
                    for (s, (gc, bc)) in g.chunks_exact(len).zip(b.chunks_exact(len)).enumerate() {
                        let q = c0 + s;
                        let uq = (self.singles.u[q], self.singles.w[q], bm_g);
                        sum += kernel_energy(self, self.wide, uq, gc, bc, ut, wt);
                    }
                    sum
                },
            );
            total += if c0 == r0 { block } else { 2.0 * block };
        }
        spare::put(g);
        spare::put(b);
        total
    }

    /// Row tile `t`: its diagonal block, then the chunks of the columns to its right. The `G`
    /// and `Bm` blocks of a chunk (len×cw, column-major) and the sums are [`spare`] buffers.
    ///
    /// The blocks are column-major so that a kernel pass runs down a column (particle `q` of
    /// the chunk fixed, the tile's particles in the lanes) and the products take them as the
    /// right operand, which the `gemm` crate reads in place when the left one has at most 64
    /// rows (`d`, `d1`): the rows and columns sums are formed transposed (particle-major).
    fn tile(&self, t: usize) -> TileSums {
        let (p, d, d1) = (self.p, self.d, self.d1);
        let r0 = t * TILE;
        let len = TILE.min(p - r0);
        let right = r0 + len;
        let width = p - right;
        // `rows` and `cols` are first written without reading them (`acc = false`), `cds`
        // assigned: only `rds` accumulates from zero.
        let mut sums = TileSums {
            rows: spare::take(d * len),
            rds: vec![0.0; len],
            cols: spare::take(d * width),
            cds: spare::take(width),
        };
        let (mut g, mut b) = chunk_blocks(len);
        let (ut, wt) = (&self.singles.u[r0..right], &self.singles.w[r0..right]);
        for (c0, cw) in self.chunks(r0, len) {
            let diagonal = c0 == r0;
            let (g, b) = (&mut g[..len * cw], &mut b[..len * cw]);
            let bm_g = self.gram(r0, len, c0, g, b);
            let (rds, cds) = (&mut sums.rds, &mut sums.cds);
            vectorised(
                #[inline(always)]
                || {
                    for (s, (gc, bc)) in g
                        .chunks_exact_mut(len)
                        .zip(b.chunks_exact_mut(len))
                        .enumerate()
                    {
                        let q = c0 + s;
                        let uq = (self.singles.u[q], self.singles.w[q], bm_g);
                        let fwd = kernel_row(self, self.wide, uq, gc, bc, ut, wt, rds);
                        // on the diagonal block the lanes already hold both orders
                        if !diagonal {
                            cds[q - right] = fwd;
                        }
                    }
                },
            );
            // rowsᵀ += Θ_cᵀ (Kss + κ*H)ᵀ + E_cᵀ Hᵀ (H = γ²G∘Kdd; E's rows are Θ's first d1)
            let kss = View {
                data: b,
                off: 0,
                rs: 1,
                cs: len,
            };
            let h = View { data: g, ..kss };
            let (kss_tr, h_tr) = (
                View {
                    rs: len,
                    cs: 1,
                    ..kss
                },
                View {
                    rs: len,
                    cs: 1,
                    ..h
                },
            );
            let at = (0, 1, d);
            matmul(
                (d, len, cw),
                &mut sums.rows,
                at,
                !diagonal,
                self.theta_at(c0),
                kss_tr,
                1.0,
            );
            matmul(
                (d1, len, cw),
                &mut sums.rows,
                at,
                true,
                self.e_at(c0),
                h_tr,
                1.0,
            );
            if !diagonal {
                // colsᵀ[c] += Θ_tᵀ (Kss + κ*H) + E_tᵀ H
                let at = ((c0 - right) * d, 1, d);
                matmul(
                    (d, cw, len),
                    &mut sums.cols,
                    at,
                    false,
                    self.theta_at(r0),
                    kss,
                    1.0,
                );
                matmul(
                    (d1, cw, len),
                    &mut sums.cols,
                    at,
                    true,
                    self.e_at(r0),
                    h,
                    1.0,
                );
            }
        }
        spare::put(g);
        spare::put(b);
        sums
    }
}

/// The pair sums `(W, r)` of all particles (module docs): `W` P×d, `r` of length P. `theta`
/// holds Θ, `kappa` the eigenvalues of the diagonal Σ, `a` the variances `a_p = γ²θ_pᵀΣθ_p`.
///
/// With a reference eigenvalue κ* (the most frequent, e.g. a bulk's) and `E = Θ(Σ − κ*)`,
/// whose columns vanish where κ_j = κ*:
///
/// ```text
/// Bm = γ²κ* G + γ² E Θᵀ,     Kss Θ + H ΘΣ = (Kss + κ*H) Θ + H E,     H = γ²G∘Kdd,
/// ```
///
/// so only the `d1` columns with κ_j ≠ κ* enter the products of `E`: the GEMM work per pair
/// falls from `6d` to `3(d + d1)` (config R's spectrum, 20 of 50 eigenvalues off the bulk:
/// 0.7 of it). Θ's columns are reordered (those of `E` first) and `W`'s put back.
pub fn pair_sums(
    kernels: &MfKernels,
    g2: f64,
    theta: &DMatrix<f64>,
    kappa: &[f64],
    a: &[f64],
) -> (DMatrix<f64>, Vec<f64>) {
    let (p, d) = theta.shape();
    let layout = Layout::new(theta, kappa);
    let inputs = layout.inputs(kernels, g2, a);
    let tiles = p.div_ceil(TILE);
    let total = Mutex::new(InOrder {
        next: 0,
        pending: (0..tiles).map(|_| None).collect(),
        w: spare::take(p * d),
        r: spare::take(p),
    });
    // Workers take the tiles in order (largest first), so tiles finish nearly in order and
    // only a few wait in `pending`: O(threads·P·d) memory instead of O(P²d/TILE).
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().min(tiles);
    (0..workers).into_par_iter().for_each(|_| loop {
        let t = next.fetch_add(1, Ordering::Relaxed);
        if t >= tiles {
            break;
        }
        let sums = inputs.tile(t);
        let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
        total.arrive(t, sums, d);
    });
    let InOrder { w: sums, r, .. } = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut w = DMatrix::<f64>::zeros(p, d);
    for i0 in (0..p).step_by(TRANSPOSE_BLOCK) {
        let n = TRANSPOSE_BLOCK.min(p - i0);
        for (j, &col) in layout.order.iter().enumerate() {
            let dst = &mut w.as_mut_slice()[col * p + i0..col * p + i0 + n];
            for (ii, o) in dst.iter_mut().enumerate() {
                *o = sums[(i0 + ii) * d + j];
            }
        }
    }
    spare::put(sums);
    layout.release();
    (w, r)
}

/// `Σ_{p,q} G_pq Kss_pq` (self-pairs included), the pair term of the population risk
/// (docs/mean-field.md §2.2), each pair once as in [`pair_sums`] (arguments as there), tiles
/// in parallel and summed in tile order.
pub fn pair_energy(
    kernels: &MfKernels,
    g2: f64,
    theta: &DMatrix<f64>,
    kappa: &[f64],
    a: &[f64],
) -> f64 {
    let layout = Layout::new(theta, kappa);
    let inputs = layout.inputs(kernels, g2, a);
    let tiles: Vec<f64> = (0..theta.nrows().div_ceil(TILE))
        .into_par_iter()
        .map(|t| inputs.energy_tile(t))
        .collect();
    layout.release();
    tiles.iter().sum()
}

/// Θ in the layout of the tiles: the columns reordered around the reference eigenvalue κ*
/// (see [`pair_sums`]) and transposed, with `Eᵀ`.
struct Layout {
    /// Θ's columns in the new order: the `d1` of κ_j ≠ κ* first.
    order: Vec<usize>,
    kstar: f64,
    d1: usize,
    /// Θᵀ (d×P) and `Eᵀ` (d1×P), column-major ([`spare`] buffers).
    theta_t: Vec<f64>,
    e_t: Vec<f64>,
    p: usize,
}

impl Layout {
    fn new(theta: &DMatrix<f64>, kappa: &[f64]) -> Self {
        let (p, d) = theta.shape();
        let kstar = reference_eigenvalue(kappa);
        let order: Vec<usize> = (0..d)
            .filter(|&j| kappa[j] != kstar)
            .chain((0..d).filter(|&j| kappa[j] == kstar))
            .collect();
        let d1 = order.iter().take_while(|&&j| kappa[j] != kstar).count();
        let (mut theta_t, mut e_t) = (spare::take(p * d), spare::take(p * d1));
        for i0 in (0..p).step_by(TRANSPOSE_BLOCK) {
            let rows = i0..p.min(i0 + TRANSPOSE_BLOCK);
            for (jn, &j) in order.iter().enumerate() {
                let delta = kappa[j] - kstar;
                let column = &theta.as_slice()[j * p + rows.start..j * p + rows.end];
                for (ii, &v) in column.iter().enumerate() {
                    theta_t[(i0 + ii) * d + jn] = v;
                }
                if jn < d1 {
                    for (ii, &v) in column.iter().enumerate() {
                        e_t[(i0 + ii) * d1 + jn] = v * delta;
                    }
                }
            }
        }
        Self {
            order,
            kstar,
            d1,
            theta_t,
            e_t,
            p,
        }
    }

    fn inputs<'a>(&'a self, kernels: &'a MfKernels, g2: f64, a: &'a [f64]) -> Inputs<'a> {
        let path = kernels.row_path();
        Inputs {
            kernels,
            path,
            g2,
            kstar: self.kstar,
            theta: &self.theta_t,
            e: &self.e_t,
            d1: self.d1,
            a,
            singles: Singles::new(path, a),
            p: self.p,
            d: self.order.len(),
            wide: has_avx512_fma(),
        }
    }

    /// Returns the buffers to the cache.
    fn release(self) {
        spare::put(self.theta_t);
        spare::put(self.e_t);
    }
}

/// The pair sums added up tile by tile in tile order, as soon as the tiles before are in (with
/// one thread right after each tile, while its sums are in cache): particle `q` of tile `t`
/// gets `Σ_{u < t} cols_u[q] + rows_t[q]` in this order, whatever the number of threads.
struct InOrder {
    /// The next tile to add.
    next: usize,
    /// Tiles done but not yet added.
    pending: Vec<Option<TileSums>>,
    /// The sums so far, particle-major (P×d, column-major d×P).
    w: Vec<f64>,
    r: Vec<f64>,
}

impl InOrder {
    /// Tile `t` is done: add it and every pending tile after it that is now in order.
    fn arrive(&mut self, t: usize, sums: TileSums, d: usize) {
        self.pending[t] = Some(sums);
        while let Some(s) = self.pending.get_mut(self.next).and_then(Option::take) {
            let r0 = self.next * TILE;
            let right = r0 + s.rds.len();
            // the first tile covers every particle: it sets the sums
            let add = |dst: &mut [f64], src: &[f64], first: bool| {
                vectorised(|| {
                    if first {
                        dst.copy_from_slice(src);
                    } else {
                        for (o, v) in dst.iter_mut().zip(src) {
                            *o += v;
                        }
                    }
                })
            };
            let first = self.next == 0;
            add(&mut self.w[r0 * d..right * d], &s.rows, first);
            add(&mut self.w[right * d..], &s.cols, first);
            add(&mut self.r[r0..right], &s.rds, first);
            add(&mut self.r[right..], &s.cds, first);
            for buffer in [s.rows, s.cols, s.cds] {
                spare::put(buffer);
            }
            self.next += 1;
        }
    }
}

/// The `G` and `Bm` buffers of a row tile of `len` particles: room for its largest chunk.
fn chunk_blocks(len: usize) -> (Vec<f64>, Vec<f64>) {
    let size = len * CHUNK.max(len);
    (spare::take(size), spare::take(size))
}

/// Particles per block of the transposes between Θ's columns and the particle-major layout:
/// a block's rows of both stay in L1.
const TRANSPOSE_BLOCK: usize = 64;

/// Buffers kept from one evaluation to the next: the tile sums, the chunk blocks and the
/// transposed Θ (a few MB at P = 2000, d = 50) would otherwise be fresh memory every time,
/// whose zeroing and page faults cost ≈ 5 % of an evaluation. Only a cache:
/// [`take`](spare::take) hands out any buffer, of unspecified content, resized to the length
/// asked for; concurrent evaluations each get their own (the cache keeps at most what the
/// largest demand returned).
mod spare {
    use std::sync::Mutex;

    static SPARE: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());

    /// A buffer of length `len` with unspecified (finite or not) values: the smallest cached
    /// one that holds `len` without growing, else the largest, else a new one.
    pub(super) fn take(len: usize) -> Vec<f64> {
        let mut buffer = {
            let mut pool = SPARE.lock().unwrap_or_else(|e| e.into_inner());
            let fits = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity());
            let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
            pick.map(|i| pool.swap_remove(i)).unwrap_or_default()
        };
        buffer.resize(len, 0.0);
        buffer
    }

    /// Returns `buffer` to the cache.
    pub(super) fn put(buffer: Vec<f64>) {
        if buffer.capacity() > 0 {
            SPARE.lock().unwrap_or_else(|e| e.into_inner()).push(buffer);
        }
    }
}

/// The most frequent eigenvalue (the largest of the most frequent when several are).
fn reference_eigenvalue(kappa: &[f64]) -> f64 {
    let mut sorted = kappa.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut best = (0, 0.0);
    for run in sorted.chunk_by(|x, y| x == y) {
        if run.len() >= best.0 {
            best = (run.len(), run[0]);
        }
    }
    best.1
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

    /// Relative error of the eight-lane [`Lane::recip`] and [`Lane::rsqrt`]: the 14-bit estimate
    /// squared twice by Newton (2⁻⁵⁶ ≈ 1.4e-17) plus the steps' roundings (a few ulp).
    const WIDE_RECIPROCAL_ERROR: f64 = 1e-15;

    /// The Newton reciprocals against the correctly rounded ones over many decades.
    #[test]
    fn wide_reciprocals_are_within_their_bound() {
        if !has_avx512_fma() {
            eprintln!("no AVX-512 here: only the correctly rounded one-lane path runs");
            return;
        }
        let mut rng = crate::rng::rng_for(8, 0);
        let mut worst: f64 = 0.0;
        for _ in 0..200_000 {
            let x: [f64; 8] = std::array::from_fn(|_| 10f64.powf(rng.random_range(-30.0..30.0)));
            // SAFETY: AVX-512F and FMA checked above.
            let (r, q) = unsafe { wide::recip_rsqrt8(x) };
            for i in 0..8 {
                worst = worst
                    .max((r[i] * x[i] - 1.0).abs())
                    .max((q[i] * x[i].sqrt() - 1.0).abs());
            }
        }
        assert!(worst <= WIDE_RECIPROCAL_ERROR, "{worst:e}");
        eprintln!("Newton reciprocals: max relative error {worst:e}");
    }

    /// The wide rows against the one-lane rows: a few `WIDE_RECIPROCAL_ERROR`s through the
    /// kernels' products (the sums of a row add terms of one sign mostly, no cancellation at
    /// these inputs).
    const WIDE_VS_PLAIN: f64 = 1e-14;

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

    /// The AVX-512 rows and the one-lane rows agree to [`WIDE_VS_PLAIN`] relative (where the
    /// CPU has AVX-512): the same formulas but for the Newton reciprocals of the wide lanes.
    #[test]
    fn wide_and_plain_rows_agree() {
        if !has_avx512_fma() {
            return;
        }
        let mut rng = crate::rng::rng_for(6, 0);
        let n = 8 * 9 + 5;
        let mut draw =
            |lo: f64, hi: f64| -> Vec<f64> { (0..n).map(|_| rng.random_range(lo..hi)).collect() };
        let (g, b, u, w, rev) = (
            draw(-2.0, 2.0),
            draw(-1.5, 1.5),
            draw(0.1, 1.0),
            draw(0.0, 3.0),
            draw(-1.0, 1.0),
        );
        let c = Chunk {
            g2: 0.7,
            kstar: 0.3,
            bm_g: 0.2,
        };
        fn both<F: Formula>(f: &F, g: &[f64], b: &[f64], u: &[f64], w: &[f64], rev: &[f64]) {
            let run = |wide: bool| {
                let (mut g, mut b, mut rev) = (g.to_vec(), b.to_vec(), rev.to_vec());
                let s = vectorised(|| row(wide, f, &mut g, &mut b, u, w, &mut rev));
                let mut all = vec![s];
                all.extend(g.into_iter().chain(b).chain(rev));
                all
            };
            for (x, y) in run(true).into_iter().zip(run(false)) {
                assert!(
                    (x - y).abs() <= WIDE_VS_PLAIN * x.abs().max(y.abs()).max(1.0),
                    "{x:e} vs {y:e}"
                );
            }
        }
        both(
            &Erf {
                c,
                ui: 0.8,
                wi: 0.6,
            },
            &g,
            &b,
            &u,
            &w,
            &rev,
        );
        both(
            &Relu {
                c,
                ai: 0.9,
                iai: 1.0 / 0.9,
            },
            &g,
            &b,
            &u,
            &w,
            &rev,
        );
        both(&Linear { c }, &g, &b, &u, &w, &rev);
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
        // the eight-lane asin (Newton reciprocal) on the same grid
        if has_avx512_fma() {
            let xs: Vec<f64> = (0..=GRID)
                .map(|i| -1.0 + 2.0 * i as f64 / GRID as f64)
                .collect();
            let mut worst_wide: f64 = 0.0;
            for chunk in xs.chunks_exact(8) {
                // SAFETY: AVX-512F and FMA checked above.
                let got = unsafe { wide::asin8(chunk.try_into().unwrap()) };
                for (&x, y) in chunk.iter().zip(got) {
                    let want = libm::asin(x);
                    let e = if want == 0.0 {
                        y.abs()
                    } else {
                        ((y - want) / want).abs()
                    };
                    worst_wide = worst_wide.max(e);
                }
            }
            assert!(
                worst_wide <= ASIN_REL_ERROR,
                "wide asin off by {worst_wide:e}"
            );
            eprintln!("asin, eight lanes: max relative error {worst_wide:e}");
        }
        assert_eq!(vectorised(|| asin(1.0)), std::f64::consts::FRAC_PI_2);
        assert_eq!(vectorised(|| asin(-1.0)), -std::f64::consts::FRAC_PI_2);
        assert_eq!(vectorised(|| asin(-0.0)).to_bits(), (-0.0f64).to_bits());
        eprintln!("asin: max relative error {:e} at {}", worst.0, worst.1);
    }
}
