//! Tunes MF on a validation split carved from ML-100K's u1.base (every 10th
//! training rating in file order), then touches u1.test once with the best
//! config, for docs/baseline-speed-accuracy.md.
//!
//! `cargo run --release --example base_tune_u1`

#[path = "../tests/small_tables/mod.rs"]
mod common;

use std::collections::BTreeMap;

use aerec::eval::{evaluate, tune, EvalOptions, SearchMode};
use aerec::model::{FitOptions, TrainedModel};
use aerec::RatingScale;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let (base, test) = common::ml100k_u1().ok_or_else(|| anyhow::anyhow!("ml-100k is absent"))?;
    let (valid_idx, train_idx): (Vec<usize>, Vec<usize>) =
        (0..base.len()).partition(|k| k % 10 == 0);
    let (train, valid) = (base.select(&train_idx), base.select(&valid_idx));
    let scale = RatingScale::new(1.0, 5.0)?;
    let model_table = json!({"model": "mf"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut space = BTreeMap::new();
    space.insert("l2".to_string(), vec![json!(0.02), json!(0.05), json!(0.1)]);
    space.insert("epochs".to_string(), vec![json!(20), json!(40)]);
    space.insert("lr".to_string(), vec![json!(0.005), json!(0.01)]);
    let fit = FitOptions::default();
    let report = tune(
        &model_table,
        &space,
        SearchMode::Grid,
        &train,
        &valid,
        scale,
        &fit,
    )?;
    for t in &report.trials {
        println!(
            "{}  valid RMSE {:.4}",
            serde_json::Value::Object(t.params.clone()),
            t.valid_rmse
        );
    }
    println!("best:\n{}", report.best_toml()?);
    // Refit the best config on all of u1.base, then evaluate on u1.test once.
    let model = TrainedModel::fit(&report.best_spec, &base, None, None, scale, &fit)?;
    let rmse = evaluate(
        &model,
        &test,
        &EvalOptions {
            clip: true,
            ranking: None,
        },
    )?
    .rating
    .rmse;
    println!("u1.test RMSE of the best config refitted on u1.base: {rmse:.4}");
    Ok(())
}
