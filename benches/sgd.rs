//! SGD step throughput (one thread): one training step = drawing the input from the spiked
//! covariance plus the network update. Reported as time per step.
//!
//! Cases: D = 10⁴, K = 10, 10 spikes (the large case of the issue), and D = 500, K = 2 with
//! the default two spikes; each with random spike directions (the sampler streams the dense
//! M×D direction matrix every step) and with canonical directions (the eigenbasis of Ω: equal
//! in law for the rotation-invariant Gaussian initialisation; the sampler adds sparse
//! directions entry by entry, so no direction pass).
//!
//! Per step, the network makes two passes over its K×D weights (`sgd::network` module docs)
//! and the sampler one sweep over x; the kernels run with AVX-512 or AVX2 + FMA when the CPU
//! has them (the same arithmetic either way: `sgd::linalg`).

use aedyn::autoencoder::params::Params;
use aedyn::autoencoder::sgd::{InputStream, Simulator};
use aedyn::rng::{rng_for, stream};
use criterion::{criterion_group, criterion_main, Criterion};

fn step(c: &mut Criterion) {
    use aedyn::spectrum::SpikeDirections::{Canonical, Random};
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    let cases = [
        ("D=10000,K=10,M=10,random", 10_000, 10, ten.clone(), Random),
        ("D=10000,K=10,M=10,canonical", 10_000, 10, ten, Canonical),
        ("D=500,K=2,M=2,random", 500, 2, vec![25.0, 9.0], Random),
        (
            "D=500,K=2,M=2,canonical",
            500,
            2,
            vec![25.0, 9.0],
            Canonical,
        ),
    ];
    let mut group = c.benchmark_group("sgd_step");
    for (name, dim, hidden, spikes, directions) in cases {
        let mut cfg = Params::default();
        cfg.data.directions = directions;
        cfg.data.dim = dim;
        cfg.data.spikes = spikes;
        cfg.network.hidden = hidden;
        let exp = cfg.check().expect("valid config");
        let sim = Simulator::new(&exp).expect("simulator");
        let mut net = sim.initial_network(0).expect("network");
        let mut inputs = InputStream::new(sim.source(), rng_for(0, stream::TRAIN));
        group.bench_function(name, |b| {
            b.iter(|| net.train_step(&mut inputs));
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
