//! The engine behind every delimited text format.
//!
//! The input is read in blocks of [`BLOCK`] bytes (never the whole file: the
//! rating table itself is what must fit in memory). Each block is cut at line
//! ends into pieces that rayon parses in parallel; the pieces are then merged
//! in file order, which is what keeps ids in first-seen order.
//!
//! Ids take one of two roads. A canonical decimal below [`DENSE_LIMIT`]
//! (`"42"`, not `"042"`) is parsed to its value and mapped through a dense
//! table, with no hashing; anything else is interned in a hash map, first per
//! piece (in parallel), then globally once per distinct id and piece. Because
//! only canonical decimals take the first road, the id text is always what the
//! file said.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::sync::Arc;

use rayon::prelude::*;

use super::detect::{first_line, sniff_delimiter};
use super::finish::{finish, LineIndex};
use super::{
    Column, Encoding, Format, Header, ReadOptions, ReadOutcome, SkippedLine, SKIPPED_EXAMPLES,
};
use crate::data::{IdMap, RatingScale, Ratings};
use crate::error::{Error, ErrorKind, Position, Result};

/// Bytes read per block: large enough to feed every thread, small next to the table.
const BLOCK: usize = 16 << 20;
/// Pieces smaller than this are not worth a task of their own.
const MIN_PIECE: usize = 256 << 10;
/// Integer ids below this use the dense table (at most 64 MiB of `u32`).
const DENSE_LIMIT: u64 = 1 << 24;
/// Marks a piece-local code as a string index rather than an integer id.
const STRING_BIT: u32 = 1 << 31;
const UNSET: u32 = u32::MAX;

/// FxHash (rustc's hasher): ids are short, and SipHash's DoS resistance buys
/// nothing for a local file.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Where the fields are, resolved from the options and the first line.
#[derive(Debug, Clone)]
struct Layout {
    delimiter: Vec<u8>,
    n_fields: usize,
    user: usize,
    item: usize,
    rating: usize,
    time: Option<usize>,
    scale: Option<RatingScale>,
    encoding: Encoding,
}

impl Layout {
    fn resolve(format: Format, opts: &ReadOptions, head: &[u8]) -> Result<(Layout, bool)> {
        let delimiter = match (&opts.delimiter, format) {
            (Some(d), _) if d.is_empty() => return Err(Error::config("the delimiter is empty")),
            (Some(d), _) => d.clone(),
            (None, Format::Ml100k) => b"\t".to_vec(),
            (None, Format::MlDat) => b"::".to_vec(),
            (None, Format::MlCsv | Format::Amazon) => b",".to_vec(),
            (None, _) => sniff_delimiter(head),
        };
        let first = first_line(head);
        let mut names = Vec::new();
        split_fields(first, &delimiter, &mut names).map_err(|m| {
            Error::parse(
                Position { line: 1, byte: 0 },
                m,
                &String::from_utf8_lossy(first),
            )
        })?;
        let names: Vec<Cow<[u8]>> = names.iter().map(|f| f.get(first)).collect();
        let by_name = [&opts.user_col, &opts.item_col, &opts.rating_col]
            .into_iter()
            .chain(opts.time_col.as_ref())
            .any(|c| matches!(c, Column::Name(_)));
        let header = match opts.header.unwrap_or(match format {
            Format::MlCsv => Header::Yes,
            Format::Ml100k | Format::MlDat => Header::No,
            _ => Header::Auto,
        }) {
            Header::Yes => true,
            Header::No => false,
            Header::Auto => {
                by_name
                    || match &opts.rating_col {
                        Column::Index(i) => names.get(*i).is_none_or(|f| parse_rating(f).is_err()),
                        Column::Name(_) => true,
                    }
            }
        };
        if by_name && !header {
            return Err(Error::config("columns chosen by name need a header line"));
        }
        let find = |col: &Column, what: &str| -> Result<usize> {
            match col {
                Column::Index(i) => Ok(*i),
                Column::Name(n) => names
                    .iter()
                    .position(|f| f.as_ref() == n.as_bytes())
                    .or_else(|| {
                        names
                            .iter()
                            .position(|f| f.eq_ignore_ascii_case(n.as_bytes()))
                    })
                    .ok_or_else(|| {
                        let have: Vec<String> = names
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect();
                        Error::config(format!(
                            "no {what} column named {n:?}; the header has {have:?}"
                        ))
                    }),
            }
        };
        let user = find(&opts.user_col, "user")?;
        let item = find(&opts.item_col, "item")?;
        let rating = find(&opts.rating_col, "rating")?;
        let n_fields = names.len();
        let time = match (&opts.time_col, opts.timestamps) {
            (_, false) => None,
            (Some(c), true) => Some(find(c, "timestamp")?),
            (None, true) if header => names.iter().position(|f| {
                f.eq_ignore_ascii_case(b"timestamp") || f.eq_ignore_ascii_case(b"time")
            }),
            (None, true) => {
                let ships_time = matches!(
                    format,
                    Format::Ml100k | Format::MlDat | Format::MlCsv | Format::Amazon
                );
                (ships_time && n_fields >= 4 && (user, item, rating) == (0, 1, 2)).then_some(3)
            }
        };
        let widest = [user, item, rating, time.unwrap_or(0)]
            .into_iter()
            .max()
            .unwrap_or(0);
        if widest >= n_fields {
            return Err(Error::parse(
                Position { line: 1, byte: 0 },
                format!("expected at least {} fields, found {n_fields}", widest + 1),
                &String::from_utf8_lossy(first),
            ));
        }
        let distinct = [Some(user), Some(item), Some(rating), time];
        for (k, a) in distinct.iter().enumerate() {
            if a.is_some() && distinct[k + 1..].contains(a) {
                return Err(Error::config(
                    "user, item, rating and timestamp columns must differ",
                ));
            }
        }
        let layout = Layout {
            delimiter,
            n_fields,
            user,
            item,
            rating,
            time,
            scale: opts.scale,
            encoding: opts.encoding,
        };
        Ok((layout, header))
    }
}

