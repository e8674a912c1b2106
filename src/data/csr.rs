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
    /// stable sort of each row's column run (skipped when already sorted; a
    /// radix sort on the column for rows of 16 entries or more, insertion
    /// below). The scatter and the row sorts run on the rayon threads, each
    /// owning a contiguous range of rows (and so a contiguous range of the
    /// output) and scanning the row array for its own entries.
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
        let indptr = row_pointers(n_rows, rows);
        // Triplets already ordered by row (a file grouped by user, read in
        // first-seen order, gives exactly that) need no scatter: each
        // task copies its rows' entries in one piece.
        let grouped = ordered_by_row(rows);
        let mut indices: Vec<u32> = zeroed_vec(nnz);
        let mut values: Vec<f32> = zeroed_vec(nnz);
        for_row_ranges(&indptr, &mut indices, &mut values, |r0, ptr, idx, val| {
            let base = ptr[0];
            if grouped {
                let end = ptr[ptr.len() - 1];
                idx.copy_from_slice(&cols[base..end]);
                val.copy_from_slice(&vals[base..end]);
                sort_rows(ptr, idx, val, n_cols);
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
            sort_rows(ptr, idx, val, n_cols);
        });
        Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            values,
        }
    }

    /// As [`Csr::from_triplets`], taking the triplets by value: when they
    /// come ordered by row, the column and value vectors become the
    /// matrix's own (each row's run sorted in place), so building it
    /// allocates only the row pointers. A 20M-entry matrix is then 160 MB
    /// less fresh memory to fault in and fill. Otherwise the same scatter.
    ///
    /// # Panics
    /// As [`Csr::from_triplets`].
    pub fn from_owned_triplets(
        n_rows: usize,
        n_cols: usize,
        rows: Vec<u32>,
        cols: Vec<u32>,
        vals: Vec<f32>,
    ) -> Csr {
        assert_eq!(rows.len(), cols.len());
        assert_eq!(rows.len(), vals.len());
        if !ordered_by_row(&rows) {
            return Csr::from_triplets(n_rows, n_cols, &rows, &cols, &vals);
        }
        let indptr = row_pointers(n_rows, &rows);
        drop(rows);
        let (mut indices, mut values) = (cols, vals);
        for_row_ranges(&indptr, &mut indices, &mut values, |_, ptr, idx, val| {
            sort_rows(ptr, idx, val, n_cols);
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

/// Row pointers (`n_rows + 1` of them) for triplets with row indices `rows`.
fn row_pointers(n_rows: usize, rows: &[u32]) -> Vec<usize> {
    let mut indptr = count_rows(n_rows, rows);
    for r in 0..n_rows {
        indptr[r + 1] += indptr[r];
    }
    indptr
}

/// True when the row indices never decrease (checked on the rayon threads).
fn ordered_by_row(rows: &[u32]) -> bool {
    rows.par_windows(2).all(|w| w[0] <= w[1])
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

/// Runs `f(first_row, row_pointers, indices, values)` on the rayon threads
/// over contiguous row ranges of about equal entry counts, each with its own
/// part of `indices` and `values`. Few tasks (one per thread, one for small
/// matrices): the scatter rescans the whole row array in every task.
fn for_row_ranges<F>(indptr: &[usize], indices: &mut [u32], values: &mut [f32], f: F)
where
    F: Fn(usize, &[usize], &mut [u32], &mut [f32]) + Sync,
{
    let nnz = indices.len();
    let tasks = if nnz < 1 << 16 {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    let ranges = row_ranges(indptr, nnz.div_ceil(tasks));
    let mut work = Vec::with_capacity(ranges.len());
    let (mut idx_rest, mut val_rest) = (indices, values);
    for &(r0, r1) in &ranges {
        let len = indptr[r1] - indptr[r0];
        let (idx, rest) = std::mem::take(&mut idx_rest).split_at_mut(len);
        idx_rest = rest;
        let (val, rest) = std::mem::take(&mut val_rest).split_at_mut(len);
        val_rest = rest;
        work.push((r0, &indptr[r0..=r1], idx, val));
    }
    work.into_par_iter()
        .for_each(|(r0, ptr, idx, val)| f(r0, ptr, idx, val));
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

/// Rows at least this long are radix-sorted, shorter ones by insertion
/// (measured on 20M entries in power-law rows of mean length 83, one
/// thread: 154 ms for comparison sorts of every row, 66 ms so).
const RADIX_MIN_ROW: usize = 16;

/// Sorts each row's run by column, stably: entries with equal columns keep
/// their order. `ptr` are the row pointers of the rows held in `idx` and
/// `val` (offset by `ptr[0]`).
///
/// # Panics
/// On a column index of `n_cols` or more (a caller's bug: indices come from
/// an id map of the stated size). Each row is checked by its largest column,
/// which sorting finds anyway.
fn sort_rows(ptr: &[usize], idx: &mut [u32], val: &mut [f32], n_cols: usize) {
    let base = ptr[0];
    let column_bits = usize::BITS - n_cols.saturating_sub(1).leading_zeros();
    let passes = column_bits.div_ceil(8).max(1);
    let (mut keys, mut scratch) = (Vec::new(), Vec::new());
    for w in ptr.windows(2) {
        let (s, e) = (w[0] - base, w[1] - base);
        if s == e {
            continue;
        }
        if idx[s..e].windows(2).all(|p| p[0] <= p[1]) {
            assert!((idx[e - 1] as usize) < n_cols, "column index out of range");
            continue;
        }
        // One u64 key per entry, column high and value bits low, sorted by
        // the column alone: an integer sort that carries the value along.
        keys.clear();
        keys.extend(
            idx[s..e]
                .iter()
                .zip(&val[s..e])
                .map(|(&c, &v)| (c as u64) << 32 | v.to_bits() as u64),
        );
        let largest = idx[s..e].iter().max().copied().unwrap_or(0);
        assert!((largest as usize) < n_cols, "column index out of range");
        if e - s < RADIX_MIN_ROW {
            insertion_sort_by_column(&mut keys);
        } else if passes <= 3 {
            radix_sort_by_column(&mut keys, &mut scratch, passes);
        } else {
            keys.sort_by_key(|k| k >> 32);
        }
        for (k, key) in keys.iter().enumerate() {
            idx[s + k] = (key >> 32) as u32;
            val[s + k] = f32::from_bits(*key as u32);
        }
    }
}

/// Stable insertion sort of a short run of keys by their high 32 bits.
fn insertion_sort_by_column(keys: &mut [u64]) {
    for i in 1..keys.len() {
        let k = keys[i];
        let mut j = i;
        while j > 0 && keys[j - 1] >> 32 > k >> 32 {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = k;
    }
}

/// Least-significant-digit radix sort of `keys` by their high 32 bits, one
/// byte a pass over the low `passes` bytes of them (the rest must be zero);
/// stable, so entries with equal columns keep their order.
fn radix_sort_by_column(keys: &mut Vec<u64>, scratch: &mut Vec<u64>, passes: u32) {
    let mut counts = [[0usize; 256]; 3];
    for &k in keys.iter() {
        for (p, count) in counts.iter_mut().enumerate().take(passes as usize) {
            count[(k >> (32 + 8 * p)) as usize & 255] += 1;
        }
    }
    scratch.clear();
    scratch.resize(keys.len(), 0);
    for (p, count) in counts.iter_mut().enumerate().take(passes as usize) {
        let mut sum = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        let shift = 32 + 8 * p;
        for &k in keys.iter() {
            let b = (k >> shift) as usize & 255;
            scratch[count[b]] = k;
            count[b] += 1;
        }
        std::mem::swap(keys, scratch);
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
    fn rows_sort_stably_by_column_at_every_width() {
        // Short rows (comparison sort) and long ones (radix, 1 to 3 byte
        // passes; a comparison sort past 2^24 columns), with repeated
        // columns whose entries must keep their order.
        let mut x: u64 = 7;
        for n_cols in [3usize, 200, 60_000, 5_000_000, 1 << 25] {
            for len in [2usize, 31, 32, 33, 500, 3000] {
                let (mut idx, mut val) = (Vec::new(), Vec::new());
                for k in 0..len {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let c = (x >> 20) as usize % n_cols.min(len);
                    idx.push((c * (n_cols / len.max(1)).max(1)).min(n_cols - 1) as u32);
                    val.push(k as f32);
                }
                let mut want: Vec<(u32, f32)> =
                    idx.iter().copied().zip(val.iter().copied()).collect();
                want.sort_by_key(|p| p.0);
                sort_rows(&[0, len], &mut idx, &mut val, n_cols);
                let got: Vec<(u32, f32)> = idx.into_iter().zip(val).collect();
                assert_eq!(got, want, "{n_cols} columns, row of {len}");
            }
        }
    }

    #[test]
    fn a_column_past_the_matrix_is_caught_in_sorted_and_unsorted_rows() {
        let build = |cols: Vec<u32>| {
            std::panic::catch_unwind(|| {
                Csr::from_owned_triplets(2, 3, vec![0, 0, 1], cols, vec![1.0; 3])
            })
        };
        assert!(build(vec![1, 0, 2]).is_ok());
        // Row 1 is one entry (sorted), row 0 two entries out of order.
        assert!(build(vec![1, 0, 3]).is_err());
        assert!(build(vec![5, 0, 2]).is_err());
        let borrowed = |rows: [u32; 3]| {
            std::panic::catch_unwind(|| Csr::from_triplets(2, 3, &rows, &[1, 4, 0], &[1.0; 3]))
        };
        // Grouped (copied) and scattered.
        assert!(borrowed([0, 0, 1]).is_err());
        assert!(borrowed([1, 0, 0]).is_err());
    }

    #[test]
    fn owned_triplets_build_the_borrowed_matrix() {
        // Grouped by row (columns taken over) and scattered (copied).
        let rows = vec![0u32, 0, 0, 2, 2, 3];
        let cols = vec![5u32, 1, 3, 0, 4, 2];
        let vals = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let want = Csr::from_triplets(4, 6, &rows, &cols, &vals);
        let got = Csr::from_owned_triplets(4, 6, rows.clone(), cols.clone(), vals.clone());
        assert_eq!(got, want);
        assert_eq!(got.row(0), (&[1u32, 3, 5][..], &[2.0f32, 3.0, 1.0][..]));
        let order = [3usize, 0, 5, 1, 4, 2];
        let pick = |v: &[u32]| order.iter().map(|&k| v[k]).collect::<Vec<u32>>();
        let scattered = Csr::from_owned_triplets(
            4,
            6,
            pick(&rows),
            pick(&cols),
            order.iter().map(|&k| vals[k]).collect(),
        );
        assert_eq!(scattered, want);
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
