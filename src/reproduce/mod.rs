//! `aedyn reproduce`: the paper-style figure set on built-in experiments, every model's
//! figures declared once in [`FIGURES`] (name, model, panel grid, maker), each written as
//! PNG + SVG + CSV of the plotted data.

pub mod autoencoder;
pub mod mean_field;
pub mod variants;

use std::any::Any;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::plot::{write_figure, Figure};
use crate::provenance::Provenance;

pub use variants::{
    final_overlaps, off_diagonal_ratio, run_variant, variant_config, DIGITS_BINS, VARIANT_CONFIGS,
};

/// What a figure maker gets: the progress callback and a cache of computations that several
/// figures share (e.g. one comparison behind three autoencoder figures).
pub struct Ctx<'a> {
    /// Called with finished work units.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Build small, fast versions (tests) where a figure has one.
    pub quick: bool,
    cache: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

impl<'a> Ctx<'a> {
    /// A context with an empty cache.
    pub fn new(progress: &'a (dyn Fn(u64) + Sync)) -> Self {
        Ctx {
            progress,
            quick: false,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The value cached under `key`, computed by `make` the first time.
    pub fn shared<T: Any + Send + Sync>(
        &self,
        key: &'static str,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(v) = self.cache.lock().expect("cache").get(key) {
            return Ok(v.clone().downcast::<T>().expect("one type per key"));
        }
        let v = Arc::new(make()?);
        self.cache
            .lock()
            .expect("cache")
            .insert(key, v.clone() as Arc<dyn Any + Send + Sync>);
        Ok(v)
    }
}

/// One figure of `aedyn reproduce`.
pub struct FigureSpec {
    /// File stem in the output folder and `--only` name.
    pub name: &'static str,
    /// The model it shows.
    pub model: &'static str,
    /// One line for `--help` and the docs.
    pub about: &'static str,
    /// Panel grid (rows, columns) of the figure.
    pub panels: (usize, usize),
    /// Builds the figure.
    pub make: Maker,
}

/// How a figure is built.
#[derive(Clone, Copy)]
pub enum Maker {
    /// From the context (progress, shared computations).
    Shared(fn(&Ctx) -> Result<Figure>),
    /// A model's own figure function; the flag asks for its small version ([`Ctx::quick`]).
    Sized(fn(bool) -> Result<Figure>),
}

impl FigureSpec {
    /// Build the figure.
    pub fn build(&self, ctx: &Ctx) -> Result<Figure> {
        match self.make {
            Maker::Shared(f) => f(ctx),
            Maker::Sized(f) => f(ctx.quick),
        }
    }
}

/// Every figure, in the order `reproduce` writes them.
pub static FIGURES: &[FigureSpec] = &[
    FigureSpec {
        name: "sequential",
        model: "autoencoder",
        about: "test error learning one PC after another on the PCA plateaus (erf, K = 3)",
        panels: (1, 1),
        make: Maker::Shared(autoencoder::sequential_figure),
    },
    FigureSpec {
        name: "sequential_overlaps",
        model: "autoencoder",
        about: "the same with encoder and decoder overlaps with each PC",
        panels: (1, 3),
        make: Maker::Shared(autoencoder::sequential_overlaps),
    },
    FigureSpec {
        name: "order_params",
        model: "autoencoder",
        about: "Q, R, T0 over time, theory vs SGD",
        panels: (1, 3),
        make: Maker::Shared(autoencoder::order_params),
    },
    FigureSpec {
        name: "activations",
        model: "autoencoder",
        about: "linear vs erf vs ReLU",
        panels: (1, 1),
        make: Maker::Shared(autoencoder::activations),
    },
    FigureSpec {
        name: "validate",
        model: "autoencoder",
        about: "agreement of theory and SGD against D, fitted exponent",
        panels: (1, 1),
        make: Maker::Shared(autoencoder::validate),
    },
    FigureSpec {
        name: "truncated",
        model: "autoencoder",
        about: "truncated SGD learns the PCs themselves; vanilla SGD and Sanger's rule",
        panels: (2, 2),
        make: Maker::Shared(variants::truncated),
    },
    FigureSpec {
        name: "tied",
        model: "autoencoder",
        about: "tied vs untied weights",
        panels: (1, 1),
        make: Maker::Shared(variants::tied),
    },
    FigureSpec {
        name: "relu_bias",
        model: "autoencoder",
        about: "ReLU with a trained bias escapes the first plateau",
        panels: (1, 2),
        make: Maker::Shared(variants::relu_bias),
    },
    FigureSpec {
        name: "digits",
        model: "autoencoder",
        about: "real data (scikit-learn digits) and the effect of spectrum binning",
        panels: (1, 2),
        make: Maker::Shared(variants::digits),
    },
    FigureSpec {
        name: "phase_diagram",
        model: "autoencoder",
        about: "theory: time to learn PC 2 and plateau length over θ₂/θ₁ and σ0",
        panels: (1, 2),
        make: Maker::Shared(autoencoder::phase_diagram),
    },
    FigureSpec {
        name: "sweep_lr",
        model: "autoencoder",
        about: "η·t_learn against η, theory vs SGD; SGD divergence against η",
        panels: (1, 2),
        make: Maker::Shared(autoencoder::sweep_lr),
    },
    FigureSpec {
        name: "mf_gains",
        model: "mean-field",
        about: "block gains, logistic theory vs SGD at N = 100, 400, 2000",
        panels: (1, 3),
        make: Maker::Shared(mean_field::gains),
    },
    FigureSpec {
        name: "mf_phases",
        model: "mean-field",
        about: "MSE against t/ln d: the phases sharpen as d grows",
        panels: (1, 1),
        make: Maker::Shared(mean_field::phases),
    },
    FigureSpec {
        name: "mf_shrinkage",
        model: "mean-field",
        about: "final gain against κ: (1 − λ/κ)₊, g(T), SGD",
        panels: (1, 1),
        make: Maker::Shared(mean_field::shrinkage),
    },
    FigureSpec {
        name: "mf_width",
        model: "mean-field",
        about: "gap to the mean-field limit against N (slope −1)",
        panels: (1, 1),
        make: Maker::Shared(mean_field::width),
    },
    FigureSpec {
        name: "mf_step",
        model: "mean-field",
        about: "SGD-noise error against the step ε·tr Σ",
        panels: (1, 1),
        make: Maker::Shared(mean_field::step),
    },
    FigureSpec {
        name: "mf_digits",
        model: "mean-field",
        about: "real data: gains of the top PCs and MSE, SGD vs ReLU theory",
        panels: (1, 2),
        make: Maker::Shared(mean_field::digits),
    },
    FigureSpec {
        name: "gen_distance",
        model: "generative",
        about: "distance to the truth vs step per generative model; δρˢ + floor envelope",
        panels: (2, 2),
        make: Maker::Sized(crate::generative::figures::distance_figure),
    },
    FigureSpec {
        name: "gen_floor",
        model: "generative",
        about: "floor vs n against f√((m−1)/n); mixture floor vs σ_η and N",
        panels: (1, 3),
        make: Maker::Sized(crate::generative::figures::floor_figure),
    },
    FigureSpec {
        name: "gen_basin",
        model: "generative",
        about: "basin of attraction: success vs δ, random initialisation apart",
        panels: (1, 1),
        make: Maker::Sized(crate::generative::figures::basin_figure),
    },
    FigureSpec {
        name: "gen_support",
        model: "generative",
        about: "support F1 and exact-support rate vs step",
        panels: (1, 2),
        make: Maker::Sized(crate::generative::figures::support_figure),
    },
    FigureSpec {
        name: "gen_rate",
        model: "generative",
        about: "measured vs predicted contraction rate over a sweep of η",
        panels: (1, 1),
        make: Maker::Sized(crate::generative::figures::rate_figure),
    },
    FigureSpec {
        name: "ntk_loss",
        model: "ntk",
        about:
            "training loss vs step for m = 10², 10³, 10⁴, weak and joint, L_pred and the λ_min rate",
        panels: (1, 2),
        make: Maker::Sized(crate::ntk::figures::loss_vs_step),
    },
    FigureSpec {
        name: "ntk_gram",
        model: "ntk",
        about: "Gram error and λ_min ratio vs m; λ_min(H(t)) along training",
        panels: (1, 3),
        make: Maker::Sized(crate::ntk::figures::gram_convergence),
    },
    FigureSpec {
        name: "ntk_movement",
        model: "ntk",
        about: "relative weight movement vs m: weak, joint (slope −½), tied (growing)",
        panels: (1, 1),
        make: Maker::Sized(crate::ntk::figures::weight_movement),
    },
    FigureSpec {
        name: "ntk_success",
        model: "ntk",
        about: "success fraction and median L_T/L_0 vs m at a common η, weak vs joint",
        panels: (1, 2),
        make: Maker::Sized(crate::ntk::figures::success),
    },
    FigureSpec {
        name: "ntk_tied",
        model: "ntk",
        about: "tied: deviation of u₀ from (√m/2)x vs m; the trained map off the training set",
        panels: (1, 2),
        make: Maker::Sized(crate::ntk::figures::tied),
    },
    FigureSpec {
        name: "ntk_memorisation",
        model: "ntk",
        about: "distance of the trained joint network to the kernel predictor vs m",
        panels: (1, 1),
        make: Maker::Sized(crate::ntk::figures::memorisation),
    },
];

/// The figure named `name`; an error listing the names otherwise.
pub fn figure(name: &str) -> Result<&'static FigureSpec> {
    FIGURES.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
        Error::config(
            "--only",
            format!("unknown figure `{name}`; one of {}", names.join(", ")),
        )
    })
}

