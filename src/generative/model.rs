//! The weight-shared autoencoder `ŷ = Wᵀσ(Wy + b)` and its expected gradient
//! (Nguyen, Wong & Hegde 2019: two-layer autoencoder, decoder = encoderᵀ, encoder bias).
//!
//! # Gradient
//!
//! With `u = Wy + b`, `h = σ(u)`, `d = σ'(u)` (a.e. derivative) and `r = ŷ − y`, the
//! per-sample a.e. gradient of `½‖y − ŷ‖²` is
//!
//! ```text
//! ∇_{w_i} = h_i r + d_i (w_iᵀ r) y         (decoder path + encoder path)
//! ∇_{b_i} = d_i (w_iᵀ r)
//! ```
//!
//! "Gradient" always means the expectation of this a.e. gradient, what backpropagation
//! computes sample-wise. For threshold activations it equals the gradient of the expected
//! loss only when no code puts mass at `|u_i| = τ`; otherwise the population loss has extra
//! boundary terms which this gradient deliberately does not contain.
//!
//! # Fast evaluation
//!
//! Write `C = WWᵀ` and `g = d ∘ (W r) = d ∘ (C h − (u − b))`. Then
//! `E[∇_W] = E[h hᵀ] W + E[(g − h) yᵀ]`, and with `y = A x + ξ`,
//!
//! ```text
//! E[∇_W] = M₁ W + M_x Aᵀ + M_ξ,   M₁ = E[h hᵀ],  M_x = E[(g − h) xᵀ],  M_ξ = E[(g − h) ξᵀ]
//! ```
//!
//! For a noise-free sparse code, `u = b + P x` with `P = W A` is a sum of k columns of P,
//! only the active units `J = {i : d_i ≠ 0}` contribute to `h` and `g`, and
//! `‖r‖² = hᵀCh − 2hᵀ(u − b) + xᵀ G x` (`G = AᵀA`), so one code costs `O(mk + |J|² + |J|k)`
//! instead of `O(mn)`. Noisy samples go through the same identities with dense products
//! (`W ξ`, `C H`, `H Hᵀ`, `(G − H) Ξᵀ`).
//!
//! Work is split into fixed chunks of [`CHUNK`] samples whose partial sums are added in
//! chunk order, so the result is bit-identical for any number of threads.

use nalgebra::{DMatrix, DMatrixView, DVector, Dyn, MatrixView};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::data::{CodeLaw, Samples, View, CHUNK};

/// The encoder nonlinearity σ with its a.e. derivative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// σ(u) = u·1{|u| ≥ τ} (odd: w_i → −w_i leaves ŷ unchanged).
    Threshold {
        /// τ > 0.
        tau: f64,
    },
    /// σ(u) = u·1{u ≥ τ}.
    ThresholdPlus {
        /// τ > 0.
        tau: f64,
    },
    /// σ(u) = max(u, 0) (used with a negative bias).
    Relu,
    /// σ(u) = u.
    Linear,
}

