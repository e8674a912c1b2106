//! Activity filters (minimum ratings per user and per item, once or to a
//! fixed point: the k-core) and rating-scale inference.
//!
//! ```
//! use aerec::data::filter::{filter, FilterConfig};
//! # use aerec::{IdMap, Ratings};
//! # use std::sync::Arc;
//! # let mut users = IdMap::new();
//! # let mut items = IdMap::new();
//! # let triplets = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x")];
//! # let (u, i): (Vec<u32>, Vec<u32>) =
//! #     triplets.iter().map(|(u, i)| (users.intern(u), items.intern(i))).unzip();
//! # let ratings = Ratings { values: vec![4.0; u.len()], users: u, items: i, timestamps: None,
//! #     user_ids: Arc::new(users), item_ids: Arc::new(items) };
//! // Users "a", "b" rated items "x", "y"; user "c" rated "x" only.
//! let (kept, report) = filter(&ratings, &FilterConfig { min_user: 2, min_item: 2, iterate: true });
//! assert_eq!((kept.len(), kept.n_users(), kept.n_items()), (4, 2, 2));
//! assert_eq!(report.users_removed, 1);
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{IdMap, RatingScale, Ratings};
use crate::error::{Error, Result};

/// Minimum numbers of ratings a user and an item must have to be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Minimum ratings per user (0 or 1: no constraint).
    pub min_user: usize,
    /// Minimum ratings per item (0 or 1: no constraint).
    pub min_item: usize,
    /// Repeat until nothing changes (the k-core), instead of one pass.
    ///
    /// One pass counts both sides on the input, then drops the ratings of
    /// every user or item under its minimum, as the Amazon Beauty seed does
    /// (`groupby(...).nunique() > 1` on users and items, then two `isin`
    /// filters): a survivor can end up under the minimum. Iterating removes
    /// those too, so every kept user and item meets its minimum.
    pub iterate: bool,
}

/// What a filter removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilterReport {
    /// Passes made (1 for one pass; the last pass of a k-core removes nothing).
    pub rounds: usize,
    /// Users dropped from the id map (with no rating left).
    pub users_removed: usize,
    /// Items dropped from the id map (with no rating left).
    pub items_removed: usize,
    /// Ratings removed.
    pub ratings_removed: usize,
}

/// Keeps the ratings of users and items that meet the minimums; returns the
/// kept ratings in input order with compacted id maps (a user or item with no
/// rating left disappears, the others keep their relative order) and a
/// report. O(ratings) per pass.
pub fn filter(ratings: &Ratings, config: &FilterConfig) -> (Ratings, FilterReport) {
    let mut keep = vec![true; ratings.len()];
    let mut rounds = 0;
    loop {
        rounds += 1;
        let user_counts = count_kept(&ratings.users, &keep, ratings.n_users());
        let item_counts = count_kept(&ratings.items, &keep, ratings.n_items());
        let mut removed = 0;
        for (k, kept) in keep.iter_mut().enumerate() {
            if *kept
                && (user_counts[ratings.users[k] as usize] < config.min_user
                    || item_counts[ratings.items[k] as usize] < config.min_item)
            {
                *kept = false;
                removed += 1;
            }
        }
        if !config.iterate || removed == 0 {
            break;
        }
    }
    let positions: Vec<usize> = (0..keep.len()).filter(|&k| keep[k]).collect();
    let kept = compact(&ratings.select(&positions));
    let report = FilterReport {
        rounds,
        users_removed: ratings.n_users() - kept.n_users(),
        items_removed: ratings.n_items() - kept.n_items(),
        ratings_removed: ratings.len() - kept.len(),
    };
    (kept, report)
}

fn count_kept(index: &[u32], keep: &[bool], n: usize) -> Vec<usize> {
    let mut counts = vec![0usize; n];
    for (&i, &kept) in index.iter().zip(keep) {
        counts[i as usize] += kept as usize;
    }
    counts
}

