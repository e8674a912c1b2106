//! Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman, Jebara, "Variational
//! Autoencoders for Collaborative Filtering", WWW 2018).
//!
//! A user's clicks x are L2-normalised, dropped out (training only) and
//! encoded: h = tanh(x̃ W₁ + b₁). Mult-VAE maps h to a Gaussian (μ, log σ²)
//! and samples z = μ + ε σ in training (z = μ to score); Mult-DAE takes
//! z = tanh(h W₂ + b₂). The decoder gives one logit per item,
//! tanh(z W₄ + b₄) W₅ + b₅, and the loss is the multinomial
//! log-likelihood of the clicks under the softmax of the logits,
//! −Σᵢ xᵢ log softmax(logits)ᵢ, plus, for the VAE, β times the KL
//! divergence from N(0, I), with β annealed linearly over the paper's
//! 200 000 updates and capped at 0.2. Adam, batches of 500 users.
//!
//! Cost: the first layer is sparse, as in the rest of the engine: x̃ W₁
//! gathers the rows of W₁ the user's items select, and its gradient
//! touches only those rows. The output cannot be: the softmax normalises
//! over every item, so the last layer is a dense `batch × hidden × items`
//! product (faer GEMM) forward and two backward, the model's dominant cost
//! (about `6 · batch · hidden · items` flops a batch), the same as in the
//! paper's own code. Scoring a user folds their clicks in exactly: the
//! scores are a function of the row alone.

use std::time::Instant;

use faer::{Accum, MatMut, MatRef};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_weights, finite_tensor, matrix, Dims, EpochLog, RankingModel, Validation};
use crate::error::{Error, ErrorKind, Result};
use crate::model::memory::{self, Bytes};
use crate::model::registry::{no_presets, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor};

/// Calls an `#[inline(always)]` function through an AVX2 + FMA build of it
/// where the CPU has them: the release build targets every x86-64, and the
/// softmax and Adam loops over `batch × items` and `items × hidden` values
/// run at twice the width (the same rounding: Rust contracts no `a·b + c`).
macro_rules! with_avx2 {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if crate::model::autoencoder::real::has_avx2() {
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn call_with_avx2<R>(f: impl FnOnce() -> R) -> R {
                    f()
                }
                // SAFETY: the CPU has AVX2 and FMA, checked just above.
                unsafe { call_with_avx2(|| $f($($arg),*)) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}

/// Settings of Mult-VAE and Mult-DAE (the paper's defaults; a kind's
/// settings start from its defaults, the keys given override them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultSettings {
    /// Width of the hidden layers (encoder and decoder).
    pub hidden: usize,
    /// Width of the latent code.
    pub latent: usize,
    /// Input dropout rate in training.
    pub dropout: f64,
    /// Training epochs (at most: see `patience`).
    pub epochs: usize,
    /// Users per update.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Cap of the KL weight β (Mult-VAE only).
    pub beta_cap: f64,
    /// Updates over which β grows linearly from 0 to 1 before the cap.
    pub anneal_steps: usize,
    /// L2 penalty λ · Σ w² on the weights (not the biases).
    pub l2: f64,
    /// With validation data: stop after this many epochs without a better
    /// validation NDCG@100, keeping the best epoch's weights.
    pub patience: usize,
}

impl MultSettings {
    fn vae() -> Self {
        MultSettings {
            hidden: 600,
            latent: 200,
            dropout: 0.5,
            epochs: 200,
            batch_size: 500,
            lr: 1e-3,
            beta_cap: 0.2,
            anneal_steps: 200_000,
            l2: 0.0,
            patience: 20,
        }
    }

    fn dae() -> Self {
        // The paper's code: λ = 0.01 / batch size on the weights.
        MultSettings {
            l2: 0.01 / 500.0,
            ..MultSettings::vae()
        }
    }

    fn defaults(variational: bool) -> Self {
        if variational {
            MultSettings::vae()
        } else {
            MultSettings::dae()
        }
    }

    fn validate(&self, kind: &str) -> Result<()> {
        let bad = |m: String| Err(Error::config(format!("{kind}: {m}")));
        if self.hidden == 0 || self.latent == 0 || self.batch_size == 0 || self.epochs == 0 {
            return bad("hidden, latent, batch_size and epochs must be at least 1".into());
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return bad(format!("dropout must lie in [0, 1), not {}", self.dropout));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be above 0, not {}", self.lr));
        }
        if !(self.beta_cap.is_finite() && self.beta_cap >= 0.0) {
            return bad(format!("beta_cap must be 0 or more, not {}", self.beta_cap));
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad(format!("l2 must be 0 or more, not {}", self.l2));
        }
        Ok(())
    }
}

/// Settings of a multinomial kind: `MultConfig<true>` is `mult-vae`,
/// `MultConfig<false>` is `mult-dae`; the two differ in their defaults
/// (the DAE's L2 penalty) and in the code layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MultConfig<const VARIATIONAL: bool>(pub MultSettings);

/// Settings of the `mult-vae` kind.
pub type MultVaeConfig = MultConfig<true>;

/// Settings of the `mult-dae` kind.
pub type MultDaeConfig = MultConfig<false>;

impl<const VARIATIONAL: bool> Default for MultConfig<VARIATIONAL> {
    fn default() -> Self {
        MultConfig(MultSettings::defaults(VARIATIONAL))
    }
}

/// The registry entry of the variational or the denoising kind.
fn kind_of(variational: bool) -> &'static ModelKind {
    if variational {
        &VAE
    } else {
        &DAE
    }
}

