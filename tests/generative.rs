//! The generative model (Nguyen, Wong & Hegde 2019) through the common interface: its
//! figures (quick versions) from the one figure table, every command of the CLI, and config
//! errors naming the key and the model.

mod common;

use common::aedyn;

#[test]
fn quick_figures_of_the_table_build_with_data() {
    common::quick_figures_have_data("generative", 5);
}

/// A small orthonormal case: n = 12, m = 8, k = 2, 40 steps.
const SMALL: &str = r#"
[model]
kind = "generative"
[data]
dim = 12
atoms = 8
sparsity = 2
samples = 2000
[training]
steps = 40
[simulation]
seeds = 2
test_samples = 500
"#;

#[test]
fn every_command_runs_and_writes_the_contract_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.toml"), SMALL).unwrap();
    for cmd in ["theory", "simulate", "compare"] {
        let (ok, err) = aedyn(
            &[cmd, "--quiet", "--config", "g.toml", "--out", cmd],
            dir.path(),
        );
        assert!(ok, "{cmd}: {err}");
    }
    let header = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let cols = "step,distance_max,distance_mean,angle_distance_mean,loss,support_f1";
    assert_eq!(header("theory/theory.csv"), cols);
    assert_eq!(header("simulate/sim.csv"), format!("seed,{cols}"));
    for f in [
        "theory/init/weights.csv",
        "theory/final/weights.csv",
        "simulate/final/weights_seed0.csv",
        "compare/compare.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let cmp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("compare/compare.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cmp["model"], "generative");
    assert!(cmp["rate_predicted"].as_f64().unwrap() > 0.0);
    // A sweep over the initial distance δ.
    std::fs::write(
        dir.path().join("s.toml"),
        format!("{SMALL}[sweep]\nwhat = \"theory\"\n[[sweep.axis]]\nfield = \"init.distance\"\nvalues = [0.1, 0.3]\n"),
    )
    .unwrap();
    let (ok, err) = aedyn(
        &["sweep", "--quiet", "--config", "s.toml", "--out", "sw"],
        dir.path(),
    );
    assert!(ok, "{err}");
    let table = std::fs::read_to_string(dir.path().join("sw/sweep.csv")).unwrap();
    let head: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    for c in [
        "init.distance",
        "final_distance_max",
        "rate_fit",
        "rate_predicted",
        "success",
    ] {
        assert!(head.contains(&c), "{c}: {head:?}");
    }
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn bad_configs_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("[data]\nsparsity = 20\n", "data.sparsity"),
        ("[network]\nneurons = 3\n", "network.neurons"),
        ("[network]\ntau = 0.0\n", "network.tau"),
    ] {
        let text = format!("[model]\nkind = \"generative\"\n{extra}");
        std::fs::write(dir.path().join("b.toml"), text).unwrap();
        let (ok, err) = aedyn(&["theory", "--config", "b.toml", "--out", "o"], dir.path());
        assert!(!ok && err.contains(key), "{key}: {err}");
        assert!(
            !dir.path().join("o").exists(),
            "nothing written for a bad config"
        );
    }
}
