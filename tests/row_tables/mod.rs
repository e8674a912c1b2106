//! Helpers shared by the data tests (splits, synthetic sets, the shared
//! MovieLens files): build `Ratings` from rows, read the shared data sets
//! without the readers, and flatten parts for comparison.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use aerec::{IdMap, Ratings};

/// One rating with original ids: (user, item, value, timestamp).
pub type Row = (String, String, f32, i64);

/// A `Ratings` table from rows, ids interned in first-seen order.
pub fn ratings(rows: &[Row]) -> Ratings {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (u, i) = rows
        .iter()
        .map(|r| (users.intern(&r.0), items.intern(&r.1)))
        .unzip();
    Ratings {
        users: u,
        items: i,
        values: rows.iter().map(|r| r.2).collect(),
        timestamps: Some(rows.iter().map(|r| r.3).collect()),
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    }
}

/// The rows of a part, with original ids, in order.
pub fn rows(r: &Ratings) -> Vec<Row> {
    (0..r.len())
        .map(|k| {
            (
                r.user_ids.id(r.users[k]).to_string(),
                r.item_ids.id(r.items[k]).to_string(),
                r.values[k],
                r.timestamps.as_ref().map_or(0, |t| t[k]),
            )
        })
        .collect()
}

/// `../shared/data/<name>`, or `None` (with the reason printed) when absent.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")).join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} is absent", path.display());
        None
    }
}

/// Rows of a delimited rating file (user, item, rating, timestamp), in file
/// order; `header` lines skipped, CR stripped. Only for the shared files,
/// whose format the data README states.
pub fn read_rows(path: &std::path::Path, delimiter: char, header: bool) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(header as usize)
        .map(|line| {
            let f: Vec<&str> = line.trim_end_matches('\r').split(delimiter).collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}
