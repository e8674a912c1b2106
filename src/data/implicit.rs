//! Ratings read as implicit feedback: which interactions count as positive,
//! and what weight each keeps.
//!
//! Models that learn from implicit feedback (popularity, item-kNN, EASE,
//! Mult-VAE/DAE) see a user as the set of items they interacted with,
//! optionally weighted (a play count, a purchase quantity). Explicit ratings
//! become such a set by a threshold (the field's convention on MovieLens:
//! ratings ≥ 4 are positives, everything else is dropped, as in Liang et al.
//! 2018) or by taking every interaction ("rated at all" is a click). The
//! conversion runs after reading, on the [`Ratings`] table, so every reader
//! and format gets it; the id maps are kept, so a user or an item whose
//! interactions were all dropped keeps its index and simply has no entry.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{RatingScale, Ratings};
use crate::error::{Error, Result};

/// Which interactions count as positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Positives {
    /// Every interaction in the file, whatever its value.
    All,
    /// Interactions whose value is at least this (e.g. 4 on a 1–5 scale).
    AtLeast(f32),
}

/// What value a positive keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Every positive is 1: the binary click matrix of the papers.
    Binary,
    /// The value read is kept as the positive's weight (counts, plays); it
    /// must be finite and above 0.
    Value,
}

/// How to turn a rating table into implicit feedback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImplicitOptions {
    /// Which interactions are positives.
    pub positives: Positives,
    /// What weight they keep.
    pub weighting: Weighting,
}

impl Default for ImplicitOptions {
    /// Every interaction, binary.
    fn default() -> Self {
        ImplicitOptions {
            positives: Positives::All,
            weighting: Weighting::Binary,
        }
    }
}

impl ImplicitOptions {
    /// Checks the threshold is a number.
    pub fn validate(&self) -> Result<()> {
        if let Positives::AtLeast(t) = self.positives {
            if !t.is_finite() {
                return Err(Error::config(format!(
                    "the positive threshold must be a finite number, not {t}"
                )));
            }
        }
        Ok(())
    }

    /// The scale of the converted values: 0..1 for binary positives, 0 up
    /// to the largest weight for weighted ones (evaluation clips to it; a
    /// ranking model's scores are not on it anyway).
    pub fn scale(&self, converted: &Ratings) -> RatingScale {
        let max = match self.weighting {
            Weighting::Binary => 1.0,
            Weighting::Value => converted
                .min_max()
                .map_or(1.0, |(_, hi)| hi.max(f32::EPSILON)),
        };
        RatingScale { min: 0.0, max }
    }
}

/// The positives of `ratings` under `opts`, in the same id space (the id
/// maps are shared, not copied), in the order read. A weighted positive of
/// 0 or below is an error naming the user and item, since a weight says how
/// much a user liked an item and a negative weight would be a dislike the
/// implicit models cannot express.
///
/// ```
/// use aerec::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
/// use aerec::data::read::{read_ratings_bytes, ReadOptions};
/// let r = read_ratings_bytes(b"u,i,r\na,x,5\na,y,2\nb,x,4\n", &ReadOptions::new())
///     .unwrap()
///     .ratings;
/// let opts = ImplicitOptions { positives: Positives::AtLeast(4.0), weighting: Weighting::Binary };
/// let pos = to_implicit(&r, &opts).unwrap();
/// assert_eq!(pos.len(), 2);
/// assert_eq!(pos.values, vec![1.0, 1.0]);
/// assert_eq!(pos.n_items(), 2); // item y keeps its index, with no positive
/// ```
pub fn to_implicit(ratings: &Ratings, opts: &ImplicitOptions) -> Result<Ratings> {
    opts.validate()?;
    let keep: Vec<usize> = match opts.positives {
        Positives::All => (0..ratings.len()).collect(),
        Positives::AtLeast(t) => (0..ratings.len())
            .filter(|&k| ratings.values[k] >= t)
            .collect(),
    };
    let mut out = ratings.select(&keep);
    match opts.weighting {
        Weighting::Binary => out.values.fill(1.0),
        Weighting::Value => {
            if let Some(k) = out.values.iter().position(|&v| !(v.is_finite() && v > 0.0)) {
                return Err(Error::config(format!(
                    "user {:?}, item {:?}: weight {} cannot weigh a positive (it must be above \
                     0); read the file without weights, or with a positive threshold above 0",
                    out.user_ids.id(out.users[k]),
                    out.item_ids.id(out.items[k]),
                    out.values[k]
                )));
            }
        }
    }
    debug_assert!(Arc::ptr_eq(&out.user_ids, &ratings.user_ids));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IdMap;

    fn table(cells: &[(u32, u32, f32)]) -> Ratings {
        let ids = |n: usize, p: &str| {
            Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
        };
        Ratings {
            users: cells.iter().map(|c| c.0).collect(),
            items: cells.iter().map(|c| c.1).collect(),
            values: cells.iter().map(|c| c.2).collect(),
            timestamps: Some((0..cells.len() as i64).collect()),
            user_ids: ids(3, "u"),
            item_ids: ids(4, "i"),
        }
    }

    #[test]
    fn a_threshold_keeps_the_positives_in_order_with_their_timestamps() {
        let r = table(&[
            (0, 0, 5.0),
            (0, 1, 3.5),
            (1, 2, 4.0),
            (2, 3, 1.0),
            (2, 0, 4.5),
        ]);
        let opts = ImplicitOptions {
            positives: Positives::AtLeast(4.0),
            weighting: Weighting::Binary,
        };
        let p = to_implicit(&r, &opts).unwrap();
        assert_eq!(p.users, vec![0, 1, 2]);
        assert_eq!(p.items, vec![0, 2, 0]);
        assert_eq!(p.values, vec![1.0; 3]);
        assert_eq!(p.timestamps, Some(vec![0, 2, 4]));
        assert!(Arc::ptr_eq(&p.item_ids, &r.item_ids));
        assert_eq!(opts.scale(&p), RatingScale { min: 0.0, max: 1.0 });
    }

    #[test]
    fn every_interaction_with_its_weight() {
        let r = table(&[(0, 0, 3.0), (1, 1, 0.5), (2, 2, 12.0)]);
        let opts = ImplicitOptions {
            positives: Positives::All,
            weighting: Weighting::Value,
        };
        let p = to_implicit(&r, &opts).unwrap();
        assert_eq!(p.values, vec![3.0, 0.5, 12.0]);
        assert_eq!(opts.scale(&p).max, 12.0);
        let binary = to_implicit(&r, &ImplicitOptions::default()).unwrap();
        assert_eq!(binary.values, vec![1.0; 3]);
    }

    #[test]
    fn a_weight_of_zero_or_below_is_an_error_naming_the_pair() {
        let r = table(&[(0, 0, 3.0), (1, 2, 0.0)]);
        let opts = ImplicitOptions {
            positives: Positives::All,
            weighting: Weighting::Value,
        };
        let e = to_implicit(&r, &opts).unwrap_err().to_string();
        assert!(e.contains("\"u1\"") && e.contains("\"i2\""), "{e}");
        // Above a threshold of 1 the zero is not a positive, so no error.
        let above = ImplicitOptions {
            positives: Positives::AtLeast(1.0),
            ..opts
        };
        assert_eq!(to_implicit(&r, &above).unwrap().values, vec![3.0]);
        let nan = ImplicitOptions {
            positives: Positives::AtLeast(f32::NAN),
            ..opts
        };
        assert!(to_implicit(&r, &nan).is_err());
    }
}
