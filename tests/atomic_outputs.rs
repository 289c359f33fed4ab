//! A command killed at any moment of its write phase leaves `--out` holding either the old
//! complete run or the new complete run, never a mix: every file write can be made to abort
//! the process (`AEDYN_ABORT_AFTER_WRITES=n`, a test hook in `io::write_atomic`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every file under `dir` (relative path → content).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn run(dir: &Path, args: &[&str], abort_after: Option<usize>) -> bool {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aedyn"));
    c.args(args).current_dir(dir).env("CI", "1");
    if let Some(n) = abort_after {
        c.env("AEDYN_ABORT_AFTER_WRITES", n.to_string());
    }
    c.output().unwrap().status.success()
}

/// The record of a run folder (`run.json`, `compare.json` or `validate.json`).
fn record(files: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let name = ["run.json", "compare.json", "validate.json"]
        .into_iter()
        .find(|n| files.contains_key(*n))
        .expect("a record");
    serde_json::from_slice(&files[name]).unwrap()
}

const CONFIG: &str = "[data]\ndim = 100\n[output]\nt_max = 1.0\npoints = 5\n[simulation]\nseeds = 2\ntest_samples = 0\n";

#[test]
fn killed_commands_leave_the_old_or_the_new_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), CONFIG).unwrap();
    for cmd in [
        &["simulate"][..],
        &["compare"],
        &["validate", "--sizes", "50,100", "--seeds", "1"],
    ] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend(["--config", "c.toml", "--out", "o"]);
        let _ = std::fs::remove_dir_all(dir.path().join("o"));
        assert!(run(dir.path(), &args, None), "{cmd:?}");
        let old = snapshot(&dir.path().join("o"));
        let mut new_args = args.clone();
        new_args.extend(["--set", "init.std=0.2"]);
        let mut finished = false;
        for n in 1..40 {
            let ok = run(dir.path(), &new_args, Some(n));
            let now = snapshot(&dir.path().join("o"));
            if ok {
                // Fewer writes than n: the new run is complete.
                assert_eq!(record(&now)["config"]["init"]["std"], 0.2, "{cmd:?}");
                finished = true;
                break;
            }
            assert_eq!(now, old, "{cmd:?}: killed after write {n}, --out changed");
        }
        assert!(finished, "{cmd:?}: never finished");
        // The next run cleans up what the killed ones left beside --out.
        assert!(run(dir.path(), &args, None));
        let stray: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".o."))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

#[test]
fn a_killed_sweep_resumes_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = format!(
        "{CONFIG}[sweep]\nwhat = \"both\"\n[[sweep.axis]]\nfield = \"training.lr\"\nvalues = [0.2, 0.4, 0.8]\n"
    );
    std::fs::write(dir.path().join("s.toml"), sweep).unwrap();
    let args = ["sweep", "--config", "s.toml", "--out", "clean"];
    assert!(run(dir.path(), &args, None));
    let clean = std::fs::read(dir.path().join("clean/sweep.csv")).unwrap();
    for n in [1, 2, 3, 5, 8] {
        let out = format!("k{n}");
        let a = ["sweep", "--config", "s.toml", "--out", out.as_str()];
        assert!(!run(dir.path(), &a, Some(n)), "write {n} should abort");
        assert!(run(dir.path(), &a, None));
        let resumed = std::fs::read(dir.path().join(&out).join("sweep.csv")).unwrap();
        assert_eq!(resumed, clean, "killed after write {n}");
    }
}
