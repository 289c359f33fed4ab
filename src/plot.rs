//! Paper-quality figures, written as PNG and SVG without any system font library.
//!
//! A figure is described declaratively — a [`Figure`] holds [`Panel`]s, a panel holds
//! [`Series`] and dashed reference lines ([`HLine`]) — and [`render`] draws it with
//! `plotters`, once into an in-memory bitmap (encoded as PNG) and once into an SVG string,
//! writing both files atomically.
//!
//! Text uses DejaVu Sans, embedded in the library (`assets/fonts/DejaVuSans.ttf`, Bitstream
//! Vera / Arev licence, see `assets/fonts/LICENSE-DejaVu.txt`), so Greek letters, sub- and
//! superscript digits (`ε_g`, `θ`, `η`, `λ₁`, `10⁻²`, `·`, `−`, `√`) render on a machine
//! without fonts installed.
//!
//! # Size convention
//!
//! All lengths — font sizes, line widths, marker radii, margins — are fixed numbers of
//! output pixels, independent of the figure size, so figures rendered at the same panel
//! size look alike. They are designed for panels of [`PANEL_WIDTH`] × [`PANEL_HEIGHT`] px
//! (a 2× scale: tick labels 26 px, axis labels 30 px, legend 24 px, lines 3 px); use
//! [`Figure::row`] or [`Figure::grid`] to get that size.
//!
//! # Look
//!
//! Full box frame with inward ticks on all four sides; axes clipped to the data (log axes
//! reach a decade only when the data come close to it), log axes labelled `10ⁿ` at
//! decades (and at 2·10ⁿ, 5·10ⁿ when fewer than two decades show), with unlabelled minor
//! ticks at 2–9 × 10ⁿ; a twelve-colour palette starting with Okabe–Ito ([`PALETTE`]) and
//! four marker shapes; legends on a semi-transparent white box in an inside corner that
//! covers no plotted point, or else outside the axes ([`LegendPos::Best`],
//! [`legend_overlaps`]); titles shrunk or wrapped to fit their panel; faint series at
//! alpha 0.25 and bands at alpha 0.2.
//! Non-finite points, and non-positive values on log axes, are skipped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle, FontTransform, RGBAColor};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::provenance::{embed_in_svg, Provenance};

/// Width in pixels of one panel in the figures made by [`Figure::row`] and [`Figure::grid`].
pub const PANEL_WIDTH: u32 = 1000;
/// Height in pixels of one panel in the figures made by [`Figure::row`] and [`Figure::grid`].
pub const PANEL_HEIGHT: u32 = 750;

/// Twelve distinguishable colours: the Okabe–Ito colour-blind-safe palette (black, orange,
/// sky blue, bluish green, blue, vermillion, reddish purple; the yellow `#F0E442` is left
/// out, too pale on white), then five dark colours from Paul Tol's muted scheme (wine,
/// green, indigo, olive, grey). [`Series::color`] indexes it modulo its length; markers
/// also cycle through [`MarkerShape`]s with the index, so neighbouring colours differ in
/// shape too.
pub const PALETTE: [RGBColor; 12] = [
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x88, 0x22, 0x55),
    RGBColor(0x11, 0x77, 0x33),
    RGBColor(0x33, 0x22, 0x88),
    RGBColor(0x99, 0x99, 0x33),
    RGBColor(0x88, 0x88, 0x88),
];

/// Shape of a series' markers, chosen by its palette index ([`MarkerShape::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerShape {
    /// Filled circle.
    Circle,
    /// Filled square.
    Square,
    /// Filled upward triangle.
    Triangle,
    /// Filled diamond.
    Diamond,
}

impl MarkerShape {
    /// The shape of palette index `color`: circle, square, triangle, diamond, cycling.
    pub fn of(color: usize) -> Self {
        [Self::Circle, Self::Square, Self::Triangle, Self::Diamond][color % 4]
    }
}

/// Font family name under which the embedded font is registered with plotters (and which
/// the SVG names, so viewers substitute their own sans-serif font).
const FONT_FAMILY: &str = "sans-serif";
static FONT_TTF: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

// Sizes in output pixels (see the module docs).
const TICK_FONT: f64 = 26.0;
const LABEL_FONT: f64 = 30.0;
const TITLE_FONT: f64 = 30.0;
const LEGEND_FONT: f64 = 24.0;
const HLINE_FONT: f64 = 22.0;
const LINE_WIDTH: f64 = 3.0;
const HLINE_WIDTH: f64 = 2.0;
const FRAME_WIDTH: f64 = 2.0;
const MARKER_RADIUS: f64 = 6.0;
const MAJOR_TICK: f64 = 12.0;
const MINOR_TICK: f64 = 6.0;
/// Dash and gap lengths of dashed lines.
const DASH: (f64, f64) = (14.0, 9.0);
/// Dash and gap lengths of dotted lines.
const DOT: (f64, f64) = (4.0, 6.0);
const PAD: f64 = 12.0;
const TICK_GAP: f64 = 10.0;
const LEGEND_SAMPLE: f64 = 48.0;
const FAINT_ALPHA: f64 = 0.25;
const BAND_ALPHA: f64 = 0.2;
/// The PNG is drawn at this multiple of its size and box-filtered down (anti-aliasing).
const SUPERSAMPLE: u32 = 2;
/// Largest accepted figure side, in pixels.
const MAX_SIDE: u32 = 16_384;

/// How a [`Series`] is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesStyle {
    /// Solid line (theory curves).
    Line,
    /// Dashed line.
    Dashed,
    /// Dotted line (e.g. an approximation drawn over the curve it approximates).
    Dotted,
    /// Filled markers, no line (simulation points); the shape follows the colour
    /// ([`MarkerShape::of`]).
    Markers,
    /// Steps through the points, changing level halfway between neighbouring abscissae
    /// (on screen: geometrically halfway on a log axis), for values that do not
    /// interpolate, e.g. fractions of seeds.
    Steps,
    /// Solid line over a filled band from `lo` to `hi` (same length as `x`), e.g. the
    /// spread of simulations around their mean.
    LineWithBand {
        /// Lower edge of the band at each `x`.
        lo: Vec<f64>,
        /// Upper edge of the band at each `x`.
        hi: Vec<f64>,
    },
    /// Filled markers with vertical error bars `y ± err` (same length as `x`).
    ErrorBars {
        /// Half-length of the error bar at each `x`.
        err: Vec<f64>,
    },
}

/// One data series of a [`Panel`]: points `(x[i], y[i])` drawn in a [`SeriesStyle`].
///
/// Points with a non-finite coordinate, or a non-positive one on a log axis, are skipped
/// (lines are broken there); if `x` and `y` differ in length the extra points are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry; `None` keeps the series out of the legend.
    pub label: Option<String>,
    /// Name of the series in the figure's CSV (e.g. `"SGD, seed 3"`); the label when
    /// `None`. Series without label should have one, so the CSV says what each one is.
    pub name: Option<String>,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates.
    pub y: Vec<f64>,
    /// How the series is drawn.
    pub style: SeriesStyle,
    /// Index into [`PALETTE`] (taken modulo its length).
    pub color: usize,
    /// Draw with alpha 0.25 and below the other series (e.g. individual seeds behind
    /// their mean).
    pub faint: bool,
}

impl Series {
    /// A series without label, in palette colour 0 (black), not faint.
    pub fn new(x: Vec<f64>, y: Vec<f64>, style: SeriesStyle) -> Self {
        Self {
            label: None,
            name: None,
            x,
            y,
            style,
            color: 0,
            faint: false,
        }
    }

    /// A legend entry without data, explaining a style several series share (e.g.
    /// `Series::key("SGD (markers)", SeriesStyle::Markers)`), drawn in black.
    pub fn key(label: impl Into<String>, style: SeriesStyle) -> Self {
        Self::new(Vec::new(), Vec::new(), style).with_label(label)
    }

    /// Set the name used in the figure's CSV (see [`Series::name`]).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The name of the series in the figure's CSV: its name, else its label.
    pub fn csv_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.label.as_deref())
    }

    /// Set the legend entry.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Set the palette index.
    pub fn with_color(mut self, color: usize) -> Self {
        self.color = color;
        self
    }

    /// Mark the series as faint.
    pub fn faint(mut self) -> Self {
        self.faint = true;
        self
    }
}

/// A dashed grey horizontal reference line across a panel (e.g. the PCA error plateaus
/// ε_PCA(m)), with an optional small label just outside the right axis, at its height
/// (the axes shrink to make room, so the label never hides data).
#[derive(Debug, Clone, PartialEq)]
pub struct HLine {
    /// Height of the line, in data coordinates. Included in the y range.
    pub y: f64,
    /// Text written right of the axes at the line's height (markup as in [`Panel`]).
    pub label: Option<String>,
}

/// A heat map (phase diagram) under a panel's series: rectangular cells centred on the grid
/// `x` × `y`, coloured by `z` on the viridis colour map, with a colour bar right of the axes.
/// Cell edges lie halfway between neighbouring centres (geometrically halfway on a log
/// axis); the axes span exactly the cells. Cells with a non-finite `z` (or `z ≤ 0` on a log
/// colour scale) are drawn light grey and listed under the colour bar as `missing`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    /// Cell centres along x, increasing.
    pub x: Vec<f64>,
    /// Cell centres along y, increasing.
    pub y: Vec<f64>,
    /// Values, row-major: `z[j·x.len() + i]` at `(x[i], y[j])`.
    pub z: Vec<f64>,
    /// Colour bar label (markup as in [`Panel`]).
    pub label: String,
    /// Logarithmic colour scale.
    pub log: bool,
    /// Text for cells without a value (e.g. `"never"`).
    pub missing: String,
}

/// The viridis colour map at 9 equally spaced anchors (matplotlib's values).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x28, 0x78),
    (0x3E, 0x4A, 0x89),
    (0x31, 0x68, 0x8E),
    (0x26, 0x82, 0x8E),
    (0x1F, 0x9E, 0x89),
    (0x35, 0xB7, 0x79),
    (0x6D, 0xCD, 0x59),
    (0xFD, 0xE7, 0x25),
];

