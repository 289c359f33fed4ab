//! Recovery metrics (Nguyen, Wong & Hegde 2019, and the bipartite-matching evaluation of the
//! dictionary-learning line of work it builds on):
//!
//! * matching: the assignment π maximising Σ_i |⟨w_i/‖w_i‖, a_{π(i)}⟩| (Hungarian
//!   algorithm, [`assignment`]) and the signs s_i = sign⟨w_i, a_{π(i)}⟩;
//! * distances d_i = ‖w_i − s_i a_{π(i)}‖ and the scale-free angle distances
//!   ‖w_i/‖w_i‖ − s_i a_{π(i)}‖;
//! * support recovery: predicted support {π(i) : σ'(u_i) ≠ 0} against the true one;
//! * the floor (mean over the last 10 % of steps) and the fitted contraction rate.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::data::{Samples, CHUNK};
use super::model::Activation;

/// Minimum-cost perfect assignment of a square `n × n` cost matrix (`cost[(i, j)]`: row i to
/// column j), by the Hungarian algorithm with potentials (Kuhn–Munkres, O(n³)). Returns
/// `col[i]`, the column of row i.
pub fn assignment(cost: &DMatrix<f64>) -> Vec<usize> {
    let n = cost.nrows();
    assert_eq!(n, cost.ncols(), "assignment needs a square matrix");
    if n == 0 {
        return Vec::new();
    }
    // 1-based arrays; p[j] = row matched to column j (0 = none); column 0 is a sentinel.
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0usize;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1, j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col = vec![0usize; n];
    for j in 1..=n {
        col[p[j] - 1] = j - 1;
    }
    col
}

/// Units matched to atoms: unit i ↔ atom `atom[i]` with sign `sign[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// π(i).
    pub atom: Vec<usize>,
    /// s_i ∈ {−1, +1}.
    pub sign: Vec<f64>,
}

/// |cos| between the rows of W (m × n) and the atoms (columns of A, unit norm).
fn abs_cosines(w: &DMatrix<f64>, a: &DMatrix<f64>) -> DMatrix<f64> {
    let mut c = w * a;
    for i in 0..w.nrows() {
        let norm = w.row(i).norm();
        for j in 0..a.ncols() {
            c[(i, j)] = if norm > 0.0 { c[(i, j)] / norm } else { 0.0 };
        }
    }
    c
}

/// The matching maximising Σ_i |cos(w_i, a_{π(i)})|, with signs s_i = sign⟨w_i, a_{π(i)}⟩
/// (+1 for a zero inner product).
pub fn match_atoms(w: &DMatrix<f64>, a: &DMatrix<f64>) -> Matching {
    let cos = abs_cosines(w, a);
    let atom = assignment(&cos.map(|c| -c.abs()));
    let sign = atom
        .iter()
        .enumerate()
        .map(|(i, &j)| if cos[(i, j)] < 0.0 { -1.0 } else { 1.0 })
        .collect();
    Matching { atom, sign }
}

/// Distances of W to the matched, signed atoms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distances {
    /// max_i ‖w_i − s_i a_{π(i)}‖.
    pub max: f64,
    /// mean_i ‖w_i − s_i a_{π(i)}‖.
    pub mean: f64,
    /// mean_i ‖w_i/‖w_i‖ − s_i a_{π(i)}‖.
    pub angle_mean: f64,
    /// max_i ‖w_i/‖w_i‖ − s_i a_{π(i)}‖.
    pub angle_max: f64,
    /// mean_i ‖w_i‖.
    pub norm_mean: f64,
}

