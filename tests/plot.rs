//! Rendering tests for the `plot` module: both files written, PNG size and content,
//! SVG text, robustness to bad data, no temporary files left behind.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use aedyn::plot::{render, Figure, HLine, LegendPos, Panel, Series, SeriesStyle, PALETTE};
use aedyn::Error;

fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64))
        .collect()
}

/// A two-panel figure like the paper's: log-t test error (theory lines, simulation
/// markers, a band, faint seeds, PCA plateaus) and linear-t overlaps with error bars.
fn demo_figure() -> Figure {
    let t = logspace(-1.0, 3.0, 200);
    let eg = |t: f64, k: f64| 0.3 * (-t / k).exp() + 0.1 * (-t / (20.0 * k)).exp() + 0.05;
    let theory: Vec<f64> = t.iter().map(|&t| eg(t, 5.0)).collect();
    let mut t_sim = logspace(-1.0, 3.0, 25);
    t_sim.push(f64::NAN); // skipped
    t_sim.push(-1.0); // non-positive on a log axis: skipped
    let sim: Vec<f64> = t_sim.iter().map(|&t| eg(t, 5.0) * 1.03).collect();
    let lo: Vec<f64> = theory.iter().map(|e| e * 0.9).collect();
    let hi: Vec<f64> = theory.iter().map(|e| e * 1.1).collect();
    let mut panel_a = Panel::new("t", "ε_g");
    panel_a.title = Some("(a) erf, K = 2, η = 0.5".into());
    panel_a.x_log = true;
    panel_a.y_log = true;
    for seed in 0..3 {
        let y: Vec<f64> = t
            .iter()
            .map(|&t| eg(t, 5.0) * (1.0 + 0.08 * (t + seed as f64).sin()))
            .collect();
        panel_a.series.push(
            Series::new(t.clone(), y, SeriesStyle::Line)
                .with_color(5)
                .faint(),
        );
    }
    panel_a.series.push(
        Series::new(
            t.clone(),
            t.iter().map(|&t| eg(t, 50.0)).collect(),
            SeriesStyle::LineWithBand { lo, hi },
        )
        .with_label("ODE, λ₁ = 2")
        .with_color(3),
    );
    panel_a.series.push(
        Series::new(t.clone(), theory, SeriesStyle::Line)
            .with_label("ODE (θ₀ = 0.1)")
            .with_color(4),
    );
    panel_a.series.push(
        Series::new(t_sim, sim, SeriesStyle::Markers)
            .with_label("SGD, D = 1000")
            .with_color(5),
    );
    panel_a.hlines = vec![
        HLine {
            y: 0.05,
            label: Some("ε_{PCA}(2)".into()),
        },
        HLine {
            y: 0.2,
            label: Some("ε_{PCA}(1)".into()),
        },
    ];

    let t_lin: Vec<f64> = (0..=100).map(|i| i as f64 * 0.5).collect();
    let r11: Vec<f64> = t_lin.iter().map(|&t| 1.0 - (-t / 8.0).exp()).collect();
    let q11: Vec<f64> = t_lin
        .iter()
        .map(|&t| 1.2 - 0.2 * (-t / 4.0).exp())
        .collect();
    let t_pts: Vec<f64> = (0..=10).map(|i| i as f64 * 5.0).collect();
    let r_pts: Vec<f64> = t_pts.iter().map(|&t| 1.0 - (-t / 8.0).exp()).collect();
    let mut panel_b = Panel::new("t", "overlaps R₁₁, Q₁₁");
    panel_b.title = Some("(b) order parameters".into());
    panel_b.legend = LegendPos::LowerRight;
    panel_b.series = vec![
        Series::new(t_lin.clone(), r11, SeriesStyle::Line)
            .with_label("R₁₁ theory")
            .with_color(0),
        Series::new(t_lin, q11, SeriesStyle::Dashed)
            .with_label("Q₁₁ theory")
            .with_color(1),
        Series::new(
            t_pts.clone(),
            r_pts,
            SeriesStyle::ErrorBars {
                err: vec![0.05; t_pts.len()],
            },
        )
        .with_label("R₁₁ SGD ± σ/√n")
        .with_color(2),
        Series::new(vec![], vec![], SeriesStyle::Markers).with_label("empty"),
    ];
    Figure::row(vec![panel_a, panel_b])
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Contents of the SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..];
            body[..body.find("</text>").unwrap()].trim().to_owned()
        })
        .collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_panel_figure_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("figs").join("test_error.erf");
    let fig = demo_figure();
    assert_eq!((fig.width, fig.height), (2000, 750));
    render(&fig, &stem, &Default::default()).unwrap();

    let (w, h, rgb) = decode_png(&dir.path().join("figs/test_error.erf.png"));
    assert_eq!((w, h), (fig.width, fig.height));
    let colors: HashSet<[u8; 3]> = rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    assert!(colors.len() > 200, "only {} colours", colors.len());
    for i in [0, 1, 2, 4, 5] {
        let c = PALETTE[i];
        assert!(
            colors.contains(&[c.0, c.1, c.2]),
            "palette colour {i} missing"
        );
    }
    let white = rgb.chunks(3).filter(|p| p == &[255, 255, 255]).count();
    let frac = white as f64 / (w * h) as f64;
    assert!(frac > 0.5 && frac < 0.98, "white fraction {frac}");

    let svg = std::fs::read_to_string(dir.path().join("figs/test_error.erf.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(r#"width="2000""#) && svg.contains(r#"height="750""#));
    let texts = svg_texts(&svg);
    for text in [
        "ε", // y label ε_g: "ε" then a subscript "g"
        "g",
        "overlaps R₁₁, Q₁₁",
        "t",
        "ODE (θ₀ = 0.1)",
        "SGD, D = 1000",
        "R₁₁ SGD ± σ/√n",
        "PCA",
        "(1)",
        "10⁻¹",
        "10³",
        "0.0",
        "(a) erf, K = 2, η = 0.5",
    ] {
        assert!(texts.iter().any(|t| t == text), "SVG lacks text {text:?}");
    }
    assert!(
        !texts.iter().any(|t| t.contains('_')),
        "markup left in {texts:?}"
    );
    assert_eq!(svg.matches("<svg").count(), 1);

    assert_eq!(
        file_names(&dir.path().join("figs")),
        ["test_error.erf.png", "test_error.erf.svg"]
    );
}

#[test]
fn rerender_overwrites_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("fig");
    let mut panel = Panel::new("t", "ε_g");
    panel.y_log = true;
    panel.legend = LegendPos::Outside;
    panel.series.push(
        Series::new(
            vec![1.0, 2.0, 3.0],
            vec![0.0, f64::NAN, -1.0], // nothing usable on a log axis
            SeriesStyle::Line,
        )
        .with_label("nothing to draw"),
    );
    let mut fig = Figure::row(vec![panel, Panel::new("x", "y")]);
    fig.width = 640;
    fig.height = 300;
    render(&fig, &stem, &Default::default()).unwrap();
    render(&fig, &stem, &Default::default()).unwrap();
    let (w, h, _) = decode_png(&dir.path().join("fig.png"));
    assert_eq!((w, h), (640, 300));
    assert_eq!(file_names(dir.path()), ["fig.png", "fig.svg"]);
}

#[test]
fn zero_sized_figure_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut fig = Figure::row(vec![Panel::new("t", "ε_g")]);
    fig.height = 0;
    let err = render(&fig, &dir.path().join("fig"), &Default::default()).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(file_names(dir.path()).is_empty());
}
