//! The ODE right-hand side equals the drift of real SGD (spec §3.2): from one fixed state at
//! D = 4000, the mean change of the per-direction overlaps `s_τ = (ω_τ; ν̃_τ)` over many
//! independent single SGD steps, times D, must match `L(ρ̃_τ) s_τ` within Monte Carlo error.
//! The one-step update is written here independently of the crate (spec §1.2, §1.4, §5.1).
//! For ω and ν̃ the update is linear in the step, so the drift is exact at any D (no O(1/D)
//! bias): the comparison is purely statistical.

use aedyn::activation::Activation;
use aedyn::model::{Model, Rule};
use aedyn::spectrum::Spectrum;
use aedyn::theory::{InitialState, Theory};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

const D: usize = 4000;
const K: usize = 2;
/// Independent SGD steps per case.
const STEPS: usize = 60_000;
/// Per-entry bound on |z| for the spike directions (4 entries per spike, ≤ 24 such z per case:
/// P(|z| > 4.5) ≈ 7e-6 each).
const Z_SPIKE: f64 = 4.5;
/// Bound on max |z| over all 2K·D entries (16000 entries, P(|z| > 5.5) ≈ 4e-8 each).
const Z_ALL: f64 = 5.5;
/// The mean of z² over n entries is 1 ± √(2/n) for correct drifts; allow 6 such deviations.
const CHI2_SIGMAS: f64 = 6.0;

struct Case {
    name: &'static str,
    activation: Activation,
    rule: Rule,
    weight_decay: f64,
    bias_lr: Option<f64>,
}

fn spectrum() -> Vec<f64> {
    // Canonical basis: directions 0, 1 are spikes ρ = θ D, the rest bulk b (normalised data).
    let mut rho = vec![1.0 / 35.0; D];
    rho[0] = 25.0 / 35.0 * D as f64;
    rho[1] = 9.0 / 35.0 * D as f64;
    rho
}

/// A fixed, mid-learning state: random bulk weights plus O(1) spike overlaps.
fn state(seed: u64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut n = || -> f64 { StandardNormal.sample(&mut rng) };
    let sd = (D as f64).sqrt();
    let omega = [[0.8, -0.3], [0.2, 0.6]];
    let nu = [[0.5, 0.1], [-0.2, 0.4]];
    let mut w = vec![vec![0.0; D]; K];
    let mut v = vec![vec![0.0; D]; K];
    for k in 0..K {
        for i in 0..D {
            w[k][i] = 0.1 * n();
            v[k][i] = 0.1 * n();
        }
        for m in 0..2 {
            w[k][m] = omega[k][m];
            v[k][m] = nu[k][m] * sd;
        }
    }
    (w, v, vec![0.3, -0.2])
}

/// Mean and standard error of D·Δs_τ (2K × D, column τ = (Δω_τ; Δν̃_τ)) and of D·Δβ.
fn sgd_drift(
    case: &Case,
    rho: &[f64],
    w: &[Vec<f64>],
    v: &[Vec<f64>],
    beta: &[f64],
) -> (DMatrix<f64>, DMatrix<f64>, Vec<(f64, f64)>) {
    let df = D as f64;
    let sd = df.sqrt();
    let eta = 0.4;
    let act = case.activation;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12345);
    let sqrt_rho: Vec<f64> = rho.iter().map(|r| r.sqrt()).collect();
    let mut sum = DMatrix::<f64>::zeros(2 * K, D);
    let mut sum2 = DMatrix::<f64>::zeros(2 * K, D);
    let mut bsum = [(0.0, 0.0); K];
    let mut x = vec![0.0; D];
    let beta_used: Vec<f64> = if case.bias_lr.is_some() {
        beta.to_vec()
    } else {
        vec![0.0; K]
    };
    // v^k·v^a, fixed (the state is not advanced).
    let vv: Vec<Vec<f64>> = (0..K)
        .map(|k| {
            (0..K)
                .map(|a| v[k].iter().zip(&v[a]).map(|(p, q)| p * q).sum())
                .collect()
        })
        .collect();
    for _ in 0..STEPS {
        for i in 0..D {
            let z: f64 = StandardNormal.sample(&mut rng);
            x[i] = sqrt_rho[i] * z;
        }
        let lam: Vec<f64> = (0..K)
            .map(|k| w[k].iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() / sd + beta_used[k])
            .collect();
        let g: Vec<f64> = lam.iter().map(|&l| act.g(l)).collect();
        let dg: Vec<f64> = lam.iter().map(|&l| act.dg(l)).collect();
        let vx: Vec<f64> = (0..K)
            .map(|k| v[k].iter().zip(&x).map(|(a, b)| a * b).sum())
            .collect();
        for k in 0..K {
            // Units a seen by unit k: all (sgd) or a ≤ k (truncated, spec §5.1).
            let seen = if case.rule == Rule::Truncated {
                k + 1
            } else {
                K
            };
            // v^k·Δ^{(k)} = v^k·x − Σ_{a seen} (v^k·v^a) g_a
            let v_delta: f64 = vx[k] - (0..seen).map(|a| vv[k][a] * g[a]).sum::<f64>();
            let cw = df * eta / df.powf(2.5) * v_delta * dg[k]; // D·Δw^k = cw·x
            for i in 0..D {
                let xhat_i: f64 = (0..seen).map(|a| v[a][i] * g[a]).sum();
                let delta_i = x[i] - xhat_i;
                // D·Δω_τ = D·Δw_τ; D·Δν̃_τ = D·Δv_τ/√D, Δv^k = (η/D) g_k Δ^{(k)};
                // weight decay after the step: w ← (1 − wd/D)(w + Δw).
                let dw = (cw * x[i]) * (1.0 - case.weight_decay / df) - case.weight_decay * w[k][i];
                let dv_raw = eta * g[k] * delta_i; // D·Δv
                let dv =
                    (dv_raw * (1.0 - case.weight_decay / df) - case.weight_decay * v[k][i]) / sd;
                sum[(k, i)] += dw;
                sum2[(k, i)] += dw * dw;
                sum[(K + k, i)] += dv;
                sum2[(K + k, i)] += dv * dv;
            }
            if let Some(eta_b) = case.bias_lr {
                // b_k ← b_k + η_b (1/D)(v^k·Δ) g'(λ^k+β_k)/√D, β = b/√D ⇒ D·Δβ_k = η_b (v^k·Δ) g'/D.
                let db = eta_b * v_delta * dg[k] / df;
                bsum[k].0 += db;
                bsum[k].1 += db * db;
            }
        }
    }
    let n = STEPS as f64;
    let mean = &sum / n;
    let se = DMatrix::from_fn(2 * K, D, |a, b| {
        ((sum2[(a, b)] / n - mean[(a, b)].powi(2)) / (n - 1.0))
            .max(0.0)
            .sqrt()
    });
    let bstats = bsum
        .iter()
        .map(|&(s, s2)| {
            let m = s / n;
            (m, ((s2 / n - m * m) / (n - 1.0)).sqrt())
        })
        .collect();
    (mean, se, bstats)
}

