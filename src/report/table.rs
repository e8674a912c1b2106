//! Tables of results: aligned text for the terminal, CSV and JSON for tools.

use crate::error::{Error, Result};

/// A table of strings with named columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(headers: Vec<String>) -> Self {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    /// Appends a row; short rows are padded with empty cells, long ones cut
    /// to the header width (a row always has one cell per column).
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Column names.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The rows.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Aligned plain text: columns of numbers right-aligned (so digits line
    /// up), every other column left-aligned (names, parameters, titles), two
    /// spaces between columns, a rule under the header. The first column is
    /// always left-aligned: it names the row. Widths count characters, so `±`
    /// aligns.
    pub fn to_text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let right: Vec<bool> = (0..widths.len())
            .map(|c| c > 0 && self.rows.iter().all(|row| is_number_like(&row[c])))
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    let pad = " ".repeat(w - width(cell));
                    if right[c] {
                        format!("{pad}{cell}")
                    } else {
                        format!("{cell}{pad}")
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(
            &"-".repeat(widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)),
        );
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// CSV with a header line (RFC 4180 quoting by the `csv` crate).
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| Error::from(e).context("writing CSV");
        w.write_record(&self.headers).map_err(csv_err)?;
        for row in &self.rows {
            w.write_record(row).map_err(csv_err)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::from(e.into_error()).context("writing CSV"))?;
        String::from_utf8(bytes).map_err(|e| Error::other(format!("writing CSV: {e}")))
    }

    /// One JSON object per row, keyed by column name.
    pub fn to_json(&self) -> serde_json::Value {
        self.rows
            .iter()
            .map(|row| {
                self.headers
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned().map(serde_json::Value::String))
                    .collect::<serde_json::Map<_, _>>()
            })
            .map(serde_json::Value::Object)
            .collect()
    }
}

/// A cell that reads as a number: empty, a dash (no value), or a number
/// optionally followed by `± spread` or a unit-free suffix such as `%`.
fn is_number_like(cell: &str) -> bool {
    let cell = cell.trim();
    if cell.is_empty() || cell == "-" || cell == "—" {
        return true;
    }
    let number = |s: &str| s.trim_end_matches('%').parse::<f64>().is_ok();
    match cell.split_once('±') {
        Some((value, spread)) => number(value.trim()) && number(spread.trim()),
        None => number(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(vec!["model".into(), "params".into(), "rmse".into()]);
        t.push(vec![
            "mf".into(),
            "factors=100".into(),
            "0.9412 ± 0.0031".into(),
        ]);
        t.push(vec!["biases, als".into(), "".into(), "0.95".into()]);
        t
    }

    #[test]
    fn text_aligns_columns_by_characters() {
        let text = sample().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "model        params                  rmse");
        assert_eq!(lines[2], "mf           factors=100  0.9412 ± 0.0031");
        assert_eq!(lines[3], "biases, als                          0.95");
    }

    #[test]
    fn csv_quotes_and_json_keys_by_header() {
        let t = sample();
        assert_eq!(
            t.to_csv().unwrap(),
            "model,params,rmse\nmf,factors=100,0.9412 ± 0.0031\n\"biases, als\",,0.95\n"
        );
        assert_eq!(t.to_json()[1]["model"], "biases, als");
    }

    #[test]
    fn text_columns_align_left_and_number_columns_right() {
        let mut t = Table::new(vec![
            "#".into(),
            "item".into(),
            "predicted".into(),
            "title".into(),
        ]);
        t.push(vec![
            "1".into(),
            "318".into(),
            "5.00".into(),
            "Shawshank (1994)".into(),
        ]);
        t.push(vec![
            "10".into(),
            "B00X".into(),
            "4.50".into(),
            "Up (2009)".into(),
        ]);
        let text = t.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#   item  predicted  title");
        assert_eq!(lines[2], "1   318        5.00  Shawshank (1994)");
        assert_eq!(lines[3], "10  B00X       4.50  Up (2009)");
        assert!(is_number_like("0.9412 ± 0.0031") && is_number_like("12%"));
        assert!(!is_number_like("factors=100") && !is_number_like("2001: A Space Odyssey"));
    }
}
