//! GLocal-K as a model kind: it learns, keeps the validation-best epoch,
//! round-trips through the model file, folds in new users, refuses dense
//! matrices that would not fit, and trains, saves and serves from the
//! command line. (Gradient checks of the maths are unit tests in
//! `src/model/glocal_k/network.rs`.)

mod low_rank_data;

use aerec::data::{RatingScale, Ratings};
use aerec::model::glocal_k::GlocalKConfig;
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use aerec::{persist, ErrorKind};
use assert_cmd::Command;
use serde_json::json;

fn data() -> (Ratings, Ratings) {
    low_rank_data::low_rank(40, 30, 7)
}

/// Small enough for a test: two hidden layers of 12, a few short epochs.
fn small() -> GlocalKConfig {
    GlocalKConfig {
        hidden: vec![12, 12],
        kernel_dim: 3,
        lambda_2: 1.0,
        lambda_s: 0.01,
        pretrain_epochs: 6,
        pretrain_iters: 5,
        finetune_epochs: 6,
        finetune_iters: 5,
        ..GlocalKConfig::default()
    }
}

fn fit(
    config: &GlocalKConfig,
    train: &Ratings,
    valid: Option<&Ratings>,
    seed: u64,
) -> TrainedModel {
    let opts = FitOptions {
        seed,
        progress: false,
    };
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    TrainedModel::fit(
        &ModelSpec::new(config.clone()).unwrap(),
        train,
        valid,
        None,
        scale,
        &opts,
    )
    .unwrap()
}

fn rmse(model: &TrainedModel, test: &Ratings) -> f64 {
    let p = model.predict_ratings(test).unwrap();
    let sq: f64 = p
        .iter()
        .zip(&test.values)
        .map(|(p, &r)| ((p.value.clamp(1.0, 5.0) - r) as f64).powi(2))
        .sum();
    (sq / test.len() as f64).sqrt()
}

#[test]
fn learns_below_the_mean_and_keeps_the_validation_best_epoch() {
    let (train, valid) = data();
    let model = fit(&small(), &train, Some(&valid), 1);
    let mean = train.values.iter().sum::<f32>() / train.len() as f32;
    let mean_rmse = (valid
        .values
        .iter()
        .map(|&r| ((r - mean) as f64).powi(2))
        .sum::<f64>()
        / valid.len() as f64)
        .sqrt();
    let got = rmse(&model, &valid);
    assert!(got < 0.9 * mean_rmse, "{got} vs mean {mean_rmse}");
    let report = &model.report;
    assert_eq!(report.epochs, 12);
    let best = report
        .best_epoch
        .expect("a validation split picks an epoch");
    assert!(best > 6, "the best epoch is one of fine-tuning's: {best}");
    let best_valid = report.history[best - 1].valid_rmse.unwrap();
    for h in &report.history[6..] {
        assert!(h.valid_rmse.unwrap() >= best_valid);
    }
    // The kept weights are that epoch's: the reported RMSE is the model's.
    assert!((got - best_valid).abs() < 1e-4, "{got} vs {best_valid}");
    // Pre-training lowers the training loss (full-batch L-BFGS descends).
    assert!(report.history[5].train_loss < report.history[0].train_loss);
    assert!(report.notes.iter().any(|n| n.contains("GFLOP/s")));
}

#[test]
fn same_seed_same_model_and_seeds_differ() {
    let (train, valid) = data();
    let c = GlocalKConfig {
        pretrain_epochs: 2,
        finetune_epochs: 1,
        ..small()
    };
    let a = fit(&c, &train, None, 5);
    let b = fit(&c, &train, None, 5);
    let other = fit(&c, &train, None, 6);
    let values = |m: &TrainedModel| -> Vec<f32> {
        m.predict_ratings(&valid)
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect()
    };
    assert_eq!(values(&a), values(&b));
    assert_ne!(values(&a), values(&other));
}

#[test]
fn model_file_round_trip_predicts_and_recommends_the_same() {
    let (train, valid) = data();
    let c = GlocalKConfig {
        pretrain_epochs: 2,
        finetune_epochs: 2,
        ..small()
    };
    let model = fit(&c, &train, Some(&valid), 3);
    let bytes = persist::to_bytes(&model).unwrap();
    let back = persist::from_bytes(&bytes, aerec::model::spec::load_model).unwrap();
    assert_eq!(back.model.kind(), "glocal-k");
    assert_eq!(back.model.n_params(), model.model.n_params());
    assert_eq!(back.model.n_params(), c.n_params(30, 40));
    assert_eq!(back.model.to_parts(), model.model.to_parts());
    let a = model.predict_ratings(&valid).unwrap();
    let b = back.predict_ratings(&valid).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        model.recommend_index(0, 5).unwrap(),
        back.recommend_index(0, 5).unwrap()
    );
    let (dim, vectors) = back.model.item_vectors().unwrap();
    assert_eq!((dim, vectors.len()), (12, 30 * 12));

    // A damaged tensor shape is a model-file error, not a panic.
    let mut parts = model.model.to_parts();
    parts.tensors.retain(|(n, _)| n != "item_codes");
    let err = aerec::model::spec::load_model(&parts).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::ModelFile(_)), "{err}");
}

