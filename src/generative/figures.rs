//! Figures of the generative model (Nguyen, Wong & Hegde 2019 setting): expected-GD theory as
//! lines, simulations as markers, predictions dashed. Each maker takes `quick` (a small, fast
//! version for tests) and returns a [`Figure`] for [`crate::plot::render`].
//!
//! The shipped example configs ([`CONFIGS`]) are the starting points.

use rayon::prelude::*;
use serde_json::Value;

use super::params::Params;
use super::{theory, Experiment, SimRun, TheoryRun};
use crate::error::{Error, Result};
use crate::plot::{format_number, Figure, HLine, Panel, Series, SeriesStyle};

/// The example configs, one per claim: `(name, TOML)`.
pub const CONFIGS: [(&str, &str); 7] = [
    ("orthonormal", include_str!("configs/orthonormal.toml")),
    (
        "gaussian_floor",
        include_str!("configs/gaussian_floor.toml"),
    ),
    ("mixture", include_str!("configs/mixture.toml")),
    ("nonneg", include_str!("configs/nonneg.toml")),
    ("relu", include_str!("configs/relu.toml")),
    ("basin", include_str!("configs/basin.toml")),
    ("failure", include_str!("configs/failure.toml")),
];

/// A config by name from [`CONFIGS`].
pub fn config(name: &str) -> Result<&'static str> {
    CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| Error::Unsupported(format!("no generative example config named `{name}`")))
}

/// Parse a model config the way the registry does (without `[model]`/`[sweep]`), apply
/// `overrides` (a TOML fragment merged key by key) and validate.
pub fn experiment(text: &str, overrides: &str) -> Result<Experiment> {
    let bad = |e: toml::de::Error| Error::InvalidState(format!("built-in config: {e}"));
    let mut t: toml::Table = toml::from_str(text).map_err(bad)?;
    t.remove("model");
    t.remove("sweep");
    let o: toml::Table = toml::from_str(overrides).map_err(bad)?;
    for (section, v) in o {
        match (t.get_mut(&section), v) {
            (Some(toml::Value::Table(dst)), toml::Value::Table(src)) => dst.extend(src),
            (_, v) => {
                t.insert(section, v);
            }
        }
    }
    let p: Params = crate::base::config::params_from_table(t, super::KIND)?;
    p.check()
}

fn none(_: u64) {}

