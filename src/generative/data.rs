//! The generative models: dictionaries, code laws, samples and the exact enumeration of
//! every code (Nguyen, Wong & Hegde 2019, the three generative models of the paper).
//!
//! A sample is `y = A x + σ_η ξ` with `A ∈ ℝ^{n×m}` (unit-norm columns, the atoms `a_j`),
//! a k-sparse code `x` (support `S`, a uniformly random k-subset, magnitudes drawn iid from a
//! discrete list or `U[lo, hi]`, signs Rademacher or all `+1`) and `ξ ~ N(0, I_n)`. The
//! mixture of Gaussians is the `k = 1`, magnitude-1, positive code: `y = a_j + σ_η ξ`.
//!
//! Codes are stored sparsely ([`Codes`]): the k support indices and the k signed values of
//! each code, plus an optional weight (the probability of an enumerated code). Noise, when
//! present, is a dense `n × N` matrix already multiplied by `σ_η` ([`Samples`]).

use nalgebra::DMatrix;
use rand::seq::index;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::{rng_for, Rng};

/// Sign law of the nonzero code entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// iid ±1 with probability ½ each (sparse coding).
    Rademacher,
    /// Always +1 (non-negative sparse coding, mixture).
    Positive,
}

/// Law of the magnitudes `|x_i|`, `i ∈ S`.
#[derive(Debug, Clone, PartialEq)]
pub enum Magnitudes {
    /// `values[j]` with probability `probs[j]` (the probabilities sum to 1).
    Discrete {
        /// The magnitudes (> 0).
        values: Vec<f64>,
        /// Their probabilities.
        probs: Vec<f64>,
    },
    /// Uniform on `[lo, hi]`, `0 < lo ≤ hi`.
    Uniform {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
}

/// The law of a sparse code `x ∈ ℝ^m` with `k` nonzeros.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeLaw {
    /// m, the number of atoms.
    pub m: usize,
    /// k, the number of nonzeros.
    pub k: usize,
    /// Sign law.
    pub sign: Sign,
    /// Magnitude law.
    pub magnitudes: Magnitudes,
}

/// `C(m, k)` exactly, `None` when it does not fit in a `u128`.
pub fn binomial(m: usize, k: usize) -> Option<u128> {
    if k > m {
        return Some(0);
    }
    let k = k.min(m - k);
    let mut c: u128 = 1;
    for i in 0..k {
        c = c.checked_mul((m - i) as u128)? / (i as u128 + 1);
    }
    Some(c)
}

impl CodeLaw {
    /// The mixture of Gaussians as a code law: `x = e_j`, j uniform (k = 1, magnitude 1).
    pub fn mixture(m: usize) -> Self {
        CodeLaw {
            m,
            k: 1,
            sign: Sign::Positive,
            magnitudes: Magnitudes::Discrete {
                values: vec![1.0],
                probs: vec![1.0],
            },
        }
    }

    /// Codes of `k` of `m` atoms with magnitudes drawn uniformly from `values`.
    pub fn discrete(m: usize, k: usize, sign: Sign, values: Vec<f64>) -> Self {
        let probs = vec![1.0 / values.len() as f64; values.len()];
        CodeLaw {
            m,
            k,
            sign,
            magnitudes: Magnitudes::Discrete { values, probs },
        }
    }

    /// v₁ = E[|x_i| | i ∈ S].
    pub fn v1(&self) -> f64 {
        match &self.magnitudes {
            Magnitudes::Discrete { values, probs } => {
                values.iter().zip(probs).map(|(v, p)| v * p).sum()
            }
            Magnitudes::Uniform { lo, hi } => 0.5 * (lo + hi),
        }
    }

    /// v₂ = E[x_i² | i ∈ S]; for `U[lo, hi]` it is `(lo² + lo·hi + hi²)/3`.
    pub fn v2(&self) -> f64 {
        match &self.magnitudes {
            Magnitudes::Discrete { values, probs } => {
                values.iter().zip(probs).map(|(v, p)| v * v * p).sum()
            }
            Magnitudes::Uniform { lo, hi } => (lo * lo + lo * hi + hi * hi) / 3.0,
        }
    }

