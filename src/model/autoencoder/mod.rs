//! The autoencoder engine: AutoRec (user- and item-based), deep autoencoders
//! (DeepRecommender), denoising and hybrid variants, trained sparse first.
//!
//! [`AutoencoderConfig`] (validated, serialisable, with named presets) fits
//! into an [`Autoencoder`], which implements [`Recommender`]. The numeric
//! core ([`network`], [`optim`], [`sparse`]) is generic over [`real::Real`]
//! so the gradient checks run the very same code in `f64`; its modules are
//! public for those tests and the benches.
//!
//! Scoring:
//! - user-based (U-AutoRec): a user's row is encoded and decoded at the
//!   requested items (sparse) or at every item; a new user is encoded the
//!   same way from their ratings (fold-in, no retraining).
//! - item-based (I-AutoRec): item codes (the last hidden layer of each item's
//!   row) are cached after the fit, so a known user's scores are one GEMV
//!   against their output row. A new user has no output row: it is fitted by
//!   ridge regression (λ = [`NEW_USER_RIDGE`]) of their ratings, mapped
//!   through the inverse output activation, on the codes of the items they
//!   rated, with a free bias.
//!
//! Top-N over a large catalogue ([`Recommender::top_n`]) ranks on a 4-bit
//! serving copy of the item rows ([`QuantizedRows`], built at fit and at
//! load, never stored) and rescores in f32 only the rows its error bound
//! cannot rule out: the same answer as scoring every item, at a quarter of
//! the memory traffic. Small catalogues, output activations that are
//! not monotone in f32 (tanh's rational approximation, swish), and residual
//! models (whose per-item baseline breaks the ranking's monotone bound) keep
//! the exact full scan.
//!
//! Residual models (`residual = true`, [`residual`]) learn ratings minus a
//! fitted `μ + b_u + b_i` from the ratings, and add it back in every scoring
//! path above; a new user's bias is folded in from their ratings (an
//! item-based model regresses their residuals on the item codes).

pub mod activation;
pub mod config;
pub mod init;
pub mod input;
pub mod network;
pub mod optim;
pub mod real;
pub mod residual;
pub mod sparse;
pub mod train;

pub use activation::Activation;
pub use config::{
    AutoencoderConfig, Based, DefaultKind, DefaultRating, Init, LrSchedule, OptimizerKind,
    SparseUpdates, PRESETS,
};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::side::SideOf;
use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::baseline::solve_spd;
use crate::model::quantized::{Bias, QuantizedRows, QuantizedTopN, RowScorer};
use crate::model::registry::{parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow, Tensor};
use input::InputEncoder;
use network::{DenseProducts, Network, Workspace};
use real::dot;
use residual::Baseline;
use sparse::Batch;
use train::{LoopSettings, TrainSet};

/// Ridge penalty of a new user's output row in item-based models.
pub const NEW_USER_RIDGE: f64 = 1.0;

/// Catalogues of at least this many item-row cells (items × last width) get
/// the 4-bit serving copy for top-N. Below it the f32 rows sit in the L2/L3
/// cache and the full scan is already fast (see docs/serving-speed.md).
pub const QUANTIZED_MIN_CELLS: usize = 1 << 20;

/// Item-row cells from which one full-catalogue query is split across the
/// rayon pool; below it a query runs on one thread, so concurrent requests
/// (the HTTP service) do not contend in nested fan-out.
pub const PARALLEL_MIN_CELLS: usize = 1 << 24;

/// A fitted autoencoder.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    config: AutoencoderConfig,
    state: State,
    net: Network<f32>,
    /// Side features of each row (`n_rows × n_side`) for scoring known rows.
    side: Vec<f32>,
    /// Item-based: each item's code (`n_items × h_last`).
    item_codes: Vec<f32>,
    /// The 4-bit serving copy of the item rows (item codes or output
    /// weights), for large catalogues with a monotone output activation.
    serving: Option<QuantizedRows>,
    /// Residual models: the bias model the network's output is added to.
    baseline: Option<Baseline>,
}

/// What a fitted model knows besides its weights (stored in the model file's config).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct State {
    n_users: usize,
    n_items: usize,
    /// Global mean rating of the training set.
    mu: f64,
    n_side: usize,
}

