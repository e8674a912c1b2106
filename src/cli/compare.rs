//! `aerec compare`: several models on the same data and splits, k-fold by
//! default, one table (text, CSV, JSON) and a bar chart with error bars.
//!
//! The config file lists the models, each a model table with a `name`:
//!
//! ```toml
//! [[models]]
//! name = "biases"
//! model = "biases"
//!
//! [[models]]
//! name = "mf tuned"
//! model = "mf"
//! l2 = 0.1
//! ```
//!
//! and optionally a `[split]` table (the split flags' keys), which then
//! replaces the split flags. With neither a `[split]` table nor `--method`,
//! the split is k-fold with `--folds` folds (default 5).
//!
//! A model table may also say `side_info = true`: that model (an
//! autoencoder) gets the features of `--side-info FILE` appended to its
//! input, the others do not, so a hybrid and a plain model meet on the same
//! splits. `--epochs N` replaces the epochs of every model that trains in
//! epochs, to try a long experiment quickly (the table then says so in each
//! model's parameters).
//!
//! `--protocol strong` measures top-N lists instead, the field's way for
//! implicit feedback ([`crate::eval::protocol::compare_strong`]): ratings of
//! at least `--relevant` are the positives, held-out users are folded in,
//! and ranking models (fitted on the positives) and rating models (fitted
//! on the ratings) are listed side by side at K = 20, 50, 100.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{json, Map, Value};

use super::data_args::DataArgs;
use super::model_args::read_settings_file;
use super::split_args::SplitArgs;
use super::train::{EvalArgs, SideOfArg};
use super::Context;
use crate::data::filter::declared_or_inferred_scale;
use crate::data::side::{read_side_features, SideOf};
use crate::data::split::{split_all, SplitConfig, SplitMethod};
use crate::eval::protocol::{compare_strong, write_strong_split, StrongOptions, FIELD_KS};
use crate::eval::{compare_with_side, NamedSpec};
use crate::model::{FitOptions, ModelSpec};
use crate::report::bars::{bar_chart, Bar};
use crate::report::table::Table;

/// `aerec compare` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment file: `[[models]]` tables (each `name` plus model keys), optional `[split]`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Side information for the models with `side_info = true`: `u.user`/`users.dat`
    /// (user gender, age, occupation) or `u.item` (item genres).
    #[arg(long, value_name = "FILE", help_heading = "Data")]
    pub side_info: Option<PathBuf>,
    /// Whether `--side-info` describes users or items (default: from the file name).
    #[arg(long, value_enum, value_name = "OF", help_heading = "Data")]
    pub side_of: Option<SideOfArg>,
    /// How to split (ignored when the config has a `[split]` table).
    #[command(flatten)]
    pub split: SplitArgs,
    /// Train every model for N epochs instead of its configured number
    /// (models without epochs, mean and svd, are unaffected).
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub epochs: Option<usize>,
    /// Evaluation settings.
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Write the table as CSV.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub csv: Option<PathBuf>,
    /// Bar chart of test RMSE (mean ± std over folds), PNG or SVG by extension.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub plot: Option<PathBuf>,
    /// What to measure: `ratings` (RMSE and top-K on rating splits) or
    /// `strong` (top-N lists of held-out users on the positives, ratings ≥
    /// --relevant: Recall@20/50, NDCG@100, MAP@100, coverage, popularity).
    #[arg(long, value_name = "PROTOCOL", default_value = "ratings",
          value_parser = ["ratings", "strong"], help_heading = "Evaluation")]
    pub protocol: String,
    /// Share of users held out for testing under `--protocol strong`
    /// (as many again for validation, where models choose their epochs).
    #[arg(
        long,
        value_name = "SHARE",
        default_value_t = 0.2,
        help_heading = "Evaluation"
    )]
    pub test_users: f64,
    /// Under `--protocol strong`: write the split's five CSV files into DIR.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub split_dir: Option<PathBuf>,
}