/// The weights. Row-major, `[inputs, outputs]`, so a layer is `x W + b`.
#[derive(Debug, Clone, PartialEq)]
struct Weights {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    w4: Vec<f32>,
    b4: Vec<f32>,
    w5: Vec<f32>,
    b5: Vec<f32>,
}

impl Weights {
    fn tensors_mut(&mut self) -> [&mut Vec<f32>; 8] {
        [
            &mut self.w1,
            &mut self.b1,
            &mut self.w2,
            &mut self.b2,
            &mut self.w4,
            &mut self.b4,
            &mut self.w5,
            &mut self.b5,
        ]
    }

    fn zeros_like(&self) -> Weights {
        let z = |v: &Vec<f32>| vec![0f32; v.len()];
        Weights {
            w1: z(&self.w1),
            b1: z(&self.b1),
            w2: z(&self.w2),
            b2: z(&self.b2),
            w4: z(&self.w4),
            b4: z(&self.b4),
            w5: z(&self.w5),
            b5: z(&self.b5),
        }
    }

    fn n_params(&self) -> usize {
        self.w1.len()
            + self.b1.len()
            + self.w2.len()
            + self.b2.len()
            + self.w4.len()
            + self.b4.len()
            + self.w5.len()
            + self.b5.len()
    }
}

/// Layer sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Shape {
    items: usize,
    hidden: usize,
    latent: usize,
    variational: bool,
}

impl Shape {
    /// Width of the encoder's output: μ and log σ² side by side for the VAE.
    fn code_out(&self) -> usize {
        if self.variational {
            2 * self.latent
        } else {
            self.latent
        }
    }

    /// Xavier-uniform weights, biases N(0, 0.001²), as the paper's code.
    fn init(&self, rng: &mut SmallRng) -> Weights {
        let (n, h, z, c) = (self.items, self.hidden, self.latent, self.code_out());
        let mut xavier = |fan_in: usize, fan_out: usize| -> Vec<f32> {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            (0..fan_in * fan_out)
                .map(|_| rng.random_range(-a..a))
                .collect()
        };
        let (w1, w2, w4, w5) = (xavier(n, h), xavier(h, c), xavier(z, h), xavier(h, n));
        let mut bias = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    let x: f64 = StandardNormal.sample(rng);
                    0.001 * x as f32
                })
                .collect::<Vec<f32>>()
        };
        Weights {
            w1,
            b1: bias(h),
            w2,
            b2: bias(c),
            w4,
            b4: bias(h),
            w5,
            b5: bias(n),
        }
    }

    fn training_bytes(&self, batch: usize) -> Bytes {
        let (n, h, c) = (self.items, self.hidden, self.code_out());
        // Weights, gradients, two Adam moments, the best epoch's copy.
        let params = Bytes::of(n).times(h).times(2).plus(Bytes::of(h).times(c));
        let per_row = Bytes::of(n).times(2).plus(Bytes::of(h).times(4));
        params
            .times(5)
            .plus(per_row.times(batch))
            .times(std::mem::size_of::<f32>())
    }
}

/// One batch's activations, kept for the backward pass.
struct Forward {
    rows: usize,
    /// Each row's input entries (item, normalised and dropped-out value).
    input: Vec<Vec<(u32, f32)>>,
    h1: Vec<f32>,
    code: Vec<f32>,
    eps: Vec<f32>,
    z: Vec<f32>,
    g: Vec<f32>,
    /// Logits, then (after the loss) softmax probabilities.
    out: Vec<f32>,
}

fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(data, rows, cols)
}

fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}

fn gemm(dst: MatMut<'_, f32>, accum: Accum, a: MatRef<'_, f32>, b: MatRef<'_, f32>) {
    faer::linalg::matmul::matmul(dst, accum, a, b, 1.0f32, faer::get_global_parallelism());
}

/// `rows × width` copies of `bias`.
fn broadcast(bias: &[f32], rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * bias.len());
    for _ in 0..rows {
        out.extend_from_slice(bias);
    }
    out
}

