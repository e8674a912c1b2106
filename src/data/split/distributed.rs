//! Splits of a table that the ranks of a job hold in parts (after
//! [`crate::data::read::read_distributed`]): every rank gets its own rows
//! of each part, and they are the rows the single-process [`split`] puts
//! there.
//!
//! A rank knows each of its rows' place in the single-process table. The
//! random and k-fold choices depend only on the number of rows and the
//! seed, so every rank draws the same mask over all rows and reads its own
//! rows' bits; the time cut is the same quantile, found by counting across
//! ranks. The ranks then share which rows went to test (one bit a row), so
//! that each knows every row's place in its part: that is what lets a part
//! be gathered back in single-process order ([`gather_part`]). The
//! validation carve-out is drawn the same way over the training rows, and
//! cold-start users and items are those without a training rating on any
//! rank.
//!
//! Per-user splits (`user`, `user-time`, per-user validation) need the
//! rows dealt by user ([`crate::data::read::RowsBy::User`]): each user's
//! owner draws its choices, and every rank makes the other users' draws on
//! a scratch slice, so the one random stream stays in step. The MovieLens
//! `ml100k-uN` folds sort each part by id: not built for parts, refused
//! with the reason rather than split differently.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{
    kfold_assignment, random_mask, ColdStart, ColdStartReport, SplitConfig, SplitMethod,
    ValidMethod, VALID_STREAM,
};
use crate::collective::Collective;
use crate::data::Ratings;
use crate::error::{Error, Result};

/// One part of a split (train, test or validation) as one rank holds it.
#[derive(Debug, Clone)]
pub struct SplitPart {
    /// This rank's rows of the part, in the part's order.
    pub ratings: Ratings,
    /// Each row's place in the single-process part (ascending).
    pub rows: Vec<u64>,
    /// Rows of the part over all ranks.
    pub total: u64,
}

/// A split as one rank holds it: its rows of each part; the cold-start
/// accounting is that of the whole split, the same on every rank.
#[derive(Debug, Clone)]
pub struct DistributedSplit {
    /// Training rows (validation carved out).
    pub train: SplitPart,
    /// Test rows.
    pub test: SplitPart,
    /// Validation rows, when asked for.
    pub valid: Option<SplitPart>,
    /// Cold-start accounting of test.
    pub cold: ColdStartReport,
    /// Cold-start accounting of validation.
    pub valid_cold: Option<ColdStartReport>,
}

/// Splits a table held in parts: `local` is this rank's rows, `rows` their
/// places in the single-process table of `total` rows (ascending, as
/// [`crate::data::read::DistributedRead`] gives them). Every rank calls it
/// with the same config. The result, gathered, is what [`super::split`]
/// gives for the whole table.
pub fn split_distributed(
    local: &Ratings,
    rows: &[u64],
    total: u64,
    config: &SplitConfig,
    comm: &dyn Collective,
) -> Result<DistributedSplit> {
    config.validate()?;
    let refuse = |what: &str| {
        Err(Error::config(format!(
            "{what} cannot split a table read in parts yet (it sorts each part by id); \
             read the file on every rank without distributed reading, or use another \
             split method"
        )))
    };
    let n = usize::try_from(total).map_err(|_| Error::config("too many rows for this machine"))?;
    let is_test: Vec<bool> = match config.method {
        SplitMethod::Random => {
            let mut rng = SmallRng::seed_from_u64(config.seed);
            pick(&random_mask(n, config.test_fraction, &mut rng), rows)
        }
        SplitMethod::KFold => {
            let fold = (config.fold - 1) as u32;
            let fold_of = kfold_assignment(n, config.folds, config.seed);
            rows.iter().map(|&g| fold_of[g as usize] == fold).collect()
        }
        SplitMethod::None => vec![false; rows.len()],
        SplitMethod::Time => {
            let ts = local.timestamps.as_deref().ok_or_else(|| {
                Error::config(format!(
                    "split method {} needs timestamps, and these ratings have none",
                    config.method
                ))
            })?;
            let cut = quantile(comm, ts, total, config.time_quantile)?.unwrap_or(f64::INFINITY);
            ts.iter().map(|&t| t as f64 > cut).collect()
        }
        SplitMethod::User | SplitMethod::UserTime => {
            let by_time = config.method == SplitMethod::UserTime;
            if by_time && local.timestamps.is_none() {
                return Err(Error::config(format!(
                    "split method {} needs timestamps, and these ratings have none",
                    config.method
                )));
            }
            let mut rng = SmallRng::seed_from_u64(config.seed);
            per_user_flags(comm, local, rows, config.test_fraction, &mut rng, by_time)?
        }
        SplitMethod::Ml100k(_) => return refuse(&format!("split method {}", config.method)),
    };
    let (train, test) = divide(comm, local, rows, total, &is_test)?;
    let (train, valid) = match config.valid_fraction {
        Some(fraction) => {
            let mut rng = SmallRng::seed_from_u64(config.seed ^ VALID_STREAM);
            let is_valid = match config.valid_method {
                ValidMethod::Random => pick(
                    &random_mask(train.total as usize, fraction, &mut rng),
                    &train.rows,
                ),
                ValidMethod::User => {
                    per_user_flags(comm, &train.ratings, &train.rows, fraction, &mut rng, false)?
                }
            };
            let (train, valid) = divide(comm, &train.ratings, &train.rows, train.total, &is_valid)?;
            (train, Some(valid))
        }
        None => (train, None),
    };
    let seen_users = any_rank(comm, &seen(&train.ratings.users, local.n_users()))?;
    let seen_items = any_rank(comm, &seen(&train.ratings.items, local.n_items()))?;
    let seen = (&seen_users[..], &seen_items[..]);
    let (test, cold) = cold_start(comm, test, seen, config.cold_start)?;
    let (valid, valid_cold) = match valid {
        Some(v) => {
            let (v, c) = cold_start(comm, v, seen, config.cold_start)?;
            (Some(v), Some(c))
        }
        None => (None, None),
    };
    Ok(DistributedSplit {
        train,
        test,
        valid,
        cold,
        valid_cold,
    })
}

