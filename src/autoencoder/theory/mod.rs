//! The high-dimensional ODEs of online SGD in a shallow autoencoder (Refinetti & Goldt 2022),
//! integrated in factor form (docs/autoencoder.md §3.2, §4, §6).
//!
//! For every eigenvalue group `G` (eigenvalue `ρ̃_G = ρ_G/D`, multiplicity `n_G`) the state is a
//! factor `Z_G ∈ R^{2K×m_G}`, `m_G = min(n_G, 2K)`, with `S_G = Z_G Z_Gᵀ = [[q_G, r_Gᵀ],[r_G, t_G]]`
//! and the columns of `Z_G` stacking `(ω ; ν̃)`. It obeys (docs/autoencoder.md §4, factor form)
//!
//! ```text
//! dZ_G/dt = L(ρ̃_G) Z_G − wd Z_G,   L(ρ̃) = η [[ρ̃ G, ρ̃ E], [ρ̃ E, −I2]],
//! G = diag(M − c) − T0 ∘ B,   c_k = Σ_a T0^{ka} A_{ka},   E = diag(E1),
//! ```
//!
//! with the kernels (E1, M, I2, A, B) evaluated at the current `Q = Σ_G ρ̃_G q_G`,
//! `R = Σ_G ρ̃_G r_G`, `T0 = Σ_G t_G` (docs/autoencoder.md §3.1–3.4). Truncated SGD masks T0 and I2 with
//! `1[a ≤ k]` inside `c`, `G` and the `−I2 ν̃` term (docs/autoencoder.md §5.1). A trained bias follows
//! `dβ_k/dt = η_b [Mb_k − Σ_a T0^{ka} P_{ka}]` (docs/autoencoder.md §3.5). The factor form preserves the rank
//! of every `S_G` by construction, avoiding the phantom directions of the matrix form (§7.1).
//!
//! **Tied weights** (docs/autoencoder.md §5.3, `v^k = √D w^k`, one matrix W trained with rate η/D on the sum of
//! the encoder gradient and √D × the decoder gradient). Then `ν̃_τ = v·u_τ/√D = ω_τ`, and the
//! increment of `w^k` is the untied encoder increment plus the untied decoder increment
//! divided by √D, i.e. in the (ω; ν̃) units above the sum of the two rows of `L(ρ̃) s_τ`:
//!
//! ```text
//! dω_τ/dt = η [ρ̃_τ G ω_τ + ρ̃_τ E ν̃_τ] + η [ρ̃_τ E ω_τ − I2 ν̃_τ] = η [ρ̃_τ (2E + G) − I2] ω_τ,
//! ```
//!
//! with `R = T = Q` and `T0 = Σ_τ q_τ = W Wᵀ` (the second-order terms vanish as in §1.2:
//! `|Δw|² = O(1/D²)` per step). The state keeps both halves, `ν̃_τ = ω_τ`, and both follow the
//! same equation, so the tie is preserved exactly and every order parameter is read off as
//! in the untied case. Verified against one-step SGD drift (`tests/theory_drift.rs`) and
//! against simulation (`aedyn compare`, `tests/variants.rs`).
//!
//! **Sanger's rule** (docs/autoencoder.md §5.2, linear units, decoder `v = w`, `y^k = λ^k`,
//! `w^k ← w^k + (η/D²) y^k (x − Σ_{a≤k} y^a w^a)`): with `E[y^k (x·u_τ)] = ρ_τ ω^k_τ/√D`
//! and `E[y^k y^a] = Q^{ka}`, the drift per unit time `t = steps/D` is
//!
//! ```text
//! dω_τ/dt = (η/√D) ρ̃_τ ω_τ − (η/D) tril(Q) ω_τ,      ν̃_τ = ω_τ/√D,
//! ```
//!
//! the Oja–Sanger flow of docs/autoencoder.md §5.2 written in ω = D^{1/4} a (it is slow by √D in these
//! units, as docs/autoencoder.md notes). Weight decay adds `−wd ω_τ` as above.