    /// p₁ = P(i ∈ S, j ∉ S) = k(m−k)/(m(m−1)) for i ≠ j (0 when m = 1).
    pub fn p1(&self) -> f64 {
        pair_probabilities(self.m, self.k).0
    }

    /// p₂ = P(i, j ∈ S) = k(k−1)/(m(m−1)) for i ≠ j (0 when m = 1).
    pub fn p2(&self) -> f64 {
        pair_probabilities(self.m, self.k).1
    }

    /// Number of distinct codes, `C(m,k)·|values|^k·2^k` (signed) or `C(m,k)·|values|^k`
    /// (positive); `None` for continuous magnitudes or when the count overflows.
    pub fn exact_count(&self) -> Option<u128> {
        let Magnitudes::Discrete { values, .. } = &self.magnitudes else {
            return None;
        };
        let signs: u128 = match self.sign {
            Sign::Rademacher => 2,
            Sign::Positive => 1,
        };
        let per = (values.len() as u128).checked_mul(signs)?;
        let mut c = binomial(self.m, self.k)?;
        for _ in 0..self.k {
            c = c.checked_mul(per)?;
        }
        Some(c)
    }

    /// Every code with its probability: all k-subsets (lexicographic) × all magnitude
    /// tuples × all sign patterns. Panics for continuous magnitudes (callers check
    /// [`CodeLaw::exact_count`] first).
    pub fn enumerate(&self) -> Codes {
        let Magnitudes::Discrete { values, probs } = &self.magnitudes else {
            panic!("enumerate needs discrete magnitudes");
        };
        let (m, k) = (self.m, self.k);
        let count = self.exact_count().expect("code count fits") as usize;
        let mut codes = Codes {
            k,
            support: Vec::with_capacity(count * k),
            values: Vec::with_capacity(count * k),
            weight: Some(Vec::with_capacity(count)),
        };
        let nsub = binomial(m, k).expect("binomial fits") as f64;
        let nv = values.len();
        let nsign = match self.sign {
            Sign::Rademacher => 1usize << k,
            Sign::Positive => 1,
        };
        let sign_p = 1.0 / nsign as f64;
        let nmag = nv.pow(k as u32);
        let mut subset: Vec<usize> = (0..k).collect();
        let weights = codes.weight.as_mut().expect("weights");
        loop {
            for mag in 0..nmag {
                // Magnitude tuple: base-|values| digits of `mag`.
                let mut p_mag = 1.0;
                let mut digits = [0usize; 64];
                let mut r = mag;
                for d in digits.iter_mut().take(k) {
                    *d = r % nv;
                    r /= nv;
                    p_mag *= probs[*d];
                }
                for sg in 0..nsign {
                    for t in 0..k {
                        let s = if self.sign == Sign::Rademacher && (sg >> t) & 1 == 1 {
                            -1.0
                        } else {
                            1.0
                        };
                        codes.support.push(subset[t] as u32);
                        codes.values.push(s * values[digits[t]]);
                    }
                    weights.push(p_mag * sign_p / nsub);
                }
            }
            // Next k-subset in lexicographic order.
            let mut i = k;
            loop {
                if i == 0 {
                    return codes;
                }
                i -= 1;
                if subset[i] < m - k + i {
                    subset[i] += 1;
                    for j in i + 1..k {
                        subset[j] = subset[j - 1] + 1;
                    }
                    break;
                }
            }
        }
    }

