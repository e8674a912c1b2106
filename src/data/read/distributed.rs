//! Distributed reading: the ranks of a job read one rating file together,
//! each its own part, and end up with the single-process table cut by row
//! owner.
//!
//! 1. **Parts.** A text file is cut into byte ranges of equal size, moved
//!    forward to line starts (a line belongs to the rank its first byte
//!    falls to); each rank counts the lines of its range, and the counts
//!    of the ranks before it number its lines as a single read numbers
//!    them. A Parquet file is cut into contiguous runs of row groups (rank
//!    `r` takes the groups that start in the `r`-th `1/N` of the rows). A
//!    `.npz` matrix cannot be cut: every rank reads it whole and keeps its
//!    share of the rows.
//! 2. **Errors.** A bad line fails the rank that read it; the ranks then
//!    agree, and every rank returns the error of the first rank that
//!    failed: the one a single read reports, naming the same line.
//! 3. **Ids.** Each rank's part has ids in first-seen order within the
//!    part. The parts are in file order, so gathering every rank's ids in
//!    rank order and keeping each id's first occurrence gives the single
//!    read's first-seen order; each rank renumbers its rows into it.
//! 4. **Exchange.** Every row goes (all-to-all, in rounds of bounded size)
//!    to the rank that owns its user (or item): `index % size`, as
//!    [`crate::collective::owns`] deals the rows of a data-parallel fit.
//!    Each row carries its place in the single-process table, and a rank's
//!    rows stay in that order.
//! 5. **Duplicates and scale.** All the ratings of one (user, item) pair
//!    now lie on one rank, so the duplicate policy runs there; an error
//!    names the line of the earliest repeat in the file, found across
//!    ranks, as a single read names it. The inferred scale is the range
//!    over all ranks.
//!
//! The union of the ranks' rows is the single-process [`Ratings`], row for
//! row, with the same id maps (`tests/distributed_read.rs` checks it for 1
//! to 4 ranks).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::finish::{collapse_kept, find_duplicates};
use super::text::Part;
use super::{detect, Duplicates, Format, ReadOptions, ReadOutcome, SkippedLine, SKIPPED_EXAMPLES};
use crate::collective::{share, Collective};
use crate::data::{IdMap, RatingScale, Ratings};
use crate::error::{Error, ErrorKind, Position, Result};

/// Which rank holds a row after a distributed read: the owner of its user
/// or of its item (`index % size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsBy {
    /// Rows go to the owner of their user (user-based models, per-user
    /// splits).
    User,
    /// Rows go to the owner of their item (item-based models).
    Item,
}

impl RowsBy {
    /// The rank that holds a row of `user` and `item` in a group of `size`.
    pub fn owner(self, user: u32, item: u32, size: usize) -> usize {
        let key = match self {
            RowsBy::User => user,
            RowsBy::Item => item,
        };
        key as usize % size.max(1)
    }
}

/// What a distributed read gives one rank.
#[derive(Debug, Clone)]
pub struct DistributedRead {
    /// This rank's rows (those [`RowsBy::owner`] gives it) in file order,
    /// in the id space of the whole file. The counts (`skipped`,
    /// `duplicates_merged`), the examples and the scale are those of the
    /// whole file, the same on every rank.
    pub outcome: ReadOutcome,
    /// For each of this rank's rows, its row in the single-process table
    /// (ascending).
    pub rows: Vec<u64>,
    /// Rows over all ranks: the length of the single-process table.
    pub total: u64,
}

/// Reads `path` on every rank of `comm` together: each rank parses its own
/// part of the file, the ranks agree on the id maps and exchange rows, and
/// each returns the rows it owns (`by`), numbered as in the single-process
/// table. Every rank must call it with the same arguments.
///
/// A single rank reads the whole file (as [`super::read_ratings`], with the
/// rows numbered `0..n`). Errors are the single read's, on every rank.
pub fn read_distributed(
    path: impl AsRef<Path>,
    opts: &ReadOptions,
    by: RowsBy,
    comm: &dyn Collective,
) -> Result<DistributedRead> {
    let path = path.as_ref();
    read_path(path, opts, by, comm).map_err(|e| e.with_path(path))
}

