//! A 4-bit serving copy of a score matrix, for exact top-N over large
//! catalogues.
//!
//! Full-catalogue top-N scores every item as `g(m_i·x + b_i)`: `m_i` is an
//! item's row of a matrix (the decoder of a U-AutoRec, the item codes of an
//! I-AutoRec), `x` the user's vector, `g` the output activation plus the
//! rating shift. With f32 rows that is memory-bound: 100,000 × 500 is 200 MB
//! read per query. [`QuantizedRows`] keeps a per-row-scaled 4-bit copy (an
//! eighth of the bytes: 25 MB, which fits a 32 MiB L3) and scans it against
//! an 8-bit quantized query to preselect candidates, rescores those
//! with the caller's exact f32 function, and then rescores every further
//! item whose *proven* upper bound could still reach the n-th exact score.
//! The answer is therefore exactly what scoring every row in f32 and
//! selecting would give: same items, same order, same (bit-identical) scores.
//!
//! The query is centred first: with `μ` the mean of `x` and `x' = x − μ·1`,
//! `m_i·x = μ·Σ_k m_ik + m_i·x'`, and the row sums are kept exactly, so only
//! `m_i·x'` is approximated. Codes after a sigmoid are all positive with a
//! large mean; centring shrinks `‖x'‖` and with it the bound several-fold.
//! The bound for row `i`, with `ŵ = s_i·q_i` the dequantized row and
//! `x̃ = t·x̂` the quantized centred query:
//! `|m_i·x' − ŵ·x̃| ≤ ‖m_i − ŵ‖₂·‖x'‖₂ + ‖ŵ‖₂·‖x' − x̃‖₂` (Cauchy–Schwarz on
//! `(m_i − ŵ)·x' + ŵ·(x' − x̃)`), plus the rounding of the exact f32 path,
//! `γ_{d+2}·(‖m_i‖₁·‖x‖_∞ + |b_i|)` for any summation order (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, §3.1). The norms are
//! per row, computed once when the copy is built.
//!
//! Exactness needs `g` to be monotone non-decreasing in f32 (in
//! `f32::total_cmp` order); callers only use this for such activations.

use rayon::prelude::*;

/// Rows of one parallel scan task: ~2 MB of 4-bit codes at 500 columns,
/// enough to amortise a task and few enough tasks to balance 2–8 threads.
const ROWS_PER_TASK: usize = 8192;
/// Columns are padded to blocks of 64 (32 bytes of nibbles, one AVX2 load).
const BLOCK: usize = 64;
/// Largest |weight code|: 4 bits, symmetric (−7..=7, stored with +8).
const WMAX: f32 = 7.0;
/// Largest |query code|: 8 bits, symmetric. `vpmaddubsw` pairs of
/// 15·127 cannot saturate an i16.
const XMAX: f64 = 127.0;
/// Unit roundoff of f32.
const UNIT: f64 = f32::EPSILON as f64 / 2.0;
/// Candidates preselected per requested item before the bound check.
pub const CANDIDATES_PER_ITEM: usize = 8;

/// The bias added to each row's dot product.
#[derive(Debug, Clone, Copy)]
pub enum Bias<'a> {
    /// The same bias for every row (I-AutoRec: the user's output bias).
    Shared(f32),
    /// One bias per row (U-AutoRec: the output layer's item biases).
    PerRow(&'a [f32]),
}

impl Bias<'_> {
    #[inline]
    fn of(&self, i: usize) -> f32 {
        match self {
            Bias::Shared(c) => *c,
            Bias::PerRow(c) => c[i],
        }
    }
}

/// How to score row `i` of a [`QuantizedRows`] for one query: the final
/// score is `g(m_i·x + b_i)`.
#[derive(Debug, Clone, Copy)]
pub struct RowScorer<'a, G, E> {
    /// The query vector (one value per column).
    pub x: &'a [f32],
    /// The bias of each row's dot product.
    pub bias: Bias<'a>,
    /// Pre-activation to final score: the output activation plus any shift;
    /// must be monotone non-decreasing in f32 (`total_cmp` order).
    pub g: G,
    /// Row `i`'s f32 pre-activation `m_i·x + b_i`, exactly as the
    /// full-scoring path computes it (same expression, same summation).
    pub exact: E,
}

