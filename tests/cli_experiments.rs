//! The experiment commands as a user runs them: `aerec compare` (k-fold
//! table, CSV, bar chart), `aerec tune` (best config written as TOML that
//! `train --config` reads back), and `aerec eval` on a saved model (the same
//! numbers `train` reported on the same test file).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// Runs the binary; returns (success, stdout, stderr).
fn aerec(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON object on the last line of a `--json` run's stdout.
fn last_json(stdout: &str) -> Value {
    let line = stdout.lines().last().expect("no stdout");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line not JSON ({e}): {line}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Ratings with strong user and item effects (so biases must beat the global
/// mean) in MovieLens `ratings.csv` form: 80 users × 50 items, ~40 % filled.
/// A small LCG keeps it deterministic without a dependency.
fn ratings_csv(seed: u64) -> String {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let user_bias: Vec<f64> = (0..80).map(|_| next() * 2.0 - 1.0).collect();
    let item_bias: Vec<f64> = (0..50).map(|_| next() * 2.0 - 1.0).collect();
    let mut csv = String::from("userId,movieId,rating,timestamp\n");
    for (u, bu) in user_bias.iter().enumerate() {
        for (i, bi) in item_bias.iter().enumerate() {
            if next() < 0.4 {
                let r = (3.3 + bu + bi + 0.3 * (next() - 0.5))
                    .round()
                    .clamp(1.0, 5.0);
                writeln!(csv, "{},{},{r},{}", u + 1, i + 1, 1_000_000 + u * 50 + i).unwrap();
            }
        }
    }
    csv
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn compare_runs_every_model_on_every_fold_and_writes_table_csv_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "ratings.csv", &ratings_csv(1));
    let config = write(
        dir.path(),
        "exp.toml",
        r#"
[[models]]
name = "mean"
model = "mean"

[[models]]
name = "biases"
model = "biases"

[[models]]
name = "tiny autorec"
preset = "autorec"
layers = [8]
epochs = 2
"#,
    );
    let csv = dir.path().join("cmp.csv");
    let plot = dir.path().join("cmp.png");
    let (ok, out, err) = aerec(&[
        "compare",
        "--config",
        path_str(&config),
        "--data",
        path_str(&data),
        "--folds",
        "2",
        "--seed",
        "3",
        "--csv",
        path_str(&csv),
        "--plot",
        path_str(&plot),
        "--json",
    ]);
    assert!(ok, "compare failed: {err}");
    // The human table comes before the JSON line and names every model.
    for name in ["mean", "biases", "tiny autorec"] {
        assert!(out.contains(name), "table lacks {name}:\n{out}");
    }
    let json = last_json(&out);
    assert_eq!(json["folds"], 2);
    let models = json["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    let rmse_of = |name: &str| -> f64 {
        let m = models.iter().find(|m| m["name"] == name).unwrap();
        let s = m.to_string();
        // Each model reports one result per fold and the mean over them.
        assert_eq!(m["folds"].as_array().unwrap().len(), 2, "{s}");
        m["summary"]["test_rmse"]["mean"]
            .as_f64()
            .unwrap_or_else(|| panic!("no summary.test_rmse.mean in {s}"))
    };
    let (mean, biases) = (rmse_of("mean"), rmse_of("biases"));
    assert!(
        biases < mean - 0.1,
        "biases {biases} should beat the global mean {mean} on biased data"
    );
    // CSV: a header and one row per model.
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv_text.lines().count(), 4, "{csv_text}");
    assert!(csv_text.lines().nth(1).unwrap().starts_with("mean"));
    // The chart is a real PNG.
    let png = std::fs::read(&plot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn compare_with_a_bad_config_names_the_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "ratings.csv", &ratings_csv(2));
    let config = write(
        dir.path(),
        "bad.toml",
        "[[models]]\nname = \"x\"\nmodel = \"no-such-model\"\n",
    );
    let (ok, _, err) = aerec(&[
        "compare",
        "--config",
        path_str(&config),
        "--data",
        path_str(&data),
    ]);
    assert!(!ok);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("no-such-model"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn tune_writes_the_best_config_and_train_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "ratings.csv", &ratings_csv(3));
    let search = write(
        dir.path(),
        "search.toml",
        r#"
model = "biases"

[search]
reg_u = [0.0, 15.0, 500.0]
reg_i = [5.0, 500.0]
"#,
    );
    let best = dir.path().join("best.toml");
    let (ok, out, err) = aerec(&[
        "tune",
        "--config",
        path_str(&search),
        "--data",
        path_str(&data),
        "--seed",
        "5",
        "--out",
        path_str(&best),
        "--json",
    ]);
    assert!(ok, "tune failed: {err}");
    let json = last_json(&out);
    let trials = json["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6, "a 3 × 2 grid is six trials");
    // The reported best is the trial with the lowest validation RMSE.
    let lowest = trials
        .iter()
        .map(|t| t["valid_rmse"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(json["best_valid_rmse"].as_f64().unwrap(), lowest);
    // Damping every bias by 500 cannot win on data built from strong biases.
    assert_ne!(json["best"]["reg_i"].as_f64().unwrap(), 500.0);

    let toml_text = std::fs::read_to_string(&best).unwrap();
    assert!(toml_text.contains("biases"), "{toml_text}");
    let (ok, out, err) = aerec(&[
        "train",
        "--config",
        path_str(&best),
        "--data",
        path_str(&data),
        "--seed",
        "5",
        "--json",
    ]);
    assert!(ok, "train --config best.toml failed: {err}");
    let trained = last_json(&out);
    assert_eq!(trained["model"], "biases", "{trained}");
    assert!(trained["test_rmse"].as_f64().unwrap() < 0.8, "{trained}");
}

#[test]
fn eval_of_a_saved_model_matches_what_train_reported() {
    let dir = tempfile::tempdir().unwrap();
    let all = ratings_csv(4);
    // A pre-split pair of files: every 5th line to test.
    let mut lines = all.lines();
    let header = lines.next().unwrap();
    let (mut train, mut test) = (format!("{header}\n"), format!("{header}\n"));
    for (k, line) in lines.enumerate() {
        let target = if k % 5 == 0 { &mut test } else { &mut train };
        target.push_str(line);
        target.push('\n');
    }
    let train_file = write(dir.path(), "train.csv", &train);
    let test_file = write(dir.path(), "test.csv", &test);
    let model = dir.path().join("m.aerec");
    for (model_flags, layers) in [
        (["--model", "mf"], None),
        (["--model", "autoencoder"], Some("8")),
    ] {
        let mut args = vec![
            "train",
            "--train",
            path_str(&train_file),
            "--test",
            path_str(&test_file),
            "--epochs",
            "3",
            "--out",
            path_str(&model),
            "--json",
        ];
        args.extend(model_flags);
        if let Some(l) = layers {
            args.extend(["--layers", l]);
        }
        let (ok, out, err) = aerec(&args);
        assert!(ok, "train {model_flags:?} failed: {err}");
        let trained = last_json(&out);

        let (ok, out, err) = aerec(&[
            "eval",
            "--model",
            path_str(&model),
            "--test",
            path_str(&test_file),
            "--json",
        ]);
        assert!(ok, "eval failed: {err}");
        let evaluated = last_json(&out);
        for key in ["test_rmse", "test_mae"] {
            let (a, b) = (
                trained[key].as_f64().unwrap(),
                evaluated[key].as_f64().unwrap(),
            );
            assert!((a - b).abs() < 1e-6, "{key}: train said {a}, eval says {b}");
        }
        assert!(evaluated["ranking"].is_object(), "{evaluated}");
    }

    // A missing model file is an error that names it, not a panic.
    let missing = dir.path().join("nope.aerec");
    let (ok, _, err) = aerec(&[
        "eval",
        "--model",
        path_str(&missing),
        "--test",
        path_str(&test_file),
    ]);
    assert!(!ok);
    assert!(err.contains("nope.aerec"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn train_without_a_model_flag_runs_the_automatic_default_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "ratings.csv", &ratings_csv(4));
    let out_file = dir.path().join("auto.aerec");
    let (ok, out, err) = aerec(&[
        "train",
        "--data",
        path_str(&data),
        "--budget",
        "2",
        "--k",
        "0",
        "--out",
        path_str(&out_file),
        "--json",
    ]);
    assert!(ok, "train failed: {err}");
    assert!(err.contains("auto: validation = 5 %"), "{err}");
    let json = last_json(&out);
    let auto = &json["auto"];
    assert_eq!(auto["budget"], 2.0);
    let trials = auto["trials"].as_array().unwrap();
    let names: Vec<&str> = trials.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..3], ["biases", "svdpp", "mf"]);
    let winner = &trials[auto["winner"].as_u64().unwrap() as usize];
    // The reported validation RMSE is the saved winner's.
    let v = json["valid_rmse"].as_f64().unwrap();
    assert!((v - winner["valid_rmse"].as_f64().unwrap()).abs() < 1e-6);
    for t in trials {
        if let Some(r) = t["valid_rmse"].as_f64() {
            assert!(
                v <= r + 1e-12,
                "{} validates better than the winner",
                t["name"]
            );
        }
    }
    assert!(out_file.exists());
    // The human form prints the table of what was tried and why.
    let (ok, out, err) = aerec(&[
        "train",
        "--data",
        path_str(&data),
        "--budget",
        "1",
        "--k",
        "0",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("candidate") && out.contains("winner: "),
        "{out}"
    );
}

#[test]
fn budget_belongs_to_the_automatic_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "ratings.csv", &ratings_csv(5));
    let (ok, _, err) = aerec(&[
        "train",
        "--data",
        path_str(&data),
        "--model",
        "mf",
        "--budget",
        "5",
    ]);
    assert!(
        !ok && err.contains("--budget applies to the automatic default"),
        "{err}"
    );
    let (ok, _, err) = aerec(&["train", "--data", path_str(&data), "--budget=0"]);
    assert!(!ok && err.contains("budget"), "{err}");
}
