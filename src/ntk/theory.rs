//! Predictions (Nguyen, Wong & Hegde 2021, arXiv:1911.11983, and the standard linearised
//! analysis of the neural tangent kernel).
//!
//! * Linearised GD: vec R(t) = (I − η_e H)^t vec R(0), with η_e = s·η the effective step
//!   (s = 1 for the sum loss, 1/n for the mean loss). In the eigenbasis (λ_l, e_l) of H,
//!   `L_pred(t) = s · ½ Σ_l (1 − η_e λ_l)^{2t} (e_lᵀ vec R(0))²`. For weak/joint training
//!   H = H^∞ = κ² K ⊗ I_d, so each eigenpair (μ_l, e_l) of the n × n kernel K gives d modes
//!   of eigenvalue κ²μ_l and total weight ‖e_lᵀ R(0)‖². R(0) is the residual of the actual
//!   finite-width initialisation, so the prediction has no free parameter.
//! * Asymptotic rate: log L decreases by 2 ln|1 − η_e λ_min| per step.
//! * Memorisation: with u₀ ≡ 0 the infinitely wide trained network is the kernel predictor
//!   u_∞(x) = Σ_ij K(x, x_i) [K(X, X)⁻¹]_ij x_j.
//! * Tied degeneracy: E_w[w σ(wᵀx)] = x/2 (Stein's lemma), so
//!   u₀(x) = (κ√m/2) x + F(x) with E‖F(x)‖² = κ² (2d + 3)/4 ‖x‖²: the relative deviation
//!   of u₀ from (κ√m/2)x is ≈ √((2d + 3)/m) and L(0) ≈ n (κ√m/2 − 1)²/2 on unit data.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::linalg::ls_slope;

/// The modes of linearised GD: eigenvalues λ_l of H and the squared projections
/// w_l = (e_lᵀ vec R(0))² (summed over degenerate copies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Modes {
    /// λ_l (eigenvalues of H, including κ²).
    pub lambda: Vec<f64>,
    /// Weight of each mode in ‖R(0)‖²_F.
    pub weight: Vec<f64>,
    /// Effective step η_e = s·η.
    pub eta: f64,
    /// The loss factor s.
    pub scale: f64,
}

impl Modes {
    /// Modes of H = κ² K ⊗ I_d from the eigenpairs of the n × n kernel K and R(0) (n × d).
    pub fn from_kernel(
        k_vals: &[f64],
        k_vecs: &DMatrix<f64>,
        kappa: f64,
        r0: &DMatrix<f64>,
        eta: f64,
        scale: f64,
    ) -> Self {
        let proj = k_vecs.transpose() * r0; // row l = e_lᵀ R(0)
        Modes {
            lambda: k_vals.iter().map(|v| kappa * kappa * v).collect(),
            weight: (0..k_vals.len())
                .map(|l| proj.row(l).norm_squared())
                .collect(),
            eta,
            scale,
        }
    }

    /// Modes of a full nd × nd Gram from its eigenpairs and R(0) (n × d, vec index i·d + p).
    pub fn from_gram(
        h_vals: &[f64],
        h_vecs: &DMatrix<f64>,
        r0: &DMatrix<f64>,
        eta: f64,
        scale: f64,
    ) -> Self {
        let (n, d) = r0.shape();
        let rv = DVector::from_fn(n * d, |k, _| r0[(k / d, k % d)]);
        let proj = h_vecs.transpose() * rv;
        Modes {
            lambda: h_vals.to_vec(),
            weight: proj.iter().map(|p| p * p).collect(),
            eta,
            scale,
        }
    }

    /// L_pred(t) = s ½ Σ_l w_l (1 − η_e λ_l)^{2t}.
    pub fn loss(&self, t: f64) -> f64 {
        self.scale
            * 0.5
            * self
                .lambda
                .iter()
                .zip(&self.weight)
                .map(|(l, w)| w * (1.0 - self.eta * l).abs().powf(2.0 * t))
                .sum::<f64>()
    }

    /// Least-squares slope of ln L_pred over the integer steps a..=b.
    pub fn slope(&self, a: u64, b: u64) -> f64 {
        let t: Vec<f64> = (a..=b).map(|s| s as f64).collect();
        let y: Vec<f64> = t.iter().map(|&s| self.loss(s).ln()).collect();
        ls_slope(&t, &y)
    }

    /// Steps where lo·L(0) < L_pred(t) < hi·L(0), searched up to `max_steps`.
    pub fn window(&self, lo: f64, hi: f64, max_steps: u64) -> Option<(u64, u64)> {
        let l0 = self.loss(0.0);
        let a = (0..=max_steps).find(|&t| self.loss(t as f64) < hi * l0)?;
        let mut b = a;
        while b < max_steps && self.loss((b + 1) as f64) > lo * l0 {
            b += 1;
        }
        (self.loss(a as f64) > lo * l0 && b > a).then_some((a, b))
    }
}