/// A field's byte range in its line, and whether it held `""` escapes.
#[derive(Debug, Clone, Copy)]
struct Field {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Field {
    fn get<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        let raw = &line[self.start..self.end];
        if self.escaped {
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                out.push(raw[i]);
                i += if raw[i] == b'"' { 2 } else { 1 };
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(raw)
        }
    }
}

/// Splits a line into fields. A field that starts with `"` runs to the
/// closing quote (`""` inside is one quote, delimiters inside are text);
/// quoted fields may not span lines.
fn split_fields(
    line: &[u8],
    delim: &[u8],
    out: &mut Vec<Field>,
) -> std::result::Result<(), String> {
    out.clear();
    if memchr::memchr(b'"', line).is_none() {
        let mut start = 0;
        if let [d] = delim {
            for at in memchr::memchr_iter(*d, line) {
                out.push(Field {
                    start,
                    end: at,
                    escaped: false,
                });
                start = at + 1;
            }
        } else {
            for at in memchr::memmem::find_iter(line, delim) {
                if at < start {
                    continue;
                }
                out.push(Field {
                    start,
                    end: at,
                    escaped: false,
                });
                start = at + delim.len();
            }
        }
        out.push(Field {
            start,
            end: line.len(),
            escaped: false,
        });
        return Ok(());
    }
    let mut start = 0;
    loop {
        if line.get(start) == Some(&b'"') {
            let mut i = start + 1;
            let mut escaped = false;
            let close = loop {
                match memchr::memchr(b'"', &line[i..]) {
                    None => return Err("unterminated quoted field".into()),
                    Some(k) if line.get(i + k + 1) == Some(&b'"') => {
                        escaped = true;
                        i += k + 2;
                    }
                    Some(k) => break i + k,
                }
            };
            out.push(Field {
                start: start + 1,
                end: close,
                escaped,
            });
            let after = close + 1;
            if after == line.len() {
                return Ok(());
            }
            if !line[after..].starts_with(delim) {
                return Err("text after a closing quote".into());
            }
            start = after + delim.len();
        } else {
            match memchr::memmem::find(&line[start..], delim) {
                Some(k) => {
                    out.push(Field {
                        start,
                        end: start + k,
                        escaped: false,
                    });
                    start += k + delim.len();
                }
                None => {
                    out.push(Field {
                        start,
                        end: line.len(),
                        escaped: false,
                    });
                    return Ok(());
                }
            }
        }
    }
}