/// Viridis at `f ∈ [0, 1]` (clamped), linearly interpolated between the anchors.
pub fn viridis(f: f64) -> RGBColor {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = f * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let t = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |u: u8, v: u8| (f64::from(u) + t * (f64::from(v) - f64::from(u))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Colour of heat-map cells without a value.
const MISSING_GREY: u8 = 0xDD;
/// Width of the colour bar, in output pixels.
const COLORBAR_WIDTH: f64 = 30.0;

/// Cell edges of centres `c` (n + 1 values): midpoints, ends extended by half a spacing.
fn cell_edges(c: &[f64], log: bool) -> Vec<f64> {
    let fwd = |v: f64| if log { v.ln() } else { v };
    let inv = |v: f64| if log { v.exp() } else { v };
    let u: Vec<f64> = c.iter().map(|&v| fwd(v)).collect();
    match u.len() {
        0 => Vec::new(),
        1 => {
            let half = if log {
                0.5
            } else {
                (0.05 * u[0].abs()).max(0.5)
            };
            vec![inv(u[0] - half), inv(u[0] + half)]
        }
        n => {
            let mut e = Vec::with_capacity(n + 1);
            e.push(inv(u[0] - 0.5 * (u[1] - u[0])));
            e.extend(u.windows(2).map(|w| inv(0.5 * (w[0] + w[1]))));
            e.push(inv(u[n - 1] + 0.5 * (u[n - 1] - u[n - 2])));
            e
        }
    }
}

impl HeatMap {
    /// The colour scale: the range of the usable values (exact, no margin).
    fn scale(&self) -> Option<Axis> {
        let (lo, hi) = self
            .z
            .iter()
            .filter(|&&v| usable(v, self.log))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if lo > hi {
            return None;
        }
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else if self.log {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        Some(Axis {
            lo,
            hi,
            log: self.log,
        })
    }

    fn has_missing(&self) -> bool {
        let n = self.x.len() * self.y.len();
        self.z.len() < n || self.z.iter().take(n).any(|&v| !usable(v, self.log))
    }
}

/// Where a panel's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendPos {
    /// The first inside corner (upper right, upper left, lower left, lower right) whose
    /// box covers no plotted point — markers, error bars, bands, points along lines —
    /// else outside the axes, as [`LegendPos::Outside`]; outside as well over a heat map.
    #[default]
    Best,
    /// Inside, upper right corner.
    UpperRight,
    /// Inside, upper left corner.
    UpperLeft,
    /// Inside, lower right corner.
    LowerRight,
    /// Inside, lower left corner.
    LowerLeft,
    /// Outside the axes, to their right (the axes shrink to make room).
    Outside,
    /// No legend.
    None,
}

/// One set of axes: series, reference lines, axis labels and a legend.
///
/// The axis ranges come from the data (series points, band edges, error bars and
/// reference lines): linear axes get a 5 % margin, log axes a 4 % margin (of the decades
/// spanned), reaching the next decade only when that is within a fifth of a decade.
///
/// All text (title, axis labels, legend entries, reference-line labels) may use a small
/// markup: `_x` or `_{xyz}` sets a subscript, `^x` or `^{xyz}` a superscript, so
/// `"ε_g"`, `"ε_{PCA}(2)"` and `"η D^{-1}"` render as in a paper. Unicode sub/superscript
/// characters (`λ₁`, `10⁻²`) work as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Text centred above the axes (e.g. `"(a)  erf, K = 2"`).
    pub title: Option<String>,
    /// Label of the horizontal axis (e.g. `"t"`).
    pub x_label: String,
    /// Label of the vertical axis (e.g. `"ε_g"`), written rotated.
    pub y_label: String,
    /// Logarithmic horizontal axis.
    pub x_log: bool,
    /// Logarithmic vertical axis.
    pub y_log: bool,
    /// Data series, drawn bands first, then lines, then markers; faint series first.
    pub series: Vec<Series>,
    /// Dashed horizontal reference lines.
    pub hlines: Vec<HLine>,
    /// Legend placement; series without a label are not listed.
    pub legend: LegendPos,
    /// A heat map drawn under the series (its cells set the axis ranges).
    pub heatmap: Option<HeatMap>,
}

impl Panel {
    /// An empty panel with linear axes, no title and a [`LegendPos::Best`] legend.
    pub fn new(x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self {
            title: None,
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log: false,
            y_log: false,
            series: Vec::new(),
            hlines: Vec::new(),
            legend: LegendPos::Best,
            heatmap: None,
        }
    }
}

/// A whole figure: panels laid out on a grid of `columns` columns, filled row by row,
/// each panel getting an equal share of the `width` × `height` pixel canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The panels, in reading order.
    pub panels: Vec<Panel>,
    /// Number of columns; `0` puts all panels in one row.
    pub columns: usize,
    /// Width of the PNG (and of the SVG canvas), in pixels.
    pub width: u32,
    /// Height of the PNG (and of the SVG canvas), in pixels.
    pub height: u32,
}

impl Figure {
    /// All panels side by side, each [`PANEL_WIDTH`] × [`PANEL_HEIGHT`] px.
    pub fn row(panels: Vec<Panel>) -> Self {
        Self::grid(panels, 0)
    }

    /// Panels on a grid of `columns` columns (`0` = one row), each
    /// [`PANEL_WIDTH`] × [`PANEL_HEIGHT`] px.
    pub fn grid(panels: Vec<Panel>, columns: usize) -> Self {
        let (cols, rows) = grid_shape(panels.len(), columns);
        Self {
            panels,
            columns,
            width: PANEL_WIDTH * cols as u32,
            height: PANEL_HEIGHT * rows as u32,
        }
    }
}

/// Columns and rows for `n` panels with `columns` requested (`0` = one row).
fn grid_shape(n: usize, columns: usize) -> (usize, usize) {
    let n = n.max(1);
    let cols = if columns == 0 { n } else { columns.min(n) };
    (cols, n.div_ceil(cols))
}

/// Render `fig` to `<path_stem>.png` and `<path_stem>.svg` (the suffixes are appended, so
/// a stem like `out/fig1.erf` is fine), each carrying `provenance` (PNG `iTXt` chunks, one
/// per field; an SVG `<metadata>` element). Each file is written atomically (temporary file
/// in the same folder, then rename); missing parent folders are created.
///
/// # Errors
/// [`Error::Unsupported`] for a zero or huge (> 16384 px) figure side; [`Error::Io`] if
/// drawing or writing a file fails (the drawing error is wrapped as the I/O source).
pub fn render(fig: &Figure, path_stem: &Path, provenance: &Provenance) -> Result<()> {
    if fig.width == 0 || fig.height == 0 || fig.width > MAX_SIDE || fig.height > MAX_SIDE {
        return Err(Error::Unsupported(format!(
            "figure size {} × {} px (each side must be 1–{MAX_SIDE})",
            fig.width, fig.height
        )));
    }
    let png_path = with_suffix(path_stem, "png");
    let svg_path = with_suffix(path_stem, "svg");
    let fail = |path: &Path, msg: String| Error::io(path, std::io::Error::other(msg));

    let png = render_png(fig, provenance).map_err(|m| fail(&png_path, m))?;
    write_atomic(&png_path, &png)?;
    let svg = render_svg(fig).map_err(|m| fail(&svg_path, m))?;
    write_atomic(&svg_path, embed_in_svg(&svg, provenance).as_bytes())
}

fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Internal drawing result: plotters' errors are generic over the backend, so they are
/// carried as text until [`render`] attaches the file path.
type DResult<T> = std::result::Result<T, String>;

fn ensure_font() -> DResult<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FONT_FAMILY, FontStyle::Normal, FONT_TTF).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be parsed".to_owned())
    }
}

fn render_png(fig: &Figure, provenance: &Provenance) -> DResult<Vec<u8>> {
    ensure_font()?;
    let ss = SUPERSAMPLE;
    let (w, h) = (fig.width * ss, fig.height * ss);
    let mut big = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut big, (w, h)).into_drawing_area();
        draw_figure(&root, fig, f64::from(ss), true)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let small = downsample(&big, fig.width as usize, fig.height as usize, ss as usize);
    encode_png(&small, fig.width, fig.height, provenance)
}

fn render_svg(fig: &Figure) -> DResult<String> {
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (fig.width, fig.height)).into_drawing_area();
        draw_figure(&root, fig, 1.0, false)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Box-filter an RGB image of `w·ss × h·ss` pixels down to `w × h`.
