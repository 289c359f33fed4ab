//! Over-parameterised two-layer ReLU autoencoders in the neural-tangent-kernel (NTK) regime:
//! weakly trained (encoder only) versus jointly trained, memorisation by the infinite-width
//! kernel predictor, and the degeneracy of weight-tied networks. After T. V. Nguyen,
//! R. K. W. Wong and C. Hegde, *Benefits of Jointly Training Autoencoders: An Improved
//! Neural Tangent Kernel Analysis*, IEEE Trans. Inf. Theory 67(7):4669–4692, 2021
//! (arXiv:1911.11983).
//!
//! # The model
//!
//! n training points x_i ∈ ℝ^d (rows of X, unit norm for `sphere` data) are reconstructed by
//! `u(x) = (κ/√m) V σ(W x)`, σ = ReLU, W ∈ ℝ^{m×d} (rows w_r), V ∈ ℝ^{d×m} (columns v_r);
//! the weight-tied network has V ≡ Wᵀ. At initialisation W_rj ~ N(0, 1) and V has iid
//! N(0, 1) or ±1 entries; the symmetric initialisation mirrors the units (w_{r+m/2} = w_r,
//! v_{r+m/2} = −v_r) so that u₀ ≡ 0. Full-batch gradient descent runs on
//! `L = ½ Σ_i ‖u(x_i) − x_i‖²` (or its mean) training W (`weak`), W and V (`joint`) or the
//! tied W (`tied`); see [`net`].
//!
//! # The kernel picture
//!
//! With U = u(X) and R = U − X, one GD step changes vec U by −η H vec R to first order, H the
//! Gram matrix of the network's tangent features ([`gram`]). As m → ∞ at this scaling H stays
//! at its initial value, which converges (as m^{−1/2}) to `H^∞ = κ² K ⊗ I_d` with
//! K = K_enc (weak) or K_enc + K_dec (joint), the arc-cosine kernels
//! `K_enc(x, y) = ⟨x, y⟩(π − θ)/(2π)` and `K_dec(x, y) = ‖x‖‖y‖(sin θ + (π − θ)cos θ)/(2π)`.
//! GD is then linear: `L_pred(t) = ½ Σ_l (1 − ηκ²μ_l)^{2t} ‖e_lᵀ R(0)‖²` over the eigenpairs
//! (μ_l, e_l) of K, with R(0) from the actual initialisation, and log L falls asymptotically
//! by 2 ln(1 − ηκ²μ_min) per step ([`theory`]). The paper proves linear convergence in both
//! regimes; joint training needs far less width, because the decoder block of H depends on σ
//! (Lipschitz) rather than σ' (discontinuous) and so stays well conditioned as W moves.
//! Trained from u₀ ≡ 0, the infinitely wide joint network is the kernel predictor
//! `u_∞(x) = Σ_ij K(x, x_i)[K⁻¹]_ij x_j`: it memorises the training set and maps new inputs
//! to kernel-weighted combinations of training examples.
//!
//! # Weight-tied degeneracy
//!
//! By Stein's lemma E[w σ(wᵀx)] = x/2, so at initialisation the tied network is
//! `u₀(x) = (κ√m/2) x + F(x)` with `E‖F(x)‖² = κ²(2d + 3)/4 ‖x‖²` for every x: a
//! data-independent multiple of the identity growing like √m (relative deviation
//! √((2d + 3)/m), L(0) ≈ n(κ√m/2 − 1)²/2), so there is no NTK limit around it. GD must cancel
//! the √m term: the weights move by O(1), more at larger width (not lazy), and off the
//! training set the map is far from the identity.
//!
//! # Runs
//!
//! [`Params::check`] validates a configuration into an [`Experiment`]. For a replicate seed,
//! [`Experiment::simulate`] runs full-batch GD (table `step,loss,lambda_min,w_move,v_move`,
//! plus `w_norm2_per_m` for tied) and [`Experiment::theory`] gives the linearised prediction
//! from the same initialisation (`step,loss_pred,loss_rate_bound`). The data set is drawn
//! once from `data.seed` and shared by all replicates (vary `data.seed` to vary it); the
//! weights of replicate j come from seed `init.seed + j`; the test points come from
//! `data.seed` (stream `TEST`). Files: `data.csv` (n × d) in every run, and for a simulation
//! the final weights `final/W_seed{s}.csv` (m × d) and, weak/joint, `final/V_seed{s}.csv`
//! (d × m), headerless CSV.

