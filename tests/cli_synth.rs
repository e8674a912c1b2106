//! `aerec synth` from the command line: files, JSON, repeatability, and a
//! clear message and exit code for each bad argument.

use assert_cmd::Command;
use predicates::str::contains;

fn aerec() -> Command {
    Command::cargo_bin("aerec").unwrap()
}

fn last_json(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn custom_shape_writes_train_and_test_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = aerec()
        .args([
            "synth",
            "--shape",
            "custom",
            "--users",
            "30",
            "--items",
            "20",
            "--ratings",
            "200",
        ])
        .args(["--test-fraction", "0.3", "--json", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let json = last_json(&out.get_output().stdout);
    assert_eq!(json["ratings"], 200);
    assert_eq!(
        (json["users"].as_u64(), json["items"].as_u64()),
        (Some(30), Some(20))
    );
    let (train, test) = (
        json["train_ratings"].as_u64().unwrap(),
        json["test_ratings"].as_u64().unwrap(),
    );
    assert_eq!(train + test, 200);
    assert!(json["seconds"].as_f64().unwrap() >= 0.0);
    let train_text = std::fs::read_to_string(dir.path().join("train.csv")).unwrap();
    assert!(train_text.starts_with("user,item,rating,timestamp\n"));
    assert_eq!(train_text.lines().count() as u64, train + 1);
    assert_eq!(
        json["train"].as_str().unwrap(),
        dir.path().join("train.csv").to_str().unwrap()
    );
}

#[test]
fn same_seed_same_files_other_seed_other_files() {
    let run = |seed: &str| {
        let dir = tempfile::tempdir().unwrap();
        aerec()
            .args([
                "synth",
                "--shape",
                "custom",
                "--users",
                "40",
                "--items",
                "25",
                "--ratings",
                "300",
                "-q",
            ])
            .args(["--seed", seed, "--out"])
            .arg(dir.path())
            .assert()
            .success();
        std::fs::read(dir.path().join("train.csv")).unwrap()
    };
    assert_eq!(run("4"), run("4"));
    assert_ne!(run("4"), run("5"));
}

#[test]
fn custom_shape_needs_all_three_sizes() {
    let dir = tempfile::tempdir().unwrap();
    aerec()
        .args(["synth", "--shape", "custom", "--users", "30", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains(
            "--shape custom needs --users, --items and --ratings",
        ));
}

#[test]
fn named_shapes_refuse_sizes() {
    let dir = tempfile::tempdir().unwrap();
    aerec()
        .args(["synth", "--shape", "ml1m", "--users", "30", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("--shape ml1m has its own sizes"));
}

#[test]
fn unknown_shape_is_a_usage_error() {
    aerec()
        .args(["synth", "--shape", "ml2m", "--out", "x"])
        .assert()
        .code(2)
        .stderr(contains("ml2m"));
}

#[test]
fn impossible_sizes_and_fractions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    aerec()
        .args([
            "synth",
            "--shape",
            "custom",
            "--users",
            "100",
            "--items",
            "10",
            "--ratings",
            "50",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("too few ratings"));
    aerec()
        .args([
            "synth",
            "--shape",
            "custom",
            "--users",
            "10",
            "--items",
            "10",
            "--ratings",
            "20",
        ])
        .args(["--test-fraction", "1.5", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("test fraction 1.5"));
}

#[test]
fn an_out_path_that_is_a_file_names_it() {
    let file = tempfile::NamedTempFile::new().unwrap();
    aerec()
        .args([
            "synth",
            "--shape",
            "custom",
            "--users",
            "10",
            "--items",
            "10",
            "--ratings",
            "20",
            "--out",
        ])
        .arg(file.path())
        .assert()
        .code(1)
        .stderr(contains(file.path().to_str().unwrap()));
}

#[test]
fn files_do_not_depend_on_the_thread_count() {
    let run = |threads: &str| {
        let dir = tempfile::tempdir().unwrap();
        aerec()
            .args([
                "synth", "--shape", "custom", "--users", "5000", "--items", "300",
            ])
            .args(["--ratings", "40000", "-q", "--threads", threads, "--out"])
            .arg(dir.path())
            .assert()
            .success();
        let read = |name| std::fs::read(dir.path().join(name)).unwrap();
        (read("train.csv"), read("test.csv"))
    };
    assert!(
        run("1") == run("2"),
        "1 and 2 threads wrote different files"
    );
}