fn downsample(big: &[u8], w: usize, h: usize, ss: usize) -> Vec<u8> {
    let big_w = w * ss;
    let n = (ss * ss) as u32;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..ss {
                    let row = (y * ss + dy) * big_w;
                    for dx in 0..ss {
                        sum += u32::from(big[(row + x * ss + dx) * 3 + c]);
                    }
                }
                out[(y * w + x) * 3 + c] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

fn encode_png(rgb: &[u8], w: u32, h: u32, provenance: &Provenance) -> DResult<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        for (key, text) in provenance.fields() {
            enc.add_itxt_chunk(key.to_string(), text)
                .map_err(|e| e.to_string())?;
        }
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(rgb).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// `10` followed by the decade exponent of `v` in superscript digits:
/// `0.01 → "10⁻²"`, `1 → "10⁰"`, `1000 → "10³"` (the exponent is `log10 v` rounded).
pub fn format_power_of_ten(v: f64) -> String {
    let exp = v.log10().round() as i64;
    let sup: String = exp
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect();
    format!("10{sup}")
}

/// A number for figure text, to four significant digits without trailing zeros, and
/// with a typographic minus: `4.0 → "4"`, `0.25 → "0.25"`, `1234.5 → "1235"` (rounded half
/// to even), `2e-5 → "2·10⁻⁵"`; magnitudes below 10⁻³ or from 10⁵ on are written
/// `m·10ⁿ`.
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let exp = v.abs().log10().floor();
    let text = if (-3.0..5.0).contains(&exp) {
        let decimals = (3.0 - exp).max(0.0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let mantissa = trim(format!("{:.3}", v / 10f64.powf(exp)));
        let power = format_power_of_ten(10f64.powf(exp));
        if mantissa == "1" {
            power
        } else {
            format!("{mantissa}·{power}")
        }
    };
    text.replace('-', "\u{2212}")
}

/// Legend entries for panels where each colour is one quantity drawn twice: `"theory
/// (lines)"` and `"SGD (markers)"` (see [`Series::key`]).
pub fn theory_sgd_keys() -> [Series; 2] {
    [
        Series::key("theory (lines)", SeriesStyle::Line),
        Series::key("SGD (markers)", SeriesStyle::Markers),
    ]
}

/// `"1 seed"`, `"4 seeds"`: a count with its noun, plural unless one.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Tick label on a linear axis with tick spacing `step`: as many decimals as the step
/// needs, a typographic minus, and no `-0`.
fn format_linear(v: f64, step: f64) -> String {
    let v = if (v / step).abs() < 1e-9 { 0.0 } else { v };
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{v:.decimals$}").replace('-', "\u{2212}")
}

/// A log axis ends on a decade when its data (with margin) end within this many decades
/// of it.
const DECADE_SNAP: f64 = 0.2;

/// A data range on one axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

/// Tick marks of one axis: labelled majors and unlabelled minors.
#[derive(Debug, Clone, PartialEq)]
struct Ticks {
    major: Vec<(f64, String)>,
    minor: Vec<f64>,
}

fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

impl Axis {
    /// Range covering the usable `values` with a small margin: 5 % on a linear axis; on a
    /// log axis 4 % of the decades spanned (at least 0.03 decade, so markers clear the
    /// frame), widened to the next decade only if that is within [`DECADE_SNAP`] (so an
    /// axis never runs a decade past the data).
    fn from_values(values: impl Iterator<Item = f64>, log: bool) -> Self {
        let (min, max) = values
            .filter(|&v| usable(v, log))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if min > max {
            let (lo, hi) = if log { (1.0, 10.0) } else { (0.0, 1.0) };
            return Self { lo, hi, log };
        }
        if log {
            let (a, b) = (min.log10(), max.log10());
            let pad = if b > a {
                (0.04 * (b - a)).max(0.03)
            } else {
                0.3
            };
            let (a, b) = (a - pad, b + pad);
            let (below, above) = (a.floor(), b.ceil());
            let lo = if a - below <= DECADE_SNAP { below } else { a };
            let hi = if above - b <= DECADE_SNAP { above } else { b };
            Self {
                lo: 10f64.powf(lo),
                hi: 10f64.powf(hi),
                log,
            }
        } else {
            let span = max - min;
            let pad = if span > 0.0 {
                0.05 * span
            } else {
                (0.1 * min.abs()).max(0.5)
            };
            Self {
                lo: min - pad,
                hi: max + pad,
                log,
            }
        }
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn contains(&self, v: f64) -> bool {
        let eps = 1e-9 * (self.hi - self.lo).abs();
        v >= self.lo - eps && v <= self.hi + eps
    }

    /// Ticks for about `target` labels.
    fn ticks(&self, target: usize) -> Ticks {
        if self.log {
            self.log_ticks(target)
        } else {
            self.linear_ticks(target)
        }
    }

    /// Decades labelled (every `stride`-th when many), minor ticks at 2–9 × 10ⁿ; with fewer
    /// than two decades in range, 2·10ⁿ and 5·10ⁿ are labelled too, and if that still
    /// makes fewer than two labels, every m·10ⁿ.
    fn log_ticks(&self, target: usize) -> Ticks {
        let d0 = (self.lo.log10() - 1e-9).ceil() as i64;
        let d1 = (self.hi.log10() + 1e-9).floor() as i64;
        let decades = (d1 - d0).max(0) as usize;
        let stride = (decades + 1).div_ceil(target.max(1) + 1).max(1) as i64;
        // Mantissas labelled besides the decades.
        let count_in = |ms: &[u32]| {
            ((d0 - 1)..=d1)
                .flat_map(|d| ms.iter().map(move |&m| f64::from(m) * 10f64.powi(d as i32)))
                .filter(|&v| self.contains(v))
                .count() as i64
        };
        let labelled: &[u32] = if d1 - d0 >= 1 {
            &[]
        } else if (d1 - d0 + 1).max(0) + count_in(&[2, 5]) >= 2 {
            &[2, 5]
        } else {
            &[2, 3, 4, 5, 6, 7, 8, 9]
        };
        let mut major = Vec::new();
        let mut minor = Vec::new();
        for d in d0..=d1 {
            let v = 10f64.powi(d as i32);
            if d.rem_euclid(stride) == 0 {
                major.push((v, format_power_of_ten(v)));
            } else {
                minor.push(v);
            }
        }
        if decades <= 8 {
            for d in (d0 - 1)..=d1 {
                for m in 2..=9 {
                    let v = f64::from(m) * 10f64.powi(d as i32);
                    if !self.contains(v) {
                        continue;
                    }
                    if labelled.contains(&m) {
                        major.push((v, format_number(v)));
                    } else {
                        minor.push(v);
                    }
                }
            }
        }
        major.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ticks { major, minor }
    }

    fn linear_ticks(&self, target: usize) -> Ticks {
        let raw = (self.hi - self.lo) / target.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let (mantissa, subdivisions) = match raw / mag {
            m if m < 1.5 => (1.0, 5.0),
            m if m < 3.0 => (2.0, 4.0),
            m if m < 7.0 => (5.0, 5.0),
            _ => (10.0, 5.0),
        };
        let step = mantissa * mag;
        let minor_step = step / subdivisions;
        let k0 = (self.lo / minor_step - 1e-9).ceil() as i64;
        let k1 = (self.hi / minor_step + 1e-9).floor() as i64;
        let mut major = Vec::new();
        let mut minor = Vec::new();
        for k in k0..=k1 {
            let v = k as f64 * minor_step;
            if k.rem_euclid(subdivisions as i64) == 0 {
                major.push((v, format_linear(v, step)));
            } else {
                minor.push(v);
            }
        }
        Ticks { major, minor }
    }
}

/// Plotters drawing area plus the pixel scale and backend quirks.
struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    /// Output pixels per nominal pixel (the supersampling factor for the bitmap).
    s: f64,
    /// The bitmap backend places text baselines higher than SVG viewers; corrected here.
    bitmap: bool,
}

type Pt = (f64, f64);

fn ipt((x, y): Pt) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    fn font(&self, size: f64) -> FontDesc<'static> {
        FontDesc::new(
            FontFamily::Name(FONT_FAMILY),
            size * self.s,
            FontStyle::Normal,
        )
    }

    /// Width and height of plain `text` at nominal font `size`, in canvas pixels.
    fn plain_size(&self, text: &str, size: f64) -> DResult<Pt> {
        if text.is_empty() {
            return Ok((0.0, 0.0));
        }
        let (w, h) = self
            .area
            .estimate_text_size(text, &self.font(size).color(&BLACK))
            .map_err(|e| e.to_string())?;
        Ok((f64::from(w), f64::from(h)))
    }

    /// Width and height of `text` with sub/superscript markup (see [`Panel`]).
    fn text_size(&self, text: &str, size: f64) -> DResult<Pt> {
        let mut w = 0.0;
        for (script, run) in parse_markup(text) {
            w += self.plain_size(&run, size * script.scale())?.0;
        }
        Ok((w, self.plain_size("0", size)?.1))
    }

    /// Draw `text` (with sub/superscript markup) anchored at `at`; `rotated` writes it
    /// bottom-to-top.
    fn text(
        &self,
        text: &str,
        at: Pt,
        size: f64,
        anchor: (HPos, VPos),
        rotated: bool,
        color: RGBAColor,
    ) -> DResult<()> {
        let runs = parse_markup(text);
        let mut widths = Vec::with_capacity(runs.len());
        for (script, run) in &runs {
            widths.push(self.plain_size(run, size * script.scale())?.0);
        }
        let total: f64 = widths.iter().sum();
        // Reading and "down" directions of the text on the canvas.
        let (along, down) = if rotated {
            ((0.0, -1.0), (1.0, 0.0))
        } else {
            ((1.0, 0.0), (0.0, 1.0))
        };
        let mut offset = match anchor.0 {
            HPos::Left => 0.0,
            HPos::Center => -total / 2.0,
            HPos::Right => -total,
        };
        for ((script, run), w) in runs.iter().zip(widths) {
            let shift = script.shift() * size * self.s;
            let p = (
                at.0 + along.0 * offset + down.0 * shift,
                at.1 + along.1 * offset + down.1 * shift,
            );
            let run_size = size * script.scale();
            self.plain_text(run, p, run_size, anchor.1, rotated, color)?;
            offset += w;
        }
        Ok(())
    }

    /// Draw plain `text` starting at `at`, vertically anchored by `v`.
    fn plain_text(
        &self,
        text: &str,
        at: Pt,
        size: f64,
        v: VPos,
        rotated: bool,
        color: RGBAColor,
    ) -> DResult<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut font = self.font(size);
        if rotated {
            font = font.transform(FontTransform::Rotate270);
        }
        let style = font.color(&color).pos(Pos::new(HPos::Left, v));
        // Shift along the text's "down" direction so glyphs sit where SVG viewers put them.
        let down = if self.bitmap {
            size * self.s
                * match v {
                    VPos::Top => 0.12,
                    VPos::Center => 0.2,
                    VPos::Bottom => 0.08,
                }
        } else {
            0.0
        };
        let at = if rotated {
            (at.0 + down, at.1)
        } else {
            (at.0, at.1 + down)
        };
        self.area
            .draw_text(text, &style, ipt(at))
            .map_err(|e| e.to_string())
    }

    fn path(&self, pts: &[Pt], color: RGBAColor, width: f64) -> DResult<()> {
        if pts.len() < 2 {
            return Ok(());
        }
        let style = color.stroke_width((width * self.s).round().max(1.0) as u32);
        let pts: Vec<_> = pts.iter().copied().map(ipt).collect();
        self.area
            .draw(&PathElement::new(pts, style))
            .map_err(|e| e.to_string())
    }

    /// A line broken into dashes of `pattern` (dash and gap lengths).
    fn dashed(&self, pts: &[Pt], color: RGBAColor, width: f64, pattern: Pt) -> DResult<()> {
        for dash in dashes(pts, pattern.0 * self.s, pattern.1 * self.s) {
            self.path(&dash, color, width)?;
        }
        Ok(())
    }

    /// A series line: solid, or dashed or dotted as `style` asks.
    fn line(&self, pts: &[Pt], color: RGBAColor, style: &SeriesStyle) -> DResult<()> {
        match style {
            SeriesStyle::Dashed => self.dashed(pts, color, LINE_WIDTH, DASH),
            SeriesStyle::Dotted => self.dashed(pts, color, LINE_WIDTH, DOT),
            _ => self.path(pts, color, LINE_WIDTH),
        }
    }

    fn polygon(&self, pts: &[Pt], color: RGBAColor) -> DResult<()> {
        if pts.len() < 3 {
            return Ok(());
        }
        let pts: Vec<_> = pts.iter().copied().map(ipt).collect();
        self.area
            .draw(&Polygon::new(pts, color.filled()))
            .map_err(|e| e.to_string())
    }

    /// A filled marker of `shape` centred on `at`, of about the area of a circle of
    /// radius [`MARKER_RADIUS`].
    fn marker(&self, at: Pt, shape: MarkerShape, color: RGBAColor) -> DResult<()> {
        let r = MARKER_RADIUS * self.s;
        let (x, y) = at;
        let corners: Vec<Pt> = match shape {
            MarkerShape::Circle => {
                return self
                    .area
                    .draw(&Circle::new(ipt(at), r.round() as i32, color.filled()))
                    .map_err(|e| e.to_string());
            }
            MarkerShape::Square => {
                let h = 0.89 * r;
                vec![
                    (x - h, y - h),
                    (x + h, y - h),
                    (x + h, y + h),
                    (x - h, y + h),
                ]
            }
            MarkerShape::Triangle => {
                let h = 1.35 * r;
                vec![
                    (x, y - h),
                    (x + 0.87 * h, y + 0.5 * h),
                    (x - 0.87 * h, y + 0.5 * h),
                ]
            }
            MarkerShape::Diamond => {
                let h = 1.25 * r;
                vec![(x, y - h), (x + h, y), (x, y + h), (x - h, y)]
            }
        };
        self.polygon(&corners, color)
    }

    fn rect(&self, a: Pt, b: Pt, style: ShapeStyle) -> DResult<()> {
        self.area
            .draw(&Rectangle::new([ipt(a), ipt(b)], style))
            .map_err(|e| e.to_string())
    }
}

