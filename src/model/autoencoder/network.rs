//! The network: named parameters, a sparse input layer (gather rows of W for
//! observed columns, plus the column-sum term for a non-zero default), dense
//! hidden layers (faer GEMM), and an output layer evaluated only at the
//! target cells. A dense batch (re-feeding; every column a target) runs its
//! input and output layers and their gradients as GEMMs too
//! ([`DenseProducts`]). [`Network::forward`] and [`Network::backward`] make one
//! training step's loss and gradient a pure function of (weights, batch).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::activation::Activation;
use super::real::{axpy, dot, prefetch, scale_into, Real};
use super::sparse::{Batch, ColumnIndex};

/// One named parameter tensor, row-major `rows × cols`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param<T> {
    /// Stable name (docs/engine-tensors.md).
    pub name: String,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Values.
    pub data: Vec<T>,
    /// Rows are indexed by input/output columns and only touched rows get
    /// gradients (the item tables).
    pub row_sparse: bool,
    /// A weight matrix (L2 and weight decay apply), not a bias.
    pub is_weight: bool,
}

/// A dense hidden layer: which parameters it uses and whether the weight is
/// used transposed (tied to an encoder weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseLayer {
    /// Index of the weight parameter.
    pub weight: usize,
    /// The weight is stored `out × in` and used transposed.
    pub transposed: bool,
    /// Index of the bias parameter.
    pub bias: usize,
}

/// The architecture and parameters of an autoencoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<T> {
    /// Rating columns (inputs and outputs).
    pub n_cols: usize,
    /// Side-feature columns appended to the input.
    pub n_side: usize,
    /// Widths of the hidden stack.
    pub widths: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Output activation.
    pub output_activation: Activation,
    /// Hidden layer that code dropout acts on.
    pub code_layer: usize,
    /// Code dropout rate.
    pub dropout: f64,
    /// Parameters; index 0 is the input weight, 1 the input bias.
    pub params: Vec<Param<T>>,
    /// Dense layers; `dense[i]` maps hidden layer `i` to `i + 1`.
    pub dense: Vec<DenseLayer>,
    /// Parameter used as the output weight (`n_cols × h_last`): the input
    /// weight itself when tied.
    pub output_weight: usize,
    /// Parameter of the output bias (`n_cols × 1`).
    pub output_bias: usize,
}

/// Fewest batch rows per parallel task: below this a split costs more than it saves.
const ROWS_PER_TASK: usize = 16;
/// Output targets of one row scored per parallel task when a row has many
/// (full-catalogue scoring): large enough to amortise a task, small enough to
/// balance 100k items over a few threads.
const TARGETS_PER_TASK: usize = 4096;
/// Fewest touched columns per parallel task of the gradient scatter.
const COLUMNS_PER_TASK: usize = 32;

/// How the products of a dense batch (re-feeding, full-catalogue outputs)
/// are computed. Sparse batches always take the row kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenseProducts {
    /// One GEMM per layer for a batch whose inputs or targets are every
    /// rating column: compute-bound, where the row kernels stream the
    /// whole item table once per row.
    #[default]
    Gemm,
    /// Row kernels (a gather-axpy or a dot per entry) whatever the batch:
    /// the reference the GEMM path is tested against.
    RowKernels,
}

/// True when every one of the `ptr.len() - 1` rows lists exactly the
/// columns `0..n_cols` in order: the entries then form a row-major
/// `rows × n_cols` matrix.
pub fn is_dense(ptr: &[usize], idx: &[u32], n_cols: usize) -> bool {
    let rows = ptr.len().saturating_sub(1);
    rows > 0
        && idx.len() == rows * n_cols
        && ptr.windows(2).all(|w| w[1] - w[0] == n_cols)
        && idx
            .par_chunks(n_cols.max(1))
            .all(|row| row.iter().enumerate().all(|(j, &c)| c as usize == j))
}

/// Index of the input weight (`(n_cols + n_side) × h_0`).
pub const INPUT_WEIGHT: usize = 0;
/// Index of the input bias.
pub const INPUT_BIAS: usize = 1;

