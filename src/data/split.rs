//! Splits: random, per-user stratified, temporal, k-fold, the MovieLens 100K
//! canonical folds, and pre-split files aligned into one id space; a
//! validation carve-out from train; cold-start accounting.
//!
//! Every split is seeded (same seed, same split), keeps the input order of
//! the ratings within each part, and shares the input's id maps between its
//! parts (user 17 in train is user 17 in test). Random choices cost O(n);
//! the per-user time split sorts each user's ratings by time.
//!
//! ```
//! use aerec::data::split::{split, Input, SplitConfig, SplitMethod};
//! # use aerec::{IdMap, Ratings};
//! # use std::sync::Arc;
//! # let mut users = IdMap::new();
//! # let mut items = IdMap::new();
//! # let (u, i): (Vec<u32>, Vec<u32>) = (0..100)
//! #     .map(|k| (users.intern(&(k % 10).to_string()), items.intern(&(k / 10).to_string())))
//! #     .unzip();
//! # let ratings = Ratings { values: vec![3.0; 100], users: u, items: i, timestamps: None,
//! #     user_ids: Arc::new(users), item_ids: Arc::new(items) };
//! let config = SplitConfig { method: SplitMethod::User, test_fraction: 0.2, ..Default::default() };
//! let parts = split(&Input::Whole(ratings), &config)?;
//! assert_eq!((parts.train.len(), parts.test.len()), (80, 20)); // 10 users × (8 + 2)
//! # Ok::<(), aerec::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{IdMap, Ratings};
use crate::error::{Error, Result};

mod distributed;

pub use distributed::{gather_part, split_distributed, DistributedSplit, SplitPart};

/// What the data flags loaded: one table to split, or a pre-split pair.
#[derive(Debug, Clone)]
pub enum Input {
    /// One rating table; a split method divides it.
    Whole(Ratings),
    /// Train and test files given separately, each read in its own id space
    /// (aligning them into one is the split module's job).
    PreSplit {
        /// The training ratings.
        train: Ratings,
        /// The test ratings.
        test: Ratings,
    },
}

/// How a whole table is divided into train and test.
///
/// Written and parsed (CLI and TOML alike) as `random`, `user`, `time`,
/// `user-time`, `kfold`, `ml100k-u1` … `ml100k-u5` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SplitMethod {
    /// A random `test_fraction` of all ratings goes to test.
    #[default]
    Random,
    /// Per-user stratified holdout: each user with at least 2 ratings gives
    /// `round(n · test_fraction)`, clamped to `1..=n-1`, of them to test;
    /// a user with 1 rating stays in train.
    User,
    /// Global time cut: train holds the ratings with timestamp ≤ the
    /// `time_quantile` quantile of all timestamps (pandas' default linear
    /// interpolation, as `rat['timestamp'].quantile(0.98)` in the PyTorch
    /// report), test the later ones.
    Time,
    /// Per-user time holdout: each user's latest ratings (as many as
    /// [`SplitMethod::User`] would take) go to test.
    UserTime,
    /// `folds`-fold cross-validation on a random permutation: every rating is
    /// in exactly one test fold.
    KFold,
    /// The MovieLens 100K canonical split `uN.base`/`uN.test` (N in 1..=5):
    /// test = lines (N−1)·20000+1 … N·20000 of `u.data` in file order, train
    /// = the rest, both sorted by user then item as the published files.
    Ml100k(u8),
    /// No split: everything is train, test is empty.
    None,
}

impl fmt::Display for SplitMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitMethod::Random => f.write_str("random"),
            SplitMethod::User => f.write_str("user"),
            SplitMethod::Time => f.write_str("time"),
            SplitMethod::UserTime => f.write_str("user-time"),
            SplitMethod::KFold => f.write_str("kfold"),
            SplitMethod::Ml100k(n) => write!(f, "ml100k-u{n}"),
            SplitMethod::None => f.write_str("none"),
        }
    }
}