/// A step line through pixel points: level with each point, changing halfway between
/// neighbours (which is geometrically halfway on a log axis).
fn steps(pts: &[Pt]) -> Vec<Pt> {
    let mut out = Vec::with_capacity(3 * pts.len());
    out.extend(pts.first());
    for w in pts.windows(2) {
        let mid = 0.5 * (w[0].0 + w[1].0);
        out.push((mid, w[0].1));
        out.push((mid, w[1].1));
    }
    out.extend(pts.last().filter(|_| pts.len() > 1));
    out
}

/// Split a polyline into dashes of length `on` separated by gaps of length `off`.
fn dashes(pts: &[Pt], on: f64, off: f64) -> Vec<Vec<Pt>> {
    let mut out = Vec::new();
    let Some(&first) = pts.first() else {
        return out;
    };
    let mut cur = vec![first];
    let mut drawing = true;
    let mut left = on;
    for w in pts.windows(2) {
        let (mut p, b) = (w[0], w[1]);
        let mut len = ((b.0 - p.0).powi(2) + (b.1 - p.1).powi(2)).sqrt();
        while len > 1e-9 {
            let step = left.min(len);
            let t = step / len;
            let q = (p.0 + t * (b.0 - p.0), p.1 + t * (b.1 - p.1));
            if drawing {
                cur.push(q);
            }
            len -= step;
            left -= step;
            p = q;
            if left <= 1e-9 {
                if drawing {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur = vec![q];
                }
                drawing = !drawing;
                left = if drawing { on } else { off };
            }
        }
    }
    if drawing && cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Vertical placement of a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Normal,
    Sub,
    Super,
}

impl Script {
    /// Font size relative to normal text.
    fn scale(self) -> f64 {
        match self {
            Script::Normal => 1.0,
            Script::Sub | Script::Super => 0.7,
        }
    }

    /// Baseline shift downwards, in units of the normal font size.
    fn shift(self) -> f64 {
        match self {
            Script::Normal => 0.0,
            Script::Sub => 0.22,
            Script::Super => -0.38,
        }
    }
}

/// Split text into runs: `_x` / `_{xyz}` are subscripts, `^x` / `^{xyz}` superscripts;
/// a trailing `_` or `^` is kept literally.
fn parse_markup(text: &str) -> Vec<(Script, String)> {
    fn push(runs: &mut Vec<(Script, String)>, script: Script, c: char) {
        match runs.last_mut() {
            Some((last, run)) if *last == script => run.push(c),
            _ => runs.push((script, c.to_string())),
        }
    }
    let mut runs = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let script = match c {
            '_' => Script::Sub,
            '^' => Script::Super,
            _ => {
                push(&mut runs, Script::Normal, c);
                continue;
            }
        };
        match chars.next() {
            Some('{') => {
                for c in chars.by_ref().take_while(|&c| c != '}') {
                    push(&mut runs, script, c);
                }
            }
            Some(next) => push(&mut runs, script, next),
            None => push(&mut runs, Script::Normal, c),
        }
    }
    runs
}

fn palette(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

fn grey(level: u8) -> RGBColor {
    RGBColor(level, level, level)
}

fn draw_figure<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
    s: f64,
    bitmap: bool,
) -> DResult<()> {
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let canvas = Canvas { area, s, bitmap };
    for (panel, cell) in fig.panels.iter().zip(cells(fig, area)) {
        let layout = Layout::new(&canvas, panel, cell)?;
        draw_panel(&canvas, panel, &layout)?;
    }
    Ok(())
}

/// The pixel cells of a figure's panels on `area`, in reading order.
fn cells<DB: DrawingBackend>(fig: &Figure, area: &DrawingArea<DB, Shift>) -> Vec<Rect> {
    let (cols, rows) = grid_shape(fig.panels.len(), fig.columns);
    let (w, h) = area.dim_in_pixel();
    let cell_w = f64::from(w) / cols as f64;
    let cell_h = f64::from(h) / rows as f64;
    (0..fig.panels.len())
        .map(|i| {
            let (c, r) = ((i % cols) as f64, (i / cols) as f64);
            Rect {
                x0: c * cell_w,
                y0: r * cell_h,
                x1: (c + 1.0) * cell_w,
                y1: (r + 1.0) * cell_h,
            }
        })
        .collect()
}

/// Where a panel's legend went, and how many plotted points its box covers (see
/// [`legend_overlaps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegendCheck {
    /// Index of the panel in [`Figure::panels`].
    pub panel: usize,
    /// The placement used: an inside corner or [`LegendPos::Outside`] (never `Best`).
    pub placement: LegendPos,
    /// Plotted points (markers, error bars, band edges and interiors, points every few
    /// pixels along lines) under the legend box or within a marker radius of it.
    pub covered: usize,
}

/// The legend placement of every panel of `fig` that has a legend, computed by the same
/// layout code that draws it (on the SVG geometry), with the number of plotted points each
/// legend box covers: a figure fit for print has `covered == 0` everywhere.
///
/// # Errors
/// [`Error::Unsupported`] if the embedded font cannot be parsed.
pub fn legend_overlaps(fig: &Figure) -> Result<Vec<LegendCheck>> {
    let fail = |m: String| Error::Unsupported(format!("figure layout: {m}"));
    ensure_font().map_err(fail)?;
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (fig.width.max(1), fig.height.max(1)))
        .into_drawing_area();
    let cv = Canvas {
        area: &root,
        s: 1.0,
        bitmap: false,
    };
    let mut out = Vec::new();
    for (i, (panel, cell)) in fig.panels.iter().zip(cells(fig, &root)).enumerate() {
        let layout = Layout::new(&cv, panel, cell).map_err(fail)?;
        if let Some(placed) = &layout.legend {
            let pts = data_points(panel, &layout.frame, cv.s);
            out.push(LegendCheck {
                panel: i,
                placement: placed.pos,
                covered: placed.covered(&pts, cv.s),
            });
        }
    }
    Ok(out)
}

/// A pixel rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn contains(&self, (x, y): Pt) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// Data-to-pixel mapping of one panel.
struct Frame {
    x: Axis,
    y: Axis,
    px: Rect,
}

impl Frame {
    fn point(&self, x: f64, y: f64) -> Pt {
        (
            self.px.x0 + self.x.frac(x) * (self.px.x1 - self.px.x0),
            self.px.y1 - self.y.frac(y) * (self.px.y1 - self.px.y0),
        )
    }