/// Reusable buffers for one batch: activations, errors, gradients. Kept
/// across batches so a training step allocates nothing once warm.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    /// Pre-activations of each hidden layer (`rows × width`).
    pub z: Vec<Vec<T>>,
    /// Activations of each hidden layer (after code dropout).
    pub a: Vec<Vec<T>>,
    /// Code-dropout multipliers (0 or 1/(1−p)) of the code layer.
    pub mask: Vec<T>,
    /// Output pre-activation of each target entry.
    pub pre: Vec<T>,
    /// Prediction of each target entry.
    pub pred: Vec<T>,
    /// ∂loss/∂pre-activation of each target entry.
    pub err: Vec<T>,
    /// Gradient w.r.t. a hidden layer's activations (`rows × width`).
    delta: Vec<T>,
    delta_next: Vec<T>,
    /// The batch grouped by column.
    pub index: ColumnIndex,
    /// Gradient of each parameter: compact (touched rows in `index.touched`
    /// order) for row-sparse parameters, full for the others.
    pub grads: Vec<Vec<T>>,
    colsum: Vec<T>,
    gsum: Vec<T>,
    /// f(input bias): the first hidden layer of every row with no input entry.
    a_bias: Vec<T>,
    /// Per touched column: the input weight's row got no gradient (a target
    /// column with no input entry, untied, zero default).
    pub inactive: Vec<bool>,
    /// Data-parallel training: what the ranks agreed on for this step.
    pub shared: Option<SharedStep>,
}

/// What the ranks of a data-parallel step agree on before the forward pass
/// (`train::exchange_columns`): the union of their touched columns, which
/// of those are inactive on every rank, and the whole batch's target count.
/// With it, each rank's compact gradients have the same rows, and its loss
/// is normalised by the whole batch, so the element-wise sum over ranks is
/// the single-process gradient.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedStep {
    /// Touched columns of all ranks, sorted.
    pub touched: Vec<u32>,
    /// Per column of `touched`: no rank gave the input weight's row a gradient.
    pub inactive: Vec<bool>,
    /// Target entries in the whole batch.
    pub targets: usize,
}

/// What a forward/backward pass measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepLoss {
    /// Σ (prediction − target)² over the target entries.
    pub sum_sq: f64,
    /// Number of target entries.
    pub count: usize,
}

impl<T: Real> Network<T> {
    /// Rows of the input weight: rating columns then side features.
    pub fn n_in(&self) -> usize {
        self.n_cols + self.n_side
    }

    /// Width of the last hidden layer.
    pub fn last_width(&self) -> usize {
        *self
            .widths
            .last()
            .expect("validated: at least one hidden layer")
    }

    /// Number of scalar parameters.
    pub fn n_params(&self) -> usize {
        self.params.iter().map(|p| p.data.len()).sum()
    }

    /// The weight row the output layer uses for column `j`.
    #[inline]
    fn out_row(&self, j: u32) -> &[T] {
        let p = &self.params[self.output_weight];
        &p.data[j as usize * p.cols..(j as usize + 1) * p.cols]
    }

    /// Forward pass over `batch`, computing predictions at the target
    /// entries into `ws.pred`. `train` turns code dropout on.
    pub fn forward(&self, batch: &Batch<T>, ws: &mut Workspace<T>, train: bool) {
        self.forward_with(batch, ws, train, DenseProducts::Gemm);
    }

    /// [`Network::forward`] with the dense products computed as `products` says.
    pub fn forward_with(
        &self,
        batch: &Batch<T>,
        ws: &mut Workspace<T>,
        train: bool,
        products: DenseProducts,
    ) {
        self.forward_impl(batch, ws, train, products, false);
    }

