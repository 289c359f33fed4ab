//! Shared helpers of the integration tests (each test binary uses a subset of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Run the `aedyn` binary in `dir` (as in CI: no progress bars); returns whether it
/// succeeded and its stderr followed by its stdout.
pub fn aedyn(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args(args)
        .current_dir(dir)
        .env("CI", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

/// [`aedyn`] that must succeed; returns its output.
pub fn aedyn_ok(args: &[&str], dir: &Path) -> String {
    let (ok, out) = aedyn(args, dir);
    assert!(ok, "aedyn {args:?}: {out}");
    out
}
