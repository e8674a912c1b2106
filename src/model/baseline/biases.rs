//! Regularised user and item biases: `r̂ = μ + b_u + b_i`, fitted as
//! Surprise's `BaselineOnly` does (Koren 2010, section 2.1).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::parallel::{self, gather_user_rows, sgd_blocks, ItemSync};
use super::{check_all, check_items, check_user, config_of, scalar, vector};
use crate::collective::{owns, Collective};
use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};

/// How the biases are fitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasesMethod {
    /// Alternating least squares: exact damped means, items then users, each epoch.
    #[default]
    Als,
    /// Stochastic gradient descent over the ratings in user order.
    Sgd,
}

/// Settings of [`BiasesModel`]. Defaults are Surprise's `BaselineOnly`
/// (`surprise/prediction_algorithms/baseline_only.py` and
/// `optimize_baselines.pyx`): ALS, `reg_u = 15`, `reg_i = 10`, 10 epochs;
/// for SGD `learning_rate = 0.005`, `reg = 0.02`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BiasesConfig {
    /// `als` (default) or `sgd`.
    pub method: BiasesMethod,
    /// Passes over the data (Surprise: 10 for both methods).
    pub epochs: usize,
    /// ALS: damping of the user biases, `b_u = Σ(r − μ − b_i) / (reg_u + n_u)`.
    pub reg_u: f32,
    /// ALS: damping of the item biases, `b_i = Σ(r − μ − b_u) / (reg_i + n_i)`.
    pub reg_i: f32,
    /// SGD only: learning rate (default 0.005).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    /// SGD only: L2 strength on both biases (Surprise's `reg`, default 0.02).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<f32>,
}

impl Default for BiasesConfig {
    fn default() -> Self {
        BiasesConfig {
            method: BiasesMethod::Als,
            epochs: 10,
            reg_u: 15.0,
            reg_i: 10.0,
            lr: None,
            l2: None,
        }
    }
}

const SGD_LR: f32 = 0.005;
const SGD_L2: f32 = 0.02;

impl BiasesConfig {
    /// Checks every setting; `lr` and `l2` belong to SGD and are refused with ALS
    /// (ALS is damped by `reg_u` and `reg_i`), so no setting is silently ignored.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config("biases: epochs must be at least 1"));
        }
        for (name, v) in [("reg_u", self.reg_u), ("reg_i", self.reg_i)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(format!("biases: {name} = {v} must be ≥ 0")));
            }
        }
        match self.method {
            BiasesMethod::Als => {
                if self.lr.is_some() || self.l2.is_some() {
                    return Err(Error::config(
                        "biases: lr and l2 apply to method = \"sgd\"; ALS is regularised by \
                         reg_u and reg_i",
                    ));
                }
            }
            BiasesMethod::Sgd => {
                let lr = self.lr.unwrap_or(SGD_LR);
                let l2 = self.l2.unwrap_or(SGD_L2);
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(Error::config(format!("biases: lr = {lr} must be > 0")));
                }
                if !(l2.is_finite() && l2 >= 0.0) {
                    return Err(Error::config(format!("biases: l2 = {l2} must be ≥ 0")));
                }
            }
        }
        Ok(())
    }

    /// Fits the biases. Under a group of several ranks (`opts.control`'s
    /// collective) each rank fits the users it owns and every rank returns
    /// the same model: ALS sums the item step's residuals over the ranks
    /// (the single process's biases up to the order of `f64` sums); SGD
    /// merges the item biases every block of users as MF does (module
    /// `parallel`).
    pub fn fit(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(BiasesModel, FitReport)> {
        self.validate()?;
        let start = Instant::now();
        let comm = opts.control.collective();
        let comm = &*comm;
        let sent_before = comm.bytes_sent();
        let group = comm.size() > 1;
        let by_user = data.train_by_user;
        let mu = data.stats.mean;
        let mut notes = Vec::new();
        // Fitted in f64 (as Surprise's numpy arrays), stored as f32.
        let mut user_bias = vec![0f64; by_user.n_rows];
        let mut item_bias = vec![0f64; by_user.n_cols];
        match self.method {
            BiasesMethod::Als if group => {
                (user_bias, item_bias) =
                    als_over(by_user, mu, self.epochs, (self.reg_u, self.reg_i), comm)?;
                notes.push(format!(
                    "data-parallel over {} ranks: each rank sums its own users' residuals \
                     for the item step and fits its own users' biases",
                    comm.size()
                ));
            }
            BiasesMethod::Als => {
                (user_bias, item_bias) = als(by_user, mu, self.epochs, self.reg_u, self.reg_i);
            }
            BiasesMethod::Sgd => {
                let lr = self.lr.unwrap_or(SGD_LR);
                let l2 = self.l2.unwrap_or(SGD_L2);
                let spread = data.stats.spread();
                let mut sync = group.then(|| ItemSync::new(by_user.n_cols, 1));
                for epoch in 1..=self.epochs {
                    let (bu, bi) = (&mut user_bias, &mut item_bias);
                    match &mut sync {
                        None => sgd_epoch(by_user, mu, lr, l2, bu, bi),
                        Some(sync) => sgd_epoch_over(by_user, (mu, lr, l2), (bu, bi), comm, sync)?,
                    }
                    let rmse = train_rmse_over(by_user, mu, &user_bias, &item_bias, comm)?;
                    crate::model::diverge::check_epoch(epoch, rmse, spread, lr as f64)?;
                }
                if group {
                    gather_user_rows(comm, by_user.n_rows, &mut [(&mut user_bias[..], 1)])?;
                    notes.push(parallel::sgd_note(comm.size()));
                }
            }
        }
        if group {
            let sent = comm.bytes_sent() - sent_before;
            notes.push(parallel::bytes_note(comm, sent, self.epochs));
        }
        let model = BiasesModel {
            config: self.clone(),
            mu: mu as f32,
            user_bias: user_bias.iter().map(|&b| b as f32).collect(),
            item_bias: item_bias.iter().map(|&b| b as f32).collect(),
        };
        let report = FitReport {
            epochs: self.epochs,
            train_seconds: start.elapsed().as_secs_f64(),
            notes,
            ..FitReport::default()
        };
        Ok((model, report))
    }
}

