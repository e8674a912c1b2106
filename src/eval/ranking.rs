//! Ranking quality on held-out data: Precision@K, Recall@K, NDCG@K, MAP@K,
//! HitRate@K and catalogue coverage.
//!
//! Protocol: an item is *relevant* to a user when the user's test rating is at
//! least `threshold`. Each user's candidates are every item of the catalogue
//! the user did not rate in training ([`TrainedModel::recommend_index`]). Users
//! unknown in training and users with no relevant test item are skipped and
//! counted. Metrics are means over the evaluated users; coverage is the share
//! of the catalogue that appears in at least one user's top K.
//!
//! Cost: ranking scores every item for every evaluated user, users × items
//! cells. On a large catalogue that dwarfs the fit (Amazon Beauty: 7 s of
//! training, ~290 s to rank 111k items for every test user), so by default
//! ([`RankUsers::Auto`]) a seeded sample of users is ranked when the full
//! pass would score more than [`AUTO_RANK_CELLS`] cells.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::collective::{share, Collective};
use crate::data::Ratings;
use crate::error::Result;
use crate::model::TrainedModel;

/// One user's ranking metrics at K.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRanking {
    /// Hits in the top K divided by K.
    pub precision: f64,
    /// Hits in the top K divided by the number of relevant items.
    pub recall: f64,
    /// DCG of the top K (gain 1 per hit, discount `1 / log2(rank + 1)`) over
    /// the DCG of an ideal list of `min(K, relevant)` hits.
    pub ndcg: f64,
    /// Average precision at K: the sum of Precision@rank at each hit's rank,
    /// divided by `min(K, relevant)`.
    pub ap: f64,
    /// 1 when the top K holds at least one relevant item.
    pub hit: f64,
}

/// Metrics of one ranked list (best first, truncated to `k`) against the
/// sorted set of relevant items. An empty relevant set gives all zeros.
pub fn user_ranking(ranked: &[u32], relevant: &[u32], k: usize) -> UserRanking {
    if relevant.is_empty() || k == 0 {
        return UserRanking::default();
    }
    let mut hits = 0usize;
    let mut dcg = 0f64;
    let mut precision_sum = 0f64;
    for (rank0, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / (rank0 as f64 + 2.0).log2();
            precision_sum += hits as f64 / (rank0 + 1) as f64;
        }
    }
    let ideal = k.min(relevant.len());
    let idcg: f64 = (0..ideal).map(|r| 1.0 / (r as f64 + 2.0).log2()).sum();
    UserRanking {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant.len() as f64,
        ndcg: dcg / idcg,
        ap: precision_sum / ideal as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
    }
}

/// Cells (users × items scored) the default ranking pass may score before
/// it samples users: 2²⁶, 564 users of a 119k-item catalogue. A cell costs
/// a dot product with the last hidden layer (700 multiply-adds for the
/// tutorial model) or its 4-bit scan plus rescoring: about 70–140 ns on
/// two busy cores, where one epoch of the tutorial model on the Beauty shape
/// (623k training ratings) takes 12–19 s, so 2²⁶ cells (5–10 s) stay under
/// even a one-epoch fit. Every set up to ML-1M's 6,040 × 3,706 (22M cells)
/// is ranked in full.
pub const AUTO_RANK_CELLS: u64 = 1 << 26;

/// Fewest users a default sample holds, whatever the catalogue: the
/// standard error of a mean NDCG over 500 users is about 0.01–0.015.
pub const MIN_SAMPLED_USERS: usize = 500;

/// Which test users the ranking metrics are computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankUsers {
    /// Every user when the pass scores at most [`AUTO_RANK_CELLS`] cells,
    /// else a seeded sample of `AUTO_RANK_CELLS / items` users (at least
    /// [`MIN_SAMPLED_USERS`]).
    #[default]
    Auto,
    /// Every eligible test user.
    All,
    /// A seeded sample of this many users (every user when there are fewer).
    Sample(usize),
}

impl RankUsers {
    /// How many of `eligible` users to rank on a catalogue of `items` items.
    pub fn count(&self, eligible: usize, items: usize) -> usize {
        match *self {
            RankUsers::All => eligible,
            RankUsers::Sample(n) => n.min(eligible),
            RankUsers::Auto => {
                let cells = eligible as u64 * items as u64;
                if cells <= AUTO_RANK_CELLS {
                    eligible
                } else {
                    let fit = (AUTO_RANK_CELLS / items.max(1) as u64) as usize;
                    fit.max(MIN_SAMPLED_USERS).min(eligible)
                }
            }
        }
    }
}

/// Settings of the ranking evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingOptions {
    /// List length K.
    pub k: usize,
    /// Smallest test rating that counts as relevant.
    pub threshold: f32,
    /// Which users are ranked.
    #[serde(default)]
    pub users: RankUsers,
    /// Seed of the user sample (the run's seed, so a run repeats).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

impl Default for RankingOptions {
    fn default() -> Self {
        RankingOptions {
            k: 10,
            threshold: 4.0,
            users: RankUsers::Auto,
            seed: default_seed(),
        }
    }
}

/// `n` of the users in `eligible`, drawn without replacement by `seed`, in
/// the order of `eligible` (so the means add up in the same order as a full
/// pass); all of them when `n >= eligible.len()`.
pub fn sample_users(eligible: &[u32], n: usize, seed: u64) -> Vec<u32> {
    if n >= eligible.len() {
        return eligible.to_vec();
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, eligible.len(), n).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|k| eligible[k]).collect()
}

