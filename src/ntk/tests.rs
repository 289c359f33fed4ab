//! Acceptance tests of the NTK model against the paper's predictions and independent
//! truths (closed forms vs Monte Carlo, linearised GD vs simulation, numbers computed from
//! the data set of docs/ntk.md §N8).

use std::path::PathBuf;

use serde_json::Value;

use super::net::Regime;
use super::params::{DataKind, InitKind, LrKernel};
use super::{Experiment, Params, SimRun, DEFAULT_CONFIG};
use crate::error::Error;

/// The reference data set: 12 unit points in ℝ⁶, numpy `default_rng(42).standard_normal
/// ((12, 6))` with rows normalised (the data of the checked values in docs/ntk.md §N8).
fn reference_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/ntk/configs/sphere12x6_numpy42.csv")
}

fn reference_params(regime: Regime, m: usize, steps: u64) -> Params {
    let mut p = Params::default();
    p.data.kind = DataKind::File;
    p.data.path = Some(reference_data());
    p.network.width = m;
    p.training.regime = regime;
    p.training.steps = steps;
    p.output.gram = false;
    p
}

fn run(e: &Experiment, seed: u64) -> SimRun {
    e.simulate(seed, &|_| {}).unwrap()
}

fn rec(s: &SimRun, key: &str) -> f64 {
    s.record[key].as_f64().unwrap_or(f64::NAN)
}

fn log_slope(x: &[f64], y: &[f64]) -> f64 {
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    super::linalg::ls_slope(&lx, &ly)
}

fn field_of(e: Error) -> String {
    match e {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other}"),
    }
}

#[test]
fn kernel_spectra_on_the_reference_data() {
    // Reference values (5 significant digits): λ(K_enc) = 0.09661, 1.46288;
    // λ(K_enc + K_dec) = 0.12024, 3.34407; λ_min(K_dec) = 0.02283.
    /// Half a unit of the last printed digit.
    const PRINTED: f64 = 5e-6;
    let e = reference_params(Regime::Joint, 100, 1).check().unwrap();
    let s = e.spectra();
    for (got, want) in [
        (s.k_enc[0], 0.09661),
        (s.k_enc[1], 1.46288),
        (s.k_joint[0], 0.12024),
        (s.k_joint[1], 3.34407),
        (s.k_dec[0], 0.02283),
    ] {
        assert!((got - want).abs() <= PRINTED, "{got} vs {want}");
    }
    // Weyl: λ_min(K_enc + K_dec) ≥ λ_min(K_enc) + λ_min(K_dec).
    assert!(s.k_joint[0] >= s.k_enc[0] + s.k_dec[0]);
    // The default η = 1/λ_max of each regime: 0.6836 (weak), 0.2990 (joint).
    let weak = reference_params(Regime::Weak, 100, 1).check().unwrap();
    let sim = run(&weak, 0);
    assert!((rec(&sim, "lr") - 1.0 / 1.46288).abs() < 1e-5);
}

#[test]
fn gram_approaches_the_closed_form_as_m_to_the_minus_half() {
    /// Fitted exponent of ‖H(0) − H^∞‖/‖H^∞‖ vs m must lie in this band around −½.
    const EXPONENT_BAND: (f64, f64) = (-0.6, -0.4);
    const SEEDS: u64 = 3;
    let widths = [100usize, 400, 1600, 6400, 25_600];
    for regime in [Regime::Weak, Regime::Joint] {
        let mut errs = Vec::new();
        let mut lmin_dev = Vec::new();
        for &m in &widths {
            let mut p = reference_params(regime, m, 1);
            p.output.gram = true;
            p.output.points = 2;
            let e = p.check().unwrap();
            let sims: Vec<SimRun> = (0..SEEDS).map(|s| run(&e, s)).collect();
            let v = e.validation_metrics(&sims);
            let get = |k: &str| v.iter().find(|(n, _)| n == k).unwrap().1;
            errs.push(get("gram_error"));
            lmin_dev.push(get("lambda_min_rel_error"));
        }
        let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
        let slope = log_slope(&ms, &errs);
        assert!(
            slope > EXPONENT_BAND.0 && slope < EXPONENT_BAND.1,
            "{regime:?}: exponent {slope}, errors {errs:?}"
        );
        assert!(
            lmin_dev[4] < lmin_dev[0],
            "{regime:?}: λ_min ratio {lmin_dev:?}"
        );
    }
}

