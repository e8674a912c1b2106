//! Ranking on implicit feedback, end to end: the strong-generalization
//! protocol on hand-computed lists, and the ranking models on MovieLens
//! 100K (skipped with a printed reason when ../shared/data is absent).

mod row_tables;

use std::sync::Arc;

use aerec::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
use aerec::data::read::{read_ratings, ReadOptions};
use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::eval::protocol::{evaluate_held_out, strong_split, HeldOut, StrongOptions};
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use serde_json::json;

fn ids(prefix: &str, n: usize) -> Arc<IdMap> {
    Arc::new(IdMap::from_ids((0..n).map(|k| format!("{prefix}{k}")).collect()).unwrap())
}

fn table(cells: &[(u32, u32)], users: &Arc<IdMap>, items: &Arc<IdMap>) -> Ratings {
    Ratings {
        users: cells.iter().map(|c| c.0).collect(),
        items: cells.iter().map(|c| c.1).collect(),
        values: vec![1.0; cells.len()],
        timestamps: None,
        user_ids: Arc::clone(users),
        item_ids: Arc::clone(items),
    }
}

fn binary() -> RatingScale {
    RatingScale::new(0.0, 1.0).unwrap()
}

fn fit(settings: serde_json::Value, train: &Ratings, valid: Option<&Ratings>) -> TrainedModel {
    let spec = ModelSpec::from_json(&settings).unwrap();
    TrainedModel::fit(&spec, train, valid, None, binary(), &FitOptions::default()).unwrap()
}

#[test]
fn popularity_lists_measured_by_hand() {
    // Training users 0–3 over items 0–4: item 0 has 3 users, item 1 has
    // 2, item 2 has 1, items 3 and 4 none. Held-out users 4 and 5.
    let (users, items) = (ids("u", 6), ids("i", 5));
    let train = table(
        &[(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 2)],
        &users,
        &items,
    );
    let model = fit(json!({ "model": "popularity" }), &train, None);
    // User 4 is fed item 0 and must find items 2 and 3; user 5 is fed
    // item 1 and must find item 0.
    let part = HeldOut {
        fold_in: table(&[(4, 0), (5, 1)], &users, &items),
        scored: table(&[(4, 2), (4, 3), (5, 0)], &users, &items),
    };
    let report = evaluate_held_out(&model, &part, &[1, 2]).unwrap();
    assert_eq!(report.users, 2);
    // Lists: user 4 → 1, 2, 3, 4 (counts 2, 1, 0, 0; ties to the lower
    // index); user 5 → 0, 2, 3, 4.
    let at1 = report.at_k(1).unwrap();
    // K = 1: user 4 misses (item 1), user 5 hits (item 0).
    assert_eq!(at1.recall.mean, 0.5);
    assert_eq!(at1.ndcg.mean, 0.5);
    assert_eq!(at1.map.mean, 0.5);
    // Interval of {0, 1}: mean ½, sample sd √½, half width 1.96 · √½ / √2.
    assert!((at1.recall.half_width - 1.96 * 0.5).abs() < 1e-12);
    // Items 1 and 0 are listed: 2 of 5.
    assert_eq!(at1.coverage, 0.4);
    // Popularity: item 1 is had by 2 of the 4 training users, item 0 by 3.
    assert!((at1.list_popularity - (0.5 + 0.75) / 2.0).abs() < 1e-12);
    let at2 = report.at_k(2).unwrap();
    // K = 2: user 4 hits item 2 at rank 2: recall 1 / min(2, 2), NDCG
    // (1/log2 3) / (1 + 1/log2 3), AP (1/2) / 2; user 5 as at K = 1.
    let d = 1.0 / 3f64.log2();
    assert!((at2.recall.mean - (0.5 + 1.0) / 2.0).abs() < 1e-12);
    assert!((at2.ndcg.mean - (d / (1.0 + d) + 1.0) / 2.0).abs() < 1e-12);
    assert!((at2.map.mean - (0.25 + 1.0) / 2.0).abs() < 1e-12);
    assert_eq!(at2.coverage, 3.0 / 5.0);
    // The relevant items' popularity: user 4 (¼ + 0) / 2, user 5 ¾.
    assert!((report.relevant_popularity - (0.125 + 0.75) / 2.0).abs() < 1e-12);
    assert!(evaluate_held_out(&model, &part, &[]).is_err());
    assert!(evaluate_held_out(&model, &part, &[0]).is_err());
}

