//! Optimisers over the network's parameters: SGD (momentum, Nesterov, in
//! PyTorch's form `v ← μv + g`) and Adam (AdamW's decoupled decay), each with
//! a dense update of every row and a lazy update of the rows a batch touched.
//!
//! The gradient of each step is the data gradient plus the L2 term `2·l2·w`
//! (weights only; Keras `kernel_regularizer` semantics); decoupled weight
//! decay multiplies weights by `1 − lr·weight_decay` each step.
//!
//! Lazy SGD is exact: a row untouched for k steps only saw the linear map
//! `(w, v) ← M·(w, v)` of its L2 gradient, decay and momentum, so it catches
//! up with `M^k` (a 2×2 matrix power, tabulated per epoch) when next touched
//! and at each epoch end. Lazy Adam is LazyAdam / PyTorch `SparseAdam`: moments
//! of untouched rows do not move (a different algorithm from dense Adam; the
//! L2 term of untouched rows is skipped, decoupled decay catches up exactly).

use rayon::prelude::*;

use super::network::Param;
use super::real::{prefetch, simd_kernel, zeroed_table, Real};

/// The optimiser's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimSettings {
    /// Adam (true) or SGD (false).
    pub adam: bool,
    /// SGD momentum μ.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// L2 penalty coefficient (the loss gets `l2·Σw²`).
    pub l2: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Update row-sparse parameters lazily (touched rows only).
    pub lazy: bool,
}

#[derive(Debug, Clone, Default)]
struct State<T> {
    /// SGD velocity or Adam first moment.
    m: Vec<T>,
    /// Adam second moment.
    v: Vec<T>,
    /// Lazy mode: epoch-local step at which each row was last brought up to date.
    last: Vec<u32>,
}

/// Rows of look-ahead for the catch-up's prefetch: two rows of weights and
/// momentum (~11 KB for 700 floats) in flight cover DRAM latency.
const PREFETCH_ROWS_AHEAD: usize = 2;

/// A 2×2 map `(w, v) ← [[a, b], [c, d]]·(w, v)`.
type Map2 = [f64; 4];

/// Optimiser state for every parameter of a network.
#[derive(Debug, Clone)]
pub struct Optimizer<T> {
    settings: OptimSettings,
    states: Vec<State<T>>,
    /// Steps taken since the start of the fit (Adam bias correction).
    pub t: u64,
    /// Steps taken since the last epoch boundary.
    local: u32,
    lr: f64,
    /// `M^k` for weights and for biases, k = 0, 1, … (lazy SGD catch-up).
    pow_weight: Vec<Map2>,
    pow_bias: Vec<Map2>,
}