impl FromStr for SplitMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let method = match s {
            "random" => SplitMethod::Random,
            "user" => SplitMethod::User,
            "time" => SplitMethod::Time,
            "user-time" => SplitMethod::UserTime,
            "kfold" => SplitMethod::KFold,
            "none" => SplitMethod::None,
            _ => match s
                .strip_prefix("ml100k-u")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(n @ 1..=5) => SplitMethod::Ml100k(n),
                _ => {
                    return Err(Error::config(format!(
                        "unknown split method {s:?}: expected random, user, time, user-time, \
                         kfold, ml100k-u1 … ml100k-u5 or none"
                    )))
                }
            },
        };
        Ok(method)
    }
}

impl TryFrom<String> for SplitMethod {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<SplitMethod> for String {
    fn from(m: SplitMethod) -> String {
        m.to_string()
    }
}

/// What happens to test (and validation) ratings whose user or item has no
/// training rating. They are counted either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColdStart {
    /// Leave them in; the model answers them with its fallback.
    #[default]
    Keep,
    /// Remove them.
    Drop,
}

/// How the validation part is carved out of train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValidMethod {
    /// A random fraction of the training ratings.
    #[default]
    Random,
    /// Per user, with the stratification rule of [`SplitMethod::User`].
    User,
}

/// A split's parameters; [`SplitConfig::validate`] checks them before any
/// work starts. Deserialises from TOML with defaults for missing keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// The method.
    pub method: SplitMethod,
    /// Share of ratings (or of each user's ratings) sent to test, in (0, 1).
    pub test_fraction: f64,
    /// Quantile of the timestamps that ends train for [`SplitMethod::Time`], in (0, 1).
    pub time_quantile: f64,
    /// Number of folds for [`SplitMethod::KFold`], at least 2.
    pub folds: usize,
    /// Which fold (1-based) is the test part when one split is asked for.
    pub fold: usize,
    /// Share of the training ratings carved out as validation, in (0, 1); none when absent.
    pub valid_fraction: Option<f64>,
    /// How the validation part is chosen.
    pub valid_method: ValidMethod,
    /// Seed of every random choice.
    pub seed: u64,
    /// Fate of cold-start test and validation ratings.
    pub cold_start: ColdStart,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            method: SplitMethod::Random,
            test_fraction: 0.1,
            time_quantile: 0.98,
            folds: 5,
            fold: 1,
            valid_fraction: None,
            valid_method: ValidMethod::Random,
            seed: 1,
            cold_start: ColdStart::Keep,
        }
    }
}

impl SplitConfig {
    /// Checks every parameter the method uses; a [`crate::ErrorKind::Config`] error otherwise.
    pub fn validate(&self) -> Result<()> {
        let open_unit = |name: &str, x: f64| {
            if x > 0.0 && x < 1.0 {
                Ok(())
            } else {
                Err(Error::config(format!(
                    "{name} is {x}: it must lie strictly between 0 and 1"
                )))
            }
        };
        match self.method {
            SplitMethod::Random | SplitMethod::User | SplitMethod::UserTime => {
                open_unit("test fraction", self.test_fraction)?
            }
            SplitMethod::Time => open_unit("time quantile", self.time_quantile)?,
            SplitMethod::KFold => {
                if self.folds < 2 {
                    return Err(Error::config(format!(
                        "{} folds: k-fold needs at least 2",
                        self.folds
                    )));
                }
                if !(1..=self.folds).contains(&self.fold) {
                    return Err(Error::config(format!(
                        "fold {} does not exist: folds are numbered 1 to {}",
                        self.fold, self.folds
                    )));
                }
            }
            SplitMethod::Ml100k(n) if !(1..=5).contains(&n) => {
                return Err(Error::config(format!("ml100k-u{n}: the folds are u1 … u5")))
            }
            SplitMethod::Ml100k(_) | SplitMethod::None => {}
        }
        if let Some(v) = self.valid_fraction {
            open_unit("validation fraction", v)?;
        }
        Ok(())
    }
}

