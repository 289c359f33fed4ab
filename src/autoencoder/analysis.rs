//! Timescales of sequential PCA learning, extracted from any trajectory (theory or
//! simulation): the plateaus of the test error at the PCA errors `ε_PCA(m)`, the time at
//! which the m-th principal component is learned, the final error, and divergence.
//!
//! # Criteria (also in the README)
//!
//! * **Overlap of the network with PC m** ([`pc_overlaps`]): `o_m = ‖P_V u_m‖²`, the squared
//!   norm of the projection of the m-th principal direction `u_m` onto the span of the
//!   decoder vectors `v^1 … v^K` — the space the network's output `x̂ = Σ_k v^k g(·)` lives
//!   in. From the group densities (docs/autoencoder.md §2, `t_G = Σ_{τ∈G} ν̃_τ ν̃_τᵀ`, `T0 = Σ_G t_G`):
//!   `o_m = tr(T0⁺ t_G) / n_G` for the eigenvalue group `G` holding PC m (a spike is a group
//!   of one direction; for a degenerate group every direction gets the group average). It is
//!   invariant under rotations of the hidden units, lies in `[0, 1]`, is `≈ K/D` for random
//!   weights and `1` when `u_m` is in the output space; it is defined identically for the
//!   ODE and for SGD (whose densities are measured from the weights).
//! * **Time PC m is learned** ([`learn_time`]): the time after which `o_m` stays at or above
//!   [`Criteria::learn_threshold`] (½) up to the end of the run — the last upward crossing,
//!   linearly interpolated in `t` between output times. It equals the first crossing when
//!   `o_m` rises monotonically and ignores transient excursions (SGD noise). `None` when
//!   `o_m` is below the threshold at the end; the initial time when it never is.
//! * **Plateau m** ([`plateaus`], m = 0 … K−1): the longest interval on which
//!   `|ε_g − ε_PCA(m)| ≤ δ_m`, with the band `δ_m` = [`Criteria::plateau_band`] (¼) × the
//!   smaller gap to the neighbouring levels `ε_PCA(m±1)`, band edges interpolated linearly
//!   in `t`. It counts as a plateau only if it lasts: `end ≥` [`Criteria::plateau_span`]
//!   `× start` (at least a factor 1.5 in time, so the error merely passing the level on its
//!   way down is not one). Reported: start, end, duration `end − start` and the level (median
//!   of ε_g at the output times inside).
//! * **Divergence** ([`divergence_time`]): the first output time at which ε_g is not finite
//!   or exceeds [`Criteria::blowup_factor`] (`sgd::BLOWUP_FACTOR`, 10⁶) times its initial
//!   scale `max(ε_g(0), ½ tr Ω/D)` — the simulator's criterion, applied to theory
//!   trajectories too.
//!
//! The resolution of every time is that of the output grid (interpolation inside one
//! output interval); sweeps should use log-spaced outputs with enough points per decade.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::autoencoder::trajectory::{Snapshot, Trajectory};
use crate::spectrum::Spectrum;

/// Thresholds of the criteria (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criteria {
    /// PC m is learned once `o_m ≥` this for good.
    pub learn_threshold: f64,
    /// Half-width of the plateau band, as a fraction of the smaller gap to the neighbouring
    /// PCA levels.
    pub plateau_band: f64,
    /// A plateau must satisfy `end ≥ plateau_span · start`.
    pub plateau_span: f64,
    /// Divergence: ε_g above this multiple of its initial scale.
    pub blowup_factor: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria {
            learn_threshold: 0.5,
            plateau_band: 0.25,
            plateau_span: 1.5,
            blowup_factor: crate::autoencoder::sgd::BLOWUP_FACTOR,
        }
    }
}

/// One detected plateau of the test error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Time the error enters the band around `ε_PCA(m)`.
    pub start: f64,
    /// Time it leaves (the last output time if it never does).
    pub end: f64,
    /// The median test error at the output times inside.
    pub level: f64,
}

impl Plateau {
    /// `end − start`.
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// The summary of one trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// ε_g at the last output time.
    pub final_test_error: Option<f64>,
    /// Time of divergence ([`divergence_time`]), if any.
    pub divergence_time: Option<f64>,
    /// `t_learn_m`, m = 1..=K ([`learn_time`]).
    pub learn_times: Vec<Option<f64>>,
    /// Plateau m, m = 0..K ([`plateaus`]).
    pub plateaus: Vec<Option<Plateau>>,
}

