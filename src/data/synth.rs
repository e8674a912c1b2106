//! Synthetic rating sets shaped like real catalogues (Amazon Beauty,
//! MovieLens 1M/20M, Netflix Prize), for speed and scale tests where the
//! real data cannot be downloaded.
//!
//! What is matched: the exact numbers of users, items and ratings; the
//! minimum and (approximately) the maximum ratings per user and per item,
//! with power-law activity and popularity in between; the rating
//! histogram of the real set; the id style (Amazon `A…` user ids and
//! 10-character product ids with significant leading zeros, integers
//! otherwise); the time range. No (user, item) pair repeats.
//!
//! How: user degrees above the minimum follow `(rank+1)^-α − (n+1)^-α`,
//! α chosen by bisection so that the most active user has the real set's
//! maximum (the least active has the minimum); item popularity the same. Each item first gets its minimum number of ratings from a
//! "coverage" sequence dealt to users in proportion to their degree; the
//! rest of each user's items are drawn by popularity without replacement.
//! A rating is an ordinal probit on a low-rank model: `s = b_u + b_i +
//! p_u·q_i + ε` (unit variance) cut at the normal quantiles of the real
//! histogram's cumulative shares, so the skew is the real one and the
//! structure is learnable.
//!
//! Users are generated in fixed chunks, each with its own seeded random
//! streams, in parallel: the output depends on the seed only, never on the
//! thread count, and [`write_csv`] streams chunk by chunk in bounded memory.
//!
//! ```
//! use aerec::data::synth::{generate, SynthConfig};
//! let ratings = generate(&SynthConfig::custom(50, 40, 600, 7))?;
//! assert_eq!((ratings.len(), ratings.n_users(), ratings.n_items()), (600, 50, 40));
//! # Ok::<(), aerec::Error>(())
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{IdMap, Ratings};
use crate::error::{Error, Result};