    /// Append `count` iid codes drawn with `rng` to `codes`: a uniformly random k-subset
    /// (sorted), iid magnitudes, then the signs.
    pub fn sample_into(&self, rng: &mut Rng, count: usize, codes: &mut Codes) {
        let (m, k) = (self.m, self.k);
        let mut sup = vec![0usize; k];
        for _ in 0..count {
            let idx = index::sample(rng, m, k);
            for (s, i) in sup.iter_mut().zip(idx.iter()) {
                *s = i;
            }
            sup.sort_unstable();
            for &s in &sup {
                let mag = match &self.magnitudes {
                    Magnitudes::Discrete { values, probs } => {
                        if values.len() == 1 {
                            values[0]
                        } else {
                            let u: f64 = rng.random();
                            let mut acc = 0.0;
                            let mut pick = values.len() - 1;
                            for (j, p) in probs.iter().enumerate() {
                                acc += p;
                                if u < acc {
                                    pick = j;
                                    break;
                                }
                            }
                            values[pick]
                        }
                    }
                    Magnitudes::Uniform { lo, hi } => {
                        let u: f64 = rng.random();
                        lo + (hi - lo) * u
                    }
                };
                let sign = match self.sign {
                    Sign::Rademacher => {
                        if rng.random::<bool>() {
                            1.0
                        } else {
                            -1.0
                        }
                    }
                    Sign::Positive => 1.0,
                };
                codes.support.push(s as u32);
                codes.values.push(sign * mag);
            }
        }
    }
}

/// (p₁, p₂) for m atoms and sparsity k.
pub fn pair_probabilities(m: usize, k: usize) -> (f64, f64) {
    if m < 2 {
        return (0.0, 0.0);
    }
    let (mf, kf) = (m as f64, k as f64);
    let d = mf * (mf - 1.0);
    (kf * (mf - kf) / d, kf * (kf - 1.0) / d)
}

/// Sparse codes: `support[c·k .. (c+1)·k]` and `values[c·k .. (c+1)·k]` are code c's
/// nonzeros; `weight[c]` its probability (`None`: every code weighs `1/len`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Codes {
    /// k.
    pub k: usize,
    /// Support indices, k per code.
    pub support: Vec<u32>,
    /// Signed values, k per code.
    pub values: Vec<f64>,
    /// Probabilities (enumerated codes) or `None` (equal weights).
    pub weight: Option<Vec<f64>>,
}

impl Codes {
    /// Empty codes of sparsity k.
    pub fn empty(k: usize) -> Self {
        Codes {
            k,
            ..Default::default()
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.support.len() / self.k.max(1)
    }

    /// True when there are no codes.
    pub fn is_empty(&self) -> bool {
        self.support.is_empty()
    }
}

/// Samples `y = A x + noise`: sparse codes and, when `σ_η > 0`, the noise `σ_η ξ` as the
/// columns of an `n × N` matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// The codes x.
    pub codes: Codes,
    /// `σ_η ξ`, one column per sample, or `None` (noise-free).
    pub noise: Option<DMatrix<f64>>,
}

