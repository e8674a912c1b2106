//! Large zeroed buffers on transparent huge pages.
//!
//! The reader's 20M-row columns, the CSR arrays and the engine's item tables
//! are hundreds of MB written once from start to end (or at random rows).
//! On 4 KiB pages the first touch of 560 MB is ~140k page faults, a third
//! of the reader's CPU time in this VM; on 2 MiB pages it is ~280. The
//! advice changes no values; where the kernel refuses it (THP disabled,
//! other systems), nothing changes.

/// Buffers of at least this many bytes ask for huge pages.
pub(crate) const HUGE_BYTES: usize = 8 << 20;

/// A value type whose zero is all-zero bits, so that a zeroed vector comes
/// from fresh, untouched pages (`calloc`), which can still be advised.
pub(crate) trait Zero: Copy {
    /// The all-zero-bits value.
    const ZERO: Self;
}

macro_rules! zero {
    ($($t:ty = $z:expr),*) => { $(impl Zero for $t { const ZERO: Self = $z; })* };
}
zero!(u32 = 0, u64 = 0, i64 = 0, usize = 0, f32 = 0.0, f64 = 0.0);

/// A vector of `len` zeros, on huge pages when it is large.
pub(crate) fn zeroed_vec<T: Zero>(len: usize) -> Vec<T> {
    let v = vec![T::ZERO; len];
    advise_huge_pages(&v);
    v
}

/// Asks for huge pages over the 2 MiB-aligned part of a large buffer. Only
/// pages not yet touched are affected, so call it before the first write.
#[cfg(target_os = "linux")]
pub(crate) fn advise_huge_pages<T>(v: &[T]) {
    const HUGE_PAGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(v);
    if bytes < HUGE_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE_PAGE);
    let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > first {
        // SAFETY: the range lies inside `v`'s allocation and MADV_HUGEPAGE is
        // advisory: it changes how pages are backed, never their contents.
        // A refusal (THP disabled) is harmless, so the result is ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

/// Huge pages are a Linux advice; elsewhere buffers stay as they are.
#[cfg(not(target_os = "linux"))]
pub(crate) fn advise_huge_pages<T>(_v: &[T]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_vectors_are_zero_at_every_size() {
        for len in [0, 1, 1000, (HUGE_BYTES / 4) + 12345] {
            let v: Vec<f32> = zeroed_vec(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x.to_bits() == 0));
            let t: Vec<i64> = zeroed_vec(len);
            assert!(t.iter().all(|&x| x == 0));
        }
    }
}
