//! The simulator's training step against independent truths: finite differences of the loss
//! (every rule with a loss, every activation, with bias) and the update formulas of docs/autoencoder.md
//! (`autoencoder-ode.md` §1.2, §1.4, §5.1–§5.3) evaluated directly on a small example.

use aedyn::activation::Activation;
use aedyn::autoencoder::model::{Model, Rule};
use aedyn::autoencoder::sgd::{Frame, Network};
use aedyn::rng::{rng_for, Rng};
use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};

const D: usize = 7;
const K: usize = 3;
/// Central differences with step H: truncation error O(H²·g''') ≈ 1e-10 and roundoff
/// O(ε_mach/H) ≈ 1e-11 relative to O(1) gradients; 1e-6 leaves a wide margin yet catches any
/// wrong factor or sign.
const H: f64 = 1e-5;
const FD_TOL: f64 = 1e-6;
/// The step and the directly evaluated formula differ only by summation order: a few ulps.
const FORMULA_TOL: f64 = 1e-12;

fn model(activation: Activation, rule: Rule) -> Model {
    Model {
        activation,
        hidden: K,
        lr: 0.3,
        weight_decay: 0.0,
        rule,
        bias_lr: None,
        tied: false,
    }
}

fn gaussian(rng: &mut Rng, r: usize, c: usize, std: f64) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |_, _| {
        let z: f64 = StandardNormal.sample(rng);
        std * z
    })
}

struct Case {
    w: DMatrix<f64>,
    v: DMatrix<f64>,
    beta: DVector<f64>,
    x: DMatrix<f64>, // B × D
}

fn case(seed: u64, batch: usize) -> Case {
    let mut rng = rng_for(seed, 0);
    Case {
        w: gaussian(&mut rng, K, D, 1.0),
        v: gaussian(&mut rng, K, D, 1.0),
        beta: gaussian(&mut rng, K, 1, 0.5).column(0).into_owned(),
        x: gaussian(&mut rng, batch, D, 1.0),
    }
}

/// The network output of the first `units` units: `Σ_{a<units} v^a g(w^a·x/√D + β_a)`.
fn output(
    g: Activation,
    w: &DMatrix<f64>,
    v: &DMatrix<f64>,
    beta: &DVector<f64>,
    x: &DVector<f64>,
    units: usize,
) -> DVector<f64> {
    let mut out = DVector::zeros(D);
    for a in 0..units {
        let lam = w.row(a).dot(&x.transpose()) / (D as f64).sqrt() + beta[a];
        out += v.row(a).transpose() * g.g(lam);
    }
    out
}

/// `|x − Σ_{a<units} v^a g(λ^a)|²/(2D)`.
fn loss(
    g: Activation,
    w: &DMatrix<f64>,
    v: &DMatrix<f64>,
    beta: &DVector<f64>,
    x: &DVector<f64>,
    units: usize,
) -> f64 {
    (x - output(g, w, v, beta, x, units)).norm_squared() / (2.0 * D as f64)
}

/// Central finite difference of `f` at `p` in every entry.
fn fd_grad<T: Clone>(
    p: &T,
    n: usize,
    get: impl Fn(&T, usize) -> f64,
    set: impl Fn(&mut T, usize, f64),
    f: impl Fn(&T) -> f64,
) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let (mut a, mut b) = (p.clone(), p.clone());
            set(&mut a, i, get(p, i) + H);
            set(&mut b, i, get(p, i) - H);
            (f(&a) - f(&b)) / (2.0 * H)
        })
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}[{i}]: step gives {a}, truth {b} (tol {tol} × {scale})"
        );
    }
}

fn one_step(m: &Model, c: &Case, with_bias: bool) -> Network {
    let beta = with_bias.then_some(&c.beta);
    let mut net = Network::new(m, &c.w, &c.v, beta, c.x.nrows()).unwrap();
    let inputs: Vec<f64> = c.x.transpose().as_slice().to_vec(); // row-major
    net.step_on(&inputs).unwrap();
    net
}

