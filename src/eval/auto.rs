//! The automatic default: what `aerec train --data FILE` fits when no model
//! is named. It does what a practitioner would on unknown data, within a
//! time budget:
//!
//! 1. the baselines with their own defaults (`biases`, `svdpp`, `mf`): cheap,
//!    and the bar every other candidate must clear on validation;
//! 2. autoencoders, each early-stopped on the validation ratings, on
//!    residuals (they learn only what the bias model cannot, so they are
//!    rarely worse than `biases` even where an autoencoder struggles): the
//!    I-AutoRec first, then the U-AutoRec while time remains (which
//!    orientation wins depends on the data's shape);
//! 3. a seed ensemble of the best of them, grown one member at a time while
//!    the budget lasts, keeping the member count that validates best;
//! 4. a blend of that winner with every other fitted candidate (ridge weights
//!    on the validation ratings, count meta-features, nothing refitted),
//!    judged by its leave-one-out validation RMSE since its weights saw
//!    those ratings;
//!
//! and keeps whichever single model, ensemble or blend has the lowest
//! clipped validation RMSE. Every choice is made on the validation ratings; the test
//! ratings are never seen.
//!
//! **No refit.** The winner is the model fitted on the training part
//! without the validation carve, with the epoch early stopping chose. A
//! refit on all training ratings would have to run blind (no validation left
//! to stop on, the epoch count transferred from a smaller set) and would
//! cost as much time again; with a 5 % carve the data it forgoes is small.
//!
//! **The budget** ([`default_budget`]: 60 s per 100,000 ratings, at least
//! 10 s) is checked before each fit: a candidate starts only when the time
//! its kind last took still fits. The baselines and the first autoencoder
//! always run, so a good model exists however small the budget; a fit is
//! never cut short, so the budget can be overrun by at most one fit.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rating::rating_metrics;
use crate::data::{RatingScale, Ratings};
use crate::error::{Error, Result};
use crate::model::blend::{self, BlendConfig};
use crate::model::ensemble::{Ensemble, EnsembleConfig, MAX_MEMBERS};
use crate::model::{
    FitData, FitOptions, FitReport, ModelSpec, Prediction, Recommender, TrainedModel,
};

/// Seconds of budget per 100,000 ratings (train and validation together).
pub const SECONDS_PER_100K: f64 = 60.0;

/// The smallest default budget, so small sets still get an ensemble.
pub const MIN_BUDGET: f64 = 10.0;

/// Most members the ensemble stage grows: the gain of averaging flattens
/// out past a dozen (BENCHMARKS.md, issue 3: 8 → 16 members gained 0.0005).
pub const MAX_ENSEMBLE: usize = 16;

/// The default budget for `n_ratings` ratings: 60 s per 100,000, at least 10 s.
pub fn default_budget(n_ratings: usize) -> f64 {
    (SECONDS_PER_100K * n_ratings as f64 / 100_000.0).max(MIN_BUDGET)
}

/// Settings of [`auto_fit`].
#[derive(Debug, Clone)]
pub struct AutoOptions {
    /// Seconds to spend (see the module docs for how it is enforced).
    pub budget: f64,
    /// Seed of every fit; ensemble member `k` uses `seed + k`.
    pub seed: u64,
}

/// The candidates of the model stage, in the order they are tried: name
/// and settings (as a config file writes them).
pub fn candidates() -> Vec<(&'static str, Value)> {
    // I-AutoRec as published (Sedhain et al. 2015: item rows, one sigmoid
    // layer, identity output), with the regularisation that generalised on
    // both data sets it was searched on (docs/engine-bench.md): input and
    // code dropout and a light L2, Adam, early stopping.
    let autorec = |based: &str| {
        json!({
            "model": "autoencoder",
            "based": based,
            "layers": [300],
            "activation": "sigmoid",
            "output_activation": "identity",
            "optimizer": "adam",
            "lr": 1e-3,
            "l2": 5e-4,
            "batch_size": 256,
            "epochs": 400,
            "patience": 20,
            "input_dropout": 0.2,
            "dropout": 0.5,
            "residual": true,
        })
    };
    vec![
        ("biases", json!({"model": "biases"})),
        ("svdpp", json!({"model": "svdpp"})),
        ("mf", json!({"model": "mf"})),
        ("residual I-AutoRec", autorec("item")),
        ("residual U-AutoRec", autorec("user")),
    ]
}

/// Candidates that run whatever the budget: the baselines and the first
/// autoencoder.
const ALWAYS: usize = 4;