/// Fixed chunk length of sample generation and of every parallel reduction: results never
/// depend on the number of threads because the chunks and their summation order are fixed.
pub const CHUNK: usize = 1024;

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Draw `count` samples: chunk c of [`CHUNK`] samples uses the generator
    /// `rng_for(seed, c)` (codes first, then the noise of each sample in order), so the
    /// samples do not depend on how the work is split.
    pub fn draw(law: &CodeLaw, n: usize, noise: f64, count: usize, seed: u64) -> Samples {
        let nchunks = count.div_ceil(CHUNK);
        let mut codes = Codes::empty(law.k);
        codes.support.reserve(count * law.k);
        codes.values.reserve(count * law.k);
        let mut xi = (noise > 0.0).then(|| DMatrix::zeros(n, count));
        for c in 0..nchunks {
            let len = CHUNK.min(count - c * CHUNK);
            let mut rng = rng_for(seed, c as u64);
            law.sample_into(&mut rng, len, &mut codes);
            if let Some(xi) = xi.as_mut() {
                let start = c * CHUNK;
                for j in start..start + len {
                    for v in xi.column_mut(j).iter_mut() {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        *v = noise * z;
                    }
                }
            }
        }
        Samples { codes, noise: xi }
    }

    /// The samples at positions `idx`, in that order.
    pub fn gather(&self, idx: &[usize]) -> Samples {
        let k = self.codes.k;
        let mut codes = Codes::empty(k);
        for &i in idx {
            codes
                .support
                .extend_from_slice(&self.codes.support[i * k..(i + 1) * k]);
            codes
                .values
                .extend_from_slice(&self.codes.values[i * k..(i + 1) * k]);
        }
        let noise = self
            .noise
            .as_ref()
            .map(|xi| DMatrix::from_fn(xi.nrows(), idx.len(), |r, c| xi[(r, idx[c])]));
        Samples { codes, noise }
    }

    /// The dense inputs `Y = A X + noise` (`n × N`, one column per sample).
    pub fn dense(&self, a: &DMatrix<f64>) -> DMatrix<f64> {
        let n = a.nrows();
        let k = self.codes.k;
        let mut y = match &self.noise {
            Some(xi) => xi.clone(),
            None => DMatrix::zeros(n, self.len()),
        };
        for c in 0..self.len() {
            let mut col = y.column_mut(c);
            for t in 0..k {
                let j = self.codes.support[c * k + t] as usize;
                col.axpy(self.codes.values[c * k + t], &a.column(j), 1.0);
            }
        }
        y
    }
}

/// A contiguous range of samples (or enumerated codes) handed to a gradient kernel.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Index of the first sample in its set.
    pub start: usize,
    /// k.
    pub k: usize,
    /// Support indices, k per sample.
    pub support: &'a [u32],
    /// Signed values, k per sample.
    pub values: &'a [f64],
    /// Per-sample weights, or `None` with the common weight `uniform`.
    pub weight: Option<&'a [f64]>,
    /// The common weight when `weight` is `None`.
    pub uniform: f64,
    /// The noise columns of these samples (column-major, n per sample).
    pub noise: Option<&'a [f64]>,
}

impl View<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.support.len() / self.k.max(1)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.support.is_empty()
    }

    /// Weight of sample c.
    #[inline]
    pub fn weight(&self, c: usize) -> f64 {
        match self.weight {
            Some(w) => w[c],
            None => self.uniform,
        }
    }
}

impl Samples {
    /// The samples `[start, start + len)` with common weight `uniform` (ignored when the
    /// codes carry their own probabilities).
    pub fn view(&self, start: usize, len: usize, uniform: f64) -> View<'_> {
        let k = self.codes.k;
        View {
            start,
            k,
            support: &self.codes.support[start * k..(start + len) * k],
            values: &self.codes.values[start * k..(start + len) * k],
            weight: self.codes.weight.as_ref().map(|w| &w[start..start + len]),
            uniform,
            noise: self.noise.as_ref().map(|xi| {
                let n = xi.nrows();
                &xi.as_slice()[start * n..(start + len) * n]
            }),
        }
    }
}

/// Divide each column by its Euclidean norm; `Err(j)` names a zero column.
pub fn normalise_columns(a: &mut DMatrix<f64>) -> std::result::Result<(), usize> {
    for (j, mut col) in a.column_iter_mut().enumerate() {
        let norm = col.norm();
        if norm == 0.0 || !norm.is_finite() {
            return Err(j);
        }
        col /= norm;
    }
    Ok(())
}

/// Gaussian dictionary: iid N(0, 1) entries, columns normalised.
pub fn gaussian_dictionary(n: usize, m: usize, rng: &mut Rng) -> DMatrix<f64> {
    let mut a = DMatrix::from_fn(n, m, |_, _| StandardNormal.sample(rng));
    // A Gaussian column is zero with probability 0.
    normalise_columns(&mut a).expect("nonzero Gaussian columns");
    a
}

