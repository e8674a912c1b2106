//! Large rating files mapped into memory, read without a copy.
//!
//! Reading a 540 MB file through `read(2)` copies every byte from the page
//! cache into the reader's buffer: a tenth of the CPU time of reading 20M
//! ratings. A read-only mapping lets the parser work on the page cache's
//! own pages. While a block is parsed, the next block's pages are mapped in
//! one call (`MADV_POPULATE_READ`, so the parser takes no page faults) and
//! the previous block's are let go (`MADV_DONTNEED`: they stay in the page
//! cache, but leave this process's resident memory, which so stays at two
//! blocks of the file rather than all of it).
//!
//! The one hazard of any file mapping: if another process truncates the
//! file while it is read, touching the lost pages raises `SIGBUS`. Reading a
//! file that is being rewritten gives garbage with `read(2)` too; this only
//! changes how it fails.

use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;

/// A whole file mapped read-only, unmapped on drop.
pub(super) struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing `&[u8]`
// views of it between threads is what `&[u8]` allows for any memory.
unsafe impl Send for Mapped {}
// SAFETY: as above; the advice calls take `&self` and change no contents.
unsafe impl Sync for Mapped {}

const PAGE: usize = 4096;

impl Mapped {
    /// Maps the first `len` bytes of `file` (its length now, not zero);
    /// `None` when the system refuses, and the caller reads it instead.
    pub(super) fn new(file: &File, len: usize) -> Option<Mapped> {
        if len == 0 {
            return None;
        }
        // SAFETY: a fresh private read-only mapping of an open descriptor;
        // the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped { ptr, len })
    }

    /// The file's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is mapped readable for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// Maps the pages of `range` in now, in one call, ahead of their use
    /// (falls back to an asynchronous read-ahead hint on kernels before 5.14).
    pub(super) fn fetch(&self, range: Range<usize>) {
        let start = range.start / PAGE * PAGE;
        let end = range.end.min(self.len);
        if end > start && !self.advise(start, end - start, libc::MADV_POPULATE_READ) {
            self.advise(start, end - start, libc::MADV_WILLNEED);
        }
    }

    /// Drops the whole pages inside `range` from this process's memory;
    /// a later touch maps them again from the page cache (same contents).
    pub(super) fn release(&self, range: Range<usize>) {
        let start = range.start.next_multiple_of(PAGE);
        let end = range.end.min(self.len) / PAGE * PAGE;
        if end > start {
            self.advise(start, end - start, libc::MADV_DONTNEED);
        }
    }

    /// One `madvise` call on bytes `start..start + len` (`start` page-aligned);
    /// true when the kernel took it. Every advice used here is a hint that
    /// leaves the bytes a reader sees unchanged.
    fn advise(&self, start: usize, len: usize, advice: libc::c_int) -> bool {
        // SAFETY: the range lies inside the mapping (callers clip it), and
        // on a private read-only file mapping none of these advices changes
        // what a read returns.
        unsafe { libc::madvise(self.ptr.cast::<u8>().add(start).cast(), len, advice) == 0 }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no view of it
        // outlives `self` (they borrow it).
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