/// What a quantized top-N returned, and how much exact work it took.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedTopN {
    /// (row, score) best first; ties go to the lower row.
    pub items: Vec<(u32, f32)>,
    /// Rows rescored in f32: the preselected candidates plus every row the
    /// bound could not rule out.
    pub rescored: usize,
}

/// A per-row-scaled 4-bit copy of a row-major `rows × dim` f32 matrix,
/// with the per-row norms the error bound needs.
#[derive(Debug, Clone)]
pub struct QuantizedRows {
    rows: usize,
    dim: usize,
    /// `dim` rounded up to [`BLOCK`]; the padding codes are zero.
    stride: usize,
    /// `rows × stride / 2` bytes: codes `q + 8` (1..=15) as nibbles; byte
    /// `j` of each 32-byte block holds element `j` (low nibble) and `j + 32`
    /// (high nibble) of its 64-element block.
    packed: Vec<u8>,
    /// Per-row scale `s_i = max|m_i| / 7`.
    scale: Vec<f32>,
    /// Per row: `‖m_i − s_i q_i‖₂`, `‖s_i q_i‖₂` and `‖m_i‖₁`, rounded up.
    resid: Vec<f64>,
    qnorm: Vec<f64>,
    l1: Vec<f64>,
    /// Per row: `Σ_k m_ik`, for the centred query.
    sum: Vec<f64>,
}

