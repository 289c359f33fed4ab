//! Mean-field benchmarks (issue #7). Run with `cargo bench --bench mean_field`.
//!
//! * particle-solver velocity evaluation and one RK4 step (4 evaluations) at P = 2000,
//!   d = 50 (config R's spectrum), erf and ReLU. Cost O(P²d): each pair once, ≈ 0.84 GFLOP of
//!   GEMM (the upper block triangle of G, 0.2 GFLOP, and of Bm's correction off the bulk
//!   eigenvalue, 0.08; `(Kss + κ*H)·Θ + H·E` and its transpose, 0.56) plus P²/2 kernel
//!   evaluations; row tiles in parallel. Run with
//!   `RAYON_NUM_THREADS=1` for the one-thread figure, next to
//!   `OPENBLAS_NUM_THREADS=1 python3 benches/baselines/mean_field_numpy.py` (same θ shape,
//!   spectrum and formula, plain numpy).
//! * one SGD step at N = 2000, d = 50, B = 16 (five N·d·B matrix products).

use aedyn::activation::Activation;
use aedyn::mean_field::VelocityCase;
use criterion::{criterion_group, criterion_main, Criterion};

fn particles(c: &mut Criterion) {
    let mut group = c.benchmark_group("mean_field_particles");
    group.sample_size(10);
    for act in [Activation::Erf, Activation::Relu] {
        let case = VelocityCase::new(act).unwrap();
        let (pop, theta) = (case.population(), &case.theta);
        group.bench_function(format!("velocity P=2000 d=50 {act}"), |b| {
            b.iter(|| pop.velocity(theta))
        });
        group.bench_function(format!("rk4 step P=2000 d=50 {act}"), |b| {
            b.iter(|| pop.rk4_step(theta, 0.01))
        });
    }
    group.finish();
}

fn sgd(c: &mut Criterion) {
    use aedyn::mean_field::Params;
    let toml = "[model]\nkind = \"mean-field\"\n[network]\nneurons = 2000\nactivation = \"relu\"\n\
                [data]\nkind = \"blocks\"\ndim = 50\nblocks = [[4.0, 5], [2.0, 5], [1.0, 10], [0.1, 30]]\n\
                [training]\nl2 = 0.3\nstep = 0.001\nbatch = 16\n";
    let exp = Params::from_toml(toml, std::path::Path::new("bench.toml"))
        .unwrap()
        .check()
        .unwrap();
    let sim = aedyn::mean_field::MfSimulator::new(&exp).unwrap();
    let mut theta = sim.initial_neurons(0).unwrap();
    let mut rng = aedyn::rng::rng_for(0, 2);
    let mut batch = nalgebra::DMatrix::zeros(50, 16);
    let mut col = vec![0.0; 50];
    let mut group = c.benchmark_group("mean_field_sgd");
    group.bench_function("step N=2000 d=50 B=16 relu (incl. sampling)", |b| {
        b.iter(|| {
            for j in 0..16 {
                exp.data.sample(&mut rng, &mut col);
                batch.column_mut(j).copy_from_slice(&col);
            }
            sim.sgd_step(&mut theta, &batch)
        })
    });
    group.finish();
}

criterion_group!(benches, particles, sgd);
criterion_main!(benches);