    /// Maximal runs of consecutive points usable on both axes, in pixels.
    fn runs(&self, x: &[f64], y: &[f64]) -> Vec<Vec<Pt>> {
        let mut runs = Vec::new();
        let mut cur = Vec::new();
        for (&xi, &yi) in x.iter().zip(y) {
            if usable(xi, self.x.log) && usable(yi, self.y.log) {
                cur.push(self.point(xi, yi));
            } else if !cur.is_empty() {
                runs.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            runs.push(cur);
        }
        runs
    }

    /// The lines a series draws, in pixels: its runs for lines (bands included), as steps
    /// for [`SeriesStyle::Steps`], none for markers.
    fn polylines(&self, ser: &Series) -> Vec<Vec<Pt>> {
        match ser.style {
            SeriesStyle::Line
            | SeriesStyle::Dashed
            | SeriesStyle::Dotted
            | SeriesStyle::LineWithBand { .. } => self.runs(&ser.x, &ser.y),
            SeriesStyle::Steps => self.runs(&ser.x, &ser.y).iter().map(|r| steps(r)).collect(),
            SeriesStyle::Markers | SeriesStyle::ErrorBars { .. } => Vec::new(),
        }
    }

    /// The error bars `y ± err` of a series (down to the axis where `y − err` is not
    /// usable on a log axis).
    fn error_bars(&self, ser: &Series, err: &[f64]) -> Vec<Bar> {
        let mut bars = Vec::new();
        for ((&x, &y), &e) in ser.x.iter().zip(&ser.y).zip(err) {
            if !(usable(x, self.x.log) && usable(y, self.y.log)) {
                continue;
            }
            let at = self.point(x, y);
            let e = e.abs();
            let (top, bottom) = if e.is_finite() && e > 0.0 {
                let lo = if usable(y - e, self.y.log) {
                    y - e
                } else {
                    self.y.lo
                };
                (self.point(x, y + e), self.point(x, lo))
            } else {
                (at, at)
            };
            bars.push(Bar { at, top, bottom });
        }
        bars
    }

    /// Band polygons between `lo` and `hi`, split where a point is unusable.
    fn bands(&self, x: &[f64], lo: &[f64], hi: &[f64]) -> Vec<Vec<Pt>> {
        let mut polys = Vec::new();
        let mut upper: Vec<Pt> = Vec::new();
        let mut lower: Vec<Pt> = Vec::new();
        let mut flush = |upper: &mut Vec<Pt>, lower: &mut Vec<Pt>| {
            if upper.len() >= 2 {
                let mut poly = std::mem::take(upper);
                poly.extend(lower.drain(..).rev());
                polys.push(poly);
            }
            upper.clear();
            lower.clear();
        };
        for ((&xi, &l), &h) in x.iter().zip(lo).zip(hi) {
            if usable(xi, self.x.log) && usable(l, self.y.log) && usable(h, self.y.log) {
                upper.push(self.point(xi, h));
                lower.push(self.point(xi, l));
            } else {
                flush(&mut upper, &mut lower);
            }
        }
        flush(&mut upper, &mut lower);
        polys
    }
}

/// All y values a panel must show.
fn y_values(panel: &Panel) -> Vec<f64> {
    let mut ys: Vec<f64> = panel.hlines.iter().map(|h| h.y).collect();
    for s in &panel.series {
        let n = s.x.len().min(s.y.len());
        ys.extend(&s.y[..n]);
        match &s.style {
            SeriesStyle::LineWithBand { lo, hi } => {
                ys.extend(lo.iter().take(n));
                ys.extend(hi.iter().take(n));
            }
            SeriesStyle::ErrorBars { err } => {
                for (y, e) in s.y.iter().zip(err).take(n) {
                    ys.push(y + e.abs());
                    if !panel.y_log || y - e.abs() > 0.0 {
                        ys.push(y - e.abs());
                    }
                }
            }
            _ => {}
        }
    }
    ys
}

fn x_values(panel: &Panel) -> impl Iterator<Item = f64> + '_ {
    panel
        .series
        .iter()
        .flat_map(|s| s.x.iter().take(s.y.len()).copied())
}

fn series_color(s: &Series) -> RGBAColor {
    palette(s.color).mix(if s.faint { FAINT_ALPHA } else { 1.0 })
}

fn band_color(s: &Series) -> RGBAColor {
    palette(s.color).mix(if s.faint {
        BAND_ALPHA * FAINT_ALPHA
    } else {
        BAND_ALPHA
    })
}

/// A title fitted to its panel: one line, or two split at a comma or colon, at the largest
/// of a few font sizes at which it fits.
struct Title {
    lines: Vec<String>,
    size: f64,
    line_h: f64,
    /// Room above the first line for superscripts.
    rise: f64,
}

/// Font sizes tried for a title, largest first.
const TITLE_SIZES: [f64; 4] = [TITLE_FONT, 27.0, 24.0, 21.0];

impl Title {
    fn fit<DB: DrawingBackend>(cv: &Canvas<DB>, text: &str, max_w: f64) -> DResult<Self> {
        let mut options = vec![vec![text.to_owned()]];
        options.extend(split_title(text));
        let mut fallback = None;
        for lines in options {
            for size in TITLE_SIZES {
                let mut w: f64 = 0.0;
                for l in &lines {
                    w = w.max(cv.text_size(l, size)?.0);
                }
                let line_h = 1.25 * cv.text_size("0", size)?.1;
                let sup = parse_markup(&lines[0])
                    .iter()
                    .any(|(script, _)| *script == Script::Super);
                let rise = if sup {
                    -Script::Super.shift() * size * cv.s
                } else {
                    0.0
                };
                let title = Self {
                    lines: lines.clone(),
                    size,
                    line_h,
                    rise,
                };
                if w <= max_w {
                    return Ok(title);
                }
                fallback = Some(title);
            }
        }
        Ok(fallback.expect("at least one option"))
    }

    fn height(&self) -> f64 {
        self.rise + self.line_h * self.lines.len() as f64
    }
}

/// `text` split into two lines: after the `": "` nearest the middle, else the `", "`,
/// else the space (outside markup braces), skipping a kind whose best break leaves more
/// than three quarters of the text on one line.
fn split_title(text: &str) -> Option<Vec<String>> {
    let mut depth = 0;
    // Break positions after a colon, after a comma, anywhere.
    let mut breaks: [Vec<usize>; 3] = Default::default();
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ' ' if depth == 0 => {
                let kind = match prev {
                    ':' => 0,
                    ',' => 1,
                    _ => 2,
                };
                breaks[kind].push(i);
            }
            _ => {}
        }
        prev = c;
    }
    let mid = text.len() / 2;
    let at = breaks
        .iter()
        .filter_map(|b| b.iter().copied().min_by_key(|&i| i.abs_diff(mid)))
        .find(|&i| 4 * i.abs_diff(mid) <= text.len())?;
    Some(vec![text[..at].to_owned(), text[at + 1..].to_owned()])
}

/// A legend and where it goes.
struct PlacedLegend<'p> {
    legend: Legend<'p>,
    /// An inside corner or `Outside`.
    pos: LegendPos,
    /// Top-left corner of the box.
    at: Pt,
}

impl PlacedLegend<'_> {
    /// Data points under the box or within a marker radius (plus half a line) of it.
    fn covered(&self, pts: &[Pt], s: f64) -> usize {
        covered(self.legend.rect(self.at), pts, s)
    }
}

/// Points of `pts` in `r` widened by a marker radius and half a line width.
fn covered(r: Rect, pts: &[Pt], s: f64) -> usize {
    let m = (MARKER_RADIUS + LINE_WIDTH / 2.0) * s;
    let r = Rect {
        x0: r.x0 - m,
        y0: r.y0 - m,
        x1: r.x1 + m,
        y1: r.y1 + m,
    };
    pts.iter().filter(|p| r.contains(**p)).count()
}

/// Everything about a panel that is measured before drawing: axes, ticks, frame, title,
/// colour bar and legend placement. Both drawing and [`legend_overlaps`] use it.
struct Layout<'p> {
    cell: Rect,
    frame: Frame,
    x_ticks: Ticks,
    y_ticks: Ticks,
    label_h: f64,
    title: Option<Title>,
    hlines: Vec<&'p HLine>,
    heat: Option<HeatLayout<'p>>,
    legend: Option<PlacedLegend<'p>>,
}

/// The heat map of a panel: cell edges, colour scale, colour-bar ticks and the left edge
/// of its label (relative to the axes' right edge).
struct HeatLayout<'p> {
    map: &'p HeatMap,
    edges: (Vec<f64>, Vec<f64>),
    scale: Option<Axis>,
    ticks: Option<Ticks>,
    label_x: f64,
}

