//! Collective communication between the processes (ranks) of one job, so
//! that training and scoring can run data-parallel without knowing how the
//! ranks talk.
//!
//! [`Collective`] is the seam: rank, size, barrier, all-reduce (sum) of
//! `f32`/`f64` slices, all-gather and all-to-all of byte buffers of any
//! length per rank, and broadcast. Three implementations:
//! - [`Single`]: one process, the default; every operation is a copy or
//!   nothing, so code written against the trait costs nothing when alone.
//! - [`ThreadGroup`]: N ranks as threads of one process, meeting at a shared
//!   rendezvous; the ordinary `cargo test` runs the distributed algorithms
//!   with it, no MPI needed. A rank whose handle is dropped (its thread
//!   returned early or panicked) makes every other rank's next operation an
//!   error instead of a hang.
//! - `MpiCollective` (module `mpi`, with `--features mpi`): the same
//!   operations over MPI through the `mpi` crate, for `mpirun`/`srun` jobs.
//!
//! Every implementation counts the bytes this rank hands to its operations
//! ([`Collective::bytes_sent`]): the payload, not the wire traffic of the
//! algorithm the library picks. docs/distributed.md gives the per-step
//! formula the training loop's exchanges follow, and the tests check it.
//!
//! Every rank must call the same operations in the same order; the data
//! passed may differ in length where the operation allows it (gathers,
//! all-to-all), not in all-reduce, whose slices must have the same length
//! on every rank (checked by [`ThreadGroup`], undefined behaviour in MPI,
//! so callers derive those lengths from data every rank agrees on).

#[cfg(feature = "mpi")]
pub mod mpi;
mod threads;

use std::sync::Arc;

pub use threads::ThreadGroup;

use crate::error::Result;

/// The operations data-parallel training and scoring need from the group
/// of processes they run in. Object safe: held as `Arc<dyn Collective>`.
pub trait Collective: Send + Sync + std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// Number of ranks in the group.
    fn size(&self) -> usize;

    /// Waits until every rank has reached the barrier.
    fn barrier(&self) -> Result<()>;

    /// Replaces `buf` on every rank by the element-wise sum over ranks.
    /// Same length on every rank. The summation order is the same on every
    /// rank, so every rank gets the same bits.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;

    /// [`Collective::all_reduce_sum_f32`] for `f64`.
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;

    /// Every rank's `mine`, in rank order (lengths may differ).
    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// Sends `to[r]` to rank `r` (one buffer per rank, any lengths) and
    /// returns what each rank sent to this one, in rank order.
    fn all_to_all_bytes(&self, to: &[Vec<u8>]) -> Result<Vec<Vec<u8>>>;

    /// Replaces `buf` on every rank by `root`'s.
    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()>;

    /// Bytes this rank has handed to its operations so far (all-reduce:
    /// the slice; gather: its part; all-to-all: its parts for other ranks;
    /// broadcast: the buffer times the other ranks, on the root).
    fn bytes_sent(&self) -> u64;

    /// Every rank's `mine` on `root`, in rank order; the other ranks get
    /// an empty list. (An all-to-all in which only `root` receives.)
    fn gather_bytes(&self, root: usize, mine: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        check_root(root, self.size())?;
        let mut to = vec![Vec::new(); self.size()];
        to[root] = mine;
        let got = self.all_to_all_bytes(&to)?;
        Ok(if self.rank() == root { got } else { Vec::new() })
    }

    /// Every rank's `u32` values, in rank order.
    fn all_gather_u32(&self, mine: &[u32]) -> Result<Vec<Vec<u32>>> {
        let bytes: Vec<u8> = mine.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(self
            .all_gather_bytes(&bytes)?
            .iter()
            .map(|b| u32s_of(b))
            .collect())
    }

    /// Every rank's `f32` values, in rank order.
    fn all_gather_f32(&self, mine: &[f32]) -> Result<Vec<Vec<f32>>> {
        let bytes: Vec<u8> = mine.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(self
            .all_gather_bytes(&bytes)?
            .iter()
            .map(|b| {
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
            .collect())
    }
}

/// `u32` values from little-endian bytes (a trailing partial value is dropped).
pub fn u32s_of(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The group a computation runs in, shared by its parts; one process when
/// nothing else is said.
pub type Comm = Arc<dyn Collective>;

/// The single-process group (the default).
pub fn single() -> Comm {
    Arc::new(Single::default())
}

/// One process alone: every collective operation returns its own input.
#[derive(Debug, Default)]
pub struct Single {
    _private: (),
}

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn barrier(&self) -> Result<()> {
        Ok(())
    }

    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) -> Result<()> {
        Ok(())
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![mine.to_vec()])
    }

    fn all_to_all_bytes(&self, to: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        check_parts(to.len(), 1)?;
        Ok(to.to_vec())
    }

    fn broadcast_bytes(&self, root: usize, _buf: &mut Vec<u8>) -> Result<()> {
        check_root(root, 1)
    }

    fn bytes_sent(&self) -> u64 {
        0
    }
}

