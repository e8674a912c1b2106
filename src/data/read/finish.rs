//! What every reader does last: the duplicate (user, item) policy and the
//! inferred scale.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{Duplicates, Format, ReadOptions, ReadOutcome, SkippedLine};
use crate::data::{RatingScale, Ratings};
use crate::error::{Error, ErrorKind, Position, Result};

/// Recovers the line number of a rating from its row index without storing
/// one line number per rating: each parsed piece records its first row, its
/// first line and the rows at which it met lines that gave no rating.
///
/// A table read from rows rather than lines (Parquet) counts file rows from
/// 0 in place of lines and knows where its row groups start, so that a
/// duplicate is named by row group and row (see [`LineIndex::into_rows`]).
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    segments: Vec<Segment>,
    row_groups: Option<Vec<u64>>,
}

#[derive(Debug)]
struct Segment {
    first_row: usize,
    first_line: u64,
    gaps: Vec<u32>,
}

impl LineIndex {
    /// Records a piece whose first line is `first_line` (1-based) and whose
    /// first rating is row `first_row`.
    pub(crate) fn push(&mut self, first_row: usize, first_line: u64, gaps: Vec<u32>) {
        self.segments.push(Segment {
            first_row,
            first_line,
            gaps,
        });
    }

    /// Marks the index as one of file rows counted from 0 (pushed as
    /// `first_line`), in row groups starting at `starts`.
    pub(crate) fn into_rows(mut self, starts: Vec<u64>) -> Self {
        self.row_groups = Some(starts);
        self
    }

    /// Where rating `row` was in the file, in words, for an index of rows.
    pub(crate) fn describe_row(&self, row: usize) -> Option<String> {
        let starts = self.row_groups.as_ref()?;
        let file_row = self.position(row)?.line;
        Some(super::parquet::describe_row(starts, file_row))
    }

    /// The line of row `row`, when the reader recorded lines (text formats).
    /// The byte offset is not kept, so it is reported as 0.
    pub(crate) fn position(&self, row: usize) -> Option<Position> {
        let k = self.segments.partition_point(|s| s.first_row <= row);
        let seg = self.segments.get(k.checked_sub(1)?)?;
        let r = row - seg.first_row;
        let gaps_before = seg.gaps.partition_point(|&g| g as usize <= r);
        Some(Position {
            line: seg.first_line + (r + gaps_before) as u64,
            byte: 0,
        })
    }
}

/// Applies the duplicate policy and infers the scale.
pub(crate) fn finish(
    ratings: Ratings,
    format: Format,
    opts: &ReadOptions,
    skipped: usize,
    skipped_examples: Vec<SkippedLine>,
    lines: &LineIndex,
) -> Result<ReadOutcome> {
    // The scale needs one pass over the values; it runs beside the search.
    let (duplicates, min_max) = rayon::join(
        || find_duplicates(&ratings),
        || opts.scale.is_none().then(|| ratings.min_max()).flatten(),
    );
    let merged = duplicates.len();
    let ratings = if duplicates.is_empty() {
        ratings
    } else {
        match opts.duplicates {
            Duplicates::Error => {
                let &(later, _) = duplicates.iter().min().expect("not empty");
                let row = lines.describe_row(later);
                let error = Error::new(ErrorKind::Duplicate {
                    user: ratings.user_ids.id(ratings.users[later]).to_string(),
                    item: ratings.item_ids.id(ratings.items[later]).to_string(),
                    position: row.is_none().then(|| lines.position(later)).flatten(),
                });
                return Err(match row {
                    Some(row) => error.context(row),
                    None => error,
                });
            }
            policy => collapse(ratings, &duplicates, policy),
        }
    };
    let scale = opts.scale.or_else(|| {
        // Collapsing duplicates keeps values or averages them: the range
        // cannot widen, but it may narrow, so it is taken again then.
        let (lo, hi) = if merged == 0 {
            min_max?
        } else {
            ratings.min_max()?
        };
        RatingScale::new(lo, hi).ok()
    });
    Ok(ReadOutcome {
        ratings,
        format,
        skipped,
        skipped_examples,
        duplicates_merged: merged,
        scale,
    })
}

