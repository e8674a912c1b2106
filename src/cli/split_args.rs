//! The split flags every command that splits data shares (`split`, `train`,
//! `compare`, `tune`): parsed into a [`SplitConfig`], then applied to the
//! loaded [`Input`].

use super::Context;
use crate::data::split::{
    split, split_all, ColdStart, Input, Split, SplitConfig, SplitMethod, ValidMethod,
};

/// How to divide the ratings into train, test and validation.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(next_help_heading = "Split")]
pub struct SplitArgs {
    /// random, user (per-user stratified), time (global timestamp quantile),
    /// user-time (each user's latest), kfold, ml100k-u1 … ml100k-u5 (the
    /// MovieLens 100K published folds, from u.data), none [default: random].
    #[arg(long, value_name = "METHOD")]
    pub method: Option<SplitMethod>,
    /// Share of ratings (per user for user and user-time) held out for test.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub test_fraction: f64,
    /// Train = ratings up to this quantile of the timestamps (pandas' linear
    /// interpolation), for --method time.
    #[arg(long, default_value_t = 0.98, value_name = "Q")]
    pub time_quantile: f64,
    /// Number of folds, for --method kfold.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub folds: usize,
    /// Which fold (1-based) is the test part, for commands that use one split.
    #[arg(long, default_value_t = 1, value_name = "I")]
    pub fold: usize,
    /// Share of the training ratings carved out for validation.
    #[arg(long, value_name = "F")]
    pub valid_fraction: Option<f64>,
    /// How validation ratings are chosen from train.
    #[arg(long, default_value = "random",
          value_parser = super::serde_names::<ValidMethod>(&["random", "user"]))]
    pub valid_method: ValidMethod,
    /// Seed of the split: the same seed gives the same split.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Test ratings whose user or item has no training rating: keep them (the
    /// model falls back) or drop them. Counted and reported either way.
    #[arg(long, default_value = "keep",
          value_parser = super::serde_names::<ColdStart>(&["keep", "drop"]))]
    pub cold_start: ColdStart,
}

impl SplitArgs {
    /// The split configuration the flags describe.
    pub fn config(&self) -> SplitConfig {
        SplitConfig {
            method: self.method.unwrap_or_default(),
            test_fraction: self.test_fraction,
            time_quantile: self.time_quantile,
            folds: self.folds,
            fold: self.fold,
            valid_fraction: self.valid_fraction,
            valid_method: self.valid_method,
            seed: self.seed,
            cold_start: self.cold_start,
        }
    }

    /// Splits the input once (fold --fold of k-fold). Pre-split train/test
    /// files ignore --method; a note says so when one was given.
    pub fn split(&self, input: &Input, ctx: &Context) -> anyhow::Result<Split> {
        self.note_ignored_method(input, ctx);
        Ok(split(input, &self.config())?)
    }

    /// Every split the flags describe: all folds for kfold, else one.
    pub fn split_all(&self, input: &Input, ctx: &Context) -> anyhow::Result<Vec<Split>> {
        self.note_ignored_method(input, ctx);
        Ok(split_all(input, &self.config())?)
    }

    fn note_ignored_method(&self, input: &Input, ctx: &Context) {
        if let (Input::PreSplit { .. }, Some(method)) = (input, self.method) {
            ctx.note(&format!(
                "note: --method {method} ignored: train and test were given as separate files"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        split: SplitArgs,
    }

    fn parse(args: &[&str]) -> Result<SplitConfig, clap::Error> {
        let argv = std::iter::once("aerec").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.split.config())
    }

    #[test]
    fn defaults_are_random_tenth_seed_one_keep() {
        assert_eq!(parse(&[]).unwrap(), SplitConfig::default());
    }

    #[test]
    fn every_flag_reaches_the_config() {
        let c = parse(&[
            "--method",
            "kfold",
            "--folds",
            "10",
            "--fold",
            "3",
            "--seed",
            "42",
            "--valid-fraction",
            "0.05",
            "--valid-method",
            "user",
            "--cold-start",
            "drop",
            "--test-fraction",
            "0.25",
            "--time-quantile",
            "0.9",
        ])
        .unwrap();
        let expected = SplitConfig {
            method: SplitMethod::KFold,
            test_fraction: 0.25,
            time_quantile: 0.9,
            folds: 10,
            fold: 3,
            valid_fraction: Some(0.05),
            valid_method: ValidMethod::User,
            seed: 42,
            cold_start: ColdStart::Drop,
        };
        assert_eq!(c, expected);
    }

    #[test]
    fn methods_parse_and_typos_are_usage_errors() {
        assert_eq!(
            parse(&["--method", "ml100k-u5"]).unwrap().method,
            SplitMethod::Ml100k(5)
        );
        assert_eq!(
            parse(&["--method", "user-time"]).unwrap().method,
            SplitMethod::UserTime
        );
        let err = parse(&["--method", "radnom"]).err().unwrap();
        assert!(err.to_string().contains("unknown split method"), "{err}");
        assert!(parse(&["--cold-start", "maybe"]).is_err());
    }
}
