//! Popularity: every user gets the items most users have. The floor any
//! ranking claim must clear.

use super::{check_weights, fit_in_one_pass, Dims, RankingModel};
use crate::error::{Error, Result};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor};

/// Settings of [`PopularityModel`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularityConfig {
    /// Score an item by the sum of its training weights instead of the
    /// number of users who have it (the same on binary clicks).
    pub weighted: bool,
}

/// Scores item `i` by how many training users have it (or the sum of their
/// weights): the same list for everyone, less what they already have.
///
/// Model file tensors: `popularity` `[items]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PopularityModel {
    popularity: Vec<f32>,
    dims: Dims,
    config: PopularityConfig,
}

impl PopularityModel {
    /// Counts each item's users (or weights) in the training matrix.
    pub fn fit(config: &PopularityConfig, data: &FitData<'_>) -> Result<PopularityModel> {
        let train = data.train_by_user;
        check_weights(train, KIND.name)?;
        let mut popularity = vec![0f32; train.n_cols];
        for (&i, &w) in train.indices.iter().zip(&train.values) {
            popularity[i as usize] += if config.weighted { w } else { 1.0 };
        }
        Ok(PopularityModel {
            popularity,
            dims: Dims {
                users: train.n_rows,
                items: train.n_cols,
            },
            config: config.clone(),
        })
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = Dims::of(parts)?;
        let config = parts
            .config
            .get("settings")
            .map(|s| serde_json::from_value(s.clone()))
            .transpose()
            .map_err(|e| Error::model_file(format!("popularity settings: {e}")))?
            .unwrap_or_default();
        Ok(PopularityModel {
            popularity: parts.tensor("popularity", &[dims.items])?.data.clone(),
            dims,
            config,
        })
    }
}

impl RankingModel for PopularityModel {
    fn kind_name(&self) -> &'static str {
        KIND.name
    }

    fn dims(&self) -> Dims {
        self.dims
    }

    fn parameter_count(&self) -> usize {
        self.popularity.len()
    }

    fn score_row(&self, _user: Option<u32>, _row: SparseRow<'_>, out: &mut [f32]) {
        out.copy_from_slice(&self.popularity);
    }

    fn score_picked(&self, _: Option<u32>, _: SparseRow<'_>, items: &[u32], out: &mut [f32]) {
        for (o, &i) in out.iter_mut().zip(items) {
            *o = self.popularity[i as usize];
        }
    }

    fn parts(&self) -> ModelParts {
        ModelParts {
            kind: KIND.name.into(),
            config: serde_json::json!({ "dims": self.dims, "settings": self.config }),
            tensors: vec![(
                "popularity".into(),
                Tensor {
                    shape: vec![self.dims.items],
                    data: self.popularity.clone(),
                },
            )],
        }
    }
}

/// The `popularity` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "popularity",
    summary: "implicit feedback: the most popular items, the same for everyone",
    parse: parse_serde::<PopularityConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(PopularityModel::from_parts(parts)?)),
};

impl ModelConfig for PopularityConfig {
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
        fit_in_one_pass(|| PopularityModel::fit(self, data))
    }

    fn ranks_only(&self) -> bool {
        true
    }
}
