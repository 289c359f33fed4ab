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

/// Every figure of `model` in the figure table builds in its quick version (there are
/// `count`), and none of its panels is empty.
pub fn quick_figures_have_data(model: &str, count: usize) {
    let none = |_: u64| {};
    let mut ctx = aedyn::reproduce::Ctx::new(&none);
    ctx.quick = true;
    let specs: Vec<_> = aedyn::reproduce::FIGURES
        .iter()
        .filter(|f| f.model == model)
        .collect();
    assert_eq!(specs.len(), count);
    for spec in specs {
        let fig = spec
            .build(&ctx)
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert!(!fig.panels.is_empty(), "{}", spec.name);
        for p in &fig.panels {
            assert!(
                p.series.iter().any(|s| s.y.iter().any(|v| v.is_finite())),
                "{}: an empty panel",
                spec.name
            );
        }
    }
}
