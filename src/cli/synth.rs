//! `aerec synth`: writes a synthetic rating set shaped like a real catalogue.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use super::Context;
use crate::data::synth::{write_csv, Shape, SynthConfig};

/// Arguments of `aerec synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalogue to imitate: sizes, rating histogram, id style, activity extremes.
    #[arg(long, value_enum, help_heading = "Synthetic data")]
    pub shape: Shape,
    /// Number of users (with --shape custom).
    #[arg(long, value_name = "N", help_heading = "Synthetic data")]
    pub users: Option<usize>,
    /// Number of items (with --shape custom).
    #[arg(long, value_name = "N", help_heading = "Synthetic data")]
    pub items: Option<usize>,
    /// Number of ratings (with --shape custom).
    #[arg(long, value_name = "N", help_heading = "Synthetic data")]
    pub ratings: Option<usize>,
    /// Seed: the same seed writes the same files, whatever the thread count.
    #[arg(long, default_value_t = 1, help_heading = "Synthetic data")]
    pub seed: u64,
    /// Share of ratings written to test.csv (each rating independently).
    #[arg(
        long,
        value_parser = super::finite_f64,
        default_value_t = 0.2,
        value_name = "F",
        help_heading = "Synthetic data"
    )]
    pub test_fraction: f64,
    /// Directory for train.csv and test.csv (created if missing).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub out: PathBuf,
}

impl Args {
    /// The generator's configuration: sizes come from the shape, or from
    /// --users/--items/--ratings (all three) for a custom shape.
    pub fn config(&self) -> anyhow::Result<SynthConfig> {
        let sizes = [self.users, self.items, self.ratings];
        match (self.shape, sizes) {
            (Shape::Custom, [Some(u), Some(i), Some(r)]) => {
                Ok(SynthConfig::custom(u, i, r, self.seed))
            }
            (Shape::Custom, _) => {
                anyhow::bail!("--shape custom needs --users, --items and --ratings")
            }
            (shape, [None, None, None]) => Ok(SynthConfig::shape(shape, self.seed)),
            (shape, _) => anyhow::bail!(
                "--users, --items and --ratings go with --shape custom; --shape {} has its own sizes",
                clap::ValueEnum::to_possible_value(&shape).map_or_else(String::new, |v| v.get_name().to_string())
            ),
        }
    }
}

/// Generates and writes the set; reports counts, paths and seconds.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let config = args.config()?;
    config.validate()?;
    ctx.note(&format!(
        "generating {} users × {} items, {} ratings into {}",
        config.users,
        config.items,
        config.ratings,
        args.out.display()
    ));
    let started = Instant::now();
    let out = write_csv(&config, &args.out, args.test_fraction)
        .with_context(|| format!("writing the synthetic set to {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let human = format!(
        "{} users × {} items, {} ratings (mean {:.3})\n  train: {} ratings → {}\n  test:  {} ratings → {}\n  {:.2} s\n",
        out.users,
        out.items,
        out.ratings,
        out.mean,
        out.train_ratings,
        out.train.display(),
        out.test_ratings,
        out.test.display(),
        seconds
    );
    let mut json = serde_json::to_value(&out)?;
    json["shape"] = serde_json::to_value(config.shape)?;
    json["seed"] = config.seed.into();
    json["seconds"] = seconds.into();
    ctx.emit(&human, &json)
}
