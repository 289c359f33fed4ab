//! Mean-field model (docs/mean-field.md): kernels against Monte Carlo and their derivative
//! identities, velocity against finite differences of the risk, risk against Monte Carlo,
//! the SGD step against finite differences of the loss, the particle solver against the
//! exact ReLU reduction, and the data-set observables against the linear-network identity.

use std::path::Path;

use aedyn::activation::Activation;
use aedyn::mean_field::relu::{logistic_trajectory, riccati_trajectory, second_moment};
use aedyn::mean_field::{
    initial_neurons, MeanFieldExperiment, MeanFieldModel, MfData, MfKernels, MfSimulator,
    Population, Symmetry,
};
use aedyn::rng::rng_for;
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};

/// Monte Carlo tolerance in standard errors (fixed seeds; ~1e-6 false-alarm rate per check).
const K_SE: f64 = 5.0;
/// Central finite differences with h = 1e-5 on smooth functions: truncation O(h²) ≈ 1e-10
/// times the third derivative, roundoff ≈ 1e-16/h ≈ 1e-11; 1e-6 leaves ample margin.
const FD_TOL: f64 = 1e-6;
const FD_H: f64 = 1e-5;

fn normal(rng: &mut aedyn::rng::Rng) -> f64 {
    StandardNormal.sample(rng)
}

fn kernels(act: Activation) -> MfKernels {
    MfKernels::new(act, act.default_quadrature_nodes()).unwrap()
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn kernels_match_monte_carlo() {
    const SAMPLES: usize = 400_000;
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Linear,
    ] {
        let k = kernels(act);
        for &(a, a2, b) in &[(1.3, 0.7, 0.5), (0.4, 2.0, -0.6), (0.9, 0.9, 0.89)] {
            let mut rng = rng_for(7, 0);
            let (s, l21) = (f64::sqrt(a), b / f64::sqrt(a));
            let l22 = (a2 - b * b / a).sqrt();
            let mut cols: [Vec<f64>; 5] = Default::default();
            for _ in 0..SAMPLES {
                let (z1, z2): (f64, f64) = (
                    StandardNormal.sample(&mut rng),
                    StandardNormal.sample(&mut rng),
                );
                let (u, u2) = (s * z1, l21 * z1 + l22 * z2);
                let (g, dg) = act.g_dg(u);
                let (g2, dg2) = act.g_dg(u2);
                cols[0].push(dg);
                cols[1].push(u * u * dg / a);
                cols[2].push(g * g2);
                cols[3].push(dg * dg2);
                // Stein: E[σ''(u)σ(u')] = (E[uσ'(u)σ(u')] − b E[σ'(u)σ'(u')])/a
                cols[4].push((u * dg * g2 - b * dg * dg2) / a);
            }
            let (k1, k2) = k.single(a);
            let p = k.pair(a, a2, b);
            for (name, exact, c) in [
                ("K1", k1, &cols[0]),
                ("K2", k2, &cols[1]),
                ("Kss", p.ss, &cols[2]),
                ("Kdd", p.dd, &cols[3]),
                ("Kds", p.ds, &cols[4]),
            ] {
                let (m, se) = mean_se(c);
                assert!(
                    (m - exact).abs() <= K_SE * se + 1e-12,
                    "{act} {name} at ({a}, {a2}, {b}): {exact} vs MC {m} ± {se}"
                );
            }
        }
    }
}

