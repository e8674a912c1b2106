//! Seed ensembles: the same model trained several times from different
//! seeds, its predictions averaged.
//!
//! An autoencoder's error has a large seed-dependent part (initialisation,
//! batch order, dropout masks, the epoch early stopping picks): on ML-100K
//! u1, single I-AutoRec runs of one config spread over 0.900–0.906 test
//! RMSE. Averaging members cancels that part of the error: the validation
//! RMSE of the average of 8 seeds is 0.005 below the typical member's, on
//! every validation carve tried (BENCHMARKS.md, issue 3). Members train one
//! after another, each on every thread, with seeds `seed`, `seed + 1`, …; all
//! of them see the same training and validation ratings.
//!
//! Written in a config as `ensemble = N` beside the model's own keys (any
//! kind); the spec then holds [`EnsembleConfig`].

use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use super::registry::{load_model, no_presets, ModelConfig, ModelKind};
use super::spec::ModelSpec;
use super::{
    EpochStats, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor,
};
use crate::error::{Error, Result};

/// The `ensemble` model kind. Users write `ensemble = N` beside a model's
/// own keys; the model file's serde form is `{"members": N, "base": SPEC}`.
pub const KIND: ModelKind = ModelKind {
    name: "ensemble",
    summary: "the mean of N members of one model trained from consecutive seeds",
    parse: |settings| {
        let config: EnsembleConfig = serde_json::from_value(Value::Object(settings))
            .map_err(|e| Error::config(e.to_string()))?;
        Ok(Box::new(config))
    },
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(Ensemble::from_parts(parts)?)),
};

/// Most members an ensemble may have: beyond a few dozen the average stops
/// changing while training time and model size keep growing.
pub const MAX_MEMBERS: usize = 64;

/// An ensemble's settings: how many members, and the spec each one fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleConfig {
    /// Number of members, 2 ..= [`MAX_MEMBERS`].
    pub members: usize,
    /// The model every member fits (not itself an ensemble).
    pub base: Box<ModelSpec>,
}

impl EnsembleConfig {
    /// The spec of `ensemble = members` beside the member's own `settings`
    /// (a config file's form); `ensemble = 1` is the member itself.
    pub(crate) fn from_settings(members: Value, settings: Map<String, Value>) -> Result<ModelSpec> {
        let members = members.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
            Error::config(format!(
                "`ensemble` must be a whole number ≥ 1, got {members}"
            ))
        })? as usize;
        let base = ModelSpec::from_json(&Value::Object(settings))?;
        if members == 1 {
            return Ok(base);
        }
        ModelSpec::new(EnsembleConfig {
            members,
            base: Box::new(base),
        })
    }

    /// Fits the members one after another, member `k` with seed `seed + k`.
    ///
    /// The report's history is member 1's (the loss curve a plot shows);
    /// `epochs` counts every member's epochs, so the per-epoch time stays
    /// honest; the notes give each member's kept epoch and validation RMSE.
    pub fn fit_ensemble(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Ensemble, FitReport)> {
        self.validate()?;
        let start = std::time::Instant::now();
        let mut members: Vec<Box<dyn Recommender>> = Vec::with_capacity(self.members);
        let mut report = FitReport::default();
        let mut kept = Vec::with_capacity(self.members);
        for k in 0..self.members {
            // A model file holds at least two members, so a stop request
            // ends the ensemble only once two are fitted.
            if k >= 2 && opts.control.stop_requested() {
                report.notes.push(format!(
                    "stopped on request: {k} of {} members fitted",
                    self.members
                ));
                break;
            }
            let member_opts = FitOptions {
                seed: opts.seed.wrapping_add(k as u64),
                progress: opts.progress,
                control: opts.control.clone(),
            };
            let (model, r) = self
                .base
                .fit(data, &member_opts)
                .map_err(|e| e.context(format!("ensemble member {} of {}", k + 1, self.members)))?;
            report.epochs += r.epochs;
            if k == 0 {
                report.history = r.history.clone();
                report.notes = r.notes.clone();
            }
            kept.push(member_summary(&r));
            members.push(model);
        }
        report.notes.push(format!(
            "ensemble of {} (seeds {}..={}): {}",
            members.len(),
            opts.seed,
            opts.seed.wrapping_add(members.len() as u64 - 1),
            kept.join("; ")
        ));
        report.train_seconds = start.elapsed().as_secs_f64();
        Ok((Ensemble { members }, report))
    }
}

