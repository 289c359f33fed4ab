//! Contiguous-slice vector kernels of the SGD hot loop.
//!
//! Every sum has a fixed, thread- and CPU-independent order ([`LANES`] independent
//! accumulators, combined pairwise), and every multiply–add is one fused multiply–add
//! (`f64::mul_add`, IEEE 754 `fusedMultiplyAdd`: correctly rounded on every CPU). The results
//! are therefore bit-identical everywhere: [`vectorised`] only lets the compiler use wider
//! registers and the FMA instruction for the same operations (AVX-512 or AVX2 + FMA on
//! x86-64; on an x86-64 CPU without FMA, `mul_add` falls back to the C library's exact — and
//! slow — software `fma`).
//!
//! 32 lanes: a dot product's accumulators form four AVX-512 registers (eight AVX2 ones), four
//! independent chains of additions, so that a loop is bound by loads and stores rather than by
//! the latency of one chain.

/// Independent accumulators of a lane-wise dot product (and the unit of padded lengths).
pub const LANES: usize = 32;

/// The partial sums of a lane-wise dot product.
pub type Lanes = [f64; LANES];

/// `n` rounded up to a multiple of [`LANES`]: the stored length of a padded vector.
pub fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// Lanes per register group: four groups of eight make the [`LANES`] accumulators. Kernels
/// keep each group in its own local array (small arrays stay in registers).
const GROUP: usize = 8;

/// One group of [`GROUP`] lanes.
type Group = [f64; GROUP];

/// A slice of exactly [`GROUP`] numbers as an array reference.
#[inline(always)]
fn group(c: &[f64]) -> &Group {
    c.try_into().expect("a group of lanes")
}

/// [`group`], mutable.
#[inline(always)]
fn group_mut(c: &mut [f64]) -> &mut Group {
    c.try_into().expect("a group of lanes")
}

/// The four groups of a [`Lanes`] accumulator.
#[inline(always)]
fn groups(a: &Lanes) -> [Group; 4] {
    let g = |q: usize| -> Group { a[q * GROUP..(q + 1) * GROUP].try_into().expect("a group") };
    [g(0), g(1), g(2), g(3)]
}

/// The accumulator of four groups.
#[inline(always)]
fn ungroup(g: [Group; 4]) -> Lanes {
    let mut a = [0.0; LANES];
    for (q, gq) in g.iter().enumerate() {
        a[q * GROUP..(q + 1) * GROUP].copy_from_slice(gq);
    }
    a
}

/// A chunk of [`LANES`] numbers as its four groups.
#[inline(always)]
fn quads(c: &[f64]) -> [&Group; 4] {
    let (g0, r) = c.split_at(GROUP);
    let (g1, r) = r.split_at(GROUP);
    let (g2, g3) = r.split_at(GROUP);
    [group(g0), group(g1), group(g2), group(g3)]
}

/// [`quads`], mutable.
#[inline(always)]
fn quads_mut(c: &mut [f64]) -> [&mut Group; 4] {
    let (g0, r) = c.split_at_mut(GROUP);
    let (g1, r) = r.split_at_mut(GROUP);
    let (g2, g3) = r.split_at_mut(GROUP);
    [group_mut(g0), group_mut(g1), group_mut(g2), group_mut(g3)]
}

/// `a += y ∘ x` on one group.
#[inline(always)]
fn dot_group(a: &mut Group, y: &Group, x: &Group) {
    for l in 0..GROUP {
        a[l] = y[l].mul_add(x[l], a[l]);
    }
}

/// `y ← s (y + c p)` (the scaling only if `SCALE`), then `a += y ∘ x`, on one group.
#[inline(always)]
fn settle_dot_group<const SCALE: bool>(
    a: &mut Group,
    y: &mut Group,
    s: f64,
    c: f64,
    p: &Group,
    x: &Group,
) {
    for l in 0..GROUP {
        let mut v = c.mul_add(p[l], y[l]);
        if SCALE {
            v *= s;
        }
        y[l] = v;
        a[l] = v.mul_add(x[l], a[l]);
    }
}

