//! Theory benchmarks (issue: theory engine). Run with `cargo bench --bench theory`.
//! Cases: K=2, two spikes and bulk, t ∈ [0, 10], 100 outputs (target ≤ 1 ms); K=10, ten
//! spikes and bulk to t = 10⁴ (target ≤ 1 s); D = 500 with all eigenvalues distinct (no
//! grouping) to t = 10; and one right-hand-side evaluation at K = 3 for erf (closed-form
//! kernels) and tanh, sigmoid, softplus (quadrature kernels). The reference implementation
//! needs ≈ 45 s for K=2, D=500 to t=10.

use aedyn::autoencoder::params::Params;
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;

fn case(text: &str) -> impl Fn() -> f64 {
    let exp = Params::from_toml(text, Path::new("bench.toml"))
        .unwrap()
        .check()
        .unwrap();
    let theory = exp.ode().unwrap();
    let init = exp.initial_state(0).unwrap();
    move || {
        let run = theory.run(&init, &exp.times, exp.tolerances).unwrap();
        run.trajectory.snapshots.last().unwrap().test_error
    }
}

fn distinct_eigenvalues_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join("aedyn_bench_distinct_rho.csv");
    // D = 500: two spikes θ = 25/35, 9/35 and a Marchenko–Pastur-like spread bulk around 1/35.
    let d = 500;
    let mut s = String::new();
    for i in 0..d {
        let v = match i {
            0 => 25.0 / 35.0 * d as f64,
            1 => 9.0 / 35.0 * d as f64,
            _ => (1.0 + 0.5 * ((i as f64) * 0.731).sin()) / 35.0 * (1.0 + i as f64 * 1e-6),
        };
        s.push_str(&format!("{v:e}\n"));
    }
    std::fs::write(&path, s).unwrap();
    path
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("theory");
    g.sample_size(20);
    let k2 = case("[output]\nt_max = 10.0\npoints = 100\nspacing = \"linear\"\n");
    g.bench_function("K2_two_spikes_t10_100_outputs", |b| b.iter(&k2));
    let k10 = case("[data]\nspikes = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]\n[network]\nhidden = 10\n[output]\nt_max = 10000.0\npoints = 100\n");
    g.bench_function("K10_ten_spikes_t1e4", |b| b.iter(&k10));
    let path = distinct_eigenvalues_file();
    let d500 = case(&format!(
        "[data]\nkind = \"eigen\"\ndim = 500\nnormalize = false\neigenvalues = \"{}\"\n[output]\nt_max = 10.0\npoints = 100\nspacing = \"linear\"\n",
        path.display()
    ));
    g.bench_function("D500_all_distinct_t10", |b| b.iter(&d500));
    g.finish();

    // One right-hand-side evaluation, K = 3 (the default data), at the initial state:
    // closed-form kernels (erf) against Gauss–Hermite ones (tanh: 128 nodes, sigmoid and
    // softplus: 48; docs/autoencoder.md §3.4).
    let mut g = c.benchmark_group("rhs");
    for act in ["erf", "tanh", "sigmoid", "softplus"] {
        let exp = Params::from_toml(
            &format!("[network]\nhidden = 3\nactivation = \"{act}\"\n"),
            Path::new("bench.toml"),
        )
        .unwrap()
        .check()
        .unwrap();
        let theory = exp.ode().unwrap();
        let y = theory.pack(&exp.initial_state(0).unwrap()).unwrap();
        let mut dy = y.clone();
        g.bench_function(format!("K3_{act}"), |b| {
            b.iter(|| theory.rhs(&y, &mut dy).unwrap())
        });
    }
    g.finish();
}

criterion_group!(theory_benches, benches);
criterion_main!(theory_benches);
