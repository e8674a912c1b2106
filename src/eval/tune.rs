//! Hyperparameter search on a validation split: every combination (grid) or
//! a seeded sample of them (random), each fitted on the training part and
//! scored by clipped RMSE on the validation part. The test set is not touched.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{evaluate, EvalOptions};
use crate::data::{RatingScale, Ratings};
use crate::error::{Error, Result};
use crate::model::{FitOptions, ModelSpec, TrainedModel};

/// How candidates are drawn from the search space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum SearchMode {
    /// Every combination, in order (the last key varies fastest).
    Grid,
    /// `trials` distinct combinations drawn without replacement with `seed`
    /// (all of them when the grid is smaller).
    Random {
        /// How many combinations to try.
        trials: usize,
        /// Seed of the draw.
        seed: u64,
    },
}

/// One tried configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The searched keys and the values tried.
    pub params: Map<String, Value>,
    /// Clipped RMSE on the validation ratings.
    pub valid_rmse: f64,
    /// Fit wall-clock seconds.
    pub fit_seconds: f64,
}

/// The result of [`tune`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// Index of the best trial in `trials`.
    pub best: usize,
    /// The best model, ready for `train --config`.
    pub best_spec: ModelSpec,
    /// Candidates not tried because the time budget was spent.
    #[serde(default)]
    pub skipped: usize,
}

impl TuneReport {
    /// The best spec as a TOML model table (`model = "…"` first, then its
    /// keys). Settings are `f32`; each is written in its shortest decimal
    /// form (`0.01`, not `0.009999999776482582`), which reads back exactly.
    pub fn best_toml(&self) -> Result<String> {
        let Value::Object(mut map) = self.best_spec.to_json() else {
            return Err(Error::other("the best config did not serialise to a table"));
        };
        let kind = map.remove("model").unwrap_or(Value::Null);
        // TOML has no null: an unset optional key is left out, which reads
        // back as unset (a blend's members are tables inside an array,
        // where the writer would refuse a null instead of skipping it).
        let map: Map<String, Value> = map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, shortest(without_nulls(v))))
            .collect();
        let body = toml::to_string(&map)
            .map_err(|e| Error::other(format!("writing the best config as TOML: {e}")))?;
        Ok(format!("model = {kind}\n{body}"))
    }
}

/// `v` with every null-valued key of every nested table removed.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// A float in the shortest form that reads back as the same `f32`.
pub(crate) fn shortest(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default() as f32;
            x.to_string()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Number(n), Value::Number)
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, shortest(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(shortest).collect()),
        other => other,
    }
}

/// The candidate specs: `base` (a model table: `model`, optionally an
/// autoencoder `preset`, and keys, as [`ModelSpec::from_json`] reads it) with
/// each combination of `search` values written over it. Every candidate is
/// checked before any is fitted, so a bad value fails at once.
pub fn candidates(
    base: &Map<String, Value>,
    search: &BTreeMap<String, Vec<Value>>,
    mode: SearchMode,
) -> Result<Vec<(Map<String, Value>, ModelSpec)>> {
    if let Some((key, _)) = search.iter().find(|(_, v)| v.is_empty()) {
        return Err(Error::config(format!(
            "search: {key:?} has no values to try"
        )));
    }
    let total = search
        .values()
        .try_fold(1usize, |acc, v| acc.checked_mul(v.len()))
        .ok_or_else(|| Error::config("search: too many combinations"))?;
    let mut order: Vec<usize> = (0..total).collect();
    if let SearchMode::Random { trials, seed } = mode {
        if trials == 0 {
            return Err(Error::config("search: trials must be at least 1"));
        }
        order.shuffle(&mut SmallRng::seed_from_u64(seed));
        order.truncate(trials);
    }
    order
        .into_iter()
        .map(|mut n| {
            let mut params = Map::new();
            // Mixed-radix digits of n, last key fastest.
            for (key, values) in search.iter().rev() {
                params.insert(key.clone(), values[n % values.len()].clone());
                n /= values.len();
            }
            let mut table = base.clone();
            table.extend(params.clone());
            let spec = ModelSpec::from_json(&Value::Object(table)).map_err(|e| {
                Error::config(format!("search: {}: {e}", Value::Object(params.clone())))
            })?;
            let params: Map<String, Value> = search
                .keys()
                .map(|k| (k.clone(), params[k].clone()))
                .collect();
            Ok((params, spec))
        })
        .collect()
}

/// Fits every candidate on `train` and keeps the one with the lowest
/// clipped validation RMSE (the first one on a tie).
pub fn tune(
    base: &Map<String, Value>,
    search: &BTreeMap<String, Vec<Value>>,
    mode: SearchMode,
    train: &Ratings,
    valid: &Ratings,
    scale: RatingScale,
    fit: &FitOptions,
) -> Result<TuneReport> {
    tune_within(base, search, mode, train, valid, scale, fit, None)
}

/// As [`tune`], within `budget` seconds when given: a candidate starts
/// only while the mean time of the fits so far still fits in what is left
/// (the first always runs); the rest are counted in
/// [`TuneReport::skipped`].
#[allow(clippy::too_many_arguments)]
pub fn tune_within(
    base: &Map<String, Value>,
    search: &BTreeMap<String, Vec<Value>>,
    mode: SearchMode,
    train: &Ratings,
    valid: &Ratings,
    scale: RatingScale,
    fit: &FitOptions,
    budget: Option<f64>,
) -> Result<TuneReport> {
    if let Some(b) = budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(Error::config(format!(
                "budget = {b} s: must be a positive number of seconds"
            )));
        }
    }
    let begun = Instant::now();
    if valid.is_empty() {
        return Err(Error::config("tune needs a non-empty validation split"));
    }
    let cands = candidates(base, search, mode)?;
    let eval = EvalOptions {
        clip: true,
        ranking: None,
    };
    let mut trials = Vec::with_capacity(cands.len());
    let mut best: Option<(usize, f64)> = None;
    let mut skipped = 0;
    for (k, (params, spec)) in cands.iter().enumerate() {
        if let (Some(b), false) = (budget, trials.is_empty()) {
            let mean =
                trials.iter().map(|t: &Trial| t.fit_seconds).sum::<f64>() / trials.len() as f64;
            if begun.elapsed().as_secs_f64() + mean > b {
                skipped = cands.len() - k;
                break;
            }
        }
        let start = Instant::now();
        let model = TrainedModel::fit(spec, train, Some(valid), None, scale, fit)?;
        let fit_seconds = start.elapsed().as_secs_f64();
        let valid_rmse = evaluate(&model, valid, &eval)?.rating.rmse;
        if best.is_none_or(|(_, b)| valid_rmse < b) {
            best = Some((k, valid_rmse));
        }
        trials.push(Trial {
            params: params.clone(),
            valid_rmse,
            fit_seconds,
        });
    }
    let (best, _) = best.ok_or_else(|| Error::config("search: no candidate to try"))?;
    Ok(TuneReport {
        best_spec: cands[best].1.clone(),
        trials,
        best,
        skipped,
    })
}