/// Why a line was rejected.
#[derive(Debug, Clone)]
enum Fault {
    Parse(String),
    Rating(f64, String),
}

/// A rejected line, with its position inside its piece.
#[derive(Debug, Clone)]
struct BadLine {
    line: u64,
    byte: u64,
    fault: Fault,
    text: String,
}

impl BadLine {
    fn into_error(self, line_base: u64, byte_base: u64) -> Error {
        let position = Position {
            line: line_base + self.line,
            byte: byte_base + self.byte,
        };
        match self.fault {
            Fault::Parse(m) => Error::parse(position, m, &self.text),
            Fault::Rating(value, message) => Error::new(ErrorKind::Rating {
                position: Some(position),
                value,
                message: format!("{message}: {:?}", self.text),
            }),
        }
    }

    fn into_skipped(self, line_base: u64) -> SkippedLine {
        let reason = match self.fault {
            Fault::Parse(m) => m,
            Fault::Rating(v, m) => format!("rating {v}: {m}"),
        };
        SkippedLine {
            line: line_base + self.line,
            reason,
            text: shorten(&self.text),
        }
    }
}

/// The first 120 characters of a line, for messages.
fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Ids of one piece that are not small canonical integers.
#[derive(Default)]
struct LocalIds<'a> {
    index: FxMap<Cow<'a, [u8]>, u32>,
    list: Vec<Cow<'a, [u8]>>,
}

impl<'a> LocalIds<'a> {
    fn code(
        &mut self,
        field: Cow<'a, [u8]>,
        encoding: Encoding,
    ) -> std::result::Result<u32, String> {
        if let Some(v) = small_int(&field) {
            return Ok(v);
        }
        if let Some(&k) = self.index.get(field.as_ref()) {
            return Ok(k | STRING_BIT);
        }
        if field.is_empty() {
            return Err("empty id".into());
        }
        if encoding == Encoding::Utf8 && std::str::from_utf8(&field).is_err() {
            return Err("id is not valid UTF-8 (use the Latin-1 encoding for such files)".into());
        }
        let k = self.list.len() as u32;
        self.list.push(field.clone());
        self.index.insert(field, k);
        Ok(k | STRING_BIT)
    }
}

/// The value of a canonical decimal below [`DENSE_LIMIT`]: no sign, no
/// leading zero (except `"0"` itself), nothing but digits.
fn small_int(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || (s[0] == b'0' && s.len() > 1) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    (v < DENSE_LIMIT).then_some(v as u32)
}

/// Parses a rating: plain decimals (`4`, `3.5`) on a fast path that is
/// exactly rounded (an integer mantissa below 2^24 divided by an exact power
/// of ten), anything else through the standard parser.
fn parse_rating(field: &[u8]) -> std::result::Result<f32, Fault> {
    const POW10: [f32; 8] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];
    let s = field.trim_ascii();
    let mut mantissa: u32 = 0;
    let mut frac_digits: Option<usize> = None;
    let mut simple = !s.is_empty() && s.len() <= 8;
    if simple {
        for &b in s {
            if b == b'.' && frac_digits.is_none() {
                frac_digits = Some(0);
            } else if b.is_ascii_digit() {
                mantissa = mantissa * 10 + (b - b'0') as u32;
                if let Some(f) = frac_digits.as_mut() {
                    *f += 1;
                }
            } else {
                simple = false;
                break;
            }
        }
    }
    if simple && s != b"." {
        return Ok(mantissa as f32 / POW10[frac_digits.unwrap_or(0)]);
    }
    let text = std::str::from_utf8(s).map_err(|_| Fault::Parse("rating is not a number".into()))?;
    let v: f64 = text
        .parse()
        .map_err(|_| Fault::Parse("rating is not a number".into()))?;
    if !v.is_finite() {
        return Err(Fault::Rating(v, "not a finite number".into()));
    }
    let f = v as f32;
    if !f.is_finite() {
        return Err(Fault::Rating(v, "too large for a 32-bit float".into()));
    }
    Ok(f)
}