/// Drops from the id maps every user and item without a rating in `ratings`,
/// renumbering the rest in their previous order.
pub fn compact(ratings: &Ratings) -> Ratings {
    let (user_ids, user_remap) = compact_map(&ratings.user_ids, &ratings.users);
    let (item_ids, item_remap) = compact_map(&ratings.item_ids, &ratings.items);
    Ratings {
        users: ratings
            .users
            .iter()
            .map(|&u| user_remap[u as usize])
            .collect(),
        items: ratings
            .items
            .iter()
            .map(|&i| item_remap[i as usize])
            .collect(),
        values: ratings.values.clone(),
        timestamps: ratings.timestamps.clone(),
        user_ids: Arc::new(user_ids),
        item_ids: Arc::new(item_ids),
    }
}

/// The map restricted to the indices used, and old index → new index.
fn compact_map(ids: &IdMap, used: &[u32]) -> (IdMap, Vec<u32>) {
    let mut seen = vec![false; ids.len()];
    for &i in used {
        seen[i as usize] = true;
    }
    let mut remap = vec![u32::MAX; ids.len()];
    let mut kept = Vec::new();
    for (old, _) in seen.iter().enumerate().filter(|(_, &s)| s) {
        remap[old] = kept.len() as u32;
        kept.push(ids.id(old as u32).to_string());
    }
    let map = IdMap::from_ids(kept).expect("a subset of an id map has no repeated id");
    (map, remap)
}

/// A rating scale guessed from the values, with its step when the values sit
/// on a grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InferredScale {
    /// The scale.
    pub scale: RatingScale,
    /// The spacing of allowed values (1 for stars, 0.5 for half stars), or
    /// `None` for continuous values.
    pub step: Option<f32>,
}

/// The usual published scales, tried in this order: the first that holds
/// every value and whose step divides every value wins.
const KNOWN_SCALES: [(f32, f32, f32); 5] = [
    (1.0, 5.0, 1.0),  // MovieLens 100K/1M, Netflix, Amazon stars
    (0.5, 5.0, 0.5),  // MovieLens 10M and later (half stars)
    (0.0, 5.0, 1.0),  // 0–5 stars
    (1.0, 10.0, 1.0), // 10-point scales
    (0.0, 10.0, 1.0), // 0–10
];

/// The scale the data declares, else the one [`infer_scale`] finds in
/// `ratings` (the training part: what a model may know).
pub fn declared_or_inferred_scale(
    declared: Option<RatingScale>,
    ratings: &Ratings,
) -> Result<RatingScale> {
    Ok(match declared {
        Some(s) => s,
        None => infer_scale(ratings)?.scale,
    })
}

