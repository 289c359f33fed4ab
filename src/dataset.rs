//! Real data matrices (docs/autoencoder.md §1.1, §5.4): loading, centring and scaling,
//! and the covariance spectrum the theory integrates.
//!
//! A [`Dataset`] holds `n` samples of dimension `D` (row-major, one sample per row). Formats:
//! `.npy` and headerless CSV (through [`crate::io::read_matrix`]), the IDX files of
//! MNIST/FashionMNIST (`*-ubyte`, `.idx`, optionally gzipped) and the CIFAR-10 binary batches
//! (`data_batch_*.bin`: records of one label byte and 3072 pixel bytes; the labels are dropped).
//!
//! Preprocessing follows the reference (docs/autoencoder.md §1.1): every input is standardised as
//! `x ← (x − m)/s` with the scalar mean `m` of all entries ([`Centering::Scalar`], the documented
//! convention; per-feature means and no centring are options) and `s² = ` the mean of the
//! squared centred entries, so that `tr Ω/D = 1` (skipped with `data.normalize = false`). The
//! theory's Ω is the **second moment** of the processed samples, `Ω = X̃ᵀX̃/n` — the covariance
//! of the uniform distribution over the samples that the simulator trains on (both Gaussian
//! surrogate and real samples have exactly this second moment).

use std::io::Read;
use std::path::Path;

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spectrum::Covariance;

/// File format of a data matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// From the file name: `.npy`; `.idx`, `*-ubyte` (and `.gz` of these); `.bin` (CIFAR-10);
    /// anything else CSV.
    #[default]
    Auto,
    /// NumPy `.npy`, a 2-D array (rows are samples).
    Npy,
    /// Comma-separated numbers without header, one sample per line.
    Csv,
    /// IDX (MNIST/FashionMNIST): every dimension after the first is flattened.
    Idx,
    /// CIFAR-10 binary batch: 1 label byte + 3072 bytes (3×32×32) per record.
    Cifar10,
}

/// How the samples are centred before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Centering {
    /// Subtract the scalar mean of all entries (the reference's convention, docs/autoencoder.md §1.1).
    #[default]
    Scalar,
    /// Subtract each feature's mean (Ω is then the sample covariance).
    Features,
    /// No centring.
    None,
}

/// How the simulator draws the samples of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Uniformly with replacement, independently at every step.
    #[default]
    Replacement,
    /// By epochs: every sample once per epoch, in a fresh random order each epoch.
    Epochs,
}

/// `n` samples of dimension `D`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    n: usize,
    dim: usize,
    rows: Vec<f64>,
}

/// Eigenvalues below this fraction of the largest are roundoff of an exactly rank-deficient
/// second moment (e.g. constant pixels) and are set to 0, so that they form one null group
/// instead of stretching a log-spaced binning over 16 decades.
const NULL_EIGENVALUE: f64 = 1e-12;

/// The CIFAR-10 record: one label byte and 3×32×32 pixel bytes.
const CIFAR_RECORD: usize = 1 + 3072;