/// Cold-start accounting of one held-out part against train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ColdStartReport {
    /// Distinct held-out users with no training rating.
    pub users: usize,
    /// Distinct held-out items with no training rating.
    pub items: usize,
    /// Held-out ratings whose user or item has no training rating.
    pub ratings: usize,
    /// True when those ratings were removed ([`ColdStart::Drop`]).
    pub dropped: bool,
}

/// The parts of one split, sharing one pair of id maps.
#[derive(Debug, Clone)]
pub struct Split {
    /// Training ratings (validation already carved out).
    pub train: Ratings,
    /// Test ratings.
    pub test: Ratings,
    /// Validation ratings, when a validation fraction was asked for.
    pub valid: Option<Ratings>,
    /// Cold-start accounting of test.
    pub cold: ColdStartReport,
    /// Cold-start accounting of validation.
    pub valid_cold: Option<ColdStartReport>,
}

/// Splits `input` once; for [`SplitMethod::KFold`] the test part is fold
/// `config.fold`. A [`Input::PreSplit`] pair ignores the method: it is
/// aligned into one id space (see [`align`]), then gets the validation
/// carve-out and the cold-start policy.
pub fn split(input: &Input, config: &SplitConfig) -> Result<Split> {
    config.validate()?;
    let (train, test) = match (input, config.method) {
        (Input::PreSplit { train, test }, _) => align(train, test),
        (Input::Whole(r), method) => holdout(r, method, config)?,
    };
    Ok(finish(train, test, config))
}

/// Every split the config describes: all `folds` folds for
/// [`SplitMethod::KFold`] (fold 1 first), otherwise the one [`split`] gives.
pub fn split_all(input: &Input, config: &SplitConfig) -> Result<Vec<Split>> {
    config.validate()?;
    match (input, config.method) {
        (Input::Whole(r), SplitMethod::KFold) => {
            let fold_of = kfold_assignment(r.len(), config.folds, config.seed);
            Ok((0..config.folds as u32)
                .map(|fold| {
                    let (train, test) =
                        parts(r, &fold_of.iter().map(|&f| f == fold).collect::<Vec<_>>());
                    finish(train, test, config)
                })
                .collect())
        }
        _ => Ok(vec![split(input, config)?]),
    }
}

/// Mixed into the seed of the validation carve-out's random stream.
const VALID_STREAM: u64 = 0x7a11_d5ee_d0f7_a11d;

/// Carves validation out of train, then applies the cold-start policy.
fn finish(train: Ratings, test: Ratings, config: &SplitConfig) -> Split {
    let (train, valid) = match config.valid_fraction {
        Some(fraction) => {
            // Its own stream, so that asking for validation leaves test unchanged.
            let mut rng = SmallRng::seed_from_u64(config.seed ^ VALID_STREAM);
            let is_valid = match config.valid_method {
                ValidMethod::Random => random_mask(train.len(), fraction, &mut rng),
                ValidMethod::User => per_user_mask(&train, fraction, &mut rng, None),
            };
            let (train, valid) = parts(&train, &is_valid);
            (train, Some(valid))
        }
        None => (train, None),
    };
    let (test, cold) = cold_start(&train, test, config.cold_start);
    let (valid, valid_cold) = match valid {
        Some(v) => {
            let (v, c) = cold_start(&train, v, config.cold_start);
            (Some(v), Some(c))
        }
        None => (None, None),
    };
    Split {
        train,
        test,
        valid,
        cold,
        valid_cold,
    }
}

