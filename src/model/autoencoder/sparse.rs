//! The sparse side of the engine: a prepared batch of rows
//! ([`Batch`]: input entries, default coefficients, targets) and its
//! transposed mini-CSR ([`ColumnIndex`]) that groups the batch's
//! (row, column) pairs by column, so the gradient scatter gives each thread
//! whole columns and needs no locks.

/// A prepared batch: for each row, the input entries (column, coefficient)
/// already centred, noised, dropped and with the row's default subtracted;
/// the row's default `d` (the coefficient of the column sum `Σ_j W[j,:]`); and
/// the target entries (column, value) the masked loss looks at.
#[derive(Debug, Clone, Default)]
pub struct Batch<T> {
    /// `in_ptr[b]..in_ptr[b+1]` are row `b`'s input entries.
    pub in_ptr: Vec<usize>,
    /// Input column of each entry (rating columns, then side features).
    pub in_idx: Vec<u32>,
    /// Input coefficient of each entry: `x − d` for ratings, the value for side features.
    pub in_val: Vec<T>,
    /// Each row's default for unobserved rating cells (0 in sparse-only modes).
    pub default: Vec<T>,
    /// `tg_ptr[b]..tg_ptr[b+1]` are row `b`'s target entries.
    pub tg_ptr: Vec<usize>,
    /// Target column of each entry.
    pub tg_idx: Vec<u32>,
    /// Target value of each entry (in the model's space: centred when `center`).
    pub tg_val: Vec<T>,
    /// Seed of the code-dropout masks: the step is a pure function of
    /// (weights, batch).
    pub seed: u64,
    /// When this batch is one rank's share of a larger one (data-parallel
    /// training), each row's position in the whole batch, so its dropout
    /// mask is the one a single process draws; empty means `0..rows`.
    pub row_ids: Vec<u32>,
}

impl<T: Copy> Batch<T> {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.in_ptr.clear();
        self.in_ptr.push(0);
        self.in_idx.clear();
        self.in_val.clear();
        self.default.clear();
        self.tg_ptr.clear();
        self.tg_ptr.push(0);
        self.tg_idx.clear();
        self.tg_val.clear();
        self.row_ids.clear();
    }

    /// Row `b`'s position in the whole batch (see [`Batch::row_ids`]).
    pub fn row_id(&self, b: usize) -> usize {
        self.row_ids.get(b).map_or(b, |&r| r as usize)
    }

    /// Closes the current row (entries pushed since the last call) with default `d`.
    pub fn end_row(&mut self, d: T) {
        self.in_ptr.push(self.in_idx.len());
        self.tg_ptr.push(self.tg_idx.len());
        self.default.push(d);
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.default.len()
    }

    /// Input entries of row `b`.
    pub fn input(&self, b: usize) -> (&[u32], &[T]) {
        let r = self.in_ptr[b]..self.in_ptr[b + 1];
        (&self.in_idx[r.clone()], &self.in_val[r])
    }

    /// Target entries of row `b`.
    pub fn targets(&self, b: usize) -> (&[u32], &[T]) {
        let r = self.tg_ptr[b]..self.tg_ptr[b + 1];
        (&self.tg_idx[r.clone()], &self.tg_val[r])
    }
}

/// The batch grouped by column: the sorted list of touched columns, and for
/// each, the (row, entry) pairs of the inputs and of the targets there.
#[derive(Debug, Clone, Default)]
pub struct ColumnIndex {
    /// Touched columns, sorted (so side-feature columns, numbered after the
    /// rating columns, come last).
    pub touched: Vec<u32>,
    /// How many of `touched` are rating columns (the output layer's rows).
    pub n_rating: usize,
    slot: Vec<u32>,
    /// `in_ptr[t]..in_ptr[t+1]` index `in_items` for touched column `t`.
    pub in_ptr: Vec<usize>,
    /// (batch row, input entry) pairs grouped by column.
    pub in_items: Vec<(u32, u32)>,
    /// `out_ptr[t]..out_ptr[t+1]` index `out_items` for touched rating column `t`.
    pub out_ptr: Vec<usize>,
    /// (batch row, target entry) pairs grouped by column.
    pub out_items: Vec<(u32, u32)>,
}