impl Dataset {
    /// A dataset from `n × D` row-major numbers.
    pub fn from_rows(n: usize, dim: usize, rows: Vec<f64>) -> Result<Self> {
        if rows.len() != n * dim || n < 2 || dim < 2 {
            return Err(Error::InvalidState(format!(
                "a dataset needs n ≥ 2 samples of dimension D ≥ 2 with n·D numbers; got n = {n}, D = {dim}, {} numbers",
                rows.len()
            )));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidState(format!(
                "non-finite value in sample {}, feature {}",
                i / dim,
                i % dim
            )));
        }
        Ok(Dataset { n, dim, rows })
    }

    /// Read a data file; `max_rows` keeps only the first samples.
    pub fn load(path: &Path, format: DataFormat, max_rows: Option<usize>) -> Result<Self> {
        let format = match format {
            DataFormat::Auto => guess_format(path),
            f => f,
        };
        let (n, dim, rows) = match format {
            DataFormat::Idx => read_idx(path)?,
            DataFormat::Cifar10 => read_cifar10(path)?,
            _ => {
                let m = crate::io::read_matrix_as(path, format == DataFormat::Npy)?;
                let rows = m.transpose().as_slice().to_vec();
                (m.nrows(), m.ncols(), rows)
            }
        };
        let keep = max_rows.map_or(n, |r| r.min(n));
        if max_rows == Some(0) {
            return Err(Error::config("max_rows", "must be ≥ 2"));
        }
        Self::from_rows(keep, dim, rows[..keep * dim].to_vec())
            .map_err(|e| Error::parse(path, e.to_string()))
    }

    /// The number of samples n.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True if there are no samples (never, for a constructed dataset).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The samples as an `n × D` matrix.
    pub fn matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.n, self.dim, &self.rows)
    }

    /// Sample `i` (length D).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Centre (see [`Centering`]) and, if `scale`, divide by `s` with `s²` the mean squared
    /// centred entry, so that `tr Ω/D = 1` (docs/autoencoder.md §1.1). Fails on constant data.
    pub fn standardise(&mut self, centering: Centering, scale: bool) -> Result<()> {
        let (n, d) = (self.n as f64, self.dim);
        match centering {
            Centering::Scalar => {
                let m = self.rows.iter().sum::<f64>() / self.rows.len() as f64;
                self.rows.iter_mut().for_each(|x| *x -= m);
            }
            Centering::Features => {
                let mut mean = vec![0.0; d];
                for r in self.rows.chunks_exact(d) {
                    mean.iter_mut().zip(r).for_each(|(m, x)| *m += x / n);
                }
                for r in self.rows.chunks_exact_mut(d) {
                    r.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
                }
            }
            Centering::None => {}
        }
        if scale {
            let s2 = self.rows.iter().map(|x| x * x).sum::<f64>() / self.rows.len() as f64;
            if s2 <= 0.0 || s2.is_nan() {
                return Err(Error::config(
                    "path",
                    "the data are constant after centring: nothing to scale",
                ));
            }
            let inv = 1.0 / s2.sqrt();
            self.rows.iter_mut().for_each(|x| *x *= inv);
        }
        Ok(())
    }

    /// The second moment `Ω = X̃ᵀX̃/n` (D × D).
    pub fn second_moment(&self) -> DMatrix<f64> {
        let x = self.matrix();
        (x.transpose() * &x) / self.n as f64
    }

    /// Ω's eigenvalues and orthonormal eigenvectors (columns), roundoff-level eigenvalues set
    /// to 0 (see [`NULL_EIGENVALUE`]).
    pub fn eigen(&self) -> (Vec<f64>, DMatrix<f64>) {
        let eig = SymmetricEigen::new(self.second_moment());
        let top = eig.eigenvalues.amax();
        let values = eig
            .eigenvalues
            .iter()
            .map(|&v| if v <= NULL_EIGENVALUE * top { 0.0 } else { v })
            .collect();
        (values, eig.eigenvectors)
    }

    /// The covariance of the data for the theory (binned into at most `bins` groups) and the
    /// exact one (every distinct eigenvalue its own group), both with Ω's eigenvectors.
    pub fn covariances(&self, bins: Option<usize>) -> Result<(Covariance, Covariance)> {
        let (values, vectors) = self.eigen();
        let exact = Covariance::from_eigen(&values, Some(&vectors), None)?;
        let binned = match bins {
            Some(_) => Covariance::from_eigen(&values, Some(&vectors), bins)?,
            None => exact.clone(),
        };
        Ok((binned, exact))
    }
}

fn guess_format(path: &Path) -> DataFormat {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if stem.ends_with(".npy") {
        DataFormat::Npy
    } else if stem.ends_with(".idx") || stem.contains("-ubyte") || stem.contains(".idx3") {
        DataFormat::Idx
    } else if stem.ends_with(".bin") {
        DataFormat::Cifar10
    } else {
        DataFormat::Csv
    }
}