/// Train and test of a whole table (fold `config.fold` for k-fold).
fn holdout(r: &Ratings, method: SplitMethod, config: &SplitConfig) -> Result<(Ratings, Ratings)> {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let is_test = match method {
        SplitMethod::Random => random_mask(r.len(), config.test_fraction, &mut rng),
        SplitMethod::User => per_user_mask(r, config.test_fraction, &mut rng, None),
        SplitMethod::UserTime => {
            let ts = timestamps(r, method)?;
            per_user_mask(r, config.test_fraction, &mut rng, Some(ts))
        }
        SplitMethod::Time => {
            let ts = timestamps(r, method)?;
            // An empty table has no quantile, and nothing to split either.
            let cut = pandas_quantile(ts, config.time_quantile).unwrap_or(f64::INFINITY);
            ts.iter().map(|&t| t as f64 > cut).collect()
        }
        SplitMethod::Ml100k(n) => {
            let (train, test) = parts(r, &ml100k_mask(r.len(), n)?);
            return Ok((sort_by_original_ids(&train), sort_by_original_ids(&test)));
        }
        SplitMethod::KFold => {
            let fold = (config.fold - 1) as u32;
            let fold_of = kfold_assignment(r.len(), config.folds, config.seed);
            fold_of.iter().map(|&f| f == fold).collect()
        }
        SplitMethod::None => vec![false; r.len()],
    };
    Ok(parts(r, &is_test))
}

fn timestamps(r: &Ratings, method: SplitMethod) -> Result<&[i64]> {
    r.timestamps.as_deref().ok_or_else(|| {
        Error::config(format!(
            "split method {method} needs timestamps, and these ratings have none"
        ))
    })
}

/// (rest, selected) of `r` by a mask, each in input order.
fn parts(r: &Ratings, selected: &[bool]) -> (Ratings, Ratings) {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (k, &s) in selected.iter().enumerate() {
        if s { &mut yes } else { &mut no }.push(k);
    }
    (r.select(&no), r.select(&yes))
}

/// `round(n · fraction)` positions out of `n`, uniformly.
fn random_mask(n: usize, fraction: f64, rng: &mut SmallRng) -> Vec<bool> {
    let take = (n as f64 * fraction).round() as usize;
    let mut mask = vec![false; n];
    // The shuffle's draws do not depend on what it moves: `u32` positions
    // (half the memory of `usize`) give the same choice.
    match u32::try_from(n) {
        Ok(n) => {
            let mut order: Vec<u32> = (0..n).collect();
            for &k in order.partial_shuffle(rng, take).0.iter() {
                mask[k as usize] = true;
            }
        }
        Err(_) => {
            let mut order: Vec<usize> = (0..n).collect();
            for &k in order.partial_shuffle(rng, take).0.iter() {
                mask[k] = true;
            }
        }
    }
    mask
}

/// Per user with `c ≥ 2` ratings, `round(c · fraction)` clamped to
/// `1..=c-1` of them: at random, or the latest by `timestamps` (ties broken by
/// input position).
fn per_user_mask(
    r: &Ratings,
    fraction: f64,
    rng: &mut SmallRng,
    timestamps: Option<&[i64]>,
) -> Vec<bool> {
    let mut mask = vec![false; r.len()];
    let mut by_user = group_positions(&r.users, r.n_users());
    for user in 0..r.n_users() {
        let group = &mut by_user.positions[by_user.start[user]..by_user.start[user + 1]];
        let c = group.len();
        if c < 2 {
            continue;
        }
        let take = ((c as f64 * fraction).round() as usize).clamp(1, c - 1);
        let chosen: &[usize] = match timestamps {
            Some(ts) => {
                group.sort_by_key(|&k| (ts[k], k));
                &group[c - take..]
            }
            None => group.partial_shuffle(rng, take).0,
        };
        for &k in chosen {
            mask[k] = true;
        }
    }
    mask
}

/// Rating positions grouped by an index, in input order within a group
/// (a counting sort: O(n + groups)).
struct Groups {
    start: Vec<usize>,
    positions: Vec<usize>,
}

fn group_positions(index: &[u32], n_groups: usize) -> Groups {
    let mut start = vec![0usize; n_groups + 1];
    for &g in index {
        start[g as usize + 1] += 1;
    }
    for g in 0..n_groups {
        start[g + 1] += start[g];
    }
    let mut next = start.clone();
    let mut positions = vec![0usize; index.len()];
    for (k, &g) in index.iter().enumerate() {
        positions[next[g as usize]] = k;
        next[g as usize] += 1;
    }
    Groups { start, positions }
}

