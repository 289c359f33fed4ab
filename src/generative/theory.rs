//! Predictions for the expected-GD trajectory (derived for this model, in the setting of
//! Nguyen, Wong & Hegde 2019).
//!
//! **Curvature at the truth** (orthonormal atoms, signed codes with E[x_i x_j | i,j ∈ S] =
//! v₂δ_ij, σ_η = 0, exact support recovery). `W = Aᵀ` is stationary and, writing
//! `w_i = a_i + Σ_j c_ij a_j + e_i^⊥`,
//!
//! ```text
//! L(Aᵀ + E) = ½v₂ Σ_i (k/m)(4c_ii² + ‖e_i^⊥‖²) + ½v₂ Σ_{i<j} [p₁(c_ij² + c_ji²) + 2p₂(c_ij + c_ji)²] + O(‖E‖³)
//! ```
//!
//! so the Hessian has the eigenvalues v₂·{4k/m (×m), k/m (×m(n−m)), p₁ (×m(m−1)/2),
//! p₁ + 4p₂ (×m(m−1)/2)}. Expected GD contracts each mode by `1 − ηλ`; the slowest is the
//! antisymmetric pair mode, `ρ = 1 − η v₂ p₁` ([`rate_signed`]), stable iff
//! `η < m/(2v₂k)`. [`rate_modes`] takes the max of `|1 − ηλ|` over the four modes (equal to
//! ρ for the default η = m/(4v₂k)).
//!
//! **Incoherent atoms**: to first order in Ĝ = AᵀA − I the limit is the decorrelated
//! dictionary `w̄_i = a_i − f Σ_{l≠i} G_il a_l`, `f = 2(k−1)/(m + 3k − 4)`, at distance
//! `f‖Ĝ_{i,:}‖ ≈ f√((m−1)/n)` from the truth ([`floor_factor`], [`decorrelated`]).
//!
//! **ReLU with bias −β** on the mixture: `w_j = c s_j` with `c(c − β) = 1`
//! ([`relu_scale`]).
//!
//! **General codes** (non-negative, v₁ ≠ 0): the Hessian is measured by central differences
//! of the exact expected gradient ([`hessian`], [`hessian_in_span`]).

use nalgebra::{DMatrix, SymmetricEigen};

/// ρ = 1 − η v₂ p₁.
pub fn rate_signed(lr: f64, v2: f64, p1: f64) -> f64 {
    1.0 - lr * v2 * p1
}

/// The four Hessian eigenvalues at the truth (orthonormal atoms), with multiplicities:
/// v₂·(p₁, k/m, p₁ + 4p₂, 4k/m).
pub fn truth_eigenvalues(
    n: usize,
    m: usize,
    k: usize,
    v2: f64,
    p1: f64,
    p2: f64,
) -> [(f64, usize); 4] {
    let km = k as f64 / m as f64;
    let pairs = m * (m.saturating_sub(1)) / 2;
    [
        (v2 * p1, pairs),
        (v2 * km, m * n.saturating_sub(m)),
        (v2 * (p1 + 4.0 * p2), pairs),
        (v2 * 4.0 * km, m),
    ]
}

/// max |1 − ηλ| over the modes of [`truth_eigenvalues`] that exist.
pub fn rate_modes(lr: f64, n: usize, m: usize, k: usize, v2: f64, p1: f64, p2: f64) -> f64 {
    truth_eigenvalues(n, m, k, v2, p1, p2)
        .iter()
        .filter(|(_, mult)| *mult > 0)
        .map(|(l, _)| (1.0 - lr * l).abs())
        .fold(0.0, f64::max)
}

/// f = 2(k − 1)/(m + 3k − 4) (0 for k = 1).
pub fn floor_factor(m: usize, k: usize) -> f64 {
    let d = m as f64 + 3.0 * k as f64 - 4.0;
    if k <= 1 || d <= 0.0 {
        0.0
    } else {
        2.0 * (k as f64 - 1.0) / d
    }
}

/// Predicted per-row floors f‖Ĝ_{i,:}‖ for dictionary `a`.
pub fn floor_rows(a: &DMatrix<f64>, k: usize) -> Vec<f64> {
    let g = a.tr_mul(a);
    let m = g.nrows();
    let f = floor_factor(m, k);
    (0..m)
        .map(|i| {
            let s: f64 = (0..m).filter(|&j| j != i).map(|j| g[(i, j)].powi(2)).sum();
            f * s.sqrt()
        })
        .collect()
}

