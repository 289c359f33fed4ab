//! What a user gets wrong is said plainly, before any numerics: each case an error naming
//! the field (exit 1, nothing written), or a warning printed and recorded in the output.

mod common;

use std::path::Path;

use common::{aedyn, aedyn_ok};

/// `args` fail, the message names `field`, and `--out o` was not created.
fn fails_naming(args: &[&str], field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args.to_vec();
    a.extend(["--out", "o"]);
    let (ok, out) = aedyn(&a, dir.path());
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(out.contains(field), "{args:?}: {out}");
    assert!(!dir.path().join("o").exists(), "{args:?} wrote o/");
}

fn record(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

#[test]
fn zero_initial_weights_are_refused() {
    fails_naming(&["theory", "--set", "init.std=0"], "init.std");
}

#[test]
fn validate_refuses_zero_seeds_and_repeated_sizes() {
    fails_naming(
        &["validate", "--seeds", "0", "--sizes", "50,100"],
        "--seeds",
    );
    fails_naming(
        &["validate", "--seeds", "1", "--sizes", "500,500"],
        "--sizes",
    );
}

#[test]
fn more_hidden_units_than_dimensions_is_refused() {
    fails_naming(
        &[
            "simulate",
            "--set",
            "network.hidden=10",
            "--set",
            "data.dim=5",
        ],
        "network.hidden",
    );
}

#[test]
fn a_mean_field_step_far_above_the_stable_range_is_refused() {
    fails_naming(
        &[
            "simulate",
            "--model",
            "mean-field",
            "--set",
            "training.step=100",
        ],
        "training.step",
    );
}

#[test]
fn all_zero_eigenvalues_are_refused() {
    fails_naming(
        &[
            "theory",
            "--model",
            "mean-field",
            "--set",
            "data.blocks=[[0.0, 50]]",
        ],
        "data.blocks",
    );
}

#[test]
fn tied_weights_with_an_order_one_start_warn_and_record_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = aedyn_ok(
        &[
            "theory",
            "--set",
            "network.tied=true",
            "--set",
            "init.std=1",
            "--set",
            "output.points=5",
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert!(
        out.contains("warning: init.std = 1 with tied weights"),
        "{out}"
    );
    let w = record(&dir.path().join("o"), "run.json")["warnings"].clone();
    assert!(w[0].as_str().unwrap().contains("tied weights"), "{w}");
}

#[test]
fn a_comparison_far_from_the_theory_warns_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    // η = 20 at D = 20: the simulation leaves the small-step ODE behind without diverging.
    let out = aedyn_ok(
        &[
            "compare",
            "--set",
            "training.lr=20",
            "--set",
            "data.dim=20",
            "--set",
            "output.t_max=20",
            "--set",
            "output.points=20",
            "--set",
            "simulation.test_samples=0",
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert!(out.contains("warning: `test_error`"), "{out}");
    let w = record(&dir.path().join("o"), "compare.json")["warnings"].clone();
    assert!(w[0].as_str().unwrap().contains("threshold"), "{w}");
    // The default comparison is within the threshold: no warning.
    let out = aedyn_ok(
        &["compare", "--set", "output.points=20", "--out", "p"],
        dir.path(),
    );
    assert!(!out.contains("warning"), "{out}");
    assert!(record(&dir.path().join("p"), "compare.json")
        .get("warnings")
        .is_none());
}

#[test]
fn system_errors_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let (ok, out) = aedyn(&["theory", "--out", "file/sub"], dir.path());
    assert!(!ok);
    assert_eq!(out.matches("os error").count(), 1, "{out}");
}
