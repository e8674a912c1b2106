//! Experiments: several models fitted and evaluated on the same folds, each
//! metric summarised as mean ± standard deviation over the folds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{evaluate, EvalOptions, EvalReport};
use crate::data::side::SideFeatures;
use crate::data::split::Split;
use crate::data::RatingScale;
use crate::error::{Error, Result};
use crate::model::{FitOptions, ModelSpec, TrainedModel};
use crate::report::table::Table;

/// A named model to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedSpec {
    /// Row label in the table.
    pub name: String,
    /// The model.
    pub spec: ModelSpec,
    /// Append the experiment's side features to the model's input (a hybrid
    /// autoencoder, Strub et al. 2016); see [`compare_with_side`].
    #[serde(default)]
    pub side_info: bool,
}

impl NamedSpec {
    /// A model without side features.
    pub fn new(name: impl Into<String>, spec: ModelSpec) -> Self {
        NamedSpec {
            name: name.into(),
            spec,
            side_info: false,
        }
    }
}

/// What one model did on one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// RMSE on the training ratings (clipped as the test RMSE is).
    pub train_rmse: f64,
    /// Evaluation on the fold's test ratings.
    pub test: EvalReport,
    /// Fit wall-clock seconds.
    pub fit_seconds: f64,
    /// Fitted parameters.
    pub params: usize,
}

/// Mean and sample standard deviation (n − 1; 0 for a single fold).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean over folds.
    pub mean: f64,
    /// Sample standard deviation over folds.
    pub std: f64,
}

impl MeanStd {
    /// Summarises `values` (NaN when empty).
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        MeanStd { mean, std }
    }
}

/// One model's results over every fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Row label.
    pub name: String,
    /// The model spec.
    pub spec: ModelSpec,
    /// Settings that differ from the model's defaults, `key=value` joined by spaces.
    pub params: String,
    /// Per-fold results, in fold order.
    pub folds: Vec<FoldResult>,
    /// Each metric over the folds (keys as the table's columns).
    pub summary: BTreeMap<String, MeanStd>,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// Number of folds.
    pub folds: usize,
    /// One entry per model, in the order given.
    pub models: Vec<ModelResult>,
}

/// The metric columns of the table, in order.
pub const METRICS: [&str; 10] = [
    "train_rmse",
    "test_rmse",
    "test_mae",
    "precision",
    "recall",
    "ndcg",
    "map",
    "hit_rate",
    "coverage",
    "fit_seconds",
];

/// The columns that measure predicted ratings (none for a model whose
/// scores only rank: `ModelSpec::ranks_only`).
pub const RATING_METRICS: [&str; 3] = ["train_rmse", "test_rmse", "test_mae"];

fn metric(r: &FoldResult, name: &str) -> Option<f64> {
    let rank = r.test.ranking.as_ref();
    match name {
        "train_rmse" => Some(r.train_rmse),
        "test_rmse" => Some(r.test.rating.rmse),
        "test_mae" => Some(r.test.rating.mae),
        "precision" => rank.map(|m| m.precision),
        "recall" => rank.map(|m| m.recall),
        "ndcg" => rank.map(|m| m.ndcg),
        "map" => rank.map(|m| m.map),
        "hit_rate" => rank.map(|m| m.hit_rate),
        "coverage" => rank.map(|m| m.coverage),
        "fit_seconds" => Some(r.fit_seconds),
        _ => None,
    }
}