#[derive(Serialize, Deserialize)]
struct SavedConfig {
    config: AutoencoderConfig,
    state: State,
}

/// The `autoencoder` model kind: AutoRec, deep autoencoders and the tutorial
/// model, with the source recipes as presets.
pub const KIND: ModelKind = ModelKind {
    name: "autoencoder",
    summary: "AutoRec, deep autoencoders and the tutorial model (presets: the source recipes)",
    parse: parse_serde::<AutoencoderConfig>,
    presets: config::PRESETS,
    preset: |name| match serde_json::to_value(AutoencoderConfig::preset(name)?) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(Error::other("preset did not serialise to a table")),
    },
    load: |parts| Ok(Box::new(Autoencoder::from_parts(parts)?)),
};

impl ModelConfig for AutoencoderConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        AutoencoderConfig::validate(self)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = AutoencoderConfig::fit(self, data, opts)?;
        Ok((Box::new(m), r))
    }

    fn set_epochs(&mut self, epochs: usize) -> bool {
        self.epochs = epochs;
        true
    }

    fn uses_side_features(&self) -> bool {
        true
    }
}

impl AutoencoderConfig {
    /// Validates, trains and returns the model and what the fit did.
    pub fn fit(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(Autoencoder, FitReport)> {
        self.validate()?;
        let train = data.train;
        let (n_users, n_items) = (train.n_users(), train.n_items());
        let baseline = if self.residual {
            Some(Baseline::fit(data)?)
        } else {
            None
        };
        let rows: Csr = match self.based {
            Based::User => data.train_by_user.clone(),
            Based::Item => data.train_by_user.transpose(),
        };
        let targets = baseline.as_ref().map(|b| {
            let residual = b.residual_by_user(data.train_by_user);
            match self.based {
                Based::User => residual,
                Based::Item => residual.transpose(),
            }
        });
        let side = match (data.side, self.based) {
            (None, _) => None,
            (Some(s), Based::User) if s.of == SideOf::Users => Some(s),
            (Some(s), Based::Item) if s.of == SideOf::Items => Some(s),
            (Some(s), b) => {
                return Err(Error::config(format!(
                    "side features describe {:?} but based = {b:?}: a row is a {}; \
                     give side features of the rows",
                    s.of,
                    if b == Based::User { "user" } else { "item" }
                )))
            }
        };
        if let Some(s) = side {
            if s.n_rows != rows.n_rows {
                return Err(Error::config(format!(
                    "side features have {} rows, the model has {} rows",
                    s.n_rows, rows.n_rows
                )));
            }
        }
        let n_side = side.map_or(0, |s| s.dim);
        crate::model::memory::check(
            "autoencoder",
            self.training_bytes(rows.n_rows, rows.n_cols, n_side),
            &format!(
                "hidden widths {:?} over {} columns",
                self.hidden_widths(),
                rows.n_cols
            ),
            "--layers (or --batch-size)",
        )?;
        let mu = data.stats.mean;
        let cells = data.validation_to_choose_by()?;
        let valid = cells.map(|c| match self.based {
            Based::User => &c.by_user,
            Based::Item => &c.by_item,
        });
        let valid_offset = match (&baseline, cells) {
            (Some(b), Some(c)) => {
                let offset = b.baseline_by_user(&c.by_user);
                Some(match self.based {
                    Based::User => offset,
                    Based::Item => offset.transpose(),
                })
            }
            _ => None,
        };
        let set = TrainSet {
            rows: &rows,
            side: side.map(|s| (&s.data[..], s.dim)),
            valid,
            clip: (data.scale.min, data.scale.max),
            spread: data.stats.spread(),
            targets: targets.as_ref(),
            valid_offset: valid_offset.as_ref(),
        };
        let mut net = init::build::<f32>(self, rows.n_cols, n_side, opts.seed);
        let enc = InputEncoder::new(self, rows.n_cols, mu);
        let settings = LoopSettings {
            cfg: self.clone(),
            seed: opts.seed,
            progress: opts.progress,
            control: opts.control.clone(),
        };
        let report = train::train(&mut net, &enc, &set, &settings)?;
        let mut model = Autoencoder {
            config: self.clone(),
            state: State {
                n_users,
                n_items,
                mu,
                n_side,
            },
            net,
            side: side.map(|s| s.data.clone()).unwrap_or_default(),
            item_codes: Vec::new(),
            serving: None,
            baseline,
        };
        if self.based == Based::Item {
            model.item_codes = model.codes_of(&rows);
        }
        model.serving = model.build_serving();
        Ok((model, report))
    }
}

impl Autoencoder {
    /// The config it was trained with.
    pub fn config(&self) -> &AutoencoderConfig {
        &self.config
    }

