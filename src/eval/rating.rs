//! Rating accuracy: RMSE and MAE over test ratings, the cold-start part
//! apart, and the distribution of per-user RMSE.

use serde::{Deserialize, Serialize};

use crate::data::{RatingScale, Ratings};
use crate::model::Prediction;

/// Squared and absolute error sums over some ratings.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: usize,
    sq: f64,
    abs: f64,
}

impl Sums {
    fn add(&mut self, err: f64) {
        self.n += 1;
        self.sq += err * err;
        self.abs += err.abs();
    }

    fn rmse(&self) -> Option<f64> {
        (self.n > 0).then(|| (self.sq / self.n as f64).sqrt())
    }

    fn mae(&self) -> Option<f64> {
        (self.n > 0).then(|| self.abs / self.n as f64)
    }
}

/// Accuracy on the test ratings whose user or item was not seen in training
/// (`Prediction::fallback` is set). They are part of the overall numbers
/// too: leaving them out would flatter a model on data with many newcomers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// Test ratings that fell back.
    pub n: usize,
    /// Their RMSE (`None` when there were none).
    pub rmse: Option<f64>,
    /// Their MAE.
    pub mae: Option<f64>,
}

/// Quantiles of a distribution, linear interpolation between order
/// statistics (numpy's default `linear` method).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// How many values.
    pub count: usize,
    /// Smallest value.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
}

impl Quantiles {
    /// Quantiles of `values` (NaNs are not expected); `None` when empty.
    pub fn of(values: &[f64]) -> Option<Quantiles> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Some(Quantiles {
            count: v.len(),
            min: v[0],
            p10: q(0.10),
            p25: q(0.25),
            median: q(0.5),
            p75: q(0.75),
            p90: q(0.90),
            max: v[v.len() - 1],
        })
    }
}

/// Rating accuracy of a model on a test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingMetrics {
    /// Test ratings scored.
    pub n: usize,
    /// Root mean squared error over all test ratings, cold start included.
    pub rmse: f64,
    /// Mean absolute error over all test ratings.
    pub mae: f64,
    /// Whether predictions were clipped to the rating scale first.
    pub clipped: bool,
    /// The cold-start part (also counted in `rmse` and `mae`).
    pub cold_start: ColdStart,
    /// RMSE of each test user with at least one test rating, summarised.
    pub per_user_rmse: Option<Quantiles>,
}

/// RMSE, MAE, cold start and per-user RMSE of `preds` (one per rating of
/// `test`, in order), clipping to `clip_to` when given.
///
/// # Panics
/// When `preds.len() != test.len()`: predictions come from the test set itself.
pub fn rating_metrics(
    test: &Ratings,
    preds: &[Prediction],
    clip_to: Option<RatingScale>,
) -> RatingMetrics {
    assert_eq!(test.len(), preds.len(), "one prediction per test rating");
    let mut all = Sums::default();
    let mut cold = Sums::default();
    let mut per_user = vec![Sums::default(); test.n_users()];
    for ((&u, &r), p) in test.users.iter().zip(&test.values).zip(preds) {
        let value = clip_to.map_or(p.value, |s| s.clip(p.value));
        let err = (r - value) as f64;
        all.add(err);
        if p.fallback.is_some() {
            cold.add(err);
        }
        per_user[u as usize].add(err);
    }
    let user_rmse: Vec<f64> = per_user.iter().filter_map(Sums::rmse).collect();
    RatingMetrics {
        n: all.n,
        rmse: all.rmse().unwrap_or(f64::NAN),
        mae: all.mae().unwrap_or(f64::NAN),
        clipped: clip_to.is_some(),
        cold_start: ColdStart {
            n: cold.n,
            rmse: cold.rmse(),
            mae: cold.mae(),
        },
        per_user_rmse: Quantiles::of(&user_rmse),
    }
}
