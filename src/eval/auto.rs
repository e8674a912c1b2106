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
//! **Then a refit.** The chosen model (every member of an ensemble or a
//! blend) is fitted again on the training and validation ratings together,
//! each with the epoch count early stopping chose on validation (an
//! ensemble: the median of its members' counts); a blend keeps the weights
//! it fitted on validation, as Netflix Prize blends were retrained on the
//! probe set. Measured on ML-100K u1, seeds 1–4: the residual I-AutoRec
//! gains 0.0030 of test RMSE from the 5 % of data the carve had withheld
//! (0.8987 → 0.8957, docs/accuracy.md). The validation RMSE reported is the
//! one measured before the refit, the only honest one left.
//!
//! **The budget** ([`default_budget`]: 60 s per 100,000 ratings, at least
//! 10 s) covers the search and the refit, which costs about as much as the
//! fits it repeats: with the refit on, the search stops at half the budget.
//! It is checked before each fit: a candidate starts only when the time its
//! kind last took still fits. The baselines and the first autoencoder
//! always run, so a good model exists however small the budget; a fit is
//! never cut short, so the budget can be overrun by at most one fit (and
//! the refit of what was chosen).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rating::rating_metrics;
use crate::data::{RatingScale, Ratings};
use crate::error::{Error, Result};
use crate::model::blend::{self, Blend, BlendConfig};
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
    /// Fit the chosen model again on the training and validation ratings
    /// together (see the module docs).
    pub refit: bool,
}

