//! Rating accuracy: RMSE and MAE over test ratings, the cold-start part
//! apart, and the distribution of per-user RMSE.

use serde::{Deserialize, Serialize};

use crate::collective::{owns, Collective};
use crate::data::{RatingScale, Ratings};
use crate::error::Result;
use crate::model::{Prediction, TrainedModel};

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
    Partial::of(test, preds, clip_to).finish(clip_to.is_some())
}

/// [`rating_metrics`] over a group: each rank predicts and measures the
/// test ratings of the users it owns (`collective::owns`), so every user's
/// errors stay on one rank; the error sums are all-reduced (48 bytes) and
/// the per-user RMSEs all-gathered. Every rank gets the single process's
/// metrics: the per-user quantiles exactly, RMSE and MAE up to the order of
/// the `f64` sums.
pub fn rating_metrics_over(
    model: &TrainedModel,
    test: &Ratings,
    clip_to: Option<RatingScale>,
    comm: &dyn Collective,
) -> Result<RatingMetrics> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        let preds = model.predict_ratings(test)?;
        return Ok(rating_metrics(test, &preds, clip_to));
    }
    let mine: Vec<usize> = (0..test.len())
        .filter(|&k| owns(test.users[k] as usize, rank, size))
        .collect();
    let part = test.select(&mine);
    let preds = model.predict_ratings(&part)?;
    let mut p = Partial::of(&part, &preds, clip_to);
    let mut sums = [
        p.all.n as f64,
        p.all.sq,
        p.all.abs,
        p.cold.n as f64,
        p.cold.sq,
        p.cold.abs,
    ];
    comm.all_reduce_sum_f64(&mut sums)?;
    let sums_of = |s: &[f64]| Sums {
        n: s[0] as usize,
        sq: s[1],
        abs: s[2],
    };
    p.all = sums_of(&sums[..3]);
    p.cold = sums_of(&sums[3..]);
    let bytes: Vec<u8> = p.user_rmse.iter().flat_map(|v| v.to_le_bytes()).collect();
    p.user_rmse = (comm.all_gather_bytes(&bytes)?.iter())
        .flat_map(|b| {
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        })
        .collect::<Vec<f64>>();
    Ok(p.finish(clip_to.is_some()))
}

/// The error sums of some test ratings and the RMSE of each of their users.
struct Partial {
    all: Sums,
    cold: Sums,
    user_rmse: Vec<f64>,
}

impl Partial {
    fn of(test: &Ratings, preds: &[Prediction], clip_to: Option<RatingScale>) -> Partial {
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
        Partial {
            all,
            cold,
            user_rmse: per_user.iter().filter_map(Sums::rmse).collect(),
        }
    }

    fn finish(self, clipped: bool) -> RatingMetrics {
        RatingMetrics {
            n: self.all.n,
            rmse: self.all.rmse().unwrap_or(f64::NAN),
            mae: self.all.mae().unwrap_or(f64::NAN),
            clipped,
            cold_start: ColdStart {
                n: self.cold.n,
                rmse: self.cold.rmse(),
                mae: self.cold.mae(),
            },
            per_user_rmse: Quantiles::of(&self.user_rmse),
        }
    }
}
