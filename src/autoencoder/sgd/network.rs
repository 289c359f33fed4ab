//! The finite-width autoencoder and its training step (docs/autoencoder.md §1.2, §1.4,
//! §5.1–§5.3).
//!
//! Pre-activations `λ^k = w^k·x/√D + β_k`, output `x̂ = Σ_k v^k g(λ^k)`, loss
//! `L = |x − x̂|²/(2D)`. With `Δ^{(k)}` the residual seen by unit k, one step on a minibatch
//! `x_1..x_B` (all gradients at the pre-step weights, averaged over the batch) is
//!
//! ```text
//! w^k ← s [w^k + (η/D^{5/2}) (1/B) Σ_b (v^k·Δ_b^{(k)}) g'(λ_b^k) x_b]
//! v^k ← s [v^k + (η/D)       (1/B) Σ_b g(λ_b^k) Δ_b^{(k)}]
//! β_k ← β_k + (η_b/D²) (1/B) Σ_b (v^k·Δ_b^{(k)}) g'(λ_b^k)          (b_k = √D β_k has rate η_b)
//! ```
//!
//! with the weight decay `s = 1 − wd/D`, and
//! * `sgd`: `Δ^{(k)} = Δ = x − Σ_a v^a g(λ^a)` (docs/autoencoder.md §1.2);
//! * `truncated`: `Δ^{(k)} = x − Σ_{a≤k} v^a g(λ^a)` — the rule the ODE describes, with
//!   `g'(λ^k)` outside the sum (docs/autoencoder.md §5.1), not the reference simulation's variant;
//! * tied weights: `v^k = √D w^k`, one matrix W trained with rate η/D on the sum of both
//!   gradients, i.e. `w^k` gets the encoder increment plus the decoder increment / √D (§5.3);
//! * `sanger`: `y^k = λ^k` (linear), decoder `v^k = w^k`,
//!   `w^k ← s [w^k + (η/D²) y^k (x − Σ_{a≤k} y^a w^a)]` (docs/autoencoder.md §5.2), no encoder term.
//!
//! Implementation: two passes over the K×D weights per step, in column blocks that stay in
//! L1 cache. The *decoder pass* forms the residuals `Δ_b^{(k)}` block by block, accumulates
//! `v^k·Δ_b^{(k)}` and updates the decoder rows in the same sweep (all at the pre-step rows).
//! The encoder increment is then known only as a coefficient per unit and input; it is kept
//! *pending* and applied by the *encoder pass* of the next step, which in one sweep settles
//! `w^k ← s (w^k + Σ_b c_b^k x_b^{prev})` and computes the new `w^k·x_b`. Observers
//! ([`Network::encoder`], [`Network::loss`], …) see the settled weights, computed by the same
//! kernel, so the deferral is invisible.
//!
//! Layout: rows are zero-padded to `D_p`, a multiple of [`LANES`] (the padding stays exactly
//! zero), and a K×D_p matrix is stored in column blocks of [`BLOCK`] columns, each block
//! holding its K row pieces back to back, so that both passes stream through memory once.

use nalgebra::{DMatrix, DVector};

use super::data::InputStream;
use super::linalg::{
    axpy, dot_axpy, dot_lanes, lane_sum, multi_axpy, padded, scale, settle, settle_dot, vectorised,
    Lanes, LANES,
};
use crate::activation::Activation;
use crate::autoencoder::model::{Model, Rule};
use crate::error::{Error, Result};

/// Columns per block (a multiple of [`LANES`]): a block of K rows and the residual block
/// stay in cache between the kernels of a pass (512: measured fastest at D = 10⁴, K = 10).
const BLOCK: usize = 512;

/// The column blocks `(j0, len)` of a padded row length `dp`: block `j0..j0 + len` of a
/// K-row matrix is stored at `K·j0..K·(j0 + len)`, row k's piece at `K·j0 + k·len`.
fn blocks(dp: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..dp)
        .step_by(BLOCK)
        .map(move |j0| (j0, BLOCK.min(dp - j0)))
}

/// Step sizes of one step, derived from the model and D.
#[derive(Debug, Clone, Copy)]
struct Rates {
    /// Encoder increment per unit of `(v·Δ) g' x`: η/D^{5/2} (0 for Sanger).
    encoder: f64,
    /// Decoder increment per unit of `g Δ`, in decoder units: η/D (Sanger: η/D²).
    decoder: f64,
    /// Bias increment per unit of `(v·Δ) g'`: η_b/D².
    bias: f64,
    /// Weight decay factor `1 − wd/D`.
    decay: f64,
    /// The decoder is `κ W` when it is not stored separately (tied: √D, Sanger: 1).
    kappa: f64,
    /// Unit k sees only units a ≤ k.
    truncated: bool,
}

