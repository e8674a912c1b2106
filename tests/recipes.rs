//! Every recipe of docs/recipes.md, run as the guide writes it (through the
//! `aerec` binary, or the library for the SVD assignment), on small data:
//! the Keras tutorial on `Atrain.npz`/`Atest.npz`, the Amazon Beauty
//! notebook on an Amazon-format CSV, each `examples/report-*.toml` of the
//! AutoRec / Deep AutoRec experiment report, the PyTorch report's time split
//! and model, and the SVD assignment. Fixtures: `tests/fixtures/recipes/`
//! (written by its `make_fixtures.py`). The ML-100K runs skip, saying why,
//! when `../shared/data/ml-100k` is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

#[path = "../examples/svd_assignment.rs"]
mod svd_assignment;

const REPORT_CONFIGS: [(&str, usize); 5] = [
    ("report-activations.toml", 9),
    ("report-default-rating.toml", 9),
    ("report-architectures.toml", 8),
    ("report-denoising.toml", 8),
    ("report-hybrid.toml", 2),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/recipes").join(name)
}

fn ml100k() -> Option<PathBuf> {
    let dir = root().join("../shared/data/ml-100k");
    if dir.join("u.data").is_file() && dir.join("u.user").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is absent (MovieLens 100K is not redistributed)",
            dir.display()
        );
        None
    }
}

/// Runs `aerec ARGS --json -q`, asserts success and returns the JSON line.
fn aerec_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .args(["--json", "-q"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aerec {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

/// Runs `aerec ARGS`, asserts failure and returns stderr.
fn aerec_fails(args: &[&str]) -> String {
    let out = Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "aerec {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn f64_of(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

#[test]
fn keras_tutorial_on_atrain_atest_npz() {
    let (train, test) = (fixture("Atrain.npz"), fixture("Atest.npz"));
    let base = ["train", "--train", s(&train), "--test", s(&test)];
    let tutorial = aerec_json(&[&base[..], &["--preset", "tutorial"]].concat());
    // make_fixtures.py: 600 ratings of 60 users, a shuffled 80/20 cut.
    assert_eq!(tutorial["train_ratings"], 480);
    assert_eq!(tutorial["test_ratings"], 120);
    assert_eq!(tutorial["cold_start_test"], 0);
    let c = &tutorial["config"];
    assert_eq!(c["based"], "user");
    assert_eq!(c["layers"], serde_json::json!([700]));
    assert_eq!(c["activation"], "tanh");
    assert_eq!(c["output_activation"], "identity");
    assert_eq!(c["input_dropout"], 0.7);
    assert_eq!(c["optimizer"], "sgd");
    assert_eq!(
        (c["lr"].as_f64(), c["momentum"].as_f64()),
        (Some(0.08), Some(0.9))
    );
    assert_eq!(
        (c["l2"].as_f64(), c["batch_size"].as_u64()),
        (Some(1e-4), Some(128))
    );
    assert_eq!(
        (c["epochs"].as_u64(), c["center"].as_bool()),
        (Some(20), Some(true))
    );
    // The fixture's ratings follow a rank-2 taste model: the tutorial's 20
    // epochs must learn clearly more than the global mean knows.
    let mean = aerec_json(&[&base[..], &["--model", "mean"]].concat());
    let (ae, mu) = (f64_of(&tutorial, "test_rmse"), f64_of(&mean, "test_rmse"));
    assert!(ae < mu - 0.1, "tutorial RMSE {ae} vs global mean {mu}");
}

#[test]
fn amazon_beauty_notebook_on_an_amazon_csv() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("beauty.aerec");
    let csv = fixture("ratings_beauty_sample.csv");
    let run = aerec_json(&[
        "train",
        "--data",
        s(&csv),
        "--min-user-ratings",
        "2",
        "--min-item-ratings",
        "2",
        "--test-fraction",
        "0.2",
        "--preset",
        "tutorial",
        "--epochs",
        "2",
        "--out",
        s(&model),
    ]);
    // 245 ratings; 3 one-rating users and 2 one-rating products go (5
    // ratings), and 20 % of the 240 left are held out.
    assert_eq!(run["data"], format!("{} (amazon)", csv.display()));
    assert_eq!(run["train_ratings"], 192);
    assert_eq!(run["test_ratings"], 48);
    assert_eq!(run["config"]["layers"], serde_json::json!([700]));
    // Ids stay verbatim: ASINs keep their leading zero, users their letters.
    // Every unrated product comes back, in the original spelling.
    let text = std::fs::read_to_string(&csv).unwrap();
    let user = text.lines().nth(1).unwrap().split(',').next().unwrap();
    let recs = aerec_json(&[
        "recommend",
        "--model",
        s(&model),
        "--user",
        user,
        "-n",
        "100",
    ]);
    assert_eq!(recs["user"], user);
    let items: Vec<&str> = recs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_str().unwrap())
        .collect();
    assert!(!items.is_empty());
    for item in &items {
        assert!(
            text.contains(&format!(",{item},")),
            "{item} is not an id of the file"
        );
    }
    // The two one-rating products (the last two ASINs written) were dropped.
    let dropped: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",4.0,1300000020") || l.ends_with(",4.0,1300000021"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(dropped.len(), 2);
    assert!(dropped.iter().all(|d| !items.contains(d)), "{items:?}");
}

#[test]
fn amazon_beauty_synthetic_route_trains_the_tutorial() {
    // The guide's route for the real size is `synth --shape beauty`; the same
    // chain (synth → train --train --test --preset tutorial) on a small shape.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let synth = aerec_json(&[
        "synth",
        "--shape",
        "custom",
        "--users",
        "200",
        "--items",
        "80",
        "--ratings",
        "2000",
        "--out",
        s(&out),
    ]);
    assert_eq!(synth["ratings"], 2000);
    let run = aerec_json(&[
        "train",
        "--train",
        s(&out.join("train.csv")),
        "--test",
        s(&out.join("test.csv")),
        "--preset",
        "tutorial",
        "--epochs",
        "1",
    ]);
    assert_eq!(
        run["train_ratings"].as_u64().unwrap() + run["test_ratings"].as_u64().unwrap(),
        2000
    );
    assert!(f64_of(&run, "test_rmse").is_finite());
}

