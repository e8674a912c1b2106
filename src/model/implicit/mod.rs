//! Ranking models for implicit feedback: a user is the set of items they
//! interacted with (values are weights, 1 for a click), and a model's scores
//! order the catalogue; they are not ratings.
//!
//! | kind        | model                                              | after                 |
//! |-------------|----------------------------------------------------|-----------------------|
//! | `popularity`| [`PopularityModel`]: how many users have the item  |                       |
//! | `item-knn`  | [`ItemKnnModel`]: cosine item–item neighbours      | implicit's `ItemItem` |
//! | `ease`      | [`EaseModel`]: closed-form item–item regression    | Steck, WWW 2019       |
//! | `mult-vae`  | [`MultModel`]: variational, multinomial likelihood | Liang et al., WWW 2018|
//! | `mult-dae`  | [`MultModel`]: denoising, multinomial likelihood   | Liang et al., WWW 2018|
//! | `cdae`      | [`CdaeModel`]: denoising, user node, sampled negatives | Wu et al., WSDM 2016 |
//!
//! Every kind but CDAE folds a new user in exactly (the scores are a
//! function of the user's row alone; CDAE fits the new user's own vector by
//! a few gradient steps, see [`CdaeModel`]), and says so by
//! [`ModelConfig::ranks_only`] that its scores are no ratings, so rating
//! metrics do not apply to it.
//!
//! [`ModelConfig::ranks_only`]: crate::model::registry::ModelConfig::ranks_only

mod cdae;
mod ease;
mod item_knn;
mod mult_vae;
mod popularity;

pub use cdae::{CdaeConfig, CdaeModel};
pub use ease::{EaseConfig, EaseModel};
pub use item_knn::{ItemKnnConfig, ItemKnnModel};
pub use mult_vae::{MultDaeConfig, MultModel, MultSettings, MultVaeConfig};
pub use popularity::{PopularityConfig, PopularityModel};

pub(crate) use cdae::KIND as CDAE;
pub(crate) use ease::KIND as EASE;
pub(crate) use item_knn::KIND as ITEM_KNN;
pub(crate) use mult_vae::{DAE as MULT_DAE, VAE as MULT_VAE};
pub(crate) use popularity::KIND as POPULARITY;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Ratings};
use crate::error::{Error, Result};
use crate::eval::ranking::user_ranking;
use crate::model::{top_n, ModelParts, Recommender, SparseRow, Tensor};

/// The catalogue's shape, kept in a ranking model's file config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Dims {
    users: usize,
    items: usize,
}

impl Dims {
    fn of(parts: &ModelParts) -> Result<Dims> {
        parts
            .config
            .get("dims")
            .and_then(|d| serde_json::from_value::<Dims>(d.clone()).ok())
            .ok_or_else(|| {
                Error::model_file(format!(
                    "{} config: missing \"dims\": {{\"users\", \"items\"}}",
                    parts.kind
                ))
            })
    }
}

/// Checks a scoring call: a known user in range, a row whose items are in
/// the catalogue, one output per item asked for.
fn check_call(
    dims: Dims,
    user: Option<u32>,
    row: SparseRow<'_>,
    items: &[u32],
    out: &[f32],
) -> Result<()> {
    if let Some(u) = user.filter(|&u| u as usize >= dims.users) {
        return Err(Error::other(format!(
            "user index {u} is outside the model's {} users",
            dims.users
        )));
    }
    if items.len() != out.len() {
        return Err(Error::other(format!(
            "score_items: {} items but {} output slots",
            items.len(),
            out.len()
        )));
    }
    if let Some(&bad) = items
        .iter()
        .chain(row.indices)
        .find(|&&i| i as usize >= dims.items)
    {
        return Err(Error::other(format!(
            "item index {bad} is outside the model's {} items",
            dims.items
        )));
    }
    Ok(())
}

/// Checks a `score_all` call: [`check_call`], and one output slot per
/// item of the catalogue.
fn check_score_all(dims: Dims, user: Option<u32>, row: SparseRow<'_>, out: &[f32]) -> Result<()> {
    check_call(dims, user, row, &[], &[])?;
    if out.len() != dims.items {
        return Err(Error::other(format!(
            "score_all: {} output slots for {} items",
            out.len(),
            dims.items
        )));
    }
    Ok(())
}

/// `score_items` through `score_all`, for the kinds whose scores cost as
/// much for a few items as for the whole catalogue (a neighbour scatter, a
/// decoder): the whole row scored once, the asked items picked from it.
fn score_items_by_all(
    model: &dyn Recommender,
    dims: Dims,
    user: Option<u32>,
    row: SparseRow<'_>,
    items: &[u32],
    out: &mut [f32],
) -> Result<()> {
    check_call(dims, user, row, items, out)?;
    let mut all = vec![0f32; dims.items];
    model.score_all(user, row, &mut all)?;
    for (o, &i) in out.iter_mut().zip(items) {
        *o = all[i as usize];
    }
    Ok(())
}

/// A row-major 2-D tensor.
fn matrix(rows: usize, cols: usize, data: Vec<f32>) -> Tensor {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor {
        shape: vec![rows, cols],
        data,
    }
}

