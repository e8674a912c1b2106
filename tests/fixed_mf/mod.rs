//! A tiny fixed matrix-factorisation model with hand-picked vectors, so that
//! the model file, the recommend/predict/similar paths and the HTTP service
//! can be tested with results computed by hand, independently of the engines.
//!
//! Scores: `score(u, i) = p_u · q_i + b_i`; a new user is folded in as
//! `p = Σ_j (r_j − 3) q_j / |O|` over the items they rated.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use aerec::data::{Csr, IdMap, RatingScale};
use aerec::model::trained::BiasFallback;
use aerec::model::{FitReport, ModelParts, ModelSpec, Recommender, SparseRow, Tensor};
use aerec::{Error, Result, TrainedModel};

/// The kind name the fixed model saves under.
pub const KIND: &str = "fixed-mf";

/// `score(u, i) = p_u · q_i + b_i` with stored vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedMf {
    /// Factor width.
    pub dim: usize,
    /// `n_users × dim`.
    pub p: Vec<f32>,
    /// `n_items × dim`.
    pub q: Vec<f32>,
    /// Per-item bias.
    pub b: Vec<f32>,
}

impl FixedMf {
    fn user_vector(&self, user: Option<u32>, row: SparseRow<'_>) -> Vec<f32> {
        match user {
            Some(u) => self.p[u as usize * self.dim..(u as usize + 1) * self.dim].to_vec(),
            None => {
                let mut p = vec![0f32; self.dim];
                for (&j, &r) in row.indices.iter().zip(row.values) {
                    for (pk, qk) in p.iter_mut().zip(self.item(j)) {
                        *pk += (r - 3.0) * qk;
                    }
                }
                let n = row.len().max(1) as f32;
                p.iter_mut().for_each(|x| *x /= n);
                p
            }
        }
    }

    fn item(&self, i: u32) -> &[f32] {
        &self.q[i as usize * self.dim..(i as usize + 1) * self.dim]
    }

    /// The score the model gives, computed directly (the tests' reference).
    pub fn expected(&self, p: &[f32], i: u32) -> f32 {
        p.iter().zip(self.item(i)).map(|(a, b)| a * b).sum::<f32>() + self.b[i as usize]
    }
}

impl Recommender for FixedMf {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn n_users(&self) -> usize {
        self.p.len() / self.dim
    }
    fn n_items(&self) -> usize {
        self.b.len()
    }
    fn n_params(&self) -> usize {
        self.p.len() + self.q.len() + self.b.len()
    }
    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        let p = self.user_vector(user, row);
        for (o, &i) in out.iter_mut().zip(items) {
            *o = self.expected(&p, i);
        }
        Ok(())
    }
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        Some((self.dim, self.q.clone()))
    }
    fn to_parts(&self) -> ModelParts {
        let n_users = self.n_users();
        let n_items = self.n_items();
        ModelParts {
            kind: KIND.into(),
            config: serde_json::json!({ "dim": self.dim }),
            tensors: vec![
                (
                    "user_factors".into(),
                    Tensor {
                        shape: vec![n_users, self.dim],
                        data: self.p.clone(),
                    },
                ),
                (
                    "item_factors".into(),
                    Tensor {
                        shape: vec![n_items, self.dim],
                        data: self.q.clone(),
                    },
                ),
                (
                    "item_bias".into(),
                    Tensor {
                        shape: vec![n_items],
                        data: self.b.clone(),
                    },
                ),
            ],
        }
    }
}

/// Loader for model files holding a [`FixedMf`] (and every shipped kind).
pub fn loader(parts: &ModelParts) -> Result<Box<dyn Recommender>> {
    if parts.kind != KIND {
        return aerec::model::spec::load_model(parts);
    }
    let dim = parts.config["dim"]
        .as_u64()
        .ok_or_else(|| Error::model_file("config.dim is missing"))? as usize;
    let b = parts
        .tensors
        .iter()
        .find(|(n, _)| n == "item_bias")
        .ok_or_else(|| Error::model_file("item_bias is missing"))?
        .1
        .data
        .clone();
    let n_items = b.len();
    let q = parts.tensor("item_factors", &[n_items, dim])?.data.clone();
    let p_t = &parts
        .tensors
        .iter()
        .find(|(n, _)| n == "user_factors")
        .ok_or_else(|| Error::model_file("user_factors is missing"))?
        .1;
    let p = parts
        .tensor("user_factors", &[p_t.shape[0], dim])?
        .data
        .clone();
    Ok(Box::new(FixedMf { dim, p, q, b }))
}

/// Users `u1..u4`, items `i1..i6`, a 1–5 scale.
///
/// Ratings (user: item=rating): u1: i1=5 i2=4; u2: i2=2 i3=5 i4=1;
/// u3: i1=1 i5=3; u4 has none (only in a test split). Item i6 has no rating.
///
/// Factors (dim 2): p = u1 (1, 0), u2 (0, 1), u3 (1, 1), u4 (0, 0);
/// q = i1 (1, 0), i2 (0.5, 0.5), i3 (0, 1), i4 (2, 0), i5 (-1, 1), i6 (0.9, 0.1);
/// b = 3, 3, 3, 2, 3.5, 3.
///
/// So u1 scores 4, 3.5, 3, 4, 2.5, 3.9: unrated by u1 best first: i4 (4),
/// i6 (3.9), i3 (3), i5 (2.5). Item i6 is unknown (no training rating), so
/// `recommend` ranks it by its model score but `similar` leaves it out.
pub fn fixture() -> TrainedModel {
    let users = ["u1", "u2", "u3", "u4"];
    let items = ["i1", "i2", "i3", "i4", "i5", "i6"];
    let user_ids = IdMap::from_ids(users.iter().map(|s| s.to_string()).collect()).unwrap();
    let item_ids = IdMap::from_ids(items.iter().map(|s| s.to_string()).collect()).unwrap();
    let train = Csr::from_triplets(
        4,
        6,
        &[0, 0, 1, 1, 1, 2, 2],
        &[0, 1, 1, 2, 3, 0, 4],
        &[5.0, 4.0, 2.0, 5.0, 1.0, 1.0, 3.0],
    );
    let model = FixedMf {
        dim: 2,
        p: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        q: vec![1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 2.0, 0.0, -1.0, 1.0, 0.9, 0.1],
        b: vec![3.0, 3.0, 3.0, 2.0, 3.5, 3.0],
    };
    let fallback = BiasFallback::fit(&train);
    let titles: HashMap<String, String> = [("i1", "One (1995)"), ("i4", "Four, \"the\" film")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TrainedModel {
        model: Box::new(model),
        spec: ModelSpec::new(aerec::model::baseline::MeanConfig::default()).unwrap(),
        user_ids: Arc::new(user_ids),
        item_ids: Arc::new(item_ids),
        train,
        fallback,
        scale: RatingScale::new(1.0, 5.0).unwrap(),
        report: FitReport {
            epochs: 3,
            train_seconds: 0.25,
            notes: vec!["fixed vectors".into()],
            ..FitReport::default()
        },
        titles,
    }
}