/// The catalogue a synthetic set imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Amazon Beauty after dropping users and items with a single rating:
    /// 321,367 users × 133,212 items, 1,069,875 ratings, 1–5 stars, mean ≈ 4.2.
    Beauty,
    /// MovieLens 1M: 6,040 × 3,706, 1,000,209 ratings, 1–5 stars.
    Ml1m,
    /// MovieLens 20M: 138,493 × 26,744, 20,000,263 ratings, 0.5–5 half stars.
    Ml20m,
    /// Netflix Prize: 480,189 × 17,770, 100,480,507 ratings, 1–5 stars.
    Netflix,
    /// Sizes given by the caller; MovieLens 1M's histogram and time range.
    Custom,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// The catalogue imitated (histogram, id style, activity extremes).
    pub shape: Shape,
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of ratings.
    pub ratings: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl SynthConfig {
    /// A named shape at its real size (`Shape::Custom` gets 1,000 × 500 × 20,000).
    pub fn shape(shape: Shape, seed: u64) -> Self {
        let (users, items, ratings) = match shape {
            Shape::Beauty => (321_367, 133_212, 1_069_875),
            Shape::Ml1m => (6_040, 3_706, 1_000_209),
            Shape::Ml20m => (138_493, 26_744, 20_000_263),
            Shape::Netflix => (480_189, 17_770, 100_480_507),
            Shape::Custom => (1_000, 500, 20_000),
        };
        SynthConfig {
            shape,
            users,
            items,
            ratings,
            seed,
        }
    }

    /// A custom size with MovieLens 1M's histogram.
    pub fn custom(users: usize, items: usize, ratings: usize, seed: u64) -> Self {
        SynthConfig {
            shape: Shape::Custom,
            users,
            items,
            ratings,
            seed,
        }
    }

    /// Checks that the sizes can be met: every user and item can get its
    /// minimum, no user needs more items than exist, indices fit in `u32`.
    pub fn validate(&self) -> Result<()> {
        let p = self.profile();
        let (u, i, r) = (self.users as u128, self.items as u128, self.ratings as u128);
        let fail = |why: String| {
            Err(Error::config(format!(
                "synthetic set of {} users × {} items with {} ratings: {why}",
                self.users, self.items, self.ratings
            )))
        };
        if u == 0 || i == 0 || u > u32::MAX as u128 || i > u32::MAX as u128 {
            return fail("users and items must number between 1 and 2^32−1".into());
        }
        if r < u * p.user_min as u128 || r < i * p.item_min as u128 {
            return fail(format!(
                "too few ratings to give each user {} and each item {}",
                p.user_min, p.item_min
            ));
        }
        if self.shape == Shape::Custom && 2 * r > u * i {
            return fail(
                "more than half the matrix filled; this generator is for sparse sets".into(),
            );
        }
        let user_cap = p.user_max.min(self.items.min(u32::MAX as usize) as u32);
        if r > u * user_cap as u128 {
            return fail(format!(
                "more than {user_cap} ratings per user would be needed"
            ));
        }
        Ok(())
    }

    fn profile(&self) -> Profile {
        let ml1m_levels = &[
            (1.0, 0.0562),
            (2.0, 0.1075),
            (3.0, 0.2611),
            (4.0, 0.3489),
            (5.0, 0.2263),
        ];
        match self.shape {
            // Amazon Beauty star shares (approximate), mean 4.21; activity
            // extremes from the seed notebook's value_counts (389, 7533).
            Shape::Beauty => Profile {
                user_min: 2,
                user_max: 389,
                item_min: 2,
                item_max: 7_533,
                levels: &[
                    (1.0, 0.068),
                    (2.0, 0.054),
                    (3.0, 0.085),
                    (4.0, 0.190),
                    (5.0, 0.603),
                ],
                amazon_ids: true,
                time: (946_684_800, 1_406_073_600),
            },
            // MovieLens 1M: every user has ≥ 20 ratings; shares from its histogram.
            Shape::Ml1m => Profile {
                user_min: 20,
                user_max: 2_314,
                item_min: 1,
                item_max: 3_428,
                levels: ml1m_levels,
                amazon_ids: false,
                time: (956_703_932, 1_046_454_590),
            },
            // MovieLens 20M: the shares are its rating counts / 20,000,263.
            Shape::Ml20m => Profile {
                user_min: 20,
                user_max: 9_254,
                item_min: 1,
                item_max: 67_310,
                levels: &[
                    (0.5, 0.011956),
                    (1.0, 0.034036),
                    (1.5, 0.013962),
                    (2.0, 0.071549),
                    (2.5, 0.044169),
                    (3.0, 0.214557),
                    (3.5, 0.110007),
                    (4.0, 0.278093),
                    (4.5, 0.076740),
                    (5.0, 0.144931),
                ],
                amazon_ids: false,
                time: (789_652_009, 1_427_784_002),
            },
            // Netflix Prize training set: mean ≈ 3.60, every movie has ≥ 3 ratings.
            Shape::Netflix => Profile {
                user_min: 1,
                user_max: 17_653,
                item_min: 3,
                item_max: 232_944,
                levels: &[
                    (1.0, 0.046),
                    (2.0, 0.101),
                    (3.0, 0.287),
                    (4.0, 0.336),
                    (5.0, 0.230),
                ],
                amazon_ids: false,
                time: (942_278_400, 1_135_987_200),
            },
            Shape::Custom => {
                let per_user = self.ratings.div_ceil(self.users.max(1)) as u64;
                let per_item = self.ratings.div_ceil(self.items.max(1)) as u64;
                Profile {
                    user_min: 1,
                    user_max: (20 * per_user).min(self.items as u64).min(u32::MAX as u64) as u32,
                    item_min: 1,
                    item_max: (20 * per_item).min(self.users as u64).min(u32::MAX as u64) as u32,
                    levels: ml1m_levels,
                    amazon_ids: false,
                    time: (956_703_932, 1_046_454_590),
                }
            }
        }
    }
}