//! ```
//! use aedyn::base::Dynamics;
//!
//! let mut p = aedyn::ntk::Params::default(); // 12 unit points in ℝ⁶, joint, m = 1000
//! p.training.steps = 50;
//! let exp = p.check()?;
//! let seed = exp.replicate_seed(0);
//! let gd = exp.simulate(seed, &|_| {})?;
//! let lin = exp.theory(seed, &|_| {})?; // linearised GD from the same R(0)
//! let (l, lp) = (gd.table.last("loss").unwrap(), lin.table.last("loss_pred").unwrap());
//! assert!((l / lp - 1.0).abs() < 0.5); // lazy training follows the kernel prediction
//! # Ok::<(), aedyn::Error>(())
//! ```

pub mod data;
pub mod figures;
pub mod gram;
pub mod linalg;
pub mod net;
pub mod params;
#[cfg(test)]
mod tests;
pub mod theory;

use nalgebra::DMatrix;
use serde_json::{json, Value};

use crate::base::table::Table;
use crate::error::{Error, Result};
use crate::rng::{rng_for, stream};

use self::gram::{gram, gram_tied, kron_identity};
use self::linalg::{sym_eigen, sym_eigenvalues, sym_op_norm};
use self::net::{Net, Regime};
use self::params::InitKind;
use self::theory::{kernel_predictor, loss_slope, loss_window, rate, Modes};

pub use params::{Params, DEFAULT_CONFIG};

/// A loss above this multiple of L(0) (or non-finite) is a divergence.
pub const BLOWUP_FACTOR: f64 = 1e8;

/// Extreme eigenvalues [λ_min, λ_max] of the infinite-width kernels on the training set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spectra {
    /// K_enc.
    pub k_enc: [f64; 2],
    /// K_dec.
    pub k_dec: [f64; 2],
    /// K_enc + K_dec.
    pub k_joint: [f64; 2],
}

/// A validated experiment: built only by [`Params::check`].
#[derive(Debug, Clone)]
pub struct Experiment {
    params: Params,
    /// Training points (n × d).
    x: DMatrix<f64>,
    /// Fresh unit test points.
    test: DMatrix<f64>,
    k_enc: DMatrix<f64>,
    k_dec: DMatrix<f64>,
    spectra: Spectra,
    /// Eigenpairs (ascending, without κ²) of the regime's kernel K; `None` for tied.
    kernel: Option<(Vec<f64>, DMatrix<f64>)>,
    /// Initial weights from files.
    weights: Option<(DMatrix<f64>, Option<DMatrix<f64>>)>,
    steps: Vec<u64>,
    /// η when fixed by the config or the data (weak/joint); `None`: per replicate (tied).
    lr: Option<f64>,
    lr_rule: String,
    warnings: Vec<String>,
}

/// One theory run: the generic [`crate::base::Run`] (table, record, files; the seed of its
/// initial state).
pub type TheoryRun = crate::base::Run;

/// One simulated replicate: the generic [`crate::base::Run`].
pub type SimRun = crate::base::Run;

/// JSON number, `null` for non-finite values.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// Read a number from a record (`NaN` if absent or null).
fn get(record: &Value, key: &str) -> f64 {
    record.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The step size of one replicate and how it was chosen.
struct StepSize {
    /// η as configured (the update is θ ← θ − η∇L).
    eta: f64,
    rule: String,
    warnings: Vec<String>,
    /// λ_min and λ_max of the Gram that sets the theory (H^∞, or H_tied(0)).
    lambda: [f64; 2],
    /// Eigenpairs of H_tied(0) (tied only).
    tied_h0: Option<(Vec<f64>, DMatrix<f64>)>,
}

/// The relative deviation of u₀ from (κ√m/2)x over the rows x of `test`:
/// √(Σ_x ‖u₀(x) − (κ√m/2)x‖² / Σ_x ‖(κ√m/2)x‖²) (predicted ≈ √((2d + 3)/m) for tied nets).
pub fn tied_init_reldev(net: &Net, test: &DMatrix<f64>) -> f64 {
    let c0 = net.kappa * (net.width() as f64).sqrt() / 2.0;
    let scaled = test * c0;
    ((net.outputs(test) - &scaled).norm_squared() / scaled.norm_squared()).sqrt()
}

/// Mean of the finite values (NaN if none).
fn finite_mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, c) = v
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
    if c == 0 {
        f64::NAN
    } else {
        s / c as f64
    }
}

