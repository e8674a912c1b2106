//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW
//! 2019): an item × item weight matrix B with a zero diagonal that
//! reconstructs X from X, in closed form.
//!
//! minimise ‖X − XB‖² + λ‖B‖² subject to diag(B) = 0 has the solution
//! P = (XᵀX + λI)⁻¹, B = I − P · diag(1 / diag P), that is
//! B_ji = −P_ji / P_ii off the diagonal. One dense item × item solve (a
//! Cholesky factorisation with faer), so the catalogue's size is the
//! model's: it is sized before anything is allocated and refused with the
//! estimate when the machine cannot hold it.

use faer::linalg::solvers::DenseSolveCore;
use faer::{MatRef, Side};
use rayon::prelude::*;

use super::{add_gram_row, check_weights, fit_in_one_pass, matrix, Dims, RankingModel};
use crate::error::{Error, Result};
use crate::model::memory::{self, Bytes};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{top_n, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};

/// Settings of [`EaseModel`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseConfig {
    /// L2 penalty λ on B (the paper: 500 on ML-20M; choose it on a
    /// validation split, it grows with the data's size).
    pub lambda: f64,
}

impl Default for EaseConfig {
    fn default() -> Self {
        EaseConfig { lambda: 500.0 }
    }
}

impl EaseConfig {
    /// Bytes the fit needs for `n_items` items: the Gram matrix and its
    /// Cholesky factor alive together (then the factor and the inverse),
    /// 16 bytes a cell, plus B in single precision, 4 more.
    pub fn training_bytes(n_items: usize) -> Bytes {
        Bytes::of(n_items).times(n_items).times(20)
    }
}

/// Scores item i for a user with clicks x as Σ_j x_j · B_ji.
///
/// Only the items with a training interaction take part in the solve: an
/// item nobody has gives and gets no weight (its row and column of XᵀX are
/// zero, so P is diagonal there and B zero), so leaving it out is exact and
/// the solve is cubic in the active items only.
///
/// Model file tensors: `items` `[active]` (the active item indices, in
/// order) and `b` `[active, active]` (row j holds the weights active item
/// j gives every other).
#[derive(Debug, Clone, PartialEq)]
pub struct EaseModel {
    /// Active item indices, ascending.
    items: Vec<u32>,
    /// Position of each catalogue item among the active ones (`u32::MAX`: inactive).
    position: Vec<u32>,
    b: Vec<f32>,
    dims: Dims,
}

/// Items are stored as `f32` in the model file: exact below 2²⁴.
const MAX_ITEMS: usize = 1 << 24;

fn positions(items: &[u32], n_items: usize) -> Vec<u32> {
    let mut position = vec![u32::MAX; n_items];
    for (p, &i) in items.iter().enumerate() {
        position[i as usize] = p as u32;
    }
    position
}