fn check_parts(parts: usize, size: usize) -> Result<()> {
    if parts != size {
        return Err(crate::Error::other(format!(
            "all-to-all got {parts} buffers for a group of {size} ranks"
        )));
    }
    Ok(())
}

fn check_root(root: usize, size: usize) -> Result<()> {
    if root >= size {
        return Err(crate::Error::other(format!(
            "broadcast from rank {root} in a group of {size} ranks"
        )));
    }
    Ok(())
}

/// The contiguous share of `0..n` that `rank` of `size` takes when work
/// is split in order (scoring: concatenated in rank order, the parts are
/// the single-process output).
pub fn share(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let at = |r: usize| ((n as u128 * r as u128) / size.max(1) as u128) as usize;
    at(rank)..at(rank + 1)
}

/// Rows `0..n` owned by `rank` of `size` when rows are dealt round-robin
/// (`row % size == rank`): every batch of a shuffled order then splits
/// evenly in expectation, and a rank can hold only its own rows.
pub fn owns(row: usize, rank: usize, size: usize) -> bool {
    row % size == rank
}

/// Whether `flag` is set on any rank: one all-reduce of 8 bytes, a no-op
/// alone. How a group agrees to stop when one rank was asked to.
pub fn any_rank(comm: &dyn Collective, flag: bool) -> Result<bool> {
    if comm.size() == 1 {
        return Ok(flag);
    }
    let mut v = [f64::from(u8::from(flag))];
    comm.all_reduce_sum_f64(&mut v)?;
    Ok(v[0] > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_returns_its_own_input() {
        let c = single();
        let mut v = vec![1.5f32, 2.0];
        c.all_reduce_sum_f32(&mut v).unwrap();
        assert_eq!(v, [1.5, 2.0]);
        assert_eq!(c.all_gather_u32(&[7, 9]).unwrap(), vec![vec![7, 9]]);
        assert_eq!(
            c.all_to_all_bytes(&[vec![1, 2]]).unwrap(),
            vec![vec![1u8, 2]]
        );
        assert!(c.all_to_all_bytes(&[vec![], vec![]]).is_err());
        assert!(c.broadcast_bytes(1, &mut vec![]).is_err());
        assert_eq!((c.rank(), c.size(), c.bytes_sent()), (0, 1, 0));
    }

    #[test]
    fn shares_cover_the_range_in_order() {
        for (n, size) in [(10, 3), (2, 4), (0, 2), (7, 1)] {
            let parts: Vec<_> = (0..size).map(|r| share(n, r, size)).collect();
            assert_eq!(parts[0].start, 0);
            assert_eq!(parts[size - 1].end, n);
            assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
            assert!(parts.iter().all(|p| p.len() <= n.div_ceil(size)));
        }
    }
}
