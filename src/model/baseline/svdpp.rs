//! SVD++ (Koren 2008): `r̂ = μ + b_u + b_i + q_iᵀ (p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j)`,
//! Surprise's `SVDpp` update rules, made fast.
//!
//! Surprise recomputes the implicit sum `z_u = |N(u)|^-½ Σ_j y_j` and updates
//! every `y_j` of the user for *each* rating: O(|N(u)|² k) per user. Here the
//! ratings are visited user by user, `z_u` is computed once per user and held
//! fixed through that user's ratings, and the `y_j` updates are summed and
//! applied once at the end of the user: `y_j ← (1 − lr λ)^{n} y_j + lr
//! |N(u)|^-½ Σ_r e_r q_i(r)`, which is Surprise's `n` successive updates
//! except that each one sees the `y_j`, `q_i` of the start of the user's pass
//! (differences of order `lr`). Cost: O(|N(u)| k) per user, the same as MF.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::mf::{epoch_stats, Flavour, MfModel};
use super::{check_all, check_items, dot, matrix, shape2};
use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{
    FitControl, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow,
};

use super::MfConfig;

/// SVD++: biased MF plus implicit feedback from which items a user rated.
///
/// A user's `N(u)` is the row passed to `score_items` (the training row for a
/// known user; for a new user the given ratings, which also fold in `[p_u;
/// b_u]` by ridge regression as in [`super::MfModel`]).
///
/// Model file tensors: those of `mf` plus `implicit_factors` `[items, factors]` (the `y_j`).
#[derive(Debug, Clone, PartialEq)]
pub struct SvdppModel {
    mf: MfModel,
    implicit: Vec<f32>,
}

/// Settings of [`SvdppModel`]: those of matrix factorisation, whose unset
/// `factors` and `lr` take SVD++'s defaults (20 and 0.007, Surprise's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SvdppConfig(pub MfConfig);

impl MfConfig {
    /// Fits SVD++ by SGD (see the module docs for the per-user batching of `y_j`).
    pub fn fit_svdpp(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(SvdppModel, FitReport)> {
        self.validate()?;
        let start = Instant::now();
        let mut rng = SmallRng::seed_from_u64(opts.seed);
        let mf = MfModel::init(self, Flavour::Svdpp, data, &mut rng)?;
        // Surprise draws y_j after p_u and q_i from the same generator.
        let implicit = super::normal_init(
            &mut rng,
            mf.item_bias.len() * mf.k,
            self.init_mean,
            self.init_std,
        )?;
        let mut model = SvdppModel { mf, implicit };
        let r = self.resolve(Flavour::Svdpp);
        let spread = data.stats.spread();
        let mut history = Vec::with_capacity(self.epochs);
        let mut notes = Vec::new();
        for epoch in 1..=self.epochs {
            let t = Instant::now();
            let sq = model.sgd_epoch(data.train_by_user, r.lr, r.l2);
            let by_user = data.train_by_user;
            history.push(epoch_stats(
                epoch,
                sq,
                data.train.len(),
                (r.lr, spread),
                t,
                // Every rank fits the whole SVD++ model (no data-parallel form).
                (data.validation(), &crate::collective::Single::default()),
                |u, i| {
                    let mut z = vec![0f32; model.mf.k];
                    model.implicit_sum(by_user.row(u).0, &mut z);
                    model.predict_with(u, i, &z)
                },
            )?);
            if let Some(stats) = history.last() {
                opts.control.epoch_done(stats, self.epochs);
            }
            if opts.control.stop_requested() && epoch < self.epochs {
                notes.push(FitControl::stopped_note(epoch));
                break;
            }
        }
        let report = FitReport {
            epochs: history.len(),
            history,
            train_seconds: start.elapsed().as_secs_f64(),
            notes,
            ..FitReport::default()
        };
        Ok((model, report))
    }
}

impl SvdppModel {
    /// `z = |N|^-½ Σ_{j∈N} y_j` into `z` (zero when `N` is empty).
    fn implicit_sum(&self, items: &[u32], z: &mut [f32]) {
        let k = self.mf.k;
        z.fill(0.0);
        let mut n = 0usize;
        for &j in items {
            let j = j as usize;
            if j < self.mf.item_bias.len() {
                for (zf, yf) in z.iter_mut().zip(&self.implicit[j * k..(j + 1) * k]) {
                    *zf += yf;
                }
                n += 1;
            }
        }
        if n > 0 {
            let s = 1.0 / (n as f32).sqrt();
            z.iter_mut().for_each(|v| *v *= s);
        }
    }

    fn predict_with(&self, u: usize, i: usize, z: &[f32]) -> f32 {
        let k = self.mf.k;
        let p = &self.mf.user_factors[u * k..(u + 1) * k];
        let q = &self.mf.item_factors[i * k..(i + 1) * k];
        self.mf.mu + self.mf.user_bias[u] + self.mf.item_bias[i] + dot(p, q) + dot(z, q)
    }

