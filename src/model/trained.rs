//! A fitted model together with what it needs to answer in original ids:
//! the id maps, the training matrix, the cold-start fallback and the scale.
//! Its methods speak dense indices; [`crate::recommend`] owns the answers
//! in original ids (titles, clipping, files of pairs).

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::baseline::{als, BiasesConfig};
use super::{
    Fallback, FitData, FitOptions, FitReport, ModelSpec, Prediction, Recommender, SparseRow,
};
use crate::data::{Csr, IdMap, RatingScale, Ratings};
use crate::error::{Error, Result};
use crate::model::top_n;

/// User and item biases around the global mean: the cold-start fallback.
/// Fitted exactly as the `biases` baseline with its defaults (Surprise's
/// `BaselineOnly`: ALS, `reg_u = 15`, `reg_i = 10`, 10 epochs), so a cold
/// prediction is what that baseline would say.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasFallback {
    /// Global mean rating of the training set.
    pub mu: f32,
    /// Per-user bias (0 for users without training ratings).
    pub user_bias: Vec<f32>,
    /// Per-item bias (0 for items without training ratings).
    pub item_bias: Vec<f32>,
    /// Number of training ratings per item.
    pub item_counts: Vec<u32>,
}

impl BiasFallback {
    /// Fits the biases on a user-row training matrix.
    pub fn fit(train: &Csr) -> Self {
        let nnz = train.nnz().max(1) as f64;
        let mu = train.values.iter().map(|&v| v as f64).sum::<f64>() / nnz;
        let d = BiasesConfig::default();
        let (user_bias, item_bias) = als(train, mu, d.epochs, d.reg_u, d.reg_i);
        let mut item_counts = vec![0u32; train.n_cols];
        for &c in &train.indices {
            item_counts[c as usize] += 1;
        }
        BiasFallback {
            mu: mu as f32,
            user_bias: user_bias.iter().map(|&b| b as f32).collect(),
            item_bias: item_bias.iter().map(|&b| b as f32).collect(),
            item_counts,
        }
    }
}

/// A fitted model that speaks original ids.
pub struct TrainedModel {
    /// The fitted recommender.
    pub model: Box<dyn Recommender>,
    /// The spec it was fitted from.
    pub spec: ModelSpec,
    /// User ids of the training index space.
    pub user_ids: Arc<IdMap>,
    /// Item ids of the training index space.
    pub item_ids: Arc<IdMap>,
    /// Training ratings by user: the autoencoder's input and the items to
    /// exclude from a user's recommendations.
    pub train: Csr,
    /// Cold-start fallback.
    pub fallback: BiasFallback,
    /// Rating scale; evaluation clips predictions to it.
    pub scale: RatingScale,
    /// What the fit did.
    pub report: FitReport,
    /// Item titles by original item id, where the data set has them.
    pub titles: HashMap<String, String>,
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedModel")
            .field("kind", &self.model.kind())
            .field("users", &self.user_ids.len())
            .field("items", &self.item_ids.len())
            .field("ratings", &self.train.nnz())
            .finish()
    }
}

impl TrainedModel {
    /// Validates `spec`, fits it on `train` (with optional validation ratings
    /// for early stopping) and wraps the result.
    pub fn fit(
        spec: &ModelSpec,
        train: &Ratings,
        valid: Option<&Ratings>,
        side: Option<&crate::data::side::SideFeatures>,
        scale: RatingScale,
        opts: &FitOptions,
    ) -> Result<Self> {
        spec.validate()?;
        if train.is_empty() {
            return Err(Error::config("the training set is empty"));
        }
        let train_by_user = train.by_user();
        let data = FitData::new(train, &train_by_user, scale)?
            .with_valid(valid)
            .with_side(side);
        let (model, report) = spec.fit(&data, opts)?;
        let fallback = BiasFallback::fit(&train_by_user);
        Ok(TrainedModel {
            model,
            spec: spec.clone(),
            user_ids: Arc::clone(&train.user_ids),
            item_ids: Arc::clone(&train.item_ids),
            train: train_by_user,
            fallback,
            scale,
            report,
            titles: HashMap::new(),
        })
    }

    /// Wraps a model already fitted from `spec` on `train` (as
    /// [`TrainedModel::fit`] does after fitting): for models assembled from
    /// parts fitted one at a time, such as an ensemble grown member by member.
    pub fn from_fitted(
        model: Box<dyn Recommender>,
        spec: ModelSpec,
        train: &Ratings,
        scale: RatingScale,
        report: FitReport,
    ) -> Result<Self> {
        if (model.n_users(), model.n_items()) != (train.n_users(), train.n_items()) {
            return Err(Error::config(format!(
                "the model has {} users × {} items, the training set {} × {}",
                model.n_users(),
                model.n_items(),
                train.n_users(),
                train.n_items()
            )));
        }
        let train_by_user = train.by_user();
        let fallback = BiasFallback::fit(&train_by_user);
        Ok(TrainedModel {
            model,
            spec,
            user_ids: Arc::clone(&train.user_ids),
            item_ids: Arc::clone(&train.item_ids),
            train: train_by_user,
            fallback,
            scale,
            report,
            titles: HashMap::new(),
        })
    }

    /// Number of users in the index space.
    pub fn n_users(&self) -> usize {
        self.train.n_rows
    }