pub mod integrator;

use nalgebra::{DMatrix, DVector, DVectorView, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::activation::{test_error, KernelEvaluator};
use crate::autoencoder::model::{Model, Rule};
use crate::autoencoder::trajectory::{GroupDensity, OrderParams, Snapshot, Trajectory};
use crate::error::{Error, Result};
use crate::spectrum::{Covariance, Projection, Spectrum};

pub use integrator::{IntegratorStats, Tolerances};

/// The initial state of the ODE: one factor `Z_G` (2K × m_G) per group, and biases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitialState {
    /// Factors `Z_G`, same order as the spectrum's groups.
    pub factors: Vec<DMatrix<f64>>,
    /// Initial biases `β_k` (when biases are trained).
    pub beta: Option<DVector<f64>>,
}

/// The second moment `S_G = [[q, rᵀ], [r, t]]` of one group's densities.
fn density_moment(d: &GroupDensity) -> DMatrix<f64> {
    let k = d.q.nrows();
    let mut s = DMatrix::zeros(2 * k, 2 * k);
    s.view_mut((0, 0), (k, k)).copy_from(&d.q);
    s.view_mut((k, 0), (k, k)).copy_from(&d.r);
    s.view_mut((0, k), (k, k)).copy_from(&d.r.transpose());
    s.view_mut((k, k), (k, k)).copy_from(&d.t);
    s
}

/// Whether one group's densities can be those of a group of `multiplicity` directions:
/// `S_G` positive semi-definite of rank ≤ `multiplicity` (an error says why not).
pub fn check_density(d: &GroupDensity, multiplicity: usize) -> Result<()> {
    check_psd(&density_moment(d), multiplicity).map_err(Error::InvalidState)
}

