//! Distributed reading (issue 18): N ranks (threads of a `ThreadGroup`)
//! read one file together, each its own byte range or row groups, then
//! agree on ids and exchange rows. Whatever N and wherever the ranges cut,
//! the union of the ranks' rows is exactly the single-process table (row
//! for row, same id maps, same counts and scale), every row lies on its
//! owner, and an error is the single read's, naming the same line, on
//! every rank.

use std::path::Path;
use std::sync::Arc;

use aerec::collective::ThreadGroup;
use aerec::data::read::{
    embedded, read_distributed, read_ratings, DistributedRead, Duplicates, ReadOptions, RowsBy,
};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// Reads `path` on `ranks` thread-ranks.
fn distributed(
    path: &Path,
    opts: &ReadOptions,
    by: RowsBy,
    ranks: usize,
) -> Vec<aerec::Result<DistributedRead>> {
    ThreadGroup::run(ranks, 1, |comm| read_distributed(path, opts, by, &*comm))
}

/// Checks that `ranks` ranks reproduce the single read of `path`, rows
/// dealt by user and by item.
fn same_as_single(path: &Path, opts: &ReadOptions, ranks: usize) {
    let single = read_ratings(path, opts).unwrap();
    let want = &single.ratings;
    for by in [RowsBy::User, RowsBy::Item] {
        let parts: Vec<DistributedRead> = distributed(path, opts, by, ranks)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let mut seen = vec![false; want.len()];
        for (rank, part) in parts.iter().enumerate() {
            let what = format!("{} ranks by {by:?}, rank {rank}", ranks);
            let got = &part.outcome;
            assert_eq!(part.total as usize, want.len(), "{what}");
            assert_eq!(got.ratings.user_ids.ids(), want.user_ids.ids(), "{what}");
            assert_eq!(got.ratings.item_ids.ids(), want.item_ids.ids(), "{what}");
            assert_eq!(
                (got.format, got.skipped, got.duplicates_merged, got.scale),
                (
                    single.format,
                    single.skipped,
                    single.duplicates_merged,
                    single.scale
                ),
                "{what}"
            );
            assert_eq!(got.skipped_examples, single.skipped_examples, "{what}");
            assert_eq!(part.rows.len(), got.ratings.len(), "{what}");
            assert!(
                part.rows.windows(2).all(|w| w[0] < w[1]),
                "{what}: rows in file order"
            );
            for (k, &row) in part.rows.iter().enumerate() {
                let row = row as usize;
                assert!(
                    !std::mem::replace(&mut seen[row], true),
                    "{what}: row {row} twice"
                );
                let r = &got.ratings;
                assert_eq!(by.owner(r.users[k], r.items[k], ranks), rank, "{what}");
                assert_eq!(
                    (r.users[k], r.items[k], r.values[k].to_bits()),
                    (want.users[row], want.items[row], want.values[row].to_bits()),
                    "{what}: row {row}"
                );
                assert_eq!(
                    r.timestamps.as_ref().map(|t| t[k]),
                    want.timestamps.as_ref().map(|t| t[row]),
                    "{what}: row {row}"
                );
            }
        }
        assert!(
            seen.iter().all(|&s| s),
            "{ranks} ranks by {by:?}: a row is missing"
        );
    }
}

/// Checks that every one of `ranks` ranks fails with the single read's error.
fn same_error(path: &Path, opts: &ReadOptions, ranks: usize) -> String {
    let want = read_ratings(path, opts).unwrap_err().to_string();
    for (rank, got) in distributed(path, opts, RowsBy::User, ranks)
        .into_iter()
        .enumerate()
    {
        let got = got.unwrap_err().to_string();
        assert_eq!(got, want, "{ranks} ranks, rank {rank}");
    }
    want
}

fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `n` lines of string ids (ids repeat across the file, so ranks meet ids
/// that earlier ranks saw first), with `line_end`.
fn lines(n: usize, line_end: &str) -> String {
    (0..n)
        .map(|k| {
            format!(
                "u{},i{},{},{}{line_end}",
                (k * 7) % 11,
                (k * 5) % 13 + k / 13,
                1 + k % 5,
                1000 + k
            )
        })
        .collect()
}

#[test]
fn every_rank_count_gives_the_single_table_whatever_the_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("lf", lines(60, "\n")),
        (
            "crlf-header",
            format!("user,item,rating,ts\r\n{}", lines(60, "\r\n")),
        ),
        ("no-final-newline", lines(40, "\n").trim_end().to_string()),
        ("blank-lines", lines(30, "\n").replacen("\n", "\n\n", 3)),
    ];
    for (name, text) in &cases {
        let path = file(dir.path(), &format!("{name}.csv"), text);
        for ranks in 1..=4 {
            same_as_single(&path, &ReadOptions::new().skip_bad_lines(true), ranks);
        }
    }
}

#[test]
fn a_file_of_fewer_lines_than_ranks_leaves_some_ranks_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "two.csv", "user,item,rating\na,x,4\nb,y,3\n");
    for ranks in 1..=4 {
        same_as_single(&path, &ReadOptions::new(), ranks);
    }
    // A header longer than a rank's share: the ranks after it start past it.
    let long = format!("{},item,rating\na,x,4\n", "user".repeat(20));
    let path = file(dir.path(), "long-header.csv", &long);
    for ranks in 1..=4 {
        same_as_single(
            &path,
            &ReadOptions::new().header(aerec::data::read::Header::Yes),
            ranks,
        );
    }
    let path = file(dir.path(), "header-only.csv", "user,item,rating\n");
    let message = same_error(&path, &ReadOptions::new(), 3);
    assert!(message.contains("empty file"), "{message}");
}

#[test]
fn a_bad_line_in_a_later_rank_is_named_as_one_process_names_it() {
    let dir = tempfile::tempdir().unwrap();
    // 40 lines; line 31 (third quarter of the bytes: rank 2 of 4) is bad.
    let mut rows: Vec<String> = lines(40, "\n").lines().map(String::from).collect();
    rows[30] = "u1,i2,oops,5".into();
    let path = file(dir.path(), "bad.csv", &(rows.join("\n") + "\n"));
    for ranks in 1..=4 {
        let message = same_error(&path, &ReadOptions::new(), ranks);
        assert!(message.contains("line 31"), "{message}");
    }
    // Two bad lines in different ranks: the earlier one is reported.
    rows[5] = "u1,,3,5".into();
    let path = file(dir.path(), "bad2.csv", &(rows.join("\n") + "\n"));
    let message = same_error(&path, &ReadOptions::new(), 4);
    assert!(message.contains("line 6"), "{message}");
    // Skipped instead: counts and examples as one process sees them.
    for ranks in 1..=4 {
        same_as_single(&path, &ReadOptions::new().skip_bad_lines(true), ranks);
    }
}

#[test]
fn duplicates_across_ranks_are_found_and_merged_as_one_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = lines(40, "\n");
    // Line 41 repeats line 2's pair (ranges of 2+ ranks put them apart),
    // line 42 line 1's, with other values.
    let mut first = text
        .lines()
        .take(2)
        .map(|l| l.to_string())
        .collect::<Vec<_>>();
    first[0] = first[0].replacen(",1,", ",5,", 1);
    text.push_str(&format!("{}\n{}\n", first[1], first[0]));
    let path = file(dir.path(), "dup.csv", &text);
    for ranks in 1..=4 {
        let message = same_error(&path, &ReadOptions::new(), ranks);
        assert!(message.contains("line 41"), "{message}");
    }
    for policy in [Duplicates::KeepLast, Duplicates::Mean] {
        for ranks in 1..=4 {
            same_as_single(&path, &ReadOptions::new().duplicates(policy), ranks);
        }
    }
}

#[test]
fn ml_latest_small_reads_alike_on_one_to_four_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.csv");
    std::fs::write(&path, embedded::RATINGS_CSV).unwrap();
    for ranks in [1, 2, 4] {
        same_as_single(&path, &ReadOptions::new(), ranks);
    }
}

