//! The NTK-regime model (Nguyen, Wong & Hegde 2021) through the common interface: its
//! figures (quick versions) from the one figure table, every command of the CLI with the
//! contract columns, and config errors naming the key.

mod common;

use common::{aedyn, aedyn_ok};

#[test]
fn quick_figures_of_the_table_build_with_data() {
    common::quick_figures_have_data("ntk", 6);
}

/// Joint training at width 200 on the default 12 points in ℝ⁶, 100 steps.
const SMALL: &str = r#"
[model]
kind = "ntk"
[network]
width = 200
[training]
steps = 100
[simulation]
seeds = 2
"#;

#[test]
fn every_command_runs_and_writes_the_contract_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("n.toml"), SMALL).unwrap();
    for cmd in ["theory", "simulate", "compare"] {
        aedyn_ok(
            &[cmd, "--quiet", "--config", "n.toml", "--out", cmd],
            dir.path(),
        );
    }
    let header = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        header("theory/theory.csv"),
        "step,loss_pred,loss_rate_bound"
    );
    assert_eq!(
        header("simulate/sim.csv"),
        "seed,step,loss,lambda_min,w_move,v_move"
    );
    let sim = std::fs::read_to_string(dir.path().join("simulate/sim.csv")).unwrap();
    let first: Vec<&str> = sim.lines().nth(1).unwrap().split(',').collect();
    assert!(
        first[3].parse::<f64>().unwrap() > 0.0,
        "λ_min at step 0: {first:?}"
    );
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("simulate/run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["model"], "ntk");
    let cmp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("compare/compare.json")).unwrap(),
    )
    .unwrap();
    assert!(
        cmp["observables"][0]["name"] == "loss",
        "{}",
        cmp["observables"]
    );
    // A width × regime sweep: success rate at a common η.
    std::fs::write(
        dir.path().join("s.toml"),
        format!(
            "{SMALL}[sweep]\nwhat = \"simulate\"\n[[sweep.axis]]\nfield = \"network.width\"\nvalues = [24, 96]\n\
             [[sweep.axis]]\nfield = \"training.regime\"\nvalues = [\"weak\", \"joint\"]\n"
        )
        .replace("[training]\n", "[training]\nlr = 0.3\n"),
    )
    .unwrap();
    aedyn_ok(
        &["sweep", "--quiet", "--config", "s.toml", "--out", "sw"],
        dir.path(),
    );
    let table = std::fs::read_to_string(dir.path().join("sw/sweep.csv")).unwrap();
    let head: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    for c in ["network.width", "training.regime", "success", "loss_ratio"] {
        assert!(head.contains(&c), "{c}: {head:?}");
    }
    assert_eq!(table.lines().count(), 1 + 4);
}

#[test]
fn bad_configs_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("[network]\nwidth = 0\n", "network.width"),
        ("[network]\nhidden = 3\n", "network.hidden"),
        ("[data]\nsamples = 0\n", "data.samples"),
    ] {
        let text = format!("[model]\nkind = \"ntk\"\n{extra}");
        std::fs::write(dir.path().join("b.toml"), text).unwrap();
        let (ok, err) = aedyn(&["theory", "--config", "b.toml", "--out", "o"], dir.path());
        assert!(!ok && err.contains(key), "{key}: {err}");
        assert!(
            !dir.path().join("o").exists(),
            "nothing written for a bad config"
        );
    }
}