fn read_path(
    path: &Path,
    opts: &ReadOptions,
    by: RowsBy,
    comm: &dyn Collective,
) -> Result<DistributedRead> {
    let (part, format) = agree(comm, read_own_part(path, opts, comm))?;
    let counts = gather_u64(comm, &[part.ratings.len() as u64, part.skipped as u64])?;
    let offsets: Vec<u64> = counts
        .iter()
        .scan(0u64, |at, c| {
            let start = *at;
            *at += c[0];
            Some(start)
        })
        .collect();
    let total: u64 = counts.iter().map(|c| c[0]).sum();
    let skipped: u64 = counts.iter().map(|c| c[1]).sum();
    if total == 0 {
        return Err(Error::format(match (format, skipped > 0) {
            (Format::Parquet, true) => format!("no valid rating: all {skipped} rows were bad"),
            (Format::Parquet, false) => "the file has no rows: no ratings".to_string(),
            (_, true) => format!("no valid rating: all {skipped} data lines were bad"),
            (_, false) => "empty file: no ratings".to_string(),
        }));
    }
    let examples = gather_examples(comm, &part.examples)?;
    let (ratings, rows) = agree_ids(comm, &part.ratings, offsets[comm.rank()])?;
    let (ratings, rows) = exchange(comm, ratings, &rows, by)?;
    let (ratings, rows, merged, total) =
        apply_duplicates(comm, ratings, rows, total, opts, &part, &offsets)?;
    let scale = match opts.scale {
        Some(s) => Some(s),
        None => global_scale(comm, &ratings)?,
    };
    Ok(DistributedRead {
        outcome: ReadOutcome {
            ratings,
            format,
            skipped: skipped as usize,
            skipped_examples: examples,
            duplicates_merged: merged,
            scale,
        },
        rows,
        total,
    })
}

/// This rank's part of the file, parsed, and the file's format.
fn read_own_part(path: &Path, opts: &ReadOptions, comm: &dyn Collective) -> Result<(Part, Format)> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(Error::format("is a directory, not a rating file"));
    }
    if !meta.is_file() {
        return Err(Error::config(
            "a distributed read needs a regular file that every rank can open \
             (each reads its own part); a pipe or device cannot be shared",
        ));
    }
    let mut file = std::fs::File::open(path)?;
    let head = detect::read_head(&mut file)?;
    super::refuse_compressed(&head)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let format = opts.format.unwrap_or_else(|| Format::detect(name, &head));
    let (rank, size) = (comm.rank(), comm.size());
    let part = match format {
        Format::Parquet => {
            let groups = super::parquet_row_groups(path)?;
            let part = own_row_groups(&groups, rank, size);
            super::parquet::read_part(path, part, opts)?
        }
        Format::Npz => {
            // A compressed matrix has no parts: each rank reads it whole
            // (duplicates and scale are settled there) and keeps its share.
            let whole = super::read_ratings(path, opts)?;
            let mine: Vec<usize> = share(whole.ratings.len(), rank, size).collect();
            let primary = rank == 0;
            Part {
                ratings: whole.ratings.select(&mine),
                skipped: if primary { whole.skipped } else { 0 },
                examples: if primary {
                    whole.skipped_examples
                } else {
                    Vec::new()
                },
                lines: Default::default(),
            }
        }
        _ => {
            drop(file);
            read_text_part(path, meta.len(), format, opts, comm)?
        }
    };
    Ok((part, format))
}

/// The row groups rank `rank` of `size` reads: those whose first row lies
/// in its share of the rows (contiguous, in file order, possibly none).
fn own_row_groups(rows: &[u64], rank: usize, size: usize) -> Range<usize> {
    let total: u64 = rows.iter().sum();
    let bound = |r: usize| (total as u128 * r as u128 / size.max(1) as u128) as u64;
    let (lo, hi) = (bound(rank), bound(rank + 1));
    let mut start = 0u64;
    let (mut first, mut last) = (rows.len(), rows.len());
    for (g, &n) in rows.iter().enumerate() {
        if start >= lo && first == rows.len() {
            first = g;
        }
        if start >= hi {
            last = g;
            break;
        }
        start += n;
    }
    first.min(last)..last
}

