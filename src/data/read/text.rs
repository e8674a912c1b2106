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
//! bytes at once and reads each field's digits 8 at a time ([`Fast`]);
//! any line it does not fully recognise goes to the general
//! field splitter, so the scanner changes speed, never results or errors.
//!
//! Ids take one of two roads. A canonical decimal below [`DENSE_LIMIT`]
//! (`"42"`, not `"042"`) is parsed to its value and mapped through a dense
//! table, with no hashing; anything else is interned in a hash map, first per
//! piece (in parallel), then globally once per distinct id and piece. Because
//! only canonical decimals take the first road, the id text is always what the
//! file said.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use rayon::prelude::*;

use super::detect::{first_line, sniff_delimiter};
use super::finish::{finish, LineIndex};
use super::{
    Column, Encoding, Format, Header, ReadOptions, ReadOutcome, SkippedLine, SKIPPED_EXAMPLES,
};
use crate::data::fxhash::FxMap;
use crate::data::{IdMap, RatingScale, Ratings};
use crate::error::{shorten, Error, ErrorKind, Position, Result};
use crate::mem::zeroed_vec;

/// Bytes read per block: large enough to feed every thread, small next to the table.
const BLOCK: usize = 16 << 20;
/// Pieces smaller than this are not worth a task of their own.
const MIN_PIECE: usize = 256 << 10;
/// Integer ids below this use the dense table (at most 64 MiB of `u32`).
const DENSE_LIMIT: u64 = 1 << 24;
/// Marks a piece-local code as a string index rather than an integer id.
const STRING_BIT: u32 = 1 << 31;
const UNSET: u32 = u32::MAX;

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

/// Parses a whole-second timestamp: an optional `-` and up to 18 digits (so
/// no overflow is possible), without the UTF-8 check of `str::parse`.
fn parse_time(field: &[u8]) -> std::result::Result<i64, Fault> {
    let s = field.trim_ascii();
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Fault::Parse("timestamp is not an integer".into()));
    }
    let v = digits
        .iter()
        .fold(0i64, |acc, &b| acc * 10 + (b - b'0') as i64);
    Ok(if negative { -v } else { v })
}

/// The shape the fast line scanner handles: user, item, rating (and
/// optionally one more integer field, the timestamp) in positions 0, 1, 2
/// (, 3), one delimiter byte. Lines it does not recognise go to the general
/// parser, so it changes speed, never results.
///
/// It finds a line's separators first, for 64 bytes at a time: one bit per
/// byte for the delimiter and one for `\n` (SSE2 compares, or 8-byte words
/// elsewhere). Each field's bounds then come from those bits, so the fields
/// are parsed independently of one another rather than one after the other,
/// each waiting to learn where the previous number ended (measured on one
/// thread, the whole read of 100 MB of ML-20M-shaped CSV: 950 → 1,040 MB/s).
#[derive(Debug, Clone, Copy)]
struct Fast {
    delim: u8,
    /// Whether a fourth field follows the rating.
    four: bool,
}

/// Bytes the scanner examines at once: a line it accepts fits in one window.
const WINDOW: usize = 64;
/// A window needs this many bytes from its start: 64 examined, and 8-byte
/// loads at field starts up to the window's end (a timestamp's second word
/// starts 8 bytes into the field).
const FAST_SLACK: usize = WINDOW + 16;
const ONES: u64 = 0x0101_0101_0101_0101;

impl Fast {
    fn for_layout(l: &Layout) -> Option<Fast> {
        let [d] = l.delimiter[..] else { return None };
        let plain = !(d.is_ascii_digit() || b".\"\r\n-+ ".contains(&d));
        let four = match (l.n_fields, l.time) {
            (3, None) => false,
            (4, None | Some(3)) => true,
            _ => return None,
        };
        (plain && (l.user, l.item, l.rating) == (0, 1, 2)).then_some(Fast { delim: d, four })
    }

