//! Contiguous-slice vector kernels of the SGD hot loop. Sums use four independent
//! accumulators (a fixed, thread-independent summation order) so that they vectorise.

/// `a·b`.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y ← y + a x`.
#[inline]
pub fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `y ← s (y + a x)`.
#[inline]
pub fn scaled_axpy(y: &mut [f64], s: f64, a: f64, x: &[f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = s * (*yi + a * xi);
    }
}

/// Fused: returns `y·x` with the old `y`, then `y ← s (y + a x)`; one pass over memory.
#[inline]
pub fn dot_then_scaled_axpy(y: &mut [f64], s: f64, a: f64, x: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0.0f64; 4];
    let mut cy = y.chunks_exact_mut(4);
    let mut cx = x.chunks_exact(4);
    for (yc, xc) in (&mut cy).zip(&mut cx) {
        for l in 0..4 {
            acc[l] += yc[l] * xc[l];
            yc[l] = s * (yc[l] + a * xc[l]);
        }
    }
    let mut tail = 0.0;
    for (yi, xi) in cy.into_remainder().iter_mut().zip(cx.remainder()) {
        tail += *yi * xi;
        *yi = s * (*yi + a * xi);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_kernels_equal_their_definitions() {
        let x: Vec<f64> = (0..11).map(|i| (i as f64 * 0.7).sin()).collect();
        let y0: Vec<f64> = (0..11).map(|i| (i as f64 * 1.3).cos()).collect();
        let naive: f64 = x.iter().zip(&y0).map(|(a, b)| a * b).sum();
        // Different summation order: agreement to a few ulps of the terms.
        assert!((dot(&x, &y0) - naive).abs() < 1e-14);
        let mut y = y0.clone();
        let d = dot_then_scaled_axpy(&mut y, 0.9, 0.5, &x);
        assert_eq!(d, dot(&y0, &x));
        let mut z = y0.clone();
        scaled_axpy(&mut z, 0.9, 0.5, &x);
        assert_eq!(y, z);
        for i in 0..11 {
            assert_eq!(y[i], 0.9 * (y0[i] + 0.5 * x[i]));
        }
        let mut w = y0.clone();
        axpy(&mut w, 0.5, &x);
        assert_eq!(w[3], y0[3] + 0.5 * x[3]);
    }
}
