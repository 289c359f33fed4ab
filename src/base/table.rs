//! One trajectory type for every model: an index column (`time` or `step`) and named
//! observable columns, with one CSV writer. A missing value is `NaN` and is written as an
//! empty cell.

use std::fmt::Write as _;

/// A trajectory: rows of `(index, values)` with named columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Name of the index column: `"time"` (continuous) or `"step"` (integer steps).
    pub index_name: String,
    /// Observable column names, in CSV order (without the index).
    pub names: Vec<String>,
    /// The index of each row (a time, or a step count stored exactly as f64).
    pub index: Vec<f64>,
    /// One value vector per row, `names.len()` long; `NaN` = not available.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// An empty table with the given index name and column names.
    pub fn new(index_name: &str, names: Vec<String>) -> Self {
        Table {
            index_name: index_name.to_string(),
            names,
            index: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Append one row. Panics if `values` does not have one entry per column (a programming
    /// error, not a user error).
    pub fn push(&mut self, index: f64, values: Vec<f64>) {
        assert_eq!(
            values.len(),
            self.names.len(),
            "row width must equal the number of columns"
        );
        self.index.push(index);
        self.rows.push(values);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Position of a column by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// A column by name, one value per row.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.position(name)?;
        Some(self.rows.iter().map(|r| r[j]).collect())
    }

    /// The last value of a column.
    pub fn last(&self, name: &str) -> Option<f64> {
        let j = self.position(name)?;
        self.rows.last().map(|r| r[j])
    }
}

/// Largest magnitude written as an integer (every integer below it is an exact f64).
const EXACT_INTEGER: f64 = 9.007_199_254_740_992e15;

/// Append one CSV cell: integers as integers (steps, indices, counts), other values as the
/// shortest decimal that reads back to the same f64 (exactly Rust's `{:?}` text: decimal
/// notation for 1e-4 ≤ |v| < 1e16, else `d.ddde±x`); empty for `NaN`. Integers and
/// shortest digits come from `itoa` and `ryu`, many times faster than `core::fmt`.
pub fn push_cell(out: &mut String, v: f64) {
    if v.is_nan() {
        return;
    }
    if v.fract() == 0.0 && v.abs() < EXACT_INTEGER {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else if (1e-5..1e-4).contains(&v.abs()) || short_exact_decimal(v) {
        // ryu writes 1e-5 ≤ |v| < 1e-4 as 0.0000ddd, where `{:?}` (the format this writer
        // has always had) uses the exponent form; and where two shortest decimals are
        // equally close (v's exact decimal is one digit longer, ending in 5) ryu rounds the
        // tie to even, `{:?}` up. Such values are rare: leave them to `{:?}`.
        let _ = write!(out, "{v:?}");
    } else {
        out.push_str(ryu::Buffer::new().format(v));
    }
}

/// True when the exact decimal value of `v` (finite, non-zero) may have fewer than 19
/// significant digits (a bound: `v = m·2^e` with m odd has the digits of `m·5^{−e}` for
/// e < 0, at most those of `v` for e ≥ 0) — the only values whose shortest decimal can be
/// a tie between two candidates.
fn short_exact_decimal(v: f64) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    if m == 0 {
        return true;
    }
    let tz = m.trailing_zeros();
    let (odd, e2) = (m >> tz, e + i64::from(tz));
    let digits = (odd as f64).log10()
        + if e2 >= 0 {
            e2 as f64 * std::f64::consts::LOG10_2
        } else {
            -e2 as f64 * 5f64.log10()
        };
    digits < 19.0
}

/// The file format of the trajectory tables (`output.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Text, one row per line ([`csv`]).
    #[default]
    Csv,
    /// NumPy's binary `.npy`: one structured array, one named field per column ([`npy`]).
    Npy,
}

impl OutputFormat {
    /// The file extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Npy => "npy",
        }
    }

    /// Write `tables` in this format (see [`csv_to`], [`npy`]).
    pub fn write(
        self,
        w: &mut dyn std::io::Write,
        tables: &[(Option<u64>, &Table)],
    ) -> std::io::Result<()> {
        match self {
            OutputFormat::Csv => csv_to(w, tables),
            OutputFormat::Npy => npy(w, tables),
        }
    }
}

/// The one CSV writer: a header `[seed,]index,names…` and one line per row of each table.
/// `labelled` gives each table an optional seed; when any is `Some`, a leading `seed` column
/// is written.
pub fn csv(tables: &[(Option<u64>, &Table)]) -> String {
    let mut out = Vec::new();
    csv_to(&mut out, tables).expect("writing to memory");
    String::from_utf8(out).expect("CSV text is UTF-8")
}