    /// One SGD pass, user by user; returns the sum of squared errors.
    fn sgd_epoch(&mut self, train: &Csr, lr: f32, l2: f32) -> f64 {
        let k = self.mf.k;
        let mut z = vec![0f32; k];
        let mut grad_y = vec![0f32; k];
        let mut sq = 0f64;
        let mf = &mut self.mf;
        for u in 0..train.n_rows {
            let (idx, val) = train.row(u);
            if idx.is_empty() {
                continue;
            }
            let scale = 1.0 / (idx.len() as f32).sqrt();
            z.fill(0.0);
            for &j in idx {
                let j = j as usize;
                for (zf, yf) in z.iter_mut().zip(&self.implicit[j * k..(j + 1) * k]) {
                    *zf += yf;
                }
            }
            z.iter_mut().for_each(|v| *v *= scale);
            grad_y.fill(0.0);
            let p = &mut mf.user_factors[u * k..(u + 1) * k];
            let bu = &mut mf.user_bias[u];
            for (&i, &r) in idx.iter().zip(val) {
                let i = i as usize;
                let q = &mut mf.item_factors[i * k..(i + 1) * k];
                let bi = &mut mf.item_bias[i];
                let err = r - (mf.mu + *bu + *bi + dot(p, q) + dot(&z, q));
                sq += (err * err) as f64;
                *bu += lr * (err - l2 * *bu);
                *bi += lr * (err - l2 * *bi);
                for (((pf, qf), zf), gf) in p.iter_mut().zip(q.iter_mut()).zip(&z).zip(&mut grad_y)
                {
                    let (puf, qif) = (*pf, *qf);
                    *pf += lr * (err * qif - l2 * puf);
                    *qf += lr * (err * (puf + zf) - l2 * qif);
                    *gf += err * qif;
                }
            }
            let decay = (1.0 - lr * l2).powi(idx.len() as i32);
            for &j in idx {
                let j = j as usize;
                for (yf, gf) in self.implicit[j * k..(j + 1) * k].iter_mut().zip(&grad_y) {
                    *yf = *yf * decay + lr * scale * gf;
                }
            }
        }
        sq
    }

    /// The bias and effective factors `p_u + z_u` of the user described by `row`.
    fn user_terms(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<(f32, Vec<f32>)> {
        let k = self.mf.k;
        let mut z = vec![0f32; k];
        self.implicit_sum(row.indices, &mut z);
        let (bu, mut p) = self.mf.user_vector(user, row, |i| {
            let i = i as usize;
            dot(&z, &self.mf.item_factors[i * k..(i + 1) * k])
        })?;
        p.iter_mut().zip(&z).for_each(|(pf, zf)| *pf += zf);
        Ok((bu, p))
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let mut mf_parts = parts.clone();
        mf_parts.kind = "mf".into();
        let mf = MfModel::from_parts(&mf_parts)?;
        let (ni, k) = shape2(parts, "implicit_factors")?;
        if (ni, k) != (mf.item_bias.len(), mf.k) {
            return Err(Error::model_file(format!(
                "svdpp: implicit_factors is {ni}×{k}, expected {}×{}",
                mf.item_bias.len(),
                mf.k
            )));
        }
        let implicit = parts.tensor("implicit_factors", &[ni, k])?.data.clone();
        Ok(SvdppModel { mf, implicit })
    }
}

impl Recommender for SvdppModel {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.mf.n_users()
    }

    fn n_items(&self) -> usize {
        self.mf.n_items()
    }

    fn n_params(&self) -> usize {
        self.mf.n_params() + self.implicit.len()
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_items(items, out, self.n_items())?;
        let (bu, p) = self.user_terms(user, row)?;
        self.mf.score_with(bu, &p, Some(items), out);
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        check_all(out, self.n_items())?;
        let (bu, p) = self.user_terms(user, row)?;
        self.mf.score_with(bu, &p, None, out);
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        self.mf.item_vectors()
    }

    fn to_parts(&self) -> ModelParts {
        let mut tensors = self.mf.tensors();
        let ni = self.mf.item_bias.len();
        tensors.push((
            "implicit_factors".into(),
            matrix(ni, self.mf.k, self.implicit.clone()),
        ));
        ModelParts {
            kind: "svdpp".into(),
            config: serde_json::to_value(&self.mf.config).unwrap_or_default(),
            tensors,
        }
    }
}

/// The `svdpp` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "svdpp",
    summary: "SVD++: matrix factorisation with implicit feedback from what a user rated",
    parse: parse_serde::<SvdppConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(SvdppModel::from_parts(parts)?)),
};

impl ModelConfig for SvdppConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        self.0.validate()
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = self.0.fit_svdpp(data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.0.epochs = epochs;
        true
    }
}
