//! (being written: the autoencoder engine)
use crate::error::{Error, Result};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};
use serde::{Deserialize, Serialize};

/// Placeholder config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderConfig {}
impl AutoencoderConfig {
    /// Validate.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Fit.
    pub fn fit(&self, _d: &FitData<'_>, _o: &FitOptions) -> Result<(Autoencoder, FitReport)> {
        Err(Error::other("autoencoder not built yet"))
    }
}
/// Placeholder model.
pub struct Autoencoder;
impl Autoencoder {
    /// From parts.
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("autoencoder not built yet"))
    }
}
impl Recommender for Autoencoder {
    fn kind(&self) -> &'static str {
        "autoencoder"
    }
    fn n_users(&self) -> usize {
        0
    }
    fn n_items(&self) -> usize {
        0
    }
    fn n_params(&self) -> usize {
        0
    }
    fn score_items(
        &self,
        _u: Option<u32>,
        _r: SparseRow<'_>,
        _i: &[u32],
        _o: &mut [f32],
    ) -> Result<()> {
        Err(Error::other("x"))
    }
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }
    fn to_parts(&self) -> ModelParts {
        unreachable!()
    }
}