/// `a += y ∘ x`, then `y ← y + c x`, on one group.
#[inline(always)]
fn dot_axpy_group(a: &mut Group, y: &mut Group, c: f64, x: &Group) {
    for l in 0..GROUP {
        a[l] = y[l].mul_add(x[l], a[l]);
        y[l] = c.mul_add(x[l], y[l]);
    }
}

/// The sum of the lanes, pairwise in a fixed order: `((a₀ + a₁) + (a₂ + a₃)) + …`.
#[inline(always)]
pub fn lane_sum(a: &Lanes) -> f64 {
    let mut v = *a;
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            v[i] = v[2 * i] + v[2 * i + 1];
        }
    }
    v[0]
}

/// `acc_l += Σ_{i ≡ l mod LANES} y_i x_i` (lengths equal, a multiple of [`LANES`]), the
/// terms fused-added in order of i.
#[inline(always)]
pub fn dot_lanes(acc: &mut Lanes, y: &[f64], x: &[f64]) {
    debug_assert!(y.len() == x.len() && y.len().is_multiple_of(LANES));
    let [mut a0, mut a1, mut a2, mut a3] = groups(acc);
    for (yc, xc) in y.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        let ([y0, y1, y2, y3], [x0, x1, x2, x3]) = (quads(yc), quads(xc));
        dot_group(&mut a0, y0, x0);
        dot_group(&mut a1, y1, x1);
        dot_group(&mut a2, y2, x2);
        dot_group(&mut a3, y3, x3);
    }
    *acc = ungroup([a0, a1, a2, a3]);
}

/// `a·b` for any length: lane-wise over the padded part, then the tail.
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len() / LANES * LANES;
    let mut acc = [0.0; LANES];
    dot_lanes(&mut acc, &a[..n], &b[..n]);
    let tail = a[n..]
        .iter()
        .zip(&b[n..])
        .fold(0.0, |s, (x, y)| x.mul_add(*y, s));
    lane_sum(&acc) + tail
}

/// `y ← y + a x`.
#[inline(always)]
pub fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = a.mul_add(*xi, *yi);
    }
}

/// `y ← y + Σ_i a_i u_i`, the terms fused-added to each element in order i = 0, 1, … while
/// it is held in registers; `u_i` is the slice of length `y.len()` at `i·stride + offset` of
/// `u`.
#[inline(always)]
pub fn multi_axpy(y: &mut [f64], a: &[f64], u: &[f64], stride: usize, offset: usize) {
    let n = y.len();
    let rows = || (0..a.len()).map(|i| &u[i * stride + offset..i * stride + offset + n]);
    // Chunks of LANES: four independent register groups per chunk.
    let mut chunks = y.chunks_exact_mut(LANES);
    for (c, yc) in (&mut chunks).enumerate() {
        let [y0, y1, y2, y3] = quads_mut(yc);
        let (mut v0, mut v1, mut v2, mut v3) = (*y0, *y1, *y2, *y3);
        for (&ai, row) in a.iter().zip(rows()) {
            let [u0, u1, u2, u3] = quads(&row[c * LANES..(c + 1) * LANES]);
            for l in 0..GROUP {
                v0[l] = ai.mul_add(u0[l], v0[l]);
                v1[l] = ai.mul_add(u1[l], v1[l]);
                v2[l] = ai.mul_add(u2[l], v2[l]);
                v3[l] = ai.mul_add(u3[l], v3[l]);
            }
        }
        (*y0, *y1, *y2, *y3) = (v0, v1, v2, v3);
    }
    let done = n / LANES * LANES;
    for (j, yj) in chunks.into_remainder().iter_mut().enumerate() {
        for (&ai, row) in a.iter().zip(rows()) {
            *yj = ai.mul_add(row[done + j], *yj);
        }
    }
}

/// `y ← s y`; nothing to do (exactly) when `s = 1`.
#[inline(always)]
pub fn scale(y: &mut [f64], s: f64) {
    if s != 1.0 {
        y.iter_mut().for_each(|yi| *yi *= s);
    }
}

