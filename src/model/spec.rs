//! [`ModelSpec`]: the validated, serialisable description of any model, and
//! the one place that maps a spec to its fit and a model file back to a model.

use serde::{Deserialize, Serialize};

use super::autoencoder::{Autoencoder, AutoencoderConfig};
use super::baseline::{
    BiasesConfig, BiasesModel, MeanModel, MfConfig, MfModel, SvdConfig, SvdModel, SvdppModel,
};
use super::ensemble::{Ensemble, EnsembleConfig};
use super::glocal_k::{GlocalK, GlocalKConfig};
use super::{FitData, FitOptions, FitReport, ModelParts, Recommender};
use crate::error::{Error, Result};

/// Any model aerec can fit. Serialised with a `model` tag, so a TOML config
/// reads `model = "mf"` followed by that model's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
// A spec is built once per fit; boxing the autoencoder's config would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum ModelSpec {
    /// AutoRec, deep autoencoders and the tutorial model.
    Autoencoder(AutoencoderConfig),
    /// The global mean.
    Mean,
    /// Regularised user and item biases.
    Biases(BiasesConfig),
    /// Truncated SVD reconstruction.
    Svd(SvdConfig),
    /// Biased matrix factorisation (Funk SVD).
    Mf(MfConfig),
    /// SVD++ (MF with implicit feedback from what a user rated).
    Svdpp(MfConfig),
    /// The mean of several members of one spec trained from different
    /// seeds; written `ensemble = N` beside the members' own keys.
    Ensemble(EnsembleConfig),
    /// GLocal-K: local-kernel autoencoder fine-tuned with a global kernel.
    #[serde(rename = "glocal-k")]
    GlocalK(GlocalKConfig),
}

