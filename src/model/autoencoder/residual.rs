//! Residual training (`residual = true`): the network learns what a bias
//! model cannot. A regularised `μ + b_u + b_i` (the `biases` baseline with
//! its defaults, fitted first on the training split) is subtracted from
//! every target and added back to every prediction.
//!
//! Why: an autoencoder spends capacity and epochs rediscovering each user's
//! and item's offset, and on small or lopsided data it does so worse than the
//! closed-form damped means (issue 13: `--preset autorec` lost to `--model
//! biases` on one real set). The residual leaves it the interactions only.
//!
//! The input stays the ratings. Which cells are rated is much of the
//! signal (the reason SVD++ beats MF), and a residual input near 0 looks
//! like a missing rating: with residuals as input too, I-AutoRec on ML-100K
//! u1 (seed 1, `examples/configs/engine-ml100k-u1-iautorec.toml`) scored
//! test RMSE 0.9270, against 0.9025 plain and 0.8977 with residual targets.
//!
//! A user the model never saw gets their bias in closed form from their
//! ratings, with the same damping as in training (the ALS user step
//! `Σ(r − μ − b_i) / (reg_u + n)`, [`BiasesModel`]'s fold-in); an
//! item-based model then regresses their residuals on the item codes.

use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::baseline::{BiasesConfig, BiasesModel};
use crate::model::{FitData, FitOptions, ModelParts, Recommender, SparseRow, Tensor};

/// Prefix of the baseline's tensors in the model file
/// (`residual.mu`, `residual.user_bias`, `residual.item_bias`).
pub const TENSOR_PREFIX: &str = "residual.";

/// The fitted baseline a residual autoencoder works around.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    biases: BiasesModel,
}

impl Baseline {
    /// Fits `μ + b_u + b_i` with the `biases` defaults on the training data.
    pub fn fit(data: &FitData<'_>) -> Result<Self> {
        let (biases, _) = BiasesConfig::default().fit(data, &FitOptions::default())?;
        Ok(Baseline { biases })
    }

    /// The bias model itself.
    pub fn biases(&self) -> &BiasesModel {
        &self.biases
    }

    /// Baseline values of one user at `items`: a known user (`Some`) uses
    /// their fitted bias, a new one (`None`) gets it folded in from `row`.
    pub fn at(&self, user: Option<u32>, row: SparseRow<'_>, items: &[u32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; items.len()];
        self.biases.score_items(user, row, items, &mut out)?;
        Ok(out)
    }

    /// Baseline values of one user at every item.
    pub fn all(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.biases.n_items()];
        self.biases.score_all(user, row, &mut out)?;
        Ok(out)
    }

    /// The row's ratings minus the baseline at the same items.
    pub fn residual_values(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<Vec<f32>> {
        let base = self.at(user, row, row.indices)?;
        Ok(row.values.iter().zip(base).map(|(&r, b)| r - b).collect())
    }

    /// A user-row matrix (the training matrix, or ratings in the same index
    /// space) with the baseline of each cell subtracted from its rating.
    pub fn residual_by_user(&self, by_user: &Csr) -> Csr {
        self.map_by_user(by_user, |rating, base| rating - base)
    }

    /// The baseline of each cell of a user-row matrix, in place of its rating.
    pub fn baseline_by_user(&self, by_user: &Csr) -> Csr {
        self.map_by_user(by_user, |_, base| base)
    }

    fn map_by_user(&self, by_user: &Csr, f: impl Fn(f32, f32) -> f32) -> Csr {
        let mu = self.biases.mu();
        let (bu, bi) = (self.biases.user_bias(), self.biases.item_bias());
        let mut out = by_user.clone();
        for u in 0..by_user.n_rows {
            let b_u = bu.get(u).copied().unwrap_or(0.0);
            for k in by_user.indptr[u]..by_user.indptr[u + 1] {
                let b_i = bi.get(by_user.indices[k] as usize).copied().unwrap_or(0.0);
                out.values[k] = f(by_user.values[k], mu + b_u + b_i);
            }
        }
        out
    }

    /// The baseline's tensors for the model file, under [`TENSOR_PREFIX`].
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.biases
            .to_parts()
            .tensors
            .into_iter()
            .map(|(name, t)| (format!("{TENSOR_PREFIX}{name}"), t))
            .collect()
    }

    /// Reads the baseline back from a model file's tensors, checking its
    /// size against the model's users and items.
    pub fn from_tensors(parts: &ModelParts, n_users: usize, n_items: usize) -> Result<Self> {
        let mut tensors = Vec::new();
        for (name, shape) in [
            ("mu", vec![1]),
            ("user_bias", vec![n_users]),
            ("item_bias", vec![n_items]),
        ] {
            let t = parts.tensor(&format!("{TENSOR_PREFIX}{name}"), &shape)?;
            tensors.push((name.to_string(), t.clone()));
        }
        let biases = BiasesModel::from_parts(&ModelParts {
            kind: "biases".into(),
            config: serde_json::to_value(BiasesConfig::default())
                .map_err(|e| Error::other(format!("biases config: {e}")))?,
            tensors,
        })?;
        Ok(Baseline { biases })
    }
}