fn check(case: Case) {
    let rho = spectrum();
    let (w, v, beta) = state(7);
    let model = Model {
        activation: case.activation,
        hidden: K,
        lr: 0.4,
        weight_decay: case.weight_decay,
        rule: case.rule,
        bias_lr: case.bias_lr,
        tied: false,
    };
    let spectrum = Spectrum::ungrouped(&rho).unwrap();
    let theory = Theory::new(model, spectrum, case.activation.default_quadrature_nodes()).unwrap();
    let sd = (D as f64).sqrt();
    let factors = (0..D)
        .map(|i| {
            DMatrix::from_fn(
                2 * K,
                1,
                |a, _| if a < K { w[a][i] } else { v[a - K][i] / sd },
            )
        })
        .collect();
    let init = InitialState {
        factors,
        beta: case.bias_lr.map(|_| DVector::from_vec(beta.clone())),
    };
    let y = theory.pack(&init).unwrap();
    let mut dy = DVector::zeros(y.len());
    theory.rhs(&y, &mut dy).unwrap();
    let (mean, se, bstats) = sgd_drift(&case, &rho, &w, &v, &beta);
    let mut z2 = 0.0;
    let mut zmax: f64 = 0.0;
    let mut spike_signal: f64 = 0.0;
    for tau in 0..D {
        for a in 0..2 * K {
            let pred = dy[tau * 2 * K + a];
            let z = (mean[(a, tau)] - pred) / se[(a, tau)];
            z2 += z * z;
            zmax = zmax.max(z.abs());
            if tau < 2 {
                assert!(
                    z.abs() < Z_SPIKE,
                    "{}: spike {tau}, component {a}: SGD {} ± {}, ODE {pred} (z = {z:.2})",
                    case.name,
                    mean[(a, tau)],
                    se[(a, tau)]
                );
                spike_signal = spike_signal.max(pred.abs() / se[(a, tau)]);
            }
        }
    }
    let n = (2 * K * D) as f64;
    let chi = z2 / n;
    assert!(
        (chi - 1.0).abs() < CHI2_SIGMAS * (2.0 / n).sqrt(),
        "{}: mean z² = {chi:.4} over {n} entries",
        case.name
    );
    assert!(zmax < Z_ALL, "{}: max |z| = {zmax:.2}", case.name);
    // The check has power: the spike drifts are resolved at many standard errors.
    assert!(
        spike_signal > 30.0,
        "{}: spike drift only {spike_signal:.1} s.e.",
        case.name
    );
    if case.bias_lr.is_some() {
        let off = dy.len() - K;
        for (k, &(m, s)) in bstats.iter().enumerate() {
            let z = (m - dy[off + k]) / s;
            assert!(
                z.abs() < Z_SPIKE,
                "{}: β_{k}: SGD {m} ± {s}, ODE {} (z = {z:.2})",
                case.name,
                dy[off + k]
            );
        }
    }
    eprintln!("{}: mean z² = {chi:.4}, max |z| = {zmax:.2}, spike drift resolved at {spike_signal:.0} s.e.", case.name);
}

#[test]
fn drift_erf_sgd() {
    check(Case {
        name: "erf sgd",
        activation: Activation::Erf,
        rule: Rule::Sgd,
        weight_decay: 0.0,
        bias_lr: None,
    });
}

#[test]
fn drift_erf_truncated() {
    check(Case {
        name: "erf truncated",
        activation: Activation::Erf,
        rule: Rule::Truncated,
        weight_decay: 0.0,
        bias_lr: None,
    });
}

#[test]
fn drift_linear_weight_decay() {
    check(Case {
        name: "linear wd",
        activation: Activation::Linear,
        rule: Rule::Sgd,
        weight_decay: 0.3,
        bias_lr: None,
    });
}

#[test]
fn drift_relu_with_bias() {
    check(Case {
        name: "relu bias",
        activation: Activation::Relu,
        rule: Rule::Sgd,
        weight_decay: 0.0,
        bias_lr: Some(0.4),
    });
}

#[test]
fn drift_relu_no_bias() {
    check(Case {
        name: "relu",
        activation: Activation::Relu,
        rule: Rule::Sgd,
        weight_decay: 0.0,
        bias_lr: None,
    });
}

#[test]
fn drift_tanh() {
    check(Case {
        name: "tanh",
        activation: Activation::Tanh,
        rule: Rule::Sgd,
        weight_decay: 0.0,
        bias_lr: None,
    });
}