/// Every rank's part gathered in single-process order: on every rank
/// (`root` `None`) or on `root` alone (the others get `None`). Ranks must
/// pass the same `root`.
pub fn gather_part(
    comm: &dyn Collective,
    part: &SplitPart,
    root: Option<usize>,
) -> Result<Option<Ratings>> {
    let r = &part.ratings;
    let timed = r.timestamps.is_some();
    let mut bytes = Vec::with_capacity(r.len() * if timed { 28 } else { 20 });
    for (k, &row) in part.rows.iter().enumerate() {
        bytes.extend_from_slice(&row.to_le_bytes());
        bytes.extend_from_slice(&r.users[k].to_le_bytes());
        bytes.extend_from_slice(&r.items[k].to_le_bytes());
        bytes.extend_from_slice(&r.values[k].to_le_bytes());
        if let Some(t) = &r.timestamps {
            bytes.extend_from_slice(&t[k].to_le_bytes());
        }
    }
    let all = match root {
        None => comm.all_gather_bytes(&bytes)?,
        Some(root) => {
            let got = comm.gather_bytes(root, bytes)?;
            if comm.rank() != root {
                return Ok(None);
            }
            got
        }
    };
    let n = part.total as usize;
    let mut out = Ratings {
        users: vec![0; n],
        items: vec![0; n],
        values: vec![0.0; n],
        timestamps: timed.then(|| vec![0; n]),
        user_ids: Arc::clone(&r.user_ids),
        item_ids: Arc::clone(&r.item_ids),
    };
    let width = if timed { 28 } else { 20 };
    let mut filled = 0usize;
    for b in &all {
        for row in b.chunks_exact(width) {
            let at = u64::from_le_bytes(row[..8].try_into().expect("8")) as usize;
            let word = |o: usize| u32::from_le_bytes(row[o..o + 4].try_into().expect("4"));
            if at >= n {
                return Err(Error::other(format!(
                    "gathering a part of {n} rows: a rank sent row {at}"
                )));
            }
            out.users[at] = word(8);
            out.items[at] = word(12);
            out.values[at] = f32::from_bits(word(16));
            if let Some(t) = out.timestamps.as_mut() {
                t[at] = i64::from_le_bytes(row[20..28].try_into().expect("8"));
            }
            filled += 1;
        }
    }
    if filled != n {
        return Err(Error::other(format!(
            "gathering a part of {n} rows: the ranks sent {filled}"
        )));
    }
    Ok(Some(out))
}