/// [`Distances`] of W (m × n) to A (n × m) under `matching`.
pub fn distances(w: &DMatrix<f64>, a: &DMatrix<f64>, matching: &Matching) -> Distances {
    let m = w.nrows();
    let (mut max, mut sum, mut asum, mut amax, mut nsum) = (0.0f64, 0.0, 0.0, 0.0f64, 0.0);
    for i in 0..m {
        let atom = a.column(matching.atom[i]);
        let s = matching.sign[i];
        let row = w.row(i);
        let norm = row.norm();
        let mut d2 = 0.0;
        let mut a2 = 0.0;
        for j in 0..w.ncols() {
            let t = s * atom[j];
            d2 += (row[j] - t).powi(2);
            let dir = if norm > 0.0 { row[j] / norm } else { 0.0 };
            a2 += (dir - t).powi(2);
        }
        let (d, ad) = (d2.sqrt(), a2.sqrt());
        max = max.max(d);
        sum += d;
        asum += ad;
        amax = amax.max(ad);
        nsum += norm;
    }
    let mf = m as f64;
    Distances {
        max,
        mean: sum / mf,
        angle_mean: asum / mf,
        angle_max: amax,
        norm_mean: nsum / mf,
    }
}

/// Support-recovery counts on a test set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Support {
    /// Predicted ∩ true, summed over samples.
    pub true_pos: u64,
    /// Predicted, summed.
    pub predicted: u64,
    /// True, summed.
    pub actual: u64,
    /// Samples with identical predicted and true supports.
    pub exact: u64,
    /// Number of samples.
    pub samples: u64,
}

impl Support {
    /// Micro precision (0 when nothing is predicted).
    pub fn precision(&self) -> f64 {
        if self.predicted == 0 {
            0.0
        } else {
            self.true_pos as f64 / self.predicted as f64
        }
    }

    /// Micro recall.
    pub fn recall(&self) -> f64 {
        if self.actual == 0 {
            0.0
        } else {
            self.true_pos as f64 / self.actual as f64
        }
    }

    /// F1 = 2PR/(P + R) (0 when both vanish).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Fraction of samples whose support is recovered exactly.
    pub fn exact_rate(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.exact as f64 / self.samples as f64
        }
    }

    fn add(&mut self, o: &Support) {
        self.true_pos += o.true_pos;
        self.predicted += o.predicted;
        self.actual += o.actual;
        self.exact += o.exact;
        self.samples += o.samples;
    }
}

/// Support recovery of (W, b) on `test`: unit i "detects" atom π(i) when σ'(u_i) ≠ 0.
pub fn support_recovery(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    act: Activation,
    a: &DMatrix<f64>,
    test: &Samples,
    matching: &Matching,
) -> Support {
    let (m, n) = w.shape();
    let k = test.codes.k;
    let p = w * a;
    let count = test.len();
    let parts: Vec<Support> = (0..count.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let start = c * CHUNK;
            let len = CHUNK.min(count - start);
            let mut u = match &test.noise {
                Some(xi) => w * xi.columns(start, len),
                None => DMatrix::zeros(m, len),
            };
            let mut out = Support::default();
            let mut predicted = vec![false; m];
            for col in 0..len {
                let s = start + col;
                let mut uc = u.column_mut(col);
                uc += b;
                for t in 0..k {
                    let j = test.codes.support[s * k + t] as usize;
                    uc.axpy(test.codes.values[s * k + t], &p.column(j), 1.0);
                }
                predicted.iter_mut().for_each(|x| *x = false);
                let mut npred = 0u64;
                for i in 0..m {
                    if act.fires(uc[i]) {
                        predicted[matching.atom[i]] = true;
                        npred += 1;
                    }
                }
                let mut tp = 0u64;
                for t in 0..k {
                    if predicted[test.codes.support[s * k + t] as usize] {
                        tp += 1;
                    }
                }
                out.true_pos += tp;
                out.predicted += npred;
                out.actual += k as u64;
                out.samples += 1;
                if tp == k as u64 && npred == k as u64 {
                    out.exact += 1;
                }
            }
            let _ = n;
            out
        })
        .collect();
    let mut total = Support::default();
    for s in &parts {
        total.add(s);
    }
    total
}