/// The bytes of a text file as its reader sees them: mapped where the
/// system allows (pages fetched ahead, let go behind), else read whole.
enum Bytes {
    #[cfg(target_os = "linux")]
    Mapped(super::mapped::Mapped),
    Owned(Vec<u8>),
}

impl Bytes {
    fn open(path: &Path, len: u64) -> Result<Bytes> {
        #[cfg(target_os = "linux")]
        if len >= super::MAP_MIN_BYTES {
            let file = std::fs::File::open(path)?;
            if let Some(map) = usize::try_from(len)
                .ok()
                .and_then(|len| super::mapped::Mapped::new(&file, len))
            {
                return Ok(Bytes::Mapped(map));
            }
        }
        let _ = len;
        Ok(Bytes::Owned(std::fs::read(path)?))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            #[cfg(target_os = "linux")]
            Bytes::Mapped(m) => m.bytes(),
            Bytes::Owned(b) => b,
        }
    }

    fn ahead(&self, next: Range<usize>, done: Range<usize>) {
        match self {
            #[cfg(target_os = "linux")]
            Bytes::Mapped(m) => {
                m.fetch(next);
                m.release(done);
            }
            Bytes::Owned(_) => {}
        }
    }
}

/// The first line start at or after byte `at` (`bytes.len()` when none).
fn line_start(bytes: &[u8], at: usize) -> usize {
    if at == 0 {
        return 0;
    }
    match memchr::memchr(b'\n', &bytes[at - 1..]) {
        Some(k) => at + k,
        None => bytes.len(),
    }
}

/// Bytes counted at a time, so that a mapped file's pages leave memory
/// behind the count.
const COUNT_BLOCK: usize = 16 << 20;

/// This rank's byte range of a text file, parsed; its first line is
/// numbered after the lines of the ranks before it.
fn read_text_part(
    path: &Path,
    len: u64,
    format: Format,
    opts: &ReadOptions,
    comm: &dyn Collective,
) -> Result<Part> {
    let source = Bytes::open(path, len)?;
    let bytes = source.bytes();
    let skip = super::text::preamble(bytes, format, opts)?;
    let (rank, size) = (comm.rank(), comm.size());
    let cut = |r: usize| line_start(bytes, share(bytes.len(), r, size).start).max(skip);
    let range = cut(rank)..if rank + 1 == size {
        bytes.len().max(skip)
    } else {
        cut(rank + 1)
    };
    let mut lines = 0u64;
    let mut at = range.start;
    while at < range.end {
        let end = (at + COUNT_BLOCK).min(range.end);
        lines += memchr::memchr_iter(b'\n', &bytes[at..end]).count() as u64;
        source.ahead(end..end, at..end);
        at = end;
    }
    let before: u64 = gather_u64(comm, &[lines])?[..rank]
        .iter()
        .map(|c| c[0])
        .sum();
    super::text::read_range(bytes, range, before, format, opts, |next, done| {
        source.ahead(next, done)
    })
}

/// Every rank's `result`, agreed: when any rank failed, every rank returns
/// the error of the first rank that failed (its own error there, its
/// message elsewhere), which is the error a single read reports first.
fn agree<T>(comm: &dyn Collective, result: Result<T>) -> Result<T> {
    if comm.size() == 1 {
        return result;
    }
    let mine = match &result {
        Ok(_) => Vec::new(),
        Err(e) => {
            let mut b = vec![1u8];
            b.extend_from_slice(e.to_string().as_bytes());
            b
        }
    };
    let all = comm.all_gather_bytes(&mine)?;
    match all.iter().position(|b| !b.is_empty()) {
        None => result,
        Some(first) if first == comm.rank() => result,
        Some(first) => Err(Error::other(
            String::from_utf8_lossy(&all[first][1..]).into_owned(),
        )),
    }
}

/// Every rank's `u64` values, in rank order.
fn gather_u64(comm: &dyn Collective, mine: &[u64]) -> Result<Vec<Vec<u64>>> {
    let bytes: Vec<u8> = mine.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(comm
        .all_gather_bytes(&bytes)?
        .iter()
        .map(|b| u64s_of(b))
        .collect())
}

