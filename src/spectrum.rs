//! The input covariance Ω: its eigenvalues grouped by equal value, and the eigendirections
//! of each group (docs/autoencoder.md §1.1, §4).
//!
//! Notation (docs/autoencoder.md §1.1): `Ω = Σ_τ ρ_τ u_τ u_τᵀ` with `ρ_τ` the eigenvalues **of Ω itself**
//! and `u_τ` orthonormal; the rescaled eigenvalue is `ρ̃_τ = ρ_τ / D` (`rho_tilde`), O(1)
//! for spikes (`ρ_m = θ_m D`) and O(1/D) for the bulk. Directions with equal eigenvalue form
//! one group `G` with eigenvalue `ρ_G` and multiplicity `n_G`; the ODE is exact on groups
//! (docs/autoencoder.md §4).

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One group of equal eigenvalues of Ω.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EigenGroup {
    /// The eigenvalue `ρ_G` of Ω (not rescaled).
    pub rho: f64,
    /// The multiplicity `n_G`.
    pub multiplicity: usize,
}

/// The spectrum of Ω at dimension D as groups of eigenvalues: equal eigenvalues merged and
/// largest first, except for [`Spectrum::ungrouped`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    dim: usize,
    groups: Vec<EigenGroup>,
}

impl Spectrum {
    /// A spectrum from groups; equal eigenvalues are merged and groups sorted, largest first.
    pub fn from_groups(dim: usize, groups: &[EigenGroup]) -> Result<Self> {
        let total: usize = groups.iter().map(|g| g.multiplicity).sum();
        if total != dim {
            return Err(Error::config(
                "data",
                format!("multiplicities add up to {total}, but the dimension is {dim}"),
            ));
        }
        if let Some(g) = groups.iter().find(|g| !(g.rho.is_finite() && g.rho >= 0.0)) {
            return Err(Error::config(
                "data",
                format!("eigenvalue {} is not a finite number ≥ 0", g.rho),
            ));
        }
        let mut v: Vec<EigenGroup> = groups
            .iter()
            .filter(|g| g.multiplicity > 0)
            .copied()
            .collect();
        v.sort_by(|a, b| b.rho.total_cmp(&a.rho));
        let mut merged: Vec<EigenGroup> = Vec::with_capacity(v.len());
        for g in v {
            match merged.last_mut() {
                Some(last) if last.rho == g.rho => last.multiplicity += g.multiplicity,
                _ => merged.push(g),
            }
        }
        Ok(Spectrum {
            dim,
            groups: merged,
        })
    }

    /// One group per direction, in the given order, without aggregating equal eigenvalues:
    /// the per-direction ODE of docs/autoencoder.md §3.2 (what the reference code integrates). Useful to
    /// check the aggregation of docs/autoencoder.md §4, and for spectra without repeated eigenvalues.
    pub fn ungrouped(eigenvalues: &[f64]) -> Result<Self> {
        if let Some(v) = eigenvalues.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::config(
                "eigenvalues",
                format!("eigenvalue {v} is not a finite number ≥ 0"),
            ));
        }
        Ok(Spectrum {
            dim: eigenvalues.len(),
            groups: eigenvalues
                .iter()
                .map(|&rho| EigenGroup {
                    rho,
                    multiplicity: 1,
                })
                .collect(),
        })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The groups (largest eigenvalue first unless ungrouped).
    pub fn groups(&self) -> &[EigenGroup] {
        &self.groups
    }

    /// `ρ̃_G = ρ_G / D` of group `g`.
    pub fn rho_tilde(&self, g: usize) -> f64 {
        self.groups[g].rho / self.dim as f64
    }

    /// `tr Ω / D = Σ_G n_G ρ̃_G`.
    pub fn trace_over_dim(&self) -> f64 {
        self.groups
            .iter()
            .map(|g| g.rho * g.multiplicity as f64)
            .sum::<f64>()
            / self.dim as f64
    }

    /// PCA reference errors (docs/autoencoder.md §3.7): `ε_PCA(m) = ½ (tr Ω/D − Σ_{i≤m} ρ̃_(i))`,
    /// the error of the best rank-m linear reconstruction, for `m = 0..=k`.
    pub fn pca_errors(&self, k: usize) -> Vec<f64> {
        let d = self.dim as f64;
        let mut top: Vec<(f64, usize)> = self
            .groups
            .iter()
            .map(|g| (g.rho / d, g.multiplicity))
            .collect();
        top.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut it = top.iter().flat_map(|&(r, n)| std::iter::repeat_n(r, n));
        let trace = self.trace_over_dim();
        let mut explained = 0.0;
        let mut out = vec![0.5 * trace];
        for _ in 0..k {
            explained += it.next().unwrap_or(0.0);
            out.push(0.5 * (trace - explained).max(0.0));
        }
        out
    }
}