/// The models and the optional split of an experiment file.
fn read_experiment(args: &Args) -> anyhow::Result<(Vec<NamedSpec>, Option<SplitConfig>)> {
    let path = &args.config;
    let mut table = read_settings_file(path)?;
    let split = match table.remove("split") {
        Some(v) => Some(
            serde_json::from_value::<SplitConfig>(v)
                .with_context(|| format!("{}: [split]", path.display()))?,
        ),
        None => None,
    };
    let Some(Value::Array(models)) = table.remove("models") else {
        anyhow::bail!("{}: expected [[models]] tables", path.display());
    };
    if let Some(key) = table.keys().next() {
        anyhow::bail!(
            "{}: unknown key `{key}` (expected [[models]] and [split])",
            path.display()
        );
    }
    let models = models
        .into_iter()
        .enumerate()
        .map(|(n, m)| {
            let Value::Object(mut m) = m else {
                anyhow::bail!("{}: models[{n}] is not a table", path.display());
            };
            let name = match m.remove("name") {
                Some(Value::String(s)) => s,
                _ => anyhow::bail!("{}: models[{n}] needs a `name`", path.display()),
            };
            let side_info = match m.remove("side_info") {
                None => false,
                Some(Value::Bool(b)) => b,
                Some(other) => anyhow::bail!(
                    "{}: model {name:?}: `side_info` must be true or false, got {other}",
                    path.display()
                ),
            };
            let spec = ModelSpec::from_json(&Value::Object(m))
                .with_context(|| format!("{}: model {name:?}", path.display()))?;
            Ok(NamedSpec {
                name,
                spec,
                side_info,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((models, split))
}

/// Runs `aerec compare`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let (mut models, split_table) = read_experiment(args)?;
    let mut inputs = args.data.input_paths();
    inputs.push(&args.config);
    inputs.extend(args.side_info.as_deref());
    super::check_outputs(
        &[
            ("--csv", args.csv.as_deref()),
            ("--plot", args.plot.as_deref()),
        ],
        &inputs,
    )?;
    if let Some(plot) = &args.plot {
        crate::report::PlotFormat::from_path(plot)?;
    }
    if let Some(epochs) = args.epochs {
        if epochs == 0 {
            anyhow::bail!("--epochs 0: every model needs at least one epoch");
        }
        for m in &mut models {
            if m.spec.set_epochs(epochs) {
                ctx.note(&format!(
                    "compare: {:?} trains {epochs} epoch(s) (--epochs)",
                    m.name
                ));
            }
        }
    }
    if args.side_info.is_none() {
        if let Some(m) = models.iter().find(|m| m.side_info) {
            anyhow::bail!(
                "{}: model {:?} has side_info = true; give the features with --side-info FILE",
                args.config.display(),
                m.name
            );
        }
    }
    if args.protocol == "strong" {
        return run_strong(args, &models, ctx);
    }
    if args.plot.is_some() && models.iter().all(|m| m.spec.ranks_only()) {
        anyhow::bail!(
            "--plot draws the test RMSE, and these models only rank (no RMSE): \
             drop --plot, or use --protocol strong for ranking models"
        );
    }
    let split_config = split_table.unwrap_or_else(|| {
        let mut c = args.split.config();
        if args.split.method.is_none() {
            c.method = SplitMethod::KFold;
        }
        c
    });
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let splits = split_all(&loaded.input, &split_config)?;
    let scale = declared_or_inferred_scale(loaded.scale, &splits[0].train)?;
    ctx.note(&format!(
        "compare: {} model(s) on {} split(s) ({})",
        models.len(),
        splits.len(),
        split_config.method
    ));
    let fit = FitOptions {
        seed: split_config.seed,
        progress: false,
        ..FitOptions::default()
    };
    let side = match &args.side_info {
        Some(path) if models.iter().any(|m| m.side_info) => Some(
            splits
                .iter()
                .map(|s| read_side_features(path, args.side_of.map(SideOf::from), &s.train))
                .collect::<crate::error::Result<Vec<_>>>()?,
        ),
        _ => None,
    };
    let report = compare_with_side(
        &models,
        &splits,
        side.as_deref(),
        scale,
        &args.eval.options_for(
            split_config.seed,
            super::train::is_implicit(&args.data.read, scale),
        ),
        &fit,
    )?;
    let table = report.table();
    if let Some(path) = &args.csv {
        crate::output::write_atomic_bytes(path, table.to_csv()?.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        // Ranking models have no RMSE: their bars are left out.
        let bars: Vec<Bar> = report
            .models
            .iter()
            .filter_map(|m| {
                m.summary.get("test_rmse").map(|s| Bar {
                    label: m.name.clone(),
                    value: s.mean,
                    error: s.std,
                })
            })
            .collect();
        bar_chart(path, "Test RMSE (mean ± std over folds)", "RMSE", &bars)?;
    }
    let mut result = Map::new();
    result.insert("folds".into(), json!(report.folds));
    result.insert("split".into(), serde_json::to_value(split_config)?);
    result.insert("table".into(), table.to_json());
    result.insert("models".into(), serde_json::to_value(&report.models)?);
    ctx.emit(&table.to_text(), &Value::Object(result))
}

/// `aerec compare --protocol strong`.
fn run_strong(args: &Args, models: &[NamedSpec], ctx: &Context) -> anyhow::Result<()> {
    if args.data.read.implicit_options().is_some() {
        anyhow::bail!(
            "--protocol strong reads the ratings themselves (rating models learn from them); \
             drop --implicit/--positive/--weighted and say which ratings are positives with \
             --relevant R"
        );
    }
    if args.side_info.is_some() || args.plot.is_some() {
        anyhow::bail!("--protocol strong takes neither --side-info nor --plot");
    }
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let crate::data::split::Input::Whole(ratings) = &loaded.input else {
        anyhow::bail!("--protocol strong splits the users itself: give --data, not --train/--test");
    };
    let opts = StrongOptions {
        test_users: args.test_users,
        valid_users: args.test_users.min(0.5),
        seed: args.split.seed,
        ..StrongOptions::default()
    };
    let fit = FitOptions {
        seed: args.split.seed,
        progress: false,
        ..FitOptions::default()
    };
    let (split, rows) =
        compare_strong(ratings, args.eval.relevant, models, &opts, &FIELD_KS, &fit)?;
    ctx.note(&format!(
        "compare: strong generalization, {} test users ({} scored), ratings ≥ {} are positives",
        args.test_users,
        split.test.scored_users(),
        args.eval.relevant
    ));
    if let Some(dir) = &args.split_dir {
        let files = write_strong_split(&split, dir)?;
        ctx.note(&format!(
            "compare: split written to {}",
            files.train.parent().unwrap_or(dir).display()
        ));
    }
    let mut t = Table::new(
        [
            "model",
            "learns from",
            "Recall@20",
            "Recall@50",
            "NDCG@100",
            "MAP@100",
            "coverage@100",
            "popularity@20",
            "fit s",
        ]
        .map(String::from)
        .to_vec(),
    );
    for r in &rows {
        let (k20, k50, k100) = (r.report.at_k(20), r.report.at_k(50), r.report.at_k(100));
        let (Some(k20), Some(k50), Some(k100)) = (k20, k50, k100) else {
            anyhow::bail!("the report lacks a K it was asked for");
        };
        t.push(vec![
            r.name.clone(),
            if r.ranks_only { "positives" } else { "ratings" }.into(),
            k20.recall.to_string(),
            k50.recall.to_string(),
            k100.ndcg.to_string(),
            format!("{:.4}", k100.map.mean),
            format!("{:.3}", k100.coverage),
            format!("{:.3}", k20.list_popularity),
            format!("{:.1}", r.fit_seconds),
        ]);
    }
    if let Some(path) = &args.csv {
        crate::output::write_atomic_bytes(path, t.to_csv()?.as_bytes())?;
    }
    let relevant_popularity = rows.first().map_or(0.0, |r| r.report.relevant_popularity);
    let text = format!(
        "{}popularity: mean share of training users who have a listed item (the items the test \
         users chose: {relevant_popularity:.3})",
        t.to_text()
    );
    let result = json!({
        "protocol": "strong",
        "options": opts,
        "relevant": args.eval.relevant,
        "models": rows,
        "table": t.to_json(),
    });
    ctx.emit(&text, &result)
}