/// The first `n` ratings of the embedded set as Parquet, in row groups of
/// `group_rows`, with string user ids.
fn parquet_file(path: &Path, n: usize, group_rows: usize, repeat_first_at_end: bool) {
    let text = std::str::from_utf8(embedded::RATINGS_CSV).unwrap();
    let mut rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .take(n)
        .map(|l| l.trim_end().split(',').collect())
        .collect();
    if repeat_first_at_end {
        rows.push(rows[0].clone());
    }
    let users: Vec<String> = rows.iter().map(|r| format!("user{}", r[0])).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("user_id", Arc::new(StringArray::from(users))),
        (
            "movieId",
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| r[1].parse::<i64>().unwrap())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "rating",
            Arc::new(Float64Array::from(
                rows.iter()
                    .map(|r| r[2].parse::<f64>().unwrap())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "timestamp",
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| r[3].parse::<i64>().unwrap())
                    .collect::<Vec<_>>(),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_row_groups_are_shared_out_and_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.parquet");
    // Five row groups of 2,000 rows: 4 ranks take 2, 1, 1, 1; six ranks
    // leave one empty.
    parquet_file(&path, 10_000, 2_000, false);
    for ranks in [1, 2, 3, 4, 6] {
        same_as_single(&path, &ReadOptions::new(), ranks);
    }
    // The repeated pair lies in the last row group, its first in the first.
    let dup = dir.path().join("dup.parquet");
    parquet_file(&dup, 10_000, 2_000, true);
    for ranks in [1, 3] {
        let message = same_error(&dup, &ReadOptions::new(), ranks);
        assert!(message.contains("row group 5, row 0"), "{message}");
    }
    same_as_single(
        &dup,
        &ReadOptions::new().duplicates(Duplicates::KeepLast),
        3,
    );
}

/// Asserts two tables are the same rows in the same order.
fn same_rows(got: &aerec::Ratings, want: &aerec::Ratings, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    assert_eq!(got.users, want.users, "{what}");
    assert_eq!(got.items, want.items, "{what}");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got.values), bits(&want.values), "{what}");
    assert_eq!(got.timestamps, want.timestamps, "{what}");
    assert_eq!(got.user_ids.ids(), want.user_ids.ids(), "{what}");
}

