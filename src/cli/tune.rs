//! `aerec tune`: grid or random search over model settings on a validation
//! split; prints the trials and writes the best config as TOML that
//! `train --config` reads.
//!
//! ```toml
//! model = "mf"          # the model table searched around
//! epochs = 20
//!
//! [search]              # key = list of values to try
//! l2 = [0.02, 0.05, 0.1]
//! lr = [0.005, 0.01]
//!
//! [tune]                # optional: mode = "grid" (default) or "random"
//! mode = "random"
//! trials = 4
//! seed = 1
//! ```
//!
//! The validation part is carved from train (`--valid-fraction`, default
//! 0.1); the test part is not touched.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{json, Value};

use super::data_args::DataArgs;
use super::model_args::read_settings_file;
use super::split_args::SplitArgs;
use super::Context;
use crate::data::filter::declared_or_inferred_scale;
use crate::eval::tune::tune_within;
use crate::eval::SearchMode;
use crate::model::FitOptions;
use crate::report::table::Table;

/// `aerec tune` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Search file: a model table, a `[search]` table of value lists, optional `[tune]`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Write the best config here (TOML for `train --config`).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Stop starting candidates after this many seconds (a candidate starts
    /// only while the mean fit time so far still fits; the first always runs).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<f64>,
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// How to split.
    #[command(flatten)]
    pub split: SplitArgs,
}

/// Runs `aerec tune`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let path = &args.config;
    let mut inputs = args.data.input_paths();
    inputs.push(path);
    super::check_outputs(&[("--out", args.out.as_deref())], &inputs)?;
    let mut base = read_settings_file(path)?;
    let search: BTreeMap<String, Vec<Value>> = match base.remove("search") {
        Some(v) => serde_json::from_value(v)
            .with_context(|| format!("{}: [search] maps each key to a list", path.display()))?,
        None => anyhow::bail!("{}: no [search] table", path.display()),
    };
    let mode: SearchMode = match base.remove("tune") {
        Some(v) => {
            serde_json::from_value(v).with_context(|| format!("{}: [tune]", path.display()))?
        }
        None => SearchMode::Grid,
    };
    // Checks every candidate before reading data.
    crate::eval::tune::candidates(&base, &search, mode)
        .with_context(|| format!("{}", path.display()))?;
    let mut split_config = args.split.config();
    if split_config.valid_fraction.is_none() {
        split_config.valid_fraction = Some(0.1);
        ctx.note("tune: validation = 10% of train (set --valid-fraction to change)");
    }
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let split = crate::data::split::split(&loaded.input, &split_config)?;
    let valid = split
        .valid
        .as_ref()
        .context("the split has no validation part")?;
    let scale = declared_or_inferred_scale(loaded.scale, &split.train)?;
    let fit = FitOptions {
        seed: split_config.seed,
        progress: false,
    };
    let report = tune_within(
        &base,
        &search,
        mode,
        &split.train,
        valid,
        scale,
        &fit,
        args.budget,
    )?;
    if report.skipped > 0 {
        ctx.note(&format!(
            "tune: budget of {:.0} s spent: {} candidate(s) not tried",
            args.budget.unwrap_or_default(),
            report.skipped
        ));
    }
    let best_toml = report.best_toml()?;
    if let Some(out) = &args.out {
        crate::output::write_atomic_bytes(out, best_toml.as_bytes())?;
    }
    let mut headers: Vec<String> = search.keys().cloned().collect();
    headers.push("valid_rmse".into());
    headers.push("fit_seconds".into());
    let mut table = Table::new(headers);
    for t in &report.trials {
        let mut row: Vec<String> = t.params.values().map(Value::to_string).collect();
        row.push(format!("{:.4}", t.valid_rmse));
        row.push(format!("{:.2}", t.fit_seconds));
        table.push(row);
    }
    let human = format!(
        "{}\nbest (validation RMSE {:.4}):\n{best_toml}",
        table.to_text(),
        report.trials[report.best].valid_rmse
    );
    let result = json!({
        "best": report.best_spec.to_json(),
        "best_valid_rmse": report.trials[report.best].valid_rmse,
        "trials": report.trials,
        "skipped": report.skipped,
        "out": args.out,
    });
    ctx.emit(&human, &result)
}
