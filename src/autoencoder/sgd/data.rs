//! Input sources of the simulator (docs/autoencoder.md §1.1).
//!
//! The Gaussian source samples `x ~ N(0, Ω)` from the very [`Covariance`] object the theory
//! uses (same groups, same eigendirections; nothing is re-estimated), in O(D·n_explicit) per
//! input and without ever forming a D×D matrix.

use std::sync::Arc;

use nalgebra::DMatrix;

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use super::frame::Frame;
use super::linalg::{axpy, dot, multi_axpy, vectorised};
use crate::dataset::{Dataset, Sampling};
use crate::rng::Rng;
use crate::spectrum::{Covariance, GroupBasis};

/// Where the training and test inputs come from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// Centred Gaussian inputs with covariance Ω.
    Gaussian(GaussianSampler),
    /// The samples of a real dataset, drawn uniformly with replacement (one uniform index per
    /// input) or by epochs (see [`InputStream`]).
    Samples(Arc<Dataset>, Sampling),
}

impl DataSource {
    /// The Gaussian source of `cov`.
    pub fn gaussian(cov: &Covariance) -> Self {
        DataSource::Gaussian(GaussianSampler::new(cov))
    }

    /// The Gaussian source of `cov` in its eigenframe when that is cheaper (see
    /// [`GaussianSampler::in_eigenframe`]), with the frame; else [`DataSource::gaussian`].
    pub fn gaussian_in_eigenframe(cov: &Covariance) -> (Self, Option<Frame>) {
        match GaussianSampler::in_eigenframe(cov) {
            Some((sampler, frame)) => (DataSource::Gaussian(sampler), Some(frame)),
            None => (DataSource::gaussian(cov), None),
        }
    }

    /// The input dimension D.
    pub fn dim(&self) -> usize {
        match self {
            DataSource::Gaussian(s) => s.dim,
            DataSource::Samples(d, _) => d.dim(),
        }
    }

    /// Draw one independent input into `x` (length D); a dataset's samples are drawn
    /// uniformly with replacement whatever its [`Sampling`] (held-out test draws).
    pub fn sample(&self, rng: &mut Rng, x: &mut [f64]) {
        match self {
            DataSource::Gaussian(s) => s.sample(rng, x),
            DataSource::Samples(d, _) => x.copy_from_slice(d.row(rng.random_range(0..d.len()))),
        }
    }
}

/// The training inputs of one replicate: its own random stream over a [`DataSource`], and for
/// a dataset sampled by epochs the current epoch's order (a fresh Fisher–Yates shuffle of all
/// samples, drawn from the same stream, at the start of every epoch).
#[derive(Debug, Clone)]
pub struct InputStream<'a> {
    source: &'a DataSource,
    rng: Rng,
    order: Vec<usize>,
    next: usize,
}

impl<'a> InputStream<'a> {
    /// The stream of `source` driven by `rng`.
    pub fn new(source: &'a DataSource, rng: Rng) -> Self {
        InputStream {
            source,
            rng,
            order: Vec::new(),
            next: 0,
        }
    }

    /// The next training input, into `x` (length D).
    pub fn draw(&mut self, x: &mut [f64]) {
        match self.source {
            DataSource::Samples(d, Sampling::Epochs) => {
                if self.next == self.order.len() {
                    use rand::seq::SliceRandom;
                    self.order = (0..d.len()).collect();
                    self.order.shuffle(&mut self.rng);
                    self.next = 0;
                }
                x.copy_from_slice(d.row(self.order[self.next]));
                self.next += 1;
            }
            source => source.sample(&mut self.rng, x),
        }
    }
}

/// Columns per chunk of the sampling sweep (the chunk of x stays in L1 cache).
const CHUNK: usize = 512;

/// A direction with at most `D / SPARSE_FRACTION` non-zero entries is added entry by entry.
const SPARSE_FRACTION: usize = 8;