impl InitialState {
    /// The exact state of given weights: `ω^k_τ = w^k·u_τ`, `ν̃^k_τ = v^k·u_τ/√D`
    /// (`w`, `v` are K×D with row k the weights of unit k). Groups with `n_G ≤ 2K`
    /// explicit directions keep their projections as the factor; larger groups are
    /// factorised from their second moment. Cost O(K·D·n_explicit + K²·D).
    pub fn from_weights(
        cov: &Covariance,
        w: &DMatrix<f64>,
        v: &DMatrix<f64>,
        beta: Option<DVector<f64>>,
    ) -> Result<Self> {
        let k = w.nrows();
        if v.nrows() != k || v.ncols() != w.ncols() {
            return Err(Error::InvalidState(format!(
                "encoder is {}×{} but decoder is {}×{}",
                w.nrows(),
                w.ncols(),
                v.nrows(),
                v.ncols()
            )));
        }
        let scale = 1.0 / (cov.dim() as f64).sqrt();
        let mut y = DMatrix::zeros(2 * k, w.ncols());
        y.view_mut((0, 0), (k, w.ncols())).copy_from(w);
        y.view_mut((k, 0), (k, w.ncols())).copy_from(&(v * scale));
        let factors = cov
            .group_projections(&y)?
            .into_iter()
            .zip(cov.spectrum().groups())
            .map(|(p, g)| match p {
                Projection::Coefficients(c) if c.ncols() <= 2 * k => Ok(c),
                Projection::Coefficients(c) => factorise(&(&c * c.transpose()), 2 * k),
                Projection::Moment(s) => factorise(&s, g.multiplicity.min(2 * k)),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InitialState { factors, beta })
    }

    /// A state from given group densities (`S_G`, e.g. explicit initial order parameters per
    /// group): each is factorised as `Z_G = U diag(√λ)` over its top `min(n_G, 2K)`
    /// eigenpairs. Fails if an `S_G` is not positive semi-definite or has rank above `n_G`.
    pub fn from_densities(
        spectrum: &Spectrum,
        densities: &[GroupDensity],
        beta: Option<DVector<f64>>,
    ) -> Result<Self> {
        if densities.len() != spectrum.groups().len() {
            return Err(Error::InvalidState(format!(
                "{} group densities given, the spectrum has {} groups",
                densities.len(),
                spectrum.groups().len()
            )));
        }
        let factors = densities
            .iter()
            .zip(spectrum.groups())
            .enumerate()
            .map(|(i, (d, g))| {
                let s = density_moment(d);
                check_psd(&s, g.multiplicity)
                    .map_err(|m| Error::InvalidState(format!("group {i}: {m}")))?;
                factorise(&s, g.multiplicity.min(d.q.nrows() * 2))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InitialState { factors, beta })
    }

    /// The group densities `S_G = Z_G Z_Gᵀ`.
    pub fn densities(&self) -> Vec<GroupDensity> {
        self.factors
            .iter()
            .map(|z| GroupDensity::from_moment(&(z * z.transpose())))
            .collect()
    }
}

/// Relative tolerance for negative eigenvalues / excess rank of a user-given density:
/// roundoff in files written with ≥ 12 digits stays far below 1e-9 of the largest eigenvalue.
const PSD_TOL: f64 = 1e-9;

fn check_psd(s: &DMatrix<f64>, n: usize) -> std::result::Result<(), String> {
    if (s - s.transpose()).amax() > PSD_TOL * s.amax().max(1.0) {
        return Err("the density is not symmetric".into());
    }
    let eig = SymmetricEigen::new(s.clone());
    let top = eig.eigenvalues.amax().max(f64::MIN_POSITIVE);
    let min = eig.eigenvalues.min();
    if min < -PSD_TOL * top {
        return Err(format!(
            "[[q, rᵀ], [r, t]] must be positive semi-definite; smallest eigenvalue {min:.3e}"
        ));
    }
    let rank = eig
        .eigenvalues
        .iter()
        .filter(|&&l| l > PSD_TOL * top)
        .count();
    if rank > n {
        return Err(format!(
            "a group of multiplicity {n} has densities of rank ≤ {n}, these have rank {rank}"
        ));
    }
    Ok(())
}

/// `Z = U diag(√max(λ, 0))` over the top `m` eigenpairs of the symmetric PSD matrix `s`.
fn factorise(s: &DMatrix<f64>, m: usize) -> Result<DMatrix<f64>> {
    let eig = SymmetricEigen::new(s.clone());
    let mut order: Vec<usize> = (0..s.nrows()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut z = DMatrix::zeros(s.nrows(), m);
    for (c, &i) in order.iter().take(m).enumerate() {
        let l = eig.eigenvalues[i].max(0.0).sqrt();
        z.set_column(c, &(eig.eigenvectors.column(i) * l));
    }
    if z.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidState("non-finite initial densities".into()));
    }
    Ok(z)
}

/// The ODE system of one experiment: model, spectrum and kernel evaluator.
pub struct Theory {
    model: Model,
    spectrum: Spectrum,
    kernels: KernelEvaluator,
    /// Column counts `m_G` of the factors.
    widths: Vec<usize>,
}

/// What a theory run returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoryRun {
    /// The trajectory at the output times.
    pub trajectory: Trajectory,
    /// Integrator counters.
    pub stats: IntegratorStats,
}