/// The decorrelated dictionary W̄ (m × n): rows `a_i − f Σ_{l≠i} G_il a_l`.
pub fn decorrelated(a: &DMatrix<f64>, k: usize) -> DMatrix<f64> {
    let g = a.tr_mul(a);
    let m = g.nrows();
    let f = floor_factor(m, k);
    let ghat = DMatrix::from_fn(m, m, |i, j| if i == j { 0.0 } else { g[(i, j)] });
    (DMatrix::identity(m, m) - f * ghat) * a.transpose()
}

/// c = (β + √(β² + 4))/2, the fixed-point scale of a ReLU unit with bias −β on its
/// (unit-norm) mixture component.
pub fn relu_scale(beta: f64) -> f64 {
    0.5 * (beta + (beta * beta + 4.0).sqrt())
}

/// Hessian of the loss by central differences of `grad` (m × n → m × n) at `w`, in the
/// coordinates `w = w₀ + Δ Qᵀ` (Δ ∈ ℝ^{m×r}, Q ∈ ℝ^{n×r} with orthonormal columns),
/// symmetrised. Entry order: Δ_(i,j) ↦ i + m·j.
pub fn hessian_in_span(
    grad: &(dyn Fn(&DMatrix<f64>) -> DMatrix<f64> + Sync),
    w: &DMatrix<f64>,
    q: &DMatrix<f64>,
    step: f64,
) -> DMatrix<f64> {
    use rayon::prelude::*;
    let m = w.nrows();
    let r = q.ncols();
    let dim = m * r;
    let cols: Vec<Vec<f64>> = (0..dim)
        .into_par_iter()
        .map(|p| {
            let (i, j) = (p % m, p / m);
            let mut wp = w.clone();
            let mut wm = w.clone();
            for c in 0..w.ncols() {
                wp[(i, c)] += step * q[(c, j)];
                wm[(i, c)] -= step * q[(c, j)];
            }
            let gd = (grad(&wp) - grad(&wm)) * q / (2.0 * step);
            gd.as_slice().to_vec()
        })
        .collect();
    let h = DMatrix::from_fn(dim, dim, |a, b| cols[b][a]);
    0.5 * (&h + h.transpose())
}

/// The full Hessian (Q = I_n in [`hessian_in_span`]); m·n parameters.
pub fn hessian(
    grad: &(dyn Fn(&DMatrix<f64>) -> DMatrix<f64> + Sync),
    w: &DMatrix<f64>,
    step: f64,
) -> DMatrix<f64> {
    hessian_in_span(grad, w, &DMatrix::identity(w.ncols(), w.ncols()), step)
}

/// Eigenvalues of a symmetric matrix, ascending.
pub fn eigenvalues(h: &DMatrix<f64>) -> Vec<f64> {
    let mut e: Vec<f64> = SymmetricEigen::new(h.clone())
        .eigenvalues
        .iter()
        .copied()
        .collect();
    e.sort_by(f64::total_cmp);
    e
}

/// Group sorted values into (value, multiplicity) clusters: a new cluster starts when the
/// gap to the previous value exceeds `tol`.
pub fn clusters(sorted: &[f64], tol: f64) -> Vec<(f64, usize)> {
    let mut out: Vec<(f64, usize, f64)> = Vec::new();
    let mut prev = f64::NEG_INFINITY;
    for &x in sorted {
        match out.last_mut() {
            Some(c) if x - prev <= tol => {
                c.1 += 1;
                c.2 += x;
            }
            _ => out.push((x, 1, x)),
        }
        prev = x;
    }
    out.into_iter().map(|(_, n, s)| (s / n as f64, n)).collect()
}

/// An orthonormal basis of the column space of `a` (thin QR; `a` has full column rank).
pub fn span_basis(a: &DMatrix<f64>) -> DMatrix<f64> {
    a.clone().qr().q()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // n = 24, m = 16, k = 3, v₂ = 1: ρ = 1 − (m−k)/(4(m−1)) at η = m/(4k).
        let (m, k) = (16usize, 3usize);
        let (p1, p2) = crate::generative::data::pair_probabilities(m, k);
        let lr = m as f64 / (4.0 * k as f64);
        assert!((rate_signed(lr, 1.0, p1) - (1.0 - 13.0 / 60.0)).abs() < 1e-15);
        assert!((rate_modes(lr, 24, m, k, 1.0, p1, p2) - rate_signed(lr, 1.0, p1)).abs() < 1e-15);
        assert!((relu_scale(0.5) - 1.280776406).abs() < 1e-9);
        assert_eq!(floor_factor(8, 1), 0.0);
        assert!((floor_factor(32, 3) - 4.0 / 37.0).abs() < 1e-15);
        let c = clusters(&[0.1, 0.1 + 1e-9, 0.5, 0.5, 0.5], 1e-6);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].1, c[1].1), (2, 3));
    }
}