/// The bytes of a file, gunzipped if its name ends in `.gz`.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::parse(path, format!("not a valid gzip file: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// IDX: magic `0 0 type ndim`, `ndim` big-endian u32 sizes, then the data big-endian.
/// Types: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
fn read_idx(path: &Path) -> Result<(usize, usize, Vec<f64>)> {
    let b = read_bytes(path)?;
    let bad = |m: String| Error::parse(path, m);
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err(bad(
            "not an IDX file (the magic number must start with two zero bytes)".into(),
        ));
    }
    let (ty, ndim) = (b[2], b[3] as usize);
    if ndim < 2 {
        return Err(bad(format!(
            "an IDX data matrix needs ≥ 2 dimensions (samples × features), this one has {ndim} (a label file?)"
        )));
    }
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(bad("truncated IDX header".into()));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let n = dims[0];
    let d: usize = dims[1..].iter().product();
    let width = match ty {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        t => return Err(bad(format!("unknown IDX data type 0x{t:02X}"))),
    };
    let body = &b[header..];
    if body.len() != n * d * width {
        return Err(bad(format!(
            "IDX header says {n}×{d} values of {width} bytes, the file has {} data bytes",
            body.len()
        )));
    }
    let values = body
        .chunks_exact(width)
        .map(|c| match ty {
            0x08 => f64::from(c[0]),
            0x09 => f64::from(c[0] as i8),
            0x0B => f64::from(i16::from_be_bytes([c[0], c[1]])),
            0x0C => f64::from(i32::from_be_bytes(c.try_into().expect("4 bytes"))),
            0x0D => f64::from(f32::from_be_bytes(c.try_into().expect("4 bytes"))),
            _ => f64::from_be_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    Ok((n, d, values))
}

/// CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32×32).
fn read_cifar10(path: &Path) -> Result<(usize, usize, Vec<f64>)> {
    let b = read_bytes(path)?;
    if b.is_empty() || b.len() % CIFAR_RECORD != 0 {
        return Err(Error::parse(
            path,
            format!(
                "a CIFAR-10 binary batch is a whole number of {CIFAR_RECORD}-byte records; this file has {} bytes",
                b.len()
            ),
        ));
    }
    let values = b
        .chunks_exact(CIFAR_RECORD)
        .flat_map(|r| r[1..].iter().map(|&p| f64::from(p)))
        .collect();
    Ok((b.len() / CIFAR_RECORD, CIFAR_RECORD - 1, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn idx_u8_and_f64_round_trip_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        // 3 samples of 2×2 u8.
        let mut b = vec![0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
        b.extend(0u8..12);
        let p = write(dir.path(), "x-ubyte", &b);
        let ds = Dataset::load(&p, DataFormat::Auto, None).unwrap();
        assert_eq!((ds.len(), ds.dim()), (3, 4));
        assert_eq!(ds.row(2), &[8.0, 9.0, 10.0, 11.0]);
        // gzip of the same bytes.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &b).unwrap();
        let p = write(dir.path(), "x-ubyte.gz", &enc.finish().unwrap());
        assert_eq!(Dataset::load(&p, DataFormat::Auto, None).unwrap(), ds);
        // f64 big-endian, 2 samples × 2.
        let mut b = vec![0, 0, 0x0E, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        for v in [1.5f64, -2.0, 3.25, 0.0] {
            b.extend(v.to_be_bytes());
        }
        let p = write(dir.path(), "y.idx", &b);
        let ds = Dataset::load(&p, DataFormat::Auto, Some(5)).unwrap();
        assert_eq!(ds.row(0), &[1.5, -2.0]);
        assert_eq!(ds.row(1), &[3.25, 0.0]);
    }

    #[test]
    fn idx_errors_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labels-ubyte", &[0, 0, 8, 1, 0, 0, 0, 2, 1, 2]);
        let e = Dataset::load(&p, DataFormat::Auto, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label file"), "{e}");
        let p = write(
            dir.path(),
            "short-ubyte",
            &[0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1],
        );
        let e = Dataset::load(&p, DataFormat::Auto, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("data bytes"), "{e}");
    }

    #[test]
    fn cifar_records_drop_labels() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Vec::new();
        for r in 0..2u8 {
            b.push(9); // label
            b.extend((0..3072).map(|i| ((i + r as usize) % 251) as u8));
        }
        let p = write(dir.path(), "data_batch_1.bin", &b);
        let ds = Dataset::load(&p, DataFormat::Auto, None).unwrap();
        assert_eq!((ds.len(), ds.dim()), (2, 3072));
        assert_eq!(ds.row(1)[0], 1.0);
        assert_eq!(ds.row(1)[3071], (3072 % 251) as f64);
        let p = write(dir.path(), "bad.bin", &b[..100]);
        let e = Dataset::load(&p, DataFormat::Auto, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3073-byte records"), "{e}");
    }

    #[test]
    fn standardise_gives_unit_trace_and_spectrum_matches_second_moment() {
        // Closed form: rows (a, a + 1, 2a) for a = 0..5.
        let rows: Vec<f64> = (0..5)
            .flat_map(|a| [a as f64, a as f64 + 1.0, 2.0 * a as f64])
            .collect();
        for centering in [Centering::Scalar, Centering::Features, Centering::None] {
            let mut ds = Dataset::from_rows(5, 3, rows.clone()).unwrap();
            ds.standardise(centering, true).unwrap();
            let omega = ds.second_moment();
            assert!((omega.trace() / 3.0 - 1.0).abs() < 1e-14, "{centering:?}");
            let (values, u) = ds.eigen();
            let rebuilt = &u * DMatrix::from_diagonal(&values.clone().into()) * u.transpose();
            assert!((rebuilt - &omega).amax() < 1e-13, "{centering:?}");
            if centering == Centering::Features {
                // Rows lie on a line after per-feature centring: rank 1, two null eigenvalues.
                assert_eq!(values.iter().filter(|&&v| v == 0.0).count(), 2);
            }
        }
        let mut flat = Dataset::from_rows(2, 2, vec![3.0; 4]).unwrap();
        assert!(flat.standardise(Centering::Scalar, true).is_err());
    }
}