/// Mean of `values[i]` over the entries with `steps[i] ≥ 0.9·last step` (the last 10 % of
/// the run; at least the last entry).
pub fn floor(steps: &[u64], values: &[f64]) -> f64 {
    let Some(&last) = steps.last() else {
        return f64::NAN;
    };
    let from = (0.9 * last as f64).ceil() as u64;
    let sel: Vec<f64> = steps
        .iter()
        .zip(values)
        .filter(|(s, _)| **s >= from)
        .map(|(_, v)| *v)
        .collect();
    sel.iter().sum::<f64>() / sel.len() as f64
}

/// Contraction rate ρ̂ = exp(slope) of the least-squares fit of ln e_s against s over the
/// first contiguous run of entries with `lower ≤ e_s/e_0 ≤ upper`-style bounds
/// (`lo_abs < e_s < hi_abs`); `None` with fewer than 3 points in the run.
pub fn fit_rate(steps: &[u64], e: &[f64], lo_abs: f64, hi_abs: f64) -> Option<f64> {
    let first = e.iter().position(|&x| x < hi_abs && x > lo_abs)?;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in first..e.len() {
        if !(e[i] < hi_abs && e[i] > lo_abs) {
            break;
        }
        xs.push(steps[i] as f64);
        ys.push(e[i].ln());
    }
    if xs.len() < 3 {
        return None;
    }
    let nf = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / nf;
    let my = ys.iter().sum::<f64>() / nf;
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    Some((sxy / sxx).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;
    use rand::Rng as _;

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for pos in 0..n {
                let mut q = p.clone();
                q.insert(pos, n - 1);
                out.push(q);
            }
        }
        out
    }

    /// The Hungarian assignment reaches the brute-force optimum over all n! permutations.
    #[test]
    fn assignment_is_optimal() {
        let mut rng = rng_for(4, 4);
        for n in 1..=7 {
            let perms = permutations(n);
            for trial in 0..30 {
                // Include ties (integer costs) in half of the trials.
                let cost = DMatrix::from_fn(n, n, |_, _| {
                    let x: f64 = rng.random();
                    if trial % 2 == 0 {
                        (x * 4.0).floor()
                    } else {
                        x - 0.5
                    }
                });
                let got = assignment(&cost);
                let mut seen = vec![false; n];
                for &j in &got {
                    assert!(!seen[j]);
                    seen[j] = true;
                }
                let value = |p: &[usize]| {
                    p.iter()
                        .enumerate()
                        .map(|(i, &j)| cost[(i, j)])
                        .sum::<f64>()
                };
                let best = perms.iter().map(|p| value(p)).fold(f64::INFINITY, f64::min);
                assert!((value(&got) - best).abs() < 1e-12, "n = {n}");
            }
        }
    }

    #[test]
    fn matching_recovers_permutation_and_signs() {
        let mut rng = rng_for(5, 5);
        let a = crate::generative::data::gaussian_dictionary(30, 10, &mut rng);
        let perm = [3, 1, 4, 0, 9, 2, 6, 5, 8, 7];
        let w = DMatrix::from_fn(10, 30, |i, j| {
            let s = if i % 3 == 0 { -2.0 } else { 0.5 };
            s * a[(j, perm[i])]
        });
        let mt = match_atoms(&w, &a);
        assert_eq!(mt.atom, perm);
        for i in 0..10 {
            assert_eq!(mt.sign[i], if i % 3 == 0 { -1.0 } else { 1.0 });
        }
        let d = distances(&w, &a, &mt);
        assert!(d.angle_mean < 1e-14);
        assert!((d.max - 1.0).abs() < 1e-14);
    }

    #[test]
    fn rate_fit_recovers_a_geometric_decay() {
        let steps: Vec<u64> = (0..100).collect();
        let e: Vec<f64> = steps
            .iter()
            .map(|&s| 0.8f64.powi(s as i32) + 1e-30)
            .collect();
        let r = fit_rate(&steps, &e, 1e-9, 0.9).unwrap();
        assert!((r - 0.8).abs() < 1e-10);
        assert!(fit_rate(&steps, &vec![1.0; 100], 1e-9, 0.9).is_none());
        assert!((floor(&steps, &e) - e[90..].iter().sum::<f64>() / 10.0).abs() < 1e-18);
    }
}