/// Infers the rating scale: the first of 1–5 stars, 0.5–5 half stars, 0–5,
/// 1–10 and 0–10 that holds every value on its grid (so a 1–5 star file that
/// happens to have no 1 still gets 1..5); otherwise the observed
/// `min..max`, continuous. An empty table, or one where every value is the
/// same and no known scale fits, is a [`crate::ErrorKind::Format`] error.
pub fn infer_scale(ratings: &Ratings) -> Result<InferredScale> {
    let (lo, hi) = ratings
        .min_max()
        .ok_or_else(|| Error::format("cannot infer a rating scale: there are no ratings"))?;
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(Error::format(format!(
            "cannot infer a rating scale from non-finite ratings ({lo}..{hi})"
        )));
    }
    let on_grid = |step: f32| {
        ratings
            .values
            .iter()
            .all(|&v| ((v / step).round() * step - v).abs() <= 1e-4 * step)
    };
    for (min, max, step) in KNOWN_SCALES {
        if lo >= min && hi <= max && on_grid(step) {
            return Ok(InferredScale {
                scale: RatingScale::new(min, max)?,
                step: Some(step),
            });
        }
    }
    let scale = RatingScale::new(lo, hi).map_err(|_| {
        Error::format(format!(
            "cannot infer a rating scale: every rating is {lo}; declare the scale"
        ))
    })?;
    Ok(InferredScale { scale, step: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratings(triplets: &[(&str, &str, f32)]) -> Ratings {
        let mut users = IdMap::new();
        let mut items = IdMap::new();
        let mut r = Ratings {
            users: Vec::new(),
            items: Vec::new(),
            values: Vec::new(),
            timestamps: None,
            user_ids: Arc::default(),
            item_ids: Arc::default(),
        };
        for &(u, i, v) in triplets {
            r.users.push(users.intern(u));
            r.items.push(items.intern(i));
            r.values.push(v);
        }
        r.user_ids = Arc::new(users);
        r.item_ids = Arc::new(items);
        r
    }

    fn triplets(r: &Ratings) -> Vec<(String, String)> {
        (0..r.len())
            .map(|k| {
                (
                    r.user_ids.id(r.users[k]).to_string(),
                    r.item_ids.id(r.items[k]).to_string(),
                )
            })
            .collect()
    }

    /// A chain where one pass leaves a user under the minimum: item "z" has a
    /// single rating (from "c"), so "c" falls to one rating after the pass.
    fn chain() -> Ratings {
        ratings(&[
            ("a", "x", 1.0),
            ("a", "y", 2.0),
            ("b", "x", 3.0),
            ("b", "y", 4.0),
            ("c", "x", 5.0),
            ("c", "z", 5.0),
        ])
    }

    #[test]
    fn one_pass_uses_input_counts() {
        let cfg = FilterConfig {
            min_user: 2,
            min_item: 2,
            iterate: false,
        };
        let (kept, report) = filter(&chain(), &cfg);
        // Only ("c", "z") goes: "c" has 2 ratings in the input, "z" has 1.
        assert_eq!(kept.len(), 5);
        assert_eq!(report.rounds, 1);
        assert_eq!((report.users_removed, report.items_removed), (0, 1));
        assert_eq!(kept.item_ids.ids(), ["x", "y"]);
    }

    #[test]
    fn k_core_reaches_a_fixed_point_and_compacts_ids() {
        let cfg = FilterConfig {
            min_user: 2,
            min_item: 2,
            iterate: true,
        };
        let (kept, report) = filter(&chain(), &cfg);
        assert_eq!(
            triplets(&kept),
            [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")].map(|(u, i)| (u.into(), i.into()))
        );
        assert_eq!(kept.values, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(kept.user_ids.ids(), ["a", "b"]);
        // Round 1 drops ("c","z"), round 2 drops ("c","x"), round 3 finds nothing.
        assert_eq!(report.rounds, 3);
        assert_eq!(report.users_removed, 1);
        assert_eq!(report.items_removed, 1);
        assert_eq!(report.ratings_removed, 2);
        assert_eq!(kept.user_ids.get("b"), Some(1));
    }

    #[test]
    fn no_minimum_keeps_everything() {
        let (kept, report) = filter(&chain(), &FilterConfig::default());
        assert_eq!(triplets(&kept), triplets(&chain()));
        assert_eq!(report.ratings_removed, 0);
    }

    #[test]
    fn infers_usual_scales() {
        let stars = infer_scale(&ratings(&[("a", "x", 2.0), ("a", "y", 4.0)])).unwrap();
        assert_eq!(
            (stars.scale.min, stars.scale.max, stars.step),
            (1.0, 5.0, Some(1.0))
        );
        let halves = infer_scale(&ratings(&[("a", "x", 0.5), ("a", "y", 4.5)])).unwrap();
        assert_eq!(
            (halves.scale.min, halves.scale.max, halves.step),
            (0.5, 5.0, Some(0.5))
        );
        let ten = infer_scale(&ratings(&[("a", "x", 0.0), ("a", "y", 9.0)])).unwrap();
        assert_eq!((ten.scale.min, ten.scale.max), (0.0, 10.0));
        let cont = infer_scale(&ratings(&[("a", "x", -1.25), ("a", "y", 3.3)])).unwrap();
        assert_eq!(
            (cont.scale.min, cont.scale.max, cont.step),
            (-1.25, 3.3, None)
        );
    }

    #[test]
    fn scale_of_nothing_or_a_constant_is_an_error() {
        assert!(infer_scale(&ratings(&[])).is_err());
        let err = infer_scale(&ratings(&[("a", "x", 42.0)])).unwrap_err();
        assert!(err.to_string().contains("every rating is 42"), "{err}");
    }
}