/// [`super::per_user_mask`] for rows dealt by user (each user's rows on
/// one rank, `user % size`, in table order): the owner draws its users'
/// choices; for every other user each rank makes the same draws on a
/// scratch slice of the user's length (the draws depend on the length and
/// the number taken only), so the random stream stays in step with the
/// single process's, user after user. The counts come from the owners.
fn per_user_flags(
    comm: &dyn Collective,
    local: &Ratings,
    rows: &[u64],
    fraction: f64,
    rng: &mut SmallRng,
    by_time: bool,
) -> Result<Vec<bool>> {
    let (rank, size) = (comm.rank(), comm.size());
    if local.users.iter().any(|&u| u as usize % size != rank) {
        return Err(Error::config(
            "a per-user split of a table read in parts needs its rows dealt by user \
             (read with RowsBy::User)",
        ));
    }
    let n_users = local.n_users();
    let mut start = vec![0usize; n_users + 1];
    for &u in &local.users {
        start[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    let mut positions = vec![0usize; local.len()];
    for (k, &u) in local.users.iter().enumerate() {
        positions[next[u as usize]] = k;
        next[u as usize] += 1;
    }
    let mut flags = vec![false; local.len()];
    let take_of = |c: usize| ((c as f64 * fraction).round() as usize).clamp(1, c - 1);
    if by_time {
        let ts = local.timestamps.as_deref().unwrap_or(&[]);
        for u in 0..n_users {
            let group = &mut positions[start[u]..start[u + 1]];
            let c = group.len();
            if c < 2 || ts.len() != local.len() {
                continue;
            }
            group.sort_by_key(|&k| (ts[k], rows[k]));
            for &k in &group[c - take_of(c)..] {
                flags[k] = true;
            }
        }
        return Ok(flags);
    }
    let mut counts: Vec<f64> = (0..n_users)
        .map(|u| (start[u + 1] - start[u]) as f64)
        .collect();
    comm.all_reduce_sum_f64(&mut counts)?;
    let mut scratch: Vec<u32> = Vec::new();
    for (u, &c) in counts.iter().enumerate() {
        let c = c as usize;
        if c < 2 {
            continue;
        }
        let take = take_of(c);
        if u % size == rank {
            let group = &mut positions[start[u]..start[u + 1]];
            for &k in group.partial_shuffle(rng, take).0.iter() {
                flags[k] = true;
            }
        } else {
            if scratch.len() < c {
                scratch.resize(c, 0);
            }
            scratch[..c].partial_shuffle(rng, take);
        }
    }
    Ok(flags)
}

/// The bits of `mask` at `rows`.
fn pick(mask: &[bool], rows: &[u64]) -> Vec<bool> {
    rows.iter().map(|&g| mask[g as usize]).collect()
}

/// Splits this rank's rows by `selected` into (rest, selected), each with
/// its rows' places in the single-process part: the ranks share which of
/// all `total` rows are selected, one bit a row.
fn divide(
    comm: &dyn Collective,
    local: &Ratings,
    rows: &[u64],
    total: u64,
    selected: &[bool],
) -> Result<(SplitPart, SplitPart)> {
    let words = (total as usize).div_ceil(64);
    let mut bits = vec![0u64; words];
    for (&g, _) in rows.iter().zip(selected).filter(|(_, &s)| s) {
        bits[g as usize / 64] |= 1 << (g % 64);
    }
    let bits = or_ranks(comm, bits)?;
    let n_selected: u64 = bits.iter().map(|w| w.count_ones() as u64).sum();
    // Selected rows before row g, for this rank's rows (ascending).
    let mut before = Vec::with_capacity(rows.len());
    let (mut word, mut count) = (0usize, 0u64);
    for &g in rows {
        let w = g as usize / 64;
        while word < w {
            count += bits[word].count_ones() as u64;
            word += 1;
        }
        let low = bits[w] & ((1u64 << (g % 64)) - 1);
        before.push(count + low.count_ones() as u64);
    }
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    let (mut yes_rows, mut no_rows) = (Vec::new(), Vec::new());
    for (k, (&g, &s)) in rows.iter().zip(selected).enumerate() {
        if s {
            yes.push(k);
            yes_rows.push(before[k]);
        } else {
            no.push(k);
            no_rows.push(g - before[k]);
        }
    }
    Ok((
        SplitPart {
            ratings: local.select(&no),
            rows: no_rows,
            total: total - n_selected,
        },
        SplitPart {
            ratings: local.select(&yes),
            rows: yes_rows,
            total: n_selected,
        },
    ))
}

/// The bitwise or of every rank's `bits` (same length on every rank).
fn or_ranks(comm: &dyn Collective, bits: Vec<u64>) -> Result<Vec<u64>> {
    if comm.size() == 1 {
        return Ok(bits);
    }
    let bytes: Vec<u8> = bits.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut out = vec![0u64; bits.len()];
    for b in comm.all_gather_bytes(&bytes)? {
        for (o, c) in out.iter_mut().zip(b.chunks_exact(8)) {
            *o |= u64::from_le_bytes(c.try_into().expect("8"));
        }
    }
    Ok(out)
}

/// Whether each of `n` indices is set on any rank.
fn any_rank(comm: &dyn Collective, flags: &[bool]) -> Result<Vec<bool>> {
    let mut bits = vec![0u64; flags.len().div_ceil(64)];
    for (k, _) in flags.iter().enumerate().filter(|(_, &f)| f) {
        bits[k / 64] |= 1 << (k % 64);
    }
    let bits = or_ranks(comm, bits)?;
    Ok((0..flags.len())
        .map(|k| bits[k / 64] >> (k % 64) & 1 == 1)
        .collect())
}

fn seen(index: &[u32], n: usize) -> Vec<bool> {
    let mut s = vec![false; n];
    for &i in index {
        s[i as usize] = true;
    }
    s
}

/// [`super::cold_start`] over ranks: counts (and under
/// [`ColdStart::Drop`] removes) the held-out rows whose user or item has no
/// training rating on any rank.
fn cold_start(
    comm: &dyn Collective,
    held_out: SplitPart,
    (seen_users, seen_items): (&[bool], &[bool]),
    policy: ColdStart,
) -> Result<(SplitPart, ColdStartReport)> {
    let r = &held_out.ratings;
    let mut cold_users = vec![false; r.n_users()];
    let mut cold_items = vec![false; r.n_items()];
    let mut cold = Vec::with_capacity(r.len());
    for (&u, &i) in r.users.iter().zip(&r.items) {
        let (u, i) = (u as usize, i as usize);
        cold_users[u] |= !seen_users[u];
        cold_items[i] |= !seen_items[i];
        cold.push(!seen_users[u] || !seen_items[i]);
    }
    let count = |v: &[bool]| v.iter().filter(|&&c| c).count();
    let report = ColdStartReport {
        users: count(&any_rank(comm, &cold_users)?),
        items: count(&any_rank(comm, &cold_items)?),
        ratings: 0,
        dropped: policy == ColdStart::Drop,
    };
    // The cold rows, split off as a selected part: their count is the
    // whole split's, and the warm rows' places are renumbered past them.
    let (warm, cold) = divide(comm, r, &held_out.rows, held_out.total, &cold)?;
    let report = ColdStartReport {
        ratings: cold.total as usize,
        ..report
    };
    let kept = match policy {
        ColdStart::Drop => warm,
        ColdStart::Keep => held_out,
    };
    Ok((kept, report))
}

/// The `q` quantile of every rank's `values` ([`super::pandas_quantile`]
/// of all `total` of them), found by counting across ranks: a binary
/// search over the values for the two order statistics it interpolates.
fn quantile(comm: &dyn Collective, values: &[i64], total: u64, q: f64) -> Result<Option<f64>> {
    if total == 0 {
        return Ok(None);
    }
    let h = (total - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as u64;
    // The k-th smallest (0-based) over all ranks: the least v with more
    // than k values ≤ v.
    let kth = |k: u64| -> Result<i64> {
        let (mut a, mut b) = (i64::MIN, i64::MAX);
        while a < b {
            let mid = a + ((b as i128 - a as i128) / 2) as i64;
            let mut c = [values.iter().filter(|&&x| x <= mid).count() as f64];
            comm.all_reduce_sum_f64(&mut c)?;
            if c[0] as u64 > k {
                b = mid;
            } else {
                a = mid + 1;
            }
        }
        Ok(a)
    };
    let x_lo = kth(lo)? as f64;
    if lo + 1 >= total {
        return Ok(Some(x_lo));
    }
    let x_hi = kth(lo + 1)? as f64;
    Ok(Some(x_lo + (h - lo as f64) * (x_hi - x_lo)))
}
