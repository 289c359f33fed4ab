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
/// shortest decimal that reads back to the same f64; empty for `NaN`.
pub fn push_cell(out: &mut String, v: f64) {
    if v.is_nan() {
        return;
    }
    if v.fract() == 0.0 && v.abs() < EXACT_INTEGER {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// The one CSV writer: a header `[seed,]index,names…` and one line per row of each table.
/// `labelled` gives each table an optional seed; when any is `Some`, a leading `seed` column
/// is written.
pub fn csv(tables: &[(Option<u64>, &Table)]) -> String {
    let Some((_, first)) = tables.first() else {
        return String::new();
    };
    let with_seed = tables.iter().any(|(s, _)| s.is_some());
    let rows: usize = tables.iter().map(|(_, t)| t.len()).sum();
    let mut out = String::with_capacity(64 + rows * (first.names.len() + 2) * 20);
    if with_seed {
        out.push_str("seed,");
    }
    out.push_str(&first.index_name);
    for n in &first.names {
        out.push(',');
        out.push_str(n);
    }
    out.push('\n');
    for (seed, t) in tables {
        debug_assert_eq!(
            t.names, first.names,
            "tables of one CSV share their columns"
        );
        for (i, row) in t.index.iter().zip(&t.rows) {
            if with_seed {
                if let Some(s) = seed {
                    let _ = write!(out, "{s}");
                }
                out.push(',');
            }
            push_cell(&mut out, *i);
            for v in row {
                out.push(',');
                push_cell(&mut out, *v);
            }
            out.push('\n');
        }
    }
    out
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
}
