//! Blends: fitted models of any kinds, their predictions combined with
//! weights fitted on the validation split, as the Netflix Prize teams
//! combined theirs (Töscher, Jahrer and Bell, "The BigChaos Solution to the
//! Netflix Grand Prize", 2009, linear blending on the probe set).
//!
//! Models of different kinds make different errors: an item autoencoder
//! sees an item's whole column, SVD++ a user's implicit feedback, a bias
//! model only the two offsets. A weighted sum of their predictions cancels
//! part of what each gets wrong. The members are fitted on the training
//! split (each early-stopping on the validation split, as its own config
//! says); the weights are then a ridge regression of the validation ratings
//! on the members' validation predictions ([`RidgeFit`]), with an unpenalised
//! intercept, shrunk towards "the best member alone", the penalty chosen by
//! exact leave-one-out error. Nothing is a constant fitted to one data set.
//!
//! With `meta_features = true` each member's weight also moves linearly with
//! the user's and the item's training support `g(n) = ln(1 + n)`
//! (standardised on the validation cells), as the Netflix blends let support
//! decide how far to trust a factor model over a neighbourhood one: the
//! features are `p_k`, `p_k·g_u`, `p_k·g_i` for every member `k`, plus `g_u`
//! and `g_i`. A user folded in without retraining is described by their
//! fold-in row, so their `n` is that row's length.
//!
//! The blend never validates worse than its best member: when the ridge's
//! leave-one-out RMSE does not beat the best member's validation RMSE, or
//! its in-sample validation RMSE is worse (possible only through clipping),
//! the blend is the best member alone. A blend of one member is that member
//! (there is nothing to weigh).
//!
//! Written in a config as `model = "blend"` with one `[[members]]` table per
//! member, each in the form of a top-level model config (`preset = …`,
//! `ensemble = N` allowed).

mod ridge;

use std::fmt::Write as _;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::registry::{load_model, no_presets, ModelConfig, ModelKind};
use super::spec::ModelSpec;
use super::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor};
use crate::data::{Csr, Ratings};
use crate::error::{Error, Result};

pub use ridge::RidgeFit;

/// The `blend` model kind: `model = "blend"`, `meta_features`, and one
/// `[[members]]` table per member.
pub const KIND: ModelKind = ModelKind {
    name: "blend",
    summary: "members of any kinds, weighted by a ridge regression on the validation split",
    parse: |settings| Ok(Box::new(BlendConfig::from_settings(settings)?)),
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(Blend::from_parts(parts)?)),
};

/// Share of the training ratings a blend holds out for its members' early
/// stopping and its weights when it is given no validation split (as `aerec
/// tune` carves by default).
pub const CARVE_FRACTION: f64 = 0.1;

/// Most members a blend may have: with meta-features a member costs three
/// weights, and beyond a handful of kinds the validation split cannot tell
/// the weights apart.
pub const MAX_MEMBERS: usize = 16;

/// Member `k` is fitted with seed `seed + k · MEMBER_SEED_STRIDE`, so that
/// members of one kind differ and the seeds of a member that is itself a
/// seed ensemble (`seed … seed + N − 1`) never overlap the next member's.
pub const MEMBER_SEED_STRIDE: u64 = 1 << 32;

/// A blend's settings: its members' specs, and whether the weights depend on
/// the user's and the item's training support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendConfig {
    /// The members, 1 ..= [`MAX_MEMBERS`], of any kind but `blend`.
    pub members: Vec<ModelSpec>,
    /// Weights that vary with `ln(1 + n)` of the user's and item's ratings.
    #[serde(default)]
    pub meta_features: bool,
}