/// Write the figures (all, or those named in `only`) into `out`; returns their names.
/// `quick` builds the small versions where a figure has one (tests). `progress(1)` is called
/// after each figure (and `progress(0)` while one is made).
pub fn reproduce(
    out: &Path,
    only: &[String],
    quick: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<String>> {
    let specs: Vec<&FigureSpec> = if only.is_empty() {
        FIGURES.iter().collect()
    } else {
        only.iter().map(|n| figure(n)).collect::<Result<_>>()?
    };
    // The figures count in whole figures; their inner work reaches `progress` as 0 units, so
    // a caller (the Python bindings' Ctrl-C) can stop it between two of its steps.
    let tick = |_: u64| progress(0);
    let mut ctx = Ctx::new(&tick);
    ctx.quick = quick;
    let mut written = Vec::new();
    for spec in specs {
        let fig = spec.build(&ctx)?;
        // The figure's experiments are built in: version, revision and this command fix
        // its configs and seeds.
        let provenance = Provenance {
            command: format!(
                "aedyn reproduce --only {}{}",
                spec.name,
                if quick { " --quick" } else { "" }
            ),
            model: spec.model.to_string(),
            ..Provenance::default()
        };
        write_figure(&fig, &out.join(spec.name), &provenance)?;
        written.push(spec.name.to_string());
        progress(1);
    }
    Ok(written)
}

/// Mean and standard error of the finite values, or `None` if there are none.
pub fn mean_se(values: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let (m, se) = crate::base::compare::mean_se(&v);
    Some((m, if v.len() > 1 { se } else { 0.0 }))
}

/// The values of `metric` from `source` at each point of a sweep, one list (over seeds)
/// per point; missing values are NaN.
pub fn per_point(
    results: &[(crate::sweep::Task, crate::sweep::TaskRecord)],
    points: usize,
    source: &str,
    metric: &str,
) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); points];
    for (t, r) in results {
        for s in r.results.iter().filter(|s| s.source == source) {
            out[t.point].push(s.get(metric).unwrap_or(f64::NAN));
        }
    }
    out
}

/// The numeric values of a sweep axis.
pub fn axis_floats(a: &crate::sweep::Axis) -> Vec<f64> {
    a.values
        .iter()
        .map(|v| {
            v.as_float()
                .or(v.as_integer().map(|i| i as f64))
                .unwrap_or(f64::NAN)
        })
        .collect()
}
