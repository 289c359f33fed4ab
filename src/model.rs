//! The network and its training rule, shared by the theory and the simulator
//! (spec `autoencoder-ode.md` §1.2, §1.4, §5).

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{Error, Result};

/// The training rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Plain online SGD on `|x − x̂|²/(2D)` (spec §1.2).
    Sgd,
    /// Truncated SGD: unit k sees only the residual of units a ≤ k (spec §5.1).
    Truncated,
    /// Sanger's rule (linear, tied; baseline only; spec §5.2).
    Sanger,
}

/// Validated parameters of the autoencoder and its training.
///
/// Symbols: `η` (`lr`) — the encoder learns with rate η/D, the decoder with rate η (spec §1.2);
/// `wd` (`weight_decay`) — after each step `w ← (1 − wd/D) w`, `v ← (1 − wd/D) v`;
/// `η_b` (`bias_lr`) — the encoder bias `β_k = b_k/√D` is trained with rate η_b (spec §1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Activation g.
    pub activation: Activation,
    /// Number of hidden units K.
    pub hidden: usize,
    /// η.
    pub lr: f64,
    /// wd.
    pub weight_decay: f64,
    /// Training rule.
    pub rule: Rule,
    /// η_b, when an encoder bias is trained.
    pub bias_lr: Option<f64>,
    /// Tied weights (decoder = √D × encoder, spec §5.3).
    pub tied: bool,
}

impl Model {
    /// The factor κ of a decoder tied to the encoder, `v^k = κ w^k`: √D for tied weights
    /// (spec §5.3), 1 for Sanger's rule (spec §5.2); `None` when the decoder is separate.
    pub fn decoder_tie(&self, dim: usize) -> Option<f64> {
        if self.rule == Rule::Sanger {
            Some(1.0)
        } else if self.tied {
            Some((dim as f64).sqrt())
        } else {
            None
        }
    }
}

impl Model {
    /// Check ranges and supported combinations; fields are named as in the config file.
    pub fn validate(&self) -> Result<()> {
        if self.hidden == 0 {
            return Err(Error::config("network.hidden", "must be ≥ 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config(
                "training.lr",
                format!("must be a finite number > 0, got {}", self.lr),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "training.weight_decay",
                format!("must be a finite number ≥ 0, got {}", self.weight_decay),
            ));
        }
        if let Some(b) = self.bias_lr {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::config(
                    "training.bias_lr",
                    format!("must be a finite number > 0 (omit it to train no bias), got {b}"),
                ));
            }
            if self.rule != Rule::Sgd {
                return Err(Error::config(
                    "training.bias_lr",
                    "a trained bias is only supported with training.rule = \"sgd\"",
                ));
            }
        }
        if self.rule == Rule::Sanger && self.tied {
            return Err(Error::config(
                "network.tied",
                "Sanger's rule already uses the encoder as decoder (v = w); set network.tied = false",
            ));
        }
        if self.rule == Rule::Sanger && self.activation != Activation::Linear {
            return Err(Error::config(
                "training.rule",
                format!(
                    "Sanger's rule is defined for linear units only; network.activation is \"{}\"",
                    self.activation
                ),
            ));
        }
        Ok(())
    }
}
