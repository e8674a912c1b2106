//! Seed ensembles (`ensemble = N`): the average of members fitted with
//! seeds seed … seed+N−1, for any model kind, through the model file, the
//! settings parser and the command line.

mod low_rank_data;

use aerec::data::{RatingScale, Ratings};
use aerec::model::{FitOptions, ModelSpec, SparseRow, TrainedModel};
use aerec::{persist, ErrorKind};
use assert_cmd::Command;
use serde_json::json;

/// Low-rank ratings on 1–5 with shared id maps: (train, held-out).
fn data() -> (Ratings, Ratings) {
    low_rank_data::low_rank(40, 30, 5)
}

fn scale() -> RatingScale {
    RatingScale::new(1.0, 5.0).unwrap()
}

fn fit(spec: &ModelSpec, train: &Ratings, seed: u64) -> TrainedModel {
    let opts = FitOptions {
        seed,
        progress: false,
    };
    TrainedModel::fit(spec, train, None, None, scale(), &opts).unwrap()
}

fn values(model: &TrainedModel, test: &Ratings) -> Vec<f32> {
    model
        .predict_ratings(test)
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect()
}

/// Each kind with seed-dependent training, as the settings a user writes.
fn member_settings() -> Vec<serde_json::Value> {
    vec![
        json!({ "layers": [8], "epochs": 4, "lr": 0.01, "batch_size": 8 }),
        json!({ "layers": [6], "based": "user", "input_dropout": 0.2, "epochs": 3, "lr": 0.01 }),
        json!({ "model": "mf", "factors": 3, "epochs": 4 }),
    ]
}

#[test]
fn an_ensemble_is_the_mean_of_members_fitted_with_consecutive_seeds() {
    let (train, test) = data();
    for base in member_settings() {
        let mut with = base.as_object().unwrap().clone();
        with.insert("ensemble".into(), json!(3));
        let spec = ModelSpec::from_json(&serde_json::Value::Object(with)).unwrap();
        assert_eq!(spec.kind(), "ensemble");
        let ensemble = fit(&spec, &train, 11);
        assert_eq!(ensemble.model.kind(), "ensemble");

        let member_spec = ModelSpec::from_json(&base).unwrap();
        let members: Vec<Vec<f32>> = (0..3)
            .map(|k| values(&fit(&member_spec, &train, 11 + k), &test))
            .collect();
        // Different seeds give different members, so the mean is a new model.
        assert_ne!(members[0], members[1], "{base}");
        let got = values(&ensemble, &test);
        for (j, &g) in got.iter().enumerate() {
            let mean = members.iter().map(|m| m[j] as f64).sum::<f64>() / 3.0;
            assert!(
                (g as f64 - mean).abs() <= 1e-5 * mean.abs().max(1.0),
                "{base}: {g} vs {mean}"
            );
        }
        let one = ensemble.model.n_params() / 3;
        assert_eq!(ensemble.model.n_params(), 3 * one);
        assert!(ensemble
            .report
            .notes
            .iter()
            .any(|n| n.contains("ensemble of 3 (seeds 11..=13)")));
    }
}

#[test]
fn scoring_paths_agree_and_new_users_fold_in() {
    let (train, _) = data();
    let spec = ModelSpec::from_json(&json!({ "layers": [8], "epochs": 3, "ensemble": 2 })).unwrap();
    let model = fit(&spec, &train, 3);
    let n_items = model.n_items();
    let row = SparseRow::of(&model.train, 4);
    let mut all = vec![0f32; n_items];
    model.model.score_all(Some(4), row, &mut all).unwrap();
    let items: Vec<u32> = (0..n_items as u32).rev().collect();
    let mut some = vec![0f32; n_items];
    model
        .model
        .score_items(Some(4), row, &items, &mut some)
        .unwrap();
    for (k, &i) in items.iter().enumerate() {
        assert!((some[k] - all[i as usize]).abs() <= 1e-5, "item {i}");
    }
    // A user never trained on, described by a few ratings.
    let new = model
        .recommend_new(&[(0, 5.0), (3, 1.0), (7, 4.0)], 5)
        .unwrap();
    assert_eq!(new.len(), 5);
    assert!(new
        .iter()
        .all(|&(i, s)| ![0, 3, 7].contains(&i) && s.is_finite()));
    let (dim, vectors) = model.model.item_vectors().unwrap();
    assert_eq!(vectors.len(), dim * n_items);
}

