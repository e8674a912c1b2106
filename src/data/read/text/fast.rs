//! The fast line scanner for plain canonical decimals in the usual column
//! order (MovieLens CSV, `u.data`). It only changes speed: any line it does
//! not fully recognise is left to the general parser in [`super::piece`].

use super::layout::Layout;
use super::piece::Columns;
use crate::data::RatingScale;

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
pub(super) struct Fast {
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
    pub(super) fn for_layout(l: &Layout) -> Option<Fast> {
        let [d] = l.delimiter[..] else { return None };
        let plain = !(d.is_ascii_digit() || b".\"\r\n-+ ".contains(&d));
        let four = match (l.n_fields, l.time) {
            (3, None) => false,
            (4, None | Some(3)) => true,
            _ => return None,
        };
        (plain && (l.user, l.item, l.rating) == (0, 1, Some(2))).then_some(Fast { delim: d, four })
    }

    /// Scans lines from `start` for as long as it accepts them (and their
    /// ratings lie on `scale`), appending them to `cols`; returns where it
    /// stopped (the start of a line for the general parser, or where fewer
    /// than [`FAST_SLACK`] bytes are left) and how many lines it took.
    pub(super) fn run(
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
/// [`small_int`](super::ids::small_int) accepts below 10^7.
#[inline(always)]
fn field_id(b: &[u8], s: usize, e: usize) -> Option<u32> {
    let len = e - s;
    let (x, run) = digit_run(load8(b, s));
    let zero_led = len > 1 && x & 0xFF == 0;
    (run == len && (1..=7).contains(&len) && !zero_led).then(|| swar_value(x, len) as u32)
}

/// `d+` or `d+.d+` of at most 8 characters in `b[s..e]`, as
/// [`parse_rating`](super::piece::parse_rating)'s exact fast path computes it.
#[inline(always)]
fn field_rating(b: &[u8], s: usize, e: usize) -> Option<f32> {
    let len = e - s;
    let (x, int_len) = digit_run(load8(b, s));
    // The usual ratings, `4` and `3.5`, without the general digit
    // combining below (two multiply chains where one digit each is known).
    if int_len == 1 {
        if len == 1 {
            return Some((x & 0xFF) as f32);
        }
        let tenth = (x >> 16) & 0xFF;
        if len == 3 && byte(b, s + 1) == b'.' && tenth <= 9 {
            return Some(super::piece::decimal(
                (x & 0xFF) as u32 * 10 + tenth as u32,
                1,
            ));
        }
    }
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
    Some(super::piece::decimal(mantissa, frac_len))
}

/// 1 to 15 digits in `b[s..e]` (a timestamp), as
/// [`parse_time`](super::piece::parse_time) reads them.
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(line("7,2,0.5,1\n"), Some((7, 2, 0.5, 1, 10)));
        assert_eq!(line("7,2,9,1\n"), Some((7, 2, 9.0, 1, 8)));
        assert_eq!(line("7,2,10.5,1\n"), Some((7, 2, 10.5, 1, 11)));
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
            "1,2,3.a,4\n",
            "1,2,3:5,4\n",
            "1,2,3.5.,4\n",
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
}
