//! The eigenframe of the inputs: an orthogonal map that turns the explicit eigendirections of
//! Ω into coordinate axes, so that the simulator can draw its inputs as `x' = s ∘ ξ` in O(D)
//! instead of folding in every dense direction at O(D) each.
//!
//! Online SGD is equivariant under an orthogonal map F of input space (docs/autoencoder.md §1.2: every term
//! of the step is built from `w·x`, `v·v'` and sums of the vectors themselves): training on
//! `x' = F x` from `W' = W Fᵀ`, `V' = V Fᵀ` gives exactly `W'(t) = W(t) Fᵀ` for the inputs
//! `x = Fᵀ x'`, and `x' ~ N(0, F Ω Fᵀ)` has the law of `F x`. The simulator therefore trains in
//! the frame and maps the weights back (`Fᵀ`) to measure them with the original Ω.

use nalgebra::DMatrix;

use super::linalg::{axpy, dot, vectorised};

/// One Householder reflection `H = I − β v vᵀ` acting on the entries `start..D`.
#[derive(Debug, Clone)]
struct Reflector {
    start: usize,
    v: Vec<f64>,
    beta: f64,
}

impl Reflector {
    /// `x ← H x`.
    #[inline(always)]
    fn apply(&self, x: &mut [f64]) {
        let tail = &mut x[self.start..];
        let c = self.beta * dot(&self.v, tail);
        axpy(tail, -c, &self.v);
    }
}

/// An orthogonal map `F` of `R^D` with `F u_m = ±e_m` for orthonormal directions
/// `u_0, …, u_{n−1}`: `F = H_{n−1} ⋯ H_0`, the Householder reflections of the QR factorisation
/// of `Uᵀ` (Golub & Van Loan, Alg. 5.2.1). Applying F or Fᵀ costs O(n·D); building it
/// O(n²·D).
#[derive(Debug, Clone)]
pub struct Frame {
    dim: usize,
    reflectors: Vec<Reflector>,
}

impl Frame {
    /// The frame of the orthonormal rows of `u` (n × D, n ≤ D).
    pub fn new(u: &DMatrix<f64>) -> Frame {
        let (n, dim) = u.shape();
        // Columns of Uᵀ, reflected in place one after another.
        let mut cols: Vec<Vec<f64>> = (0..n).map(|m| u.row(m).iter().copied().collect()).collect();
        let mut reflectors = Vec::with_capacity(n);
        vectorised(
            #[inline(always)]
            || {
                for m in 0..n {
                    let x = &cols[m][m..];
                    let norm = dot(x, x).sqrt();
                    let alpha = if x[0] > 0.0 { -norm } else { norm };
                    let mut v = x.to_vec();
                    v[0] -= alpha;
                    let vv = dot(&v, &v);
                    if vv == 0.0 {
                        continue; // a zero column (the rows were not orthonormal)
                    }
                    let h = Reflector {
                        start: m,
                        v,
                        beta: 2.0 / vv,
                    };
                    for col in &mut cols[m..] {
                        h.apply(col);
                    }
                    reflectors.push(h);
                }
            },
        );
        Frame { dim, reflectors }
    }

    /// `x ← F x`.
    pub fn forward(&self, x: &mut [f64]) {
        vectorised(
            #[inline(always)]
            || self.reflectors.iter().for_each(|h| h.apply(x)),
        );
    }

    /// `x ← Fᵀ x` (the inverse of [`Frame::forward`]).
    pub fn backward(&self, x: &mut [f64]) {
        vectorised(
            #[inline(always)]
            || self.reflectors.iter().rev().for_each(|h| h.apply(x)),
        );
    }

    /// `M Fᵀ`: every row r of `m` (p × D) mapped to `F r`.
    pub fn rows_forward(&self, m: &DMatrix<f64>) -> DMatrix<f64> {
        self.map_rows(m, Frame::forward)
    }

    /// `M F`: every row r of `m` (p × D) mapped to `Fᵀ r`.
    pub fn rows_backward(&self, m: &DMatrix<f64>) -> DMatrix<f64> {
        self.map_rows(m, Frame::backward)
    }

    /// `f` applied to every row of `m` (p × D): the rows of `m` are the contiguous columns of
    /// its transpose.
    fn map_rows(&self, m: &DMatrix<f64>, f: fn(&Frame, &mut [f64])) -> DMatrix<f64> {
        let mut t = m.transpose();
        for row in t.as_mut_slice().chunks_exact_mut(self.dim) {
            f(self, row);
        }
        t.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;
    use rand_distr::{Distribution, StandardNormal};

    /// Orthonormal rows: Gram–Schmidt (QR) of Gaussian rows.
    fn directions(n: usize, d: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = rng_for(seed, 0);
        let g = DMatrix::from_fn(d, n, |_, _| StandardNormal.sample(&mut rng));
        g.qr().q().transpose()
    }

    /// Rounding of O(D) products of O(1) numbers.
    const TOL: f64 = 1e-13;

    #[test]
    fn maps_the_directions_to_axes_and_is_orthogonal() {
        let (n, d) = (5, 67);
        let u = directions(n, d, 3);
        let f = Frame::new(&u);
        let fu = f.rows_forward(&u);
        for m in 0..n {
            for i in 0..d {
                let expect = if i == m { fu[(m, m)].signum() } else { 0.0 };
                assert!(
                    (fu[(m, i)] - expect).abs() < TOL,
                    "F u_{m} at {i}: {}",
                    fu[(m, i)]
                );
            }
        }
        // Orthogonal: norms and inner products kept, backward inverts forward.
        let y = directions(3, d, 4) * 2.5;
        let fy = f.rows_forward(&y);
        assert!((&fy * fy.transpose() - &y * y.transpose()).amax() < TOL);
        assert!((f.rows_backward(&fy) - &y).amax() < TOL);
        // F is a reflection product, not the identity off the directions' span.
        assert!((&fy - &y).amax() > 0.1);
    }
}
