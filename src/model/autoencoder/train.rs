//! The training loop: shuffled batches (the last partial batch kept), masked
//! MSE, optimiser step, optional dense re-feeding, per-epoch train and
//! validation RMSE, early stopping with best-weights restore, NaN/inf
//! detection and a progress bar.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use super::config::{AutoencoderConfig, DefaultKind, DefaultRating, OptimizerKind, SparseUpdates};
use super::input::{InputEncoder, Noise};
use super::network::{mix, Network, Param, SharedStep, Workspace};
use super::optim::{OptimSettings, Optimizer};
use super::real::{sum_sq, Real};
use super::sparse::Batch;
use crate::collective::{any_rank, owns, Collective};
use crate::data::Csr;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EpochStats, FitControl, FitReport};

/// Touched share of the item-table rows per batch below which `auto` goes lazy.
const LAZY_BELOW: f64 = 0.3;

/// What a fit trains on, already oriented (rows are users or items).
#[derive(Debug, Clone, Copy)]
pub struct TrainSet<'a> {
    /// Training ratings, one row per autoencoder input.
    pub rows: &'a Csr,
    /// Side features of the rows (`rows.n_rows × dim`), if any.
    pub side: Option<(&'a [f32], usize)>,
    /// The validation cells oriented the same way, if any: only those the
    /// network answers ([`crate::model::ValidationCells`]).
    pub valid: Option<&'a Csr>,
    /// Predictions are clipped to this range (the rating scale) for
    /// validation RMSE.
    pub clip: (f32, f32),
    /// The spread of the training ratings, for the divergence check.
    pub spread: f64,
    /// Residual models: the targets, ratings minus the baseline (same
    /// structure as `rows`, whose ratings stay the input).
    pub targets: Option<&'a Csr>,
    /// Residual models: the baseline at each cell of `valid` (same
    /// structure), added to the network's output before clipping, so the
    /// validation RMSE is in rating units whatever the network learns.
    pub valid_offset: Option<&'a Csr>,
}

impl<'a> TrainSet<'a> {
    /// Side features of row `r`.
    pub fn side_row(&self, r: usize) -> Option<&'a [f32]> {
        self.side.map(|(d, dim)| &d[r * dim..(r + 1) * dim])
    }
}

/// Settings of the loop (from the config plus the run's seed).
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// The config.
    pub cfg: AutoencoderConfig,
    /// Seed of shuffles and noise.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop requests and the epoch observer.
    pub control: FitControl,
}

/// Decides lazy or dense row updates; says why in `notes`.
pub fn choose_sparse_updates(cfg: &AutoencoderConfig, rows: &Csr, notes: &mut Vec<String>) -> bool {
    let dense_input = !matches!(cfg.default_rating, DefaultRating::Named(DefaultKind::Zero))
        || cfg.noise_all
        || cfg.refeed > 0;
    let mean_row = rows.nnz() as f64 / rows.n_rows.max(1) as f64;
    let touched = ((cfg.batch_size as f64 * mean_row) / rows.n_cols.max(1) as f64).min(1.0);
    match cfg.sparse_updates {
        SparseUpdates::Dense => false,
        SparseUpdates::Lazy => true,
        SparseUpdates::Auto => {
            let lazy = !dense_input && touched < LAZY_BELOW;
            let what = match (lazy, cfg.optimizer) {
                (false, _) => "dense updates".to_string(),
                (true, OptimizerKind::Sgd) => "lazy row updates (exact for SGD)".to_string(),
                (true, _) => "lazy row updates (LazyAdam: moments of untouched rows stay)".into(),
            };
            let why = if dense_input {
                "every row gets a gradient (non-zero default, noise on all cells or re-feeding)"
                    .to_string()
            } else {
                format!(
                    "a batch touches about {:.1} % of the item rows",
                    100.0 * touched
                )
            };
            notes.push(format!("sparse_updates = auto: {what}, because {why}"));
            lazy
        }
    }
}