/// [`csv`], written line by line to `w` (wrap a file in a `BufWriter`).
pub fn csv_to(w: &mut dyn std::io::Write, tables: &[(Option<u64>, &Table)]) -> std::io::Result<()> {
    let Some((_, first)) = tables.first() else {
        return Ok(());
    };
    let with_seed = tables.iter().any(|(s, _)| s.is_some());
    let mut line = String::with_capacity(64 + (first.names.len() + 2) * 24);
    if with_seed {
        line.push_str("seed,");
    }
    line.push_str(&first.index_name);
    for n in &first.names {
        line.push(',');
        line.push_str(n);
    }
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for (seed, t) in tables {
        debug_assert_eq!(
            t.names, first.names,
            "tables of one CSV share their columns"
        );
        for (i, row) in t.index.iter().zip(&t.rows) {
            line.clear();
            if with_seed {
                if let Some(s) = seed {
                    line.push_str(itoa::Buffer::new().format(*s));
                }
                line.push(',');
            }
            push_cell(&mut line, *i);
            for v in row {
                line.push(',');
                push_cell(&mut line, *v);
            }
            line.push('\n');
            w.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// The tables as one NumPy `.npy` structured array (`numpy.load(path)` gives it; a column
/// is `a["name"]`): one record per row, the fields `seed` (`<u8`, when any table has a
/// seed; 0 for a table without), the index column and every named column (`<f8`, missing
/// values `NaN`). Format version 1.0, 2.0 when the header needs more than 64 KiB, 3.0 when
/// a column name is not ASCII.
pub fn npy(w: &mut dyn std::io::Write, tables: &[(Option<u64>, &Table)]) -> std::io::Result<()> {
    let (index_name, names) = match tables.first() {
        Some((_, t)) => (t.index_name.as_str(), t.names.as_slice()),
        None => ("index", &[][..]),
    };
    let with_seed = tables.iter().any(|(s, _)| s.is_some());
    let rows: usize = tables.iter().map(|(_, t)| t.len()).sum();
    let quote = |n: &str| n.replace('\\', "\\\\").replace('\'', "\\'");
    let mut header = String::from("{'descr': [");
    if with_seed {
        header.push_str("('seed', '<u8'), ");
    }
    for n in std::iter::once(index_name).chain(names.iter().map(String::as_str)) {
        let _ = write!(header, "('{}', '<f8'), ", quote(n));
    }
    let _ = write!(header, "], 'fortran_order': False, 'shape': ({rows},), }}");
    let ascii = header.is_ascii();
    // Magic (6) + version (2) + length (2, or 4 from version 2.0) + header + '\n', padded
    // with spaces to a multiple of 64 bytes.
    let long = !ascii || header.len() + 1 + 10 > u16::MAX as usize;
    let prefix = if long { 12 } else { 10 };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.extend(std::iter::repeat_n(' ', total - prefix - header.len() - 1));
    header.push('\n');
    let major: u8 = match (ascii, long) {
        (false, _) => 3,
        (true, true) => 2,
        (true, false) => 1,
    };
    w.write_all(b"\x93NUMPY")?;
    w.write_all(&[major, 0])?;
    if long {
        w.write_all(&(header.len() as u32).to_le_bytes())?;
    } else {
        w.write_all(&(header.len() as u16).to_le_bytes())?;
    }
    w.write_all(header.as_bytes())?;
    let mut record = Vec::with_capacity(8 * (names.len() + 2));
    for (seed, t) in tables {
        debug_assert_eq!(t.names, names, "tables of one file share their columns");
        for (i, row) in t.index.iter().zip(&t.rows) {
            record.clear();
            if with_seed {
                record.extend(seed.unwrap_or(0).to_le_bytes());
            }
            record.extend(i.to_le_bytes());
            for v in row {
                record.extend(v.to_le_bytes());
            }
            w.write_all(&record)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_seed_index_and_empty_cells() {
        let mut t = Table::new("step", vec!["loss".into(), "lambda_min".into()]);
        t.push(0.0, vec![1.5, 0.25]);
        t.push(10.0, vec![0.1, f64::NAN]);
        let s = csv(&[(Some(3), &t)]);
        assert_eq!(s, "seed,step,loss,lambda_min\n3,0,1.5,0.25\n3,10,0.1,\n");
        assert_eq!(t.column("loss").unwrap(), vec![1.5, 0.1]);
        assert!(t.last("lambda_min").unwrap().is_nan());
        let plain = csv(&[(None, &t)]);
        assert!(plain.starts_with("step,loss,lambda_min\n0,1.5,0.25\n"));
    }

    #[test]
    fn values_round_trip() {
        let mut t = Table::new("time", vec!["x".into()]);
        let v = [0.1, 1.0 / 3.0, -2.5e-17, 7e300];
        for (i, x) in v.iter().enumerate() {
            t.push(i as f64 * 0.5, vec![*x]);
        }
        let s = csv(&[(None, &t)]);
        let back: Vec<f64> = s
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(back, v);
    }

    /// The fast formatter writes exactly what `{:?}` wrote before it: same text for random
    /// bit patterns (every exponent) and for the edges of the notation switches.
    #[test]
    fn cells_equal_the_debug_format_and_round_trip() {
        use rand::{Rng as _, SeedableRng as _};
        let old = |v: f64| -> String {
            if v.is_nan() {
                String::new()
            } else if v.fract() == 0.0 && v.abs() < EXACT_INTEGER {
                format!("{}", v as i64)
            } else {
                format!("{v:?}")
            }
        };
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut values: Vec<f64> = (0..200_000)
            .map(|_| f64::from_bits(rng.random::<u64>()))
            .collect();
        // Decimal-looking values of every magnitude, and the notation edges.
        values.extend((0..200_000).map(|i| {
            let e = (i % 40) as i32 - 20;
            rng.random::<f64>() * 10f64.powi(e)
        }));
        for e in [1e-5, 1e-4, 1e15, 1e16, 1e17, EXACT_INTEGER] {
            for v in [
                e,
                f64::from_bits(e.to_bits() - 1),
                f64::from_bits(e.to_bits() + 1),
            ] {
                values.extend([v, -v, v + 0.5]);
            }
        }
        values.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
        ]);
        for v in values {
            let mut cell = String::new();
            push_cell(&mut cell, v);
            assert_eq!(cell, old(v), "{:e} ({:#x})", v, v.to_bits());
            if v.is_finite() {
                let back: f64 = cell.parse().unwrap();
                assert!(back == v, "{v:e} → {cell}");
            }
        }
    }

    /// The `.npy` structured array: a valid header (read by `npyz`) and little-endian
    /// records in row order.
    #[test]
    fn npy_holds_every_cell() {
        let mut t = Table::new("time", vec!["loss".into(), "q_0_0".into()]);
        t.push(0.0, vec![1.5, f64::NAN]);
        t.push(0.25, vec![0.1, -3.0]);
        let mut u = t.clone();
        u.rows[1][0] = 7.0;
        let mut bytes = Vec::new();
        npy(&mut bytes, &[(Some(3), &t), (Some(4), &u)]).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.starts_with(
            "{'descr': [('seed', '<u8'), ('time', '<f8'), ('loss', '<f8'), ('q_0_0', '<f8'), ]"
        ));
        assert!(header.contains("'shape': (4,)") && header.ends_with('\n'));
        let file = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(file.shape(), &[4]);
        match file.dtype() {
            npyz::DType::Record(fields) => assert_eq!(fields.len(), 4),
            d => panic!("not a record dtype: {d:?}"),
        }
        let data = &bytes[10 + hlen..];
        assert_eq!(data.len(), 4 * 32);
        let rec = |r: usize| -> (u64, Vec<f64>) {
            let b = &data[32 * r..32 * (r + 1)];
            let seed = u64::from_le_bytes(b[..8].try_into().unwrap());
            let vals = b[8..]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (seed, vals)
        };
        assert_eq!(rec(1), (3, vec![0.25, 0.1, -3.0]));
        assert_eq!(rec(3), (4, vec![0.25, 7.0, -3.0]));
        let (s0, v0) = rec(0);
        assert_eq!((s0, v0[0], v0[1]), (3, 0.0, 1.5));
        assert!(v0[2].is_nan());
        // Without seeds: no seed field; a long header switches to version 2.0.
        let wide = Table::new("step", (0..5000).map(|i| format!("column_{i}")).collect());
        let mut bytes = Vec::new();
        npy(&mut bytes, &[(None, &wide)]).unwrap();
        assert_eq!(&bytes[6..8], &[2, 0]);
        let hlen = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!((12 + hlen) % 64, 0);
        assert_eq!(bytes.len(), 12 + hlen);
        assert!(npyz::NpyFile::new(&bytes[..]).is_ok());
    }
}
