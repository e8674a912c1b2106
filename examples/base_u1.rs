//! Baselines on MovieLens 100K's canonical u1 split: test RMSE (clipped to
//! 1..5) and fit time of each, for docs/baseline-speed-accuracy.md.
//!
//! `cargo run --release --example base_u1 [-- MODEL_TOML...]` where each
//! argument is an inline model table such as `'model = "mf"\nfactors = 50'`.

#[path = "../tests/small_tables/mod.rs"]
mod common;

use aerec::eval::{evaluate, EvalOptions};
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use aerec::RatingScale;

fn main() -> anyhow::Result<()> {
    let (train, test) = common::ml100k_u1().ok_or_else(|| anyhow::anyhow!("ml-100k is absent"))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tables: Vec<String> = if args.is_empty() {
        ["mean", "biases", "svd", "mf", "svdpp"]
            .iter()
            .map(|m| format!("model = \"{m}\""))
            .collect()
    } else {
        args
    };
    let scale = RatingScale::new(1.0, 5.0)?;
    for table in tables {
        let spec: ModelSpec = toml::from_str(&table.replace("\\n", "\n"))?;
        let model = TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default())?;
        let report = evaluate(&model, &test, &EvalOptions::default())?;
        let rank = report.ranking.as_ref().expect("ranking on by default");
        println!(
            "{:<40} test RMSE {:.5}  MAE {:.4}  NDCG@10 {:.4}  fit {:.3} s",
            table.replace('\n', " "),
            report.rating.rmse,
            report.rating.mae,
            rank.ndcg,
            model.report.train_seconds
        );
    }
    Ok(())
}
