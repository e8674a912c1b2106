//! Data-parallel fitting of the baselines over a [`Collective`]: every rank
//! fits on the users it owns ([`owns`]: user `u` belongs to rank
//! `u % size`) and the ranks combine so that each ends with the same model.
//!
//! - ALS biases: the item step's sums of residuals are all-reduced, the
//!   user step is local to the owner; the result is the single process's up
//!   to the order of `f64` sums.
//! - SGD (MF and SGD biases): Surprise's pass goes through the users in
//!   order, one update per rating. Split over ranks, a *block* of
//!   [`SYNC_USERS_PER_RANK`] users per rank of that order is trained by each
//!   rank on its own copy of the item rows; then the item rows the block
//!   touched are merged ([`ItemSync`]): for an item touched by `c` ranks,
//!   `row = Σ_r row_r − (c − 1)·base` (`base` the agreed row before the
//!   block), i.e. the base plus every rank's change. An item one rank
//!   touched takes that rank's row bit for bit, so when the ranks' users
//!   share no item within a block the result is the single process's
//!   exactly; when they share items, a rank's updates do not see the
//!   others' within the block, a staleness of at most one block.
//!
//! User rows live with their owner during the fit and are gathered once at
//! the end, so every rank returns the whole model. Train loss, validation
//! RMSE and stop requests are summed or agreed over the ranks, so every
//! rank records the same history and stops at the same epoch.
//! docs/distributed.md gives the bytes each exchange hands to the collective.

use std::ops::{Add, Mul, Sub};

use crate::collective::{owns, Collective};
use crate::data::Csr;
use crate::error::Result;
use crate::model::ValidationCells;

/// Users each rank trains between two merges of the item rows in the
/// data-parallel SGD pass. Smaller blocks follow the single process's pass
/// more closely (one user per rank is the finest grain) and cost more
/// merges, each at least one round trip of two collectives, which on a
/// busy or oversubscribed machine is a scheduler time slice (milliseconds).
/// Measured on ML-100K u1, MF with Surprise's defaults on 2 MPI ranks
/// (docs/distributed.md): 16, 64, 256 and 1,000 users a rank all give a
/// test RMSE within 1.5·10⁻⁴ of one process's (64: 3·10⁻⁵), and 64 takes a
/// third of the wall time of 16.
pub const SYNC_USERS_PER_RANK: usize = 64;

/// A float the baselines' tables hold, with its collective operations.
pub(super) trait SyncFloat:
    Copy
    + Default
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + From<u16>
{
    /// Element-wise sum over the ranks.
    fn all_reduce(comm: &dyn Collective, buf: &mut [Self]) -> Result<()>;
    /// Every rank's `mine`, in rank order.
    fn all_gather(comm: &dyn Collective, mine: &[Self]) -> Result<Vec<Vec<Self>>>;
}

impl SyncFloat for f32 {
    fn all_reduce(comm: &dyn Collective, buf: &mut [f32]) -> Result<()> {
        comm.all_reduce_sum_f32(buf)
    }

    fn all_gather(comm: &dyn Collective, mine: &[f32]) -> Result<Vec<Vec<f32>>> {
        comm.all_gather_f32(mine)
    }
}

impl SyncFloat for f64 {
    fn all_reduce(comm: &dyn Collective, buf: &mut [f64]) -> Result<()> {
        comm.all_reduce_sum_f64(buf)
    }

    fn all_gather(comm: &dyn Collective, mine: &[f64]) -> Result<Vec<Vec<f64>>> {
        let bytes: Vec<u8> = mine.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(comm
            .all_gather_bytes(&bytes)?
            .iter()
            .map(|b| {
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            })
            .collect())
    }
}

/// Tables with one row of `width` values per item (or per user), merged
/// row by row: a bias is a table of width 1, factors of width `k`.
pub(super) type Tables<'a, T> = [(&'a mut [T], usize)];

/// The item rows this rank touched since the last merge, each with its
/// value then (the base every rank agrees on), and the merge itself.
#[derive(Debug)]
pub(super) struct ItemSync<T> {
    /// Per item: its slot in `touched` since the last merge, or `NONE`.
    slot: Vec<u32>,
    touched: Vec<u32>,
    /// The touched rows before this rank changed them, all tables side by
    /// side (`width` values a row), in the order of `touched`.
    base: Vec<T>,
    width: usize,
}

const NONE: u32 = u32::MAX;

impl<T: SyncFloat> ItemSync<T> {
    /// A tracker for `n_items` rows of tables `width` values wide in all.
    pub fn new(n_items: usize, width: usize) -> Self {
        ItemSync {
            slot: vec![NONE; n_items],
            touched: Vec::new(),
            base: Vec::new(),
            width,
        }
    }