/// `(W_new − W)/(−rate)` as a vector, unit `k` only (row-major).
fn implied_gradient(new: &DMatrix<f64>, old: &DMatrix<f64>, k: usize, rate: f64) -> Vec<f64> {
    (0..D)
        .map(|i| -(new[(k, i)] - old[(k, i)]) / rate)
        .collect()
}

#[test]
fn sgd_step_is_minus_rate_times_the_loss_gradient_for_every_activation() {
    for g in Activation::ALL {
        for with_bias in [false, true] {
            let mut m = model(g, Rule::Sgd);
            if with_bias {
                m.bias_lr = Some(0.7);
            }
            let c = case(1, 1);
            let x = c.x.row(0).transpose();
            let net = one_step(&m, &c, with_bias);
            let beta0 = if with_bias {
                c.beta.clone()
            } else {
                DVector::zeros(K)
            };
            let d = D as f64;
            let what = format!("{g}, bias {with_bias}");
            for k in 0..K {
                let gw = fd_grad(
                    &c.w,
                    D,
                    |w, i| w[(k, i)],
                    |w, i, val| w[(k, i)] = val,
                    |w| loss(g, w, &c.v, &beta0, &x, K),
                );
                let gv = fd_grad(
                    &c.v,
                    D,
                    |v, i| v[(k, i)],
                    |v, i, val| v[(k, i)] = val,
                    |v| loss(g, &c.w, v, &beta0, &x, K),
                );
                // Encoder rate η/D, decoder rate η (docs/autoencoder.md §1.2).
                let (wn, vn) = (net.encoder(), net.decoder());
                assert_close(
                    &format!("{what}: ∇w^{k}"),
                    &implied_gradient(&wn, &c.w, k, m.lr / d),
                    &gw,
                    FD_TOL,
                );
                assert_close(
                    &format!("{what}: ∇v^{k}"),
                    &implied_gradient(&vn, &c.v, k, m.lr),
                    &gv,
                    FD_TOL,
                );
            }
            if with_bias {
                // β moves with rate η_b/D (b = √D β has rate η_b; docs/autoencoder.md §1.4).
                let gb = fd_grad(
                    &beta0,
                    K,
                    |b, i| b[i],
                    |b, i, val| b[i] = val,
                    |b| loss(g, &c.w, &c.v, b, &x, K),
                );
                let bn = net.beta().unwrap();
                let implied: Vec<f64> = (0..K).map(|k| -(bn[k] - beta0[k]) / (0.7 / d)).collect();
                assert_close(&format!("{what}: ∂β"), &implied, &gb, FD_TOL);
            }
        }
    }
}

#[test]
fn truncated_step_follows_the_per_unit_losses() {
    // Unit k descends L_k = |x − Σ_{a≤k} v^a g(λ^a)|²/(2D) in its own weights (docs/autoencoder.md §5.1).
    for g in Activation::ALL {
        let m = model(g, Rule::Truncated);
        let c = case(2, 1);
        let x = c.x.row(0).transpose();
        let net = one_step(&m, &c, false);
        let zero = DVector::zeros(K);
        let (wn, vn) = (net.encoder(), net.decoder());
        for k in 0..K {
            let gw = fd_grad(
                &c.w,
                D,
                |w, i| w[(k, i)],
                |w, i, val| w[(k, i)] = val,
                |w| loss(g, w, &c.v, &zero, &x, k + 1),
            );
            let gv = fd_grad(
                &c.v,
                D,
                |v, i| v[(k, i)],
                |v, i, val| v[(k, i)] = val,
                |v| loss(g, &c.w, v, &zero, &x, k + 1),
            );
            assert_close(
                &format!("{g} truncated ∇w^{k}"),
                &implied_gradient(&wn, &c.w, k, m.lr / D as f64),
                &gw,
                FD_TOL,
            );
            assert_close(
                &format!("{g} truncated ∇v^{k}"),
                &implied_gradient(&vn, &c.v, k, m.lr),
                &gv,
                FD_TOL,
            );
        }
    }
}

