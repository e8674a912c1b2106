//! Recommendations in original ids: top-N for a known user, fold-in for a
//! new user, batch prediction of (user, item) pairs, similar items, and
//! top-N for every user streamed to a file.
//!
//! Everything here goes through [`TrainedModel`] and the [`crate::Recommender`]
//! trait, never a concrete model. Displayed ratings are clipped to the
//! model's scale; raw scores are kept next to them.

use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Position, Result};
use crate::model::{top_n, Fallback, TrainedModel};

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Original item id.
    pub item: String,
    /// Predicted rating, clipped to the scale.
    pub rating: f32,
    /// The model's raw score (unclipped), which the ranking used.
    pub score: f32,
    /// Title, where the data set has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Recommendations for a user never seen in training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewUserRecommendations {
    /// Best first.
    pub items: Vec<Recommendation>,
    /// Rated items the model does not know (not in training): ignored.
    pub unknown_items: Vec<String>,
    /// Ratings that were folded in.
    pub used_ratings: usize,
}

/// A predicted rating for one (user, item) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairPrediction {
    /// Original user id.
    pub user: String,
    /// Original item id.
    pub item: String,
    /// Predicted rating, clipped to the scale.
    pub rating: f32,
    /// Raw prediction (unclipped).
    pub score: f32,
    /// Why the cold-start fallback answered, when it did.
    pub fallback: Option<Fallback>,
}

/// An item similar to a query item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarItem {
    /// Original item id.
    pub item: String,
    /// Cosine similarity of the item vectors, in [-1, 1].
    pub similarity: f32,
    /// Title, where the data set has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Turns (item index, raw score) pairs into [`Recommendation`]s.
pub fn describe(model: &TrainedModel, ranked: &[(u32, f32)]) -> Vec<Recommendation> {
    ranked
        .iter()
        .map(|&(i, score)| {
            let item = model.item_ids.id(i).to_string();
            Recommendation {
                title: model.titles.get(&item).cloned(),
                item,
                rating: model.scale.clip(score),
                score,
            }
        })
        .collect()
}

/// The `n` best items that `user` (original id) has not rated in training.
/// An id the model does not know is [`ErrorKind::UnknownId`].
pub fn for_user(model: &TrainedModel, user: &str, n: usize) -> Result<Vec<Recommendation>> {
    let u = model
        .user_ids
        .get(user)
        .ok_or_else(|| Error::unknown_id("user", user))?;
    Ok(describe(model, &model.recommend_index(u, n)?))
}

/// The `n` best items for a new user described by `(item id, rating)` pairs:
/// the model folds the row in without retraining. Ratings must be finite and
/// on the scale, and no item may be rated twice; items the model does not
/// know are reported and ignored, and when none is known there is nothing
/// to fold in: an [`ErrorKind::Invalid`] error rather than arbitrary items.
pub fn for_new_user(
    model: &TrainedModel,
    ratings: &[(String, f32)],
    n: usize,
) -> Result<NewUserRecommendations> {
    let mut known: Vec<(u32, f32)> = Vec::with_capacity(ratings.len());
    let mut unknown_items = Vec::new();
    let mut first_of = std::collections::HashMap::with_capacity(ratings.len());
    for (k, (item, rating)) in ratings.iter().enumerate() {
        check_rating(
            model,
            *rating,
            None,
            &format!("the rating of item {item:?} (entry {})", k + 1),
        )?;
        if let Some(first) = first_of.insert(item.as_str(), k + 1) {
            return Err(Error::new(ErrorKind::Invalid(format!(
                "item {item:?} is rated twice (entries {first} and {})",
                k + 1
            ))));
        }
        match model.item_ids.get(item).filter(|&i| model.item_is_known(i)) {
            Some(i) => known.push((i, *rating)),
            None => unknown_items.push(item.clone()),
        }
    }
    if known.is_empty() {
        return Err(Error::new(ErrorKind::Invalid(format!(
            "nothing to fold in: none of the {} rated item(s) is known to the model{}",
            ratings.len(),
            if ratings.is_empty() {
                String::new()
            } else {
                format!(" (first: {:?})", ratings[0].0)
            }
        ))));
    }
    let ranked = model.recommend_new(&known, n)?;
    Ok(NewUserRecommendations {
        items: describe(model, &ranked),
        unknown_items,
        used_ratings: known.len(),
    })
}

fn check_rating(model: &TrainedModel, value: f32, at: Option<Position>, what: &str) -> Result<()> {
    if value.is_finite() && model.scale.contains(value) {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Rating {
        position: at,
        value: value as f64,
        message: format!(
            "{what} is outside the model's scale {}..{}",
            model.scale.min, model.scale.max
        ),
    }))
}

