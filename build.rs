//! Embeds the source revision (`AEDYN_REVISION`) recorded in every output: the git commit
//! when built from a checkout, with `-modified` when tracked files differ from it, and
//! `unknown` otherwise (e.g. a source archive).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=AEDYN_REVISION");
    // The files that change when HEAD moves or the index changes.
    for dir in [
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ]
    .into_iter()
    .flatten()
    {
        for f in ["HEAD", "index", "packed-refs"] {
            let p = Path::new(&dir).join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let p = Path::new(&dir).join(&head_ref);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let revision =
        std::env::var("AEDYN_REVISION")
            .ok()
            .unwrap_or_else(|| match git(&["rev-parse", "HEAD"]) {
                Some(commit) => {
                    let clean = Command::new("git")
                        .args(["diff", "--quiet", "HEAD", "--", "."])
                        .status()
                        .map(|s| s.success())
                        .unwrap_or(false);
                    if clean {
                        commit
                    } else {
                        format!("{commit}-modified")
                    }
                }
                None => "unknown".to_string(),
            });
    println!("cargo:rustc-env=AEDYN_REVISION={revision}");
}