/// Orthonormal dictionary (m ≤ n): Q of the QR factorisation of an n×m N(0,1) matrix,
/// column j multiplied by sign(R_jj) (which makes Q Haar-distributed).
pub fn orthonormal_dictionary(n: usize, m: usize, rng: &mut Rng) -> DMatrix<f64> {
    assert!(m <= n, "orthonormal dictionary needs m ≤ n");
    let g = DMatrix::from_fn(n, m, |_, _| StandardNormal.sample(rng));
    let qr = g.qr();
    let mut q = qr.q();
    let r = qr.r();
    for j in 0..m {
        if r[(j, j)] < 0.0 {
            let mut c = q.column_mut(j);
            c.neg_mut();
        }
    }
    q
}

/// Largest off-diagonal |G_ij| of the Gram matrix G = AᵀA (0 for one atom).
pub fn max_cross_talk(a: &DMatrix<f64>) -> f64 {
    let g = a.tr_mul(a);
    let m = g.nrows();
    let mut mx: f64 = 0.0;
    for j in 0..m {
        for i in 0..m {
            if i != j {
                mx = mx.max(g[(i, j)].abs());
            }
        }
    }
    mx
}

/// Coherence μ = √n · max_{i≠j} |G_ij|.
pub fn coherence(a: &DMatrix<f64>) -> f64 {
    (a.nrows() as f64).sqrt() * max_cross_talk(a)
}

/// Welch bound on max_{i≠j}|G_ij| for m unit vectors in ℝⁿ: √((m−n)/(n(m−1))) when
/// m > n, else 0.
pub fn welch_bound(n: usize, m: usize) -> f64 {
    if m <= n {
        0.0
    } else {
        let (n, m) = (n as f64, m as f64);
        ((m - n) / (n * (m - 1.0))).sqrt()
    }
}

/// How many whole dictionaries are drawn before giving up on `max_coherence`.
pub const MAX_DICTIONARY_TRIES: usize = 1000;

/// No Gaussian dictionary met the coherence constraint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoherenceNotReached {
    /// The requested μ_max.
    pub max_coherence: f64,
    /// Smallest μ seen.
    pub best: f64,
    /// Number of dictionaries drawn.
    pub tries: usize,
}