/// Predictions for (user id, item id) pairs, in input order; ids unseen in
/// training get the cold-start fallback, flagged.
pub fn predict_pairs(
    model: &TrainedModel,
    pairs: &[(String, String)],
) -> Result<Vec<PairPrediction>> {
    let indexed: Vec<(Option<u32>, Option<u32>)> = pairs
        .iter()
        .map(|(u, i)| (model.user_ids.get(u), model.item_ids.get(i)))
        .collect();
    let predictions = model.predict_indices(&indexed)?;
    Ok(pairs
        .iter()
        .zip(predictions)
        .map(|((user, item), p)| PairPrediction {
            user: user.clone(),
            item: item.clone(),
            rating: model.scale.clip(p.value),
            score: p.value,
            fallback: p.fallback,
        })
        .collect())
}

/// [`predict_pairs`] split over the ranks of `comm`: each predicts its
/// contiguous share of `pairs` and writes it as CSV (the header on rank 0's
/// part); rank `root` receives the parts in order. Returns, on `root`, the
/// whole CSV (what one process writes) and the number of fallbacks; `None`
/// on the other ranks.
pub fn predict_pairs_over(
    model: &TrainedModel,
    pairs: &[(String, String)],
    comm: &dyn crate::collective::Collective,
    root: usize,
) -> Result<Option<(Vec<u8>, usize)>> {
    let mine = crate::collective::share(pairs.len(), comm.rank(), comm.size());
    let predictions = predict_pairs(model, &pairs[mine])?;
    let mut part = Vec::new();
    write_prediction_rows(&mut part, &predictions, comm.rank() == 0)?;
    let mut fallbacks = [predictions.iter().filter(|p| p.fallback.is_some()).count() as f64];
    comm.all_reduce_sum_f64(&mut fallbacks)?;
    let parts = comm.gather_bytes(root, part)?;
    Ok((comm.rank() == root).then(|| (parts.concat(), fallbacks[0] as usize)))
}

/// Unit-normalised item vectors for cosine similarity: built once per
/// model, then one GEMV (`n_items × dim` by `dim`) per query.
#[derive(Debug, Clone)]
pub struct SimilarityIndex {
    dim: usize,
    /// Row-major `n_items × dim`; rows of items without training ratings or
    /// with a zero vector are all NaN, so they are never returned.
    unit: Vec<f32>,
}

impl SimilarityIndex {
    /// Normalises the model's item vectors; an error when the model has
    /// none. A model that holds item × item similarities of its own
    /// ([`Recommender::similar_items`](crate::model::Recommender::similar_items))
    /// needs no vectors: its index is empty and [`similar_items`] asks the
    /// model.
    pub fn new(model: &TrainedModel) -> Result<Self> {
        if model.n_items() > 0 && model.model.similar_items(0, 0).is_some() {
            return Ok(SimilarityIndex {
                dim: 0,
                unit: Vec::new(),
            });
        }
        let (dim, mut unit) = model.model.item_vectors().ok_or_else(|| {
            Error::config(format!(
                "the {} model has no item vectors, so it cannot find similar items",
                model.model.kind()
            ))
        })?;
        if dim == 0 || unit.len() != dim * model.n_items() {
            return Err(Error::model_file(format!(
                "item vectors of {} values do not make {} rows of width {dim}",
                unit.len(),
                model.n_items()
            )));
        }
        for (i, row) in unit.chunks_exact_mut(dim).enumerate() {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 && norm.is_finite() && model.item_is_known(i as u32) {
                row.iter_mut().for_each(|x| *x /= norm);
            } else {
                row.fill(f32::NAN);
            }
        }
        Ok(SimilarityIndex { dim, unit })
    }

    /// The `n` items most similar to item index `item` (itself excluded),
    /// best first, as (item index, cosine). Empty when `item` has no usable
    /// vector.
    pub fn similar(&self, item: u32, n: usize) -> Vec<(u32, f32)> {
        if self.dim == 0 {
            return Vec::new();
        }
        let Some(query) = self.unit.chunks_exact(self.dim).nth(item as usize) else {
            return Vec::new();
        };
        if query[0].is_nan() {
            return Vec::new();
        }
        let cosines: Vec<f32> = self
            .unit
            .chunks_exact(self.dim)
            .map(|row| row.iter().zip(query).map(|(a, b)| a * b).sum())
            .collect();
        top_n(&cosines, n, &[item])
    }
}

