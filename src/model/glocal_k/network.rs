//! GLocal-K's forward and backward passes, dense over items × users (rows
//! are items, columns users, as in the reference).
//!
//! A kernelised layer maps `X` (`n × n_in`) to `f(X (W ⊙ K) + b)` where
//! `K[i, j] = max(0, 1 − ‖u_i − v_j‖²)` gates every weight: pairs whose
//! kernel vectors lie more than 1 apart get an exact zero, so the
//! effective matrix `W ⊙ K` is sparse without a fixed sparsity pattern.
//! Hidden layers are sigmoid, the output layer is linear. The loss is
//! `½ Σ_observed (r − r̂)² + Σ_layers (λ₂/2 ‖W‖² + λ_s/2 ‖K‖²)`, the
//! reference's `tf.nn.l2_loss` plus `l2_regularizer` terms.
//!
//! Fine-tuning first runs the network on the rating matrix `R`; the mean
//! of each item's outputs, `a_i`, times a learned `n_items × s²` matrix
//! `C` (scaled by `dot_scale`) gives an `s × s` global kernel `G`; the
//! network is then run again on `ReLU(R ⋆ G)` (cross-correlation, zero
//! "same" padding, as `tf.nn.conv2d`), and the loss is taken on that
//! second pass. Gradients flow through both passes (the reference shares
//! the weights between them and differentiates through both).
//!
//! Every product of two matrices goes through faer's GEMM; the objective
//! counts their floating-point operations (`2 m k n` each) for the report.

use faer::{Accum, MatMut, MatRef};
use rayon::prelude::*;

use super::config::GlocalKConfig;

/// Offsets of one kernelised layer's tensors in the flat parameter vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LayerLayout {
    /// Input width.
    pub n_in: usize,
    /// Output width.
    pub n_out: usize,
    /// `W`, `n_in × n_out`.
    pub weight: usize,
    /// `u`, `n_in × dim`.
    pub u: usize,
    /// `v`, `n_out × dim`.
    pub v: usize,
    /// `b`, `n_out`.
    pub bias: usize,
}

/// Where every tensor sits in the flat parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// The kernelised layers, input first; the last is the output layer.
    pub layers: Vec<LayerLayout>,
    /// Kernel vector dimension.
    pub dim: usize,
    /// Offset of the global kernel's `C` (`n_items × size²`).
    pub conv: usize,
    /// Global kernel side.
    pub size: usize,
    /// Rows of the data (items).
    pub n_items: usize,
    /// Columns of the data (users).
    pub n_users: usize,
    /// Total parameters.
    pub len: usize,
}

impl Layout {
    pub(crate) fn new(config: &GlocalKConfig, n_items: usize, n_users: usize) -> Layout {
        let widths = config.widths(n_users);
        let dim = config.kernel_dim;
        let mut at = 0;
        let layers = widths
            .windows(2)
            .map(|w| {
                let l = LayerLayout {
                    n_in: w[0],
                    n_out: w[1],
                    weight: at,
                    u: at + w[0] * w[1],
                    v: at + w[0] * w[1] + w[0] * dim,
                    bias: at + w[0] * w[1] + (w[0] + w[1]) * dim,
                };
                at = l.bias + w[1];
                l
            })
            .collect();
        let size = config.global_kernel_size;
        Layout {
            layers,
            dim,
            conv: at,
            size,
            n_items,
            n_users,
            len: at + n_items * size * size,
        }
    }

    /// Width of the last hidden layer.
    pub(crate) fn code_width(&self) -> usize {
        self.layers[self.layers.len() - 1].n_in
    }
}

/// The training matrix, dense: ratings (0 where missing) and the mask of
/// observed cells, both `n_items × n_users`.
#[derive(Debug, Clone)]
pub(crate) struct DenseData {
    pub n_items: usize,
    pub n_users: usize,
    pub ratings: Vec<f32>,
    pub mask: Vec<f32>,
}

