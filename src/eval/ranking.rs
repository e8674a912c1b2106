//! Ranking quality on held-out data: Precision@K, Recall@K, NDCG@K, MAP@K,
//! HitRate@K and catalogue coverage.
//!
//! Protocol: an item is *relevant* to a user when the user's test rating is at
//! least `threshold`. Each user's candidates are every item of the catalogue
//! the user did not rate in training ([`TrainedModel::recommend_index`]). Users
//! unknown in training and users with no relevant test item are skipped and
//! counted. Metrics are means over the evaluated users; coverage is the share
//! of the catalogue that appears in at least one user's top K.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

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

/// Settings of the ranking evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingOptions {
    /// List length K.
    pub k: usize,
    /// Smallest test rating that counts as relevant.
    pub threshold: f32,
}

impl Default for RankingOptions {
    fn default() -> Self {
        RankingOptions {
            k: 10,
            threshold: 4.0,
        }
    }
}

/// Ranking metrics averaged over users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// List length K.
    pub k: usize,
    /// Relevance threshold on test ratings.
    pub threshold: f32,
    /// Users whose metrics are averaged.
    pub users: usize,
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

/// Ranks the whole unseen catalogue for every test user (in parallel) and
/// averages the metrics.
pub fn ranking_metrics(
    model: &TrainedModel,
    test: &Ratings,
    opts: &RankingOptions,
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
    let mut jobs: Vec<(u32, Vec<u32>)> = Vec::with_capacity(test_users);
    for (u, mut items) in relevant {
        if !model.user_is_known(u) {
            skipped_unknown += 1;
        } else if items.is_empty() {
            skipped_no_relevant += 1;
        } else {
            items.sort_unstable();
            items.dedup();
            jobs.push((u, items));
        }
    }
    let per_user: Vec<(UserRanking, Vec<u32>)> = jobs
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
    let n = per_user.len().max(1) as f64;
    let mean = |f: fn(&UserRanking) -> f64| per_user.iter().map(|(m, _)| f(m)).sum::<f64>() / n;
    let mut shown = vec![false; model.n_items()];
    for (_, top) in &per_user {
        for &i in top {
            shown[i as usize] = true;
        }
    }
    let covered = shown.iter().filter(|&&s| s).count();
    Ok(RankingMetrics {
        k: opts.k,
        threshold: opts.threshold,
        users: per_user.len(),
        skipped_no_relevant,
        skipped_unknown,
        precision: mean(|m| m.precision),
        recall: mean(|m| m.recall),
        ndcg: mean(|m| m.ndcg),
        map: mean(|m| m.ap),
        hit_rate: mean(|m| m.hit),
        coverage: covered as f64 / model.n_items().max(1) as f64,
    })
}