/// The `n` items most similar to `item` (original id). An item the model
/// does not know, or one without training ratings, is [`ErrorKind::UnknownId`].
pub fn similar_items(
    model: &TrainedModel,
    index: &SimilarityIndex,
    item: &str,
    n: usize,
) -> Result<Vec<SimilarItem>> {
    let i = model
        .item_ids
        .get(item)
        .filter(|&i| model.item_is_known(i))
        .ok_or_else(|| Error::unknown_id("item", item))?;
    let similar = model
        .model
        .similar_items(i, n)
        .unwrap_or_else(|| index.similar(i, n));
    Ok(similar
        .into_iter()
        .map(|(j, similarity)| {
            let id = model.item_ids.id(j).to_string();
            SimilarItem {
                title: model.titles.get(&id).cloned(),
                item: id,
                similarity,
            }
        })
        .collect())
}

/// Top-`n` for every user of the index space, written as CSV
/// (`user,rank,item,rating`) in user order. Users are scored in parallel in
/// blocks and each block is written as soon as it is done, so memory stays
/// at one block of results. `progress` is called with the number of users
/// done. Returns the number of rows written.
pub fn recommend_all(
    model: &TrainedModel,
    n: usize,
    out: impl Write,
    progress: impl Fn(usize),
) -> Result<usize> {
    recommend_users(model, n, 0..model.n_users(), true, out, progress)
}

/// [`recommend_all`] for the users `users` (index order), with or without
/// the header line: a rank's part of a distributed run
/// ([`recommend_all_over`]); the parts of consecutive ranges, concatenated
/// with one header, are the whole file.
pub fn recommend_users(
    model: &TrainedModel,
    n: usize,
    users: std::ops::Range<usize>,
    header: bool,
    out: impl Write,
    progress: impl Fn(usize),
) -> Result<usize> {
    const BLOCK: usize = 256;
    let mut w = csv::Writer::from_writer(out);
    if header {
        w.write_record(["user", "rank", "item", "rating"])?;
    }
    let mut rows = 0;
    let (first, n_users) = (users.start as u32, users.end.min(model.n_users()) as u32);
    for start in (first..n_users).step_by(BLOCK) {
        let end = (start + BLOCK as u32).min(n_users);
        let block: Vec<Result<Vec<(u32, f32)>>> = (start..end)
            .into_par_iter()
            .map(|u| model.recommend_index(u, n))
            .collect();
        for (u, recs) in (start..end).zip(block) {
            let user = model.user_ids.id(u);
            for (rank, (i, score)) in recs?.into_iter().enumerate() {
                let rating = model.scale.clip(score).to_string();
                let rank = (rank + 1).to_string();
                w.write_record([user, &rank, model.item_ids.id(i), &rating])?;
                rows += 1;
            }
        }
        progress((end - first) as usize);
    }
    w.flush()?;
    Ok(rows)
}

/// [`recommend_all`] split over the ranks of `comm`: each scores its
/// contiguous share of the users ([`crate::collective::share`]) and rank
/// `root` receives the parts, in order. Returns, on `root`, the whole CSV
/// (byte for byte what one process writes) and its row count; `None` on
/// the other ranks.
pub fn recommend_all_over(
    model: &TrainedModel,
    n: usize,
    comm: &dyn crate::collective::Collective,
    root: usize,
    progress: impl Fn(usize),
) -> Result<Option<(Vec<u8>, usize)>> {
    let users = crate::collective::share(model.n_users(), comm.rank(), comm.size());
    let mut part = Vec::new();
    let rows = recommend_users(model, n, users, comm.rank() == 0, &mut part, progress)?;
    let mut total = [rows as f64];
    comm.all_reduce_sum_f64(&mut total)?;
    let parts = comm.gather_bytes(root, part)?;
    Ok((comm.rank() == root).then(|| (parts.concat(), total[0] as usize)))
}

/// Writes predictions as CSV: `user,item,prediction,fallback` where
/// `fallback` is empty for model predictions and names the reason otherwise.
pub fn write_predictions(out: impl Write, predictions: &[PairPrediction]) -> Result<()> {
    write_prediction_rows(out, predictions, true)
}

/// [`write_predictions`], the header line only when `header`: the parts of
/// a distributed run ([`predict_pairs_over`]).
pub fn write_prediction_rows(
    out: impl Write,
    predictions: &[PairPrediction],
    header: bool,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    if header {
        w.write_record(["user", "item", "prediction", "fallback"])?;
    }
    for p in predictions {
        let fallback = p.fallback.map(fallback_name).unwrap_or("");
        w.write_record([&p.user, &p.item, &p.rating.to_string(), fallback])?;
    }
    w.flush()?;
    Ok(())
}

/// The snake-case name of a fallback, as it appears in JSON and CSV.
pub fn fallback_name(f: Fallback) -> &'static str {
    match f {
        Fallback::UnknownUser => "unknown_user",
        Fallback::UnknownItem => "unknown_item",
        Fallback::UnknownUserAndItem => "unknown_user_and_item",
    }
}