/// `dst = a · b` or `dst += a · b` through faer; adds `2 m k n` to `flops`.
fn gemm(
    dst: MatMut<'_, f32>,
    accum: Accum,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    flops: &mut u64,
) {
    *flops += 2 * (a.nrows() * a.ncols() * b.ncols()) as u64;
    faer::linalg::matmul::matmul(dst, accum, a, b, 1.0f32, faer::get_global_parallelism());
}

fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(data, rows, cols)
}

fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}

/// `K[i, j] = max(0, 1 − ‖u_i − v_j‖²)`, row-major `n_in × n_out`.
pub(crate) fn local_kernel(
    u: &[f32],
    v: &[f32],
    n_in: usize,
    n_out: usize,
    dim: usize,
) -> Vec<f32> {
    let mut k = vec![0f32; n_in * n_out];
    k.par_chunks_mut(n_out.max(1))
        .zip(u.par_chunks(dim))
        .for_each(|(row, ui)| {
            for (kij, vj) in row.iter_mut().zip(v.chunks(dim)) {
                let d2: f32 = ui.iter().zip(vj).map(|(a, b)| (a - b) * (a - b)).sum();
                *kij = (1.0 - d2).max(0.0);
            }
        });
    k
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The kernels and effective weights `W ⊙ K` of every layer at one point.
pub(crate) struct Stack {
    kernels: Vec<Vec<f32>>,
    effective: Vec<Vec<f32>>,
}

impl Stack {
    pub(crate) fn new(layout: &Layout, params: &[f32]) -> Stack {
        let dim = layout.dim;
        let mut kernels = Vec::with_capacity(layout.layers.len());
        let mut effective = Vec::with_capacity(layout.layers.len());
        for l in &layout.layers {
            let u = &params[l.u..l.u + l.n_in * dim];
            let v = &params[l.v..l.v + l.n_out * dim];
            let k = local_kernel(u, v, l.n_in, l.n_out, dim);
            let w = &params[l.weight..l.weight + l.n_in * l.n_out];
            let e: Vec<f32> = w.par_iter().zip(&k).map(|(w, k)| w * k).collect();
            kernels.push(k);
            effective.push(e);
        }
        Stack { kernels, effective }
    }

    /// The effective weight matrix `W ⊙ K` of layer `l`.
    pub(crate) fn effective(&self, l: usize) -> &[f32] {
        &self.effective[l]
    }

    /// Every layer's output for `input` (`n × n_users`): sigmoid hidden
    /// layers, then the linear output layer (last).
    pub(crate) fn forward(
        &self,
        layout: &Layout,
        params: &[f32],
        input: &[f32],
        n: usize,
        flops: &mut u64,
    ) -> Vec<Vec<f32>> {
        let last = layout.layers.len() - 1;
        let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(layout.layers.len());
        for (li, l) in layout.layers.iter().enumerate() {
            let x = if li == 0 { input } else { &outputs[li - 1] };
            let mut z = vec![0f32; n * l.n_out];
            gemm(
                view_mut(&mut z, n, l.n_out),
                Accum::Replace,
                view(x, n, l.n_in),
                view(&self.effective[li], l.n_in, l.n_out),
                flops,
            );
            let b = &params[l.bias..l.bias + l.n_out];
            z.par_chunks_mut(l.n_out).for_each(|row| {
                for (zv, bv) in row.iter_mut().zip(b) {
                    let pre = *zv + bv;
                    *zv = if li == last { pre } else { sigmoid(pre) };
                }
            });
            outputs.push(z);
        }
        outputs
    }

    /// Back-propagates `d_out` (the loss's gradient with respect to the last
    /// output) through the layers, adding `∂/∂(W ⊙ K)` to `grad_eff` and
    /// `∂/∂b` to `grad_bias`; returns the gradient with respect to `input`
    /// when `input_grad`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        layout: &Layout,
        input: &[f32],
        outputs: &[Vec<f32>],
        d_out: Vec<f32>,
        grad_eff: &mut [Vec<f32>],
        grad_bias: &mut [Vec<f64>],
        input_grad: bool,
        flops: &mut u64,
    ) -> Option<Vec<f32>> {
        let n = outputs[0].len() / layout.layers[0].n_out;
        let last = layout.layers.len() - 1;
        let mut d = d_out;
        for li in (0..=last).rev() {
            let l = &layout.layers[li];
            if li != last {
                // Sigmoid: dz = da ⊙ a (1 − a).
                d.par_iter_mut()
                    .zip(&outputs[li])
                    .for_each(|(g, a)| *g *= a * (1.0 - a));
            }
            let sums = d
                .par_chunks(l.n_out)
                .fold(
                    || vec![0f64; l.n_out],
                    |mut acc, row| {
                        acc.iter_mut().zip(row).for_each(|(a, g)| *a += *g as f64);
                        acc
                    },
                )
                .reduce(
                    || vec![0f64; l.n_out],
                    |mut a, b| {
                        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                        a
                    },
                );
            grad_bias[li]
                .iter_mut()
                .zip(sums)
                .for_each(|(g, s)| *g += s);
            let x = if li == 0 { input } else { &outputs[li - 1] };
            gemm(
                view_mut(&mut grad_eff[li], l.n_in, l.n_out),
                Accum::Add,
                view(x, n, l.n_in).transpose(),
                view(&d, n, l.n_out),
                flops,
            );
            if li > 0 || input_grad {
                let mut dx = vec![0f32; n * l.n_in];
                gemm(
                    view_mut(&mut dx, n, l.n_in),
                    Accum::Replace,
                    view(&d, n, l.n_out),
                    view(&self.effective[li], l.n_in, l.n_out).transpose(),
                    flops,
                );
                d = dx;
            }
        }
        input_grad.then_some(d)
    }

    /// The regulariser `Σ λ₂/2 ‖W‖² + λ_s/2 ‖K‖²`, and the gradient of the
    /// whole loss with respect to `W`, `u`, `v` and `b` from the
    /// accumulated `∂/∂(W ⊙ K)` and `∂/∂b`, written into `grad`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish(
        &self,
        layout: &Layout,
        params: &[f32],
        grad_eff: &[Vec<f32>],
        grad_bias: &[Vec<f64>],
        lambda_2: f64,
        lambda_s: f64,
        grad: &mut [f64],
        flops: &mut u64,
    ) -> f64 {
        let dim = layout.dim;
        let (l2, ls) = (lambda_2 as f32, lambda_s as f32);
        let mut reg = 0f64;
        for (li, l) in layout.layers.iter().enumerate() {
            let w = &params[l.weight..l.weight + l.n_in * l.n_out];
            let k = &self.kernels[li];
            let ge = &grad_eff[li];
            // gW = gE ⊙ K + λ₂ W; gK = gE ⊙ W + λ_s K, kept only where the
            // kernel is positive (the max(0, ·) is flat elsewhere).
            let mut gk = vec![0f32; l.n_in * l.n_out];
            reg += grad[l.weight..l.weight + l.n_in * l.n_out]
                .par_chunks_mut(l.n_out)
                .zip(gk.par_chunks_mut(l.n_out))
                .zip(w.par_chunks(l.n_out).zip(k.par_chunks(l.n_out)))
                .zip(ge.par_chunks(l.n_out))
                .map(|(((gw, gkr), (wr, kr)), ger)| {
                    let mut r = 0f64;
                    for j in 0..wr.len() {
                        gw[j] = (ger[j] * kr[j] + l2 * wr[j]) as f64;
                        if kr[j] > 0.0 {
                            gkr[j] = ger[j] * wr[j] + ls * kr[j];
                        }
                        r += 0.5
                            * (lambda_2 * (wr[j] as f64).powi(2)
                                + lambda_s * (kr[j] as f64).powi(2));
                    }
                    r
                })
                .sum::<f64>();
            // K = 1 − ‖u_i − v_j‖²: ∂K/∂u_i = −2 (u_i − v_j), ∂K/∂v_j = 2 (u_i − v_j).
            // du_i = −2 (u_i Σ_j G_ij − (G V)_i); dv_j = 2 ((Gᵀ U)_j − v_j Σ_i G_ij).
            let u = &params[l.u..l.u + l.n_in * dim];
            let v = &params[l.v..l.v + l.n_out * dim];
            let mut gv = vec![0f32; l.n_in * dim];
            gemm(
                view_mut(&mut gv, l.n_in, dim),
                Accum::Replace,
                view(&gk, l.n_in, l.n_out),
                view(v, l.n_out, dim),
                flops,
            );
            let mut gtu = vec![0f32; l.n_out * dim];
            gemm(
                view_mut(&mut gtu, l.n_out, dim),
                Accum::Replace,
                view(&gk, l.n_in, l.n_out).transpose(),
                view(u, l.n_in, dim),
                flops,
            );
            let mut col_sums = vec![0f64; l.n_out];
            for (i, row) in gk.chunks(l.n_out).enumerate() {
                let row_sum: f64 = row.iter().map(|&g| g as f64).sum();
                for c in 0..dim {
                    grad[l.u + i * dim + c] =
                        -2.0 * (u[i * dim + c] as f64 * row_sum - gv[i * dim + c] as f64);
                }
                col_sums
                    .iter_mut()
                    .zip(row)
                    .for_each(|(s, &g)| *s += g as f64);
            }
            for j in 0..l.n_out {
                for c in 0..dim {
                    grad[l.v + j * dim + c] =
                        2.0 * (gtu[j * dim + c] as f64 - v[j * dim + c] as f64 * col_sums[j]);
                }
            }
            grad[l.bias..l.bias + l.n_out].copy_from_slice(&grad_bias[li]);
        }
        reg
    }
}

