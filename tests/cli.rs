//! The command line as a user meets it: outputs, headers, bad configs, weights from files.

use std::path::Path;
use std::process::Command;

fn aedyn(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args(args)
        .current_dir(dir)
        .env("CI", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn theory_writes_exact_header_and_records_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = aedyn(&["theory", "--out", "o"], dir.path());
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(dir.path().join("o/theory.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "time,test_error,Q_0_0,Q_0_1,Q_1_0,Q_1_1,R_0_0,R_0_1,R_1_0,R_1_1,T_0_0,T_0_1,T_1_0,T_1_1,T0_0_0,T0_0_1,T0_1_0,T0_1_1"
    );
    assert_eq!(csv.lines().count(), 1 + 121);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/run.json")).unwrap())
            .unwrap();
    assert_eq!(run["aedyn_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["config"]["training"]["lr"], 0.4);
    assert_eq!(run["pca_errors"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_config_fails_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[training]\nlr = -0.4\n").unwrap();
    let (ok, err) = aedyn(
        &["theory", "--config", "bad.toml", "--out", "o"],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("training.lr"), "{err}");
    assert!(!dir.path().join("o").exists());
    std::fs::write(dir.path().join("typo.toml"), "[network]\nhiden = 3\n").unwrap();
    let (ok, err) = aedyn(
        &["theory", "--config", "typo.toml", "--out", "o"],
        dir.path(),
    );
    assert!(!ok && err.contains("hiden"), "{err}");
}

#[test]
fn print_default_config_is_the_embedded_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args(["theory", "--print-default-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        aedyn::autoencoder::params::DEFAULT_CONFIG
    );
}

/// init.kind = "weights" with eigenvalues and eigenvectors from files gives the same trajectory
/// as the random init that drew those weights (canonical basis, same seed).
#[test]
fn weights_from_files_reproduce_the_random_init() {
    let dir = tempfile::tempdir().unwrap();
    let d = 40;
    let mut rho: Vec<String> = vec!["2.8e-2".into(); d];
    rho[0] = format!("{:e}", 25.0 / 35.0 * d as f64);
    rho[1] = format!("{:e}", 9.0 / 35.0 * d as f64);
    std::fs::write(dir.path().join("rho.csv"), rho.join("\n")).unwrap();
    let eye = nalgebra::DMatrix::<f64>::identity(d, d);
    aedyn::io::write_matrix_csv(&dir.path().join("U.csv"), &eye).unwrap();
    let (w, v) = aedyn::rng::initial_weights(2, d, 0.1, 0);
    aedyn::io::write_matrix_csv(&dir.path().join("W0.csv"), &w).unwrap();
    aedyn::io::write_matrix_csv(&dir.path().join("V0.csv"), &v).unwrap();
    let data = format!(
        "[data]\nkind = \"eigen\"\ndim = {d}\nnormalize = false\neigenvalues = \"rho.csv\"\n"
    );
    std::fs::write(dir.path().join("files.toml"), format!("{data}eigenvectors = \"U.csv\"\n[init]\nkind = \"weights\"\nencoder = \"W0.csv\"\ndecoder = \"V0.csv\"\n")).unwrap();
    std::fs::write(
        dir.path().join("random.toml"),
        format!("{data}[init]\nseed = 0\n"),
    )
    .unwrap();
    for (cfg, out) in [("files.toml", "a"), ("random.toml", "b")] {
        let (ok, err) = aedyn(&["theory", "--config", cfg, "--out", out], dir.path());
        assert!(ok, "{err}");
    }
    let a = std::fs::read_to_string(dir.path().join("a/theory.csv")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("b/theory.csv")).unwrap();
    let parse = |s: &str| -> Vec<f64> {
        s.lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .map(|v| v.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (pa, pb) = (parse(&a), parse(&b));
    assert_eq!(pa.len(), pb.len());
    // Weights written with full precision; the bulk factor is rotated by a different
    // factorisation, so agreement is to integration accuracy.
    let worst = pa
        .iter()
        .zip(&pb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-7, "{worst}");
}

#[test]
fn compare_writes_tables_figure_and_deviations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "[data]\ndim = 200\n[output]\nt_max = 20.0\npoints = 21\n[simulation]\ntest_samples = 100\n").unwrap();
    let (ok, err) = aedyn(
        &[
            "compare", "--config", "c.toml", "--out", "o", "--seeds", "2",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    for f in [
        "theory.csv",
        "sim.csv",
        "compare.json",
        "compare.png",
        "compare.svg",
        "compare.csv",
    ] {
        assert!(dir.path().join("o").join(f).exists(), "{f}");
    }
    let th = std::fs::read_to_string(dir.path().join("o/theory.csv")).unwrap();
    assert!(th.starts_with("seed,time,test_error,Q_0_0"));
    let sim = std::fs::read_to_string(dir.path().join("o/sim.csv")).unwrap();
    assert!(sim.starts_with("seed,time,test_error,test_error_empirical,Q_0_0"));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/compare.json")).unwrap())
            .unwrap();
    let te = j["observables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "test_error")
        .unwrap();
    assert_eq!(te["per_seed"].as_array().unwrap().len(), 2);
    let dev = te["mean_over_seeds"]["max_norm"].as_f64().unwrap();
    // D = 200 is small, but theory and SGD still agree to a few percent of the range.
    assert!(dev > 0.0 && dev < 0.15, "{dev}");
}

/// Sizes beyond the machine's memory are refused before anything is allocated: an error
/// naming the field, exit status 1 (not an abort), and no output folder.
#[test]
fn huge_sizes_fail_naming_the_field_without_aborting() {
    let dir = tempfile::tempdir().unwrap();
    for (set, field) in [
        ("data.dim=1000000000", "data.dim"),
        ("output.points=1000000000", "output.points"),
        ("network.hidden=100000", "network.hidden"),
    ] {
        for cmd in ["theory", "simulate", "compare"] {
            let out = Command::new(env!("CARGO_BIN_EXE_aedyn"))
                .args([cmd, "--set", set, "--out", "o"])
                .current_dir(dir.path())
                .env("CI", "1")
                .env("AEDYN_MAX_MEMORY", "16G")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd} {set}: {err}");
            assert!(err.contains(&format!("`{field}`")), "{cmd} {set}: {err}");
            assert!(err.contains("GiB") || err.contains("TiB"), "{err}");
            assert!(!dir.path().join("o").exists());
        }
    }
}

/// An unusable `--out` is refused before the work starts: the long comparison below (tens of
/// seconds) never runs.
#[test]
fn unusable_out_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let long = ["--set", "data.dim=20000", "--set", "simulation.seeds=8"];
    for out in ["file", "file/sub"] {
        for cmd in ["compare", "simulate", "theory"] {
            let start = std::time::Instant::now();
            let mut args = vec![cmd, "--out", out];
            args.extend(long);
            let (ok, err) = aedyn(&args, dir.path());
            assert!(!ok, "{cmd} --out {out}");
            assert!(err.contains("file"), "{err}");
            // Far below the seconds the comparison itself would take.
            assert!(start.elapsed().as_secs_f64() < 5.0, "{cmd} --out {out}");
        }
    }
}