/// The candidates of the model stage, in the order they are tried: name
/// and settings (as a config file writes them).
pub fn candidates() -> Vec<(&'static str, Value)> {
    // I-AutoRec as published (Sedhain et al. 2015: item rows, one sigmoid
    // layer, identity output), with the regularisation that generalised on
    // both data sets it was searched on (docs/autoencoder-speed-accuracy.md): input and
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
/// within `opts.budget`, and returns the best model (fitted on `train`, or
/// refitted on `train` and `valid` together with `opts.refit`),
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
    // The refit repeats the chosen fits: the search gets half the budget.
    let search_budget = if opts.refit {
        opts.budget / 2.0
    } else {
        opts.budget
    };
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
            if elapsed + expected > search_budget {
                push(
                    &mut trials,
                    AutoTrial {
                        name: name.into(),
                        settings,
                        valid_rmse: None,
                        seconds: 0.0,
                        note: Some(format!(
                            "skipped: {elapsed:.0} s spent, a fit takes about {expected:.0} s, \
                             {search_budget:.0} s of the budget for the search"
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
        if elapsed + expected > search_budget {
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
    let winner_epochs = chosen_epochs(&reports[..size]);
    let winner_spec = ensemble_spec(&best.spec, size)?;
    let winner_model: Box<dyn Recommender> = if size == 1 {
        best.model.model
    } else {
        members.truncate(size - 1);
        let mut all: Vec<Box<dyn Recommender>> = Vec::with_capacity(size);
        all.push(best.model.model);
        all.extend(members);
        Box::new(Ensemble::from_members(all)?)
    };
    let mut winner_report = reports.remove(0);
    if size > 1 {
        winner_report.epochs = reports[..size - 1]
            .iter()
            .fold(winner_report.epochs, |e, r| e + r.epochs);
        winner_report.train_seconds = member_seconds[..size].iter().sum();
    }
    let winner_fit = Candidate {
        spec: winner_spec,
        model: winner_model,
        report: winner_report,
        refit_epochs: winner_epochs,
    };
    let others: Vec<Candidate> = others
        .into_iter()
        .map(|(spec, m)| Candidate {
            refit_epochs: chosen_epochs(std::slice::from_ref(&m.report)),
            spec,
            model: m.model,
            report: m.report,
        })
        .collect();
    let (chosen, winner, reason) = blend_stage(
        winner_fit,
        others,
        best_size.1,
        (train, valid, scale),
        (&mut trials, &mut push),
        winner,
        reason,
    )?;
    let mut model = if opts.refit {
        let t0 = Instant::now();
        let all = train_and_valid(train, valid);
        let model = chosen.refit(&all, scale, &fit_opts)?;
        let seconds = t0.elapsed().as_secs_f64();
        let name = format!("refit of {}", trials[winner].name);
        push(
            &mut trials,
            AutoTrial {
                name,
                settings: model.spec.to_json(),
                valid_rmse: None,
                seconds,
                note: Some(format!(
                    "refitted on the {} training and validation ratings with the epochs \
                     early stopping chose; no validation left to score it",
                    all.len()
                )),
            },
        );
        model
    } else {
        chosen.into_model(train, scale)?
    };
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

/// A fitted candidate on its way to the final model, with the epoch count a
/// refit would run.
struct Candidate {
    spec: ModelSpec,
    model: Box<dyn Recommender>,
    report: FitReport,
    refit_epochs: Option<usize>,
}

/// What a refit of one model runs: its settings, and the epoch count early
/// stopping chose (`None`: the settings already say how long).
struct Plan {
    spec: ModelSpec,
    epochs: Option<usize>,
}

impl Plan {
    /// The settings with the chosen epoch count.
    fn refit_spec(&self) -> ModelSpec {
        let mut spec = self.spec.clone();
        if let Some(e) = self.epochs {
            spec.set_epochs(e);
        }
        spec
    }
}

/// The model the search chose: one candidate (a single model or a seed
/// ensemble), or a blend of several.
enum Chosen {
    Single(Candidate),
    Blend {
        blend: Blend,
        config: BlendConfig,
        members: Vec<Plan>,
        report: FitReport,
    },
}

impl Chosen {
    /// As fitted on the training part.
    fn into_model(self, train: &Ratings, scale: RatingScale) -> Result<TrainedModel> {
        match self {
            Chosen::Single(c) => TrainedModel::from_fitted(c.model, c.spec, train, scale, c.report),
            Chosen::Blend {
                blend,
                config,
                report,
                ..
            } => TrainedModel::from_fitted(
                Box::new(blend),
                ModelSpec::new(config)?,
                train,
                scale,
                report,
            ),
        }
    }

    /// Fitted again on `all` (training and validation ratings), each model
    /// with the epoch count early stopping chose (models that do not stop
    /// early keep their settings); a blend keeps its weights.
    fn refit(self, all: &Ratings, scale: RatingScale, opts: &FitOptions) -> Result<TrainedModel> {
        let fit = |plan: &Plan| -> Result<(ModelSpec, TrainedModel)> {
            let spec = plan.refit_spec();
            let model = TrainedModel::fit(&spec, all, None, None, scale, opts)
                .map_err(|e| e.context(format!("refitting {}", plan.spec.kind())))?;
            Ok((spec, model))
        };
        let (model, spec, mut report, note) = match self {
            Chosen::Single(c) => {
                let plan = Plan {
                    spec: c.spec,
                    epochs: c.refit_epochs,
                };
                let (spec, m) = fit(&plan)?;
                let mut report = c.report;
                report.train_seconds += m.report.train_seconds;
                (m.model, spec, report, refit_note(&[plan]))
            }
            Chosen::Blend {
                blend,
                mut config,
                members,
                mut report,
            } => {
                let mut refitted = Vec::with_capacity(members.len());
                for (k, plan) in members.iter().enumerate() {
                    let (spec, m) = fit(plan)?;
                    config.members[k] = spec;
                    report.train_seconds += m.report.train_seconds;
                    refitted.push(m.model);
                }
                let blend = blend.with_members(refitted)?;
                (
                    Box::new(blend) as Box<dyn Recommender>,
                    ModelSpec::new(config)?,
                    report,
                    refit_note(&members),
                )
            }
        };
        report.notes.push(note);
        TrainedModel::from_fitted(model, spec, all, scale, report)
    }
}

/// "refitted on the training and validation ratings together: autoencoder
/// for 52 epochs, svdpp with its own settings, …"
fn refit_note(plans: &[Plan]) -> String {
    let parts: Vec<String> = plans
        .iter()
        .map(|p| match p.epochs {
            Some(e) => format!("{} for {e} epochs", p.spec.kind()),
            None => format!("{} with its own settings", p.spec.kind()),
        })
        .collect();
    format!(
        "refitted on the training and validation ratings together: {}",
        parts.join(", ")
    )
}

/// The epoch count for a refit without validation: the epoch early stopping
/// kept, the median over an ensemble's members (each member's own choice
/// is noisy; their median is the steadier estimate). `None` when no fit
/// stopped early (closed-form models, fixed-epoch baselines).
fn chosen_epochs(reports: &[FitReport]) -> Option<usize> {
    let mut epochs: Vec<usize> = reports.iter().filter_map(|r| r.best_epoch).collect();
    if epochs.is_empty() {
        return None;
    }
    epochs.sort_unstable();
    Some(epochs[epochs.len() / 2])
}

/// The training and validation ratings as one table (they share the id
/// maps, so indices carry over).
fn train_and_valid(train: &Ratings, valid: &Ratings) -> Ratings {
    let cat = |a: &[u32], b: &[u32]| [a, b].concat();
    Ratings {
        users: cat(&train.users, &valid.users),
        items: cat(&train.items, &valid.items),
        values: [&train.values[..], &valid.values[..]].concat(),
        timestamps: match (&train.timestamps, &valid.timestamps) {
            (Some(a), Some(b)) => Some([&a[..], &b[..]].concat()),
            _ => None,
        },
        user_ids: std::sync::Arc::clone(&train.user_ids),
        item_ids: std::sync::Arc::clone(&train.item_ids),
    }
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
    winner_fit: Candidate,
    others: Vec<Candidate>,
    winner_rmse: f64,
    (train, valid, scale): (&Ratings, &Ratings, RatingScale),
    (trials, push): (&mut Vec<AutoTrial>, &mut PushTrial<'_>),
    winner: usize,
    why: String,
) -> Result<(Chosen, usize, String)> {
    if others.is_empty() {
        return Ok((Chosen::Single(winner_fit), winner, why));
    }
    let t0 = Instant::now();
    let train_by_user = train.by_user();
    let mut candidates = vec![winner_fit];
    candidates.extend(others);
    let predictions = candidates
        .iter()
        .map(|c| blend::valid_predictions(c.model.as_ref(), &train_by_user, valid))
        .collect::<Result<Vec<_>>>()?;
    let config = BlendConfig {
        members: candidates.iter().map(|c| c.spec.clone()).collect(),
        meta_features: true,
    };
    let data = FitData::new(train, &train_by_user, scale)?.with_valid(Some(valid));
    let n_members = config.members.len();
    let settings = ModelSpec::new(config.clone())?.to_json();
    // The models go into the blend; their specs, epoch counts and reports
    // stay here for the refit.
    let mut models = Vec::with_capacity(n_members);
    let mut plans = Vec::with_capacity(n_members);
    let mut reports = Vec::with_capacity(n_members);
    for c in candidates {
        plans.push(Plan {
            spec: c.spec,
            epochs: c.refit_epochs,
        });
        models.push(c.model);
        reports.push(c.report);
    }
    let (blend, fit) = config.from_fitted(models, &predictions, &data)?;
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
    let mut report = reports.swap_remove(0);
    if !kept {
        // The winner stands: member 0 of the blend.
        let plan = plans.swap_remove(0);
        let winner_fit = Candidate {
            model: blend.into_members().swap_remove(0),
            spec: plan.spec,
            report,
            refit_epochs: plan.epochs,
        };
        return Ok((Chosen::Single(winner_fit), winner, why));
    }
    report.notes.push(fit.why.clone());
    Ok((
        Chosen::Blend {
            blend,
            config,
            members: plans,
            report,
        },
        trial,
        reason(trials, trial),
    ))
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
