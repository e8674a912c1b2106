//! GLocal-K (Han, Lim, Long, Burgstaller & Poon, "GLocal-K: Global and
//! Local Kernels for Recommender Systems", CIKM 2021): an item-based
//! autoencoder whose weight matrices are gated by local RBF-like kernels,
//! pre-trained on the rating matrix and then fine-tuned on the rating
//! matrix convolved with a global kernel built from the pre-trained
//! model's output. [`network`] has the maths, [`lbfgs`] the optimiser.
//!
//! Training follows the reference implementation (`usydnlp/Glocal_K`):
//! full-batch, dense items × users, each epoch one fresh L-BFGS run of a
//! few iterations (SciPy's L-BFGS-B through TensorFlow's
//! `ScipyOptimizerInterface` there). One difference, on purpose: the
//! reference keeps the fine-tuning epoch with the best *test* RMSE; here
//! the epoch is chosen on the validation split ([`FitData::valid`]) and
//! the test set is never seen. Without a validation split the last epoch
//! is kept.
//!
//! Scoring: the model is transductive over users (each item's input row
//! spans every training user), so after the fit the item codes (the last
//! hidden layer of the predicting pass) are cached; a known user's scores
//! are the codes times that user's column of the output layer's effective
//! weights `W ⊙ K`, plus the user's output bias. A known user's `row` is
//! not re-read: the prediction is the fitted reconstruction. A new user
//! cannot be added as an input column (the input width is fixed), so
//! fold-in fits the output layer's column for them instead: ridge
//! regression of their ratings on the codes of the items they rated, with
//! the model's own `λ₂` on the weights and a free bias — the fine-tuning
//! objective restricted to that one column.

pub mod config;
pub mod lbfgs;
pub mod network;

pub use config::{GlocalKConfig, PRESETS};

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::model::baseline::solve_spd;
use crate::model::registry::{parse_serde, ModelConfig, ModelKind};
use crate::model::{
    EpochStats, FitControl, FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow,
    Tensor,
};
use network::{DenseData, Layout, Phase};

/// GLocal-K in the model registry: `model = "glocal-k"`, presets
/// [`PRESETS`], model files of kind `"glocal-k"`.
pub const KIND: ModelKind = ModelKind {
    name: "glocal-k",
    summary: "GLocal-K: kernelised item autoencoder fine-tuned with a global kernel (dense; presets: the paper's)",
    parse: parse_serde::<GlocalKConfig>,
    presets: PRESETS,
    preset: |name| match serde_json::to_value(GlocalKConfig::preset(name)?) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(Error::other("preset did not serialise to a table")),
    },
    load: |parts| Ok(Box::new(GlocalK::from_parts(parts)?)),
};

impl ModelConfig for GlocalKConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        GlocalKConfig::validate(self)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = GlocalKConfig::fit(self, data, opts)?;
        Ok((Box::new(m), r))
    }

    /// Sets both phases' epochs (pre-training at least 1).
    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.pretrain_epochs = epochs.max(1);
        self.finetune_epochs = epochs;
        true
    }
}

/// What a model needs besides its config to be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct State {
    n_users: usize,
    n_items: usize,
    /// False when `finetune_epochs = 0`: the codes come from the
    /// pre-trained network on the plain rating matrix.
    finetuned: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedConfig {
    config: GlocalKConfig,
    state: State,
}

/// A fitted GLocal-K model.
///
/// Model file: kind `"glocal-k"`, tensors described in
/// `docs/engine-tensors.md` (`layer{l}.weight`, `layer{l}.kernel_u`,
/// `layer{l}.kernel_v`, `layer{l}.bias`, `global.conv`, `item_codes`).
#[derive(Debug, Clone, PartialEq)]
pub struct GlocalK {
    config: GlocalKConfig,
    state: State,
    layout: Layout,
    params: Vec<f32>,
    /// `n_items × code width`: the last hidden layer of the predicting pass.
    item_codes: Vec<f32>,
    /// `n_users × code width`: the output layer's `W ⊙ K`, transposed.
    user_weights: Vec<f32>,
}