impl ModelConfig for EnsembleConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    /// Checks the member count and the base spec.
    fn validate(&self) -> Result<()> {
        if !(2..=MAX_MEMBERS).contains(&self.members) {
            return Err(Error::config(format!(
                "ensemble: members must be 2 ..= {MAX_MEMBERS}, got {}",
                self.members
            )));
        }
        if self.base.kind() == KIND.name {
            return Err(Error::config(
                "ensemble: a member cannot itself be an ensemble",
            ));
        }
        if self.base.kind() == super::blend::KIND.name {
            return Err(Error::config(
                "ensemble: a blend cannot be trained from several seeds; \
                 write `ensemble = N` in its [[members]] tables instead",
            ));
        }
        self.base.validate()
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = self.fit_ensemble(data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.base.set_epochs(epochs)
    }

    fn uses_side_features(&self) -> bool {
        self.base.uses_side_features()
    }

    /// Written as users write it: the members' settings plus `ensemble = N`.
    fn user_settings(&self) -> Map<String, Value> {
        let mut settings = match self.base.to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        settings.insert("ensemble".into(), self.members.into());
        settings
    }
}

/// One member's kept epoch and validation RMSE, for the fit notes.
fn member_summary(r: &FitReport) -> String {
    let kept = r.best_epoch.or((r.epochs > 0).then_some(r.epochs));
    let valid = kept
        .and_then(|e| r.history.iter().find(|s: &&EpochStats| s.epoch == e))
        .and_then(|s| s.valid_rmse);
    match (kept, valid) {
        (Some(e), Some(v)) => format!("epoch {e}, valid {v:.4}"),
        (Some(e), None) => format!("epoch {e}"),
        _ => "fitted".to_string(),
    }
}

/// A fitted seed ensemble: every score is the mean of the members' scores.
///
/// Model file: kind `ensemble`; config `{"members": N, "kind": …, "config": …}`
/// (the members' kind and their one shared config); member `k`'s tensors
/// under the prefix `member{k}.` (0-based).
pub struct Ensemble {
    members: Vec<Box<dyn Recommender>>,
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble")
            .field("members", &self.members.len())
            .field("kind", &self.members[0].kind())
            .finish()
    }
}

