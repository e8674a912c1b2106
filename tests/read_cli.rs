//! `aerec stats` end to end: the embedded set, a file, and every bad-input
//! case (message names file, line and text; non-zero exit; no panic).

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn aerec() -> Command {
    Command::cargo_bin("aerec").unwrap()
}

fn file(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn last_json(out: &[u8]) -> serde_json::Value {
    let text = String::from_utf8(out.to_vec()).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn stats_of_the_embedded_set_as_json() {
    let out = aerec()
        .args(["stats", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let j = last_json(&out);
    // ../shared/data/README.md: 610 users, 9,724 items, 100,836 ratings; the ratings
    // sum to 353,083 (pandas `rating.sum()`), so the mean is 353,083 / 100,836.
    assert_eq!(
        (
            j["users"].as_u64(),
            j["items"].as_u64(),
            j["ratings"].as_u64()
        ),
        (Some(610), Some(9_724), Some(100_836))
    );
    let density = j["density"].as_f64().unwrap();
    assert!((density - 100_836.0 / (610.0 * 9_724.0)).abs() < 1e-12);
    assert!(
        (j["mean"].as_f64().unwrap() - 3.501_556_983).abs() < 1e-6,
        "{}",
        j["mean"]
    );
}

#[test]
fn stats_human_table_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(&dir, "r.csv", b"u,i,r\na,x,4\na,y,2\nb,x,3\n");
    aerec().args(["stats", &f]).assert().success().stdout(
        contains("users")
            .and(contains("density"))
            .and(contains("0.750000")),
    );
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let assert = aerec().args(args).assert().failure().code(1);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} lacks {n:?}");
    }
}

#[test]
fn malformed_line_names_file_line_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(&dir, "bad.csv", b"user,item,rating\na,x,4\nb,y\nc,z,5\n");
    fails_with(
        &["stats", &f],
        &["bad.csv", "line 3", "\"b,y\"", "expected 3 fields, found 2"],
    );
}

#[test]
fn skip_bad_lines_counts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(
        &dir,
        "bad.csv",
        b"user,item,rating\na,x,4\nb,y\nc,z,NaN\nc,x,5\n",
    );
    let assert = aerec()
        .args(["stats", &f, "--skip-bad-lines", "--json"])
        .assert()
        .success();
    let out = assert.get_output();
    assert_eq!(last_json(&out.stdout)["ratings"], 2);
    assert_eq!(last_json(&out.stdout)["skipped"], 2);
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains("skipped 2 bad line(s)") && err.contains("line 3") && err.contains("line 4"),
        "{err}"
    );
}

#[test]
fn empty_missing_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let empty = file(&dir, "empty.csv", b"");
    fails_with(&["stats", &empty], &["empty.csv", "empty file"]);
    let header_only = file(&dir, "h.csv", b"userId,movieId,rating,timestamp\r\n");
    fails_with(&["stats", &header_only], &["h.csv", "no ratings"]);
    let missing = dir.path().join("nope.csv");
    fails_with(
        &["stats", missing.to_str().unwrap()],
        &["nope.csv", "No such file"],
    );
    fails_with(
        &["stats", dir.path().to_str().unwrap()],
        &["is a directory"],
    );
}

#[test]
fn non_numeric_nan_inf_and_out_of_scale_ratings() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(&dir, "word.csv", b"a,x,4\nb,x,four\n");
    fails_with(
        &["stats", &f],
        &["word.csv", "line 2", "rating is not a number", "b,x,four"],
    );
    let f = file(&dir, "nan.csv", b"a,x,4\nb,x,NaN\n");
    fails_with(
        &["stats", &f],
        &["nan.csv", "line 2", "not a finite number", "b,x,NaN"],
    );
    let f = file(&dir, "inf.dat", b"1::2::inf::0\n");
    fails_with(
        &["stats", &f],
        &["inf.dat", "line 1", "not a finite number"],
    );
    let f = file(&dir, "scale.csv", b"a,x,4\nb,x,6\n");
    fails_with(
        &["stats", &f, "--scale", "1:5"],
        &[
            "scale.csv",
            "line 2",
            "outside the declared scale 1..5",
            "b,x,6",
        ],
    );
}

#[test]
fn duplicate_pair_is_an_error_unless_a_policy_is_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let f = file(&dir, "dup.csv", b"a,x,4\nb,x,1\na,x,2\n");
    fails_with(
        &["stats", &f],
        &["dup.csv", "line 3", "duplicate", "--duplicates"],
    );
    let out = aerec()
        .args(["stats", &f, "--duplicates", "mean", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(last_json(&out)["ratings"], 2);
    assert_eq!(last_json(&out)["max"], 3.0);
}

#[test]
fn bad_flags_are_usage_errors() {
    aerec()
        .args(["stats", "--format", "orc"])
        .assert()
        .failure()
        .code(2);
    aerec()
        .args(["stats", "--scale", "5:1"])
        .assert()
        .failure()
        .code(2);
}