const NONE: u32 = u32::MAX;

impl ColumnIndex {
    /// Rebuilds the index for `batch` over `n_in` input columns, of which the
    /// first `n_cols` are ratings. With `all_rating_columns` (a non-zero
    /// default: the column-sum gradient reaches every row) every rating
    /// column counts as touched. O(batch entries), plus O(n_cols) in that mode.
    pub fn build<T: Copy>(
        &mut self,
        batch: &Batch<T>,
        n_in: usize,
        n_cols: usize,
        all_rating_columns: bool,
    ) {
        self.build_with(batch, n_in, n_cols, all_rating_columns, &[]);
    }

    /// [`ColumnIndex::build`], with the columns `extra` touched too (with
    /// no entries of this batch): in data-parallel training every rank
    /// indexes the union of the ranks' columns, so compact gradient rows
    /// line up across ranks and sum element-wise.
    pub fn build_with<T: Copy>(
        &mut self,
        batch: &Batch<T>,
        n_in: usize,
        n_cols: usize,
        all_rating_columns: bool,
        extra: &[u32],
    ) {
        if self.slot.len() != n_in {
            self.slot = vec![NONE; n_in];
            self.touched.clear();
        }
        for &j in &self.touched {
            self.slot[j as usize] = NONE;
        }
        self.touched.clear();
        if all_rating_columns {
            self.touched.extend(0..n_cols as u32);
            for j in 0..n_cols {
                self.slot[j] = 0;
            }
        }
        for &j in batch.in_idx.iter().chain(&batch.tg_idx).chain(extra) {
            if self.slot[j as usize] == NONE {
                self.slot[j as usize] = 0;
                self.touched.push(j);
            }
        }
        self.touched.sort_unstable();
        for (t, &j) in self.touched.iter().enumerate() {
            self.slot[j as usize] = t as u32;
        }
        self.n_rating = self.touched.partition_point(|&j| (j as usize) < n_cols);
        let rows = batch.rows();
        group(
            &self.slot,
            self.touched.len(),
            rows,
            &batch.in_ptr,
            &batch.in_idx,
            &mut self.in_ptr,
            &mut self.in_items,
        );
        group(
            &self.slot,
            self.touched.len(),
            rows,
            &batch.tg_ptr,
            &batch.tg_idx,
            &mut self.out_ptr,
            &mut self.out_items,
        );
    }

    /// The index of a dense batch whose inputs and targets are every rating
    /// column `0..n_cols` of every row, without grouping its entries: the
    /// GEMM path reads its gradients from dense products and needs only
    /// the touched columns (all rating columns). Grouping re-feeding's
    /// 2 × 128 × 26,744 entries, three times a step, took 15 % of a
    /// `--preset deep` epoch. The per-column lists are left empty.
    pub fn build_dense(&mut self, n_in: usize, n_cols: usize) {
        if self.slot.len() != n_in {
            self.slot = vec![NONE; n_in];
            self.touched.clear();
        }
        for &j in &self.touched {
            self.slot[j as usize] = NONE;
        }
        self.touched.clear();
        self.touched.extend(0..n_cols as u32);
        for (t, s) in self.slot[..n_cols].iter_mut().enumerate() {
            *s = t as u32;
        }
        self.n_rating = n_cols;
        self.in_ptr.clear();
        self.in_ptr.resize(n_cols + 1, 0);
        self.in_items.clear();
        self.out_ptr.clear();
        self.out_ptr.resize(n_cols + 1, 0);
        self.out_items.clear();
    }

    /// Input (row, entry) pairs of touched column `t`.
    pub fn inputs_of(&self, t: usize) -> &[(u32, u32)] {
        &self.in_items[self.in_ptr[t]..self.in_ptr[t + 1]]
    }