#[test]
fn splits_of_a_table_read_in_parts_are_the_single_process_splits() {
    use aerec::data::split::{
        gather_part, split, split_distributed, ColdStart, Input, SplitConfig, SplitMethod,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.csv");
    std::fs::write(&path, embedded::RATINGS_CSV).unwrap();
    let opts = ReadOptions::new();
    let whole = Input::Whole(read_ratings(&path, &opts).unwrap().ratings);
    let configs = [
        SplitConfig::default(),
        SplitConfig {
            valid_fraction: Some(0.1),
            cold_start: ColdStart::Drop,
            seed: 7,
            ..Default::default()
        },
        SplitConfig {
            method: SplitMethod::KFold,
            fold: 3,
            valid_fraction: Some(0.05),
            ..Default::default()
        },
        SplitConfig {
            method: SplitMethod::Time,
            time_quantile: 0.9,
            cold_start: ColdStart::Drop,
            ..Default::default()
        },
        SplitConfig {
            method: SplitMethod::None,
            ..Default::default()
        },
        SplitConfig {
            method: SplitMethod::User,
            test_fraction: 0.2,
            valid_fraction: Some(0.1),
            valid_method: aerec::data::split::ValidMethod::User,
            seed: 5,
            ..Default::default()
        },
        SplitConfig {
            method: SplitMethod::UserTime,
            valid_fraction: Some(0.1),
            ..Default::default()
        },
    ];
    for config in &configs {
        let want = split(&whole, config).unwrap();
        for ranks in [1, 3] {
            let what = format!("{:?} on {ranks} ranks", config.method);
            let got = ThreadGroup::run(ranks, 1, |comm| {
                let read = read_distributed(&path, &opts, RowsBy::User, &*comm)?;
                let s = split_distributed(
                    &read.outcome.ratings,
                    &read.rows,
                    read.total,
                    config,
                    &*comm,
                )?;
                let train = gather_part(&*comm, &s.train, None)?.unwrap();
                let test = gather_part(&*comm, &s.test, Some(0))?;
                let valid = match &s.valid {
                    Some(v) => gather_part(&*comm, v, None)?,
                    None => None,
                };
                Ok((train, test, valid, s.cold, s.valid_cold))
            });
            for (rank, out) in got.into_iter().enumerate() {
                let (train, test, valid, cold, valid_cold) = out.unwrap();
                same_rows(
                    &train,
                    &want.train,
                    &format!("{what}: train on rank {rank}"),
                );
                match test {
                    Some(t) => same_rows(&t, &want.test, &format!("{what}: test")),
                    None => assert_ne!(rank, 0, "{what}"),
                }
                assert_eq!(valid.is_some(), want.valid.is_some(), "{what}");
                if let (Some(v), Some(w)) = (&valid, &want.valid) {
                    same_rows(v, w, &format!("{what}: validation on rank {rank}"));
                }
                assert_eq!((cold, valid_cold), (want.cold, want.valid_cold), "{what}");
            }
        }
    }
    // Per-user splits need the rows dealt by user; ml100k-uN is refused
    // with the reason, on every rank.
    let config = SplitConfig {
        method: SplitMethod::User,
        ..Default::default()
    };
    for out in ThreadGroup::run(2, 1, |comm| {
        let read = read_distributed(&path, &opts, RowsBy::Item, &*comm)?;
        split_distributed(
            &read.outcome.ratings,
            &read.rows,
            read.total,
            &config,
            &*comm,
        )
    }) {
        let message = out.unwrap_err().to_string();
        assert!(message.contains("dealt by user"), "{message}");
    }
    let config = SplitConfig {
        method: SplitMethod::Ml100k(1),
        ..Default::default()
    };
    for out in ThreadGroup::run(2, 1, |comm| {
        let read = read_distributed(&path, &opts, RowsBy::User, &*comm)?;
        split_distributed(
            &read.outcome.ratings,
            &read.rows,
            read.total,
            &config,
            &*comm,
        )
    }) {
        let message = out.unwrap_err().to_string();
        assert!(
            message.contains("split method ml100k-u1 cannot split a table read in parts"),
            "{message}"
        );
    }
}

/// Runs the `aerec` binary; returns success, stdout and stderr.
fn aerec(args: &[&str]) -> (bool, String, String) {
    use assert_cmd::cargo::CommandCargoExt;
    let out = std::process::Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn train_with_distributed_read_fits_the_model_one_whole_read_fits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ratings.csv");
    std::fs::write(&data, embedded::RATINGS_CSV).unwrap();
    let data = data.to_str().unwrap();
    let run = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "--threads",
            "1",
            "train",
            "--data",
            data,
            "--model",
            "biases",
            "--valid-fraction",
            "0.1",
            "--seed",
            "3",
            "--json",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = aerec(&args);
        assert!(ok, "{stderr}");
        let line = stdout.trim().lines().last().unwrap().to_string();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        (json, aerec::persist::load(&out).unwrap())
    };
    let (whole, whole_model) = run(&[], "whole.aerec");
    let (parts, parts_model) = run(&["--distributed-read"], "parts.aerec");
    for key in [
        "train_ratings",
        "test_ratings",
        "test_rmse",
        "valid_rmse",
        "cold_start_test",
    ] {
        assert_eq!(whole[key], parts[key], "{key}");
    }
    assert_eq!(whole_model.user_ids.ids(), parts_model.user_ids.ids());
    assert_eq!(whole_model.item_ids.ids(), parts_model.item_ids.ids());
    assert_eq!(whole_model.train.indices, parts_model.train.indices);
    assert_eq!(whole_model.fallback, parts_model.fallback);
    // What parts cannot do yet is refused, with the reason.
    let (ok, _, stderr) = aerec(&[
        "train",
        "--data",
        data,
        "--model",
        "biases",
        "--distributed-read",
        "--min-user-ratings",
        "5",
    ]);
    assert!(!ok && stderr.contains("activity filters"), "{stderr}");
    let (ok, _, stderr) = aerec(&[
        "train",
        "--data",
        data,
        "--model",
        "biases",
        "--distributed-read",
        "--method",
        "ml100k-u1",
    ]);
    assert!(
        !ok && stderr.contains("split method ml100k-u1 cannot split"),
        "{stderr}"
    );
}