#[test]
fn linear_convergence_at_the_linearised_rate() {
    /// Per-seed |fitted/linearised − 1| at m = 2·10⁴: finite-width corrections of H(0)
    /// and its drift during training make this seed dependent (measured 0.1–5.9 % over
    /// 10 seeds, mean 2.8 % weak, 1.6 % joint).
    const PER_SEED_AT_20K: f64 = 0.07;
    /// Mean |fitted/linearised − 1| at m = 8·10⁴, where the correction has halved
    /// (measured 1.2 % weak, 0.8 % joint): the ±3 % of docs/ntk.md §N4.2.
    const MEAN_AT_80K: f64 = 0.03;
    /// The fitted slope is 0–20 % steeper than 2 ln(1 − ηλ_min) (the slowest mode does
    /// not yet dominate in the window).
    const STEEPER: (f64, f64) = (1.0, 1.2);
    for regime in [Regime::Weak, Regime::Joint] {
        // Steps to pass 1e-7·L(0): ≈ 85 (weak), ≈ 155 (joint).
        let steps = if regime == Regime::Weak { 110 } else { 180 };
        let e = reference_params(regime, 20_000, steps).check().unwrap();
        let mut devs = Vec::new();
        for seed in 0..4 {
            let th = e.theory(seed, &|_| {}).unwrap();
            let sim = run(&e, seed);
            let c = e.compare(&[th], std::slice::from_ref(&sim)).unwrap();
            let row = &c["per_seed"][0];
            let (fit, lin, rate) = (
                row["slope_fit"].as_f64().unwrap(),
                row["slope_linearised"].as_f64().unwrap(),
                row["slope_rate"].as_f64().unwrap(),
            );
            assert!(
                (fit / lin - 1.0).abs() < PER_SEED_AT_20K,
                "{regime:?} {seed}: {fit} vs {lin}"
            );
            assert!(
                fit / rate > STEEPER.0 && fit / rate < STEEPER.1,
                "{regime:?} {seed}: {fit} vs {rate}"
            );
            // the sim record's own linearised slope agrees with compare's
            assert!((rec(&sim, "slope_linearised") - lin).abs() < 1e-12);
            devs.push((fit / lin - 1.0).abs());
        }
        let e = reference_params(regime, 80_000, steps).check().unwrap();
        let big: Vec<f64> = (0..2)
            .map(|s| {
                let sim = run(&e, s);
                (rec(&sim, "slope_fit") / rec(&sim, "slope_linearised") - 1.0).abs()
            })
            .collect();
        let mean_big = big.iter().sum::<f64>() / 2.0;
        assert!(mean_big < MEAN_AT_80K, "{regime:?}: {big:?}");
    }
}