/// Column sums of a row-major `rows × cols` matrix, added into `acc`.
fn add_column_sums(m: &[f32], cols: usize, acc: &mut [f32]) {
    for row in m.chunks_exact(cols) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// A row's clicks L2-normalised (the paper's input), as (item, value).
fn normalised(row: SparseRow<'_>) -> Vec<(u32, f32)> {
    let norm = row.values.iter().map(|v| v * v).sum::<f32>().sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    row.indices
        .iter()
        .zip(row.values)
        .map(|(&i, &v)| (i, v * scale))
        .collect()
}

/// `eˣ` for `x ≤ 0` in f32, branch-free so that a loop over a row
/// vectorises: `eˣ = 2ⁿ · eʳ` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`,
/// `eʳ` by its Taylor polynomial to degree 7 (truncation below 2⁻³⁰), ln 2
/// split in two so that `r` is exact to f32. Relative error within a few
/// f32 ulps (tested against f64); below −87 it gives e⁻⁸⁷ (the softmax's
/// terms there are under 2⁻¹²⁵ of the largest, nothing beside them).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // A comparison rather than `max`, so that NaN goes through (a NaN
    // logit must still make the loss NaN and stop the fit).
    let x = if x < -87.0 { -87.0 } else { x };
    // Round to nearest by the 1.5 · 2²³ shift, which vectorises (`round`
    // rounds halves away from zero, a library call).
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * LOG2E + SHIFT) - SHIFT;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2ⁿ from the exponent bits (n ≥ −126 here, a normal number).
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * two_n
}

/// Replaces each `v` of `row` by `e^(v − max)` and returns their sum (in
/// f64, from eight f32 lanes per block of 1024, so that a row of 10⁶ items
/// loses no precision to the running sum).
#[inline(always)]
fn exp_shifted_sum(row: &mut [f32], max: f32) -> f64 {
    let mut total = 0f64;
    for block in row.chunks_mut(1024) {
        let mut lanes = [0f32; 8];
        let mut chunks = block.chunks_exact_mut(8);
        for c in &mut chunks {
            for (lane, v) in lanes.iter_mut().zip(c.iter_mut()) {
                *v = exp_nonpositive(*v - max);
                *lane += *v;
            }
        }
        for v in chunks.into_remainder() {
            *v = exp_nonpositive(*v - max);
            total += *v as f64;
        }
        total += lanes.iter().map(|&l| l as f64).sum::<f64>();
    }
    total
}

#[inline(always)]
fn scale_in_place(row: &mut [f32], scale: f32) {
    row.iter_mut().for_each(|v| *v *= scale);
}

/// A fitted Mult-VAE or Mult-DAE.
///
/// Model file tensors: `w1` `[items, hidden]`, `b1` `[hidden]`, `w2`
/// `[hidden, code]` (code = 2 · latent for the VAE: μ then log σ²), `b2`
/// `[code]`, `w4` `[latent, hidden]`, `b4` `[hidden]`, `w5` `[hidden,
/// items]`, `b5` `[items]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultModel {
    weights: Weights,
    shape: Shape,
    dims: Dims,
}

impl MultModel {
    /// The forward pass of `rows` (already normalised and dropped out) up
    /// to the logits; `eps` is the VAE's noise (`None`: z = μ).
    fn forward(&self, input: Vec<Vec<(u32, f32)>>, eps: Option<Vec<f32>>) -> Forward {
        self.forward_reusing(input, eps, Vec::new())
    }

    /// [`Self::forward`] writing the logits into `out`'s allocation: in
    /// training the `batch × items` block is the largest buffer of a batch,
    /// and allocating it afresh costs a page fault every 4 KiB.
    fn forward_reusing(
        &self,
        input: Vec<Vec<(u32, f32)>>,
        eps: Option<Vec<f32>>,
        mut out: Vec<f32>,
    ) -> Forward {
        let s = self.shape;
        let w = &self.weights;
        let (h, c, zd, n) = (s.hidden, s.code_out(), s.latent, s.items);
        let rows = input.len();
        let mut h1 = broadcast(&w.b1, rows);
        h1.par_chunks_mut(h).zip(&input).for_each(|(out, entries)| {
            for &(j, v) in entries {
                let wrow = &w.w1[j as usize * h..(j as usize + 1) * h];
                for (o, &x) in out.iter_mut().zip(wrow) {
                    *o += v * x;
                }
            }
            out.iter_mut().for_each(|o| *o = o.tanh());
        });
        let mut code = broadcast(&w.b2, rows);
        gemm(
            view_mut(&mut code, rows, c),
            Accum::Add,
            view(&h1, rows, h),
            view(&w.w2, h, c),
        );
        let mut z = vec![0f32; rows * zd];
        let eps = eps.unwrap_or_default();
        for b in 0..rows {
            for k in 0..zd {
                z[b * zd + k] = if s.variational {
                    let (mu, lv) = (code[b * c + k], code[b * c + zd + k]);
                    match eps.get(b * zd + k) {
                        Some(&e) => mu + e * (0.5 * lv).exp(),
                        None => mu,
                    }
                } else {
                    code[b * c + k].tanh()
                };
            }
        }
        let mut g = broadcast(&w.b4, rows);
        gemm(
            view_mut(&mut g, rows, h),
            Accum::Add,
            view(&z, rows, zd),
            view(&w.w4, zd, h),
        );
        g.iter_mut().for_each(|v| *v = v.tanh());
        out.clear();
        for _ in 0..rows {
            out.extend_from_slice(&w.b5);
        }
        gemm(
            view_mut(&mut out, rows, n),
            Accum::Add,
            view(&g, rows, h),
            view(&w.w5, h, n),
        );
        Forward {
            rows,
            input,
            h1,
            code,
            eps,
            z,
            g,
            out,
        }
    }

