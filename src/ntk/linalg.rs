//! Dense linear-algebra helpers: GEMM with free transposes (strided views handed to
//! nalgebra's `matrixmultiply` path) and symmetric eigen-decompositions sorted ascending.
//!
//! Every routine here is sequential and deterministic; parallel callers split work into
//! fixed chunks and reduce in chunk order, so results never depend on the thread count.

use nalgebra::{DMatrix, DMatrixView, Dyn};

/// A column-major matrix view with arbitrary strides.
pub type View<'a> = DMatrixView<'a, f64, Dyn, Dyn>;

/// The transpose of a column-major `r × c` slice-backed matrix as a `c × r` view (no copy).
pub fn tr_slice(data: &[f64], rows: usize, cols: usize) -> View<'_> {
    View::from_slice_with_strides_generic(data, Dyn(cols), Dyn(rows), Dyn(rows), Dyn(1))
}

/// The transpose of `a` as a view (no copy).
pub fn tr(a: &DMatrix<f64>) -> View<'_> {
    tr_slice(a.as_slice(), a.nrows(), a.ncols())
}

/// `a` as a strided view (so that plain and transposed operands have one type).
pub fn view(a: &DMatrix<f64>) -> View<'_> {
    View::from_slice_with_strides_generic(
        a.as_slice(),
        Dyn(a.nrows()),
        Dyn(a.ncols()),
        Dyn(1),
        Dyn(a.nrows()),
    )
}

/// A column-major `rows × cols` slice as a view.
pub fn view_slice(data: &[f64], rows: usize, cols: usize) -> View<'_> {
    View::from_slice_with_strides_generic(data, Dyn(rows), Dyn(cols), Dyn(1), Dyn(rows))
}

/// Below or at this size nalgebra's `gemm` leaves `matrixmultiply` for a column-by-column
/// `gemv` that mishandles operands with a row stride ≠ 1 (it reads past the column in
/// nalgebra 0.34); such products are done on contiguous copies instead.
const NALGEBRA_SMALL_DIM: usize = 5;

/// `alpha · a · b` as a new matrix.
pub fn mul(alpha: f64, a: &View<'_>, b: &View<'_>) -> DMatrix<f64> {
    let small = a.nrows() <= NALGEBRA_SMALL_DIM
        || a.ncols() <= NALGEBRA_SMALL_DIM
        || b.ncols() <= NALGEBRA_SMALL_DIM;
    if small {
        return a.clone_owned() * b.clone_owned() * alpha;
    }
    let mut c = DMatrix::zeros(a.nrows(), b.ncols());
    c.gemm(alpha, a, b, 0.0);
    c
}

/// Eigenvalues of a symmetric matrix, ascending.
pub fn sym_eigenvalues(h: DMatrix<f64>) -> Vec<f64> {
    let mut v: Vec<f64> = h.symmetric_eigenvalues().iter().copied().collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Eigen-decomposition of a symmetric matrix: eigenvalues ascending and the matching
/// orthonormal eigenvectors as columns.
pub fn sym_eigen(h: DMatrix<f64>) -> (Vec<f64>, DMatrix<f64>) {
    let e = nalgebra::SymmetricEigen::new(h);
    let mut order: Vec<usize> = (0..e.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| e.eigenvalues[a].total_cmp(&e.eigenvalues[b]));
    let vals = order.iter().map(|&i| e.eigenvalues[i]).collect();
    let vecs = DMatrix::from_fn(e.eigenvectors.nrows(), order.len(), |r, c| {
        e.eigenvectors[(r, order[c])]
    });
    (vals, vecs)
}

/// Operator (spectral) norm of a symmetric matrix: its largest absolute eigenvalue.
pub fn sym_op_norm(h: DMatrix<f64>) -> f64 {
    sym_eigenvalues(h)
        .iter()
        .fold(0.0, |a: f64, &l| a.max(l.abs()))
}

/// Least-squares slope of `y` against `x` (NaN with fewer than two points).
pub fn ls_slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for i in 0..n {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    sxy / sxx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products of O(1) numbers over ≤ 10 terms agree to this (rounding only).
    const ROUNDING: f64 = 1e-12;

    #[test]
    fn transposed_views_multiply_like_explicit_transposes() {
        let a = DMatrix::from_fn(7, 9, |i, j| ((i * 3 + j * 5) % 7) as f64 - 3.0);
        let b = DMatrix::from_fn(7, 8, |i, j| ((i * 2 + j) % 5) as f64 * 0.5);
        let c = mul(2.0, &tr(&a), &view(&b));
        let expect = a.transpose() * &b * 2.0;
        assert!((c - expect).abs().max() < ROUNDING);
    }

    #[test]
    fn small_strided_products_are_right() {
        for (r, k, c) in [(5, 3, 9), (3, 9, 2), (9, 9, 4), (1, 1, 1)] {
            let a = DMatrix::from_fn(k, r, |i, j| (i as f64) - 0.5 * j as f64);
            let b = DMatrix::from_fn(k, c, |i, j| 1.0 + (i * j) as f64);
            let got = mul(1.5, &tr(&a), &view(&b));
            assert!((got - a.transpose() * &b * 1.5).abs().max() < ROUNDING);
        }
    }

    #[test]
    fn eigen_sorted_and_reconstructs() {
        let a = DMatrix::from_fn(6, 6, |i, j| 1.0 / (1.0 + i as f64 + j as f64));
        let (vals, vecs) = sym_eigen(a.clone());
        assert!(vals.windows(2).all(|w| w[0] <= w[1]));
        let rec = &vecs
            * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vals.clone()))
            * vecs.transpose();
        assert!((rec - &a).abs().max() < ROUNDING);
        let only = sym_eigenvalues(a);
        for (x, y) in only.iter().zip(&vals) {
            assert!((x - y).abs() < ROUNDING);
        }
    }

    #[test]
    fn slope_of_a_line() {
        let x = [1.0, 2.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 0.25 * v).collect();
        assert!((ls_slope(&x, &y) + 0.25).abs() < ROUNDING);
        assert!(ls_slope(&x[..1], &y[..1]).is_nan());
    }
}
