//! A small adapter around `ode_solvers::Dopri5` that works around its known defects:
//!
//! * its last dense-output point is extrapolated ⇒ we use `OutputType::Sparse` and integrate
//!   each output interval on its own, so every output is the end point of an accepted step;
//! * its stiffness check aborts near fixed points ⇒ the check is disabled (`n_stiff = u32::MAX`);
//! * a fresh solver per interval would restart its step-size guess ⇒ the last full step of the
//!   previous interval is carried over as the initial step.
//!
//! The right-hand side may fail (e.g. the kernels see a non-positive-definite Q); the first
//! failure stops the interval and is returned as an error.

use std::cell::RefCell;

use nalgebra::DVector;
use ode_solvers::{Dopri5, OutputType, System};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Error tolerances of the adaptive step-size control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerances {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Default for Tolerances {
    /// rtol 1e-8, atol 1e-10 (docs/autoencoder.md §7.3).
    fn default() -> Self {
        Tolerances {
            rtol: 1e-8,
            atol: 1e-10,
        }
    }
}

/// Counters of the integration, summed over output intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegratorStats {
    /// Right-hand-side evaluations.
    pub evaluations: u64,
    /// Accepted steps.
    pub accepted_steps: u64,
    /// Rejected steps.
    pub rejected_steps: u64,
}

/// Largest number of steps in one output interval before giving up.
const MAX_STEPS_PER_INTERVAL: u32 = 1_000_000;

struct Adapter<'a, F> {
    rhs: &'a F,
    failure: &'a RefCell<Option<Error>>,
}

impl<F> System<f64, DVector<f64>> for Adapter<'_, F>
where
    F: Fn(&DVector<f64>, &mut DVector<f64>) -> Result<()>,
{
    fn system(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        if self.failure.borrow().is_some() {
            dy.fill(0.0);
            return;
        }
        if let Err(e) = (self.rhs)(y, dy) {
            dy.fill(0.0);
            *self.failure.borrow_mut() = Some(e);
        }
    }

    fn solout(&mut self, _t: f64, _y: &DVector<f64>, _dy: &DVector<f64>) -> bool {
        self.failure.borrow().is_some()
    }
}

/// Integrate the autonomous system `dy/dt = rhs(y)` from `y0` at `times[0]` through every
/// time in `times` (increasing), calling `output(t, y)` at each (including `times[0]`).
pub fn integrate<F, O>(
    rhs: &F,
    y0: DVector<f64>,
    times: &[f64],
    tol: Tolerances,
    mut output: O,
) -> Result<IntegratorStats>
where
    F: Fn(&DVector<f64>, &mut DVector<f64>) -> Result<()>,
    O: FnMut(f64, &DVector<f64>) -> Result<()>,
{
    let mut stats = IntegratorStats::default();
    let Some(&t_start) = times.first() else {
        return Ok(stats);
    };
    output(t_start, &y0)?;
    let failure = RefCell::new(None);
    let mut y = y0;
    let mut h: f64 = 0.0;
    for win in times.windows(2) {
        let (t0, t1) = (win[0], win[1]);
        if t1 <= t0 {
            return Err(Error::Integration {
                time: t0,
                message: format!("output times must increase, got {t0} then {t1}"),
            });
        }
        let span = t1 - t0;
        let adapter = Adapter {
            rhs,
            failure: &failure,
        };
        let mut solver = Dopri5::from_param(
            adapter,
            t0,
            t1,
            span,
            y.clone(),
            tol.rtol,
            tol.atol,
            0.9,
            0.04,
            0.2,
            10.0,
            span,
            h.min(span),
            MAX_STEPS_PER_INTERVAL,
            u32::MAX,
            OutputType::Sparse,
        );
        let res = solver.integrate();
        if let Some(e) = failure.borrow_mut().take() {
            let t_fail = solver.x_out().last().copied().unwrap_or(t0);
            return Err(match e {
                Error::InvalidState(msg) => Error::Diverged {
                    what: "theory".into(),
                    time: t_fail,
                    detail: msg,
                },
                other => other,
            });
        }
        let s = res.map_err(|e| Error::Integration {
            time: t0,
            message: e.to_string(),
        })?;
        stats.evaluations += u64::from(s.num_eval);
        stats.accepted_steps += u64::from(s.accepted_steps);
        stats.rejected_steps += u64::from(s.rejected_steps);
        let xs = solver.x_out();
        // Carry the step size: the last full step (the final one is cut to land on t1).
        h = match xs.len() {
            n if n >= 3 => (xs[n - 2] - xs[n - 3]).max(xs[n - 1] - xs[n - 2]),
            _ => h.max(span),
        };
        y = solver
            .y_out()
            .last()
            .cloned()
            .ok_or_else(|| Error::Integration {
                time: t0,
                message: "the solver returned no state".into(),
            })?;
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                what: "theory".into(),
                time: t1,
                detail: format!("state component {i} is {}", y[i]),
            });
        }
        output(t1, &y)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Harmonic oscillator y'' = −y: exact solution (cos t, −sin t).
    #[test]
    fn oscillator_matches_closed_form_at_every_output() {
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| -> Result<()> {
            dy[0] = y[1];
            dy[1] = -y[0];
            Ok(())
        };
        let times: Vec<f64> = (0..=50).map(|i| i as f64 * 0.37).collect();
        let tol = Tolerances {
            rtol: 1e-11,
            atol: 1e-12,
        };
        let mut worst: f64 = 0.0;
        let stats = integrate(
            &rhs,
            DVector::from_vec(vec![1.0, 0.0]),
            &times,
            tol,
            |t, y| {
                worst = worst
                    .max((y[0] - t.cos()).abs())
                    .max((y[1] + t.sin()).abs());
                Ok(())
            },
        )
        .unwrap();
        // Global error of a 5th-order method at rtol 1e-11 over ~3 periods: ≲ 1e-9.
        assert!(worst < 1e-9, "max error {worst}");
        assert!(stats.accepted_steps > 0);
    }

    /// A system that sits exactly at a stiff fixed point for a long time must not abort.
    #[test]
    fn stiff_decay_to_fixed_point_does_not_abort() {
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| -> Result<()> {
            dy[0] = -50.0 * y[0];
            dy[1] = -0.01 * y[1];
            Ok(())
        };
        let times: Vec<f64> = (0..=20).map(|i| i as f64 * 50.0).collect();
        let mut last = DVector::zeros(2);
        integrate(
            &rhs,
            DVector::from_vec(vec![1.0, 1.0]),
            &times,
            Tolerances::default(),
            |_, y| {
                last = y.clone();
                Ok(())
            },
        )
        .unwrap();
        assert!((last[1] - (-10.0f64).exp()).abs() < 1e-8, "{}", last[1]);
        assert!(last[0].abs() < 1e-8);
    }

    #[test]
    fn rhs_failure_is_reported_with_its_time() {
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| -> Result<()> {
            if y[0] > 2.0 {
                return Err(Error::InvalidState("too big".into()));
            }
            dy[0] = 1.0;
            Ok(())
        };
        let times = [0.0, 1.0, 2.0, 3.0];
        let err = integrate(
            &rhs,
            DVector::from_vec(vec![0.0]),
            &times,
            Tolerances::default(),
            |_, _| Ok(()),
        )
        .unwrap_err();
        match err {
            Error::Diverged { time, .. } => assert!((1.9..=3.0).contains(&time), "{time}"),
            e => panic!("unexpected {e}"),
        }
    }
}