/// An explicit direction `u_τ` of a group with ρ_G ≥ b, added with an independent
/// coefficient: `√(ρ_G − b) c_τ u_τ`.
#[derive(Debug, Clone)]
struct Spike {
    /// `√(ρ_G − b)`.
    coefficient: f64,
    /// The non-zero entries `(i, u_i)` when they are few (e.g. a canonical spike); `None`
    /// when the direction is a row of the dense matrix.
    entries: Option<Vec<(usize, f64)>>,
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
/// normals and O(D) work per dense explicit direction (O(non-zeros) for sparse ones). One
/// sweep over x in chunks draws ξ, rescales it and adds the dense directions' terms; the
/// rare ρ_G < b groups take two more passes. Random order: the coefficients of the groups
/// with ρ_G ≥ b in spectrum order, then ξ_0..ξ_{D−1}. In the eigenframe
/// ([`GaussianSampler::in_eigenframe`]) only `x = s ∘ ξ` remains.
#[derive(Debug, Clone)]
pub struct GaussianSampler {
    dim: usize,
    /// `√b`: the scale of the coordinates beyond `scale`.
    base: f64,
    /// The per-coordinate scale `s_i` of the leading coordinates `i < scale.len()` (with
    /// canonical-basis groups: all D; in the eigenframe: the n explicit axes; else none).
    scale: Vec<f64>,
    /// The directions of the groups with ρ_G ≥ b, in spectrum order.
    spikes: Vec<Spike>,
    /// The dense ones among them as rows, n_dense × D, in the same order.
    dense: Vec<f64>,
    /// The directions of the groups with ρ_G < b as rows, n_projected × D.
    projected: Vec<f64>,
    /// Their coefficients `√ρ_G − √b`.
    projected_coefficients: Vec<f64>,
}

impl GaussianSampler {
    /// The implicit base group of `cov`: the complement, else the largest explicit-vector
    /// group (None: no base, b = 0).
    fn base_group(cov: &Covariance) -> Option<usize> {
        let (groups, bases) = (cov.spectrum().groups(), cov.bases());
        bases
            .iter()
            .position(|b| *b == GroupBasis::Complement)
            .or_else(|| {
                bases
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| matches!(b, GroupBasis::Vectors(_)))
                    .max_by_key(|(g, _)| groups[*g].multiplicity)
                    .map(|(g, _)| g)
            })
    }

    /// The sampler of `cov` in its eigenframe F (see [`Frame`]): the explicit directions of
    /// the non-base groups, `u_0..u_{n−1}` in spectrum order, become the axes `±e_0..±e_{n−1}`,
    /// and the inputs are `x' = s ∘ ξ` with `s_m = √ρ_{G(m)}` for m < n and `√b` beyond: exactly
    /// `N(0, F Ω Fᵀ)`, at the cost of D normals. `None` when that gains nothing: no dense
    /// explicit direction (canonical spikes, diagonal Ω), or coordinate groups (diagonal
    /// already, and not kept on the axes by the reflections).
    pub fn in_eigenframe(cov: &Covariance) -> Option<(GaussianSampler, Frame)> {
        let dim = cov.dim();
        let groups = cov.spectrum().groups();
        let base_group = Self::base_group(cov);
        let b = base_group.map_or(0.0, |g| groups[g].rho);
        let mut rows: Vec<f64> = Vec::new();
        let mut scale: Vec<f64> = Vec::new();
        let mut dense = false;
        for (g, basis) in cov.bases().iter().enumerate() {
            match basis {
                _ if Some(g) == base_group => {}
                GroupBasis::Coordinates(_) => return None,
                GroupBasis::Vectors(u) => {
                    for row in u.row_iter() {
                        let nz = row.iter().filter(|x| **x != 0.0).count();
                        dense |= nz * SPARSE_FRACTION > dim;
                        rows.extend(row.iter());
                        scale.push(groups[g].rho.sqrt());
                    }
                }
                GroupBasis::Complement => unreachable!("the complement is the base group"),
            }
        }
        if !dense {
            return None;
        }
        let frame = Frame::new(&DMatrix::from_row_slice(scale.len(), dim, &rows));
        let sampler = GaussianSampler {
            dim,
            base: b.sqrt(),
            scale,
            spikes: Vec::new(),
            dense: Vec::new(),
            projected: Vec::new(),
            projected_coefficients: Vec::new(),
        };
        Some((sampler, frame))
    }

    /// The sampler of the covariance `cov`.
    pub fn new(cov: &Covariance) -> Self {
        let dim = cov.dim();
        let groups = cov.spectrum().groups();
        let bases = cov.bases();
        let base_group = Self::base_group(cov);
        let b = base_group.map_or(0.0, |g| groups[g].rho);
        let mut sampler = GaussianSampler {
            dim,
            base: b.sqrt(),
            scale: Vec::new(),
            spikes: Vec::new(),
            dense: Vec::new(),
            projected: Vec::new(),
            projected_coefficients: Vec::new(),
        };
        for (g, basis) in bases.iter().enumerate() {
            if Some(g) == base_group {
                continue;
            }
            let rho = groups[g].rho;
            match basis {
                GroupBasis::Coordinates(idx) => {
                    let s = &mut sampler.scale;
                    s.resize(dim, b.sqrt());
                    for &i in idx {
                        s[i] = rho.sqrt();
                    }
                }
                GroupBasis::Vectors(u) => {
                    for r in 0..u.nrows() {
                        let row = u.row(r);
                        if rho < b {
                            sampler.projected.extend(row.iter());
                            sampler.projected_coefficients.push(rho.sqrt() - b.sqrt());
                            continue;
                        }
                        let nz: Vec<(usize, f64)> = (0..dim)
                            .filter(|&i| row[i] != 0.0)
                            .map(|i| (i, row[i]))
                            .collect();
                        let sparse = nz.len() * SPARSE_FRACTION <= dim;
                        if !sparse {
                            sampler.dense.extend(row.iter());
                        }
                        sampler.spikes.push(Spike {
                            coefficient: (rho - b).sqrt(),
                            entries: sparse.then_some(nz),
                        });
                    }
                }
                GroupBasis::Complement => unreachable!("the complement is the base group"),
            }
        }
        sampler
    }