    /// Records the rows of `items` not yet touched since the last merge,
    /// with their current values; call it before changing them.
    pub fn touch(&mut self, items: &[u32], tables: &[(&[T], usize)]) {
        for &i in items {
            let s = &mut self.slot[i as usize];
            if *s != NONE {
                continue;
            }
            *s = self.touched.len() as u32;
            self.touched.push(i);
            for (t, w) in tables {
                let i = i as usize;
                self.base.extend_from_slice(&t[i * w..(i + 1) * w]);
            }
        }
    }

    /// Merges the touched rows over the ranks: one all-gather of the
    /// touched item indices (`4·|T_r|` bytes), then one all-reduce of the
    /// union's rows (`s·|U|·width` bytes), skipped when no rank touched
    /// anything. Afterwards every rank holds the same rows.
    pub fn merge(&mut self, comm: &dyn Collective, tables: &mut Tables<'_, T>) -> Result<()> {
        let all = comm.all_gather_u32(&self.touched)?;
        let mut union: Vec<u32> = all.concat();
        union.sort_unstable();
        // Each rank names an item at most once: a run of equal indices is
        // the number of ranks that changed the row.
        let mut rows: Vec<(u32, u16)> = Vec::new();
        for i in union {
            match rows.last_mut() {
                Some((last, c)) if *last == i => *c = c.saturating_add(1),
                _ => rows.push((i, 1)),
            }
        }
        if !rows.is_empty() {
            let w = self.width;
            let mut buf = vec![T::default(); rows.len() * w];
            for (out, &(i, _)) in buf.chunks_exact_mut(w).zip(&rows) {
                if self.slot[i as usize] != NONE {
                    copy_row(tables, i as usize, out);
                }
            }
            T::all_reduce(comm, &mut buf)?;
            let mut current = vec![T::default(); w];
            for (sum, &(i, c)) in buf.chunks_exact_mut(w).zip(&rows) {
                if c > 1 {
                    let s = self.slot[i as usize];
                    let base = if s == NONE {
                        // Untouched here: the row is still the agreed base.
                        copy_row(tables, i as usize, &mut current);
                        &current[..]
                    } else {
                        &self.base[s as usize * w..(s as usize + 1) * w]
                    };
                    let extra = T::from(c - 1);
                    for (x, &b) in sum.iter_mut().zip(base) {
                        *x = *x - extra * b;
                    }
                }
                write_row(tables, i as usize, sum);
            }
        }
        for &i in &self.touched {
            self.slot[i as usize] = NONE;
        }
        self.touched.clear();
        self.base.clear();
        Ok(())
    }
}

fn copy_row<T: Copy>(tables: &Tables<'_, T>, i: usize, out: &mut [T]) {
    let mut at = 0;
    for (t, w) in tables.iter() {
        out[at..at + w].copy_from_slice(&t[i * w..(i + 1) * w]);
        at += w;
    }
}

fn write_row<T: Copy>(tables: &mut Tables<'_, T>, i: usize, row: &[T]) {
    let mut at = 0;
    for (t, w) in tables.iter_mut() {
        let w = *w;
        t[i * w..(i + 1) * w].copy_from_slice(&row[at..at + w]);
        at += w;
    }
}

/// Gives every rank the rows of the users their owners fitted: each rank
/// sends its own users' rows (all tables, in user order; one all-gather of
/// `s · owned · width` bytes) and writes the others'. A no-op alone.
pub(super) fn gather_user_rows<T: SyncFloat>(
    comm: &dyn Collective,
    n_users: usize,
    tables: &mut Tables<'_, T>,
) -> Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        return Ok(());
    }
    let width: usize = tables.iter().map(|(_, w)| w).sum();
    let mut mine = Vec::new();
    let mut row = vec![T::default(); width];
    for u in (0..n_users).filter(|&u| owns(u, rank, size)) {
        copy_row(tables, u, &mut row);
        mine.extend_from_slice(&row);
    }
    let all = T::all_gather(comm, &mine)?;
    for (r, rows) in all.iter().enumerate().filter(|&(r, _)| r != rank) {
        let users = (0..n_users).filter(|&u| owns(u, r, size));
        for (u, row) in users.zip(rows.chunks_exact(width)) {
            write_row(tables, u, row);
        }
    }
    Ok(())
}

/// The users of `0..n_users` in the blocks of the data-parallel SGD pass:
/// block `b` holds users `b·B·size .. (b+1)·B·size` of the single
/// process's order (`B` = [`SYNC_USERS_PER_RANK`]), of which this rank
/// trains those it owns.
pub(super) fn sgd_blocks(
    n_users: usize,
    rank: usize,
    size: usize,
) -> impl Iterator<Item = Vec<usize>> {
    let block = SYNC_USERS_PER_RANK * size;
    (0..n_users.div_ceil(block)).map(move |b| {
        (b * block..n_users.min((b + 1) * block))
            .filter(|&u| owns(u, rank, size))
            .collect()
    })
}