/// The global kernel: `a_i = mean_u Y[i, u]` and `G = dot_scale · aᵀ C`
/// (`size²` values, row-major `size × size`).
pub(crate) fn global_kernel(
    y: &[f32],
    n_users: usize,
    conv: &[f32],
    size: usize,
    dot_scale: f64,
) -> (Vec<f32>, Vec<f32>) {
    let s2 = size * size;
    let avg: Vec<f32> = y
        .par_chunks(n_users)
        .map(|row| (row.iter().map(|&v| v as f64).sum::<f64>() / n_users as f64) as f32)
        .collect();
    let mut g = vec![0f64; s2];
    for (a, c) in avg.iter().zip(conv.chunks(s2)) {
        for t in 0..s2 {
            g[t] += *a as f64 * c[t] as f64;
        }
    }
    (avg, g.iter().map(|&v| (v * dot_scale) as f32).collect())
}

/// The source column range and offset for kernel column `kw`: output
/// column `c` reads input column `c + kw − pad` where that exists.
fn columns(kw: usize, pad: usize, n: usize) -> (usize, usize, isize) {
    let off = kw as isize - pad as isize;
    let start = (-off).max(0) as usize;
    let end = (n as isize - off).clamp(0, n as isize) as usize;
    (start, end.max(start), off)
}