    /// The network (f32 weights).
    pub fn network(&self) -> &Network<f32> {
        &self.net
    }

    fn encoder(&self) -> InputEncoder {
        InputEncoder::new(&self.config, self.net.n_cols, self.state.mu)
    }

    fn side_row(&self, r: Option<usize>) -> Option<&[f32]> {
        let dim = self.state.n_side;
        match r {
            Some(r) if dim > 0 && (r + 1) * dim <= self.side.len() => {
                Some(&self.side[r * dim..(r + 1) * dim])
            }
            _ => None,
        }
    }

    /// Last hidden layer of every row of `rows` (`n_rows × h_last`).
    fn codes_of(&self, rows: &Csr) -> Vec<f32> {
        let hl = self.net.last_width();
        let enc = self.encoder();
        let mut codes = vec![0f32; rows.n_rows * hl];
        let mut ws = Workspace::default();
        let mut batch = Batch::default();
        let last = self.net.widths.len() - 1;
        for (c, chunk) in codes.chunks_mut(train::PREDICT_BATCH * hl).enumerate() {
            batch.clear();
            let first = c * train::PREDICT_BATCH;
            for r in first..first + chunk.len() / hl {
                let (idx, val) = rows.row(r);
                let d = enc.push_input(&mut batch, idx, val, self.side_row(Some(r)), None);
                batch.end_row(d);
            }
            self.net.forward(&batch, &mut ws, false);
            chunk.copy_from_slice(&ws.a[last]);
        }
        codes
    }

    /// The code of one row given as a sparse row (user-based scoring).
    fn encode(&self, row: SparseRow<'_>, side: Option<&[f32]>, targets: &[u32]) -> Vec<f32> {
        let enc = self.encoder();
        let mut batch = Batch::default();
        batch.clear();
        let d = enc.push_input(&mut batch, row.indices, row.values, side, None);
        batch.tg_idx.extend_from_slice(targets);
        batch.tg_val.resize(targets.len(), 0.0);
        batch.end_row(d);
        let mut ws = Workspace::default();
        // One row's outputs are a GEMV, as fast by dots; the dots also round
        // exactly as the 4-bit top-N's rescoring (`quantized_top_n`), whose
        // answers must equal a full scan's bit for bit.
        self.net
            .forward_with(&batch, &mut ws, false, DenseProducts::RowKernels);
        ws.pred
    }

    /// Output row (weights, bias) of column `j` of the output layer.
    fn output_row(&self, j: usize) -> (&[f32], f32) {
        let p = &self.net.params[self.net.output_weight];
        let c = self.net.params[self.net.output_bias].data[j];
        (&p.data[j * p.cols..(j + 1) * p.cols], c)
    }

    /// A new user's output row for an item-based model: ridge regression in
    /// pre-activation space on the codes of the items they rated.
    fn fit_new_user(&self, row: SparseRow<'_>) -> Result<(Vec<f64>, f64)> {
        let hl = self.net.last_width();
        let n = hl + 1;
        let mut ata = vec![0f64; n * n];
        let mut atb = vec![0f64; n];
        let act = self.net.output_activation;
        let shift = self.encoder().shift;
        for (&i, &r) in row.indices.iter().zip(row.values) {
            let i = i as usize;
            if i >= self.state.n_items {
                return Err(Error::unknown_id("item", format!("index {i}")));
            }
            let code = &self.item_codes[i * hl..(i + 1) * hl];
            let target = act.inverse(r as f64 - shift);
            let x = |k: usize| if k < hl { code[k] as f64 } else { 1.0 };
            for a in 0..n {
                let xa = x(a);
                atb[a] += xa * target;
                for b in 0..n {
                    ata[a * n + b] += xa * x(b);
                }
            }
        }
        for k in 0..hl {
            ata[k * n + k] += NEW_USER_RIDGE;
        }
        // The bias is unpenalised; a tiny jitter keeps an empty row solvable.
        ata[n * n - 1] += 1e-9;
        solve_spd(&mut ata, &mut atb)?;
        let bias = atb[hl];
        atb.truncate(hl);
        Ok((atb, bias))
    }

