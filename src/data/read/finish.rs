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
            let mut run_users = Vec::new();
            let mut current = u32::MAX;
            for (&u, &i) in users[w[0]..w[1]].iter().zip(&items[w[0]..w[1]]) {
                if u != current {
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

/// Every repeated (user, item) pair as `(later row, first row of the pair)`,
/// in O(nnz): rows are bucketed by user (a stable counting sort), then each
/// user's items are checked against a per-item "last user seen" mark.
fn find_duplicates(r: &Ratings) -> Vec<(usize, usize)> {
    if grouped_without_duplicates(r) {
        return Vec::new();
    }
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
    out
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