impl Experiment {
    /// The parameters it was built from.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The training points (n × d).
    pub fn data(&self) -> &DMatrix<f64> {
        &self.x
    }

    /// The test points (one unit vector per row).
    pub fn test_points(&self) -> &DMatrix<f64> {
        &self.test
    }

    /// K_enc and K_dec on the training set.
    pub fn kernels(&self) -> (&DMatrix<f64>, &DMatrix<f64>) {
        (&self.k_enc, &self.k_dec)
    }

    /// Extreme eigenvalues of the kernels.
    pub fn spectra(&self) -> Spectra {
        self.spectra
    }

    /// The loss factor s (1 for `sum`, 1/n for `mean`).
    fn s_l(&self) -> f64 {
        self.params.training.loss_norm.scale(self.x.nrows())
    }

    fn kappa2(&self) -> f64 {
        self.params.network.kappa * self.params.network.kappa
    }

    /// H^∞ = κ² K ⊗ I_d of the regime (`None` for tied).
    pub fn h_inf(&self) -> Option<DMatrix<f64>> {
        let k = match self.params.training.regime {
            Regime::Weak => self.k_enc.clone(),
            Regime::Joint => &self.k_enc + &self.k_dec,
            Regime::Tied => return None,
        };
        Some(kron_identity(&(k * self.kappa2()), self.x.ncols()))
    }

    /// The initial network of replicate `seed` (stream `INIT`).
    pub fn initial_net(&self, seed: u64) -> Result<Net> {
        let p = &self.params;
        let net = match (&self.weights, p.init.kind) {
            (Some((w, v)), InitKind::Weights) => {
                Net::from_weights(p.training.regime, p.network.kappa, w, v.as_ref())
            }
            _ => Net::random(
                p.training.regime,
                p.network.kappa,
                p.network.width,
                self.x.ncols(),
                p.init.v_law,
                p.init.symmetric,
                &mut rng_for(seed, stream::INIT),
            ),
        };
        net.map_err(|e| Error::InvalidState(e.to_string()))
    }

    /// η for a replicate, its rule, warnings, and the spectrum that sets the theory.
    fn step_size(&self, net0: &Net) -> StepSize {
        let n = self.x.nrows();
        let s_l = self.s_l();
        if let Some((vals, _)) = &self.kernel {
            let lambda = [self.kappa2() * vals[0], self.kappa2() * vals[n - 1]];
            return StepSize {
                eta: self.lr.expect("weak/joint η is fixed at check"),
                rule: self.lr_rule.clone(),
                warnings: self.warnings.clone(),
                lambda,
                tied_h0: None,
            };
        }
        let (vals, vecs) = sym_eigen(gram_tied(net0, &self.x));
        let lmax = *vals.last().expect("nd ≥ 1");
        let lambda = [vals[0], lmax];
        let mut warnings = self.warnings.clone();
        let (eta, rule) = match self.lr {
            Some(lr) => (lr, self.lr_rule.clone()),
            None => {
                let scale = self.params.training.lr_scale.unwrap_or(0.5);
                (
                    scale / (s_l * lmax),
                    format!("{scale}/(s·λ_max(H_tied(0))) = {scale}/(s·{lmax:.6})"),
                )
            }
        };
        if eta * s_l > 2.0 / lmax {
            let w = format!(
                "training.lr: the effective step η = {:.6} exceeds 2/λ_max(H_tied(0)) = {:.6}",
                eta * s_l,
                2.0 / lmax
            );
            eprintln!("warning: {w}");
            warnings.push(w);
        }
        StepSize {
            eta,
            rule,
            warnings,
            lambda,
            tied_h0: Some((vals, vecs)),
        }
    }

    /// The linearised modes of a replicate from its R(0).
    fn modes(&self, r0: &DMatrix<f64>, st: &StepSize) -> Modes {
        let eta = st.eta * self.s_l();
        match (&self.kernel, &st.tied_h0) {
            (Some((vals, vecs)), _) => {
                Modes::from_kernel(vals, vecs, self.params.network.kappa, r0, eta, self.s_l())
            }
            (None, Some((vals, vecs))) => Modes::from_gram(vals, vecs, r0, eta, self.s_l()),
            (None, None) => unreachable!("tied step sizes carry H_tied(0)"),
        }
    }

