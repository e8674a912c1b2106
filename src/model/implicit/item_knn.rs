//! Item-based k-nearest neighbours on implicit feedback (after implicit's
//! `ItemItemRecommender` with cosine similarity): item i's score for a user
//! is the sum, over the user's items j, of the user's weight for j times
//! cos(i, j), keeping only each item's k most similar items.

use super::{check_weights, fit_in_one_pass, for_each_gram_row, matrix, Dims, RankingModel};
use crate::error::{Error, Result};
use crate::model::memory::{self, Bytes};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{top_n, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};

/// Settings of [`ItemKnnModel`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnConfig {
    /// Neighbours kept per item.
    pub neighbors: usize,
}

impl Default for ItemKnnConfig {
    fn default() -> Self {
        ItemKnnConfig { neighbors: 100 }
    }
}

/// Items are stored as `f32` in the model file: exact below 2²⁴.
const MAX_ITEMS: usize = 1 << 24;

/// Scores item i for a user with clicks x as Σ_j x_j · cos(j, i) over the
/// neighbours of the user's items j.
///
/// Model file tensors: `neighbors` `[items, k]` (item indices, each row
/// padded with the item itself at similarity 0) and `similarities`
/// `[items, k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemKnnModel {
    neighbors: Vec<u32>,
    similarities: Vec<f32>,
    k: usize,
    dims: Dims,
}

impl ItemKnnModel {
    /// Computes each item's k most similar items.
    pub fn fit(config: &ItemKnnConfig, data: &FitData<'_>) -> Result<ItemKnnModel> {
        let train = data.train_by_user;
        check_weights(train, KIND.name)?;
        let n = train.n_cols;
        if n > MAX_ITEMS {
            return Err(Error::config(format!(
                "item-knn stores item indices exactly up to {MAX_ITEMS} items; this catalogue has {n}"
            )));
        }
        let k = config.neighbors.min(n.saturating_sub(1)).max(1);
        memory::check(
            KIND.name,
            Bytes::of(n).times(k).times(8),
            &format!("{k} neighbours for each of {n} items"),
            "neighbors",
        )?;
        let by_item = train.transpose();
        let norms: Vec<f64> = (0..n)
            .map(|i| {
                let w = by_item.row(i).1;
                w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        let mut neighbors: Vec<u32> = (0..n as u32)
            .flat_map(|i| std::iter::repeat_n(i, k))
            .collect();
        let mut similarities = vec![0f32; n * k];
        let rows = std::sync::Mutex::new(Vec::with_capacity(n));
        for_each_gram_row(train, &by_item, |i, gram| {
            if norms[i] == 0.0 {
                return;
            }
            let cosine: Vec<f32> = gram
                .iter()
                .zip(&norms)
                .map(|(&g, &nj)| {
                    if nj > 0.0 {
                        (g / (norms[i] * nj)) as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            let best: Vec<(u32, f32)> = top_n(&cosine, k, &[i as u32])
                .into_iter()
                .filter(|&(_, s)| s > 0.0)
                .collect();
            if let Ok(mut rows) = rows.lock() {
                rows.push((i, best));
            }
        });
        let rows = rows
            .into_inner()
            .map_err(|_| Error::other("item-knn: a neighbour search panicked"))?;
        for (i, best) in rows {
            for (m, (j, s)) in best.into_iter().enumerate() {
                neighbors[i * k + m] = j;
                similarities[i * k + m] = s;
            }
        }
        Ok(ItemKnnModel {
            neighbors,
            similarities,
            k,
            dims: Dims {
                users: train.n_rows,
                items: n,
            },
        })
    }

    /// Item `i`'s neighbours and their similarities (padding at 0 included).
    pub fn neighbors_of(&self, i: u32) -> (&[u32], &[f32]) {
        let at = i as usize * self.k;
        (
            &self.neighbors[at..at + self.k],
            &self.similarities[at..at + self.k],
        )
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = Dims::of(parts)?;
        let k = parts
            .tensors
            .iter()
            .find(|(name, _)| name == "neighbors")
            .and_then(|(_, t)| t.shape.get(1).copied())
            .ok_or_else(|| Error::model_file("item-knn: tensor \"neighbors\" is missing"))?;
        let neighbors_f = &parts.tensor("neighbors", &[dims.items, k])?.data;
        let similarities = parts.tensor("similarities", &[dims.items, k])?.data.clone();
        let mut neighbors = Vec::with_capacity(neighbors_f.len());
        for &v in neighbors_f {
            if !(v >= 0.0 && (v as usize) < dims.items && v.fract() == 0.0) {
                return Err(Error::model_file(format!(
                    "item-knn: neighbour {v} is no item index below {}",
                    dims.items
                )));
            }
            neighbors.push(v as u32);
        }
        if k == 0 || similarities.iter().any(|s| !s.is_finite()) {
            return Err(Error::model_file(
                "item-knn: no neighbours, or a similarity that is not finite",
            ));
        }
        Ok(ItemKnnModel {
            neighbors,
            similarities,
            k,
            dims,
        })
    }
}

impl RankingModel for ItemKnnModel {
    fn kind_name(&self) -> &'static str {
        KIND.name
    }

    fn dims(&self) -> Dims {
        self.dims
    }

    fn parameter_count(&self) -> usize {
        self.similarities.len()
    }

    /// The neighbour lists of the user's items, scattered: O(row length × k).
    fn score_row(&self, _user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) {
        out.fill(0.0);
        for (&j, &x) in row.indices.iter().zip(row.values) {
            let (items, sims) = self.neighbors_of(j);
            for (&i, &s) in items.iter().zip(sims) {
                out[i as usize] += x * s;
            }
        }
    }

    /// The item's neighbour list: its k nearest items by cosine, those with
    /// a co-click (similarity above 0; the padding is left out).
    fn similar(&self, item: u32, n: usize) -> Option<Vec<(u32, f32)>> {
        if item as usize >= self.dims.items {
            return Some(Vec::new());
        }
        let mut scores = vec![f32::NAN; self.dims.items];
        let (items, sims) = self.neighbors_of(item);
        for (&i, &s) in items.iter().zip(sims) {
            if s > 0.0 {
                scores[i as usize] = s;
            }
        }
        Some(top_n(&scores, n, &[item]))
    }

    fn parts(&self) -> ModelParts {
        let (n, k) = (self.dims.items, self.k);
        ModelParts {
            kind: KIND.name.into(),
            config: serde_json::json!({ "dims": self.dims }),
            tensors: vec![
                (
                    "neighbors".into(),
                    matrix(n, k, self.neighbors.iter().map(|&i| i as f32).collect()),
                ),
                (
                    "similarities".into(),
                    matrix(n, k, self.similarities.clone()),
                ),
            ],
        }
    }
}

/// The `item-knn` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "item-knn",
    summary: "implicit feedback: item-based k nearest neighbours (cosine)",
    parse: parse_serde::<ItemKnnConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(ItemKnnModel::from_parts(parts)?)),
};

impl ModelConfig for ItemKnnConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        if self.neighbors == 0 {
            return Err(Error::config("item-knn: neighbors must be at least 1"));
        }
        Ok(())
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        _opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        fit_in_one_pass(|| ItemKnnModel::fit(self, data))
    }