/// Success fraction (L_T/L_0 < 10⁻⁶; a divergence counts as failure) over 8 seeds at
/// η = 0.3, T = 3000.
fn success_fraction(regime: Regime, m: usize) -> usize {
    let mut p = reference_params(regime, m, 3000);
    p.training.lr = Some(0.3);
    p.output.points = 2;
    let e = p.check().unwrap();
    (0..8)
        .filter(|&s| {
            e.simulate(s, &|_| {})
                .map(|r| r.record["success"].as_bool().unwrap())
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn joint_training_succeeds_at_widths_where_weak_training_does_not() {
    // Reference: joint succeeds from m = 12 = n, weak only from m ≈ 48.
    assert!(success_fraction(Regime::Joint, 24) >= 7);
    assert!(success_fraction(Regime::Weak, 24) <= 1);
    assert_eq!(success_fraction(Regime::Joint, 96), 8);
    assert_eq!(success_fraction(Regime::Weak, 96), 8);
}

#[test]
fn joint_training_is_lazy() {
    /// Relative movement of W after 400 steps ∝ m^{−1/2}.
    const EXPONENT_BAND: (f64, f64) = (-0.65, -0.35);
    let widths = [250usize, 1000, 4000];
    let mut w = Vec::new();
    let mut v = Vec::new();
    for &m in &widths {
        let s = run(&reference_params(Regime::Joint, m, 400).check().unwrap(), 0);
        w.push(rec(&s, "w_move"));
        v.push(rec(&s, "v_move"));
    }
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    for (name, y) in [("W", &w), ("V", &v)] {
        let k = log_slope(&ms, y);
        assert!(
            k > EXPONENT_BAND.0 && k < EXPONENT_BAND.1,
            "{name}: {k} {y:?}"
        );
    }
}

#[test]
fn tied_initialisation_is_a_multiple_of_the_identity() {
    /// For one draw of W the x-average of ‖F(x)‖² carries the cross terms
    /// (1/m)Σ_{r≠s} E_x[ξ_r·ξ_s], whose spread does not shrink with m or with the number of
    /// x: the relative deviation scatters by ≈ ±12 % between initialisations (measured,
    /// and reproduced independently). Its mean over 64 initialisations has a standard
    /// error ≈ 1.5 %, so 5 % is a > 3σ band.
    const RELDEV_TOL: f64 = 0.05;
    const INITS: u64 = 64;
    /// L(0) = n(c − 1)²/2 + (c − 1)Σ_i⟨x_i, F(x_i)⟩ + …, c = κ√m/2: the cross term has
    /// standard deviation ≤ 2·1.12/(c − 1) ≈ 4.6 % of L(0) at m = 10⁴ (points fully
    /// correlated); 10 % is two such deviations.
    const L0_TOL: f64 = 0.10;
    for m in [100usize, 1000] {
        let mut p = reference_params(Regime::Tied, m, 1);
        p.output.points = 2;
        let e = p.check().unwrap();
        let mean = (0..INITS)
            .map(|s| rec(&run(&e, s), "tied_init_reldev"))
            .sum::<f64>()
            / INITS as f64;
        let pred = super::theory::tied_reldev(6, m);
        assert!(
            (mean / pred - 1.0).abs() < RELDEV_TOL,
            "m = {m}: {mean} vs {pred}"
        );
    }
    let mut p = reference_params(Regime::Tied, 10_000, 1);
    p.output.points = 2;
    let e = p.check().unwrap();
    for seed in 0..3 {
        let s = run(&e, seed);
        let (l0, lead) = (
            rec(&s, "loss_initial"),
            rec(&s, "tied_loss_initial_leading"),
        );
        assert!((l0 / lead - 1.0).abs() < L0_TOL, "{l0} vs {lead}");
    }
}

#[test]
fn tied_training_is_not_lazy() {
    let mut moves = Vec::new();
    for m in [100usize, 1000] {
        let e = reference_params(Regime::Tied, m, 4000).check().unwrap();
        let s = run(&e, 0);
        // GD does fit the training set ...
        assert!(rec(&s, "loss_ratio") < 1e-3, "m = {m}: {}", s.record);
        // ... by cancelling the √m identity term: ‖W‖²/m shrinks from ≈ d to below 2
        assert!(rec(&s, "w_norm2_per_m_initial") > 4.0 && rec(&s, "w_norm2_per_m_final") < 2.0);
        // ... and far from the identity off the training set
        assert!(rec(&s, "test_identity_error") > 0.5);
        moves.push(rec(&s, "w_move"));
    }
    // O(1) movement growing with width (joint training at m = 1000 moves by ≈ 0.06).
    assert!(moves[0] > 0.3 && moves[1] > moves[0], "{moves:?}");
}

#[test]
fn trained_symmetric_network_approaches_the_kernel_predictor() {
    /// ‖u(X_test) − u_∞(X_test)‖/‖u_∞‖ ∝ m^{−1/2}.
    const EXPONENT_BAND: (f64, f64) = (-0.7, -0.3);
    let widths = [500usize, 2000, 8000];
    let mut errs = Vec::new();
    for &m in &widths {
        let mut p = reference_params(Regime::Joint, m, 1500);
        p.init.symmetric = true;
        p.simulation.test_points = 50;
        p.output.points = 2;
        let s = run(&p.check().unwrap(), 0);
        assert!(rec(&s, "loss_final") < 1e-20);
        errs.push(rec(&s, "memorisation_error"));
    }
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    let k = log_slope(&ms, &errs);
    assert!(k > EXPONENT_BAND.0 && k < EXPONENT_BAND.1, "{k} {errs:?}");
    assert!(errs[2] < errs[1] && errs[1] < errs[0]);
}

#[test]
fn bad_inputs_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let dup = write("dup.csv", "1,0,0\n0,1,0\n2,0,0\n");
    let anti = write("anti.csv", "1,0,0\n0,1,0\n0,-3,0\n");
    for path in [dup, anti] {
        let mut p = Params::default();
        p.data.kind = DataKind::File;
        p.data.path = Some(path);
        assert_eq!(field_of(p.check().unwrap_err()), "data.path");
    }
    type Edit = Box<dyn Fn(&mut Params)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|p| p.network.width = 0), "network.width"),
        (Box::new(|p| p.data.samples = 0), "data.samples"),
        (Box::new(|p| p.data.dim = 0), "data.dim"),
        (
            Box::new(|p| {
                p.init.symmetric = true;
                p.network.width = 11
            }),
            "network.width",
        ),
        (
            Box::new(|p| {
                p.init.symmetric = true;
                p.training.regime = Regime::Tied
            }),
            "init.symmetric",
        ),
        (Box::new(|p| p.training.lr = Some(-1.0)), "training.lr"),
        (Box::new(|p| p.network.kappa = f64::NAN), "network.kappa"),
        (Box::new(|p| p.training.steps = 0), "training.steps"),
        (Box::new(|p| p.output.points = 1), "output.points"),
        (Box::new(|p| p.simulation.seeds = 0), "simulation.seeds"),
        (
            Box::new(|p| p.simulation.slope_window = [1e-2, 1e-7]),
            "simulation.slope_window",
        ),
        (Box::new(|p| p.data.kind = DataKind::File), "data.path"),
        (
            Box::new(|p| p.init.kind = InitKind::Weights),
            "init.encoder",
        ),
    ];
    for (f, field) in cases {
        let mut p = Params::default();
        f(&mut p);
        assert_eq!(field_of(p.check().unwrap_err()), field);
    }
    // encoder file of the wrong width
    let w = write("W.csv", "1,0,0,0,0,0\n0,1,0,0,0,0\n");
    let mut p = Params::default();
    p.init.kind = InitKind::Weights;
    p.init.encoder = Some(w);
    assert_eq!(field_of(p.check().unwrap_err()), "network.width");
}

