//! The data a model fits on, prepared once per fit: the training ratings in
//! both layouts, their statistics, the declared rating scale, and the
//! validation cells a model is judged on while it trains.
//!
//! Every model kind reads the same facts from here, so they agree: one mean
//! (the autoencoders' input shift, the baselines' μ), one clip range (the
//! declared scale, as evaluation clips), and one rule for which validation
//! ratings a model answers itself (user and item both rated in training; the
//! others go to [`super::trained::BiasFallback`], the same for every kind, so
//! they say nothing about the model being fitted).

use std::sync::Arc;

use crate::data::side::SideFeatures;
use crate::data::{Csr, RatingScale, Ratings};
use crate::error::{Error, Result};

/// What every model needs to know about its training ratings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainStats {
    /// Number of training ratings.
    pub n: usize,
    /// Mean training rating (0 when there is none).
    pub mean: f64,
    /// Smallest training rating.
    pub min: f32,
    /// Largest training rating.
    pub max: f32,
}

impl TrainStats {
    /// The statistics of `train`; `None` when it holds no rating.
    pub fn of(train: &Ratings) -> Option<TrainStats> {
        let (min, max) = train.min_max()?;
        Some(TrainStats {
            n: train.len(),
            mean: train.mean()?,
            min,
            max,
        })
    }

    /// The spread of the training ratings, the yardstick
    /// [`super::diverge`] measures an exploding loss against.
    pub fn spread(&self) -> f64 {
        super::diverge::spread((self.min, self.max))
    }
}

/// The validation ratings a model answers itself, in both layouts, built
/// once per fit (early stopping scores them every epoch).
#[derive(Debug, Clone)]
pub struct ValidationCells {
    /// The cells by user (rows = users, columns = items); row and column
    /// counts are the training set's.
    pub by_user: Csr,
    /// The same cells by item.
    pub by_item: Csr,
    /// Predictions are clipped to this range before the error is taken.
    pub clip: (f32, f32),
    /// Validation ratings left out: their user or item has no training
    /// rating.
    pub left_to_fallback: usize,
}

impl ValidationCells {
    /// The cells of `valid` whose user and item both have a training rating
    /// in `train_by_user` (possibly none).
    pub fn new(valid: &Ratings, train_by_user: &Csr, scale: RatingScale) -> Self {
        let cells = answered_cells(train_by_user, valid);
        let pick = |v: &[u32]| cells.iter().map(|&j| v[j]).collect::<Vec<u32>>();
        let (users, items) = (pick(&valid.users), pick(&valid.items));
        let values: Vec<f32> = cells.iter().map(|&j| valid.values[j]).collect();
        let left_to_fallback = valid.len() - values.len();
        let (n_users, n_items) = (train_by_user.n_rows, train_by_user.n_cols);
        let by_user = Csr::from_triplets(n_users, n_items, &users, &items, &values);
        let by_item = by_user.transpose();
        ValidationCells {
            by_user,
            by_item,
            clip: (scale.min, scale.max),
            left_to_fallback,
        }
    }

    /// Number of cells scored.
    pub fn len(&self) -> usize {
        self.by_user.nnz()
    }

    /// True when no validation rating is answered by the model itself.
    pub fn is_empty(&self) -> bool {
        self.by_user.nnz() == 0
    }

    /// RMSE of `predict(user, item)` over the cells, each prediction
    /// clipped to [`ValidationCells::clip`].
    pub fn rmse(&self, predict: impl Fn(usize, usize) -> f32) -> f64 {
        let mut sq = 0f64;
        for u in 0..self.by_user.n_rows {
            let (idx, val) = self.by_user.row(u);
            for (&i, &y) in idx.iter().zip(val) {
                sq += self.error(predict(u, i as usize), y).powi(2);
            }
        }
        (sq / self.len() as f64).sqrt()
    }

    /// Sum of squared errors of `predict(user, item)` over the cells of the
    /// users `take` accepts, and how many cells that is: one rank's part of
    /// a validation RMSE computed over a group.
    pub fn sse_of_rows(
        &self,
        take: impl Fn(usize) -> bool,
        predict: impl Fn(usize, usize) -> f32,
    ) -> (f64, usize) {
        let (mut sq, mut n) = (0f64, 0usize);
        for u in (0..self.by_user.n_rows).filter(|&u| take(u)) {
            let (idx, val) = self.by_user.row(u);
            for (&i, &y) in idx.iter().zip(val) {
                sq += self.error(predict(u, i as usize), y).powi(2);
            }
            n += idx.len();
        }
        (sq, n)
    }

    /// RMSE of predictions given in the order of `layout`'s stored values
    /// (`layout` is [`ValidationCells::by_user`] or
    /// [`ValidationCells::by_item`]).
    pub fn rmse_in_order(&self, layout: &Csr, predictions: &[f32]) -> f64 {
        let sq: f64 = predictions
            .iter()
            .zip(&layout.values)
            .map(|(&p, &y)| self.error(p, y).powi(2))
            .sum();
        (sq / self.len() as f64).sqrt()
    }

    fn error(&self, prediction: f32, truth: f32) -> f64 {
        (prediction.clamp(self.clip.0, self.clip.1) - truth) as f64
    }
}

/// Indices of the ratings of `valid` that a model answers itself: their user
/// has a rating in `train_by_user` and so has their item. The other ratings
/// are answered by the bias fallback, whatever the model.
pub fn answered_cells(train_by_user: &Csr, valid: &Ratings) -> Vec<usize> {
    let mut item_known = vec![false; train_by_user.n_cols];
    for &c in &train_by_user.indices {
        item_known[c as usize] = true;
    }
    (0..valid.len())
        .filter(|&j| {
            let (u, i) = (valid.users[j] as usize, valid.items[j] as usize);
            u < train_by_user.n_rows
                && train_by_user.row_len(u) > 0
                && item_known.get(i).copied().unwrap_or(false)
        })
        .collect()
}