    /// The loss of a batch (mean over its rows of the multinomial negative
    /// log-likelihood of `targets`, plus β times the mean KL for the VAE,
    /// plus the L2 penalty) and its gradient. Turns `f.out` into softmax
    /// probabilities.
    #[cfg(test)]
    fn loss_and_gradient(
        &self,
        f: &mut Forward,
        targets: &[SparseRow<'_>],
        beta: f32,
        l2: f32,
    ) -> (f64, Weights) {
        let mut grad = self.weights.zeros_like();
        let loss = self.loss_and_gradient_into(f, targets, beta, l2, &mut grad);
        (loss, grad)
    }

    /// [`Self::loss_and_gradient`] into `grad`, kept from batch to batch
    /// (two `items × hidden` tensors: allocating them each batch was a
    /// tenth of an epoch). `grad.w1` must be zero on entry: the sparse
    /// first layer adds into the rows the batch touched, and the trainer
    /// zeroes those rows again after the update; every other tensor is
    /// overwritten here.
    fn loss_and_gradient_into(
        &self,
        f: &mut Forward,
        targets: &[SparseRow<'_>],
        beta: f32,
        l2: f32,
        grad: &mut Weights,
    ) -> f64 {
        let s = self.shape;
        let w = &self.weights;
        let (h, c, zd, n, rows) = (s.hidden, s.code_out(), s.latent, s.items, f.rows);
        let inv_b = 1.0 / rows as f32;
        // Log-softmax per row; the likelihood; dL/dlogits = (p · Σx − x) / B.
        // One exp per logit, kept in place, then one scaling pass.
        let nll: f64 = f
            .out
            .par_chunks_mut(n)
            .zip(targets)
            .map(|(logits, t)| {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut nll = 0f64;
                for (&i, &x) in t.indices.iter().zip(t.values) {
                    nll -= x as f64 * (logits[i as usize] - max) as f64;
                }
                let sum = with_avx2!(exp_shifted_sum(logits, max));
                nll += t.values.iter().map(|&x| x as f64).sum::<f64>() * sum.ln();
                let total: f32 = t.values.iter().sum();
                let scale = (total as f64 * inv_b as f64 / sum) as f32;
                with_avx2!(scale_in_place(logits, scale));
                for (&i, &x) in t.indices.iter().zip(t.values) {
                    logits[i as usize] -= x * inv_b;
                }
                nll
            })
            .sum();
        let dlogits = &f.out;
        for b in [&mut grad.b1, &mut grad.b2, &mut grad.b4, &mut grad.b5] {
            b.fill(0.0);
        }
        let mut loss = nll / rows as f64;
        // Output layer.
        gemm(
            view_mut(&mut grad.w5, h, n),
            Accum::Replace,
            view(&f.g, rows, h).transpose(),
            view(dlogits, rows, n),
        );
        add_column_sums(dlogits, n, &mut grad.b5);
        let mut dg = vec![0f32; rows * h];
        gemm(
            view_mut(&mut dg, rows, h),
            Accum::Replace,
            view(dlogits, rows, n),
            view(&w.w5, h, n).transpose(),
        );
        for (d, &g) in dg.iter_mut().zip(&f.g) {
            *d *= 1.0 - g * g;
        }
        gemm(
            view_mut(&mut grad.w4, zd, h),
            Accum::Replace,
            view(&f.z, rows, zd).transpose(),
            view(&dg, rows, h),
        );
        add_column_sums(&dg, h, &mut grad.b4);
        let mut dz = vec![0f32; rows * zd];
        gemm(
            view_mut(&mut dz, rows, zd),
            Accum::Replace,
            view(&dg, rows, h),
            view(&w.w4, zd, h).transpose(),
        );
        // The code layer: reparameterisation and KL for the VAE, tanh for the DAE.
        let mut dcode = vec![0f32; rows * c];
        let mut kl = 0f64;
        for b in 0..rows {
            for k in 0..zd {
                let d = dz[b * zd + k];
                if s.variational {
                    let (mu, lv) = (f.code[b * c + k], f.code[b * c + zd + k]);
                    let var = lv.exp();
                    kl += 0.5 * (-lv + var + mu * mu - 1.0) as f64;
                    let e = f.eps.get(b * zd + k).copied().unwrap_or(0.0);
                    dcode[b * c + k] = d + beta * mu * inv_b;
                    dcode[b * c + zd + k] =
                        d * e * 0.5 * (0.5 * lv).exp() + beta * 0.5 * (var - 1.0) * inv_b;
                } else {
                    let t = f.z[b * zd + k];
                    dcode[b * c + k] = d * (1.0 - t * t);
                }
            }
        }
        loss += beta as f64 * kl / rows as f64;
        gemm(
            view_mut(&mut grad.w2, h, c),
            Accum::Replace,
            view(&f.h1, rows, h).transpose(),
            view(&dcode, rows, c),
        );
        add_column_sums(&dcode, c, &mut grad.b2);
        let mut dh1 = vec![0f32; rows * h];
        gemm(
            view_mut(&mut dh1, rows, h),
            Accum::Replace,
            view(&dcode, rows, c),
            view(&w.w2, h, c).transpose(),
        );
        for (d, &a) in dh1.iter_mut().zip(&f.h1) {
            *d *= 1.0 - a * a;
        }
        add_column_sums(&dh1, h, &mut grad.b1);
        // The sparse first layer: only the rows of W₁ the batch touched.
        for (b, entries) in f.input.iter().enumerate() {
            let d = &dh1[b * h..(b + 1) * h];
            for &(j, v) in entries {
                let g = &mut grad.w1[j as usize * h..(j as usize + 1) * h];
                for (gi, &di) in g.iter_mut().zip(d) {
                    *gi += v * di;
                }
            }
        }
        if l2 > 0.0 {
            let mut penalty = 0f64;
            for (g, p) in [
                (&mut grad.w1, &w.w1),
                (&mut grad.w2, &w.w2),
                (&mut grad.w4, &w.w4),
                (&mut grad.w5, &w.w5),
            ] {
                for (gi, &pi) in g.iter_mut().zip(p) {
                    *gi += 2.0 * l2 * pi;
                    penalty += (pi as f64).powi(2);
                }
            }
            loss += l2 as f64 * penalty;
        }
        loss
    }

    /// The logits of one user's row (z = μ, no dropout).
    fn logits(&self, row: SparseRow<'_>) -> Vec<f32> {
        self.forward(vec![normalised(row)], None).out
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let dims = Dims::of(parts)?;
        let shape: Shape = parts
            .config
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| Error::model_file(format!("{}: missing \"shape\"", parts.kind)))?;
        if shape.items != dims.items || shape.variational != (parts.kind == VAE.name) {
            return Err(Error::model_file(format!(
                "{}: the shape does not match the catalogue or the kind",
                parts.kind
            )));
        }
        let (n, h, z, c) = (shape.items, shape.hidden, shape.latent, shape.code_out());
        let t = |name: &str, s: &[usize]| finite_tensor(parts, name, s);
        Ok(MultModel {
            weights: Weights {
                w1: t("w1", &[n, h])?,
                b1: t("b1", &[h])?,
                w2: t("w2", &[h, c])?,
                b2: t("b2", &[c])?,
                w4: t("w4", &[z, h])?,
                b4: t("b4", &[h])?,
                w5: t("w5", &[h, n])?,
                b5: t("b5", &[n])?,
            },
            shape,
            dims,
        })
    }
}

/// Adam (Kingma & Ba) over every parameter, dense, as the paper's code.
struct Adam {
    m: Weights,
    v: Weights,
    step: i32,
    lr: f32,
}

impl Adam {
    fn update(&mut self, weights: &mut Weights, grad: &mut Weights) {
        self.step += 1;
        let c1 = 1.0 - B1.powi(self.step);
        let c2 = 1.0 - B2.powi(self.step);
        let lr = self.lr * c2.sqrt() / c1;
        let params = weights.tensors_mut();
        let grads = grad.tensors_mut();
        let ms = self.m.tensors_mut();
        let vs = self.v.tensors_mut();
        for (((p, g), m), v) in params.into_iter().zip(grads).zip(ms).zip(vs) {
            p.par_chunks_mut(4096)
                .zip(g.par_chunks(4096))
                .zip(m.par_chunks_mut(4096))
                .zip(v.par_chunks_mut(4096))
                .for_each(|(((p, g), m), v)| with_avx2!(adam_step(p, g, m, v, lr)));
        }
    }
}

const B1: f32 = 0.9;
const B2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// One Adam step on a slice of parameters; `lr` carries the bias
/// corrections.
#[inline(always)]
fn adam_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = B1 * *m + (1.0 - B1) * g;
        *v = B2 * *v + (1.0 - B2) * g * g;
        *p -= lr * *m / (v.sqrt() + EPS);
    }
}

