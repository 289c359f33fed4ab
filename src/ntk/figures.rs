//! The model's figures (Nguyen, Wong & Hegde 2021): theory as lines, simulation as markers.
//! Each maker runs its experiments on the built-in default data (12 unit points in ℝ⁶ from
//! `data.seed = 42`); `quick = true` gives a small, fast version for tests.

use crate::base::Dynamics;
use rayon::prelude::*;

use super::net::Regime;
use super::{tied_init_reldev, Experiment, Params, SimRun};
use crate::base::grid::Spacing;
use crate::error::Result;
use crate::plot::{Figure, HLine, LegendPos, Panel, Series, SeriesStyle};

/// Per config, the mean over its finished replicates of the record value `key`.
fn record_means(runs: &[Vec<Option<SimRun>>], key: &str) -> Vec<f64> {
    runs.iter()
        .map(|r| mean(&r.iter().flatten().map(|s| rec(s, key)).collect::<Vec<_>>()))
        .collect()
}

fn params(regime: Regime, m: usize, steps: u64) -> Params {
    let mut p = Params::default();
    p.training.regime = regime;
    p.network.width = m;
    p.training.steps = steps;
    p.output.gram = false;
    p
}

/// Run `seeds` replicates of each config in parallel (results in input order); a diverged
/// run is `None`.
fn sims(configs: &[Params], seeds: u64) -> Result<Vec<Vec<Option<SimRun>>>> {
    let exps: Vec<Experiment> = configs.iter().map(Params::check).collect::<Result<_>>()?;
    let tasks: Vec<(usize, u64)> = (0..exps.len())
        .flat_map(|i| (0..seeds).map(move |s| (i, s)))
        .collect();
    let runs: Vec<Option<SimRun>> = tasks
        .par_iter()
        .map(|&(i, s)| {
            exps[i]
                .simulate(exps[i].replicate_seed(s as usize), &|_| {})
                .ok()
        })
        .collect();
    let mut out = vec![Vec::new(); exps.len()];
    for ((i, _), r) in tasks.into_iter().zip(runs) {
        out[i].push(r);
    }
    Ok(out)
}

fn rec(s: &SimRun, k: &str) -> f64 {
    s.record[k].as_f64().unwrap_or(f64::NAN)
}

fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn marker(label: &str, x: Vec<f64>, y: Vec<f64>, color: usize) -> Series {
    Series::new(x, y, SeriesStyle::Markers)
        .with_label(label)
        .with_color(color)
}

/// A power law c·m^k through the first point of (x, y), drawn as a dashed line.
fn power_line(x: &[f64], y: &[f64], k: f64, label: &str, color: usize) -> Series {
    let c = y[0] / x[0].powf(k);
    let xs = vec![x[0], *x.last().unwrap_or(&x[0])];
    let ys = xs.iter().map(|v| c * v.powf(k)).collect();
    Series::new(xs, ys, SeriesStyle::Dashed)
        .with_label(label)
        .with_color(color)
}

/// (1) Loss vs step, with the linearised prediction and the asymptotic rate.
pub fn loss_vs_step(quick: bool) -> Result<Figure> {
    let widths: &[usize] = if quick {
        &[100, 1000]
    } else {
        &[100, 1000, 10_000]
    };
    let steps = if quick { 80 } else { 250 };
    let mut panels = Vec::new();
    for (title, regime) in [
        ("(a)  weak (encoder only)", Regime::Weak),
        ("(b)  joint", Regime::Joint),
    ] {
        let mut panel = Panel::new("step t", "training loss L(t)");
        panel.title = Some(title.into());
        panel.y_log = true;
        let configs: Vec<Params> = widths
            .iter()
            .map(|&m| {
                let mut p = params(regime, m, steps);
                p.output.points = 51;
                p.output.spacing = Spacing::Linear;
                p
            })
            .collect();
        let runs = sims(&configs, 1)?;
        for (k, (p, r)) in configs.iter().zip(&runs).enumerate() {
            let e = p.check()?;
            let th = e.theory(0, &|_| {})?;
            let color = k + 1;
            if let Some(s) = &r[0] {
                let m = p.network.width;
                panel.series.push(marker(
                    &format!("m = {m}"),
                    s.table.index.clone(),
                    s.table.column("loss").unwrap_or_default(),
                    color,
                ));
            }
            let mut line = Series::new(
                th.table.index.clone(),
                th.table.column("loss_pred").unwrap_or_default(),
                SeriesStyle::Line,
            )
            .with_name(format!("L_pred, m = {}", p.network.width))
            .with_color(color);
            if k == 0 {
                line = line.with_label("L_{pred} (linearised, H^∞)");
            }
            panel.series.push(line);
            if k + 1 == configs.len() {
                panel.series.push(
                    Series::new(
                        th.table.index.clone(),
                        th.table.column("loss_rate_bound").unwrap_or_default(),
                        SeriesStyle::Dashed,
                    )
                    .with_label("L(0)·(1 − ηλ_{min})^{2t}"),
                );
            }
        }
        panels.push(panel);
    }
    Ok(Figure::row(panels))
}

