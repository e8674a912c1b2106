//! [`Real`]: the float type the numeric core is generic over, so that the
//! engine trains in `f32` and the gradient checks run the same code in `f64`.

use rayon::prelude::*;
use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use faer::{Accum, MatMut, MatRef, Par};

/// A float the engine computes in (`f32` or `f64`).
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Conversion from `f64` (rounds for `f32`).
    fn of(x: f64) -> Self;
    /// Conversion to `f64`.
    fn f64(self) -> f64;
    /// eˣ.
    fn exp(self) -> Self;
    /// eˣ for `x ≤ 0` (the negative side of `elu` and `selu`), branch-free
    /// so that activation loops vectorise; positive inputs give 1.
    fn exp_nonpositive(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// True unless NaN or infinite.
    fn is_finite(self) -> bool;

    /// `c = A·B` (or `c += A·B` when `accumulate`), row-major, with
    /// `A` `m×k` (stored `k×m` when `a_t`) and `B` `k×n` (stored `n×k` when
    /// `b_t`). Runs on faer's GEMM over the current rayon pool.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_t: bool,
        b: &[Self],
        b_t: bool,
        c: &mut [Self],
        accumulate: bool,
    );
}

macro_rules! impl_real {
    ($t:ty, $tanh:path, $exp_nonpositive:path, $split_gemm:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn of(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn exp_nonpositive(self) -> Self {
                $exp_nonpositive(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_t: bool,
                b: &[Self],
                b_t: bool,
                c: &mut [Self],
                accumulate: bool,
            ) {
                let a = if a_t {
                    MatRef::from_row_major_slice(a, k, m).transpose()
                } else {
                    MatRef::from_row_major_slice(a, m, k)
                };
                let b = if b_t {
                    MatRef::from_row_major_slice(b, n, k).transpose()
                } else {
                    MatRef::from_row_major_slice(b, k, n)
                };
                let c = MatMut::from_row_major_slice_mut(c, m, n);
                let accum = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                // Small products are faster on one thread than split.
                let depth = if m * n * k < 1 << 18 {
                    0
                } else {
                    rayon::current_num_threads().next_power_of_two().ilog2()
                };
                $split_gemm(c, accum, a, b, depth);
            }
        }

        /// `C (+)= A·B` as independent single-threaded faer products over
        /// blocks of C, on the rayon threads: halved `depth` times along its
        /// longer side (the blocks share no output and each reads a part of
        /// the other operand), never along k (that would need a reduction).
        ///
        /// faer's own parallel GEMM synchronises its threads at barriers
        /// between packed blocks and spins there: on two cores shared with
        /// other work (and with the rayon tasks of the activations), a third
        /// of a re-feeding epoch's samples were those spins and the futex
        /// calls behind them. These blocks never wait on one another; with
        /// one thread the call is the single-threaded product.
        fn $split_gemm(
            c: MatMut<'_, $t>,
            accum: Accum,
            a: MatRef<'_, $t>,
            b: MatRef<'_, $t>,
            depth: u32,
        ) {
            let (m, n) = (c.nrows(), c.ncols());
            if depth == 0 || m.max(n) < 2 * GEMM_ALIGN {
                faer::linalg::matmul::matmul(c, accum, a, b, 1.0, Par::Seq);
                return;
            }
            if n >= m {
                let mid = (n / 2).next_multiple_of(GEMM_ALIGN).min(n);
                let (c0, c1) = c.split_at_col_mut(mid);
                let (b0, b1) = b.split_at_col(mid);
                rayon::join(
                    || $split_gemm(c0, accum, a, b0, depth - 1),
                    || $split_gemm(c1, accum, a, b1, depth - 1),
                );
            } else {
                let mid = (m / 2).next_multiple_of(GEMM_ALIGN).min(m);
                let (c0, c1) = c.split_at_row_mut(mid);
                let (a0, a1) = a.split_at_row(mid);
                rayon::join(
                    || $split_gemm(c0, accum, a0, b, depth - 1),
                    || $split_gemm(c1, accum, a1, b, depth - 1),
                );
            }
        }
    };
}

/// Blocks of a split GEMM are cut at multiples of this many rows or
/// columns: whole micro-kernel tiles.
const GEMM_ALIGN: usize = 64;

impl_real!(f32, fast_tanh, fast_exp_nonpositive, split_gemm_f32);
impl_real!(f64, f64::tanh, exp_nonpositive_f64, split_gemm_f64);

/// eˣ for `x ≤ 0` in `f32`, within 1 ulp of libm's `expf` on all of
/// `[-87, 0]` (every `f32` there checked once; a test checks every 97th),
/// branch-free: the
/// `selu` output layer of `--preset deep` takes one `exp` per item and row
/// of every dense batch, and libm's scalar call kept that loop from
/// vectorising. Inputs below -87 give `e⁻⁸⁷` (≈ 1.6e-38, where libm goes
/// on into subnormals: an absolute difference under 2e-38); positive
/// inputs give 1.
///
/// `x = k·ln 2 + r` with `k` the nearest integer to `x·log₂e` (by the
/// 1.5·2²³ rounding trick, no rounding instruction needed) and
/// `|r| ≤ ln 2 / 2`; `eʳ` by its Taylor polynomial of degree 7 (remainder
/// below 6e-9 relative); `2ᵏ` built from its exponent bits.
#[inline]
pub fn fast_exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts; the first has 15 significant bits, so `k · LN2_HI`
    // is exact for every |k| ≤ 126.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let t = x * LOG2E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // `t`'s low mantissa bits hold k (two's complement, -126..=0).
    let k_bits = t.to_bits() as i32 - ROUND.to_bits() as i32;
    p * f32::from_bits(((k_bits + 127) << 23) as u32)
}