#[test]
fn pytorch_report_time_split_and_assignment_model() {
    // The embedded MovieLens latest-small is the report's data set; its
    // printout says 595 train users and 9,559 train movies.
    let dir = tempfile::tempdir().unwrap();
    let split = aerec_json(&[
        "split",
        "--method",
        "time",
        "--time-quantile",
        "0.98",
        "--cold-start",
        "drop",
        "--out",
        s(dir.path()),
    ]);
    let train = &split["splits"][0]["summary"]["train"];
    assert_eq!(
        (train["users"].as_u64(), train["items"].as_u64()),
        (Some(595), Some(9559))
    );
    let run = aerec_json(&[
        "train",
        "--method",
        "time",
        "--time-quantile",
        "0.98",
        "--cold-start",
        "drop",
        "--preset",
        "assignment",
        "--epochs",
        "1",
    ]);
    assert_eq!(run["train_ratings"], train["ratings"]);
    assert_eq!(
        run["test_ratings"],
        split["splits"][0]["summary"]["test"]["ratings"]
    );
    let c = &run["config"];
    assert_eq!(c["layers"], serde_json::json!([512, 512, 1024]));
    assert_eq!(
        (c["mirror"].as_bool(), c["tied"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(c["activation"], "relu");
    assert_eq!(c["output_activation"], "identity");
    // Tied [items, 512, 512, 1024] mirrored: three weight matrices, used
    // twice, plus an encoder and a decoder bias per layer. The item columns
    // are the data set's 9,724 movies (the 165 seen only after the cut have
    // untrained columns, and their test ratings were dropped), where the
    // report's pivot table has the 9,559 of train.
    let items = 9724;
    let weights = items * 512 + 512 * 512 + 512 * 1024;
    let biases = (512 + 512 + 1024) + (512 + 512 + items);
    assert_eq!(run["params"], weights + biases);
}

/// A tiny ML-100K-shaped set (`u.data`, `u.user`) for running every report
/// config quickly where the real one is absent.
fn tiny_ml100k(dir: &Path) -> (PathBuf, PathBuf) {
    let mut data = String::new();
    let mut users = String::new();
    let occupations = ["student", "engineer", "artist", "writer"];
    for u in 1..=40u32 {
        for i in 1..=30u32 {
            if (u + i) % 3 != 0 {
                let r = 1 + (u * 7 + i * 3) % 5;
                data.push_str(&format!("{u}\t{i}\t{r}\t{}\n", 880_000_000 + u * 100 + i));
            }
        }
        let gender = if u % 2 == 0 { "F" } else { "M" };
        let occ = occupations[u as usize % occupations.len()];
        users.push_str(&format!("{u}|{}|{gender}|{occ}|0{u:04}\n", 15 + u));
    }
    let (d, us) = (dir.join("u.data"), dir.join("u.user"));
    std::fs::write(&d, data).unwrap();
    std::fs::write(&us, users).unwrap();
    (d, us)
}

/// Runs one report config for one epoch and checks the table it returns.
fn run_report(config: &str, models: usize, data: &Path, users: &Path) -> Value {
    let path = root().join("examples").join(config);
    let out = aerec_json(&[
        "compare",
        "--config",
        s(&path),
        "--data",
        s(data),
        "--side-info",
        s(users),
        "--epochs",
        "1",
        "--k",
        "0",
    ]);
    assert_eq!(out["folds"], 1, "{config}");
    assert_eq!(out["split"]["method"], "user", "{config}");
    let list = out["models"].as_array().unwrap();
    assert_eq!(list.len(), models, "{config}");
    for m in list {
        assert!(m["params"].as_str().unwrap().contains("epochs=1"), "{m}");
        let rmse = m["summary"]["test_rmse"]["mean"].as_f64().unwrap();
        assert!(rmse.is_finite() && rmse > 0.0, "{config}: {m}");
    }
    out
}

/// The hybrid model's input is wider by the side features (gender, age
/// group, occupation one-hot), each feeding the 256-wide first layer; the
/// plain model's is not.
fn check_hybrid(out: &Value, features: u64) {
    let params = |k: usize| out["models"][k]["folds"][0]["params"].as_u64().unwrap();
    assert_eq!(params(1) - params(0), features * 256);
    let names = |k: usize| out["models"][k]["params"].as_str().unwrap().to_string();
    assert!(names(1).ends_with("side_info=true"), "{}", names(1));
    assert!(!names(0).contains("side_info"), "{}", names(0));
}

#[test]
fn every_report_config_runs_on_a_tiny_set() {
    let dir = tempfile::tempdir().unwrap();
    let (data, users) = tiny_ml100k(dir.path());
    for (config, models) in REPORT_CONFIGS {
        let out = run_report(config, models, &data, &users);
        if config == "report-hybrid.toml" {
            // The tiny u.user has 4 occupations.
            check_hybrid(&out, 2 + 7 + 4);
        }
    }
}

#[test]
fn every_report_config_runs_on_ml100k() {
    let Some(dir) = ml100k() else { return };
    for (config, models) in REPORT_CONFIGS {
        let out = run_report(config, models, &dir.join("u.data"), &dir.join("u.user"));
        if config == "report-hybrid.toml" {
            // ML-100K's 21 occupations: 30 features, as the report's ML-1M users.
            check_hybrid(&out, 2 + 7 + 21);
        }
    }
}

#[test]
fn compare_rejects_side_info_without_a_file_and_bad_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = tiny_ml100k(dir.path());
    let hybrid = root().join("examples/report-hybrid.toml");
    let err = aerec_fails(&["compare", "--config", s(&hybrid), "--data", s(&data)]);
    assert!(
        err.contains("side_info = true") && err.contains("--side-info"),
        "{err}"
    );
    let err = aerec_fails(&[
        "compare",
        "--config",
        s(&hybrid),
        "--data",
        s(&data),
        "--epochs",
        "0",
    ]);
    assert!(err.contains("--epochs 0"), "{err}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[models]]\nname = \"x\"\nside_info = \"yes\"\n").unwrap();
    let err = aerec_fails(&["compare", "--config", s(&bad), "--data", s(&data)]);
    assert!(
        err.contains("bad.toml") && err.contains("`side_info` must be true or false"),
        "{err}"
    );
    // Side features need an autoencoder.
    std::fs::write(
        &bad,
        "[[models]]\nname = \"m\"\nmodel = \"mf\"\nside_info = true\n",
    )
    .unwrap();
    let users = dir.path().join("u.user");
    let err = aerec_fails(&[
        "compare",
        "--config",
        s(&bad),
        "--data",
        s(&data),
        "--side-info",
        s(&users),
        "--method",
        "random",
    ]);
    assert!(err.contains("side_info needs an autoencoder"), "{err}");
}

#[test]
fn svd_assignment_example_matches_a_dense_reference() {
    let out = svd_assignment::run().unwrap();
    // Dense reference: numpy's recipe, U[:, :3] diag(s[:3]) Vh[:3, :], through
    // faer's dense thin SVD of the full 18 × 10 matrix in f64.
    let m = svd_assignment::UP_RATING;
    let a = faer::Mat::<f64>::from_fn(18, 10, |r, c| m[r][c] as f64);
    let svd = a.thin_svd().unwrap();
    let (u, sv, v) = (svd.U(), svd.S().column_vector(), svd.V());
    for r in 0..18 {
        for c in 0..10 {
            let reference: f64 = (0..svd_assignment::RANK)
                .map(|k| u[(r, k)] * sv[k] * v[(c, k)])
                .sum();
            let got = out.reconstruction[r][c] as f64;
            assert!(
                (got - reference).abs() < 1e-4,
                "cell ({r}, {c}): {got} vs {reference}"
            );
        }
    }
    // User 2's rounded row as the assignment prints it, and its pick:
    // product 7 (bold in the assignment's text).
    let row2: Vec<f32> = out.reconstruction[1]
        .iter()
        .map(|v| v.round() + 0.0)
        .collect();
    assert_eq!(row2, [2., 0., 1., 1., 4., 0., 2., 1., 3., 1.]);
    assert_eq!(out.user2_pick.0, "7");
    assert!((out.user2_pick.1 - out.reconstruction[1][6]).abs() < 1e-6);
}

#[test]
fn epochs_override_reaches_every_model_that_trains_in_epochs() {
    use aerec::ModelSpec;
    let mut touched = Vec::new();
    for kind in ["autoencoder", "biases", "mf", "svdpp", "mean", "svd"] {
        let mut spec = ModelSpec::from_json(&serde_json::json!({ "model": kind })).unwrap();
        if spec.set_epochs(3) {
            touched.push(kind);
            assert_eq!(spec.to_json()["epochs"], 3, "{kind}");
        } else {
            assert!(spec.to_json().get("epochs").is_none(), "{kind} has epochs");
        }
    }
    assert_eq!(touched, ["autoencoder", "biases", "mf", "svdpp"]);
}

#[test]
fn compare_with_side_checks_its_inputs_before_fitting() {
    use aerec::data::split::{split, Input, SplitConfig};
    use aerec::eval::{compare_with_side, EvalOptions, NamedSpec};
    use aerec::model::FitOptions;
    use aerec::ModelSpec;
    let dir = tempfile::tempdir().unwrap();
    let (data, users) = tiny_ml100k(dir.path());
    let ratings = aerec::data::read::read_ratings(&data, &Default::default())
        .unwrap()
        .ratings;
    let fold = split(&Input::Whole(ratings), &SplitConfig::default()).unwrap();
    let side = aerec::data::side::read_user_features(&users, &fold.train.user_ids).unwrap();
    let spec = ModelSpec::from_json(&serde_json::json!({ "layers": [4], "epochs": 1 })).unwrap();
    let mut hybrid = NamedSpec::new("hybrid", spec.clone());
    hybrid.side_info = true;
    let scale = aerec::RatingScale::new(1.0, 5.0).unwrap();
    let (eval, fit) = (EvalOptions::default(), FitOptions::default());
    let folds = [fold];
    let err = compare_with_side(&[hybrid.clone()], &folds, None, scale, &eval, &fit).unwrap_err();
    assert!(err.to_string().contains("no side features"), "{err}");
    let two = [side.clone(), side.clone()];
    let err =
        compare_with_side(&[hybrid.clone()], &folds, Some(&two), scale, &eval, &fit).unwrap_err();
    assert!(
        err.to_string().contains("2 side feature sets for 1 folds"),
        "{err}"
    );
    let plain = NamedSpec::new("plain", spec);
    let report = compare_with_side(
        &[plain, hybrid],
        &folds,
        Some(std::slice::from_ref(&side)),
        scale,
        &eval,
        &fit,
    )
    .unwrap();
    let params: Vec<usize> = report.models.iter().map(|m| m.folds[0].params).collect();
    // Only the hybrid reads the side columns: 4 hidden units per feature more.
    assert_eq!(params[1] - params[0], side.dim * 4);
}

/// Every model config shipped in `examples/configs/` (the ones README and
/// BENCHMARKS.md run) is a valid spec; the ensemble one trains, shortened.
#[test]
fn every_shipped_model_config_is_valid() {
    let dir = root().join("examples/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let table: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec = aerec::ModelSpec::from_json(&serde_json::to_value(table).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if path.ends_with("engine-ml100k-u1-ensemble.toml") {
            assert_eq!(spec.kind(), "ensemble");
        }
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} configs in {}", dir.display());
    let config = dir.join("engine-ml100k-u1-ensemble.toml");
    let out = aerec_json(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--epochs",
        "2",
        "--ensemble",
        "2",
        "--valid-fraction",
        "0.05",
    ]);
    assert_eq!(out["model"], "ensemble");
    assert!(out["valid_rmse"].as_f64().unwrap() < 1.5);
}