/// The statistics a shape imitates.
struct Profile {
    user_min: u32,
    user_max: u32,
    item_min: u32,
    item_max: u32,
    /// (rating value, share of ratings), ascending values.
    levels: &'static [(f32, f64)],
    amazon_ids: bool,
    /// Unix seconds: first and last rating.
    time: (i64, i64),
}

/// Users per chunk: the unit of parallel work and of random streams.
const CHUNK_USERS: usize = 1024;
/// Rank of the latent model.
const RANK: usize = 8;
/// Variances of the score's parts (they sum to 1, so `s` is about standard
/// normal and the probit cuts reproduce the histogram).
const VAR_USER_BIAS: f64 = 0.3;
const VAR_ITEM_BIAS: f64 = 0.2;
const VAR_INTERACTION: f64 = 0.3;
const VAR_NOISE: f64 = 0.2;

/// Everything shared by the chunks, built once from the seed.
struct Plan {
    profile: Profile,
    seed: u64,
    n_items: usize,
    degree: Vec<u32>,
    /// User `u` takes coverage positions `cover_start[u]..cover_start[u+1]`.
    cover_start: Vec<u64>,
    /// Position `p` of the coverage sequence is item `cover_order[p % items]`.
    cover_order: Vec<u32>,
    popularity: Vec<f64>,
    alias: Alias,
    item_bias: Vec<f32>,
    item_factors: Vec<f32>,
    /// Ascending score cut points between rating levels.
    cuts: Vec<f32>,
}

impl Plan {
    fn new(config: &SynthConfig) -> Result<Plan> {
        config.validate()?;
        let profile = config.profile();
        let mut rng = SmallRng::seed_from_u64(stream_seed(config.seed, u64::MAX, 0));
        let n_users = config.users;
        let n_items = config.items;
        let user_cap = profile.user_max.min(n_items as u32);
        let mut degree =
            power_law_degrees(n_users, config.ratings as u64, profile.user_min, user_cap);
        degree.shuffle(&mut rng);
        let mut item_degree = power_law_degrees(
            n_items,
            config.ratings as u64,
            profile.item_min,
            profile.item_max.min(n_users as u32),
        );
        item_degree.shuffle(&mut rng);
        let cover_start = coverage_quotas(&degree, profile.item_min as u64 * n_items as u64);
        let mut cover_order: Vec<u32> = (0..n_items as u32).collect();
        cover_order.shuffle(&mut rng);
        // The half keeps every item drawable (an item at its minimum still
        // has a little weight), so a heavy user can always fill its quota.
        let popularity: Vec<f64> = item_degree
            .iter()
            .map(|&d| (d - profile.item_min) as f64 + 0.5)
            .collect();
        let alias = Alias::new(&popularity);
        let factor_sd = factor_sd();
        let item_bias = (0..n_items)
            .map(|_| normal(&mut rng) * VAR_ITEM_BIAS.sqrt() as f32)
            .collect();
        let item_factors = (0..n_items * RANK)
            .map(|_| normal(&mut rng) * factor_sd)
            .collect();
        let mut cumulative = 0.0;
        let total: f64 = profile.levels.iter().map(|l| l.1).sum();
        let cuts = profile.levels[..profile.levels.len() - 1]
            .iter()
            .map(|&(_, share)| {
                cumulative += share / total;
                normal_quantile(cumulative) as f32
            })
            .collect();
        Ok(Plan {
            profile,
            seed: config.seed,
            n_items,
            degree,
            cover_start,
            cover_order,
            popularity,
            alias,
            item_bias,
            item_factors,
            cuts,
        })
    }

    fn n_chunks(&self) -> usize {
        self.degree.len().div_ceil(CHUNK_USERS)
    }