/// The `q` quantile with linear interpolation between the two nearest order
/// statistics — pandas' `Series.quantile` default (numpy's `linear`):
/// `h = (n−1)·q`, `x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`. O(n) by selection.
pub fn pandas_quantile(values: &[i64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let (_, &mut x_lo, above) = v.select_nth_unstable(lo);
    let x_lo = x_lo as f64;
    match above.iter().min() {
        Some(&x_hi) => Some(x_lo + (h - lo as f64) * (x_hi as f64 - x_lo)),
        None => Some(x_lo),
    }
}

/// Fold (0-based) of each rating: a seeded permutation cut into `k`
/// contiguous pieces whose sizes differ by at most one.
fn kfold_assignment(n: usize, k: usize, seed: u64) -> Vec<u32> {
    let mut fold_of = vec![0u32; n];
    let fold = |rank: usize| (rank * k / n.max(1)) as u32;
    // As in `random_mask`: `u32` positions, the same draws.
    match u32::try_from(n) {
        Ok(m) => {
            let mut order: Vec<u32> = (0..m).collect();
            order.shuffle(&mut SmallRng::seed_from_u64(seed));
            for (rank, &k_pos) in order.iter().enumerate() {
                fold_of[k_pos as usize] = fold(rank);
            }
        }
        Err(_) => {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut SmallRng::seed_from_u64(seed));
            for (rank, &k_pos) in order.iter().enumerate() {
                fold_of[k_pos] = fold(rank);
            }
        }
    }
    fold_of
}

/// Lines `(n−1)·20000+1 … n·20000` of `u.data` (as read, in file order).
fn ml100k_mask(len: usize, n: u8) -> Result<Vec<bool>> {
    const LINES: usize = 100_000;
    const FOLD: usize = 20_000;
    if len != LINES {
        return Err(Error::config(format!(
            "split method ml100k-u{n} needs MovieLens 100K u.data in file order \
             (100000 ratings); these ratings number {len}"
        )));
    }
    let test = (n as usize - 1) * FOLD..n as usize * FOLD;
    Ok((0..len).map(|k| test.contains(&k)).collect())
}

/// The ratings ordered by user id then item id, numerically where both ids
/// are numbers (as `sort -n`: "9" before "10"), else as text.
fn sort_by_original_ids(r: &Ratings) -> Ratings {
    let key = |ids: &IdMap, i: u32| {
        let id = ids.id(i);
        (id.parse::<u64>().map_err(|_| id.to_string()), i)
    };
    let user_keys: Vec<_> = (0..r.n_users() as u32)
        .map(|u| key(&r.user_ids, u))
        .collect();
    let item_keys: Vec<_> = (0..r.n_items() as u32)
        .map(|i| key(&r.item_ids, i))
        .collect();
    let mut order: Vec<usize> = (0..r.len()).collect();
    order.sort_by(|&a, &b| {
        (
            &user_keys[r.users[a] as usize],
            &item_keys[r.items[a] as usize],
        )
            .cmp(&(
                &user_keys[r.users[b] as usize],
                &item_keys[r.items[b] as usize],
            ))
    });
    r.select(&order)
}

/// Puts a pre-split pair into one id space: train's ids keep their indices,
/// ids seen only in test are appended after them, in test's first-seen
/// order. Both returned parts share the new maps.
pub fn align(train: &Ratings, test: &Ratings) -> (Ratings, Ratings) {
    let (user_ids, user_remap) = merge_ids(&train.user_ids, &test.user_ids);
    let (item_ids, item_remap) = merge_ids(&train.item_ids, &test.item_ids);
    let train = Ratings {
        user_ids: Arc::clone(&user_ids),
        item_ids: Arc::clone(&item_ids),
        ..train.clone()
    };
    let test = Ratings {
        users: test.users.iter().map(|&u| user_remap[u as usize]).collect(),
        items: test.items.iter().map(|&i| item_remap[i as usize]).collect(),
        values: test.values.clone(),
        timestamps: test.timestamps.clone(),
        user_ids,
        item_ids,
    };
    (train, test)
}

