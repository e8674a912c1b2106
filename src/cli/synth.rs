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
    #[arg(long, help_heading = "Synthetic data", value_parser = super::serde_names::<Shape>(
        &["beauty", "ml1m", "ml20m", "netflix", "custom"]
    ))]
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
                serde_json::to_value(shape).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn every_shape_name_parses_and_others_are_refused() {
        for (name, shape) in [
            ("beauty", Shape::Beauty),
            ("ml1m", Shape::Ml1m),
            ("ml20m", Shape::Ml20m),
            ("netflix", Shape::Netflix),
            ("custom", Shape::Custom),
        ] {
            let cli = Cli::try_parse_from(["t", "--shape", name, "--out", "d"]).unwrap();
            assert_eq!(cli.args.shape, shape);
        }
        assert!(Cli::try_parse_from(["t", "--shape", "ml100k", "--out", "d"]).is_err());
    }
}
