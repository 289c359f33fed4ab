//! Whole commands beside their hot loops: `cargo run --release --example whole_commands --
//! [REPS] [CASE…]`. For each case it times, alternately and `REPS` times (default 3), the
//! whole command through the library (config → numerics → files in a temporary folder,
//! as `aedyn` runs it) and its hot loop alone (the in-memory theory or simulation of
//! replicate 0), and prints the medians and their ratio. On a shared machine compare the
//! ratios, not the absolute times. Cases:
//!
//! * `simulate`: D = 10⁴, K = 10 (ten spikes 1..10), t ≤ 10, 11 outputs, default
//!   measurements (`test_samples = "auto"`) — beside the same run with `test_samples = 0`;
//! * `theory`: K = 16 (16 spikes + bulk), t ≤ 1000, 121 log outputs (CSV) — beside the
//!   same integration with 2 outputs, and the `npy` output;
//! * `compare`: the default autoencoder config;
//! * `mean-field`: the mean-field model's default `theory` (the logistic ODE), and the
//!   particle solver (erf, P = 1000, t ≤ 0.5, 33 outputs with the exact risk at each).

use std::time::Instant;

use aedyn::base::Dynamics;
use aedyn::commands::{self, Options};

fn load(model: &str, set: &[(&str, &str)]) -> Box<dyn Dynamics> {
    let mut table = aedyn::registry::default_table(model).expect("a built-in model");
    for (key, value) in set {
        let (section, field) = key.split_once('.').expect("section.field");
        let v: toml::Value = toml::from_str(&format!("v = {value}"))
            .map(|t: toml::Table| t["v"].clone())
            .expect("a TOML value");
        table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .expect("a section")
            .insert(field.into(), v);
    }
    aedyn::registry::load_table(table, ".".as_ref()).expect("a valid config")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times each job `reps` times, alternating, and returns the medians.
fn alternate(reps: usize, jobs: &[(&str, &dyn Fn())]) -> Vec<f64> {
    let mut times = vec![Vec::new(); jobs.len()];
    for _ in 0..reps {
        for (t, (_, job)) in times.iter_mut().zip(jobs) {
            let start = Instant::now();
            job();
            t.push(start.elapsed().as_secs_f64());
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    for ((name, _), m) in jobs.iter().zip(&medians) {
        println!(
            "  {name:<52} {m:>9.3} s   ×{:.2} of the first",
            m / medians[0]
        );
    }
    medians
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
    let cases: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .map(String::as_str)
        .collect();
    let wanted = |c: &str| cases.is_empty() || cases.contains(&c);
    let out = tempfile::tempdir().expect("a temporary folder");
    let dir = |name: &str| out.path().join(name);
    let opts = Options {
        seeds: None,
        progress: false,
    };
    if wanted("simulate") {
        println!("simulate: D = 10⁴, K = 10, t ≤ 10, 11 outputs");
        let base = [
            ("data.dim", "10000"),
            (
                "data.spikes",
                "[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]",
            ),
            ("network.hidden", "10"),
            ("output.t_max", "10.0"),
            ("output.points", "11"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut s = base.to_vec();
            s.push(extra);
            load("autoencoder", &s)
        };
        let none = with(("simulation.test_samples", "0"));
        let auto = with(("simulation.test_samples", "\"auto\""));
        alternate(
            reps,
            &[
                ("whole, test_samples = 0", &|| {
                    commands::simulate(none.as_ref(), &dir("s0"), &opts).unwrap();
                }),
                ("whole, test_samples = \"auto\" (default)", &|| {
                    commands::simulate(auto.as_ref(), &dir("s1"), &opts).unwrap();
                }),
                ("hot loop: simulation of seed 0, test_samples = 0", &|| {
                    none.simulate(none.replicate_seed(0), &|_| {}).unwrap();
                }),
            ],
        );
    }
    if wanted("theory") {
        println!("theory: K = 16, 16 spikes + bulk, t ≤ 1000");
        let spikes = "[16.0, 15.0, 14.0, 13.0, 12.0, 11.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]";
        let base = [
            ("data.spikes", spikes),
            ("network.hidden", "16"),
            ("output.t_max", "1000.0"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut s = base.to_vec();
            s.extend(extra);
            load("autoencoder", &s)
        };
        let two = with(&[("output.points", "2")]);
        let csv = with(&[("output.points", "121")]);
        let npy = with(&[("output.points", "121"), ("output.format", "\"npy\"")]);
        alternate(
            reps,
            &[
                ("whole, 2 outputs", &|| {
                    commands::theory(two.as_ref(), &dir("t2"), &opts).unwrap();
                }),
                ("whole, 121 outputs, CSV", &|| {
                    commands::theory(csv.as_ref(), &dir("t121"), &opts).unwrap();
                }),
                ("whole, 121 outputs, npy", &|| {
                    commands::theory(npy.as_ref(), &dir("t121n"), &opts).unwrap();
                }),
                ("hot loop: theory, 121 outputs, in memory", &|| {
                    csv.theory(csv.replicate_seed(0), &|_| {}).unwrap();
                }),
                ("hot loop: theory, 2 outputs, in memory", &|| {
                    two.theory(two.replicate_seed(0), &|_| {}).unwrap();
                }),
            ],
        );
    }
    if wanted("compare") {
        println!("compare: the default autoencoder config");
        let exp = load("autoencoder", &[]);
        alternate(
            reps,
            &[
                ("whole compare", &|| {
                    commands::compare(exp.as_ref(), &dir("c"), &opts).unwrap();
                }),
                (
                    "hot loop: simulation + theory of seed 0, in memory",
                    &|| {
                        let s = exp.simulate(exp.replicate_seed(0), &|_| {}).unwrap();
                        exp.theory_for(&s, &|_| {}).unwrap();
                    },
                ),
            ],
        );
    }
    if wanted("mean-field") {
        println!("mean-field theory: the default config (logistic ODE), then erf (particles)");
        let exp = load("mean-field", &[]);
        let particles = load(
            "mean-field",
            &[("network.activation", "\"erf\""), ("output.t_max", "0.5")],
        );
        alternate(
            reps,
            &[
                ("whole theory, default", &|| {
                    commands::theory(exp.as_ref(), &dir("m"), &opts).unwrap();
                }),
                ("hot loop: theory in memory", &|| {
                    exp.theory(exp.replicate_seed(0), &|_| {}).unwrap();
                }),
                ("whole theory, erf: P = 1000 particles, t ≤ 0.5", &|| {
                    commands::theory(particles.as_ref(), &dir("mp"), &opts).unwrap();
                }),
                ("hot loop: particle theory in memory", &|| {
                    particles
                        .theory(particles.replicate_seed(0), &|_| {})
                        .unwrap();
                }),
            ],
        );
    }
}