    /// Generates the users of chunk `c` in order, calling `emit(user, item,
    /// level, timestamp)` for each rating.
    fn chunk(&self, c: usize, mut emit: impl FnMut(u32, u32, u8, i64)) {
        let mut rng = SmallRng::seed_from_u64(stream_seed(self.seed, c as u64, 1));
        let mut mark = vec![0u32; self.n_items];
        let mut items: Vec<u32> = Vec::new();
        let mut keys: Vec<(f64, u32)> = Vec::new();
        let (t0, t1) = self.profile.time;
        let users = c * CHUNK_USERS..((c + 1) * CHUNK_USERS).min(self.degree.len());
        for (stamp, u) in (1u32..).zip(users) {
            items.clear();
            for p in self.cover_start[u]..self.cover_start[u + 1] {
                let i = self.cover_order[(p % self.n_items as u64) as usize];
                mark[i as usize] = stamp;
                items.push(i);
            }
            let need = self.degree[u] as usize - items.len();
            if need * 8 <= self.n_items - items.len() {
                while items.len() < self.degree[u] as usize {
                    let i = self.alias.sample(&mut rng);
                    if mark[i as usize] != stamp {
                        mark[i as usize] = stamp;
                        items.push(i);
                    }
                }
            } else {
                self.draw_by_keys(need, stamp, &mark, &mut keys, &mut items, &mut rng);
            }
            let bias = normal(&mut rng) * VAR_USER_BIAS.sqrt() as f32;
            let factors: [f32; RANK] = std::array::from_fn(|_| normal(&mut rng) * factor_sd());
            let start = rng.random_range(t0..t1);
            let span = (t1 - start).min(rng.random_range(86_400..4 * 365 * 86_400));
            for &i in &items {
                let q = &self.item_factors[i as usize * RANK..][..RANK];
                let dot: f32 = factors.iter().zip(q).map(|(a, b)| a * b).sum();
                let noise = normal(&mut rng) * VAR_NOISE.sqrt() as f32;
                let score = bias + self.item_bias[i as usize] + dot + noise;
                let level = self.cuts.iter().filter(|&&cut| score > cut).count() as u8;
                emit(u as u32, i, level, start + rng.random_range(0..span));
            }
        }
    }

    /// Draws `need` unmarked items by popularity without replacement in one
    /// pass over the catalogue (Efraimidis–Spirakis keys `ln(U)/w`): for
    /// users who take a large share of the items, where rejection sampling
    /// would stall on the popular items already taken.
    fn draw_by_keys(
        &self,
        need: usize,
        stamp: u32,
        mark: &[u32],
        keys: &mut Vec<(f64, u32)>,
        items: &mut Vec<u32>,
        rng: &mut SmallRng,
    ) {
        keys.clear();
        for (i, &w) in self.popularity.iter().enumerate() {
            if mark[i] != stamp {
                let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                keys.push((u.ln() / w, i as u32));
            }
        }
        if need < keys.len() {
            keys.select_nth_unstable_by(need, |a, b| b.0.total_cmp(&a.0));
        }
        items.extend(keys[..need].iter().map(|k| k.1));
    }

    fn user_id(&self, u: u32, out: &mut Vec<u8>) {
        if self.profile.amazon_ids {
            out.push(b'A');
            push_base36(out, mix64(u as u64), 13);
        } else {
            push_u64(out, u as u64 + 1);
        }
    }

    fn item_ids(&self) -> Vec<String> {
        (0..self.n_items as u64)
            .map(|i| {
                if !self.profile.amazon_ids {
                    return (i + 1).to_string();
                }
                let mut out = Vec::with_capacity(10);
                if i % 3 == 0 {
                    // ISBN-like: 10 digits, leading zeros kept. The multiplier
                    // is coprime to 10, so distinct items get distinct ids.
                    let n = (i * 7_919 + 205_616_461) % 10_000_000_000;
                    out.extend(format!("{n:010}").bytes());
                } else {
                    // "B" + 9 base-36 characters; the multiplier is coprime to 36.
                    out.push(b'B');
                    push_base36(&mut out, (i * 1_000_003 + 3_600_000) % 36u64.pow(9), 9);
                }
                String::from_utf8(out).expect("ASCII")
            })
            .collect()
    }
}