    fn item_scores(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        let hl = self.net.last_width();
        let act = self.net.output_activation;
        let shift = self.encoder().shift as f32;
        let check = |i: u32| -> Result<usize> {
            if (i as usize) < self.state.n_items {
                Ok(i as usize)
            } else {
                Err(Error::unknown_id("item", format!("index {i}")))
            }
        };
        match user.filter(|&u| (u as usize) < self.state.n_users) {
            Some(u) => {
                let (v, c) = self.output_row(u as usize);
                for (o, &i) in out.iter_mut().zip(items) {
                    let i = check(i)?;
                    *o = act.apply(dot(&self.item_codes[i * hl..(i + 1) * hl], v) + c) + shift;
                }
            }
            None => {
                let residual = self.residual_values(None, row)?;
                let (v, c) = self.fit_new_user(Self::with_values(row, residual.as_deref()))?;
                let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                for (o, &i) in out.iter_mut().zip(items) {
                    let i = check(i)?;
                    let pre = dot(&self.item_codes[i * hl..(i + 1) * hl], &v) + c as f32;
                    *o = act.apply(pre) + shift;
                }
            }
        }
        self.add_baseline(user, row, items, out)
    }

    /// The user index the baseline knows, as the scoring paths read it: an
    /// index past the training users is a new user.
    fn known_user(&self, user: Option<u32>) -> Option<u32> {
        user.filter(|&u| (u as usize) < self.state.n_users)
    }

    /// Residual models: the row's ratings minus the baseline (a new user's
    /// bias folded in from the row); `None` for plain models.
    fn residual_values(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<Option<Vec<f32>>> {
        match &self.baseline {
            Some(b) => {
                self.check_row(row)?;
                Ok(Some(b.residual_values(self.known_user(user), row)?))
            }
            None => Ok(None),
        }
    }

    /// `row` with its values replaced by `values` when given.
    fn with_values<'r>(row: SparseRow<'r>, values: Option<&'r [f32]>) -> SparseRow<'r> {
        match values {
            Some(values) => SparseRow {
                indices: row.indices,
                values,
            },
            None => row,
        }
    }

    /// Residual models: adds the baseline at `items` to the network's scores.
    fn add_baseline(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        if let Some(b) = &self.baseline {
            let base = b.at(self.known_user(user), row, items)?;
            out.iter_mut().zip(base).for_each(|(o, b)| *o += b);
        }
        Ok(())
    }

    /// The fitted baseline of a residual model.
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Rebuilds a model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        let saved: SavedConfig = serde_json::from_value(parts.config.clone())
            .map_err(|e| Error::model_file(format!("autoencoder config: {e}")))?;
        saved.config.validate()?;
        let st = saved.state;
        let n_cols = match saved.config.based {
            Based::User => st.n_items,
            Based::Item => st.n_users,
        };
        let n_rows = match saved.config.based {
            Based::User => st.n_users,
            Based::Item => st.n_items,
        };
        let mut net = init::build::<f32>(&saved.config, n_cols, st.n_side, 0);
        for p in &mut net.params {
            let t = parts.tensor(&p.name, &param_shape(p))?;
            p.data.copy_from_slice(&t.data);
        }
        let side = if st.n_side > 0 {
            parts
                .tensor("side.features", &[n_rows, st.n_side])?
                .data
                .clone()
        } else {
            Vec::new()
        };
        let item_codes = if saved.config.based == Based::Item {
            parts
                .tensor("item_codes", &[st.n_items, net.last_width()])?
                .data
                .clone()
        } else {
            Vec::new()
        };
        // Files written before the residual option have no `residual` key:
        // it reads as false and no baseline tensors are looked for.
        let baseline = if saved.config.residual {
            Some(Baseline::from_tensors(parts, st.n_users, st.n_items)?)
        } else {
            None
        };
        let mut model = Autoencoder {
            config: saved.config,
            state: st,
            net,
            side,
            item_codes,
            serving: None,
            baseline,
        };
        model.serving = model.build_serving();
        Ok(model)
    }