/// [`Real::exp_nonpositive`] for `f64` (the gradient checks' type): libm's
/// `exp` of the clamped input.
#[inline]
fn exp_nonpositive_f64(x: f64) -> f64 {
    x.min(0.0).exp()
}

/// tanh for `f32` by the rational approximation of Eigen's
/// `generic_fast_tanh_float` (13/6 odd/even polynomials, exact to a few ulp):
/// branch-free, so the activation loops vectorise, and about 5× faster than
/// libm's `tanhf`, which dominated the tutorial recipe's epoch.
#[inline]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_5e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let p = A[6];
    let p = p * x2 + A[5];
    let p = p * x2 + A[4];
    let p = p * x2 + A[3];
    let p = p * x2 + A[2];
    let p = p * x2 + A[1];
    let p = p * x2 + A[0];
    let p = p * x;
    let q = B[3];
    let q = q * x2 + B[2];
    let q = q * x2 + B[1];
    let q = q * x2 + B[0];
    p / q
}

/// A zeroed buffer of `len` values for a large parameter or optimiser table.
///
/// On Linux a large buffer is advised `MADV_HUGEPAGE` before it is touched:
/// the item tables (133k × 700 floats each for Amazon Beauty) are read and
/// written at random rows, and with 4 KiB pages nearly every row access is a
/// TLB miss (a two-level page walk under virtualisation), while the first
/// touch of 1.6 GB costs ~400k page faults. 2 MiB pages cut both by 512×.
/// The advice changes no values; where it is refused, nothing changes.
///
/// A large table is also faulted in here, on all threads, in address order:
/// left to the first training steps, the kernel would zero its pages one
/// random row at a time on the training thread (2–3 s of system time for
/// Beauty's 750 MB of momentum in this VM, all of it inside epoch 1). The
/// optimiser state then exists when the optimiser does, as in Keras.
pub fn zeroed_table<T: Real>(len: usize) -> Vec<T> {
    let mut v = vec![T::ZERO; len];
    crate::mem::advise_huge_pages(&v);
    if std::mem::size_of_val(v.as_slice()) >= crate::mem::HUGE_BYTES {
        // One write per 4 KiB page: enough to fault it in (a huge page
        // faults whole on its first write).
        let per_page = (4096 / std::mem::size_of::<T>()).max(1);
        v.par_chunks_mut(per_page << 6).for_each(|chunk| {
            for page in chunk.chunks_mut(per_page) {
                page[0] = T::ZERO;
            }
        });
    }
    v
}