/// One fit (or one ensemble size) the auto-trainer tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoTrial {
    /// What it was, e.g. `svdpp` or `residual I-AutoRec ×4`.
    pub name: String,
    /// Its settings, as a config file writes them.
    pub settings: Value,
    /// Clipped validation RMSE; `None` when it failed or was skipped.
    pub valid_rmse: Option<f64>,
    /// Wall-clock seconds of its fit (for an ensemble: of its last member).
    pub seconds: f64,
    /// Why it has no RMSE: the error, or the budget.
    pub note: Option<String>,
}

/// What [`auto_fit`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoReport {
    /// Every trial, in the order run.
    pub trials: Vec<AutoTrial>,
    /// Index of the winner in `trials`.
    pub winner: usize,
    /// Why the winner won, in a sentence.
    pub reason: String,
    /// The budget in seconds.
    pub budget: f64,
    /// Seconds spent.
    pub seconds: f64,
}

/// A fitted candidate kept for the ensemble stage.
struct Fitted {
    trial: usize,
    spec: ModelSpec,
    model: TrainedModel,
    preds: Vec<Prediction>,
    rmse: f64,
}

/// Tries the [`candidates`] and a seed ensemble of the best on `valid`
/// within `opts.budget`, and returns the best model (fitted on `train`),
/// with what was tried. `on_trial` sees each trial as it ends (progress).
pub fn auto_fit(
    train: &Ratings,
    valid: &Ratings,
    scale: RatingScale,
    opts: &AutoOptions,
    on_trial: &mut dyn FnMut(&AutoTrial),
) -> Result<(TrainedModel, AutoReport)> {
    if valid.is_empty() {
        return Err(Error::config(
            "the automatic default needs validation ratings (a non-empty validation split)",
        ));
    }
    if !(opts.budget.is_finite() && opts.budget > 0.0) {
        return Err(Error::config(format!(
            "budget = {} s: must be a positive number of seconds",
            opts.budget
        )));
    }
    let start = Instant::now();
    let fit_opts = FitOptions {
        seed: opts.seed,
        progress: false,
        ..FitOptions::default()
    };
    let rmse_of = |preds: &[Prediction]| rating_metrics(valid, preds, Some(scale)).rmse;
    let mut trials: Vec<AutoTrial> = Vec::new();
    let mut push = |trials: &mut Vec<AutoTrial>, t: AutoTrial| {
        on_trial(&t);
        trials.push(t);
        trials.len() - 1
    };
    let mut best: Option<Fitted> = None;
    // Every other fitted candidate, for the blend stage.
    let mut others: Vec<(ModelSpec, TrainedModel)> = Vec::new();
    let mut first_autoencoder_seconds: Option<f64> = None;
    for (k, (name, settings)) in candidates().into_iter().enumerate() {
        let spec = ModelSpec::from_json(&settings)?;
        let settings = spec.to_json();
        let elapsed = start.elapsed().as_secs_f64();
        if k >= ALWAYS {
            let expected = first_autoencoder_seconds.unwrap_or(0.0);
            if elapsed + expected > opts.budget {
                push(
                    &mut trials,
                    AutoTrial {
                        name: name.into(),
                        settings,
                        valid_rmse: None,
                        seconds: 0.0,
                        note: Some(format!(
                            "skipped: {elapsed:.0} s spent, a fit takes about {expected:.0} s, \
                             budget {:.0} s",
                            opts.budget
                        )),
                    },
                );
                continue;
            }
        }
        let t0 = Instant::now();
        let fitted = TrainedModel::fit(&spec, train, Some(valid), None, scale, &fit_opts)
            .and_then(|m| Ok((m.predict_ratings(valid)?, m)));
        let seconds = t0.elapsed().as_secs_f64();
        if spec.kind() == "autoencoder" && first_autoencoder_seconds.is_none() {
            first_autoencoder_seconds = Some(seconds);
        }
        match fitted {
            Ok((preds, model)) => {
                let rmse = rmse_of(&preds);
                let trial = push(
                    &mut trials,
                    AutoTrial {
                        name: name.into(),
                        settings,
                        valid_rmse: Some(rmse),
                        seconds,
                        note: None,
                    },
                );
                if best.as_ref().is_none_or(|b| rmse < b.rmse) {
                    let previous = best.replace(Fitted {
                        trial,
                        spec,
                        model,
                        preds,
                        rmse,
                    });
                    others.extend(previous.map(|b| (b.spec, b.model)));
                } else {
                    others.push((spec, model));
                }
            }
            Err(e) => {
                push(
                    &mut trials,
                    AutoTrial {
                        name: name.into(),
                        settings,
                        valid_rmse: None,
                        seconds,
                        note: Some(format!("failed: {e}")),
                    },
                );
            }
        }
    }
    let best = best.ok_or_else(|| Error::config("no candidate could be fitted"))?;
    let single_seconds = trials[best.trial].seconds;
    let single_name = trials[best.trial].name.clone();
    // The ensemble stage: members seeded seed + 1, seed + 2, … beside the
    // best single model (seed + 0), as `ensemble = N` would fit them.
    let mut members: Vec<Box<dyn Recommender>> = Vec::new();
    let mut sum: Vec<f64> = best.preds.iter().map(|p| p.value as f64).collect();
    let mut best_size = (1usize, best.rmse, best.trial);
    let mut member_seconds = vec![single_seconds];
    let mut reports: Vec<FitReport> = vec![best.model.report.clone()];
    let cap = MAX_ENSEMBLE.min(MAX_MEMBERS);
    while members.len() + 1 < cap {
        let size = members.len() + 2;
        let expected = member_seconds.iter().sum::<f64>() / member_seconds.len() as f64;
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed + expected > opts.budget {
            break;
        }
        let member_opts = FitOptions {
            seed: opts.seed.wrapping_add(size as u64 - 1),
            progress: false,
            ..FitOptions::default()
        };
        let t0 = Instant::now();
        let fitted = TrainedModel::fit(&best.spec, train, Some(valid), None, scale, &member_opts)
            .and_then(|m| Ok((m.predict_ratings(valid)?, m)));
        let seconds = t0.elapsed().as_secs_f64();
        member_seconds.push(seconds);
        let name = format!("{single_name} ×{size}");
        let settings = ensemble_spec(&best.spec, size)?.to_json();
        match fitted {
            Ok((preds, _)) if preds == best.preds => {
                // A model without randomness (biases, svd): more seeds, same model.
                push(
                    &mut trials,
                    AutoTrial {
                        name,
                        settings,
                        valid_rmse: None,
                        seconds,
                        note: Some("stopped: the model does not depend on the seed".into()),
                    },
                );
                break;
            }
            Ok((preds, model)) => {
                for (s, p) in sum.iter_mut().zip(&preds) {
                    *s += p.value as f64;
                }
                let mean: Vec<Prediction> = sum
                    .iter()
                    .zip(&preds)
                    .map(|(&s, p)| Prediction {
                        value: (s / size as f64) as f32,
                        fallback: p.fallback,
                    })
                    .collect();
                let rmse = rmse_of(&mean);
                let trial = push(
                    &mut trials,
                    AutoTrial {
                        name,
                        settings,
                        valid_rmse: Some(rmse),
                        seconds,
                        note: None,
                    },
                );
                reports.push(model.report.clone());
                members.push(model.model);
                if rmse < best_size.1 {
                    best_size = (size, rmse, trial);
                }
            }
            Err(e) => {
                push(
                    &mut trials,
                    AutoTrial {
                        name,
                        settings,
                        valid_rmse: None,
                        seconds,
                        note: Some(format!("failed: {e}")),
                    },
                );
                break;
            }
        }
    }
    let (size, _, winner) = best_size;
    let reason = reason(&trials, winner);
    let model = if size == 1 {
        best.model
    } else {
        members.truncate(size - 1);
        let mut all: Vec<Box<dyn Recommender>> = Vec::with_capacity(size);
        all.push(best.model.model);
        all.extend(members);
        let spec = ensemble_spec(&best.spec, size)?;
        let mut report = reports.remove(0);
        for r in &reports[..size - 1] {
            report.epochs += r.epochs;
        }
        report.train_seconds = member_seconds[..size].iter().sum();
        TrainedModel::from_fitted(
            Box::new(Ensemble::from_members(all)?),
            spec,
            train,
            scale,
            report,
        )?
    };
    let (mut model, winner, reason) = blend_stage(
        model,
        others,
        best_size.1,
        train,
        valid,
        scale,
        (&mut trials, &mut push),
        winner,
        reason,
    )?;
    model.report.notes.push(format!("auto: {reason}"));
    let report = AutoReport {
        trials,
        winner,
        reason,
        budget: opts.budget,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

/// Records a trial (and reports it as it ends); returns its index.
type PushTrial<'a> = dyn FnMut(&mut Vec<AutoTrial>, AutoTrial) -> usize + 'a;

/// The last stage: the winner so far and every other fitted candidate,
/// weighted by ridge regression on the validation ratings with count
/// meta-features ([`BlendConfig::from_fitted`], nothing refitted). The blend
/// is kept only when its leave-one-out validation RMSE (an honest estimate:
/// its weights are fitted on those ratings) beats the winner's.
#[allow(clippy::too_many_arguments)]
fn blend_stage(
    winner_model: TrainedModel,
    others: Vec<(ModelSpec, TrainedModel)>,
    winner_rmse: f64,
    train: &Ratings,
    valid: &Ratings,
    scale: RatingScale,
    (trials, push): (&mut Vec<AutoTrial>, &mut PushTrial<'_>),
    winner: usize,
    why: String,
) -> Result<(TrainedModel, usize, String)> {
    if others.is_empty() {
        return Ok((winner_model, winner, why));
    }
    let t0 = Instant::now();
    let mut specs = vec![winner_model.spec.clone()];
    let mut predictions = vec![blend::valid_predictions(
        winner_model.model.as_ref(),
        &winner_model.train,
        valid,
    )?];
    for (spec, m) in &others {
        specs.push(spec.clone());
        predictions.push(blend::valid_predictions(m.model.as_ref(), &m.train, valid)?);
    }
    let config = BlendConfig {
        members: specs,
        meta_features: true,
    };
    let data = FitData {
        train,
        train_by_user: &winner_model.train,
        valid: Some(valid),
        side: None,
    };
    let n_members = config.members.len();
    let settings = ModelSpec::new(config.clone())?.to_json();
    let members: Vec<Box<dyn Recommender>> = std::iter::once(winner_model.model)
        .chain(others.into_iter().map(|(_, m)| m.model))
        .collect();
    let winner_spec = winner_model.spec.clone();
    let winner_report = winner_model.report.clone();
    let (fitted, fit) = config.from_fitted(members, &predictions, &data)?;
    let honest = fit.ridge.as_ref().map(|r| r.loo_rmse);
    let kept = fit.only_member.is_none() && honest.is_some_and(|r| r < winner_rmse);
    let trial = push(
        trials,
        AutoTrial {
            name: format!("blend of {n_members} (meta-features)"),
            settings,
            valid_rmse: honest,
            seconds: t0.elapsed().as_secs_f64(),
            note: Some("validation RMSE by leave-one-out over the blend's weights".into()),
        },
    );
    if !kept {
        // The winner stands: member 0 of the blend.
        let member = fitted.into_members().swap_remove(0);
        let model = TrainedModel::from_fitted(member, winner_spec, train, scale, winner_report)?;
        return Ok((model, winner, why));
    }
    let blend = fitted;
    let mut report = winner_report;
    report.notes.push(fit.why.clone());
    let model = TrainedModel::from_fitted(
        Box::new(blend),
        ModelSpec::new(config)?,
        train,
        scale,
        report,
    )?;
    Ok((model, trial, reason(trials, trial)))
}

/// `base` trained from `size` seeds (itself when `size` is 1).
fn ensemble_spec(base: &ModelSpec, size: usize) -> Result<ModelSpec> {
    if size == 1 {
        return Ok(base.clone());
    }
    ModelSpec::new(EnsembleConfig {
        members: size,
        base: Box::new(base.clone()),
    })
}

/// Why `winner` won: its validation RMSE against the runner-up of another
/// name and against each baseline.
fn reason(trials: &[AutoTrial], winner: usize) -> String {
    let w = &trials[winner];
    let w_rmse = w.valid_rmse.unwrap_or(f64::NAN);
    let family = |name: &str| name.split(" ×").next().unwrap_or(name).to_string();
    let runner_up = trials
        .iter()
        .filter(|t| family(&t.name) != family(&w.name))
        .filter_map(|t| Some((t, t.valid_rmse?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let mut s = format!("{} has the lowest validation RMSE, {w_rmse:.4}", w.name);
    if let Some((t, r)) = runner_up {
        s.push_str(&format!(
            "; the best other model, {}, has {r:.4} ({:+.4})",
            t.name,
            w_rmse - r
        ));
    }
    let baselines: Vec<String> = trials
        .iter()
        .filter(|t| ["biases", "svdpp", "mf"].contains(&t.name.as_str()))
        .filter_map(|t| Some(format!("{} {:.4}", t.name, t.valid_rmse?)))
        .collect();
    if !baselines.is_empty() {
        s.push_str(&format!("; baselines: {}", baselines.join(", ")));
    }
    s
}