fn parse_time(field: &[u8]) -> std::result::Result<i64, Fault> {
    let s = field.trim_ascii();
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| Fault::Parse("timestamp is not an integer".into()))
}

/// What one piece parsed to.
#[derive(Default)]
struct Piece<'a> {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Vec<i64>,
    user_ids: LocalIds<'a>,
    item_ids: LocalIds<'a>,
    lines: u64,
    /// Row count at each line that gave no rating (blank or skipped), so that
    /// a row's line number can be recovered later.
    gaps: Vec<u32>,
    skipped: usize,
    examples: Vec<BadLine>,
    error: Option<BadLine>,
}

fn parse_piece<'a>(bytes: &'a [u8], layout: &Layout, skip_bad: bool) -> Piece<'a> {
    let mut p = Piece::default();
    let estimate = bytes.len() / 24 + 1;
    p.users.reserve(estimate);
    p.items.reserve(estimate);
    p.values.reserve(estimate);
    if layout.time.is_some() {
        p.times.reserve(estimate);
    }
    let mut fields = Vec::with_capacity(layout.n_fields.max(4));
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
        let raw = &bytes[start..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        p.lines += 1;
        if line.trim_ascii().is_empty() {
            p.gaps.push(p.values.len() as u32);
        } else if let Err(fault) = parse_line(line, layout, &mut fields, &mut p) {
            let bad = BadLine {
                line: p.lines,
                byte: start as u64,
                fault,
                text: String::from_utf8_lossy(line).into_owned(),
            };
            if !skip_bad {
                p.error = Some(bad);
                return p;
            }
            p.skipped += 1;
            p.gaps.push(p.values.len() as u32);
            if p.examples.len() < SKIPPED_EXAMPLES {
                p.examples.push(bad);
            }
        }
        start = end + 1;
    }
    p
}

fn parse_line<'a>(
    line: &'a [u8],
    layout: &Layout,
    fields: &mut Vec<Field>,
    p: &mut Piece<'a>,
) -> std::result::Result<(), Fault> {
    split_fields(line, &layout.delimiter, fields).map_err(Fault::Parse)?;
    if fields.len() != layout.n_fields {
        return Err(Fault::Parse(format!(
            "expected {} fields, found {}",
            layout.n_fields,
            fields.len()
        )));
    }
    let field = |i: usize| fields[i].get(line);
    let value = parse_rating(&field(layout.rating))?;
    if let Some(scale) = layout.scale {
        if !scale.contains(value) {
            return Err(Fault::Rating(
                value as f64,
                format!("outside the declared scale {}..{}", scale.min, scale.max),
            ));
        }
    }
    let time = layout.time.map(|t| parse_time(&field(t))).transpose()?;
    let user = p
        .user_ids
        .code(field(layout.user), layout.encoding)
        .map_err(|m| Fault::Parse(format!("user {m}")))?;
    let item = p
        .item_ids
        .code(field(layout.item), layout.encoding)
        .map_err(|m| Fault::Parse(format!("item {m}")))?;
    p.users.push(user);
    p.items.push(item);
    p.values.push(value);
    if let Some(t) = time {
        p.times.push(t);
    }
    Ok(())
}

/// Global id space: the dense table for small integers, a hash map for the rest.
struct GlobalIds {
    dense: Vec<u32>,
    strings: FxMap<Box<[u8]>, u32>,
    ids: Vec<String>,
    encoding: Encoding,
}

impl GlobalIds {
    fn new(encoding: Encoding) -> Self {
        GlobalIds {
            dense: Vec::new(),
            strings: FxMap::default(),
            ids: Vec::new(),
            encoding,
        }
    }

    fn int(&mut self, v: u32) -> u32 {
        let v = v as usize;
        if v >= self.dense.len() {
            self.dense.resize(
                (v + 1).max(self.dense.len() * 2).min(DENSE_LIMIT as usize),
                UNSET,
            );
        }
        if self.dense[v] == UNSET {
            self.dense[v] = self.ids.len() as u32;
            self.ids.push(v.to_string());
        }
        self.dense[v]
    }