    /// Number of items in the index space.
    pub fn n_items(&self) -> usize {
        self.train.n_cols
    }

    /// True when user index `u` had training ratings.
    pub fn user_is_known(&self, u: u32) -> bool {
        (u as usize) < self.train.n_rows && self.train.row_len(u as usize) > 0
    }

    /// True when item index `i` had training ratings.
    pub fn item_is_known(&self, i: u32) -> bool {
        self.fallback
            .item_counts
            .get(i as usize)
            .is_some_and(|&n| n > 0)
    }

    fn fallback_value(&self, u: Option<u32>, i: Option<u32>) -> Prediction {
        let fb = &self.fallback;
        let ub = u.filter(|&u| self.user_is_known(u));
        let ib = i.filter(|&i| self.item_is_known(i));
        match (ub, ib) {
            (Some(u), None) => Prediction {
                value: fb.mu + fb.user_bias[u as usize],
                fallback: Some(Fallback::UnknownItem),
            },
            (None, Some(i)) => Prediction {
                value: fb.mu + fb.item_bias[i as usize],
                fallback: Some(Fallback::UnknownUser),
            },
            _ => Prediction {
                value: fb.mu,
                fallback: Some(Fallback::UnknownUserAndItem),
            },
        }
    }

    /// Predictions for (user, item) index pairs; `None` is an id the training
    /// data never had. Pairs are grouped by user so each user's row is encoded
    /// once; users run in parallel. Output order follows input order.
    pub fn predict_indices(&self, pairs: &[(Option<u32>, Option<u32>)]) -> Result<Vec<Prediction>> {
        let mut out: Vec<Prediction> = pairs
            .iter()
            .map(|&(u, i)| self.fallback_value(u, i))
            .collect();
        // Group model-predictable pairs by user.
        let mut by_user: HashMap<u32, Vec<(usize, u32)>> = HashMap::new();
        for (k, &(u, i)) in pairs.iter().enumerate() {
            if let (Some(u), Some(i)) = (u, i) {
                if self.user_is_known(u) && self.item_is_known(i) {
                    by_user.entry(u).or_default().push((k, i));
                }
            }
        }
        let groups: Vec<(u32, Vec<(usize, u32)>)> = by_user.into_iter().collect();
        let scored: Vec<Result<Vec<(usize, f32)>>> = groups
            .par_iter()
            .map(|(u, list)| {
                let items: Vec<u32> = list.iter().map(|p| p.1).collect();
                let mut vals = vec![0f32; items.len()];
                self.model.score_items(
                    Some(*u),
                    SparseRow::of(&self.train, *u as usize),
                    &items,
                    &mut vals,
                )?;
                Ok(list.iter().map(|p| p.0).zip(vals).collect())
            })
            .collect();
        for group in scored {
            for (k, v) in group? {
                out[k] = Prediction {
                    value: v,
                    fallback: None,
                };
            }
        }
        Ok(out)
    }

    /// Predictions for every rating of `test` (same index space as training).
    pub fn predict_ratings(&self, test: &Ratings) -> Result<Vec<Prediction>> {
        let pairs: Vec<(Option<u32>, Option<u32>)> = test
            .users
            .iter()
            .zip(&test.items)
            .map(|(&u, &i)| {
                (
                    ((u as usize) < self.n_users()).then_some(u),
                    ((i as usize) < self.n_items()).then_some(i),
                )
            })
            .collect();
        self.predict_indices(&pairs)
    }

    /// Raw scores of a known user (index) for every item.
    pub fn score_user(&self, u: u32) -> Result<Vec<f32>> {
        let mut scores = vec![0f32; self.n_items()];
        if self.user_is_known(u) {
            self.model
                .score_all(Some(u), SparseRow::of(&self.train, u as usize), &mut scores)?;
        } else {
            for (i, s) in scores.iter_mut().enumerate() {
                *s = self.fallback_value(Some(u), Some(i as u32)).value;
            }
        }
        Ok(scores)
    }

    /// The `n` highest-predicted items that user index `u` has not rated in
    /// training, best first, as (item index, predicted rating).
    pub fn recommend_index(&self, u: u32, n: usize) -> Result<Vec<(u32, f32)>> {
        if self.user_is_known(u) {
            let (seen, _) = self.train.row(u as usize);
            let row = SparseRow::of(&self.train, u as usize);
            return self.model.top_n(Some(u), row, n, seen);
        }
        let scores = self.score_user(u)?;
        let (seen, _) = if (u as usize) < self.n_users() {
            self.train.row(u as usize)
        } else {
            (&[][..], &[][..])
        };
        Ok(top_n(&scores, n, seen))
    }

    /// Recommendations for a user never seen in training, from their ratings
    /// as (item index, rating); the model folds the row in without retraining.
    pub fn recommend_new(&self, ratings: &[(u32, f32)], n: usize) -> Result<Vec<(u32, f32)>> {
        let mut row: Vec<(u32, f32)> = ratings.to_vec();
        row.sort_unstable_by_key(|p| p.0);
        row.dedup_by_key(|p| p.0);
        let indices: Vec<u32> = row.iter().map(|p| p.0).collect();
        let values: Vec<f32> = row.iter().map(|p| p.1).collect();
        let row = SparseRow {
            indices: &indices,
            values: &values,
        };
        self.model.top_n(None, row, n, &indices)
    }
}
