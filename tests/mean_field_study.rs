//! Parameter studies of the mean-field model through the common interface: a resumable
//! 6-point sweep over λ (`training.l2`), and the width validation whose fitted exponent of the
//! MSE gap is that of a 1/N bias.

mod common;

use common::aedyn_ok as aedyn;

/// Config R (ReLU, d = 50, four blocks) at N = 100 and a coarse step, to t = 2.
const SWEEP: &str = r#"
[model]
kind = "mean-field"
[network]
neurons = 100
[training]
step = 0.004
[output]
t_max = 2.0
points = 9
spacing = "linear"
[sweep]
what = "both"
[[sweep.axis]]
field = "training.l2"
values = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
"#;

#[test]
fn l2_sweep_resumes_and_shrinks_the_gains() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SWEEP).unwrap();
    let args = ["sweep", "--quiet", "--config", "s.toml", "--out", "out"];
    let e = aedyn(&args, dir.path());
    assert!(e.contains("computed 6 tasks, reused 0"), "{e}");
    let out = dir.path().join("out");
    let table = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    for col in [
        "training.l2",
        "seed",
        "source",
        "status",
        "final_test_error",
        "final_gain_0",
        "final_gain_3",
        "half_gain_time_0",
    ] {
        assert!(header.contains(&col), "{col} missing: {header:?}");
    }
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 12, "6 points × theory and simulation");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    // Larger λ shrinks the gain of the leading block, in theory and in SGD.
    for source in ["theory", "simulate"] {
        let g: Vec<f64> = rows
            .iter()
            .filter(|r| r[col("source")] == source)
            .map(|r| r[col("final_gain_0")].parse().unwrap())
            .collect();
        assert_eq!(g.len(), 6);
        assert!(g.windows(2).all(|w| w[1] < w[0]), "{source}: {g:?}");
    }
    // Kill two tasks' results: a rerun recomputes exactly those, the table is unchanged.
    let mut points: Vec<_> = std::fs::read_dir(out.join("points"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    points.sort();
    assert_eq!(points.len(), 6);
    for p in &points[..2] {
        std::fs::remove_file(p).unwrap();
    }
    let e = aedyn(&args, dir.path());
    assert!(e.contains("computed 2 tasks, reused 4"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("sweep.csv")).unwrap(),
        table
    );
}

#[test]
fn width_validation_fits_a_one_over_n_gap() {
    // The mf_width figure's setting: config R, T = 8, 17 records, seeds 0 and 1.
    let dir = tempfile::tempdir().unwrap();
    let cfg = aedyn::mean_field::DEFAULT_CONFIG.replace("points = 33", "points = 17");
    std::fs::write(dir.path().join("mf.toml"), cfg).unwrap();
    let e = aedyn(
        &[
            "validate",
            "--quiet",
            "--config",
            "mf.toml",
            "--sizes",
            "100,200,400,800",
            "--seeds",
            "2",
            "--out",
            "v",
        ],
        dir.path(),
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v/validate.json")).unwrap())
            .unwrap();
    assert_eq!(v["size_key"], "network.neurons");
    let fits = v["validation"]["fits"].as_array().unwrap();
    let mse = fits
        .iter()
        .find(|f| f["metric"] == "mse_gap_final")
        .unwrap();
    let slope = mse["exponent"].as_f64().unwrap();
    // A 1/N bias (Nguyen 2021's mean-field limit; measured −1.08 in the mf_width figure).
    assert!(
        (-1.3..=-0.7).contains(&slope),
        "MSE-gap exponent {slope}: {e}"
    );
    let csv = std::fs::read_to_string(dir.path().join("v/validate.csv")).unwrap();
    assert!(
        csv.starts_with("neurons,seeds,mse_gap_final,mse_gap_final_se,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);
}