/// How the eigendirections of one group are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBasis {
    /// Explicit orthonormal directions, one per row (`n_G × D`).
    Vectors(DMatrix<f64>),
    /// Canonical basis vectors `e_i` for the listed coordinates.
    Coordinates(Vec<usize>),
    /// The orthogonal complement of all other groups' directions (at most one group).
    Complement,
}

/// Where the spikes of a spiked covariance point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpikeDirections {
    /// Random orthonormal directions (Gram–Schmidt of Gaussian vectors drawn from a seed).
    Random,
    /// The paper's sinusoids `A_{m,i} = sin((m+1) i/100)`, `m = 1..M`, `i = 0..D−1`,
    /// orthonormalised (docs/autoencoder.md §1.1).
    Sinusoidal,
    /// The canonical basis vectors `e_0, …, e_{M−1}`.
    Canonical,
}

/// Unchecked parameters of the spiked model: `M` spikes `ρ_m = θ_m D` along orthonormal
/// directions plus an isotropic bulk eigenvalue `b` (multiplicity `D − M`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpikedParams {
    /// D.
    pub dim: usize,
    /// θ_m (rescaled spike strengths, ρ_m = θ_m·D).
    pub spikes: Vec<f64>,
    /// b, the bulk eigenvalue.
    pub bulk: f64,
    /// Rescale everything so that tr Ω / D = 1.
    pub normalize: bool,
    /// Spike directions.
    pub directions: SpikeDirections,
    /// Seed of random spike directions.
    pub seed: u64,
}

/// A covariance Ω: its spectrum and, for each group, its eigendirections.
/// This one object generates the data of the simulator and the initial projections of the
/// theory, so both see exactly the same Ω.
#[derive(Debug, Clone)]
pub struct Covariance {
    spectrum: Spectrum,
    bases: Vec<GroupBasis>,
    /// Spectrum before binning (for the PCA errors), if the groups were binned.
    unbinned: Option<Spectrum>,
}

impl Covariance {
    /// The spiked model (docs/autoencoder.md §1.1, issue contract `[data] kind = "spiked"`).
    pub fn spiked(p: &SpikedParams) -> Result<Self> {
        let d = p.dim;
        let m = p.spikes.len();
        if d < 2 {
            return Err(Error::config("dim", format!("must be ≥ 2, got {d}")));
        }
        if m >= d {
            return Err(Error::config(
                "spikes",
                format!("{m} spikes need a dimension > {m}, got dim = {d}"),
            ));
        }
        if let Some((i, t)) = p
            .spikes
            .iter()
            .enumerate()
            .find(|(_, t)| !(t.is_finite() && **t > 0.0))
        {
            return Err(Error::config(
                format!("spikes.{i}"),
                format!("must be a finite number > 0, got {t}"),
            ));
        }
        if !(p.bulk.is_finite() && p.bulk >= 0.0) {
            return Err(Error::config(
                "bulk",
                format!("must be a finite number ≥ 0, got {}", p.bulk),
            ));
        }
        let df = d as f64;
        let scale = if p.normalize {
            let tr = p.spikes.iter().sum::<f64>() + p.bulk * (d - m) as f64 / df;
            1.0 / tr
        } else {
            1.0
        };
        let vectors = spike_vectors(d, m, p.directions, p.seed);
        // Build groups of equal eigenvalue, spikes first (in the given order).
        let mut entries: Vec<(f64, Vec<usize>)> = Vec::new();
        for (i, &theta) in p.spikes.iter().enumerate() {
            let rho = theta * df * scale;
            match entries.iter_mut().find(|(r, _)| *r == rho) {
                Some((_, idx)) => idx.push(i),
                None => entries.push((rho, vec![i])),
            }
        }
        let bulk_rho = p.bulk * scale;
        let mut groups: Vec<(EigenGroup, GroupBasis)> = Vec::new();
        for (rho, idx) in entries {
            let mut basis = DMatrix::zeros(idx.len(), d);
            for (r, &i) in idx.iter().enumerate() {
                basis.set_row(r, &vectors.row(i));
            }
            if rho == bulk_rho {
                // A spike equal to the bulk is part of the bulk: one isotropic group.
                continue;
            }
            groups.push((
                EigenGroup {
                    rho,
                    multiplicity: idx.len(),
                },
                GroupBasis::Vectors(basis),
            ));
        }
        let n_explicit: usize = groups.iter().map(|(g, _)| g.multiplicity).sum();
        groups.push((
            EigenGroup {
                rho: bulk_rho,
                multiplicity: d - n_explicit,
            },
            GroupBasis::Complement,
        ));
        Self::from_parts(d, groups, None)
    }