/// (2) Gram convergence vs m, and λ_min(H(t)) along training.
pub fn gram_convergence(quick: bool) -> Result<Figure> {
    let widths: Vec<usize> = if quick {
        vec![100, 400, 1600]
    } else {
        vec![100, 400, 1600, 6400, 25_600]
    };
    let seeds = if quick { 2 } else { 5 };
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    let mut a = Panel::new("width m", "‖H(0) − H^∞‖_{op} / ‖H^∞‖_{op}");
    a.title = Some("(a)  Gram error".into());
    a.x_log = true;
    a.y_log = true;
    let mut b = Panel::new("width m", "λ_{min}(H(0)) / λ_{min}(H^∞)");
    b.title = Some("(b)  least eigenvalue at t = 0".into());
    b.x_log = true;
    b.y_log = true;
    b.hlines.push(HLine {
        y: 1.0,
        label: None,
    });
    for (k, regime) in [Regime::Weak, Regime::Joint].into_iter().enumerate() {
        let configs: Vec<Params> = widths
            .iter()
            .map(|&m| {
                let mut p = params(regime, m, 1);
                p.output.gram = true;
                p.output.points = 2;
                p
            })
            .collect();
        let runs = sims(&configs, seeds)?;
        let err: Vec<f64> = record_means(&runs, "gram_error");
        let ratio: Vec<f64> = record_means(&runs, "lambda_min_ratio");
        let name = regime.name();
        a.series.push(marker(name, ms.clone(), err.clone(), k + 1));
        let mut slope = power_line(&ms, &err, -0.5, "∝ m^{−1/2}", k + 1)
            .with_name(format!("∝ m^(−1/2), {name}"));
        if k > 0 {
            slope.label = None;
        }
        a.series.push(slope);
        b.series.push(marker(name, ms.clone(), ratio, k + 1));
    }
    let mut c = Panel::new("step t", "λ_{min}(H(t)) / λ_{min}(H^∞)");
    c.title = Some("(c)  joint, along training".into());
    c.hlines.push(HLine {
        y: 1.0,
        label: None,
    });
    let along: &[usize] = if quick {
        &[100, 400]
    } else {
        &[100, 1000, 10_000]
    };
    let configs: Vec<Params> = along
        .iter()
        .map(|&m| {
            let mut p = params(Regime::Joint, m, if quick { 50 } else { 300 });
            p.output.gram = true;
            p.output.points = if quick { 6 } else { 16 };
            p.output.spacing = Spacing::Linear;
            p
        })
        .collect();
    let runs = sims(&configs, 1)?;
    for (k, (p, r)) in configs.iter().zip(&runs).enumerate() {
        if let Some(s) = &r[0] {
            let lmin = rec(s, "lambda_min_h");
            let y = s
                .table
                .column("lambda_min")
                .unwrap_or_default()
                .iter()
                .map(|v| v / lmin)
                .collect();
            c.series.push(
                Series::new(s.table.index.clone(), y, SeriesStyle::Line)
                    .with_label(format!("m = {}", p.network.width))
                    .with_color(k + 1),
            );
        }
    }
    Ok(Figure::row(vec![a, b, c]))
}

