//! Gradient descent on the expected, Monte Carlo, fixed-set or minibatch loss, and the
//! analysis of a trajectory (distances, floor, fitted rate, support recovery).

use nalgebra::{DMatrix, DVector};
use rand::seq::SliceRandom;

use super::data::Samples;
use super::metrics::{
    distances, fit_rate, floor, match_atoms, support_recovery, Distances, Matching, Support,
};
use super::model::{evaluate, Eval, Source};
use super::Experiment;
use crate::base::table::Table;
use crate::error::{Error, Result};
use crate::rng::{derive_seed, rng_for, Rng};

/// Weights larger than this (in absolute value) count as a blow-up.
pub const BLOW_UP: f64 = 1e6;

/// Snapshots of W kept per run are thinned so that they hold at most this many numbers
/// (the output steps are always kept).
pub const SNAPSHOT_BUDGET: usize = 4_000_000;

/// Upper end of the rate-fit window, relative to e₀ (the first 10 % of the decay is
/// transient).
pub const FIT_UPPER: f64 = 0.9;
/// Lower end of the rate-fit window for exact expected GD (rounding sets in below).
pub const FIT_LOWER_EXACT: f64 = 1e-9;
/// Lower end for Monte Carlo / finite-sample runs (their fluctuations set in below).
pub const FIT_LOWER_NOISY: f64 = 1e-2;

/// The rate fit stops at this multiple of the fluctuation plateau of e_s (see [`plateau`]).
pub const PLATEAU_FACTOR: f64 = 3.0;

/// The level at which e_s = ‖W_s − W_T‖ stops decaying: the median of e_s over the steps in
/// [T/2, 0.9T] (e_s → 0 at s = T by construction, so the last 10 % are left out). It is the
/// rounding level for a clean exact run, and the fluctuation level of Monte Carlo, SGD or
/// of an expected-GD run that chatters across an activation switch.
pub fn plateau(steps: &[u64], e: &[f64]) -> f64 {
    let Some(&last) = steps.last() else {
        return 0.0;
    };
    let (lo, hi) = (last / 2, (0.9 * last as f64).floor() as u64);
    let mut sel: Vec<f64> = steps
        .iter()
        .zip(e)
        .filter(|(s, _)| **s >= lo && **s <= hi)
        .map(|(_, v)| *v)
        .collect();
    if sel.is_empty() {
        return 0.0;
    }
    sel.sort_by(f64::total_cmp);
    sel[sel.len() / 2]
}

/// The table's columns.
pub const COLUMNS: [&str; 5] = [
    "distance_max",
    "distance_mean",
    "angle_distance_mean",
    "loss",
    "support_f1",
];

/// Where each step's gradient comes from.
#[derive(Debug, Clone, Copy)]
pub enum Algo<'a> {
    /// The same set every step (enumerated codes, or the fixed training set).
    Set(&'a Samples),
    /// A fresh batch every step: step s uses seed `derive_seed(seed, s)`.
    Fresh {
        /// Batch size.
        batch: usize,
        /// Base seed.
        seed: u64,
    },
    /// Minibatches from epochs over `set`, reshuffled with `rng_for(seed, epoch)`; an
    /// incomplete last minibatch of an epoch is dropped.
    Epochs {
        /// The training set.
        set: &'a Samples,
        /// Minibatch size.
        batch: usize,
        /// Base seed of the shuffles.
        seed: u64,
    },
}

/// A descent: snapshots of (W, b) and the loss of every step.
pub struct Trajectory {
    /// Steps of the snapshots (increasing, with 0, every output step and the last).
    pub steps: Vec<u64>,
    /// W at those steps.
    pub ws: Vec<DMatrix<f64>>,
    /// b at those steps.
    pub bs: Vec<DVector<f64>>,
    /// Loss at every step 0..=T (of the batch used at that step).
    pub loss: Vec<f64>,
    /// The evaluation at the final point.
    pub last: Eval,
}

impl Trajectory {
    /// Index of the snapshot at `step` (which must be stored).
    pub fn at(&self, step: u64) -> usize {
        self.steps.binary_search(&step).expect("snapshot stored")
    }

    /// Final W.
    pub fn w_final(&self) -> &DMatrix<f64> {
        self.ws.last().expect("non-empty")
    }

    /// Final b.
    pub fn b_final(&self) -> &DVector<f64> {
        self.bs.last().expect("non-empty")
    }
}

