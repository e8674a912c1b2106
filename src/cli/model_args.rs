//! Flags that choose and configure a model, common to every model kind.
//!
//! Every source of settings becomes one JSON table of config keys, applied in
//! this order (later wins): the preset, the `--config` TOML file, the common
//! flags here, then the kind-specific flags ([`super::ae_args`],
//! [`super::baseline_args`]). [`ModelSpec::from_json`] validates the result.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::model::ModelSpec;

/// Model choice and the settings every model kind shares.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Model")]
pub struct ModelArgs {
    /// Model kind (default: the config file's `model`, else autoencoder).
    #[arg(long, value_name = "KIND", value_parser = kind_names())]
    pub model: Option<String>,
    /// A model kind's recipe to start from (the autoencoder's are the source
    /// notebooks'); flags and the config file override its settings.
    #[arg(long, value_name = "NAME", value_parser = preset_names())]
    pub preset: Option<String>,
    /// Model settings as TOML (the keys `train` flags set; `tune --out` writes this form).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Training epochs.
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub epochs: Option<usize>,
    /// Learning rate.
    #[arg(long, value_name = "RATE", help_heading = "Training")]
    pub lr: Option<f64>,
    /// Rows per mini-batch.
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub batch_size: Option<usize>,
    /// L2 regularisation strength (added to the loss).
    #[arg(long, value_name = "LAMBDA", help_heading = "Training")]
    pub l2: Option<f64>,
    /// Rank of the factor models (svd, mf, svdpp).
    #[arg(long, value_name = "K")]
    pub factors: Option<usize>,
    /// Train N copies of the model from seeds seed … seed+N-1 and average
    /// their predictions (a seed ensemble; 1 = one model).
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub ensemble: Option<usize>,
}

/// The registered model kinds, as `--model` takes them.
fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        crate::model::registry::KINDS
            .iter()
            .map(|k| clap::builder::PossibleValue::new(k.name).help(k.summary)),
    )
}

/// Every kind's presets, as `--preset` takes them.
fn preset_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::model::registry::KINDS.iter().flat_map(|k| {
        k.presets
            .iter()
            .map(|(name, about)| clap::builder::PossibleValue::new(*name).help(*about))
    }))
}

/// Reads a TOML settings file into a JSON table.
pub fn read_settings_file(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read config", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML", path.display()))?;
    match serde_json::to_value(table)? {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("{}: expected a table of settings", path.display()),
    }
}

impl ModelArgs {
    /// The settings table before kind-specific flags: config file, then kind,
    /// preset and common flags.
    pub fn settings(&self) -> anyhow::Result<Map<String, Value>> {
        let mut s = match &self.config {
            Some(path) => read_settings_file(path)?,
            None => Map::new(),
        };
        if let Some(m) = &self.model {
            s.insert("model".into(), Value::from(m.as_str()));
        }
        if let Some(p) = &self.preset {
            s.insert("preset".into(), Value::from(p.as_str()));
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                s.insert(k.into(), v);
            }
        };
        put("epochs", self.epochs.map(Value::from));
        put("lr", self.lr.map(Value::from));
        put("batch_size", self.batch_size.map(Value::from));
        put("l2", self.l2.map(Value::from));
        put("factors", self.factors.map(Value::from));
        put("ensemble", self.ensemble.map(Value::from));
        Ok(s)
    }

    /// The model kind these settings name.
    pub fn kind(settings: &Map<String, Value>) -> &str {
        settings
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("autoencoder")
    }

    /// Builds the validated spec from these flags plus kind-specific overrides.
    pub fn spec(
        &self,
        autoencoder: Map<String, Value>,
        baseline: Map<String, Value>,
    ) -> anyhow::Result<ModelSpec> {
        let mut s = self.settings()?;
        let is_ae = Self::kind(&s) == "autoencoder";
        if !is_ae {
            if let Some(k) = autoencoder.keys().next() {
                anyhow::bail!(
                    "the autoencoder setting `{k}` does not apply to model `{}`",
                    Self::kind(&s)
                );
            }
        } else if let Some(k) = baseline.keys().next() {
            anyhow::bail!("the baseline setting `{k}` does not apply to an autoencoder");
        }
        s.extend(autoencoder);
        s.extend(baseline);
        Ok(ModelSpec::from_json(&Value::Object(s))?)
    }
}