/// Generates the whole set in memory (20 bytes a rating: 2 GB for the
/// Netflix shape; [`write_csv`] streams instead): ratings grouped by user,
/// user ids in index order, with timestamps. The same ratings as
/// [`write_csv`] writes for the same config.
pub fn generate(config: &SynthConfig) -> Result<Ratings> {
    let plan = Plan::new(config)?;
    let chunks: Vec<Coordinates> = (0..plan.n_chunks())
        .into_par_iter()
        .map(|c| {
            let mut part = Coordinates::default();
            plan.chunk(c, |u, i, level, t| {
                part.users.push(u);
                part.items.push(i);
                part.values.push(plan.profile.levels[level as usize].0);
                part.timestamps.push(t);
            });
            part
        })
        .collect();
    let mut all = Coordinates {
        users: Vec::with_capacity(config.ratings),
        items: Vec::with_capacity(config.ratings),
        values: Vec::with_capacity(config.ratings),
        timestamps: Vec::with_capacity(config.ratings),
    };
    for part in chunks {
        all.users.extend(part.users);
        all.items.extend(part.items);
        all.values.extend(part.values);
        all.timestamps.extend(part.timestamps);
    }
    let user_ids = (0..config.users as u32)
        .map(|u| {
            let mut out = Vec::new();
            plan.user_id(u, &mut out);
            String::from_utf8(out).expect("ASCII")
        })
        .collect();
    Ok(Ratings {
        users: all.users,
        items: all.items,
        values: all.values,
        timestamps: Some(all.timestamps),
        user_ids: Arc::new(IdMap::from_ids(user_ids)?),
        item_ids: Arc::new(IdMap::from_ids(plan.item_ids())?),
    })
}

/// Ratings of one chunk in coordinate form.
#[derive(Default)]
struct Coordinates {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    timestamps: Vec<i64>,
}

/// What [`write_csv`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthOutput {
    /// Users in the set.
    pub users: usize,
    /// Items in the set.
    pub items: usize,
    /// Ratings in the set.
    pub ratings: usize,
    /// Ratings written to `train.csv`.
    pub train_ratings: usize,
    /// Ratings written to `test.csv`.
    pub test_ratings: usize,
    /// Mean rating.
    pub mean: f64,
    /// Path of `train.csv`.
    pub train: PathBuf,
    /// Path of `test.csv`.
    pub test: PathBuf,
}