/// A K-unit autoencoder with its training rule, weights stored in column blocks (see the
/// module docs).
#[derive(Debug, Clone)]
pub struct Network {
    dim: usize,
    /// Padded row length D_p ≥ D (a multiple of [`LANES`]).
    stride: usize,
    hidden: usize,
    batch: usize,
    activation: Activation,
    rates: Rates,
    /// W before the pending update, K×D_p in blocks.
    w: Vec<f64>,
    /// V, K×D_p in blocks; empty when the decoder is `κ W` (tied, Sanger).
    v: Vec<f64>,
    /// β (length K) when an encoder bias is trained.
    beta: Option<Vec<f64>>,
    /// The pending encoder update: the true encoder is
    /// `w^k ← s_p (w^k + Σ_b pending[k·B + b] x_prev_b)`.
    pending: Vec<f64>,
    /// `s_p`: the weight decay of W still to apply (1 before the first step).
    pending_decay: f64,
    /// The previous minibatch, B×D_p (zero before the first step).
    x_prev: Vec<f64>,
    /// The current minibatch, B×D_p (padding zero).
    xs: Vec<f64>,
    // Scratch space of one step: g(λ), g'(λ) and −κ g(λ) (B×K), lane sums of λ and of v·Δ (K×B),
    // the residual block (B×BLOCK).
    act: Vec<f64>,
    dact: Vec<f64>,
    minus_kappa_act: Vec<f64>,
    lam: Vec<Lanes>,
    vdelta: Vec<Lanes>,
    res: Vec<f64>,
}

impl Network {
    /// A network of `model` with initial weights `w0`, `v0` (K×D; `v0` is ignored when the
    /// decoder is tied to the encoder), initial biases `beta0` (required iff
    /// `model.bias_lr` is set), trained on minibatches of `batch` inputs.
    pub fn new(
        model: &Model,
        w0: &DMatrix<f64>,
        v0: &DMatrix<f64>,
        beta0: Option<&DVector<f64>>,
        batch: usize,
    ) -> Result<Self> {
        let (k, d) = (model.hidden, w0.ncols());
        if w0.nrows() != k || v0.nrows() != k || v0.ncols() != d {
            return Err(Error::InvalidState(format!(
                "weights must be K×D = {k}×{d}: encoder is {}×{}, decoder {}×{}",
                w0.nrows(),
                w0.ncols(),
                v0.nrows(),
                v0.ncols()
            )));
        }
        if batch == 0 {
            return Err(Error::InvalidState("a minibatch needs B ≥ 1 inputs".into()));
        }
        let beta = match (model.bias_lr, beta0) {
            (Some(_), Some(b)) if b.len() == k => Some(b.iter().copied().collect()),
            (None, None) => None,
            _ => {
                return Err(Error::InvalidState(format!(
                    "K = {k} initial biases are needed iff a bias is trained"
                )))
            }
        };
        let df = d as f64;
        let sanger = model.rule == Rule::Sanger;
        let separate_decoder = !(sanger || model.tied);
        let rates = Rates {
            encoder: if sanger { 0.0 } else { model.lr / df.powf(2.5) },
            decoder: if sanger {
                model.lr / (df * df)
            } else {
                model.lr / df
            },
            bias: model.bias_lr.unwrap_or(0.0) / (df * df),
            decay: 1.0 - model.weight_decay / df,
            kappa: if model.tied && !sanger {
                df.sqrt()
            } else {
                1.0
            },
            truncated: model.rule != Rule::Sgd,
        };
        let stride = padded(d);
        let rows = |m: &DMatrix<f64>| -> Vec<f64> {
            let mut out = vec![0.0; k * stride];
            for (j0, len) in blocks(stride) {
                for r in 0..k {
                    for c in j0..(j0 + len).min(d) {
                        out[k * j0 + r * len + c - j0] = m[(r, c)];
                    }
                }
            }
            out
        };
        Ok(Network {
            dim: d,
            stride,
            hidden: k,
            batch,
            activation: model.activation,
            rates,
            w: rows(w0),
            v: if separate_decoder {
                rows(v0)
            } else {
                Vec::new()
            },
            beta,
            pending: vec![0.0; k * batch],
            pending_decay: 1.0,
            x_prev: vec![0.0; batch * stride],
            xs: vec![0.0; batch * stride],
            act: vec![0.0; batch * k],
            minus_kappa_act: vec![0.0; batch * k],
            dact: vec![0.0; batch * k],
            lam: vec![[0.0; LANES]; k * batch],
            vdelta: vec![[0.0; LANES]; k * batch],
            res: vec![0.0; batch * BLOCK],
        })
    }