/// `y ← s (y + Σ_b c_b p_b)`, the terms added in order b = 0, 1, …; `p_b` is the slice of
/// length `y.len()` at `b·stride + offset` of `p`.
#[inline(always)]
pub fn settle(y: &mut [f64], s: f64, c: &[f64], p: &[f64], stride: usize, offset: usize) {
    let n = y.len();
    for (b, &cb) in c.iter().enumerate() {
        let start = b * stride + offset;
        axpy(y, cb, &p[start..start + n]);
    }
    scale(y, s);
}

/// Fused [`settle`] with one term and [`dot_lanes`]: `y ← s (y + c p)`, then
/// `acc += y ∘ x`; one pass, bit-identical to the two kernels.
#[inline(always)]
pub fn settle_dot(acc: &mut Lanes, y: &mut [f64], s: f64, c: f64, p: &[f64], x: &[f64]) {
    #[inline(always)]
    fn run<const SCALE: bool>(
        acc: &mut Lanes,
        y: &mut [f64],
        s: f64,
        coef: f64,
        p: &[f64],
        x: &[f64],
    ) {
        debug_assert!(y.len() == p.len() && y.len() == x.len() && y.len().is_multiple_of(LANES));
        let [mut a0, mut a1, mut a2, mut a3] = groups(acc);
        for ((yc, pc), xc) in y
            .chunks_exact_mut(LANES)
            .zip(p.chunks_exact(LANES))
            .zip(x.chunks_exact(LANES))
        {
            let [y0, y1, y2, y3] = quads_mut(yc);
            let ([p0, p1, p2, p3], [x0, x1, x2, x3]) = (quads(pc), quads(xc));
            settle_dot_group::<SCALE>(&mut a0, y0, s, coef, p0, x0);
            settle_dot_group::<SCALE>(&mut a1, y1, s, coef, p1, x1);
            settle_dot_group::<SCALE>(&mut a2, y2, s, coef, p2, x2);
            settle_dot_group::<SCALE>(&mut a3, y3, s, coef, p3, x3);
        }
        *acc = ungroup([a0, a1, a2, a3]);
    }
    if s == 1.0 {
        run::<false>(acc, y, s, c, p, x)
    } else {
        run::<true>(acc, y, s, c, p, x)
    }
}

/// Fused [`dot_lanes`] and [`axpy`]: `acc += y ∘ x` with the old `y`, then `y ← y + a x`;
/// one pass, bit-identical to the two kernels.
#[inline(always)]
pub fn dot_axpy(acc: &mut Lanes, y: &mut [f64], a: f64, x: &[f64]) {
    debug_assert!(y.len() == x.len() && y.len().is_multiple_of(LANES));
    let [mut a0, mut a1, mut a2, mut a3] = groups(acc);
    for (yc, xc) in y.chunks_exact_mut(LANES).zip(x.chunks_exact(LANES)) {
        let ([y0, y1, y2, y3], [x0, x1, x2, x3]) = (quads_mut(yc), quads(xc));
        dot_axpy_group(&mut a0, y0, a, x0);
        dot_axpy_group(&mut a1, y1, a, x1);
        dot_axpy_group(&mut a2, y2, a, x2);
        dot_axpy_group(&mut a3, y3, a, x3);
    }
    *acc = ungroup([a0, a1, a2, a3]);
}