/// The data a model fits on. Built with [`FitData::new`], so its statistics
/// and validation cells are computed once, whatever the model.
#[derive(Debug, Clone)]
pub struct FitData<'a> {
    /// Training ratings (their id maps define the index space).
    pub train: &'a Ratings,
    /// The same ratings by user (rows = users).
    pub train_by_user: &'a Csr,
    /// Optional validation ratings in the same index space (early stopping).
    pub valid: Option<&'a Ratings>,
    /// Optional side features for hybrid models.
    pub side: Option<&'a SideFeatures>,
    /// The declared (or inferred) rating scale; validation clips to it, as
    /// evaluation does.
    pub scale: RatingScale,
    /// Statistics of the training ratings.
    pub stats: TrainStats,
    validation: Option<Arc<ValidationCells>>,
}

impl<'a> FitData<'a> {
    /// Training data with no validation split and no side features. An
    /// error when `train` is empty: no model fits on nothing.
    pub fn new(train: &'a Ratings, train_by_user: &'a Csr, scale: RatingScale) -> Result<Self> {
        let stats =
            TrainStats::of(train).ok_or_else(|| Error::config("the training set is empty"))?;
        Ok(FitData {
            train,
            train_by_user,
            valid: None,
            side: None,
            scale,
            stats,
            validation: None,
        })
    }

    /// Adds validation ratings (in the training index space), building the
    /// cells models are scored on. `None` leaves the data without one.
    pub fn with_valid(mut self, valid: Option<&'a Ratings>) -> Self {
        self.validation =
            valid.map(|v| Arc::new(ValidationCells::new(v, self.train_by_user, self.scale)));
        self.valid = valid;
        self
    }

    /// Adds side features (rows = users or items, as the model expects).
    pub fn with_side(mut self, side: Option<&'a SideFeatures>) -> Self {
        self.side = side;
        self
    }

    /// The validation cells, when a validation split was given and the
    /// model answers at least one of its ratings: what a fit reports a
    /// validation RMSE on.
    pub fn validation(&self) -> Option<&ValidationCells> {
        self.validation.as_deref().filter(|c| !c.is_empty())
    }

    /// The validation cells for a fit that chooses by them (early stopping,
    /// the epoch kept): as [`FitData::validation`], but a validation split
    /// the model cannot answer at all is an error, since choosing on nothing
    /// would silently keep the last epoch.
    pub fn validation_to_choose_by(&self) -> Result<Option<&ValidationCells>> {
        match self.validation.as_deref() {
            Some(c) if c.is_empty() => Err(Error::config(
                "the validation split has no rating whose user and item are both in training",
            )),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IdMap;

    fn ratings(triples: &[(u32, u32, f32)], n_users: usize, n_items: usize) -> Ratings {
        let ids =
            |n: usize| Arc::new(IdMap::from_ids((0..n).map(|k| k.to_string()).collect()).unwrap());
        Ratings {
            users: triples.iter().map(|t| t.0).collect(),
            items: triples.iter().map(|t| t.1).collect(),
            values: triples.iter().map(|t| t.2).collect(),
            timestamps: None,
            user_ids: ids(n_users),
            item_ids: ids(n_items),
        }
    }

    #[test]
    fn statistics_and_validation_cells_by_hand() {
        // Users 0 and 1 rate items 0 and 1; user 2 and item 2 have no
        // training rating.
        let train = ratings(&[(0, 0, 4.0), (0, 1, 2.0), (1, 0, 3.0)], 3, 3);
        let valid = ratings(&[(0, 1, 5.0), (2, 0, 3.0), (1, 0, 2.0), (0, 2, 4.0)], 3, 3);
        let by_user = train.by_user();
        let scale = RatingScale::new(1.0, 5.0).unwrap();
        let data = FitData::new(&train, &by_user, scale)
            .unwrap()
            .with_valid(Some(&valid));
        assert_eq!(
            data.stats,
            TrainStats {
                n: 3,
                mean: 3.0,
                min: 2.0,
                max: 4.0
            }
        );
        assert_eq!(answered_cells(&by_user, &valid), vec![0, 2]);
        let cells = data.validation().unwrap();
        assert_eq!((cells.len(), cells.left_to_fallback), (2, 2));
        // A constant 6 is clipped to 5: errors 0 (truth 5) and 3 (truth 2).
        let want = (9.0f64 / 2.0).sqrt();
        assert!((cells.rmse(|_, _| 6.0) - want).abs() < 1e-12);
        // By item the cells come item 0 (user 1, truth 2) then item 1
        // (user 0, truth 5).
        assert_eq!(cells.by_item.values, vec![2.0, 5.0]);
        let by_item = cells.rmse_in_order(&cells.by_item, &[0.0, 5.5]);
        assert!((by_item - (1.0f64 / 2.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn empty_training_is_an_error_unanswerable_validation_only_to_choose_by() {
        let scale = RatingScale::new(1.0, 5.0).unwrap();
        let empty = ratings(&[], 2, 2);
        let by_user = empty.by_user();
        assert!(FitData::new(&empty, &by_user, scale).is_err());
        let train = ratings(&[(0, 0, 4.0)], 2, 2);
        let by_user = train.by_user();
        let cold = ratings(&[(1, 1, 3.0)], 2, 2);
        let data = FitData::new(&train, &by_user, scale)
            .unwrap()
            .with_valid(Some(&cold));
        assert!(data.validation().is_none());
        let e = data.validation_to_choose_by().unwrap_err();
        assert!(e.to_string().contains("both in training"), "{e}");
    }
}
