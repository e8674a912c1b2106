//! [`ThreadGroup`]: N ranks as threads of one process, so the distributed
//! algorithms run under the ordinary `cargo test`.
//!
//! Every operation is one rendezvous: each rank deposits its parts, the
//! last to arrive publishes all of them, and each rank computes its answer
//! from the published parts in rank order (sums in rank order, so every
//! rank gets the same bits, as MPI's reductions promise). A handle that is
//! dropped marks its rank as gone: waiting and later operations of the
//! other ranks fail with an error naming it, as an MPI job ends when a rank
//! dies, rather than hanging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{check_parts, check_root, Collective, Comm};
use crate::error::{Error, Result};

/// One rank of an in-process group of threads. Make the handles with
/// [`ThreadGroup::new`], or run a closure on every rank with [`ThreadGroup::run`].
#[derive(Debug)]
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
    sent: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// What each rank deposited for the operation in progress.
    slots: Vec<Option<Deposit>>,
    arrived: usize,
    /// Completed operations; a rank waits for this to pass its own.
    generation: u64,
    /// The parts of the last completed operation, in rank order.
    published: Arc<Vec<Deposit>>,
    /// The first rank whose handle was dropped.
    gone: Option<usize>,
}

#[derive(Debug, Clone)]
struct Deposit {
    op: &'static str,
    parts: Vec<Vec<u8>>,
}