    /// Scans lines from `start` for as long as it accepts them (and their
    /// ratings lie on `scale`), appending them to `cols`; returns where it
    /// stopped (the start of a line for the general parser, or where fewer
    /// than [`FAST_SLACK`] bytes are left) and how many lines it took.
    fn run(
        self,
        b: &[u8],
        mut start: usize,
        cols: &mut Columns,
        keep_time: bool,
        scale: Option<RatingScale>,
    ) -> (usize, u64) {
        let delims_per_line = if self.four { 3 } else { 2 };
        let mut lines = 0;
        while start + FAST_SLACK <= b.len() {
            let (delims, ends) = separators(b, start, self.delim);
            // Bit k of `delims`/`ends` is byte `start + k`; `off` is the
            // current line's start within the window.
            let mut off = 0u32;
            loop {
                let after = ends & (!0u64 << off);
                if after == 0 {
                    break;
                }
                let nl = after.trailing_zeros();
                let mut d = delims & (!0u64 << off) & ((1u64 << nl) - 1);
                let mut sep = [0u32; 3];
                for s in sep.iter_mut().take(delims_per_line) {
                    if d == 0 {
                        return (start + off as usize, lines);
                    }
                    *s = d.trailing_zeros();
                    d &= d - 1;
                }
                if d != 0 {
                    return (start + off as usize, lines);
                }
                let at = |k: u32| start + k as usize;
                let end = if byte(b, at(nl) - 1) == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                let user = field_id(b, at(off), at(sep[0]));
                let item = field_id(b, at(sep[0] + 1), at(sep[1]));
                let (value, time) = if self.four {
                    (
                        field_rating(b, at(sep[1] + 1), at(sep[2])),
                        field_time(b, at(sep[2] + 1), at(end)),
                    )
                } else {
                    (field_rating(b, at(sep[1] + 1), at(end)), Some(0))
                };
                let (Some(user), Some(item), Some(value), Some(time)) = (user, item, value, time)
                else {
                    return (start + off as usize, lines);
                };
                if !scale.is_none_or(|s| s.contains(value)) {
                    return (start + off as usize, lines);
                }
                cols.users.push(user);
                cols.items.push(item);
                cols.values.push(value);
                if keep_time {
                    cols.times.push(time);
                }
                lines += 1;
                off = nl + 1;
                if off as usize >= WINDOW {
                    break;
                }
            }
            if off == 0 {
                // Not one whole line in the window: too long for this scanner.
                return (start, lines);
            }
            start += off as usize;
        }
        (start, lines)
    }
}