/// `Z = R ⋆ G`: cross-correlation with zero "same" padding (the padding
/// before is `(size − 1) / 2`, as TensorFlow's `SAME`), `n_items × n_users`.
pub(crate) fn correlate(
    r: &[f32],
    n_items: usize,
    n_users: usize,
    g: &[f32],
    size: usize,
) -> Vec<f32> {
    let pad = (size - 1) / 2;
    let mut z = vec![0f32; n_items * n_users];
    z.par_chunks_mut(n_users).enumerate().for_each(|(i, out)| {
        for kh in 0..size {
            let src = i as isize + kh as isize - pad as isize;
            if src < 0 || src >= n_items as isize {
                continue;
            }
            let row = &r[src as usize * n_users..(src as usize + 1) * n_users];
            for kw in 0..size {
                let w = g[kh * size + kw];
                let (start, end, off) = columns(kw, pad, n_users);
                for c in start..end {
                    out[c] += w * row[(c as isize + off) as usize];
                }
            }
        }
    });
    z
}

/// `∂L/∂G[kh, kw] = Σ_{i,c} dZ[i, c] · R[i + kh − pad, c + kw − pad]`.
pub(crate) fn correlate_backward(
    r: &[f32],
    dz: &[f32],
    n_items: usize,
    n_users: usize,
    size: usize,
) -> Vec<f64> {
    let pad = (size - 1) / 2;
    let s2 = size * size;
    dz.par_chunks(n_users)
        .enumerate()
        .fold(
            || vec![0f64; s2],
            |mut acc, (i, drow)| {
                for kh in 0..size {
                    let src = i as isize + kh as isize - pad as isize;
                    if src < 0 || src >= n_items as isize {
                        continue;
                    }
                    let row = &r[src as usize * n_users..(src as usize + 1) * n_users];
                    for kw in 0..size {
                        let (start, end, off) = columns(kw, pad, n_users);
                        let mut s = 0f32;
                        for c in start..end {
                            s += drow[c] * row[(c as isize + off) as usize];
                        }
                        acc[kh * size + kw] += s as f64;
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![0f64; s2],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// Which loss an evaluation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The local-kernel autoencoder on `R`.
    Pretrain,
    /// The same network on `ReLU(R ⋆ G)`, `G` built from its output on `R`.
    Finetune,
}

/// What one forward run of the whole model gives.
pub(crate) struct ModelOutput {
    /// Predictions, `n_items × n_users`.
    pub prediction: Vec<f32>,
    /// The last hidden layer of the pass that predicts, `n_items × code width`.
    pub codes: Vec<f32>,
}

/// The model's predictions at `params` for `phase`.
pub(crate) fn predict(
    layout: &Layout,
    config: &GlocalKConfig,
    data: &DenseData,
    params: &[f32],
    phase: Phase,
    flops: &mut u64,
) -> ModelOutput {
    let stack = Stack::new(layout, params);
    let n = data.n_items;
    let mut out = stack.forward(layout, params, &data.ratings, n, flops);
    if phase == Phase::Finetune {
        let (_, g) = global_kernel(
            &out[out.len() - 1],
            data.n_users,
            &params[layout.conv..layout.len],
            layout.size,
            config.dot_scale,
        );
        let z = correlate(&data.ratings, n, data.n_users, &g, layout.size);
        let x: Vec<f32> = z.par_iter().map(|&v| v.max(0.0)).collect();
        out = stack.forward(layout, params, &x, n, flops);
    }
    let prediction = out.pop().unwrap_or_default();
    let codes = out.pop().unwrap_or_default();
    ModelOutput { prediction, codes }
}

/// The loss and its gradient at `params` (`f32`), written into `grad`
/// (`f64`, every entry set).
pub(crate) fn loss_and_grad(
    layout: &Layout,
    config: &GlocalKConfig,
    data: &DenseData,
    params: &[f32],
    phase: Phase,
    grad: &mut [f64],
    flops: &mut u64,
) -> f64 {
    let stack = Stack::new(layout, params);
    let n = data.n_items;
    let mut grad_eff: Vec<Vec<f32>> = layout
        .layers
        .iter()
        .map(|l| vec![0f32; l.n_in * l.n_out])
        .collect();
    let mut grad_bias: Vec<Vec<f64>> = layout.layers.iter().map(|l| vec![0f64; l.n_out]).collect();
    let residual = |pred: &[f32]| -> (f64, Vec<f32>) {
        let mut d = vec![0f32; pred.len()];
        let sq = d
            .par_chunks_mut(data.n_users)
            .zip(pred.par_chunks(data.n_users))
            .zip(
                data.ratings
                    .par_chunks(data.n_users)
                    .zip(data.mask.par_chunks(data.n_users)),
            )
            .map(|((d, p), (r, m))| {
                let mut s = 0f64;
                for c in 0..d.len() {
                    d[c] = m[c] * (p[c] - r[c]);
                    s += (d[c] as f64).powi(2);
                }
                s
            })
            .sum::<f64>();
        (0.5 * sq, d)
    };
    grad.iter_mut().for_each(|g| *g = 0.0);
    let first = stack.forward(layout, params, &data.ratings, n, flops);
    let sq = match phase {
        Phase::Pretrain => {
            let (sq, d) = residual(&first[first.len() - 1]);
            stack.backward(
                layout,
                &data.ratings,
                &first,
                d,
                &mut grad_eff,
                &mut grad_bias,
                false,
                flops,
            );
            sq
        }
        Phase::Finetune => {
            let conv = &params[layout.conv..layout.len];
            let (avg, g) = global_kernel(
                &first[first.len() - 1],
                data.n_users,
                conv,
                layout.size,
                config.dot_scale,
            );
            let z = correlate(&data.ratings, n, data.n_users, &g, layout.size);
            let x: Vec<f32> = z.par_iter().map(|&v| v.max(0.0)).collect();
            let second = stack.forward(layout, params, &x, n, flops);
            let (sq, d) = residual(&second[second.len() - 1]);
            let mut dx = stack
                .backward(
                    layout,
                    &x,
                    &second,
                    d,
                    &mut grad_eff,
                    &mut grad_bias,
                    true,
                    flops,
                )
                .unwrap_or_default();
            drop(second);
            dx.par_iter_mut().zip(&z).for_each(|(g, &zv)| {
                if zv <= 0.0 {
                    *g = 0.0;
                }
            });
            let dg = correlate_backward(&data.ratings, &dx, n, data.n_users, layout.size);
            drop(dx);
            let s2 = layout.size * layout.size;
            let scale = config.dot_scale;
            let mut d_avg = vec![0f64; n];
            for (i, (gc, c)) in grad[layout.conv..layout.len]
                .chunks_mut(s2)
                .zip(conv.chunks(s2))
                .enumerate()
            {
                for t in 0..s2 {
                    gc[t] = scale * avg[i] as f64 * dg[t];
                    d_avg[i] += scale * c[t] as f64 * dg[t];
                }
            }
            let mut d_first = vec![0f32; n * data.n_users];
            d_first
                .par_chunks_mut(data.n_users)
                .zip(&d_avg)
                .for_each(|(row, &da)| row.fill((da / data.n_users as f64) as f32));
            stack.backward(
                layout,
                &data.ratings,
                &first,
                d_first,
                &mut grad_eff,
                &mut grad_bias,
                false,
                flops,
            );
            sq
        }
    };
    let reg = stack.finish(
        layout,
        params,
        &grad_eff,
        &grad_bias,
        config.lambda_2,
        config.lambda_s,
        grad,
        flops,
    );
    sq + reg
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A 7-item × 6-user problem, one hidden layer of 4, kernel dim 2,
    /// penalties small enough that the data term matters too.
    fn problem(size: usize) -> (GlocalKConfig, DenseData, Layout) {
        let config = GlocalKConfig {
            hidden: vec![4],
            kernel_dim: 2,
            lambda_2: 0.5,
            lambda_s: 0.3,
            global_kernel_size: size,
            dot_scale: 0.7,
            ..GlocalKConfig::default()
        };
        let (n_items, n_users) = (7, 6);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut ratings = vec![0f32; n_items * n_users];
        let mut mask = vec![0f32; n_items * n_users];
        for c in 0..ratings.len() {
            if rng.random::<f64>() < 0.5 {
                ratings[c] = rng.random_range(1..=5) as f32;
                mask[c] = 1.0;
            }
        }
        let layout = Layout::new(&config, n_items, n_users);
        let data = DenseData {
            n_items,
            n_users,
            ratings,
            mask,
        };
        (config, data, layout)
    }

    /// Parameters spread so that some kernel values are 0, some in (0, 1),
    /// none within `margin` of the kink at 0 (finite differences straddling
    /// the kink would not match the one-sided gradient).
    fn params(layout: &Layout, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        'draw: loop {
            let p: Vec<f64> = (0..layout.len)
                .map(|_| rng.random_range(-0.6..0.6))
                .collect();
            let f: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let (mut zeros, mut inside) = (0, 0);
            for l in &layout.layers {
                let k = local_kernel(
                    &f[l.u..l.u + l.n_in * layout.dim],
                    &f[l.v..l.v + l.n_out * layout.dim],
                    l.n_in,
                    l.n_out,
                    layout.dim,
                );
                // Recompute 1 − ‖u − v‖² unclamped to see the margin.
                for i in 0..l.n_in {
                    for j in 0..l.n_out {
                        let s: f32 = (0..layout.dim)
                            .map(|c| {
                                (f[l.u + i * layout.dim + c] - f[l.v + j * layout.dim + c]).powi(2)
                            })
                            .sum();
                        if (1.0 - s).abs() < 0.08 {
                            continue 'draw;
                        }
                    }
                }
                zeros += k.iter().filter(|&&v| v == 0.0).count();
                inside += k.iter().filter(|&&v| v > 0.0).count();
            }
            if zeros > 0 && inside > 0 {
                return p;
            }
        }
    }

    fn loss_at(
        layout: &Layout,
        config: &GlocalKConfig,
        data: &DenseData,
        x: &[f64],
        phase: Phase,
        g: &mut [f64],
    ) -> f64 {
        let p: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut flops = 0;
        loss_and_grad(layout, config, data, &p, phase, g, &mut flops)
    }

    /// Central differences on every parameter against the analytic gradient.
    fn check_gradient(
        config: &GlocalKConfig,
        data: &DenseData,
        layout: &Layout,
        phase: Phase,
        seed: u64,
    ) {
        let x = params(layout, seed);
        let mut g = vec![0f64; layout.len];
        loss_at(layout, config, data, &x, phase, &mut g);
        let mut scratch = vec![0f64; layout.len];
        let h = 4e-3;
        let mut checked_nonzero = 0;
        for k in 0..layout.len {
            let mut xp = x.clone();
            xp[k] += h;
            let fp = loss_at(layout, config, data, &xp, phase, &mut scratch);
            xp[k] -= 2.0 * h;
            let fm = loss_at(layout, config, data, &xp, phase, &mut scratch);
            let fd = (fp - fm) / (2.0 * h);
            let tol = 2e-2 * fd.abs().max(g[k].abs()) + 3e-3;
            assert!(
                (fd - g[k]).abs() <= tol,
                "{phase:?} parameter {k}: finite difference {fd}, gradient {}",
                g[k]
            );
            if g[k].abs() > 1e-2 {
                checked_nonzero += 1;
            }
        }
        assert!(
            checked_nonzero > layout.len / 3,
            "too few informative coordinates: {checked_nonzero}"
        );
    }

    #[test]
    fn kernel_is_one_minus_squared_distance_clamped_at_zero() {
        // u = [(0,0), (1,1)], v = [(0,0.5), (0.5,0), (2,2)].
        let u = [0.0, 0.0, 1.0, 1.0];
        let v = [0.0, 0.5, 0.5, 0.0, 2.0, 2.0];
        let k = local_kernel(&u, &v, 2, 3, 2);
        // Row 0: 1−0.25, 1−0.25, max(0, 1−8); row 1: 1−(1+0.25), same, 1−2 → 0, 0, 0.
        assert_eq!(k, vec![0.75, 0.75, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn pretraining_gradient_matches_finite_differences() {
        let (config, data, layout) = problem(3);
        check_gradient(&config, &data, &layout, Phase::Pretrain, 1);
    }

    #[test]
    fn finetuning_gradient_matches_finite_differences_through_both_passes_and_the_global_kernel() {
        for size in [3, 2] {
            let (config, data, layout) = problem(size);
            check_gradient(&config, &data, &layout, Phase::Finetune, 2);
        }
    }

    #[test]
    fn regulariser_alone_has_the_gradient_of_its_formula() {
        // With no observed cell the loss is the kernel sparsity and L2 terms
        // only; check the value by hand and the gradient by differences.
        let (config, mut data, layout) = problem(3);
        data.mask.fill(0.0);
        let x = params(&layout, 4);
        let p: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut expected = 0f64;
        for l in &layout.layers {
            let k = local_kernel(&p[l.u..l.v], &p[l.v..l.bias], l.n_in, l.n_out, layout.dim);
            for (w, kv) in p[l.weight..l.u].iter().zip(&k) {
                expected += 0.5 * config.lambda_2 * (*w as f64).powi(2)
                    + 0.5 * config.lambda_s * (*kv as f64).powi(2);
            }
        }
        let mut g = vec![0f64; layout.len];
        let got = loss_at(&layout, &config, &data, &x, Phase::Pretrain, &mut g);
        assert!(
            (got - expected).abs() < 1e-5 * expected,
            "{got} vs {expected}"
        );
        // Biases are unpenalised: no data, no gradient.
        for l in &layout.layers {
            assert!(g[l.bias..l.bias + l.n_out].iter().all(|&v| v == 0.0));
        }
        check_gradient(&config, &data, &layout, Phase::Pretrain, 4);
    }

    #[test]
    fn correlation_matches_a_padded_double_loop() {
        let (n, m) = (4, 5);
        let r: Vec<f32> = (0..n * m).map(|v| (v % 7) as f32 - 2.0).collect();
        for size in [1, 2, 3, 4] {
            let g: Vec<f32> = (0..size * size).map(|v| 0.3 * v as f32 - 0.5).collect();
            let z = correlate(&r, n, m, &g, size);
            let pad = (size - 1) as isize / 2;
            for i in 0..n as isize {
                for c in 0..m as isize {
                    let mut want = 0f32;
                    for a in 0..size as isize {
                        for b in 0..size as isize {
                            let (si, sc) = (i + a - pad, c + b - pad);
                            if si >= 0 && si < n as isize && sc >= 0 && sc < m as isize {
                                want += g[(a * size as isize + b) as usize]
                                    * r[(si * m as isize + sc) as usize];
                            }
                        }
                    }
                    let got = z[(i * m as isize + c) as usize];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "size {size} ({i},{c}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_centred_one_kernel_is_the_identity() {
        let r: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut g = vec![0f32; 9];
        g[4] = 1.0;
        assert_eq!(correlate(&r, 3, 4, &g, 3), r);
    }

    #[test]
    fn global_kernel_by_hand() {
        // Two items, two users: means 1.5 and 3.5; C rows (1, 0, …), (0, 2, …).
        let y = [1.0, 2.0, 3.0, 4.0];
        let mut c = vec![0f32; 2 * 4];
        c[0] = 1.0;
        c[4 + 1] = 2.0;
        let (avg, g) = global_kernel(&y, 2, &c, 2, 0.5);
        assert_eq!(avg, vec![1.5, 3.5]);
        assert_eq!(g, vec![0.75, 3.5, 0.0, 0.0]);
    }

    #[test]
    fn flops_are_counted_per_gemm() {
        let (config, data, layout) = problem(3);
        let p: Vec<f32> = params(&layout, 1).iter().map(|&v| v as f32).collect();
        let mut flops = 0;
        predict(&layout, &config, &data, &p, Phase::Pretrain, &mut flops);
        // Two layers, 7 rows: 2·7·6·4 + 2·7·4·6.
        assert_eq!(flops, 2 * 7 * 6 * 4 * 2);
    }
}
