//! Timings (ignored tests; run with
//! `cargo test --release generative::bench -- --ignored --nocapture --test-threads=1`).

use std::time::Instant;

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};

use super::data::{gaussian_dictionary, CodeLaw, Magnitudes, Samples, Sign};
use super::model::{evaluate, evaluate_with, Activation, GradPath, Model, Source};
use crate::rng::rng_for;

fn signed(m: usize, k: usize) -> CodeLaw {
    CodeLaw {
        m,
        k,
        sign: Sign::Rademacher,
        magnitudes: Magnitudes::Discrete {
            values: vec![1.0],
            probs: vec![1.0],
        },
    }
}

fn near_truth(a: &DMatrix<f64>, eps: f64) -> DMatrix<f64> {
    let mut rng = rng_for(0, 77);
    a.transpose().map(|v| {
        let z: f64 = StandardNormal.sample(&mut rng);
        v + eps * z
    })
}

/// Median time of `reps` calls, in µs.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

#[test]
#[ignore]
fn bench_gradients() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let model = Model {
            act: Activation::Threshold { tau: 0.5 },
            path: GradPath::Full,
        };
        // Exact expected gradient, n = 64, m = 32, k = 3 (39 680 codes).
        let (n, m, k) = (64, 32, 3);
        let a = gaussian_dictionary(n, m, &mut rng_for(1, 1));
        let gram = a.tr_mul(&a);
        let w = near_truth(&a, 0.1 / (n as f64).sqrt());
        let b = DVector::zeros(m);
        let codes = Samples {
            codes: signed(m, k).enumerate(),
            noise: None,
        };
        let us = time(50, || {
            std::hint::black_box(evaluate(&w, &b, &a, &gram, model, Source::Set(&codes)));
        });
        println!(
            "exact expected gradient n=64 m=32 k=3 ({} codes): {us:.0} µs",
            codes.len()
        );

        // One SGD step, n = 256, m = 64, batch 256.
        let (n, m, k, batch) = (256, 64, 3, 256);
        let a = gaussian_dictionary(n, m, &mut rng_for(1, 2));
        let gram = a.tr_mul(&a);
        let mut w = near_truth(&a, 0.1 / (n as f64).sqrt());
        let b = DVector::zeros(m);
        let law = signed(m, k);
        let set = Samples::draw(&law, n, 0.0, 100_000, 5);
        let idx: Vec<usize> = (0..batch).collect();
        let mb = set.gather(&idx);
        let eta = m as f64 / (4.0 * k as f64);
        let us = time(200, || {
            let e = evaluate(&w, &b, &a, &gram, model, Source::Set(&mb));
            w -= eta * 1e-9 * e.grad_w;
        });
        println!("SGD step n=256 m=64 B=256, sparse kernel: {us:.0} µs");
        let us = time(200, || {
            let e = evaluate_with(&w, &b, &a, &gram, model, Source::Set(&mb), true);
            w -= eta * 1e-9 * e.grad_w;
        });
        println!("SGD step n=256 m=64 B=256, dense kernel: {us:.0} µs");
        let us = time(200, || {
            let idx: Vec<usize> = (0..batch).map(|i| (i * 7919) % 100_000).collect();
            let mb = set.gather(&idx);
            let e = evaluate(&w, &b, &a, &gram, model, Source::Set(&mb));
            w -= eta * 1e-9 * e.grad_w;
        });
        println!("SGD step incl. minibatch gather, sparse: {us:.0} µs");
        let noisy = Samples::draw(&law, n, 0.1, batch, 6);
        let us = time(200, || {
            let e = evaluate(&w, &b, &a, &gram, model, Source::Set(&noisy));
            w -= eta * 1e-9 * e.grad_w;
        });
        println!("SGD step with noise (dense kernel): {us:.0} µs");
    });
}
