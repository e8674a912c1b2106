//! Models: every recommender implements [`Recommender`], so autoencoders and
//! baselines are interchangeable in evaluation, recommendation, persistence
//! and serving.
//!
//! Hyperparameters and fitted models are different types (as in linfa): a
//! validated [`ModelSpec`] fits into a `Box<dyn Recommender>`; a
//! [`TrainedModel`] wraps it with the id maps, the training matrix (the input
//! an autoencoder encodes, and the items to exclude from recommendations) and
//! the cold-start fallback.

pub mod autoencoder;
pub mod baseline;
pub mod blend;
pub mod diverge;
pub mod ensemble;
mod fit_data;
pub mod glocal_k;
pub mod implicit;
pub mod memory;
pub mod quantized;
mod rank;
pub mod registry;
pub mod spec;
pub mod trained;

pub use fit_data::{answered_cells, FitData, TrainStats, ValidationCells};
pub use rank::top_n;
pub use spec::ModelSpec;
pub use trained::TrainedModel;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Csr;
use crate::error::Result;

/// One sparse row: sorted column indices and their values.
#[derive(Debug, Clone, Copy, Default)]
pub struct SparseRow<'a> {
    /// Sorted column indices.
    pub indices: &'a [u32],
    /// Values, one per index.
    pub values: &'a [f32],
}

impl<'a> SparseRow<'a> {
    /// Row `r` of a [`Csr`].
    pub fn of(csr: &'a Csr, r: usize) -> Self {
        let (indices, values) = csr.row(r);
        SparseRow { indices, values }
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when the row stores nothing.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Why a prediction did not come from the model itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The user had no rating in training.
    UnknownUser,
    /// The item had no rating in training.
    UnknownItem,
    /// Neither was seen in training.
    UnknownUserAndItem,
}

impl Fallback {
    /// A short human-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Fallback::UnknownUser => "user not seen in training: item bias used",
            Fallback::UnknownItem => "item not seen in training: user bias used",
            Fallback::UnknownUserAndItem => "user and item not seen in training: global mean used",
        }
    }
}

/// A predicted rating, and whether it had to fall back (as Surprise's
/// `was_impossible`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted rating (unclipped).
    pub value: f32,
    /// `Some` when the model could not predict and a fallback was used.
    pub fallback: Option<Fallback>,
}

/// Settings that are about the run, not the model.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Seed for every random choice; the same seed repeats the run.
    pub seed: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The caller's hold on the fit: a stop request and an epoch observer.
    pub control: FitControl,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            seed: 42,
            progress: false,
            control: FitControl::default(),
        }
    }
}

/// Called after each finished epoch with its statistics and the number of
/// epochs the fit plans (early stopping or a stop request may end it sooner).
pub type EpochObserver = Arc<dyn Fn(&EpochStats, usize) + Send + Sync>;

/// A caller's hold on a running fit, shared with it (clones share the same
/// flag): another thread may ask the fit to stop, and an observer hears of
/// each epoch as it ends (a progress bar in a host language).
///
/// Every kind that trains in epochs checks the flag at least between
/// epochs (autoencoders between batches) and, when it is set, ends the fit
/// with a usable model: the best epoch so far where early stopping tracks
/// one, else the weights as they are, and a note in the report saying so.
/// Seed ensembles fit no further member once it is set.
///
/// It also names the group of processes the fit runs in
/// ([`FitControl::with_collective`]): kinds that train data-parallel
/// (the autoencoder engine, biases, MF) split their rows across its ranks
/// and exchange gradients or touched rows; the others fit the same model
/// on every rank. One process when nothing is said.
#[derive(Clone, Default)]
pub struct FitControl {
    stop: Arc<AtomicBool>,
    observer: Option<EpochObserver>,
    collective: Option<crate::collective::Comm>,
}

impl FitControl {
    /// A control with no stop request and no observer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same control, calling `observer` after each epoch.
    pub fn with_observer(mut self, observer: EpochObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same control, fitting data-parallel over the ranks of `comm`
    /// (every rank calls the fit with the same data, settings and seed).
    pub fn with_collective(mut self, comm: crate::collective::Comm) -> Self {
        self.collective = Some(comm);
        self
    }

    /// The group the fit runs in: the one given, else a single process.
    pub fn collective(&self) -> crate::collective::Comm {
        self.collective
            .clone()
            .unwrap_or_else(crate::collective::single)
    }

    /// Asks the fit to stop at its next check (safe from any thread).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Tells the observer, if any, that an epoch ended.
    pub fn epoch_done(&self, stats: &EpochStats, planned_epochs: usize) {
        if let Some(observer) = &self.observer {
            observer(stats, planned_epochs);
        }
    }

    /// The note a fit adds to its report when it stopped on request.
    pub fn stopped_note(epochs_done: usize) -> String {
        format!("stopped on request after {epochs_done} complete epochs")
    }
}

impl std::fmt::Debug for FitControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitControl")
            .field("stop_requested", &self.stop_requested())
            .field("observer", &self.observer.is_some())
            .field("collective", &self.collective)
            .finish()
    }
}

