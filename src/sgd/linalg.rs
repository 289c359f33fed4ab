//! Contiguous-slice vector kernels of the SGD hot loop.
//!
//! Every sum has a fixed, thread- and CPU-independent order ([`LANES`] independent
//! accumulators, combined pairwise), so that it vectorises and the results are bit-identical
//! everywhere: the kernels are plain IEEE arithmetic (no fused multiply–add), and
//! [`vectorised`] only lets the compiler use wider registers for the same operations.

/// Independent accumulators of a lane-wise dot product (and the unit of padded lengths).
pub const LANES: usize = 8;

/// The partial sums of a lane-wise dot product.
pub type Lanes = [f64; LANES];

/// `n` rounded up to a multiple of [`LANES`]: the stored length of a padded vector.
pub fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// A chunk of [`LANES`] numbers as an array.
#[inline(always)]
fn lanes(chunk: &[f64]) -> Lanes {
    let mut v = [0.0; LANES];
    v.copy_from_slice(chunk);
    v
}

/// The sum of the lanes, pairwise in a fixed order.
#[inline(always)]
pub fn lane_sum(a: &Lanes) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `acc_l += Σ_{i ≡ l mod LANES} y_i x_i` (lengths equal, a multiple of [`LANES`]).
#[inline(always)]
pub fn dot_lanes(acc: &mut Lanes, y: &[f64], x: &[f64]) {
    debug_assert!(y.len() == x.len() && y.len() % LANES == 0);
    let mut a = *acc;
    for (yc, xc) in y.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        for l in 0..LANES {
            a[l] += yc[l] * xc[l];
        }
    }
    *acc = a;
}

/// `a·b` for any length: lane-wise over the padded part, then the tail.
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len() / LANES * LANES;
    let mut acc = [0.0; LANES];
    dot_lanes(&mut acc, &a[..n], &b[..n]);
    let tail: f64 = a[n..].iter().zip(&b[n..]).map(|(x, y)| x * y).sum();
    lane_sum(&acc) + tail
}

/// `y ← y + a x`.
#[inline(always)]
pub fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `y ← y + Σ_i a_i u_i`, the terms added to each element in order i = 0, 1, … while it is
/// held in registers; `u_i` is the slice of length `y.len()` at `i·stride + offset` of `u`.
#[inline(always)]
pub fn multi_axpy(y: &mut [f64], a: &[f64], u: &[f64], stride: usize, offset: usize) {
    let n = y.len();
    let mut chunks = y.chunks_exact_mut(LANES);
    for (c, yc) in (&mut chunks).enumerate() {
        let mut v = lanes(yc);
        for (i, &ai) in a.iter().enumerate() {
            let start = i * stride + offset + c * LANES;
            let uc = &u[start..start + LANES];
            for l in 0..LANES {
                v[l] += ai * uc[l];
            }
        }
        yc.copy_from_slice(&v);
    }
    let done = n / LANES * LANES;
    for (j, yj) in chunks.into_remainder().iter_mut().enumerate() {
        for (i, &ai) in a.iter().enumerate() {
            *yj += ai * u[i * stride + offset + done + j];
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
        c: f64,
        p: &[f64],
        x: &[f64],
    ) {
        debug_assert!(y.len() == p.len() && y.len() == x.len() && y.len() % LANES == 0);
        let mut a = *acc;
        for ((yc, pc), xc) in y
            .chunks_exact_mut(LANES)
            .zip(p.chunks_exact(LANES))
            .zip(x.chunks_exact(LANES))
        {
            // Whole chunks in registers (element-wise access defeats vectorisation here).
            let (mut v, pv, xv) = (lanes(yc), lanes(pc), lanes(xc));
            for l in 0..LANES {
                v[l] += c * pv[l];
                if SCALE {
                    v[l] *= s;
                }
                a[l] += v[l] * xv[l];
            }
            yc.copy_from_slice(&v);
        }
        *acc = a;
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
    debug_assert!(y.len() == x.len() && y.len() % LANES == 0);
    let mut s = *acc;
    for (yc, xc) in y.chunks_exact_mut(LANES).zip(x.chunks_exact(LANES)) {
        let (mut v, xv) = (lanes(yc), lanes(xc));
        for l in 0..LANES {
            s[l] += v[l] * xv[l];
            v[l] += a * xv[l];
        }
        yc.copy_from_slice(&v);
    }
    *acc = s;
}

/// Runs `f` with the wider vector instructions of the running CPU enabled (AVX2 on x86-64
/// when available). `f` and every kernel it calls must be `#[inline(always)]` to benefit.
/// The arithmetic is unchanged (no FMA), so the results are identical with or without.
#[inline(always)]
pub fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_equal_their_definitions() {
        let x: Vec<f64> = (0..19).map(|i| (i as f64 * 0.7).sin()).collect();
        let y0: Vec<f64> = (0..19).map(|i| (i as f64 * 1.3).cos()).collect();
        let naive: f64 = x.iter().zip(&y0).map(|(a, b)| a * b).sum();
        // Different summation order: agreement to a few ulps of the terms.
        assert!((dot(&x, &y0) - naive).abs() < 1e-14);
        let mut acc = [0.0; LANES];
        dot_lanes(&mut acc, &x[..16], &y0[..16]);
        for (l, a) in acc.iter().enumerate() {
            assert_eq!(*a, x[l] * y0[l] + x[l + 8] * y0[l + 8]);
        }
        let mut w = y0.clone();
        axpy(&mut w, 0.5, &x);
        assert_eq!(w[3], y0[3] + 0.5 * x[3]);
        // settle with two vectors at stride 20, offset 1.
        let p: Vec<f64> = (0..40).map(|i| i as f64 * 0.25).collect();
        let mut y = y0[..4].to_vec();
        settle(&mut y, 0.9, &[2.0, -1.0], &p, 20, 1);
        for i in 0..4 {
            assert_eq!(y[i], 0.9 * ((y0[i] + 2.0 * p[1 + i]) - p[21 + i]));
        }
        // multi_axpy of two rows of p (stride 20, offset 1) on 11 elements (with a tail).
        let mut m = y0[..11].to_vec();
        multi_axpy(&mut m, &[2.0, -1.0], &p, 20, 1);
        for i in 0..11 {
            assert_eq!(m[i], (y0[i] + 2.0 * p[1 + i]) - p[21 + i]);
        }
        // The fused kernels equal their parts exactly.
        for s in [1.0, 0.9] {
            let (mut y1, mut y2) = (y0[..16].to_vec(), y0[..16].to_vec());
            let (mut a1, mut a2) = ([0.5; LANES], [0.5; LANES]);
            settle_dot(&mut a1, &mut y1, s, 2.0, &p[..16], &x[..16]);
            settle(&mut y2, s, &[2.0], &p, 0, 0);
            dot_lanes(&mut a2, &y2, &x[..16]);
            assert_eq!((y1, a1), (y2, a2));
        }
        let (mut y1, mut y2) = (y0[..16].to_vec(), y0[..16].to_vec());
        let (mut a1, mut a2) = ([0.5; LANES], [0.5; LANES]);
        dot_axpy(&mut a1, &mut y1, -0.3, &x[..16]);
        dot_lanes(&mut a2, &y2, &x[..16]);
        axpy(&mut y2, -0.3, &x[..16]);
        assert_eq!((y1, a1), (y2, a2));
        let mut z = y0.clone();
        scale(&mut z, 1.0);
        assert_eq!(z, y0);
        assert_eq!(padded(17), 24);
        assert_eq!(padded(16), 16);
        assert_eq!(vectorised(|| dot(&x, &y0)), dot(&x, &y0));
    }
}