    /// A covariance from its eigenvalues (`ρ_τ`, of Ω itself) and optionally its eigenvectors
    /// (columns of `vectors`, D×D). Without eigenvectors the canonical basis is used (the
    /// laws of the simulator and of random initial projections do not depend on the basis).
    /// Equal eigenvalues are grouped exactly; with `bins = Some(n)` and more than `n` distinct
    /// eigenvalues, the positive eigenvalues are binned into at most `n` groups of equal width
    /// in `ln ρ` (each group takes the mean eigenvalue of its members, which preserves tr Ω;
    /// docs/autoencoder.md §4, "binning"), and zero eigenvalues form one exact group.
    pub fn from_eigen(
        eigenvalues: &[f64],
        vectors: Option<&DMatrix<f64>>,
        bins: Option<usize>,
    ) -> Result<Self> {
        let d = eigenvalues.len();
        if d < 2 {
            return Err(Error::config(
                "eigenvalues",
                format!("need at least 2 eigenvalues, got {d}"),
            ));
        }
        if let Some((i, v)) = eigenvalues
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            return Err(Error::config(
                "eigenvalues",
                format!("entry {i} is {v}: eigenvalues of a covariance must be finite and ≥ 0"),
            ));
        }
        if let Some(u) = vectors {
            if u.nrows() != d || u.ncols() != d {
                return Err(Error::config(
                    "eigenvectors",
                    format!(
                        "must be {d}×{d} (one column per eigenvalue), got {}×{}",
                        u.nrows(),
                        u.ncols()
                    ),
                ));
            }
            let gram = u.transpose() * u;
            let dev = (gram - DMatrix::<f64>::identity(d, d)).amax();
            if dev > ORTHONORMAL_TOL {
                return Err(Error::config(
                    "eigenvectors",
                    format!("columns are not orthonormal: max |UᵀU − I| = {dev:.2e}"),
                ));
            }
        }
        if bins == Some(0) {
            return Err(Error::config("bins", "must be ≥ 1"));
        }
        // Exact groups: indices per distinct value.
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]));
        let mut exact: Vec<(f64, Vec<usize>)> = Vec::new();
        for i in order {
            match exact.last_mut() {
                Some((v, idx)) if *v == eigenvalues[i] => idx.push(i),
                _ => exact.push((eigenvalues[i], vec![i])),
            }
        }
        let binned = match bins {
            Some(n) if exact.len() > n => Some(bin_log(&exact, n)),
            _ => None,
        };
        let unbinned = if binned.is_some() {
            let groups: Vec<EigenGroup> = exact
                .iter()
                .map(|(v, idx)| EigenGroup {
                    rho: *v,
                    multiplicity: idx.len(),
                })
                .collect();
            Some(Spectrum::from_groups(d, &groups)?)
        } else {
            None
        };
        let groups = binned
            .unwrap_or(exact)
            .into_iter()
            .map(|(rho, idx)| {
                let basis = match vectors {
                    Some(u) => {
                        let mut b = DMatrix::zeros(idx.len(), d);
                        for (r, &i) in idx.iter().enumerate() {
                            b.set_row(r, &u.column(i).transpose());
                        }
                        GroupBasis::Vectors(b)
                    }
                    None => GroupBasis::Coordinates(idx.clone()),
                };
                (
                    EigenGroup {
                        rho,
                        multiplicity: idx.len(),
                    },
                    basis,
                )
            })
            .collect();
        Self::from_parts(d, groups, unbinned)
    }

    fn from_parts(
        dim: usize,
        mut groups: Vec<(EigenGroup, GroupBasis)>,
        unbinned: Option<Spectrum>,
    ) -> Result<Self> {
        groups.retain(|(g, _)| g.multiplicity > 0);
        groups.sort_by(|a, b| b.0.rho.total_cmp(&a.0.rho));
        let (gs, bases): (Vec<EigenGroup>, Vec<GroupBasis>) = groups.into_iter().unzip();
        let spectrum = Spectrum::from_groups(dim, &gs)?;
        if spectrum.groups.len() != gs.len() {
            return Err(Error::Unsupported(
                "two groups of the covariance have the same eigenvalue".into(),
            ));
        }
        Ok(Covariance {
            spectrum,
            bases,
            unbinned,
        })
    }

    /// The spectrum used by the dynamics (binned, if binning was asked for).
    pub fn spectrum(&self) -> &Spectrum {
        &self.spectrum
    }

    /// The eigendirections of each group (same order as `spectrum().groups()`).
    pub fn bases(&self) -> &[GroupBasis] {
        &self.bases
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.spectrum.dim
    }

    /// PCA reference errors `ε_PCA(m)`, m = 0..=k (docs/autoencoder.md §3.7), from the exact (unbinned)
    /// eigenvalues.
    pub fn pca_errors(&self, k: usize) -> Vec<f64> {
        self.unbinned
            .as_ref()
            .unwrap_or(&self.spectrum)
            .pca_errors(k)
    }

    /// The per-group second moments of the rows of `y` (p × D): for every group G,
    /// `S_G = Σ_{τ∈G} (y u_τ)(y u_τ)ᵀ` (p × p). The complement group gets
    /// `y yᵀ − Σ_{explicit G} S_G`. Cost O(p·D·n_explicit + p²·D).
    pub fn group_moments(&self, y: &DMatrix<f64>) -> Result<Vec<DMatrix<f64>>> {
        self.group_projections(y).map(|v| {
            v.into_iter()
                .map(|p| match p {
                    Projection::Coefficients(c) => &c * c.transpose(),
                    Projection::Moment(s) => s,
                })
                .collect()
        })
    }

    /// Per group, either the coefficients `Y_G = y U_Gᵀ` (p × n_G, explicit bases) or,
    /// for the complement group, only the second moment `S_G` (p × p).
    pub fn group_projections(&self, y: &DMatrix<f64>) -> Result<Vec<Projection>> {
        let d = self.dim();
        if y.ncols() != d {
            return Err(Error::InvalidState(format!(
                "weights have {} columns, the data dimension is {d}",
                y.ncols()
            )));
        }
        let mut out: Vec<Option<Projection>> = vec![None; self.bases.len()];
        let has_complement = self.bases.contains(&GroupBasis::Complement);
        let mut explicit_sum = DMatrix::<f64>::zeros(y.nrows(), y.nrows());
        let mut complement = None;
        for (g, basis) in self.bases.iter().enumerate() {
            let c = match basis {
                GroupBasis::Vectors(u) => y * u.transpose(),
                GroupBasis::Coordinates(idx) => y.select_columns(idx.iter()),
                GroupBasis::Complement => {
                    complement = Some(g);
                    continue;
                }
            };
            if has_complement {
                explicit_sum += &c * c.transpose();
            }
            out[g] = Some(Projection::Coefficients(c));
        }
        if let Some(g) = complement {
            let total = y * y.transpose();
            out[g] = Some(Projection::Moment(total - explicit_sum));
        }
        Ok(out.into_iter().map(|p| p.expect("every group")).collect())
    }
}