impl BlendConfig {
    /// Reads the settings of a `model = "blend"` table: `members`, a list of
    /// model tables each read by [`ModelSpec::from_json`] (so `preset` and
    /// `ensemble = N` work there), and `meta_features`. Any other key is an
    /// error: settings such as `epochs` belong to a member.
    pub fn from_settings(mut map: Map<String, Value>) -> Result<Self> {
        map.remove("model");
        let members = match map.remove("members") {
            None => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    ModelSpec::from_json(m)
                        .map_err(|e| e.context(format!("blend member {}", k + 1)))
                })
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(Error::config(format!(
                    "blend: `members` must be a list of model tables ([[members]]), got {other}"
                )))
            }
        };
        let meta_features = match map.remove("meta_features") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(Error::config(format!(
                    "blend: `meta_features` must be true or false, got {other}"
                )))
            }
        };
        if let Some(key) = map.keys().next() {
            return Err(Error::config(format!(
                "blend: unknown setting `{key}` (a blend takes `members` and `meta_features`; \
                 model settings go in each [[members]] table)"
            )));
        }
        let config = BlendConfig {
            members,
            meta_features,
        };
        config.validate()?;
        Ok(config)
    }

    /// Fits every member on the training split, then the weights on the
    /// validation split ([`BlendConfig::from_fitted`]). Without a validation
    /// split, [`CARVE_FRACTION`] of the training ratings is held out for it
    /// (seeded by `opts.seed`), and the fit notes say so.
    pub fn fit_blend(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(Blend, FitReport)> {
        self.validate()?;
        let carved = match data.valid {
            Some(v) if !v.is_empty() => None,
            _ => Some(carve_validation(data.train, opts.seed)?),
        };
        let data = match &carved {
            Some((train, train_by_user, valid)) => FitData::new(train, train_by_user, data.scale)?
                .with_valid(Some(valid))
                .with_side(data.side),
            None => data.clone(),
        };
        let valid = data.valid.expect("given or carved");
        let start = std::time::Instant::now();
        let mut members = Vec::with_capacity(self.members.len());
        let mut predictions = Vec::with_capacity(self.members.len());
        let mut report = FitReport::default();
        for (k, spec) in self.members.iter().enumerate() {
            let member_opts = FitOptions {
                seed: opts
                    .seed
                    .wrapping_add((k as u64).wrapping_mul(MEMBER_SEED_STRIDE)),
                progress: opts.progress,
                control: opts.control.clone(),
            };
            let label = format!("blend member {} ({})", k + 1, spec.kind());
            let (model, r) = spec
                .fit(&data, &member_opts)
                .map_err(|e| e.context(label.clone()))?;
            report.epochs += r.epochs;
            report
                .notes
                .extend(r.notes.iter().map(|n| format!("{label}: {n}")));
            predictions.push(valid_predictions(
                model.as_ref(),
                data.train_by_user,
                valid,
            )?);
            members.push(model);
        }
        let (blend, fit) = self.from_fitted(members, &predictions, &data)?;
        if carved.is_some() {
            report.notes.push(format!(
                "blend: no validation split given; {:.0}% of the training ratings (seed {}) held out \
                 for the members' early stopping and the weights",
                CARVE_FRACTION * 100.0,
                opts.seed
            ));
        }
        report.notes.extend(fit.notes());
        report.train_seconds = start.elapsed().as_secs_f64();
        Ok((blend, report))
    }

    /// Builds a blend from members already fitted (in the order of
    /// `self.members`) and their raw predictions for every rating of
    /// `data.valid`, in its order, without refitting them: the route for a
    /// caller that has fitted candidates anyway (the auto-trainer).
    /// Predictions for a rating whose user or item has no training rating
    /// are ignored (the trained model answers those with its fallback), so
    /// [`crate::model::TrainedModel::predict_ratings`] values serve as they are.
    pub fn from_fitted(
        &self,
        members: Vec<Box<dyn Recommender>>,
        valid_predictions: &[Vec<f32>],
        data: &FitData<'_>,
    ) -> Result<(Blend, BlendFit)> {
        self.validate()?;
        let valid = data
            .valid
            .ok_or_else(|| Error::config("blend: the weights need a validation split"))?;
        if members.len() != self.members.len() || valid_predictions.len() != members.len() {
            return Err(Error::config(format!(
                "blend: {} member specs, {} fitted members, {} prediction lists",
                self.members.len(),
                members.len(),
                valid_predictions.len()
            )));
        }
        let train = data.train_by_user;
        for (k, (m, p)) in members.iter().zip(valid_predictions).enumerate() {
            if (m.n_users(), m.n_items()) != (train.n_rows, train.n_cols) {
                return Err(Error::config(format!(
                    "blend member {}: {} users × {} items, the training split {} × {}",
                    k + 1,
                    m.n_users(),
                    m.n_items(),
                    train.n_rows,
                    train.n_cols
                )));
            }
            if p.len() != valid.len() {
                return Err(Error::config(format!(
                    "blend member {}: {} validation predictions for {} validation ratings",
                    k + 1,
                    p.len(),
                    valid.len()
                )));
            }
        }
        let clip = (data.scale.min, data.scale.max);
        let item_counts = column_counts(train);
        let cells = super::answered_cells(train, valid);
        if cells.is_empty() {
            return Err(Error::config(
                "blend: the validation split has no rating whose user and item are both in training",
            ));
        }
        let log = |n: u32| (1.0 + n as f64).ln();
        let count_norm = if self.meta_features {
            let (cu, su) = mean_std(
                cells
                    .iter()
                    .map(|&j| log(train.row_len(valid.users[j] as usize) as u32)),
            );
            let (ci, si) = mean_std(
                cells
                    .iter()
                    .map(|&j| log(item_counts[valid.items[j] as usize])),
            );
            [cu as f32, su as f32, ci as f32, si as f32]
        } else {
            [0.0, 1.0, 0.0, 1.0]
        };
        let n_members = members.len();
        let mut blend = Blend {
            members,
            meta_features: self.meta_features,
            clip,
            weights: vec![0.0; n_features(n_members, self.meta_features)],
            intercept: 0.0,
            item_counts: if self.meta_features {
                item_counts
            } else {
                Vec::new()
            },
            count_norm,
            only_member: None,
        };

        // Each member's clipped predictions on the validation cells.
        let targets: Vec<f64> = cells.iter().map(|&j| valid.values[j] as f64).collect();
        let member_cells: Vec<Vec<f32>> = valid_predictions
            .iter()
            .map(|p| cells.iter().map(|&j| p[j].clamp(clip.0, clip.1)).collect())
            .collect();
        let member_rmse: Vec<f64> = member_cells.iter().map(|p| rmse(p, &targets)).collect();
        let best = (0..n_members)
            .min_by(|&a, &b| member_rmse[a].total_cmp(&member_rmse[b]))
            .expect("a blend has members");
        let mut fit = BlendFit {
            kinds: blend.members.iter().map(|m| m.kind().to_string()).collect(),
            member_rmse: member_rmse.clone(),
            blend_rmse: member_rmse[best],
            ridge: None,
            only_member: Some(best),
            why: String::new(),
            cells: cells.len(),
            weights: Vec::new(),
            intercept: 0.0,
        };
        blend.set_only_member(best);
        if n_members == 1 {
            fit.why = "one member: nothing to weigh".into();
            return Ok(fit.kept(blend));
        }

        // The feature rows, built by the same code that scores.
        let p = blend.weights.len();
        let mut x = Vec::with_capacity(cells.len() * p);
        let mut preds = vec![0f32; n_members];
        let mut row = Vec::with_capacity(p);
        for (c, &j) in cells.iter().enumerate() {
            for (k, m) in member_cells.iter().enumerate() {
                preds[k] = m[c];
            }
            let n_u = train.row_len(valid.users[j] as usize);
            blend.features(&preds, n_u, valid.items[j], &mut row);
            x.extend(row.iter().map(|&v| v as f64));
        }
        let mut prior = vec![0f64; p];
        prior[best] = 1.0;
        let ridge = match ridge::fit_loo(&x, cells.len(), p, &targets, &prior) {
            Ok(r) => r,
            Err(e) => {
                fit.why = format!("no ridge fit ({e}): the best member alone");
                return Ok(fit.kept(blend));
            }
        };
        // A NaN error (a degenerate fit) does not beat anything.
        if ridge.loo_rmse.is_nan() || ridge.loo_rmse >= member_rmse[best] {
            fit.why = format!(
                "ridge leave-one-out RMSE {:.4} does not beat the best member's {:.4}: the best member alone",
                ridge.loo_rmse, member_rmse[best]
            );
            fit.ridge = Some(ridge);
            return Ok(fit.kept(blend));
        }
        let mut candidate = blend;
        candidate.only_member = None;
        candidate.weights = ridge.weights.iter().map(|&w| w as f32).collect();
        candidate.intercept = ridge.intercept as f32;
        // The stored f32 weights, through the scoring path, clipped as
        // evaluation clips: the number the guarantee is about.
        let blended: Vec<f32> = x
            .chunks_exact(p)
            .map(|r| {
                candidate
                    .combine(r.iter().map(|&v| v as f32))
                    .clamp(clip.0, clip.1)
            })
            .collect();
        let blend_rmse = rmse(&blended, &targets);
        fit.ridge = Some(ridge);
        if blend_rmse > member_rmse[best] {
            fit.why = format!(
                "blended validation RMSE {blend_rmse:.4} is worse than the best member's {:.4}: the best member alone",
                member_rmse[best]
            );
            candidate.set_only_member(best);
            return Ok(fit.kept(candidate));
        }
        fit.blend_rmse = blend_rmse;
        fit.only_member = None;
        fit.why = "ridge weights".into();
        Ok(fit.kept(candidate))
    }
}