fn fit(
    settings: &MultSettings,
    variational: bool,
    data: &FitData<'_>,
    opts: &FitOptions,
) -> Result<(MultModel, FitReport)> {
    let start = Instant::now();
    let kind = kind_of(variational).name;
    let train = data.train_by_user;
    check_weights(train, kind)?;
    let shape = Shape {
        items: train.n_cols,
        hidden: settings.hidden,
        latent: settings.latent,
        variational,
    };
    memory::check(
        kind,
        shape.training_bytes(settings.batch_size),
        &format!(
            "{} items × hidden {} in and out, batches of {}",
            shape.items, shape.hidden, settings.batch_size
        ),
        "hidden or batch_size",
    )?;
    let mut rng = SmallRng::seed_from_u64(opts.seed);
    let mut model = MultModel {
        weights: shape.init(&mut rng),
        shape,
        dims: Dims {
            users: train.n_rows,
            items: train.n_cols,
        },
    };
    let mut adam = Adam {
        m: model.weights.zeros_like(),
        v: model.weights.zeros_like(),
        step: 0,
        lr: settings.lr as f32,
    };
    let validation = data.valid.map(|v| Validation::new(train, v, &mut rng));
    let mut users: Vec<usize> = (0..train.n_rows)
        .filter(|&u| train.row_len(u) > 0)
        .collect();
    let keep = 1.0 - settings.dropout as f32;
    let mut log = EpochLog::new(settings.epochs, settings.patience);
    let mut updates = 0usize;
    let mut grad = model.weights.zeros_like();
    let mut logits = Vec::new();
    for epoch in 1..=settings.epochs {
        let epoch_start = Instant::now();
        users.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        let mut batches = 0usize;
        for chunk in users.chunks(settings.batch_size) {
            if opts.control.stop_requested() {
                break;
            }
            let beta = if variational {
                (updates as f64 / settings.anneal_steps.max(1) as f64).min(settings.beta_cap)
            } else {
                0.0
            };
            let targets: Vec<SparseRow<'_>> =
                chunk.iter().map(|&u| SparseRow::of(train, u)).collect();
            let input: Vec<Vec<(u32, f32)>> = targets
                .iter()
                .map(|&row| {
                    normalised(row)
                        .into_iter()
                        .filter(|_| settings.dropout == 0.0 || rng.random::<f32>() < keep)
                        .map(|(i, v)| (i, v / keep))
                        .collect()
                })
                .collect();
            let eps = variational.then(|| {
                (0..chunk.len() * shape.latent)
                    .map(|_| {
                        let x: f32 = StandardNormal.sample(&mut rng);
                        x
                    })
                    .collect::<Vec<f32>>()
            });
            let mut f = model.forward_reusing(input, eps, std::mem::take(&mut logits));
            let loss = model.loss_and_gradient_into(
                &mut f,
                &targets,
                beta as f32,
                settings.l2 as f32,
                &mut grad,
            );
            if !loss.is_finite() {
                return Err(Error::new(ErrorKind::Diverged(format!(
                    "{kind}: the loss became {loss} in epoch {epoch}; lower lr"
                ))));
            }
            adam.update(&mut model.weights, &mut grad);
            // Back to zero for the next batch's sparse first layer: the
            // rows it touched, or all of them under the dense L2 term.
            if settings.l2 > 0.0 {
                grad.w1.fill(0.0);
            } else {
                let h = shape.hidden;
                for &(j, _) in f.input.iter().flatten() {
                    grad.w1[j as usize * h..(j as usize + 1) * h].fill(0.0);
                }
            }
            logits = f.out;
            loss_sum += loss;
            batches += 1;
            updates += 1;
        }
        if opts.control.stop_requested() {
            // A cut epoch's weights are kept only when no complete epoch
            // was scored on validation (`finish` restores the best one).
            log.stopped(epoch - 1);
            break;
        }
        let valid_ndcg = validation
            .as_ref()
            .map(|v| v.ndcg(|_, row| model.logits(row)));
        let loss = loss_sum / batches.max(1) as f64;
        let seconds = epoch_start.elapsed().as_secs_f64();
        let control = &opts.control;
        if log.epoch_done(
            control,
            epoch,
            loss,
            settings.lr,
            seconds,
            valid_ndcg,
            &model.weights,
        ) {
            break;
        }
    }
    let loss = if variational {
        "multinomial NLL + β·KL"
    } else {
        "multinomial NLL"
    };
    let report = log.finish(&mut model.weights, loss, start);
    Ok((model, report))
}

