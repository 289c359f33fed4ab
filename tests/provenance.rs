//! Every output says where it came from: `run.toml` re-runs the experiment byte for byte,
//! and every figure (PNG text chunks, SVG metadata, CSV comment lines) carries the config,
//! seeds, crate version and source revision — the commands' figures and those under `plots/`.

mod common;

use std::path::Path;

use common::aedyn_ok;

/// Small runs of each model's default config.
const CASES: [(&str, &[&str]); 4] = [
    (
        "autoencoder",
        &["--set", "output.points=6", "--set", "output.t_max=2"],
    ),
    ("mean-field", &["--set", "output.points=5"]),
    ("generative", &["--set", "output.points=5"]),
    ("ntk", &["--set", "output.points=5"]),
];

#[test]
fn run_toml_reproduces_the_theory_of_every_model() {
    let dir = tempfile::tempdir().unwrap();
    for (model, set) in CASES {
        let mut args = vec!["theory", "--model", model, "--seed", "3", "--out", "a"];
        args.extend(set);
        aedyn_ok(&args, dir.path());
        aedyn_ok(
            &["theory", "--config", "a/run.toml", "--out", "b"],
            dir.path(),
        );
        let read = |d: &str, f: &str| std::fs::read(dir.path().join(d).join(f)).unwrap();
        assert_eq!(read("a", "theory.csv"), read("b", "theory.csv"), "{model}");
        let rec: serde_json::Value = serde_json::from_slice(&read("a", "run.json")).unwrap();
        assert_eq!(rec["model"], model);
        assert_eq!(rec["aedyn_version"], aedyn::provenance::VERSION);
        assert_eq!(rec["aedyn_revision"], aedyn::provenance::REVISION);
        for d in ["a", "b"] {
            std::fs::remove_dir_all(dir.path().join(d)).unwrap();
        }
    }
}

/// The provenance fields of a PNG's `iTXt` chunks.
fn png_fields(path: &Path) -> Vec<(String, String)> {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let reader = dec.read_info().unwrap();
    reader
        .info()
        .utf8_text
        .iter()
        .map(|c| (c.keyword.clone(), c.get_text().unwrap()))
        .collect()
}

/// `stem.png`, `stem.svg` and `stem.csv` carry version, revision, model and — unless
/// `built_in` (reproduce figures, whose configs the revision fixes) — seeds and config.
fn assert_figure_provenance(stem: &Path, model: &str, built_in: bool) {
    let with = |ext: &str| stem.with_extension(ext);
    let png = png_fields(&with("png"));
    let get = |k: &str| {
        png.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{}: no `{k}` chunk", stem.display()))
    };
    assert_eq!(get("aedyn-version"), aedyn::provenance::VERSION);
    assert!(!get("aedyn-revision").is_empty());
    assert_eq!(get("model"), model, "{}", stem.display());
    assert!(get("command").starts_with("aedyn "));
    if !built_in {
        assert!(!get("seeds").is_empty(), "{}", stem.display());
        let cfg: toml::Table = toml::from_str(&get("config")).unwrap();
        assert_eq!(cfg["model"]["kind"].as_str(), Some(model));
    }
    let svg = std::fs::read_to_string(with("svg")).unwrap();
    for k in [
        "aedyn-version",
        "aedyn-revision",
        "command",
        "seeds",
        "config",
    ] {
        assert!(
            svg.contains(&format!("<aedyn:{k} ")),
            "{}: {k}",
            stem.display()
        );
    }
    assert!(svg.contains(&format!(
        ">{}</aedyn:aedyn-version>",
        aedyn::provenance::VERSION
    )));
    let csv = std::fs::read_to_string(with("csv")).unwrap();
    let head: Vec<&str> = csv.lines().take_while(|l| l.starts_with('#')).collect();
    assert!(
        head.iter()
            .any(|l| *l == format!("# aedyn-version: {}", aedyn::provenance::VERSION)),
        "{}",
        stem.display()
    );
    assert!(head.iter().any(|l| l.starts_with("# aedyn-revision: ")));
}

#[test]
fn compare_and_validate_figures_carry_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "--set",
        "data.dim=60",
        "--set",
        "output.points=5",
        "--set",
        "output.t_max=1",
        "--set",
        "simulation.test_samples=0",
    ];
    let mut args = vec!["compare", "--seeds", "2", "--out", "c"];
    args.extend(small);
    aedyn_ok(&args, dir.path());
    assert_figure_provenance(&dir.path().join("c/compare"), "autoencoder", false);
    let mut args = vec!["validate", "--sizes", "40,60", "--seeds", "1", "--out", "v"];
    args.extend(small);
    aedyn_ok(&args, dir.path());
    // The plotted data is `validate.figure.csv` (validate.csv is the table).
    let v = dir.path().join("v");
    std::fs::copy(v.join("validate.figure.csv"), v.join("fig.csv")).unwrap();
    std::fs::copy(v.join("validate.png"), v.join("fig.png")).unwrap();
    std::fs::copy(v.join("validate.svg"), v.join("fig.svg")).unwrap();
    assert_figure_provenance(&v.join("fig"), "autoencoder", false);
}

#[test]
fn every_figure_under_plots_carries_provenance() {
    let plots = Path::new(env!("CARGO_MANIFEST_DIR")).join("plots");
    let mut seen = 0;
    for spec in aedyn::reproduce::FIGURES {
        let stem = plots.join(spec.name);
        assert!(
            stem.with_extension("png").exists(),
            "plots/{}.png missing: run `aedyn reproduce`",
            spec.name
        );
        assert_figure_provenance(&stem, spec.model, true);
        seen += 1;
    }
    assert_eq!(seen, aedyn::reproduce::FIGURES.len());
}