fn u64s_of(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Appends a length-prefixed string.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads length-prefixed strings back; a malformed buffer (which only a
/// bug could produce) ends the list.
struct Strings<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (len, rest) = self.rest.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        let (s, rest) = (rest.get(..len)?, &rest[len..]);
        self.rest = rest;
        std::str::from_utf8(s).ok()
    }
}

/// The first [`SKIPPED_EXAMPLES`] skipped lines of the file: every rank's
/// (already numbered as in the file), in rank order.
fn gather_examples(comm: &dyn Collective, mine: &[SkippedLine]) -> Result<Vec<SkippedLine>> {
    let mut bytes = Vec::new();
    for e in mine {
        put_str(&mut bytes, &e.line.to_string());
        put_str(&mut bytes, &e.reason);
        put_str(&mut bytes, &e.text);
    }
    let mut out = Vec::new();
    for b in comm.all_gather_bytes(&bytes)? {
        let mut s = Strings { rest: &b };
        while let (Some(line), Some(reason), Some(text)) = (s.next(), s.next(), s.next()) {
            out.push(SkippedLine {
                line: line.parse().unwrap_or(0),
                reason: reason.to_string(),
                text: text.to_string(),
            });
        }
    }
    out.truncate(SKIPPED_EXAMPLES);
    Ok(out)
}

/// The id maps of the whole file, from every rank's ids in rank order
/// (first occurrence kept), and this rank's rows renumbered into them,
/// with their rows in the single-process table (`first_row` on).
fn agree_ids(comm: &dyn Collective, part: &Ratings, first_row: u64) -> Result<(Ratings, Vec<u64>)> {
    let (user_ids, user_remap) = agree_map(comm, &part.user_ids)?;
    let (item_ids, item_remap) = agree_map(comm, &part.item_ids)?;
    let ratings = Ratings {
        users: part.users.iter().map(|&u| user_remap[u as usize]).collect(),
        items: part.items.iter().map(|&i| item_remap[i as usize]).collect(),
        values: part.values.clone(),
        timestamps: part.timestamps.clone(),
        user_ids: Arc::new(user_ids),
        item_ids: Arc::new(item_ids),
    };
    let rows = (first_row..first_row + part.len() as u64).collect();
    Ok((ratings, rows))
}

/// One id map agreed across ranks, and this rank's old index → new index.
fn agree_map(comm: &dyn Collective, mine: &IdMap) -> Result<(IdMap, Vec<u32>)> {
    if comm.size() == 1 {
        return Ok((mine.clone(), (0..mine.len() as u32).collect()));
    }
    let mut bytes = Vec::new();
    for id in mine.ids() {
        put_str(&mut bytes, id);
    }
    let mut global = IdMap::new();
    let mut remap = Vec::new();
    for (r, b) in comm.all_gather_bytes(&bytes)?.iter().enumerate() {
        for id in (Strings { rest: b }) {
            let k = global.intern(id);
            if r == comm.rank() {
                remap.push(k);
            }
        }
    }
    if remap.len() != mine.len() {
        return Err(Error::other(format!(
            "rank {}: {} of its {} ids came back from the gather",
            comm.rank(),
            remap.len(),
            mine.len()
        )));
    }
    Ok((global, remap))
}

/// Rows sent per rank and round of the exchange: bounds the buffers
/// (28 bytes a row with a timestamp) to about 110 MB a round.
const ROUND_ROWS: usize = 1 << 22;

