//! Compressed sparse rows: the one matrix layout aerec trains and scores on.

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
    /// sorted) column runs.
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
        let mut indices = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
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
        let mut pairs: Vec<(u32, f32)> = Vec::new();
        for r in 0..self.n_rows {
            let (s, e) = (self.indptr[r], self.indptr[r + 1]);
            let idx = &self.indices[s..e];
            if idx.windows(2).all(|w| w[0] <= w[1]) {
                continue;
            }
            pairs.clear();
            pairs.extend(idx.iter().copied().zip(self.values[s..e].iter().copied()));
            pairs.sort_unstable_by_key(|p| p.0);
            for (k, (c, v)) in pairs.iter().enumerate() {
                self.indices[s + k] = *c;
                self.values[s + k] = *v;
            }
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
