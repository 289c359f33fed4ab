//! Resource guards: a config's memory need is estimated from its sizes before anything is
//! allocated, and a config that needs more than the machine has is refused with an error
//! naming the field that drives the estimate — instead of an allocation failure that aborts
//! the process.
//!
//! The limit is the environment variable `AEDYN_MAX_MEMORY` when set (bytes, or with a
//! `K`/`M`/`G`/`T` suffix in powers of 1024; `none` switches the guard off — the CLI's
//! `--max-memory` sets it), otherwise the memory the system reports available
//! (`MemAvailable` of `/proc/meminfo`; no limit where that cannot be read).

use crate::error::{Error, Result};

/// The environment variable that overrides the memory limit.
pub const MAX_MEMORY_ENV: &str = "AEDYN_MAX_MEMORY";

/// Bytes of one `f64`.
pub const F64: f64 = 8.0;

/// A memory estimate: (dotted config key, bytes) terms, each the memory that grows with that
/// key (a product of sizes is attributed to the key it grows fastest in).
pub type Estimate = Vec<(&'static str, f64)>;

/// Parse a size such as `512M`, `24G` or `1000000` (bytes); `none` is `None`.
pub fn parse_size(text: &str) -> std::result::Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown unit `{c}` (K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512M or 24G"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{text}` must be positive"));
    }
    Ok(Some((v * mult as f64) as u64))
}

/// The memory limit in bytes (see the module docs); `None` = no limit.
pub fn memory_limit() -> Result<Option<u64>> {
    if let Ok(v) = std::env::var(MAX_MEMORY_ENV) {
        return parse_size(&v).map_err(|m| Error::config(MAX_MEMORY_ENV, m));
    }
    Ok(available_memory())
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `bytes` in human units (`3.2 GiB`).
pub fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

/// Refuse an estimate above `limit`: the error names the key of the largest term, the
/// estimate and the limit.
pub fn check_estimate(estimate: &[(&'static str, f64)], limit: Option<u64>) -> Result<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let total: f64 = estimate.iter().map(|(_, b)| b).sum();
    if total <= limit as f64 {
        return Ok(());
    }
    let (key, _) =
        estimate.iter().copied().fold(
            ("", f64::NEG_INFINITY),
            |a, t| if t.1 > a.1 { t } else { a },
        );
    Err(Error::config(
        key,
        format!(
            "this size needs about {} of memory (estimated from the config's sizes), more than \
             the limit of {} (the memory available, or {MAX_MEMORY_ENV}); choose a smaller \
             value, or raise the limit with --max-memory / {MAX_MEMORY_ENV}",
            human(total),
            human(limit as f64)
        ),
    ))
}

/// [`check_estimate`] against [`memory_limit`].
pub fn check_memory(estimate: &[(&'static str, f64)]) -> Result<()> {
    check_estimate(estimate, memory_limit()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1000"), Ok(Some(1000)));
        assert_eq!(parse_size("2K"), Ok(Some(2048)));
        assert_eq!(parse_size("1.5g"), Ok(Some(3 << 29)));
        assert_eq!(parse_size("none"), Ok(None));
        assert!(parse_size("3X").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("G").is_err());
    }

    #[test]
    fn the_largest_term_is_named() {
        let est = [("data.dim", 10.0), ("output.points", 900.0)];
        assert!(check_estimate(&est, Some(1000)).is_ok());
        assert!(check_estimate(&est, None).is_ok());
        let e = check_estimate(&est, Some(500)).unwrap_err().to_string();
        assert!(
            e.contains("`output.points`") && e.contains("910.0 B"),
            "{e}"
        );
        assert!(e.contains("500.0 B"), "{e}");
    }
}