#[test]
fn tied_step_descends_the_tied_loss() {
    // v = √D w, one matrix trained with rate η/D (docs/autoencoder.md §5.3).
    for g in Activation::ALL {
        let mut m = model(g, Rule::Sgd);
        m.tied = true;
        let c = case(3, 1);
        let x = c.x.row(0).transpose();
        let net = one_step(&m, &c, false);
        let zero = DVector::zeros(K);
        let sd = (D as f64).sqrt();
        let gw = fd_grad(
            &c.w,
            K * D,
            |w, i| w[(i / D, i % D)],
            |w, i, val| w[(i / D, i % D)] = val,
            |w| loss(g, w, &(w * sd), &zero, &x, K),
        );
        let wn = net.encoder();
        let implied: Vec<f64> = (0..K * D)
            .map(|i| -(wn[(i / D, i % D)] - c.w[(i / D, i % D)]) / (m.lr / D as f64))
            .collect();
        assert_close(&format!("{g} tied ∇w"), &implied, &gw, FD_TOL);
        assert_eq!(net.decoder(), wn * sd);
    }
}

/// The spec's update of one minibatch, written out directly (docs/autoencoder.md §1.2, §1.4, §5.1, §5.3):
/// returns (W', V', β').
fn spec_step(m: &Model, c: &Case, bias: bool) -> (DMatrix<f64>, DMatrix<f64>, DVector<f64>) {
    let d = D as f64;
    let nb = c.x.nrows() as f64;
    let g = m.activation;
    let kappa = if m.tied { d.sqrt() } else { 1.0 };
    let v = if m.tied { &c.w * kappa } else { c.v.clone() };
    let beta = if bias {
        c.beta.clone()
    } else {
        DVector::zeros(K)
    };
    let (mut dw, mut dv, mut db) = (
        DMatrix::<f64>::zeros(K, D),
        DMatrix::<f64>::zeros(K, D),
        DVector::<f64>::zeros(K),
    );
    for b in 0..c.x.nrows() {
        let x = c.x.row(b).transpose();
        for k in 0..K {
            let lam = c.w.row(k).dot(&x.transpose()) / d.sqrt() + beta[k];
            let units = if m.rule == Rule::Truncated { k + 1 } else { K };
            let delta = &x - output(g, &c.w, &v, &beta, &x, units);
            let vd = v.row(k).dot(&delta.transpose());
            let enc = m.lr / d.powf(2.5) * vd * g.dg(lam) * x.transpose();
            let dec = m.lr / d * g.g(lam) * delta.transpose();
            dw.row_mut(k).add_assign(&(enc / nb));
            dv.row_mut(k).add_assign(&(dec / nb));
            db[k] += m.bias_lr.unwrap_or(0.0) / (d * d) * vd * g.dg(lam) / nb;
        }
    }
    let s = 1.0 - m.weight_decay / d;
    if m.tied {
        let w = (&c.w + dw + dv / kappa) * s;
        let v = &w * kappa;
        (w, v, beta + db)
    } else {
        ((&c.w + dw) * s, (v + dv) * s, beta + db)
    }
}

use std::ops::AddAssign;

#[test]
fn one_step_of_each_rule_matches_the_spec_formula() {
    let erf = Activation::Erf;
    let mut cases: Vec<(&str, Model, bool, usize)> = vec![
        ("sgd", model(erf, Rule::Sgd), false, 1),
        ("truncated", model(erf, Rule::Truncated), false, 1),
        ("sgd minibatch B=4", model(erf, Rule::Sgd), false, 4),
        (
            "truncated minibatch B=3",
            model(erf, Rule::Truncated),
            false,
            3,
        ),
    ];
    let mut tied = model(erf, Rule::Sgd);
    tied.tied = true;
    cases.push(("tied", tied.clone(), false, 1));
    tied.weight_decay = 0.9;
    cases.push(("tied + weight decay, B=2", tied, false, 2));
    let mut bias = model(Activation::Relu, Rule::Sgd);
    bias.bias_lr = Some(0.5);
    cases.push(("relu + bias", bias.clone(), true, 1));
    bias.weight_decay = 1.3;
    cases.push(("relu + bias + weight decay, B=3", bias, true, 3));
    let mut wd = model(Activation::Tanh, Rule::Truncated);
    wd.weight_decay = 2.0;
    cases.push(("truncated tanh + weight decay", wd, false, 1));
    for (name, m, with_bias, batch) in cases {
        let c = case(4, batch);
        let net = one_step(&m, &c, with_bias);
        let (w, v, beta) = spec_step(&m, &c, with_bias);
        assert_close(
            &format!("{name}: W"),
            net.encoder().as_slice(),
            w.as_slice(),
            FORMULA_TOL,
        );
        assert_close(
            &format!("{name}: V"),
            net.decoder().as_slice(),
            v.as_slice(),
            FORMULA_TOL,
        );
        if with_bias {
            assert_close(
                &format!("{name}: β"),
                net.beta().unwrap().as_slice(),
                beta.as_slice(),
                FORMULA_TOL,
            );
        }
    }
}

