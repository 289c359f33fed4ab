//! The NTK model's hot loops (one thread): one full-batch GD step of joint training at
//! n = 100, d = 50, m = 10⁴ (five n×d×m products), and λ_min of the finite-width NTK Gram H at
//! n = 50, d = 20, m = 10⁴ (the Gram, O(n²d²m), plus a 1000×1000 symmetric eigenproblem). The
//! same GD step in numpy: `python3 benches/baselines/ntk_numpy.py`.

use aedyn::ntk::gram::gram;
use aedyn::ntk::linalg::sym_eigenvalues;
use aedyn::ntk::net::{LossNorm, Net, Regime, VLaw};
use aedyn::rng::rng_for;
use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};

fn ntk(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("ntk");
    group.sample_size(20);
    let (n, d, m) = (100usize, 50usize, 10_000usize);
    let mut rng = rng_for(1, 2);
    let x = DMatrix::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
    let mut net = Net::random(
        Regime::Joint,
        1.0,
        m,
        d,
        VLaw::Gaussian,
        false,
        &mut rng_for(1, 1),
    )
    .expect("a network");
    group.bench_function("gd_step_n100_d50_m10000_joint", |b| {
        // A tiny step keeps the weights (and so the work) the same every time.
        pool.install(|| b.iter(|| net.step(&x, LossNorm::Sum, 1e-9)))
    });
    let (n, d) = (50usize, 20usize);
    let x = aedyn::ntk::data::sphere(n, d, &mut rng_for(2, 2));
    let net = Net::random(
        Regime::Joint,
        1.0,
        m,
        d,
        VLaw::Gaussian,
        false,
        &mut rng_for(1, 1),
    )
    .expect("a network");
    group.sample_size(10);
    group.bench_function("lambda_min_gram_n50_d20_m10000_joint", |b| {
        pool.install(|| b.iter(|| sym_eigenvalues(gram(&net, &x))[0]))
    });
    group.finish();
}

criterion_group!(benches, ntk);
criterion_main!(benches);
