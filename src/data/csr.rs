//! Compressed sparse rows: the one matrix layout aerec trains and scores on.

use rayon::prelude::*;

use crate::mem::zeroed_vec;

/// A sparse matrix in compressed-sparse-row form with `u32` column indices and
/// `f32` values: about 8 bytes a stored entry. Column indices within a row are
/// sorted ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csr {
    /// Number of rows.
    pub n_rows: usize,
    /// Number of columns.
    pub n_cols: usize,
    /// Row `r` occupies `indptr[r]..indptr[r + 1]` of `indices` and `values`.
    pub indptr: Vec<usize>,
    /// Column index of each stored entry.
    pub indices: Vec<u32>,
    /// Value of each stored entry.
    pub values: Vec<f32>,
}

impl Csr {
    /// Builds from coordinate triplets in O(nnz + rows): a counting sort on
    /// the row (a plain copy when the triplets come ordered by row), then a
    /// sort of each row's (usually short, often already sorted) column run. The scatter and the row sorts run on the rayon
    /// threads, each owning a contiguous range of rows (and so a contiguous
    /// range of the output) and scanning the row array for its own entries.
    ///
    /// # Panics
    /// When the three slices differ in length or an index is out of range:
    /// callers pass indices from an [`super::IdMap`] of the stated size.
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[f32],
    ) -> Csr {
        assert_eq!(rows.len(), cols.len());
        assert_eq!(rows.len(), vals.len());
        let nnz = rows.len();
        let mut indptr = count_rows(n_rows, rows);
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        // Triplets already ordered by row (a file grouped by user, read in
        // first-seen order, gives exactly that) need no scatter: each
        // task copies its rows' entries in one piece.
        let grouped = rows.par_windows(2).all(|w| w[0] <= w[1]);
        let mut indices: Vec<u32> = zeroed_vec(nnz);
        let mut values: Vec<f32> = zeroed_vec(nnz);
        // Each task rescans `rows` (4 bytes an entry, sequential), so few
        // tasks: one per thread, and one for small matrices.
        let tasks = if nnz < 1 << 16 {
            1
        } else {
            rayon::current_num_threads().max(1)
        };
        let ranges = row_ranges(&indptr, nnz.div_ceil(tasks));
        let mut work = Vec::with_capacity(ranges.len());
        let (mut idx_rest, mut val_rest) = (&mut indices[..], &mut values[..]);
        for &(r0, r1) in &ranges {
            let len = indptr[r1] - indptr[r0];
            let (idx, rest) = std::mem::take(&mut idx_rest).split_at_mut(len);
            idx_rest = rest;
            let (val, rest) = std::mem::take(&mut val_rest).split_at_mut(len);
            val_rest = rest;
            work.push((r0, &indptr[r0..=r1], idx, val));
        }
        work.into_par_iter().for_each(|(r0, ptr, idx, val)| {
            let base = ptr[0];
            if grouped {
                let end = ptr[ptr.len() - 1];
                let c = &cols[base..end];
                assert!(
                    c.iter().all(|&c| (c as usize) < n_cols),
                    "column index out of range"
                );
                idx.copy_from_slice(c);
                val.copy_from_slice(&vals[base..end]);
                sort_rows(ptr, idx, val);
                return;
            }
            let mut next: Vec<usize> = ptr[..ptr.len() - 1].iter().map(|p| p - base).collect();
            let r1 = r0 + next.len();
            for k in 0..nnz {
                let r = rows[k] as usize;
                if r < r0 || r >= r1 {
                    continue;
                }
                let c = cols[k];
                assert!((c as usize) < n_cols, "column index out of range");
                let at = &mut next[r - r0];
                idx[*at] = c;
                val[*at] = vals[k];
                *at += 1;
            }
            sort_rows(ptr, idx, val);
        });
        Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            values,
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[s..e], &self.values[s..e])
    }

    /// Number of stored entries in row `r`.
    pub fn row_len(&self, r: usize) -> usize {
        self.indptr[r + 1] - self.indptr[r]
    }

    /// Value at (r, c), if stored (binary search in the row).
    pub fn get(&self, r: usize, c: u32) -> Option<f32> {
        let (idx, val) = self.row(r);
        idx.binary_search(&c).ok().map(|k| val[k])
    }

    /// The transpose, in O(nnz + cols).
    pub fn transpose(&self) -> Csr {
        let mut rows = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows {
            rows.extend(std::iter::repeat_n(r as u32, self.row_len(r)));
        }
        Csr::from_triplets(self.n_cols, self.n_rows, &self.indices, &rows, &self.values)
    }
}

/// `counts[r + 1]` = entries in row `r` (`counts[0] = 0`), counted on the
/// rayon threads, each over its own slice, into its own histogram.
fn count_rows(n_rows: usize, rows: &[u32]) -> Vec<usize> {
    let count = |chunk: &[u32]| {
        let mut c = vec![0usize; n_rows + 1];
        for &r in chunk {
            c[r as usize + 1] += 1;
        }
        c
    };
    let threads = rayon::current_num_threads().max(1);
    if rows.len() < 1 << 20 || threads == 1 {
        return count(rows);
    }
    rows.par_chunks(rows.len().div_ceil(threads))
        .map(count)
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0; n_rows + 1])
}