/// One ALS half-step: for every row `r` of `m`,
/// `out[r] = Σ_c (x − μ − other[c]) / (reg + n_r)`.
/// Surprise's `BaselineOnly` ALS on a user-row matrix around the mean `mu`:
/// each epoch sets the item biases, then the user biases, to their damped
/// means. Returns (user biases, item biases); rows or columns without ratings
/// get 0.
pub fn als(by_user: &Csr, mu: f64, epochs: usize, reg_u: f32, reg_i: f32) -> (Vec<f64>, Vec<f64>) {
    let mut user_bias = vec![0f64; by_user.n_rows];
    let mut item_bias = vec![0f64; by_user.n_cols];
    let by_item = by_user.transpose();
    for _ in 0..epochs {
        damped_means(&by_item, mu, &user_bias, reg_i, &mut item_bias);
        damped_means(by_user, mu, &item_bias, reg_u, &mut user_bias);
    }
    (user_bias, item_bias)
}

/// [`als`] over a group: each rank holds the ratings of the users it owns.
/// The item step's residual sums (and, once, the item counts) are summed
/// over the ranks, `8 · n_items` bytes an epoch; the user step is the
/// owner's alone; the user biases are gathered at the end. The result is
/// [`als`]'s up to the order of the `f64` sums.
fn als_over(
    by_user: &Csr,
    mu: f64,
    epochs: usize,
    (reg_u, reg_i): (f32, f32),
    comm: &dyn Collective,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (rank, size) = (comm.rank(), comm.size());
    let mine: Vec<usize> = (0..by_user.n_rows)
        .filter(|&u| owns(u, rank, size))
        .collect();
    let mut user_bias = vec![0f64; by_user.n_rows];
    let mut item_bias = vec![0f64; by_user.n_cols];
    let mut n_item = vec![0f64; by_user.n_cols];
    for &u in &mine {
        for &i in by_user.row(u).0 {
            n_item[i as usize] += 1.0;
        }
    }
    comm.all_reduce_sum_f64(&mut n_item)?;
    let mut dev = vec![0f64; by_user.n_cols];
    for _ in 0..epochs {
        dev.fill(0.0);
        for &u in &mine {
            let (idx, val) = by_user.row(u);
            for (&i, &x) in idx.iter().zip(val) {
                dev[i as usize] += x as f64 - mu - user_bias[u];
            }
        }
        comm.all_reduce_sum_f64(&mut dev)?;
        for ((b, &d), &n) in item_bias.iter_mut().zip(&dev).zip(&n_item) {
            *b = d / (reg_i as f64 + n);
        }
        for &u in &mine {
            let (idx, val) = by_user.row(u);
            let d: f64 = (idx.iter().zip(val))
                .map(|(&i, &x)| x as f64 - mu - item_bias[i as usize])
                .sum();
            user_bias[u] = d / (reg_u as f64 + idx.len() as f64);
        }
    }
    gather_user_rows(comm, by_user.n_rows, &mut [(&mut user_bias[..], 1)])?;
    Ok((user_bias, item_bias))
}

