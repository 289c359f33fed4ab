//! Output grids shared by every model: which times (continuous models) or steps (discrete
//! models) are recorded, from `[output] points` and `spacing`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Spacing of output times or steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Evenly spaced.
    Linear,
    /// Log-spaced after the initial point.
    #[default]
    Log,
}

/// The `[output]` section of a continuous-time model: `points` output times from 0 to
/// `t_max`, linearly spaced, or 0 followed by log-spaced times from `t_min` to `t_max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeGrid {
    /// Last time.
    pub t_max: f64,
    /// Number of output times, 0 and `t_max` included.
    pub points: usize,
    /// Spacing.
    pub spacing: Spacing,
    /// First positive time (log spacing).
    pub t_min: f64,
}

impl Default for TimeGrid {
    fn default() -> Self {
        TimeGrid {
            t_max: 100.0,
            points: 121,
            spacing: Spacing::Log,
            t_min: 0.01,
        }
    }
}

impl TimeGrid {
    /// The output times, starting at 0 and ending at `t_max` exactly; `section` names the
    /// config section in errors (`output`).
    pub fn times(&self, section: &str) -> Result<Vec<f64>> {
        let f = |k: &str| format!("{section}.{k}");
        if !(self.t_max.is_finite() && self.t_max > 0.0) {
            return Err(Error::config(
                f("t_max"),
                format!("must be a finite number > 0, got {}", self.t_max),
            ));
        }
        if self.points < 2 {
            return Err(Error::config(
                f("points"),
                format!("must be ≥ 2 (t = 0 and t_max), got {}", self.points),
            ));
        }
        let n = self.points;
        Ok(match self.spacing {
            Spacing::Linear => (0..n)
                .map(|i| self.t_max * i as f64 / (n - 1) as f64)
                .collect(),
            Spacing::Log => {
                if !(self.t_min > 0.0 && self.t_min < self.t_max) {
                    return Err(Error::config(
                        f("t_min"),
                        format!("must be in (0, t_max = {}), got {}", self.t_max, self.t_min),
                    ));
                }
                let (a, b) = (self.t_min.ln(), self.t_max.ln());
                // Exact end points: t_min first, t_max last (no roundoff from exp(ln t)).
                std::iter::once(0.0)
                    .chain((0..n - 1).map(|i| match i {
                        _ if i == n - 2 => self.t_max,
                        0 => self.t_min,
                        _ => (a + (b - a) * i as f64 / (n - 2) as f64).exp(),
                    }))
                    .collect()
            }
        })
    }
}

/// The recorded steps of a run of `total` steps: `points` values, linearly or log-spaced,
/// always including step 0 and step `total`, strictly increasing (duplicates from rounding
/// are dropped, so fewer than `points` rows can result when `total` is small). `field` names
/// the config key of `points` in errors.
pub fn output_steps(total: u64, points: usize, spacing: Spacing, field: &str) -> Result<Vec<u64>> {
    if points < 2 {
        return Err(Error::config(
            field,
            format!("must be ≥ 2 (step 0 and the last step), got {points}"),
        ));
    }
    let n = points;
    let mut steps: Vec<u64> = match spacing {
        Spacing::Linear => (0..n)
            .map(|i| ((total as f64) * i as f64 / (n - 1) as f64).round() as u64)
            .collect(),
        Spacing::Log => {
            let lt = (total.max(1) as f64).ln();
            std::iter::once(0)
                .chain((0..n - 1).map(|i| {
                    if i == n - 2 {
                        total
                    } else {
                        ((lt * i as f64 / (n - 2).max(1) as f64).exp().round() as u64).min(total)
                    }
                }))
                .collect()
        }
    };
    steps.push(total);
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

/// The number of steps for a continuous step count `x` (e.g. `t·D`, `t/ε`): `x` rounded when it
/// is within rounding noise (1e-9 relative) of an integer, otherwise rounded up — the first
/// step count that reaches `x`.
pub fn step_count(x: f64) -> u64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * x.max(1.0) {
        r as u64
    } else {
        x.ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_start_at_zero_and_end_at_t_max() {
        let g = TimeGrid::default();
        let t = g.times("output").unwrap();
        assert_eq!(t.len(), g.points);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[1], g.t_min);
        assert_eq!(*t.last().unwrap(), g.t_max);
        assert!(t.windows(2).all(|w| w[1] > w[0]));
        let bad = TimeGrid {
            t_min: 500.0,
            ..TimeGrid::default()
        };
        assert!(bad
            .times("output")
            .unwrap_err()
            .to_string()
            .contains("output.t_min"));
    }

    #[test]
    fn grids_include_both_ends_and_increase() {
        for spacing in [Spacing::Linear, Spacing::Log] {
            for (total, points) in [(2000u64, 50usize), (5, 50), (1, 2), (0, 3), (10_000, 121)] {
                let s = output_steps(total, points, spacing, "output.points").unwrap();
                assert_eq!(s[0], 0);
                assert_eq!(*s.last().unwrap(), total);
                assert!(s.windows(2).all(|w| w[0] < w[1]) || total == 0, "{s:?}");
                assert!(s.len() <= points.max(2));
            }
        }
        let lin = output_steps(100, 11, Spacing::Linear, "output.points").unwrap();
        assert_eq!(lin, (0..=10).map(|i| 10 * i).collect::<Vec<u64>>());
        assert!(output_steps(10, 1, Spacing::Log, "output.points")
            .unwrap_err()
            .to_string()
            .contains("output.points"));
    }
}