/// Splits rows `0..n` (with row pointers `indptr`) into contiguous ranges
/// of about `target` entries each; every range holds at least one row.
fn row_ranges(indptr: &[usize], target: usize) -> Vec<(usize, usize)> {
    let n = indptr.len() - 1;
    let mut out = Vec::new();
    let mut r = 0;
    while r < n {
        let first = r;
        let start = indptr[r];
        while r < n && indptr[r + 1] - start < target.max(1) {
            r += 1;
        }
        r = (r + 1).min(n);
        out.push((first, r));
    }
    out
}

/// Sorts each row's run by column. `ptr` are the row pointers of the rows
/// held in `idx` and `val` (offset by `ptr[0]`).
fn sort_rows(ptr: &[usize], idx: &mut [u32], val: &mut [f32]) {
    let base = ptr[0];
    let mut keys: Vec<u64> = Vec::new();
    for w in ptr.windows(2) {
        let (s, e) = (w[0] - base, w[1] - base);
        if idx[s..e].windows(2).all(|p| p[0] <= p[1]) {
            continue;
        }
        // One u64 key per entry (column high, value bits low): an integer
        // sort instead of a sort of pairs.
        keys.clear();
        keys.extend(
            idx[s..e]
                .iter()
                .zip(&val[s..e])
                .map(|(&c, &v)| (c as u64) << 32 | v.to_bits() as u64),
        );
        keys.sort_unstable();
        for (k, key) in keys.iter().enumerate() {
            idx[s + k] = (key >> 32) as u32;
            val[s + k] = f32::from_bits(*key as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_sorted_rows_and_transposes() {
        let m = Csr::from_triplets(3, 4, &[2, 0, 0, 2], &[1, 3, 0, 0], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.indptr, vec![0, 2, 2, 4]);
        assert_eq!(m.row(0), (&[0u32, 3][..], &[3.0f32, 2.0][..]));
        assert_eq!(m.row(1).0.len(), 0);
        assert_eq!(m.row(2), (&[0u32, 1][..], &[4.0f32, 1.0][..]));
        assert_eq!(m.get(2, 1), Some(1.0));
        assert_eq!(m.get(1, 1), None);
        let t = m.transpose();
        assert_eq!((t.n_rows, t.n_cols), (4, 3));
        assert_eq!(t.row(0), (&[0u32, 2][..], &[3.0f32, 4.0][..]));
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn parallel_build_matches_a_dense_reference() {
        // Over 2^16 entries (so one task per thread); rows of very different lengths,
        // columns in scrambled order.
        let (n_rows, n_cols) = (1000usize, 211usize);
        let mut dense = vec![vec![None; n_cols]; n_rows];
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        let mut x: u64 = 12345;
        for k in 0..400_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = ((x >> 33) % n_rows as u64).pow(2) as usize / n_rows;
            let c = ((x >> 13) % n_cols as u64) as usize;
            if dense[r][c].is_none() {
                dense[r][c] = Some(k as f32);
                rows.push(r as u32);
                cols.push(c as u32);
                vals.push(k as f32);
            }
        }
        let m = Csr::from_triplets(n_rows, n_cols, &rows, &cols, &vals);
        assert_eq!(m.nnz(), rows.len());
        for (r, want) in dense.iter().enumerate() {
            let (idx, val) = m.row(r);
            let got: Vec<(u32, f32)> = idx.iter().copied().zip(val.iter().copied()).collect();
            let want: Vec<(u32, f32)> = want
                .iter()
                .enumerate()
                .filter_map(|(c, v)| v.map(|v| (c as u32, v)))
                .collect();
            assert_eq!(got, want, "row {r}");
        }
        let ranges = row_ranges(&m.indptr, 1000);
        assert_eq!((ranges[0].0, ranges.last().unwrap().1), (0, n_rows));
        assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0));
    }

    #[test]
    fn triplets_ordered_by_row_build_the_same_matrix() {
        // Over 2^20 entries, so rows are counted in parallel; columns within
        // a row in scrambled order; some rows empty.
        let (n_rows, n_cols) = (5000usize, 3001usize);
        let mut triplets = Vec::new();
        let mut x: u64 = 99;
        for r in 0..n_rows {
            if r % 7 == 3 {
                continue;
            }
            for k in 0..(r % 500) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let c = (k * 1009 + (x >> 40) as usize % 3) % n_cols;
                triplets.push((r as u32, c as u32, (x >> 20) as f32));
            }
        }
        triplets.sort_by_key(|t| (t.0, t.1));
        triplets.dedup_by_key(|t| (t.0, t.1));
        assert!(triplets.len() > 1 << 20);
        // Ordered by row, columns reversed within each row: the copy path.
        let mut grouped = triplets.clone();
        grouped.sort_by_key(|t| (t.0, std::cmp::Reverse(t.1)));
        // The same triplets scrambled: the scatter path.
        let mut scrambled = triplets.clone();
        scrambled.sort_by_key(|t| (t.1, t.0));
        let build = |t: &[(u32, u32, f32)]| {
            let rows: Vec<u32> = t.iter().map(|t| t.0).collect();
            let cols: Vec<u32> = t.iter().map(|t| t.1).collect();
            let vals: Vec<f32> = t.iter().map(|t| t.2).collect();
            Csr::from_triplets(n_rows, n_cols, &rows, &cols, &vals)
        };
        let a = build(&grouped);
        assert_eq!(a, build(&scrambled));
        let want: Vec<u32> = triplets.iter().map(|t| t.1).collect();
        assert_eq!(a.indices, want);
        assert_eq!(a.row_len(3), 0);
        assert_eq!(a.row_len(499), 499);
    }
}