/// Generates the set and writes it as `train.csv` and `test.csv` in `dir`
/// (created if missing), header `user,item,rating,timestamp`; each rating
/// goes to test with probability `test_fraction` (its own seeded stream per
/// chunk). Streams: memory holds a few chunks per thread, not the set.
pub fn write_csv(config: &SynthConfig, dir: &Path, test_fraction: f64) -> Result<SynthOutput> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(Error::config(format!(
            "test fraction {test_fraction}: it must be at least 0 and below 1"
        )));
    }
    let plan = Plan::new(config)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::from(e).with_path(dir))?;
    let item_ids = plan.item_ids();
    let labels: Vec<String> = plan
        .profile
        .levels
        .iter()
        .map(|l| l.0.to_string())
        .collect();
    let open = |name: &str| -> Result<(PathBuf, BufWriter<File>)> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| Error::from(e).with_path(&path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(b"user,item,rating,timestamp\n")
            .map_err(|e| Error::from(e).with_path(&path))?;
        Ok((path, out))
    };
    let (train_path, mut train) = open("train.csv")?;
    let (test_path, mut test) = open("test.csv")?;
    // Generation (rayon, a window of chunks at a time) overlaps with writing
    // (one thread, chunks in order); the channel holds one window, so memory
    // stays at about three windows of text.
    let (windows, received) = std::sync::mpsc::sync_channel::<Vec<ChunkText>>(1);
    let (counts, sum) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> Result<([usize; 2], f64)> {
            let mut counts = [0usize; 2];
            let mut sum = 0.0f64;
            for texts in received {
                for t in texts {
                    train
                        .write_all(&t.train)
                        .map_err(|e| Error::from(e).with_path(&train_path))?;
                    test.write_all(&t.test)
                        .map_err(|e| Error::from(e).with_path(&test_path))?;
                    counts[0] += t.counts[0];
                    counts[1] += t.counts[1];
                    sum += t.sum;
                }
            }
            train
                .flush()
                .map_err(|e| Error::from(e).with_path(&train_path))?;
            test.flush()
                .map_err(|e| Error::from(e).with_path(&test_path))?;
            Ok((counts, sum))
        });
        let window = 4 * rayon::current_num_threads();
        for first in (0..plan.n_chunks()).step_by(window) {
            let last = (first + window).min(plan.n_chunks());
            let texts: Vec<ChunkText> = (first..last)
                .into_par_iter()
                .map(|c| chunk_text(&plan, c, &item_ids, &labels, test_fraction))
                .collect();
            if windows.send(texts).is_err() {
                break; // the writer stopped on an error, returned below
            }
        }
        drop(windows);
        writer.join().expect("the CSV writer thread does not panic")
    })?;
    Ok(SynthOutput {
        users: config.users,
        items: config.items,
        ratings: counts[0] + counts[1],
        train_ratings: counts[0],
        test_ratings: counts[1],
        mean: sum / (counts[0] + counts[1]) as f64,
        train: train_path,
        test: test_path,
    })
}

/// One chunk's CSV lines, train and test.
struct ChunkText {
    train: Vec<u8>,
    test: Vec<u8>,
    counts: [usize; 2],
    sum: f64,
}

fn chunk_text(
    plan: &Plan,
    c: usize,
    item_ids: &[String],
    labels: &[String],
    test_fraction: f64,
) -> ChunkText {
    let mut split_rng = SmallRng::seed_from_u64(stream_seed(plan.seed, c as u64, 2));
    // Reserving the whole chunk up front saves the copies of a growing buffer.
    const LINE_BYTES: f64 = 48.0;
    let users = c * CHUNK_USERS..((c + 1) * CHUNK_USERS).min(plan.degree.len());
    let n = plan.degree[users].iter().map(|&d| d as f64).sum::<f64>();
    let reserve = |share: f64| ((n * share + 64.0) * LINE_BYTES) as usize;
    let mut text = ChunkText {
        train: Vec::with_capacity(reserve(1.0 - test_fraction)),
        test: Vec::with_capacity(reserve(test_fraction)),
        counts: [0; 2],
        sum: 0.0,
    };
    let mut user_label = Vec::new();
    let mut last_user = u32::MAX;
    plan.chunk(c, |u, i, level, t| {
        if u != last_user {
            user_label.clear();
            plan.user_id(u, &mut user_label);
            last_user = u;
        }
        let is_test = split_rng.random::<f64>() < test_fraction;
        let out = if is_test {
            &mut text.test
        } else {
            &mut text.train
        };
        out.extend_from_slice(&user_label);
        out.push(b',');
        out.extend_from_slice(item_ids[i as usize].as_bytes());
        out.push(b',');
        out.extend_from_slice(labels[level as usize].as_bytes());
        out.push(b',');
        push_u64(out, t as u64);
        out.push(b'\n');
        text.counts[is_test as usize] += 1;
        text.sum += plan.profile.levels[level as usize].0 as f64;
    });
    text
}