    fn spectra_record(&self) -> Value {
        let k2 = self.kappa2();
        let sp = self.spectra;
        let h = match self.params.training.regime {
            Regime::Weak => Some(sp.k_enc),
            Regime::Joint => Some(sp.k_joint),
            Regime::Tied => None,
        };
        json!({
            "lambda_min_k_enc": sp.k_enc[0], "lambda_max_k_enc": sp.k_enc[1],
            "lambda_min_k_dec": sp.k_dec[0], "lambda_max_k_dec": sp.k_dec[1],
            "lambda_min_k_joint": sp.k_joint[0], "lambda_max_k_joint": sp.k_joint[1],
            "lambda_min_h_inf": h.map_or(Value::Null, |h| num(k2 * h[0])),
            "lambda_max_h_inf": h.map_or(Value::Null, |h| num(k2 * h[1])),
        })
    }

    /// Rows of `x` mapped by the network: least-squares c of u(x) ≈ c x and
    /// rms ‖u(x) − x‖ over the rows.
    fn identity_fit(net: &Net, x: &DMatrix<f64>) -> (f64, f64) {
        let u = net.outputs(x);
        let c = u.dot(x) / x.norm_squared();
        let rms = ((&u - x).norm_squared() / x.nrows() as f64).sqrt();
        (c, rms)
    }

    /// Kernel-predictor summary on the test points: u_∞ (k × d), mean ‖u_∞(x)‖, mean max
    /// cosine of u_∞(x) to a training point, and the same for the inputs x.
    fn kernel_prediction(&self) -> Option<(DMatrix<f64>, f64, f64, f64)> {
        let (k_train, k_cross) = {
            let (ce, cd) = gram::kernels(&self.test, &self.x);
            match self.params.training.regime {
                Regime::Weak => (self.k_enc.clone(), ce),
                Regime::Joint => (&self.k_enc + &self.k_dec, ce + cd),
                Regime::Tied => return None,
            }
        };
        let u_inf = kernel_predictor(&k_train, &k_cross, &self.x)?;
        let max_cos = |rows: &DMatrix<f64>| {
            finite_mean((0..rows.nrows()).map(|t| {
                let r = rows.row(t);
                (0..self.x.nrows())
                    .map(|i| r.dot(&self.x.row(i)) / (r.norm() * self.x.row(i).norm()))
                    .fold(f64::NEG_INFINITY, f64::max)
            }))
        };
        let mean_norm = finite_mean((0..u_inf.nrows()).map(|t| u_inf.row(t).norm()));
        let (cu, cx) = (max_cos(&u_inf), max_cos(&self.test));
        Some((u_inf, mean_norm, cu, cx))
    }