    /// Draw one input into `x` (length D).
    pub fn sample(&self, rng: &mut Rng, x: &mut [f64]) {
        let d = self.dim;
        debug_assert_eq!(x.len(), d);
        // Coefficients `a_τ = √(ρ_G − b) c_τ`: dense directions are added in the sweep,
        // sparse ones entry by entry after it.
        let mut dense = Vec::with_capacity(self.dense.len() / d.max(1));
        let mut sparse: Vec<(f64, &[(usize, f64)])> = Vec::new();
        for spike in &self.spikes {
            let c: f64 = StandardNormal.sample(rng);
            let a = spike.coefficient * c;
            match &spike.entries {
                Some(e) => sparse.push((a, e)),
                None => dense.push(a),
            }
        }
        // Projections `u·ξ` of the base noise on the directions of the groups with ρ_G < b.
        let mut projections = vec![0.0; self.projected_coefficients.len()];
        vectorised(
            #[inline(always)]
            || {
                for j0 in (0..d).step_by(CHUNK) {
                    let j1 = (j0 + CHUNK).min(d);
                    let xc = &mut x[j0..j1];
                    for xi in xc.iter_mut() {
                        *xi = StandardNormal.sample(rng);
                    }
                    for (p, u) in projections.iter_mut().zip(self.projected.chunks_exact(d)) {
                        *p += dot(&u[j0..j1], xc);
                    }
                    let split = self.scale.len().clamp(j0, j1);
                    let (head, tail) = xc.split_at_mut(split - j0);
                    head.iter_mut()
                        .zip(self.scale.get(j0..split).unwrap_or_default())
                        .for_each(|(xi, si)| *xi *= si);
                    tail.iter_mut().for_each(|xi| *xi *= self.base);
                    multi_axpy(xc, &dense, &self.dense, d, j0);
                }
            },
        );
        for (a, entries) in sparse {
            for &(i, ui) in entries {
                x[i] += a * ui;
            }
        }
        for ((p, c), u) in projections
            .iter()
            .zip(&self.projected_coefficients)
            .zip(self.projected.chunks_exact(d))
        {
            axpy(x, c * p, u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;

    fn source(sampling: Sampling) -> DataSource {
        let rows: Vec<f64> = (0..7).flat_map(|i| [i as f64, -(i as f64)]).collect();
        DataSource::Samples(Arc::new(Dataset::from_rows(7, 2, rows).unwrap()), sampling)
    }

    fn draws(source: &DataSource, n: usize, seed: u64) -> Vec<usize> {
        let mut s = InputStream::new(source, rng_for(seed, 0));
        let mut x = [0.0; 2];
        (0..n)
            .map(|_| {
                s.draw(&mut x);
                x[0] as usize
            })
            .collect()
    }

    #[test]
    fn epochs_visit_every_sample_once_per_epoch_in_fresh_orders() {
        let src = source(Sampling::Epochs);
        let d = draws(&src, 21, 3);
        let epochs: Vec<Vec<usize>> = d.chunks(7).map(|c| c.to_vec()).collect();
        for e in &epochs {
            let mut sorted = e.clone();
            sorted.sort();
            assert_eq!(sorted, (0..7).collect::<Vec<_>>(), "{d:?}");
        }
        assert!(epochs[0] != epochs[1] || epochs[1] != epochs[2], "{d:?}");
        assert_eq!(d, draws(&src, 21, 3), "reproducible from the seed");
    }

    #[test]
    fn replacement_repeats_samples_within_an_epoch_length() {
        // 21 draws from 7 samples with replacement: some sample repeats within the first 7
        // draws with probability 1 − 7!/7⁷ ≈ 0.994; this seed does.
        let d = draws(&source(Sampling::Replacement), 21, 3);
        let mut first: Vec<usize> = d[..7].to_vec();
        first.sort();
        first.dedup();
        assert!(first.len() < 7, "{d:?}");
        assert!(d.iter().all(|&i| i < 7));
    }
}
