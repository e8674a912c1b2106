//! The engine behind every delimited text format.
//!
//! The input comes in blocks of about [`BLOCK`] bytes of whole lines: read
//! from a stream (never the whole file: the rating table itself is what
//! must fit in memory), the next block while the current one is parsed, or
//! cut out of bytes in memory (a mapped file) without a copy. Each block is
//! cut at line ends into pieces that rayon parses in parallel; the pieces'
//! new ids are then registered in file order (which is what keeps ids in
//! first-seen order), and the pieces are translated and copied into the
//! final columns in parallel.
//!
//! Lines of plain canonical decimals in the usual column order (MovieLens
//! CSV, `u.data`) go through a scanner that finds the separators of 64
//! bytes at once and reads each field's digits 8 at a time
//! ([`Fast`](fast::Fast)); any line it does not fully recognise goes to the
//! general field splitter, so the scanner changes speed, never results or
//! errors.
//!
//! Ids take one of two roads. A canonical decimal below
//! [`DENSE_LIMIT`](ids::DENSE_LIMIT) (`"42"`, not `"042"`) is parsed to its
//! value and mapped through a dense table, with no hashing; anything else is
//! interned in a hash map, first per piece (in parallel), then globally once
//! per distinct id and piece. Because only canonical decimals take the first
//! road, the id text is always what the file said.
//!
//! One idea per file: `layout` (where the fields are, the general field
//! splitter), `piece` (one piece parsed on one thread: the line, rating and
//! timestamp parsers, rejected lines), `fast` (the scanner), `ids` (id
//! interning) and `table` (the columns the pieces are merged into). This
//! file holds the blocks: cutting, reading ahead, and the read itself.

mod fast;
pub(super) mod ids;
mod layout;
mod piece;
mod table;

use std::io::Read;

use rayon::prelude::*;

use super::finish::finish;
use super::{Format, ReadOptions, ReadOutcome};
use crate::error::{Error, Result};
use layout::Layout;
use piece::{parse_piece, Columns, Piece};
use table::Table;

/// Bytes read per block: large enough to feed every thread, small next to the table.
const BLOCK: usize = 16 << 20;
/// Pieces smaller than this are not worth a task of their own.
const MIN_PIECE: usize = 256 << 10;

/// Cuts `bytes` into about `n` pieces that end at line ends.
fn pieces(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    let target = (bytes.len() / n.max(1)).max(MIN_PIECE);
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let cut = (start + target).min(bytes.len());
        let end = if cut == bytes.len() {
            cut
        } else {
            memchr::memchr(b'\n', &bytes[cut..]).map_or(bytes.len(), |k| cut + k + 1)
        };
        out.push(&bytes[start..end]);
        start = end;
    }
    out
}

/// Fills `buf` from `src` until it holds `want` bytes or the input ends
/// (then returns true). Reads into the spare capacity: no zero-filling of
/// the 16 MiB block before every read.
fn fill(src: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> Result<bool> {
    let missing = want.saturating_sub(buf.len());
    buf.reserve(missing);
    let got = src.by_ref().take(missing as u64).read_to_end(buf)?;
    Ok(got < missing)
}

/// The state of one read: the layout, the table so far, and where the next
/// block starts in lines. Blocks of whole lines come in file order, from a
/// stream ([`read`]) or from bytes in memory ([`read_bytes`]).
struct Reading<'o> {
    layout: Layout,
    opts: &'o ReadOptions,
    table: Table,
    line_base: u64,
    pool: Vec<Columns>,
    threads: usize,
    total_bytes: u64,
}

impl<'o> Reading<'o> {
    /// Resolves the layout from the first block; returns the state and how
    /// many bytes of `head` precede the first data line (BOM, header).
    fn start(
        head: &[u8],
        total_bytes: u64,
        format: Format,
        opts: &'o ReadOptions,
    ) -> Result<(Self, usize)> {
        let bom = if head.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        if head[bom..].trim_ascii().is_empty() {
            return Err(Error::format("empty file: no ratings"));
        }
        let (layout, header) = Layout::resolve(format, opts, &head[bom..])?;
        let mut skip = bom;
        let mut line_base = 0;
        if header {
            skip = memchr::memchr(b'\n', head).map_or(head.len(), |k| k + 1);
            line_base = 1;
        }
        let reading = Reading {
            table: Table::new(&layout),
            layout,
            opts,
            line_base,
            pool: Vec::new(),
            threads: rayon::current_num_threads() * 4,
            total_bytes,
        };
        Ok((reading, skip))
    }

