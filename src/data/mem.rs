//! Large column allocations that the kernel backs with huge pages.
//!
//! A 20M-rating table is ~400 MB of columns plus ~160 MB of CSR. With 4 KiB
//! pages every first touch of those buffers is a page fault (~140,000 of
//! them, a third of the reading time was kernel time); a 2 MiB page faults
//! 512 times less often. Linux hands out transparent huge pages only to
//! regions that ask for them (`madvise(MADV_HUGEPAGE)`) when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`, the usual
//! default. Elsewhere this is a plain `Vec::with_capacity`.

/// Below this a buffer is not worth the advice (and holds no whole huge page).
const MIN_BYTES: usize = 8 << 20;

/// An empty vector with room for `n` elements whose memory the kernel may
/// back with huge pages. The advice changes neither contents nor semantics.
pub(crate) fn vec_with_capacity<T>(n: usize) -> Vec<T> {
    let v = Vec::with_capacity(n);
    advise_huge(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge<T>(v: &Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < MIN_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let last = (start + bytes) / HUGE * HUGE;
    if last > first {
        // SAFETY: `[first, last)` lies inside the vector's own allocation
        // (rounded inwards to whole huge pages), and MADV_HUGEPAGE is
        // advice: it never changes the memory's contents or validity. A
        // failure (e.g. a kernel without THP) leaves ordinary pages.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge<T>(_v: &Vec<T>) {}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_vectors_behave_like_vectors() {
        let mut v: Vec<u64> = super::vec_with_capacity(3 << 20);
        assert!(v.is_empty() && v.capacity() >= 3 << 20);
        v.extend(0..3 << 20);
        assert_eq!(v[(3 << 20) - 1], (3 << 20) - 1);
        let small: Vec<u8> = super::vec_with_capacity(10);
        assert!(small.capacity() >= 10);
    }
}
