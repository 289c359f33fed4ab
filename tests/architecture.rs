//! The import graph is one-way, as `src/lib.rs` draws it: neutral modules → `base` → the
//! model folders (no model imports another, the registry, the commands, sweeps, figures or the
//! CLI) → `registry` → `sweep`, `commands`, `figures`, `reproduce`. Checked on the source
//! text: every `crate::NAME` path outside comments.

use std::path::{Path, PathBuf};

const MODELS: [&str; 4] = ["autoencoder", "mean_field", "generative", "ntk"];
const UPPER: [&str; 5] = ["registry", "sweep", "commands", "figures", "reproduce"];
const NEUTRAL: [&str; 10] = [
    "error",
    "simd",
    "provenance",
    "resources",
    "rng",
    "io",
    "plot",
    "activation",
    "spectrum",
    "dataset",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file names as `crate::NAME` in code (not in comments).
fn imports(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` in macros is the crate root, not a module.
            if !name.is_empty() && !code[..i].ends_with('$') {
                out.push(name);
            }
        }
    }
    out
}

/// The top-level module of a file under `src/`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for f in &files {
        let me = module_of(&src, f);
        let forbidden: Vec<&str> = if NEUTRAL.contains(&me.as_str()) {
            MODELS
                .iter()
                .chain(&UPPER)
                .chain(&["base"])
                .copied()
                .collect()
        } else if me == "base" {
            MODELS.iter().chain(&UPPER).copied().collect()
        } else if MODELS.contains(&me.as_str()) {
            MODELS
                .iter()
                .filter(|m| **m != me)
                .chain(&UPPER)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        for name in imports(f) {
            if forbidden.contains(&name.as_str()) {
                violations.push(format!("{} imports crate::{name}", f.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // The registry is the only place that names every model.
    for f in &files {
        let me = module_of(&src, f);
        if me == "registry" || me == "reproduce" || me == "lib" || MODELS.contains(&me.as_str()) {
            continue;
        }
        let named: Vec<String> = imports(f)
            .into_iter()
            .filter(|n| MODELS.contains(&n.as_str()))
            .collect();
        assert!(
            named.is_empty(),
            "{} names models {named:?}: only the registry (and the figure makers) may",
            f.display()
        );
    }
}