    /// The linearised theory for replicate `seed`: L_pred(t) from that seed's actual R(0)
    /// and the rate line L(0)·exp(2t ln|1 − η_e λ_min|). For tied training there is no
    /// infinite-width limit; the prediction then linearises around the actual initialisation
    /// with H_tied(0) (the lazy prediction, which the simulation contradicts).
    pub fn theory(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<TheoryRun> {
        let net0 = self.initial_net(seed)?;
        let st = self.step_size(&net0);
        let r0 = net0.outputs(&self.x) - &self.x;
        let l0 = self.s_l() * 0.5 * r0.norm_squared();
        let modes = self.modes(&r0, &st);
        let slope_rate = rate(modes.eta, st.lambda[0]);
        let mut table = Table::new("step", vec!["loss_pred".into(), "loss_rate_bound".into()]);
        for &t in &self.steps {
            table.push(
                t as f64,
                vec![modes.loss(t as f64), l0 * (slope_rate * t as f64).exp()],
            );
        }
        let [lo, hi] = self.params.simulation.slope_window;
        let own = modes.window(lo, hi, self.params.training.steps.max(100_000));
        let p = &self.params;
        let (n, d, m) = (self.x.nrows(), self.x.ncols(), p.network.width);
        let mut record = json!({
            "seed": seed,
            "regime": p.training.regime.name(),
            "lr": st.eta,
            "lr_effective": modes.eta,
            "lr_rule": st.rule,
            "warnings": st.warnings,
            "loss_initial": l0,
            "loss_pred_final": num(modes.loss(self.params.training.steps as f64)),
            "lambda_min_h": st.lambda[0],
            "lambda_max_h": st.lambda[1],
            "slope_rate": num(slope_rate),
            "slope_linearised_window": own.map_or(Value::Null, |(a, b)| json!([a, b])),
            "slope_linearised": own.map_or(Value::Null, |(a, b)| num(modes.slope(a, b))),
            "modes": serde_json::to_value(&modes).unwrap_or(Value::Null),
            "spectra": self.spectra_record(),
        });
        if p.training.regime == Regime::Tied {
            record["tied_init_reldev_pred"] = json!(theory::tied_reldev(d, m));
            record["tied_loss_initial_leading"] =
                json!(theory::tied_l0_leading(n, m, p.network.kappa));
            record["tied_loss_initial_mean"] =
                json!(theory::tied_l0_mean(&self.x, m, p.network.kappa));
        } else if let Some((_, mean_norm, cu, cx)) = self.kernel_prediction() {
            record["kernel_predictor"] = json!({
                "mean_norm": mean_norm,
                "mean_max_cosine_outputs": cu,
                "mean_max_cosine_inputs": cx,
            });
        }
        progress(self.params.training.steps);
        let summary = self.summary(&table, &record);
        Ok(TheoryRun {
            seed,
            table,
            record,
            summary,
            files: vec![(
                "data.csv".into(),
                crate::io::matrix_csv(&self.x).into_bytes(),
            )],
            ..Default::default()
        })
    }

    /// Full-batch GD of replicate `seed` from the same data and initialisation as
    /// [`Experiment::theory`]. A non-finite loss, or one above [`BLOWUP_FACTOR`]·L(0), is
    /// [`Error::Diverged`] at that step.
    pub fn simulate(&self, seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<SimRun> {
        let p = &self.params;
        let regime = p.training.regime;
        let norm = p.training.loss_norm;
        let net0 = self.initial_net(seed)?;
        let st = self.step_size(&net0);
        let tied = regime == Regime::Tied;
        let (n, d, m) = (self.x.nrows(), self.x.ncols(), net0.width());
        let h_inf = self.h_inf();
        let gram_on = p.output.gram;

        let mut names: Vec<String> = ["loss", "lambda_min", "w_move", "v_move"]
            .map(String::from)
            .to_vec();
        if tied {
            names.push("w_norm2_per_m".into());
        }
        let mut table = Table::new("step", names);
        let w0 = net0.w_t().clone();
        let v0 = net0.v();
        let (w0n, v0n) = (w0.norm(), v0.norm());
        let mut net = net0.clone();
        let total = self.params.training.steps;
        let mut losses: Vec<f64> = Vec::with_capacity(total as usize + 1);
        let mut next = 0usize;
        let mut reported = 0u64;
        let mut gram_info: Option<(f64, f64)> = None; // (λ_min H(0), ‖H(0) − H^∞‖/‖H^∞‖)
        let mut lambda_last = f64::NAN;
        let what = format!("ntk simulation seed {seed}");
        let mut l0 = f64::NAN;
        for t in 0..=total {
            let g = (t < total).then(|| net.grad(&self.x, norm));
            let loss = match &g {
                Some(g) => g.loss,
                None => net.loss(&self.x, norm),
            };
            if t == 0 {
                l0 = loss;
            }
            if !loss.is_finite() || loss > BLOWUP_FACTOR * l0 {
                return Err(Error::Diverged {
                    what,
                    time: t as f64,
                    detail: format!("loss {loss:e} (L(0) = {l0:e}) with η = {}", st.eta),
                });
            }
            losses.push(loss);
            if next < self.steps.len() && self.steps[next] == t {
                let lambda = if gram_on {
                    let h = gram(&net, &self.x);
                    if t == 0 {
                        let err = h_inf.as_ref().map_or(f64::NAN, |hi| {
                            sym_op_norm(&h - hi) / sym_op_norm(hi.clone())
                        });
                        let lmin = sym_eigenvalues(h)[0];
                        gram_info = Some((lmin, err));
                        lmin
                    } else {
                        sym_eigenvalues(h)[0]
                    }
                } else {
                    f64::NAN
                };
                lambda_last = lambda;
                let w_move = (net.w_t() - &w0).norm() / w0n;
                let v_move = if tied {
                    f64::NAN
                } else {
                    (net.v() - &v0).norm() / v0n
                };
                let mut row = vec![loss, lambda, w_move, v_move];
                if tied {
                    row.push(net.w_t().norm_squared() / m as f64);
                }
                table.push(t as f64, row);
                next += 1;
                progress(t - reported);
                reported = t;
            }
            if let Some(g) = g {
                net.apply(&g, st.eta);
            }
        }
        if reported < total {
            progress(total - reported);
        }

        // ---- record
        let l_final = *losses.last().expect("T ≥ 1");
        let ratio = l_final / l0;
        let r0 = net0.outputs(&self.x) - &self.x;
        let modes = self.modes(&r0, &st);
        let [lo, hi] = p.simulation.slope_window;
        let window = loss_window(&losses, lo, hi);
        let (fit, lin) = window.map_or((f64::NAN, f64::NAN), |(a, b)| {
            (loss_slope(&losses, a, b), modes.slope(a as u64, b as u64))
        });
        let w_move_max_row = (0..m)
            .map(|r| (net.w_t().column(r) - w0.column(r)).norm())
            .fold(0.0, f64::max);
        let mut record = json!({
            "seed": seed,
            "regime": regime.name(),
            "width": m,
            "lr": st.eta,
            "lr_effective": modes.eta,
            "lr_rule": st.rule,
            "warnings": st.warnings,
            "loss_initial": l0,
            "loss_final": l_final,
            "loss_ratio": num(ratio),
            "success": ratio < p.simulation.success_ratio,
            "loss_pred_final": num(modes.loss(total as f64)),
            "w_move": num((net.w_t() - &w0).norm() / w0n),
            "w_move_max_row": num(w_move_max_row),
            "v_move": if tied { Value::Null } else { num((net.v() - &v0).norm() / v0n) },
            "window": window.map_or(Value::Null, |(a, b)| json!([a, b])),
            "slope_fit": num(fit),
            "slope_linearised": num(lin),
            "slope_rate": num(rate(modes.eta, st.lambda[0])),
            "lambda_min_h": st.lambda[0],
            "lambda_max_h": st.lambda[1],
            "lambda_min_final": num(lambda_last),
            "spectra": self.spectra_record(),
        });
        if let Some((lmin, err)) = gram_info {
            record["lambda_min_h0"] = num(lmin);
            record["gram_error"] = num(err);
            if !tied {
                record["lambda_min_ratio"] = num(lmin / st.lambda[0]);
            }
        }
        if tied {
            let reldev = tied_init_reldev(&net0, &self.test);
            let (c_end, rms_end) = Self::identity_fit(&net, &self.test);
            record["tied_init_reldev"] = num(reldev);
            record["tied_init_reldev_pred"] = json!(theory::tied_reldev(d, m));
            record["tied_loss_initial_leading"] =
                json!(theory::tied_l0_leading(n, m, p.network.kappa));
            record["tied_loss_initial_mean"] =
                json!(theory::tied_l0_mean(&self.x, m, p.network.kappa));
            record["w_norm2_per_m_initial"] = json!(w0.norm_squared() / m as f64);
            record["w_norm2_per_m_final"] = json!(net.w_t().norm_squared() / m as f64);
            record["test_c"] = num(c_end);
            record["test_identity_error"] = num(rms_end);
        } else if p.init.symmetric {
            if let Some((u_inf, mean_norm, cu, cx)) = self.kernel_prediction() {
                let u = net.outputs(&self.test);
                record["memorisation_error"] = num((&u - &u_inf).norm() / u_inf.norm());
                record["kernel_predictor"] = json!({
                    "mean_norm": mean_norm,
                    "mean_max_cosine_outputs": cu,
                    "mean_max_cosine_inputs": cx,
                });
            }
        }
        let mut files = vec![
            (
                "data.csv".to_string(),
                crate::io::matrix_csv(&self.x).into_bytes(),
            ),
            (
                format!("final/W_seed{seed}.csv"),
                crate::io::matrix_csv(&net.w()).into_bytes(),
            ),
        ];
        if !tied {
            files.push((
                format!("final/V_seed{seed}.csv"),
                crate::io::matrix_csv(&net.v()).into_bytes(),
            ));
        }
        let summary = self.summary(&table, &record);
        Ok(SimRun {
            seed,
            table,
            record,
            summary,
            files,
            ..Default::default()
        })
    }

    /// Rate comparison per replicate: the fitted slope of log L over the window
    /// lo·L(0) < L < hi·L(0) of the simulation, the slope of log L_pred over the same steps,
    /// and the asymptotic 2 ln|1 − η_e λ_min|; with their ratios and means.
    pub fn compare(&self, theories: &[TheoryRun], sims: &[SimRun]) -> Result<Value> {
        let mut rows = Vec::new();
        for sim in sims {
            let theory_modes = theories
                .iter()
                .find(|t| t.record.get("seed").and_then(Value::as_u64) == Some(sim.seed))
                .and_then(|t| serde_json::from_value::<Modes>(t.record["modes"].clone()).ok());
            let modes = match theory_modes {
                Some(m) => m,
                None => {
                    let net0 = self.initial_net(sim.seed)?;
                    let st = self.step_size(&net0);
                    self.modes(&(net0.outputs(&self.x) - &self.x), &st)
                }
            };
            let window = sim
                .record
                .get("window")
                .and_then(|w| Some((w.get(0)?.as_u64()?, w.get(1)?.as_u64()?)));
            let fitted = get(&sim.record, "slope_fit");
            let lin = window.map_or(f64::NAN, |(a, b)| modes.slope(a, b));
            let rt = get(&sim.record, "slope_rate");
            let pred_final = modes.loss(self.params.training.steps as f64);
            rows.push(json!({
                "seed": sim.seed,
                "window": window.map_or(Value::Null, |(a, b)| json!([a, b])),
                "slope_fit": num(fitted),
                "slope_linearised": num(lin),
                "slope_rate": num(rt),
                "fit_over_linearised": num(fitted / lin),
                "fit_over_rate": num(fitted / rt),
                "loss_final": num(get(&sim.record, "loss_final")),
                "loss_pred_final": num(pred_final),
            }));
        }
        let mean = |k: &str| num(finite_mean(rows.iter().map(|r| get(r, k))));
        Ok(json!({
            "per_seed": rows,
            "slope_fit": mean("slope_fit"),
            "slope_linearised": mean("slope_linearised"),
            "slope_rate": mean("slope_rate"),
            "fit_over_linearised": mean("fit_over_linearised"),
            "fit_over_rate": mean("fit_over_rate"),
            "success_fraction": num(finite_mean(sims.iter().map(|s| {
                if s.record.get("success").and_then(Value::as_bool).unwrap_or(false) { 1.0 } else { 0.0 }
            }))),
        }))
    }

    /// Sweep columns of one run (simulation or theory table with its record).
    pub fn summary(&self, table: &Table, record: &Value) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: f64| out.push((k.to_string(), v));
        if let Some(loss) = table.column("loss") {
            let (l0, lt) = (loss[0], *loss.last().unwrap_or(&f64::NAN));
            put("final_loss", lt);
            put("loss_ratio", lt / l0);
            put(
                "success",
                f64::from(lt / l0 < self.params.simulation.success_ratio),
            );
            put("w_move", table.last("w_move").unwrap_or(f64::NAN));
            put("v_move", table.last("v_move").unwrap_or(f64::NAN));
            for k in [
                "w_move_max_row",
                "slope_fit",
                "slope_linearised",
                "slope_rate",
                "lambda_min_h0",
                "lambda_min_final",
                "gram_error",
                "lambda_min_ratio",
                "memorisation_error",
                "tied_init_reldev",
                "test_identity_error",
                "test_c",
                "w_norm2_per_m_final",
                "lr",
            ] {
                if record.get(k).is_some() {
                    put(k, get(record, k));
                }
            }
        } else if let Some(pred) = table.column("loss_pred") {
            put("final_loss_pred", *pred.last().unwrap_or(&f64::NAN));
            put(
                "loss_pred_ratio",
                pred.last().unwrap_or(&f64::NAN) / pred[0],
            );
            for k in [
                "slope_rate",
                "slope_linearised",
                "lambda_min_h",
                "lambda_max_h",
                "lr",
            ] {
                put(k, get(record, k));
            }
        }
        out
    }

    /// Width-scaling metrics, averaged over the replicates (for `validate --sizes` over
    /// `network.width`): Gram error ‖H(0) − H^∞‖/‖H^∞‖, λ_min(H(0))/λ_min(H^∞) and its
    /// distance from 1, final weight movement; tied: the relative deviation of u₀ from
    /// (κ√m/2)x and the weight movement.
    pub fn validation_metrics(&self, sims: &[SimRun]) -> Vec<(String, f64)> {
        let keys: &[&str] = if self.params.training.regime == Regime::Tied {
            &[
                "tied_init_reldev",
                "w_move",
                "w_move_max_row",
                "test_identity_error",
            ]
        } else {
            &[
                "gram_error",
                "lambda_min_ratio",
                "w_move",
                "w_move_max_row",
                "v_move",
                "memorisation_error",
            ]
        };
        let mut out = Vec::new();
        for k in keys {
            let v = finite_mean(sims.iter().map(|s| get(&s.record, k)));
            if v.is_finite() {
                out.push((k.to_string(), v));
            }
        }
        let r = finite_mean(
            sims.iter()
                .map(|s| (get(&s.record, "lambda_min_ratio") - 1.0).abs()),
        );
        if r.is_finite() {
            out.push(("lambda_min_rel_error".into(), r));
        }
        out
    }
}

/// The model's name in `[model] kind`.
pub const KIND: &str = "ntk";

crate::model_params!(Params, Experiment, KIND);

impl crate::base::Dynamics for Experiment {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn config(&self) -> Value {
        serde_json::to_value(&self.params).expect("serialisable config")
    }