impl Ensemble {
    /// Rebuilds an ensemble from its parts (as written by [`Recommender::to_parts`]).
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let count = parts
            .config
            .get("members")
            .and_then(|m| m.as_u64())
            .ok_or_else(|| Error::model_file("ensemble config: missing \"members\" count"))?
            as usize;
        if !(2..=MAX_MEMBERS).contains(&count) {
            return Err(Error::model_file(format!(
                "ensemble: {count} members, expected 2 ..= {MAX_MEMBERS}"
            )));
        }
        let kind = parts
            .config
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or_else(|| Error::model_file("ensemble config: missing member \"kind\""))?;
        if kind == "ensemble" {
            return Err(Error::model_file(
                "ensemble: a member cannot itself be an ensemble",
            ));
        }
        let config = parts.config.get("config").cloned().unwrap_or_default();
        let mut members: Vec<Box<dyn Recommender>> = Vec::with_capacity(count);
        for k in 0..count {
            let prefix = format!("member{k}.");
            let member = ModelParts {
                kind: kind.to_string(),
                config: config.clone(),
                tensors: parts
                    .tensors
                    .iter()
                    .filter_map(|(n, t)| Some((n.strip_prefix(&prefix)?.to_string(), t.clone())))
                    .collect(),
            };
            let model =
                load_model(&member).map_err(|e| e.context(format!("ensemble member {k}")))?;
            if let Some(first) = members.first() {
                if (model.n_users(), model.n_items()) != (first.n_users(), first.n_items()) {
                    return Err(Error::model_file(format!(
                        "ensemble member {k} has {} users × {} items, member 0 {} × {}",
                        model.n_users(),
                        model.n_items(),
                        first.n_users(),
                        first.n_items()
                    )));
                }
            }
            members.push(model);
        }
        Ok(Ensemble { members })
    }

    /// An ensemble of members already fitted from one spec on one data set
    /// (members of one kind, one index space; 2 ..= [`MAX_MEMBERS`] of them),
    /// as [`EnsembleConfig::fit`] would have built them: used where members
    /// are fitted one at a time and kept while they help (`eval::auto`).
    pub fn from_members(members: Vec<Box<dyn Recommender>>) -> Result<Self> {
        if !(2..=MAX_MEMBERS).contains(&members.len()) {
            return Err(Error::config(format!(
                "ensemble: members must be 2 ..= {MAX_MEMBERS}, got {}",
                members.len()
            )));
        }
        let first = &members[0];
        if let Some(bad) = members.iter().find(|m| {
            (m.kind(), m.n_users(), m.n_items()) != (first.kind(), first.n_users(), first.n_items())
        }) {
            return Err(Error::config(format!(
                "ensemble: a {} member of {} users × {} items beside a {} member of {} × {}",
                bad.kind(),
                bad.n_users(),
                bad.n_items(),
                first.kind(),
                first.n_users(),
                first.n_items()
            )));
        }
        if first.kind() == "ensemble" {
            return Err(Error::config(
                "ensemble: a member cannot itself be an ensemble",
            ));
        }
        Ok(Ensemble { members })
    }

    /// The members, in seed order.
    pub fn members(&self) -> &[Box<dyn Recommender>] {
        &self.members
    }

    /// Runs `score` for every member into its own buffer of `len` values
    /// and leaves their mean in `out` (summed in member order, so the result
    /// does not depend on threads).
    fn mean_of(
        &self,
        out: &mut [f32],
        mut score: impl FnMut(&dyn Recommender, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        let mut sum = vec![0f64; out.len()];
        for m in &self.members {
            score(m.as_ref(), out)?;
            for (s, &v) in sum.iter_mut().zip(out.iter()) {
                *s += v as f64;
            }
        }
        let n = self.members.len() as f64;
        for (o, s) in out.iter_mut().zip(sum) {
            *o = (s / n) as f32;
        }
        Ok(())
    }
}

impl Recommender for Ensemble {
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
        self.members.iter().map(|m| m.n_params()).sum()
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        self.mean_of(out, |m, buf| m.score_items(user, row, items, buf))
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        self.mean_of(out, |m, buf| m.score_all(user, row, buf))
    }

    /// The members' item vectors side by side, each scaled by 1/√members so
    /// that a dot product is the mean of the members' dot products.
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        let parts: Vec<(usize, Vec<f32>)> = self
            .members
            .iter()
            .map(|m| m.item_vectors())
            .collect::<Option<_>>()?;
        let dim: usize = parts.iter().map(|p| p.0).sum();
        let scale = (1.0 / self.members.len() as f64).sqrt() as f32;
        let n_items = self.n_items();
        let mut out = Vec::with_capacity(n_items * dim);
        for i in 0..n_items {
            for (d, v) in &parts {
                out.extend(v[i * d..(i + 1) * d].iter().map(|x| x * scale));
            }
        }
        Some((dim, out))
    }

    /// Members fitted from one spec on one data set share their config, so
    /// it is stored once.
    fn to_parts(&self) -> ModelParts {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let mut first: Option<ModelParts> = None;
        for (k, m) in self.members.iter().enumerate() {
            let mut p = m.to_parts();
            tensors.extend(
                std::mem::take(&mut p.tensors)
                    .into_iter()
                    .map(|(n, t)| (format!("member{k}.{n}"), t)),
            );
            debug_assert!(first
                .as_ref()
                .is_none_or(|f| f.kind == p.kind && f.config == p.config));
            first.get_or_insert(p);
        }
        let first = first.expect("an ensemble has members");
        ModelParts {
            kind: "ensemble".into(),
            config: serde_json::json!({
                "members": self.members.len(),
                "kind": first.kind,
                "config": first.config,
            }),
            tensors,
        }
    }
}
