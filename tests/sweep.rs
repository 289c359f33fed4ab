//! `aedyn sweep`: resumable runs (only missing tasks are recomputed, the table is
//! identical), chunked runs + `--collect` equal the local run, thread-count invariance,
//! diverging points recorded, bad fields rejected before anything runs, and the theory's
//! exact η·t scaling recovered by the timescale extraction.

use std::path::Path;

use serde::Deserialize;
use std::process::{Command, Output};

fn aedyn(args: &[&str], dir: &Path, threads: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aedyn"));
    c.args(args).current_dir(dir);
    if let Some(t) = threads {
        c.env("RAYON_NUM_THREADS", t);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

/// Theory and SGD at D = 200, 3 × 2 points × 2 seeds = 12 tasks.
const SMALL: &str = r#"
[data]
dim = 200
[output]
t_max = 20.0
points = 31
[simulation]
test_samples = 0
[sweep]
what = "both"
seeds = 2
[[sweep.axis]]
field = "training.lr"
values = [0.2, 0.4, 0.8]
[[sweep.axis]]
field = "data.spikes.1"
values = [5.0, 15.0]
"#;

fn point_files(out: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(out.join("points"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn killed_sweep_resumes_recomputing_only_missing_tasks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SMALL).unwrap();
    let args = ["sweep", "--quiet", "--config", "s.toml", "--out", "out"];
    let e = ok(&aedyn(&args, dir.path(), None));
    assert!(e.contains("computed 12 tasks, reused 0"), "{e}");
    let out = dir.path().join("out");
    let table = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("training.lr,data.spikes.1,seed,source,status,final_test_error,diverged,divergence_time,t_learn_1,t_learn_2,"),
        "{header}"
    );
    assert_eq!(table.lines().count(), 1 + 12 * 2);
    // A kill: three tasks lost (their records gone, one leaving a half-written temp file),
    // the others untouched.
    let files = point_files(&out);
    assert_eq!(files.len(), 12);
    for f in [&files[0], &files[5], &files[11]] {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::write(out.join("points").join(".x.json.123.tmp"), "{\"trunc").unwrap();
    let kept: Vec<(std::path::PathBuf, std::time::SystemTime)> = point_files(&out)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, m)
        })
        .collect();
    std::fs::remove_file(out.join("sweep.csv")).unwrap();
    let e = ok(&aedyn(&args, dir.path(), None));
    assert!(e.contains("computed 3 tasks, reused 9"), "{e}");
    for (p, m) in kept {
        assert_eq!(
            std::fs::metadata(&p).unwrap().modified().unwrap(),
            m,
            "{p:?} rewritten"
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("sweep.csv")).unwrap(),
        table
    );
    // Nothing left to do; the same table again, from one thread.
    let e = ok(&aedyn(&args, dir.path(), Some("1")));
    assert!(e.contains("computed 0 tasks, reused 12"), "{e}");
    // A companion file emptied (or altered) no longer matches its record's checksum: that
    // task alone is recomputed, and the table is the same.
    let sims: Vec<_> = std::fs::read_dir(out.join("points"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".sim.csv"))
        .collect();
    assert_eq!(sims.len(), 12);
    std::fs::write(&sims[4], "").unwrap();
    let e = ok(&aedyn(&args, dir.path(), None));
    assert!(e.contains("computed 1 tasks, reused 11"), "{e}");
    assert!(!std::fs::read(&sims[4]).unwrap().is_empty());
    assert_eq!(
        std::fs::read_to_string(out.join("sweep.csv")).unwrap(),
        table
    );

    // Chunks (as the SLURM array runs them) into a fresh folder, one thread each: collect
    // first reports the missing chunk, then equals the local table.
    let chunk = |i: &str| {
        let a = [
            "sweep-point",
            "--quiet",
            "--config",
            "s.toml",
            "--out",
            "chunks",
            "--chunk",
            i,
            "--chunk-size",
            "5",
        ];
        ok(&aedyn(&a, dir.path(), Some("1")));
    };
    chunk("0");
    chunk("2");
    let collect = [
        "sweep",
        "--collect",
        "--config",
        "s.toml",
        "--out",
        "chunks",
    ];
    let o = aedyn(&collect, dir.path(), None);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("5 of 12 tasks missing"),
        "{e}"
    );
    chunk("1");
    ok(&aedyn(&collect, dir.path(), None));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("chunks/sweep.csv")).unwrap(),
        table
    );
    let bad = aedyn(
        &[
            "sweep-point",
            "--config",
            "s.toml",
            "--out",
            "chunks",
            "--chunk",
            "3",
            "--chunk-size",
            "5",
        ],
        dir.path(),
        None,
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--chunk"));

    // The job-array script.
    let o = aedyn(
        &[
            "sweep",
            "--slurm",
            "--chunk-size",
            "5",
            "--partition",
            "short",
            "--time",
            "00:10:00",
            "--mem",
            "1G",
            "--config",
            "s.toml",
            "--out",
            "cl",
        ],
        dir.path(),
        None,
    );
    ok(&o);
    let script = std::fs::read_to_string(dir.path().join("cl/sweep.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-2",
        "#SBATCH --partition=short",
        "#SBATCH --time=00:10:00",
        "#SBATCH --mem=1G",
        "sweep-point",
        "--chunk \"$SLURM_ARRAY_TASK_ID\" --chunk-size 5",
    ] {
        assert!(script.contains(want), "{want}\n{script}");
    }
}

#[test]
fn divergence_is_recorded_and_bad_fields_stop_before_running() {
    let dir = tempfile::tempdir().unwrap();
    // SGD at D = 100 diverges for η ≫ D (docs/autoencoder.md §1.2: η² terms are O(η²/D) per unit time).
    let text = r#"
[data]
dim = 100
[output]
t_max = 0.5
points = 11
spacing = "linear"
[simulation]
test_samples = 0
[sweep]
what = "simulate"
[[sweep.axis]]
field = "training.lr"
values = [0.4, 5000.0]
"#;
    std::fs::write(dir.path().join("d.toml"), text).unwrap();
    ok(&aedyn(
        &["sweep", "--quiet", "--config", "d.toml", "--out", "o"],
        dir.path(),
        None,
    ));
    let table = std::fs::read_to_string(dir.path().join("o/sweep.csv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0][3], rows[0][5]), ("ok", "false"));
    assert_eq!((rows[1][3], rows[1][5]), ("diverged", "true"));
    let t: f64 = rows[1][6].parse().unwrap();
    assert!(t > 0.0 && t <= 0.5, "{t}");

    for (field, value) in [
        ("training.learning_rate", "0.1"),
        ("data.spikes.7", "1.0"),
        ("training.lr", "\"fast\""),
    ] {
        let bad = format!("[sweep]\n[[sweep.axis]]\nfield = \"{field}\"\nvalues = [{value}]\n");
        std::fs::write(dir.path().join("b.toml"), bad).unwrap();
        let o = aedyn(
            &["sweep", "--config", "b.toml", "--out", "never"],
            dir.path(),
            None,
        );
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && e.contains(field), "{field}: {e}");
        assert!(!dir.path().join("never").exists());
    }
}

/// Without weight decay the ODE depends on η and t only through η·t (docs/autoencoder.md §4: the RHS is
/// linear in η), so with output grids scaled by 1/η the extracted times satisfy
/// η·t_learn_m = const and the plateau edges scale alike — an exact check of the whole
/// sweep + analysis pipeline (zip grid, integer-free float axes).
#[test]
fn theory_timescales_scale_exactly_as_one_over_eta() {
    let sweep = aedyn::sweep::Sweep::from_toml(
        r#"
[data]
spikes = [81.0, 25.0, 9.0]
[network]
hidden = 3
[output]
points = 121
[sweep]
grid = "zip"
[[sweep.axis]]
field = "training.lr"
values = [0.1, 0.4, 1.6]
[[sweep.axis]]
field = "output.t_max"
values = [4000.0, 1000.0, 250.0]
[[sweep.axis]]
field = "output.t_min"
values = [0.04, 0.01, 0.0025]
"#,
        Path::new("scaling.toml"),
        Path::new("."),
    )
    .unwrap();
    let results = aedyn::sweep::evaluate(&sweep, sweep.tasks().unwrap(), &|_| {});
    let scaled = |name: &str| -> Vec<f64> {
        results
            .iter()
            .map(|(t, r)| {
                let v = r.results[0]
                    .get(name)
                    .unwrap_or_else(|| panic!("{name} missing"));
                t.experiment.config()["training"]["lr"].as_f64().unwrap() * v
            })
            .collect()
    };
    // Integrator tolerance rtol 1e-8 over ~10³ time units: relative agreement ≪ 1e-5.
    const REL: f64 = 1e-5;
    for name in [
        "t_learn_1",
        "t_learn_2",
        "t_learn_3",
        "plateau_1_start",
        "plateau_1_end",
        "plateau_2_end",
    ] {
        let v = scaled(name);
        for x in &v[1..] {
            assert!((x / v[0] - 1.0).abs() < REL, "{name}: {v:?}");
        }
    }
    // Sequential learning: PC m is learned after the plateau at ε_PCA(m−1) and before
    // the one at ε_PCA(m) ends.
    let s = &results[1].1.results[0];
    let get = |name: String| s.get(&name).unwrap_or_else(|| panic!("{name}: {s:?}"));
    for m in 1..3 {
        let t = get(format!("t_learn_{m}"));
        let before = get(format!("plateau_{}_start", m - 1));
        let after = get(format!("plateau_{m}_end"));
        assert!(before < t && t < after, "m = {m}: {s:?}");
        assert!(t < get(format!("t_learn_{}", m + 1)));
    }
    let pca = results[1].1.config["model"].clone();
    assert!(pca.is_null(), "the recorded config is the model's params");
    let exp = aedyn::autoencoder::Params::deserialize(results[1].1.config.clone())
        .unwrap()
        .check()
        .unwrap();
    let pca = exp.covariance.pca_errors(3);
    // Plateau levels within 15 % of ε_PCA(m) (the erf plateaus sit slightly above).
    for (m, want) in pca.iter().enumerate().take(3).skip(1) {
        let level = get(format!("plateau_{m}_level"));
        assert!((level / want - 1.0).abs() < 0.15, "{level} vs {want}");
    }
}
