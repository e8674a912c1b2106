//! Reading speed on a large rating CSV: read + id maps + CSR by user.
//!
//! `cargo bench --bench read_ml20m -- PATH` prints one JSON line with the
//! seconds, MB/s and peak RSS. `bench/read_vs_pandas.py` makes the 20M-rating
//! ML-20M-shaped file and runs this next to pandas. Without a path (as under
//! `cargo test --all-targets`) it says how to run it and exits.
//! `AEREC_BENCH_TIMESTAMPS=0` drops the timestamp column (8 bytes a rating).
//! The matrix takes over the table's columns ([`Ratings::into_by_user`]);
//! `AEREC_BENCH_KEEP_TABLE=1` keeps the table and copies them
//! ([`Ratings::by_user`]).

use std::time::Instant;

use aerec::data::read::{read_ratings, ReadOptions};
#[allow(unused_imports)] // named by the doc links above
use aerec::data::Ratings;

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench read_ml20m -- PATH (see bench/read_vs_pandas.py)");
        return;
    };
    let keep_time = std::env::var("AEREC_BENCH_TIMESTAMPS").map_or(true, |v| v != "0");
    let keep_table = std::env::var("AEREC_BENCH_KEEP_TABLE").is_ok_and(|v| v == "1");
    let bytes = std::fs::metadata(&path).expect("bench input exists").len();
    let start = Instant::now();
    let out =
        read_ratings(&path, &ReadOptions::new().timestamps(keep_time)).expect("bench input reads");
    let read_s = start.elapsed().as_secs_f64();
    let (users, items) = (out.ratings.n_users(), out.ratings.n_items());
    let (csr, table) = if keep_table {
        (out.ratings.by_user(), Some(out.ratings))
    } else {
        (out.ratings.into_by_user(), None)
    };
    let seconds = start.elapsed().as_secs_f64();
    assert!(table.is_none_or(|t| t.len() == csr.nnz()));
    let json = serde_json::json!({
        "file": path,
        "bytes": bytes,
        "ratings": csr.nnz(),
        "users": users,
        "items": items,
        "timestamps": keep_time,
        "table_kept": keep_table,
        "threads": rayon::current_num_threads(),
        "read_seconds": read_s,
        "seconds": seconds,
        "mb_per_s": bytes as f64 / 1e6 / seconds,
        "peak_rss_bytes": peak_rss(),
    });
    println!("{json}");
}