/// Run `exp.steps` updates `W ← W − η∇W` (and `b ← b − η_b∇b` if the bias is trained) from
/// `w0`. `what` names the run in a divergence error.
pub fn descend(
    exp: &Experiment,
    a: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    w0: &DMatrix<f64>,
    algo: Algo<'_>,
    what: &str,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Trajectory> {
    let (m, n) = (exp.m, exp.n);
    let total = exp.steps;
    let per = (m * n).max(1);
    let stride = ((total as usize + 1) * per)
        .div_ceil(SNAPSHOT_BUDGET)
        .max(1) as u64;
    let mut w = w0.clone();
    let mut b = exp.bias.clone();
    let mut traj = Trajectory {
        steps: Vec::new(),
        ws: Vec::new(),
        bs: Vec::new(),
        loss: Vec::with_capacity(total as usize + 1),
        last: Eval {
            grad_w: DMatrix::zeros(0, 0),
            grad_b: DVector::zeros(0),
            loss: 0.0,
            m1: DMatrix::zeros(0, 0),
        },
    };
    let mut next_out = 0usize;
    // Epoch state.
    let mut perm: Vec<usize> = Vec::new();
    let mut pos = usize::MAX;
    let mut epoch = 0u64;
    for s in 0..=total {
        let minibatch;
        let src = match algo {
            Algo::Set(set) => Source::Set(set),
            Algo::Fresh { batch, seed } => Source::Fresh {
                law: &exp.law,
                noise: exp.noise,
                count: batch,
                seed: derive_seed(seed, s),
            },
            Algo::Epochs { set, batch, seed } => {
                if pos == usize::MAX || pos + batch > set.len() {
                    perm = (0..set.len()).collect();
                    let mut rng: Rng = rng_for(seed, epoch);
                    perm.shuffle(&mut rng);
                    epoch += 1;
                    pos = 0;
                }
                minibatch = set.gather(&perm[pos..pos + batch]);
                pos += batch;
                Source::Set(&minibatch)
            }
        };
        let eval = evaluate(&w, &b, a, gram, exp.model, src);
        traj.loss.push(eval.loss);
        let is_out = next_out < exp.out_steps.len() && exp.out_steps[next_out] == s;
        if is_out {
            next_out += 1;
        }
        if is_out || s % stride == 0 || s == total {
            traj.steps.push(s);
            traj.ws.push(w.clone());
            traj.bs.push(b.clone());
        }
        if s == total {
            traj.last = eval;
            break;
        }
        w -= exp.lr * &eval.grad_w;
        if exp.train_bias {
            b.axpy(-exp.bias_lr, &eval.grad_b, 1.0);
        }
        let big = w.iter().chain(b.iter()).fold(0.0f64, |acc, x| {
            if x.is_finite() {
                acc.max(x.abs())
            } else {
                f64::INFINITY
            }
        });
        if !big.is_finite() || big > BLOW_UP {
            return Err(Error::Diverged {
                what: what.to_string(),
                time: (s + 1) as f64,
                detail: if big.is_finite() {
                    format!(
                        "max |W_ij| = {big:.3e} exceeds {BLOW_UP:e} (η = {} too large?)",
                        exp.lr
                    )
                } else {
                    format!("non-finite weights (η = {})", exp.lr)
                },
            });
        }
        progress(s + 1);
    }
    Ok(traj)
}

/// What the analysis of a trajectory yields.
pub struct Analysis {
    /// The matching used for every row.
    pub matching: Matching,
    /// Distances at every snapshot.
    pub dist: Vec<Distances>,
    /// The output table.
    pub table: Table,
    /// Floors of distance_mean, distance_max and angle_distance_mean.
    pub floor_mean: f64,
    /// Floor of distance_max.
    pub floor_max: f64,
    /// Floor of angle_distance_mean.
    pub floor_angle: f64,
    /// ρ̂ from e_s = ‖W_s − W_T‖_F.
    pub rate_fit: Option<f64>,
    /// ρ̂ from distance_mean over 3·floor ≤ d ≤ 0.9 d₀.
    pub rate_fit_distance: Option<f64>,
    /// Support recovery at W⁰.
    pub support_init: Support,
    /// Support recovery at W_T.
    pub support_final: Support,
    /// Support recovery at every output step.
    pub support_rows: Vec<Support>,
}

/// Distances, floor, rate and support recovery of a trajectory. The matching comes from W⁰
/// for runs started near the truth, else from W_T. `fit_lower` is the lower end of the
/// rate-fit window relative to e₀.
pub fn analyse(
    exp: &Experiment,
    a: &DMatrix<f64>,
    test: &Samples,
    traj: &Trajectory,
    fit_lower: f64,
) -> Analysis {
    let matching = if exp.init.near_truth() {
        match_atoms(&traj.ws[0], a)
    } else {
        match_atoms(traj.w_final(), a)
    };
    let dist: Vec<Distances> = traj.ws.iter().map(|w| distances(w, a, &matching)).collect();
    let mut table = Table::new("step", COLUMNS.iter().map(|s| s.to_string()).collect());
    let mut support_init = Support::default();
    let mut support_final = Support::default();
    let mut support_rows = Vec::with_capacity(exp.out_steps.len());
    for (r, &s) in exp.out_steps.iter().enumerate() {
        let i = traj.at(s);
        let sup = support_recovery(&traj.ws[i], &traj.bs[i], exp.model.act, a, test, &matching);
        if r == 0 {
            support_init = sup;
        }
        if s == exp.steps {
            support_final = sup;
        }
        support_rows.push(sup);
        let d = dist[i];
        table.push(
            s as f64,
            vec![d.max, d.mean, d.angle_mean, traj.loss[s as usize], sup.f1()],
        );
    }
    let means: Vec<f64> = dist.iter().map(|d| d.mean).collect();
    let maxes: Vec<f64> = dist.iter().map(|d| d.max).collect();
    let angles: Vec<f64> = dist.iter().map(|d| d.angle_mean).collect();
    let floor_mean = floor(&traj.steps, &means);
    let floor_max = floor(&traj.steps, &maxes);
    let floor_angle = floor(&traj.steps, &angles);
    let wt = traj.w_final();
    let e: Vec<f64> = traj.ws.iter().map(|w| (w - wt).norm()).collect();
    let lower = (fit_lower * e[0]).max(PLATEAU_FACTOR * plateau(&traj.steps, &e));
    let rate_fit = fit_rate(&traj.steps, &e, lower, FIT_UPPER * e[0]);
    let rate_fit_distance = fit_rate(&traj.steps, &means, 3.0 * floor_mean, FIT_UPPER * means[0]);
    Analysis {
        matching,
        dist,
        table,
        floor_mean,
        floor_max,
        floor_angle,
        rate_fit,
        rate_fit_distance,
        support_init,
        support_final,
        support_rows,
    }
}