/// Sends every row to its owner; returns this rank's rows, in the order
/// of the single-process table, and their rows there.
fn exchange(
    comm: &dyn Collective,
    local: Ratings,
    rows: &[u64],
    by: RowsBy,
) -> Result<(Ratings, Vec<u64>)> {
    let size = comm.size();
    if size == 1 {
        return Ok((local, rows.to_vec()));
    }
    let timed = local.timestamps.is_some();
    let width = if timed { 28 } else { 20 };
    // Ranks are counted in `u32` (an MPI rank is a C int): 4 bytes a row.
    let dest: Vec<u32> = (local.users.iter().zip(&local.items))
        .map(|(&u, &i)| by.owner(u, i, size) as u32)
        .collect();
    // Rows each rank sends each other rank, so that receivers place rows
    // from each sender at once, senders in rank order (= file order).
    let mut to_each = vec![0u64; size];
    for &d in &dest {
        to_each[d as usize] += 1;
    }
    let sent = comm.all_to_all_bytes(
        &to_each
            .iter()
            .map(|c| c.to_le_bytes().to_vec())
            .collect::<Vec<_>>(),
    )?;
    let from_each: Vec<usize> = sent.iter().map(|b| u64s_of(b)[0] as usize).collect();
    let n: usize = from_each.iter().sum();
    let mut cursor: Vec<usize> = from_each
        .iter()
        .scan(0, |at, &c| {
            let start = *at;
            *at += c;
            Some(start)
        })
        .collect();
    let mut out = Ratings {
        users: vec![0; n],
        items: vec![0; n],
        values: vec![0.0; n],
        timestamps: timed.then(|| vec![0; n]),
        user_ids: Arc::clone(&local.user_ids),
        item_ids: Arc::clone(&local.item_ids),
    };
    let mut out_rows = vec![0u64; n];
    let rounds = gather_u64(comm, &[local.len().div_ceil(ROUND_ROWS) as u64])?
        .iter()
        .map(|c| c[0])
        .max()
        .unwrap_or(0);
    for round in 0..rounds as usize {
        let span =
            (round * ROUND_ROWS).min(local.len())..((round + 1) * ROUND_ROWS).min(local.len());
        let mut bufs = vec![Vec::new(); size];
        for k in span {
            let b = &mut bufs[dest[k] as usize];
            b.extend_from_slice(&rows[k].to_le_bytes());
            b.extend_from_slice(&local.users[k].to_le_bytes());
            b.extend_from_slice(&local.items[k].to_le_bytes());
            b.extend_from_slice(&local.values[k].to_le_bytes());
            if let Some(t) = &local.timestamps {
                b.extend_from_slice(&t[k].to_le_bytes());
            }
        }
        for (from, got) in comm.all_to_all_bytes(&bufs)?.into_iter().enumerate() {
            drop(std::mem::take(&mut bufs[from]));
            for row in got.chunks_exact(width) {
                let at = cursor[from];
                cursor[from] += 1;
                let word = |o: usize| u32::from_le_bytes(row[o..o + 4].try_into().expect("4"));
                out_rows[at] = u64::from_le_bytes(row[..8].try_into().expect("8"));
                out.users[at] = word(8);
                out.items[at] = word(12);
                out.values[at] = f32::from_bits(word(16));
                if let Some(t) = out.timestamps.as_mut() {
                    t[at] = i64::from_le_bytes(row[20..28].try_into().expect("8"));
                }
            }
        }
    }
    Ok((out, out_rows))
}