#[test]
fn an_ensemble_round_trips_through_the_model_file() {
    let (train, test) = data();
    let dir = tempfile::tempdir().unwrap();
    for base in member_settings() {
        let mut with = base.as_object().unwrap().clone();
        with.insert("ensemble".into(), json!(2));
        let spec = ModelSpec::from_json(&serde_json::Value::Object(with)).unwrap();
        let model = fit(&spec, &train, 1);
        let path = dir.path().join("e.aerec");
        persist::save(&model, &path).unwrap();
        let back = persist::load(&path).unwrap();
        assert_eq!(back.model.kind(), "ensemble");
        assert_eq!(back.spec, model.spec);
        assert_eq!(values(&back, &test), values(&model, &test), "{base}");
        assert_eq!(
            aerec::recommend::for_user(&back, "u3", 4).unwrap(),
            aerec::recommend::for_user(&model, "u3", 4).unwrap()
        );
        let info = persist::inspect(&path).unwrap();
        assert!(info.tensors.iter().any(|t| t.name.starts_with("member1.")));
    }
}

#[test]
fn ensemble_settings_are_checked() {
    let one = ModelSpec::from_json(&json!({ "model": "mf", "ensemble": 1 })).unwrap();
    assert_eq!(one.kind(), "mf", "ensemble = 1 is one model");
    for bad in [json!(0), json!(65), json!("3"), json!(2.5), json!(-1)] {
        let err = ModelSpec::from_json(&json!({ "model": "mf", "ensemble": bad })).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config(_)), "{bad}: {err}");
        assert!(err.to_string().contains("ensemble"), "{err}");
    }
    // A preset and the member's own keys apply to every member.
    let spec =
        ModelSpec::from_json(&json!({ "preset": "autorec", "lr": 0.01, "ensemble": 4 })).unwrap();
    let Some(c) = spec.config::<aerec::model::ensemble::EnsembleConfig>() else {
        panic!("not an ensemble: {spec:?}")
    };
    assert_eq!(c.members, 4);
    let Some(ae) = c
        .base
        .config::<aerec::model::autoencoder::AutoencoderConfig>()
    else {
        panic!("member is not an autoencoder")
    };
    assert_eq!(ae.lr, 0.01);
    assert_eq!(ae.layers, vec![500]);
    // The config form is flat and reads back; so does the model file's
    // nested serde form; an ensemble of ensembles is refused.
    let settings = spec.to_json();
    assert_eq!(
        (&settings["model"], &settings["ensemble"]),
        (&json!("autoencoder"), &json!(4))
    );
    assert_eq!(ModelSpec::from_json(&settings).unwrap(), spec);
    let stored = serde_json::to_value(&spec).unwrap();
    assert_eq!(stored["model"], "ensemble");
    assert_eq!(ModelSpec::from_json(&stored).unwrap(), spec);
    let mut nested = stored.clone();
    nested["base"] = stored;
    let err = ModelSpec::from_json(&nested).unwrap_err();
    assert!(
        err.to_string().contains("cannot itself be an ensemble"),
        "{err}"
    );
}

#[test]
fn a_diverging_member_is_a_clear_error_naming_it() {
    let (train, _) = data();
    let spec = ModelSpec::from_json(&json!({
        "layers": [16], "activation": "relu", "optimizer": "sgd", "lr": 1e4,
        "epochs": 30, "batch_size": 16, "ensemble": 2
    }))
    .unwrap();
    let opts = FitOptions {
        seed: 1,
        progress: false,
    };
    let err = TrainedModel::fit(&spec, &train, None, None, scale(), &opts).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Diverged(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ensemble member 1 of 2") && msg.contains("learning rate"),
        "{msg}"
    );
}

#[test]
fn the_command_line_trains_and_saves_an_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.aerec");
    let run = Command::cargo_bin("aerec")
        .unwrap()
        .args([
            "train",
            "--model",
            "biases",
            "--epochs",
            "2",
            "--ensemble",
            "2",
            "--json",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["model"], "ensemble");
    assert_eq!(
        (&last["config"]["model"], &last["config"]["ensemble"]),
        (&json!("biases"), &json!(2))
    );
    assert!(last["test_rmse"].as_f64().unwrap() < 1.2);
    Command::cargo_bin("aerec")
        .unwrap()
        .args(["recommend", "--user", "1", "-n", "3", "--model"])
        .arg(&out)
        .assert()
        .success();
    let bad = Command::cargo_bin("aerec")
        .unwrap()
        .args(["train", "--model", "mean", "--ensemble", "0"])
        .assert()
        .failure();
    let stderr = String::from_utf8(bad.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("ensemble"), "{stderr}");
}
