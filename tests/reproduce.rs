//! `aedyn reproduce`'s figures, every one of the figure table: no legend covers a plotted
//! point, every series is named in the CSV, the PNGs decode to the expected size, and the
//! plotted CSV holds exactly the computed curves.

use std::collections::HashMap;
use std::path::Path;

use aedyn::autoencoder::params::Params;
use aedyn::plot::{legend_overlaps, write_figure, Figure, PALETTE, PANEL_HEIGHT, PANEL_WIDTH};

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not blank: many distinct colours.
    let distinct: std::collections::HashSet<&[u8]> =
        buf.chunks(info.line_size / info.width as usize).collect();
    assert!(
        distinct.len() > 50,
        "{}: only {} colours",
        path.display(),
        distinct.len()
    );
    (info.width, info.height)
}

/// What a referee checks on `fig`: no legend box covers a plotted point (computed by the
/// layout code that draws the figure), every series with data has a CSV name, and the
/// legend entries of a panel are told apart by colour, style or faintness.
fn check_figure(name: &str, fig: &Figure) {
    for c in legend_overlaps(fig).unwrap() {
        assert_eq!(c.covered, 0, "{name}: legend on data: {c:?}");
    }
    for (i, p) in fig.panels.iter().enumerate() {
        for s in &p.series {
            let named = s.csv_name().is_some_and(|n| !n.is_empty());
            assert!(named || s.x.is_empty(), "{name}, panel {i}: unnamed series");
        }
        let mut seen = std::collections::HashSet::new();
        for s in p.series.iter().filter(|s| s.label.is_some()) {
            let kind = std::mem::discriminant(&s.style);
            assert!(
                seen.insert((s.color % PALETTE.len(), kind, s.faint)),
                "{name}, panel {i}: legend entry {:?} looks like another",
                s.label
            );
        }
    }
}

/// The fields of a CSV line (RFC 4180 quoting).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                out.last_mut().unwrap().push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// The rows of a figure CSV, header skipped.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let csv = std::fs::read_to_string(path).unwrap();
    // Provenance comment lines (`# …`) come first, then the header.
    csv.lines()
        .skip_while(|l| l.starts_with('#'))
        .skip(1)
        .map(fields)
        .collect()
}

#[test]
fn every_figure_has_free_legends_named_series_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    // The command line: one figure.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_aedyn"))
        .args([
            "reproduce",
            "--quiet",
            "--quick",
            "--only",
            "ntk_memorisation",
            "--out",
        ])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(out.join("ntk_memorisation.png").exists());
    // Every figure as `reproduce --quick` builds and writes it: the generative and NTK
    // figures in their small versions (their full numbers are checked by their unit
    // tests), every other figure in full.
    let none = |_: u64| {};
    let mut ctx = aedyn::reproduce::Ctx::new(&none);
    ctx.quick = true;
    for f in aedyn::reproduce::FIGURES {
        let fig = f.build(&ctx).unwrap();
        check_figure(f.name, &fig);
        write_figure(&fig, &out.join(f.name), &Default::default()).unwrap();
    }
    for f in aedyn::reproduce::FIGURES {
        let (stem, (rows, cols)) = (f.name, f.panels);
        if matches!(f.model, "generative" | "ntk") {
            // Quick versions may have fewer panels.
            assert!(out.join(format!("{stem}.png")).exists(), "{stem}");
            continue;
        }
        let (cols, rows) = (cols as u32, rows as u32);
        let (w, h) = png_size(&out.join(format!("{stem}.png")));
        assert_eq!((w, h), (cols * PANEL_WIDTH, rows * PANEL_HEIGHT), "{stem}");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<text"),
            "{stem}.svg"
        );
        assert!(out.join(format!("{stem}.csv")).exists(), "{stem}.csv");
    }
    // The agreement-against-D figure: the fitted exponent of the plotted points lies in the
    // expected range for O(D^{-1/2}) fluctuations.
    let num = |f: &str| f.parse::<f64>().unwrap();
    let pts: Vec<(f64, f64)> = csv_rows(&out.join("validate.csv"))
        .into_iter()
        .filter(|f| f[1] == "test error max norm")
        .map(|f| (num(&f[2]).ln(), num(&f[3]).ln()))
        .collect();
    assert_eq!(pts.len(), 5);
    let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
    let (slope, _) = aedyn::base::compare::fit_slope(&x, &y);
    assert!(
        aedyn::autoencoder::EXPECTED_EXPONENT.contains(&slope),
        "exponent {slope}"
    );
    // The phase diagram: at every σ0 the second PC is learned sooner the stronger it is
    // (t_learn_2 decreases with θ₂/θ₁ along each row of the heat map).
    let mut grid: std::collections::BTreeMap<u64, Vec<(f64, f64)>> = Default::default();
    for f in csv_rows(&out.join("phase_diagram.csv")) {
        if f[0] == "0" {
            assert_eq!(f[1], "t_{learn,2}");
            grid.entry(num(&f[3]).to_bits())
                .or_default()
                .push((num(&f[2]), num(&f[4])));
        }
    }
    assert_eq!(grid.len(), 20);
    for row in grid.values() {
        assert_eq!(row.len(), 20);
        assert!(
            row.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1),
            "{row:?}"
        );
    }
    // Mean-field width scaling: the finite-N gap of the plotted points is a 1/N bias
    // (docs/mean-field.md §5: slope −1.00 over N ∈ [100, 1600]); 2 seeds here.
    let (x, y): (Vec<f64>, Vec<f64>) = csv_rows(&out.join("mf_width.csv"))
        .into_iter()
        .filter(|f| f[1].starts_with("|MSE"))
        .map(|f| (num(&f[2]), num(&f[3])))
        .filter(|(n, _)| *n >= aedyn::reproduce::mean_field::WIDTH_FIT_FROM as f64)
        .map(|(n, g)| (n.ln(), g.ln()))
        .unzip();
    assert_eq!(x.len(), 4);
    let (slope, _) = aedyn::base::compare::fit_slope(&x, &y);
    assert!(
        (-1.4..=-0.7).contains(&slope),
        "mean-field width slope {slope}"
    );
    // The erf theory curve of the activations figure equals a fresh theory run from the same
    // seed's initial state (same config, same time grid) to plotting precision.
    let erf: Vec<(f64, f64)> = csv_rows(&out.join("activations.csv"))
        .into_iter()
        .filter(|f| f[1] == "erf")
        .map(|f| (num(&f[2]), num(&f[3])))
        .collect();
    assert_eq!(erf.len(), 61);
    let mut c = Params::default();
    c.output.t_max = 1000.0;
    c.output.points = 61;
    let exp = c.check().unwrap();
    let theory = exp.ode().unwrap();
    let init = exp.initial_state(exp.replicate_seed(0)).unwrap();
    let times: Vec<f64> = erf.iter().map(|p| p.0).collect();
    let mut unique = times.clone();
    unique.dedup();
    let run = theory.run(&init, &unique, exp.tolerances).unwrap();
    let by_time: HashMap<u64, f64> = run
        .trajectory
        .snapshots
        .iter()
        .map(|s| (s.time.to_bits(), s.test_error))
        .collect();
    for (t, y) in erf {
        let expected = by_time[&t.to_bits()];
        // CSV values are written with {:e} (shortest round-trip): exact.
        assert_eq!(y, expected, "t = {t}");
    }
}
