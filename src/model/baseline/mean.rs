//! The global mean: every prediction is the mean training rating.

use std::time::Instant;

use super::{check_items, check_user, scalar, vector};
use crate::error::{Error, Result};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};

/// Settings of [`MeanModel`]: there are none (`model = "mean"` alone).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanConfig {}

/// Predicts the global mean μ of the training ratings for every pair.
///
/// Model file tensors: `mu` `[1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanModel {
    mu: f32,
    n_users: usize,
    n_items: usize,
}

impl MeanModel {
    /// Computes μ over the training ratings (in f64).
    pub fn fit(data: &FitData<'_>) -> Result<(MeanModel, FitReport)> {
        let start = Instant::now();
        let mu = data.stats.mean as f32;
        let model = MeanModel {
            mu,
            n_users: data.train_by_user.n_rows,
            n_items: data.train_by_user.n_cols,
        };
        let report = FitReport {
            train_seconds: start.elapsed().as_secs_f64(),
            ..FitReport::default()
        };
        Ok((model, report))
    }

    /// The global mean.
    pub fn mu(&self) -> f32 {
        self.mu
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = parts
            .config
            .get("dims")
            .and_then(|d| serde_json::from_value::<(usize, usize)>(d.clone()).ok())
            .ok_or_else(|| Error::model_file("mean config: missing \"dims\": [users, items]"))?;
        Ok(MeanModel {
            mu: scalar(parts, "mu")?,
            n_users: dims.0,
            n_items: dims.1,
        })
    }
}

impl Recommender for MeanModel {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn n_params(&self) -> usize {
        1
    }

    fn score_items(
        &self,
        user: Option<u32>,
        _row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_user(user, self.n_users)?;
        check_items(items, out, self.n_items)?;
        out.fill(self.mu);
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }

    fn to_parts(&self) -> ModelParts {
        ModelParts {
            kind: "mean".into(),
            config: serde_json::json!({ "dims": [self.n_users, self.n_items] }),
            tensors: vec![("mu".into(), vector(vec![self.mu]))],
        }
    }
}

/// The `mean` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "mean",
    summary: "the global mean rating",
    parse: parse_serde::<MeanConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(MeanModel::from_parts(parts)?)),
};

impl ModelConfig for MeanConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        _opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = MeanModel::fit(data)?;
        Ok((Box::new(m), r))
    }
}