/// The asymptotic slope of log L per step: 2 ln|1 − η_e λ_min|.
pub fn rate(eta: f64, lambda_min: f64) -> f64 {
    2.0 * (1.0 - eta * lambda_min).abs().ln()
}

/// The measurement window of a loss history (one value per step): from the first step with
/// L < hi·L(0) up to the last consecutive step with L > lo·L(0). `None` if it has < 3 steps.
pub fn loss_window(losses: &[f64], lo: f64, hi: f64) -> Option<(usize, usize)> {
    let l0 = *losses.first()?;
    let a = losses.iter().position(|&l| l < hi * l0)?;
    if losses[a] <= lo * l0 {
        return None;
    }
    let mut b = a;
    while b + 1 < losses.len() && losses[b + 1] > lo * l0 {
        b += 1;
    }
    (b >= a + 2).then_some((a, b))
}

/// Least-squares slope of ln L over the steps a..=b of a loss history.
pub fn loss_slope(losses: &[f64], a: usize, b: usize) -> f64 {
    let t: Vec<f64> = (a..=b).map(|s| s as f64).collect();
    let y: Vec<f64> = losses[a..=b].iter().map(|l| l.ln()).collect();
    ls_slope(&t, &y)
}

/// The kernel predictor u_∞(x_t) = Σ_ij K(x_t, x_i) [K⁻¹]_ij x_j for test rows:
/// `k_train` is K(X, X) (n × n), `k_cross` is K(X_test, X) (k × n), `x` the data (n × d).
pub fn kernel_predictor(
    k_train: &DMatrix<f64>,
    k_cross: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> Option<DMatrix<f64>> {
    let chol = k_train.clone().cholesky()?;
    let alpha = chol.solve(x); // K⁻¹ X
    Some(k_cross * alpha)
}

/// √((2d + 3)/m): the predicted relative deviation of the tied u₀ from (κ√m/2)x.
pub fn tied_reldev(d: usize, m: usize) -> f64 {
    ((2 * d + 3) as f64 / m as f64).sqrt()
}

/// n (κ√m/2 − 1)²/2: the leading-order tied L(0) on n unit points.
pub fn tied_l0_leading(n: usize, m: usize, kappa: f64) -> f64 {
    let c = kappa * (m as f64).sqrt() / 2.0;
    n as f64 * (c - 1.0) * (c - 1.0) / 2.0
}

/// E L(0) = ½ Σ_i ‖x_i‖² [(κ√m/2 − 1)² + κ²(2d + 3)/4] for the tied network (exact mean over
/// the initialisation; the leading form drops the second term).
pub fn tied_l0_mean(x: &DMatrix<f64>, m: usize, kappa: f64) -> f64 {
    let d = x.ncols();
    let c = kappa * (m as f64).sqrt() / 2.0;
    0.5 * x.norm_squared() * ((c - 1.0) * (c - 1.0) + kappa * kappa * (2 * d + 3) as f64 / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_reproduce_powers_of_the_gd_matrix() {
        // A 2 × 2 kernel, d = 1: R(t) = (I − ηK)^t R(0) computed directly.
        let k = DMatrix::from_row_slice(2, 2, &[0.5, 0.2, 0.2, 0.5]);
        let (vals, vecs) = crate::ntk::linalg::sym_eigen(k.clone());
        let r0 = DMatrix::from_row_slice(2, 1, &[0.3, -1.1]);
        let modes = Modes::from_kernel(&vals, &vecs, 1.0, &r0, 0.9, 1.0);
        let mut r = r0.clone();
        let step = DMatrix::identity(2, 2) - &k * 0.9;
        for t in 0..20 {
            let direct = 0.5 * r.norm_squared();
            assert!(
                (modes.loss(t as f64) / direct - 1.0).abs() < 1e-12,
                "t = {t}"
            );
            r = &step * r;
        }
        assert!((rate(0.9, 0.3) - 2.0 * (0.73f64).ln()).abs() < 1e-15);
    }

    #[test]
    fn windows_and_slopes_of_a_geometric_loss() {
        let losses: Vec<f64> = (0..200).map(|t| 5.0 * (-0.2 * t as f64).exp()).collect();
        let (a, b) = loss_window(&losses, 1e-7, 1e-2).unwrap();
        assert_eq!((a, b), (24, 80)); // e^{-0.2·24} < 1e-2 < e^{-0.2·23}; e^{-16.2} > 1e-7 > e^{-16.4}
        assert!((loss_slope(&losses, a, b) + 0.2).abs() < 1e-12);
        assert!(loss_window(&losses[..10], 1e-7, 1e-2).is_none());
    }

    #[test]
    fn kernel_predictor_interpolates_the_training_set() {
        let x = crate::ntk::data::sphere(5, 3, &mut crate::rng::rng_for(2, 2));
        let (ke, kd) = crate::ntk::gram::kernels(&x, &x);
        let k = ke + kd;
        let u = kernel_predictor(&k, &k, &x).unwrap();
        assert!((u - &x).abs().max() < 1e-12);
    }
}