/// One epoch of training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss (masked MSE plus regularisation where the model has it).
    pub train_loss: f64,
    /// Training RMSE on observed cells.
    pub train_rmse: f64,
    /// Validation RMSE, when a validation set was given.
    pub valid_rmse: Option<f64>,
    /// Learning rate used in this epoch.
    pub lr: f64,
    /// Wall-clock seconds for the epoch.
    pub seconds: f64,
}

/// What a fit did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Epochs run (0 for closed-form models).
    pub epochs: usize,
    /// Epoch whose weights were kept (early stopping), if any.
    pub best_epoch: Option<usize>,
    /// Per-epoch history.
    pub history: Vec<EpochStats>,
    /// Wall-clock seconds for the whole fit.
    pub train_seconds: f64,
    /// Decisions worth telling the user (e.g. which optimiser `auto` picked).
    pub notes: Vec<String>,
}

/// A named tensor for the model file: `f32` data in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Row-major data; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

/// A fitted model taken apart for saving: its kind, its config as JSON and
/// its named tensors. [`spec::load_model`] puts it back together.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParts {
    /// The model kind, as [`Recommender::kind`].
    pub kind: String,
    /// The full model config.
    pub config: serde_json::Value,
    /// Named tensors; names are stable and documented in README.
    pub tensors: Vec<(String, Tensor)>,
}

impl ModelParts {
    /// The tensor called `name`, with its shape checked against `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self
            .tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| crate::Error::model_file(format!("tensor {name:?} is missing")))?;
        if t.shape != shape {
            return Err(crate::Error::model_file(format!(
                "tensor {name:?} has shape {:?}, expected {shape:?}",
                t.shape
            )));
        }
        Ok(t)
    }
}

/// A fitted recommender. Users and items are dense indices of the training
/// id space; [`TrainedModel`] speaks original ids.
pub trait Recommender: Send + Sync {
    /// Model kind: the name of its entry in [`registry::KINDS`].
    fn kind(&self) -> &'static str;

    /// Number of users in the training id space.
    fn n_users(&self) -> usize;

    /// Number of items in the training id space.
    fn n_items(&self) -> usize;

    /// Number of fitted parameters.
    fn n_params(&self) -> usize;

    /// Raw (unclipped) predicted ratings of one user for `items`, into `out`
    /// (`out.len() == items.len()`).
    ///
    /// `user` is `Some(u)` for a user seen in training, whose training row is
    /// `row`; `None` for a user the model never saw, described only by `row`
    /// (fold-in: no retraining). Autoencoders encode `row` either way.
    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()>;

    /// Raw predicted ratings of one user for every item (`out.len() == n_items`).
    /// Models override this with a dense GEMV path where that is faster.
    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        let items: Vec<u32> = (0..self.n_items() as u32).collect();
        self.score_items(user, row, &items, out)
    }

    /// The `n` highest-scored items for one user (arguments as in
    /// [`Recommender::score_all`]), skipping the sorted item indices in
    /// `exclude`, best first, as (item, raw score); ties go to the lower
    /// index and NaN scores are never returned. Always the same answer as
    /// [`crate::model::top_n`] over [`Recommender::score_all`]; models
    /// override it where a large catalogue can be ranked without scoring
    /// every item in full precision.
    fn top_n(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        n: usize,
        exclude: &[u32],
    ) -> Result<Vec<(u32, f32)>> {
        let mut scores = vec![0f32; self.n_items()];
        self.score_all(user, row, &mut scores)?;
        Ok(crate::model::top_n(&scores, n, exclude))
    }

    /// Item vectors for similarity (row-major, `n_items × dim`), as `(dim, data)`;
    /// `None` when the model has none.
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)>;

    /// The `n` items most like item index `item` by an item × item matrix
    /// the model holds (item-kNN's cosines, EASE's weights), best first,
    /// the item itself left out, as (item, similarity). `None`, the
    /// default, for a model that holds no such matrix: its similar items
    /// are the cosines of its [`Self::item_vectors`]. A model that holds
    /// one answers `Some` for every item index in range, `n = 0` included.
    fn similar_items(&self, item: u32, n: usize) -> Option<Vec<(u32, f32)>> {
        let _ = (item, n);
        None
    }

    /// The model taken apart for the model file.
    fn to_parts(&self) -> ModelParts;
}