/// The group holding each of the leading `k` principal directions (largest eigenvalue
/// first), with that group's multiplicity.
fn pc_groups(spectrum: &Spectrum, k: usize) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..spectrum.groups().len()).collect();
    order.sort_by(|&a, &b| {
        spectrum.groups()[b]
            .rho
            .total_cmp(&spectrum.groups()[a].rho)
    });
    order
        .into_iter()
        .flat_map(|g| {
            let n = spectrum.groups()[g].multiplicity;
            std::iter::repeat_n((g, n), n)
        })
        .take(k)
        .collect()
}

/// Relative cut-off of the pseudo-inverse of T0: eigenvalues below this fraction of the
/// largest are treated as zero (a decoder without weight in some direction).
const PINV_RTOL: f64 = 1e-12;

/// The overlaps `o_m`, m = 1..=k, of the decoder span with the leading principal directions
/// at one snapshot (see the module docs).
pub fn pc_overlaps(snapshot: &Snapshot, spectrum: &Spectrum, k: usize) -> Vec<f64> {
    let t0 = snapshot.groups.iter().fold(None::<DMatrix<f64>>, |acc, g| {
        Some(acc.map_or_else(|| g.t.clone(), |a| a + &g.t))
    });
    let Some(t0) = t0 else {
        return vec![f64::NAN; k];
    };
    let eig = nalgebra::SymmetricEigen::new(t0);
    let top = eig.eigenvalues.amax();
    let mut pinv = DMatrix::zeros(eig.eigenvalues.len(), eig.eigenvalues.len());
    for (i, &l) in eig.eigenvalues.iter().enumerate() {
        if top > 0.0 && l > PINV_RTOL * top {
            let u = eig.eigenvectors.column(i);
            pinv += (u * u.transpose()) / l;
        }
    }
    pc_groups(spectrum, k)
        .into_iter()
        .map(|(g, n)| (&pinv * &snapshot.groups[g].t).trace() / n as f64)
        .collect()
}

/// Linear interpolation of the time at which the segment `(t0, y0) → (t1, y1)` reaches `y`.
fn crossing(t0: f64, y0: f64, t1: f64, y1: f64, y: f64) -> f64 {
    if y1 == y0 {
        t1
    } else {
        t0 + (y - y0) / (y1 - y0) * (t1 - t0)
    }
}

/// The time after which `values` stays `≥ threshold` to the end (last upward crossing,
/// interpolated); `None` if the last value is below; `times[0]` if no value is.
pub fn learn_time(times: &[f64], values: &[f64], threshold: f64) -> Option<f64> {
    let above = |v: f64| v >= threshold;
    let n = times.len().min(values.len());
    if n == 0 || !above(values[n - 1]) {
        return None;
    }
    match (0..n).rev().find(|&i| !above(values[i])) {
        None => Some(times[0]),
        Some(i) => Some(crossing(
            times[i],
            values[i],
            times[i + 1],
            values[i + 1],
            threshold,
        )),
    }
}

