//! The model registry: every model kind aerec can fit, named once.
//!
//! A model kind is one file that declares a [`ModelKind`] (its name, a line
//! of description, how to read its settings into a checked config, its
//! presets and how to load a fitted model back from a model file) and a config
//! type implementing [`ModelConfig`] (validation, fitting). [`KINDS`] lists
//! them; nothing else in the crate matches on kind names. Adding a kind is
//! that file plus one line in [`KINDS`] (the conformance suite,
//! `tests/model_conformance.rs`, fails for a kind that is declared but not
//! listed).

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{FitData, FitOptions, FitReport, ModelParts, Recommender};
use crate::error::{Error, Result};

/// What a model kind is: the entry it has in [`KINDS`].
#[derive(Debug)]
pub struct ModelKind {
    /// The name users write (`model = "svdpp"`, `--model svdpp`) and that a
    /// fitted model's [`Recommender::kind`] and its model file carry.
    pub name: &'static str,
    /// One line for `--help` and docs.
    pub summary: &'static str,
    /// Reads the kind's own settings (the `model` key removed) into a config;
    /// unknown keys are errors naming the key. [`ModelSpec`](super::ModelSpec)
    /// validates the result.
    pub parse: ParseSettings,
    /// The kind's named recipes, as (name, description); a `preset = NAME`
    /// key starts from [`ModelKind::preset`] and the other keys override it.
    pub presets: &'static [(&'static str, &'static str)],
    /// The settings of the preset called `name` (only called for names in
    /// [`ModelKind::presets`]).
    pub preset: fn(&str) -> Result<Map<String, Value>>,
    /// Rebuilds a fitted model from its parts (as written by
    /// [`Recommender::to_parts`]).
    pub load: fn(&ModelParts) -> Result<Box<dyn Recommender>>,
}

/// [`ModelKind::parse`]: a kind's settings table into its config.
pub type ParseSettings = fn(Map<String, Value>) -> Result<Box<dyn ModelConfig>>;

/// Every model kind, in the order `--help` lists them.
pub static KINDS: &[&ModelKind] = &[
    &super::autoencoder::KIND,
    &super::baseline::MEAN,
    &super::baseline::BIASES,
    &super::baseline::SVD,
    &super::baseline::MF,
    &super::baseline::SVDPP,
    &super::ensemble::KIND,
    &super::blend::KIND,
    &super::glocal_k::KIND,
    &super::implicit::POPULARITY,
    &super::implicit::ITEM_KNN,
    &super::implicit::EASE,
    &super::implicit::MULT_VAE,
    &super::implicit::MULT_DAE,
    &super::implicit::CDAE,
];

/// The kind called `name`, or an error listing the kinds there are.
pub fn kind(name: &str) -> Result<&'static ModelKind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            Error::config(format!(
                "unknown model {name:?}; the kinds are {}",
                names.join(", ")
            ))
        })
}

/// Rebuilds a fitted model from its parts, by the kind they name.
pub fn load_model(parts: &ModelParts) -> Result<Box<dyn Recommender>> {
    let kind = KINDS
        .iter()
        .find(|k| k.name == parts.kind)
        .ok_or_else(|| Error::model_file(format!("unknown model kind {:?}", parts.kind)))?;
    (kind.load)(parts)
}

/// A model kind's settings: validated before any work starts, and fitted into
/// a [`Recommender`]. Implemented by each kind's config type; the object-safe
/// plumbing (cloning, downcasting, serialising) comes from [`ConfigObject`].
pub trait ModelConfig: ConfigObject + std::fmt::Debug + Send + Sync {
    /// The kind's entry in [`KINDS`].
    fn kind(&self) -> &'static ModelKind;

    /// Checks every setting.
    fn validate(&self) -> Result<()>;

    /// Fits the model. Called only on a validated config.
    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)>;

    /// Sets the number of training epochs, for the kinds that train in
    /// epochs, and returns whether it did.
    fn set_epochs(&mut self, _epochs: usize) -> bool {
        false
    }

    /// Whether the model can take side features.
    fn uses_side_features(&self) -> bool {
        false
    }

    /// Whether the model's scores only order items (implicit-feedback
    /// ranking models: popularity, item-kNN, EASE) rather than predict
    /// ratings, so rating metrics (RMSE, MAE) say nothing about it.
    fn ranks_only(&self) -> bool {
        false
    }

    /// The settings as a user writes them in a config file (the kind's keys,
    /// without `model`). Defaults to the serialised config; kinds whose file
    /// form differs (an ensemble is written `ensemble = N` beside its
    /// members' keys) override it.
    fn user_settings(&self) -> Map<String, Value> {
        self.settings()
    }
}

/// The object-safe plumbing every [`ModelConfig`] gets from its `Clone +
/// Serialize` config type.
pub trait ConfigObject: Any {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ModelConfig>;
    /// For downcasting to the concrete config type.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete config type, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The serialised config (the kind's keys, without `model`), as stored
    /// in a model file.
    fn settings(&self) -> Map<String, Value>;
}

impl<T: ModelConfig + Clone + Serialize> ConfigObject for T {
    fn clone_box(&self) -> Box<dyn ModelConfig> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn settings(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // A unit config (the mean) serialises to null: no keys.
            _ => Map::new(),
        }
    }
}

/// [`ModelKind::parse`] for a config type that deserialises with serde
/// (`#[serde(default, deny_unknown_fields)]`, so missing keys take their
/// defaults and unknown ones are errors).
pub fn parse_serde<C: ModelConfig + DeserializeOwned>(
    settings: Map<String, Value>,
) -> Result<Box<dyn ModelConfig>> {
    let config: C = serde_json::from_value(Value::Object(settings))
        .map_err(|e| Error::config(e.to_string()))?;
    Ok(Box::new(config))
}

/// [`ModelKind::preset`] of a kind without presets.
pub fn no_presets(name: &str) -> Result<Map<String, Value>> {
    Err(Error::config(format!("unknown preset {name:?}")))
}
