//! CDAE, the collaborative denoising autoencoder (Wu, DuBois, Zheng,
//! Ester, "Collaborative Denoising Auto-Encoders for Top-N Recommender
//! Systems", WSDM 2016).
//!
//! A user's clicks y are corrupted (each dropped with probability q, the
//! kept ones scaled by 1 / (1 − q)) and encoded together with a vector of
//! the user's own, V_u: h = σ(Σⱼ ỹⱼ Wⱼ + V_u + b). Each item's output is
//! σ(W'ᵢ · h + b'ᵢ), and the loss is the logistic loss of the user's
//! positives (target 1, weighted by their values) and of `negatives` items
//! per positive drawn uniformly from the others (target 0), the paper's
//! negative sampling; L2 λ on the touched rows as weight decay. AdaGrad,
//! one user at a time (the paper's optimiser): the work of a user is
//! (clicks + sampled items) × hidden, so an epoch costs about
//! `(2 + negatives) · nnz · hidden` multiply-adds a pass, never users ×
//! items.
//!
//! **Fold-in.** A user the fit never saw has no V_u. Their vector is fitted
//! with the network frozen: V starts at 0 and takes `fold_in_steps` steps of
//! gradient descent on the training loss's expectation over the negative
//! samples (each non-positive item weighted by `negatives · |P| / (items −
//! |P|)`, so no sampling: the same row always gets the same scores), plus
//! λ‖V‖². A training user keeps the V_u the fit learned.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{check_weights, finite_tensor, matrix, Dims, EpochLog, RankingModel, Validation};
use crate::error::{Error, Result};
use crate::model::memory::{self, Bytes};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor};

/// Settings of the `cdae` kind (defaults after the paper: 50 hidden units,
/// corruption 0.2, 5 negatives a positive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdaeConfig {
    /// Width of the hidden layer (and of each user's vector).
    pub hidden: usize,
    /// Probability that an input click is dropped in training.
    pub corruption: f64,
    /// Negative items sampled per positive.
    pub negatives: usize,
    /// Training epochs (at most: see `patience`).
    pub epochs: usize,
    /// AdaGrad's learning rate.
    pub lr: f64,
    /// L2 penalty λ on the weights and user vectors a step touches.
    pub l2: f64,
    /// With validation data: stop after this many epochs without a better
    /// validation NDCG@100, keeping the best epoch's weights.
    pub patience: usize,
    /// Gradient steps on a new user's vector at fold-in.
    pub fold_in_steps: usize,
    /// Step size of those steps.
    pub fold_in_lr: f64,
}

impl Default for CdaeConfig {
    fn default() -> Self {
        CdaeConfig {
            hidden: 50,
            corruption: 0.2,
            negatives: 5,
            epochs: 100,
            lr: 0.05,
            l2: 1e-4,
            patience: 10,
            fold_in_steps: 30,
            fold_in_lr: 0.5,
        }
    }
}

/// Layer sizes and the fold-in recipe, kept in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Shape {
    items: usize,
    users: usize,
    hidden: usize,
    negatives: usize,
    l2: f64,
    fold_in_steps: usize,
    fold_in_lr: f64,
}

/// The weights, row-major: `w_in` `[items, hidden]`, `b_in` `[hidden]`,
/// `user` `[users, hidden]`, `w_out` `[items, hidden]`, `b_out` `[items]`.
#[derive(Debug, Clone, PartialEq)]
struct Weights {
    w_in: Vec<f32>,
    b_in: Vec<f32>,
    user: Vec<f32>,
    w_out: Vec<f32>,
    b_out: Vec<f32>,
}

/// One user's gradient: dense over the hidden layer, by row for the items
/// the step touched (the input rows in `input` order, the output rows in
/// `outputs` order).
#[derive(Debug, Clone, PartialEq)]
struct UserGradient {
    w_in: Vec<f32>,
    b_in: Vec<f32>,
    user: Vec<f32>,
    w_out: Vec<f32>,
    b_out: Vec<f32>,
}