impl ModelConfig for BlendConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    /// Checks the member count, that no member is a blend, and every member.
    fn validate(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::config(
                "blend: no members (add [[members]] tables, one per model)",
            ));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(Error::config(format!(
                "blend: {} members, at most {MAX_MEMBERS}",
                self.members.len()
            )));
        }
        for (k, m) in self.members.iter().enumerate() {
            if m.kind() == KIND.name {
                return Err(Error::config(format!(
                    "blend: member {} is a blend; list its members in this blend instead",
                    k + 1
                )));
            }
            m.validate()
                .map_err(|e| e.context(format!("blend member {}", k + 1)))?;
        }
        Ok(())
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = self.fit_blend(data, opts)?;
        Ok((Box::new(m), r))
    }

    /// Sets every member's epochs; true when any member trains in epochs.
    fn set_epochs(&mut self, epochs: usize) -> bool {
        let set: Vec<bool> = self
            .members
            .iter_mut()
            .map(|m| m.set_epochs(epochs))
            .collect();
        set.contains(&true)
    }

    fn uses_side_features(&self) -> bool {
        self.members.iter().any(|m| m.uses_side_features())
    }

    /// Each member in its config-file form (`preset`-free, `ensemble = N`).
    fn user_settings(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "members".into(),
            self.members.iter().map(ModelSpec::to_json).collect(),
        );
        m.insert("meta_features".into(), self.meta_features.into());
        m
    }
}