/// Sanger's update written out directly (docs/autoencoder.md §5.2): W'.
fn sanger_step(m: &Model, c: &Case) -> DMatrix<f64> {
    let d = D as f64;
    let x = c.x.row(0).transpose();
    let y: Vec<f64> = (0..K)
        .map(|k| c.w.row(k).dot(&x.transpose()) / d.sqrt())
        .collect();
    let mut want = c.w.clone();
    for k in 0..K {
        let mut r = x.clone();
        for (a, ya) in y.iter().enumerate().take(k + 1) {
            r -= c.w.row(a).transpose() * *ya;
        }
        let new = (c.w.row(k) + m.lr / (d * d) * y[k] * r.transpose()) * (1.0 - m.weight_decay / d);
        want.set_row(k, &new);
    }
    want
}

#[test]
fn sanger_step_matches_its_formula() {
    // w^k ← s [w^k + (η/D²) y^k (x − Σ_{a≤k} y^a w^a)], y^k = w^k·x/√D (docs/autoencoder.md §5.2).
    let mut m = model(Activation::Linear, Rule::Sanger);
    m.weight_decay = 0.5;
    let c = case(5, 1);
    let net = one_step(&m, &c, false);
    assert_close(
        "sanger W",
        net.encoder().as_slice(),
        sanger_step(&m, &c).as_slice(),
        FORMULA_TOL,
    );
    assert_eq!(net.decoder(), net.encoder(), "Sanger's decoder is W");
}

/// Steps of the multi-step comparison: every step after the first starts by applying the
/// encoder update the network defers from the previous step.
const STEPS: usize = 4;