/// The duplicate policy across ranks (every pair's ratings lie on one
/// rank after the exchange). Returns the rows kept, their new rows in the
/// single-process table, the rows merged away and the new total.
fn apply_duplicates(
    comm: &dyn Collective,
    ratings: Ratings,
    rows: Vec<u64>,
    total: u64,
    opts: &ReadOptions,
    part: &Part,
    offsets: &[u64],
) -> Result<(Ratings, Vec<u64>, usize, u64)> {
    let found = find_duplicates(&ratings);
    if opts.duplicates == Duplicates::Error {
        // The earliest repeat in the file, over all ranks.
        let mine = found.iter().map(|&(later, _)| later).min();
        let mut bytes = Vec::new();
        if let Some(k) = mine {
            bytes.extend_from_slice(&rows[k].to_le_bytes());
            put_str(&mut bytes, ratings.user_ids.id(ratings.users[k]));
            put_str(&mut bytes, ratings.item_ids.id(ratings.items[k]));
        }
        let all = comm.all_gather_bytes(&bytes)?;
        let first = all
            .iter()
            .filter(|b| b.len() >= 8)
            .min_by_key(|b| u64s_of(&b[..8])[0]);
        let Some(first) = first else {
            return Ok((ratings, rows, 0, total));
        };
        let row = u64s_of(&first[..8])[0];
        let mut s = Strings { rest: &first[8..] };
        let (user, item) = (s.next().unwrap_or(""), s.next().unwrap_or(""));
        // The rank that parsed the row knows its line.
        let source = offsets.partition_point(|&o| o <= row) - 1;
        let mut place = Vec::new();
        if source == comm.rank() {
            let local = (row - offsets[source]) as usize;
            place = match (part.lines.describe_row(local), part.lines.position(local)) {
                (Some(d), _) => [&[2u8][..], d.as_bytes()].concat(),
                (None, Some(p)) => [&[1u8][..], &p.line.to_le_bytes()[..]].concat(),
                (None, None) => Vec::new(),
            };
        }
        comm.broadcast_bytes(source, &mut place)?;
        let (position, described) = match place.split_first() {
            Some((1, line)) => (
                Some(Position {
                    line: u64s_of(line).first().copied().unwrap_or(0),
                    byte: 0,
                }),
                None,
            ),
            Some((_, d)) => (None, Some(String::from_utf8_lossy(d).into_owned())),
            None => (None, None),
        };
        let error = Error::new(ErrorKind::Duplicate {
            user: user.to_string(),
            item: item.to_string(),
            position,
        });
        return Err(match described {
            Some(d) => error.context(d),
            None => error,
        });
    }
    let (ratings, kept) = if found.is_empty() {
        (ratings, Vec::new())
    } else {
        collapse_kept(ratings, &found, opts.duplicates)
    };
    let mut removed: Vec<u64> = Vec::new();
    if !found.is_empty() {
        let mut keep = vec![false; rows.len()];
        for &k in &kept {
            keep[k] = true;
        }
        removed = (0..rows.len())
            .filter(|&k| !keep[k])
            .map(|k| rows[k])
            .collect();
    }
    let mut all_removed: Vec<u64> = gather_u64(comm, &removed)?.concat();
    if all_removed.is_empty() {
        return Ok((ratings, rows, 0, total));
    }
    all_removed.sort_unstable();
    let rows: Vec<u64> = if found.is_empty() {
        rows
    } else {
        kept.iter().map(|&k| rows[k]).collect()
    };
    let renumbered = rows
        .iter()
        .map(|&g| g - all_removed.partition_point(|&r| r < g) as u64)
        .collect();
    let merged = all_removed.len();
    Ok((ratings, renumbered, merged, total - merged as u64))
}

/// The scale inferred from the smallest and largest rating of all ranks.
fn global_scale(comm: &dyn Collective, ratings: &Ratings) -> Result<Option<RatingScale>> {
    let mine: Vec<f32> = ratings
        .min_max()
        .map_or_else(Vec::new, |(lo, hi)| vec![lo, hi]);
    let all = comm.all_gather_f32(&mine)?;
    let (lo, hi) = all
        .iter()
        .filter(|m| m.len() == 2)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), m| {
            (lo.min(m[0]), hi.max(m[1]))
        });
    Ok(RatingScale::new(lo, hi).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_are_dealt_by_their_first_row() {
        let rows = [4, 4, 4, 4];
        let parts: Vec<_> = (0..3).map(|r| own_row_groups(&rows, r, 3)).collect();
        // Bounds 0, 5, 10, 16: groups start at 0, 4, 8, 12.
        assert_eq!(parts, [0..2, 2..3, 3..4]);
        let parts: Vec<_> = (0..4).map(|r| own_row_groups(&[10], r, 4)).collect();
        assert_eq!(parts, [0..1, 1..1, 1..1, 1..1]);
        assert_eq!(own_row_groups(&[], 0, 2), 0..0);
    }

    #[test]
    fn line_starts_move_forward_to_the_next_line() {
        let text = b"ab\ncd\n\nef";
        let starts: Vec<usize> = (0..=text.len()).map(|a| line_start(text, a)).collect();
        assert_eq!(starts, [0, 3, 3, 3, 6, 6, 6, 7, 9, 9]);
    }
}
