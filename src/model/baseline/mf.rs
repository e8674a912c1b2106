//! Biased matrix factorisation by SGD (Funk SVD): `r̂ = μ + b_u + b_i + q_iᵀ p_u`,
//! with exactly Surprise's `SVD` update rules and defaults.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::parallel::{self, gather_user_rows, owned_nnz, sgd_blocks, sum_over, ItemSync};
use super::{
    check_all, check_items, check_user, config_of, dot, matrix, normal_init, scalar, shape2,
    solve_spd, vector,
};
use crate::collective::{any_rank, Collective};
use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::diverge;
use crate::model::memory::Bytes;
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{
    EpochStats, FitControl, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow,
    Tensor, ValidationCells,
};

/// Settings of [`MfModel`] and [`super::SvdppModel`].
///
/// Defaults are Surprise's (`surprise/prediction_algorithms/matrix_factorization.pyx`):
/// `SVD`: `n_factors = 100`, `n_epochs = 20`, `lr_all = 0.005`, `reg_all = 0.02`,
/// `init_mean = 0`, `init_std_dev = 0.1`; `SVDpp`: `n_factors = 20`, `lr_all = 0.007`,
/// the rest the same. `factors` and `lr` left unset take the default of the model
/// being fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfConfig {
    /// Rank of the factors (unset: 100 for `mf`, 20 for `svdpp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<usize>,
    /// Passes over the training ratings.
    pub epochs: usize,
    /// SGD learning rate for every parameter (unset: 0.005 for `mf`, 0.007 for `svdpp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    /// L2 strength for every parameter (Surprise's `reg_all`).
    pub l2: f32,
    /// Mean of the normal initialisation of the factors.
    pub init_mean: f32,
    /// Standard deviation of the normal initialisation of the factors.
    pub init_std: f32,
    /// Learn user and item biases (Surprise's `biased`); without them `r̂ = q_iᵀ p_u`.
    pub biased: bool,
}

impl Default for MfConfig {
    fn default() -> Self {
        MfConfig {
            factors: None,
            epochs: 20,
            lr: None,
            l2: 0.02,
            init_mean: 0.0,
            init_std: 0.1,
            biased: true,
        }
    }
}

/// Which SGD model a config is fitted as; it picks the unset defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    Mf,
    Svdpp,
}

/// A config with its model-specific defaults filled in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resolved {
    pub factors: usize,
    pub lr: f32,
    pub l2: f32,
}