    /// Each item's row of the output GEMV: its code (item-based) or its
    /// output weight row (user-based), `n_items × h_last`.
    fn item_rows(&self) -> &[f32] {
        match self.config.based {
            Based::Item => &self.item_codes,
            Based::User => {
                let p = &self.net.params[self.net.output_weight];
                &p.data[..self.state.n_items * p.cols]
            }
        }
    }

    fn build_serving(&self) -> Option<QuantizedRows> {
        let hl = self.net.last_width();
        let big = self.state.n_items.saturating_mul(hl) >= QUANTIZED_MIN_CELLS;
        if !big || !monotone_in_f32(self.net.output_activation) || self.baseline.is_some() {
            return None;
        }
        QuantizedRows::new(self.item_rows(), self.state.n_items, hl)
    }

    /// Whether top-N runs on the 4-bit serving copy (large catalogues with a
    /// monotone output activation).
    pub fn has_quantized_top_n(&self) -> bool {
        self.serving.is_some()
    }

    /// Top-N through the 4-bit serving copy, with how many rows were
    /// rescored in f32; `Ok(None)` when the model has no serving copy or the
    /// copy cannot answer this query (then [`Recommender::top_n`] scans).
    pub fn quantized_top_n(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        n: usize,
        exclude: &[u32],
    ) -> Result<Option<QuantizedTopN>> {
        let Some(index) = &self.serving else {
            return Ok(None);
        };
        let hl = self.net.last_width();
        let act = self.net.output_activation;
        let shift = self.encoder().shift as f32;
        let g = |pre: f32| act.apply(pre) + shift;
        let parallel = self.state.n_items.saturating_mul(hl) >= PARALLEL_MIN_CELLS;
        let rows = self.item_rows();
        let item = |i: usize| &rows[i * hl..(i + 1) * hl];
        // Each `exact` closure repeats the expression of the full-scoring
        // path it stands for, so the scores match it bit for bit.
        match self.config.based {
            Based::Item => match user.filter(|&u| (u as usize) < self.state.n_users) {
                Some(u) => {
                    let (v, c) = self.output_row(u as usize);
                    let scorer = RowScorer {
                        x: v,
                        bias: Bias::Shared(c),
                        g,
                        exact: |i: usize| dot(item(i), v) + c,
                    };
                    Ok(index.top_n(&scorer, n, exclude, parallel))
                }
                None => {
                    let (v, c) = self.fit_new_user(row)?;
                    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                    let c = c as f32;
                    let scorer = RowScorer {
                        x: &v,
                        bias: Bias::Shared(c),
                        g,
                        exact: |i: usize| dot(item(i), &v) + c,
                    };
                    Ok(index.top_n(&scorer, n, exclude, parallel))
                }
            },
            Based::User => {
                self.check_row(row)?;
                let side = self.side_row(user.map(|u| u as usize));
                let h = self.code(row, side);
                let c = &self.net.params[self.net.output_bias].data;
                let scorer = RowScorer {
                    x: &h,
                    bias: Bias::PerRow(c),
                    g,
                    exact: |i: usize| dot(&h, item(i)) + c[i],
                };
                Ok(index.top_n(&scorer, n, exclude, parallel))
            }
        }
    }

    /// An error for a row naming an item outside the catalogue.
    fn check_row(&self, row: SparseRow<'_>) -> Result<()> {
        match row
            .indices
            .iter()
            .find(|&&i| i as usize >= self.state.n_items)
        {
            Some(&bad) => Err(Error::unknown_id("item", format!("index {bad}"))),
            None => Ok(()),
        }
    }

