//! `aerec split`: splits ratings and writes the parts as CSV.
//!
//! The loading flags come from the readers (`DataArgs`); [`split_and_write`]
//! is everything after loading, so `run` is load + this.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::data_args::FileArgs;
use super::filter_args::FilterArgs;
use super::split_args::SplitArgs;
use super::Context;
use crate::data::split::{Input, SplitMethod, SplitSummary};
use crate::data::write::{write_folds, write_split};

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

/// Runs `aerec split`: load, filter, then [`split_and_write`].
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    if args.out.is_dir() {
        let inputs = args.data.input_paths();
        for part in ["train.csv", "test.csv", "valid.csv"] {
            crate::output::check_output(&args.out.join(part), "--out", &inputs)?;
        }
    } else if args.out.exists() {
        anyhow::bail!(
            "--out {}: exists and is not a directory (the parts are written into a directory)",
            args.out.display()
        );
    }
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let (input, filtered) = args.filter.apply(loaded.input);
    if let Some(f) = filtered {
        ctx.note(&format!(
            "filter: removed {} users, {} items, {} ratings in {} round(s)",
            f.users_removed, f.items_removed, f.ratings_removed, f.rounds
        ));
    }
    split_and_write(&args.split, &input, &args.out, ctx)
}

/// Splits `input` as the flags say and writes the parts under `out`
/// (`train.csv`, `test.csv`, `valid.csv`; k-fold as `fold_1/…` …), then
/// reports counts and cold-start counts per split (JSON: `method`, `seed`,
/// `out`, `splits: [{files, summary}]`).
pub fn split_and_write(
    flags: &SplitArgs,
    input: &Input,
    out: &Path,
    ctx: &Context,
) -> anyhow::Result<()> {
    let config = flags.config();
    let splits = flags.split_all(input, ctx)?;
    let files = if config.method == SplitMethod::KFold && matches!(input, Input::Whole(_)) {
        write_folds(&splits, out)?
    } else {
        vec![write_split(&splits[0], out)?]
    };
    let mut human = String::new();
    let mut reports = Vec::new();
    for (k, (split, files)) in splits.iter().zip(&files).enumerate() {
        let s = SplitSummary::of(split);
        if splits.len() > 1 {
            human.push_str(&format!("fold {}\n", k + 1));
        }
        human.push_str(&format!(
            "  train {:>10} ratings  → {}\n  test  {:>10} ratings  → {}\n",
            s.train.ratings,
            files.train.display(),
            s.test.ratings,
            files.test.display()
        ));
        if let (Some(v), Some(path)) = (&s.valid, &files.valid) {
            human.push_str(&format!(
                "  valid {:>10} ratings  → {}\n",
                v.ratings,
                path.display()
            ));
        }
        let verb = if s.cold_start.dropped {
            "dropped"
        } else {
            "kept"
        };
        human.push_str(&format!(
            "  cold start: {} test ratings ({} users, {} items) without training data, {verb}\n",
            s.cold_start.ratings, s.cold_start.users, s.cold_start.items
        ));
        reports.push(json!({ "files": files, "summary": s }));
    }
    let json = json!({
        "method": config.method,
        "seed": config.seed,
        "out": out,
        "splits": reports,
    });
    ctx.emit(&human, &json)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clap::Parser;

    use super::*;
    use crate::data::{IdMap, Ratings};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        split: SplitArgs,
    }

    #[test]
    fn kfold_writes_one_directory_per_fold() {
        let mut users = IdMap::new();
        let mut items = IdMap::new();
        let (u, i) = (0..30)
            .map(|k| {
                (
                    users.intern(&format!("u{}", k % 4)),
                    items.intern(&format!("i{k}")),
                )
            })
            .unzip();
        let ratings = Ratings {
            users: u,
            items: i,
            values: vec![3.0; 30],
            timestamps: None,
            user_ids: Arc::new(users),
            item_ids: Arc::new(items),
        };
        let flags = Cli::parse_from(["aerec", "--method", "kfold", "--folds", "3"]).split;
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            json: true,
            quiet: true,
            primary: true,
        };
        split_and_write(&flags, &Input::Whole(ratings), dir.path(), &ctx).unwrap();
        for f in 1..=3 {
            let test = std::fs::read_to_string(dir.path().join(format!("fold_{f}/test.csv")));
            assert_eq!(test.unwrap().lines().count(), 1 + 10);
        }
    }
}