    fn record(&self) -> Value {
        Value::Null
    }

    fn default_seeds(&self) -> usize {
        self.params.simulation.seeds
    }

    /// `init.seed + j`.
    fn replicate_seed(&self, j: usize) -> u64 {
        self.params.init.seed.wrapping_add(j as u64)
    }

    /// The steps of one run.
    fn work(&self, _source: crate::base::model::Source) -> u64 {
        self.params.training.steps
    }

    fn theory(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        Experiment::theory(self, seed, progress)
    }

    fn simulate(&self, seed: u64, progress: crate::base::Progress) -> Result<crate::base::Run> {
        Experiment::simulate(self, seed, progress)
    }

    /// The training loss against the linearised (infinite-width) prediction L_pred(t).
    fn compared(&self) -> Vec<(String, String)> {
        vec![("loss".into(), "loss_pred".into())]
    }

    /// The fitted log-loss slope over the window against the linearised curve's slope over
    /// the same window and against 2 ln(1 − ηλ_min).
    fn compare_extra(&self, cmp: &crate::base::compare::Comparison) -> Result<Value> {
        let (sims, theories): (Vec<SimRun>, Vec<TheoryRun>) = cmp.pairs.iter().cloned().unzip();
        Experiment::compare(self, &theories, &sims)
    }