/// Whether the CPU runs the AVX2 builds of the kernels (checked once by std,
/// then a cached load).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines a numeric kernel twice, for the build target (SSE2 on x86-64)
/// and for AVX2, and picks at run time. The release build targets every
/// x86-64, whose 4-lane vectors halve the throughput of the row loops the
/// engine lives in; the AVX2 copy compiles the very same body, and as Rust
/// never contracts `a·b + c` into an FMA, both copies round identically.
macro_rules! simd_kernel {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$t:ident: Real>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        $vis fn $name<$t: Real>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<$t: Real>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$t: Real>($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::model::autoencoder::real::has_avx2() {
                    // SAFETY: the CPU has AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use simd_kernel;

/// Asks the CPU to start loading `bytes` bytes at address `addr` into cache
/// (a hint: it never faults, whatever the address, and changes no memory).
#[inline]
pub fn prefetch(addr: usize, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for line in (addr..addr + bytes).step_by(64) {
            // SAFETY: a prefetch is a hint that neither reads into the program
            // nor faults, so any address is sound.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (addr, bytes);
    }
}

simd_kernel! {
    /// `Σ a_i·b_i` in 16 fixed lanes (two AVX2 registers, so two add chains
    /// in flight); exact-size chunks leave no bounds check to block the
    /// vectoriser, and the fixed lane order keeps the sum the same on every path.
    pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [T::ZERO; 16];
        let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..16 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut tail = T::ZERO;
        for (&x, &y) in ra.iter().zip(rb) {
            tail += x * y;
        }
        for l in 0..8 {
            acc[l] += acc[l + 8];
        }
        let s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        s + tail
    }
}

simd_kernel! {
    /// `Σ x_i²` in `f64`, in 8 fixed lanes (vectorised, order independent of the caller).
    pub fn sum_sq<T: Real>(x: &[T]) -> f64 {
        let mut acc = [0f64; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..8 {
                acc[l] += c[l].f64() * c[l].f64();
            }
        }
        let tail: f64 = rest.iter().map(|v| v.f64() * v.f64()).sum();
        acc.iter().sum::<f64>() + tail
    }
}

simd_kernel! {
    /// `y += α·x`.
    pub fn axpy<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

simd_kernel! {
    /// `y = α·x`.
    pub fn scale_into<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = alpha * xi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in (−1, 1) without an RNG dependency.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|k| ((k.wrapping_mul(2_654_435_761) ^ seed) % 20_001) as f32 / 10_000.0 - 1.0)
            .collect()
    }

    #[test]
    fn dot_rounds_in_its_documented_lane_order_on_every_path() {
        for n in [0, 1, 7, 15, 16, 17, 33, 700] {
            let (a, b) = (values(n, 1), values(n, 7));
            // The order the kernel promises, written out in scalar code.
            let mut acc = [0f32; 16];
            let full = n / 16 * 16;
            for i in 0..full {
                acc[i % 16] += a[i] * b[i];
            }
            let tail: f32 = (full..n).fold(0.0, |t, i| t + a[i] * b[i]);
            for l in 0..8 {
                acc[l] += acc[l + 8];
            }
            let s =
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            assert_eq!(dot(&a, &b).to_bits(), (s + tail).to_bits(), "n = {n}");
            let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((dot(&a, &b) as f64 - exact).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn axpy_scale_and_sum_of_squares_match_scalar_loops() {
        let (x, y0) = (values(700, 3), values(700, 5));
        let mut y = y0.clone();
        axpy(0.37, &x, &mut y);
        let mut z = y0.clone();
        scale_into(-1.5, &x, &mut z);
        for i in 0..700 {
            assert_eq!(y[i], y0[i] + 0.37 * x[i]);
            assert_eq!(z[i], -1.5 * x[i]);
        }
        let exact: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((sum_sq(&x) - exact).abs() <= 1e-12 * exact);
        assert_eq!(sum_sq::<f32>(&[]), 0.0);
        assert_eq!(sum_sq(&[3.0f64, 4.0]), 25.0);
    }

    #[test]
    fn a_large_table_starts_zeroed_and_writable() {
        let len = (crate::mem::HUGE_BYTES / 4) * 2 + 3;
        let mut t = zeroed_table::<f32>(len);
        assert_eq!(t.len(), len);
        assert!(t.iter().all(|&v| v == 0.0));
        t[len - 1] = 2.0;
        prefetch(t.as_ptr() as usize, 4096);
        assert_eq!(t.iter().sum::<f32>(), 2.0);
    }

    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst = 0f32;
        for k in -20_000..=20_000 {
            let x = k as f32 * 1e-3;
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        // A few ulp of 1.0 (1.19e-7 each).
        assert!(worst < 5e-7, "max error {worst}");
        assert_eq!(fast_tanh(50.0), fast_tanh(8.0));
    }

    #[test]
    fn fast_exp_is_within_one_ulp_of_libm_on_the_negative_side() {
        // Every f32 from -0 down to -87: bit patterns count up from -0.
        let (mut worst, mut at) = (0u32, 0f32);
        let mut bits = (-0.0f32).to_bits();
        loop {
            let x = f32::from_bits(bits);
            if x < -87.0 {
                break;
            }
            let ulps = fast_exp_nonpositive(x)
                .to_bits()
                .abs_diff(x.exp().to_bits());
            if ulps > worst {
                (worst, at) = (ulps, x);
            }
            // Every 97th value (11.5M inputs, every binade densely); the
            // bound held over all 1.1·10⁹ when checked once exhaustively.
            bits += 97;
        }
        assert!(worst <= 1, "{worst} ulp at {at}");
        assert_eq!(fast_exp_nonpositive(0.0), 1.0);
        assert_eq!(fast_exp_nonpositive(3.0), 1.0);
        assert!((fast_exp_nonpositive(-200.0) - 0.0).abs() < 2e-38);
    }

    /// `C (+)= A·B` by the definition, in f64, for row-major operands
    /// stored as [`Real::gemm`] takes them.
    #[allow(clippy::too_many_arguments)]
    fn reference_gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        a_t: bool,
        b: &[f64],
        b_t: bool,
        c: &mut [f64],
        accumulate: bool,
    ) {
        for i in 0..m {
            for j in 0..n {
                let sum: f64 = (0..k)
                    .map(|l| {
                        let x = if a_t { a[l * m + i] } else { a[i * k + l] };
                        let y = if b_t { b[j * k + l] } else { b[l * n + j] };
                        x * y
                    })
                    .sum();
                c[i * n + j] = if accumulate { c[i * n + j] + sum } else { sum };
            }
        }
    }

    #[test]
    fn split_gemm_equals_the_definition_in_every_layout_and_thread_count() {
        // Large enough to be split (m·n·k ≥ 2^18, a side ≥ 128), in shapes
        // whose longer side is n, then m, with sides that are not multiples
        // of the split's alignment.
        for &(m, n, k) in &[(130, 515, 9), (700, 131, 7), (200, 200, 33)] {
            for threads in [1, 2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for (a_t, b_t, accumulate) in [
                    (false, false, false),
                    (true, false, true),
                    (false, true, false),
                    (true, true, true),
                ] {
                    let a: Vec<f64> = values(m * k, 3).iter().map(|&v| v as f64).collect();
                    let b: Vec<f64> = values(k * n, 5).iter().map(|&v| v as f64).collect();
                    let start: Vec<f64> = values(m * n, 9).iter().map(|&v| v as f64).collect();
                    let mut want = start.clone();
                    reference_gemm(m, n, k, &a, a_t, &b, b_t, &mut want, accumulate);
                    let mut got = start.clone();
                    pool.install(|| f64::gemm(m, n, k, &a, a_t, &b, b_t, &mut got, accumulate));
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0, f64::max);
                    assert!(
                        worst < 1e-12,
                        "{m}×{n}×{k} {threads} threads {a_t} {b_t}: {worst}"
                    );
                    let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
                    let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                    let mut got32: Vec<f32> = start.iter().map(|&v| v as f32).collect();
                    pool.install(|| {
                        f32::gemm(m, n, k, &a32, a_t, &b32, b_t, &mut got32, accumulate)
                    });
                    let worst = got32
                        .iter()
                        .zip(&want)
                        .map(|(&x, y)| (x as f64 - y).abs())
                        .fold(0.0, f64::max);
                    assert!(worst < 1e-4, "f32 {m}×{n}×{k} {threads} threads: {worst}");
                }
            }
        }
    }
}
