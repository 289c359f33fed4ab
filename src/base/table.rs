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
/// shortest digits come from `itoa` and `zmij` (`ryu` for |v| ≥ 1e16, where `zmij` writes
/// `e+16`), many times faster than `core::fmt`; `zmij` takes ≈ 30 % less time than `ryu`
/// on the 17-digit values of the theory tables.
pub fn push_cell(out: &mut String, v: f64) {
    if v.is_nan() {
        return;
    }
    // `v as i64` truncates (saturating): an integer test without a `trunc` call
    if v.abs() < EXACT_INTEGER && (v as i64) as f64 == v {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else if short_exact_decimal(v) {
        // where two shortest decimals are equally close (v's exact decimal is one digit
        // longer, ending in 5) ryu and zmij round the tie to even, `{:?}` (the format this writer has
        // always had) up. Such values are rare: leave them to `{:?}`.
        let _ = write!(out, "{v:?}");
    } else if (1e-5..1e-4).contains(&v.abs()) {
        // zmij writes these as `0.0000ddd`, `{:?}` as `d.ddde-5` (the same shortest digits)
        let mut buf = zmij::Buffer::new();
        let text = buf.format(v);
        let (sign, rest) = text.split_at(usize::from(v < 0.0));
        let digits = &rest["0.0000".len()..];
        out.push_str(sign);
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str("e-5");
    } else if v.abs() < 1e16 {
        out.push_str(zmij::Buffer::new().format(v));
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
    if e2 <= -28 {
        // at least 28·log10 5 > 19.5 digits, whatever `odd` (the common case: no logarithms)
        return false;
    }
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
    /// NumPy's binary `.npy`: one 2-D array, its column names in `<name>.columns.txt`
    /// ([`npy`], [`npy_columns`]).
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

    /// The files of a table named `stem` in this format: the table, and for `.npy` its
    /// column names (`<stem>.columns.txt`).
    pub fn file_names(self, stem: &str) -> Vec<String> {
        let mut files = vec![format!("{stem}.{}", self.extension())];
        if self == OutputFormat::Npy {
            files.push(format!("{stem}.columns.txt"));
        }
        files
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

/// Cells formatted per parallel task of [`csv_to`]: large enough to amortise a task and its
/// memo, small enough that a few batches of them bound the text held in memory (≈ 1.5 MB).
const CSV_TASK_CELLS: usize = 1 << 13;

/// [`csv`], written to `w` (wrap a file in a `BufWriter`). The rows are formatted in
/// parallel blocks (rayon), each with its own [`CellMemo`], and written in order while the
/// next batch is formatted: the text is the same as one formatter's, whatever the thread
/// count.
pub fn csv_to(w: &mut dyn std::io::Write, tables: &[(Option<u64>, &Table)]) -> std::io::Result<()> {
    use rayon::prelude::*;
    let Some((_, first)) = tables.first() else {
        return Ok(());
    };
    let with_seed = tables.iter().any(|(s, _)| s.is_some());
    let mut header = String::new();
    if with_seed {
        header.push_str("seed,");
    }
    header.push_str(&first.index_name);
    for n in &first.names {
        header.push(',');
        header.push_str(n);
    }
    header.push('\n');
    w.write_all(header.as_bytes())?;
    let rows: Vec<(Option<u64>, f64, &[f64])> = tables
        .iter()
        .flat_map(|(seed, t)| {
            debug_assert_eq!(
                t.names, first.names,
                "tables of one CSV share their columns"
            );
            t.index
                .iter()
                .zip(&t.rows)
                .map(move |(i, r)| (*seed, *i, r.as_slice()))
        })
        .collect();
    let task_rows = (CSV_TASK_CELLS / (first.names.len() + 2)).max(1);
    let tasks = 4 * rayon::current_num_threads();
    // two sets of text buffers, reused: one being written while the other is filled (fresh
    // megabyte buffers would cost a page fault per 4 KiB of text)
    let mut filling = vec![String::new(); tasks];
    let mut writing = vec![String::new(); tasks];
    let mut used = 0;
    for block in rows.chunks(task_rows * tasks) {
        let count = block.len().div_ceil(task_rows);
        rayon::in_place_scope(|s| {
            s.spawn(|_| {
                filling
                    .par_iter_mut()
                    .zip(block.par_chunks(task_rows))
                    .for_each(|(text, chunk)| csv_rows(text, chunk, with_seed));
            });
            writing[..used]
                .iter()
                .try_for_each(|t| w.write_all(t.as_bytes()))
        })?;
        std::mem::swap(&mut filling, &mut writing);
        used = count;
    }
    writing[..used]
        .iter()
        .try_for_each(|t| w.write_all(t.as_bytes()))
}

/// The CSV lines of `rows` (seed, index, values) into `text` (cleared first), one
/// [`CellMemo`] for the block.
fn csv_rows(text: &mut String, rows: &[(Option<u64>, f64, &[f64])], with_seed: bool) {
    text.clear();
    let mut memo = CellMemo::new();
    for (seed, i, row) in rows {
        if with_seed {
            if let Some(s) = seed {
                text.push_str(itoa::Buffer::new().format(*s));
            }
            text.push(',');
        }
        memo.push(text, *i);
        for v in *row {
            text.push(',');
            memo.push(text, *v);
        }
        text.push('\n');
    }
}

/// Entries of [`CellMemo`] (a power of two: 4096 slots of at most 24 bytes of text).
const CELL_MEMO_SIZE: usize = 4096;

/// [`push_cell`] with a direct-mapped memo of where the text of each value was last
/// written in the same output (keyed by its bits, one slot per hash): a value that recurs
/// within a few rows — the mirrored entries of symmetric matrices, such as a group's
/// `q_a_b = q_b_a`, or the time and the group columns repeated on every group row — is
/// formatted once and copied from its earlier text. The text is [`push_cell`]'s by
/// construction; a collision only costs a fresh formatting. One memo serves one growing
/// `String` (the offsets point into it).
struct CellMemo {
    keys: Vec<u64>,
    spans: Vec<(u32, u32)>,
}

impl CellMemo {
    fn new() -> Self {
        Self {
            // a NaN's bits: never a key, since NaN cells are empty and not memoised
            keys: vec![u64::MAX; CELL_MEMO_SIZE],
            spans: vec![(0, 0); CELL_MEMO_SIZE],
        }
    }

    fn push(&mut self, out: &mut String, v: f64) {
        if v.is_nan() {
            return;
        }
        let bits = v.to_bits();
        // Fibonacci hashing: the top bits of bits·2⁶⁴/φ
        let slot = (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            >> (64 - CELL_MEMO_SIZE.trailing_zeros())) as usize;
        if self.keys[slot] == bits {
            let (start, end) = self.spans[slot];
            out.extend_from_within(start as usize..end as usize);
            return;
        }
        let start = out.len();
        push_cell(out, v);
        // texts beyond 4 GiB are not memoised (the offsets are 32-bit)
        if let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(out.len())) {
            self.keys[slot] = bits;
            self.spans[slot] = (s, e);
        }
    }
}

/// The column names of [`npy`]'s array, one per line (`seed` first when any table has a
/// seed, then the index column and the named columns): the `.columns.txt` beside it.
pub fn npy_columns(tables: &[(Option<u64>, &Table)]) -> String {
    let mut out = String::new();
    if let Some((_, t)) = tables.first() {
        if tables.iter().any(|(s, _)| s.is_some()) {
            out.push_str("seed\n");
        }
        for n in std::iter::once(&t.index_name).chain(&t.names) {
            out.push_str(n);
            out.push('\n');
        }
    }
    out
}

/// The tables as one NumPy `.npy` array of `<f8`, rows × columns in C order
/// (`numpy.load(path)`; the column names are [`npy_columns`]): one row per table row, the
/// columns `seed` (when any table has a seed; NaN for a table without), the index and every
/// named column, missing values `NaN`. A plain 2-D array rather than a structured one:
/// NumPy refuses headers over 10 kB by default, and a structured array of the wide tables
/// (hundreds of columns) has one.
pub fn npy(w: &mut dyn std::io::Write, tables: &[(Option<u64>, &Table)]) -> std::io::Result<()> {
    let with_seed = tables.iter().any(|(s, _)| s.is_some());
    let width = tables.first().map_or(0, |(_, t)| t.names.len() + 1) + usize::from(with_seed);
    let rows: usize = tables.iter().map(|(_, t)| t.len()).sum();
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {width}), }}");
    // Magic (6) + version 1.0 (2) + length (2) + header + '\n', padded with spaces to a
    // multiple of 64 bytes.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.extend(std::iter::repeat_n(' ', total - 10 - header.len() - 1));
    header.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    let mut record = Vec::with_capacity(8 * width);
    for (seed, t) in tables {
        debug_assert_eq!(
            t.names.len() + 1 + usize::from(with_seed),
            width,
            "tables of one file share their columns"
        );
        for (i, row) in t.index.iter().zip(&t.rows) {
            record.clear();
            if with_seed {
                record.extend(seed.map_or(f64::NAN, |s| s as f64).to_le_bytes());
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

    /// The parallel writer (blocks of rows on the pool, several batches, memoised cells)
    /// gives the text of the plain one-cell-at-a-time formatting.
    #[test]
    fn parallel_csv_equals_serial_formatting() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let names: Vec<String> = (0..37).map(|j| format!("c{j}")).collect();
        let mut a = Table::new("time", names.clone());
        let mut b = Table::new("time", names);
        // enough rows for many tasks and batches; repeated values exercise the memo
        for i in 0..(40 * CSV_TASK_CELLS / 37) {
            let row: Vec<f64> = (0..37)
                .map(|j| match j % 4 {
                    0 => (i / 7) as f64 * 0.1,
                    1 => f64::NAN,
                    _ => rng.random::<f64>() * 10f64.powi(rng.random_range(-20..20)),
                })
                .collect();
            a.push(i as f64 * 0.5, row.clone());
            b.push(i as f64, row.iter().map(|v| -v).collect());
        }
        let mut serial = String::from("seed,time");
        for n in &a.names {
            serial.push(',');
            serial.push_str(n);
        }
        serial.push('\n');
        for (seed, t) in [(Some(1), &a), (None, &b)] {
            for (i, row) in t.index.iter().zip(&t.rows) {
                if let Some(s) = seed {
                    serial.push_str(&s.to_string());
                }
                serial.push(',');
                push_cell(&mut serial, *i);
                for v in row {
                    serial.push(',');
                    push_cell(&mut serial, *v);
                }
                serial.push('\n');
            }
        }
        assert_eq!(csv(&[(Some(1), &a), (None, &b)]), serial);
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
            let e = (i % 40) - 20;
            rng.random::<f64>() * 10f64.powi(e)
        }));
        // 1e-5 ≤ |v| < 1e-4 (ryu's digits in `{:?}`'s exponent form), short and long
        values.extend((0..100_000).map(|i| {
            let v = 1e-5 + 9e-5 * rng.random::<f64>();
            let v = if i % 3 == 0 {
                (v * 1e9).round() / 1e9
            } else {
                v
            };
            if i % 2 == 0 {
                -v
            } else {
                v
            }
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

    /// The `.npy` array: a valid header (read by `npyz`), the cells in row order, and its
    /// column names.
    #[test]
    fn npy_holds_every_cell() {
        let mut t = Table::new("time", vec!["loss".into(), "q_0_0".into()]);
        t.push(0.0, vec![1.5, f64::NAN]);
        t.push(0.25, vec![0.1, -3.0]);
        let mut u = t.clone();
        u.rows[1][0] = 7.0;
        let tables = [(Some(3), &t), (Some(4), &u)];
        let mut bytes = Vec::new();
        npy(&mut bytes, &tables).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let file = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(file.shape(), &[4, 4]);
        let data: Vec<f64> = file.into_vec().unwrap();
        assert_eq!(&data[4..8], &[3.0, 0.25, 0.1, -3.0]);
        assert_eq!(&data[12..16], &[4.0, 0.25, 7.0, -3.0]);
        assert_eq!(&data[..3], &[3.0, 0.0, 1.5]);
        assert!(data[3].is_nan());
        assert_eq!(npy_columns(&tables), "seed\ntime\nloss\nq_0_0\n");
        let mut bytes = Vec::new();
        npy(&mut bytes, &[(None, &t)]).unwrap();
        let file = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(file.shape(), &[2, 3]);
        assert_eq!(npy_columns(&[(None, &t)]), "time\nloss\nq_0_0\n");
    }
}
