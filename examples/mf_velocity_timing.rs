//! Process-CPU time of one mean-field velocity evaluation (P = 2000, d = 50, erf), the current
//! implementation against the pre-#15 one (row tiles, both orientations, nalgebra GEMMs),
//! copied here on the public API. `cargo run --release --example mf_velocity_timing [reps]`;
//! `ONLY_NEW=1` skips the old one, `ACT=linear` (or `erf`, `relu`) times one activation.
use aedyn::activation::Activation;
use aedyn::mean_field::{MeanFieldModel, MfKernels, VelocityCase};
use nalgebra::DMatrix;

fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn old_velocity(
    m: &MeanFieldModel,
    k: &MfKernels,
    kappa: &[f64],
    theta: &DMatrix<f64>,
) -> DMatrix<f64> {
    const TILE: usize = 64;
    let (p, d) = theta.shape();
    let g2 = m.gamma * m.gamma;
    let mut s = theta.clone();
    for (j, mut col) in s.column_iter_mut().enumerate() {
        col *= kappa[j];
    }
    let a: Vec<f64> = (0..p).map(|i| g2 * theta.row(i).dot(&s.row(i))).collect();
    let (k1, k2): (Vec<f64>, Vec<f64>) = a.iter().map(|&ap| k.single(ap)).unzip();
    let theta_t = theta.transpose();
    let mut v = DMatrix::zeros(p, d);
    for t in 0..p.div_ceil(TILE) {
        let r0 = t * TILE;
        let len = TILE.min(p - r0);
        let mut g = theta.rows(r0, len) * &theta_t;
        let mut bm = s.rows(r0, len) * &theta_t * g2;
        let mut rds = vec![0.0; len];
        for q in 0..p {
            for i in 0..len {
                let kk = k.pair(a[r0 + i], a[q], bm[(i, q)]);
                let gq = g2 * g[(i, q)];
                bm[(i, q)] = kk.ss;
                g[(i, q)] = gq * kk.dd;
                rds[i] += gq * kk.ds;
            }
        }
        let mut pair = bm * theta;
        pair.gemm(1.0, &g, &s, 1.0);
        let c = m.alpha * m.alpha / p as f64;
        for i in 0..len {
            for j in 0..d {
                let r = r0 + i;
                v[(r, j)] = m.alpha * m.gamma * (k1[r] + k2[r]) * s[(r, j)]
                    - c * (pair[(i, j)] + rds[i] * s[(r, j)])
                    - m.lambda * theta[(r, j)];
            }
        }
    }
    v
}

fn main() {
    let reps: usize = std::env::args().nth(1).map_or(5, |s| s.parse().unwrap());
    // `ACT=linear` (or `erf`, `relu`) times one activation; linear is GEMM-bound.
    let only = std::env::var("ACT").ok();
    for act in [Activation::Erf, Activation::Relu, Activation::Linear] {
        if only
            .as_deref()
            .map_or(act == Activation::Linear, |a| a != act.to_string())
        {
            continue;
        }
        let case = VelocityCase::new(act).unwrap();
        let (model, k, data, theta) = (&case.model, &case.kernels, &case.data, &case.theta);
        let pop = case.population();
        let time = |f: &dyn Fn() -> DMatrix<f64>| {
            f();
            let mut t: Vec<f64> = (0..reps)
                .map(|_| {
                    let s = cpu();
                    std::hint::black_box(f());
                    cpu() - s
                })
                .collect();
            t.sort_by(f64::total_cmp);
            (t[reps / 2], t[0])
        };
        let (new, new_min) = time(&|| pop.velocity(theta));
        if std::env::var("ONLY_NEW").is_ok() {
            println!(
                "{act}: new {:.1} ms (min {:.2} ms)",
                new * 1e3,
                new_min * 1e3
            );
            continue;
        }
        let old = time(&|| old_velocity(model, k, data.kappa(), theta)).0;
        let (vn, vo) = (
            pop.velocity(theta),
            old_velocity(model, k, data.kappa(), theta),
        );
        // GEMM work per pair (once): 3(d + d1) multiply–adds, d1 = 20 eigenvalues off the bulk
        // (`pairs::pair_sums`): 3·P²·(d + d1) flops = 0.84 GFLOP; the old code 4·2·P²·d.
        let (p, d, d1) = (2000.0, 50.0, 20.0);
        let (flop_new, flop_old) = (3.0 * p * p * (d + d1) * 1e-9, 8.0 * p * p * d * 1e-9);
        println!(
            "{act}: new {:.1} ms ({:.1} GFLOP/s on {flop_new:.2} GFLOP), old {:.1} ms ({:.1} GFLOP/s on {flop_old:.1} GFLOP), old/new {:.2}, max|dV|/max|V| {:.1e}",
            new * 1e3, flop_new / new, old * 1e3, flop_old / old, old / new, (&vn - &vo).amax() / vo.amax()
        );
    }
}