    /// The input dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The minibatch size B.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The settled encoder (the pending update applied by the encoder pass's kernel), in
    /// blocks.
    fn settled_w(&self) -> Vec<f64> {
        let (dp, k, nb) = (self.stride, self.hidden, self.batch);
        let mut w = self.w.clone();
        vectorised(
            #[inline(always)]
            || {
                for (j0, len) in blocks(dp) {
                    for (unit, row) in w[k * j0..k * (j0 + len)].chunks_exact_mut(len).enumerate() {
                        let c = &self.pending[unit * nb..(unit + 1) * nb];
                        settle(row, self.pending_decay, c, &self.x_prev, dp, j0);
                    }
                }
            },
        );
        w
    }

    /// `factor` times the K×D matrix stored in blocks in `m`.
    fn matrix(&self, m: &[f64], factor: f64) -> DMatrix<f64> {
        let (dp, k) = (self.stride, self.hidden);
        let mut out = DMatrix::zeros(k, self.dim);
        for (j0, len) in blocks(dp) {
            for r in 0..k {
                for c in j0..(j0 + len).min(self.dim) {
                    out[(r, c)] = factor * m[k * j0 + r * len + c - j0];
                }
            }
        }
        out
    }

    /// The encoder W (K×D).
    pub fn encoder(&self) -> DMatrix<f64> {
        self.matrix(&self.settled_w(), 1.0)
    }

    /// The decoder V (K×D): the stored one, or `κ W` when tied (κ = √D; Sanger: κ = 1).
    pub fn decoder(&self) -> DMatrix<f64> {
        if self.v.is_empty() {
            self.matrix(&self.settled_w(), self.rates.kappa)
        } else {
            self.matrix(&self.v, 1.0)
        }
    }

    /// The biases β (when trained).
    pub fn beta(&self) -> Option<DVector<f64>> {
        self.beta.as_ref().map(|b| DVector::from_column_slice(b))
    }

