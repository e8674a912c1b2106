//! [`MpiCollective`]: the collective operations over MPI (OpenMPI, MPICH)
//! through the `mpi` crate, for jobs started by `mpirun` or `srun`.
//!
//! MPI is initialised at the `Serialized` threading level: the training
//! loop runs on a rayon worker, not always the thread that initialised MPI,
//! and a mutex makes sure only one thread is inside MPI at a time. Dropping
//! the last handle finalises MPI.
//!
//! A rank that dies ends the job: MPI's default error handler aborts, and
//! `mpirun`/`srun` then stop the other ranks and exit non-zero naming the
//! rank that failed (docs/distributed.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Count;

use super::{check_parts, check_root, Collective};
use crate::error::{Error, Result};

/// True when this process was started by an MPI launcher (OpenMPI's
/// `mpirun`, MPICH/Hydra, PMIx, or Slurm's `srun` with more than one
/// task): then [`MpiCollective::init`] joins the job; otherwise a plain run
/// stays a single process and never touches MPI.
pub fn launched_by_mpi() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some();
    set("OMPI_COMM_WORLD_SIZE")
        || set("PMI_SIZE")
        || set("PMIX_RANK")
        || set("MPI_LOCALNRANKS")
        || std::env::var("SLURM_NTASKS")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n > 1)
}

/// One rank of an MPI job (`MPI_COMM_WORLD`).
pub struct MpiCollective {
    inner: Mutex<Inner>,
    rank: usize,
    size: usize,
    sent: AtomicU64,
}

struct Inner {
    world: SimpleCommunicator,
    /// Kept so MPI is finalised when the collective is dropped.
    _universe: Universe,
}

// SAFETY: MPI was initialised at the `Serialized` level (checked in
// `init`), which allows calls from any thread as long as no two are made at
// once; every call goes through `inner`'s mutex.
unsafe impl Send for MpiCollective {}
// SAFETY: as above: shared references reach MPI only through the mutex.
unsafe impl Sync for MpiCollective {}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCollective")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl MpiCollective {
    /// Initialises MPI and joins `MPI_COMM_WORLD`. Fails when MPI was
    /// already initialised or cannot serialise calls from several threads.
    pub fn init() -> Result<MpiCollective> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::other("MPI was already initialised in this process"))?;
        if level < Threading::Serialized {
            return Err(Error::other(format!(
                "the MPI library offers only the {level:?} threading level; aerec needs \
                 Serialized (calls from any thread, one at a time)"
            )));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(MpiCollective {
            inner: Mutex::new(Inner {
                world,
                _universe: universe,
            }),
            rank,
            size,
            sent: AtomicU64::new(0),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> Result<R>) -> Result<R> {
        let inner = self
            .inner
            .lock()
            .map_err(|_| Error::other("an earlier MPI call panicked"))?;
        f(&inner.world)
    }

    /// The element-wise sum over ranks of `buf`, in place, for either float
    /// width (the trait's two all-reduces).
    fn all_reduce_sum<T>(&self, buf: &mut [T]) -> Result<()>
    where
        T: mpi::traits::Equivalence + Clone + Default,
    {
        mpi_count(buf.len(), "all-reduce")?;
        self.count(std::mem::size_of_val(buf));
        if buf.is_empty() {
            return Ok(());
        }
        let send = copy(buf);
        self.with(|w| {
            w.all_reduce_into(&send[..], buf, mpi::collective::SystemOperation::sum());
            Ok(())
        })
    }

    fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// An MPI count (a C `int`), or an error naming what was too large.
fn mpi_count(n: usize, what: &str) -> Result<Count> {
    Count::try_from(n).map_err(|_| {
        Error::other(format!(
            "{what}: {n} elements exceed MPI's count limit ({}); use more ranks or smaller batches",
            Count::MAX
        ))
    })
}

/// Counts and displacements of parts with the given lengths.
fn layout(lens: &[usize], what: &str) -> Result<(Vec<Count>, Vec<Count>)> {
    let counts = lens
        .iter()
        .map(|&n| mpi_count(n, what))
        .collect::<Result<Vec<_>>>()?;
    let mut displs = Vec::with_capacity(lens.len());
    let mut at = 0usize;
    for &n in lens {
        displs.push(mpi_count(at, what)?);
        at += n;
    }
    mpi_count(at, what)?;
    Ok((counts, displs))
}

/// A zeroed buffer of `len` that owns an allocation even when empty: an
/// empty `Vec`'s dangling pointer is the same for every empty buffer of a
/// type, and MPI rejects a send buffer equal to the receive buffer
/// (`MPI_ERR_ARG`, its rule against aliasing) even when nothing moves.
fn buffer<T: Clone + Default>(len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len.max(1));
    v.resize(len, T::default());
    v
}

/// A copy of `data` in its own allocation (see [`buffer`]).
fn copy<T: Clone + Default>(data: &[T]) -> Vec<T> {
    let mut v = buffer(0);
    v.extend_from_slice(data);
    v
}

fn split(buf: &[u8], lens: &[usize]) -> Vec<Vec<u8>> {
    let mut at = 0;
    lens.iter()
        .map(|&n| {
            at += n;
            buf[at - n..at].to_vec()
        })
        .collect()
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn barrier(&self) -> Result<()> {
        self.with(|w| {
            w.barrier();
            Ok(())
        })
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.all_reduce_sum(buf)
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.all_reduce_sum(buf)
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let n = mpi_count(mine.len(), "all-gather")?;
        self.count(mine.len());
        let mine = copy(mine);
        self.with(|w| {
            let mut lens = vec![0 as Count; self.size];
            w.all_gather_into(&n, &mut lens[..]);
            let lens: Vec<usize> = lens.iter().map(|&c| c as usize).collect();
            let (counts, displs) = layout(&lens, "all-gather")?;
            let mut all = buffer::<u8>(lens.iter().sum());
            {
                let mut part = PartitionMut::new(&mut all[..], counts, displs);
                w.all_gather_varcount_into(&mine[..], &mut part);
            }
            Ok(split(&all, &lens))
        })
    }

    fn all_to_all_bytes(&self, to: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        check_parts(to.len(), self.size)?;
        let send_lens: Vec<usize> = to.iter().map(Vec::len).collect();
        let (send_counts, send_displs) = layout(&send_lens, "all-to-all")?;
        let others: usize = (send_lens.iter().enumerate())
            .filter(|&(r, _)| r != self.rank)
            .map(|(_, &n)| n)
            .sum();
        self.count(others);
        let send = copy(&to.concat());
        self.with(|w| {
            let mut recv_counts = vec![0 as Count; self.size];
            w.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
            let recv_lens: Vec<usize> = recv_counts.iter().map(|&c| c as usize).collect();
            let (recv_counts, recv_displs) = layout(&recv_lens, "all-to-all")?;
            let mut recv = buffer::<u8>(recv_lens.iter().sum());
            {
                let out = Partition::new(&send[..], &send_counts[..], &send_displs[..]);
                let mut into = PartitionMut::new(&mut recv[..], recv_counts, recv_displs);
                w.all_to_all_varcount_into(&out, &mut into);
            }
            Ok(split(&recv, &recv_lens))
        })
    }

    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()> {
        check_root(root, self.size)?;
        if self.rank == root {
            self.count(buf.len() * (self.size - 1));
        }
        self.with(|w| {
            let process = w.process_at_rank(root as mpi::Rank);
            let mut len = mpi_count(buf.len(), "broadcast")?;
            process.broadcast_into(&mut len);
            buf.resize(len as usize, 0);
            process.broadcast_into(&mut buf[..]);
            Ok(())
        })
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}