    /// Parses one block of whole lines starting at byte `first_byte` of the
    /// file, in pieces on the rayon threads, and appends it to the table.
    fn block(&mut self, body: &[u8], first_byte: u64) -> Result<()> {
        let parts = pieces(body, self.threads);
        let buffers: Vec<Columns> = (0..parts.len())
            .map(|_| self.pool.pop().unwrap_or_default())
            .collect();
        let (layout, skip_bad) = (&self.layout, self.opts.skip_bad_lines);
        let parsed: Vec<Piece> = parts
            .par_iter()
            .zip(buffers)
            .map(|(b, cols)| parse_piece(b, layout, skip_bad, cols))
            .collect();
        let rows: usize = parsed.iter().map(|p| p.cols.values.len()).sum();
        self.table.reserve_for(rows, body.len(), self.total_bytes);
        self.table.merge_block(
            parsed,
            &parts,
            &mut self.line_base,
            first_byte,
            &mut self.pool,
        )
    }

    /// The table as parsed, for a reader of one part of a file that
    /// applies the duplicate policy and the scale itself (across ranks).
    fn into_part(self) -> Result<Part> {
        let skipped = self.table.skipped;
        let (ratings, _, examples, lines) = self.table.finish()?;
        Ok(Part {
            ratings,
            skipped,
            examples,
            lines,
        })
    }

    fn finish(self, format: Format) -> Result<ReadOutcome> {
        if self.table.len == 0 {
            return Err(Error::format(if self.table.skipped > 0 {
                format!(
                    "no valid rating: all {} data lines were bad",
                    self.table.skipped
                )
            } else {
                "empty file: no ratings".to_string()
            }));
        }
        let (ratings, skipped, examples, lines) = self.table.finish()?;
        finish(ratings, format, self.opts, skipped, examples, &lines)
    }
}

/// Reads a delimited text stream of about `total_bytes` bytes, a block at
/// a time: the next block is read while this one is parsed and merged.
pub(super) fn read(
    mut src: impl Read + Send,
    total_bytes: u64,
    format: Format,
    opts: &ReadOptions,
) -> Result<ReadOutcome> {
    let mut buf = Vec::new();
    let mut eof = fill(&mut src, &mut buf, BLOCK)?;
    let (mut reading, mut skip) = Reading::start(&buf, total_bytes, format, opts)?;
    let mut byte_base = 0u64;
    let mut next = Vec::new();
    loop {
        let complete = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(0, |k| k + 1)
        };
        if complete <= skip && !eof {
            // One line longer than a block: grow the buffer rather than cut it.
            let want = buf.len() * 2;
            eof = fill(&mut src, &mut buf, want)?;
            continue;
        }
        // The next buffer starts with this block's incomplete last line.
        next.clear();
        if !eof {
            next.extend_from_slice(&buf[complete..]);
        }
        let body = &buf[skip..complete];
        let first_byte = byte_base + skip as u64;
        let (merged, filled) = rayon::join(
            || reading.block(body, first_byte),
            || {
                if eof {
                    Ok(true)
                } else {
                    fill(&mut src, &mut next, BLOCK)
                }
            },
        );
        // An error in this block comes before a read error after it.
        merged?;
        if eof {
            break;
        }
        eof = filled?;
        byte_base += complete as u64;
        std::mem::swap(&mut buf, &mut next);
        skip = 0;
        if buf.is_empty() {
            break;
        }
    }
    reading.finish(format)
}