/// Where the delimiter and `\n` are among the [`WINDOW`] bytes at `at`: bit
/// `k` of each mask is byte `at + k`. Needs `at + WINDOW <= b.len()`.
#[inline(always)]
fn separators(b: &[u8], at: usize, delim: u8) -> (u64, u64) {
    debug_assert!(at + WINDOW <= b.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; the four unaligned
        // 16-byte loads lie inside `b` (checked in debug builds above).
        unsafe {
            let d = _mm_set1_epi8(delim as i8);
            let n = _mm_set1_epi8(b'\n' as i8);
            let (mut delims, mut ends) = (0u64, 0u64);
            for k in 0..WINDOW / 16 {
                let x = _mm_loadu_si128(b.as_ptr().add(at + 16 * k).cast::<__m128i>());
                delims |= (_mm_movemask_epi8(_mm_cmpeq_epi8(x, d)) as u16 as u64) << (16 * k);
                ends |= (_mm_movemask_epi8(_mm_cmpeq_epi8(x, n)) as u16 as u64) << (16 * k);
            }
            (delims, ends)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    separators_by_words(b, at, delim)
}

/// [`separators`] with 8-byte words: the portable version (and the
/// reference the SSE2 one is tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn separators_by_words(b: &[u8], at: usize, delim: u8) -> (u64, u64) {
    // One bit per byte that equals `c`: a byte of `w ^ c*ONES` is zero
    // exactly there; adding 0x7F to its low 7 bits sets bit 7 iff they are
    // not all zero (no carry leaves the byte), so no false hits.
    let hits = |w: u64, c: u8| -> u64 {
        let x = w ^ (c as u64 * ONES);
        let nonzero = ((x & (0x7F * ONES)) + 0x7F * ONES) | x;
        let zero = !nonzero & (0x80 * ONES);
        // Gather bit 7 of each byte into the low 8 bits.
        (zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
    };
    let (mut delims, mut ends) = (0u64, 0u64);
    for k in 0..WINDOW / 8 {
        let w = load8(b, at + 8 * k);
        delims |= hits(w, delim) << (8 * k);
        ends |= hits(w, b'\n') << (8 * k);
    }
    (delims, ends)
}

/// A canonical decimal id of 1 to 7 digits in `b[s..e]`: exactly what
/// [`small_int`] accepts below 10^7.
#[inline(always)]
fn field_id(b: &[u8], s: usize, e: usize) -> Option<u32> {
    let len = e - s;
    let (x, run) = digit_run(load8(b, s));
    let zero_led = len > 1 && x & 0xFF == 0;
    (run == len && (1..=7).contains(&len) && !zero_led).then(|| swar_value(x, len) as u32)
}

/// `d+` or `d+.d+` of at most 8 characters in `b[s..e]`, as
/// [`parse_rating`]'s exact fast path computes it.
#[inline(always)]
fn field_rating(b: &[u8], s: usize, e: usize) -> Option<f32> {
    const POW10: [f32; 8] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];
    let len = e - s;
    let (x, int_len) = digit_run(load8(b, s));
    if !(1..=8).contains(&len) || int_len == 0 {
        return None;
    }
    if int_len >= len {
        return (len < 8).then(|| swar_value(x, len) as f32);
    }
    let frac_len = len - int_len - 1;
    let (y, run) = digit_run(load8(b, s + int_len + 1));
    if byte(b, s + int_len) != b'.' || frac_len == 0 || run < frac_len {
        return None;
    }
    let mantissa =
        swar_value(x, int_len) as u32 * POW10_U32[frac_len] + swar_value(y, frac_len) as u32;
    Some(mantissa as f32 / POW10[frac_len])
}

/// 1 to 15 digits in `b[s..e]` (a timestamp), as [`parse_time`] reads them.
#[inline(always)]
fn field_time(b: &[u8], s: usize, e: usize) -> Option<i64> {
    let len = e - s;
    let (x, run) = digit_run(load8(b, s));
    if len <= 8 {
        return (len >= 1 && run >= len).then(|| swar_value(x, len) as i64);
    }
    let (y, more) = digit_run(load8(b, s + 8));
    let tail = len - 8;
    (run == 8 && tail <= 7 && more >= tail)
        .then(|| (swar_value(x, 8) * POW10_U32[tail] as u64 + swar_value(y, tail)) as i64)
}

const POW10_U32: [u32; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The 8 bytes at `at`, little-endian.
///
/// The scanner's loads and byte reads skip bounds checks: [`Fast::run`]
/// opens a window only where `at + FAST_SLACK <= b.len()`, and every load
/// starts inside the window's [`WINDOW`] bytes (a field's first or ninth
/// byte), so it ends within [`FAST_SLACK`] bytes of the window's start.
#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    debug_assert!(at + 8 <= b.len());
    // SAFETY: in bounds by the slack invariant above (checked in debug builds).
    u64::from_le(unsafe { std::ptr::read_unaligned(b.as_ptr().add(at).cast::<u64>()) })
}

/// The byte at `at`, under the same invariant as [`load8`].
#[inline(always)]
fn byte(b: &[u8], at: usize) -> u8 {
    debug_assert!(at < b.len());
    // SAFETY: in bounds by the slack invariant of [`load8`].
    unsafe { *b.get_unchecked(at) }
}

/// The digit values of an 8-byte little-endian word (digit `k` in byte `k`)
/// and how many leading bytes are ASCII digits (8 when all are).
#[inline(always)]
fn digit_run(w: u64) -> (u64, usize) {
    let x = w ^ (0x30 * ONES);
    // Bit 7 of a byte ends up set iff its value is not 0..=9; carries only
    // travel upwards from bytes that are flagged already, so the lowest flag
    // is exact.
    let flags = (x.wrapping_add(0x76 * ONES) | x) & (0x80 * ONES);
    (x, (flags.trailing_zeros() / 8) as usize)
}

/// The value of the first `len` (1..=8) digits of `x` (as from [`digit_run`]):
/// three multiply-and-mask steps combine digit pairs, then quads, then halves.
#[inline(always)]
fn swar_value(x: u64, len: usize) -> u64 {
    debug_assert!((1..=8).contains(&len));
    let v = x << (64 - 8 * len as u32);
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

/// A piece's parsed columns. Their buffers go back to a pool after the
/// merge and serve a later block, so parsing does not fault in fresh pages
/// (and hand them back) for every piece.
#[derive(Default)]
struct Columns {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Vec<i64>,
}

/// What one piece parsed to.
#[derive(Default)]
struct Piece<'a> {
    cols: Columns,
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

fn parse_piece<'a>(
    bytes: &'a [u8],
    layout: &Layout,
    skip_bad: bool,
    mut cols: Columns,
) -> Piece<'a> {
    let estimate = bytes.len() / 24 + 1;
    cols.users.clear();
    cols.items.clear();
    cols.values.clear();
    cols.times.clear();
    cols.users.reserve(estimate);
    cols.items.reserve(estimate);
    cols.values.reserve(estimate);
    if layout.time.is_some() {
        cols.times.reserve(estimate);
    }
    let mut p = Piece {
        cols,
        ..Piece::default()
    };
    let mut fields = Vec::with_capacity(layout.n_fields.max(4));
    let mut start = 0;
    let fast = Fast::for_layout(layout);
    let keep_time = layout.time.is_some();
    let scale = layout.scale;
    while start < bytes.len() {
        if let Some(f) = fast {
            let (next, lines) = f.run(bytes, start, &mut p.cols, keep_time, scale);
            p.lines += lines;
            start = next;
            if start >= bytes.len() {
                break;
            }
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
        let raw = &bytes[start..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        p.lines += 1;
        if line.trim_ascii().is_empty() {
            p.gaps.push(p.cols.values.len() as u32);
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
            p.gaps.push(p.cols.values.len() as u32);
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
    p.cols.users.push(user);
    p.cols.items.push(item);
    p.cols.values.push(value);
    if let Some(t) = time {
        p.cols.times.push(t);
    }
    Ok(())
}

/// Global id space: the dense table for small integers, a hash map for the rest.
struct GlobalIds {
    dense: Vec<u32>,
    strings: FxMap<Box<[u8]>, u32>,
    ids: Vec<IdText>,
    encoding: Encoding,
}

/// An id as first seen: integers are written out as text only at the end,
/// on all threads, not in the serial registration.
enum IdText {
    Int(u32),
    Text(String),
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
        let at = v as usize;
        if at >= self.dense.len() {
            self.dense.resize(
                (at + 1).max(self.dense.len() * 2).min(DENSE_LIMIT as usize),
                UNSET,
            );
        }
        if self.dense[at] == UNSET {
            self.dense[at] = self.ids.len() as u32;
            self.ids.push(IdText::Int(v));
        }
        self.dense[at]
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
        self.ids.push(IdText::Text(text));
        self.strings.insert(s.into(), k);
        k
    }

    /// Gives each id of a piece that is new to the file its global index,
    /// in row order (that is what makes the order first-seen); returns the
    /// global index of each of the piece's string ids. Only reads the
    /// codes, and skips repeats of the previous code (a user's run of
    /// ratings costs one comparison a row), so this serial step stays short.
    fn register(&mut self, codes: &[u32], local: &LocalIds) -> Vec<u32> {
        let mut table = vec![UNSET; local.list.len()];
        let mut prev = UNSET;
        for &c in codes {
            if c == prev {
                continue;
            }
            prev = c;
            if c & STRING_BIT == 0 {
                self.int(c);
            } else {
                let k = (c & !STRING_BIT) as usize;
                if table[k] == UNSET {
                    table[k] = self.string(&local.list[k]);
                }
            }
        }
        table
    }

    /// The integer codes of a piece not registered yet, in row order
    /// (repeats of the previous code dropped), looked up in parallel before
    /// the serial [`GlobalIds::register`] so that it only walks these; `None`
    /// when the piece has string ids, whose order among the integers needs
    /// the full walk. Past the first blocks nearly every id is known and the
    /// list is empty.
    fn fresh_ints(&self, codes: &[u32], local: &LocalIds) -> Option<Vec<u32>> {
        if !local.list.is_empty() {
            return None;
        }
        let mut fresh = Vec::new();
        let mut prev = UNSET;
        for &c in codes {
            if c != prev && self.dense.get(c as usize).is_none_or(|&g| g == UNSET) {
                fresh.push(c);
            }
            prev = c;
        }
        Some(fresh)
    }

    /// Registers a piece's ids: the prefiltered integers when
    /// [`GlobalIds::fresh_ints`] gave them, else every code.
    fn register_piece(
        &mut self,
        codes: &[u32],
        local: &LocalIds,
        fresh: Option<Vec<u32>>,
    ) -> Vec<u32> {
        match fresh {
            Some(list) => {
                for c in list {
                    self.int(c);
                }
                Vec::new()
            }
            None => self.register(codes, local),
        }
    }

    /// Writes the global index of each code (all registered) into `out`.
    fn lookup_into(&self, codes: &[u32], strings: &[u32], out: &mut [u32]) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = if c & STRING_BIT == 0 {
                self.dense[c as usize]
            } else {
                strings[(c & !STRING_BIT) as usize]
            };
        }
    }

    fn into_map(self) -> Result<IdMap> {
        let ids = self
            .ids
            .into_par_iter()
            .map(|id| match id {
                IdText::Int(v) => v.to_string(),
                IdText::Text(t) => t,
            })
            .collect();
        IdMap::from_ids(ids)
    }
}

/// Accumulates pieces in file order.
///
/// The columns are allocated zeroed at their estimated final length, on
/// huge pages (the kernel maps untouched zero pages, so this costs nothing
/// until written, and then one fault per 2 MiB instead of per 4 KiB)
/// and their first `len` rows are filled. A block's pieces are copied in by
/// the rayon threads, each into its own range, so the copy and the
/// first-touch page faults of the ~400 MB table run on every core.
struct Table {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Option<Vec<i64>>,
    len: usize,
    user_ids: GlobalIds,
    item_ids: GlobalIds,
    lines: LineIndex,
    skipped: usize,
    examples: Vec<SkippedLine>,
    reserved: bool,
}

/// One parsed piece on its way into the table: its columns and the global
/// indices of its string user and item ids.
type Job = (Columns, Vec<u32>, Vec<u32>);

impl Table {
    fn new(layout: &Layout) -> Self {
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
    fn reserve_for(&mut self, rows: usize, bytes: usize, total_bytes: u64) {
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
    fn merge_block(
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
    fn finish(mut self) -> Result<(Ratings, usize, Vec<SkippedLine>, LineIndex)> {
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
    fn timestamps_parse_as_whole_seconds() {
        assert_eq!(parse_time(b"881250949").ok(), Some(881_250_949));
        assert_eq!(parse_time(b" -5 ").ok(), Some(-5));
        for bad in [&b""[..], b"-", b"1.5", b"12a", b"1234567890123456789"] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
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
    fn swar_digits_match_a_plain_loop() {
        let pad = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            b.resize(8.max(b.len()), b',');
            b
        };
        for s in [
            "0", "7", "42", "1000", "98765", "123456", "1234567", "12345678",
        ] {
            let b = pad(s);
            let (x, len) = digit_run(load8(&b, 0));
            assert_eq!(len, s.len());
            assert_eq!(swar_value(x, len), s.parse::<u64>().unwrap(), "{s}");
        }
        // Every byte that is not a digit stops the run, whatever follows.
        for stop in (0..=255u8).filter(|b| !b.is_ascii_digit()) {
            let b = [b'1', b'2', stop, 0xFF, b'9', 0x80, b'0', b'5'];
            assert_eq!(digit_run(load8(&b, 0)).1, 2, "{stop:#x}");
        }
        let mut buf = b"1425784250\n".to_vec();
        buf.resize(32, 0);
        assert_eq!(field_time(&buf, 0, 10), Some(1_425_784_250));
        assert_eq!(field_time(&buf, 0, 9), Some(142_578_425));
        assert_eq!(field_time(&buf, 0, 11), None);
    }

    #[test]
    fn separator_masks_match_a_byte_loop() {
        let mut x: u64 = 3;
        let mut b = vec![0u8; 4096];
        for v in b.iter_mut() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Mostly separators and digits, some bytes of every value.
            *v = match (x >> 59) % 4 {
                0 => b',',
                1 => b'\n',
                2 => b'0' + (x >> 40) as u8 % 10,
                _ => (x >> 32) as u8,
            };
        }
        for at in 0..b.len() - WINDOW {
            let want = |c: u8| {
                (0..WINDOW)
                    .filter(|&k| b[at + k] == c)
                    .fold(0u64, |m, k| m | 1 << k)
            };
            let expect = (want(b','), want(b'\n'));
            assert_eq!(separators(&b, at, b','), expect, "at {at}");
            assert_eq!(separators_by_words(&b, at, b','), expect, "at {at}");
        }
    }

    #[test]
    fn fast_scanner_reads_movielens_lines_and_declines_the_rest() {
        let fast = Fast {
            delim: b',',
            four: true,
        };
        // (user, item, rating, time, next line start) of the first line, if taken.
        let line = |text: &str| {
            let mut b = text.as_bytes().to_vec();
            b.resize(FAST_SLACK + b.len(), b'#');
            let mut cols = Columns::default();
            let (next, lines) = fast.run(&b, 0, &mut cols, true, None);
            (lines > 0).then(|| {
                (
                    cols.users[0],
                    cols.items[0],
                    cols.values[0],
                    cols.times[0],
                    next,
                )
            })
        };
        assert_eq!(
            line("1,538,1.0,1425784250\n"),
            Some((1, 538, 1.0, 1_425_784_250, 21))
        );
        assert_eq!(line("7,2,3.5,1\r\n"), Some((7, 2, 3.5, 1, 11)));
        assert_eq!(
            line("1234567,7654321,12.25,123456789012345\n"),
            Some((1_234_567, 7_654_321, 12.25, 123_456_789_012_345, 38))
        );
        for declined in [
            "01,2,3,4\n",
            "\"1\",2,3,4\n",
            "A1,2,3,4\n",
            "12345678,2,3,4\n",
            "1,2,3,4\r\r\n",
            "1,2,3,4,5\n",
            "1,2,.5,4\n",
            "1,2,3.,4\n",
            "1,2, 3,4\n",
            "1,2,3,-4\n",
            "1,2,3,1234567890123456\n",
            "1,2,3\n",
            "1,2,123456789,4\n",
            "1,2,1234.5678,4\n",
            "1,2,3,\n",
            ",2,3,4\n",
            "\n",
        ] {
            assert_eq!(line(declined), None, "{declined:?}");
        }
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