#[test]
fn large_steps_warn_and_blow_ups_are_divergences() {
    let mut p = reference_params(Regime::Joint, 200, 50);
    p.training.lr = Some(0.7); // 2/λ_max(H^∞_joint) = 0.598
    let e = p.check().unwrap();
    let warned = |v: &Value| {
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("2/λ_max"))
    };
    match e.simulate(0, &|_| {}) {
        Ok(s) => assert!(warned(&s.record)),
        Err(Error::Diverged { .. }) => {}
        Err(other) => panic!("{other}"),
    }
    assert!(warned(&e.theory(0, &|_| {}).unwrap().record));
    assert!(!warned(
        &reference_params(Regime::Joint, 200, 5)
            .check()
            .unwrap()
            .theory(0, &|_| {})
            .unwrap()
            .record
    ));
    p.training.lr = Some(5.0);
    match p.check().unwrap().simulate(3, &|_| {}) {
        Err(Error::Diverged { what, time, .. }) => {
            assert!(what.contains("seed 3"), "{what}");
            assert!((1.0..=50.0).contains(&time));
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // m = 9000 spans three chunks of hidden units; λ_min(H(t)) exercises the Gram sums.
    let m = 2 * super::net::CHUNK + 808;
    let mut p = reference_params(Regime::Joint, m, 20);
    p.output.gram = true;
    p.output.points = 5;
    let e = p.check().unwrap();
    let in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run(&e, 1))
    };
    let (a, b) = (in_pool(1), in_pool(2));
    let bits =
        |s: &SimRun| -> Vec<u64> { s.table.rows.iter().flatten().map(|v| v.to_bits()).collect() };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.files, b.files);
    let mut p = reference_params(Regime::Tied, m, 5);
    p.output.gram = true;
    let e = p.check().unwrap();
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let pool2 = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    assert_eq!(
        bits(&pool1.install(|| run(&e, 0))),
        bits(&pool2.install(|| run(&e, 0)))
    );
}

#[test]
fn default_config_round_trips() {
    let mut table: toml::Table = toml::from_str(DEFAULT_CONFIG).unwrap();
    assert_eq!(table["model"]["kind"].as_str(), Some("ntk"));
    table.remove("model");
    table.remove("sweep");
    let p: Params = toml::Value::Table(table).try_into().unwrap();
    assert_eq!(p, Params::default());
    assert_eq!(
        Params::from_toml(DEFAULT_CONFIG).unwrap(),
        Params::default()
    );
    let back: Params = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    p.check().unwrap();
}