/// An output term of the loss: item, target (1 or 0) and weight.
type Output = (u32, f32, f32);

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln(1 + eˣ)` without overflow.
fn softplus(x: f32) -> f64 {
    let x = x as f64;
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A fitted CDAE.
#[derive(Debug, Clone, PartialEq)]
pub struct CdaeModel {
    weights: Weights,
    shape: Shape,
    dims: Dims,
}

impl CdaeModel {
    fn w_in_row(&self, j: u32) -> &[f32] {
        let h = self.shape.hidden;
        &self.weights.w_in[j as usize * h..(j as usize + 1) * h]
    }

    fn w_out_row(&self, i: u32) -> &[f32] {
        let h = self.shape.hidden;
        &self.weights.w_out[i as usize * h..(i as usize + 1) * h]
    }

    /// The hidden layer of (input, user vector).
    fn hidden(&self, input: &[(u32, f32)], v: &[f32]) -> Vec<f32> {
        let mut a: Vec<f32> = self
            .weights
            .b_in
            .iter()
            .zip(v)
            .map(|(b, v)| b + v)
            .collect();
        for &(j, x) in input {
            for (o, &w) in a.iter_mut().zip(self.w_in_row(j)) {
                *o += x * w;
            }
        }
        a.iter_mut().for_each(|o| *o = sigmoid(*o));
        a
    }

    /// The loss of one user's step, Σ weight · logistic loss over `outputs`
    /// (no L2: that is applied as weight decay), and its gradient.
    fn user_loss_and_gradient(
        &self,
        input: &[(u32, f32)],
        v: &[f32],
        outputs: &[Output],
    ) -> (f64, UserGradient) {
        let h = self.shape.hidden;
        let hid = self.hidden(input, v);
        let mut loss = 0f64;
        let mut dh = vec![0f32; h];
        let mut w_out = vec![0f32; outputs.len() * h];
        let mut b_out = vec![0f32; outputs.len()];
        for (k, &(i, t, weight)) in outputs.iter().enumerate() {
            let row = self.w_out_row(i);
            let z = dot(row, &hid) + self.weights.b_out[i as usize];
            // −[t log σ(z) + (1 − t) log(1 − σ(z))] = softplus(z) − t z.
            loss += weight as f64 * (softplus(z) - t as f64 * z as f64);
            let dz = weight * (sigmoid(z) - t);
            b_out[k] = dz;
            for ((g, &hv), (d, &w)) in w_out[k * h..(k + 1) * h]
                .iter_mut()
                .zip(&hid)
                .zip(dh.iter_mut().zip(row))
            {
                *g = dz * hv;
                *d += dz * w;
            }
        }
        let da: Vec<f32> = dh
            .iter()
            .zip(&hid)
            .map(|(d, s)| d * s * (1.0 - s))
            .collect();
        let mut w_in = vec![0f32; input.len() * h];
        for (k, &(_, x)) in input.iter().enumerate() {
            for (g, &d) in w_in[k * h..(k + 1) * h].iter_mut().zip(&da) {
                *g = x * d;
            }
        }
        (
            loss,
            UserGradient {
                w_in,
                b_in: da.clone(),
                user: da,
                w_out,
                b_out,
            },
        )
    }

    /// A new user's vector: gradient steps from 0 on the expected training
    /// loss of their row (see the module docs), the network frozen.
    fn fold_in(&self, row: SparseRow<'_>) -> Vec<f32> {
        let (s, h, n) = (self.shape, self.shape.hidden, self.shape.items);
        let input: Vec<(u32, f32)> = row
            .indices
            .iter()
            .copied()
            .zip(row.values.iter().copied())
            .collect();
        let mut v = vec![0f32; h];
        let positives = row.indices.len();
        if positives == 0 || positives >= n {
            return v;
        }
        let negative_weight = (s.negatives * positives) as f32 / (n - positives) as f32;
        let mut target = vec![0f32; n];
        let mut weight = vec![negative_weight; n];
        for (&i, &x) in row.indices.iter().zip(row.values) {
            target[i as usize] = 1.0;
            weight[i as usize] = x;
        }
        let lr = s.fold_in_lr as f32;
        for _ in 0..s.fold_in_steps {
            let hid = self.hidden(&input, &v);
            let mut dh = vec![0f32; h];
            for i in 0..n {
                let w = self.w_out_row(i as u32);
                let z = dot(w, &hid) + self.weights.b_out[i];
                let dz = weight[i] * (sigmoid(z) - target[i]);
                for (d, &wk) in dh.iter_mut().zip(w) {
                    *d += dz * wk;
                }
            }
            for ((vk, d), sk) in v.iter_mut().zip(&dh).zip(&hid) {
                let g = d * sk * (1.0 - sk) + 2.0 * s.l2 as f32 * *vk;
                *vk -= lr * g / positives as f32;
            }
        }
        v
    }

    /// The output logits of every item (σ is monotone: they rank as the
    /// probabilities).
    fn logits(&self, user: Option<u32>, row: SparseRow<'_>) -> Vec<f32> {
        let h = self.shape.hidden;
        let v = match user.filter(|&u| (u as usize) < self.shape.users) {
            Some(u) => self.weights.user[u as usize * h..(u as usize + 1) * h].to_vec(),
            None => self.fold_in(row),
        };
        let input: Vec<(u32, f32)> = row
            .indices
            .iter()
            .copied()
            .zip(row.values.iter().copied())
            .collect();
        let hid = self.hidden(&input, &v);
        (0..self.shape.items)
            .map(|i| dot(self.w_out_row(i as u32), &hid) + self.weights.b_out[i])
            .collect()
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = Dims::of(parts)?;
        let shape: Shape = parts
            .config
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| Error::model_file("cdae: missing \"shape\""))?;
        if shape.items != dims.items || shape.users != dims.users || shape.hidden == 0 {
            return Err(Error::model_file(
                "cdae: the shape does not match the catalogue",
            ));
        }
        let (n, u, h) = (shape.items, shape.users, shape.hidden);
        let t = |name: &str, s: &[usize]| finite_tensor(parts, name, s);
        Ok(CdaeModel {
            weights: Weights {
                w_in: t("w_in", &[n, h])?,
                b_in: t("b_in", &[h])?,
                user: t("user", &[u, h])?,
                w_out: t("w_out", &[n, h])?,
                b_out: t("b_out", &[n])?,
            },
            shape,
            dims,
        })
    }
}

/// AdaGrad on a row of parameters with L2 weight decay.
fn adagrad(param: &mut [f32], acc: &mut [f32], grad: &[f32], lr: f32, l2: f32) {
    for ((p, a), &g) in param.iter_mut().zip(acc.iter_mut()).zip(grad) {
        let g = g + l2 * *p;
        *a += g * g;
        *p -= lr * g / (a.sqrt() + 1e-8);
    }
}

impl CdaeConfig {
    fn fit_model(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(CdaeModel, FitReport)> {
        let start = Instant::now();
        let train = data.train_by_user;
        check_weights(train, KIND.name)?;
        let (n, users, h) = (train.n_cols, train.n_rows, self.hidden);
        memory::check(
            KIND.name,
            Bytes::of(n)
                .times(2)
                .plus(Bytes::of(users))
                .times(h)
                .times(3)
                .times(std::mem::size_of::<f32>()),
            &format!(
                "{n} items × 2 and {users} users × hidden {h}, with AdaGrad and the best epoch"
            ),
            "hidden",
        )?;
        let mut rng = SmallRng::seed_from_u64(opts.seed);
        let a = (6.0 / (n + h) as f64).sqrt() as f32;
        let mut uniform = |len: usize, a: f32| -> Vec<f32> {
            (0..len).map(|_| rng.random_range(-a..a)).collect()
        };
        let mut model = CdaeModel {
            weights: Weights {
                w_in: uniform(n * h, a),
                b_in: vec![0.0; h],
                user: vec![0.0; users * h],
                w_out: uniform(n * h, a),
                b_out: vec![0.0; n],
            },
            shape: Shape {
                items: n,
                users,
                hidden: h,
                negatives: self.negatives,
                l2: self.l2,
                fold_in_steps: self.fold_in_steps,
                fold_in_lr: self.fold_in_lr,
            },
            dims: Dims { users, items: n },
        };
        let mut acc = Weights {
            w_in: vec![0.0; n * h],
            b_in: vec![0.0; h],
            user: vec![0.0; users * h],
            w_out: vec![0.0; n * h],
            b_out: vec![0.0; n],
        };
        let validation = data.valid.map(|v| Validation::new(train, v, &mut rng));
        let mut order: Vec<usize> = (0..users).filter(|&u| train.row_len(u) > 0).collect();
        let (lr, l2) = (self.lr as f32, self.l2 as f32);
        let keep = 1.0 - self.corruption as f32;
        let mut log = EpochLog::new(self.epochs, self.patience);
        let mut is_positive = vec![false; n];
        for epoch in 1..=self.epochs {
            if opts.control.stop_requested() {
                log.stopped(epoch - 1);
                break;
            }
            let epoch_start = Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = 0f64;
            let mut terms = 0usize;
            for &u in &order {
                let row = SparseRow::of(train, u);
                let input: Vec<(u32, f32)> = row
                    .indices
                    .iter()
                    .zip(row.values)
                    .filter(|_| rng.random::<f32>() < keep)
                    .map(|(&j, &x)| (j, x / keep))
                    .collect();
                let mut outputs: Vec<Output> = row
                    .indices
                    .iter()
                    .zip(row.values)
                    .map(|(&i, &x)| (i, 1.0, x))
                    .collect();
                row.indices
                    .iter()
                    .for_each(|&i| is_positive[i as usize] = true);
                if row.indices.len() < n {
                    for _ in 0..self.negatives * row.indices.len() {
                        let i = loop {
                            let i = rng.random_range(0..n as u32);
                            if !is_positive[i as usize] {
                                break i;
                            }
                        };
                        outputs.push((i, 0.0, 1.0));
                    }
                }
                row.indices
                    .iter()
                    .for_each(|&i| is_positive[i as usize] = false);
                let v = &model.weights.user[u * h..(u + 1) * h];
                let (loss, g) = model.user_loss_and_gradient(&input, v, &outputs);
                if !loss.is_finite() {
                    return Err(Error::new(crate::error::ErrorKind::Diverged(format!(
                        "cdae: the loss became {loss} in epoch {epoch}; lower lr"
                    ))));
                }
                loss_sum += loss;
                terms += outputs.len();
                let w = &mut model.weights;
                for (k, &(j, _)) in input.iter().enumerate() {
                    let r = j as usize * h..(j as usize + 1) * h;
                    adagrad(
                        &mut w.w_in[r.clone()],
                        &mut acc.w_in[r],
                        &g.w_in[k * h..(k + 1) * h],
                        lr,
                        l2,
                    );
                }
                for (k, &(i, _, _)) in outputs.iter().enumerate() {
                    let r = i as usize * h..(i as usize + 1) * h;
                    adagrad(
                        &mut w.w_out[r.clone()],
                        &mut acc.w_out[r],
                        &g.w_out[k * h..(k + 1) * h],
                        lr,
                        l2,
                    );
                    let i = i as usize;
                    adagrad(
                        &mut w.b_out[i..i + 1],
                        &mut acc.b_out[i..i + 1],
                        &g.b_out[k..k + 1],
                        lr,
                        0.0,
                    );
                }
                adagrad(&mut w.b_in, &mut acc.b_in, &g.b_in, lr, 0.0);
                let r = u * h..(u + 1) * h;
                adagrad(&mut w.user[r.clone()], &mut acc.user[r], &g.user, lr, l2);
            }
            let loss = loss_sum / terms.max(1) as f64;
            let seconds = epoch_start.elapsed().as_secs_f64();
            let valid_ndcg = validation
                .as_ref()
                .map(|v| v.ndcg(|user, row| model.logits(user, row)));
            let control = &opts.control;
            if log.epoch_done(
                control,
                epoch,
                loss,
                self.lr,
                seconds,
                valid_ndcg,
                &model.weights,
            ) {
                break;
            }
        }
        let loss = "logistic, per output term";
        let report = log.finish(&mut model.weights, loss, start);
        Ok((model, report))
    }
}

impl RankingModel for CdaeModel {
    fn kind_name(&self) -> &'static str {
        KIND.name
    }

    fn dims(&self) -> Dims {
        self.dims
    }

    fn parameter_count(&self) -> usize {
        let w = &self.weights;
        w.w_in.len() + w.b_in.len() + w.user.len() + w.w_out.len() + w.b_out.len()
    }

    /// A training user with their learned vector; anyone else folded in.
    fn score_row(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) {
        out.copy_from_slice(&self.logits(user, row));
    }

    /// The output weights of each item (rows of W').
    fn vectors(&self) -> Option<(usize, Vec<f32>)> {
        Some((self.shape.hidden, self.weights.w_out.clone()))
    }

    fn parts(&self) -> ModelParts {
        let (n, u, h) = (self.shape.items, self.shape.users, self.shape.hidden);
        let w = &self.weights;
        let vector = |v: &Vec<f32>| Tensor {
            shape: vec![v.len()],
            data: v.clone(),
        };
        ModelParts {
            kind: KIND.name.into(),
            config: serde_json::json!({ "dims": self.dims, "shape": self.shape }),
            tensors: vec![
                ("w_in".into(), matrix(n, h, w.w_in.clone())),
                ("b_in".into(), vector(&w.b_in)),
                ("user".into(), matrix(u, h, w.user.clone())),
                ("w_out".into(), matrix(n, h, w.w_out.clone())),
                ("b_out".into(), vector(&w.b_out)),
            ],
        }
    }
}

impl ModelConfig for CdaeConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(format!("cdae: {m}")));
        if self.hidden == 0 || self.epochs == 0 {
            return bad("hidden and epochs must be at least 1".into());
        }
        if !(self.corruption.is_finite() && (0.0..1.0).contains(&self.corruption)) {
            return bad(format!(
                "corruption must lie in [0, 1), not {}",
                self.corruption
            ));
        }
        for (name, v) in [("lr", self.lr), ("fold_in_lr", self.fold_in_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be above 0, not {v}"));
            }
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad(format!("l2 must be 0 or more, not {}", self.l2));
        }
        Ok(())
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = self.fit_model(data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.epochs = epochs;
        true
    }

    fn ranks_only(&self) -> bool {
        true
    }
}

/// The `cdae` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "cdae",
    summary:
        "implicit feedback: CDAE, denoising autoencoder with a user node and negative sampling",
    parse: parse_serde::<CdaeConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(CdaeModel::from_parts(parts)?)),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> CdaeModel {
        let (n, u, h) = (6, 2, 4);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut r =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-0.8..0.8)).collect() };
        CdaeModel {
            weights: Weights {
                w_in: r(n * h),
                b_in: r(h),
                user: r(u * h),
                w_out: r(n * h),
                b_out: r(n),
            },
            shape: Shape {
                items: n,
                users: u,
                hidden: h,
                negatives: 2,
                l2: 0.01,
                fold_in_steps: 40,
                fold_in_lr: 0.5,
            },
            dims: Dims { users: u, items: n },
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let model = small(5);
        let input = [(0u32, 1.25f32), (3, 2.5)];
        let outputs: [Output; 4] = [(0, 1.0, 1.0), (3, 1.0, 2.0), (1, 0.0, 1.0), (5, 0.0, 1.0)];
        let v = model.weights.user[4..8].to_vec();
        let (_, g) = model.user_loss_and_gradient(&input, &v, &outputs);
        let eps = 1e-2f32;
        let loss_at = |m: &CdaeModel, v: &[f32]| m.user_loss_and_gradient(&input, v, &outputs).0;
        let mut worst = 0f64;
        let mut check = |numeric: f64, analytic: f32, what: String| {
            let err = (numeric - analytic as f64).abs();
            worst = worst.max(err);
            assert!(
                err < 1e-3 + 1e-2 * numeric.abs(),
                "{what}: analytic {analytic} numeric {numeric}"
            );
        };
        // Each parameter the step touches, by central differences.
        for k in 0..4 {
            let (mut p, mut m) = (v.clone(), v.clone());
            p[k] += eps;
            m[k] -= eps;
            check(
                (loss_at(&model, &p) - loss_at(&model, &m)) / (2.0 * eps as f64),
                g.user[k],
                format!("user[{k}]"),
            );
        }
        type Pick = fn(&mut Weights) -> &mut Vec<f32>;
        let tensors: [(&str, Pick); 4] = [
            ("w_in", |w| &mut w.w_in),
            ("b_in", |w| &mut w.b_in),
            ("w_out", |w| &mut w.w_out),
            ("b_out", |w| &mut w.b_out),
        ];
        for (name, pick) in tensors {
            let len = pick(&mut model.weights.clone()).len();
            for idx in 0..len {
                let mut plus = model.clone();
                pick(&mut plus.weights)[idx] += eps;
                let mut minus = model.clone();
                pick(&mut minus.weights)[idx] -= eps;
                let numeric = (loss_at(&plus, &v) - loss_at(&minus, &v)) / (2.0 * eps as f64);
                // Where the analytic gradient keeps this entry (touched rows only).
                let analytic = match name {
                    "b_in" => g.b_in[idx],
                    "b_out" => outputs
                        .iter()
                        .position(|o| o.0 as usize == idx)
                        .map_or(0.0, |k| g.b_out[k]),
                    "w_in" => input
                        .iter()
                        .position(|x| x.0 as usize == idx / 4)
                        .map_or(0.0, |k| g.w_in[k * 4 + idx % 4]),
                    _ => outputs
                        .iter()
                        .position(|o| o.0 as usize == idx / 4)
                        .map_or(0.0, |k| g.w_out[k * 4 + idx % 4]),
                };
                check(numeric, analytic, format!("{name}[{idx}]"));
            }
        }
        assert!(worst > 0.0);
    }

    #[test]
    fn the_loss_is_the_weighted_logistic_loss_by_hand() {
        let model = small(2);
        let v = vec![0.1f32, -0.2, 0.3, 0.0];
        let input = [(2u32, 1.0f32)];
        let outputs: [Output; 2] = [(2, 1.0, 3.0), (4, 0.0, 1.0)];
        let (got, _) = model.user_loss_and_gradient(&input, &v, &outputs);
        let hid: Vec<f64> = (0..4)
            .map(|k| {
                let a = model.weights.b_in[k] + v[k] + model.weights.w_in[2 * 4 + k];
                1.0 / (1.0 + (-(a as f64)).exp())
            })
            .collect();
        let z = |i: usize| -> f64 {
            (0..4)
                .map(|k| model.weights.w_out[i * 4 + k] as f64 * hid[k])
                .sum::<f64>()
                + model.weights.b_out[i] as f64
        };
        let p = |i: usize| 1.0 / (1.0 + (-z(i)).exp());
        let want = -3.0 * p(2).ln() - (1.0 - p(4)).ln();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn fold_in_fits_a_user_vector_that_lowers_the_expected_loss() {
        let model = small(7);
        let (indices, values) = ([1u32, 4], [1.0f32, 1.0]);
        let row = SparseRow {
            indices: &indices,
            values: &values,
        };
        // The objective fold-in descends: the expected loss over every item
        // (non-positives weighted 2 · 2 / 4 = 1) plus λ‖v‖².
        let outputs: Vec<Output> = (0..6u32)
            .map(|i| {
                if indices.contains(&i) {
                    (i, 1.0, 1.0)
                } else {
                    (i, 0.0, 1.0)
                }
            })
            .collect();
        let input: Vec<(u32, f32)> = vec![(1, 1.0), (4, 1.0)];
        let objective = |v: &[f32]| {
            model.user_loss_and_gradient(&input, v, &outputs).0
                + 0.01 * v.iter().map(|x| (x * x) as f64).sum::<f64>()
        };
        let v = model.fold_in(row);
        let zero = vec![0f32; 4];
        assert!(
            objective(&v) < objective(&zero) - 1e-3,
            "{} vs {}",
            objective(&v),
            objective(&zero)
        );
        // Stationary to within the steps taken: a small gradient.
        let (_, g) = model.user_loss_and_gradient(&input, &v, &outputs);
        let norm: f32 = g
            .user
            .iter()
            .zip(&v)
            .map(|(d, x)| (d + 0.02 * x).powi(2))
            .sum::<f32>()
            .sqrt();
        let (_, g0) = model.user_loss_and_gradient(&input, &zero, &outputs);
        let norm0: f32 = g0.user.iter().map(|d| d * d).sum::<f32>().sqrt();
        assert!(norm < 0.5 * norm0, "{norm} vs {norm0}");
        // The same row folds in to the same scores (no sampling); a known
        // user keeps their own vector.
        assert_eq!(model.logits(None, row), model.logits(None, row));
        assert_ne!(model.logits(Some(0), row), model.logits(None, row));
    }
}