pub use crate::simd::vectorised;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel on the vector paths (AVX-512 / AVX2 + FMA, as the CPU has them) and on
    /// the plain path (no `vectorised`: scalar `fma`) gives the same bits.
    #[test]
    fn vector_and_plain_paths_agree_bit_for_bit() {
        let n = 3 * LANES + 5;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
        let y0: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
        let p: Vec<f64> = (0..3 * n).map(|i| (i as f64 * 0.37).sin()).collect();
        let m = 3 * LANES;
        let run = |vector: bool| {
            let body = || {
                let mut out = vec![dot(&x, &y0)];
                let mut y = y0.clone();
                multi_axpy(&mut y, &[0.3, -1.1, 2.0], &p, n, 0);
                out.extend(&y);
                let (mut a, mut y) = ([0.25; LANES], y0[..m].to_vec());
                settle_dot(&mut a, &mut y, 0.9, -0.7, &p[..m], &x[..m]);
                dot_axpy(&mut a, &mut y, 0.4, &x[1..m + 1]);
                out.extend(a.iter().chain(&y));
                out
            };
            if vector {
                vectorised(body)
            } else {
                body()
            }
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn kernels_equal_their_definitions() {
        let n = 2 * LANES + 7;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
        let y0: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
        let naive: f64 = x.iter().zip(&y0).map(|(a, b)| a * b).sum();
        // Different summation order: agreement to a few ulps of the sum of |terms| (≤ 71).
        assert!((dot(&x, &y0) - naive).abs() < 1e-13);
        let two = 2 * LANES;
        let mut acc = [0.0; LANES];
        dot_lanes(&mut acc, &x[..two], &y0[..two]);
        for (l, a) in acc.iter().enumerate() {
            assert_eq!(*a, x[l + LANES].mul_add(y0[l + LANES], x[l] * y0[l]));
        }
        let lanes: Lanes = std::array::from_fn(|l| (l as f64 + 0.1).powi(3));
        let mut pairs = lanes.to_vec();
        while pairs.len() > 1 {
            pairs = pairs.chunks(2).map(|c| c[0] + c[1]).collect();
        }
        assert_eq!(lane_sum(&lanes), pairs[0]);
        let mut w = y0.clone();
        axpy(&mut w, 0.5, &x);
        assert_eq!(w[3], 0.5f64.mul_add(x[3], y0[3]));
        // settle with two vectors at stride 80, offset 1.
        let p: Vec<f64> = (0..160).map(|i| i as f64 * 0.25 + 0.1).collect();
        let mut y = y0[..4].to_vec();
        settle(&mut y, 0.9, &[2.0, -1.0], &p, 80, 1);
        for i in 0..4 {
            let term = 2.0f64.mul_add(p[1 + i], y0[i]);
            assert_eq!(y[i], 0.9 * (-1.0f64).mul_add(p[81 + i], term));
        }
        // multi_axpy of two rows of p (stride 80, offset 1) on LANES + 11 elements (a tail).
        let len = LANES + 11;
        let mut m = y0[..len].to_vec();
        multi_axpy(&mut m, &[2.0, -1.0], &p, 80, 1);
        for i in 0..len {
            let term = 2.0f64.mul_add(p[1 + i], y0[i]);
            assert_eq!(m[i], (-1.0f64).mul_add(p[81 + i], term));
        }
        // The fused kernels equal their parts exactly.
        for s in [1.0, 0.9] {
            let (mut y1, mut y2) = (y0[..two].to_vec(), y0[..two].to_vec());
            let (mut a1, mut a2) = ([0.5; LANES], [0.5; LANES]);
            settle_dot(&mut a1, &mut y1, s, 2.0, &p[..two], &x[..two]);
            settle(&mut y2, s, &[2.0], &p, 0, 0);
            dot_lanes(&mut a2, &y2, &x[..two]);
            assert_eq!((y1, a1), (y2, a2));
        }
        let (mut y1, mut y2) = (y0[..two].to_vec(), y0[..two].to_vec());
        let (mut a1, mut a2) = ([0.5; LANES], [0.5; LANES]);
        dot_axpy(&mut a1, &mut y1, -0.3, &x[..two]);
        dot_lanes(&mut a2, &y2, &x[..two]);
        axpy(&mut y2, -0.3, &x[..two]);
        assert_eq!((y1, a1), (y2, a2));
        let mut z = y0.clone();
        scale(&mut z, 1.0);
        assert_eq!(z, y0);
        assert_eq!(padded(LANES + 1), 2 * LANES);
        assert_eq!(padded(LANES), LANES);
    }
}