impl MfConfig {
    /// Checks every setting before any work starts.
    pub fn validate(&self) -> Result<()> {
        if self.factors == Some(0) {
            return Err(Error::config("factors must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(Error::config("epochs must be at least 1"));
        }
        if let Some(lr) = self.lr {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(Error::config(format!("lr = {lr} must be > 0")));
            }
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(Error::config(format!("l2 = {} must be ≥ 0", self.l2)));
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0 && self.init_mean.is_finite()) {
            return Err(Error::config(format!(
                "init_mean = {}, init_std = {}: need finite values and init_std ≥ 0",
                self.init_mean, self.init_std
            )));
        }
        Ok(())
    }

    pub(super) fn resolve(&self, flavour: Flavour) -> Resolved {
        let (factors, lr) = match flavour {
            Flavour::Mf => (100, 0.005),
            Flavour::Svdpp => (20, 0.007),
        };
        Resolved {
            factors: self.factors.unwrap_or(factors),
            lr: self.lr.unwrap_or(lr),
            l2: self.l2,
        }
    }

    /// The config with the defaults of `flavour` written in, as stored in the model.
    pub(super) fn explicit(&self, flavour: Flavour) -> MfConfig {
        let r = self.resolve(flavour);
        MfConfig {
            factors: Some(r.factors),
            lr: Some(r.lr),
            ..self.clone()
        }
    }

    /// Fits biased MF by SGD over the ratings in user order (as Surprise's
    /// `all_ratings()`), serially: one seed gives one result.
    ///
    /// Under a group of several ranks (`opts.control`'s collective) each
    /// rank trains the users it owns and the item rows are merged every
    /// block of users (module `parallel`); every rank returns the same
    /// model, the single process's exactly when no two ranks' users share
    /// an item within a block, and close to it otherwise.
    pub fn fit(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(MfModel, FitReport)> {
        self.validate()?;
        let start = Instant::now();
        let comm = opts.control.collective();
        let comm = &*comm;
        let sent_before = comm.bytes_sent();
        let mut rng = SmallRng::seed_from_u64(opts.seed);
        let mut model = MfModel::init(self, Flavour::Mf, data, &mut rng)?;
        let r = self.resolve(Flavour::Mf);
        let spread = data.stats.spread();
        let mut history = Vec::with_capacity(self.epochs);
        let mut notes = Vec::new();
        let train = data.train_by_user;
        let mut sync = (comm.size() > 1).then(|| ItemSync::new(train.n_cols, 1 + model.k));
        if sync.is_some() {
            notes.push(parallel::sgd_note(comm.size()));
        }
        for epoch in 1..=self.epochs {
            let t = Instant::now();
            let (sq, n) = match &mut sync {
                None => (model.sgd_epoch(train, r.lr, r.l2), data.train.len()),
                Some(sync) => model.sgd_epoch_over(train, r.lr, r.l2, comm, sync)?,
            };
            history.push(epoch_stats(
                epoch,
                sq,
                n,
                (r.lr, spread),
                t,
                (data.validation(), comm),
                |u, i| model.predict_known(u, i),
            )?);
            if let Some(stats) = history.last() {
                opts.control.epoch_done(stats, self.epochs);
            }
            if epoch < self.epochs && any_rank(comm, opts.control.stop_requested())? {
                notes.push(FitControl::stopped_note(epoch));
                break;
            }
        }
        if sync.is_some() {
            let k = model.k;
            let tables = &mut [
                (&mut model.user_bias[..], 1),
                (&mut model.user_factors[..], k),
            ];
            gather_user_rows(comm, train.n_rows, tables)?;
            notes.push(parallel::bytes_note(
                comm,
                comm.bytes_sent() - sent_before,
                history.len(),
            ));
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

/// The statistics of one epoch; `sq` is the sum of squared training errors
/// seen during the epoch (before each update, as SGD sees them). `lr` comes
/// with the spread of the training ratings: an epoch whose loss exploded
/// is a [`diverge`] error. The validation RMSE is computed over the ranks of
/// `comm` (each scoring the users it owns).
pub(super) fn epoch_stats(
    epoch: usize,
    sq: f64,
    n: usize,
    (lr, spread): (f32, f64),
    started: Instant,
    (valid, comm): (Option<&ValidationCells>, &dyn Collective),
    predict: impl Fn(usize, usize) -> f32,
) -> Result<EpochStats> {
    let train_loss = sq / n.max(1) as f64;
    diverge::check_epoch(epoch, train_loss.sqrt(), spread, lr as f64)?;
    let valid_rmse = valid
        .map(|cells| parallel::validation_rmse_over(cells, comm, predict))
        .transpose()?;
    Ok(EpochStats {
        epoch,
        train_loss,
        train_rmse: train_loss.sqrt(),
        valid_rmse,
        lr: lr as f64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `r̂(u, i) = μ + b_u + b_i + q_iᵀ p_u`.
///
/// Fold-in of a user never seen in training: `[p_u; b_u]` is the ridge
/// solution on the fixed item factors, `min Σ (r − μ − b_i − q_iᵀ p − b)² +
/// λ n (‖p‖² + b²)` with `λ = l2` (SGD applies `l2` once per rating, so over
/// `n` ratings the penalty is `n · l2`).
///
/// Model file tensors: `mu` `[1]`, `user_bias` `[users]`, `item_bias`
/// `[items]`, `user_factors` `[users, factors]`, `item_factors` `[items, factors]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MfModel {
    pub(super) config: MfConfig,
    pub(super) k: usize,
    pub(super) mu: f32,
    pub(super) user_bias: Vec<f32>,
    pub(super) item_bias: Vec<f32>,
    pub(super) user_factors: Vec<f32>,
    pub(super) item_factors: Vec<f32>,
}

impl MfModel {
    /// Zero biases and normal factors, `p` drawn before `q` (Surprise's order).
    pub(super) fn init(
        config: &MfConfig,
        flavour: Flavour,
        data: &FitData<'_>,
        rng: &mut SmallRng,
    ) -> Result<MfModel> {
        let train = data.train_by_user;
        let k = config.resolve(flavour).factors;
        // SVD++ adds the implicit item factors y_j to p_u and q_i.
        let (kind, tables) = match flavour {
            Flavour::Mf => ("mf", 2),
            Flavour::Svdpp => ("svdpp", 3),
        };
        let factor_rows = Bytes::of(train.n_cols)
            .times(tables - 1)
            .plus(Bytes::of(train.n_rows));
        crate::model::memory::check(
            kind,
            factor_rows.times(k).times(std::mem::size_of::<f32>()),
            &format!(
                "{k} factors for {} users and {} items",
                train.n_rows, train.n_cols
            ),
            "--factors",
        )?;
        let user_factors = normal_init(rng, train.n_rows * k, config.init_mean, config.init_std)?;
        let item_factors = normal_init(rng, train.n_cols * k, config.init_mean, config.init_std)?;
        let mu = if config.biased {
            data.stats.mean as f32
        } else {
            0.0
        };
        Ok(MfModel {
            config: config.explicit(flavour),
            k,
            mu,
            user_bias: vec![0.0; train.n_rows],
            item_bias: vec![0.0; train.n_cols],
            user_factors,
            item_factors,
        })
    }

    /// One SGD pass in user order; returns the sum of squared errors.
    /// Surprise's rule for each rating, with `e = r − r̂`:
    /// `b_u += lr (e − λ b_u)`, `b_i += lr (e − λ b_i)`,
    /// `p_u += lr (e q_i − λ p_u)`, `q_i += lr (e p_u − λ q_i)` (old `p_u`).
    fn sgd_epoch(&mut self, train: &Csr, lr: f32, l2: f32) -> f64 {
        let mut sq = 0f64;
        for u in 0..train.n_rows {
            self.sgd_user(train, u, lr, l2, &mut sq);
        }
        sq
    }

    /// [`MfModel::sgd_epoch`] on this rank's users of a group, the item rows
    /// merged after each block; returns the squared errors and the number
    /// of ratings, summed over the ranks.
    fn sgd_epoch_over(
        &mut self,
        train: &Csr,
        lr: f32,
        l2: f32,
        comm: &dyn Collective,
        sync: &mut ItemSync<f32>,
    ) -> Result<(f64, usize)> {
        let (rank, size, k) = (comm.rank(), comm.size(), self.k);
        let mut sq = 0f64;
        for block in sgd_blocks(train.n_rows, rank, size) {
            for &u in &block {
                let tables = [(&self.item_bias[..], 1), (&self.item_factors[..], k)];
                sync.touch(train.row(u).0, &tables);
                self.sgd_user(train, u, lr, l2, &mut sq);
            }
            let tables = &mut [
                (&mut self.item_bias[..], 1),
                (&mut self.item_factors[..], k),
            ];
            sync.merge(comm, tables)?;
        }
        let n = owned_nnz(train, rank, size) as f64;
        let total = sum_over(comm, vec![sq, n])?;
        Ok((total[0], total[1] as usize))
    }

    /// The SGD updates of user `u`'s ratings, in order, adding the squared
    /// errors (before each update) to `sq`.
    fn sgd_user(&mut self, train: &Csr, u: usize, lr: f32, l2: f32, sq: &mut f64) {
        let k = self.k;
        let biased = self.config.biased;
        let (idx, val) = train.row(u);
        let p = &mut self.user_factors[u * k..(u + 1) * k];
        let bu = &mut self.user_bias[u];
        for (&i, &r) in idx.iter().zip(val) {
            let i = i as usize;
            let q = &mut self.item_factors[i * k..(i + 1) * k];
            let bi = &mut self.item_bias[i];
            let err = r - (self.mu + *bu + *bi + dot(p, q));
            *sq += (err * err) as f64;
            if biased {
                *bu += lr * (err - l2 * *bu);
                *bi += lr * (err - l2 * *bi);
            }
            for (pf, qf) in p.iter_mut().zip(q.iter_mut()) {
                let (puf, qif) = (*pf, *qf);
                *pf += lr * (err * qif - l2 * puf);
                *qf += lr * (err * puf - l2 * qif);
            }
        }
    }

    /// Prediction for a known user and item (indices in range).
    pub(super) fn predict_known(&self, u: usize, i: usize) -> f32 {
        if u >= self.user_bias.len() || i >= self.item_bias.len() {
            return self.mu;
        }
        let k = self.k;
        self.mu
            + self.user_bias[u]
            + self.item_bias[i]
            + dot(
                &self.user_factors[u * k..(u + 1) * k],
                &self.item_factors[i * k..(i + 1) * k],
            )
    }

    /// The rank.
    pub fn factors(&self) -> usize {
        self.k
    }

    /// The config the model was fitted with, defaults written in.
    pub fn config(&self) -> &MfConfig {
        &self.config
    }

    /// User `u`'s bias and factors, or the fold-in ridge solution for `row`
    /// where `offset[n]` is already subtracted from each rating's target.
    pub(super) fn user_vector(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        offset: impl Fn(u32) -> f32,
    ) -> Result<(f32, Vec<f32>)> {
        check_user(user, self.user_bias.len())?;
        let k = self.k;
        if let Some(u) = user {
            let u = u as usize;
            return Ok((
                self.user_bias[u],
                self.user_factors[u * k..(u + 1) * k].to_vec(),
            ));
        }
        // Normal equations of the ridge problem in [p; b] (b only when biased).
        let dim = k + usize::from(self.config.biased);
        let known: Vec<(usize, f32)> = row
            .indices
            .iter()
            .zip(row.values)
            .filter(|(&i, _)| (i as usize) < self.item_bias.len())
            .map(|(&i, &r)| {
                (
                    i as usize,
                    r - self.mu - self.item_bias[i as usize] - offset(i),
                )
            })
            .collect();
        if known.is_empty() {
            return Ok((0.0, vec![0.0; k]));
        }
        let lambda = (self.config.l2 as f64 * known.len() as f64).max(1e-6);
        let mut a = vec![0f64; dim * dim];
        let mut b = vec![0f64; dim];
        let mut x = vec![0f64; dim];
        for &(i, target) in &known {
            for (f, xf) in x[..k].iter_mut().enumerate() {
                *xf = self.item_factors[i * k + f] as f64;
            }
            if dim > k {
                x[k] = 1.0;
            }
            for r in 0..dim {
                b[r] += x[r] * target as f64;
                for c in 0..dim {
                    a[r * dim + c] += x[r] * x[c];
                }
            }
        }
        for d in 0..dim {
            a[d * dim + d] += lambda;
        }
        solve_spd(&mut a, &mut b)?;
        let bias = if dim > k { b[k] as f32 } else { 0.0 };
        Ok((bias, b[..k].iter().map(|&v| v as f32).collect()))
    }

    /// Scores `items` (or all items when `None`) for a user with bias `bu`
    /// and effective factor vector `p`.
    pub(super) fn score_with(&self, bu: f32, p: &[f32], items: Option<&[u32]>, out: &mut [f32]) {
        let k = self.k;
        let base = self.mu + bu;
        match items {
            Some(items) => {
                for (o, &i) in out.iter_mut().zip(items) {
                    let i = i as usize;
                    *o = base + self.item_bias[i] + dot(p, &self.item_factors[i * k..(i + 1) * k]);
                }
            }
            None => {
                for ((o, q), &bi) in out
                    .iter_mut()
                    .zip(self.item_factors.chunks_exact(k))
                    .zip(&self.item_bias)
                {
                    *o = base + bi + dot(p, q);
                }
            }
        }
    }

    /// The named tensors of the model.
    pub(super) fn tensors(&self) -> Vec<(String, Tensor)> {
        let (nu, ni, k) = (self.user_bias.len(), self.item_bias.len(), self.k);
        vec![
            ("mu".into(), vector(vec![self.mu])),
            ("user_bias".into(), vector(self.user_bias.clone())),
            ("item_bias".into(), vector(self.item_bias.clone())),
            (
                "user_factors".into(),
                matrix(nu, k, self.user_factors.clone()),
            ),
            (
                "item_factors".into(),
                matrix(ni, k, self.item_factors.clone()),
            ),
        ]
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let config: MfConfig = config_of(parts)?;
        let (nu, k) = shape2(parts, "user_factors")?;
        let (ni, _) = shape2(parts, "item_factors")?;
        Ok(MfModel {
            config,
            k,
            mu: scalar(parts, "mu")?,
            user_bias: parts.tensor("user_bias", &[nu])?.data.clone(),
            item_bias: parts.tensor("item_bias", &[ni])?.data.clone(),
            user_factors: parts.tensor("user_factors", &[nu, k])?.data.clone(),
            item_factors: parts.tensor("item_factors", &[ni, k])?.data.clone(),
        })
    }
}

impl Recommender for MfModel {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    fn n_params(&self) -> usize {
        1 + (self.user_bias.len() + self.item_bias.len()) * (1 + self.k)
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_items(items, out, self.item_bias.len())?;
        let (bu, p) = self.user_vector(user, row, |_| 0.0)?;
        self.score_with(bu, &p, Some(items), out);
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        check_all(out, self.item_bias.len())?;
        let (bu, p) = self.user_vector(user, row, |_| 0.0)?;
        self.score_with(bu, &p, None, out);
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        Some((self.k, self.item_factors.clone()))
    }

    fn to_parts(&self) -> ModelParts {
        ModelParts {
            kind: "mf".into(),
            config: serde_json::to_value(&self.config).unwrap_or_default(),
            tensors: self.tensors(),
        }
    }
}

/// The `mf` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "mf",
    summary: "biased matrix factorisation by SGD (Funk SVD, Surprise's SVD)",
    parse: parse_serde::<MfConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(MfModel::from_parts(parts)?)),
};

impl ModelConfig for MfConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        MfConfig::validate(self)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = MfConfig::fit(self, data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.epochs = epochs;
        true
    }
}
