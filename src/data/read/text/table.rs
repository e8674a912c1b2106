//! The rating table a read fills: pieces are merged in file order, their
//! ids registered serially and their rows copied in parallel.

use std::sync::Arc;

use rayon::prelude::*;

use super::ids::GlobalIds;
use super::layout::Layout;
use super::piece::{Columns, Piece};
use crate::data::read::finish::LineIndex;
use crate::data::read::{SkippedLine, SKIPPED_EXAMPLES};
use crate::data::Ratings;
use crate::error::Result;
use crate::mem::zeroed_vec;

/// Accumulates pieces in file order.
///
/// The columns are allocated zeroed at their estimated final length, on
/// huge pages (the kernel maps untouched zero pages, so this costs nothing
/// until written, and then one fault per 2 MiB instead of per 4 KiB)
/// and their first `len` rows are filled. A block's pieces are copied in by
/// the rayon threads, each into its own range, so the copy and the
/// first-touch page faults of the ~400 MB table run on every core.
pub(super) struct Table {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Option<Vec<i64>>,
    pub(super) len: usize,
    user_ids: GlobalIds,
    item_ids: GlobalIds,
    lines: LineIndex,
    pub(super) skipped: usize,
    examples: Vec<SkippedLine>,
    reserved: bool,
}

/// One parsed piece on its way into the table: its columns and the global
/// indices of its string user and item ids.
type Job = (Columns, Vec<u32>, Vec<u32>);

impl Table {
    pub(super) fn new(layout: &Layout) -> Self {
        Table {
            users: Vec::new(),
            items: Vec::new(),
            values: Vec::new(),
            times: layout.time.map(|_| Vec::new()),
            len: 0,
            user_ids: GlobalIds::new(layout.encoding),
            item_ids: GlobalIds::new(layout.encoding),
            lines: LineIndex::default(),
            skipped: 0,
            examples: Vec::new(),
            reserved: false,
        }
    }

    /// Sizes the whole table once, from the first block's rows per byte, so
    /// that growth never holds two copies of a column.
    pub(super) fn reserve_for(&mut self, rows: usize, bytes: usize, total_bytes: u64) {
        if self.reserved || bytes == 0 {
            return;
        }
        self.reserved = true;
        let estimate = (rows as f64 * total_bytes as f64 / bytes as f64 * 1.02) as usize + 16;
        self.grow_to(estimate);
    }

    /// Makes room for `rows` rows (zeroed; a quarter more when it must grow).
    fn grow_to(&mut self, rows: usize) {
        let have = self.values.len();
        if rows <= have {
            return;
        }
        let n = if have == 0 {
            rows
        } else {
            rows.max(have + have / 4)
        };
        if have == 0 {
            // Zeroed allocations: fresh pages, nothing written yet.
            self.users = zeroed_vec(n);
            self.items = zeroed_vec(n);
            self.values = zeroed_vec(n);
            if let Some(t) = self.times.as_mut() {
                *t = zeroed_vec(n);
            }
        } else {
            self.users.resize(n, 0);
            self.items.resize(n, 0);
            self.values.resize(n, 0.0);
            if let Some(t) = self.times.as_mut() {
                t.resize(n, 0);
            }
        }
    }

    /// Appends one block's pieces in file order. Ids are registered
    /// serially, piece after piece (first-seen order); the pieces are then
    /// translated and copied in parallel. Gives the column buffers back for
    /// reuse; stops at the first piece with an error.
    pub(super) fn merge_block(
        &mut self,
        parsed: Vec<Piece>,
        parts: &[&[u8]],
        line_base: &mut u64,
        byte_base: u64,
        pool: &mut Vec<Columns>,
    ) -> Result<()> {
        let first = self.len;
        let mut row = first;
        let mut piece_byte = byte_base;
        let fresh: Vec<_> = parsed
            .par_iter()
            .map(|p| {
                (
                    self.user_ids.fresh_ints(&p.cols.users, &p.user_ids),
                    self.item_ids.fresh_ints(&p.cols.items, &p.item_ids),
                )
            })
            .collect();
        let mut jobs: Vec<Job> = Vec::with_capacity(parsed.len());
        for ((p, part), (fresh_users, fresh_items)) in parsed.into_iter().zip(parts).zip(fresh) {
            if let Some(bad) = p.error {
                return Err(bad.into_error(*line_base, piece_byte));
            }
            self.lines.push(row, *line_base + 1, p.gaps);
            let users = self
                .user_ids
                .register_piece(&p.cols.users, &p.user_ids, fresh_users);
            let items = self
                .item_ids
                .register_piece(&p.cols.items, &p.item_ids, fresh_items);
            self.skipped += p.skipped;
            for bad in p.examples {
                if self.examples.len() < SKIPPED_EXAMPLES {
                    self.examples.push(bad.into_skipped(*line_base));
                }
            }
            *line_base += p.lines;
            piece_byte += part.len() as u64;
            row += p.cols.values.len();
            jobs.push((p.cols, users, items));
        }
        self.grow_to(row);
        let mut users = &mut self.users[first..row];
        let mut items = &mut self.items[first..row];
        let mut values = &mut self.values[first..row];
        let mut times = self.times.as_mut().map(|t| &mut t[first..row]);
        let mut tasks = Vec::with_capacity(jobs.len());
        for job in jobs {
            let n = job.0.values.len();
            let (u, rest) = std::mem::take(&mut users).split_at_mut(n);
            users = rest;
            let (i, rest) = std::mem::take(&mut items).split_at_mut(n);
            items = rest;
            let (v, rest) = std::mem::take(&mut values).split_at_mut(n);
            values = rest;
            let t = times.take().map(|t| {
                let (here, rest) = t.split_at_mut(n);
                times = Some(rest);
                here
            });
            tasks.push((job, u, i, v, t));
        }
        let (user_ids, item_ids) = (&self.user_ids, &self.item_ids);
        let done: Vec<Columns> = tasks
            .into_par_iter()
            .map(|((cols, user_strings, item_strings), u, i, v, t)| {
                user_ids.lookup_into(&cols.users, &user_strings, u);
                item_ids.lookup_into(&cols.items, &item_strings, i);
                v.copy_from_slice(&cols.values);
                if let Some(t) = t {
                    t.copy_from_slice(&cols.times);
                }
                cols
            })
            .collect();
        pool.extend(done);
        self.len = row;
        Ok(())
    }

    /// The filled rows; the estimate's spare room is given back.
    pub(super) fn finish(mut self) -> Result<(Ratings, usize, Vec<SkippedLine>, LineIndex)> {
        let len = self.len;
        self.users.truncate(len);
        self.items.truncate(len);
        self.values.truncate(len);
        if let Some(t) = self.times.as_mut() {
            t.truncate(len);
        }
        let (user_ids, item_ids) =
            rayon::join(|| self.user_ids.into_map(), || self.item_ids.into_map());
        let ratings = Ratings {
            users: self.users,
            items: self.items,
            values: self.values,
            timestamps: self.times,
            user_ids: Arc::new(user_ids?),
            item_ids: Arc::new(item_ids?),
        };
        Ok((ratings, self.skipped, self.examples, self.lines))
    }
}