/// Every rule, with weight decay, a bias and minibatches where they apply: (name, model,
/// trained bias, B).
fn rule_cases() -> Vec<(&'static str, Model, bool, usize)> {
    let erf = Activation::Erf;
    let mut cases: Vec<(&'static str, Model, bool, usize)> = Vec::new();
    let mut sgd = model(erf, Rule::Sgd);
    sgd.weight_decay = 0.7;
    cases.push(("sgd + weight decay", sgd.clone(), false, 1));
    cases.push(("sgd + weight decay, B=3", sgd, false, 3));
    cases.push(("truncated", model(erf, Rule::Truncated), false, 1));
    cases.push(("truncated B=2", model(erf, Rule::Truncated), false, 2));
    let mut tied = model(Activation::Tanh, Rule::Sgd);
    tied.tied = true;
    tied.weight_decay = 0.9;
    cases.push(("tied + weight decay", tied.clone(), false, 1));
    cases.push(("tied + weight decay, B=2", tied, false, 2));
    let mut bias = model(Activation::Relu, Rule::Sgd);
    bias.bias_lr = Some(0.5);
    bias.weight_decay = 1.3;
    cases.push(("relu + bias + weight decay", bias.clone(), true, 1));
    cases.push(("relu + bias + weight decay, B=2", bias, true, 2));
    let mut sanger = model(Activation::Linear, Rule::Sanger);
    sanger.weight_decay = 0.5;
    cases.push(("sanger + weight decay", sanger, false, 1));
    cases
}

#[test]
fn several_steps_of_each_rule_match_the_spec_formula() {
    // The network keeps part of each step pending until the next one (module docs of
    // sgd::network): several steps in a row, observed only at the end, must equal the documented
    // updates iterated. D = 7 is not a multiple of the padding width, so the padding is
    // exercised too.
    for (name, m, with_bias, batch) in rule_cases() {
        let mut truth = case(6, batch);
        let beta = with_bias.then_some(&truth.beta);
        let mut net = Network::new(&m, &truth.w, &truth.v, beta, batch).unwrap();
        for step in 0..STEPS {
            truth.x = case(100 + step as u64, batch).x;
            let inputs: Vec<f64> = truth.x.transpose().as_slice().to_vec();
            net.step_on(&inputs).unwrap();
            if m.rule == Rule::Sanger {
                truth.w = sanger_step(&m, &truth);
            } else {
                let (w, v, b) = spec_step(&m, &truth, with_bias);
                (truth.w, truth.v, truth.beta) = (w, v, b);
            }
        }
        let what = format!("{name}, {STEPS} steps");
        // Rounding differences compound over the steps: a few ulps each.
        let tol = STEPS as f64 * FORMULA_TOL;
        assert_close(
            &format!("{what}: W"),
            net.encoder().as_slice(),
            truth.w.as_slice(),
            tol,
        );
        if m.rule != Rule::Sanger {
            assert_close(
                &format!("{what}: V"),
                net.decoder().as_slice(),
                truth.v.as_slice(),
                tol,
            );
        }
        if with_bias {
            assert_close(
                &format!("{what}: β"),
                net.beta().unwrap().as_slice(),
                truth.beta.as_slice(),
                tol,
            );
        }
        // The loss sees the settled weights: compare with the truth's loss on a fresh input.
        let x = case(200, 1).x.row(0).transpose();
        let (v, beta) = if m.rule == Rule::Sanger {
            (truth.w.clone(), DVector::zeros(K))
        } else if with_bias {
            (truth.v.clone(), truth.beta.clone())
        } else {
            (truth.v.clone(), DVector::zeros(K))
        };
        let want = loss(m.activation, &truth.w, &v, &beta, &x, K);
        let got = net.loss(x.as_slice());
        assert!(
            (got - want).abs() <= tol * want.max(1.0),
            "{what}: loss {got} vs truth {want}"
        );
    }
}

#[test]
fn training_in_a_rotated_frame_is_the_rotated_training() {
    // The simulator trains in the eigenframe of Ω (sgd::Frame): from W0 Fᵀ, V0 Fᵀ on the
    // inputs F x it must give the same network as from W0, V0 on x, mapped by Fᵀ. (SGD is
    // equivariant under orthogonal maps; the frame reflects everything off the directions'
    // span, so a wrong term in any rule would show.)
    let mut rng = rng_for(8, 0);
    let u = gaussian(&mut rng, D, 3, 1.0).qr().q().transpose(); // 3 orthonormal rows
    let frame = Frame::new(&u);
    for (name, m, with_bias, batch) in rule_cases() {
        let c = case(6, batch);
        let beta = with_bias.then_some(&c.beta);
        let mut plain = Network::new(&m, &c.w, &c.v, beta, batch).unwrap();
        let (w0, v0) = (frame.rows_forward(&c.w), frame.rows_forward(&c.v));
        let mut rotated = Network::new(&m, &w0, &v0, beta, batch).unwrap();
        for step in 0..STEPS {
            let x = case(100 + step as u64, batch).x;
            plain.step_on(x.transpose().as_slice()).unwrap();
            rotated
                .step_on(frame.rows_forward(&x).transpose().as_slice())
                .unwrap();
        }
        // The two differ by the rounding of the reflections and of the steps.
        let tol = STEPS as f64 * FORMULA_TOL;
        let back = |m: DMatrix<f64>| frame.rows_backward(&m);
        assert_close(
            &format!("{name}: W"),
            back(rotated.encoder()).as_slice(),
            plain.encoder().as_slice(),
            tol,
        );
        assert_close(
            &format!("{name}: V"),
            back(rotated.decoder()).as_slice(),
            plain.decoder().as_slice(),
            tol,
        );
        if with_bias {
            assert_close(
                &format!("{name}: β"),
                rotated.beta().unwrap().as_slice(),
                plain.beta().unwrap().as_slice(),
                tol,
            );
        }
    }
}