fn damped_means(m: &Csr, mu: f64, other: &[f64], reg: f32, out: &mut [f64]) {
    for (r, o) in out.iter_mut().enumerate() {
        let (idx, val) = m.row(r);
        let dev: f64 = idx
            .iter()
            .zip(val)
            .map(|(&c, &x)| x as f64 - mu - other[c as usize])
            .sum();
        *o = dev / (reg as f64 + idx.len() as f64);
    }
}

/// Training RMSE of `μ + b_u + b_i` (one pass over the ratings).
fn train_rmse(m: &Csr, mu: f64, bu: &[f64], bi: &[f64]) -> f64 {
    let mut sq = 0.0;
    for (u, b_u) in bu.iter().enumerate() {
        let (idx, val) = m.row(u);
        for (&i, &r) in idx.iter().zip(val) {
            let e = r as f64 - mu - b_u - bi[i as usize];
            sq += e * e;
        }
    }
    (sq / m.nnz().max(1) as f64).sqrt()
}

/// [`train_rmse`] over a group: squared errors and counts of the users
/// each rank owns, summed (16 bytes). Alone it is [`train_rmse`].
fn train_rmse_over(m: &Csr, mu: f64, bu: &[f64], bi: &[f64], comm: &dyn Collective) -> Result<f64> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        return Ok(train_rmse(m, mu, bu, bi));
    }
    let mut sums = [0f64, 0.0];
    for u in (0..m.n_rows).filter(|&u| owns(u, rank, size)) {
        let (idx, val) = m.row(u);
        for (&i, &r) in idx.iter().zip(val) {
            let e = r as f64 - mu - bu[u] - bi[i as usize];
            sums[0] += e * e;
        }
        sums[1] += idx.len() as f64;
    }
    comm.all_reduce_sum_f64(&mut sums)?;
    Ok((sums[0] / sums[1].max(1.0)).sqrt())
}

/// [`sgd_epoch`] on the users this rank owns, the item biases merged over
/// the ranks after each block of users ([`ItemSync`]).
fn sgd_epoch_over(
    m: &Csr,
    (mu, lr, l2): (f64, f32, f32),
    (bu, bi): (&mut [f64], &mut [f64]),
    comm: &dyn Collective,
    sync: &mut ItemSync<f64>,
) -> Result<()> {
    for block in sgd_blocks(m.n_rows, comm.rank(), comm.size()) {
        for &u in &block {
            sync.touch(m.row(u).0, &[(&*bi, 1)]);
            sgd_user(m, u, (mu, lr, l2), &mut bu[u], bi);
        }
        sync.merge(comm, &mut [(&mut *bi, 1)])?;
    }
    Ok(())
}

/// One SGD epoch with Surprise's update rule, ratings in user order.
fn sgd_epoch(m: &Csr, mu: f64, lr: f32, l2: f32, bu: &mut [f64], bi: &mut [f64]) {
    for (u, b_u) in bu.iter_mut().enumerate() {
        sgd_user(m, u, (mu, lr, l2), b_u, bi);
    }
}