#[test]
fn kernel_derivative_identities_and_quadrature() {
    // Kdd = ∂Kss/∂b and Kds = 2∂Kss/∂a (docs/mean-field.md §2.2), by central differences.
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Softplus,
    ] {
        let k = kernels(act);
        let (a, a2, b) = (1.3, 0.7, 0.5);
        let p = k.pair(a, a2, b);
        let db = (k.pair(a, a2, b + FD_H).ss - k.pair(a, a2, b - FD_H).ss) / (2.0 * FD_H);
        let da = (k.pair(a + FD_H, a2, b).ss - k.pair(a - FD_H, a2, b).ss) / (2.0 * FD_H);
        assert!(
            (p.dd - db).abs() < FD_TOL,
            "{act}: Kdd {} vs ∂Kss/∂b {db}",
            p.dd
        );
        assert!(
            (p.ds - 2.0 * da).abs() < FD_TOL,
            "{act}: Kds {} vs 2∂Kss/∂a {}",
            p.ds,
            2.0 * da
        );
    }
    // The generic quadrature path reproduces the erf closed forms (smooth: spectral accuracy).
    let closed = kernels(Activation::Erf);
    let quad = MfKernels::quadrature(Activation::Erf, 60).unwrap();
    for &(a, a2, b) in &[(1.3, 0.7, 0.5), (0.2, 3.0, -0.7), (2.0, 2.0, 2.0)] {
        let (c, q) = (closed.pair(a, a2, b), quad.pair(a, a2, b));
        let (c1, q1) = (closed.single(a), quad.single(a));
        for (x, y) in [
            (c.ss, q.ss),
            (c.dd, q.dd),
            (c.ds, q.ds),
            (c1.0, q1.0),
            (c1.1, q1.1),
        ] {
            assert!(
                (x - y).abs() < 1e-10,
                "erf closed {x} vs quadrature {y} at ({a},{a2},{b})"
            );
        }
    }
}

/// The two-particle setup of docs/mean-field.md §5.
fn spec_setup(act: Activation) -> (MeanFieldModel, Vec<f64>, DMatrix<f64>) {
    let model = MeanFieldModel {
        activation: act,
        alpha: 1.5,
        gamma: 0.7,
        lambda: 0.1,
    };
    let theta = DMatrix::from_row_slice(2, 3, &[0.5, -0.3, 0.8, -0.2, 0.9, 0.4]);
    (model, vec![2.0, 1.0, 0.5], theta)
}

#[test]
fn velocity_is_minus_p_times_the_risk_gradient() {
    for act in [
        Activation::Erf,
        Activation::Relu,
        Activation::Tanh,
        Activation::Linear,
    ] {
        let k = kernels(act);
        // the documented two particles, and 7 random ones in d = 4 (includes the self-pairs)
        let (model, kappa, theta) = spec_setup(act);
        let mut rng = rng_for(3, 0);
        let rand = DMatrix::from_fn(7, 4, |_, _| 0.5 * normal(&mut rng));
        for (kappa, theta) in [(kappa, theta), (vec![3.0, 1.0, 0.4, 0.0], rand)] {
            let pop = Population::new(&model, &k, &kappa);
            let v = pop.velocity(&theta);
            let p = theta.nrows() as f64;
            let risk = |t: &DMatrix<f64>| {
                let r = pop.risk(t);
                r.mse + r.penalty
            };
            for i in 0..theta.nrows() {
                for j in 0..theta.ncols() {
                    let (mut up, mut dn) = (theta.clone(), theta.clone());
                    up[(i, j)] += FD_H;
                    dn[(i, j)] -= FD_H;
                    let grad = (risk(&up) - risk(&dn)) / (2.0 * FD_H);
                    assert!(
                        (v[(i, j)] + p * grad).abs() < FD_TOL,
                        "{act}: v[{i},{j}] = {} vs −P∂R = {}",
                        v[(i, j)],
                        -p * grad
                    );
                }
            }
        }
    }
}

#[test]
fn velocity_and_risk_match_the_spec_values() {
    // docs/mean-field.md §5 (confirmed there by 2·10⁷-sample Monte Carlo); printed to 6 decimals.
    let cases = [
        (
            Activation::Erf,
            [0.824900, -0.126686, 0.175411, -0.278222, 0.560400, 0.127857],
            1.264408,
        ),
        (
            Activation::Relu,
            [
                0.615434, -0.164941, 0.016399, -0.253483, 0.379092, -0.025039,
            ],
            1.434102,
        ),
    ];
    for (act, v_want, r_want) in cases {
        let k = kernels(act);
        let (model, kappa, theta) = spec_setup(act);
        let pop = Population::new(&model, &k, &kappa);
        let v = pop.velocity(&theta);
        for (i, want) in v_want.iter().enumerate() {
            let got = v[(i / 3, i % 3)];
            assert!((got - want).abs() < 1e-6, "{act} v[{i}] = {got} vs {want}");
        }
        let r = pop.risk(&theta);
        assert!(
            (r.mse + r.penalty - r_want).abs() < 1e-6,
            "{act} R = {:?}",
            r
        );
    }
}

