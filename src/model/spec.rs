//! [`ModelSpec`]: the validated, serialisable description of any model.
//! Which kinds exist, and how each reads, fits and loads, is the
//! [`super::registry`]'s business; a spec holds one kind's checked
//! config.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::registry::{self, ModelConfig};
use super::{FitData, FitOptions, FitReport, Recommender};
use crate::error::{Error, Result};

pub use super::registry::load_model;

/// Any model aerec can fit: one model kind's validated config.
///
/// Built from settings ([`ModelSpec::from_json`], the form of TOML configs
/// and command-line flags) or from a kind's config type
/// ([`ModelSpec::new`]); either way it is checked once, when it is built.
/// Serialised as `{"model": KIND, …the kind's keys}`.
pub struct ModelSpec {
    config: Box<dyn ModelConfig>,
}

impl ModelSpec {
    /// Checks `config` and wraps it.
    pub fn new(config: impl ModelConfig) -> Result<ModelSpec> {
        Self::checked(Box::new(config))
    }

    fn checked(config: Box<dyn ModelConfig>) -> Result<ModelSpec> {
        config.validate()?;
        Ok(ModelSpec { config })
    }

    /// The model kind name, as [`Recommender::kind`] of the fitted model.
    pub fn kind(&self) -> &'static str {
        self.config.kind().name
    }

    /// The config, when it is of type `C` (e.g. `spec.config::<MfConfig>()`).
    pub fn config<C: ModelConfig>(&self) -> Option<&C> {
        self.config.as_any().downcast_ref()
    }

    /// Changes the config, when it is of type `C`, and checks the result;
    /// `Ok(false)` when it is of another type. On an error the spec keeps
    /// its previous config.
    pub fn update<C: ModelConfig + Clone>(&mut self, change: impl FnOnce(&mut C)) -> Result<bool> {
        let Some(current) = self.config::<C>() else {
            return Ok(false);
        };
        let mut changed = current.clone();
        change(&mut changed);
        changed.validate()?;
        self.config = Box::new(changed);
        Ok(true)
    }

    /// Sets the number of training epochs, for the kinds that train in
    /// epochs (autoencoder, biases, mf, svdpp), and returns whether it did:
    /// `mean` and `svd` have none. Used to shorten whole experiments
    /// (`aerec compare --epochs N`).
    pub fn set_epochs(&mut self, epochs: usize) -> bool {
        self.config.set_epochs(epochs)
    }

    /// Whether the model can take side features (autoencoders, and
    /// ensembles of them).
    pub fn uses_side_features(&self) -> bool {
        self.config.uses_side_features()
    }

    /// Whether the model only ranks (an implicit-feedback kind): its
    /// scores order items and are no ratings.
    pub fn ranks_only(&self) -> bool {
        self.config.ranks_only()
    }

    /// Checks every setting (a spec is checked when it is built; this
    /// repeats it, for callers that changed it through [`ModelSpec::set_epochs`]).
    pub fn validate(&self) -> Result<()> {
        self.config.validate()
    }

    /// Fits the model.
    pub fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        self.config.validate()?;
        self.config.fit(data, opts)
    }

    /// Builds a spec from a JSON object of settings, the form every config
    /// source (TOML file, command-line flags, `tune` output) is turned into.
    ///
    /// Keys: `model` (kind; default: the kind of the `preset`, else
    /// `"autoencoder"`), optional `preset` (a
    /// recipe of that kind, which the other keys then override), optional
    /// `ensemble` (train that many seeds of the model and average them; 1 =
    /// one model), and the kind's own config keys. Unknown keys are errors
    /// naming the key.
    pub fn from_json(settings: &Value) -> Result<ModelSpec> {
        let Value::Object(map) = settings else {
            return Err(Error::config("model settings must be a table of keys"));
        };
        let mut map = map.clone();
        if let Some(members) = map.remove("ensemble") {
            return super::ensemble::EnsembleConfig::from_settings(members, map);
        }
        let kind_name = match map.remove("model") {
            // Without `model`, a preset names its kind (`preset = "glocal-k"`).
            None => map
                .get("preset")
                .and_then(Value::as_str)
                .and_then(|p| {
                    registry::KINDS
                        .iter()
                        .find(|k| k.presets.iter().any(|(n, _)| *n == p))
                })
                .map_or("autoencoder", |k| k.name)
                .to_string(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(Error::config(format!(
                    "`model` must be a string, got {other}"
                )))
            }
        };
        let kind = registry::kind(&kind_name)?;
        let mut base = Map::new();
        match map.remove("preset") {
            None => {}
            Some(Value::String(name)) => {
                if !kind.presets.iter().any(|(p, _)| *p == name) {
                    let owner = registry::KINDS
                        .iter()
                        .find(|k| k.presets.iter().any(|(p, _)| *p == name));
                    return Err(Error::config(match owner {
                        Some(k) => format!(
                            "preset {name:?} is an {} recipe, but the model is {kind_name:?}",
                            k.name
                        ),
                        None => format!("unknown preset {name:?} for model {kind_name:?}"),
                    }));
                }
                base = (kind.preset)(&name)?;
            }
            Some(other) => {
                return Err(Error::config(format!(
                    "`preset` must be a string, got {other}"
                )))
            }
        }
        base.extend(map);
        let config = (kind.parse)(base).map_err(|e| e.context(format!("model {kind_name:?}")))?;
        Self::checked(config)
    }

    /// The spec as a JSON object of settings, in the form a config file
    /// takes (the inverse of [`ModelSpec::from_json`]): an ensemble is its
    /// members' settings plus `ensemble = N`. (The model file stores the
    /// serde form, where an ensemble nests its members' spec under `base`;
    /// [`ModelSpec::from_json`] reads both.)
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("model".into(), self.kind().into());
        // An ensemble's user form names its members' kind, replacing its own.
        m.extend(self.config.user_settings());
        Value::Object(m)
    }

    /// The serde form: `{"model": KIND, …the config's keys}`.
    fn serde_form(&self) -> Value {
        let mut m = Map::new();
        m.insert("model".into(), self.kind().into());
        m.extend(self.config.settings());
        Value::Object(m)
    }
}

impl Clone for ModelSpec {
    fn clone(&self) -> Self {
        ModelSpec {
            config: self.config.clone_box(),
        }
    }
}

impl std::fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

/// Two specs are equal when they are of one kind with the same settings.
impl PartialEq for ModelSpec {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.config.settings() == other.config.settings()
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.serde_form().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        ModelSpec::from_json(&value).map_err(serde::de::Error::custom)
    }
}
