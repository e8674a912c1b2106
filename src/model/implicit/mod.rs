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
pub use mult_vae::{MultConfig, MultDaeConfig, MultModel, MultSettings, MultVaeConfig};
pub use popularity::{PopularityConfig, PopularityModel};

pub(crate) use cdae::KIND as CDAE;
pub(crate) use ease::KIND as EASE;
pub(crate) use item_knn::KIND as ITEM_KNN;
pub(crate) use mult_vae::{DAE as MULT_DAE, VAE as MULT_VAE};
pub(crate) use popularity::KIND as POPULARITY;

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Ratings};
use crate::error::{Error, Result};
use crate::eval::ranking::user_ranking;
use crate::model::{
    top_n, EpochStats, FitControl, FitReport, ModelParts, Recommender, SparseRow, Tensor,
};

/// The catalogue's shape, kept in a ranking model's file config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// Users in the training id space.
    pub users: usize,
    /// Items in the catalogue.
    pub items: usize,
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

/// What a ranking kind supplies; [`Recommender`] follows for every kind
/// that implements it, so the checks of a call, picking a few items from a
/// scored row and the defaults live in one place.
///
/// The one method with the kind's model in it is
/// [`RankingModel::score_row`]: a user's clicks scored into one dense row
/// over the catalogue. The rest describe the model (its name, its shape, its
/// file) or answer what only some kinds can (similar items from an item ×
/// item matrix, item vectors). Fold-in needs nothing more: a user the model
/// never saw is `None` with their clicks in `row`, scored by the same call.
pub trait RankingModel: Send + Sync {
    /// The kind's name in the registry.
    fn kind_name(&self) -> &'static str;

    /// The training users and the catalogue.
    fn dims(&self) -> Dims;

    /// Number of fitted parameters.
    fn parameter_count(&self) -> usize;

    /// Scores every item of the catalogue for a user (`Some` for a training
    /// user, `None` for one folded in from `row` alone) into `out`, one slot
    /// per item. Called only with a checked call: the user in range, `row`'s
    /// items in the catalogue, `out` as long as the catalogue.
    fn score_row(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]);

    /// Scores only `items` into `out` (one slot each; a checked call). By
    /// default the whole row is scored and the items picked from it; kinds
    /// whose score of one item is cheap (a lookup, a few products) override
    /// it.
    fn score_picked(&self, user: Option<u32>, row: SparseRow<'_>, items: &[u32], out: &mut [f32]) {
        let mut all = vec![0f32; self.dims().items];
        self.score_row(user, row, &mut all);
        for (o, &i) in out.iter_mut().zip(items) {
            *o = all[i as usize];
        }
    }

    /// Item vectors for similarity, as [`Recommender::item_vectors`].
    fn vectors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }

    /// Similar items from the model's own item × item matrix, as
    /// [`Recommender::similar_items`].
    fn similar(&self, item: u32, n: usize) -> Option<Vec<(u32, f32)>> {
        let _ = (item, n);
        None
    }

    /// The model taken apart for the model file.
    fn parts(&self) -> ModelParts;
}

impl<M: RankingModel> Recommender for M {
    fn kind(&self) -> &'static str {
        self.kind_name()
    }

    fn n_users(&self) -> usize {
        self.dims().users
    }

    fn n_items(&self) -> usize {
        self.dims().items
    }

    fn n_params(&self) -> usize {
        self.parameter_count()
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_call(self.dims(), user, row, items, out)?;
        self.score_picked(user, row, items, out);
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        let dims = self.dims();
        check_call(dims, user, row, &[], &[])?;
        if out.len() != dims.items {
            return Err(Error::other(format!(
                "score_all: {} output slots for {} items",
                out.len(),
                dims.items
            )));
        }
        self.score_row(user, row, out);
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        self.vectors()
    }

    fn similar_items(&self, item: u32, n: usize) -> Option<Vec<(u32, f32)>> {
        self.similar(item, n)
    }

    fn to_parts(&self) -> ModelParts {
        self.parts()
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

/// [`ModelConfig::fit`] of a kind fitted in one pass (no epochs): the
/// model boxed and the seconds it took in the report.
///
/// [`ModelConfig::fit`]: crate::model::registry::ModelConfig::fit
fn fit_in_one_pass<M: Recommender + 'static>(
    fit: impl FnOnce() -> Result<M>,
) -> Result<(Box<dyn Recommender>, FitReport)> {
    let start = Instant::now();
    let model = fit()?;
    let report = FitReport {
        train_seconds: start.elapsed().as_secs_f64(),
        ..FitReport::default()
    };
    Ok((Box::new(model), report))
}

/// A row-major 2-D tensor.
fn matrix(rows: usize, cols: usize, data: Vec<f32>) -> Tensor {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor {
        shape: vec![rows, cols],
        data,
    }
}