    fn compare_figure(
        &self,
        cmp: &crate::base::compare::Comparison,
    ) -> Option<crate::plot::Figure> {
        use crate::plot::{Figure, Panel, Series, SeriesStyle};
        let mut p = Panel::new("step", "training loss L");
        p.y_log = true;
        p.title = Some(format!(
            "{:?}, m = {}, n = {}, d = {}: GD (markers), linearised L_pred (lines)",
            self.params.training.regime,
            self.params.network.width,
            self.data().nrows(),
            self.data().ncols()
        ));
        for (i, (sim, th)) in cmp.pairs.iter().enumerate() {
            let color = i + 1;
            let mut line = Series::new(
                th.table.index.clone(),
                th.table.column("loss_pred").unwrap_or_default(),
                SeriesStyle::Line,
            )
            .with_color(color);
            let mut marks = Series::new(
                sim.table.index.clone(),
                sim.table.column("loss").unwrap_or_default(),
                SeriesStyle::Markers,
            )
            .with_color(color);
            if i == 0 {
                line = line.with_label(format!("L_pred (seed {})", sim.seed));
                marks = marks.with_label(format!("GD (seed {})", sim.seed));
            } else {
                line = line.faint();
                marks = marks.faint();
            }
            p.series.push(line);
            p.series.push(marks);
        }
        if let Some((_, th)) = cmp.pairs.first() {
            p.series.push(
                Series::new(
                    th.table.index.clone(),
                    th.table.column("loss_rate_bound").unwrap_or_default(),
                    SeriesStyle::Dashed,
                )
                .with_label("L(0)(1 − ηλ_min)^{2t}")
                .with_color(0),
            );
        }
        Some(Figure::row(vec![p]))
    }

    fn size_key(&self) -> &'static str {
        "network.width"
    }

    fn default_sizes(&self) -> Vec<usize> {
        vec![100, 400, 1600, 6400]
    }

    /// Gram error, λ_min ratio, weight movement (tied: the deviation of u₀ from (κ√m/2)x):
    /// means over the replicates, each ∝ m^{−1/2} in the lazy regimes.
    fn validation_metrics(
        &self,
        cmp: &crate::base::compare::Comparison,
    ) -> Vec<(String, f64, f64)> {
        let sims: Vec<SimRun> = cmp.pairs.iter().map(|p| p.0.clone()).collect();
        Experiment::validation_metrics(self, &sims)
            .into_iter()
            .map(|(name, v)| {
                let per: Vec<f64> = sims
                    .iter()
                    .map(|s| s.record[&name].as_f64().unwrap_or(f64::NAN))
                    .filter(|x| x.is_finite())
                    .collect();
                let se = if per.len() > 1 {
                    crate::base::compare::mean_se(&per).1
                } else {
                    f64::NAN
                };
                (name, v, se)
            })
            .collect()
    }
}
