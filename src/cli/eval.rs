//! `aerec eval`: a saved model against a test file. Test ids are matched to
//! the model's by their original ids; ids the model never saw get fallback
//! predictions and are counted as cold start.

use serde_json::json;
use std::path::PathBuf;

use super::data_args::ReadArgs;
use super::train::EvalArgs;
use super::Context;
use crate::report::table::Table;

/// `aerec eval` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (`train --out`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Test ratings.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// How to read the test file.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Evaluation settings.
    #[command(flatten)]
    pub eval: EvalArgs,
}

/// Runs `aerec eval`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let model = crate::persist::load(&args.model)?;
    let read = args.read.read(&args.test)?;
    let test = read.ratings.in_id_space(&model.user_ids, &model.item_ids);
    let opts = args
        .eval
        .options(crate::eval::RankingOptions::default().seed);
    let report = super::train::evaluate_shown(&model, &test, &opts, ctx)?;
    let r = &report.rating;
    let mut t = Table::new(vec!["metric".into(), "value".into()]);
    t.push(vec!["test ratings".into(), r.n.to_string()]);
    t.push(vec!["test RMSE".into(), format!("{:.4}", r.rmse)]);
    t.push(vec!["test MAE".into(), format!("{:.4}", r.mae)]);
    t.push(vec![
        "cold-start test ratings".into(),
        r.cold_start.n.to_string(),
    ]);
    if let Some(k) = &report.ranking {
        for (name, v) in [
            ("Precision", k.precision),
            ("Recall", k.recall),
            ("NDCG", k.ndcg),
            ("MAP", k.map),
            ("HitRate", k.hit_rate),
        ] {
            t.push(vec![format!("{name}@{}", k.k), format!("{v:.4}")]);
        }
        t.push(vec!["coverage".into(), format!("{:.4}", k.coverage)]);
    }
    let result = json!({
        "model": model.model.kind(),
        "test_rmse": r.rmse,
        "test_mae": r.mae,
        "clipped": r.clipped,
        "cold_start": r.cold_start,
        "per_user_rmse": r.per_user_rmse,
        "ranking": report.ranking,
    });
    ctx.emit(&t.to_text(), &result)
}
