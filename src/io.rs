//! File formats: matrices from `.npy` or headerless CSV, and atomic writes
//! (results go to a temporary file that is renamed into place, so nothing is half-written).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;

use crate::error::{Error, Result};

/// Read a real matrix from `.npy` (f64, f32 or integer; 1-D arrays are one column) or from a
/// plain comma-separated file without header (one row per line; blank lines ignored).
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>> {
    let is_npy = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    read_matrix_as(path, is_npy)
}

/// Read a real matrix as `.npy` (`npy`) or CSV, whatever the file name (see [`read_matrix`]).
pub fn read_matrix_as(path: &Path, npy: bool) -> Result<DMatrix<f64>> {
    let m = if npy {
        read_npy(path)?
    } else {
        read_csv(path)?
    };
    if let Some((i, v)) = m.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::parse(
            path,
            format!(
                "non-finite value {v} at row {}, column {}",
                i % m.nrows(),
                i / m.nrows()
            ),
        ));
    }
    Ok(m)
}

/// Read a vector: a matrix file with one column or one row.
pub fn read_vector(path: &Path) -> Result<Vec<f64>> {
    let m = read_matrix(path)?;
    if m.ncols() == 1 || m.nrows() == 1 {
        Ok(m.iter().copied().collect())
    } else {
        Err(Error::parse(
            path,
            format!(
                "expected a vector (one row or one column), found a {}×{} matrix",
                m.nrows(),
                m.ncols()
            ),
        ))
    }
}

fn read_csv(path: &Path) -> Result<DMatrix<f64>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let row = line
            .split(',')
            .map(|s| {
                s.trim().parse::<f64>().map_err(|_| {
                    Error::parse(
                        path,
                        format!("line {}: `{}` is not a number", lineno + 1, s.trim()),
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        if let Some(first) = rows.first() {
            if first.len() != row.len() {
                return Err(Error::parse(
                    path,
                    format!(
                        "line {} has {} columns, the first row has {}",
                        lineno + 1,
                        row.len(),
                        first.len()
                    ),
                ));
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::parse(path, "no data"));
    }
    let (nr, nc) = (rows.len(), rows[0].len());
    Ok(DMatrix::from_fn(nr, nc, |i, j| rows[i][j]))
}

fn read_npy(path: &Path) -> Result<DMatrix<f64>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| Error::parse(path, e.to_string()))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let dtype = npy.dtype();
    let data: Vec<f64> = match &dtype {
        npyz::DType::Plain(ts) => match (ts.type_char(), ts.size_field()) {
            (npyz::TypeChar::Float, 8) => npy.into_vec::<f64>(),
            (npyz::TypeChar::Float, 4) => npy
                .into_vec::<f32>()
                .map(|v| v.into_iter().map(f64::from).collect()),
            (npyz::TypeChar::Int, 8) => npy
                .into_vec::<i64>()
                .map(|v| v.into_iter().map(|x| x as f64).collect()),
            (npyz::TypeChar::Int, 4) => npy
                .into_vec::<i32>()
                .map(|v| v.into_iter().map(f64::from).collect()),
            (npyz::TypeChar::Uint, 1) => npy
                .into_vec::<u8>()
                .map(|v| v.into_iter().map(f64::from).collect()),
            _ => {
                return Err(Error::parse(
                    path,
                    format!("unsupported dtype {}", dtype.descr()),
                ))
            }
        },
        _ => {
            return Err(Error::parse(
                path,
                format!("unsupported dtype {}", dtype.descr()),
            ))
        }
    }
    .map_err(|e| Error::parse(path, e.to_string()))?;
    let (nr, nc) = match shape.as_slice() {
        [n] => (*n as usize, 1),
        [r, c] => (*r as usize, *c as usize),
        _ => {
            return Err(Error::parse(
                path,
                format!("expected a 1-D or 2-D array, found shape {shape:?}"),
            ))
        }
    };
    if data.len() != nr * nc {
        return Err(Error::parse(path, "array size does not match its shape"));
    }
    Ok(match order {
        npyz::Order::C => DMatrix::from_row_slice(nr, nc, &data),
        npyz::Order::Fortran => DMatrix::from_column_slice(nr, nc, &data),
    })
}

/// A matrix as headerless CSV, one row per line, full precision (`{:e}` round-trips).
pub fn matrix_csv(m: &DMatrix<f64>) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(m.nrows() * m.ncols() * 24);
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, "{:e}", m[(i, j)]);
        }
        s.push('\n');
    }
    s
}

/// Write a matrix as headerless CSV (full precision), atomically.
pub fn write_matrix_csv(path: &Path, m: &DMatrix<f64>) -> Result<()> {
    write_atomic(path, matrix_csv(m).as_bytes())
}

/// A 64-bit FNV-1a checksum of `bytes`, as 16 hex digits: detects a truncated, emptied or
/// altered file (not an adversary).
pub fn checksum(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Write `bytes` to `path` via a temporary file in the same folder and a rename,
/// so a reader never sees a half-written file. Creates the parent folder.
///
/// Atomic against an interrupted or killed process, not durable against an OS crash or a
/// power cut: the file is not flushed to the disk (`fsync`), which would cost a run's
/// outputs their size in disk bandwidth (≈ 15 ms for a K = 16 theory's 37 MB here, far more
/// on a cluster's network filesystem). After such a crash a file may be empty; a sweep's
/// checksums detect it and recompute the task.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes, through a buffered writer (no copy of the whole
/// file in memory).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::io::BufWriter::with_capacity(1 << 16, fs::File::create(&tmp)?);
        fill(&mut f)?;
        f.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    fail_point();
    Ok(())
}

/// Test hook: with `AEDYN_ABORT_AFTER_WRITES=n` in the environment the process aborts right
/// after its n-th file is written (tests kill a command at every moment of its
/// write phase this way).
fn fail_point() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    if let Some(n) = std::env::var("AEDYN_ABORT_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        if WRITES.fetch_add(1, Ordering::SeqCst) + 1 >= n {
            std::process::abort();
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_fnv1a_64() {
        // Reference values of the FNV-1a 64-bit hash.
        assert_eq!(checksum(b""), "cbf29ce484222325");
        assert_eq!(checksum(b"a"), "af63dc4c8601ec8c");
        assert_eq!(checksum(b"foobar"), "85944171f73967e8");
    }

    #[test]
    fn csv_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        let m = DMatrix::from_row_slice(2, 3, &[1.0, -2.5e-17, 3.0, 0.1, 1.0 / 3.0, 7e300]);
        write_matrix_csv(&p, &m).unwrap();
        assert_eq!(read_matrix(&p).unwrap(), m);
    }

    #[test]
    fn npy_c_and_fortran_orders() {
        use npyz::WriterBuilder;
        let dir = tempfile::tempdir().unwrap();
        let data = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        for (name, order, expected) in [
            (
                "c.npy",
                npyz::Order::C,
                DMatrix::from_row_slice(2, 3, &data),
            ),
            (
                "f.npy",
                npyz::Order::Fortran,
                DMatrix::from_column_slice(2, 3, &data),
            ),
        ] {
            let p = dir.path().join(name);
            let mut buf = Vec::new();
            {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&[2, 3])
                    .order(order)
                    .writer(&mut buf)
                    .begin_nd()
                    .unwrap();
                w.extend(data.iter().copied()).unwrap();
                w.finish().unwrap();
            }
            std::fs::write(&p, &buf).unwrap();
            assert_eq!(read_matrix(&p).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn ragged_csv_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "1,2\n3\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
