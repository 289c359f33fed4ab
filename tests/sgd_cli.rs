//! `aedyn simulate` end to end: bit-identical output for any thread count, and a diverging
//! seed reported without losing the others.

use std::path::Path;
use std::process::Command;

fn simulate(config: &str, dir: &Path, threads: &str, extra: &[&str]) -> std::process::Output {
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .arg("simulate")
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("out"))
        .args(extra)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap()
}

const SMALL: &str = r#"
[data]
dim = 60
[network]
hidden = 3
[output]
t_max = 5.0
points = 6
spacing = "linear"
[simulation]
seeds = 4
test_samples = 50
"#;

#[test]
fn same_seeds_give_bit_identical_files_for_one_and_two_threads() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, threads) in [(&a, "1"), (&b, "2")] {
        let out = simulate(SMALL, dir.path(), threads, &["--quiet"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read =
        |d: &tempfile::TempDir, f: &str| std::fs::read(d.path().join("out").join(f)).unwrap();
    for f in [
        "sim.csv",
        "groups.csv",
        "init/W0_seed2.csv",
        "init/V0_seed3.csv",
        "init/groups0.csv",
    ] {
        assert_eq!(
            read(&a, f),
            read(&b, f),
            "{f} differs between 1 and 2 threads"
        );
    }
    let sim = String::from_utf8(read(&a, "sim.csv")).unwrap();
    assert!(sim.starts_with("seed,time,test_error,test_error_empirical,Q_0_0,Q_0_1,"));
    // 4 seeds × 6 output times, plus the header.
    assert_eq!(sim.lines().count(), 1 + 4 * 6);
    let run: serde_json::Value = serde_json::from_slice(&read(&a, "run.json")).unwrap();
    assert_eq!(run["seeds"].as_array().unwrap().len(), 4);
    assert!(run["status"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "ok"));
    assert!(run["steps_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_diverging_seed_fails_loudly_and_the_others_are_kept() {
    // Linear units with η = 36 at D = 60: at the edge of stability, so that of 8 seeds some
    // blow up and some finish (with the current random streams: 2 and 6). Which ones depends
    // on the exact random streams and arithmetic, so the test asserts the contract only: every
    // failed seed is reported with its time, and exactly the other seeds are written.
    let config = SMALL
        .replace("hidden = 3", "hidden = 3\nactivation = \"linear\"")
        .replace("[simulation]", "[training]\nlr = 36.0\n[simulation]")
        .replace("seeds = 4", "seeds = 8");
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(&config, dir.path(), "2", &["--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/run.json")).unwrap()).unwrap();
    let status = |which: &str| -> Vec<String> {
        run["status"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == which)
            .map(|s| s["seed"].as_u64().unwrap().to_string())
            .collect()
    };
    let (failed, ok) = (status("failed"), status("ok"));
    assert!(!failed.is_empty() && !ok.is_empty(), "{stderr}");
    assert_eq!(failed.len() + ok.len(), 8);
    for seed in &failed {
        let line = format!("simulation seed {seed} diverged at t =");
        assert!(stderr.contains(&line), "{stderr}");
    }
    let sim = std::fs::read_to_string(dir.path().join("out/sim.csv")).unwrap();
    let mut seeds: Vec<&str> = sim
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    seeds.dedup();
    assert_eq!(seeds, ok);
}
