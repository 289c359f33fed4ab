//! Training data and test points: n points x_i ∈ ℝ^d (rows of X, n × d).
//!
//! `sphere` data are the rows of an n × d matrix of iid N(0, 1) entries, each normalised to
//! unit norm. The kernels of the model lose strict positive definiteness when two points are
//! parallel, so every data set must satisfy the non-degeneracy condition
//! min_{i≠j} (1 − |ρ_ij|) > [`PARALLEL_GAP`], ρ_ij = ⟨x_i, x_j⟩/(‖x_i‖‖x_j‖)
//! (Nguyen, Wong & Hegde 2021: "mild non-degeneracy conditions on the training data").

use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::Rng;

/// Smallest allowed 1 − |ρ_ij| between two distinct points: below it the pair counts as
/// duplicated (ρ ≈ 1) or antipodal (ρ ≈ −1).
pub const PARALLEL_GAP: f64 = 1e-12;

/// Why a point set is unusable (no config key names: the caller maps them).
#[derive(Debug, Clone, PartialEq)]
pub enum DataError {
    /// No points or no coordinates.
    Empty {
        /// n.
        n: usize,
        /// d.
        d: usize,
    },
    /// A non-finite coordinate.
    NonFinite {
        /// Row.
        i: usize,
    },
    /// A point of zero norm (its angle to the others is undefined).
    Zero {
        /// Row.
        i: usize,
    },
    /// Two points on one line through the origin.
    Parallel {
        /// First row.
        i: usize,
        /// Second row.
        j: usize,
        /// ρ_ij.
        rho: f64,
    },
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::Empty { n, d } => {
                write!(f, "needs n ≥ 1 points of dimension d ≥ 1, got {n}×{d}")
            }
            DataError::NonFinite { i } => write!(f, "point {i} has a non-finite coordinate"),
            DataError::Zero { i } => write!(f, "point {i} is zero"),
            DataError::Parallel { i, j, rho } => {
                write!(
                f,
                "points {i} and {j} are {} (cosine {rho}); need min 1 − |ρ_ij| > {PARALLEL_GAP}",
                if *rho > 0.0 { "duplicated" } else { "antipodal" }
            )
            }
        }
    }
}

/// n unit vectors in ℝ^d: rows of an n × d N(0, 1) matrix (drawn row by row) normalised.
pub fn sphere(n: usize, d: usize, rng: &mut Rng) -> DMatrix<f64> {
    let mut x = DMatrix::zeros(n, d);
    for i in 0..n {
        let mut norm2 = 0.0;
        for j in 0..d {
            let z: f64 = StandardNormal.sample(rng);
            x[(i, j)] = z;
            norm2 += z * z;
        }
        let s = 1.0 / norm2.sqrt();
        for j in 0..d {
            x[(i, j)] *= s;
        }
    }
    x
}

/// Check n, d ≥ 1, finiteness, non-zero rows and min_{i≠j}(1 − |ρ_ij|) > [`PARALLEL_GAP`].
pub fn check_points(x: &DMatrix<f64>) -> Result<(), DataError> {
    let (n, d) = x.shape();
    if n < 1 || d < 1 {
        return Err(DataError::Empty { n, d });
    }
    let norms: Vec<f64> = (0..n).map(|i| x.row(i).norm()).collect();
    for (i, &norm) in norms.iter().enumerate() {
        if x.row(i).iter().any(|v| !v.is_finite()) {
            return Err(DataError::NonFinite { i });
        }
        if norm == 0.0 {
            return Err(DataError::Zero { i });
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            let rho = x.row(i).dot(&x.row(j)) / (norms[i] * norms[j]);
            if 1.0 - rho.abs() <= PARALLEL_GAP {
                return Err(DataError::Parallel { i, j, rho });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;

    /// Unit norm up to rounding of a d-term sum.
    const UNIT_NORM: f64 = 1e-14;

    #[test]
    fn sphere_rows_are_unit_and_seeded() {
        let x = sphere(20, 5, &mut rng_for(3, 2));
        for i in 0..20 {
            assert!((x.row(i).norm() - 1.0).abs() < UNIT_NORM);
        }
        assert_eq!(x, sphere(20, 5, &mut rng_for(3, 2)));
        assert_ne!(x, sphere(20, 5, &mut rng_for(4, 2)));
        assert!(check_points(&x).is_ok());
    }

    #[test]
    fn degenerate_sets_are_refused() {
        let mut x = sphere(4, 3, &mut rng_for(1, 2));
        let r = x.row(1).into_owned();
        x.set_row(3, &(r * 2.0));
        assert!(matches!(
            check_points(&x),
            Err(DataError::Parallel { i: 1, j: 3, .. })
        ));
        let r = x.row(1).into_owned();
        x.set_row(3, &(-r));
        let e = check_points(&x).unwrap_err();
        assert!(e.to_string().contains("antipodal"), "{e}");
        x.set_row(3, &nalgebra::RowDVector::zeros(3));
        assert_eq!(check_points(&x), Err(DataError::Zero { i: 3 }));
        assert!(matches!(
            check_points(&DMatrix::zeros(0, 3)),
            Err(DataError::Empty { .. })
        ));
    }
}