/// Splits `CARVE_FRACTION` of `train` off at random (seeded) as validation:
/// (the rest, the rest by user, the carve).
fn carve_validation(train: &Ratings, seed: u64) -> Result<(Ratings, Csr, Ratings)> {
    let n = train.len();
    let k = ((n as f64 * CARVE_FRACTION).round() as usize).max(1);
    if n < 2 * k {
        return Err(Error::config(format!(
            "blend: {n} training ratings are too few to hold out a validation part"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    // A stream of its own, so the carve does not echo a member's draws.
    order.shuffle(&mut SmallRng::seed_from_u64(seed ^ 0x626c_656e_6400));
    let (held, kept) = order.split_at_mut(k);
    held.sort_unstable();
    kept.sort_unstable();
    let rest = train.select(kept);
    let by_user = rest.by_user();
    Ok((rest, by_user, train.select(held)))
}

/// What fitting a blend's weights found, for the fit notes and for a caller
/// choosing between the blend and its best member.
#[derive(Debug, Clone, PartialEq)]
pub struct BlendFit {
    /// Each member's kind.
    pub kinds: Vec<String>,
    /// Each member's validation RMSE (predictions clipped to the rating scale).
    pub member_rmse: Vec<f64>,
    /// The blend's validation RMSE, clipped likewise (in-sample: the weights
    /// were fitted on these ratings; see `ridge` for an honest estimate).
    pub blend_rmse: f64,
    /// The ridge fit, when one was made.
    pub ridge: Option<RidgeFit>,
    /// `Some(k)` when the blend is member `k` alone.
    pub only_member: Option<usize>,
    /// Why the weights are what they are.
    pub why: String,
    /// Validation ratings the weights were fitted on.
    pub cells: usize,
    /// The weights kept (see [`Blend`] for their order).
    pub weights: Vec<f32>,
    /// The intercept kept.
    pub intercept: f32,
}

impl BlendFit {
    /// Records the blend's final weights and hands both back.
    fn kept(mut self, blend: Blend) -> (Blend, BlendFit) {
        self.weights = blend.weights.clone();
        self.intercept = blend.intercept;
        (blend, self)
    }

    /// The fit notes: each member's validation RMSE, the blend's, and the
    /// weights.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .kinds
            .iter()
            .zip(&self.member_rmse)
            .enumerate()
            .map(|(k, (kind, r))| format!("blend member {} ({kind}): valid {r:.4}", k + 1))
            .collect();
        let ridge = self.ridge.as_ref().map_or(String::new(), |r| {
            format!(", λ {:.3e}, leave-one-out RMSE {:.4}", r.lambda, r.loo_rmse)
        });
        notes.push(format!(
            "blend: valid {:.4} on {} ratings ({}{ridge})",
            self.blend_rmse, self.cells, self.why
        ));
        let m = self.kinds.len();
        let mut weights = format!("blend weights: intercept {:.4}", self.intercept);
        for (k, kind) in self.kinds.iter().enumerate() {
            let _ = write!(
                weights,
                "; member {} ({kind}) {:.4}",
                k + 1,
                self.weights[k]
            );
            if self.weights.len() > m {
                let _ = write!(
                    weights,
                    " + {:.4}·g_user + {:.4}·g_item",
                    self.weights[m + k],
                    self.weights[2 * m + k]
                );
            }
        }
        if self.weights.len() > m {
            let _ = write!(
                weights,
                "; g_user {:.4}, g_item {:.4}",
                self.weights[3 * m],
                self.weights[3 * m + 1]
            );
        }
        notes.push(weights);
        notes
    }
}

/// Number of weights: one per member, or three per member plus the two
/// support terms with meta-features.
fn n_features(members: usize, meta: bool) -> usize {
    if meta {
        3 * members + 2
    } else {
        members
    }
}

/// Training ratings per item.
fn column_counts(train: &Csr) -> Vec<u32> {
    let mut counts = vec![0u32; train.n_cols];
    for &c in &train.indices {
        counts[c as usize] += 1;
    }
    counts
}

/// A member's raw predictions for every validation rating (NaN where the
/// user or item has no training rating), each user's row scored once.
pub fn valid_predictions(
    member: &dyn Recommender,
    train: &Csr,
    valid: &Ratings,
) -> Result<Vec<f32>> {
    let mut cells = super::answered_cells(train, valid);
    cells.sort_by_key(|&j| (valid.users[j], j));
    let groups: Vec<&[usize]> = cells
        .chunk_by(|&a, &b| valid.users[a] == valid.users[b])
        .collect();
    let scored: Vec<Vec<f32>> = groups
        .par_iter()
        .map(|group| {
            let u = valid.users[group[0]];
            let items: Vec<u32> = group.iter().map(|&j| valid.items[j]).collect();
            let mut out = vec![0f32; items.len()];
            member.score_items(Some(u), SparseRow::of(train, u as usize), &items, &mut out)?;
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut out = vec![f32::NAN; valid.len()];
    for (group, values) in groups.iter().zip(scored) {
        for (&j, v) in group.iter().zip(values) {
            out[j] = v;
        }
    }
    Ok(out)
}

fn rmse(pred: &[f32], target: &[f64]) -> f64 {
    let sse: f64 = pred
        .iter()
        .zip(target)
        .map(|(&p, &t)| (p as f64 - t).powi(2))
        .sum();
    (sse / target.len().max(1) as f64).sqrt()
}

/// Mean and standard deviation; a spread of 0 becomes 1 (the feature is then
/// constant and only shifts the intercept).
fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let sd = (values.map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}

/// A fitted blend: `intercept + Σ weights · features`, the features being
/// the members' predictions clipped to the rating scale (times the support
/// terms, with meta-features).
///
/// Model file: kind `blend`; config `{"members": [{"kind", "config"}, …],
/// "meta_features", "only_member"}`; member `k`'s tensors under the prefix
/// `member{k}.` (0-based); `blend.weights` `[features]`, `blend.intercept`
/// `[1]`, `blend.clip` `[2]` (the rating scale), and with
/// meta-features `blend.item_counts` `[items]` and `blend.count_norm` `[4]`
/// (mean and spread of `ln(1+n)` for users, then items).
pub struct Blend {
    members: Vec<Box<dyn Recommender>>,
    meta_features: bool,
    clip: (f32, f32),
    weights: Vec<f32>,
    intercept: f32,
    item_counts: Vec<u32>,
    count_norm: [f32; 4],
    /// The blend is this member alone (its raw score, unclipped).
    only_member: Option<usize>,
}

impl std::fmt::Debug for Blend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.members.iter().map(|m| m.kind()).collect();
        f.debug_struct("Blend")
            .field("members", &kinds)
            .field("weights", &self.weights)
            .field("intercept", &self.intercept)
            .field("only_member", &self.only_member)
            .finish()
    }
}

impl Blend {
    /// The members, in config order.
    pub fn members(&self) -> &[Box<dyn Recommender>] {
        &self.members
    }

    /// The members, taken back (for a caller that fitted a blend to compare
    /// it and keeps a member instead).
    pub fn into_members(self) -> Vec<Box<dyn Recommender>> {
        self.members
    }

    /// The same blend (weights, intercept, meta-feature statistics) over
    /// other fitted members, one for each of the old in the same order and
    /// index space: members refitted on more data (training and validation
    /// ratings together) with the settings validation chose, as Netflix
    /// Prize blends were retrained on the probe set after their weights
    /// were fitted on it.
    pub fn with_members(self, members: Vec<Box<dyn Recommender>>) -> Result<Blend> {
        if members.len() != self.members.len() {
            return Err(Error::config(format!(
                "blend: {} members to put in place of {}",
                members.len(),
                self.members.len()
            )));
        }
        for (k, (new, old)) in members.iter().zip(&self.members).enumerate() {
            if (new.n_users(), new.n_items()) != (old.n_users(), old.n_items()) {
                return Err(Error::config(format!(
                    "blend member {}: {} users × {} items in place of {} × {}",
                    k + 1,
                    new.n_users(),
                    new.n_items(),
                    old.n_users(),
                    old.n_items()
                )));
            }
        }
        Ok(Blend { members, ..self })
    }

    /// The weights (see [`Blend`] for their order) and the intercept.
    pub fn weights(&self) -> (&[f32], f32) {
        (&self.weights, self.intercept)
    }

    /// `Some(k)` when the blend is member `k` alone.
    pub fn only_member(&self) -> Option<usize> {
        self.only_member
    }

    fn set_only_member(&mut self, k: usize) {
        self.only_member = Some(k);
        self.weights.iter_mut().for_each(|w| *w = 0.0);
        self.weights[k] = 1.0;
        self.intercept = 0.0;
    }

    /// One cell's features from the members' clipped predictions, the user's
    /// training (or fold-in) count and the item.
    fn features(&self, preds: &[f32], n_user: usize, item: u32, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(preds);
        if self.meta_features {
            let [cu, su, ci, si] = self.count_norm;
            let gu = ((1.0 + n_user as f32).ln() - cu) / su;
            let n_item = self.item_counts.get(item as usize).copied().unwrap_or(0);
            let gi = ((1.0 + n_item as f32).ln() - ci) / si;
            out.extend(preds.iter().map(|p| p * gu));
            out.extend(preds.iter().map(|p| p * gi));
            out.extend([gu, gi]);
        }
    }

    fn combine(&self, features: impl Iterator<Item = f32>) -> f32 {
        let s: f64 = features
            .zip(&self.weights)
            .map(|(x, &w)| x as f64 * w as f64)
            .sum();
        (self.intercept as f64 + s) as f32
    }

    /// Blends member scores laid out member-major (`scores[k * n + j]`) for
    /// the items `item_of(j)`, into `out`.
    fn blend_into(
        &self,
        scores: &[f32],
        n_user: usize,
        item_of: impl Fn(usize) -> u32,
        out: &mut [f32],
    ) {
        let n = out.len();
        let m = self.members.len();
        let mut preds = vec![0f32; m];
        let mut row = Vec::with_capacity(self.weights.len());
        for (j, o) in out.iter_mut().enumerate() {
            for (k, p) in preds.iter_mut().enumerate() {
                *p = scores[k * n + j].clamp(self.clip.0, self.clip.1);
            }
            self.features(&preds, n_user, item_of(j), &mut row);
            *o = self.combine(row.iter().copied());
        }
    }

    /// Rebuilds a blend from its parts (as written by [`Recommender::to_parts`]).
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let cfg = &parts.config;
        let listed = cfg
            .get("members")
            .and_then(|m| m.as_array())
            .ok_or_else(|| Error::model_file("blend config: missing \"members\" list"))?;
        if listed.is_empty() || listed.len() > MAX_MEMBERS {
            return Err(Error::model_file(format!(
                "blend: {} members, expected 1 ..= {MAX_MEMBERS}",
                listed.len()
            )));
        }
        let meta_features = cfg
            .get("meta_features")
            .and_then(|m| m.as_bool())
            .ok_or_else(|| Error::model_file("blend config: missing \"meta_features\""))?;
        let only_member = match cfg.get("only_member") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|&k| (k as usize) < listed.len())
                    .ok_or_else(|| {
                        Error::model_file(format!("blend config: bad \"only_member\" {v}"))
                    })? as usize,
            ),
        };
        let mut members: Vec<Box<dyn Recommender>> = Vec::with_capacity(listed.len());
        for (k, entry) in listed.iter().enumerate() {
            let kind = entry
                .get("kind")
                .and_then(|k| k.as_str())
                .ok_or_else(|| Error::model_file(format!("blend member {k}: missing \"kind\"")))?;
            if kind == "blend" {
                return Err(Error::model_file(format!(
                    "blend member {k} is itself a blend"
                )));
            }
            let prefix = format!("member{k}.");
            let member = ModelParts {
                kind: kind.to_string(),
                config: entry.get("config").cloned().unwrap_or_default(),
                tensors: parts
                    .tensors
                    .iter()
                    .filter_map(|(n, t)| Some((n.strip_prefix(&prefix)?.to_string(), t.clone())))
                    .collect(),
            };
            let model = load_model(&member).map_err(|e| e.context(format!("blend member {k}")))?;
            if let Some(first) = members.first() {
                if (model.n_users(), model.n_items()) != (first.n_users(), first.n_items()) {
                    return Err(Error::model_file(format!(
                        "blend member {k} has {} users × {} items, member 0 {} × {}",
                        model.n_users(),
                        model.n_items(),
                        first.n_users(),
                        first.n_items()
                    )));
                }
            }
            members.push(model);
        }
        let n_items = members[0].n_items();
        let p = n_features(members.len(), meta_features);
        let weights = parts.tensor("blend.weights", &[p])?.data.clone();
        let intercept = parts.tensor("blend.intercept", &[1])?.data[0];
        let clip = parts.tensor("blend.clip", &[2])?;
        let clip = (clip.data[0], clip.data[1]);
        if weights
            .iter()
            .chain([&intercept, &clip.0, &clip.1])
            .any(|v| !v.is_finite())
            || clip.0 > clip.1
        {
            return Err(Error::model_file(
                "blend: weights, intercept and clip range must be finite, the range ordered",
            ));
        }
        let (item_counts, count_norm) = if meta_features {
            let counts = parts.tensor("blend.item_counts", &[n_items])?;
            let norm = parts.tensor("blend.count_norm", &[4])?;
            if counts
                .data
                .iter()
                .any(|&c| !(c >= 0.0 && c <= u32::MAX as f32))
                || norm.data.iter().any(|v| !v.is_finite())
                || norm.data[1] <= 0.0
                || norm.data[3] <= 0.0
            {
                return Err(Error::model_file(
                    "blend: item counts must be non-negative and the count spreads positive",
                ));
            }
            (
                counts.data.iter().map(|&c| c as u32).collect(),
                [norm.data[0], norm.data[1], norm.data[2], norm.data[3]],
            )
        } else {
            (Vec::new(), [0.0, 1.0, 0.0, 1.0])
        };
        Ok(Blend {
            members,
            meta_features,
            clip,
            weights,
            intercept,
            item_counts,
            count_norm,
            only_member,
        })
    }
}

