//! The network and its training rule, shared by the theory and the simulator
//! (docs/autoencoder.md §1.2, §1.4, §5).

use serde::{Deserialize, Serialize};

use crate::activation::Activation;

/// The training rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Plain online SGD on `|x − x̂|²/(2D)` (docs/autoencoder.md §1.2).
    Sgd,
    /// Truncated SGD: unit k sees only the residual of units a ≤ k (docs/autoencoder.md §5.1).
    Truncated,
    /// Sanger's rule (linear, tied; baseline only; docs/autoencoder.md §5.2).
    Sanger,
}

/// Validated parameters of the autoencoder and its training.
///
/// Symbols: `η` (`lr`) — the encoder learns with rate η/D, the decoder with rate η (docs/autoencoder.md §1.2);
/// `wd` (`weight_decay`) — after each step `w ← (1 − wd/D) w`, `v ← (1 − wd/D) v`;
/// `η_b` (`bias_lr`) — the encoder bias `β_k = b_k/√D` is trained with rate η_b (docs/autoencoder.md §1.4).
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
    /// Tied weights (decoder = √D × encoder, docs/autoencoder.md §5.3).
    pub tied: bool,
}

impl Model {
    /// The factor κ of a decoder tied to the encoder, `v^k = κ w^k`: √D for tied weights
    /// (docs/autoencoder.md §5.3), 1 for Sanger's rule (docs/autoencoder.md §5.2); `None` when the decoder is separate.
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
