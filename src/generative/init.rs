//! Initialisation at a controlled distance from the truth (Nguyen, Wong & Hegde 2019: the
//! analysis starts from ‖w_i⁰ − a_i‖ ≤ δ).
//!
//! * `Sphere`: `w_i⁰ = s_i a_{π(i)} + δ ξ_i`, ξ_i uniform on the unit sphere of ℝⁿ
//!   (a normalised Gaussian), so `‖w_i⁰ − s_i a_{π(i)}‖ = δ` exactly;
//! * `Tangent`: ξ_i projected orthogonally to a_{π(i)} before normalising
//!   (`‖w_i⁰‖ = √(1 + δ²)`);
//! * `Random`: rows iid N(0, I_n/n), the contrast case the theory does not cover;
//! * `File`: given weights.
//!
//! π is the identity and s_i = +1 unless `permute_rows` / `flip_signs` (to exercise the
//! matching). Draw order in the init stream: the n·m Gaussians of ξ (row by row), then the
//! permutation, then the signs.

use nalgebra::{DMatrix, DVector};
use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::Rng;

/// How W⁰ is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum InitKind {
    /// Truth plus δ times a uniform unit vector.
    Sphere,
    /// Truth plus δ times a uniform unit vector orthogonal to the atom.
    Tangent,
    /// Rows iid N(0, I_n/n).
    Random,
    /// Given m × n weights.
    File(DMatrix<f64>),
}

/// A validated initialisation.
#[derive(Debug, Clone, PartialEq)]
pub struct InitSpec {
    /// Kind.
    pub kind: InitKind,
    /// δ.
    pub distance: f64,
    /// Random row permutation π.
    pub permute_rows: bool,
    /// Random row signs s_i.
    pub flip_signs: bool,
}

impl InitSpec {
    /// True when the run starts near the truth (matching computed once from W⁰).
    pub fn near_truth(&self) -> bool {
        matches!(self.kind, InitKind::Sphere | InitKind::Tangent)
    }
}

/// W⁰ (m × n) for dictionary `a` (n × m).
pub fn initial_weights(spec: &InitSpec, a: &DMatrix<f64>, rng: &mut Rng) -> DMatrix<f64> {
    let (n, m) = a.shape();
    match &spec.kind {
        InitKind::File(w) => w.clone(),
        InitKind::Random => {
            let sd = 1.0 / (n as f64).sqrt();
            let mut w = DMatrix::zeros(m, n);
            for i in 0..m {
                for j in 0..n {
                    let z: f64 = StandardNormal.sample(rng);
                    w[(i, j)] = sd * z;
                }
            }
            w
        }
        InitKind::Sphere | InitKind::Tangent => {
            let mut xi: Vec<DVector<f64>> = (0..m)
                .map(|_| DVector::from_fn(n, |_, _| StandardNormal.sample(rng)))
                .collect();
            let mut perm: Vec<usize> = (0..m).collect();
            if spec.permute_rows {
                perm.shuffle(rng);
            }
            let signs: Vec<f64> = (0..m)
                .map(|_| {
                    if spec.flip_signs && rng.random::<bool>() {
                        -1.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let mut w = DMatrix::zeros(m, n);
            for i in 0..m {
                let atom = a.column(perm[i]);
                let x = &mut xi[i];
                if spec.kind == InitKind::Tangent {
                    let c = atom.dot(x);
                    x.axpy(-c, &atom, 1.0);
                }
                let norm = x.norm();
                // A Gaussian vector (or its projection, n ≥ 2) is zero with probability 0;
                // n = 1 has no tangent direction: fall back to no perturbation.
                let dir = if norm > 0.0 {
                    &*x / norm
                } else {
                    DVector::zeros(n)
                };
                for j in 0..n {
                    w[(i, j)] = signs[i] * atom[j] + spec.distance * dir[j];
                }
            }
            w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generative::data::gaussian_dictionary;
    use crate::rng::rng_for;

    #[test]
    fn distances_are_exact() {
        let a = gaussian_dictionary(20, 8, &mut rng_for(1, 1));
        for kind in [InitKind::Sphere, InitKind::Tangent] {
            let spec = InitSpec {
                kind: kind.clone(),
                distance: 0.3,
                permute_rows: false,
                flip_signs: false,
            };
            let w = initial_weights(&spec, &a, &mut rng_for(1, 2));
            for i in 0..8 {
                let d = (w.row(i).transpose() - a.column(i)).norm();
                assert!((d - 0.3).abs() < 1e-14);
                if kind == InitKind::Tangent {
                    assert!((w.row(i).norm() - (1.0f64 + 0.09).sqrt()).abs() < 1e-14);
                }
            }
        }
    }
}