/// (3) Relative weight movement vs m: lazy weak/joint, non-lazy tied.
pub fn weight_movement(quick: bool) -> Result<Figure> {
    let widths: Vec<usize> = if quick {
        vec![250, 1000]
    } else {
        vec![250, 1000, 4000, 16_000]
    };
    let tied_widths: Vec<usize> = if quick {
        vec![100, 300]
    } else {
        vec![100, 1000, 10_000]
    };
    let (steps, tied_steps) = if quick { (100, 500) } else { (400, 4000) };
    let mut panel = Panel::new("width m", "‖θ_T − θ_0‖_F / ‖θ_0‖_F");
    panel.x_log = true;
    panel.y_log = true;
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    for (k, regime) in [Regime::Weak, Regime::Joint].into_iter().enumerate() {
        let configs: Vec<Params> = widths.iter().map(|&m| params(regime, m, steps)).collect();
        let runs = sims(&configs, 2)?;
        let w: Vec<f64> = record_means(&runs, "w_move");
        panel.series.push(marker(
            &format!("W, {} ({steps} steps)", regime.name()),
            ms.clone(),
            w.clone(),
            k + 1,
        ));
        if regime == Regime::Joint {
            let v: Vec<f64> = record_means(&runs, "v_move");
            panel.series.push(marker("V, joint", ms.clone(), v, 3));
            panel
                .series
                .push(power_line(&ms, &w, -0.5, "∝ m^{−1/2}", 2));
        }
    }
    let configs: Vec<Params> = tied_widths
        .iter()
        .map(|&m| params(Regime::Tied, m, tied_steps))
        .collect();
    let runs = sims(&configs, 1)?;
    let w: Vec<f64> = record_means(&runs, "w_move");
    let tm: Vec<f64> = tied_widths.iter().map(|&m| m as f64).collect();
    panel
        .series
        .push(marker(&format!("W, tied ({tied_steps} steps)"), tm, w, 5));
    panel.legend = LegendPos::Outside;
    Ok(Figure::row(vec![panel]))
}

/// (4) Success vs m at a common η, weak vs joint.
pub fn success(quick: bool) -> Result<Figure> {
    let widths: Vec<usize> = if quick {
        vec![12, 48]
    } else {
        vec![6, 12, 24, 48, 96, 384]
    };
    let (seeds, steps) = if quick { (4, 1000) } else { (8, 3000) };
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    let mut a = Panel::new("width m", "success fraction (L_T/L_0 < 10⁻⁶)");
    a.title = Some(format!("(a)  η = 0.3, T = {steps}, {seeds} seeds"));
    a.x_log = true;
    let mut b = Panel::new("width m", "median L_T / L_0");
    b.title = Some("(b)  median final loss ratio".into());
    b.x_log = true;
    b.y_log = true;
    for (k, regime) in [Regime::Weak, Regime::Joint].into_iter().enumerate() {
        let configs: Vec<Params> = widths
            .iter()
            .map(|&m| {
                let mut p = params(regime, m, steps);
                p.training.lr = Some(0.3);
                p.output.points = 2;
                p
            })
            .collect();
        let runs = sims(&configs, seeds)?;
        let frac: Vec<f64> = runs
            .iter()
            .map(|r| {
                r.iter()
                    .filter(|s| s.as_ref().is_some_and(|s| s.record["success"] == true))
                    .count() as f64
                    / seeds as f64
            })
            .collect();
        let med: Vec<f64> = runs
            .iter()
            .map(|r| {
                median(
                    r.iter()
                        .map(|s| s.as_ref().map_or(f64::INFINITY, |s| rec(s, "loss_ratio")))
                        .collect(),
                )
            })
            .collect();
        a.series.push(
            Series::new(ms.clone(), frac.clone(), SeriesStyle::Steps)
                .with_label(regime.name())
                .with_color(k + 1),
        );
        a.series.push(
            Series::new(ms.clone(), frac, SeriesStyle::Markers)
                .with_name(format!("success fraction, {}", regime.name()))
                .with_color(k + 1),
        );
        b.series.push(marker(regime.name(), ms.clone(), med, k + 1));
    }
    b.hlines.push(HLine {
        y: 1e-6,
        label: Some("10⁻⁶".into()),
    });
    Ok(Figure::row(vec![a, b]))
}