impl<T: Real> Optimizer<T> {
    /// Zero state for `params`.
    pub fn new(settings: OptimSettings, params: &[Param<T>]) -> Self {
        let states = params
            .iter()
            .map(|p| {
                let n = p.data.len();
                let has_m = settings.adam || settings.momentum > 0.0;
                State {
                    m: if has_m { zeroed_table(n) } else { Vec::new() },
                    v: if settings.adam {
                        zeroed_table(n)
                    } else {
                        Vec::new()
                    },
                    last: if settings.lazy && p.row_sparse {
                        vec![0; p.rows]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        Optimizer {
            settings,
            states,
            t: 0,
            local: 0,
            lr: 0.0,
            pow_weight: Vec::new(),
            pow_bias: Vec::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OptimSettings {
        &self.settings
    }

    /// Starts an epoch at learning rate `lr`. Call [`Optimizer::flush`] at
    /// the end of the previous one first.
    pub fn begin_epoch(&mut self, lr: f64) {
        self.lr = lr;
        self.local = 0;
        self.pow_weight = vec![identity()];
        self.pow_bias = vec![identity()];
        for s in &mut self.states {
            s.last.iter_mut().for_each(|x| *x = 0);
        }
    }

    /// The map an untouched SGD row goes through in one step.
    fn untouched_map(&self, is_weight: bool) -> Map2 {
        let s = &self.settings;
        let lr = self.lr;
        let (l2, wd) = if is_weight {
            (s.l2, s.weight_decay)
        } else {
            (0.0, 0.0)
        };
        let mu = s.momentum;
        let g = 2.0 * l2;
        // v' = g·w + μ·v ; w' = (1 − lr·wd)·w − lr·(v' or g·w + μ·v').
        if s.nesterov {
            [1.0 - lr * wd - lr * g - lr * mu * g, -lr * mu * mu, g, mu]
        } else {
            [1.0 - lr * wd - lr * g, -lr * mu, g, mu]
        }
    }

    fn ensure_pows(&mut self, k: usize) {
        for (table, is_weight) in [(0, true), (1, false)] {
            let m = self.untouched_map(is_weight);
            let pows = if table == 0 {
                &mut self.pow_weight
            } else {
                &mut self.pow_bias
            };
            while pows.len() <= k {
                let last = *pows.last().expect("starts with the identity");
                pows.push(mul(m, last));
            }
        }
    }

    /// One step. `grads[p]` is compact (rows `touched[..len/cols]`) for
    /// row-sparse parameters and full for the others. `inactive[t]` marks
    /// touched rows of parameter 0 (the input weight) that got no gradient:
    /// the lazy update leaves them to catch up later, which is exact for SGD
    /// and what LazyAdam does (pass `&[]` when every row is active).
    pub fn step(
        &mut self,
        params: &mut [Param<T>],
        grads: &[Vec<T>],
        touched: &[u32],
        inactive: &[bool],
    ) {
        self.t += 1;
        self.local += 1;
        if !self.settings.adam && self.settings.lazy {
            self.ensure_pows(self.local as usize);
        }
        let rule = self.rule();
        for (pi, p) in params.iter_mut().enumerate() {
            let grad = &grads[pi];
            let state = &mut self.states[pi];
            let pows = if p.is_weight {
                &self.pow_weight
            } else {
                &self.pow_bias
            };
            let cols = p.cols;
            if p.row_sparse && self.settings.lazy {
                let n = grad.len() / cols;
                let slots: Vec<usize> = if pi == 0 && !inactive.is_empty() {
                    (0..n).filter(|&t| !inactive[t]).collect()
                } else {
                    (0..n).collect()
                };
                lazy_rows(p, state, grad, touched, &slots, &rule, pows, self.local);
            } else if p.row_sparse {
                let rows = &touched[..grad.len() / cols];
                let is_weight = p.is_weight;
                let zero = vec![T::ZERO; cols];
                par_rows(&mut p.data, &mut state.m, &mut state.v, cols)
                    .enumerate()
                    .for_each(|(r, (w, m, v))| {
                        let g = match rows.binary_search(&(r as u32)) {
                            Ok(t) => &grad[t * cols..(t + 1) * cols],
                            Err(_) => &zero[..],
                        };
                        rule.apply(w, m, v, g, is_weight);
                    });
            } else {
                let is_weight = p.is_weight;
                rule.apply(&mut p.data, &mut state.m, &mut state.v, grad, is_weight);
            }
        }
    }

    /// Brings the rows a batch is about to read up to the current step, so
    /// the forward pass never sees a stale row: for each row-sparse
    /// parameter, the rows `touched[..n]` where `n` is its compact gradient
    /// length (`rows_of[p]`), skipping `inactive` rows of parameter 0.
    pub fn catch_up_rows(
        &mut self,
        params: &mut [Param<T>],
        touched: &[u32],
        n_rating: usize,
        inactive: &[bool],
    ) {
        if !self.settings.lazy {
            return;
        }
        if !self.settings.adam {
            self.ensure_pows(self.local as usize);
        }
        let rule = self.rule();
        let now = self.local;
        for (pi, p) in params.iter_mut().enumerate() {
            if !p.row_sparse {
                continue;
            }
            let n = if pi == 0 { touched.len() } else { n_rating };
            let rows: Vec<u32> = (0..n)
                .filter(|&t| !(pi == 0 && inactive.get(t).copied().unwrap_or(false)))
                .map(|t| touched[t])
                .collect();
            let cols = p.cols;
            let is_weight = p.is_weight;
            let state = &mut self.states[pi];
            let pows = if is_weight {
                &self.pow_weight
            } else {
                &self.pow_bias
            };
            let missed: Vec<usize> = rows
                .iter()
                .map(|&r| {
                    let k = (now - state.last[r as usize]) as usize;
                    state.last[r as usize] = now;
                    k
                })
                .collect();
            // Rows missed for a while are cold (DRAM, random): ask for the
            // rows a few places ahead while this one is computed.
            let row_bytes = cols * std::mem::size_of::<T>();
            let (w_base, m_base) = (p.data.as_ptr() as usize, state.m.as_ptr() as usize);
            let has_m = !state.m.is_empty();
            let ahead = |k: usize| {
                if let Some(&r) = rows.get(k + PREFETCH_ROWS_AHEAD) {
                    if missed[k + PREFETCH_ROWS_AHEAD] > 0 {
                        prefetch(w_base + r as usize * row_bytes, row_bytes);
                        if has_m {
                            prefetch(m_base + r as usize * row_bytes, row_bytes);
                        }
                    }
                }
            };
            let w_rows = pick_rows(&mut p.data, cols, &rows);
            let m_rows = pick_rows(&mut state.m, cols, &rows);
            w_rows
                .into_par_iter()
                .zip(m_rows)
                .enumerate()
                .with_min_len(32)
                .for_each(|(k, (w, m))| {
                    ahead(k);
                    rule.catch_up(w, m, missed[k], pows, is_weight);
                });
        }
    }

    /// Brings every lazily updated row up to the current step (call at each
    /// epoch end, before reading the weights).
    pub fn flush(&mut self, params: &mut [Param<T>]) {
        if !self.settings.lazy {
            return;
        }
        if !self.settings.adam {
            self.ensure_pows(self.local as usize);
        }
        let rule = self.rule();
        let now = self.local;
        for (pi, p) in params.iter_mut().enumerate() {
            if !p.row_sparse {
                continue;
            }
            let state = &mut self.states[pi];
            let pows = if p.is_weight {
                &self.pow_weight
            } else {
                &self.pow_bias
            };
            let cols = p.cols;
            let last = std::mem::take(&mut state.last);
            let is_weight = p.is_weight;
            par_rows(&mut p.data, &mut state.m, &mut state.v, cols)
                .zip(last.par_iter())
                .for_each(|((w, m, _), &l)| {
                    rule.catch_up(w, m, (now - l) as usize, pows, is_weight);
                });
            state.last = last.iter().map(|_| now).collect();
        }
    }

    fn rule(&self) -> Rule {
        let s = self.settings;
        Rule {
            s,
            lr: self.lr,
            bc1: 1.0 - s.beta1.powi(self.t.min(i32::MAX as u64) as i32),
            bc2: 1.0 - s.beta2.powi(self.t.min(i32::MAX as u64) as i32),
        }
    }
}

/// The per-row update with the step's constants.
#[derive(Debug, Clone, Copy)]
struct Rule {
    s: OptimSettings,
    lr: f64,
    bc1: f64,
    bc2: f64,
}

impl Rule {
    /// One real step on a row (or a whole dense tensor).
    #[inline]
    fn apply<T: Real>(&self, w: &mut [T], m: &mut [T], v: &mut [T], g: &[T], is_weight: bool) {
        let s = &self.s;
        let (l2, wd) = if is_weight {
            (T::of(2.0 * s.l2), T::of(1.0 - self.lr * s.weight_decay))
        } else {
            (T::ZERO, T::ONE)
        };
        let c = RowConsts {
            lr: T::of(self.lr),
            l2,
            wd,
            mu: T::of(s.momentum),
            b1: T::of(s.beta1),
            b2: T::of(s.beta2),
            step: T::of(self.lr / self.bc1),
            bc2: T::of(self.bc2.sqrt()),
            eps: T::of(s.eps),
        };
        if s.adam {
            adam_row(w, m, v, g, c);
        } else if m.is_empty() {
            sgd_row(w, g, c);
        } else if s.nesterov {
            nesterov_row(w, m, g, c);
        } else {
            momentum_row(w, m, g, c);
        }
    }

    /// `k` steps in which the row got no data gradient.
    #[inline]
    fn catch_up<T: Real>(
        &self,
        w: &mut [T],
        m: &mut [T],
        k: usize,
        pows: &[Map2],
        is_weight: bool,
    ) {
        if k == 0 {
            return;
        }
        if self.s.adam {
            if is_weight && self.s.weight_decay > 0.0 {
                let f = T::of((1.0 - self.lr * self.s.weight_decay).powi(k as i32));
                w.iter_mut().for_each(|x| *x *= f);
            }
            return;
        }
        let [a, b, c, d] = pows[k];
        if m.is_empty() {
            let a = T::of(a);
            w.iter_mut().for_each(|x| *x *= a);
        } else {
            catch_up_row(w, m, [T::of(a), T::of(b), T::of(c), T::of(d)]);
        }
    }
}

/// A step's constants in the engine's float type.
#[derive(Debug, Clone, Copy)]
struct RowConsts<T> {
    lr: T,
    /// `2·l2` for weights, 0 for biases.
    l2: T,
    /// `1 − lr·weight_decay` for weights, 1 for biases.
    wd: T,
    mu: T,
    b1: T,
    b2: T,
    /// `lr / (1 − β₁ᵗ)`.
    step: T,
    /// `√(1 − β₂ᵗ)`.
    bc2: T,
    eps: T,
}

// The row updates below zip their slices instead of indexing them, so no
// bounds check stands between the loop and the vectoriser.

simd_kernel! {
    fn sgd_row<T: Real>(w: &mut [T], g: &[T], c: RowConsts<T>) {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = c.wd * *w - c.lr * (g + c.l2 * *w);
        }
    }
}

simd_kernel! {
    fn momentum_row<T: Real>(w: &mut [T], m: &mut [T], g: &[T], c: RowConsts<T>) {
        for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
            let gi = g + c.l2 * *w;
            *m = c.mu * *m + gi;
            *w = c.wd * *w - c.lr * *m;
        }
    }
}

simd_kernel! {
    fn nesterov_row<T: Real>(w: &mut [T], m: &mut [T], g: &[T], c: RowConsts<T>) {
        for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
            let gi = g + c.l2 * *w;
            *m = c.mu * *m + gi;
            *w = c.wd * *w - c.lr * (gi + c.mu * *m);
        }
    }
}

simd_kernel! {
    fn adam_row<T: Real>(w: &mut [T], m: &mut [T], v: &mut [T], g: &[T], c: RowConsts<T>) {
        let (c1, c2) = (T::ONE - c.b1, T::ONE - c.b2);
        for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let gi = g + c.l2 * *w;
            *m = c.b1 * *m + c1 * gi;
            *v = c.b2 * *v + c2 * gi * gi;
            *w = c.wd * *w - c.step * *m / (v.sqrt() / c.bc2 + c.eps);
        }
    }
}

simd_kernel! {
    /// `(w, m) ← [[a, b], [c, d]]·(w, m)` elementwise.
    fn catch_up_row<T: Real>(w: &mut [T], m: &mut [T], map: [T; 4]) {
        let [a, b, c, d] = map;
        for (wi, mi) in w.iter_mut().zip(m.iter_mut()) {
            let (w0, m0) = (*wi, *mi);
            *wi = a * w0 + b * m0;
            *mi = c * w0 + d * m0;
        }
    }
}

/// Lazy update of the rows `touched[slots[k]]`, whose gradients are the
/// compact rows `slots[k]` of `grad`.
#[allow(clippy::too_many_arguments)]
fn lazy_rows<T: Real>(
    p: &mut Param<T>,
    state: &mut State<T>,
    grad: &[T],
    touched: &[u32],
    slots: &[usize],
    rule: &Rule,
    pows: &[Map2],
    now: u32,
) {
    let rows: Vec<u32> = slots.iter().map(|&t| touched[t]).collect();
    let rows = &rows[..];
    let cols = p.cols;
    let is_weight = p.is_weight;
    let row_bytes = cols * std::mem::size_of::<T>();
    let bases = [&p.data, &state.m, &state.v].map(|b| (b.as_ptr() as usize, !b.is_empty()));
    let ahead = |k: usize| {
        if let Some(&r) = rows.get(k + PREFETCH_ROWS_AHEAD) {
            for (base, present) in bases {
                if present {
                    prefetch(base + r as usize * row_bytes, row_bytes);
                }
            }
        }
    };
    let w_rows = pick_rows(&mut p.data, cols, rows);
    let m_rows = pick_rows(&mut state.m, cols, rows);
    let v_rows = pick_rows(&mut state.v, cols, rows);
    let last = &mut state.last;
    let missed: Vec<usize> = rows
        .iter()
        .map(|&r| {
            let k = (now - 1 - last[r as usize]) as usize;
            last[r as usize] = now;
            k
        })
        .collect();
    w_rows
        .into_par_iter()
        .zip(m_rows)
        .zip(v_rows)
        .enumerate()
        .with_min_len(32)
        .for_each(|(k, ((w, m), v))| {
            ahead(k);
            let t = slots[k];
            rule.catch_up(w, m, missed[k], pows, is_weight);
            rule.apply(w, m, v, &grad[t * cols..(t + 1) * cols], is_weight);
        });
}

/// Disjoint mutable rows `rows` (sorted, unique) of a row-major buffer; an
/// empty buffer (state the optimiser does not keep) gives empty rows.
fn pick_rows<'a, T>(data: &'a mut [T], cols: usize, rows: &[u32]) -> Vec<&'a mut [T]> {
    if data.is_empty() {
        return rows.iter().map(|_| &mut [][..]).collect();
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut rest = data;
    let mut at = 0usize;
    for &r in rows {
        let skip = (r as usize - at) * cols;
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
        let (row, tail) = tail.split_at_mut(cols);
        out.push(row);
        rest = tail;
        at = r as usize + 1;
    }
    out
}

/// Parallel iterator over matching rows of the weights and the two state
/// buffers (empty state buffers give empty rows).
fn par_rows<'a, T: Real>(
    w: &'a mut [T],
    m: &'a mut [T],
    v: &'a mut [T],
    cols: usize,
) -> impl IndexedParallelIterator<Item = (&'a mut [T], &'a mut [T], &'a mut [T])> {
    let rows = w.len() / cols;
    let m_cols = if m.is_empty() { 0 } else { cols };
    let v_cols = if v.is_empty() { 0 } else { cols };
    w.par_chunks_mut(cols)
        .zip(chunks_or_empty(m, m_cols, rows))
        .zip(chunks_or_empty(v, v_cols, rows))
        .map(|((w, m), v)| (w, m, v))
}

fn chunks_or_empty<T: Send>(
    data: &mut [T],
    cols: usize,
    rows: usize,
) -> rayon::vec::IntoIter<&mut [T]> {
    if cols == 0 {
        (0..rows)
            .map(|_| &mut [][..])
            .collect::<Vec<_>>()
            .into_par_iter()
    } else {
        data.chunks_mut(cols).collect::<Vec<_>>().into_par_iter()
    }
}

fn identity() -> Map2 {
    [1.0, 0.0, 0.0, 1.0]
}

fn mul(x: Map2, y: Map2) -> Map2 {
    [
        x[0] * y[0] + x[1] * y[2],
        x[0] * y[1] + x[1] * y[3],
        x[2] * y[0] + x[3] * y[2],
        x[2] * y[1] + x[3] * y[3],
    ]
}
