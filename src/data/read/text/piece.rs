//! One piece of a block parsed on one thread: the general line parser,
//! the rating and timestamp parsers it shares with the fast scanner's
//! exact paths, and the lines it rejects.

use super::fast::Fast;
use super::ids::LocalIds;
use super::layout::{split_fields, Field, Layout};
use crate::data::read::{SkippedLine, SKIPPED_EXAMPLES};
use crate::error::{shorten, Error, ErrorKind, Position};

/// Why a line was rejected.
#[derive(Debug, Clone)]
pub(super) enum Fault {
    Parse(String),
    Rating(f64, String),
}

/// A rejected line, with its position inside its piece.
#[derive(Debug, Clone)]
pub(super) struct BadLine {
    line: u64,
    byte: u64,
    fault: Fault,
    text: String,
}

impl BadLine {
    pub(super) fn into_error(self, line_base: u64, byte_base: u64) -> Error {
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

    pub(super) fn into_skipped(self, line_base: u64) -> SkippedLine {
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

/// `mantissa / 10^frac_digits` (`frac_digits` below 8), exactly rounded as
/// the division is. One fractional digit (`3.5`, `4.0`, the usual rating)
/// below 102.4 is looked up instead: a division per row was the slowest
/// step of the fast scanner's line.
#[inline(always)]
pub(super) fn decimal(mantissa: u32, frac_digits: usize) -> f32 {
    const POW10: [f32; 8] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];
    if frac_digits == 1 {
        if let Some(&v) = TENTHS.get(mantissa as usize) {
            return v;
        }
    }
    mantissa as f32 / POW10[frac_digits]
}

/// `k / 10` for every `k` below 1024, computed at compile time (constant
/// evaluation rounds floating-point division as the machine does).
const TENTHS: [f32; 1024] = {
    let mut t = [0.0f32; 1024];
    let mut k = 0;
    while k < t.len() {
        t[k] = k as f32 / 10.0;
        k += 1;
    }
    t
};

/// Parses a rating: plain decimals (`4`, `3.5`) on a fast path that is
/// exactly rounded (an integer mantissa below 2^24 divided by an exact power
/// of ten), anything else through the standard parser.
pub(super) fn parse_rating(field: &[u8]) -> std::result::Result<f32, Fault> {
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
        return Ok(decimal(mantissa, frac_digits.unwrap_or(0)));
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
pub(super) fn parse_time(field: &[u8]) -> std::result::Result<i64, Fault> {
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

/// A piece's parsed columns. Their buffers go back to a pool after the
/// merge and serve a later block, so parsing does not fault in fresh pages
/// (and hand them back) for every piece.
#[derive(Default)]
pub(super) struct Columns {
    pub(super) users: Vec<u32>,
    pub(super) items: Vec<u32>,
    pub(super) values: Vec<f32>,
    pub(super) times: Vec<i64>,
}

/// What one piece parsed to.
#[derive(Default)]
pub(super) struct Piece<'a> {
    pub(super) cols: Columns,
    pub(super) user_ids: LocalIds<'a>,
    pub(super) item_ids: LocalIds<'a>,
    pub(super) lines: u64,
    /// Row count at each line that gave no rating (blank or skipped), so that
    /// a row's line number can be recovered later.
    pub(super) gaps: Vec<u32>,
    pub(super) skipped: usize,
    pub(super) examples: Vec<BadLine>,
    pub(super) error: Option<BadLine>,
}

pub(super) fn parse_piece<'a>(
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
    let value = match layout.rating {
        Some(r) => parse_rating(&field(r))?,
        None => 1.0,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn looked_up_tenths_equal_the_division() {
        // `black_box` keeps the divisions at run time, not folded.
        let ten = std::hint::black_box(10.0f32);
        for k in 0..1100u32 {
            assert_eq!(decimal(k, 1).to_bits(), (k as f32 / ten).to_bits(), "{k}");
        }
        for (m, f) in [(35u32, 1usize), (275, 2), (12_345_678, 7), (7, 0)] {
            let p = std::hint::black_box(10f32.powi(f as i32));
            assert_eq!(decimal(m, f).to_bits(), (m as f32 / p).to_bits());
        }
    }

    #[test]
    fn timestamps_parse_as_whole_seconds() {
        assert_eq!(parse_time(b"881250949").ok(), Some(881_250_949));
        assert_eq!(parse_time(b" -5 ").ok(), Some(-5));
        for bad in [&b""[..], b"-", b"1.5", b"12a", b"1234567890123456789"] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }
}