impl ThreadGroup {
    /// Handles for ranks `0..size` of a new group; give one to each thread.
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                slots: vec![None; size],
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        (0..size)
            .map(|rank| ThreadGroup {
                rank,
                shared: Arc::clone(&shared),
                sent: AtomicU64::new(0),
            })
            .collect()
    }

    /// Runs `f` on `size` ranks, each on its own thread with its own rayon
    /// pool of `threads_per_rank` threads (ranks that block in a collective
    /// must not share a pool: a blocked worker could hold another rank's
    /// stolen work), and returns their results in rank order. A rank that
    /// panics is reported as an error for that rank; the others then fail
    /// at their next operation.
    pub fn run<R, F>(size: usize, threads_per_rank: usize, f: F) -> Vec<Result<R>>
    where
        R: Send,
        F: Fn(Comm) -> Result<R> + Sync,
    {
        let handles = ThreadGroup::new(size);
        std::thread::scope(|s| {
            let joins: Vec<_> = handles
                .into_iter()
                .map(|h| {
                    let f = &f;
                    s.spawn(move || {
                        let rank = h.rank;
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(threads_per_rank.max(1))
                            .build()
                            .map_err(|e| Error::other(format!("rank {rank}: thread pool: {e}")))?;
                        let comm: Comm = Arc::new(h);
                        pool.install(|| f(comm))
                    })
                })
                .collect();
            joins
                .into_iter()
                .enumerate()
                .map(|(rank, j)| {
                    j.join()
                        .unwrap_or_else(|_| Err(Error::other(format!("rank {rank} panicked"))))
                })
                .collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A rank that panicked while holding the lock left consistent state
        // (deposits are whole), so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Deposits `parts` for operation `op` and returns every rank's deposit.
    fn exchange(&self, op: &'static str, parts: Vec<Vec<u8>>) -> Result<Arc<Vec<Deposit>>> {
        let size = self.shared.size;
        let mut st = self.lock();
        if let Some(gone) = st.gone {
            return Err(self.gone_error(gone, op));
        }
        st.slots[self.rank] = Some(Deposit { op, parts });
        st.arrived += 1;
        let my_generation = st.generation;
        if st.arrived == size {
            let deposits: Vec<Deposit> = st.slots.iter_mut().filter_map(Option::take).collect();
            st.published = Arc::new(deposits);
            st.arrived = 0;
            st.generation += 1;
            self.shared.wake.notify_all();
        } else {
            while st.generation == my_generation {
                if let Some(gone) = st.gone {
                    return Err(self.gone_error(gone, op));
                }
                st = self
                    .shared
                    .wake
                    .wait(st)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
        let all = Arc::clone(&st.published);
        drop(st);
        if let Some((r, d)) = all.iter().enumerate().find(|(_, d)| d.op != op) {
            return Err(Error::other(format!(
                "rank {} called {op} while rank {r} called {}: every rank must call \
                 the same collective operations in the same order",
                self.rank, d.op
            )));
        }
        Ok(all)
    }

    fn gone_error(&self, gone: usize, op: &str) -> Error {
        Error::other(format!(
            "rank {gone} left the group (it stopped or failed) while rank {} was in {op}",
            self.rank
        ))
    }

    fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn reduce<const N: usize, T>(
        &self,
        op: &'static str,
        buf: &mut [T],
        to_bytes: fn(T) -> [u8; N],
        from_bytes: fn([u8; N]) -> T,
    ) -> Result<()>
    where
        T: Copy + std::ops::AddAssign + Default,
    {
        let mine: Vec<u8> = buf.iter().flat_map(|&x| to_bytes(x)).collect();
        self.count(mine.len());
        let all = self.exchange(op, vec![mine])?;
        if let Some((r, d)) = all
            .iter()
            .enumerate()
            .find(|(_, d)| d.parts[0].len() != buf.len() * N)
        {
            return Err(Error::other(format!(
                "{op}: rank {r} gave {} values, rank {} gave {}",
                d.parts[0].len() / N,
                self.rank,
                buf.len()
            )));
        }
        buf.fill(T::default());
        for d in all.iter() {
            for (x, c) in buf.iter_mut().zip(d.parts[0].chunks_exact(N)) {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                *x += from_bytes(a);
            }
        }
        Ok(())
    }
}

impl Drop for ThreadGroup {
    fn drop(&mut self) {
        let mut st = self.lock();
        st.gone.get_or_insert(self.rank);
        self.shared.wake.notify_all();
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn barrier(&self) -> Result<()> {
        self.exchange("barrier", Vec::new()).map(|_| ())
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.reduce(
            "all_reduce_sum_f32",
            buf,
            f32::to_le_bytes,
            f32::from_le_bytes,
        )
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.reduce(
            "all_reduce_sum_f64",
            buf,
            f64::to_le_bytes,
            f64::from_le_bytes,
        )
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.count(mine.len());
        let all = self.exchange("all_gather", vec![mine.to_vec()])?;
        Ok(all.iter().map(|d| d.parts[0].clone()).collect())
    }

    fn all_to_all_bytes(&self, to: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        check_parts(to.len(), self.size())?;
        let others: usize = (to.iter().enumerate())
            .filter(|&(r, _)| r != self.rank)
            .map(|(_, p)| p.len())
            .sum();
        self.count(others);
        let all = self.exchange("all_to_all", to.to_vec())?;
        Ok(all.iter().map(|d| d.parts[self.rank].clone()).collect())
    }

    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()> {
        check_root(root, self.size())?;
        let mine = if self.rank == root {
            self.count(buf.len() * (self.size() - 1));
            vec![buf.clone()]
        } else {
            vec![Vec::new()]
        };
        let all = self.exchange("broadcast", mine)?;
        if self.rank != root {
            buf.clone_from(&all[root].parts[0]);
        }
        Ok(())
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_agrees_across_ranks() {
        let out = ThreadGroup::run(3, 1, |c| {
            let r = c.rank();
            let mut v = vec![r as f32, 1.0];
            c.all_reduce_sum_f32(&mut v)?;
            let mut w = vec![0.5f64 * r as f64];
            c.all_reduce_sum_f64(&mut w)?;
            let gathered = c.all_gather_u32(&vec![r as u32; r])?;
            let to: Vec<Vec<u8>> = (0..3).map(|d| vec![(10 * r + d) as u8]).collect();
            let got = c.all_to_all_bytes(&to)?;
            let mut b = if r == 1 { vec![42u8, 43] } else { vec![] };
            c.broadcast_bytes(1, &mut b)?;
            c.barrier()?;
            Ok((v, w, gathered, got, b, c.bytes_sent()))
        });
        for (r, o) in out.into_iter().enumerate() {
            let (v, w, gathered, got, b, sent) = o.unwrap();
            assert_eq!(v, [3.0, 3.0]);
            assert_eq!(w, [1.5]);
            assert_eq!(gathered, vec![vec![], vec![1], vec![2, 2]]);
            let expect: Vec<Vec<u8>> = (0..3).map(|s| vec![(10 * s + r) as u8]).collect();
            assert_eq!(got, expect);
            assert_eq!(b, [42, 43]);
            // 8 + 8 bytes reduced, 4·r gathered, 2 bytes to the other ranks,
            // and the root's 2 bytes to 2 others.
            let root = if r == 1 { 4 } else { 0 };
            assert_eq!(sent, (16 + 4 * r + 2 + root) as u64);
        }
    }

    #[test]
    fn a_rank_that_leaves_fails_the_others_instead_of_hanging() {
        let out = ThreadGroup::run(3, 1, |c| {
            if c.rank() == 2 {
                return Err(Error::other("rank 2 gave up"));
            }
            c.barrier()
        });
        assert!(out[2].is_err());
        for o in &out[..2] {
            let msg = o.as_ref().unwrap_err().to_string();
            assert!(msg.contains("rank 2 left the group"), "{msg}");
        }
    }

    #[test]
    fn mismatched_calls_and_lengths_are_errors() {
        let out = ThreadGroup::run(2, 1, |c| {
            if c.rank() == 0 {
                c.barrier()
            } else {
                c.all_gather_bytes(&[1]).map(|_| ())
            }
        });
        assert!(out.iter().all(|o| o
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("same collective operations")));
        let out = ThreadGroup::run(2, 1, |c| {
            let mut v = vec![0f32; 1 + c.rank()];
            c.all_reduce_sum_f32(&mut v)
        });
        assert!(out.iter().all(|o| o.is_err()));
    }
}
