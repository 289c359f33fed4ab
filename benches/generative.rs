//! The generative model's hot loops (one thread): one exact expected-gradient evaluation at
//! n = 64, m = 32, k = 3 (every one of the 39 680 signed codes, the theory's step), and one
//! minibatch SGD step at n = 256, m = 64, B = 256 (sparse codes k = 3). The same steps in numpy:
//! `python3 benches/baselines/generative_numpy.py` (run it beside this bench for the ratio).

use aedyn::generative::data::{gaussian_dictionary, CodeLaw, Samples, Sign};
use aedyn::generative::model::{evaluate, Activation, GradPath, Model, Source};
use aedyn::rng::rng_for;
use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};

fn signed(m: usize, k: usize) -> CodeLaw {
    CodeLaw::discrete(m, k, Sign::Rademacher, vec![1.0])
}

/// Aᵀ plus iid N(0, eps²) entries.
fn near_truth(a: &DMatrix<f64>, eps: f64) -> DMatrix<f64> {
    let mut rng = rng_for(0, 77);
    a.transpose().map(|v| {
        let z: f64 = StandardNormal.sample(&mut rng);
        v + eps * z
    })
}

fn gradients(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let model = Model {
        act: Activation::Threshold { tau: 0.5 },
        path: GradPath::Full,
    };
    let mut group = c.benchmark_group("generative");
    let (n, m, k) = (64, 32, 3);
    let a = gaussian_dictionary(n, m, &mut rng_for(1, 1));
    let gram = a.tr_mul(&a);
    let w = near_truth(&a, 0.1 / (n as f64).sqrt());
    let b = DVector::zeros(m);
    let codes = Samples {
        codes: signed(m, k).enumerate(),
        noise: None,
    };
    group.bench_function("exact_expected_gradient_n64_m32_k3", |bench| {
        pool.install(|| bench.iter(|| evaluate(&w, &b, &a, &gram, model, Source::Set(&codes))))
    });
    let (n, m, k, batch) = (256, 64, 3, 256);
    let a = gaussian_dictionary(n, m, &mut rng_for(1, 2));
    let gram = a.tr_mul(&a);
    let mut w = near_truth(&a, 0.1 / (n as f64).sqrt());
    let b = DVector::zeros(m);
    let set = Samples::draw(&signed(m, k), n, 0.0, batch, 5);
    let eta = m as f64 / (4.0 * k as f64);
    group.bench_function("sgd_step_n256_m64_b256", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let e = evaluate(&w, &b, &a, &gram, model, Source::Set(&set));
                // A tiny step keeps the iterate (and so the work) the same every time.
                w -= eta * 1e-9 * e.grad_w;
            })
        })
    });
    group.finish();
}

criterion_group!(benches, gradients);
criterion_main!(benches);