    fn string(&mut self, s: &[u8]) -> u32 {
        if let Some(&k) = self.strings.get(s) {
            return k;
        }
        let k = self.ids.len() as u32;
        let text = match self.encoding {
            Encoding::Utf8 => String::from_utf8_lossy(s).into_owned(),
            Encoding::Latin1 => s.iter().map(|&b| b as char).collect(),
        };
        self.ids.push(text);
        self.strings.insert(s.into(), k);
        k
    }

    /// Rewrites piece-local codes into global indices, in row order.
    fn remap(&mut self, codes: &mut [u32], local: &LocalIds) {
        let mut table = vec![UNSET; local.list.len()];
        for c in codes {
            *c = if *c & STRING_BIT == 0 {
                self.int(*c)
            } else {
                let k = (*c & !STRING_BIT) as usize;
                if table[k] == UNSET {
                    table[k] = self.string(&local.list[k]);
                }
                table[k]
            };
        }
    }

    fn into_map(self) -> Result<IdMap> {
        IdMap::from_ids(self.ids)
    }
}

/// Accumulates pieces in file order.
struct Table {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Option<Vec<i64>>,
    user_ids: GlobalIds,
    item_ids: GlobalIds,
    lines: LineIndex,
    skipped: usize,
    examples: Vec<SkippedLine>,
    reserved: bool,
}

impl Table {
    fn new(layout: &Layout) -> Self {
        Table {
            users: Vec::new(),
            items: Vec::new(),
            values: Vec::new(),
            times: layout.time.map(|_| Vec::new()),
            user_ids: GlobalIds::new(layout.encoding),
            item_ids: GlobalIds::new(layout.encoding),
            lines: LineIndex::default(),
            skipped: 0,
            examples: Vec::new(),
            reserved: false,
        }
    }

    /// Reserves the whole table once, from the first block's rows per byte,
    /// so that growth never holds two copies of a column.
    fn reserve_for(&mut self, rows: usize, bytes: usize, total_bytes: u64) {
        if self.reserved || bytes == 0 {
            return;
        }
        self.reserved = true;
        let estimate = (rows as f64 * total_bytes as f64 / bytes as f64 * 1.02) as usize + 16;
        self.users.reserve(estimate);
        self.items.reserve(estimate);
        self.values.reserve(estimate);
        if let Some(t) = self.times.as_mut() {
            t.reserve(estimate);
        }
    }

    fn merge(&mut self, mut p: Piece, line_base: u64, byte_base: u64) -> Result<()> {
        if let Some(bad) = p.error {
            return Err(bad.into_error(line_base, byte_base));
        }
        self.lines.push(self.values.len(), line_base + 1, p.gaps);
        self.user_ids.remap(&mut p.users, &p.user_ids);
        self.item_ids.remap(&mut p.items, &p.item_ids);
        self.users.extend_from_slice(&p.users);
        self.items.extend_from_slice(&p.items);
        self.values.extend_from_slice(&p.values);
        if let Some(t) = self.times.as_mut() {
            t.extend_from_slice(&p.times);
        }
        self.skipped += p.skipped;
        for bad in p.examples {
            if self.examples.len() < SKIPPED_EXAMPLES {
                self.examples.push(bad.into_skipped(line_base));
            }
        }
        Ok(())
    }
}

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

