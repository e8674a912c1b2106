//! Flags that drop sparse users and items before splitting.

use crate::data::filter::{filter, FilterConfig, FilterReport};
use crate::data::split::Input;

/// Minimum activity filters (help heading "Data").
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Data")]
pub struct FilterArgs {
    /// Drop users with fewer ratings than this.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_user_ratings: usize,
    /// Drop items with fewer ratings than this.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_item_ratings: usize,
    /// Repeat the two filters until nothing changes (k-core) instead of one pass.
    #[arg(long)]
    pub kcore: bool,
}

impl FilterArgs {
    /// True when a filter was asked for.
    pub fn active(&self) -> bool {
        self.min_user_ratings > 0 || self.min_item_ratings > 0
    }

    /// Filters a whole table; a pre-split pair is filtered on its training
    /// part only (the test part is what it is).
    pub fn apply(&self, input: Input) -> (Input, Option<FilterReport>) {
        if !self.active() {
            return (input, None);
        }
        let config = FilterConfig {
            min_user: self.min_user_ratings,
            min_item: self.min_item_ratings,
            iterate: self.kcore,
        };
        match input {
            Input::Whole(r) => {
                let (r, report) = filter(&r, &config);
                (Input::Whole(r), Some(report))
            }
            Input::PreSplit { train, test } => {
                let (train, report) = filter(&train, &config);
                (Input::PreSplit { train, test }, Some(report))
            }
        }
    }
}
