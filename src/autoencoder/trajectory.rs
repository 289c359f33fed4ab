//! Order parameters and trajectories: the types shared by the theory and the simulator.
//!
//! Order parameters (docs/autoencoder.md §2; `ρ̃_τ = ρ_τ/D`, decoder index first in R):
//!
//! ```text
//! Q^{kl}  = w^k Ω w^l / D        = Σ_G ρ̃_G q_G^{kl}
//! R^{kl}  = v^k Ω w^l / D^{3/2}  = Σ_G ρ̃_G r_G^{kl}
//! T^{kl}  = v^k Ω v^l / D²       = Σ_G ρ̃_G t_G^{kl}
//! T0^{kl} = v^k·v^l / D          = Σ_G t_G^{kl}
//! ```
//!
//! with the group densities `q_G = Σ_{τ∈G} ω_τ ω_τᵀ`, `r_G = Σ ν̃_τ ω_τᵀ`, `t_G = Σ ν̃_τ ν̃_τᵀ`,
//! `ω^k_τ = w^k·u_τ`, `ν̃^k_τ = v^k·u_τ/√D`.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::spectrum::Spectrum;

/// The macroscopic order parameters at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderParams {
    /// `Q^{kl} = w^k Ω w^l / D` (K×K).
    pub q: DMatrix<f64>,
    /// `R^{kl} = v^k Ω w^l / D^{3/2}` (K×K, decoder index first).
    pub r: DMatrix<f64>,
    /// `T^{kl} = v^k Ω v^l / D²` (K×K).
    pub t: DMatrix<f64>,
    /// `T0^{kl} = v^k·v^l / D` (K×K).
    pub t0: DMatrix<f64>,
    /// Encoder biases `β_k = b_k/√D` when they are trained (docs/autoencoder.md §1.4).
    pub beta: Option<DVector<f64>>,
}

/// The densities of one eigenvalue group `G`: `S_G = [[q_G, r_Gᵀ], [r_G, t_G]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDensity {
    /// `q_G^{kl} = Σ_{τ∈G} ω^k_τ ω^l_τ`.
    pub q: DMatrix<f64>,
    /// `r_G^{kl} = Σ_{τ∈G} ν̃^k_τ ω^l_τ`.
    pub r: DMatrix<f64>,
    /// `t_G^{kl} = Σ_{τ∈G} ν̃^k_τ ν̃^l_τ`.
    pub t: DMatrix<f64>,
}

impl GroupDensity {
    /// Split a 2K×2K second moment `S_G = [[q, rᵀ], [r, t]]`.
    pub fn from_moment(s: &DMatrix<f64>) -> Self {
        let k = s.nrows() / 2;
        GroupDensity {
            q: s.view((0, 0), (k, k)).into_owned(),
            r: s.view((k, 0), (k, k)).into_owned(),
            t: s.view((k, k), (k, k)).into_owned(),
        }
    }
}

impl OrderParams {
    /// Aggregate group densities into (Q, R, T, T0) with the spectrum's `ρ̃_G` (docs/autoencoder.md §4).
    pub fn from_groups(
        spectrum: &Spectrum,
        groups: &[GroupDensity],
        beta: Option<DVector<f64>>,
    ) -> Self {
        let k = groups.first().map_or(0, |g| g.q.nrows());
        let mut op = OrderParams {
            q: DMatrix::zeros(k, k),
            r: DMatrix::zeros(k, k),
            t: DMatrix::zeros(k, k),
            t0: DMatrix::zeros(k, k),
            beta,
        };
        for (g, dens) in groups.iter().enumerate() {
            let rt = spectrum.rho_tilde(g);
            op.q += &dens.q * rt;
            op.r += &dens.r * rt;
            op.t += &dens.t * rt;
            op.t0 += &dens.t;
        }
        op
    }

    /// All entries in the column order of [`order_param_columns`]: Q, R, T, T0 row-major,
    /// then β.
    pub fn flatten(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for m in [&self.q, &self.r, &self.t, &self.t0] {
            for a in 0..m.nrows() {
                for b in 0..m.ncols() {
                    out.push(m[(a, b)]);
                }
            }
        }
        if let Some(beta) = &self.beta {
            out.extend(beta.iter());
        }
        out
    }

    /// Number of hidden units K.
    pub fn hidden(&self) -> usize {
        self.q.nrows()
    }

    /// True if every entry is finite.
    pub fn is_finite(&self) -> bool {
        [&self.q, &self.r, &self.t, &self.t0]
            .iter()
            .all(|m| m.iter().all(|v| v.is_finite()))
            && self
                .beta
                .as_ref()
                .is_none_or(|b| b.iter().all(|v| v.is_finite()))
    }
}

/// One recorded time of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Time `t` = steps / D.
    pub time: f64,
    /// Test error `ε_g` from the order parameters (docs/autoencoder.md §3.6).
    pub test_error: f64,
    /// Empirical test error on a held-out test set (simulations only).
    pub test_error_empirical: Option<f64>,
    /// Order parameters.
    pub order_params: OrderParams,
    /// Densities of each eigenvalue group (same order as the spectrum's groups).
    pub groups: Vec<GroupDensity>,
}

/// A trajectory: snapshots at increasing times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The snapshots, in time order.
    pub snapshots: Vec<Snapshot>,
}

impl Trajectory {
    /// Times of the snapshots.
    pub fn times(&self) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.time).collect()
    }

    /// Test errors of the snapshots.
    pub fn test_errors(&self) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.test_error).collect()
    }
}

/// Names of the order-parameter columns, in file order: `Q_k_l` (row-major, 0-based), then
/// `R_k_l`, `T_k_l`, `T0_k_l`, then `beta_k` if biases are trained.
pub fn order_param_columns(k: usize, with_bias: bool) -> Vec<String> {
    let mut cols = Vec::with_capacity(4 * k * k + k);
    for name in ["Q", "R", "T", "T0"] {
        for a in 0..k {
            for b in 0..k {
                cols.push(format!("{name}_{a}_{b}"));
            }
        }
    }
    if with_bias {
        cols.extend((0..k).map(|a| format!("beta_{a}")));
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_row_major_decoder_first() {
        let c = order_param_columns(2, false);
        assert_eq!(&c[..4], &["Q_0_0", "Q_0_1", "Q_1_0", "Q_1_1"]);
        assert_eq!(c[4], "R_0_0");
        assert_eq!(c.last().unwrap(), "T0_1_1");
        assert_eq!(c.len(), 16);
        assert_eq!(order_param_columns(2, true).last().unwrap(), "beta_1");
    }
}