impl<'p> Layout<'p> {
    fn new<DB: DrawingBackend>(cv: &Canvas<DB>, panel: &'p Panel, cell: Rect) -> DResult<Self> {
        let s = cv.s;
        let heat_edges = panel
            .heatmap
            .as_ref()
            .map(|h| (cell_edges(&h.x, panel.x_log), cell_edges(&h.y, panel.y_log)));
        let exact = |e: &[f64], log: bool| Axis {
            lo: e[0],
            hi: e[e.len() - 1],
            log,
        };
        let (x_axis, y_axis) = match &heat_edges {
            Some((ex, ey)) if ex.len() >= 2 && ey.len() >= 2 => {
                (exact(ex, panel.x_log), exact(ey, panel.y_log))
            }
            _ => (
                Axis::from_values(x_values(panel), panel.x_log),
                Axis::from_values(y_values(panel).into_iter(), panel.y_log),
            ),
        };
        let x_target = (((cell.x1 - cell.x0) / s) / 170.0).round().clamp(3.0, 8.0) as usize;
        let y_target = (((cell.y1 - cell.y0) / s) / 130.0).round().clamp(3.0, 7.0) as usize;
        let x_ticks = x_axis.ticks(x_target);
        let y_ticks = y_axis.ticks(y_target);

        // Margins from the measured text.
        let (_, tick_h) = cv.text_size("0", TICK_FONT)?;
        let (_, label_h) = cv.text_size("0", LABEL_FONT)?;
        let mut y_tick_w: f64 = 0.0;
        for (_, t) in &y_ticks.major {
            y_tick_w = y_tick_w.max(cv.text_size(t, TICK_FONT)?.0);
        }
        let last_x_w = match x_ticks.major.last() {
            Some((v, t)) if x_axis.frac(*v) > 0.98 => cv.text_size(t, TICK_FONT)?.0,
            _ => 0.0,
        };
        let hlines: Vec<&HLine> = panel
            .hlines
            .iter()
            .filter(|h| usable(h.y, panel.y_log))
            .collect();
        let mut hline_w: f64 = 0.0;
        for h in &hlines {
            if let Some(label) = &h.label {
                hline_w = hline_w.max(cv.text_size(label, HLINE_FONT)?.0);
            }
        }
        let title = match &panel.title {
            Some(t) if !t.is_empty() => Some(Title::fit(cv, t, cell.x1 - cell.x0 - 2.0 * PAD * s)?),
            _ => None,
        };
        let left = PAD * s + label_h + 2.0 * TICK_GAP * s + y_tick_w + TICK_GAP * s;
        let bottom = PAD * s + label_h + TICK_GAP * s + tick_h + TICK_GAP * s;
        let top = match &title {
            Some(t) => 2.0 * PAD * s + t.height(),
            None => PAD * s + tick_h,
        };
        let hline_room = if hline_w > 0.0 {
            hline_w + TICK_GAP * s
        } else {
            0.0
        };
        let mut right = PAD * s + (last_x_w / 2.0).max(PAD * s).max(hline_room);
        let heat = match (&panel.heatmap, heat_edges) {
            (Some(map), Some(edges)) => {
                let scale = map.scale();
                let ticks = scale.map(|a| a.ticks(y_target));
                let mut w: f64 = 0.0;
                for (_, t) in ticks.iter().flat_map(|t| &t.major) {
                    w = w.max(cv.text_size(t, TICK_FONT)?.0);
                }
                if map.has_missing() {
                    w = w.max(cv.text_size(&map.missing, TICK_FONT)?.0);
                }
                right += 2.0 * PAD * s
                    + COLORBAR_WIDTH * s
                    + TICK_GAP * s
                    + w
                    + 2.0 * TICK_GAP * s
                    + label_h;
                let label_x = 2.0 * PAD * s + COLORBAR_WIDTH * s + 2.0 * TICK_GAP * s + w;
                Some(HeatLayout {
                    map,
                    edges,
                    scale,
                    ticks,
                    label_x,
                })
            }
            _ => None,
        };
        let frame = |legend_w: f64| Frame {
            x: x_axis,
            y: y_axis,
            px: Rect {
                x0: cell.x0 + left,
                y0: cell.y0 + top,
                x1: (cell.x1 - right - legend_w).max(cell.x0 + left + 1.0),
                y1: (cell.y1 - bottom).max(cell.y0 + top + 1.0),
            },
        };
        let inside = frame(0.0);
        let (frame, legend) = match Legend::measure(cv, panel)? {
            None => (inside, None),
            Some(legend) => {
                let inset = 2.0 * PAD * s;
                let corner = match panel.legend {
                    LegendPos::Outside => None,
                    LegendPos::Best if heat.is_some() => None,
                    LegendPos::Best => {
                        let pts = data_points(panel, &inside, s);
                        CORNERS.into_iter().find(|&pos| {
                            let at = legend.corner(pos, inside.px, inset);
                            covered(legend.rect(at), &pts, s) == 0
                        })
                    }
                    pos => Some(pos),
                };
                match corner {
                    Some(pos) => {
                        let at = legend.corner(pos, inside.px, inset);
                        (inside, Some(PlacedLegend { legend, pos, at }))
                    }
                    None => {
                        let outside = frame(legend.w + PAD * s);
                        let x = cell.x1 - PAD * s - legend.w;
                        let at = (x, outside.px.y0);
                        let pos = LegendPos::Outside;
                        (outside, Some(PlacedLegend { legend, pos, at }))
                    }
                }
            }
        };
        Ok(Self {
            cell,
            frame,
            x_ticks,
            y_ticks,
            label_h,
            title,
            hlines,
            heat,
            legend,
        })
    }
}

/// The inside corners [`LegendPos::Best`] tries, in order.
const CORNERS: [LegendPos; 4] = [
    LegendPos::UpperRight,
    LegendPos::UpperLeft,
    LegendPos::LowerLeft,
    LegendPos::LowerRight,
];

fn draw_panel<DB: DrawingBackend>(cv: &Canvas<DB>, panel: &Panel, lay: &Layout) -> DResult<()> {
    let s = cv.s;
    let frame = &lay.frame;
    let (px, cell) = (frame.px, lay.cell);
    if let Some(heat) = &lay.heat {
        draw_cells(
            cv,
            frame,
            heat.map,
            heat.scale,
            &heat.edges.0,
            &heat.edges.1,
        )?;
    }

    // Series, in layers; faint ones first within each layer.
    let mut order: Vec<&Series> = panel.series.iter().collect();
    order.sort_by_key(|s| !s.faint);
    for ser in &order {
        if let SeriesStyle::LineWithBand { lo, hi } = &ser.style {
            for poly in frame.bands(&ser.x, lo, hi) {
                cv.polygon(&poly, band_color(ser))?;
            }
        }
    }
    let hline_color = grey(0x55).mix(1.0);
    for h in &lay.hlines {
        let y = frame.point(frame.x.lo, h.y).1;
        cv.dashed(&[(px.x0, y), (px.x1, y)], hline_color, HLINE_WIDTH, DASH)?;
    }
    for ser in &order {
        let color = series_color(ser);
        for line in frame.polylines(ser) {
            cv.line(&line, color, &ser.style)?;
        }
    }
    for ser in &order {
        let color = series_color(ser);
        let shape = MarkerShape::of(ser.color);
        match &ser.style {
            SeriesStyle::Markers => {
                for p in frame.runs(&ser.x, &ser.y).concat() {
                    cv.marker(p, shape, color)?;
                }
            }
            SeriesStyle::ErrorBars { err } => {
                draw_error_bars(cv, frame, ser, err, color)?;
            }
            _ => {}
        }
    }

    draw_axes(cv, frame, &lay.x_ticks, &lay.y_ticks)?;
    if let Some(HeatLayout {
        map,
        scale: Some(scale),
        ticks: Some(ticks),
        label_x,
        ..
    }) = &lay.heat
    {
        draw_colorbar(cv, frame, map, *scale, ticks, px.x1 + label_x)?;
    }
    let ink = BLACK.mix(1.0);
    for (v, t) in &lay.x_ticks.major {
        let x = frame.point(*v, frame.y.lo).0;
        cv.text(
            t,
            (x, px.y1 + TICK_GAP * s),
            TICK_FONT,
            (HPos::Center, VPos::Top),
            false,
            ink,
        )?;
    }
    for (v, t) in &lay.y_ticks.major {
        let y = frame.point(frame.x.lo, *v).1;
        cv.text(
            t,
            (px.x0 - TICK_GAP * s, y),
            TICK_FONT,
            (HPos::Right, VPos::Center),
            false,
            ink,
        )?;
    }
    let mid_x = (px.x0 + px.x1) / 2.0;
    cv.text(
        &panel.x_label,
        (mid_x, cell.y1 - PAD * s),
        LABEL_FONT,
        (HPos::Center, VPos::Bottom),
        false,
        ink,
    )?;
    cv.text(
        &panel.y_label,
        (cell.x0 + PAD * s + lay.label_h / 2.0, (px.y0 + px.y1) / 2.0),
        LABEL_FONT,
        (HPos::Center, VPos::Center),
        true,
        ink,
    )?;
    if let Some(title) = &lay.title {
        for (i, line) in title.lines.iter().enumerate() {
            // Centred over the axes, but kept inside the panel.
            let half = cv.text_size(line, title.size)?.0 / 2.0;
            let x = mid_x
                .min(cell.x1 - PAD * s - half)
                .max(cell.x0 + PAD * s + half);
            let y = cell.y0 + PAD * s + title.rise + i as f64 * title.line_h;
            cv.text(
                line,
                (x, y),
                title.size,
                (HPos::Center, VPos::Top),
                false,
                ink,
            )?;
        }
    }
    for h in &lay.hlines {
        if let Some(label) = &h.label {
            let y = frame.point(frame.x.lo, h.y).1;
            cv.text(
                label,
                (px.x1 + TICK_GAP * s, y),
                HLINE_FONT,
                (HPos::Left, VPos::Center),
                false,
                hline_color,
            )?;
        }
    }
    if let Some(placed) = &lay.legend {
        placed.legend.draw(cv, placed.at)?;
    }
    Ok(())
}

fn draw_cells<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    frame: &Frame,
    h: &HeatMap,
    scale: Option<Axis>,
    ex: &[f64],
    ey: &[f64],
) -> DResult<()> {
    let nx = h.x.len();
    for j in 0..h.y.len() {
        for i in 0..nx {
            let z = h.z.get(j * nx + i).copied().unwrap_or(f64::NAN);
            let color = match scale {
                Some(a) if usable(z, h.log) => viridis(a.frac(z)),
                _ => grey(MISSING_GREY),
            };
            let a = frame.point(ex[i], ey[j]);
            let b = frame.point(ex[i + 1], ey[j + 1]);
            cv.rect(a, b, color.filled())?;
        }
    }
    Ok(())
}