/// A normal draw truncated at two standard deviations (TensorFlow's
/// `truncated_normal`), by rejection.
fn truncated_normal(rng: &mut SmallRng, std: f64, out: &mut [f32]) {
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    for v in out {
        *v = loop {
            let z: f64 = normal.sample(rng);
            if z.abs() <= 2.0 {
                break (z * std) as f32;
            }
        };
    }
}

/// The reference's initialisation: `W` and `b` Glorot-uniform (TensorFlow's
/// default, where a vector's fans are both its length), kernel vectors
/// truncated-normal with σ = 10⁻³ (so every kernel starts near 1), and the
/// global kernel's `C` truncated-normal with σ = 0.1.
fn init_params(layout: &Layout, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut p = vec![0f32; layout.len];
    for l in &layout.layers {
        let lim = (6.0 / (l.n_in + l.n_out) as f64).sqrt() as f32;
        for w in &mut p[l.weight..l.weight + l.n_in * l.n_out] {
            *w = rng.random_range(-lim..lim);
        }
        truncated_normal(&mut rng, 1e-3, &mut p[l.u..l.u + l.n_in * layout.dim]);
        truncated_normal(&mut rng, 1e-3, &mut p[l.v..l.v + l.n_out * layout.dim]);
        let lim = (3.0 / l.n_out as f64).sqrt() as f32;
        for b in &mut p[l.bias..l.bias + l.n_out] {
            *b = rng.random_range(-lim..lim);
        }
    }
    truncated_normal(&mut rng, 0.1, &mut p[layout.conv..layout.len]);
    p
}

/// RMSE of `prediction` (`n_items × n_users`) on `(users, items, values)`,
/// clipped to `[lo, hi]`; pairs outside the matrix are skipped.
fn rmse_on(
    prediction: &[f32],
    n_items: usize,
    n_users: usize,
    ratings: &crate::data::Ratings,
    (lo, hi): (f32, f32),
) -> Option<f64> {
    let mut sq = 0f64;
    let mut n = 0usize;
    for ((&u, &i), &r) in ratings
        .users
        .iter()
        .zip(&ratings.items)
        .zip(&ratings.values)
    {
        let (u, i) = (u as usize, i as usize);
        if u < n_users && i < n_items {
            let p = prediction[i * n_users + u].clamp(lo, hi);
            sq += ((p - r) as f64).powi(2);
            n += 1;
        }
    }
    (n > 0).then(|| (sq / n as f64).sqrt())
}