    /// The last hidden layer of one row (user-based top-N).
    fn code(&self, row: SparseRow<'_>, side: Option<&[f32]>) -> Vec<f32> {
        let mut ws = Workspace::default();
        let mut batch = Batch::default();
        batch.clear();
        let d = self
            .encoder()
            .push_input(&mut batch, row.indices, row.values, side, None);
        batch.end_row(d);
        self.net.forward(&batch, &mut ws, false);
        ws.a.swap_remove(self.net.widths.len() - 1)
    }
}

/// Output activations whose f32 implementation is monotone non-decreasing,
/// which the 4-bit top-N's proof of exactness needs: piecewise linear ones
/// and those built on a monotone `exp`. Not tanh (a rational
/// approximation, monotone only up to rounding) nor swish (not monotone).
fn monotone_in_f32(act: crate::model::autoencoder::Activation) -> bool {
    use crate::model::autoencoder::Activation as A;
    matches!(
        act,
        A::Identity | A::Sigmoid | A::Relu | A::Relu6 | A::Lrelu | A::Elu | A::Selu
    )
}

fn param_shape(p: &network::Param<f32>) -> Vec<usize> {
    if p.is_weight {
        vec![p.rows, p.cols]
    } else {
        vec![p.rows * p.cols]
    }
}

impl Recommender for Autoencoder {
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
        self.net.n_params() + self.baseline.as_ref().map_or(0, |b| b.biases().n_params())
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
        match self.config.based {
            Based::Item => self.item_scores(user, row, items, out),
            Based::User => {
                if let Some(&bad) = items.iter().find(|&&i| i as usize >= self.state.n_items) {
                    return Err(Error::unknown_id("item", format!("index {bad}")));
                }
                self.check_row(row)?;
                let side = self.side_row(user.map(|u| u as usize));
                let pred = self.encode(row, side, items);
                let shift = self.encoder().shift as f32;
                for (o, p) in out.iter_mut().zip(pred) {
                    *o = p + shift;
                }
                self.add_baseline(user, row, items, out)
            }
        }
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        if self.config.based == Based::Item && user.is_some() {
            // One GEMV of the item codes against the user's output row.
            let u = user.unwrap_or_default() as usize;
            if u < self.state.n_users {
                let hl = self.net.last_width();
                let (v, c) = self.output_row(u);
                let act = self.net.output_activation;
                let shift = self.encoder().shift as f32;
                // Split only a GEMV big enough to pay for it (see PARALLEL_MIN_CELLS).
                let min_items = (PARALLEL_MIN_CELLS / 4 / hl.max(1)).max(1);
                out.par_iter_mut()
                    .zip(self.item_codes.par_chunks(hl))
                    .with_min_len(min_items)
                    .for_each(|(o, code)| *o = act.apply(dot(code, v) + c) + shift);
                if let Some(b) = &self.baseline {
                    let base = b.all(Some(u as u32), row)?;
                    out.iter_mut().zip(base).for_each(|(o, b)| *o += b);
                }
                return Ok(());
            }
        }
        let items: Vec<u32> = (0..self.state.n_items as u32).collect();
        self.score_items(user, row, &items, out)
    }

    fn top_n(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        n: usize,
        exclude: &[u32],
    ) -> Result<Vec<(u32, f32)>> {
        if let Some(found) = self.quantized_top_n(user, row, n, exclude)? {
            return Ok(found.items);
        }
        let mut scores = vec![0f32; self.state.n_items];
        self.score_all(user, row, &mut scores)?;
        Ok(crate::model::top_n(&scores, n, exclude))
    }

    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        let hl = self.net.last_width();
        match self.config.based {
            Based::Item => Some((hl, self.item_codes.clone())),
            Based::User => {
                let p = &self.net.params[self.net.output_weight];
                Some((p.cols, p.data[..self.state.n_items * p.cols].to_vec()))
            }
        }
    }

    fn to_parts(&self) -> ModelParts {
        let mut tensors: Vec<(String, Tensor)> = self
            .net
            .params
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    Tensor {
                        shape: param_shape(p),
                        data: p.data.clone(),
                    },
                )
            })
            .collect();
        if let Some(rows) = self.side.len().checked_div(self.state.n_side) {
            tensors.push((
                "side.features".into(),
                Tensor {
                    shape: vec![rows, self.state.n_side],
                    data: self.side.clone(),
                },
            ));
        }
        if let Some(b) = &self.baseline {
            tensors.extend(b.tensors());
        }
        if self.config.based == Based::Item {
            tensors.push((
                "item_codes".into(),
                Tensor {
                    shape: vec![self.state.n_items, self.net.last_width()],
                    data: self.item_codes.clone(),
                },
            ));
        }
        let config = serde_json::to_value(SavedConfig {
            config: self.config.clone(),
            state: self.state,
        })
        .unwrap_or(serde_json::Value::Null);
        ModelParts {
            kind: "autoencoder".into(),
            config,
            tensors,
        }
    }
}