#[test]
fn risk_matches_monte_carlo() {
    const SAMPLES: usize = 200_000;
    for act in [Activation::Erf, Activation::Relu, Activation::Tanh] {
        let k = kernels(act);
        let (model, kappa, theta) = spec_setup(act);
        let pop = Population::new(&model, &k, &kappa);
        let mut rng = rng_for(11, 0);
        let losses: Vec<f64> = (0..SAMPLES)
            .map(|_| {
                let x: Vec<f64> = kappa.iter().map(|k| k.sqrt() * normal(&mut rng)).collect();
                let mut xhat = [0.0; 3];
                for i in 0..2 {
                    let u: f64 = (0..3).map(|j| theta[(i, j)] * x[j]).sum();
                    let s = act.g(model.gamma * u);
                    for (j, xh) in xhat.iter_mut().enumerate() {
                        *xh += model.alpha / 2.0 * theta[(i, j)] * s;
                    }
                }
                0.5 * (0..3).map(|j| (x[j] - xhat[j]).powi(2)).sum::<f64>()
            })
            .collect();
        let (m, se) = mean_se(&losses);
        let mse = pop.risk(&theta).mse;
        assert!(
            (m - mse).abs() < K_SE * se,
            "{act}: MSE {mse} vs MC {m} ± {se}"
        );
    }
}

fn experiment(toml: &str) -> MeanFieldExperiment {
    aedyn::mean_field::Params::from_toml(toml, Path::new("t.toml"))
        .unwrap()
        .check()
        .unwrap()
}