impl RankingModel for MultModel {
    fn kind_name(&self) -> &'static str {
        kind_of(self.shape.variational).name
    }

    fn dims(&self) -> Dims {
        self.dims
    }

    fn parameter_count(&self) -> usize {
        self.weights.n_params()
    }

    /// The logits (the softmax is monotone: they rank as the probabilities).
    fn score_row(&self, _user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) {
        out.copy_from_slice(&self.logits(row));
    }

    /// The decoder's output weights of each item (columns of W₅).
    fn vectors(&self) -> Option<(usize, Vec<f32>)> {
        let (h, n) = (self.shape.hidden, self.shape.items);
        let mut out = vec![0f32; n * h];
        for k in 0..h {
            for i in 0..n {
                out[i * h + k] = self.weights.w5[k * n + i];
            }
        }
        Some((h, out))
    }

    fn parts(&self) -> ModelParts {
        let s = self.shape;
        let w = &self.weights;
        let (n, h, z, c) = (s.items, s.hidden, s.latent, s.code_out());
        let vector = |v: &Vec<f32>| Tensor {
            shape: vec![v.len()],
            data: v.clone(),
        };
        ModelParts {
            kind: self.kind_name().into(),
            config: serde_json::json!({ "dims": self.dims, "shape": s }),
            tensors: vec![
                ("w1".into(), matrix(n, h, w.w1.clone())),
                ("b1".into(), vector(&w.b1)),
                ("w2".into(), matrix(h, c, w.w2.clone())),
                ("b2".into(), vector(&w.b2)),
                ("w4".into(), matrix(z, h, w.w4.clone())),
                ("b4".into(), vector(&w.b4)),
                ("w5".into(), matrix(h, n, w.w5.clone())),
                ("b5".into(), vector(&w.b5)),
            ],
        }
    }
}