impl Theory {
    /// Set up the ODE for a validated model on a spectrum.
    pub fn new(model: Model, spectrum: Spectrum, quadrature_nodes: usize) -> Result<Self> {
        let kernels = KernelEvaluator::new(model.activation, quadrature_nodes)?;
        let k2 = 2 * model.hidden;
        let widths = spectrum
            .groups()
            .iter()
            .map(|g| g.multiplicity.min(k2))
            .collect();
        Ok(Theory {
            model,
            spectrum,
            kernels,
            widths,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The spectrum.
    pub fn spectrum(&self) -> &Spectrum {
        &self.spectrum
    }

    /// Flatten an initial state into the ODE's state vector (checks shapes).
    pub fn pack(&self, init: &InitialState) -> Result<DVector<f64>> {
        let k = self.model.hidden;
        if init.factors.len() != self.widths.len() {
            return Err(Error::InvalidState(format!(
                "{} initial factors for {} groups",
                init.factors.len(),
                self.widths.len()
            )));
        }
        let mut y = Vec::with_capacity(self.state_len());
        for (g, (z, &m)) in init.factors.iter().zip(&self.widths).enumerate() {
            if z.nrows() != 2 * k || z.ncols() > m {
                return Err(Error::InvalidState(format!(
                    "factor of group {g} is {}×{}, expected {}×(≤{m})",
                    z.nrows(),
                    z.ncols(),
                    2 * k
                )));
            }
            y.extend(z.iter());
            y.extend(std::iter::repeat_n(0.0, 2 * k * (m - z.ncols())));
        }
        match (&init.beta, self.model.bias_lr) {
            (Some(b), Some(_)) if b.len() == k => y.extend(b.iter()),
            (None, Some(_)) => y.extend(std::iter::repeat_n(0.0, k)),
            (Some(b), Some(_)) => {
                return Err(Error::InvalidState(format!(
                    "{} initial biases for K = {k}",
                    b.len()
                )))
            }
            (Some(_), None) => {
                return Err(Error::InvalidState(
                    "initial biases given but no bias is trained (training.bias_lr)".into(),
                ))
            }
            (None, None) => {}
        }
        Ok(DVector::from_vec(y))
    }

    fn state_len(&self) -> usize {
        let k = self.model.hidden;
        self.widths.iter().map(|m| 2 * k * m).sum::<usize>()
            + if self.model.bias_lr.is_some() { k } else { 0 }
    }

    fn factor<'a>(
        &self,
        y: &'a DVector<f64>,
        offset: usize,
        m: usize,
    ) -> nalgebra::DMatrixView<'a, f64> {
        let k2 = 2 * self.model.hidden;
        nalgebra::DMatrixView::from_slice(&y.as_slice()[offset..offset + k2 * m], k2, m)
    }

    fn beta<'a>(&self, y: &'a DVector<f64>) -> Option<DVectorView<'a, f64>> {
        let k = self.model.hidden;
        self.model.bias_lr.map(|_| y.rows(y.len() - k, k))
    }

    /// Group densities `S_G = Z_G Z_Gᵀ` of a state vector.
    pub fn densities(&self, y: &DVector<f64>) -> Vec<GroupDensity> {
        let k2 = 2 * self.model.hidden;
        let mut off = 0;
        self.widths
            .iter()
            .map(|&m| {
                let z = self.factor(y, off, m);
                off += k2 * m;
                GroupDensity::from_moment(&(z * z.transpose()))
            })
            .collect()
    }

    /// The right-hand side `dy/dt` (docs/autoencoder.md §6, steps 1–5). Allocation-free apart from the
    /// kernels; only the entries the RHS needs are aggregated (Q, diag R, T0).
    pub fn rhs(&self, y: &DVector<f64>, dy: &mut DVector<f64>) -> Result<()> {
        let k = self.model.hidden;
        let k2 = 2 * k;
        let eta = self.model.lr;
        let wd = self.model.weight_decay;
        let ys = y.as_slice();
        // 1. Q, diag R, T0 from the factors (column-major 2K × m_G blocks).
        let mut q = DMatrix::zeros(k, k);
        let mut r_diag = DVector::zeros(k);
        let mut t0 = DMatrix::zeros(k, k);
        let mut off = 0;
        for (g, &m) in self.widths.iter().enumerate() {
            let rt = self.spectrum.rho_tilde(g);
            for col in ys[off..off + k2 * m].chunks_exact(k2) {
                let (zw, zv) = col.split_at(k);
                for a in 0..k {
                    r_diag[a] += rt * zv[a] * zw[a];
                    for b in 0..=a {
                        q[(a, b)] += rt * zw[a] * zw[b];
                        t0[(a, b)] += zv[a] * zv[b];
                    }
                }
            }
            off += k2 * m;
        }
        for a in 0..k {
            for b in 0..a {
                q[(b, a)] = q[(a, b)];
                t0[(b, a)] = t0[(a, b)];
            }
        }
        let beta = self.beta(y).map(|b| b.into_owned());
        // 2. Kernels.
        let ker = self
            .kernels
            .kernels(&q, &r_diag, beta.as_ref(), self.model.bias_lr.is_some())?;
        // 3. G = diag(M − c) − T0∘B, c_k = Σ_a T0^{ka} A_{ka}; truncated SGD masks T0 and I2
        //    with 1[a ≤ k] (docs/autoencoder.md §5.1), applied in place.
        let mut i2 = ker.i2;
        let mut t0m = t0.clone();
        if self.model.rule == Rule::Truncated {
            for a in 0..k {
                for b in a + 1..k {
                    t0m[(a, b)] = 0.0;
                    i2[(a, b)] = 0.0;
                }
            }
        }
        let mut gm = DMatrix::zeros(k, k);
        for a in 0..k {
            let mut c = 0.0;
            for b in 0..k {
                gm[(a, b)] = -t0m[(a, b)] * ker.b[(a, b)];
                c += t0m[(a, b)] * ker.a[(a, b)];
            }
            gm[(a, a)] += ker.m[a] - c;
        }
        // 4. dZ_G = η [[ρ̃ G, ρ̃ E],[ρ̃ E, −I2]] Z_G − wd Z_G, column by column; tied weights
        //    and Sanger's rule as in the module docs.
        let sanger = self.model.rule == Rule::Sanger;
        let sqrt_d = (self.spectrum.dim() as f64).sqrt();
        let dys = dy.as_mut_slice();
        let mut off = 0;
        for (g, &m) in self.widths.iter().enumerate() {
            let rt = self.spectrum.rho_tilde(g);
            let cols = ys[off..off + k2 * m].chunks_exact(k2);
            let dcols = dys[off..off + k2 * m].chunks_exact_mut(k2);
            for (col, dcol) in cols.zip(dcols) {
                let (zw, zv) = col.split_at(k);
                let (dw, dv) = dcol.split_at_mut(k);
                for a in 0..k {
                    if sanger {
                        let tril_q: f64 = (0..=a).map(|b| q[(a, b)] * zw[b]).sum();
                        let d_omega = eta * (rt * zw[a] / sqrt_d - tril_q / (sqrt_d * sqrt_d));
                        dw[a] = d_omega - wd * zw[a];
                        dv[a] = d_omega / sqrt_d - wd * zv[a];
                        continue;
                    }
                    let mut gz = 0.0;
                    let mut iz = 0.0;
                    for b in 0..k {
                        gz += gm[(a, b)] * zw[b];
                        iz += i2[(a, b)] * zv[b];
                    }
                    let e = ker.e1[a];
                    let encoder = eta * rt * (gz + e * zv[a]);
                    let decoder = eta * (rt * e * zw[a] - iz);
                    if self.model.tied {
                        dw[a] = encoder + decoder - wd * zw[a];
                        dv[a] = dw[a];
                    } else {
                        dw[a] = encoder - wd * zw[a];
                        dv[a] = decoder - wd * zv[a];
                    }
                }
            }
            off += k2 * m;
        }
        // 5. Biases: dβ_k = η_b [Mb_k − Σ_a T0^{ka} P_{ka}] (docs/autoencoder.md §3.5).
        if let Some(eta_b) = self.model.bias_lr {
            let (p, mb) = ker
                .p
                .as_ref()
                .zip(ker.mb.as_ref())
                .ok_or_else(|| Error::InvalidState("bias kernels missing".into()))?;
            for a in 0..k {
                let s: f64 = (0..k).map(|b| t0[(a, b)] * p[(a, b)]).sum();
                dys[off + a] = eta_b * (mb[a] - s);
            }
        }
        Ok(())
    }

    /// A snapshot of the state `y` at time `t`: order parameters, group densities, and the
    /// test error (docs/autoencoder.md §3.6).
    pub fn snapshot(&self, time: f64, y: &DVector<f64>) -> Result<Snapshot> {
        let groups = self.densities(y);
        let op = OrderParams::from_groups(
            &self.spectrum,
            &groups,
            self.beta(y).map(|b| b.into_owned()),
        );
        let ker = self.kernels.kernels(
            &op.q,
            &op.r.diagonal(),
            op.beta.as_ref(),
            self.model.bias_lr.is_some(),
        )?;
        let eps = test_error(&ker, &op.r, &op.t0, self.spectrum.trace_over_dim());
        Ok(Snapshot {
            time,
            test_error: eps,
            test_error_empirical: None,
            order_params: op,
            groups,
        })
    }

    /// Integrate from `init` through the output `times` (the first is the initial time).
    pub fn run(&self, init: &InitialState, times: &[f64], tol: Tolerances) -> Result<TheoryRun> {
        self.run_reporting(init, times, tol, &|_| {})
    }

    /// [`Self::run`], calling `progress(1)` at each output time (a progress bar).
    pub fn run_reporting(
        &self,
        init: &InitialState,
        times: &[f64],
        tol: Tolerances,
        progress: crate::base::Progress,
    ) -> Result<TheoryRun> {
        Ok(self.run_with(init, times, tol, progress, |_| ())?.0)
    }

    /// [`Self::run_reporting`], also returning `each(snapshot)` of every snapshot (e.g. the
    /// rows of a table made of it).
    ///
    /// The snapshots, and `each` of them, are computed on the thread pool while the
    /// integration goes on (the integration itself is sequential). As when they were
    /// computed in line, the first failing snapshot is the error (a `Diverged` at its
    /// time), before any later failure of the integration.
    pub fn run_with<R: Send>(
        &self,
        init: &InitialState,
        times: &[f64],
        tol: Tolerances,
        progress: crate::base::Progress,
        each: impl Fn(&Snapshot) -> R + Sync,
    ) -> Result<(TheoryRun, Vec<R>)> {
        let y0 = self.pack(init)?;
        let rhs = |y: &DVector<f64>, dy: &mut DVector<f64>| self.rhs(y, dy);
        let (sender, receiver) = std::sync::mpsc::channel();
        let each = &each;
        let stats = rayon::in_place_scope(|scope| {
            let mut index = 0;
            integrator::integrate(&rhs, y0, times, tol, |t, y| {
                let (i, y, sender) = (index, y.clone(), sender.clone());
                scope.spawn(move |_| {
                    let done = self.snapshot(t, &y).map(|s| {
                        let r = each(&s);
                        (s, r)
                    });
                    // the receiver outlives the scope: the send cannot fail
                    let _ = sender.send((i, t, done));
                });
                index += 1;
                progress(1);
                Ok(())
            })
        });
        drop(sender);
        let mut done: Vec<_> = receiver.into_iter().collect();
        done.sort_by_key(|(i, _, _)| *i);
        let mut trajectory = Trajectory::default();
        let mut results = Vec::with_capacity(done.len());
        for (_, t, result) in done {
            let (snapshot, r) = result.map_err(|e| match e {
                Error::InvalidState(detail) => Error::Diverged {
                    what: "theory".into(),
                    time: t,
                    detail,
                },
                e => e,
            })?;
            trajectory.snapshots.push(snapshot);
            results.push(r);
        }
        let run = TheoryRun {
            trajectory,
            stats: stats?,
        };
        Ok((run, results))
    }
}