    /// The forward pass; with `all_columns` (GEMM products only) the
    /// output layer is evaluated at every rating column of every row,
    /// whatever the batch's targets: [`Network::dense_output`] then needs no
    /// copy of the batch with a full target list (2 × rows × n_cols entries).
    fn forward_impl(
        &self,
        batch: &Batch<T>,
        ws: &mut Workspace<T>,
        train: bool,
        products: DenseProducts,
        all_columns: bool,
    ) {
        let gemm = products == DenseProducts::Gemm;
        let rows = batch.rows();
        let l = self.widths.len();
        ws.z.resize_with(l, Vec::new);
        ws.a.resize_with(l, Vec::new);
        for (i, &w) in self.widths.iter().enumerate() {
            ws.z[i].resize(rows * w, T::ZERO);
            ws.a[i].resize(rows * w, T::ZERO);
        }
        let has_default = batch.default.iter().any(|&d| d != T::ZERO);
        if has_default {
            self.column_sum(&mut ws.colsum);
        }
        let h0 = self.widths[0];
        let w_in = &self.params[INPUT_WEIGHT].data;
        let b_in = &self.params[INPUT_BIAS].data;
        let colsum = &ws.colsum;
        let act = self.activation;
        // Most rows of a sparse, input-dropped batch keep no input at all
        // (Amazon Beauty: ~2.7 ratings a user, 30 % survive): their first
        // layer is f(bias), computed once here instead of once per row.
        ws.a_bias.resize(h0, T::ZERO);
        act.apply_slice(b_in, &mut ws.a_bias);
        let a_bias = &ws.a_bias;
        let (z0, a0) = (&mut ws.z[0], &mut ws.a[0]);
        if gemm && is_dense(&batch.in_ptr, &batch.in_idx, self.n_cols) {
            // z₀ = X·W_in[..n_cols] + b (+ d·Σ_j W[j,:]): one GEMM.
            let n = self.n_cols;
            T::gemm(
                rows,
                h0,
                n,
                &batch.in_val,
                false,
                &w_in[..n * h0],
                false,
                z0,
                false,
            );
            z0.par_chunks_mut(h0)
                .zip(a0.par_chunks_mut(h0))
                .enumerate()
                .with_min_len(ROWS_PER_TASK)
                .for_each(|(b, (z, a))| {
                    axpy(T::ONE, b_in, z);
                    if has_default {
                        axpy(batch.default[b], colsum, z);
                    }
                    act.apply_slice(z, a);
                });
        } else {
            z0.par_chunks_mut(h0)
                .zip(a0.par_chunks_mut(h0))
                .enumerate()
                .with_min_len(ROWS_PER_TASK)
                .for_each(|(b, (z, a))| {
                    z.copy_from_slice(b_in);
                    let (idx, val) = batch.input(b);
                    if idx.is_empty() && !has_default {
                        a.copy_from_slice(a_bias);
                        return;
                    }
                    if has_default {
                        axpy(batch.default[b], colsum, z);
                    }
                    let next = batch.in_ptr[b + 1];
                    for (e, (&j, &v)) in idx.iter().zip(val).enumerate() {
                        // The next input row (of this or the next batch row) is
                        // a random item-table row: start loading it now.
                        if let Some(&n) = batch.in_idx.get(next - idx.len() + e + 1) {
                            prefetch_row(w_in, n, h0);
                        }
                        axpy(v, &w_in[j as usize * h0..(j as usize + 1) * h0], z);
                    }
                    act.apply_slice(z, a);
                });
        }
        let use_dropout = train && self.dropout > 0.0;
        if use_dropout {
            self.dropout_mask(batch, &mut ws.mask);
        }
        for i in 0..l {
            if i > 0 {
                let layer = self.dense[i - 1];
                let lo = &ws.a[..i];
                let (h_in, h_out) = (self.widths[i - 1], self.widths[i]);
                T::gemm(
                    rows,
                    h_out,
                    h_in,
                    &lo[i - 1],
                    false,
                    &self.params[layer.weight].data,
                    layer.transposed,
                    &mut ws.z[i],
                    false,
                );
                let bias = &self.params[layer.bias].data;
                let (z, a) = (&mut ws.z[i], &mut ws.a[i]);
                z.par_chunks_mut(h_out)
                    .zip(a.par_chunks_mut(h_out))
                    .with_min_len(ROWS_PER_TASK)
                    .for_each(|(z, a)| {
                        axpy(T::ONE, bias, z);
                        act.apply_slice(z, a);
                    });
            }
            if use_dropout && i == self.code_layer {
                for (a, &m) in ws.a[i].iter_mut().zip(&ws.mask) {
                    *a *= m;
                }
            }
        }
        if gemm && (all_columns || is_dense(&batch.tg_ptr, &batch.tg_idx, self.n_cols)) {
            self.dense_output_forward(batch, ws);
        } else {
            self.output_forward(batch, ws);
        }
    }