/// [`ModelKind::parse`] of either kind: its defaults, the given keys on top.
fn parse<const VARIATIONAL: bool>(
    settings: serde_json::Map<String, serde_json::Value>,
) -> Result<Box<dyn ModelConfig>> {
    let mut full = serde_json::to_value(MultSettings::defaults(VARIATIONAL))
        .map_err(|e| Error::other(e.to_string()))?;
    merge(&mut full, settings);
    let s: MultSettings = serde_json::from_value(full).map_err(|e| Error::config(e.to_string()))?;
    Ok(Box::new(MultConfig::<VARIATIONAL>(s)))
}

/// The kind's defaults with the given keys on top (unknown keys stay, so
/// deserialising names them as errors).
fn merge(full: &mut serde_json::Value, settings: serde_json::Map<String, serde_json::Value>) {
    if let serde_json::Value::Object(map) = full {
        map.extend(settings);
    }
}

/// The `mult-vae` model kind.
pub const VAE: ModelKind = ModelKind {
    name: "mult-vae",
    summary: "implicit feedback: Mult-VAE, variational autoencoder with a multinomial likelihood",
    parse: parse::<true>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(MultModel::from_parts(parts)?)),
};

/// The `mult-dae` model kind.
pub const DAE: ModelKind = ModelKind {
    name: "mult-dae",
    summary: "implicit feedback: Mult-DAE, denoising autoencoder with a multinomial likelihood",
    parse: parse::<false>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(MultModel::from_parts(parts)?)),
};