impl QuantizedRows {
    /// Quantizes a row-major `rows × dim` matrix. `None` when the shape does
    /// not match or a value is not finite (the bound would be meaningless).
    pub fn new(data: &[f32], rows: usize, dim: usize) -> Option<Self> {
        if dim == 0 || data.len() != rows.checked_mul(dim)? || !data.iter().all(|v| v.is_finite()) {
            return None;
        }
        let stride = dim.div_ceil(BLOCK) * BLOCK;
        let mut packed = vec![0u8; rows * stride / 2];
        let mut scale = vec![0f32; rows];
        let mut resid = vec![0f64; rows];
        let mut qnorm = vec![0f64; rows];
        let mut l1 = vec![0f64; rows];
        let mut sum = vec![0f64; rows];
        packed
            .par_chunks_mut(stride / 2)
            .zip(data.par_chunks(dim))
            .zip(scale.par_iter_mut())
            .zip(resid.par_iter_mut().zip(qnorm.par_iter_mut()))
            .zip(l1.par_iter_mut().zip(sum.par_iter_mut()))
            .for_each(|((((qr, row), s), (r, n)), (l, total))| {
                let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                *s = max / WMAX;
                let (mut r2, mut n2, mut a1, mut s1) = (0f64, 0f64, 0f64, 0f64);
                qr.fill(0x88);
                for (j, &v) in row.iter().enumerate() {
                    let k = if *s > 0.0 {
                        (v / *s).round().clamp(-WMAX, WMAX)
                    } else {
                        0.0
                    };
                    let nibble = (k as i8 + 8) as u8;
                    let (block, lane) = (j / BLOCK, j % BLOCK);
                    let byte = &mut qr[block * BLOCK / 2 + lane % 32];
                    *byte = if lane < 32 {
                        (*byte & 0xF0) | nibble
                    } else {
                        (*byte & 0x0F) | (nibble << 4)
                    };
                    let deq = *s as f64 * k as f64;
                    r2 += (v as f64 - deq).powi(2);
                    n2 += deq * deq;
                    a1 += (v as f64).abs();
                    s1 += v as f64;
                }
                *total = s1;
                *r = round_up(r2.sqrt());
                *n = round_up(n2.sqrt());
                *l = round_up(a1);
            });
        Some(QuantizedRows {
            rows,
            dim,
            stride,
            packed,
            scale,
            resid,
            qnorm,
            l1,
            sum,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held by the 4-bit copy and its per-row data.
    pub fn bytes(&self) -> usize {
        self.packed.len() + self.rows * (4 + 4 * 8)
    }

    /// Exact top-`n` of the scores of `scorer` over the rows not in the
    /// sorted `exclude`, best first, ties to the lower row, NaN never:
    /// exactly [`crate::model::top_n`] over every row's score.
    /// `parallel` splits the 4-bit scan over the rayon pool (worth it for
    /// large matrices only).
    ///
    /// `None` when the shortcut cannot answer and the caller must score every
    /// row: `x` is not finite or of the wrong length, there are too few rows
    /// to save anything, or fewer than `n` candidates have a non-NaN score.
    pub fn top_n<G, E>(
        &self,
        scorer: &RowScorer<'_, G, E>,
        n: usize,
        exclude: &[u32],
        parallel: bool,
    ) -> Option<QuantizedTopN>
    where
        G: Fn(f32) -> f32,
        E: Fn(usize) -> f32,
    {
        let RowScorer { x, bias, g, exact } = scorer;
        let bias = *bias;
        if n == 0 {
            return Some(QuantizedTopN {
                items: Vec::new(),
                rescored: 0,
            });
        }
        if x.len() != self.dim || !x.iter().all(|v| v.is_finite()) {
            return None;
        }
        if let Bias::PerRow(c) = bias {
            if c.len() < self.rows || !c[..self.rows].iter().all(|v| v.is_finite()) {
                return None;
            }
        }
        let k = n.saturating_mul(CANDIDATES_PER_ITEM);
        if self.rows <= k.saturating_add(exclude.len()) {
            return None;
        }
        let query = Query::new(x, self.stride);
        let (approx, upper) = self.scan(&query, bias, parallel);
        // Preselect by the approximate score, then score those exactly.
        let mut rescored: Vec<(u32, f32)> = crate::model::top_n(&approx, k, exclude)
            .into_iter()
            .map(|(i, _)| (i, exact(i as usize)))
            .collect();
        let nth = nth_best(&rescored, n, g)?;
        let cut = threshold(nth, g)?;
        // Every other row that could reach the n-th score is rescored too.
        rescored.sort_unstable_by_key(|p| p.0);
        let mut extra = Vec::new();
        let mut excluded = exclude.iter().copied().peekable();
        let mut done = rescored.iter().map(|p| p.0).peekable();
        for (i, &u) in upper.iter().enumerate() {
            let i = i as u32;
            while excluded.next_if(|&e| e < i).is_some() {}
            while done.next_if(|&d| d < i).is_some() {}
            if excluded.peek() == Some(&i) || done.peek() == Some(&i) {
                continue;
            }
            if u >= cut as f64 {
                extra.push(i);
            }
        }
        rescored.extend(extra.into_iter().map(|i| (i, exact(i as usize))));
        let count = rescored.len();
        let mut ranked: Vec<(u32, f32)> = rescored
            .into_iter()
            .map(|(i, pre)| (i, g(pre)))
            .filter(|p| !p.1.is_nan())
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(n);
        Some(QuantizedTopN {
            items: ranked,
            rescored: count,
        })
    }

    /// The 4-bit scan: each row's approximate pre-activation (f32, for the
    /// preselection) and a proven upper bound on its exact f32 pre-activation.
    fn scan(&self, query: &Query, bias: Bias<'_>, parallel: bool) -> (Vec<f32>, Vec<f64>) {
        let mut approx = vec![0f32; self.rows];
        let mut upper = vec![0f64; self.rows];
        let gamma = gamma(self.dim + 2);
        let task = |first: usize, approx: &mut [f32], upper: &mut [f64]| {
            let rows = approx.len();
            let half = self.stride / 2;
            let q = &self.packed[first * half..(first + rows) * half];
            let mut dots = vec![0i32; rows];
            nibble_dots(q, self.stride, &query.q, &mut dots);
            for (r, ((a, u), &d)) in approx
                .iter_mut()
                .zip(upper.iter_mut())
                .zip(&dots)
                .enumerate()
            {
                let i = first + r;
                let c = bias.of(i) as f64;
                let centre = query.mean * self.sum[i] + self.scale[i] as f64 * query.t * d as f64;
                let quant = self.resid[i] * query.norm2 + self.qnorm[i] * query.err2;
                let round = gamma * (self.l1[i] * query.max_abs + c.abs());
                // The f64 arithmetic of the lines above, with a wide margin.
                let slack = 1e-9 * (centre.abs() + c.abs() + query.mean.abs() * self.l1[i])
                    + f64::MIN_POSITIVE;
                *a = (centre + c) as f32;
                *u = centre + c + (quant + round) * (1.0 + 1e-9) + slack;
            }
        };
        if parallel {
            approx
                .par_chunks_mut(ROWS_PER_TASK)
                .zip(upper.par_chunks_mut(ROWS_PER_TASK))
                .enumerate()
                .for_each(|(t, (a, u))| task(t * ROWS_PER_TASK, a, u));
        } else {
            task(0, &mut approx, &mut upper);
        }
        (approx, upper)
    }
}

/// A query vector, centred (`x = μ·1 + x'`) and quantized to 8 bits
/// (`x' ≈ t·x̂`, padded with zeros to the row stride), with the norms of
/// the bound.
struct Query {
    q: Vec<i8>,
    t: f64,
    mean: f64,
    /// ‖x'‖₂ and ‖x' − t·x̂‖₂ (both rounded up), and ‖x‖_∞ (uncentred).
    norm2: f64,
    err2: f64,
    max_abs: f64,
}

impl Query {
    fn new(x: &[f32], stride: usize) -> Self {
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len().max(1) as f64;
        let centred: Vec<f64> = x.iter().map(|&v| v as f64 - mean).collect();
        let max = centred.iter().fold(0f64, |m, v| m.max(v.abs()));
        let t = max / XMAX;
        let mut q = vec![0i8; stride];
        let (mut n2, mut e2) = (0f64, 0f64);
        for (qk, &v) in q.iter_mut().zip(&centred) {
            let k = if t > 0.0 {
                (v / t).round().clamp(-XMAX, XMAX)
            } else {
                0.0
            };
            *qk = k as i8;
            n2 += v * v;
            e2 += (v - t * k).powi(2);
        }
        Query {
            q,
            t,
            mean,
            norm2: round_up(n2.sqrt()),
            err2: round_up(e2.sqrt()),
            max_abs: x.iter().fold(0f64, |m, &v| m.max((v as f64).abs())),
        }
    }
}

/// `γ_k = k·u / (1 − k·u)`: the relative error bound of a k-term f32 sum of
/// products, whatever the order.
fn gamma(k: usize) -> f64 {
    let ku = k as f64 * UNIT;
    ku / (1.0 - ku)
}

/// A norm computed in f64 from f32 data, nudged up past its own rounding.
fn round_up(x: f64) -> f64 {
    x * (1.0 + 1e-12)
}

/// The n-th best exact final score among `scored` (row, pre-activation),
/// ranking as [`crate::model::top_n`] does; `None` when fewer than `n`
/// are not NaN.
fn nth_best(scored: &[(u32, f32)], n: usize, g: impl Fn(f32) -> f32) -> Option<f32> {
    let mut finals: Vec<f32> = scored
        .iter()
        .map(|p| g(p.1))
        .filter(|s| !s.is_nan())
        .collect();
    if finals.len() < n {
        return None;
    }
    finals.sort_unstable_by(|a, b| b.total_cmp(a));
    Some(finals[n - 1])
}

/// The smallest f32 `x` with `g(x) ≥ target` (in `total_cmp` order), by
/// bisection over the ordered bit patterns: every pre-activation below it
/// scores strictly worse than `target`. `None` when even `−f32::MAX` reaches
/// `target` (then nothing can be ruled out).
fn threshold(target: f32, g: impl Fn(f32) -> f32) -> Option<f32> {
    let reaches = |k: i64| g(from_key(k as i32)).total_cmp(&target).is_ge();
    // i64: the key range spans nearly 2³² values.
    let (mut lo, mut hi) = (key(-f32::MAX) as i64, key(f32::INFINITY) as i64);
    if reaches(lo) {
        return None;
    }
    if !reaches(hi) {
        // g(+∞) is below the n-th score only if g is not monotone or the
        // target came from a NaN; both make the shortcut unsafe.
        return None;
    }
    // Invariant: reaches(hi) and !reaches(lo).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(from_key(hi as i32))
}

/// Maps f32 (not NaN) to i32 preserving `total_cmp` order.
fn key(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

fn from_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
}

/// `out[r] = Σ_k q_rk·x[k]` over the 4-bit rows of `packed` (each
/// `stride / 2` bytes), exactly in i32.
fn nibble_dots(packed: &[u8], stride: usize, x: &[i8], out: &mut [i32]) {
    // Real asserts, not debug ones: the AVX2 kernel's unchecked loads rely
    // on them, and they cost two comparisons a query.
    assert!(stride % BLOCK == 0 && x.len() == stride);
    assert_eq!(packed.len(), out.len() * stride / 2);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present, and the asserts above guarantee whole
            // 32-byte blocks of rows and 64-byte blocks of the query.
            unsafe { nibble_dots_avx2(packed, stride, x, out) };
            return;
        }
    }
    nibble_dots_portable(packed, stride, x, out);
}

/// Σ_k x[k], for removing the +8 offset of the stored codes.
fn offset_term(x: &[i8]) -> i32 {
    8 * x.iter().map(|&v| v as i32).sum::<i32>()
}

fn nibble_dots_portable(packed: &[u8], stride: usize, x: &[i8], out: &mut [i32]) {
    let offset = offset_term(x);
    for (row, o) in packed.chunks_exact(stride / 2).zip(out.iter_mut()) {
        let mut acc = 0i32;
        for (bytes, xs) in row.chunks_exact(BLOCK / 2).zip(x.chunks_exact(BLOCK)) {
            for (j, &b) in bytes.iter().enumerate() {
                acc += (b & 0x0F) as i32 * xs[j] as i32 + (b >> 4) as i32 * xs[j + 32] as i32;
            }
        }
        *o = acc - offset;
    }
}

/// AVX2: nibbles (1..=15, unsigned) times query codes (signed) by
/// `vpmaddubsw`, two of which sum to at most 2·2·15·127 < `i16::MAX`,
/// widened by `vpmaddwd`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nibble_dots_avx2(packed: &[u8], stride: usize, x: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let offset = offset_term(x);
    let low = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let half = stride / 2;
    for (row, o) in packed.chunks_exact(half).zip(out.iter_mut()) {
        let mut acc = _mm256_setzero_si256();
        for b in (0..half).step_by(BLOCK / 2) {
            let v = _mm256_loadu_si256(row.as_ptr().add(b).cast());
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            let x0 = _mm256_loadu_si256(x.as_ptr().add(2 * b).cast());
            let x1 = _mm256_loadu_si256(x.as_ptr().add(2 * b + 32).cast());
            let pairs =
                _mm256_add_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_maddubs_epi16(hi, x1));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        }
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        *o = _mm_cvtsi128_si32(s) - offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The packed layout and both kernels against a plain i32 dot product,
    /// with the extreme codes (±7 weights, ±127 query) that could overflow.
    #[test]
    fn nibble_kernels_match_a_plain_dot_product() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let (rows, dim) = (6, 150);
        let mut data: Vec<f32> = (0..rows * dim)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        data[..dim].fill(2.0);
        data[dim..2 * dim].fill(-2.0);
        let m = QuantizedRows::new(&data, rows, dim).unwrap();
        assert_eq!(m.stride, 192);
        let mut x: Vec<i8> = (0..m.stride)
            .map(|_| rng.random_range(-127..=127))
            .collect();
        x[..64].fill(127);
        x[64..128].fill(-127);
        x[dim..].fill(0);
        let codes = |r: usize| -> Vec<i32> {
            (0..dim)
                .map(|j| {
                    let s = m.scale[r];
                    (data[r * dim + j] / s).round().clamp(-WMAX, WMAX) as i32
                })
                .collect()
        };
        let reference: Vec<i32> = (0..rows)
            .map(|r| codes(r).iter().zip(&x).map(|(&a, &b)| a * b as i32).sum())
            .collect();
        assert_eq!(
            reference[0],
            7 * x[..dim].iter().map(|&v| v as i32).sum::<i32>()
        );
        let (mut a, mut b) = (vec![0; rows], vec![0; rows]);
        nibble_dots(&m.packed, m.stride, &x, &mut a);
        nibble_dots_portable(&m.packed, m.stride, &x, &mut b);
        assert_eq!(a, reference);
        assert_eq!(b, reference);
    }

    #[test]
    fn keys_keep_the_total_order() {
        let xs = [
            -f32::MAX,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-40,
            1.0,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{w:?}");
            assert_eq!(from_key(key(w[0])).to_bits(), w[0].to_bits());
        }
    }

    #[test]
    fn threshold_is_the_first_input_reaching_the_target() {
        // A saturating g: every x ≥ 2 maps to 2, so the cut is exactly 2.
        let g = |x: f32| x.min(2.0);
        assert_eq!(threshold(2.0, g), Some(2.0));
        let cut = threshold(0.5, |x| x + 0.25).unwrap();
        assert!(cut + 0.25 >= 0.5 && from_key(key(cut) - 1) + 0.25 < 0.5);
        assert_eq!(threshold(0.0, |_| 1.0), None);
    }
}
