//! `aerec stats [FILE]`: counts, density, mean, rating histogram, activity quantiles.

use std::fmt::Write as _;

use super::data_args::FileArgs;
use super::Context;
use crate::data::split::Input;
use crate::data::stats::{CountQuantiles, Stats};

/// Arguments of `aerec stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file and how to read it.
    #[command(flatten)]
    pub data: FileArgs,
}

/// Prints the statistics of the file (or of train and test of a pre-split pair).
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let loaded = args.data.load()?;
    ctx.note(&loaded.note());
    let Input::Whole(ratings) = &loaded.input else {
        anyhow::bail!("stats reads one file");
    };
    let stats = Stats::of(ratings);
    let mut json = serde_json::to_value(&stats)?;
    json["source"] = loaded.source.clone().into();
    json["format"] = loaded.format.name().into();
    json["skipped"] = loaded.skipped.into();
    ctx.emit(&human(&stats, &loaded.source), &json)
}

fn quantiles(q: &CountQuantiles) -> String {
    format!(
        "min {}, median {}, p90 {}, max {}",
        q.min, q.median, q.p90, q.max
    )
}

fn human(s: &Stats, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{source}");
    let _ = writeln!(out, "  users      {:>12}", s.users);
    let _ = writeln!(out, "  items      {:>12}", s.items);
    let _ = writeln!(out, "  ratings    {:>12}", s.ratings);
    let _ = writeln!(out, "  density    {:>12.6}", s.density);
    let _ = writeln!(out, "  mean       {:>12.4}", s.mean);
    let _ = writeln!(out, "  min..max   {:>12}", format!("{}..{}", s.min, s.max));
    let _ = writeln!(out, "  per user   {}", quantiles(&s.per_user));
    let _ = writeln!(out, "  per item   {}", quantiles(&s.per_item));
    let _ = writeln!(out, "  histogram");
    let widest = s
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(1)
        .max(1);
    for b in s.histogram.iter().take(40) {
        let bar = "#".repeat((b.count * 40).div_ceil(widest));
        let _ = writeln!(out, "  {:>8} {:>10}  {bar}", b.value, b.count);
    }
    if s.histogram.len() > 40 {
        let _ = writeln!(out, "  … {} more values", s.histogram.len() - 40);
    }
    out
}