/// Surprise's SGD updates of user `u`'s ratings, in order.
fn sgd_user(m: &Csr, u: usize, (mu, lr, l2): (f64, f32, f32), b_u: &mut f64, bi: &mut [f64]) {
    let (lr, l2) = (lr as f64, l2 as f64);
    let (idx, val) = m.row(u);
    for (&i, &r) in idx.iter().zip(val) {
        let b_i = &mut bi[i as usize];
        let err = r as f64 - (mu + *b_u + *b_i);
        *b_u += lr * (err - l2 * *b_u);
        *b_i += lr * (err - l2 * *b_i);
    }
}

/// `r̂(u, i) = μ + b_u + b_i`.
///
/// Fold-in of a user never seen in training: `b_u` is the ALS user step on
/// the given row, `Σ(r − μ − b_i) / (reg_u + n)`, with the fitted `b_i`.
///
/// Model file tensors: `mu` `[1]`, `user_bias` `[users]`, `item_bias` `[items]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasesModel {
    config: BiasesConfig,
    mu: f32,
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
}

impl BiasesModel {
    /// The global mean.
    pub fn mu(&self) -> f32 {
        self.mu
    }

    /// Per-user biases.
    pub fn user_bias(&self) -> &[f32] {
        &self.user_bias
    }

    /// Per-item biases.
    pub fn item_bias(&self) -> &[f32] {
        &self.item_bias
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let config: BiasesConfig = config_of(parts)?;
        let n_users = parts
            .tensors
            .iter()
            .find(|(n, _)| n == "user_bias")
            .map(|(_, t)| t.data.len());
        let n_items = parts
            .tensors
            .iter()
            .find(|(n, _)| n == "item_bias")
            .map(|(_, t)| t.data.len());
        let (Some(nu), Some(ni)) = (n_users, n_items) else {
            return Err(Error::model_file(
                "biases: tensors user_bias and item_bias are required",
            ));
        };
        Ok(BiasesModel {
            config,
            mu: scalar(parts, "mu")?,
            user_bias: parts.tensor("user_bias", &[nu])?.data.clone(),
            item_bias: parts.tensor("item_bias", &[ni])?.data.clone(),
        })
    }

    /// The user bias for `user`, or folded in from `row` when `None`.
    fn user_term(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<f32> {
        check_user(user, self.user_bias.len())?;
        if let Some(u) = user {
            return Ok(self.user_bias[u as usize]);
        }
        let mut dev = 0f64;
        for (&i, &r) in row.indices.iter().zip(row.values) {
            let b_i = self.item_bias.get(i as usize).copied().unwrap_or(0.0);
            dev += (r - self.mu - b_i) as f64;
        }
        let reg = match self.config.method {
            BiasesMethod::Als => self.config.reg_u,
            BiasesMethod::Sgd => BiasesConfig::default().reg_u,
        };
        Ok((dev / (reg as f64 + row.len() as f64)) as f32)
    }
}

impl Recommender for BiasesModel {
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
        1 + self.user_bias.len() + self.item_bias.len()
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_items(items, out, self.item_bias.len())?;
        let base = self.mu + self.user_term(user, row)?;
        for (o, &i) in out.iter_mut().zip(items) {
            *o = base + self.item_bias[i as usize];
        }
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        check_all(out, self.item_bias.len())?;
        let base = self.mu + self.user_term(user, row)?;
        for (o, &b) in out.iter_mut().zip(&self.item_bias) {
            *o = base + b;
        }
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }

    fn to_parts(&self) -> ModelParts {
        ModelParts {
            kind: "biases".into(),
            config: serde_json::to_value(&self.config).unwrap_or_default(),
            tensors: vec![
                ("mu".into(), vector(vec![self.mu])),
                ("user_bias".into(), vector(self.user_bias.clone())),
                ("item_bias".into(), vector(self.item_bias.clone())),
            ],
        }
    }
}

/// The `biases` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "biases",
    summary: "regularised user and item biases around the global mean (Surprise's BaselineOnly)",
    parse: parse_serde::<BiasesConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(BiasesModel::from_parts(parts)?)),
};

impl ModelConfig for BiasesConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        BiasesConfig::validate(self)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = BiasesConfig::fit(self, data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.epochs = epochs;
        true
    }
}