/// True when the rows certainly hold no repeated (user, item) pair, found
/// in one sequential pass for the common layout where each user's ratings
/// are contiguous (files sorted or grouped by user, as MovieLens ships them):
/// every user must start one run only, and no item may repeat within a run.
/// False means "not proven", not "duplicates exist".
///
/// The rows are cut at run starts into one part per thread; each part checks
/// its runs' items against its own marks and lists the users its runs
/// belong to, and those lists (one entry per run) are then checked for a
/// user that appears twice.
fn grouped_without_duplicates(r: &Ratings) -> bool {
    let (users, items) = (&r.users[..], &r.items[..]);
    let parts = if users.len() < 1 << 16 {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    let mut cuts = vec![0];
    for k in 1..parts {
        let mut at = (users.len() * k / parts).max(cuts[cuts.len() - 1]);
        while at > 0 && at < users.len() && users[at] == users[at - 1] {
            at += 1;
        }
        cuts.push(at);
    }
    cuts.push(users.len());
    let runs: Option<Vec<Vec<u32>>> = cuts
        .par_windows(2)
        .map(|w| {
            let mut mark = vec![u32::MAX; r.n_items()];
            // A user starting a second run within this part settles it
            // at once: a shuffled file gives up after a few hundred rows
            // instead of listing one run per row.
            let mut started = vec![false; r.n_users()];
            let mut run_users = Vec::new();
            let mut current = u32::MAX;
            for (&u, &i) in users[w[0]..w[1]].iter().zip(&items[w[0]..w[1]]) {
                if u != current {
                    if std::mem::replace(&mut started[u as usize], true) {
                        return None;
                    }
                    run_users.push(u);
                    current = u;
                }
                let run = run_users.len() as u32;
                if std::mem::replace(&mut mark[i as usize], run) == run {
                    return None;
                }
            }
            Some(run_users)
        })
        .collect();
    let Some(runs) = runs else { return false };
    let mut user_seen = vec![false; r.n_users()];
    runs.iter()
        .flatten()
        .all(|&u| !std::mem::replace(&mut user_seen[u as usize], true))
}

/// Rows per bucket of users aimed at by [`scattered_without_duplicates`]:
/// a bucket's packed (user, item) keys and its items sorted by user stay
/// within a core's L2 cache while they are checked.
const ROWS_PER_BUCKET: usize = 1 << 15;

/// A (user within its bucket, item) pair packed into one integer: `u32`
/// when both fit (MovieLens: 10 + 15 bits), else `u64`; the narrower key
/// halves the scatter's fresh memory and traffic.
trait Packed: crate::mem::Zero + Send + Sync {
    fn pack(local_user: usize, item: u32, item_bits: u32) -> Self;
    fn local_user(self, item_bits: u32) -> usize;
    fn item(self, item_bits: u32) -> u32;
}

impl Packed for u32 {
    fn pack(local_user: usize, item: u32, item_bits: u32) -> Self {
        (local_user as u32) << item_bits | item
    }
    fn local_user(self, item_bits: u32) -> usize {
        (self as u64 >> item_bits) as usize
    }
    fn item(self, item_bits: u32) -> u32 {
        (self as u64 & ((1 << item_bits) - 1)) as u32
    }
}

impl Packed for u64 {
    fn pack(local_user: usize, item: u32, _: u32) -> Self {
        (local_user as u64) << 32 | item as u64
    }
    fn local_user(self, _: u32) -> usize {
        (self >> 32) as usize
    }
    fn item(self, _: u32) -> u32 {
        self as u32
    }
}

/// True when the rows certainly hold no repeated (user, item) pair, for
/// rows in any order; false means "a pair repeats".
///
/// A counting sort by user straight into one array of 12M rows sends every
/// write, and then every read of the row's item, to a random place: cache
/// misses dominated reading a shuffled file. Here the rows are first
/// scattered into buckets of consecutive users (a few hundred, up to
/// 4,096), each thread writing its part of the rows into its own range of
/// every bucket, so that the writes go to a few hundred streams and
/// combine in cache; then each bucket (about [`ROWS_PER_BUCKET`] rows) is
/// sorted by user and its users' items checked against per-item marks, in
/// cache, buckets in parallel.
fn scattered_without_duplicates(r: &Ratings) -> bool {
    let (n_users, n_items) = (r.n_users(), r.n_items());
    if r.len() < 2 || n_users == 0 {
        return true;
    }
    let bits = |n: usize| usize::BITS - n.saturating_sub(1).leading_zeros();
    // Buckets of 2^shift users each: about ROWS_PER_BUCKET rows a bucket
    // when users are about equally active.
    let bucket_bits = (r.len() / ROWS_PER_BUCKET).max(1).ilog2().min(12);
    let shift = bits(n_users).saturating_sub(bucket_bits);
    let item_bits = bits(n_items);
    if shift + item_bits <= 32 {
        scatter_and_check::<u32>(r, shift, item_bits)
    } else {
        scatter_and_check::<u64>(r, shift, item_bits)
    }
}

/// [`scattered_without_duplicates`] with buckets of `2^shift` users and
/// keys of type `K`.
fn scatter_and_check<K: Packed>(r: &Ratings, shift: u32, item_bits: u32) -> bool {
    let (users, items) = (&r.users[..], &r.items[..]);
    let n = users.len();
    let n_buckets = ((r.n_users() - 1) >> shift) + 1;
    let local_mask = (1usize << shift) - 1;
    let parts = if n < 1 << 16 {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    let part_len = n.div_ceil(parts);
    // counts[p][b]: rows of part p whose user falls in bucket b.
    let counts: Vec<Vec<usize>> = users
        .par_chunks(part_len)
        .map(|chunk| {
            let mut c = vec![0usize; n_buckets];
            for &u in chunk {
                c[u as usize >> shift] += 1;
            }
            c
        })
        .collect();
    // Bucket b holds the rows of part 0, then part 1, …: each part gets its
    // own slice of every bucket, so the scatter needs no synchronisation.
    let mut keys: Vec<K> = crate::mem::zeroed_vec(n);
    let mut bucket_lens = Vec::with_capacity(n_buckets);
    let mut slices: Vec<Vec<&mut [K]>> = (0..counts.len())
        .map(|_| Vec::with_capacity(n_buckets))
        .collect();
    let mut rest = &mut keys[..];
    for b in 0..n_buckets {
        for (p, c) in counts.iter().enumerate() {
            let (here, tail) = std::mem::take(&mut rest).split_at_mut(c[b]);
            slices[p].push(here);
            rest = tail;
        }
        bucket_lens.push(counts.iter().map(|c| c[b]).sum::<usize>());
    }
    users
        .par_chunks(part_len)
        .zip(items.par_chunks(part_len))
        .zip(slices)
        .for_each(|((us, is), mut out)| {
            let mut at = vec![0usize; n_buckets];
            for (&u, &i) in us.iter().zip(is) {
                let b = u as usize >> shift;
                out[b][at[b]] = K::pack(u as usize & local_mask, i, item_bits);
                at[b] += 1;
            }
        });
    let mut buckets = Vec::with_capacity(n_buckets);
    let mut rest = &keys[..];
    for &len in &bucket_lens {
        let (here, tail) = rest.split_at(len);
        buckets.push(here);
        rest = tail;
    }
    let span = 1usize << shift;
    // A few tasks a thread, each with its own scratch: a mark per item
    // stamped with the user (users are unique to their bucket, so marks
    // need no reset between buckets), and the bucket's items by user.
    let tasks = rayon::current_num_threads().max(1) * 4;
    let scratch = || {
        (
            vec![u32::MAX; r.n_items()],
            vec![0u32; span + 1],
            Vec::new(),
        )
    };
    buckets
        .into_par_iter()
        .enumerate()
        .with_min_len(n_buckets.div_ceil(tasks))
        .map_init(scratch, |(mark, start, by_user), (b, keys)| {
            start.fill(0);
            for &k in keys {
                start[k.local_user(item_bits) + 1] += 1;
            }
            for u in 0..span {
                start[u + 1] += start[u];
            }
            by_user.clear();
            by_user.resize(keys.len(), 0u32);
            for &k in keys {
                let u = k.local_user(item_bits);
                by_user[start[u] as usize] = k.item(item_bits);
                start[u] += 1;
            }
            // `start[u]` is now where user u's run ends, and so where
            // user u + 1's begins.
            let mut from = 0;
            (0..span).all(|u| {
                let stamp = ((b << shift) + u) as u32;
                let to = start[u] as usize;
                let fresh = by_user[from..to]
                    .iter()
                    .all(|&i| std::mem::replace(&mut mark[i as usize], stamp) != stamp);
                from = to;
                fresh
            })
        })
        .all(|fresh| fresh)
}

/// Every repeated (user, item) pair as `(later row, first row of the pair)`,
/// in O(nnz): rows are bucketed by user (a stable counting sort), then each
/// user's items are checked against a per-item "last user seen" mark.
///
/// The proofs for grouped rows and then for rows in any order go first:
/// repeats are rare, and the exact search below, which lists them with
/// their rows, reads the items in random order.
pub(super) fn find_duplicates(r: &Ratings) -> Vec<(usize, usize)> {
    if grouped_without_duplicates(r) || scattered_without_duplicates(r) {
        return Vec::new();
    }
    search_duplicates(r)
}

/// The exact search of [`find_duplicates`], without the proofs.
fn search_duplicates(r: &Ratings) -> Vec<(usize, usize)> {
    let n_users = r.n_users();
    let mut start = vec![0u32; n_users + 1];
    for &u in &r.users {
        start[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; r.len()];
    for (k, &u) in r.users.iter().enumerate() {
        order[next[u as usize] as usize] = k as u32;
        next[u as usize] += 1;
    }
    drop(next);
    let mut mark = vec![u32::MAX; r.n_items()];
    let mut first = vec![0u32; r.n_items()];
    let mut found = Vec::new();
    for u in 0..n_users {
        for &k in &order[start[u] as usize..start[u + 1] as usize] {
            let i = r.items[k as usize] as usize;
            if mark[i] == u as u32 {
                found.push((k as usize, first[i] as usize));
            } else {
                mark[i] = u as u32;
                first[i] = k;
            }
        }
    }
    found
}

/// Keeps one entry per repeated pair, at the position of its last occurrence:
/// with its value (keep-last) or the mean of all its values (mean).
fn collapse(r: Ratings, duplicates: &[(usize, usize)], policy: Duplicates) -> Ratings {
    collapse_kept(r, duplicates, policy).0
}

/// [`collapse`], also giving the rows kept (ascending), so that a caller
/// that numbers rows (a distributed read) can follow them.
pub(super) fn collapse_kept(
    r: Ratings,
    duplicates: &[(usize, usize)],
    policy: Duplicates,
) -> (Ratings, Vec<usize>) {
    // first row of a pair → (sum, count, last row)
    let mut groups: HashMap<usize, (f64, u32, usize)> = HashMap::new();
    for &(later, first) in duplicates {
        let g = groups
            .entry(first)
            .or_insert((r.values[first] as f64, 1, first));
        g.0 += r.values[later] as f64;
        g.1 += 1;
        g.2 = g.2.max(later);
    }
    let mut keep = vec![true; r.len()];
    for &(later, first) in duplicates {
        keep[later] = false;
        keep[first] = false;
    }
    let mut values_at_last = HashMap::new();
    for &(sum, count, last) in groups.values() {
        keep[last] = true;
        if policy == Duplicates::Mean {
            values_at_last.insert(last, (sum / count as f64) as f32);
        }
    }
    let idx: Vec<usize> = (0..r.len()).filter(|&k| keep[k]).collect();
    let mut out = r.select(&idx);
    for (slot, &k) in idx.iter().enumerate() {
        if let Some(&v) = values_at_last.get(&k) {
            out.values[slot] = v;
        }
    }
    (out, idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(users: &[u32], items: &[u32]) -> Ratings {
        let ids = |n: u32| {
            std::sync::Arc::new(
                crate::IdMap::from_ids((0..n).map(|k| k.to_string()).collect()).unwrap(),
            )
        };
        Ratings {
            users: users.to_vec(),
            items: items.to_vec(),
            values: vec![1.0; users.len()],
            timestamps: None,
            user_ids: ids(users.iter().max().map_or(0, |m| m + 1)),
            item_ids: ids(items.iter().max().map_or(0, |m| m + 1)),
        }
    }

    #[test]
    fn grouped_check_proves_only_what_it_can() {
        // Grouped, no repeat: proven free of duplicates.
        let r = table(&[0, 0, 1, 1, 2], &[0, 1, 1, 0, 0]);
        assert!(grouped_without_duplicates(&r));
        assert!(find_duplicates(&r).is_empty());
        // Grouped with a repeat inside a run.
        let r = table(&[0, 0, 0, 1], &[2, 1, 2, 2]);
        assert!(!grouped_without_duplicates(&r));
        assert_eq!(find_duplicates(&r), [(2, 0)]);
        // User 0 comes back in a second run: not proven, and the full
        // search finds the pair that spans the runs.
        let r = table(&[0, 1, 0], &[3, 3, 3]);
        assert!(!grouped_without_duplicates(&r));
        assert_eq!(find_duplicates(&r), [(2, 0)]);
        // Not grouped, but no duplicate.
        let r = table(&[0, 1, 0], &[0, 0, 1]);
        assert!(find_duplicates(&r).is_empty());
    }

    /// A shuffled table of `n` rows over `users × items` with `repeats`
    /// repeated pairs, from a fixed seed.
    fn shuffled(n: usize, users: u32, items: u32, repeats: usize, seed: u64) -> Ratings {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut pairs = std::collections::HashSet::new();
        while pairs.len() < n - repeats {
            pairs.insert((rng.random_range(0..users), rng.random_range(0..items)));
        }
        let mut rows: Vec<(u32, u32)> = pairs.into_iter().collect();
        rows.sort_unstable();
        for _ in 0..repeats {
            let again = rows[rng.random_range(0..rows.len())];
            rows.push(again);
        }
        rows.shuffle(&mut rng);
        let (u, i): (Vec<u32>, Vec<u32>) = rows.into_iter().unzip();
        let mut r = table(&u, &i);
        // Every index is in range even when the largest was not drawn.
        r.user_ids = table(&[users - 1], &[0]).user_ids;
        r.item_ids = table(&[0], &[items - 1]).item_ids;
        r
    }

    #[test]
    fn scattered_check_agrees_with_the_exact_search() {
        // Sizes that give several parts and buckets, few users (one bucket
        // of many rows each), many users (one row or none per user), and
        // tables too small to split.
        let cases = [
            (80_000, 2_000, 3_000),
            (70_000, 40, 20_000),
            (70_000, 300_000, 50),
            (1_000, 37, 29),
            (2, 1, 1),
        ];
        for (k, &(n, users, items)) in cases.iter().enumerate() {
            for repeats in [0, 1, 17] {
                if repeats >= n || (users as usize * items as usize) < n {
                    continue;
                }
                let r = shuffled(n, users, items, repeats, k as u64 * 7 + repeats as u64);
                let exact = search_duplicates(&r);
                assert_eq!(exact.len(), repeats, "case {k}");
                assert_eq!(scattered_without_duplicates(&r), repeats == 0, "case {k}");
                assert_eq!(find_duplicates(&r), exact, "case {k}");
                // Both key widths, whatever this table would pick.
                for shift in [0, 3, 9] {
                    let item_bits = usize::BITS - (items as usize - 1).leading_zeros();
                    assert_eq!(scatter_and_check::<u64>(&r, shift, item_bits), repeats == 0);
                    if shift + item_bits <= 32 {
                        assert_eq!(scatter_and_check::<u32>(&r, shift, item_bits), repeats == 0);
                    }
                }
            }
        }
    }

    #[test]
    fn line_index_counts_gap_lines() {
        let mut index = LineIndex::default();
        // piece 1: header-less, lines 1..=4, a blank line before row 2
        index.push(0, 1, vec![2]);
        // piece 2 starts at line 5 with row 3, no gaps
        index.push(3, 5, vec![]);
        let line = |row| index.position(row).unwrap().line;
        assert_eq!(
            (line(0), line(1), line(2), line(3), line(4)),
            (1, 2, 4, 5, 6)
        );
    }
}