/// `first` extended by the ids of `second` it lacks, and second's index →
/// merged index.
fn merge_ids(first: &IdMap, second: &IdMap) -> (Arc<IdMap>, Vec<u32>) {
    let mut merged = first.clone();
    let remap = second.ids().iter().map(|id| merged.intern(id)).collect();
    (Arc::new(merged), remap)
}

/// Counts the held-out ratings whose user or item has no training rating,
/// and removes them under [`ColdStart::Drop`].
fn cold_start(train: &Ratings, held_out: Ratings, policy: ColdStart) -> (Ratings, ColdStartReport) {
    let seen_users = seen(&train.users, train.n_users());
    let seen_items = seen(&train.items, train.n_items());
    let mut cold_users = vec![false; held_out.n_users()];
    let mut cold_items = vec![false; held_out.n_items()];
    let mut warm_positions = Vec::with_capacity(held_out.len());
    for k in 0..held_out.len() {
        let (u, i) = (held_out.users[k] as usize, held_out.items[k] as usize);
        let user_cold = !seen_users[u];
        let item_cold = !seen_items[i];
        cold_users[u] |= user_cold;
        cold_items[i] |= item_cold;
        if !(user_cold || item_cold) {
            warm_positions.push(k);
        }
    }
    let report = ColdStartReport {
        users: cold_users.iter().filter(|&&c| c).count(),
        items: cold_items.iter().filter(|&&c| c).count(),
        ratings: held_out.len() - warm_positions.len(),
        dropped: policy == ColdStart::Drop,
    };
    let kept = match policy {
        ColdStart::Drop if report.ratings > 0 => held_out.select(&warm_positions),
        _ => held_out,
    };
    (kept, report)
}

fn seen(index: &[u32], n: usize) -> Vec<bool> {
    let mut s = vec![false; n];
    for &i in index {
        s[i as usize] = true;
    }
    s
}

/// Ratings, distinct users and distinct items of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartCounts {
    /// Number of ratings.
    pub ratings: usize,
    /// Distinct users with at least one rating in the part.
    pub users: usize,
    /// Distinct items with at least one rating in the part.
    pub items: usize,
}

impl PartCounts {
    /// Counts the part.
    pub fn of(r: &Ratings) -> Self {
        let count = |index: &[u32], n| seen(index, n).into_iter().filter(|&s| s).count();
        PartCounts {
            ratings: r.len(),
            users: count(&r.users, r.n_users()),
            items: count(&r.items, r.n_items()),
        }
    }
}

/// What a split produced, for the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Users in the shared id space.
    pub users: usize,
    /// Items in the shared id space.
    pub items: usize,
    /// The training part.
    pub train: PartCounts,
    /// The test part.
    pub test: PartCounts,
    /// The validation part, if any.
    pub valid: Option<PartCounts>,
    /// Cold-start accounting of test.
    pub cold_start: ColdStartReport,
    /// Cold-start accounting of validation, if any.
    pub valid_cold_start: Option<ColdStartReport>,
}

