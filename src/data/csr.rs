//! Compressed sparse rows: the one matrix layout aerec trains and scores on.

use rayon::prelude::*;

use super::mem::vec_with_capacity;

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
    /// Builds from coordinate triplets in O(nnz + rows) by a counting sort on
    /// the row, then a per-row sort of the (usually short, often already
    /// sorted) column runs, rows spread over the rayon threads.
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
        let mut indptr = vec![0usize; n_rows + 1];
        for &r in rows {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        let mut next = indptr[..n_rows].to_vec();
        let mut indices = vec_with_capacity(nnz);
        indices.resize(nnz, 0u32);
        let mut values = vec_with_capacity(nnz);
        values.resize(nnz, 0f32);
        for k in 0..nnz {
            let r = rows[k] as usize;
            let c = cols[k];
            assert!((c as usize) < n_cols, "column index out of range");
            let at = next[r];
            indices[at] = c;
            values[at] = vals[k];
            next[r] += 1;
        }
        let mut csr = Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            values,
        };
        csr.sort_rows();
        csr
    }

    fn sort_rows(&mut self) {
        // Cut the entries into runs of whole rows, about 64 per thread, so
        // that each task owns its slices and long rows spread evenly.
        let chunks = rayon::current_num_threads() * 64;
        let target = self.nnz().div_ceil(chunks).max(1 << 12);
        let mut tasks = Vec::with_capacity(chunks + 1);
        let (mut indices, mut values) = (&mut self.indices[..], &mut self.values[..]);
        let mut r = 0;
        while r < self.n_rows {
            let first = r;
            let start = self.indptr[r];
            while r < self.n_rows && self.indptr[r + 1] - start < target {
                r += 1;
            }
            r = (r + 1).min(self.n_rows);
            let len = self.indptr[r] - start;
            let (idx, rest_idx) = std::mem::take(&mut indices).split_at_mut(len);
            let (val, rest_val) = std::mem::take(&mut values).split_at_mut(len);
            indices = rest_idx;
            values = rest_val;
            tasks.push((&self.indptr[first..=r], idx, val));
        }
        tasks.into_par_iter().for_each(|(indptr, idx, val)| {
            let base = indptr[0];
            let mut keys: Vec<u64> = Vec::new();
            for w in indptr.windows(2) {
                let (s, e) = (w[0] - base, w[1] - base);
                if idx[s..e].windows(2).all(|p| p[0] <= p[1]) {
                    continue;
                }
                // One u64 key per entry (column high, value bits low): one
                // integer sort instead of a sort of pairs.
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
        });
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
}
