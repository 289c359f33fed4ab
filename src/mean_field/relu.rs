//! The exact ReLU reduction (docs/mean-field.md §3), β = αγ.
//!
//! For sign-symmetric ρ and data the network is linear, `f_ρ(x) = (β/2) M x` with
//! `M = ∫θθᵀdρ`, every neuron moves with `v(θ) = Aθ`,
//! `A = (β/2)[(I − (β/2)M)Σ + Σ(I − (β/2)M)] − λI`, and `Ṁ = AM + MA` (Riccati). If M(0)
//! commutes with Σ, the gains `g_j = (β/2)M_jj` are logistic (§3.2):
//!
//! ```text
//! ġ_j = 2 g_j [βκ_j(1 − g_j) − λ],   g_j(t) = g_j(0)(1 + r_j E_j) / (1 + 2βκ_j g_j(0) E_j)
//! r_j = 2(βκ_j − λ),  E_j = (e^{r_j t} − 1)/r_j  (= t at r_j = 0)
//! ```
//!
//! which is the closed form of docs/mean-field.md §3.2 rewritten without cancellation (valid at βκ_j = λ and
//! κ_j = 0), with the long-time gain `(1 − λ/(βκ_j))₊` and
//! `MSE = ½ Σ_j κ_j (1 − g_j)²`, `penalty = (λ/β) Σ_j g_j`.

use nalgebra::DMatrix;

use super::{MeanFieldModel, MfData, MfSnapshot, MfTrajectory};

/// Above this exponent `r t` the logistic gain equals its limit g* to double precision.
const MAX_EXPONENT: f64 = 700.0;

/// The logistic gain `g_j(t)` for `βκ_j` (= `beta_kappa`), λ and `g_j(0) = g0` (§3.2).
pub fn logistic_gain(beta_kappa: f64, lambda: f64, g0: f64, t: f64) -> f64 {
    let r = 2.0 * (beta_kappa - lambda);
    if r * t > MAX_EXPONENT {
        return final_gain(beta_kappa, lambda);
    }
    let e = if r == 0.0 { t } else { (r * t).exp_m1() / r };
    g0 * (1.0 + r * e) / (1.0 + 2.0 * beta_kappa * g0 * e)
}

/// The long-time gain `(1 − λ/(βκ))₊` (nonlinear shrinkage, §3.2).
pub fn final_gain(beta_kappa: f64, lambda: f64) -> f64 {
    if beta_kappa > lambda {
        1.0 - lambda / beta_kappa
    } else {
        0.0
    }
}

/// The exact half-gain time `t_j = ln(g*_j/g_j(0) − 1)/r_j` at which `g_j = g*_j/2`
/// (§3.3); `None` unless `βκ > λ` and `g0 < g*/2`.
pub fn half_gain_time(beta_kappa: f64, lambda: f64, g0: f64) -> Option<f64> {
    let gs = final_gain(beta_kappa, lambda);
    (beta_kappa > lambda && g0 < 0.5 * gs)
        .then(|| (gs / g0 - 1.0).ln() / (2.0 * (beta_kappa - lambda)))
}

/// The mean-field-limit observables of ReLU with `M(0) = (2g0/β) I` (isotropic
/// initialisation, `g0 = βs₀²/2`) at `times`.
pub fn logistic_trajectory(
    model: &MeanFieldModel,
    data: &MfData,
    g0: f64,
    times: &[f64],
) -> MfTrajectory {
    let beta = model.beta();
    MfTrajectory {
        snapshots: times
            .iter()
            .map(|&t| {
                let g: Vec<f64> = data
                    .kappa()
                    .iter()
                    .map(|&k| logistic_gain(beta * k, model.lambda, g0, t))
                    .collect();
                let mse = 0.5
                    * data
                        .kappa()
                        .iter()
                        .zip(&g)
                        .map(|(k, gj)| k * (1.0 - gj) * (1.0 - gj))
                        .sum::<f64>();
                MfSnapshot {
                    time: t,
                    test_error: mse,
                    gains: data.block_means(&g),
                }
            })
            .collect(),
    }
}

/// The Riccati right-hand side `AM + MA` (§3.1), Σ = diag κ.
pub fn riccati_rhs(model: &MeanFieldModel, kappa: &[f64], m: &DMatrix<f64>) -> DMatrix<f64> {
    let d = kappa.len();
    let hb = 0.5 * model.beta();
    // I − (β/2)M, then A = (β/2)[(I − hbM)Σ + Σ(I − hbM)] − λI
    let a = DMatrix::from_fn(d, d, |i, j| {
        let e = f64::from(u8::from(i == j)) - hb * m[(i, j)];
        hb * e * (kappa[j] + kappa[i]) - if i == j { model.lambda } else { 0.0 }
    });
    &a * m + m * &a
}

/// Integrate the Riccati ODE from `m0` (e.g. `M_N(0) = (1/N)Σθθᵀ` of a network's initial
/// neurons) with RK4 steps of at most `dt`; observables `G = (β/2)M`, gains `G_jj`,
/// `MSE = ½ tr((I − G)Σ(I − G))` at `times` (§3.1, §4).
pub fn riccati_trajectory(
    model: &MeanFieldModel,
    data: &MfData,
    m0: &DMatrix<f64>,
    times: &[f64],
    dt: f64,
) -> MfTrajectory {
    let kappa = data.kappa();
    let f = |m: &DMatrix<f64>| riccati_rhs(model, kappa, m);
    let hb = 0.5 * model.beta();
    let mut m = m0.clone();
    let mut t_prev = times.first().copied().unwrap_or(0.0);
    let mut out = MfTrajectory::default();
    for &t in times {
        let steps = ((t - t_prev) / dt).ceil().max(0.0) as usize;
        if steps > 0 {
            let h = (t - t_prev) / steps as f64;
            for _ in 0..steps {
                let k1 = f(&m);
                let k2 = f(&(&m + &k1 * (0.5 * h)));
                let k3 = f(&(&m + &k2 * (0.5 * h)));
                let k4 = f(&(&m + &k3 * h));
                m += (k1 + (k2 + k3) * 2.0 + k4) * (h / 6.0);
            }
        }
        t_prev = t;
        let d = kappa.len();
        let mut mse = 0.0;
        for i in 0..d {
            for j in 0..d {
                let e = f64::from(u8::from(i == j)) - hb * m[(i, j)];
                mse += e * e * kappa[j];
            }
        }
        let g: Vec<f64> = (0..d).map(|j| hb * m[(j, j)]).collect();
        out.snapshots.push(MfSnapshot {
            time: t,
            test_error: 0.5 * mse,
            gains: data.block_means(&g),
        });
    }
    out
}

/// The second moment `M = (1/N) Σ_i θ_i θ_iᵀ` of neurons Θ (N×d).
pub fn second_moment(theta: &DMatrix<f64>) -> DMatrix<f64> {
    theta.tr_mul(theta) / theta.nrows() as f64
}