/// The data of the tensor `name` of a model file, checked for its shape
/// and for values that are all finite (trained weights always are).
fn finite_tensor(parts: &ModelParts, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let data = parts.tensor(name, shape)?.data.clone();
    if data.iter().any(|v| !v.is_finite()) {
        return Err(Error::model_file(format!("tensor {name:?} is not finite")));
    }
    Ok(data)
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

/// The epochs of a kind that trains in epochs and keeps the best on its
/// validation users (Mult-VAE/DAE, CDAE): the loss curve, the observer,
/// early stopping on validation NDCG@100 and the report, kept alike for
/// every such kind.
struct EpochLog<W> {
    planned: usize,
    patience: usize,
    /// Validation NDCG@100, epoch and weights of the best epoch so far.
    best: Option<(f64, usize, W)>,
    losses: Vec<f64>,
    report: FitReport,
}

impl<W: Clone> EpochLog<W> {
    fn new(planned: usize, patience: usize) -> Self {
        EpochLog {
            planned,
            patience,
            best: None,
            losses: Vec::with_capacity(planned),
            report: FitReport::default(),
        }
    }

    /// Records complete epoch `epoch` (its mean loss, learning rate and
    /// seconds) and tells the observer; with validation, keeps a copy of
    /// `weights` when `valid_ndcg` is the best so far. True when the fit
    /// should stop: `patience` epochs without a better one.
    #[allow(clippy::too_many_arguments)]
    fn epoch_done(
        &mut self,
        control: &FitControl,
        epoch: usize,
        loss: f64,
        lr: f64,
        seconds: f64,
        valid_ndcg: Option<f64>,
        weights: &W,
    ) -> bool {
        self.losses.push(loss);
        self.report.epochs = epoch;
        // The history's columns are RMSEs, which a ranking model has none
        // of: its loss curve goes to the notes (see `finish`).
        control.epoch_done(
            &EpochStats {
                epoch,
                train_loss: loss,
                train_rmse: f64::NAN,
                valid_rmse: None,
                lr,
                seconds,
            },
            self.planned,
        );
        let Some(ndcg) = valid_ndcg else {
            return false;
        };
        if self.best.as_ref().is_none_or(|b| ndcg > b.0) {
            self.best = Some((ndcg, epoch, weights.clone()));
            return false;
        }
        self.best
            .as_ref()
            .is_some_and(|b| epoch - b.1 >= self.patience)
    }

    /// Notes that the fit stopped on request after `epochs_done` complete
    /// epochs.
    fn stopped(&mut self, epochs_done: usize) {
        self.report
            .notes
            .push(FitControl::stopped_note(epochs_done));
    }

    /// The report of a fit that began at `start`, the best epoch's weights
    /// put back into `weights` where validation chose one; `loss` names
    /// the loss in the notes.
    fn finish(mut self, weights: &mut W, loss: &str, start: Instant) -> FitReport {
        let report = &mut self.report;
        if let Some((ndcg, epoch, best)) = self.best {
            *weights = best;
            report.best_epoch = Some(epoch);
            report.notes.push(format!(
                "kept epoch {epoch} of {}: validation NDCG@100 {ndcg:.4}",
                report.epochs
            ));
        }
        if let (Some(first), Some(last)) = (self.losses.first(), self.losses.last()) {
            report.notes.push(format!(
                "training loss ({loss}) {first:.4} in epoch 1, {last:.4} in epoch {}",
                self.losses.len()
            ));
        }
        report.train_seconds = start.elapsed().as_secs_f64();
        self.report
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
    fn the_epoch_log_stops_after_patience_and_puts_the_best_epoch_back() {
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let ear = heard.clone();
        let control = FitControl::new().with_observer(std::sync::Arc::new(move |s, planned| {
            ear.lock().unwrap().push((s.epoch, s.train_loss, planned))
        }));
        // Validation NDCG by epoch: best at 2, then two epochs no better
        // (a tie is no better) and patience 2 stops at epoch 4.
        let mut log = EpochLog::new(10, 2);
        let mut stops = Vec::new();
        for (epoch, ndcg) in [(1, 0.1), (2, 0.3), (3, 0.3), (4, 0.2)] {
            let weights = vec![epoch as f32];
            let loss = 1.0 / epoch as f64;
            stops.push(log.epoch_done(&control, epoch, loss, 0.5, 0.0, Some(ndcg), &weights));
        }
        assert_eq!(stops, [false, false, false, true]);
        let mut weights = vec![4.0f32];
        let start = Instant::now();
        let report = log.finish(&mut weights, "test loss", start);
        assert_eq!(weights, [2.0]);
        assert_eq!((report.epochs, report.best_epoch), (4, Some(2)));
        assert_eq!(
            report.notes,
            [
                "kept epoch 2 of 4: validation NDCG@100 0.3000",
                "training loss (test loss) 1.0000 in epoch 1, 0.2500 in epoch 4"
            ]
        );
        let epochs: Vec<(usize, f64, usize)> = heard.lock().unwrap().drain(..).collect();
        assert_eq!(epochs.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(epochs.iter().all(|h| h.2 == 10) && epochs[3].1 == 0.25);
        // No validation: never stops early, the weights stay, no epoch kept;
        // a stop request is noted.
        let mut log = EpochLog::new(3, 1);
        assert!(!log.epoch_done(&control, 1, 2.0, 0.5, 0.0, None, &vec![1.0f32]));
        log.stopped(1);
        let mut weights = vec![7.0f32];
        let report = log.finish(&mut weights, "l", start);
        assert_eq!((weights[0], report.best_epoch), (7.0, None));
        assert_eq!(report.notes[0], FitControl::stopped_note(1));
    }

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