impl ModelSpec {
    /// The model kind name, as [`Recommender::kind`] of the fitted model.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Autoencoder(_) => "autoencoder",
            ModelSpec::Mean => "mean",
            ModelSpec::Biases(_) => "biases",
            ModelSpec::Svd(_) => "svd",
            ModelSpec::Mf(_) => "mf",
            ModelSpec::Svdpp(_) => "svdpp",
            ModelSpec::Ensemble(_) => "ensemble",
            ModelSpec::GlocalK(_) => "glocal-k",
        }
    }

    /// Sets the number of training epochs, for the kinds that train in
    /// epochs (autoencoder, biases, mf, svdpp), and returns whether it did:
    /// `mean` and `svd` have none. Used to shorten whole experiments
    /// (`aerec compare --epochs N`).
    pub fn set_epochs(&mut self, epochs: usize) -> bool {
        match self {
            ModelSpec::Autoencoder(c) => c.epochs = epochs,
            ModelSpec::Biases(c) => c.epochs = epochs,
            ModelSpec::Mf(c) | ModelSpec::Svdpp(c) => c.epochs = epochs,
            ModelSpec::Mean | ModelSpec::Svd(_) => return false,
            ModelSpec::Ensemble(c) => return c.base.set_epochs(epochs),
            ModelSpec::GlocalK(c) => {
                c.pretrain_epochs = epochs.max(1);
                c.finetune_epochs = epochs;
            }
        }
        true
    }

    /// Whether the model can take side features (autoencoders, and
    /// ensembles of them).
    pub fn uses_side_features(&self) -> bool {
        match self {
            ModelSpec::Autoencoder(_) => true,
            ModelSpec::Ensemble(c) => c.base.uses_side_features(),
            _ => false,
        }
    }

    /// Checks every setting before any work starts.
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::Autoencoder(c) => c.validate(),
            ModelSpec::Mean => Ok(()),
            ModelSpec::Biases(c) => c.validate(),
            ModelSpec::Svd(c) => c.validate(),
            ModelSpec::Mf(c) | ModelSpec::Svdpp(c) => c.validate(),
            ModelSpec::Ensemble(c) => c.validate(),
            ModelSpec::GlocalK(c) => c.validate(),
        }
    }

    /// Fits the model.
    pub fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        self.validate()?;
        Ok(match self {
            ModelSpec::Autoencoder(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::Mean => {
                let (m, r) = MeanModel::fit(data)?;
                (Box::new(m), r)
            }
            ModelSpec::Biases(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::Svd(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::Mf(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::Svdpp(c) => {
                let (m, r) = c.fit_svdpp(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::Ensemble(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
            ModelSpec::GlocalK(c) => {
                let (m, r) = c.fit(data, opts)?;
                (Box::new(m), r)
            }
        })
    }
}

/// Rebuilds a fitted model from its parts (as written by [`Recommender::to_parts`]).
pub fn load_model(parts: &ModelParts) -> Result<Box<dyn Recommender>> {
    Ok(match parts.kind.as_str() {
        "autoencoder" => Box::new(Autoencoder::from_parts(parts)?),
        "mean" => Box::new(MeanModel::from_parts(parts)?),
        "biases" => Box::new(BiasesModel::from_parts(parts)?),
        "svd" => Box::new(SvdModel::from_parts(parts)?),
        "mf" => Box::new(MfModel::from_parts(parts)?),
        "svdpp" => Box::new(SvdppModel::from_parts(parts)?),
        "ensemble" => Box::new(Ensemble::from_parts(parts)?),
        "glocal-k" => Box::new(GlocalK::from_parts(parts)?),
        other => return Err(Error::model_file(format!("unknown model kind {other:?}"))),
    })
}

impl ModelSpec {
    /// Builds a spec from a JSON object of settings, the form every config
    /// source (TOML file, command-line flags, `tune` output) is turned into.
    ///
    /// Keys: `model` (kind; default `"autoencoder"`), optional `preset` (an
    /// autoencoder recipe the other keys then override), optional `ensemble`
    /// (train that many seeds of the model and average them; 1 = one model),
    /// and the kind's own config keys. Unknown keys are errors naming the key.
    pub fn from_json(settings: &serde_json::Value) -> Result<ModelSpec> {
        let serde_json::Value::Object(map) = settings else {
            return Err(Error::config("model settings must be a table of keys"));
        };
        let mut map = map.clone();
        if let Some(members) = map.remove("ensemble") {
            let members = members.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                Error::config(format!(
                    "`ensemble` must be a whole number ≥ 1, got {members}"
                ))
            })? as usize;
            let base = ModelSpec::from_json(&serde_json::Value::Object(map))?;
            if members == 1 {
                return Ok(base);
            }
            let spec = ModelSpec::Ensemble(EnsembleConfig {
                members,
                base: Box::new(base),
            });
            spec.validate()?;
            return Ok(spec);
        }
        // A GLocal-K preset names its model kind.
        let glocal_preset = map
            .get("preset")
            .and_then(|p| p.as_str())
            .is_some_and(|p| super::glocal_k::PRESETS.contains(&p));
        let kind = match map.remove("model") {
            None if glocal_preset => "glocal-k".to_string(),
            None => "autoencoder".to_string(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(Error::config(format!(
                    "`model` must be a string, got {other}"
                )))
            }
        };
        let mut base = serde_json::Map::new();
        match map.remove("preset") {
            None => {}
            Some(serde_json::Value::String(name)) if glocal_preset => {
                if kind != "glocal-k" {
                    return Err(Error::config(format!(
                        "preset {name:?} is a glocal-k recipe, but the model is {kind:?}"
                    )));
                }
                match serde_json::to_value(GlocalKConfig::preset(&name)?) {
                    Ok(serde_json::Value::Object(m)) => base = m,
                    _ => return Err(Error::other("preset did not serialise to a table")),
                }
            }
            Some(serde_json::Value::String(name)) => {
                if kind != "autoencoder" {
                    return Err(Error::config(format!(
                        "preset {name:?} is an autoencoder recipe, but the model is {kind:?}"
                    )));
                }
                let preset = AutoencoderConfig::preset(&name)?;
                match serde_json::to_value(preset) {
                    Ok(serde_json::Value::Object(m)) => base = m,
                    _ => return Err(Error::other("preset did not serialise to a table")),
                }
            }
            Some(other) => {
                return Err(Error::config(format!(
                    "`preset` must be a string, got {other}"
                )))
            }
        }
        base.extend(map);
        base.insert("model".into(), serde_json::Value::String(kind.clone()));
        let spec: ModelSpec = serde_json::from_value(serde_json::Value::Object(base))
            .map_err(|e| Error::config(format!("model {kind:?}: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The spec as a JSON object of settings, in the form a config file
    /// takes (the inverse of [`ModelSpec::from_json`]): an ensemble is its
    /// members' settings plus `ensemble = N`. (The model file stores the
    /// serde form, where an ensemble nests its members' spec under `base`;
    /// [`ModelSpec::from_json`] reads both.)
    pub fn to_json(&self) -> serde_json::Value {
        if let ModelSpec::Ensemble(c) = self {
            let mut settings = c.base.to_json();
            if let serde_json::Value::Object(m) = &mut settings {
                m.insert("ensemble".into(), c.members.into());
            }
            return settings;
        }
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
