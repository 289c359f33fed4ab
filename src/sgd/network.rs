//! The finite-width autoencoder and its training step (spec `autoencoder-ode.md` §1.2, §1.4,
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
//! * `sgd`: `Δ^{(k)} = Δ = x − Σ_a v^a g(λ^a)` (spec §1.2);
//! * `truncated`: `Δ^{(k)} = x − Σ_{a≤k} v^a g(λ^a)` — the rule the ODE describes, with
//!   `g'(λ^k)` outside the sum (spec §5.1), not the reference simulation's variant;
//! * tied weights: `v^k = √D w^k`, one matrix W trained with rate η/D on the sum of both
//!   gradients, i.e. `w^k` gets the encoder increment plus the decoder increment / √D (§5.3);
//! * `sanger`: `y^k = λ^k` (linear), decoder `v^k = w^k`,
//!   `w^k ← s [w^k + (η/D²) y^k (x − Σ_{a≤k} y^a w^a)]` (spec §5.2), no encoder term.

use nalgebra::{DMatrix, DVector};

use super::data::DataSource;
use super::linalg::{axpy, dot, dot_then_scaled_axpy, scaled_axpy};
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::model::{Model, Rule};
use crate::rng::Rng;

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

/// A K-unit autoencoder with its training rule, weights stored row-major (row k of length D
/// is unit k) in contiguous memory.
#[derive(Debug, Clone)]
pub struct Network {
    dim: usize,
    hidden: usize,
    batch: usize,
    activation: Activation,
    rates: Rates,
    /// W, K×D row-major.
    w: Vec<f64>,
    /// V, K×D row-major; empty when the decoder is `κ W` (tied, Sanger).
    v: Vec<f64>,
    /// β (length K) when an encoder bias is trained.
    beta: Option<Vec<f64>>,
    // Scratch space of one step.
    xs: Vec<f64>,
    res: Vec<f64>,
    act: Vec<f64>,
    dact: Vec<f64>,
    dots: Vec<f64>,
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
        model.validate()?;
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
            return Err(Error::config("training.batch", "must be ≥ 1"));
        }
        let beta = match (model.bias_lr, beta0) {
            (Some(_), Some(b)) if b.len() == k => Some(b.iter().copied().collect()),
            (None, None) => None,
            _ => {
                return Err(Error::config(
                    "init.bias",
                    format!("K = {k} initial biases are needed iff training.bias_lr is set"),
                ))
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
        let rows = |m: &DMatrix<f64>| -> Vec<f64> { m.transpose().as_slice().to_vec() };
        Ok(Network {
            dim: d,
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
            xs: vec![0.0; batch * d],
            res: vec![0.0; batch * d],
            act: vec![0.0; batch * k],
            dact: vec![0.0; batch * k],
            dots: vec![0.0; batch],
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

    /// The encoder W (K×D).
    pub fn encoder(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.hidden, self.dim, &self.w)
    }

    /// The decoder V (K×D): the stored one, or `κ W` when tied (κ = √D; Sanger: κ = 1).
    pub fn decoder(&self) -> DMatrix<f64> {
        if self.v.is_empty() {
            self.encoder() * self.rates.kappa
        } else {
            DMatrix::from_row_slice(self.hidden, self.dim, &self.v)
        }
    }

    /// The biases β (when trained).
    pub fn beta(&self) -> Option<DVector<f64>> {
        self.beta.as_ref().map(|b| DVector::from_column_slice(b))
    }

    /// True if every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.w
            .iter()
            .chain(&self.v)
            .chain(self.beta.iter().flatten())
            .all(|x| x.is_finite())
    }

    /// Row k of the decoder storage (V, or W when tied).
    fn decoder_row(&self, k: usize) -> &[f64] {
        let m = if self.v.is_empty() { &self.w } else { &self.v };
        &m[k * self.dim..(k + 1) * self.dim]
    }

    /// `λ^k = w^k·x/√D + β_k`, then `act[k] = g(λ^k)`, `dact[k] = g'(λ^k)`.
    fn activations(&self, x: &[f64], act: &mut [f64], dact: &mut [f64]) {
        let inv_sqrt_d = 1.0 / (self.dim as f64).sqrt();
        for (k, w) in self.w.chunks_exact(self.dim).enumerate() {
            let lam = dot(w, x) * inv_sqrt_d + self.beta.as_ref().map_or(0.0, |b| b[k]);
            act[k] = self.activation.g(lam);
            dact[k] = self.activation.dg(lam);
        }
    }

    /// The loss `|x − x̂|²/(2D)` of the full network on one input.
    pub fn loss(&self, x: &[f64]) -> f64 {
        let k = self.hidden;
        let (mut act, mut dact) = (vec![0.0; k], vec![0.0; k]);
        self.activations(x, &mut act, &mut dact);
        let mut delta = x.to_vec();
        for (a, &ga) in act.iter().enumerate() {
            axpy(&mut delta, -self.rates.kappa * ga, self.decoder_row(a));
        }
        dot(&delta, &delta) / (2.0 * self.dim as f64)
    }

    /// One training step on B fresh inputs drawn from `source`.
    pub fn train_step(&mut self, source: &DataSource, rng: &mut Rng) {
        let mut xs = std::mem::take(&mut self.xs);
        for x in xs.chunks_exact_mut(self.dim) {
            source.sample(rng, x);
        }
        self.xs = xs;
        self.update();
    }

    /// One training step on the given minibatch (`B·D` numbers, input b in `b·D..(b+1)·D`).
    pub fn step_on(&mut self, inputs: &[f64]) -> Result<()> {
        if inputs.len() != self.xs.len() {
            return Err(Error::InvalidState(format!(
                "a minibatch has B·D = {} numbers, got {}",
                self.xs.len(),
                inputs.len()
            )));
        }
        self.xs.copy_from_slice(inputs);
        self.update();
        Ok(())
    }

    /// The step on the minibatch in `self.xs` (see the module docs).
    fn update(&mut self) {
        let (d, k, nb) = (self.dim, self.hidden, self.batch);
        let r = self.rates;
        let xs = std::mem::take(&mut self.xs);
        let mut res = std::mem::take(&mut self.res);
        let (mut act, mut dact) = (
            std::mem::take(&mut self.act),
            std::mem::take(&mut self.dact),
        );
        for (b, x) in xs.chunks_exact(d).enumerate() {
            self.activations(
                x,
                &mut act[b * k..(b + 1) * k],
                &mut dact[b * k..(b + 1) * k],
            );
        }
        res.copy_from_slice(&xs);
        if !r.truncated {
            // Δ_b = x_b − Σ_a v^a g(λ_b^a), at the pre-step decoder.
            for (b, rb) in res.chunks_exact_mut(d).enumerate() {
                for a in 0..k {
                    axpy(rb, -r.kappa * act[b * k + a], self.decoder_row(a));
                }
            }
        }
        // Decay is applied once per matrix: in the encoder pass when the decoder is W.
        let has_encoder_pass = r.encoder != 0.0;
        let decoder_decay = if self.v.is_empty() && has_encoder_pass {
            1.0
        } else {
            r.decay
        };
        let inv_b = 1.0 / nb as f64;
        for unit in 0..k {
            let row = if self.v.is_empty() {
                &mut self.w[unit * d..(unit + 1) * d]
            } else {
                &mut self.v[unit * d..(unit + 1) * d]
            };
            if r.truncated {
                // Δ_b^{(k)} = Δ_b^{(k−1)} − v^k g(λ_b^k), at the pre-step decoder row.
                for (b, rb) in res.chunks_exact_mut(d).enumerate() {
                    axpy(rb, -r.kappa * act[b * k + unit], row);
                }
            }
            // v^k·Δ_b^{(k)} at the pre-step row, and v^k += (rate/B) Σ_b g Δ_b^{(k)}
            // (row units: v = κ row).
            let c = r.decoder * inv_b / r.kappa;
            if nb == 1 {
                self.dots[0] =
                    r.kappa * dot_then_scaled_axpy(row, decoder_decay, c * act[unit], &res);
            } else {
                for (b, rb) in res.chunks_exact(d).enumerate() {
                    self.dots[b] = r.kappa * dot(row, rb);
                }
                for (b, rb) in res.chunks_exact(d).enumerate() {
                    axpy(row, c * act[b * k + unit], rb);
                }
                if decoder_decay != 1.0 {
                    row.iter_mut().for_each(|v| *v *= decoder_decay);
                }
            }
            // Encoder: w^k += (η/D^{5/2}) (1/B) Σ_b (v^k·Δ_b^{(k)}) g'(λ_b^k) x_b; bias likewise.
            let mut bias_step = 0.0;
            if has_encoder_pass {
                let wrow = &mut self.w[unit * d..(unit + 1) * d];
                for (b, x) in xs.chunks_exact(d).enumerate() {
                    let a = self.dots[b] * dact[b * k + unit];
                    bias_step += a;
                    let s = if b + 1 == nb { r.decay } else { 1.0 };
                    scaled_axpy(wrow, s, r.encoder * inv_b * a, x);
                }
            }
            if let Some(beta) = self.beta.as_mut() {
                beta[unit] += r.bias * inv_b * bias_step;
            }
        }
        self.xs = xs;
        self.res = res;
        self.act = act;
        self.dact = dact;
    }
}