    /// True if every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.settled_w()
            .iter()
            .chain(&self.v)
            .chain(self.beta.iter().flatten())
            .all(|x| x.is_finite())
    }

    /// The bias of unit k (0 when untrained).
    fn bias(&self, k: usize) -> f64 {
        self.beta.as_ref().map_or(0.0, |b| b[k])
    }

    /// The loss `|x − x̂|²/(2D)` of the full network on one input (length D).
    pub fn loss(&self, x: &[f64]) -> f64 {
        let mut xs = vec![0.0; self.stride];
        xs[..self.dim].copy_from_slice(x);
        let mut out = [0.0];
        self.loss_evaluator().losses(&xs, &mut out);
        out[0]
    }

    /// The evaluator of the loss on blocks of inputs, at the current (settled) weights.
    pub fn loss_evaluator(&self) -> LossEvaluator<'_> {
        LossEvaluator {
            net: self,
            w: self.settled_w(),
            lam: Vec::new(),
            mka: Vec::new(),
            res: vec![0.0; BLOCK],
            acc: Vec::new(),
        }
    }

    /// One training step on the next B inputs of `inputs`.
    pub fn train_step(&mut self, inputs: &mut InputStream<'_>) {
        let (d, dp) = (self.dim, self.stride);
        for x in self.xs.chunks_exact_mut(dp) {
            inputs.draw(&mut x[..d]);
        }
        self.update();
    }

    /// One training step on the given minibatch (`B·D` numbers, input b in `b·D..(b+1)·D`).
    pub fn step_on(&mut self, inputs: &[f64]) -> Result<()> {
        let d = self.dim;
        if inputs.len() != self.batch * d {
            return Err(Error::InvalidState(format!(
                "a minibatch has B·D = {} numbers, got {}",
                self.batch * d,
                inputs.len()
            )));
        }
        for (x, input) in self
            .xs
            .chunks_exact_mut(self.stride)
            .zip(inputs.chunks_exact(d))
        {
            x[..d].copy_from_slice(input);
        }
        self.update();
        Ok(())
    }

    /// The step on the minibatch in `self.xs` (see the module docs).
    fn update(&mut self) {
        vectorised(
            #[inline(always)]
            || {
                self.encoder_pass();
                self.decoder_pass();
            },
        );
        let (k, nb) = (self.hidden, self.batch);
        let r = self.rates;
        let inv_b = 1.0 / nb as f64;
        // Encoder: w^k += (η/D^{5/2}) (1/B) Σ_b (v^k·Δ_b^{(k)}) g'(λ_b^k) x_b, pending until
        // the next encoder pass; the bias moves now.
        for unit in 0..k {
            let mut bias_step = 0.0;
            for b in 0..nb {
                let a = r.kappa * lane_sum(&self.vdelta[unit * nb + b]) * self.dact[b * k + unit];
                bias_step += a;
                self.pending[unit * nb + b] = r.encoder * inv_b * a;
            }
            if let Some(beta) = self.beta.as_mut() {
                beta[unit] += r.bias * inv_b * bias_step;
            }
        }
        self.pending_decay = r.decay;
        std::mem::swap(&mut self.xs, &mut self.x_prev);
    }

    /// Settles the pending update of W and computes `act = g(λ)`, `dact = g'(λ)` with
    /// `λ_b^k = w^k·x_b/√D + β_k`, block by block in one sweep over W.
    #[inline(always)]
    fn encoder_pass(&mut self) {
        let (d, dp, k, nb) = (self.dim, self.stride, self.hidden, self.batch);
        let inv_sqrt_d = 1.0 / (d as f64).sqrt();
        self.lam.iter_mut().for_each(|l| *l = [0.0; LANES]);
        for (j0, len) in blocks(dp) {
            let blk = &mut self.w[k * j0..k * (j0 + len)];
            for (unit, row) in blk.chunks_exact_mut(len).enumerate() {
                let c = &self.pending[unit * nb..(unit + 1) * nb];
                if nb == 1 {
                    // The fused kernel of the common case (bit-identical to the general one).
                    let (p, x) = (&self.x_prev[j0..j0 + len], &self.xs[j0..j0 + len]);
                    settle_dot(&mut self.lam[unit], row, self.pending_decay, c[0], p, x);
                } else {
                    settle(row, self.pending_decay, c, &self.x_prev, dp, j0);
                    for (b, x) in self.xs.chunks_exact(dp).enumerate() {
                        dot_lanes(&mut self.lam[unit * nb + b], row, &x[j0..j0 + len]);
                    }
                }
            }
        }
        for unit in 0..k {
            let beta = self.beta.as_ref().map_or(0.0, |b| b[unit]);
            for b in 0..nb {
                let lam = lane_sum(&self.lam[unit * nb + b]) * inv_sqrt_d + beta;
                self.act[b * k + unit] = self.activation.g(lam);
                self.dact[b * k + unit] = self.activation.dg(lam);
            }
        }
    }

    /// Residuals, `v^k·Δ_b^{(k)}` (lane sums in `vdelta`) and the decoder update
    /// `v^k ← s [v^k + (rate/B) Σ_b g(λ_b^k) Δ_b^{(k)}]`, all at the pre-step decoder, block
    /// by block in one sweep over the decoder storage (V, or W when tied: then in row units
    /// `v = κ w`, and the decay of W is left to the pending update).
    #[inline(always)]
    fn decoder_pass(&mut self) {
        let (dp, k, nb) = (self.stride, self.hidden, self.batch);
        let r = self.rates;
        let separate = !self.v.is_empty();
        let decay = if separate { r.decay } else { 1.0 };
        let rows = if separate { &mut self.v } else { &mut self.w };
        let c = r.decoder / (nb as f64 * r.kappa);
        for (m, a) in self.minus_kappa_act.iter_mut().zip(&self.act) {
            *m = -r.kappa * a;
        }
        self.vdelta.iter_mut().for_each(|l| *l = [0.0; LANES]);
        for (j0, len) in blocks(dp) {
            let blk = &mut rows[k * j0..k * (j0 + len)];
            let res = &mut self.res[..nb * len];
            for (rb, x) in res.chunks_exact_mut(len).zip(self.xs.chunks_exact(dp)) {
                rb.copy_from_slice(&x[j0..j0 + len]);
            }
            // Δ_b −= κ Σ_{a ∈ units} g(λ_b^a) row^a: all units first (sgd), or unit by unit
            // below (truncated).
            let mka = &self.minus_kappa_act;
            if !r.truncated {
                subtract_units(res, blk, mka, k, len, 0..k);
            }
            for unit in 0..k {
                if r.truncated {
                    subtract_units(res, blk, mka, k, len, unit..unit + 1);
                }
                let row = &mut blk[unit * len..(unit + 1) * len];
                if nb == 1 {
                    // The fused kernel of the common case (bit-identical to the general one).
                    dot_axpy(&mut self.vdelta[unit], row, c * self.act[unit], res);
                } else {
                    for (b, rb) in res.chunks_exact(len).enumerate() {
                        dot_lanes(&mut self.vdelta[unit * nb + b], row, rb);
                    }
                    for (b, rb) in res.chunks_exact(len).enumerate() {
                        axpy(row, c * self.act[b * k + unit], rb);
                    }
                }
                scale(row, decay);
            }
        }
    }
}