fn col(t: &crate::base::table::Table, name: &str) -> Vec<f64> {
    t.column(name).unwrap_or_default()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// One panel of figure 1 (and of the `compare` figure).
pub fn distance_panel(
    title: &str,
    x: &Experiment,
    th: &TheoryRun,
    sim: &SimRun,
    y_name: &str,
) -> Panel {
    let steps: Vec<f64> = th.table.index.clone();
    let mut p = Panel::new("step", y_name);
    p.title = Some(title.to_string());
    p.y_log = true;
    p.series.push(
        Series::new(
            steps.clone(),
            col(&th.table, "distance_mean"),
            SeriesStyle::Line,
        )
        .with_label("expected GD, mean")
        .with_color(0),
    );
    p.series.push(
        Series::new(
            steps.clone(),
            col(&th.table, "distance_max"),
            SeriesStyle::Line,
        )
        .with_label("expected GD, max")
        .with_color(4),
    );
    let sim_label = format!(
        "{}, mean",
        sim.record["algorithm"]["gradient"]
            .as_str()
            .unwrap_or("sim")
    );
    p.series.push(
        Series::new(
            sim.table.index.clone(),
            col(&sim.table, "distance_mean"),
            SeriesStyle::Markers,
        )
        .with_label(sim_label)
        .with_color(1),
    );
    // Envelope (δ − floor)ρˢ + floor with the predicted rate (the Hessian rate when
    // available) and the predicted floor f‖Ĝ_i‖ for signed sparse codes, else the measured
    // floor of expected GD; cut where it falls far below the data.
    let r = &th.record;
    let rho = match num(&r["predicted"]["hessian"]["rate"]) {
        v if v.is_finite() => v,
        _ => num(&r["predicted"]["rate"]),
    };
    let formula = x.k > 1 && x.law.sign == super::data::Sign::Rademacher;
    let floor = if formula {
        num(&r["predicted"]["floor_mean"]).max(0.0)
    } else {
        num(&r["fitted"]["floor_mean"])
    };
    let dm = col(&th.table, "distance_mean");
    let d0 = dm.first().copied().unwrap_or(f64::NAN);
    let lowest = dm
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let env: Vec<f64> = steps
        .iter()
        .map(|s| (d0 - floor).max(0.0) * rho.powf(*s) + floor)
        .map(|v| if v < 0.1 * lowest { f64::NAN } else { v })
        .collect();
    p.series.push(
        Series::new(steps, env, SeriesStyle::Dashed)
            .with_label(format!("(δ − floor)ρˢ + floor, ρ = {}", format_number(rho)))
            .with_color(5),
    );
    if floor > 0.0 {
        p.hlines.push(HLine {
            y: floor,
            label: Some(if formula {
                "f‖Ĝ_i‖".into()
            } else {
                "floor".into()
            }),
        });
    }
    p
}

/// Figure 1: distance vs step, one panel per generative model.
pub fn distance_figure(quick: bool) -> Result<Figure> {
    let cases: Vec<(&str, &str, String)> = if quick {
        vec![
            ("(a) orthonormal sparse coding", "orthonormal", "[training]\nsteps = 30\n[simulation]\ntest_samples = 200".into()),
            (
                "(b) mixture",
                "mixture",
                "[data]\ndim = 16\natoms = 4\nsamples = 500\n[theory]\nbatch = 2000\n[training]\nsteps = 20\n[simulation]\ntest_samples = 200"
                    .into(),
            ),
        ]
    } else {
        vec![
            (
                "(a) orthonormal sparse coding, n = 24, m = 16, k = 3",
                "orthonormal",
                String::new(),
            ),
            (
                "(b) Gaussian sparse coding, n = 256, m = 32, k = 2",
                "gaussian_floor",
                String::new(),
            ),
            (
                "(c) mixture, n = 32, m = 8, σ_η = 0.1",
                "mixture",
                String::new(),
            ),
            (
                "(d) non-negative, n = 128, m = 16, k = 3",
                "nonneg",
                String::new(),
            ),
        ]
    };
    let panels = cases
        .par_iter()
        .map(|(title, name, over)| {
            let x = experiment(config(name)?, over)?;
            let th = x.theory(0, &none)?;
            let sim = x.simulate(0, &none)?;
            Ok(distance_panel(
                title,
                &x,
                &th,
                &sim,
                "distance to the truth",
            ))
        })
        .collect::<Result<Vec<Panel>>>()?;
    Ok(Figure::grid(panels, 2))
}

/// Figure 2: floors.
pub fn floor_figure(quick: bool) -> Result<Figure> {
    // (a) sparse coding: floor vs n at m = 32 (quick: m = 16), k = 3 (quick: 2).
    let (m, k, ns, steps, seeds): (usize, usize, Vec<usize>, u64, u64) = if quick {
        (12, 2, vec![48, 96], 40, 1)
    } else {
        (32, 3, vec![96, 128, 256, 512, 1024], 100, 2)
    };
    let pts = ns
        .par_iter()
        .map(|&n| -> Result<(f64, f64, f64)> {
            let x = experiment(
                config("gaussian_floor")?,
                &format!(
                    "[data]\ndim = {n}\natoms = {m}\nsparsity = {k}\n[training]\nsteps = {steps}\n[simulation]\ntest_samples = 200\n[output]\npoints = 30"
                ),
            )?;
            let mut fl = 0.0;
            let mut pr = 0.0;
            for s in 0..seeds {
                let th = x.theory(s, &none)?;
                fl += num(&th.record["fitted"]["floor_mean"]);
                pr += num(&th.record["predicted"]["floor_mean"]);
            }
            Ok((n as f64, fl / seeds as f64, pr / seeds as f64))
        })
        .collect::<Result<Vec<_>>>()?;
    let f = theory::floor_factor(m, k);
    let dense: Vec<f64> = (0..50)
        .map(|i| ns[0] as f64 * (ns[ns.len() - 1] as f64 / ns[0] as f64).powf(i as f64 / 49.0))
        .collect();
    let mut a = Panel::new("n", "floor of the mean distance");
    a.title = Some(format!("(a) sparse coding, m = {m}, k = {k}"));
    a.x_log = true;
    a.y_log = true;
    a.series.push(
        Series::new(
            dense.clone(),
            dense
                .iter()
                .map(|n| f * ((m as f64 - 1.0) / n).sqrt())
                .collect(),
            SeriesStyle::Dashed,
        )
        .with_label("f√((m−1)/n)")
        .with_color(5),
    );
    a.series.push(
        Series::new(
            pts.iter().map(|p| p.0).collect(),
            pts.iter().map(|p| p.2).collect(),
            SeriesStyle::Line,
        )
        .with_label("f·mean‖Ĝ_i‖ (this A)")
        .with_color(4),
    );
    a.series.push(
        Series::new(
            pts.iter().map(|p| p.0).collect(),
            pts.iter().map(|p| p.1).collect(),
            SeriesStyle::Markers,
        )
        .with_label("expected GD")
        .with_color(0),
    );
    // (b) mixture floor vs σ_η (Monte Carlo theory) and (c) vs N (fixed set).
    let (sig, big_n, mix_over) = if quick {
        (vec![0.05, 0.1], vec![500usize, 2000], "[data]\ndim = 16\natoms = 4\n[theory]\nbatch = 2000\n[training]\nsteps = 30\n[simulation]\ntest_samples = 200")
    } else {
        (
            vec![0.02, 0.05, 0.1, 0.15],
            vec![1000usize, 4000, 16000, 64000],
            "[training]\nsteps = 100\n[simulation]\ntest_samples = 1000",
        )
    };
    let by_sigma = sig
        .par_iter()
        .map(|&s| -> Result<(f64, f64)> {
            let x = experiment(
                config("mixture")?,
                &merge(mix_over, &format!("[data]\nnoise = {s}")),
            )?;
            let th = x.theory(0, &none)?;
            Ok((s, num(&th.record["fitted"]["floor_mean"])))
        })
        .collect::<Result<Vec<_>>>()?;
    let by_n = big_n
        .par_iter()
        .map(|&nn| -> Result<(f64, f64)> {
            let x = experiment(
                config("mixture")?,
                &merge(mix_over, &format!("[data]\nsamples = {nn}")),
            )?;
            let sim = x.simulate(0, &none)?;
            Ok((nn as f64, num(&sim.record["fitted"]["floor_mean"])))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut b = Panel::new("σ_η", "floor of the mean distance");
    b.title = Some("(b) mixture, expected GD (Monte Carlo)".into());
    b.y_log = true;
    b.series.push(
        Series::new(
            by_sigma.iter().map(|p| p.0).collect(),
            by_sigma.iter().map(|p| p.1).collect(),
            SeriesStyle::Markers,
        )
        .with_label("floor")
        .with_color(0),
    );
    let mut c = Panel::new("N", "floor of the mean distance");
    c.title = Some("(c) mixture, full-batch GD on N samples".into());
    c.x_log = true;
    c.y_log = true;
    c.series.push(
        Series::new(
            by_n.iter().map(|p| p.0).collect(),
            by_n.iter().map(|p| p.1).collect(),
            SeriesStyle::Markers,
        )
        .with_label("floor")
        .with_color(1),
    );
    if let Some(&(n0, f0)) = by_n.first() {
        let xs: Vec<f64> = by_n.iter().map(|p| p.0).collect();
        c.series.push(
            Series::new(
                xs.clone(),
                xs.iter().map(|n| f0 * (n0 / n).sqrt()).collect(),
                SeriesStyle::Dashed,
            )
            .with_label("∝ N^{−1/2}")
            .with_color(5),
        );
    }
    Ok(Figure::row(vec![a, b, c]))
}

/// Merge two TOML fragments (sections of the second extend those of the first).
fn merge(a: &str, b: &str) -> String {
    let mut t: toml::Table = toml::from_str(a).unwrap_or_default();
    let o: toml::Table = toml::from_str(b).unwrap_or_default();
    for (section, v) in o {
        match (t.get_mut(&section), v) {
            (Some(toml::Value::Table(dst)), toml::Value::Table(src)) => dst.extend(src),
            (_, v) => {
                t.insert(section, v);
            }
        }
    }
    toml::to_string(&t).unwrap_or_default()
}

/// Figure 3: success fraction vs δ.
pub fn basin_figure(quick: bool) -> Result<Figure> {
    let (deltas, seeds, over): (Vec<f64>, u64, &str) = if quick {
        (vec![0.2, 1.2], 3, "[data]\ndim = 12\natoms = 8\nsparsity = 2\n[training]\nsteps = 60\n[simulation]\ntest_samples = 50\n[output]\npoints = 2")
    } else {
        (
            vec![0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4],
            12,
            "[simulation]\ntest_samples = 50\n[output]\npoints = 2",
        )
    };
    let frac = |extra: &str| -> Result<f64> {
        let x = experiment(config("basin")?, &merge(over, extra))?;
        let ok = (0..seeds)
            .into_par_iter()
            .map(|s| match x.theory(s, &none) {
                Ok(t) => Ok(t.record["success"] == true),
                // Blowing up from a far start is a failure to recover, not an error here.
                Err(Error::Diverged { .. }) => Ok(false),
                Err(e) => Err(e),
            })
            .collect::<Result<Vec<bool>>>()?;
        Ok(ok.iter().filter(|b| **b).count() as f64 / seeds as f64)
    };
    let ys = deltas
        .iter()
        .map(|d| frac(&format!("[init]\ndistance = {d}")))
        .collect::<Result<Vec<f64>>>()?;
    let random = frac("[init]\nkind = \"random\"")?;
    let mut p = Panel::new("δ", "success fraction (max d < 10⁻³)");
    p.title = Some(format!("orthonormal, exact GD, {seeds} seeds per δ"));
    p.series.push(
        Series::new(deltas.clone(), ys, SeriesStyle::Markers)
            .with_label("sphere init at δ")
            .with_color(0),
    );
    p.series.push(
        Series::new(
            vec![deltas[deltas.len() - 1] + 0.1],
            vec![random],
            SeriesStyle::Markers,
        )
        .with_label("random init N(0, I/n)")
        .with_color(5),
    );
    Ok(Figure::row(vec![p]))
}

/// Figure 4: support recovery vs step.
pub fn support_figure(quick: bool) -> Result<Figure> {
    let cases: Vec<(&str, &str, &str)> = if quick {
        vec![("(a) incoherent", "gaussian_floor", "[data]\ndim = 48\natoms = 12\n[training]\nsteps = 20\ngradient = \"exact\"\n[simulation]\ntest_samples = 300")]
    } else {
        vec![
            ("(a) n = 128, m = 32, k = 3", "gaussian_floor", "[data]\ndim = 128\nsparsity = 3\nsamples = 4000\n[training]\nsteps = 100\n[simulation]\ntest_samples = 5000"),
            ("(b) failure regime n = 64, m = 32, k = 3", "failure", "[training]\nsteps = 100\n[data]\nsamples = 4000\n[simulation]\ntest_samples = 5000"),
        ]
    };
    let panels = cases
        .par_iter()
        .map(|(title, name, over)| -> Result<Panel> {
            let x = experiment(config(name)?, over)?;
            let th = x.theory(0, &none)?;
            let sim = x.simulate(0, &none)?;
            let rows = |r: &Value, key: &str| -> Vec<f64> {
                r["support_rows"][key]
                    .as_array()
                    .map(|a| a.iter().map(num).collect())
                    .unwrap_or_default()
            };
            let mut p = Panel::new("step", "support recovery");
            p.title = Some(title.to_string());
            p.series.push(
                Series::new(
                    th.table.index.clone(),
                    col(&th.table, "support_f1"),
                    SeriesStyle::Line,
                )
                .with_label("F1, expected GD")
                .with_color(0),
            );
            p.series.push(
                Series::new(
                    th.table.index.clone(),
                    rows(&th.record, "exact_rate"),
                    SeriesStyle::Line,
                )
                .with_label("exact support, expected GD")
                .with_color(4),
            );
            p.series.push(
                Series::new(
                    sim.table.index.clone(),
                    col(&sim.table, "support_f1"),
                    SeriesStyle::Markers,
                )
                .with_label("F1, simulation")
                .with_color(1),
            );
            p.series.push(
                Series::new(
                    sim.table.index.clone(),
                    rows(&sim.record, "exact_rate"),
                    SeriesStyle::Markers,
                )
                .with_label("exact support, simulation")
                .with_color(5),
            );
            Ok(p)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Figure::row(panels))
}

/// Figure 5: fitted vs predicted rate over a sweep of η.
pub fn rate_figure(quick: bool) -> Result<Figure> {
    // η = c·m/(v₂k); prediction max|1 − ηλ| over the four Hessian modes at the truth.
    let (cs, cases): (Vec<f64>, Vec<(&str, &str, &str)>) = if quick {
        (
            vec![0.15, 0.25],
            vec![(
                "orthonormal",
                "orthonormal",
                "[training]\nsteps = 80\n[simulation]\ntest_samples = 50\n[output]\npoints = 81",
            )],
        )
    } else {
        (
            vec![0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45],
            vec![
                ("orthonormal n = 24, m = 16, k = 3", "orthonormal", "[training]\nsteps = 400\n[simulation]\ntest_samples = 50\n[output]\npoints = 401"),
                ("Gaussian n = 256, m = 32, k = 2", "gaussian_floor", "[training]\nsteps = 400\n[simulation]\ntest_samples = 50\n[output]\npoints = 401"),
            ],
        )
    };
    let mut p = Panel::new("predicted rate max|1 − ηλ|", "fitted rate");
    p.title = Some("rate over a sweep of η = c·m/(v₂k)".into());
    let mut lo: f64 = 1.0;
    for (ci, (label, name, over)) in cases.iter().enumerate() {
        let pts = cs
            .par_iter()
            .map(|c| -> Result<(f64, f64)> {
                let x0 = experiment(config(name)?, over)?;
                let lr = c * x0.m as f64 / (x0.law.v2() * x0.k as f64);
                let x = experiment(
                    config(name)?,
                    &merge(over, &format!("[training]\nlr = {lr}")),
                )?;
                let th = x.theory(0, &none)?;
                Ok((
                    num(&th.record["predicted"]["rate_modes"]),
                    num(&th.record["fitted"]["rate"]),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        lo = pts.iter().fold(lo, |a, p| a.min(p.0).min(p.1));
        p.series.push(
            Series::new(
                pts.iter().map(|q| q.0).collect(),
                pts.iter().map(|q| q.1).collect(),
                SeriesStyle::Markers,
            )
            .with_label(*label)
            .with_color(ci + 1),
        );
    }
    p.series.insert(
        0,
        Series::new(
            vec![lo - 0.02, 1.0],
            vec![lo - 0.02, 1.0],
            SeriesStyle::Dashed,
        )
        .with_label("fitted = predicted")
        .with_color(0),
    );
    Ok(Figure::row(vec![p]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example config parses through Params and validates.
    #[test]
    fn example_configs_are_valid() {
        for (name, text) in CONFIGS {
            let t: toml::Table = toml::from_str(text).unwrap();
            assert_eq!(t["model"]["kind"].as_str(), Some("generative"), "{name}");
            experiment(text, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