/// (5) Tied degeneracy: u₀ vs (√m/2)x, and the trained map off the training set.
pub fn tied(quick: bool) -> Result<Figure> {
    let widths: Vec<usize> = if quick {
        vec![100, 1000]
    } else {
        vec![100, 1000, 10_000, 100_000]
    };
    let inits = if quick { 4 } else { 16 };
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    let mut a = Panel::new("width m", "‖u₀(x) − (√m/2)x‖ / ‖(√m/2)x‖");
    a.title = Some("(a)  tied network at initialisation".into());
    a.x_log = true;
    a.y_log = true;
    let mut means = Vec::new();
    let mut errs = Vec::new();
    for &m in &widths {
        let e = params(Regime::Tied, m, 1).check()?;
        let vals: Vec<f64> = (0..inits)
            .into_par_iter()
            .map(|s| {
                e.initial_net(e.replicate_seed(s))
                    .map(|net| tied_init_reldev(&net, e.test_points()))
            })
            .collect::<Result<_>>()?;
        let mu = mean(&vals);
        let sd = (vals.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>()
            / (vals.len().max(2) - 1) as f64)
            .sqrt();
        means.push(mu);
        errs.push(sd);
    }
    let d = Params::default().data.dim;
    let fine: Vec<f64> = (0..=20)
        .map(|i| ms[0] * (ms[ms.len() - 1] / ms[0]).powf(i as f64 / 20.0))
        .collect();
    a.series.push(
        Series::new(
            fine.clone(),
            fine.iter()
                .map(|&m| super::theory::tied_reldev(d, m as usize))
                .collect(),
            SeriesStyle::Line,
        )
        .with_label("√((2d+3)/m)"),
    );
    a.series.push(
        Series::new(ms.clone(), means, SeriesStyle::ErrorBars { err: errs })
            .with_label(format!("mean ± sd over {inits} inits"))
            .with_color(5),
    );
    let trained: Vec<usize> = if quick {
        vec![100, 300]
    } else {
        vec![100, 1000, 10_000]
    };
    let steps = if quick { 500 } else { 4000 };
    let configs: Vec<Params> = trained
        .iter()
        .map(|&m| params(Regime::Tied, m, steps))
        .collect();
    let runs = sims(&configs, 1)?;
    let tm: Vec<f64> = trained.iter().map(|&m| m as f64).collect();
    let pick = |k: &str| -> Vec<f64> {
        runs.iter()
            .map(|r| r[0].as_ref().map_or(f64::NAN, |s| rec(s, k)))
            .collect()
    };
    let mut b = Panel::new("width m", "on fresh unit x");
    b.title = Some(format!("(b)  after {steps} GD steps"));
    b.x_log = true;
    b.y_log = true;
    b.series.push(marker(
        "rms ‖u(x) − x‖",
        tm.clone(),
        pick("test_identity_error"),
        1,
    ));
    b.series
        .push(marker("c in u(x) ≈ c x", tm.clone(), pick("test_c"), 2));
    b.series.push(marker(
        "‖W_T‖²_F / m",
        tm.clone(),
        pick("w_norm2_per_m_final"),
        3,
    ));
    b.series.push(
        Series::new(
            tm.clone(),
            tm.iter().map(|m| m.sqrt() / 2.0).collect(),
            SeriesStyle::Dashed,
        )
        .with_label("√m/2 (c at t = 0)"),
    );
    b.hlines.push(HLine {
        y: 1.0,
        label: Some("identity".into()),
    });
    Ok(Figure::row(vec![a, b]))
}

/// (6) Memorisation: the trained symmetric joint network vs the kernel predictor.
pub fn memorisation(quick: bool) -> Result<Figure> {
    let widths: Vec<usize> = if quick {
        vec![250, 1000]
    } else {
        vec![1000, 4000, 16_000]
    };
    let steps = if quick { 600 } else { 1500 };
    let ms: Vec<f64> = widths.iter().map(|&m| m as f64).collect();
    let configs: Vec<Params> = widths
        .iter()
        .map(|&m| {
            let mut p = params(Regime::Joint, m, steps);
            p.init.symmetric = true;
            p.simulation.test_points = 50;
            p.output.points = 2;
            p
        })
        .collect();
    let runs = sims(&configs, 2)?;
    let err: Vec<f64> = record_means(&runs, "memorisation_error");
    let mut panel = Panel::new("width m", "‖u(X_{test}) − u_∞(X_{test})‖ / ‖u_∞(X_{test})‖");
    panel.title = Some(format!(
        "joint, symmetric init, {steps} steps, 50 test points"
    ));
    panel.x_log = true;
    panel.y_log = true;
    panel.series.push(marker(
        "trained network (2 seeds)",
        ms.clone(),
        err.clone(),
        5,
    ));
    panel
        .series
        .push(power_line(&ms, &err, -0.5, "∝ m^{−1/2}", 0));
    Ok(Figure::row(vec![panel]))
}