#[test]
fn shipped_configs_parse_and_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/ntk/configs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut p = Params::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        p.resolve_paths(&dir);
        p.check()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        count += 1;
    }
    assert!(count >= 6, "{count} configs");
}

#[test]
fn mean_loss_is_the_sum_loss_over_n() {
    /// Same effective step (default η scales by n): equal trajectories up to rounding.
    const ROUNDING: f64 = 1e-10;
    let sum = reference_params(Regime::Weak, 300, 60).check().unwrap();
    let mut p = reference_params(Regime::Weak, 300, 60);
    p.training.loss_norm = super::net::LossNorm::Mean;
    let mean = p.check().unwrap();
    let (a, b) = (run(&sum, 0), run(&mean, 0));
    assert!((rec(&b, "lr") / rec(&a, "lr") - 12.0).abs() < 1e-12);
    for (ra, rb) in a.table.rows.iter().zip(&b.table.rows) {
        assert!(
            (rb[0] * 12.0 / ra[0] - 1.0).abs() < ROUNDING,
            "{} {}",
            ra[0],
            rb[0]
        );
    }
}

#[test]
fn weights_from_files_reproduce_the_random_run() {
    let dir = tempfile::tempdir().unwrap();
    let e = reference_params(Regime::Joint, 40, 30).check().unwrap();
    let net0 = e.initial_net(5).unwrap();
    let (wp, vp) = (dir.path().join("W.csv"), dir.path().join("V.csv"));
    crate::io::write_matrix_csv(&wp, &net0.w()).unwrap();
    crate::io::write_matrix_csv(&vp, &net0.v()).unwrap();
    let mut p = reference_params(Regime::Joint, 40, 30);
    p.init.kind = InitKind::Weights;
    p.init.encoder = Some("W.csv".into());
    p.init.decoder = Some("V.csv".into());
    p.resolve_paths(dir.path());
    let from_files = p.check().unwrap();
    let bits =
        |s: &SimRun| -> Vec<u64> { s.table.rows.iter().flatten().map(|v| v.to_bits()).collect() };
    assert_eq!(bits(&run(&from_files, 0)), bits(&run(&e, 5)));
}

#[test]
fn tables_records_and_files_follow_the_contract() {
    let mut p = Params::default();
    p.network.width = 50;
    p.training.steps = 40;
    p.output.points = 6;
    let e = p.check().unwrap();
    let s = run(&e, 2);
    assert_eq!(s.table.index_name, "step");
    assert_eq!(s.table.names, ["loss", "lambda_min", "w_move", "v_move"]);
    assert_eq!(s.table.index[0], 0.0);
    assert_eq!(*s.table.index.last().unwrap(), 40.0);
    assert!(s
        .table
        .column("lambda_min")
        .unwrap()
        .iter()
        .all(|v| v.is_finite()));
    let names: Vec<&str> = s.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["data.csv", "final/W_seed2.csv", "final/V_seed2.csv"]
    );
    let th = e.theory(2, &|_| {}).unwrap();
    assert_eq!(th.table.names, ["loss_pred", "loss_rate_bound"]);
    // L_pred(0) = L(0): the prediction starts from the actual initialisation.
    assert!((th.table.rows[0][0] / s.table.rows[0][0] - 1.0).abs() < 1e-12);
    let sum = e.summary(&s.table, &s.record);
    assert!(sum.iter().any(|(k, _)| k == "loss_ratio"));
    assert!(e
        .summary(&th.table, &th.record)
        .iter()
        .any(|(k, _)| k == "final_loss_pred"));
    for k in ["lambda_min_k_enc", "lambda_max_k_dec", "lambda_min_h_inf"] {
        assert!(s.record["spectra"][k].is_number(), "{k}");
    }
    assert!(rec(&s, "gram_error").is_finite());
    // tied: the extra column, no decoder file
    p.training.regime = Regime::Tied;
    p.training.lr_kernel = LrKernel::Regime;
    let t = run(&p.check().unwrap(), 0);
    assert_eq!(
        t.table.names,
        ["loss", "lambda_min", "w_move", "v_move", "w_norm2_per_m"]
    );
    assert_eq!(t.files.len(), 2);
    // progress adds up to total_steps
    let done = std::sync::atomic::AtomicU64::new(0);
    e.simulate(0, &|k| {
        done.fetch_add(k, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(done.into_inner(), e.params().training.steps);
}
