//! Splits (being written).

use super::Ratings;

/// What the data flags loaded: one table to split, or a pre-split pair.
#[derive(Debug, Clone)]
pub enum Input {
    /// One rating table; a split method divides it.
    Whole(Ratings),
    /// Train and test files given separately, each read in its own id space
    /// (aligning them into one is the split module's job).
    PreSplit {
        /// The training ratings.
        train: Ratings,
        /// The test ratings.
        test: Ratings,
    },
}