    /// Target (row, entry) pairs of touched column `t`.
    pub fn targets_of(&self, t: usize) -> &[(u32, u32)] {
        &self.out_items[self.out_ptr[t]..self.out_ptr[t + 1]]
    }
}

/// Counting sort of a batch's entries by the slot of their column; within a
/// column, pairs stay in row order, so sums over them do not depend on threads.
fn group(
    slot: &[u32],
    n_slots: usize,
    rows: usize,
    ptr: &[usize],
    idx: &[u32],
    out_ptr: &mut Vec<usize>,
    items: &mut Vec<(u32, u32)>,
) {
    out_ptr.clear();
    out_ptr.resize(n_slots + 1, 0);
    for &j in idx {
        out_ptr[slot[j as usize] as usize + 1] += 1;
    }
    for t in 0..n_slots {
        out_ptr[t + 1] += out_ptr[t];
    }
    items.clear();
    items.resize(idx.len(), (0, 0));
    let mut next: Vec<usize> = out_ptr[..n_slots].to_vec();
    for b in 0..rows {
        for k in ptr[b]..ptr[b + 1] {
            let t = slot[idx[k] as usize] as usize;
            items[next[t]] = (b as u32, k as u32);
            next[t] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_entries_by_sorted_column() {
        let mut b = Batch::<f32>::default();
        b.clear();
        b.in_idx.extend([5, 1]);
        b.in_val.extend([1.0, 2.0]);
        b.tg_idx.extend([5, 1]);
        b.tg_val.extend([1.0, 2.0]);
        b.end_row(0.0);
        b.in_idx.extend([1, 7]);
        b.in_val.extend([3.0, 0.5]);
        b.tg_idx.push(1);
        b.tg_val.push(3.0);
        b.end_row(0.0);
        let mut ix = ColumnIndex::default();
        ix.build(&b, 8, 6, false);
        assert_eq!(ix.touched, vec![1, 5, 7]);
        assert_eq!(ix.n_rating, 2);
        assert_eq!(ix.inputs_of(0), &[(0, 1), (1, 2)]);
        assert_eq!(ix.targets_of(0), &[(0, 1), (1, 2)]);
        assert_eq!(ix.inputs_of(2), &[(1, 3)]);
        assert!(ix.targets_of(2).is_empty());
        ix.build(&b, 8, 6, true);
        assert_eq!(ix.touched, vec![0, 1, 2, 3, 4, 5, 7]);
        assert_eq!(ix.n_rating, 6);
    }

    #[test]
    fn the_dense_index_lists_the_columns_the_full_build_finds() {
        let (n_in, n_cols) = (9, 7);
        let mut dense = Batch::<f32>::default();
        dense.clear();
        for _ in 0..3 {
            dense.in_idx.extend(0..n_cols as u32);
            dense.in_val.resize(dense.in_idx.len(), 0.5);
            dense.tg_idx.extend(0..n_cols as u32);
            dense.tg_val.resize(dense.tg_idx.len(), 0.5);
            dense.end_row(0.0);
        }
        let mut full = ColumnIndex::default();
        full.build(&dense, n_in, n_cols, false);
        let mut fast = ColumnIndex::default();
        fast.build_dense(n_in, n_cols);
        assert_eq!(fast.touched, full.touched);
        assert_eq!(fast.n_rating, full.n_rating);
        // A sparse batch indexed after a dense one starts from clean slots.
        let mut sparse = Batch::<f32>::default();
        sparse.clear();
        sparse.in_idx.extend([4, 8]);
        sparse.in_val.extend([1.0, 1.0]);
        sparse.tg_idx.push(4);
        sparse.tg_val.push(1.0);
        sparse.end_row(0.0);
        fast.build(&sparse, n_in, n_cols, false);
        assert_eq!(fast.touched, vec![4, 8]);
        assert_eq!(fast.inputs_of(1), &[(0, 1)]);
    }
}