/// A group's projection of a set of rows (see [`Covariance::group_projections`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// Coefficients on explicit directions, p × n_G.
    Coefficients(DMatrix<f64>),
    /// Only the second moment S_G, p × p.
    Moment(DMatrix<f64>),
}

/// Tolerance on `max |UᵀU − I|` for user-given eigenvectors: files written with ~15
/// significant digits, orthonormalised in double precision, reach ~1e-12; 1e-8 leaves room
/// for single-precision `.npy` inputs to fail loudly rather than silently.
const ORTHONORMAL_TOL: f64 = 1e-8;

/// Equal-width bins in ln ρ over the positive eigenvalues; zeros form their own group.
fn bin_log(exact: &[(f64, Vec<usize>)], n: usize) -> Vec<(f64, Vec<usize>)> {
    let positive: Vec<&(f64, Vec<usize>)> = exact.iter().filter(|(v, _)| *v > 0.0).collect();
    let zeros: Vec<usize> = exact
        .iter()
        .filter(|(v, _)| *v == 0.0)
        .flat_map(|(_, i)| i.iter().copied())
        .collect();
    let n_pos = if zeros.is_empty() { n } else { n.max(2) - 1 };
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    if let (Some(hi), Some(lo)) = (positive.first(), positive.last()) {
        let (lhi, llo) = (hi.0.ln(), lo.0.ln());
        let width = (lhi - llo) / n_pos as f64;
        let mut bins: Vec<(f64, Vec<usize>)> = vec![(0.0, Vec::new()); n_pos];
        for (v, idx) in positive {
            let b = if width > 0.0 {
                (((lhi - v.ln()) / width) as usize).min(n_pos - 1)
            } else {
                0
            };
            bins[b].0 += v * idx.len() as f64;
            bins[b].1.extend(idx.iter().copied());
        }
        for (sum, idx) in bins.into_iter().filter(|(_, i)| !i.is_empty()) {
            let mean = sum / idx.len() as f64;
            out.push((mean, idx));
        }
    }
    if !zeros.is_empty() {
        out.push((0.0, zeros));
    }
    out
}