/// Adds row `i` of the Gram matrix XᵀX (`acc[j]` += Σ_u x_ui · x_uj over
/// the users) into `acc`, where `by_user` is X and `by_item` its
/// transpose: the rows of the users who have item `i`, each weighted by
/// that user's value for `i`. Over all items the work is Σ_u (row length
/// of u)², the pairs of items a user shares, never users × items².
fn add_gram_row(by_user: &Csr, by_item: &Csr, i: usize, acc: &mut [f64]) {
    let (users, weights) = by_item.row(i);
    for (&u, &w) in users.iter().zip(weights) {
        let (items, values) = by_user.row(u as usize);
        for (&j, &v) in items.iter().zip(values) {
            acc[j as usize] += w as f64 * v as f64;
        }
    }
}

/// Calls `each(i, row)` for every item `i` (in parallel) with row `i` of
/// the Gram matrix (see [`add_gram_row`]), one scratch row a thread, so the
/// matrix is never held whole unless `each` keeps it.
fn for_each_gram_row(by_user: &Csr, by_item: &Csr, each: impl Fn(usize, &[f64]) + Sync) {
    let n = by_user.n_cols;
    (0..n).into_par_iter().for_each_init(
        || vec![0f64; n],
        |acc, i| {
            add_gram_row(by_user, by_item, i, acc);
            each(i, acc);
            let users = by_item.row(i).0;
            for &u in users {
                for &j in by_user.row(u as usize).0 {
                    acc[j as usize] = 0.0;
                }
            }
        },
    );
}

/// Validation users of an iterative kind: what each is fed and what is to
/// be found, for choosing the epoch on NDCG@100.
struct Validation {
    fed: Csr,
    /// The training index of each validation user the training set has
    /// (`None`: a held-out user, folded in).
    users: Vec<Option<u32>>,
    relevant: Vec<Vec<u32>>,
}

impl Validation {
    /// From validation interactions: a user known in training is fed their
    /// training row and asked for their validation items; a user training
    /// never saw (strong generalization) is cut 80/20 at random, fed the
    /// 80 % and asked for the 20 % (users with fewer than 5 are skipped).
    fn new(train: &Csr, valid: &Ratings, rng: &mut SmallRng) -> Validation {
        let by_user = valid.by_user();
        let (mut users, mut items, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let mut relevant = Vec::new();
        let mut known = Vec::new();
        for u in 0..by_user.n_rows.min(train.n_rows) {
            let (vi, vv) = by_user.row(u);
            if vi.is_empty() {
                continue;
            }
            let r = relevant.len() as u32;
            if train.row_len(u) > 0 {
                let (ti, tv) = train.row(u);
                users.extend(std::iter::repeat_n(r, ti.len()));
                items.extend_from_slice(ti);
                values.extend_from_slice(tv);
                relevant.push(vi.to_vec());
                known.push(Some(u as u32));
            } else if vi.len() >= 5 {
                let mut order: Vec<usize> = (0..vi.len()).collect();
                order.shuffle(rng);
                let n_scored = (vi.len() / 5).max(1);
                let mut scored: Vec<u32> = order[..n_scored].iter().map(|&k| vi[k]).collect();
                scored.sort_unstable();
                for &k in &order[n_scored..] {
                    users.push(r);
                    items.push(vi[k]);
                    values.push(vv[k]);
                }
                relevant.push(scored);
                known.push(None);
            }
        }
        let fed = Csr::from_triplets(relevant.len(), train.n_cols, &users, &items, &values);
        Validation {
            fed,
            users: known,
            relevant,
        }
    }

    /// Mean NDCG@100 of the lists of `scores(user, fed row)`.
    fn ndcg(&self, scores: impl Fn(Option<u32>, SparseRow<'_>) -> Vec<f32> + Sync) -> f64 {
        if self.relevant.is_empty() {
            return 0.0;
        }
        let total: f64 = (0..self.relevant.len())
            .into_par_iter()
            .map(|r| {
                let row = SparseRow::of(&self.fed, r);
                let list: Vec<u32> = top_n(&scores(self.users[r], row), 100, row.indices)
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect();
                user_ranking(&list, &self.relevant[r], 100).ndcg
            })
            .sum();
        total / self.relevant.len() as f64
    }
}

/// Checks every training value can weigh a positive.
fn check_weights(train: &Csr, kind: &str) -> Result<()> {
    match train.values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        Some(v) => Err(Error::config(format!(
            "{kind} learns from implicit feedback: every value is a positive's weight and must \
             be above 0, but the training set holds {v} (read the file with --implicit or \
             --positive T)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_rows_match_a_dense_product() {
        // X (3 users × 4 items), weighted.
        let x = Csr::from_triplets(
            3,
            4,
            &[0, 0, 1, 1, 1, 2],
            &[0, 2, 0, 1, 3, 3],
            &[1.0, 2.0, 3.0, 1.0, 0.5, 4.0],
        );
        let dense = |u: usize, i: usize| x.get(u, i as u32).unwrap_or(0.0) as f64;
        let rows = std::sync::Mutex::new(vec![vec![0f64; 4]; 4]);
        for_each_gram_row(&x, &x.transpose(), |i, row| {
            rows.lock().unwrap()[i].copy_from_slice(row)
        });
        let rows = rows.into_inner().unwrap();
        for (i, row) in rows.iter().enumerate() {
            for (j, &got) in row.iter().enumerate() {
                let want: f64 = (0..3).map(|u| dense(u, i) * dense(u, j)).sum();
                assert_eq!(got, want, "({i}, {j})");
            }
        }
        // Item 0 by hand: users 0 (1) and 1 (3): 1·1 + 3·3 = 10 with itself.
        assert_eq!(rows[0], vec![10.0, 3.0, 2.0, 1.5]);
    }
}
