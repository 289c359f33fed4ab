//! The adaptive Dormand–Prince 5(4) integrator of the theory, with its continuous extension
//! (dense output), and the reference it replaced.
//!
//! [`integrate`] takes one sequence of steps from the first to the last output time (the
//! last step is cut to land on it) and evaluates every output time inside a step by the
//! method's 4th-order continuous extension (Hairer, Nørsett & Wanner, *Solving ODEs I*,
//! §II.6, as in their `DOPRI5`: no extra right-hand-side evaluation). The step-size
//! control is DOPRI5's (error norm, PI controller β = 0.04, safety 0.9, step ratio within
//! [0.2, 10], initial step from `HINIT`); the stiffness check is left out (it aborts near
//! fixed points). The number of outputs therefore does not change the steps taken.
//!
//! [`integrate_restarted`] is the former method, kept as the reference of the tests: the
//! `ode_solvers` crate's `Dopri5` restarted on every output interval (its own dense output
//! extrapolates the last point), carrying the last full step over as the initial step.
//!
//! The right-hand side may fail (e.g. the kernels see a non-positive-definite Q); the first
//! failure stops the integration and is returned as an error.

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

/// Largest number of steps between two output times before giving up.
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

/// Dormand–Prince 5(4) tableau (`c`, `a`), the 5th-order weights `b` (= the last row of
/// `a`, first same as last), the error weights `e` = b − b̂, and the continuous extension's
/// `d` (Hairer's `DOPRI5`).
mod tableau {
    pub const C: [f64; 7] = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
    pub const A2: [f64; 1] = [0.2];
    pub const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
    pub const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
    pub const A5: [f64; 4] = [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ];
    pub const A6: [f64; 5] = [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ];
    /// b: k1, (k2: 0), k3, k4, k5, k6.
    pub const B: [f64; 6] = [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ];
    /// e: k1, (k2: 0), k3, k4, k5, k6, k7.
    pub const E: [f64; 7] = [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    /// d: k1, (k2: 0), k3, k4, k5, k6, k7.
    pub const D: [f64; 7] = [
        -12715105075.0 / 11282082432.0,
        0.0,
        87487479700.0 / 32700410799.0,
        -10690763975.0 / 1880347072.0,
        701980252875.0 / 199316789632.0,
        -1453857185.0 / 822651844.0,
        69997945.0 / 29380423.0,
    ];
}

/// Step-size control of `DOPRI5` (the values `ode_solvers` was given).
const SAFETY: f64 = 0.9;
const BETA: f64 = 0.04;
/// The new step is within [`MIN_RATIO`·h, `MAX_RATIO`·h].
const MIN_RATIO: f64 = 0.2;
const MAX_RATIO: f64 = 10.0;

/// `out = y + h Σ_i a_i k_i` (the stages with a zero weight skipped).
fn combine(out: &mut [f64], y: &[f64], h: f64, a: &[f64], k: &[&[f64]]) {
    out.copy_from_slice(y);
    for (&ai, ki) in a.iter().zip(k) {
        if ai != 0.0 {
            let c = h * ai;
            for (o, kv) in out.iter_mut().zip(ki.iter()) {
                *o += c * kv;
            }
        }
    }
}

fn diverged(e: Error, time: f64) -> Error {
    match e {
        Error::InvalidState(msg) => Error::Diverged {
            what: "theory".into(),
            time,
            detail: msg,
        },
        other => other,
    }
}

/// Output times must increase strictly.
fn check_increasing(times: &[f64]) -> Result<()> {
    match times.windows(2).find(|w| w[1] <= w[0]) {
        Some(w) => Err(Error::Integration {
            time: w[0],
            message: format!("output times must increase, got {} then {}", w[0], w[1]),
        }),
        None => Ok(()),
    }
}

/// Integrate the autonomous system `dy/dt = rhs(y)` from `y0` at `times[0]` through every
/// time in `times` (increasing), calling `output(t, y)` at each (including `times[0]`): one
/// Dormand–Prince 5(4) integration, the outputs from its continuous extension (see the
/// module docs); the last output is the end point of the last step.
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
    use tableau::*;
    let mut stats = IntegratorStats::default();
    let Some(&t_start) = times.first() else {
        return Ok(stats);
    };
    check_increasing(times)?;
    output(t_start, &y0)?;
    let t_end = *times.last().expect("non-empty");
    if times.len() == 1 {
        return Ok(stats);
    }
    let n = y0.len();
    let mut evaluations = 0u64;
    let mut f = |y: &DVector<f64>, dy: &mut DVector<f64>, t: f64| -> Result<()> {
        evaluations += 1;
        rhs(y, dy).map_err(|e| diverged(e, t))
    };
    let scale = |a: f64, b: f64| tol.atol + tol.rtol * a.abs().max(b.abs());
    let h_max = t_end - t_start;
    let mut x = t_start;
    let mut y = y0;
    let zeros = || DVector::<f64>::zeros(n);
    let mut k1 = zeros();
    f(&y, &mut k1, x)?;
    // The initial step (Hairer's HINIT, order 5).
    let mut h = {
        let (mut dnf, mut dny) = (0.0, 0.0);
        for i in 0..n {
            let sk = scale(y[i], 0.0);
            dnf += (k1[i] / sk).powi(2);
            dny += (y[i] / sk).powi(2);
        }
        let mut h = if dnf <= 1e-10 || dny <= 1e-10 {
            1e-6
        } else {
            (dny / dnf).sqrt() * 0.01
        };
        h = h.min(h_max);
        let y1 = &y + &k1 * h;
        let mut f1 = zeros();
        f(&y1, &mut f1, x + h)?;
        let der2 = (0..n)
            .map(|i| ((f1[i] - k1[i]) / scale(y[i], 0.0)).powi(2))
            .sum::<f64>()
            .sqrt()
            / h;
        let der12 = der2.abs().max(dnf.sqrt());
        let h1 = if der12 <= 1e-15 {
            (h.abs() * 1e-3).max(1e-6)
        } else {
            (0.01 / der12).powf(0.2)
        };
        (100.0 * h).min(h1).min(h_max)
    };
    let (mut k2, mut k3, mut k4, mut k5, mut k6, mut k7) =
        (zeros(), zeros(), zeros(), zeros(), zeros(), zeros());
    let (mut ys, mut y_new, mut y_out) = (zeros(), zeros(), zeros());
    let mut fac_old: f64 = 1e-4;
    let mut last_rejected = false;
    let mut next = 1;
    let mut steps_since_output = 0u32;
    loop {
        if steps_since_output >= MAX_STEPS_PER_INTERVAL {
            return Err(Error::Integration {
                time: x,
                message: format!("more than {MAX_STEPS_PER_INTERVAL} steps between two outputs"),
            });
        }
        if h <= x.abs() * f64::EPSILON * 10.0 {
            return Err(Error::Integration {
                time: x,
                message: format!("step size {h:e} too small"),
            });
        }
        steps_since_output += 1;
        let last = x + 1.01 * h >= t_end;
        if last {
            h = t_end - x;
        }
        combine(ys.as_mut_slice(), y.as_slice(), h, &A2, &[k1.as_slice()]);
        f(&ys, &mut k2, x + C[1] * h)?;
        combine(
            ys.as_mut_slice(),
            y.as_slice(),
            h,
            &A3,
            &[k1.as_slice(), k2.as_slice()],
        );
        f(&ys, &mut k3, x + C[2] * h)?;
        combine(
            ys.as_mut_slice(),
            y.as_slice(),
            h,
            &A4,
            &[k1.as_slice(), k2.as_slice(), k3.as_slice()],
        );
        f(&ys, &mut k4, x + C[3] * h)?;
        combine(
            ys.as_mut_slice(),
            y.as_slice(),
            h,
            &A5,
            &[k1.as_slice(), k2.as_slice(), k3.as_slice(), k4.as_slice()],
        );
        f(&ys, &mut k5, x + C[4] * h)?;
        combine(
            ys.as_mut_slice(),
            y.as_slice(),
            h,
            &A6,
            &[
                k1.as_slice(),
                k2.as_slice(),
                k3.as_slice(),
                k4.as_slice(),
                k5.as_slice(),
            ],
        );
        f(&ys, &mut k6, x + C[5] * h)?;
        let ks5 = [
            k1.as_slice(),
            k2.as_slice(),
            k3.as_slice(),
            k4.as_slice(),
            k5.as_slice(),
            k6.as_slice(),
        ];
        combine(y_new.as_mut_slice(), y.as_slice(), h, &B, &ks5);
        f(&y_new, &mut k7, x + h)?;
        // The error estimate h Σ e_i k_i in the norm of DOPRI5.
        let mut err = 0.0;
        for i in 0..n {
            let e = h
                * (E[0] * k1[i]
                    + E[2] * k3[i]
                    + E[3] * k4[i]
                    + E[4] * k5[i]
                    + E[5] * k6[i]
                    + E[6] * k7[i]);
            err += (e / scale(y[i], y_new[i])).powi(2);
        }
        let err = (err / n as f64).sqrt();
        let fac11 = err.powf(0.2 - BETA * 0.75);
        if err <= 1.0 {
            stats.accepted_steps += 1;
            let fac = (fac11 / fac_old.powf(BETA) / SAFETY).clamp(1.0 / MAX_RATIO, 1.0 / MIN_RATIO);
            let mut h_new = h / fac;
            fac_old = err.max(1e-4);
            let x_new = if last { t_end } else { x + h };
            if let Some(i) = y_new.iter().position(|v| !v.is_finite()) {
                return Err(Error::Diverged {
                    what: "theory".into(),
                    time: x_new,
                    detail: format!("state component {i} is {}", y_new[i]),
                });
            }
            // The outputs in (x, x_new]: the continuous extension inside, the end point at
            // the end.
            while next < times.len() && times[next] <= x_new {
                let t = times[next];
                if t >= x_new || next == times.len() - 1 {
                    output(t, &y_new)?;
                } else {
                    let theta = (t - x) / h;
                    let theta1 = 1.0 - theta;
                    for i in 0..n {
                        let dy = y_new[i] - y[i];
                        let bspl = h * k1[i] - dy;
                        let r4 = dy - h * k7[i] - bspl;
                        let r5 = h
                            * (D[0] * k1[i]
                                + D[2] * k3[i]
                                + D[3] * k4[i]
                                + D[4] * k5[i]
                                + D[5] * k6[i]
                                + D[6] * k7[i]);
                        y_out[i] =
                            y[i] + theta * (dy + theta1 * (bspl + theta * (r4 + theta1 * r5)));
                    }
                    output(t, &y_out)?;
                }
                next += 1;
                steps_since_output = 0;
            }
            if last || next == times.len() {
                break;
            }
            std::mem::swap(&mut k1, &mut k7);
            std::mem::swap(&mut y, &mut y_new);
            x = x_new;
            h_new = h_new.min(h_max);
            if last_rejected {
                h_new = h_new.min(h);
            }
            last_rejected = false;
            h = h_new;
        } else {
            if !err.is_finite() && !y_new.iter().all(|v| v.is_finite()) && h <= 1e-12 * h_max {
                return Err(Error::Diverged {
                    what: "theory".into(),
                    time: x,
                    detail: "the state is not finite for any step size".into(),
                });
            }
            stats.rejected_steps += 1;
            // A NaN error (an overflowing trial step) shrinks the step by the most allowed.
            h /= (1.0 / MIN_RATIO).min(fac11 / SAFETY);
            last_rejected = true;
        }
    }
    stats.evaluations = evaluations;
    Ok(stats)
}