/// `m` orthonormal directions in R^D as the rows of an m × D matrix.
fn spike_vectors(d: usize, m: usize, kind: SpikeDirections, seed: u64) -> DMatrix<f64> {
    let mut a = match kind {
        SpikeDirections::Canonical => return DMatrix::from_fn(m, d, |r, c| f64::from(r == c)),
        SpikeDirections::Random => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            DMatrix::from_fn(m, d, |_, _| StandardNormal.sample(&mut rng))
        }
        SpikeDirections::Sinusoidal => {
            DMatrix::from_fn(m, d, |r, c| (((r + 2) as f64) * c as f64 / 100.0).sin())
        }
    };
    // Modified Gram–Schmidt, twice for orthogonality to machine precision.
    for _ in 0..2 {
        for r in 0..m {
            for s in 0..r {
                let dot = a.row(r).dot(&a.row(s));
                for c in 0..d {
                    a[(r, c)] -= dot * a[(s, c)];
                }
            }
            let norm = a.row(r).norm();
            a.row_mut(r).scale_mut(1.0 / norm);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact arithmetic up to a few roundoffs.
    const EXACT: f64 = 1e-12;

    fn spiked(
        d: usize,
        spikes: &[f64],
        bulk: f64,
        normalize: bool,
        dirs: SpikeDirections,
    ) -> Covariance {
        Covariance::spiked(&SpikedParams {
            dim: d,
            spikes: spikes.to_vec(),
            bulk,
            normalize,
            directions: dirs,
            seed: 3,
        })
        .unwrap()
    }

    #[test]
    fn pca_errors_match_the_spec_examples() {
        // docs/autoencoder.md §3.7: θ = (25, 9)/35, b = 1/35 at D = 200: ε_PCA(2) = ½ b (1 − 2/200) = 0.0141429.
        let c = spiked(
            200,
            &[25.0 / 35.0, 9.0 / 35.0],
            1.0 / 35.0,
            false,
            SpikeDirections::Canonical,
        );
        let e = c.pca_errors(3);
        let tr = 34.0 / 35.0 + 198.0 / 200.0 / 35.0;
        assert!((e[0] - 0.5 * tr).abs() < EXACT);
        assert!((e[1] - 0.5 * (tr - 25.0 / 35.0)).abs() < EXACT);
        assert!((e[2] - 0.5 / 35.0 * 198.0 / 200.0).abs() < EXACT);
        assert!((e[3] - 0.5 / 35.0 * 197.0 / 200.0).abs() < EXACT);
    }

    #[test]
    fn normalisation_gives_unit_trace_and_groups_are_sorted() {
        let c = spiked(1000, &[9.0, 25.0], 1.0, true, SpikeDirections::Random);
        assert!((c.spectrum().trace_over_dim() - 1.0).abs() < EXACT);
        let g = c.spectrum().groups();
        assert_eq!(g.len(), 3);
        assert!(g[0].rho > g[1].rho && g[1].rho > g[2].rho);
        assert_eq!(g[2].multiplicity, 998);
        assert_eq!(c.bases()[2], GroupBasis::Complement);
    }

    #[test]
    fn equal_spikes_form_one_group() {
        let c = spiked(50, &[2.0, 2.0, 1.0], 0.5, false, SpikeDirections::Random);
        let g = c.spectrum().groups();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].multiplicity, 2);
        assert_eq!(g[1].multiplicity, 1);
        assert_eq!(g[2].multiplicity, 47);
    }

    #[test]
    fn spike_directions_are_orthonormal() {
        for dirs in [
            SpikeDirections::Random,
            SpikeDirections::Sinusoidal,
            SpikeDirections::Canonical,
        ] {
            let u = spike_vectors(300, 4, dirs, 9);
            let dev = (&u * u.transpose() - DMatrix::<f64>::identity(4, 4)).amax();
            assert!(dev < EXACT, "{dirs:?}: {dev}");
        }
    }

    #[test]
    fn group_moments_add_up_to_the_total_and_match_explicit_projections() {
        let d = 40;
        let c = spiked(d, &[3.0, 1.0], 0.2, false, SpikeDirections::Random);
        let y = DMatrix::from_fn(4, d, |i, j| ((i * 7 + j * 3) as f64 * 0.37).sin());
        let s = c.group_moments(&y).unwrap();
        let total: DMatrix<f64> = s.iter().fold(DMatrix::zeros(4, 4), |acc, m| acc + m);
        assert!((total - &y * y.transpose()).amax() < EXACT);
        // Ω-weighted sum equals y Ω yᵀ computed with a dense Ω.
        let mut omega = DMatrix::<f64>::identity(d, d) * 0.2;
        if let GroupBasis::Vectors(u) = &c.bases()[0] {
            omega += u.transpose() * u * (3.0 * d as f64 - 0.2);
        }
        if let GroupBasis::Vectors(u) = &c.bases()[1] {
            omega += u.transpose() * u * (1.0 * d as f64 - 0.2);
        }
        let weighted: DMatrix<f64> = s
            .iter()
            .zip(c.spectrum().groups())
            .fold(DMatrix::zeros(4, 4), |acc, (m, g)| acc + m * g.rho);
        let dense = &y * omega * y.transpose();
        assert!(
            (weighted - &dense).amax() < EXACT * dense.amax(),
            "weighted moments"
        );
    }

    #[test]
    fn eigen_grouping_and_binning() {
        let vals = [5.0, 1.0, 1.0, 1.0, 0.0, 2.0];
        let c = Covariance::from_eigen(&vals, None, None).unwrap();
        let g = c.spectrum().groups();
        assert_eq!(g.len(), 4);
        assert_eq!(
            g[2],
            EigenGroup {
                rho: 1.0,
                multiplicity: 3
            }
        );
        assert_eq!(c.bases()[2], GroupBasis::Coordinates(vec![1, 2, 3]));
        // A continuous spectrum binned into 4 groups keeps the trace.
        let vals: Vec<f64> = (0..100).map(|i| (-(i as f64) / 10.0).exp()).collect();
        let b = Covariance::from_eigen(&vals, None, Some(4)).unwrap();
        assert!(b.spectrum().groups().len() <= 4);
        let tr: f64 = vals.iter().sum::<f64>() / 100.0;
        assert!((b.spectrum().trace_over_dim() - tr).abs() < EXACT);
        // PCA errors come from the exact eigenvalues.
        assert!((b.pca_errors(1)[1] - 0.5 * (tr - 0.01)).abs() < EXACT);
    }

    #[test]
    fn non_orthonormal_eigenvectors_are_rejected() {
        let u = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.0, 1.0]);
        let e = Covariance::from_eigen(&[1.0, 2.0], Some(&u), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("eigenvectors"), "{e}");
    }
}