impl EaseModel {
    /// Solves for B on the training matrix.
    pub fn fit(config: &EaseConfig, data: &FitData<'_>) -> Result<EaseModel> {
        let train = data.train_by_user;
        check_weights(train, KIND.name)?;
        if train.n_cols > MAX_ITEMS {
            return Err(Error::config(format!(
                "ease stores item indices exactly up to {MAX_ITEMS} items; this catalogue has {}",
                train.n_cols
            )));
        }
        let mut active_flag = vec![false; train.n_cols];
        for &i in &train.indices {
            active_flag[i as usize] = true;
        }
        let items: Vec<u32> = (0..train.n_cols as u32)
            .filter(|&i| active_flag[i as usize])
            .collect();
        let n = items.len();
        memory::check(
            KIND.name,
            EaseConfig::training_bytes(n),
            &format!("a dense {n} × {n} matrix of the items with a click, in double precision"),
            "the catalogue (filter rare items: --min-item-ratings) or use mult-vae",
        )?;
        let position = positions(&items, train.n_cols);
        // X restricted to the active items, by user and by item.
        let compact = {
            let mut c = train.clone();
            c.n_cols = n;
            for j in c.indices.iter_mut() {
                *j = position[*j as usize];
            }
            c
        };
        let by_item = compact.transpose();
        let mut gram = vec![0f64; n * n];
        gram.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                add_gram_row(&compact, &by_item, i, row);
                row[i] += config.lambda;
            });
        let llt = MatRef::from_row_major_slice(&gram, n, n)
            .llt(Side::Lower)
            .map_err(|e| {
                Error::config(format!(
                    "XᵀX + λI is not positive definite ({e:?}): λ = {} is too small",
                    config.lambda
                ))
            })?;
        drop(gram);
        let p = llt.inverse();
        drop(llt);
        let mut b = vec![0f32; n * n];
        b.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, row)| {
            for (i, cell) in row.iter_mut().enumerate() {
                if i != j {
                    *cell = (-p[(j, i)] / p[(i, i)]) as f32;
                }
            }
        });
        if b.iter().any(|v| !v.is_finite()) {
            return Err(Error::new(crate::error::ErrorKind::Diverged(format!(
                "EASE weights are not finite with λ = {}; raise it",
                config.lambda
            ))));
        }
        Ok(EaseModel {
            items,
            position,
            b,
            dims: Dims {
                users: train.n_rows,
                items: train.n_cols,
            },
        })
    }

    /// The weight item `j` gives item `i` (B_ji; 0 where either is inactive).
    pub fn weight(&self, j: u32, i: u32) -> f32 {
        let (pj, pi) = (self.position[j as usize], self.position[i as usize]);
        if pj == u32::MAX || pi == u32::MAX {
            return 0.0;
        }
        self.b[pj as usize * self.items.len() + pi as usize]
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = Dims::of(parts)?;
        let stored = parts
            .tensors
            .iter()
            .find(|(name, _)| name == "items")
            .map(|(_, t)| t.data.clone())
            .ok_or_else(|| Error::model_file("ease: tensor \"items\" is missing"))?;
        let mut items = Vec::with_capacity(stored.len());
        for v in stored {
            let ok = v >= 0.0 && v.fract() == 0.0 && (v as usize) < dims.items;
            if !ok || items.last().is_some_and(|&last| last >= v as u32) {
                return Err(Error::model_file(format!(
                    "ease: {v} is no item index below {} in ascending order",
                    dims.items
                )));
            }
            items.push(v as u32);
        }
        let m = items.len();
        Ok(EaseModel {
            position: positions(&items, dims.items),
            b: parts.tensor("b", &[m, m])?.data.clone(),
            items,
            dims,
        })
    }
}

impl RankingModel for EaseModel {
    fn kind_name(&self) -> &'static str {
        KIND.name
    }

    fn dims(&self) -> Dims {
        self.dims
    }

    fn parameter_count(&self) -> usize {
        self.b.len()
    }

    /// The rows of B the user's items select, summed: O(row length × items).
    fn score_row(&self, _user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) {
        let m = self.items.len();
        let mut active = vec![0f32; m];
        for (&j, &x) in row.indices.iter().zip(row.values) {
            let pj = self.position[j as usize];
            if pj == u32::MAX {
                continue;
            }
            let weights = &self.b[pj as usize * m..(pj as usize + 1) * m];
            for (o, &w) in active.iter_mut().zip(weights) {
                *o += x * w;
            }
        }
        out.fill(0.0);
        for (&i, &v) in self.items.iter().zip(&active) {
            out[i as usize] = v;
        }
    }

    /// Σ_j x_j · B_ji for each asked item alone: O(row length) an item.
    fn score_picked(&self, _: Option<u32>, row: SparseRow<'_>, items: &[u32], out: &mut [f32]) {
        for (o, &i) in out.iter_mut().zip(items) {
            *o = row
                .indices
                .iter()
                .zip(row.values)
                .map(|(&j, &x)| x * self.weight(j, i))
                .sum();
        }
    }

    /// Row j of B: the items a click on item j raises most (B is the
    /// model's own item × item matrix; items no training user has are
    /// never returned, and an item with no click of its own has no row).
    fn similar(&self, item: u32, n: usize) -> Option<Vec<(u32, f32)>> {
        let Some(&pj) = self.position.get(item as usize).filter(|&&p| p != u32::MAX) else {
            return Some(Vec::new());
        };
        let m = self.items.len();
        let mut scores = vec![f32::NAN; self.dims.items];
        let weights = &self.b[pj as usize * m..(pj as usize + 1) * m];
        for (&i, &w) in self.items.iter().zip(weights) {
            scores[i as usize] = w;
        }
        Some(top_n(&scores, n, &[item]))
    }

    /// Row j of B over the whole catalogue: the items item j predicts.
    fn vectors(&self) -> Option<(usize, Vec<f32>)> {
        let n = self.dims.items;
        let mut out = vec![0f32; n * n];
        for (pj, &j) in self.items.iter().enumerate() {
            for (pi, &i) in self.items.iter().enumerate() {
                out[j as usize * n + i as usize] = self.b[pj * self.items.len() + pi];
            }
        }
        Some((n, out))
    }

    fn parts(&self) -> ModelParts {
        ModelParts {
            kind: KIND.name.into(),
            config: serde_json::json!({ "dims": self.dims }),
            tensors: vec![
                (
                    "items".into(),
                    crate::model::Tensor {
                        shape: vec![self.items.len()],
                        data: self.items.iter().map(|&i| i as f32).collect(),
                    },
                ),
                (
                    "b".into(),
                    matrix(self.items.len(), self.items.len(), self.b.clone()),
                ),
            ],
        }
    }
}

