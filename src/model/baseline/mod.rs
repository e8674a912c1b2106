//! (being written: baselines)
use crate::error::{Error, Result};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};
use serde::{Deserialize, Serialize};
/// Placeholder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BiasesConfig {}
/// Placeholder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SvdConfig {}
/// Placeholder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MfConfig {}
impl BiasesConfig {
    /// v
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// f
    pub fn fit(&self, _d: &FitData<'_>, _o: &FitOptions) -> Result<(BiasesModel, FitReport)> {
        Err(Error::other("x"))
    }
}
impl SvdConfig {
    /// v
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// f
    pub fn fit(&self, _d: &FitData<'_>, _o: &FitOptions) -> Result<(SvdModel, FitReport)> {
        Err(Error::other("x"))
    }
}
impl MfConfig {
    /// v
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// f
    pub fn fit(&self, _d: &FitData<'_>, _o: &FitOptions) -> Result<(MfModel, FitReport)> {
        Err(Error::other("x"))
    }
    /// f
    pub fn fit_svdpp(&self, _d: &FitData<'_>, _o: &FitOptions) -> Result<(SvdppModel, FitReport)> {
        Err(Error::other("x"))
    }
}
impl MeanModel {
    /// f
    pub fn fit(_d: &FitData<'_>) -> Result<(MeanModel, FitReport)> {
        Err(Error::other("x"))
    }
}

/// Placeholder.
pub struct MeanModel;
impl MeanModel {
    /// p
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("x"))
    }
}
impl Recommender for MeanModel {
    fn kind(&self) -> &'static str {
        "x"
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
/// Placeholder.
pub struct BiasesModel;
impl BiasesModel {
    /// p
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("x"))
    }
}
impl Recommender for BiasesModel {
    fn kind(&self) -> &'static str {
        "x"
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
/// Placeholder.
pub struct SvdModel;
impl SvdModel {
    /// p
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("x"))
    }
}
impl Recommender for SvdModel {
    fn kind(&self) -> &'static str {
        "x"
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
/// Placeholder.
pub struct MfModel;
impl MfModel {
    /// p
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("x"))
    }
}
impl Recommender for MfModel {
    fn kind(&self) -> &'static str {
        "x"
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
/// Placeholder.
pub struct SvdppModel;
impl SvdppModel {
    /// p
    pub fn from_parts(_p: &ModelParts) -> Result<Self> {
        Err(Error::other("x"))
    }
}
impl Recommender for SvdppModel {
    fn kind(&self) -> &'static str {
        "x"
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