impl Recommender for Blend {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.members[0].n_users()
    }

    fn n_items(&self) -> usize {
        self.members[0].n_items()
    }

    fn n_params(&self) -> usize {
        self.members.iter().map(|m| m.n_params()).sum::<usize>() + self.weights.len() + 1
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        if let Some(k) = self.only_member {
            return self.members[k].score_items(user, row, items, out);
        }
        if items.len() != out.len() {
            return Err(Error::other(format!(
                "score_items: {} items but {} output slots",
                items.len(),
                out.len()
            )));
        }
        let n = items.len();
        let mut scores = vec![0f32; n * self.members.len()];
        for (m, chunk) in self.members.iter().zip(scores.chunks_exact_mut(n.max(1))) {
            m.score_items(user, row, items, &mut chunk[..n])?;
        }
        self.blend_into(&scores, row.len(), |j| items[j], out);
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        if let Some(k) = self.only_member {
            return self.members[k].score_all(user, row, out);
        }
        let n = self.n_items();
        if out.len() != n {
            return Err(Error::other(format!(
                "score_all: {} output slots for {n} items",
                out.len()
            )));
        }
        let mut scores = vec![0f32; n * self.members.len()];
        for (m, chunk) in self.members.iter().zip(scores.chunks_exact_mut(n.max(1))) {
            m.score_all(user, row, &mut chunk[..n])?;
        }
        self.blend_into(&scores, row.len(), |j| j as u32, out);
        Ok(())
    }

    /// The best member's vectors when the blend is that member alone; a
    /// weighted blend (clipped, and with meta-features not even linear in
    /// the members' scores) has no item space of its own.
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        self.only_member
            .and_then(|k| self.members[k].item_vectors())
    }

    fn to_parts(&self) -> ModelParts {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let mut listed = Vec::with_capacity(self.members.len());
        for (k, m) in self.members.iter().enumerate() {
            let p = m.to_parts();
            tensors.extend(
                p.tensors
                    .into_iter()
                    .map(|(n, t)| (format!("member{k}.{n}"), t)),
            );
            listed.push(serde_json::json!({ "kind": p.kind, "config": p.config }));
        }
        let vector = |data: Vec<f32>| Tensor {
            shape: vec![data.len()],
            data,
        };
        tensors.push(("blend.weights".into(), vector(self.weights.clone())));
        tensors.push(("blend.intercept".into(), vector(vec![self.intercept])));
        tensors.push(("blend.clip".into(), vector(vec![self.clip.0, self.clip.1])));
        if self.meta_features {
            tensors.push((
                "blend.item_counts".into(),
                vector(self.item_counts.iter().map(|&c| c as f32).collect()),
            ));
            tensors.push(("blend.count_norm".into(), vector(self.count_norm.to_vec())));
        }
        ModelParts {
            kind: "blend".into(),
            config: serde_json::json!({
                "members": listed,
                "meta_features": self.meta_features,
                "only_member": self.only_member,
            }),
            tensors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::baseline::MeanModel;

    fn mean_member(mu: f32) -> Box<dyn Recommender> {
        let parts = ModelParts {
            kind: "mean".into(),
            config: serde_json::json!({ "dims": [3, 4] }),
            tensors: vec![(
                "mu".into(),
                Tensor {
                    shape: vec![1],
                    data: vec![mu],
                },
            )],
        };
        Box::new(MeanModel::from_parts(&parts).unwrap())
    }

    /// Members predicting 2.0 and 6.0 (clipped to 5.0), weights set by hand:
    /// the score is computed here from the formula in the docs.
    #[test]
    fn meta_features_use_the_rows_length_and_the_items_count() {
        let blend = Blend {
            members: vec![mean_member(2.0), mean_member(6.0)],
            meta_features: true,
            clip: (1.0, 5.0),
            weights: vec![0.5, 0.25, 0.1, -0.2, 0.05, 0.03, 0.4, -0.3],
            intercept: 0.2,
            item_counts: vec![0, 3, 10, 1],
            count_norm: [1.0, 0.5, 1.5, 2.0],
            only_member: None,
        };
        let indices = [0u32, 2];
        let values = [4.0f32, 5.0];
        let row = SparseRow {
            indices: &indices,
            values: &values,
        };
        let expected = |item: usize| {
            let gu = ((1.0f64 + 2.0).ln() - 1.0) / 0.5;
            let gi = ((1.0f64 + [0.0, 3.0, 10.0, 1.0][item]).ln() - 1.5) / 2.0;
            let (p0, p1) = (2.0, 5.0);
            0.2 + 0.5 * p0
                + 0.25 * p1
                + (0.1 * p0 - 0.2 * p1) * gu
                + (0.05 * p0 + 0.03 * p1) * gi
                + 0.4 * gu
                - 0.3 * gi
        };
        // A user never trained on (fold-in) and a known one: n is the row's length either way.
        for user in [None, Some(1)] {
            let mut all = [0f32; 4];
            blend.score_all(user, row, &mut all).unwrap();
            for (i, &s) in all.iter().enumerate() {
                assert!(
                    (s as f64 - expected(i)).abs() < 1e-5,
                    "item {i}: {s} vs {}",
                    expected(i)
                );
            }
            let mut some = [0f32; 2];
            blend.score_items(user, row, &[3, 1], &mut some).unwrap();
            assert!((some[0] as f64 - expected(3)).abs() < 1e-5);
            assert!((some[1] as f64 - expected(1)).abs() < 1e-5);
        }
        // A longer row moves the user term.
        let longer = [0u32, 1, 2, 3];
        let mut moved = [0f32; 1];
        blend
            .score_items(
                None,
                SparseRow {
                    indices: &longer,
                    values: &[3.0; 4],
                },
                &[0],
                &mut moved,
            )
            .unwrap();
        assert!((moved[0] as f64 - expected(0)).abs() > 1e-3);
        // Taken apart and put back, it scores the same.
        let back = Blend::from_parts(&blend.to_parts()).unwrap();
        let mut again = [0f32; 4];
        back.score_all(None, row, &mut again).unwrap();
        let mut all = [0f32; 4];
        blend.score_all(None, row, &mut all).unwrap();
        assert_eq!(again, all);
    }

    #[test]
    fn a_damaged_model_file_is_an_error() {
        let blend = Blend {
            members: vec![mean_member(2.0), mean_member(3.0)],
            meta_features: false,
            clip: (1.0, 5.0),
            weights: vec![0.5, 0.5],
            intercept: 0.0,
            item_counts: Vec::new(),
            count_norm: [0.0, 1.0, 0.0, 1.0],
            only_member: None,
        };
        let good = blend.to_parts();
        let mut short = good.clone();
        short.tensors.retain(|(n, _)| n != "blend.weights");
        short.tensors.push((
            "blend.weights".into(),
            Tensor {
                shape: vec![3],
                data: vec![0.0; 3],
            },
        ));
        let mut nested = good.clone();
        nested.config["members"][1]["kind"] = "blend".into();
        let mut bad_only = good.clone();
        bad_only.config["only_member"] = 5.into();
        for (parts, needle) in [
            (short, "blend.weights"),
            (nested, "itself a blend"),
            (bad_only, "only_member"),
        ] {
            let err = Blend::from_parts(&parts).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