#[test]
fn ranking_models_on_movielens_100k_beat_popularity() {
    let Some(path) = row_tables::shared_data("ml-100k/u.data") else {
        return;
    };
    let read = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    let opts = ImplicitOptions {
        positives: Positives::AtLeast(4.0),
        weighting: Weighting::Binary,
    };
    let positives = to_implicit(&read, &opts).unwrap();
    assert_eq!(positives.len(), 55_375);
    let split = strong_split(
        &positives,
        &StrongOptions {
            test_users: 0.2,
            valid_users: 0.0,
            ..StrongOptions::default()
        },
    )
    .unwrap();
    let ndcg100 = |settings: serde_json::Value| {
        let model = fit(settings, &split.train, None);
        let report = evaluate_held_out(&model, &split.test, &[100]).unwrap();
        report.at_k(100).unwrap().ndcg.mean
    };
    let popularity = ndcg100(json!({ "model": "popularity" }));
    let ease = ndcg100(json!({ "model": "ease", "lambda": 200.0 }));
    let knn = ndcg100(json!({ "model": "item-knn", "neighbors": 100 }));
    eprintln!("NDCG@100: popularity {popularity:.4}, item-knn {knn:.4}, ease {ease:.4}");
    assert!(popularity > 0.2, "popularity {popularity}");
    assert!(
        ease > popularity * 1.1,
        "ease {ease}, popularity {popularity}"
    );
    assert!(knn > popularity, "item-knn {knn}, popularity {popularity}");
}

#[test]
fn ranking_and_rating_models_side_by_side_on_one_split() {
    use aerec::eval::protocol::compare_strong;
    use aerec::eval::NamedSpec;
    // Users like the items of their own parity (5) and not the others (2);
    // each rates 24 of the 40 items.
    let (n_users, n_items) = (80u32, 40u32);
    let (users, items) = (ids("u", n_users as usize), ids("i", n_items as usize));
    let mut cells = Vec::new();
    for u in 0..n_users {
        for k in 0..24 {
            let i = (u * 7 + k * 3) % n_items;
            let r = if (u + i) % 2 == 0 { 5.0 } else { 2.0 };
            cells.push((u, i, r));
        }
    }
    cells.sort_by_key(|c| (c.0, c.1));
    cells.dedup_by_key(|c| (c.0, c.1));
    let ratings = Ratings {
        users: cells.iter().map(|c| c.0).collect(),
        items: cells.iter().map(|c| c.1).collect(),
        values: cells.iter().map(|c| c.2).collect(),
        timestamps: None,
        user_ids: users,
        item_ids: items,
    };
    let named = |name: &str, v: serde_json::Value| NamedSpec {
        name: name.into(),
        spec: ModelSpec::from_json(&v).unwrap(),
        side_info: false,
    };
    let models = [
        named("pop", json!({ "model": "popularity" })),
        named("ease", json!({ "model": "ease", "lambda": 5.0 })),
        named("biases", json!({ "model": "biases" })),
    ];
    let opts = StrongOptions {
        test_users: 0.25,
        valid_users: 0.1,
        ..StrongOptions::default()
    };
    let (split, rows) =
        compare_strong(&ratings, 4.0, &models, &opts, &[20], &FitOptions::default()).unwrap();
    // The split is on positives only: every scored item is a 5.
    assert!(split.test.scored.values.iter().all(|&v| v == 5.0));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows.iter().map(|r| r.ranks_only).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert!(rows
        .iter()
        .all(|r| r.report.users == split.test.scored_users()));
    let recall = |k: usize| rows[k].report.at_k(20).unwrap().recall.mean;
    // EASE learns the parity from the positives; popularity cannot.
    assert!(
        recall(1) > recall(0) + 0.1,
        "ease {} pop {}",
        recall(1),
        recall(0)
    );
    // A threshold no rating reaches has no positive to rank.
    assert!(compare_strong(&ratings, 6.0, &models, &opts, &[20], &FitOptions::default()).is_err());
}