/// The colour bar right of the axes (ticks and labels on its right, the label rotated with
/// its top at `label_x`), with a grey swatch for missing values below it when there are
/// any.
fn draw_colorbar<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    frame: &Frame,
    h: &HeatMap,
    scale: Axis,
    ticks: &Ticks,
    label_x: f64,
) -> DResult<()> {
    let s = cv.s;
    let px = frame.px;
    let x0 = px.x1 + 2.0 * PAD * s;
    let x1 = x0 + COLORBAR_WIDTH * s;
    let has_missing = h.has_missing();
    let swatch = if has_missing {
        1.5 * COLORBAR_WIDTH * s
    } else {
        0.0
    };
    let (y0, y1) = (px.y0, px.y1 - swatch);
    let n = ((y1 - y0) / s).ceil().max(1.0) as usize;
    for k in 0..n {
        let f0 = k as f64 / n as f64;
        let f1 = (k + 1) as f64 / n as f64;
        let color = viridis(0.5 * (f0 + f1));
        cv.rect(
            (x0, y1 - f1 * (y1 - y0)),
            (x1, y1 - f0 * (y1 - y0)),
            color.filled(),
        )?;
    }
    let ink = BLACK.mix(1.0);
    let width = FRAME_WIDTH * 0.75;
    let at = |v: f64| y1 - scale.frac(v) * (y1 - y0);
    for v in &ticks.minor {
        if scale.contains(*v) {
            cv.path(&[(x1, at(*v)), (x1 - MINOR_TICK * s, at(*v))], ink, width)?;
        }
    }
    for (v, t) in &ticks.major {
        if !scale.contains(*v) {
            continue;
        }
        let y = at(*v);
        cv.path(&[(x1, y), (x1 - MAJOR_TICK * s, y)], ink, width)?;
        cv.text(
            t,
            (x1 + TICK_GAP * s, y),
            TICK_FONT,
            (HPos::Left, VPos::Center),
            false,
            ink,
        )?;
    }
    let stroke = BLACK.stroke_width((FRAME_WIDTH * s).round() as u32);
    cv.rect((x0, y0), (x1, y1), stroke)?;
    if has_missing {
        let top = y1 + 0.5 * COLORBAR_WIDTH * s;
        cv.rect((x0, top), (x1, px.y1), grey(MISSING_GREY).filled())?;
        cv.rect((x0, top), (x1, px.y1), stroke)?;
        cv.text(
            &h.missing,
            (x1 + TICK_GAP * s, 0.5 * (top + px.y1)),
            TICK_FONT,
            (HPos::Left, VPos::Center),
            false,
            ink,
        )?;
    }
    let (_, label_h) = cv.text_size("0", LABEL_FONT)?;
    cv.text(
        &h.label,
        (label_x + label_h / 2.0, (y0 + y1) / 2.0),
        LABEL_FONT,
        (HPos::Center, VPos::Center),
        true,
        ink,
    )
}

fn draw_error_bars<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    frame: &Frame,
    ser: &Series,
    err: &[f64],
    color: RGBAColor,
) -> DResult<()> {
    let cap = MARKER_RADIUS * cv.s;
    let shape = MarkerShape::of(ser.color);
    for bar in frame.error_bars(ser, err) {
        if bar.top != bar.bottom {
            cv.path(&[bar.top, bar.bottom], color, LINE_WIDTH * 0.7)?;
            for (x, y) in [bar.top, bar.bottom] {
                cv.path(&[(x - cap, y), (x + cap, y)], color, LINE_WIDTH * 0.7)?;
            }
        }
        cv.marker(bar.at, shape, color)?;
    }
    Ok(())
}

/// One error bar in pixels: the point, and the bar's ends (both the point when there is
/// no finite error).
struct Bar {
    at: Pt,
    top: Pt,
    bottom: Pt,
}

/// Box frame with inward major and minor ticks on all four sides.
fn draw_axes<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    frame: &Frame,
    x_ticks: &Ticks,
    y_ticks: &Ticks,
) -> DResult<()> {
    let s = cv.s;
    let px = frame.px;
    let ink = BLACK.mix(1.0);
    let width = FRAME_WIDTH * 0.75;
    let xs = x_ticks
        .major
        .iter()
        .map(|(v, _)| (*v, MAJOR_TICK))
        .chain(x_ticks.minor.iter().map(|v| (*v, MINOR_TICK)));
    for (v, len) in xs {
        let x = frame.point(v, frame.y.lo).0;
        cv.path(&[(x, px.y1), (x, px.y1 - len * s)], ink, width)?;
        cv.path(&[(x, px.y0), (x, px.y0 + len * s)], ink, width)?;
    }
    let ys = y_ticks
        .major
        .iter()
        .map(|(v, _)| (*v, MAJOR_TICK))
        .chain(y_ticks.minor.iter().map(|v| (*v, MINOR_TICK)));
    for (v, len) in ys {
        let y = frame.point(frame.x.lo, v).1;
        cv.path(&[(px.x0, y), (px.x0 + len * s, y)], ink, width)?;
        cv.path(&[(px.x1, y), (px.x1 - len * s, y)], ink, width)?;
    }
    let stroke = BLACK.stroke_width((FRAME_WIDTH * s).round() as u32);
    cv.rect((px.x0, px.y0), (px.x1, px.y1), stroke)
}

/// A measured legend: entries, box size and row height, in canvas pixels.
struct Legend<'p> {
    entries: Vec<(&'p Series, &'p str)>,
    w: f64,
    h: f64,
    row: f64,
}

impl<'p> Legend<'p> {
    fn measure<DB: DrawingBackend>(cv: &Canvas<DB>, panel: &'p Panel) -> DResult<Option<Self>> {
        if panel.legend == LegendPos::None {
            return Ok(None);
        }
        let entries: Vec<(&Series, &str)> = panel
            .series
            .iter()
            .filter_map(|s| s.label.as_deref().map(|l| (s, l)))
            .collect();
        if entries.is_empty() {
            return Ok(None);
        }
        let mut text_w: f64 = 0.0;
        for (_, l) in &entries {
            text_w = text_w.max(cv.text_size(l, LEGEND_FONT)?.0);
        }
        let s = cv.s;
        let row = LEGEND_FONT * 1.4 * s;
        Ok(Some(Self {
            w: 2.0 * PAD * s + LEGEND_SAMPLE * s + PAD * s + text_w,
            h: PAD * s + row * entries.len() as f64,
            row,
            entries,
        }))
    }

    /// Top-left corner of the legend box in an inside corner `pos` of the axes `px`.
    fn corner(&self, pos: LegendPos, px: Rect, inset: f64) -> Pt {
        let left = px.x0 + inset;
        let right = px.x1 - inset - self.w;
        let top = px.y0 + inset;
        let bottom = px.y1 - inset - self.h;
        match pos {
            LegendPos::UpperLeft => (left, top),
            LegendPos::LowerLeft => (left, bottom),
            LegendPos::LowerRight => (right, bottom),
            _ => (right, top),
        }
    }

    /// The box with its top-left corner at `at`.
    fn rect(&self, (x, y): Pt) -> Rect {
        Rect {
            x0: x,
            y0: y,
            x1: x + self.w,
            y1: y + self.h,
        }
    }

    fn draw<DB: DrawingBackend>(&self, cv: &Canvas<DB>, (x0, y0): Pt) -> DResult<()> {
        let s = cv.s;
        cv.rect(
            (x0, y0),
            (x0 + self.w, y0 + self.h),
            WHITE.mix(0.8).filled(),
        )?;
        cv.rect(
            (x0, y0),
            (x0 + self.w, y0 + self.h),
            grey(0xAA).stroke_width(s.round() as u32),
        )?;
        for (i, (ser, label)) in self.entries.iter().enumerate() {
            let cy = y0 + PAD * s / 2.0 + (i as f64 + 0.5) * self.row;
            let (a, b) = (x0 + PAD * s, x0 + PAD * s + LEGEND_SAMPLE * s);
            let mid = (a + b) / 2.0;
            let color = series_color(ser);
            let shape = MarkerShape::of(ser.color);
            match &ser.style {
                SeriesStyle::Line | SeriesStyle::Dashed | SeriesStyle::Dotted => {
                    cv.line(&[(a, cy), (b, cy)], color, &ser.style)?;
                }
                SeriesStyle::Steps => {
                    let half = 0.25 * self.row;
                    let step = [
                        (a, cy + half),
                        (mid, cy + half),
                        (mid, cy - half),
                        (b, cy - half),
                    ];
                    cv.path(&step, color, LINE_WIDTH)?;
                }
                SeriesStyle::Markers => cv.marker((mid, cy), shape, color)?,
                SeriesStyle::LineWithBand { .. } => {
                    let half = 0.3 * self.row;
                    cv.rect((a, cy - half), (b, cy + half), band_color(ser).filled())?;
                    cv.path(&[(a, cy), (b, cy)], color, LINE_WIDTH)?;
                }
                SeriesStyle::ErrorBars { .. } => {
                    let half = 0.35 * self.row;
                    cv.path(
                        &[(mid, cy - half), (mid, cy + half)],
                        color,
                        LINE_WIDTH * 0.7,
                    )?;
                    cv.marker((mid, cy), shape, color)?;
                }
            }
            cv.text(
                label,
                (b + PAD * s, cy),
                LEGEND_FONT,
                (HPos::Left, VPos::Center),
                false,
                BLACK.mix(1.0),
            )?;
        }
        Ok(())
    }
}

/// Pixel positions of a panel's plotted data: markers, points every few pixels along
/// lines, error bars and band edges, and through bands. The legend must cover none.
fn data_points(panel: &Panel, frame: &Frame, s: f64) -> Vec<Pt> {
    let step = 4.0 * s;
    let mut pts = Vec::new();
    let along = |line: &[Pt], pts: &mut Vec<Pt>| {
        pts.extend(line.first());
        for w in line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let n = (len / step).ceil().max(1.0) as usize;
            pts.extend((1..=n).map(|k| {
                let t = k as f64 / n as f64;
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            }));
        }
    };
    for ser in &panel.series {
        for line in frame.polylines(ser) {
            along(&line, &mut pts);
        }
        match &ser.style {
            SeriesStyle::Markers => pts.extend(frame.runs(&ser.x, &ser.y).concat()),
            SeriesStyle::ErrorBars { err } => {
                for bar in frame.error_bars(ser, err) {
                    along(&[bar.top, bar.bottom], &mut pts);
                    pts.push(bar.at);
                }
            }
            SeriesStyle::LineWithBand { lo, hi } => {
                for poly in frame.bands(&ser.x, lo, hi) {
                    // Upper edge forwards, lower edge backwards: join each x's pair too.
                    along(&poly, &mut pts);
                    let n = poly.len() / 2;
                    for i in 0..n {
                        along(&[poly[i], poly[poly.len() - 1 - i]], &mut pts);
                    }
                }
            }
            _ => {}
        }
    }
    pts
}

