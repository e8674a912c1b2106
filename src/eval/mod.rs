//! Evaluation: how good a model is, on ratings and on rankings, and
//! experiments that compare and tune models on the same splits.
//!
//! - [`evaluate`]: RMSE/MAE (clipped to the scale by default), the
//!   cold-start part apart, per-user RMSE quantiles, and ranking metrics at K.
//! - [`protocol`]: top-N ranking the field's way, for implicit feedback:
//!   strong generalization (held-out users folded in), Recall/NDCG/MAP at
//!   20, 50 and 100 with confidence intervals, coverage and popularity bias.
//! - [`compare()`]: several models on the same folds, mean ± std per metric.
//! - [`tune()`]: grid or random search on a validation split.
//! - [`auto_fit`]: the automatic default, the best of baselines,
//!   autoencoders and seed ensembles on a validation split within a budget.

pub mod auto;
pub mod compare;
pub mod protocol;
pub mod ranking;
pub mod rating;
pub mod tune;

pub use auto::{auto_fit, default_budget, AutoOptions, AutoReport, AutoTrial};
pub use compare::{compare, compare_with_side, CompareReport, MeanStd, NamedSpec};
pub use ranking::{
    ranking_metrics, ranking_metrics_over, ranking_metrics_with_progress, RankUsers,
    RankingMetrics, RankingOptions,
};
pub use rating::{rating_metrics, rating_metrics_over, ColdStart, Quantiles, RatingMetrics};
pub use tune::{tune, SearchMode, TuneReport};

use serde::{Deserialize, Serialize};

use crate::collective::Collective;
use crate::data::Ratings;
use crate::error::Result;
use crate::model::TrainedModel;

/// What [`evaluate`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Clip predictions to the model's rating scale before RMSE/MAE (the
    /// experiment report's protocol). Off: raw predictions.
    pub clip: bool,
    /// Ranking metrics at K; `None` skips them (they rank the whole catalogue
    /// for every test user, the costly part).
    pub ranking: Option<RankingOptions>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            clip: true,
            ranking: Some(RankingOptions::default()),
        }
    }
}

/// Everything [`evaluate`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Rating accuracy.
    pub rating: RatingMetrics,
    /// Ranking quality, when asked for.
    pub ranking: Option<RankingMetrics>,
}

/// Evaluates a trained model on test ratings in its index space (the test
/// part of a split shares the training id maps).
pub fn evaluate(model: &TrainedModel, test: &Ratings, opts: &EvalOptions) -> Result<EvalReport> {
    evaluate_with_progress(model, test, opts, &mut |_, _| {})
}

/// [`evaluate`], reporting the ranking pass's progress as
/// [`ranking_metrics_with_progress`] does.
pub fn evaluate_with_progress(
    model: &TrainedModel,
    test: &Ratings,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    evaluate_over(
        model,
        test,
        opts,
        &crate::collective::Single::default(),
        progress,
    )
}

/// [`evaluate_with_progress`] over the ranks of a group (each rank calls
/// it with the same model, test ratings and options): the test users are
/// split across the ranks for the rating metrics
/// ([`rating_metrics_over`]) and the ranking metrics
/// ([`ranking_metrics_over`]), and every rank returns the single process's
/// report, up to the order of the float sums. Alone it is
/// [`evaluate_with_progress`].
pub fn evaluate_over(
    model: &TrainedModel,
    test: &Ratings,
    opts: &EvalOptions,
    comm: &dyn Collective,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    let rating = rating_metrics_over(model, test, opts.clip.then_some(model.scale), comm)?;
    let ranking = opts
        .ranking
        .map(|r| ranking_metrics_over(model, test, &r, comm, progress))
        .transpose()?;
    Ok(EvalReport { rating, ranking })
}
