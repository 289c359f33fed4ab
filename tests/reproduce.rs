//! `aedyn reproduce` writes every figure (PNG + SVG + CSV); the PNGs decode to the expected
//! size, and the plotted CSV holds exactly the computed curves.

use std::collections::HashMap;
use std::path::Path;

use aedyn::autoencoder::params::Params;
use aedyn::plot::{PANEL_HEIGHT, PANEL_WIDTH};

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

#[test]
fn reproduce_writes_every_figure_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_aedyn"))
        // --quick: the generative and NTK figures in their small versions (their full
        // numbers are checked by their unit tests); every other figure in full.
        .args(["reproduce", "--quiet", "--quick", "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
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
    let csv = std::fs::read_to_string(out.join("validate.csv")).unwrap();
    let pts: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("test error max norm"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[2].parse::<f64>().unwrap().ln(),
                f[3].parse::<f64>().unwrap().ln(),
            )
        })
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
    let csv = std::fs::read_to_string(out.join("phase_diagram.csv")).unwrap();
    let mut rows: std::collections::BTreeMap<u64, Vec<(f64, f64)>> = Default::default();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == "0" {
            let (x, y, z): (f64, f64, f64) = (
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            rows.entry(y.to_bits()).or_default().push((x, z));
        }
    }
    assert_eq!(rows.len(), 20);
    for row in rows.values() {
        assert_eq!(row.len(), 20);
        assert!(
            row.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1),
            "{row:?}"
        );
    }
    // Mean-field width scaling: the finite-N gap of the plotted points is a 1/N bias
    // (docs/mean-field.md §5: slope −1.00 over N ∈ [100, 1600]); 2 seeds here.
    let csv = std::fs::read_to_string(out.join("mf_width.csv")).unwrap();
    let (x, y): (Vec<f64>, Vec<f64>) = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1].starts_with("|MSE"))
        .map(|f| (f[2].parse::<f64>().unwrap(), f[3].parse::<f64>().unwrap()))
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
    let csv = std::fs::read_to_string(out.join("activations.csv")).unwrap();
    let mut erf: Vec<(f64, f64)> = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[1] == "erf" {
            erf.push((f[2].parse().unwrap(), f[3].parse().unwrap()));
        }
    }
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