/// The error of a config that must fail, at parsing or at validation.
fn config_error<P: aedyn::base::config::ModelParams>(text: &str) -> String {
    match aedyn::base::config::params_from_toml::<P>(text, Path::new("x.toml"), P::KIND) {
        Ok(p) => p.check().err().expect("an invalid config").to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn sgd_step_is_minus_eps_n_times_the_loss_gradient() {
    for act in ["erf", "tanh", "relu"] {
        let exp = experiment(&format!(
            "[model]\nkind = \"mean-field\"\n[network]\nneurons = 6\nactivation = \"{act}\"\noutput_scale = 1.3\npreact_scale = 0.8\n\
             [data]\nkind = \"blocks\"\ndim = 4\nblocks = [[2.0, 1], [1.0, 3]]\n[training]\nl2 = 0.2\nstep = 0.01\nbatch = 3\n[init]\nstd = 0.5\n"
        ));
        let sim = MfSimulator::new(&exp).unwrap();
        let theta = sim.initial_neurons(5).unwrap();
        let mut rng = rng_for(9, 0);
        let batch = DMatrix::from_fn(4, 3, |_, _| normal(&mut rng));
        let m = exp.model;
        let n = theta.nrows() as f64;
        // ℓ averaged over the minibatch, plus the penalty
        let loss = |t: &DMatrix<f64>| {
            let mut l = 0.5 * m.lambda / n * t.norm_squared();
            for x in batch.column_iter() {
                let u = t * x;
                let s = u.map(|v| m.activation.g(m.gamma * v));
                let xhat = t.tr_mul(&s) * (m.alpha / n);
                l += 0.5 * (x - xhat).norm_squared() / batch.ncols() as f64;
            }
            l
        };
        let mut stepped = theta.clone();
        sim.sgd_step(&mut stepped, &batch);
        for i in 0..theta.nrows() {
            for j in 0..theta.ncols() {
                let (mut up, mut dn) = (theta.clone(), theta.clone());
                up[(i, j)] += FD_H;
                dn[(i, j)] -= FD_H;
                let grad = (loss(&up) - loss(&dn)) / (2.0 * FD_H);
                let want = -exp.sgd.step * n * grad;
                let got = stepped[(i, j)] - theta[(i, j)];
                assert!(
                    (got - want).abs() < 1e-8,
                    "{act}: Δθ[{i},{j}] = {got} vs {want}"
                );
            }
        }
    }
}

/// Config R of docs/mean-field.md §4 (T = 8, records every 0.25).
fn reference_toml(activation: &str, neurons: usize) -> String {
    format!(
        "[model]\nkind = \"mean-field\"\n[network]\nneurons = {neurons}\nactivation = \"{activation}\"\n\
         [data]\nkind = \"blocks\"\ndim = 50\nblocks = [[4.0, 5], [2.0, 5], [1.0, 10], [0.1, 30]]\n\
         [training]\nl2 = 0.3\nstep = 0.001\nbatch = 16\n[init]\nstd = 0.1414213562373095\nseed = 0\n\
         [output]\nt_max = 8.0\npoints = 33\nspacing = \"linear\"\n[simulation]\nseeds = 2\n"
    )
}

#[test]
fn particle_solver_and_riccati_match_the_logistic_solution() {
    // Whitened paired particles: (1/P)Σθθᵀ = s₀²I and exact sign symmetry, so the ReLU
    // particle flow is exactly the logistic one (docs/mean-field.md §3); only the RK4 error remains.
    const TOL: f64 = 1e-6;
    let exp = experiment(&reference_toml("relu", 100));
    let k = exp.kernels().unwrap();
    let pop = Population::new(&exp.model, &k, exp.data.kappa());
    let theta0 = initial_neurons(100, 50, exp.init_std, Symmetry::Whitened, 1).unwrap();
    let g0 = 0.5 * exp.model.beta() * exp.init_std.powi(2);
    let logistic = logistic_trajectory(&exp.model, &exp.data, g0, &exp.times);
    let particles = pop
        .run(theta0, &exp.times, 0.01, &exp.data, &|_| {})
        .unwrap()
        .trajectory;
    let gain_err = particles.max_gain_errors(&logistic);
    assert!(
        gain_err.iter().all(|&e| e < TOL),
        "particles vs logistic: {gain_err:?}"
    );
    let mse_err = particles.max_relative_mse_error(&logistic);
    assert!(mse_err < TOL, "particles vs logistic MSE: {mse_err}");
    let m0 = DMatrix::identity(50, 50) * exp.init_std.powi(2);
    let riccati = riccati_trajectory(&exp.model, &exp.data, &m0, &exp.times, 0.01);
    assert!(riccati.max_gain_errors(&logistic).iter().all(|&e| e < TOL));
    // A paired (not whitened) draw: M(0) does not commute with Σ; the particle flow still
    // equals the Riccati flow from M_P(0).
    let theta0 = initial_neurons(100, 50, exp.init_std, Symmetry::Paired, 2).unwrap();
    let m0 = second_moment(&theta0);
    let riccati = riccati_trajectory(&exp.model, &exp.data, &m0, &exp.times, 0.01);
    let particles = pop
        .run(theta0, &exp.times, 0.01, &exp.data, &|_| {})
        .unwrap()
        .trajectory;
    let e = particles.max_gain_errors(&riccati);
    assert!(e.iter().all(|&e| e < TOL), "particles vs Riccati: {e:?}");
    assert!(particles.max_relative_mse_error(&riccati) < TOL);
}

#[test]
fn reference_config_sgd_matches_the_logistic_theory() {
    // Issue #7 acceptance: N = 2000, mean over 2 seeds, every recorded t ∈ [0, 8].
    const GAIN_TOL: f64 = 0.02;
    let exp = experiment(&reference_toml("relu", 2000));
    let theory = exp.limit(&|_| {}).unwrap();
    assert_eq!(theory.solver, "logistic");
    let sim = MfSimulator::new(&exp).unwrap();
    let runs: Vec<_> = aedyn::base::runner::run_seeds(&[0, 1], |s| sim.run_seed(s, &|_| {}))
        .into_iter()
        .map(|(_, r)| r.unwrap())
        .collect();
    let trajs: Vec<_> = runs.iter().map(|r| &r.trajectory).collect();
    let mean = aedyn::mean_field::MfTrajectory::mean(&trajs);
    let err = mean.max_gain_errors(&theory.trajectory);
    assert!(err.iter().all(|&e| e < GAIN_TOL), "max gain errors {err:?}");
    // The learned blocks cross half their final gain at the exact phase times (docs/mean-field.md §5:
    // SGD within 0.05 of the exact half-gain times).
    for (j, b) in exp.data.block_list().iter().enumerate().take(3) {
        let gs = aedyn::mean_field::relu::final_gain(b.kappa, 0.3);
        let t_th = theory.trajectory.crossing_time(j, gs / 2.0).unwrap();
        let t_sim = mean.crossing_time(j, gs / 2.0).unwrap();
        assert!((t_th - t_sim).abs() < 0.1, "block {j}: {t_sim} vs {t_th}");
    }
}

#[test]
fn erf_sgd_matches_the_particle_solver_from_the_same_neurons() {
    // L2 (SGD) against L1 (population flow of the same N neurons), docs/mean-field.md §2.4 hierarchy.
    const GAIN_TOL: f64 = 0.005;
    const MSE_REL_TOL: f64 = 0.005;
    let exp = experiment(&reference_toml("erf", 200));
    let sim = MfSimulator::new(&exp).unwrap();
    let k = exp.kernels().unwrap();
    let pop = Population::new(&exp.model, &k, exp.data.kappa());
    let run = sim.run_seed(0, &|_| {}).unwrap();
    let flow = pop
        .run(run.theta0.clone(), &exp.times, 0.02, &exp.data, &|_| {})
        .unwrap();
    let gain_err = run.trajectory.max_gain_errors(&flow.trajectory);
    let mse_err = run.trajectory.max_relative_mse_error(&flow.trajectory);
    assert!(gain_err.iter().all(|&e| e < GAIN_TOL), "{gain_err:?}");
    assert!(mse_err < MSE_REL_TOL, "{mse_err}");
    // erf learns (slowly, docs/mean-field.md §5): the top block's gain grows by an order of magnitude.
    let g = flow.trajectory.gain(0);
    assert!(g[g.len() - 1] > 10.0 * g[0], "{g:?}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let exp = experiment(&reference_toml("erf", 130).replace("t_max = 8.0", "t_max = 0.2"));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let sim = MfSimulator::new(&exp).unwrap();
            let sgd: Vec<_> =
                aedyn::base::runner::run_seeds(&[0, 1, 2], |s| sim.run_seed(s, &|_| {}))
                    .into_iter()
                    .map(|(_, r)| r.unwrap().trajectory)
                    .collect();
            let k = exp.kernels().unwrap();
            let pop = Population::new(&exp.model, &k, exp.data.kappa());
            let th = initial_neurons(130, 50, 0.1, Symmetry::Iid, 4).unwrap();
            (sgd, pop.velocity(&th))
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn dataset_is_rotated_to_its_eigenbasis_and_relu_gains_are_exact() {
    let x = aedyn::io::read_matrix(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/digits.csv"
    )))
    .unwrap();
    let data = MfData::from_samples(&x, true, true).unwrap();
    let d = data.dim();
    assert_eq!(d, 64);
    assert!((data.trace() - d as f64).abs() < 1e-9);
    assert!(data.kappa().windows(2).all(|w| w[0] >= w[1]));
    // Sign-flipped data and paired ReLU neurons: the network is linear, x̂ = (β/2)Mx, so
    // the empirical gain is (β/2)M_jj exactly (docs/mean-field.md §3.1), and Population::gains agrees.
    let model = MeanFieldModel {
        activation: Activation::Relu,
        alpha: 1.2,
        gamma: 0.9,
        lambda: 0.0,
    };
    let theta = initial_neurons(40, d, 0.3, Symmetry::Paired, 3).unwrap();
    let m = second_moment(&theta);
    let (_, gains) = data.empirical_observables(&model, &theta).unwrap();
    let k = kernels(Activation::Relu);
    let pop_gains = Population::new(&model, &k, data.kappa()).gains(&theta);
    for b in data.block_list() {
        let j = b.start;
        let want = 0.5 * model.beta() * m[(j, j)];
        assert!(
            (gains[j] - want).abs() < 1e-9 * want.max(1.0),
            "PC {j}: {} vs {want}",
            gains[j]
        );
        assert!((pop_gains[j] - want).abs() < 1e-12);
    }
}

#[test]
fn config_errors_name_their_field() {
    let base = reference_toml("relu", 100);
    let cases = [
        (
            base.replace("[training]\n", "[training]\nlr = 0.1\n"),
            "training.lr",
        ),
        (base.replace("dim = 50", "dim = 51"), "data.dim"),
        (base.replace("l2 = 0.3", "l2 = -1.0"), "training.l2"),
        (
            base.replace("batch = 16", "batch = 15\nantithetic = true"),
            "training.batch",
        ),
        (
            base.replace("kind = \"blocks\"", "kind = \"spiked\""),
            "data.kind",
        ),
        (base.replace("[[4.0, 5],", "[[4.0, 0],"), "data.blocks.0"),
        (
            base.replace("[init]\n", "[init]\nsymmetry = \"whitened\"\n")
                .replace("neurons = 100", "neurons = 60"),
            "network.neurons",
        ),
        (
            base.replace("[network]\n", "[network]\npreact_scale = 0.0\n"),
            "network.preact_scale",
        ),
        (
            base.replace("[simulation]\n", "[theory]\nparticles = 99\n[simulation]\n"),
            "theory.particles",
        ),
    ];
    for (text, field) in cases {
        let e = config_error::<aedyn::mean_field::Params>(&text);
        assert!(e.contains(field), "{field}: {e}");
    }
    // mean-field keys in an autoencoder config, and the other way round
    let e = config_error::<aedyn::autoencoder::Params>("[training]\nl2 = 0.1\n");
    assert!(
        e.contains("training.l2") && e.contains("not a key of the autoencoder model"),
        "{e}"
    );
    let e = config_error::<aedyn::mean_field::Params>("[network]\nhidden = 2\n");
    assert!(
        e.contains("network.hidden") && e.contains("not a key of the mean-field model"),
        "{e}"
    );
    // the logistic solver needs ReLU
    let e = config_error::<aedyn::mean_field::Params>(&reference_toml("erf", 100).replace(
        "[simulation]",
        "[theory]\nsolver = \"logistic\"\n[simulation]",
    ));
    assert!(e.contains("theory.solver"), "{e}");
}

#[test]
fn cli_writes_the_contract_columns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mf.toml");
    std::fs::write(
        &cfg,
        reference_toml("relu", 100)
            .replace("t_max = 8.0", "t_max = 0.5")
            .replace("points = 33", "points = 3"),
    )
    .unwrap();
    for cmd in ["theory", "simulate", "compare"] {
        let out = dir.path().join(cmd);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_aedyn"))
            .arg(cmd)
            .args(if cmd == "theory" {
                None
            } else {
                Some("--quiet")
            })
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "{cmd}");
        let file = if cmd == "simulate" {
            "sim.csv"
        } else {
            "theory.csv"
        };
        let csv = std::fs::read_to_string(out.join(file)).unwrap();
        let header = csv.lines().next().unwrap();
        assert!(
            header.ends_with("time,test_error,gain_0,gain_1,gain_2,gain_3"),
            "{header}"
        );
        assert_eq!(
            csv.lines().count(),
            1 + 3 * if cmd == "simulate" { 2 } else { 1 }
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("compare/compare.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["intrinsic_dimension"], 20);
    assert_eq!(json["theory_solver"], "logistic");
}