/// Sums `values` over the ranks (a no-op alone).
pub(super) fn sum_over(comm: &dyn Collective, mut values: Vec<f64>) -> Result<Vec<f64>> {
    if comm.size() > 1 {
        comm.all_reduce_sum_f64(&mut values)?;
    }
    Ok(values)
}

/// Validation RMSE over a group: each rank scores the cells of the users
/// it owns, the squared errors and counts are summed over ranks. Alone, it
/// is [`ValidationCells::rmse`].
pub(super) fn validation_rmse_over(
    cells: &ValidationCells,
    comm: &dyn Collective,
    predict: impl Fn(usize, usize) -> f32,
) -> Result<f64> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        return Ok(cells.rmse(predict));
    }
    let (sse, n) = cells.sse_of_rows(|u| owns(u, rank, size), predict);
    let total = sum_over(comm, vec![sse, n as f64])?;
    Ok((total[0] / total[1].max(1.0)).sqrt())
}

/// The report's note on a data-parallel SGD fit.
pub(super) fn sgd_note(size: usize) -> String {
    format!(
        "data-parallel over {size} ranks: each rank trains its own users, the item rows \
         they touched merged every {SYNC_USERS_PER_RANK} users a rank"
    )
}

/// The report's note on the bytes a rank handed to the collective.
pub(super) fn bytes_note(comm: &dyn Collective, bytes: u64, epochs: usize) -> String {
    format!(
        "rank {} handed {bytes} bytes to the collective over {epochs} epochs \
         (docs/distributed.md)",
        comm.rank()
    )
}

/// Ratings of the rows of `m` this rank owns.
pub(super) fn owned_nnz(m: &Csr, rank: usize, size: usize) -> usize {
    (0..m.n_rows)
        .filter(|&u| owns(u, rank, size))
        .map(|u| m.row_len(u))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::ThreadGroup;

    #[test]
    fn a_merge_adds_every_ranks_change_to_the_base() {
        // Items 0..4, tables: bias (width 1) and factors (width 2), all
        // starting at base value 1. Rank 0 touches items 0 and 2, rank 1
        // items 2 and 3, rank 2 nothing.
        let out = ThreadGroup::run(3, 1, |comm| {
            let mut bias = vec![1f32; 4];
            let mut factors = vec![1f32; 8];
            let mut sync = ItemSync::new(4, 3);
            let mine: &[u32] = match comm.rank() {
                0 => &[0, 2, 0],
                1 => &[3, 2],
                _ => &[],
            };
            sync.touch(mine, &[(&bias, 1), (&factors, 2)]);
            for &i in mine {
                let i = i as usize;
                let d = (comm.rank() + 1) as f32;
                bias[i] += d;
                factors[2 * i] += 10.0 * d;
                factors[2 * i + 1] -= d;
            }
            let before = comm.bytes_sent();
            sync.merge(&*comm, &mut [(&mut bias, 1), (&mut factors, 2)])?;
            Ok((bias, factors, comm.bytes_sent() - before))
        });
        for (rank, o) in out.into_iter().enumerate() {
            let (bias, factors, sent) = o.unwrap();
            // Rank 0 changed item 0 twice and item 2 once by (+1, +10, −1);
            // rank 1 items 2 and 3 once by (+2, +20, −2). Item 2 then is
            // (2 + 3 − 1, 11 + 21 − 1, 0 − 1 − 1), the base plus both changes.
            assert_eq!(bias, [3.0, 1.0, 4.0, 3.0], "rank {rank}");
            assert_eq!(factors, [21.0, -1.0, 1.0, 1.0, 31.0, -2.0, 21.0, -1.0]);
            // Gather: 4 bytes an item named; reduce: union {0, 2, 3} × 3 floats.
            let named = [2, 2, 0][rank];
            assert_eq!(sent as usize, 4 * named + 4 * 3 * 3, "rank {rank}");
        }
    }

    #[test]
    fn blocks_cover_each_users_once_in_order() {
        for size in [1, 2, 3] {
            let mut seen = Vec::new();
            for rank in 0..size {
                for block in sgd_blocks(100, rank, size) {
                    assert!(block.len() <= SYNC_USERS_PER_RANK);
                    seen.extend(block);
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..100).collect::<Vec<_>>());
            assert_eq!(
                sgd_blocks(100, 0, size).count(),
                100usize.div_ceil(SYNC_USERS_PER_RANK * size)
            );
        }
    }
}