/// The settings of `spec` that differ from its kind's defaults, as
/// `key=value` pairs (empty when everything is default).
pub fn non_default_params(spec: &ModelSpec) -> String {
    if let Some(c) = spec.config::<crate::model::blend::BlendConfig>() {
        // Each member as kind(its changed keys); the list is the blend.
        let members: Vec<String> = c
            .members
            .iter()
            .map(|m| format!("{}({})", m.kind(), non_default_params(m)))
            .collect();
        let meta = if c.meta_features {
            " meta_features"
        } else {
            ""
        };
        return format!("members=[{}]{meta}", members.join(", "));
    }
    // Written as the user writes it: the settings, then `ensemble=N`.
    let value = spec.to_json();
    let Some(obj) = value.as_object() else {
        return String::new();
    };
    let default = obj
        .get("model")
        .and_then(|kind| ModelSpec::from_json(&serde_json::json!({ "model": kind })).ok())
        .map(|d| d.to_json())
        .unwrap_or_default();
    let mut pairs: Vec<String> = obj
        .iter()
        .filter(|(k, v)| *k != "model" && *k != "ensemble" && default.get(k.as_str()) != Some(v))
        .map(|(k, v)| match super::tune::shortest(v.clone()) {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    if let Some(n) = obj.get("ensemble") {
        pairs.push(format!("ensemble={n}"));
    }
    pairs.join(" ")
}

/// Fits every model on every split (the folds of a cross-validation, or one
/// hold-out) and evaluates it on the split's test part.
/// Every spec is validated before any fit starts. A model that asks for
/// side features is an error here; use [`compare_with_side`].
pub fn compare(
    models: &[NamedSpec],
    folds: &[Split],
    scale: RatingScale,
    eval: &EvalOptions,
    fit: &FitOptions,
) -> Result<CompareReport> {
    compare_with_side(models, folds, None, scale, eval, fit)
}

/// [`compare`] with side features for the models whose
/// [`NamedSpec::side_info`] is set: `side[f]` is aligned with the id maps of
/// `folds[f].train` (users for a user-based autoencoder, items for an
/// item-based one), so hybrid and plain models meet on the same splits.
pub fn compare_with_side(
    models: &[NamedSpec],
    folds: &[Split],
    side: Option<&[SideFeatures]>,
    scale: RatingScale,
    eval: &EvalOptions,
    fit: &FitOptions,
) -> Result<CompareReport> {
    if models.is_empty() || folds.is_empty() {
        return Err(Error::config(
            "compare needs at least one model and one fold",
        ));
    }
    if let Some(s) = side {
        if s.len() != folds.len() {
            return Err(Error::config(format!(
                "{} side feature sets for {} folds: give one per fold",
                s.len(),
                folds.len()
            )));
        }
    }
    for m in models {
        m.spec
            .validate()
            .map_err(|e| e.context(format!("model {:?}", m.name)))?;
        if m.side_info && side.is_none() {
            return Err(Error::config(format!(
                "model {:?} asks for side_info, but no side features were given",
                m.name
            )));
        }
        if m.side_info && !m.spec.uses_side_features() {
            return Err(Error::config(format!(
                "model {:?}: side_info needs an autoencoder, not {}",
                m.name,
                m.spec.kind()
            )));
        }
    }
    let mut results = Vec::with_capacity(models.len());
    for m in models {
        let mut per_fold = Vec::with_capacity(folds.len());
        for (f, fold) in folds.iter().enumerate() {
            let features = side.filter(|_| m.side_info).map(|s| &s[f]);
            per_fold.push(run_fold(&m.spec, fold, features, scale, eval, fit)?);
        }
        // A ranking model's scores are no ratings: its RMSE columns stay
        // empty rather than show a number that means nothing.
        let ranks_only = m.spec.ranks_only();
        let summary = METRICS
            .iter()
            .filter(|&&name| !(ranks_only && RATING_METRICS.contains(&name)))
            .filter_map(|&name| {
                let values: Option<Vec<f64>> = per_fold.iter().map(|r| metric(r, name)).collect();
                values.map(|v| (name.to_string(), MeanStd::of(&v)))
            })
            .collect();
        results.push(ModelResult {
            name: m.name.clone(),
            spec: m.spec.clone(),
            params: if m.side_info {
                let p = non_default_params(&m.spec);
                if p.is_empty() {
                    "side_info=true".to_string()
                } else {
                    format!("{p} side_info=true")
                }
            } else {
                non_default_params(&m.spec)
            },
            folds: per_fold,
            summary,
        });
    }
    Ok(CompareReport {
        folds: folds.len(),
        models: results,
    })
}

fn run_fold(
    spec: &ModelSpec,
    fold: &Split,
    side: Option<&SideFeatures>,
    scale: RatingScale,
    eval: &EvalOptions,
    fit: &FitOptions,
) -> Result<FoldResult> {
    let trained = TrainedModel::fit(spec, &fold.train, fold.valid.as_ref(), side, scale, fit)?;
    let train_eval = EvalOptions {
        ranking: None,
        ..*eval
    };
    let train_rmse = evaluate(&trained, &fold.train, &train_eval)?.rating.rmse;
    let test = evaluate(&trained, &fold.test, eval)?;
    Ok(FoldResult {
        train_rmse,
        test,
        fit_seconds: trained.report.train_seconds,
        params: trained.model.n_params(),
    })
}

impl CompareReport {
    /// The experiment table: model, parameters, then each metric as
    /// `mean ± std` (just the mean for a single fold).
    pub fn table(&self) -> Table {
        let present: Vec<&str> = METRICS
            .iter()
            .copied()
            .filter(|m| self.models.iter().any(|r| r.summary.contains_key(*m)))
            .collect();
        let mut headers = vec!["model".to_string(), "parameters".to_string()];
        headers.extend(present.iter().map(|m| m.to_string()));
        let mut table = Table::new(headers);
        for r in &self.models {
            let mut row = vec![r.name.clone(), r.params.clone()];
            for m in &present {
                row.push(match r.summary.get(*m) {
                    Some(s) if self.folds > 1 => format!("{:.4} ± {:.4}", s.mean, s.std),
                    Some(s) => format!("{:.4}", s.mean),
                    None => "-".to_string(),
                });
            }
            table.push(row);
        }
        table
    }
}