impl<const VARIATIONAL: bool> ModelConfig for MultConfig<VARIATIONAL> {
    fn kind(&self) -> &'static ModelKind {
        kind_of(VARIATIONAL)
    }

    fn validate(&self) -> Result<()> {
        self.0.validate(kind_of(VARIATIONAL).name)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = fit(&self.0, VARIATIONAL, data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.0.epochs = epochs;
        true
    }

    fn ranks_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(variational: bool, seed: u64) -> MultModel {
        let shape = Shape {
            items: 7,
            hidden: 5,
            latent: 3,
            variational,
        };
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut weights = shape.init(&mut rng);
        // Larger biases than the paper's init, so their gradients are tested too.
        for b in [
            &mut weights.b1,
            &mut weights.b2,
            &mut weights.b4,
            &mut weights.b5,
        ] {
            b.iter_mut().for_each(|v| *v = rng.random_range(-0.5..0.5));
        }
        MultModel {
            weights,
            shape,
            dims: Dims { users: 3, items: 7 },
        }
    }

    /// The loss and gradient of a fixed batch: three users, weighted clicks,
    /// fixed noise.
    fn batch_loss(model: &MultModel, beta: f32, l2: f32) -> (f64, Weights) {
        let rows: [(&[u32], &[f32]); 3] = [
            (&[0, 2, 5], &[1.0, 2.0, 1.0]),
            (&[1, 6], &[1.0, 1.0]),
            (&[2, 3, 4, 6], &[0.5, 1.0, 1.0, 3.0]),
        ];
        let targets: Vec<SparseRow<'_>> = rows
            .iter()
            .map(|&(indices, values)| SparseRow { indices, values })
            .collect();
        // Inputs differ from targets (as under dropout): scaled, one dropped.
        let input: Vec<Vec<(u32, f32)>> = targets
            .iter()
            .map(|&t| {
                normalised(t)
                    .into_iter()
                    .skip(1)
                    .map(|(i, v)| (i, 2.0 * v))
                    .collect()
            })
            .collect();
        let eps = model
            .shape
            .variational
            .then(|| (0..9).map(|k| ((k * 37 % 11) as f32 - 5.0) / 4.0).collect());
        let mut f = model.forward(input, eps);
        model.loss_and_gradient(&mut f, &targets, beta, l2)
    }

    /// Central differences on every parameter against the analytic
    /// gradient: the multinomial likelihood, the KL term with the
    /// reparameterisation, the tanh layers, the sparse first layer and L2.
    fn check_gradient(variational: bool, beta: f32, l2: f32) {
        let model = small(variational, 3);
        let (_, grad) = batch_loss(&model, beta, l2);
        let mut grad = grad;
        let analytic: Vec<Vec<f32>> = grad.tensors_mut().iter().map(|t| t.to_vec()).collect();
        let names = ["w1", "b1", "w2", "b2", "w4", "b4", "w5", "b5"];
        let h = 1e-2f32;
        let mut worst = 0f64;
        for (t, (name, tensor)) in names.iter().zip(&analytic).enumerate() {
            for (k, &want) in tensor.iter().enumerate() {
                let mut plus = model.clone();
                plus.weights.tensors_mut()[t][k] += h;
                let mut minus = model.clone();
                minus.weights.tensors_mut()[t][k] -= h;
                let numeric = (batch_loss(&plus, beta, l2).0 - batch_loss(&minus, beta, l2).0)
                    / (2.0 * h as f64);
                let err = (numeric - want as f64).abs();
                worst = worst.max(err);
                assert!(
                    err < 2e-3 + 1e-2 * numeric.abs(),
                    "{name}[{k}]: analytic {want} numeric {numeric}"
                );
            }
        }
        assert!(worst > 0.0);
    }

    #[test]
    fn the_softmax_exponential_is_exact_to_a_few_ulps() {
        // Every 1/64 from −100 to 0, and values just inside the range cut.
        let xs: Vec<f32> = (0..6400)
            .map(|k| -(k as f32) / 64.0)
            .chain([-0.0, -1e-30, -86.99, -87.0, -87.01, f32::MIN])
            .collect();
        for &x in &xs {
            let got = exp_nonpositive(x) as f64;
            let want = (x.max(-87.0) as f64).exp();
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON as f64 * want,
                "e^{x}: {got} against {want}"
            );
        }
        assert!(exp_nonpositive(f32::NAN).is_nan());
        // The row pass: values replaced by e^(v − max), their sum returned
        // (1000 + 3 values: the 8-lane blocks and the tail), and the AVX2
        // build rounds as the portable one.
        let row: Vec<f32> = (0..1003)
            .map(|k| ((k * 7919) % 613) as f32 / 50.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut plain = row.clone();
        let sum = exp_shifted_sum(&mut plain, max);
        let want: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        assert!((sum - want).abs() < 1e-6 * want, "{sum} vs {want}");
        for (&v, &e) in row.iter().zip(&plain) {
            assert!((((v - max) as f64).exp() - e as f64).abs() <= 1e-6);
        }
        let mut avx = row.clone();
        let avx_sum = with_avx2!(exp_shifted_sum(&mut avx, max));
        assert_eq!(avx_sum, sum);
        assert_eq!(avx, plain);
    }

    #[test]
    fn vae_gradients_match_finite_differences() {
        check_gradient(true, 0.7, 0.0);
    }

    #[test]
    fn dae_gradients_match_finite_differences() {
        check_gradient(false, 0.0, 0.05);
    }

    #[test]
    fn the_loss_is_the_multinomial_likelihood_plus_kl_by_hand() {
        // Recompute the loss of the fixed batch from the forward pass's
        // logits and code by the formulas, independently of the backward
        // pass: −Σ x log softmax + β · ½ Σ (−log σ² + σ² + μ² − 1), means
        // over the 3 rows.
        let model = small(true, 9);
        let beta = 0.3;
        let rows: [(&[u32], &[f32]); 3] = [
            (&[0, 2, 5], &[1.0, 2.0, 1.0]),
            (&[1, 6], &[1.0, 1.0]),
            (&[2, 3, 4, 6], &[0.5, 1.0, 1.0, 3.0]),
        ];
        let input: Vec<Vec<(u32, f32)>> = rows
            .iter()
            .map(|&(indices, values)| {
                normalised(SparseRow { indices, values })
                    .into_iter()
                    .skip(1)
                    .map(|(i, v)| (i, 2.0 * v))
                    .collect()
            })
            .collect();
        let eps: Vec<f32> = (0..9).map(|k| ((k * 37 % 11) as f32 - 5.0) / 4.0).collect();
        let f = model.forward(input, Some(eps));
        let mut want = 0f64;
        for (b, (items, values)) in rows.iter().enumerate() {
            let logits = &f.out[b * 7..(b + 1) * 7];
            let log_z = logits.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
            for (&i, &x) in items.iter().zip(values.iter()) {
                want -= x as f64 * (logits[i as usize] as f64 - log_z);
            }
            for k in 0..3 {
                let (mu, lv) = (f.code[b * 6 + k] as f64, f.code[b * 6 + 3 + k] as f64);
                want += beta * 0.5 * (-lv + lv.exp() + mu * mu - 1.0);
            }
        }
        want /= 3.0;
        let (got, _) = batch_loss(&model, beta as f32, 0.0);
        assert!((got - want).abs() < 1e-4 * want.abs(), "{got} vs {want}");
        // Without noise z is μ; with it, μ + ε σ.
        assert!((f.z[0] - (f.code[0] + f.eps[0] * (0.5 * f.code[3]).exp())).abs() < 1e-6);
    }
}
