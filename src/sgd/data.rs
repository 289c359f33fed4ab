//! Input sources of the simulator (spec `autoencoder-ode.md` §1.1).
//!
//! The Gaussian source samples `x ~ N(0, Ω)` from the very [`Covariance`] object the theory
//! uses (same groups, same eigendirections; nothing is re-estimated), in O(D·n_explicit) per
//! input and without ever forming a D×D matrix.

use std::sync::Arc;

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::dataset::Dataset;
use crate::rng::Rng;
use crate::spectrum::{Covariance, GroupBasis};

/// Where the training and test inputs come from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// Centred Gaussian inputs with covariance Ω.
    Gaussian(GaussianSampler),
    /// The samples of a real dataset, drawn uniformly with replacement (one uniform index per
    /// input, from the same random stream).
    Samples(Arc<Dataset>),
}

impl DataSource {
    /// The Gaussian source of `cov`.
    pub fn gaussian(cov: &Covariance) -> Self {
        DataSource::Gaussian(GaussianSampler::new(cov))
    }

    /// The input dimension D.
    pub fn dim(&self) -> usize {
        match self {
            DataSource::Gaussian(s) => s.dim,
            DataSource::Samples(d) => d.dim(),
        }
    }

    /// Draw one input into `x` (length D).
    pub fn sample(&self, rng: &mut Rng, x: &mut [f64]) {
        match self {
            DataSource::Gaussian(s) => s.sample(rng, x),
            DataSource::Samples(d) => x.copy_from_slice(d.row(rng.random_range(0..d.len()))),
        }
    }
}

/// One group of explicit directions `u_τ` (rows) added on top of the base.
#[derive(Debug, Clone)]
struct Directions {
    /// The rows `u_τ`, n × D row-major.
    rows: Vec<f64>,
    /// `√(ρ_G − b)` when `ρ_G ≥ b` (independent coefficients), else `√ρ_G − √b`
    /// (projection of the base noise).
    coefficient: f64,
    /// True when the group adds independent coefficients (ρ_G ≥ b).
    independent: bool,
}

/// Sampler of `x ~ N(0, Ω)` for `Ω = Σ_G ρ_G P_G` (P_G the projector on group G).
///
/// One group with base eigenvalue `b` is implicit: the complement group if there is one,
/// else the largest group with explicit vectors (else `b = 0`). With `ξ ~ N(0, I_D)`,
///
/// ```text
/// x = s ∘ ξ + Σ_{G: ρ_G ≥ b} √(ρ_G − b) Σ_{τ∈G} c_τ u_τ + Σ_{G: ρ_G < b} (√ρ_G − √b) P_G ξ
/// ```
///
/// with fresh `c_τ ~ N(0, 1)` (independent spike coefficients) and the per-coordinate scale
/// `s_i = √ρ_G` on coordinates of a canonical-basis group, `√b` elsewhere. Because the
/// groups are mutually orthogonal, Cov(x) = Σ_G ρ_G P_G = Ω exactly. Cost per input: D + n
/// normals and O(D) work per explicit direction (2 passes for the rare ρ_G < b groups).
/// Random order: ξ_0..ξ_{D−1}, then the coefficients of the groups in spectrum order.
#[derive(Debug, Clone)]
pub struct GaussianSampler {
    dim: usize,
    /// `√b`, when no coordinate group changes the per-coordinate scale.
    base: f64,
    /// Per-coordinate scale `s_i` (only with canonical-basis groups).
    scale: Option<Vec<f64>>,
    groups: Vec<Directions>,
}

impl GaussianSampler {
    /// The sampler of the covariance `cov`.
    pub fn new(cov: &Covariance) -> Self {
        let dim = cov.dim();
        let groups = cov.spectrum().groups();
        let bases = cov.bases();
        // The implicit base group: the complement, else the largest explicit-vector group.
        let base_group = bases
            .iter()
            .position(|b| *b == GroupBasis::Complement)
            .or_else(|| {
                bases
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| matches!(b, GroupBasis::Vectors(_)))
                    .max_by_key(|(g, _)| groups[*g].multiplicity)
                    .map(|(g, _)| g)
            });
        let b = base_group.map_or(0.0, |g| groups[g].rho);
        let mut scale: Option<Vec<f64>> = None;
        let mut dirs = Vec::new();
        for (g, basis) in bases.iter().enumerate() {
            if Some(g) == base_group {
                continue;
            }
            let rho = groups[g].rho;
            match basis {
                GroupBasis::Coordinates(idx) => {
                    let s = scale.get_or_insert_with(|| vec![b.sqrt(); dim]);
                    for &i in idx {
                        s[i] = rho.sqrt();
                    }
                }
                GroupBasis::Vectors(u) => {
                    let mut rows = Vec::with_capacity(u.nrows() * dim);
                    for r in 0..u.nrows() {
                        rows.extend(u.row(r).iter());
                    }
                    let independent = rho >= b;
                    dirs.push(Directions {
                        rows,
                        coefficient: if independent {
                            (rho - b).sqrt()
                        } else {
                            rho.sqrt() - b.sqrt()
                        },
                        independent,
                    });
                }
                GroupBasis::Complement => unreachable!("the complement is the base group"),
            }
        }
        GaussianSampler {
            dim,
            base: b.sqrt(),
            scale,
            groups: dirs,
        }
    }

    /// Draw one input into `x` (length D).
    pub fn sample(&self, rng: &mut Rng, x: &mut [f64]) {
        let d = self.dim;
        debug_assert_eq!(x.len(), d);
        for xi in x.iter_mut() {
            *xi = StandardNormal.sample(rng);
        }
        // Projections of the base noise on the groups with ρ_G < b (before rescaling x).
        let mut projected: Vec<(f64, usize, usize)> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            if !g.independent {
                for (r, u) in g.rows.chunks_exact(d).enumerate() {
                    projected.push((g.coefficient * super::linalg::dot(u, x), gi, r));
                }
            }
        }
        match &self.scale {
            Some(s) => x.iter_mut().zip(s).for_each(|(xi, si)| *xi *= si),
            None => x.iter_mut().for_each(|xi| *xi *= self.base),
        }
        for g in self.groups.iter().filter(|g| g.independent) {
            for u in g.rows.chunks_exact(d) {
                let c: f64 = StandardNormal.sample(rng);
                super::linalg::axpy(x, g.coefficient * c, u);
            }
        }
        for (a, gi, r) in projected {
            super::linalg::axpy(x, a, &self.groups[gi].rows[r * d..(r + 1) * d]);
        }
    }
}