/// The plateaus m = 0..levels.len()−1 of `errors` at the PCA `levels` = ε_PCA(0..=K)
/// (see the module docs); `None` where there is none.
pub fn plateaus(
    times: &[f64],
    errors: &[f64],
    levels: &[f64],
    criteria: &Criteria,
) -> Vec<Option<Plateau>> {
    let n = times.len().min(errors.len());
    (0..levels.len().saturating_sub(1))
        .map(|m| {
            let level = levels[m];
            let below = levels[m] - levels[m + 1];
            let gap = if m == 0 {
                below
            } else {
                below.min(levels[m - 1] - levels[m])
            };
            let band = criteria.plateau_band * gap;
            if band <= 0.0 {
                return None;
            }
            let (lo, hi) = (level - band, level + band);
            let inside = |e: f64| e >= lo && e <= hi;
            // The edge crossed between a sample outside and one inside.
            let edge = |outside: f64| if outside > hi { hi } else { lo };
            let mut best: Option<(Plateau, f64)> = None;
            let mut i = 0;
            while i < n {
                if !inside(errors[i]) {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j + 1 < n && inside(errors[j + 1]) {
                    j += 1;
                }
                let start = if i == 0 || !errors[i - 1].is_finite() {
                    times[i]
                } else {
                    let e = edge(errors[i - 1]);
                    crossing(times[i - 1], errors[i - 1], times[i], errors[i], e)
                };
                let end = if j + 1 == n || !errors[j + 1].is_finite() {
                    times[j]
                } else {
                    let e = edge(errors[j + 1]);
                    crossing(times[j], errors[j], times[j + 1], errors[j + 1], e)
                };
                let mut inner: Vec<f64> = errors[i..=j].to_vec();
                inner.sort_by(f64::total_cmp);
                let median = if inner.len() % 2 == 1 {
                    inner[inner.len() / 2]
                } else {
                    0.5 * (inner[inner.len() / 2 - 1] + inner[inner.len() / 2])
                };
                let p = Plateau {
                    start,
                    end,
                    level: median,
                };
                let lasts = end > start && end >= criteria.plateau_span * start;
                if lasts && best.is_none_or(|(_, d)| p.duration() > d) {
                    best = Some((p, p.duration()));
                }
                i = j + 1;
            }
            best.map(|(p, _)| p)
        })
        .collect()
}

/// The first time at which `errors` is not finite or exceeds `factor × scale`, with
/// `scale = max(errors[0], floor)` (`floor` = ½ tr Ω/D, the error of the zero network).
pub fn divergence_time(times: &[f64], errors: &[f64], floor: f64, factor: f64) -> Option<f64> {
    let scale = errors.first().copied().unwrap_or(floor).max(floor);
    times
        .iter()
        .zip(errors)
        .find(|(_, &e)| !e.is_finite() || e > factor * scale)
        .map(|(&t, _)| t)
}

/// Summarise a trajectory of a K-unit network on `spectrum`.
pub fn summarise(
    trajectory: &Trajectory,
    spectrum: &Spectrum,
    k: usize,
    criteria: &Criteria,
) -> Summary {
    let overlaps: Vec<Vec<f64>> = trajectory
        .snapshots
        .iter()
        .map(|s| pc_overlaps(s, spectrum, k))
        .collect();
    summarise_with_overlaps(trajectory, &overlaps, spectrum, k, criteria)
}

/// [`summarise`] with each snapshot's [`pc_overlaps`] already computed (`overlaps[i]` of
/// snapshot i, K entries each).
pub fn summarise_with_overlaps(
    trajectory: &Trajectory,
    overlaps: &[Vec<f64>],
    spectrum: &Spectrum,
    k: usize,
    criteria: &Criteria,
) -> Summary {
    let times = trajectory.times();
    let errors = trajectory.test_errors();
    let learn_times = (0..k)
        .map(|m| {
            let o: Vec<f64> = overlaps.iter().map(|o| o[m]).collect();
            learn_time(&times, &o, criteria.learn_threshold)
        })
        .collect();
    let pca = spectrum.pca_errors(k);
    Summary {
        final_test_error: errors.last().copied(),
        divergence_time: divergence_time(&times, &errors, pca[0], criteria.blowup_factor),
        learn_times,
        plateaus: plateaus(&times, &errors, &pca, criteria),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::trajectory::{GroupDensity, OrderParams};
    use crate::spectrum::EigenGroup;

    /// Exact for piecewise-linear data: the interpolated crossings are the true ones.
    const EXACT: f64 = 1e-12;

    #[test]
    fn learn_time_is_the_last_upward_crossing() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        // Rises through ½ at t = 1.5, dips below at 3, rises again through ½ at 4.375.
        let o = [0.0, 0.25, 0.75, 0.4, 0.2, 1.0, 0.9];
        assert!((learn_time(&t, &o, 0.5).unwrap() - 4.375).abs() < EXACT);
        // Monotone: the first crossing.
        let o = [0.0, 0.1, 0.3, 0.7, 0.9, 1.0, 1.0];
        assert!((learn_time(&t, &o, 0.5).unwrap() - 2.5).abs() < EXACT);
        // Never learned, learned from the start, falls off at the end.
        assert_eq!(learn_time(&t, &[0.1; 7], 0.5), None);
        assert_eq!(learn_time(&t, &[0.9; 7], 0.5), Some(0.0));
        assert_eq!(
            learn_time(&t, &[0.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.2], 0.5),
            None
        );
        assert_eq!(learn_time(&[], &[], 0.5), None);
    }

    #[test]
    fn plateaus_of_a_hand_labelled_staircase() {
        // Levels ε_PCA = 0.5, 0.2, 0.05, 0.0: bands ±0.075 (m = 0), ±0.0375 (m = 1).
        let levels = [0.5, 0.2, 0.05, 0.0];
        let c = Criteria::default();
        let t = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        // At 0.5 until t = 2, linear drop to 0.2 at t = 4, on 0.2 until 16, passes 0.05
        // quickly on the way to 0.0.
        let e = [0.5, 0.5, 0.5, 0.2, 0.19, 0.21, 0.01, 0.0];
        let p = plateaus(&t, &e, &levels, &c);
        let p0 = p[0].unwrap();
        // Leaves 0.5 − 0.075 = 0.425 on the segment (2, 0.5) → (4, 0.2): t = 2.5.
        assert_eq!(p0.start, 0.0);
        assert!((p0.end - 2.5).abs() < EXACT, "{p0:?}");
        assert_eq!(p0.level, 0.5);
        let p1 = p[1].unwrap();
        // Enters 0.2 + 0.0375 on (2, 0.5) → (4, 0.2): t = 2 + 2·(0.5 − 0.2375)/0.3 = 3.75;
        // leaves 0.1625 on (16, 0.21) → (32, 0.01): t = 16 + 16·0.0475/0.2 = 19.8.
        assert!((p1.start - 3.75).abs() < EXACT, "{p1:?}");
        assert!((p1.end - 19.8).abs() < EXACT, "{p1:?}");
        assert!((p1.level - 0.2).abs() < EXACT);
        assert!((p1.duration() - 16.05).abs() < EXACT);
        // 0.05 ± 0.0125 is only crossed within one output interval: no plateau.
        assert_eq!(p[2], None);
    }

    #[test]
    fn longest_interval_wins_and_short_visits_do_not_count() {
        let levels = [1.0, 0.5, 0.0];
        let c = Criteria::default();
        // Band 0.125 around 0.5. A visit from 6.25 to 11.42 (edges 0.625 interpolated),
        // then from 12 + 88·0.175/0.3 to the end: the longer one is the plateau.
        let t = [0.0, 1.0, 10.0, 11.0, 12.0, 100.0, 1000.0];
        let e = [1.0, 0.8, 0.5, 0.5, 0.8, 0.5, 0.5];
        let p1 = plateaus(&t, &e, &levels, &c)[1].unwrap();
        assert!(
            (p1.start - (12.0 + 88.0 * 0.175 / 0.3)).abs() < EXACT,
            "{p1:?}"
        );
        assert_eq!(p1.end, 1000.0);
        // Only a short visit, 7.75 to 10.625 (less than a factor 1.5): no plateau.
        let t = [0.0, 1.0, 10.0, 10.5, 11.0];
        let e = [1.0, 1.0, 0.5, 0.5, 1.0];
        assert_eq!(plateaus(&t, &e, &levels, &c)[1], None);
    }

    #[test]
    fn divergence_is_the_first_blow_up() {
        let t = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(divergence_time(&t, &[0.5, 0.4, 0.3, 0.2], 0.5, 1e6), None);
        assert_eq!(
            divergence_time(&t, &[0.5, 0.4, 1e7, f64::NAN], 0.5, 1e6),
            Some(2.0)
        );
        assert_eq!(
            divergence_time(&t, &[0.5, f64::INFINITY, 0.1, 0.1], 0.5, 1e6),
            Some(1.0)
        );
    }

    /// Group densities of explicit weights (`V` K×D, unit basis vectors as eigenvectors of a
    /// spectrum with groups {0}, {1}, {2..D}); compared with `‖P_V u_m‖²` from a QR
    /// decomposition of the decoder vectors.
    #[test]
    fn overlaps_equal_the_projection_on_the_decoder_span() {
        let (k, d) = (2, 6);
        let v = DMatrix::from_row_slice(
            k,
            d,
            &[
                0.9, 0.3, 0.1, -0.2, 0.0, 0.4, 0.1, -0.7, 0.5, 0.3, 0.2, -0.1,
            ],
        );
        let spectrum = Spectrum::from_groups(
            d,
            &[
                EigenGroup {
                    rho: 30.0,
                    multiplicity: 1,
                },
                EigenGroup {
                    rho: 10.0,
                    multiplicity: 1,
                },
                EigenGroup {
                    rho: 1.0,
                    multiplicity: d - 2,
                },
            ],
        )
        .unwrap();
        let nu = &v / (d as f64).sqrt(); // ν̃ = v·u/√D with u = e_i
        let dens = |cols: std::ops::Range<usize>| {
            let c = nu.columns(cols.start, cols.len());
            GroupDensity {
                q: DMatrix::zeros(k, k),
                r: DMatrix::zeros(k, k),
                t: c * c.transpose(),
            }
        };
        let groups = vec![dens(0..1), dens(1..2), dens(2..d)];
        let snap = Snapshot {
            time: 0.0,
            test_error: 0.0,
            test_error_empirical: None,
            order_params: OrderParams::from_groups(&spectrum, &groups, None),
            groups,
        };
        let o = pc_overlaps(&snap, &spectrum, 2);
        // Truth: orthonormal basis of span{v^k} (columns of Q of Vᵀ), ‖Qᵀ e_m‖².
        let q = v.transpose().qr().q();
        for (m, om) in o.iter().enumerate() {
            let truth = q.row(m).norm_squared();
            assert!((om - truth).abs() < 1e-12, "m = {m}: {om} vs {truth}");
        }
        // A third "PC" inside the bulk gets the bulk average.
        let o3 = pc_overlaps(&snap, &spectrum, 3);
        let bulk: f64 = (2..d).map(|i| q.row(i).norm_squared()).sum::<f64>() / (d - 2) as f64;
        assert!((o3[2] - bulk).abs() < 1e-12);
    }
}