/// The former method (the tests' reference): `ode_solvers::Dopri5` restarted on every
/// output interval, each output the end point of an accepted step (see the module docs).
/// Same contract as [`integrate`].
pub fn integrate_restarted<F, O>(
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
    check_increasing(times)?;
    output(t_start, &y0)?;
    let failure = RefCell::new(None);
    let mut y = y0;
    let mut h: f64 = 0.0;
    for win in times.windows(2) {
        let (t0, t1) = (win[0], win[1]);
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

    /// Dense output against the restarted reference and the closed form: on the oscillator
    /// at tight tolerances both agree with cos/sin, hence with each other, to 1e-12; the
    /// dense run takes the steps of a two-output run (the outputs cost no evaluation).
    #[test]
    fn dense_output_matches_the_restarted_solution() {
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| -> Result<()> {
            dy[0] = y[1];
            dy[1] = -y[0];
            Ok(())
        };
        let times: Vec<f64> = (0..=200).map(|i| i as f64 * 0.05).collect();
        let tol = Tolerances {
            rtol: 1e-13,
            atol: 1e-15,
        };
        let run = |restart: bool, times: &[f64]| {
            let mut out = Vec::new();
            let y0 = DVector::from_vec(vec![1.0, 0.0]);
            let collect = |t: f64, y: &DVector<f64>| {
                out.push((t, y[0], y[1]));
                Ok(())
            };
            let stats = if restart {
                integrate_restarted(&rhs, y0, times, tol, collect)
            } else {
                integrate(&rhs, y0, times, tol, collect)
            }
            .unwrap();
            (out, stats)
        };
        let (dense, dense_stats) = run(false, &times);
        let (restarted, restarted_stats) = run(true, &times);
        assert_eq!(dense.len(), times.len());
        for ((t, a, b), (t2, c, d)) in dense.iter().zip(&restarted) {
            assert_eq!(t, t2);
            for (u, v, exact) in [(a, c, t.cos()), (b, d, -t.sin())] {
                assert!((u - v).abs() < 1e-12, "t = {t}: dense {u} vs restarted {v}");
                assert!(
                    (u - exact).abs() < 1e-12,
                    "t = {t}: dense {u} vs exact {exact}"
                );
            }
        }
        let (_, two) = run(false, &[0.0, 10.0]);
        assert_eq!(dense_stats, two, "outputs change no step");
        assert!(dense_stats.evaluations < restarted_stats.evaluations);
        // The last output is the end point of the last step: bit-identical to a run that
        // ends there.
        assert_eq!(
            dense.last().unwrap(),
            run(false, &[0.0, 10.0]).0.last().unwrap()
        );
    }

    /// The continuous extension is 4th order: within one step of a linear system its error
    /// against the exact flow falls like h⁵ (halving h: ≈ 32× smaller).
    #[test]
    fn continuous_extension_is_fourth_order() {
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| -> Result<()> {
            dy[0] = y[1];
            dy[1] = -y[0];
            Ok(())
        };
        // Loose tolerances with a fixed first step: one step to t_end, output at 0.37 t_end.
        let err = |t_end: f64| {
            let mut got = (0.0, 0.0);
            let tol = Tolerances {
                rtol: 1.0,
                atol: 1.0,
            };
            let t = 0.37 * t_end;
            integrate(
                &rhs,
                DVector::from_vec(vec![1.0, 0.0]),
                &[0.0, t, t_end],
                tol,
                |s, y| {
                    if s == t {
                        got = (y[0], y[1]);
                    }
                    Ok(())
                },
            )
            .unwrap();
            (got.0 - t.cos()).abs().max((got.1 + t.sin()).abs())
        };
        let (e1, e2) = (err(0.2), err(0.1));
        assert!(e1 > 0.0 && e1 / e2 > 20.0, "{e1:e} {e2:e}");
    }
}