/// Trains `net` in place; returns the report.
///
/// Data-parallel when `settings.control` names a group of several ranks:
/// every rank runs this with the same weights, settings and seed; each
/// batch of the shared shuffled order is split by row owner
/// ([`owns`]: row `r` belongs to rank `r % size`), each rank computes its
/// rows' gradient normalised by the whole batch, and [`group_step`] sums
/// them, so every rank takes the single-process step (up to the order of
/// float sums) and the weights stay identical on all ranks. Losses,
/// validation and stop decisions are agreed across ranks.
///
/// The loop runs on a rayon worker thread: a parallel region opened from
/// outside the pool is injected and waited for (a cross-thread hand-off per
/// region, thousands per epoch), while from inside it is a cheap fork-join.
pub fn train<T: Real>(
    net: &mut Network<T>,
    enc: &InputEncoder,
    data: &TrainSet<'_>,
    settings: &LoopSettings,
) -> Result<FitReport> {
    rayon::scope(|_| train_on_worker(net, enc, data, settings))
}

fn train_on_worker<T: Real>(
    net: &mut Network<T>,
    enc: &InputEncoder,
    data: &TrainSet<'_>,
    settings: &LoopSettings,
) -> Result<FitReport> {
    let cfg = &settings.cfg;
    let start = Instant::now();
    let mut report = FitReport::default();
    let comm = settings.control.collective();
    let comm = &*comm;
    let group = comm.size() > 1;
    if group && net.n_in() >= 1 << 31 {
        return Err(Error::config(format!(
            "{} input columns: data-parallel training encodes a column in 31 bits",
            net.n_in()
        )));
    }
    if cfg.noise_all && cfg.noise_std > 0.0 && data.rows.n_cols > 10_000 {
        report.notes.push(format!(
            "noise_all on {} columns: every batch is dense, expect slow epochs",
            data.rows.n_cols
        ));
    }
    let lazy = choose_sparse_updates(cfg, data.rows, &mut report.notes);
    let mut opt = Optimizer::new(
        OptimSettings {
            adam: cfg.optimizer != OptimizerKind::Sgd,
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            l2: cfg.l2,
            weight_decay: cfg.weight_decay,
            lazy,
        },
        &net.params,
    );
    let sent_before = comm.bytes_sent();
    let mut order = agreed_rows(comm, data.rows)?;
    if group {
        report.notes.push(format!(
            "data-parallel over {} ranks: each batch's rows split by owner, gradients summed",
            comm.size()
        ));
    }
    let n_batches = order.len().div_ceil(cfg.batch_size);
    let bar = progress_bar(settings.progress, cfg.epochs * n_batches);
    let noise = Noise::of(cfg);
    let mut ws = Workspace::default();
    let mut batch = Batch::default();
    let mut next_batch = Batch::default();
    let mut refeed = Refeed::default();
    let mut best: Option<(f64, usize, Vec<Param<T>>)> = None;
    let mut flushed = true;
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        let lr = cfg.lr_schedule.lr_at(cfg.lr, epoch);
        if flushed {
            opt.begin_epoch(lr);
        }
        order.shuffle(&mut SmallRng::seed_from_u64(mix(
            settings.seed,
            epoch as u64,
        )));
        let (mut sum_sq, mut count) = (0.0, 0usize);
        let order = &order;
        let noise = &noise;
        let fill = |bi: usize, batch: &mut Batch<T>| {
            let chunk = &order[bi * cfg.batch_size..order.len().min((bi + 1) * cfg.batch_size)];
            batch.clear();
            batch.seed = mix(settings.seed, ((epoch as u64) << 32) | bi as u64);
            for (b, &r) in chunk.iter().enumerate() {
                if group {
                    if !owns(r, comm.rank(), comm.size()) {
                        continue;
                    }
                    batch.row_ids.push(b as u32);
                }
                let (idx, val) = data.rows.row(r);
                let mut rng = SmallRng::seed_from_u64(mix(batch.seed ^ 0x5EED, b as u64));
                let noise = (!noise.is_none() || noise.all).then_some((noise, &mut rng));
                let d = enc.push_input(batch, idx, val, data.side_row(r), noise);
                let target = data.targets.map_or(val, |t| t.row(r).1);
                enc.push_targets(batch, idx, target);
                batch.end_row(d);
            }
        };
        fill(0, &mut batch);
        let mut stopped_after = None;
        for bi in 0..n_batches {
            if cfg.refeed > 0 {
                net.dense_output(&batch, &mut ws, &mut refeed.out);
            }
            // The next batch is drawn (serial work: shuffled rows, noise)
            // on the other thread while this one trains; each batch is seeded
            // by its number, so the overlap changes no value.
            let stop_here = bi + 1 < n_batches && settings.control.stop_requested();
            let (step, ()) = rayon::join(
                || {
                    group_step(
                        net,
                        &mut opt,
                        &batch,
                        &mut ws,
                        cfg.clip_norm,
                        comm,
                        stop_here,
                    )
                },
                || {
                    if bi + 1 < n_batches {
                        fill(bi + 1, &mut next_batch);
                    }
                },
            );
            let (loss, stop_any) = step?;
            check_finite(loss.sum_sq, epoch, bi + 1, lr)?;
            sum_sq += loss.sum_sq;
            count += loss.count;
            for _ in 0..cfg.refeed {
                refeed.build(&batch, net.n_cols);
                if cfg.refeed > 1 {
                    net.dense_output(&refeed.batch, &mut ws, &mut refeed.out);
                }
                let refeed_batch = &refeed.batch;
                let (l, _) = group_step(
                    net,
                    &mut opt,
                    refeed_batch,
                    &mut ws,
                    cfg.clip_norm,
                    comm,
                    false,
                )?;
                check_finite(l.sum_sq, epoch, bi + 1, lr)?;
            }
            if let Some(bar) = &bar {
                bar.inc(1);
                if bi % 16 == 0 {
                    bar.set_message(format!(
                        "epoch {epoch}/{} batch {}/{n_batches} loss {:.4}",
                        cfg.epochs,
                        bi + 1,
                        loss.sum_sq / loss.count.max(1) as f64
                    ));
                }
            }
            std::mem::swap(&mut batch, &mut next_batch);
            // Checked per batch: one epoch of a large set takes minutes.
            // A stop asked of any rank stops all, at the same batch.
            if stop_any {
                stopped_after = Some(bi + 1);
                break;
            }
        }
        if let Some(batches) = stopped_after {
            opt.flush(&mut net.params);
            report.notes.push(format!(
                "{} and {batches} of {n_batches} batches of epoch {epoch}",
                FitControl::stopped_note(epoch - 1)
            ));
            break;
        }
        // Lazy rows catch up only when the weights are read or the rate
        // changes: a full pass over the item tables costs as much as many batches.
        flushed = data.valid.is_some()
            || epoch == cfg.epochs
            || cfg.lr_schedule.lr_at(cfg.lr, epoch + 1) != lr;
        if flushed {
            opt.flush(&mut net.params);
        }
        let mse = sum_sq / count.max(1) as f64;
        super::super::diverge::check_epoch(epoch, mse.sqrt(), data.spread, lr)?;
        let valid_rmse = data
            .valid
            .map(|v| group_validation_rmse(net, enc, data, v, comm))
            .transpose()?;
        let stats = EpochStats {
            epoch,
            train_loss: if cfg.l2 > 0.0 {
                mse + cfg.l2 * weight_sq_sum(&net.params)
            } else {
                mse
            },
            train_rmse: mse.sqrt(),
            valid_rmse,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if let Some(bar) = &bar {
            bar.println(format!(
                "epoch {epoch}: train rmse {:.4}{} ({:.2} s)",
                stats.train_rmse,
                valid_rmse.map_or(String::new(), |v| format!(", valid rmse {v:.4}")),
                stats.seconds
            ));
        }
        settings.control.epoch_done(&stats, cfg.epochs);
        report.history.push(stats);
        report.epochs = epoch;
        if let (Some(v), Some(patience)) = (valid_rmse, cfg.patience) {
            let improved = best.as_ref().is_none_or(|b| v < b.0 - cfg.min_delta);
            if improved {
                best = Some((v, epoch, net.params.clone()));
            } else if epoch - best.as_ref().map_or(0, |b| b.1) >= patience {
                break;
            }
        }
        if epoch < cfg.epochs && any_rank(comm, settings.control.stop_requested())? {
            report.notes.push(FitControl::stopped_note(epoch));
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some((_, epoch, params)) = best {
        net.params = params;
        report.best_epoch = Some(epoch);
    }
    if group {
        report.notes.push(format!(
            "rank {} handed {} bytes to the collective over {} epochs (docs/distributed.md)",
            comm.rank(),
            comm.bytes_sent() - sent_before,
            report.epochs
        ));
    }
    report.train_seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// One optimiser step on `batch`: forward, backward, clipping, update.
pub fn train_step<T: Real>(
    net: &mut Network<T>,
    opt: &mut Optimizer<T>,
    batch: &Batch<T>,
    ws: &mut Workspace<T>,
    clip_norm: Option<f64>,
) -> super::network::StepLoss {
    // Lazily updated rows are caught up before the forward pass reads them.
    net.index_batch(batch, ws);
    let ix = &ws.index;
    opt.catch_up_rows(&mut net.params, &ix.touched, ix.n_rating, &ws.inactive);
    net.forward(batch, ws, true);
    let loss = net.backward(batch, ws, true);
    clip(ws, clip_norm);
    opt.step(&mut net.params, &ws.grads, &ws.index.touched, &ws.inactive);
    loss
}

/// The rows every rank agrees to train on: the non-empty rows, each rank
/// naming those it owns (so a rank may hold only its own rows' ratings).
fn agreed_rows(comm: &dyn Collective, rows: &Csr) -> Result<Vec<usize>> {
    let (rank, size) = (comm.rank(), comm.size());
    let mine: Vec<u32> = (0..rows.n_rows)
        .filter(|&r| owns(r, rank, size) && rows.row_len(r) > 0)
        .map(|r| r as u32)
        .collect();
    if size == 1 {
        return Ok(mine.into_iter().map(|r| r as usize).collect());
    }
    let mut all: Vec<usize> = (comm.all_gather_u32(&mine)?.into_iter())
        .flatten()
        .map(|r| r as usize)
        .collect();
    all.sort_unstable();
    Ok(all)
}

/// Sums `buf` over the ranks, in its own float type.
// A `Vec`, not a slice: `Any` downcasts only sized types.
#[allow(clippy::ptr_arg)]
fn all_reduce_sum<T: Real>(comm: &dyn Collective, buf: &mut Vec<T>) -> Result<()> {
    let any: &mut dyn std::any::Any = buf;
    if let Some(b) = any.downcast_mut::<Vec<f32>>() {
        comm.all_reduce_sum_f32(b)
    } else if let Some(b) = any.downcast_mut::<Vec<f64>>() {
        comm.all_reduce_sum_f64(b)
    } else {
        Err(Error::other(
            "all-reduce of a float type other than f32 and f64",
        ))
    }
}

/// The column code of the union exchange: the column in the high 31 bits,
/// whether this rank gives the input weight's row a gradient in the lowest.
fn column_code(col: u32, active: bool) -> u32 {
    (col << 1) | u32::from(active)
}

/// What the ranks agree on before a data-parallel step: every rank sends
/// its batch's target count, its stop flag and its touched columns (with
/// the active bit), in one all-gather of `4·(2 + touched)` bytes.
/// Returns the agreement and whether any rank asked to stop.
pub fn exchange_columns<T: Real>(
    net: &Network<T>,
    batch: &Batch<T>,
    ws: &mut Workspace<T>,
    comm: &dyn Collective,
    stop: bool,
) -> Result<(SharedStep, bool)> {
    ws.shared = None;
    net.index_batch(batch, ws);
    let mut msg = Vec::with_capacity(2 + ws.index.touched.len());
    msg.push(
        u32::try_from(batch.tg_idx.len())
            .map_err(|_| Error::config("a batch with 2³² target entries: lower batch_size"))?,
    );
    msg.push(u32::from(stop));
    msg.extend((ws.index.touched.iter().zip(&ws.inactive)).map(|(&c, &ina)| column_code(c, !ina)));
    let all = comm.all_gather_u32(&msg)?;
    let mut codes: Vec<u32> = all.iter().flat_map(|m| m[2..].iter().copied()).collect();
    codes.sort_unstable();
    let mut shared = SharedStep {
        targets: all.iter().map(|m| m[0] as usize).sum(),
        ..SharedStep::default()
    };
    for c in codes {
        let (col, active) = (c >> 1, c & 1 == 1);
        if shared.touched.last() == Some(&col) {
            let last = shared.inactive.len() - 1;
            shared.inactive[last] &= !active;
        } else {
            shared.touched.push(col);
            shared.inactive.push(!active);
        }
    }
    Ok((shared, all.iter().any(|m| m[1] != 0)))
}

/// One optimiser step of a data-parallel group on this rank's share
/// `batch`: agree on the columns ([`exchange_columns`]), catch up and
/// compute as one process would on the union, sum the gradients (one
/// all-reduce: the dense layers whole, the item tables only at the union
/// of touched rows) and the loss over ranks, then clip and step with the
/// summed gradient. Alone (one rank) it is [`train_step`]. Returns the
/// whole batch's loss and whether any rank asked to stop.
pub fn group_step<T: Real>(
    net: &mut Network<T>,
    opt: &mut Optimizer<T>,
    batch: &Batch<T>,
    ws: &mut Workspace<T>,
    clip_norm: Option<f64>,
    comm: &dyn Collective,
    stop: bool,
) -> Result<(super::network::StepLoss, bool)> {
    if comm.size() == 1 {
        ws.shared = None;
        return Ok((train_step(net, opt, batch, ws, clip_norm), stop));
    }
    let (shared, stop_any) = exchange_columns(net, batch, ws, comm, stop)?;
    let targets = shared.targets;
    ws.shared = Some(shared);
    net.index_batch(batch, ws);
    let ix = &ws.index;
    opt.catch_up_rows(&mut net.params, &ix.touched, ix.n_rating, &ws.inactive);
    net.forward(batch, ws, true);
    let local = net.backward(batch, ws, true);
    let mut flat: Vec<T> = Vec::with_capacity(ws.grads.iter().map(Vec::len).sum());
    for g in &ws.grads {
        flat.extend_from_slice(g);
    }
    all_reduce_sum(comm, &mut flat)?;
    let mut at = 0;
    for g in &mut ws.grads {
        let n = g.len();
        g.copy_from_slice(&flat[at..at + n]);
        at += n;
    }
    let mut sum_sq = [local.sum_sq];
    comm.all_reduce_sum_f64(&mut sum_sq)?;
    clip(ws, clip_norm);
    opt.step(&mut net.params, &ws.grads, &ws.index.touched, &ws.inactive);
    let loss = super::network::StepLoss {
        sum_sq: sum_sq[0],
        count: targets,
    };
    Ok((loss, stop_any))
}

/// Scales the gradient down to norm `max` when it is longer.
fn clip<T: Real>(ws: &mut Workspace<T>, clip_norm: Option<f64>) {
    if let Some(max) = clip_norm {
        let norm = ws
            .grads
            .iter()
            .flatten()
            .map(|g| g.f64() * g.f64())
            .sum::<f64>()
            .sqrt();
        if norm > max {
            let f = T::of(max / norm);
            ws.grads.iter_mut().flatten().for_each(|g| *g *= f);
        }
    }
}

/// Buffers of dense re-feeding (DeepRecommender's `aug_step`): the model's
/// dense output for a batch becomes the input and the target of an extra step.
#[derive(Debug, Clone, Default)]
struct Refeed<T> {
    out: Vec<T>,
    batch: Batch<T>,
}

impl<T: Real> Refeed<T> {
    fn build(&mut self, like: &Batch<T>, n_cols: usize) {
        let rows = like.rows();
        self.batch.seed = mix(like.seed, 0xFEED);
        // The column lists of a batch this size are already 0..n_cols per
        // row (every batch but an epoch's last has the same size): only the
        // values are new.
        let b = &mut self.batch;
        let same_shape = b.rows() == rows && b.in_idx.len() == rows * n_cols;
        if !same_shape {
            b.clear();
            for _ in 0..rows {
                b.in_idx.extend(0..n_cols as u32);
                b.tg_idx.extend(0..n_cols as u32);
                b.end_row(T::ZERO);
            }
        }
        b.row_ids.clone_from(&like.row_ids);
        let out = &self.out[..rows * n_cols];
        b.in_val.clear();
        b.in_val.extend_from_slice(out);
        b.tg_val.clear();
        b.tg_val.extend_from_slice(out);
    }
}

fn check_finite(sum_sq: f64, epoch: usize, batch: usize, lr: f64) -> Result<()> {
    if sum_sq.is_finite() {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Diverged(format!(
        "the loss became {sum_sq} in epoch {epoch}, batch {batch} (learning rate {lr}); \
         lower lr, add clip_norm, or use a bounded activation"
    ))))
}

/// `Σ w²` over the weights: a sweep of every table (750 MB for Beauty), so
/// it runs on all threads; fixed chunks summed in order keep it independent
/// of the thread count.
fn weight_sq_sum<T: Real>(params: &[Param<T>]) -> f64 {
    const CHUNK: usize = 1 << 16;
    params
        .iter()
        .filter(|p| p.is_weight)
        .map(|p| {
            let parts: Vec<f64> = p.data.par_chunks(CHUNK).map(sum_sq).collect();
            parts.iter().sum::<f64>()
        })
        .sum()
}

fn progress_bar(show: bool, len: usize) -> Option<ProgressBar> {
    if !show {
        return None;
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Rows scored per forward pass when predicting.
pub const PREDICT_BATCH: usize = 256;

/// Predictions (in rating units, unclipped) at the cells `cells` (a CSR in
/// the training orientation) for rows encoded from `train`.
pub fn predict_cells<T: Real>(
    net: &Network<T>,
    enc: &InputEncoder,
    data: &TrainSet<'_>,
    cells: &Csr,
) -> Vec<f32> {
    let mut out = vec![0f32; cells.nnz()];
    let rows: Vec<usize> = (0..cells.n_rows)
        .filter(|&r| cells.row_len(r) > 0)
        .collect();
    let mut ws = Workspace::default();
    let mut batch = Batch::default();
    for chunk in rows.chunks(PREDICT_BATCH) {
        batch.clear();
        for &r in chunk {
            let (idx, val) = if r < data.rows.n_rows {
                data.rows.row(r)
            } else {
                (&[][..], &[][..])
            };
            let d = enc.push_input(&mut batch, idx, val, data.side_row(r), None);
            batch.tg_idx.extend_from_slice(cells.row(r).0);
            batch.tg_val.resize(batch.tg_idx.len(), T::ZERO);
            batch.end_row(d);
        }
        net.forward(&batch, &mut ws, false);
        let mut k = 0;
        for &r in chunk {
            for o in &mut out[cells.indptr[r]..cells.indptr[r + 1]] {
                *o = (ws.pred[k].f64() + enc.shift) as f32;
                k += 1;
            }
        }
    }
    out
}

/// Validation RMSE over `cells` (the validation cells the network answers,
/// oriented as `data.rows`), predictions clipped to `data.clip`.
pub fn validation_rmse<T: Real>(
    net: &Network<T>,
    enc: &InputEncoder,
    data: &TrainSet<'_>,
    cells: &Csr,
) -> f64 {
    let pred = predict_cells(net, enc, data, cells);
    let (lo, hi) = data.clip;
    let offset = |k: usize| data.valid_offset.map_or(0.0, |o| o.values[k]);
    let sse: f64 = pred
        .iter()
        .zip(&cells.values)
        .enumerate()
        .map(|(k, (&p, &y))| {
            let e = ((p + offset(k)).clamp(lo, hi) - y) as f64;
            e * e
        })
        .sum();
    (sse / cells.nnz().max(1) as f64).sqrt()
}

/// [`validation_rmse`] over a group: each rank scores the cells of the
/// rows it owns, and the squared errors and counts are summed over ranks.
pub fn group_validation_rmse<T: Real>(
    net: &Network<T>,
    enc: &InputEncoder,
    data: &TrainSet<'_>,
    cells: &Csr,
    comm: &dyn Collective,
) -> Result<f64> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        return Ok(validation_rmse(net, enc, data, cells));
    }
    let (mut rows, mut cols, mut vals, mut offsets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in (0..cells.n_rows).filter(|&r| owns(r, rank, size)) {
        let (idx, val) = cells.row(r);
        rows.extend(std::iter::repeat_n(r as u32, idx.len()));
        cols.extend_from_slice(idx);
        vals.extend_from_slice(val);
        if let Some(o) = data.valid_offset {
            offsets.extend_from_slice(o.row(r).1);
        }
    }
    // Gathered row by row with sorted columns, the triplets keep their
    // order in the matrix, so `offsets` stays aligned with its values.
    let mine = Csr::from_triplets(cells.n_rows, cells.n_cols, &rows, &cols, &vals);
    let pred = predict_cells(net, enc, data, &mine);
    let (lo, hi) = data.clip;
    let sse: f64 = (pred.iter().zip(&mine.values).enumerate())
        .map(|(k, (&p, &y))| {
            let e = ((p + offsets.get(k).copied().unwrap_or(0.0)).clamp(lo, hi) - y) as f64;
            e * e
        })
        .sum();
    let mut total = [sse, mine.nnz() as f64];
    comm.all_reduce_sum_f64(&mut total)?;
    Ok((total[0] / total[1].max(1.0)).sqrt())
}