/// A Gaussian dictionary with coherence ≤ `max_coherence` (`None`: no constraint):
/// whole matrices are redrawn at most [`MAX_DICTIONARY_TRIES`] times.
pub fn gaussian_dictionary_with_coherence(
    n: usize,
    m: usize,
    max_coherence: Option<f64>,
    rng: &mut Rng,
) -> std::result::Result<DMatrix<f64>, CoherenceNotReached> {
    let Some(mu_max) = max_coherence else {
        return Ok(gaussian_dictionary(n, m, rng));
    };
    let mut best = f64::INFINITY;
    for _ in 0..MAX_DICTIONARY_TRIES {
        let a = gaussian_dictionary(n, m, rng);
        let mu = coherence(&a);
        if mu <= mu_max {
            return Ok(a);
        }
        best = best.min(mu);
    }
    Err(CoherenceNotReached {
        max_coherence: mu_max,
        best,
        tries: MAX_DICTIONARY_TRIES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn law(m: usize, k: usize, sign: Sign, values: Vec<f64>) -> CodeLaw {
        let probs = vec![1.0 / values.len() as f64; values.len()];
        CodeLaw {
            m,
            k,
            sign,
            magnitudes: Magnitudes::Discrete { values, probs },
        }
    }

    #[test]
    fn enumeration_counts_and_probabilities() {
        // The counts quoted for the paper's settings.
        assert_eq!(
            law(16, 3, Sign::Rademacher, vec![1.0]).exact_count(),
            Some(4480)
        );
        assert_eq!(
            law(32, 3, Sign::Rademacher, vec![1.0]).exact_count(),
            Some(39680)
        );
        assert_eq!(
            law(64, 2, Sign::Rademacher, vec![1.0]).exact_count(),
            Some(8064)
        );
        let l = law(7, 3, Sign::Rademacher, vec![1.0, 2.0]);
        let c = l.enumerate();
        assert_eq!(c.len() as u128, l.exact_count().unwrap());
        let w = c.weight.as_ref().unwrap();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Every code is distinct, supports increase.
        let mut keys: Vec<Vec<i64>> = (0..c.len())
            .map(|i| {
                (0..3)
                    .flat_map(|t| {
                        [
                            c.support[i * 3 + t] as i64,
                            (c.values[i * 3 + t] * 10.0) as i64,
                        ]
                    })
                    .collect()
            })
            .collect();
        for i in 0..c.len() {
            assert!(
                c.support[i * 3] < c.support[i * 3 + 1]
                    && c.support[i * 3 + 1] < c.support[i * 3 + 2]
            );
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), c.len());
        // Moments from the enumeration: E[x_i²] = (k/m) v₂, E[x_i x_j] = 0.
        let mut second = DMatrix::<f64>::zeros(7, 7);
        for (i, wi) in w.iter().enumerate() {
            for a in 0..3 {
                for b in 0..3 {
                    let (sa, sb) = (c.support[i * 3 + a] as usize, c.support[i * 3 + b] as usize);
                    second[(sa, sb)] += wi * c.values[i * 3 + a] * c.values[i * 3 + b];
                }
            }
        }
        for i in 0..7 {
            for j in 0..7 {
                let want = if i == j { 3.0 / 7.0 * l.v2() } else { 0.0 };
                assert!((second[(i, j)] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn sampled_codes_follow_the_law() {
        let l = CodeLaw {
            m: 10,
            k: 2,
            sign: Sign::Positive,
            magnitudes: Magnitudes::Uniform { lo: 1.0, hi: 3.0 },
        };
        let s = Samples::draw(&l, 5, 0.0, 200_000, 3);
        let v2 = s.codes.values.iter().map(|v| v * v).sum::<f64>() / s.codes.values.len() as f64;
        // 400 000 magnitudes; sd of x² under U[1,3] is ≈ 2.3: s.e. ≈ 0.004; 5 s.e.
        assert!((v2 - l.v2()).abs() < 0.02, "{v2} vs {}", l.v2());
        let mut freq = [0usize; 10];
        for &j in &s.codes.support {
            freq[j as usize] += 1;
        }
        for f in freq {
            // Expected 40 000 per atom, sd ≈ 190; 5 sd.
            assert!((f as f64 - 40_000.0).abs() < 1000.0, "{freq:?}");
        }
        // Chunked generation: the first chunk of a longer draw is the same.
        let short = Samples::draw(&l, 5, 0.0, 10, 3);
        assert_eq!(short.codes.values[..], s.codes.values[..20]);
    }

    #[test]
    fn dictionaries() {
        let mut rng = rng_for(1, 2);
        let q = orthonormal_dictionary(24, 16, &mut rng);
        let g = q.tr_mul(&q);
        assert!((g - DMatrix::<f64>::identity(16, 16)).abs().max() < 1e-13);
        let a = gaussian_dictionary(64, 32, &mut rng);
        for c in a.column_iter() {
            assert!((c.norm() - 1.0).abs() < 1e-14);
        }
        let mu = coherence(&a);
        // Typical μ for n = 64, m = 32 is ≈ 3.3; anything outside [2, 5] means a bug.
        assert!((2.0..5.0).contains(&mu), "{mu}");
        let a2 = gaussian_dictionary_with_coherence(64, 32, Some(mu), &mut rng).unwrap();
        assert!(coherence(&a2) <= mu);
        assert!(gaussian_dictionary_with_coherence(64, 32, Some(0.5), &mut rng).is_err());
        assert!(welch_bound(64, 32) == 0.0);
        assert!((welch_bound(2, 3) - (1.0f64 / 4.0).sqrt()).abs() < 1e-15);
    }
}
