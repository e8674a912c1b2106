//! Shared helpers of the baseline, metric and experiment tests and the
//! baseline examples: small rating tables and the canonical ML-100K u1 split.
#![allow(dead_code)]

use std::sync::Arc;

use aerec::data::{IdMap, Ratings};

/// Ratings from (user, item, rating) triples of original ids, ids interned in first-seen order.
pub fn ratings(triples: &[(&str, &str, f32)]) -> Ratings {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for &(uid, iid, r) in triples {
        u.push(users.intern(uid));
        i.push(items.intern(iid));
        v.push(r);
    }
    Ratings {
        users: u,
        items: i,
        values: v,
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    }
}

/// Ratings of a dense matrix where 0 means unrated; user `r` and item `c` get ids `"r"`, `"c"`
/// and indices `r`, `c` (every row and column is interned in order, rated or not).
pub fn from_dense(m: &[&[f32]]) -> Ratings {
    let n_items = m.first().map_or(0, |r| r.len());
    let users = IdMap::from_ids((0..m.len()).map(|r| r.to_string()).collect()).unwrap();
    let items = IdMap::from_ids((0..n_items).map(|c| c.to_string()).collect()).unwrap();
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for (r, row) in m.iter().enumerate() {
        for (c, &x) in row.iter().enumerate() {
            if x != 0.0 {
                u.push(r as u32);
                i.push(c as u32);
                v.push(x);
            }
        }
    }
    Ratings {
        users: u,
        items: i,
        values: v,
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    }
}

/// The shared data directory.
pub fn data_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
}

/// ML-100K's u1 split, built as its README says: u1.test is lines 1..=20000
/// of `u.data` in file order, u1.base the rest. One index space for both.
/// `None` (with a note on stderr) when the data is absent.
pub fn ml100k_u1() -> Option<(Ratings, Ratings)> {
    let path = data_dir().join("ml-100k/u.data");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is absent", path.display());
        return None;
    };
    let triples: Vec<(&str, &str, f32)> = text
        .lines()
        .map(|line| {
            let mut f = line.split('\t');
            let (u, i, r) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (u, i, r.parse().unwrap())
        })
        .collect();
    let all = ratings(&triples);
    let test: Vec<usize> = (0..20_000).collect();
    let train: Vec<usize> = (20_000..all.len()).collect();
    Some((all.select(&train), all.select(&test)))
}