    fn ranks_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{IdMap, Ratings};
    use std::sync::Arc;

    #[test]
    fn neighbours_and_scores_by_hand() {
        // Users × items (binary): u0 {0, 1}, u1 {0, 1, 2}, u2 {2, 3}.
        // Norms: √2, √2, √2, 1. cos(0,1) = 2/2 = 1, cos(0,2) = 1/2,
        // cos(1,2) = 1/2, cos(2,3) = 1/√2, cos(0,3) = cos(1,3) = 0.
        let cells = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 2), (2, 3)];
        let ids = |n: usize, p: &str| {
            Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
        };
        let r = Ratings {
            users: cells.iter().map(|c| c.0).collect(),
            items: cells.iter().map(|c| c.1).collect(),
            values: vec![1.0; cells.len()],
            timestamps: None,
            user_ids: ids(3, "u"),
            item_ids: ids(4, "i"),
        };
        let x = r.by_user();
        let data = FitData::new(
            &r,
            &x,
            crate::data::filter::declared_or_inferred_scale(None, &r).unwrap(),
        )
        .unwrap();
        let m = ItemKnnModel::fit(&ItemKnnConfig { neighbors: 2 }, &data).unwrap();
        assert_eq!(m.neighbors_of(0), (&[1, 2][..], &[1.0, 0.5][..]));
        let (items, sims) = m.neighbors_of(2);
        assert_eq!(items, &[3, 0]);
        assert!((sims[0] - 0.5f32.sqrt()).abs() < 1e-6 && sims[1] == 0.5);
        // Item 3 has one neighbour (2); the second slot is padding.
        let (items, sims) = m.neighbors_of(3);
        assert_eq!((items[0], items[1], sims[1]), (2, 3, 0.0));
        // A new user with item 2 (weight 2): item 3 gets 2·√½, items 0
        // and 1 get 0 (2's two neighbours are 3 and 0): 0 gets 2·½.
        let mut out = vec![0f32; 4];
        let row = SparseRow {
            indices: &[2],
            values: &[2.0],
        };
        m.score_all(None, row, &mut out).unwrap();
        assert!((out[3] - 2.0 * 0.5f32.sqrt()).abs() < 1e-6);
        assert_eq!((out[0], out[1]), (1.0, 0.0));
        assert!(ItemKnnConfig { neighbors: 0 }.validate().is_err());
        // Similar items are the neighbour lists, best first: 2's are 3
        // (√½) then 0 (½); 3's only real neighbour is 2 (the padding,
        // itself at 0, is no answer); n cuts the list; an index out of
        // range has none.
        let similar = m.similar_items(2, 5).unwrap();
        assert_eq!(similar, vec![(3, 0.5f32.sqrt()), (0, 0.5)]);
        assert_eq!(m.similar_items(3, 5).unwrap(), vec![(2, 0.5f32.sqrt())]);
        assert_eq!(m.similar_items(2, 1).unwrap(), vec![(3, 0.5f32.sqrt())]);
        assert_eq!(m.similar_items(2, 0).unwrap(), vec![]);
        assert_eq!(m.similar_items(9, 3).unwrap(), vec![]);
    }
}