impl Activation {
    /// (σ(u), σ'(u)).
    #[inline(always)]
    pub fn eval(self, u: f64) -> (f64, f64) {
        match self {
            Activation::Threshold { tau } => {
                if u.abs() >= tau {
                    (u, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::ThresholdPlus { tau } => {
                if u >= tau {
                    (u, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::Relu => {
                if u > 0.0 {
                    (u, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::Linear => (u, 1.0),
        }
    }

    /// True when unit activity σ(u) ≠ 0 (the predicted support).
    #[inline]
    pub fn fires(self, u: f64) -> bool {
        self.eval(u).1 != 0.0
    }
}

/// Which terms of the gradient are used for W.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradPath {
    /// Both the decoder and the encoder path.
    Full,
    /// Only the decoder term `h_i r` (close to the "neural" dictionary-learning update near
    /// the truth). The bias gradient is the encoder term in either case.
    Decoder,
}

/// The model: activation and gradient path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// σ.
    pub act: Activation,
    /// Gradient path.
    pub path: GradPath,
}

/// Loss and expected gradient at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// E[∇_W], m × n.
    pub grad_w: DMatrix<f64>,
    /// E[∇_b], m.
    pub grad_b: DVector<f64>,
    /// ½E‖y − ŷ‖².
    pub loss: f64,
    /// M₁ = E[h hᵀ], m × m (the Hessian block of the directions orthogonal to span(A)).
    pub m1: DMatrix<f64>,
}

/// Where the expectation comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Given samples or enumerated codes (weighted by their probabilities, else equally).
    Set(&'a Samples),
    /// `count` fresh samples of `law` with noise σ_η = `noise`, chunk c drawn from
    /// `rng_for(seed, c)` (the same as [`Samples::draw`]).
    Fresh {
        /// Code law.
        law: &'a CodeLaw,
        /// σ_η.
        noise: f64,
        /// Number of samples.
        count: usize,
        /// Seed of this batch.
        seed: u64,
    },
}

impl Source<'_> {
    fn count(&self) -> usize {
        match self {
            Source::Set(s) => s.len(),
            Source::Fresh { count, .. } => *count,
        }
    }
}

/// Run `f` on every chunk of `src` in parallel and return the results in chunk order.
fn map_chunks<T: Send>(
    src: Source<'_>,
    n: usize,
    f: impl Fn(&View<'_>) -> T + Sync + Send,
) -> Vec<T> {
    let count = src.count();
    let uniform = 1.0 / count.max(1) as f64;
    let nchunks = count.div_ceil(CHUNK);
    (0..nchunks)
        .into_par_iter()
        .map(|c| {
            let start = c * CHUNK;
            let len = CHUNK.min(count - start);
            match src {
                Source::Set(s) => f(&s.view(start, len, uniform)),
                Source::Fresh {
                    law,
                    noise,
                    count: _,
                    seed,
                } => {
                    // The same draw as chunk c of `Samples::draw(law, n, noise, count, seed)`.
                    let mut rng = crate::rng::rng_for(seed, c as u64);
                    let mut codes = super::data::Codes::empty(law.k);
                    law.sample_into(&mut rng, len, &mut codes);
                    let xi = (noise > 0.0).then(|| {
                        let mut xi = DMatrix::<f64>::zeros(n, len);
                        for v in xi.iter_mut() {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            *v = noise * z;
                        }
                        xi
                    });
                    let s = Samples { codes, noise: xi };
                    f(&s.view(0, len, uniform))
                }
            }
        })
        .collect()
}

/// Per-evaluation constants: P = W A, C = W Wᵀ, G = AᵀA, b.
struct Ctx<'a> {
    m: usize,
    n: usize,
    w: &'a DMatrix<f64>,
    a: &'a DMatrix<f64>,
    p: DMatrix<f64>,
    c: DMatrix<f64>,
    gram: &'a DMatrix<f64>,
    b: &'a [f64],
    model: Model,
    /// Frozen activation pattern: `mask[c·m + i]` = σ'(u_i) of code c (then σ(u) = u·mask).
    mask: Option<&'a [u8]>,
}

/// A matrix view with arbitrary strides (used for transposes without copies).
type StridedView<'a> = MatrixView<'a, f64, Dyn, Dyn, Dyn, Dyn>;

/// Partial sums of one chunk.
struct Partial {
    m1: Vec<f64>,
    mx: Vec<f64>,
    mxi: Option<DMatrix<f64>>,
    gb: Vec<f64>,
    loss: f64,
}

impl Partial {
    fn zeros(m: usize) -> Self {
        Partial {
            m1: vec![0.0; m * m],
            mx: vec![0.0; m * m],
            mxi: None,
            gb: vec![0.0; m],
            loss: 0.0,
        }
    }

    fn add(&mut self, o: &Partial) {
        for (x, y) in self.m1.iter_mut().zip(&o.m1) {
            *x += y;
        }
        for (x, y) in self.mx.iter_mut().zip(&o.mx) {
            *x += y;
        }
        for (x, y) in self.gb.iter_mut().zip(&o.gb) {
            *x += y;
        }
        self.loss += o.loss;
        match (&mut self.mxi, &o.mxi) {
            (Some(a), Some(b)) => *a += b,
            (None, Some(b)) => self.mxi = Some(b.clone()),
            _ => {}
        }
    }
}

/// The transpose of a column-major matrix as a strided view (no copy).
fn transposed(x: &DMatrix<f64>) -> StridedView<'_> {
    StridedView::from_slice_with_strides(x.as_slice(), x.ncols(), x.nrows(), x.nrows(), 1)
}

/// An activation known at compile time (monomorphised kernels: no per-element dispatch).
trait Act: Copy {
    /// (σ(u), σ'(u)).
    fn eval(self, u: f64) -> (f64, f64);
}

#[derive(Clone, Copy)]
struct ThresholdAct(f64);
#[derive(Clone, Copy)]
struct ThresholdPlusAct(f64);
#[derive(Clone, Copy)]
struct ReluAct;
#[derive(Clone, Copy)]
struct LinearAct;

impl Act for ThresholdAct {
    #[inline(always)]
    fn eval(self, u: f64) -> (f64, f64) {
        let on = (u.abs() >= self.0) as u8 as f64;
        (u * on, on)
    }
}
impl Act for ThresholdPlusAct {
    #[inline(always)]
    fn eval(self, u: f64) -> (f64, f64) {
        let on = (u >= self.0) as u8 as f64;
        (u * on, on)
    }
}
impl Act for ReluAct {
    #[inline(always)]
    fn eval(self, u: f64) -> (f64, f64) {
        let on = (u > 0.0) as u8 as f64;
        (u * on, on)
    }
}
impl Act for LinearAct {
    #[inline(always)]
    fn eval(self, u: f64) -> (f64, f64) {
        (u, 1.0)
    }
}

/// Noise-free chunk: the sparse per-code kernel.
fn code_chunk(ctx: &Ctx<'_>, v: &View<'_>) -> Partial {
    match ctx.model.act {
        Activation::Threshold { tau } => code_chunk_with(ctx, v, ThresholdAct(tau)),
        Activation::ThresholdPlus { tau } => code_chunk_with(ctx, v, ThresholdPlusAct(tau)),
        Activation::Relu => code_chunk_with(ctx, v, ReluAct),
        Activation::Linear => code_chunk_with(ctx, v, LinearAct),
    }
}

fn code_chunk_with<A: Act>(ctx: &Ctx<'_>, v: &View<'_>, act: A) -> Partial {
    let (m, k) = (ctx.m, v.k);
    let p = ctx.p.as_slice();
    let cm = ctx.c.as_slice();
    let gram = ctx.gram.as_slice();
    let b = ctx.b;
    let full = ctx.model.path == GradPath::Full;
    let mut out = Partial::zeros(m);
    let mut u = vec![0.0; m];
    let mut idx = vec![0usize; m];
    let mut hv = vec![0.0; m];
    let mut dv = vec![0.0; m];
    let mut fv = vec![0.0; m];
    for c in 0..v.len() {
        let s = &v.support[c * k..(c + 1) * k];
        let x = &v.values[c * k..(c + 1) * k];
        let wgt = v.weight(c);
        u.copy_from_slice(b);
        for t in 0..k {
            let col = &p[s[t] as usize * m..(s[t] as usize + 1) * m];
            let xt = x[t];
            for (ui, pi) in u.iter_mut().zip(col) {
                *ui += xt * pi;
            }
        }
        // Branch-free compaction of the active units J = {i : σ'(u_i) ≠ 0}.
        let mut nj = 0;
        if let Some(mask) = ctx.mask {
            let row = &mask[(v.start + c) * m..(v.start + c + 1) * m];
            for (i, (&ui, &on)) in u.iter().zip(row).enumerate() {
                let d = on as f64;
                idx[nj] = i;
                hv[nj] = ui * d;
                dv[nj] = d;
                nj += on as usize;
            }
        } else {
            for (i, &ui) in u.iter().enumerate() {
                let (h, d) = act.eval(ui);
                idx[nj] = i;
                hv[nj] = h;
                dv[nj] = d;
                nj += (d != 0.0) as usize;
            }
        }
        // ‖y‖² = xᵀ G_SS x.
        let mut yy = 0.0;
        for t1 in 0..k {
            let col = s[t1] as usize * m;
            let mut acc = 0.0;
            for t2 in 0..k {
                acc += gram[col + s[t2] as usize] * x[t2];
            }
            yy += x[t1] * acc;
        }
        let mut hch = 0.0;
        let mut hwy = 0.0;
        for a in 0..nj {
            let i = idx[a];
            let mut q = 0.0;
            for bb in 0..nj {
                q += cm[i + m * idx[bb]] * hv[bb];
            }
            let wy = u[i] - b[i];
            hch += hv[a] * q;
            hwy += hv[a] * wy;
            let g = dv[a] * (q - wy);
            out.gb[i] += wgt * g;
            let g_w = if full { g } else { 0.0 };
            fv[a] = wgt * (g_w - hv[a]);
        }
        out.loss += wgt * 0.5 * (hch - 2.0 * hwy + yy);
        for bb in 0..nj {
            let col = m * idx[bb];
            let hb = wgt * hv[bb];
            for a in 0..nj {
                out.m1[col + idx[a]] += hv[a] * hb;
            }
        }
        for t in 0..k {
            let col = m * s[t] as usize;
            let xt = x[t];
            for a in 0..nj {
                out.mx[col + idx[a]] += fv[a] * xt;
            }
        }
    }
    out
}

/// Noisy chunk: dense products for the noise, sparse ones for the codes.
fn dense_chunk(ctx: &Ctx<'_>, v: &View<'_>, xi_data: &[f64]) -> Partial {
    let (m, n, k) = (ctx.m, ctx.n, v.k);
    let len = v.len();
    let xi = DMatrixView::from_slice(xi_data, n, len);
    // Ξᵀ as a strided view of the same storage.
    let xi_t = StridedView::from_slice_with_strides(xi_data, len, n, n, 1);
    let full = ctx.model.path == GradPath::Full;
    let act = ctx.model.act;
    let mut out = Partial::zeros(m);
    // U = W Ξ + P X + b.
    let mut u = DMatrix::<f64>::zeros(m, len);
    u.gemm(1.0, ctx.w, &xi, 0.0);
    let p = ctx.p.as_slice();
    for c in 0..len {
        let col = u.column_mut(c);
        let uc = col.data.into_slice_mut();
        for (ui, bi) in uc.iter_mut().zip(ctx.b) {
            *ui += bi;
        }
        for t in 0..k {
            let j = v.support[c * k + t] as usize;
            let xt = v.values[c * k + t];
            for (ui, pi) in uc.iter_mut().zip(&p[j * m..(j + 1) * m]) {
                *ui += xt * pi;
            }
        }
    }
    let mut h = DMatrix::<f64>::zeros(m, len);
    let mut d = DMatrix::<f64>::zeros(m, len);
    for ((uu, hh), dd) in u.iter().zip(h.iter_mut()).zip(d.iter_mut()) {
        let (a, b) = act.eval(*uu);
        *hh = a;
        *dd = b;
    }
    let mut hc = DMatrix::<f64>::zeros(m, len);
    hc.gemm(1.0, &ctx.c, &h, 0.0);
    // F = weight·(G − H) (G = D∘(HC − (U − b)) or 0), H_w = weight·H.
    let mut f = DMatrix::<f64>::zeros(m, len);
    let mut hw = DMatrix::<f64>::zeros(m, len);
    let mut y = vec![0.0; n];
    for c in 0..len {
        let wgt = v.weight(c);
        let mut hch = 0.0;
        let mut hwy = 0.0;
        for i in 0..m {
            let wy = u[(i, c)] - ctx.b[i];
            let hi = h[(i, c)];
            hch += hi * hc[(i, c)];
            hwy += hi * wy;
            let g = d[(i, c)] * (hc[(i, c)] - wy);
            out.gb[i] += wgt * g;
            let g_w = if full { g } else { 0.0 };
            f[(i, c)] = wgt * (g_w - hi);
            hw[(i, c)] = wgt * hi;
        }
        y.copy_from_slice(&xi_data[c * n..(c + 1) * n]);
        for t in 0..k {
            let j = v.support[c * k + t] as usize;
            let xt = v.values[c * k + t];
            for (yr, ar) in y.iter_mut().zip(ctx.a.column(j).iter()) {
                *yr += xt * ar;
            }
        }
        let yy: f64 = y.iter().map(|e| e * e).sum();
        out.loss += wgt * 0.5 * (hch - 2.0 * hwy + yy);
        for t in 0..k {
            let j = v.support[c * k + t] as usize;
            let xt = v.values[c * k + t];
            for i in 0..m {
                out.mx[j * m + i] += f[(i, c)] * xt;
            }
        }
    }
    let mut m1 = DMatrix::<f64>::zeros(m, m);
    m1.gemm(1.0, &hw, &transposed(&h), 0.0);
    out.m1.copy_from_slice(m1.as_slice());
    let mut mxi = DMatrix::<f64>::zeros(m, n);
    mxi.gemm(1.0, &f, &xi_t, 0.0);
    out.mxi = Some(mxi);
    out
}

/// Expected loss and gradient at (W, b) over `src`, for dictionary `a` (n × m) with Gram
/// matrix `gram = AᵀA`. Noise-free samples use the sparse kernel, noisy ones the dense one;
/// `force_dense` sends noise-free samples through the dense kernel too (benchmarks, tests).
pub fn evaluate(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    model: Model,
    src: Source<'_>,
) -> Eval {
    evaluate_with(w, b, a, gram, model, src, false)
}

/// [`evaluate`] with the choice of kernel.
pub fn evaluate_with(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    model: Model,
    src: Source<'_>,
    force_dense: bool,
) -> Eval {
    evaluate_impl(w, b, a, gram, model, src, force_dense, None)
}

/// Calls `f(c, u)` with the pre-activations `u = W y_c + b = (WA) x_c + b` of every
/// noise-free sample c of `set` (a sum of k columns of WA).
fn for_each_preactivation(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    set: &Samples,
    mut f: impl FnMut(usize, &DVector<f64>),
) {
    let k = set.codes.k;
    let p = w * a;
    for c in 0..set.len() {
        let mut u = b.clone();
        for t in 0..k {
            let j = set.codes.support[c * k + t] as usize;
            u.axpy(set.codes.values[c * k + t], &p.column(j), 1.0);
        }
        f(c, &u);
    }
}

/// The activation pattern σ'(u_i) ∈ {0, 1} of every sample of `set` (noise-free) at (W, b),
/// `mask[c·m + i]`.
pub fn activation_pattern(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    model: Model,
    set: &Samples,
) -> Vec<u8> {
    let m = w.nrows();
    let mut mask = vec![0u8; set.len() * m];
    for_each_preactivation(w, b, a, set, |c, u| {
        for i in 0..m {
            mask[c * m + i] = model.act.fires(u[i]) as u8;
        }
    });
    mask
}

/// Smallest distance of a pre-activation to a switching point of σ (±τ, τ or 0) over the
/// noise-free samples of `set` and all units: how far (W, b) is from an activation change.
pub fn switching_margin(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    model: Model,
    set: &Samples,
) -> f64 {
    let mut margin = f64::INFINITY;
    for_each_preactivation(w, b, a, set, |_, u| {
        for &ui in u.iter() {
            let d = match model.act {
                Activation::Threshold { tau } => (ui.abs() - tau).abs(),
                Activation::ThresholdPlus { tau } => (ui - tau).abs(),
                Activation::Relu => ui.abs(),
                Activation::Linear => f64::INFINITY,
            };
            margin = margin.min(d);
        }
    });
    margin
}

/// Expected loss and gradient of the model whose activation pattern is frozen at `mask`
/// (from [`activation_pattern`]): σ(u_i) = u_i·mask. Every activation here is of the form
/// u·1{region}, so this is the smooth piece of the loss containing the point where the
/// pattern was taken; it equals [`evaluate`] wherever that pattern holds.
pub fn evaluate_frozen(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    model: Model,
    set: &Samples,
    mask: &[u8],
) -> Eval {
    assert!(set.noise.is_none(), "frozen patterns need noise-free codes");
    assert_eq!(mask.len(), set.len() * w.nrows());
    evaluate_impl(w, b, a, gram, model, Source::Set(set), false, Some(mask))
}

#[allow(clippy::too_many_arguments)]
fn evaluate_impl(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    model: Model,
    src: Source<'_>,
    force_dense: bool,
    mask: Option<&[u8]>,
) -> Eval {
    let (m, n) = w.shape();
    let p = w * a;
    let mut c = DMatrix::<f64>::zeros(m, m);
    c.gemm(1.0, w, &transposed(w), 0.0);
    let ctx = Ctx {
        m,
        n,
        w,
        a,
        p,
        c,
        gram,
        b: b.as_slice(),
        model,
        mask,
    };
    let zero_noise = if force_dense {
        vec![0.0; n * CHUNK]
    } else {
        Vec::new()
    };
    let parts = map_chunks(src, n, |v| match v.noise {
        Some(xi) => dense_chunk(&ctx, v, xi),
        None if force_dense => dense_chunk(&ctx, v, &zero_noise[..n * v.len()]),
        None => code_chunk(&ctx, v),
    });
    let mut total = Partial::zeros(m);
    for part in &parts {
        total.add(part);
    }
    let m1 = DMatrix::from_column_slice(m, m, &total.m1);
    let mx = DMatrix::from_column_slice(m, m, &total.mx);
    let mut grad_w = &m1 * w;
    grad_w.gemm(1.0, &mx, &transposed(a), 1.0);
    if let Some(mxi) = &total.mxi {
        grad_w += mxi;
    }
    Eval {
        grad_w,
        grad_b: DVector::from_vec(total.gb),
        loss: total.loss,
        m1,
    }
}

/// Mean and standard error of every entry of the per-sample gradient ∇_W over `src`
/// (equal weights): `SE = sd/√N`. Dense per-sample work, O(N m n).
pub fn gradient_standard_error(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    a: &DMatrix<f64>,
    model: Model,
    src: Source<'_>,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let (m, n) = w.shape();
    let count = src.count();
    let parts = map_chunks(src, n, |v| {
        let mut s1 = DMatrix::<f64>::zeros(m, n);
        let mut s2 = DMatrix::<f64>::zeros(m, n);
        let mut y = DVector::<f64>::zeros(n);
        let mut gi = DMatrix::<f64>::zeros(m, n);
        for c in 0..v.len() {
            y.fill(0.0);
            if let Some(xi) = v.noise {
                y.copy_from_slice(&xi[c * n..(c + 1) * n]);
            }
            for t in 0..v.k {
                let j = v.support[c * v.k + t] as usize;
                y.axpy(v.values[c * v.k + t], &a.column(j), 1.0);
            }
            let u = w * &y + b;
            let mut h = DVector::<f64>::zeros(m);
            let mut d = DVector::<f64>::zeros(m);
            for i in 0..m {
                let (hh, dd) = model.act.eval(u[i]);
                h[i] = hh;
                d[i] = dd;
            }
            let r = w.tr_mul(&h) - &y;
            let wr = w * &r;
            gi.fill(0.0);
            gi.ger(1.0, &h, &r, 0.0);
            if model.path == GradPath::Full {
                let g = d.component_mul(&wr);
                gi.ger(1.0, &g, &y, 1.0);
            }
            s1 += &gi;
            s2 += gi.component_mul(&gi);
        }
        (s1, s2)
    });
    let mut s1 = DMatrix::<f64>::zeros(m, n);
    let mut s2 = DMatrix::<f64>::zeros(m, n);
    for (a1, a2) in &parts {
        s1 += a1;
        s2 += a2;
    }
    let nf = count as f64;
    let mean = &s1 / nf;
    let se = DMatrix::from_fn(m, n, |i, j| {
        let var = (s2[(i, j)] / nf - mean[(i, j)].powi(2)).max(0.0) * nf / (nf - 1.0).max(1.0);
        (var / nf).sqrt()
    });
    (mean, se)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generative::data::{gaussian_dictionary, orthonormal_dictionary, Sign};
    use crate::rng::rng_for;
    use rand_distr::{Distribution, StandardNormal};

    fn law(m: usize, k: usize, sign: Sign, values: Vec<f64>) -> CodeLaw {
        CodeLaw::discrete(m, k, sign, values)
    }

    fn perturbed(a: &DMatrix<f64>, eps: f64, seed: u64) -> DMatrix<f64> {
        let mut rng = rng_for(seed, 9);
        let at = a.transpose();
        at.map(|v| {
            let z: f64 = StandardNormal.sample(&mut rng);
            v + eps * z
        })
    }

    /// Brute-force per-sample gradient, straight from the formula.
    fn naive(
        w: &DMatrix<f64>,
        b: &DVector<f64>,
        ys: &DMatrix<f64>,
        model: Model,
    ) -> (DMatrix<f64>, DVector<f64>, f64) {
        let (m, n) = w.shape();
        let mut gw = DMatrix::zeros(m, n);
        let mut gb = DVector::zeros(m);
        let mut loss = 0.0;
        let nn = ys.ncols() as f64;
        for y in ys.column_iter() {
            let u = w * y + b;
            let h = u.map(|v| model.act.eval(v).0);
            let d = u.map(|v| model.act.eval(v).1);
            let r = w.tr_mul(&h) - y;
            loss += 0.5 * r.norm_squared() / nn;
            let wr = w * &r;
            for i in 0..m {
                for j in 0..n {
                    let mut g = h[i] * r[j];
                    if model.path == GradPath::Full {
                        g += d[i] * wr[i] * y[j];
                    }
                    gw[(i, j)] += g / nn;
                }
                gb[i] += d[i] * wr[i] / nn;
            }
        }
        (gw, gb, loss)
    }

    /// Kernels against the plain formula: sparse, dense, noise, every activation, both
    /// paths. Tolerance: summation-order rounding on O(1) quantities.
    #[test]
    fn kernels_match_the_plain_formula() {
        const TOL: f64 = 1e-12;
        let mut rng = rng_for(5, 1);
        let a = gaussian_dictionary(12, 8, &mut rng);
        let gram = a.tr_mul(&a);
        let w = perturbed(&a, 0.2, 1);
        let acts = [
            Activation::Threshold { tau: 0.5 },
            Activation::ThresholdPlus { tau: 0.5 },
            Activation::Relu,
            Activation::Linear,
        ];
        let l = law(8, 3, Sign::Rademacher, vec![1.0, 1.5]);
        for (ai, act) in acts.into_iter().enumerate() {
            for path in [GradPath::Full, GradPath::Decoder] {
                let model = Model { act, path };
                let b = DVector::from_element(8, if act == Activation::Relu { -0.3 } else { 0.05 });
                for noise in [0.0, 0.1] {
                    let s = Samples::draw(&l, 12, noise, 2500, 7 + ai as u64);
                    let (gw, gb, loss) = naive(&w, &b, &s.dense(&a), model);
                    let e = evaluate(&w, &b, &a, &gram, model, Source::Set(&s));
                    assert!(
                        (&e.grad_w - &gw).abs().max() < TOL,
                        "{act:?} {path:?} {noise}"
                    );
                    assert!((&e.grad_b - &gb).abs().max() < TOL);
                    assert!((e.loss - loss).abs() < TOL);
                    let e2 = evaluate_with(&w, &b, &a, &gram, model, Source::Set(&s), true);
                    assert!((&e2.grad_w - &gw).abs().max() < TOL);
                    assert!((e2.loss - loss).abs() < TOL);
                }
            }
        }
    }

    /// A fresh source draws exactly the samples of `Samples::draw` with the same seed.
    #[test]
    fn fresh_source_equals_drawn_samples() {
        let mut rng = rng_for(2, 1);
        let a = gaussian_dictionary(10, 6, &mut rng);
        let gram = a.tr_mul(&a);
        let w = perturbed(&a, 0.1, 2);
        let b = DVector::zeros(6);
        let l = law(6, 2, Sign::Rademacher, vec![1.0]);
        let model = Model {
            act: Activation::Threshold { tau: 0.5 },
            path: GradPath::Full,
        };
        for noise in [0.0, 0.2] {
            let s = Samples::draw(&l, 10, noise, 3000, 44);
            let e1 = evaluate(&w, &b, &a, &gram, model, Source::Set(&s));
            let e2 = evaluate(
                &w,
                &b,
                &a,
                &gram,
                model,
                Source::Fresh {
                    law: &l,
                    noise,
                    count: 3000,
                    seed: 44,
                },
            );
            assert_eq!(e1, e2);
        }
    }

    /// Thread-count invariance: the same bits with 1 and 2 threads.
    #[test]
    fn bit_identical_for_any_thread_count() {
        let mut rng = rng_for(3, 1);
        let a = orthonormal_dictionary(24, 16, &mut rng);
        let gram = a.tr_mul(&a);
        let w = perturbed(&a, 0.1, 3);
        let b = DVector::zeros(16);
        let model = Model {
            act: Activation::Threshold { tau: 0.5 },
            path: GradPath::Full,
        };
        let codes = Samples {
            codes: law(16, 3, Sign::Rademacher, vec![1.0]).enumerate(),
            noise: None,
        };
        let l = law(16, 3, Sign::Rademacher, vec![1.0]);
        let run = || {
            let e1 = evaluate(&w, &b, &a, &gram, model, Source::Set(&codes));
            let e2 = evaluate(
                &w,
                &b,
                &a,
                &gram,
                model,
                Source::Fresh {
                    law: &l,
                    noise: 0.1,
                    count: 5000,
                    seed: 1,
                },
            );
            (e1, e2)
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(run);
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(run);
        assert_eq!(one, two);
    }
}