    /// The output layer at every rating column of every row:
    /// `pre = A_last·Vᵀ + c`, one GEMM.
    fn dense_output_forward(&self, batch: &Batch<T>, ws: &mut Workspace<T>) {
        let (rows, n) = (batch.rows(), self.n_cols);
        ws.pre.resize(rows * n, T::ZERO);
        ws.pred.resize(rows * n, T::ZERO);
        let hl = self.last_width();
        let a_last = &ws.a[self.widths.len() - 1];
        let w_out = &self.params[self.output_weight].data[..n * hl];
        T::gemm(rows, n, hl, a_last, false, w_out, true, &mut ws.pre, false);
        let c = &self.params[self.output_bias].data;
        let out_act = self.output_activation;
        ws.pre
            .par_chunks_mut(n)
            .zip(ws.pred.par_chunks_mut(n))
            .for_each(|(pre, pred)| {
                axpy(T::ONE, c, pre);
                out_act.apply_slice(pre, pred);
            });
    }

    fn output_forward(&self, batch: &Batch<T>, ws: &mut Workspace<T>) {
        let n = batch.tg_idx.len();
        ws.pre.resize(n, T::ZERO);
        ws.pred.resize(n, T::ZERO);
        let hl = self.last_width();
        let a_last = &ws.a[self.widths.len() - 1];
        let c = &self.params[self.output_bias].data;
        let out_act = self.output_activation;
        // Rows own disjoint target ranges: split the buffers at row boundaries.
        let mut pre_rows: Vec<(&mut [T], &mut [T])> = Vec::with_capacity(batch.rows());
        let (mut pre_rest, mut pred_rest) = (&mut ws.pre[..], &mut ws.pred[..]);
        for b in 0..batch.rows() {
            let len = batch.tg_ptr[b + 1] - batch.tg_ptr[b];
            let (p1, p2) = std::mem::take(&mut pre_rest).split_at_mut(len);
            let (q1, q2) = std::mem::take(&mut pred_rest).split_at_mut(len);
            pre_rows.push((p1, q1));
            pre_rest = p2;
            pred_rest = q2;
        }
        pre_rows
            .into_par_iter()
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(b, (pre, pred))| {
                let h = &a_last[b * hl..(b + 1) * hl];
                let (idx, _) = batch.targets(b);
                let w_out = &self.params[self.output_weight].data;
                let score = |pre: &mut [T], pred: &mut [T], idx: &[u32]| {
                    for (k, &j) in idx.iter().enumerate() {
                        // Row `j + 1`'s load overlaps this dot; past the
                        // row's end, the next batch row's first target.
                        let next = idx
                            .get(k + 1)
                            .or_else(|| batch.tg_idx.get(batch.tg_ptr[b + 1]));
                        if let Some(&n) = next {
                            prefetch_row(w_out, n, hl);
                        }
                        let p = dot(h, self.out_row(j)) + c[j as usize];
                        pre[k] = p;
                        pred[k] = out_act.apply(p);
                    }
                };
                // Training rows have a handful of targets; a full-catalogue
                // row (scoring one user) is a GEMV worth splitting across threads.
                if idx.len() <= TARGETS_PER_TASK {
                    score(pre, pred, idx);
                } else {
                    pre.par_chunks_mut(TARGETS_PER_TASK)
                        .zip(pred.par_chunks_mut(TARGETS_PER_TASK))
                        .zip(idx.par_chunks(TARGETS_PER_TASK))
                        .for_each(|((pre, pred), idx)| score(pre, pred, idx));
                }
            });
    }

    fn column_sum(&self, out: &mut Vec<T>) {
        let h0 = self.widths[0];
        out.clear();
        out.resize(h0, T::ZERO);
        let w = &self.params[INPUT_WEIGHT].data;
        for row in w[..self.n_cols * h0].chunks(h0) {
            axpy(T::ONE, row, out);
        }
    }

    fn dropout_mask(&self, batch: &Batch<T>, mask: &mut Vec<T>) {
        let (rows, seed) = (batch.rows(), batch.seed);
        let row_id = |b| batch.row_id(b);
        let h = self.widths[self.code_layer];
        mask.resize(rows * h, T::ZERO);
        let keep = 1.0 - self.dropout;
        let scale = T::of(1.0 / keep);
        mask.par_chunks_mut(h).enumerate().for_each(|(b, m)| {
            let mut rng = SmallRng::seed_from_u64(mix(seed, row_id(b) as u64));
            for x in m {
                *x = if rng.random::<f64>() < keep {
                    scale
                } else {
                    T::ZERO
                };
            }
        });
    }

    /// Backward pass after [`Network::forward`]: the masked MSE
    /// `Σ(ŷ−y)²/N` over the batch's N target entries and its gradient into
    /// `ws.grads` (L2 and weight decay are the optimiser's). `train` must
    /// match the forward pass.
    pub fn backward(&self, batch: &Batch<T>, ws: &mut Workspace<T>, train: bool) -> StepLoss {
        self.backward_with(batch, ws, train, DenseProducts::Gemm)
    }

    /// [`Network::backward`] with the dense products computed as `products`
    /// says (the same choice as the forward pass's, for the same batch).
    pub fn backward_with(
        &self,
        batch: &Batch<T>,
        ws: &mut Workspace<T>,
        train: bool,
        products: DenseProducts,
    ) -> StepLoss {
        let gemm = products == DenseProducts::Gemm;
        let dense_targets = gemm && is_dense(&batch.tg_ptr, &batch.tg_idx, self.n_cols);
        let dense_inputs = gemm && is_dense(&batch.in_ptr, &batch.in_idx, self.n_cols);
        let rows = batch.rows();
        let has_default = batch.default.iter().any(|&d| d != T::ZERO);
        self.index_with(batch, ws, dense_inputs && dense_targets);
        let loss = self.output_error(batch, ws);
        self.zero_grads(ws);
        let l = self.widths.len();
        let hl = self.last_width();
        // ∂/∂a_last = Σ_j e_j V[j,:], row by row, or E·V for dense targets.
        ws.delta.resize(rows * hl, T::ZERO);
        if dense_targets {
            let w_out = &self.params[self.output_weight].data[..self.n_cols * hl];
            T::gemm(
                rows,
                hl,
                self.n_cols,
                &ws.err,
                false,
                w_out,
                false,
                &mut ws.delta,
                false,
            );
        }
        let use_dropout = train && self.dropout > 0.0;
        let act = self.activation;
        for i in (0..l).rev() {
            // With dropout on this layer a = f(z)·mask, so f′ comes from z alone.
            let masked = use_dropout && i == self.code_layer;
            let (z, a, mask) = (&ws.z[i], &ws.a[i], &ws.mask);
            let h = self.widths[i];
            let err = &ws.err;
            let tasks = ws.delta.par_chunks_mut(h).enumerate();
            tasks.with_min_len(ROWS_PER_TASK).for_each(|(b, d)| {
                if i == l - 1 && !dense_targets {
                    // ∂/∂a_last = Σ_j e_j V[j,:]; the first term is
                    // written, not added, which spares zeroing the row.
                    let (idx, _) = batch.targets(b);
                    let off = batch.tg_ptr[b];
                    let w_out = &self.params[self.output_weight].data;
                    if idx.is_empty() {
                        d.fill(T::ZERO);
                    }
                    for (k, &j) in idx.iter().enumerate() {
                        if let Some(&n) = batch.tg_idx.get(off + k + 1) {
                            prefetch_row(w_out, n, hl);
                        }
                        if k == 0 {
                            scale_into(err[off], self.out_row(j), d);
                        } else {
                            axpy(err[off + k], self.out_row(j), d);
                        }
                    }
                }
                // ∂/∂a_i → ∂/∂z_i.
                let r = b * h..(b + 1) * h;
                if masked {
                    for ((d, &z), &m) in d.iter_mut().zip(&z[r.clone()]).zip(&mask[r]) {
                        *d *= act.derivative(z) * m;
                    }
                } else {
                    act.mul_derivative(&z[r.clone()], &a[r], d);
                }
            });
            if i == 0 {
                break;
            }
            let layer = self.dense[i - 1];
            let (h_in, h_out) = (self.widths[i - 1], self.widths[i]);
            let a_prev = &ws.a[i - 1];
            let gw = &mut ws.grads[layer.weight];
            if layer.transposed {
                T::gemm(h_out, h_in, rows, &ws.delta, true, a_prev, false, gw, true);
            } else {
                T::gemm(h_in, h_out, rows, a_prev, true, &ws.delta, false, gw, true);
            }
            let gb = &mut ws.grads[layer.bias];
            for d in ws.delta.chunks(h_out) {
                axpy(T::ONE, d, gb);
            }
            ws.delta_next.resize(rows * h_in, T::ZERO);
            T::gemm(
                rows,
                h_in,
                h_out,
                &ws.delta,
                false,
                &self.params[layer.weight].data,
                !layer.transposed,
                &mut ws.delta_next,
                false,
            );
            std::mem::swap(&mut ws.delta, &mut ws.delta_next);
        }
        if dense_inputs && dense_targets {
            self.dense_input_and_output_grads(batch, ws, has_default);
        } else {
            self.input_and_output_grads(batch, ws, has_default);
        }
        loss
    }

    /// [`Network::input_and_output_grads`] for a batch whose inputs and
    /// targets are every rating column (touched = `0..n_cols`, so compact
    /// gradient rows are the parameters' rows): `G_in = Xᵀ·Δ₀`,
    /// `G_V = Eᵀ·A_last` (added to `G_in` when tied), each one GEMM.
    fn dense_input_and_output_grads(
        &self,
        batch: &Batch<T>,
        ws: &mut Workspace<T>,
        has_default: bool,
    ) {
        let (h0, hl, n) = (self.widths[0], self.last_width(), self.n_cols);
        let rows = batch.rows();
        debug_assert_eq!(ws.index.touched.len(), n);
        let dz0 = &ws.delta;
        let a_last = &ws.a[self.widths.len() - 1];
        let err = &ws.err;
        let tied = self.output_weight == INPUT_WEIGHT;
        let mut grads = std::mem::take(&mut ws.grads);
        let g_in = &mut grads[INPUT_WEIGHT][..n * h0];
        T::gemm(n, h0, rows, &batch.in_val, true, dz0, false, g_in, false);
        if has_default {
            ws.gsum.clear();
            ws.gsum.resize(h0, T::ZERO);
            for b in 0..rows {
                axpy(batch.default[b], &dz0[b * h0..(b + 1) * h0], &mut ws.gsum);
            }
            let gsum = &ws.gsum;
            g_in.par_chunks_mut(h0).for_each(|g| axpy(T::ONE, gsum, g));
        }
        let g_bias = &mut grads[INPUT_BIAS];
        for d in dz0.chunks(h0) {
            axpy(T::ONE, d, g_bias);
        }
        let (gv, accumulate) = if tied {
            (&mut grads[INPUT_WEIGHT][..n * hl], true)
        } else {
            (&mut grads[self.output_weight][..n * hl], false)
        };
        T::gemm(n, hl, rows, err, true, a_last, false, gv, accumulate);
        let gc = &mut grads[self.output_bias];
        gc.fill(T::ZERO);
        for e in err.chunks(n) {
            axpy(T::ONE, e, gc);
        }
        ws.grads = grads;
    }

    /// Groups `batch` by column into `ws.index` and marks the touched input
    /// rows that get no gradient (`ws.inactive`). The trainer calls it
    /// before the forward pass too, to bring lazily updated rows up to date
    /// before they are read.
    ///
    /// With [`Workspace::shared`] set, the index covers the union of the
    /// ranks' columns and `ws.inactive` is the ranks' agreed one.
    pub fn index_batch(&self, batch: &Batch<T>, ws: &mut Workspace<T>) {
        let dense = is_dense(&batch.in_ptr, &batch.in_idx, self.n_cols)
            && is_dense(&batch.tg_ptr, &batch.tg_idx, self.n_cols);
        self.index_with(batch, ws, dense);
    }

    /// [`Network::index_batch`]; `dense` says the batch's inputs and
    /// targets are every rating column of every row and the GEMM path will
    /// take it, which needs no per-column lists.
    fn index_with(&self, batch: &Batch<T>, ws: &mut Workspace<T>, dense: bool) {
        if dense && ws.shared.is_none() {
            // Every rating column has input entries: none is inactive.
            ws.index.build_dense(self.n_in(), self.n_cols);
            ws.inactive.clear();
            ws.inactive.resize(self.n_cols, false);
            return;
        }
        let has_default = batch.default.iter().any(|&d| d != T::ZERO);
        if let Some(shared) = &ws.shared {
            ws.index.build_with(
                batch,
                self.n_in(),
                self.n_cols,
                has_default,
                &shared.touched,
            );
            debug_assert_eq!(ws.index.touched, shared.touched);
            ws.inactive.clone_from(&shared.inactive);
            return;
        }
        ws.index.build(batch, self.n_in(), self.n_cols, has_default);
        let tied = self.output_weight == INPUT_WEIGHT;
        let ix = &ws.index;
        ws.inactive.clear();
        ws.inactive.extend((0..ix.touched.len()).map(|t| {
            let rating = (ix.touched[t] as usize) < self.n_cols;
            ix.inputs_of(t).is_empty()
                && !(rating && (has_default || (tied && !ix.targets_of(t).is_empty())))
        }));
    }

    /// Errors at the target entries: fills `ws.err` with (ŷ−y)·f′(pre)·2/N,
    /// the gradient of the mean over the batch's N targets, and returns the
    /// squared-error sum. A dense batch has millions of targets: fixed
    /// chunks run on the threads, their sums added in order, so the loss
    /// does not depend on the thread count (one chunk below that size: the
    /// plain serial sum).
    fn output_error(&self, batch: &Batch<T>, ws: &mut Workspace<T>) -> StepLoss {
        const CHUNK: usize = 1 << 14;
        let n = batch.tg_idx.len();
        ws.err.resize(n, T::ZERO);
        let out_act = self.output_activation;
        // The mean is over the whole batch: under data parallelism this
        // rank holds a share of it, and the ranks' gradients are summed.
        let whole_batch = ws.shared.as_ref().map_or(n, |s| s.targets);
        let scale = T::of(2.0 / whole_batch.max(1) as f64);
        let parts: Vec<f64> = ws
            .err
            .par_chunks_mut(CHUNK)
            .zip(ws.pred.par_chunks(CHUNK))
            .zip(ws.pre.par_chunks(CHUNK))
            .zip(batch.tg_val.par_chunks(CHUNK))
            .map(|(((err, pred), pre), target)| {
                let mut sum_sq = 0.0;
                for (((e, &p), &z), &y) in err.iter_mut().zip(pred).zip(pre).zip(target) {
                    let r = p - y;
                    sum_sq += r.f64() * r.f64();
                    // f′ from the output where that spares an exp (selu).
                    *e = r * out_act.derivative_from(z, p) * scale;
                }
                sum_sq
            })
            .collect();
        StepLoss {
            sum_sq: parts.iter().sum(),
            count: n,
        }
    }

    fn zero_grads(&self, ws: &mut Workspace<T>) {
        ws.grads.resize_with(self.params.len(), Vec::new);
        let ix = &ws.index;
        for (i, (p, g)) in self.params.iter().zip(ws.grads.iter_mut()).enumerate() {
            let rows = if !p.row_sparse {
                p.rows
            } else if i == INPUT_WEIGHT {
                ix.touched.len()
            } else {
                ix.n_rating
            };
            if p.row_sparse && i != self.output_bias {
                // Each scatter task zeroes the rows it owns, just before
                // filling them, so they are in cache once, not twice.
                g.resize(rows * p.cols, T::ZERO);
            } else {
                g.clear();
                g.resize(rows * p.cols, T::ZERO);
            }
        }
    }

    /// Gradients of the input weight and bias, and of the output weight and
    /// bias, one touched column per task (no locks: each task owns its rows).
    fn input_and_output_grads(&self, batch: &Batch<T>, ws: &mut Workspace<T>, has_default: bool) {
        let h0 = self.widths[0];
        let hl = self.last_width();
        let rows = batch.rows();
        let dz0 = &ws.delta;
        let a_last = &ws.a[self.widths.len() - 1];
        let err = &ws.err;
        let ix = &ws.index;
        // The default's column-sum term: the same vector for every rating row.
        ws.gsum.clear();
        ws.gsum.resize(h0, T::ZERO);
        if has_default {
            for b in 0..rows {
                axpy(batch.default[b], &dz0[b * h0..(b + 1) * h0], &mut ws.gsum);
            }
        }
        let gsum = &ws.gsum;
        let tied = self.output_weight == INPUT_WEIGHT;
        let n_cols = self.n_cols;
        let mut grads = std::mem::take(&mut ws.grads);
        {
            let (head, tail) = grads.split_at_mut(INPUT_BIAS);
            let g_in = &mut head[INPUT_WEIGHT];
            let tasks = g_in.par_chunks_mut(h0).enumerate();
            tasks.with_min_len(COLUMNS_PER_TASK).for_each(|(t, g)| {
                g.fill(T::ZERO);
                for &(b, k) in ix.inputs_of(t) {
                    let b = b as usize;
                    axpy(batch.in_val[k as usize], &dz0[b * h0..(b + 1) * h0], g);
                }
                if (ix.touched[t] as usize) < n_cols {
                    if has_default {
                        axpy(T::ONE, gsum, g);
                    }
                    if tied {
                        for &(b, k) in ix.targets_of(t) {
                            let b = b as usize;
                            axpy(err[k as usize], &a_last[b * hl..(b + 1) * hl], g);
                        }
                    }
                }
            });
            let g_bias = &mut tail[0];
            for d in dz0.chunks(h0) {
                axpy(T::ONE, d, g_bias);
            }
        }
        if !tied {
            let gv = std::mem::take(&mut grads[self.output_weight]);
            let mut gv = gv;
            let tasks = gv.par_chunks_mut(hl).enumerate();
            tasks.with_min_len(COLUMNS_PER_TASK).for_each(|(t, g)| {
                g.fill(T::ZERO);
                for &(b, k) in ix.targets_of(t) {
                    let b = b as usize;
                    axpy(err[k as usize], &a_last[b * hl..(b + 1) * hl], g);
                }
            });
            grads[self.output_weight] = gv;
        }
        let gc = &mut grads[self.output_bias];
        for (t, g) in gc.iter_mut().enumerate() {
            *g = ix.targets_of(t).iter().map(|&(_, k)| err[k as usize]).sum();
        }
        ws.grads = grads;
    }

    /// Dense outputs of every row of `batch` for every rating column
    /// (`rows × n_cols`, row-major), without dropout: for re-feeding and
    /// full-catalogue scoring.
    pub fn dense_output(&self, batch: &Batch<T>, ws: &mut Workspace<T>, out: &mut Vec<T>) {
        self.forward_impl(batch, ws, false, DenseProducts::Gemm, true);
        // The predictions become `out`; the workspace keeps `out`'s old
        // buffer, which the next forward pass resizes and overwrites.
        std::mem::swap(out, &mut ws.pred);
    }
}

/// Prefetches row `r` of a row-major table with `cols` columns.
#[inline]
fn prefetch_row<T>(table: &[T], r: u32, cols: usize) {
    let bytes = cols * std::mem::size_of::<T>();
    prefetch(table.as_ptr() as usize + r as usize * bytes, bytes);
}

/// SplitMix64 of `a` and `b`: independent, reproducible seeds per (batch, row).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