impl SplitSummary {
    /// Summarises a split.
    pub fn of(split: &Split) -> Self {
        SplitSummary {
            users: split.train.n_users(),
            items: split.train.n_items(),
            train: PartCounts::of(&split.train),
            test: PartCounts::of(&split.test),
            valid: split.valid.as_ref().map(PartCounts::of),
            cold_start: split.cold,
            valid_cold_start: split.valid_cold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::write::write_folds;

    fn ratings(rows: &[(&str, &str, f32, i64)]) -> Ratings {
        let mut users = IdMap::new();
        let mut items = IdMap::new();
        let (u, i) = rows
            .iter()
            .map(|(u, i, _, _)| (users.intern(u), items.intern(i)))
            .unzip();
        Ratings {
            users: u,
            items: i,
            values: rows.iter().map(|r| r.2).collect(),
            timestamps: Some(rows.iter().map(|r| r.3).collect()),
            user_ids: Arc::new(users),
            item_ids: Arc::new(items),
        }
    }

    #[test]
    fn method_names_round_trip() {
        for name in [
            "random",
            "user",
            "time",
            "user-time",
            "kfold",
            "ml100k-u3",
            "none",
        ] {
            assert_eq!(name.parse::<SplitMethod>().unwrap().to_string(), name);
        }
        for bad in ["ml100k-u0", "ml100k-u6", "ml100k-", "Random", ""] {
            assert!(bad.parse::<SplitMethod>().is_err(), "{bad}");
        }
    }

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let c: SplitConfig =
            toml::from_str("method = \"user-time\"\ntest_fraction = 0.2\ncold_start = \"drop\"")
                .unwrap();
        assert_eq!(c.method, SplitMethod::UserTime);
        assert_eq!(c.cold_start, ColdStart::Drop);
        assert_eq!(c.seed, 1);
        assert!(toml::from_str::<SplitConfig>("method = \"ml100k-u9\"").is_err());
        assert!(toml::from_str::<SplitConfig>("tests_fraction = 0.2").is_err());
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = [
            SplitConfig {
                test_fraction: 0.0,
                ..Default::default()
            },
            SplitConfig {
                test_fraction: 1.0,
                ..Default::default()
            },
            SplitConfig {
                method: SplitMethod::Time,
                time_quantile: 1.5,
                ..Default::default()
            },
            SplitConfig {
                method: SplitMethod::KFold,
                folds: 1,
                ..Default::default()
            },
            SplitConfig {
                method: SplitMethod::KFold,
                folds: 3,
                fold: 4,
                ..Default::default()
            },
            SplitConfig {
                valid_fraction: Some(f64::NAN),
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn quantile_matches_pandas() {
        // Checked with pandas 3.1.1: pd.Series([1, 2, 3, 4]).quantile(0.5) == 2.5,
        // .quantile(0.98) == 3.94, pd.Series([10]).quantile(0.3) == 10.0.
        assert_eq!(pandas_quantile(&[4, 1, 3, 2], 0.5), Some(2.5));
        assert!((pandas_quantile(&[4, 1, 3, 2], 0.98).unwrap() - 3.94).abs() < 1e-12);
        assert_eq!(pandas_quantile(&[10], 0.3), Some(10.0));
        assert_eq!(pandas_quantile(&[], 0.3), None);
    }

    #[test]
    fn time_split_cuts_at_the_quantile() {
        // Timestamps 1..=10: (n−1)·0.75 = 6.75 → 7.75, so 1..=7 train, 8..=10 test.
        let rows: Vec<(String, String, f32, i64)> = (1..=10)
            .map(|t| (format!("u{}", t % 3), format!("i{t}"), 3.0, 11 - t))
            .collect();
        let rows: Vec<_> = rows
            .iter()
            .map(|(u, i, v, t)| (&u[..], &i[..], *v, *t))
            .collect();
        let cfg = SplitConfig {
            method: SplitMethod::Time,
            time_quantile: 0.75,
            ..Default::default()
        };
        let s = split(&Input::Whole(ratings(&rows)), &cfg).unwrap();
        assert_eq!(
            s.train.timestamps.as_deref(),
            Some(&[7, 6, 5, 4, 3, 2, 1][..])
        );
        assert_eq!(s.test.timestamps.as_deref(), Some(&[10, 9, 8][..]));
        // Every test item is new to train.
        assert_eq!((s.cold.items, s.cold.ratings, s.cold.users), (3, 3, 0));
    }

    #[test]
    fn user_time_holds_out_each_users_latest() {
        let r = ratings(&[
            ("a", "x", 1.0, 30),
            ("a", "y", 2.0, 10),
            ("a", "z", 3.0, 20),
            ("b", "x", 4.0, 5),
            ("b", "y", 5.0, 6),
            ("c", "x", 1.0, 1),
        ]);
        let cfg = SplitConfig {
            method: SplitMethod::UserTime,
            test_fraction: 0.34,
            ..Default::default()
        };
        let s = split(&Input::Whole(r), &cfg).unwrap();
        // a: round(3·0.34) = 1 → its latest (t = 30); b: round(0.68) = 1 → t = 6; c stays.
        assert_eq!(s.test.timestamps.as_deref(), Some(&[30, 6][..]));
        assert_eq!(s.train.len(), 4);
    }

    #[test]
    fn time_methods_need_timestamps() {
        let mut r = ratings(&[("a", "x", 1.0, 1), ("a", "y", 1.0, 2)]);
        r.timestamps = None;
        let cfg = SplitConfig {
            method: SplitMethod::Time,
            ..Default::default()
        };
        let err = split(&Input::Whole(r), &cfg).unwrap_err();
        assert!(err.to_string().contains("needs timestamps"), "{err}");
    }

    #[test]
    fn pre_split_files_share_one_id_space_and_count_cold_start() {
        let train = ratings(&[("a", "x", 1.0, 1), ("b", "y", 2.0, 2)]);
        let test = ratings(&[("c", "x", 3.0, 3), ("b", "x", 4.0, 4), ("b", "z", 5.0, 5)]);
        let input = Input::PreSplit { train, test };
        let keep = split(&input, &SplitConfig::default()).unwrap();
        assert_eq!(keep.train.user_ids.ids(), ["a", "b", "c"]);
        assert_eq!(keep.test.item_ids.ids(), ["x", "y", "z"]);
        assert!(Arc::ptr_eq(&keep.train.user_ids, &keep.test.user_ids));
        assert_eq!(keep.test.users, [2, 1, 1]);
        assert_eq!(keep.test.items, [0, 0, 2]);
        let expected = ColdStartReport {
            users: 1,
            items: 1,
            ratings: 2,
            dropped: false,
        };
        assert_eq!(keep.cold, expected);
        let cfg = SplitConfig {
            cold_start: ColdStart::Drop,
            ..Default::default()
        };
        let dropped = split(&input, &cfg).unwrap();
        assert_eq!(
            dropped.cold,
            ColdStartReport {
                dropped: true,
                ..expected
            }
        );
        assert_eq!(dropped.test.values, [4.0]);
    }

    #[test]
    fn ml100k_needs_the_whole_file() {
        let r = ratings(&[("a", "x", 1.0, 1)]);
        let cfg = SplitConfig {
            method: SplitMethod::Ml100k(1),
            ..Default::default()
        };
        assert!(split(&Input::Whole(r), &cfg).is_err());
    }

    #[test]
    fn sorts_numeric_ids_numerically() {
        let r = ratings(&[("10", "2", 1.0, 1), ("9", "10", 2.0, 2), ("9", "9", 3.0, 3)]);
        assert_eq!(sort_by_original_ids(&r).values, [3.0, 2.0, 1.0]);
    }

    #[test]
    fn folds_are_written_in_numbered_directories_and_summarised() {
        let rows: Vec<(String, String, f32, i64)> = (0..9)
            .map(|k| (format!("u{}", k % 3), format!("i{k}"), 2.0, k))
            .collect();
        let rows: Vec<_> = rows
            .iter()
            .map(|(u, i, v, t)| (&u[..], &i[..], *v, *t))
            .collect();
        let cfg = SplitConfig {
            method: SplitMethod::KFold,
            folds: 3,
            ..Default::default()
        };
        let folds = split_all(&Input::Whole(ratings(&rows)), &cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = write_folds(&folds, dir.path()).unwrap();
        assert_eq!(files[2].test, dir.path().join("fold_3").join("test.csv"));
        let lines = std::fs::read_to_string(&files[0].train)
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 1 + 6);
        let summary = SplitSummary::of(&folds[0]);
        assert_eq!((summary.users, summary.items), (3, 9));
        assert_eq!(
            summary.train,
            PartCounts {
                ratings: 6,
                users: 3,
                items: 6
            }
        );
        assert_eq!(summary.test.ratings, 3);
        // Every test item is unseen in train: 3 cold items, 3 cold ratings.
        assert_eq!(
            (summary.cold_start.items, summary.cold_start.ratings),
            (3, 3)
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["cold_start"]["ratings"], 3);
        assert!(json["valid"].is_null());
    }
}