#[test]
fn compare_strong_from_the_command_line_writes_its_split() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().unwrap();
    // The parity set of the test above, as a user,item,rating file.
    let mut csv = String::from("user,item,rating\n");
    let mut seen = std::collections::HashSet::new();
    for u in 0..80u32 {
        for k in 0..24u32 {
            let i = (u * 7 + k * 3) % 40;
            if seen.insert((u, i)) {
                let r = if (u + i) % 2 == 0 { 5 } else { 2 };
                csv.push_str(&format!("u{u},i{i},{r}\n"));
            }
        }
    }
    let data = dir.path().join("ratings.csv");
    std::fs::write(&data, csv).unwrap();
    let config = dir.path().join("models.toml");
    std::fs::write(
        &config,
        "[[models]]\nname = \"pop\"\nmodel = \"popularity\"\n\n\
         [[models]]\nname = \"ease\"\nmodel = \"ease\"\nlambda = 5.0\n\n\
         [[models]]\nname = \"biases\"\nmodel = \"biases\"\n",
    )
    .unwrap();
    let split = dir.path().join("split");
    let out = std::process::Command::cargo_bin("aerec")
        .unwrap()
        .args(["compare", "--config", config.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap(), "--protocol", "strong"])
        .args([
            "--test-users",
            "0.25",
            "--split-dir",
            split.to_str().unwrap(),
        ])
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let models = result["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    assert_eq!(models[2]["ranks_only"], false);
    assert!(
        models[1]["report"]["at"][0]["recall"]["mean"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for name in [
        "train",
        "valid_fold_in",
        "valid_scored",
        "test_fold_in",
        "test_scored",
    ] {
        assert!(split.join(format!("{name}.csv")).exists(), "{name}");
    }
    // The implicit read flags and the strong protocol do not mix.
    let out = std::process::Command::cargo_bin("aerec")
        .unwrap()
        .args(["compare", "--config", config.to_str().unwrap()])
        .args([
            "--data",
            data.to_str().unwrap(),
            "--protocol",
            "strong",
            "--implicit",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn ranking_models_report_ranking_metrics_and_no_rmse_on_the_command_line() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().unwrap();
    // The parity set above as a rating file, read with ratings >= 4 as the
    // positives (clicks of weight 1).
    let mut csv = String::from("user,item,rating\n");
    let mut seen = std::collections::HashSet::new();
    for u in 0..80u32 {
        for k in 0..24u32 {
            let i = (u * 7 + k * 3) % 40;
            if seen.insert((u, i)) {
                let r = if (u + i) % 2 == 0 { 5 } else { 2 };
                csv.push_str(&format!("u{u},i{i},{r}\n"));
            }
        }
    }
    let data = dir.path().join("ratings.csv");
    std::fs::write(&data, csv).unwrap();
    let aerec = |args: &[&str]| {
        let out = std::process::Command::cargo_bin("aerec")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    };
    let last_json = |stdout: &str| -> serde_json::Value {
        serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
    };
    let (data, model) = (
        data.to_str().unwrap().to_string(),
        dir.path().join("ease.aerec"),
    );
    let model = model.to_str().unwrap();
    let (ok, stdout, stderr) = aerec(&[
        "train",
        "--data",
        &data,
        "--positive",
        "4",
        "--model",
        "ease",
        "--k",
        "5",
        "--out",
        model,
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let r = last_json(&stdout);
    assert_eq!(r["ranks_only"], true);
    assert!(r["test_rmse"].is_null() && r["test_mae"].is_null() && r["valid_rmse"].is_null());
    // Every held-out click is relevant (a threshold of 4 would find none
    // among values of 1), and EASE finds the parity structure.
    let ranking = &r["ranking"];
    assert!(ranking["users"].as_u64().unwrap() > 10, "{ranking}");
    assert!(ranking["ndcg"].as_f64().unwrap() > 0.3, "{ranking}");
    // The human table has the lists' metrics and no RMSE.
    let (ok, stdout, stderr) = aerec(&[
        "train",
        "--data",
        &data,
        "--positive",
        "4",
        "--model",
        "popularity",
        "--k",
        "5",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("NDCG@5") && stdout.contains("MAP@5"),
        "{stdout}"
    );
    assert!(!stdout.contains("RMSE"), "{stdout}");
    // With the ranking metrics turned off nothing would be left: an error.
    let (ok, _, stderr) = aerec(&[
        "train",
        "--data",
        &data,
        "--positive",
        "4",
        "--model",
        "ease",
        "--k",
        "0",
    ]);
    assert!(!ok && stderr.contains("--k"), "{stderr}");
    // `eval` of the saved model on the clicks: lists, no RMSE.
    let (ok, stdout, stderr) = aerec(&[
        "eval",
        "--model",
        model,
        "--test",
        &data,
        "--positive",
        "4",
        "--k",
        "5",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let r = last_json(&stdout);
    assert!(r["test_rmse"].is_null(), "{r}");
    assert!(r["ranking"]["recall"].as_f64().is_some(), "{r}");
    // `similar` answers from EASE's own item × item weights.
    let (ok, stdout, stderr) = aerec(&["similar", "--model", model, "--item", "i0", "--json"]);
    assert!(ok, "{stderr}");
    let r = last_json(&stdout);
    let similar = r["similar"].as_array().unwrap();
    assert!(!similar.is_empty(), "{r}");
    let weights: Vec<f64> = similar
        .iter()
        .map(|s| s["similarity"].as_f64().unwrap())
        .collect();
    assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{r}");
    assert!(similar.iter().all(|s| s["item"] != "i0"));
    // `compare` on the user's split: the ranking model's RMSE columns are
    // empty, the rating model's are not; both have ranking columns.
    let config = dir.path().join("models.toml");
    std::fs::write(
        &config,
        "[[models]]\nname = \"ease\"\nmodel = \"ease\"\nlambda = 5.0\n\n\
         [[models]]\nname = \"biases\"\nmodel = \"biases\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = aerec(&[
        "compare",
        "--config",
        config.to_str().unwrap(),
        "--data",
        &data,
        "--folds",
        "2",
        "--k",
        "5",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let r = last_json(&stdout);
    let models = r["models"].as_array().unwrap();
    assert!(models[0]["summary"].get("test_rmse").is_none(), "{r}");
    assert!(models[0]["summary"]["ndcg"]["mean"].as_f64().unwrap() > 0.0);
    assert!(models[1]["summary"]["test_rmse"]["mean"].as_f64().is_some());
}