/// Render `fig` and write its data as `<stem>.csv`, all three files carrying `provenance`
/// (the CSV as `#` comment lines above its header): columns `panel,series,x,y,z`, one row
/// per point (heat-map cells carry `z`), the series named by [`Series::csv_name`] (the
/// heat map by its label), fields quoted as RFC 4180 asks.
pub fn write_figure(fig: &Figure, stem: &Path, provenance: &Provenance) -> Result<()> {
    render(fig, stem, provenance)?;
    let mut csv = provenance.csv_comments();
    csv.push_str("panel,series,x,y,z\n");
    for (p, panel) in fig.panels.iter().enumerate() {
        if let Some(h) = &panel.heatmap {
            let name = csv_field(&h.label);
            for (j, y) in h.y.iter().enumerate() {
                for (i, x) in h.x.iter().enumerate() {
                    let z = h.z.get(j * h.x.len() + i).copied().unwrap_or(f64::NAN);
                    let _ = writeln!(csv, "{p},{name},{x:e},{y:e},{z:e}");
                }
            }
        }
        for series in &panel.series {
            let name = csv_field(series.csv_name().unwrap_or_default());
            for (x, y) in series.x.iter().zip(&series.y) {
                let _ = writeln!(csv, "{p},{name},{x:e},{y:e},");
            }
        }
    }
    let mut path = stem.as_os_str().to_owned();
    path.push(".csv");
    write_atomic(Path::new(&path), csv.as_bytes())
}

/// A CSV field: quoted (inner quotes doubled) if it holds a comma, quote or line break.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_splits_sub_and_superscripts() {
        use Script::*;
        let runs = |t: &str| parse_markup(t);
        assert_eq!(
            runs("ε_g"),
            [(Normal, "ε".to_owned()), (Sub, "g".to_owned())]
        );
        assert_eq!(
            runs("ε_{PCA}(1)"),
            [
                (Normal, "ε".to_owned()),
                (Sub, "PCA".to_owned()),
                (Normal, "(1)".to_owned())
            ]
        );
        assert_eq!(
            runs("D^{-1/2}x_"),
            [
                (Normal, "D".to_owned()),
                (Super, "-1/2".to_owned()),
                (Normal, "x_".to_owned())
            ]
        );
        assert!(runs("").is_empty());
    }

    #[test]
    fn powers_of_ten_use_superscripts() {
        assert_eq!(format_power_of_ten(0.01), "10⁻²");
        assert_eq!(format_power_of_ten(1.0), "10⁰");
        assert_eq!(format_power_of_ten(1000.0), "10³");
        assert_eq!(format_power_of_ten(1e-10), "10⁻¹⁰");
    }

    #[test]
    fn linear_labels_have_minus_sign_and_no_negative_zero() {
        assert_eq!(format_linear(-0.5, 0.5), "\u{2212}0.5");
        assert_eq!(format_linear(-1e-17, 0.2), "0.0");
        assert_eq!(format_linear(20.0, 10.0), "20");
        assert_eq!(format_linear(0.3, 0.1), "0.3");
    }

    #[test]
    fn log_axis_is_clipped_to_the_data_and_snaps_to_near_decades() {
        // 0.0015 (with margin) is within a fifth of a decade of 10⁻³, 0.5 is not near 10⁰.
        let ax = Axis::from_values([0.0015, 0.5, f64::NAN, -1.0, 0.0].into_iter(), true);
        assert_eq!(ax.lo, 1e-3);
        assert!(ax.hi > 0.5 && ax.hi < 0.7, "{ax:?}");
        let t = ax.ticks(7);
        let labels: Vec<&str> = t.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["10⁻³", "10⁻²", "10⁻¹"]);
        assert!(t.minor.iter().any(|&v| (v - 0.02).abs() < 1e-12));
        assert!(t.minor.iter().all(|&v| ax.contains(v)));
        // Less than two decades: 2·10ⁿ and 5·10ⁿ are labelled too.
        let ax = Axis::from_values([30.0, 400.0].into_iter(), true);
        let labels: Vec<String> = ax.ticks(7).major.into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["50", "10²", "200"]);
    }

    #[test]
    fn many_decades_label_every_other_decade() {
        let ax = Axis::from_values([1e-8, 1e6].into_iter(), true);
        let t = ax.ticks(7);
        assert!(t.major.len() <= 8, "{:?}", t.major);
        assert!(t.minor.iter().all(|v| ax.contains(*v)));
    }

    #[test]
    fn linear_axis_has_margin_and_nice_ticks() {
        let ax = Axis::from_values([0.0, 1.0, f64::INFINITY].into_iter(), false);
        assert!(ax.lo < 0.0 && ax.hi > 1.0 && ax.hi < 1.1);
        let labels: Vec<String> = ax.ticks(5).major.into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let flat = Axis::from_values([3.0, 3.0].into_iter(), false);
        assert!(flat.lo < 3.0 && flat.hi > 3.0);
        let empty = Axis::from_values(std::iter::empty(), true);
        assert_eq!((empty.lo, empty.hi), (1.0, 10.0));
    }

    #[test]
    fn dashes_alternate_on_and_off() {
        let d = dashes(&[(0.0, 0.0), (50.0, 0.0)], 10.0, 5.0);
        assert_eq!(d.len(), 4);
        assert_eq!(d[0], vec![(0.0, 0.0), (10.0, 0.0)]);
        assert_eq!(d[1], vec![(15.0, 0.0), (25.0, 0.0)]);
        assert!(dashes(&[], 1.0, 1.0).is_empty());
    }

    #[test]
    fn viridis_hits_its_anchors_and_clamps() {
        assert_eq!(viridis(0.0), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(viridis(0.5), RGBColor(0x26, 0x82, 0x8E));
        assert_eq!(viridis(1.0), RGBColor(0xFD, 0xE7, 0x25));
        assert_eq!(viridis(2.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        // Halfway between the first two anchors.
        assert_eq!(viridis(0.0625), RGBColor(0x46, 0x15, 0x66));
    }

    #[test]
    fn cell_edges_are_midpoints() {
        assert_eq!(cell_edges(&[1.0, 2.0, 4.0], false), [0.5, 1.5, 3.0, 5.0]);
        let e = cell_edges(&[1.0, 10.0, 100.0], true);
        let want = [
            10f64.powf(-0.5),
            10f64.powf(0.5),
            10f64.powf(1.5),
            10f64.powf(2.5),
        ];
        for (a, b) in e.iter().zip(want) {
            assert!((a / b - 1.0).abs() < 1e-12, "{e:?}");
        }
        assert_eq!(cell_edges(&[3.0], false), [2.5, 3.5]);
    }

    /// A panel whose markers fill the whole axes, and one with data only along the
    /// bottom edge.
    fn legend_panels() -> (Panel, Panel) {
        let grid: Vec<f64> = (0..=20).map(f64::from).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for &a in &grid {
            for &b in &grid {
                x.push(a);
                y.push(b);
            }
        }
        let mut full = Panel::new("x", "y");
        full.series
            .push(Series::new(x, y, SeriesStyle::Markers).with_label("everywhere"));
        let mut low = Panel::new("x", "y");
        low.series.push(
            Series::new(grid.clone(), vec![0.0; grid.len()], SeriesStyle::Line)
                .with_label("bottom"),
        );
        low.series
            .push(Series::new(vec![0.0], vec![10.0], SeriesStyle::Markers).with_label("top left"));
        (full, low)
    }

    #[test]
    fn legend_check_flags_a_legend_on_data_and_best_avoids_it() {
        let (full, low) = legend_panels();
        for pos in CORNERS {
            let mut p = full.clone();
            p.legend = pos;
            let check = legend_overlaps(&Figure::row(vec![p])).unwrap();
            assert_eq!(check.len(), 1);
            assert_eq!(check[0].placement, pos);
            assert!(check[0].covered > 0, "{check:?}");
        }
        // No free corner: outside, covering nothing.
        let check = legend_overlaps(&Figure::row(vec![full])).unwrap();
        assert_eq!(check[0].placement, LegendPos::Outside);
        assert_eq!(check[0].covered, 0);
        // The upper right is free.
        let check = legend_overlaps(&Figure::row(vec![low.clone()])).unwrap();
        assert_eq!(check[0].placement, LegendPos::UpperRight);
        assert_eq!(check[0].covered, 0);
        // Lines count along their length: a legend in the lower left covers the bottom line.
        let mut p = low;
        p.legend = LegendPos::LowerLeft;
        let check = legend_overlaps(&Figure::row(vec![p])).unwrap();
        assert!(check[0].covered > 0, "{check:?}");
    }

    #[test]
    fn steps_change_level_halfway() {
        let s = steps(&[(0.0, 1.0), (10.0, 5.0), (20.0, 5.0)]);
        assert_eq!(
            s,
            [
                (0.0, 1.0),
                (5.0, 1.0),
                (5.0, 5.0),
                (15.0, 5.0),
                (15.0, 5.0),
                (20.0, 5.0)
            ]
        );
        assert_eq!(steps(&[(1.0, 2.0)]), [(1.0, 2.0)]);
    }

    #[test]
    fn numbers_and_counts_read_naturally() {
        assert_eq!(format_number(4.0), "4");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-0.48), "\u{2212}0.48");
        assert_eq!(format_number(2000.0), "2000");
        assert_eq!(format_number(1.0 / 3.0), "0.3333");
        assert_eq!(format_number(2e-5), "2·10⁻⁵");
        assert_eq!(format_number(1e6), "10⁶");
        assert_eq!(count(1, "seed"), "1 seed");
        assert_eq!(count(4, "seed"), "4 seeds");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("SGD"), "SGD");
        assert_eq!(csv_field("k=0, m=1"), "\"k=0, m=1\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn long_titles_split_at_a_comma_or_colon() {
        let t = "erf, K = 3, η = 0.4: 1 seed, mean norm. max dev. 0.012";
        let lines = split_title(t).unwrap();
        assert_eq!(
            lines,
            ["erf, K = 3, η = 0.4:", "1 seed, mean norm. max dev. 0.012"]
        );
        assert_eq!(
            split_title("a^{b, c} and d").unwrap(),
            ["a^{b, c}", "and d"]
        );
        assert!(split_title("word").is_none());
    }

    #[test]
    fn grid_shape_fills_rows() {
        assert_eq!(grid_shape(3, 0), (3, 1));
        assert_eq!(grid_shape(5, 2), (2, 3));
        assert_eq!(grid_shape(0, 0), (1, 1));
        assert_eq!(grid_shape(2, 4), (2, 1));
    }
}
