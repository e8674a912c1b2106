//! `aerec split`: read → filter → split → train/test (valid, folds) CSV files.

use std::path::PathBuf;

use serde_json::json;

use super::data_args::FileArgs;
use super::filter_args::FilterArgs;
use super::split_args::SplitArgs;
use super::Context;
use crate::data::split::{write_folds, write_split, SplitSummary};

/// `aerec split` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input data.
    #[command(flatten)]
    pub data: FileArgs,
    /// Activity filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How to split.
    #[command(flatten)]
    pub split: SplitArgs,
    /// Directory for the output files (created if missing).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub out: PathBuf,
}

/// Runs `aerec split`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let (input, filtered) = args.filter.apply(loaded.input);
    let splits = args.split.split_all(&input, ctx)?;
    let kfold = splits.len() > 1;
    let files = if kfold {
        write_folds(&splits, &args.out)?
    } else {
        vec![write_split(&splits[0], &args.out)?]
    };
    let summaries: Vec<SplitSummary> = splits.iter().map(SplitSummary::of).collect();
    let mut human = String::new();
    for (k, (s, f)) in summaries.iter().zip(&files).enumerate() {
        if kfold {
            human.push_str(&format!("fold {}:\n", k + 1));
        }
        human.push_str(&format!(
            "  train {:>9} ratings  {:>7} users  {:>7} items  → {}\n",
            s.train.ratings,
            s.train.users,
            s.train.items,
            f.train.display()
        ));
        human.push_str(&format!(
            "  test  {:>9} ratings  {:>7} users  {:>7} items  → {}\n",
            s.test.ratings,
            s.test.users,
            s.test.items,
            f.test.display()
        ));
        if let (Some(v), Some(vf)) = (&s.valid, &f.valid) {
            human.push_str(&format!(
                "  valid {:>9} ratings  {:>7} users  {:>7} items  → {}\n",
                v.ratings,
                v.users,
                v.items,
                vf.display()
            ));
        }
        human.push_str(&format!(
            "  cold start: {} test ratings ({} users, {} items unseen in train){}\n",
            s.cold_start.ratings,
            s.cold_start.users,
            s.cold_start.items,
            if s.cold_start.dropped {
                ", dropped"
            } else {
                ", kept"
            }
        ));
    }
    let result = if kfold {
        json!({ "method": args.split.config().method.to_string(), "folds": summaries, "files": files, "filter": filtered })
    } else {
        let mut v = serde_json::to_value(&summaries[0])?;
        v["method"] = json!(args.split.config().method.to_string());
        v["files"] = serde_json::to_value(&files[0])?;
        v["filter"] = serde_json::to_value(&filtered)?;
        v
    };
    ctx.emit(&human, &result)
}
