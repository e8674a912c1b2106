//! [`ModelSpec`]: the validated, serialisable description of any model, and
//! the one place that maps a spec to its fit and a model file back to a model.

use serde::{Deserialize, Serialize};

use super::autoencoder::{Autoencoder, AutoencoderConfig};
use super::baseline::{
    BiasesConfig, BiasesModel, MeanModel, MfConfig, MfModel, SvdConfig, SvdModel, SvdppModel,
};
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
        other => return Err(Error::model_file(format!("unknown model kind {other:?}"))),
    })
}