/// The loss `|x − x̂|²/(2D)` of a [`Network`] on blocks of inputs, through the vector
/// kernels of the training step: `λ = W X/√D + β` (a K×D by D×B product, one sweep over
/// the column blocks of W), then per block `Δ_b = x_b − Σ_k v^k g(λ_b^k)` and `|Δ_b|²`.
pub struct LossEvaluator<'a> {
    net: &'a Network,
    /// The settled encoder, in blocks.
    w: Vec<f64>,
    /// Scratch: lane sums of `w^k·x_b` (K×B), `−κ g(λ_b^k)` (B×K), one residual block,
    /// lane sums of `|Δ_b|²` (B).
    lam: Vec<Lanes>,
    mka: Vec<f64>,
    res: Vec<f64>,
    acc: Vec<Lanes>,
}

impl LossEvaluator<'_> {
    /// The losses of the inputs `xs` (B rows of the padded length D_p, a multiple of
    /// [`LANES`] ≥ D; the padding must be zero) into `out` (length B).
    pub fn losses(&mut self, xs: &[f64], out: &mut [f64]) {
        vectorised(
            #[inline(always)]
            || self.losses_inner(xs, out),
        )
    }

    /// The padded row length D_p of the inputs of [`LossEvaluator::losses`].
    pub fn stride(&self) -> usize {
        self.net.stride
    }

    #[inline(always)]
    fn losses_inner(&mut self, xs: &[f64], out: &mut [f64]) {
        let net = self.net;
        let (d, dp, k, nb) = (net.dim, net.stride, net.hidden, out.len());
        assert_eq!(xs.len(), nb * dp, "B inputs of the padded length");
        let inv_sqrt_d = 1.0 / (d as f64).sqrt();
        self.lam.clear();
        self.lam.resize(k * nb, [0.0; LANES]);
        for (j0, len) in blocks(dp) {
            let blk = &self.w[k * j0..k * (j0 + len)];
            for (unit, row) in blk.chunks_exact(len).enumerate() {
                for (b, x) in xs.chunks_exact(dp).enumerate() {
                    dot_lanes(&mut self.lam[unit * nb + b], row, &x[j0..j0 + len]);
                }
            }
        }
        let (dec, kappa) = if net.v.is_empty() {
            (&self.w, net.rates.kappa)
        } else {
            (&net.v, 1.0)
        };
        self.mka.clear();
        self.mka.resize(nb * k, 0.0);
        for unit in 0..k {
            for b in 0..nb {
                let lam = lane_sum(&self.lam[unit * nb + b]) * inv_sqrt_d + net.bias(unit);
                self.mka[b * k + unit] = -kappa * net.activation.g(lam);
            }
        }
        self.acc.clear();
        self.acc.resize(nb, [0.0; LANES]);
        for (j0, len) in blocks(dp) {
            let blk = &dec[k * j0..k * (j0 + len)];
            let res = &mut self.res[..len];
            for (b, x) in xs.chunks_exact(dp).enumerate() {
                res.copy_from_slice(&x[j0..j0 + len]);
                multi_axpy(res, &self.mka[b * k..(b + 1) * k], blk, len, 0);
                let r: &[f64] = res;
                dot_lanes(&mut self.acc[b], r, r);
            }
        }
        for (o, a) in out.iter_mut().zip(&self.acc) {
            *o = lane_sum(a) / (2.0 * d as f64);
        }
    }
}

/// `Δ_b −= κ Σ_{a ∈ units} g(λ_b^a) row^a` on one column block of `len` columns: `res` holds
/// the B residual pieces, `blk` the K row pieces, `mka[b·K + a] = −κ g(λ_b^a)`. (A function,
/// not a closure: a closure is not forced inline, and outside [`vectorised`] it would run
/// without the wide registers.)
#[inline(always)]
fn subtract_units(
    res: &mut [f64],
    blk: &[f64],
    mka: &[f64],
    k: usize,
    len: usize,
    units: std::ops::Range<usize>,
) {
    let rows = &blk[units.start * len..];
    for (b, rb) in res.chunks_exact_mut(len).enumerate() {
        multi_axpy(
            rb,
            &mka[b * k + units.start..b * k + units.end],
            rows,
            len,
            0,
        );
    }
}