/// The `ease` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "ease",
    summary: "implicit feedback: EASE, closed-form item-item autoencoder (Steck 2019)",
    parse: parse_serde::<EaseConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(EaseModel::from_parts(parts)?)),
};

impl ModelConfig for EaseConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err(Error::config(format!(
                "ease: lambda must be a finite number above 0, not {}",
                self.lambda
            )));
        }
        Ok(())
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        _opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        fit_in_one_pass(|| EaseModel::fit(self, data))
    }

    fn ranks_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Csr, IdMap, Ratings};
    use std::sync::Arc;

    /// Inverts a small dense matrix by Gauss–Jordan elimination with
    /// partial pivoting: a reference that shares no code with faer.
    fn invert(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        let n = a.len();
        let mut inv: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        for c in 0..n {
            let p = (c..n)
                .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
                .unwrap();
            a.swap(c, p);
            inv.swap(c, p);
            let d = a[c][c];
            for j in 0..n {
                a[c][j] /= d;
                inv[c][j] /= d;
            }
            for r in 0..n {
                if r != c {
                    let f = a[r][c];
                    for j in 0..n {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
        inv
    }

    fn data(cells: &[(u32, u32, f32)], users: usize, items: usize) -> (Ratings, Csr) {
        let ids = |n: usize, p: &str| {
            Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
        };
        let r = Ratings {
            users: cells.iter().map(|c| c.0).collect(),
            items: cells.iter().map(|c| c.1).collect(),
            values: cells.iter().map(|c| c.2).collect(),
            timestamps: None,
            user_ids: ids(users, "u"),
            item_ids: ids(items, "i"),
        };
        let by_user = r.by_user();
        (r, by_user)
    }

    #[test]
    fn equals_a_dense_reference_solve() {
        // 6 users × 5 items, weighted clicks; item 4 has no click at all.
        let cells = [
            (0, 0, 1.0),
            (0, 1, 1.0),
            (1, 1, 2.0),
            (1, 2, 1.0),
            (2, 0, 1.0),
            (2, 2, 1.0),
            (2, 3, 3.0),
            (3, 3, 1.0),
            (4, 0, 1.0),
            (4, 1, 1.0),
            (4, 3, 1.0),
            (5, 2, 1.0),
        ];
        let (r, x) = data(&cells, 6, 5);
        let lambda = 0.7;
        let config = EaseConfig { lambda };
        let fit_data = FitData::new(
            &r,
            &x,
            crate::data::filter::declared_or_inferred_scale(None, &r).unwrap(),
        )
        .unwrap();
        let model = EaseModel::fit(&config, &fit_data).unwrap();
        let n = 5;
        let dense = |u: usize, i: usize| x.get(u, i as u32).unwrap_or(0.0) as f64;
        let g: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        (0..6).map(|u| dense(u, i) * dense(u, j)).sum::<f64>()
                            + if i == j { lambda } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let p = invert(g);
        for (j, pj) in p.iter().enumerate() {
            for (i, &pji) in pj.iter().enumerate() {
                let want = if i == j { 0.0 } else { -pji / p[i][i] };
                let got = model.weight(j as u32, i as u32) as f64;
                assert!(
                    (got - want).abs() < 1e-6,
                    "B[{j}][{i}] = {got}, want {want}"
                );
            }
        }
        // An item nobody clicked gets and gives no weight.
        assert!((0..n as u32).all(|k| model.weight(4, k) == 0.0 && model.weight(k, 4) == 0.0));
        // Scores are X·B: user 1 (items 1 ×2, 2 ×1) for item 0.
        let row = SparseRow::of(&x, 1);
        let mut all = vec![0f32; n];
        model.score_all(Some(1), row, &mut all).unwrap();
        let want0 = 2.0 * (-p[1][0] / p[0][0]) + (-p[2][0] / p[0][0]);
        assert!((all[0] as f64 - want0).abs() < 1e-5);
        let mut some = [0f32; 2];
        model.score_items(Some(1), row, &[3, 0], &mut some).unwrap();
        assert_eq!(some, [all[3], all[0]]);
        // Similar items: row j of the reference B sorted, largest first,
        // j itself and the item nobody clicked left out.
        for j in 0..4u32 {
            let mut want: Vec<(u32, f64)> = (0..4u32)
                .filter(|&i| i != j)
                .map(|i| (i, -p[j as usize][i as usize] / p[i as usize][i as usize]))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1));
            let got = model.similar_items(j, 10).unwrap();
            assert_eq!(got.len(), 3);
            for ((gi, gw), (wi, ww)) in got.iter().zip(&want) {
                assert_eq!(gi, wi, "item {j}: {got:?} vs {want:?}");
                assert!((*gw as f64 - ww).abs() < 1e-6);
            }
            assert_eq!(model.similar_items(j, 1).unwrap(), got[..1].to_vec());
        }
        assert_eq!(model.similar_items(4, 3).unwrap(), vec![]);
    }

    #[test]
    fn the_solution_is_stationary_for_the_constrained_objective() {
        // The Lagrangian's gradient in B is (XᵀX + λI)B − XᵀX + diag(μ):
        // zero off the diagonal at the optimum, whatever μ is.
        let cells: Vec<(u32, u32, f32)> = (0..8u32)
            .flat_map(|u| {
                (0..6u32)
                    .filter(move |i| (u * 3 + i * 5) % 4 != 0)
                    .map(move |i| (u, i, 1.0))
            })
            .collect();
        let (r, x) = data(&cells, 8, 6);
        let lambda = 2.0;
        let fit_data = FitData::new(
            &r,
            &x,
            crate::data::filter::declared_or_inferred_scale(None, &r).unwrap(),
        )
        .unwrap();
        let model = EaseModel::fit(&EaseConfig { lambda }, &fit_data).unwrap();
        let dense = |u: usize, i: usize| x.get(u, i as u32).unwrap_or(0.0) as f64;
        let g = |i: usize, j: usize| (0..8).map(|u| dense(u, i) * dense(u, j)).sum::<f64>();
        for i in 0..6 {
            for j in 0..6 {
                if i == j {
                    continue;
                }
                let gb: f64 = (0..6)
                    .map(|k| {
                        (g(i, k) + if i == k { lambda } else { 0.0 })
                            * model.weight(k as u32, j as u32) as f64
                    })
                    .sum();
                assert!(
                    (gb - g(i, j)).abs() < 1e-4,
                    "({i}, {j}): {gb} vs {}",
                    g(i, j)
                );
            }
        }
    }

    #[test]
    fn a_catalogue_too_large_is_refused_with_the_estimate() {
        let (r, _) = data(&[(0, 0, 1.0)], 1, 1);
        // 3 million items, each clicked once: all of them take part.
        let n = 3_000_000u32;
        let huge = Csr::from_triplets(
            1,
            n as usize,
            &vec![0; n as usize],
            &(0..n).collect::<Vec<u32>>(),
            &vec![1.0; n as usize],
        );
        let fit_data = FitData::new(
            &r,
            &huge,
            crate::data::filter::declared_or_inferred_scale(None, &r).unwrap(),
        )
        .unwrap();
        let e = EaseModel::fit(&EaseConfig::default(), &fit_data).unwrap_err();
        assert!(
            matches!(e.kind(), crate::error::ErrorKind::TooLarge(_)),
            "{e}"
        );
        // 3e6² cells × 20 bytes.
        assert!(e.to_string().contains("163.7 TiB"), "{e}");
        assert!(e.to_string().contains("--min-item-ratings"), "{e}");
        assert!(EaseConfig { lambda: 0.0 }.validate().is_err());
        assert!(EaseConfig { lambda: f64::NAN }.validate().is_err());
    }
}
