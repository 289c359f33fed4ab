//! The one seed runner: replicates run in parallel (rayon), each from its own seed, so the
//! results never depend on the thread count or the order in which tasks finish; a failed
//! replicate does not stop the others.

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

/// Run `f` for every seed in parallel; one result per seed, in the given order.
pub fn run_seeds<R: Send>(
    seeds: &[u64],
    f: impl Fn(u64) -> Result<R> + Sync,
) -> Vec<(u64, Result<R>)> {
    seeds.par_iter().map(|&s| (s, f(s))).collect()
}

/// Outcome of one replicate as recorded in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedStatus {
    /// The seed.
    pub seed: u64,
    /// `"ok"` or `"failed"`.
    pub status: &'static str,
    /// The error message (failed seeds).
    pub error: Option<String>,
}

/// Split per-seed results into the finished runs, the failures and one [`SeedStatus`] per
/// seed.
pub fn split<R>(results: Vec<(u64, Result<R>)>) -> (Vec<R>, Vec<(u64, Error)>, Vec<SeedStatus>) {
    let (mut runs, mut failures, mut status) = (Vec::new(), Vec::new(), Vec::new());
    for (seed, r) in results {
        match r {
            Ok(run) => {
                status.push(SeedStatus {
                    seed,
                    status: "ok",
                    error: None,
                });
                runs.push(run);
            }
            Err(e) => {
                status.push(SeedStatus {
                    seed,
                    status: "failed",
                    error: Some(e.to_string()),
                });
                failures.push((seed, e));
            }
        }
    }
    (runs, failures, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_seed_order_and_failures_are_split_out() {
        let seeds: Vec<u64> = (10..20).collect();
        let results = run_seeds(&seeds, |s| {
            if s % 3 == 0 {
                Err(Error::InvalidState(format!("seed {s} failed")))
            } else {
                Ok(s * 2)
            }
        });
        assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), seeds);
        let (runs, failures, status) = split(results);
        assert_eq!(runs, vec![20, 22, 26, 28, 32, 34, 38]);
        assert_eq!(
            failures.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec![12, 15, 18]
        );
        assert_eq!(status.len(), 10);
        assert_eq!(status[2].status, "failed");
    }
}
