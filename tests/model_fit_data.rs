//! One trip for the data: every kind that watches a validation split while
//! it trains scores it as evaluation does — the ratings the model answers
//! itself (user and item both rated in training), predictions clipped to the
//! declared scale. The validation RMSE a fit reports for the epoch it kept
//! must be the RMSE evaluation measures on the same cells of the returned
//! model.

mod low_rank_data;

use aerec::data::RatingScale;
use aerec::eval::rating_metrics;
use aerec::model::{answered_cells, FitOptions, ModelSpec, TrainedModel};
use serde_json::json;

#[test]
fn the_reported_validation_rmse_is_the_evaluated_one_for_every_watching_kind() {
    let (train, valid) = low_rank_data::low_rank(40, 30, 7);
    // A scale wider than the data: clipping to it differs from clipping to
    // the observed range, so a path that clips to the training range shows.
    let scale = RatingScale::new(0.0, 6.0).unwrap();
    for settings in [
        json!({ "model": "mf", "factors": 4, "epochs": 5, "lr": 0.02, "l2": 0.01 }),
        json!({ "model": "svdpp", "factors": 4, "epochs": 3, "lr": 0.02, "l2": 0.01 }),
        json!({ "model": "autoencoder", "layers": [16], "epochs": 4, "lr": 0.01,
                "batch_size": 8, "l2": 0.0 }),
        json!({ "model": "autoencoder", "based": "user", "layers": [16], "epochs": 4,
                "lr": 0.01, "batch_size": 8, "l2": 0.0, "residual": true }),
        json!({ "model": "glocal-k", "hidden": [16], "kernel_dim": 3, "lambda_2": 0.5,
                "lambda_s": 0.01, "pretrain_epochs": 3, "finetune_epochs": 3 }),
    ] {
        let spec = ModelSpec::from_json(&settings).unwrap();
        let model = TrainedModel::fit(
            &spec,
            &train,
            Some(&valid),
            None,
            scale,
            &FitOptions::default(),
        )
        .unwrap();
        let cells = answered_cells(&model.train, &valid);
        let answered = valid.select(&cells);
        let preds = model.predict_ratings(&answered).unwrap();
        assert!(preds.iter().all(|p| p.fallback.is_none()));
        let evaluated = rating_metrics(&answered, &preds, Some(scale)).rmse;
        let reported: Vec<f64> = model
            .report
            .history
            .iter()
            .filter_map(|e| e.valid_rmse)
            .collect();
        assert!(
            !reported.is_empty(),
            "{settings}: no validation RMSE reported"
        );
        assert!(
            reported.iter().any(|r| (r - evaluated).abs() < 1e-4),
            "{settings}: evaluated {evaluated:.6}, reported {reported:?}"
        );
    }
}