impl GlocalKConfig {
    /// Validates, checks the memory estimate, trains (pre-training, then
    /// fine-tuning) and returns the model and what the fit did.
    pub fn fit(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(GlocalK, FitReport)> {
        self.validate()?;
        let start = Instant::now();
        let train = data.train;
        let (n_users, n_items) = (train.n_users(), train.n_items());
        if train.is_empty() || n_users == 0 || n_items == 0 {
            return Err(Error::config("glocal-k: the training set is empty"));
        }
        self.check_memory(n_items, n_users)?;
        let mut dense = DenseData {
            n_items,
            n_users,
            ratings: vec![0f32; n_items * n_users],
            mask: vec![0f32; n_items * n_users],
        };
        for ((&u, &i), &r) in train.users.iter().zip(&train.items).zip(&train.values) {
            let cell = i as usize * n_users + u as usize;
            dense.ratings[cell] = r;
            dense.mask[cell] = 1.0;
        }
        let range = (data.scale.min, data.scale.max);
        let validation = data.validation_to_choose_by()?;
        let layout = Layout::new(self, n_items, n_users);
        let mut x: Vec<f64> = init_params(&layout, opts.seed)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let mut params = vec![0f32; layout.len];
        let mut flops = 0u64;
        let mut flop_seconds = 0f64;
        let mut history = Vec::new();
        let mut notes = Vec::new();
        let phases = [
            (Phase::Pretrain, self.pretrain_epochs, self.pretrain_iters),
            (Phase::Finetune, self.finetune_epochs, self.finetune_iters),
        ];
        let final_phase = if self.finetune_epochs > 0 {
            Phase::Finetune
        } else {
            Phase::Pretrain
        };
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        let mut evaluations = 0usize;
        let bar = opts.progress.then(|| {
            let bar =
                indicatif::ProgressBar::new((self.pretrain_epochs + self.finetune_epochs) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} epochs {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let planned = self.pretrain_epochs + self.finetune_epochs;
        let mut stopped = false;
        for (phase, epochs, iters) in phases {
            if stopped {
                break;
            }
            let mut since_best = 0usize;
            for _ in 0..epochs {
                let t = Instant::now();
                let lopts = lbfgs::LbfgsOptions {
                    max_iter: iters,
                    memory: self.lbfgs_memory,
                    ..lbfgs::LbfgsOptions::default()
                };
                let out = lbfgs::minimize(&mut x, &lopts, |x, g| {
                    params
                        .par_iter_mut()
                        .zip(x)
                        .for_each(|(p, &v)| *p = v as f32);
                    let t = Instant::now();
                    let v = network::loss_and_grad(
                        &layout, self, &dense, &params, phase, g, &mut flops,
                    );
                    flop_seconds += t.elapsed().as_secs_f64();
                    Ok(v)
                })?;
                evaluations += out.evaluations;
                params
                    .par_iter_mut()
                    .zip(&x)
                    .for_each(|(p, &v)| *p = v as f32);
                let mut eval_flops = 0u64;
                let output =
                    network::predict(&layout, self, &dense, &params, phase, &mut eval_flops);
                if output.prediction.iter().any(|v| !v.is_finite()) || !out.value.is_finite() {
                    return Err(Error::new(ErrorKind::Diverged(format!(
                        "glocal-k: non-finite predictions after epoch {}",
                        history.len() + 1
                    ))));
                }
                let train_rmse = rmse_on(&output.prediction, n_items, n_users, train, range);
                let valid_rmse =
                    validation.map(|cells| cells.rmse(|u, i| output.prediction[i * n_users + u]));
                let epoch = history.len() + 1;
                if let Some(bar) = &bar {
                    bar.set_message(match valid_rmse {
                        Some(v) => format!("{phase:?}: validation RMSE {v:.4}"),
                        None => format!(
                            "{phase:?}: training RMSE {:.4}",
                            train_rmse.unwrap_or(f64::NAN)
                        ),
                    });
                    bar.inc(1);
                }
                history.push(EpochStats {
                    epoch,
                    train_loss: out.value / train.len() as f64,
                    train_rmse: train_rmse.unwrap_or(f64::NAN),
                    valid_rmse,
                    lr: 0.0,
                    seconds: t.elapsed().as_secs_f64(),
                });
                if let Some(stats) = history.last() {
                    opts.control.epoch_done(stats, planned);
                }
                if history.len() < planned && opts.control.stop_requested() {
                    notes.push(FitControl::stopped_note(history.len()));
                    stopped = true;
                }
                if phase == final_phase {
                    if let Some(v) = valid_rmse {
                        if best.as_ref().is_none_or(|b| v < b.0) {
                            best = Some((v, epoch, x.clone()));
                            since_best = 0;
                        } else {
                            since_best += 1;
                        }
                    }
                    if self.patience.is_some_and(|p| since_best >= p) {
                        notes.push(format!(
                            "fine-tuning stopped after {since_best} epochs without a better validation RMSE"
                        ));
                        break;
                    }
                }
                if stopped {
                    break;
                }
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let best_epoch = match best {
            Some((v, epoch, bx)) => {
                x = bx;
                notes.push(format!(
                    "kept epoch {epoch} (validation RMSE {v:.4}); the reference picks by test RMSE, this fit never saw the test set"
                ));
                Some(epoch)
            }
            None => {
                notes.push("no validation split: the last epoch is kept".into());
                None
            }
        };
        notes.push(format!(
            "L-BFGS: {evaluations} loss-and-gradient evaluations, {:.1} GFLOP in their GEMMs, {:.1} GFLOP/s over the evaluations' {:.1} s (wall)",
            flops as f64 * 1e-9,
            flops as f64 * 1e-9 / flop_seconds.max(1e-9),
            flop_seconds
        ));
        params
            .par_iter_mut()
            .zip(&x)
            .for_each(|(p, &v)| *p = v as f32);
        let mut f = 0u64;
        let output = network::predict(&layout, self, &dense, &params, final_phase, &mut f);
        let state = State {
            n_users,
            n_items,
            finetuned: final_phase == Phase::Finetune,
        };
        let model = GlocalK::assemble(self.clone(), state, params, output.codes)?;
        let report = FitReport {
            epochs: history.len(),
            best_epoch,
            history,
            train_seconds: start.elapsed().as_secs_f64(),
            notes,
        };
        Ok((model, report))
    }
}

impl GlocalK {
    fn assemble(
        config: GlocalKConfig,
        state: State,
        params: Vec<f32>,
        item_codes: Vec<f32>,
    ) -> Result<Self> {
        let layout = Layout::new(&config, state.n_items, state.n_users);
        if params.len() != layout.len || item_codes.len() != state.n_items * layout.code_width() {
            return Err(Error::model_file(
                "glocal-k: tensor sizes do not match the config",
            ));
        }
        let out = layout.layers[layout.layers.len() - 1];
        let stack = network::Stack::new(&layout, &params);
        let eff = stack.effective(layout.layers.len() - 1);
        let h = out.n_in;
        let mut user_weights = vec![0f32; state.n_users * h];
        for (k, row) in eff.chunks(out.n_out).enumerate() {
            for (u, &w) in row.iter().enumerate() {
                user_weights[u * h + k] = w;
            }
        }
        Ok(GlocalK {
            config,
            state,
            layout,
            params,
            item_codes,
            user_weights,
        })
    }

    /// The config the model was fitted with.
    pub fn config(&self) -> &GlocalKConfig {
        &self.config
    }

    fn code_width(&self) -> usize {
        self.layout.code_width()
    }

    fn user_bias(&self, u: usize) -> f32 {
        let out = self.layout.layers[self.layout.layers.len() - 1];
        self.params[out.bias + u]
    }

    /// A new user's output column and bias: ridge regression (λ₂ on the
    /// weights, the bias free) of their ratings on the item codes.
    fn fold_in(&self, row: SparseRow<'_>) -> Result<(Vec<f32>, f32)> {
        let h = self.code_width();
        let n = h + 1;
        // X: one row per rated item, its code and a 1 for the bias.
        let mut x = vec![1f64; row.len() * n];
        for (xr, &i) in x.chunks_mut(n).zip(row.indices) {
            let i = i as usize;
            if i >= self.state.n_items {
                return Err(Error::unknown_id("item", format!("index {i}")));
            }
            for (xk, c) in xr.iter_mut().zip(&self.item_codes[i * h..(i + 1) * h]) {
                *xk = *c as f64;
            }
        }
        let xm = faer::MatRef::from_row_major_slice(&x, row.len(), n);
        let r: Vec<f64> = row.values.iter().map(|&v| v as f64).collect();
        let mut ata = vec![0f64; n * n];
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(&mut ata, n, n),
            faer::Accum::Replace,
            xm.transpose(),
            xm,
            1.0,
            faer::Par::Seq,
        );
        let mut atb = vec![0f64; n];
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(&mut atb, n, 1),
            faer::Accum::Replace,
            xm.transpose(),
            faer::MatRef::from_row_major_slice(&r, row.len(), 1),
            1.0,
            faer::Par::Seq,
        );
        for k in 0..h {
            ata[k * n + k] += self.config.lambda_2.max(1e-6);
        }
        // A tiny jitter keeps the free bias solvable for an empty row.
        ata[n * n - 1] += 1e-9;
        solve_spd(&mut ata, &mut atb)?;
        let bias = atb[h] as f32;
        Ok((atb[..h].iter().map(|&v| v as f32).collect(), bias))
    }

    /// Rebuilds a model from its parts (as written by [`Recommender::to_parts`]).
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let saved: SavedConfig = serde_json::from_value(parts.config.clone())
            .map_err(|e| Error::model_file(format!("glocal-k config: {e}")))?;
        saved.config.validate()?;
        let st = saved.state;
        let layout = Layout::new(&saved.config, st.n_items, st.n_users);
        let mut params = vec![0f32; layout.len];
        for (name, offset, shape) in tensor_table(&layout) {
            let t = parts.tensor(&name, &shape)?;
            params[offset..offset + t.data.len()].copy_from_slice(&t.data);
        }
        let codes = parts
            .tensor("item_codes", &[st.n_items, layout.code_width()])?
            .data
            .clone();
        GlocalK::assemble(saved.config, st, params, codes)
    }
}

/// Every parameter tensor's name, offset in the flat vector and shape.
fn tensor_table(layout: &Layout) -> Vec<(String, usize, Vec<usize>)> {
    let d = layout.dim;
    let mut t = Vec::new();
    for (k, l) in layout.layers.iter().enumerate() {
        t.push((format!("layer{k}.weight"), l.weight, vec![l.n_in, l.n_out]));
        t.push((format!("layer{k}.kernel_u"), l.u, vec![l.n_in, d]));
        t.push((format!("layer{k}.kernel_v"), l.v, vec![l.n_out, d]));
        t.push((format!("layer{k}.bias"), l.bias, vec![l.n_out]));
    }
    t.push((
        "global.conv".into(),
        layout.conv,
        vec![layout.n_items, layout.size * layout.size],
    ));
    t
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Recommender for GlocalK {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.state.n_users
    }

    fn n_items(&self) -> usize {
        self.state.n_items
    }

    fn n_params(&self) -> usize {
        self.layout.len
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        if out.len() != items.len() {
            return Err(Error::other("score_items: out and items differ in length"));
        }
        if let Some(&bad) = items.iter().find(|&&i| i as usize >= self.state.n_items) {
            return Err(Error::unknown_id("item", format!("index {bad}")));
        }
        let h = self.code_width();
        let known = user.map(|u| u as usize).filter(|&u| u < self.state.n_users);
        let folded;
        let (w, b) = match known {
            Some(u) => (&self.user_weights[u * h..(u + 1) * h], self.user_bias(u)),
            None => {
                folded = self.fold_in(row)?;
                (&folded.0[..], folded.1)
            }
        };
        for (o, &i) in out.iter_mut().zip(items) {
            let i = i as usize;
            *o = dot(&self.item_codes[i * h..(i + 1) * h], w) + b;
        }
        Ok(())
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        Some((self.code_width(), self.item_codes.clone()))
    }

    fn to_parts(&self) -> ModelParts {
        let mut tensors: Vec<(String, Tensor)> = tensor_table(&self.layout)
            .into_iter()
            .map(|(name, offset, shape)| {
                let len: usize = shape.iter().product();
                let data = self.params[offset..offset + len].to_vec();
                (name, Tensor { shape, data })
            })
            .collect();
        tensors.push((
            "item_codes".into(),
            Tensor {
                shape: vec![self.state.n_items, self.code_width()],
                data: self.item_codes.clone(),
            },
        ));
        let config = serde_json::to_value(SavedConfig {
            config: self.config.clone(),
            state: self.state,
        })
        .unwrap_or(serde_json::Value::Null);
        ModelParts {
            kind: "glocal-k".into(),
            config,
            tensors,
        }
    }
}