/// Fills `buf` from `src` until it holds `want` bytes or the input ends.
fn fill(src: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> Result<bool> {
    let mut eof = false;
    let start = buf.len();
    buf.resize(want.max(start), 0);
    let mut len = start;
    while len < buf.len() {
        match src.read(&mut buf[len..]) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(k) => len += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(len);
    Ok(eof)
}

/// Reads a delimited text source of about `total_bytes` bytes.
pub(super) fn read(
    mut src: impl Read,
    total_bytes: u64,
    format: Format,
    opts: &ReadOptions,
) -> Result<ReadOutcome> {
    let mut buf = Vec::new();
    let mut eof = fill(&mut src, &mut buf, BLOCK)?;
    let bom = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    if buf[bom..].trim_ascii().is_empty() {
        return Err(Error::format("empty file: no ratings"));
    }
    let (layout, header) = Layout::resolve(format, opts, &buf[bom..])?;
    let mut table = Table::new(&layout);
    let mut line_base = 0u64;
    let mut byte_base = 0u64;
    let mut skip = bom;
    if header {
        skip = memchr::memchr(b'\n', &buf).map_or(buf.len(), |k| k + 1);
        line_base = 1;
    }
    let threads = rayon::current_num_threads() * 4;
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
        let body = &buf[skip..complete];
        let parts = pieces(body, threads);
        let parsed: Vec<Piece> = parts
            .par_iter()
            .map(|b| parse_piece(b, &layout, opts.skip_bad_lines))
            .collect();
        let rows: usize = parsed.iter().map(|p| p.values.len()).sum();
        table.reserve_for(rows, body.len(), total_bytes);
        let mut piece_byte = byte_base + skip as u64;
        for (p, part) in parsed.into_iter().zip(&parts) {
            let lines = p.lines;
            table.merge(p, line_base, piece_byte)?;
            line_base += lines;
            piece_byte += part.len() as u64;
        }
        if eof {
            break;
        }
        byte_base += complete as u64;
        buf.drain(..complete);
        skip = 0;
        eof = fill(&mut src, &mut buf, BLOCK)?;
        if buf.is_empty() {
            break;
        }
    }
    if table.values.is_empty() {
        return Err(Error::format(if table.skipped > 0 {
            format!("no valid rating: all {} data lines were bad", table.skipped)
        } else {
            "empty file: no ratings".to_string()
        }));
    }
    let ratings = Ratings {
        users: table.users,
        items: table.items,
        values: table.values,
        timestamps: table.times,
        user_ids: Arc::new(table.user_ids.into_map()?),
        item_ids: Arc::new(table.item_ids.into_map()?),
    };
    finish(
        ratings,
        format,
        opts,
        table.skipped,
        table.examples,
        &table.lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str, delim: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_fields(line.as_bytes(), delim.as_bytes(), &mut out).unwrap();
        out.iter()
            .map(|f| String::from_utf8(f.get(line.as_bytes()).into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn splits_plain_quoted_and_multibyte() {
        assert_eq!(fields("a,b,,c", ","), ["a", "b", "", "c"]);
        assert_eq!(fields("1::2::3", "::"), ["1", "2", "3"]);
        assert_eq!(
            fields("\"x,y\",\"say \"\"hi\"\"\",3", ","),
            ["x,y", "say \"hi\"", "3"]
        );
        let mut out = Vec::new();
        assert!(split_fields(b"\"open,1", b",", &mut out).is_err());
        assert!(split_fields(b"\"a\"b,1", b",", &mut out).is_err());
    }

    #[test]
    fn ratings_parse_exactly() {
        for text in [
            "0",
            "1",
            "3.5",
            "4.0",
            "0.5",
            "2.75",
            " 5 ",
            "1e0",
            "-1",
            "12345678.5",
        ] {
            let want: f32 = text.trim().parse().unwrap();
            assert_eq!(parse_rating(text.as_bytes()).ok(), Some(want), "{text}");
        }
        assert!(matches!(parse_rating(b"NaN"), Err(Fault::Rating(..))));
        assert!(matches!(parse_rating(b"inf"), Err(Fault::Rating(..))));
        assert!(matches!(parse_rating(b"1e300"), Err(Fault::Rating(..))));
        assert!(matches!(parse_rating(b"four"), Err(Fault::Parse(_))));
        assert!(matches!(parse_rating(b"."), Err(Fault::Parse(_))));
        assert!(matches!(parse_rating(b""), Err(Fault::Parse(_))));
    }

    #[test]
    fn only_canonical_small_decimals_are_integers() {
        assert_eq!(small_int(b"0"), Some(0));
        assert_eq!(small_int(b"193609"), Some(193609));
        assert_eq!(small_int(b"0205616461"), None);
        assert_eq!(small_int(b"+5"), None);
        assert_eq!(small_int(b"99999999"), None);
    }

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