/// Reads delimited text held in memory, in blocks of whole lines cut out of
/// `bytes` without copying. While a block is parsed, `ahead(next, done)` is
/// called with the byte range of the following block and of the one just
/// finished (a mapped file fetches the first and lets go of the second).
pub(super) fn read_bytes(
    bytes: &[u8],
    format: Format,
    opts: &ReadOptions,
    ahead: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>) + Sync,
) -> Result<ReadOutcome> {
    let head = &bytes[..bytes.len().min(BLOCK)];
    let (mut reading, skip) = Reading::start(head, bytes.len() as u64, format, opts)?;
    let mut start = skip;
    let mut done = 0..0;
    // Each block is fetched before it is parsed: the first one here, the
    // others while the block before them is parsed.
    ahead(start..block_end(bytes, start), 0..0);
    while start < bytes.len() {
        let end = block_end(bytes, start);
        let next = end..block_end(bytes, end);
        let (merged, ()) = rayon::join(
            || reading.block(&bytes[start..end], start as u64),
            || ahead(next, done.clone()),
        );
        merged?;
        done = start..end;
        start = end;
    }
    ahead(bytes.len()..bytes.len(), done);
    reading.finish(format)
}

/// The rows of one part of a file, before the duplicate policy and the
/// scale: ids in first-seen order within the part, lines (or Parquet file
/// rows) numbered as in the whole file.
pub(in crate::data::read) struct Part {
    /// The part's ratings, in its own id space.
    pub(in crate::data::read) ratings: crate::data::Ratings,
    /// Lines skipped under `skip_bad_lines`.
    pub(in crate::data::read) skipped: usize,
    /// The first few of them.
    pub(in crate::data::read) examples: Vec<super::SkippedLine>,
    /// Where each row was in the file.
    pub(in crate::data::read) lines: super::finish::LineIndex,
}

/// The lines that start inside `range` of a whole file's `bytes`, parsed
/// with the layout the file's first block gives (header, delimiter,
/// columns), as a single read would parse them: a line belongs to the part
/// its first byte lies in, and `lines_before` data lines precede the first
/// of them (the header, when there is one, is counted apart). `range` must
/// start at a line start. `ahead` is called as for [`read_bytes`].
pub(in crate::data::read) fn read_range(
    bytes: &[u8],
    range: std::ops::Range<usize>,
    lines_before: u64,
    format: Format,
    opts: &ReadOptions,
    ahead: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>) + Sync,
) -> Result<Part> {
    let head = &bytes[..bytes.len().min(BLOCK)];
    let (mut reading, skip) = Reading::start(head, range.len() as u64, format, opts)?;
    reading.line_base += lines_before;
    let end = range.end.max(skip);
    let within = &bytes[..end];
    let mut start = range.start.max(skip);
    let mut done = 0..0;
    ahead(start..block_end(within, start), 0..0);
    while start < end {
        let stop = block_end(within, start);
        let next = stop..block_end(within, stop);
        let (merged, ()) = rayon::join(
            || reading.block(&bytes[start..stop], start as u64),
            || ahead(next, done.clone()),
        );
        merged?;
        done = start..stop;
        start = stop;
    }
    ahead(end..end, done);
    reading.into_part()
}

/// Bytes of the header line and byte-order mark a whole file's `bytes`
/// start with (none when the first line is data), as a single read skips
/// them.
pub(in crate::data::read) fn preamble(
    bytes: &[u8],
    format: Format,
    opts: &ReadOptions,
) -> Result<usize> {
    let head = &bytes[..bytes.len().min(BLOCK)];
    Reading::start(head, bytes.len() as u64, format, opts).map(|(_, skip)| skip)
}

/// The end of the block that starts at `start`: just after the last line
/// end within [`BLOCK`] bytes, or after the first line when that is longer.
fn block_end(bytes: &[u8], start: usize) -> usize {
    let limit = (start + BLOCK).min(bytes.len());
    if limit == bytes.len() {
        return limit;
    }
    match memchr::memrchr(b'\n', &bytes[start..limit]) {
        Some(k) => start + k + 1,
        None => memchr::memchr(b'\n', &bytes[limit..]).map_or(bytes.len(), |k| limit + k + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_line_ends_and_cover_everything() {
        let text: Vec<u8> = (0..100_000)
            .flat_map(|i| format!("{i},1,2\n").into_bytes())
            .collect();
        let parts = pieces(&text, 8);
        assert!(parts.len() > 1);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), text.len());
        assert!(parts.iter().all(|p| p.ends_with(b"\n")));
    }
}