/// Degrees of `n` ranked entities summing to `total`, each in `min..=max`:
/// `min` plus shares of the rest proportional to `(rank+1)^-α − (n+1)^-α`
/// (a power law lowered so that the least active entity sits at the
/// minimum, as in real catalogues where many users have only the minimum),
/// with α set by bisection so that the top one is about `max`. The caller
/// checks `n·min ≤ total`; `max` is raised to the mean if under it.
fn power_law_degrees(n: usize, total: u64, min: u32, max: u32) -> Vec<u32> {
    // Popularity targets may ask for less than the mean; the mean must fit.
    let max = max.max(total.div_ceil(n as u64) as u32);
    let extra = total as f64 - n as f64 * min as f64;
    let room = (max - min) as f64;
    let floor = |alpha: f64| (n as f64 + 1.0).powf(-alpha);
    let top_share =
        |alpha: f64| extra * (1.0 - floor(alpha)) / (power_sum(n, alpha) - n as f64 * floor(alpha));
    // At α = 0 every weight is 0; a small α is nearly flat (the water fill
    // below then caps what is over `max`).
    let (mut lo, mut hi) = (1e-3f64, 4.0f64);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if top_share(mid) < room {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let weights: Vec<f64> = (0..n)
        .map(|r| (r as f64 + 1.0).powf(-lo) - floor(lo))
        .collect();
    let shares = water_fill(&weights, extra, room);
    let mut degrees: Vec<u32> = shares.iter().map(|&s| min + s.floor() as u32).collect();
    let mut missing = total - degrees.iter().map(|&d| d as u64).sum::<u64>();
    // Floors lose less than one per entity; hand the rest out by rank.
    while missing > 0 {
        for d in degrees.iter_mut().filter(|d| **d < max) {
            if missing == 0 {
                break;
            }
            *d += 1;
            missing -= 1;
        }
    }
    degrees
}

/// `Σ_{r=1..=n} r^-α`: the first terms exactly, the tail by the midpoint
/// integral `∫_{m+½}^{n+½} x^-α dx` (relative error ~1e-9 past 4096 terms),
/// so the bisection above costs O(4096) an evaluation, not O(n).
fn power_sum(n: usize, alpha: f64) -> f64 {
    const EXACT: usize = 4096;
    let head: f64 = (1..=n.min(EXACT)).map(|r| (r as f64).powf(-alpha)).sum();
    if n <= EXACT {
        return head;
    }
    let (a, b) = (EXACT as f64 + 0.5, n as f64 + 0.5);
    let tail = if (alpha - 1.0).abs() < 1e-12 {
        (b / a).ln()
    } else {
        (b.powf(1.0 - alpha) - a.powf(1.0 - alpha)) / (1.0 - alpha)
    };
    head + tail
}

/// Shares of `amount` proportional to `weights`, none above `cap`: capped
/// entities give their excess to the others, in proportion, until none
/// exceeds the cap. Weights are non-increasing, so the capped ones are a prefix.
fn water_fill(weights: &[f64], amount: f64, cap: f64) -> Vec<f64> {
    let mut capped = 0;
    loop {
        let rest: f64 = weights[capped..].iter().sum();
        let left = amount - capped as f64 * cap;
        let scale = left / rest;
        let newly = weights[capped..]
            .iter()
            .take_while(|&&w| w * scale > cap)
            .count();
        if newly == 0 || capped + newly == weights.len() {
            let mut shares = vec![cap; capped];
            shares.extend(weights[capped..].iter().map(|&w| (w * scale).min(cap)));
            return shares;
        }
        capped += newly;
    }
}

/// Prefix sums of coverage quotas: `total` positions split across users in
/// proportion to their degree, never above it.
fn coverage_quotas(degree: &[u32], total: u64) -> Vec<u64> {
    let sum: u64 = degree.iter().map(|&d| d as u64).sum();
    let mut quota: Vec<u64> = degree
        .iter()
        .map(|&d| (total as u128 * d as u128 / sum as u128) as u64)
        .collect();
    let mut missing = total - quota.iter().sum::<u64>();
    for (q, &d) in quota.iter_mut().zip(degree) {
        if missing == 0 {
            break;
        }
        if *q < d as u64 {
            *q += 1;
            missing -= 1;
        }
    }
    let mut start = Vec::with_capacity(degree.len() + 1);
    start.push(0);
    for q in quota {
        start.push(start.last().expect("pushed above") + q);
    }
    start
}

/// Walker–Vose alias table: O(1) draws from a discrete distribution.
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Rounding leaves some entries a hair under 1: they keep themselves.
        for i in small.into_iter().chain(large) {
            prob[i] = 1.0;
        }
        Alias { prob, alias }
    }

    fn sample(&self, rng: &mut SmallRng) -> u32 {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

/// Standard deviation of each latent factor entry: a dot product of two
/// such vectors has variance `RANK · sd⁴ = VAR_INTERACTION`.
fn factor_sd() -> f32 {
    (VAR_INTERACTION / RANK as f64).sqrt().sqrt() as f32
}

fn normal(rng: &mut SmallRng) -> f32 {
    StandardNormal.sample(rng)
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error below 1.2e-9 on (0, 1)).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.02425;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The splitmix64 finaliser: a bijection on `u64` that scatters bits.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seed of random stream `stream` of chunk `chunk`.
fn stream_seed(seed: u64, chunk: u64, stream: u64) -> u64 {
    mix64(seed ^ mix64(chunk ^ mix64(stream)))
}

/// `n` as exactly `width` base-36 characters (0-9, A-Z), most significant first.
fn push_base36(out: &mut Vec<u8>, mut n: u64, width: usize) {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let start = out.len();
    out.resize(start + width, b'0');
    for k in (0..width).rev() {
        out[start + k] = DIGITS[(n % 36) as usize];
        n /= 36;
    }
}

/// Decimal digits of `n`, without going through `fmt`.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    loop {
        k -= 1;
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[k..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrees_meet_total_bounds_and_target_max() {
        let d = power_law_degrees(10_000, 300_000, 2, 3_000);
        assert_eq!(d.iter().map(|&x| x as u64).sum::<u64>(), 300_000);
        assert!(d.iter().all(|&x| (2..=3_000).contains(&x)));
        let top = *d.iter().max().unwrap();
        assert!(top > 2_500, "top degree {top}");
        assert!(d.windows(2).all(|w| w[0] >= w[1]), "non-increasing by rank");
        // Under-the-mean max: uniform.
        let flat = power_law_degrees(10, 50, 1, 5);
        assert_eq!(flat, vec![5; 10]);
    }

    #[test]
    fn coverage_quotas_sum_and_stay_under_degrees() {
        let degree = [1, 5, 3, 10, 1];
        let start = coverage_quotas(&degree, 12);
        assert_eq!(start.last(), Some(&12));
        for (u, &d) in degree.iter().enumerate() {
            assert!(start[u + 1] - start[u] <= d as u64);
        }
    }

    #[test]
    fn alias_draws_follow_weights() {
        let alias = Alias::new(&[1.0, 3.0, 0.0, 6.0]);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = [0usize; 4];
        for _ in 0..100_000 {
            counts[alias.sample(&mut rng) as usize] += 1;
        }
        // Expected 10k, 30k, 0, 60k; 5 standard deviations ≈ 800.
        assert_eq!(counts[2], 0);
        for (c, e) in counts.iter().zip([10_000, 30_000, 0, 60_000]) {
            assert!(c.abs_diff(e) < 800, "{counts:?}");
        }
    }

    #[test]
    fn normal_quantile_matches_tables() {
        // Standard normal table: Φ⁻¹(0.975) = 1.959964, Φ⁻¹(0.01) = −2.326348.
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.326_348).abs() < 1e-6);
        assert_eq!(normal_quantile(0.5), 0.0);
    }

    #[test]
    fn id_formats() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, 18_446_744_073_709_551_615);
        out.push(b' ');
        push_base36(&mut out, 36 * 36 + 35, 4);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 18446744073709551615 010Z"
        );
    }
}