/// Ranking metrics averaged over users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// List length K.
    pub k: usize,
    /// Relevance threshold on test ratings.
    pub threshold: f32,
    /// Users whose metrics are averaged (fewer than `eligible_users` when
    /// they are a sample).
    pub users: usize,
    /// Test users that could be ranked: known in training, with a relevant
    /// test item.
    #[serde(default)]
    pub eligible_users: usize,
    /// Test users skipped because none of their test ratings reaches the threshold.
    pub skipped_no_relevant: usize,
    /// Test users skipped because they had no training rating.
    pub skipped_unknown: usize,
    /// Mean Precision@K.
    pub precision: f64,
    /// Mean Recall@K.
    pub recall: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// MAP@K.
    pub map: f64,
    /// HitRate@K.
    pub hit_rate: f64,
    /// Share of the catalogue recommended to at least one evaluated user.
    pub coverage: f64,
}

/// Users ranked between two calls of the progress callback.
const PROGRESS_BLOCK: usize = 512;

/// Ranks the whole unseen catalogue for the test users `opts.users` selects
/// (in parallel) and averages the metrics.
pub fn ranking_metrics(
    model: &TrainedModel,
    test: &Ratings,
    opts: &RankingOptions,
) -> Result<RankingMetrics> {
    ranking_metrics_with_progress(model, test, opts, &mut |_, _| {})
}

/// [`ranking_metrics`], calling `progress(done, total)` with the number of
/// users ranked so far, from the calling thread, every few hundred users.
pub fn ranking_metrics_with_progress(
    model: &TrainedModel,
    test: &Ratings,
    opts: &RankingOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RankingMetrics> {
    ranking_metrics_over(
        model,
        test,
        opts,
        &crate::collective::Single::default(),
        progress,
    )
}

/// [`ranking_metrics_with_progress`] over a group: every rank picks the
/// same users (the sample is seeded), ranks its contiguous share of them
/// (`collective::share`), and the ranks sum the per-user metrics and their
/// count (one all-reduce of 48 bytes) and gather the items shown (one
/// all-gather of 4 bytes an item a rank showed) for the coverage. Every
/// rank gets the single process's metrics up to the order of the `f64`
/// sums; `progress` counts this rank's users.
pub fn ranking_metrics_over(
    model: &TrainedModel,
    test: &Ratings,
    opts: &RankingOptions,
    comm: &dyn Collective,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RankingMetrics> {
    let mut relevant: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for ((&u, &i), &r) in test.users.iter().zip(&test.items).zip(&test.values) {
        let list = relevant.entry(u).or_default();
        if r >= opts.threshold {
            list.push(i);
        }
    }
    let test_users = relevant.len();
    let mut skipped_unknown = 0usize;
    let mut skipped_no_relevant = 0usize;
    let mut eligible: Vec<u32> = Vec::with_capacity(test_users);
    for (&u, items) in &relevant {
        if !model.user_is_known(u) {
            skipped_unknown += 1;
        } else if items.is_empty() {
            skipped_no_relevant += 1;
        } else {
            eligible.push(u);
        }
    }
    let n = opts.users.count(eligible.len(), model.n_items());
    let chosen = sample_users(&eligible, n, opts.seed);
    let mine = share(chosen.len(), comm.rank(), comm.size());
    let jobs: Vec<(u32, Vec<u32>)> = chosen[mine]
        .iter()
        .map(|u| {
            let mut items = relevant.remove(u).unwrap_or_default();
            items.sort_unstable();
            items.dedup();
            (*u, items)
        })
        .collect();
    let mut per_user: Vec<(UserRanking, Vec<u32>)> = Vec::with_capacity(jobs.len());
    progress(0, jobs.len());
    for block in jobs.chunks(PROGRESS_BLOCK) {
        let ranked: Vec<(UserRanking, Vec<u32>)> = block
            .par_iter()
            .map(|(u, rel)| {
                let top: Vec<u32> = model
                    .recommend_index(*u, opts.k)?
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect();
                Ok((user_ranking(&top, rel, opts.k), top))
            })
            .collect::<Result<_>>()?;
        per_user.extend(ranked);
        progress(per_user.len(), jobs.len());
    }
    let sum = |f: fn(&UserRanking) -> f64| per_user.iter().map(|(m, _)| f(m)).sum::<f64>();
    let mut sums = [
        per_user.len() as f64,
        sum(|m| m.precision),
        sum(|m| m.recall),
        sum(|m| m.ndcg),
        sum(|m| m.ap),
        sum(|m| m.hit),
    ];
    let mut shown = vec![false; model.n_items()];
    for (_, top) in &per_user {
        for &i in top {
            shown[i as usize] = true;
        }
    }
    if comm.size() > 1 {
        comm.all_reduce_sum_f64(&mut sums)?;
        let mine: Vec<u32> = (0..shown.len() as u32)
            .filter(|&i| shown[i as usize])
            .collect();
        for i in comm.all_gather_u32(&mine)?.into_iter().flatten() {
            shown[i as usize] = true;
        }
    }
    let n = sums[0].max(1.0);
    let covered = shown.iter().filter(|&&s| s).count();
    Ok(RankingMetrics {
        k: opts.k,
        threshold: opts.threshold,
        users: sums[0] as usize,
        eligible_users: eligible.len(),
        skipped_no_relevant,
        skipped_unknown,
        precision: sums[1] / n,
        recall: sums[2] / n,
        ndcg: sums[3] / n,
        map: sums[4] / n,
        hit_rate: sums[5] / n,
        coverage: covered as f64 / model.n_items().max(1) as f64,
    })
}