#[test]
fn a_new_user_is_folded_in_by_ridge_regression_on_the_item_codes() {
    let (train, valid) = data();
    let c = GlocalKConfig {
        pretrain_epochs: 2,
        finetune_epochs: 2,
        ..small()
    };
    let model = fit(&c, &train, Some(&valid), 3);
    // User 0's training row as a new user's ratings.
    let (idx, vals) = model.train.row(0);
    let rated: Vec<(u32, f32)> = idx.iter().copied().zip(vals.iter().copied()).collect();
    let recs = model.recommend_new(&rated, 4).unwrap();
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|(i, s)| !idx.contains(i) && s.is_finite()));
    // The ridge fit with a free bias fits the given ratings at least as well
    // as their mean does (the solution is never worse than w = 0, b = mean).
    let row = aerec::model::SparseRow {
        indices: idx,
        values: vals,
    };
    let mut got = vec![0f32; idx.len()];
    model.model.score_items(None, row, idx, &mut got).unwrap();
    let mean = vals.iter().sum::<f32>() / vals.len() as f32;
    let sse = |p: &dyn Fn(usize) -> f32| -> f64 {
        vals.iter()
            .enumerate()
            .map(|(k, &r)| ((r - p(k)) as f64).powi(2))
            .sum()
    };
    let fitted = sse(&|k| got[k]);
    let constant = sse(&|_| mean);
    assert!(fitted < constant, "{fitted} !< {constant}");
    // An item outside the catalogue is an unknown-id error.
    let err = model.recommend_new(&[(999, 4.0)], 3).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownId { .. }), "{err}");
}

#[test]
fn a_dense_matrix_over_the_memory_limit_is_refused_before_training() {
    let (train, _) = data();
    let c = GlocalKConfig {
        max_memory_gib: 1e-6,
        ..small()
    };
    let opts = FitOptions::default();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let err = TrainedModel::fit(
        &ModelSpec::new(c).unwrap(),
        &train,
        None,
        None,
        scale,
        &opts,
    )
    .unwrap_err();
    assert!(err.to_string().contains("GiB"), "{err}");
}

#[test]
fn presets_and_settings_parse_into_the_kind() {
    let spec = ModelSpec::from_json(&json!({ "preset": "glocal-k" })).unwrap();
    assert_eq!(spec, ModelSpec::new(GlocalKConfig::default()).unwrap());
    let spec = ModelSpec::from_json(
        &json!({ "model": "glocal-k", "preset": "glocal-k-ml1m", "lambda_2": 5.0 }),
    )
    .unwrap();
    let c = spec.config::<GlocalKConfig>().unwrap();
    assert_eq!((c.lambda_2, c.pretrain_iters, c.dot_scale), (5.0, 50, 0.5));
    assert_eq!(ModelSpec::from_json(&spec.to_json()).unwrap(), spec);
    for bad in [
        json!({ "model": "mf", "preset": "glocal-k" }),
        json!({ "model": "glocal-k", "preset": "autorec" }),
        json!({ "model": "glocal-k", "layers": [5] }),
        json!({ "model": "glocal-k", "kernel_dim": 0 }),
    ] {
        assert!(ModelSpec::from_json(&bad).is_err(), "{bad}");
    }
}

#[test]
fn the_command_line_trains_saves_and_serves_a_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    // A small rating file (the embedded data set would make a dense
    // 9724 × 610 matrix: seconds of GEMMs for a smoke test).
    let (train, valid) = data();
    let mut text = String::new();
    for r in [&train, &valid] {
        for k in 0..r.len() {
            text += &format!(
                "{}\t{}\t{}\t0\n",
                r.users[k] + 1,
                r.items[k] + 1,
                r.values[k]
            );
        }
    }
    let ratings = dir.path().join("u.data");
    std::fs::write(&ratings, text).unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        "model = \"glocal-k\"\nhidden = [8]\nkernel_dim = 2\nlambda_2 = 1.0\npretrain_epochs = 6\nfinetune_epochs = 4\n",
    )
    .unwrap();
    let out = dir.path().join("m.aerec");
    let run = Command::cargo_bin("aerec")
        .unwrap()
        .args(["train", "--json", "--valid-fraction", "0.05", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&ratings)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["model"], "glocal-k");
    assert!(last["test_rmse"].as_f64().unwrap() < 1.2, "{last}");
    let rec = Command::cargo_bin("aerec")
        .unwrap()
        .args(["recommend", "--user", "1", "-n", "3", "--model"])
        .arg(&out)
        .assert()
        .success();
    let text = String::from_utf8(rec.get_output().stdout.clone()).unwrap();
    assert!(text.lines().count() >= 3, "{text}");
    let help = Command::cargo_bin("aerec")
        .unwrap()
        .args(["train", "--help"])
        .assert()
        .success();
    let help = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    assert!(help.contains("glocal-k"), "{help}");
}
