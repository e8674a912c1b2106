//! Top-N ranking measured the field's way: strong generalization (Liang et
//! al., "Variational Autoencoders for Collaborative Filtering", WWW 2018,
//! and Steck's EASE, WWW 2019, report on it).
//!
//! The users, not the ratings, are split: training users are fitted on in
//! full; each held-out user (validation or test) is a user the model never
//! saw, whose interactions are cut in two at random: 80 % are *fed in*
//! (folded in without retraining, [`TrainedModel::recommend_new`]) and the
//! other 20 % are *scored*: the model ranks every item the user was not fed
//! and the scored items are the relevant ones. As in the paper's
//! preprocessing, a held-out interaction with an item no training user has
//! is dropped (the model cannot know the item), and a held-out user with
//! fewer than five interactions is fed in whole and not scored.
//!
//! Metrics per user, then means with 95 % confidence intervals over users:
//! Recall@K with the paper's normalisation (hits / min(K, relevant), so a
//! perfect list scores 1 whatever the user's number of relevant items),
//! NDCG@K and average precision at K (from [`user_ranking`]); and of the
//! lists as a whole, catalogue coverage and popularity bias (how popular,
//! among training users, the listed items are, beside the same for the items
//! the users actually chose).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ranking::user_ranking;
use crate::data::{write, Ratings};
use crate::error::{Error, Result};
use crate::model::TrainedModel;

/// How to split users for strong generalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrongOptions {
    /// Share of the users held out for testing.
    pub test_users: f64,
    /// Share of the users held out for validation (0 for none).
    pub valid_users: f64,
    /// Share of each held-out user's interactions fed in; the rest is scored.
    pub fold_in: f64,
    /// Held-out users with fewer interactions than this are fed in whole
    /// and not scored (the paper: 5).
    pub min_interactions: usize,
    /// Seed of the user permutation and of each user's cut.
    pub seed: u64,
}

impl Default for StrongOptions {
    fn default() -> Self {
        StrongOptions {
            test_users: 0.1,
            valid_users: 0.1,
            fold_in: 0.8,
            min_interactions: 5,
            seed: 98765,
        }
    }
}

impl StrongOptions {
    /// Checks the shares.
    pub fn validate(&self) -> Result<()> {
        let share = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        if !(share(self.test_users) && self.test_users > 0.0 && share(self.valid_users)) {
            return Err(Error::config(format!(
                "held-out user shares must lie in [0, 1) with a test share above 0, not test {} \
                 and validation {}",
                self.test_users, self.valid_users
            )));
        }
        if self.test_users + self.valid_users >= 1.0 {
            return Err(Error::config(
                "the test and validation user shares leave no training user",
            ));
        }
        if !(share(self.fold_in) && self.fold_in > 0.0) {
            return Err(Error::config(format!(
                "the fed-in share of a held-out user must lie in (0, 1), not {}",
                self.fold_in
            )));
        }
        Ok(())
    }
}

/// The held-out users of one part: what is fed in and what is scored.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// Interactions fed in (the model's only knowledge of these users).
    pub fold_in: Ratings,
    /// Interactions to find: the relevant items.
    pub scored: Ratings,
}

impl HeldOut {
    /// Number of users with at least one scored interaction.
    pub fn scored_users(&self) -> usize {
        let mut users: Vec<u32> = self.scored.users.clone();
        users.sort_unstable();
        users.dedup();
        users.len()
    }
}

/// A strong-generalization split: training users, and held-out users for
/// validation and test, in one id space.
#[derive(Debug, Clone)]
pub struct StrongSplit {
    /// Every interaction of the training users.
    pub train: Ratings,
    /// Validation users (empty parts when no validation share was asked).
    pub valid: HeldOut,
    /// Test users.
    pub test: HeldOut,
    /// Held-out interactions dropped because no training user has the item.
    pub dropped_unseen_items: usize,
}

/// Splits `ratings` by user (see the module documentation). Users with no
/// interaction are in no part.
pub fn strong_split(ratings: &Ratings, opts: &StrongOptions) -> Result<StrongSplit> {
    opts.validate()?;
    let mut by_user: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (k, &u) in ratings.users.iter().enumerate() {
        by_user.entry(u).or_default().push(k);
    }
    let mut users: Vec<u32> = by_user.keys().copied().collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(opts.seed);
    users.shuffle(&mut rng);
    let n = users.len();
    let n_test = (opts.test_users * n as f64).round() as usize;
    let n_valid = (opts.valid_users * n as f64).round() as usize;
    if n_test == 0 || n_test + n_valid >= n {
        return Err(Error::config(format!(
            "{n} users cannot be split into {n_test} test, {n_valid} validation and at least one \
             training user"
        )));
    }
    let (test_users, rest) = users.split_at(n_test);
    let (valid_users, train_users) = rest.split_at(n_valid);
    let mut train_rows: Vec<usize> = train_users
        .iter()
        .flat_map(|u| by_user[u].iter().copied())
        .collect();
    train_rows.sort_unstable();
    let train = ratings.select(&train_rows);
    let mut item_seen = vec![false; ratings.n_items()];
    for &i in &train.items {
        item_seen[i as usize] = true;
    }
    let mut dropped = 0usize;
    let mut cut = |part: &[u32]| {
        let (mut fed, mut scored) = (Vec::new(), Vec::new());
        for u in part {
            let mut rows: Vec<usize> = by_user[u]
                .iter()
                .copied()
                .filter(|&k| item_seen[ratings.items[k] as usize])
                .collect();
            dropped += by_user[u].len() - rows.len();
            if rows.len() < opts.min_interactions.max(2) {
                fed.extend(rows);
                continue;
            }
            rows.shuffle(&mut rng);
            // The paper's count: int(0.2 · n) scored, the rest fed in
            // (the nudge keeps 1 − 0.8 = 0.19999… from flooring 2 to 1).
            let n_scored = ((1.0 - opts.fold_in) * rows.len() as f64 + 1e-9) as usize;
            let n_scored = n_scored.clamp(1, rows.len() - 1);
            scored.extend_from_slice(&rows[..n_scored]);
            fed.extend_from_slice(&rows[n_scored..]);
        }
        fed.sort_unstable();
        scored.sort_unstable();
        HeldOut {
            fold_in: ratings.select(&fed),
            scored: ratings.select(&scored),
        }
    };
    let valid = cut(valid_users);
    let test = cut(test_users);
    Ok(StrongSplit {
        train,
        valid,
        test,
        dropped_unseen_items: dropped,
    })
}

/// The files [`write_strong_split`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrongFiles {
    /// Every interaction of the training users.
    pub train: PathBuf,
    /// Validation users' fed-in interactions.
    pub valid_fold_in: PathBuf,
    /// Validation users' scored interactions.
    pub valid_scored: PathBuf,
    /// Test users' fed-in interactions.
    pub test_fold_in: PathBuf,
    /// Test users' scored interactions.
    pub test_scored: PathBuf,
}

/// Writes the five parts as CSV with original ids (`train.csv`,
/// `valid_fold_in.csv`, `valid_scored.csv`, `test_fold_in.csv`,
/// `test_scored.csv`) into `dir`, each atomically, so any other tool can be
/// measured on exactly the same split.
pub fn write_strong_split(split: &StrongSplit, dir: &Path) -> Result<StrongFiles> {
    std::fs::create_dir_all(dir).map_err(|e| Error::from(e).with_path(dir))?;
    let files = StrongFiles {
        train: dir.join("train.csv"),
        valid_fold_in: dir.join("valid_fold_in.csv"),
        valid_scored: dir.join("valid_scored.csv"),
        test_fold_in: dir.join("test_fold_in.csv"),
        test_scored: dir.join("test_scored.csv"),
    };
    write::write_csv(&files.train, &split.train)?;
    write::write_csv(&files.valid_fold_in, &split.valid.fold_in)?;
    write::write_csv(&files.valid_scored, &split.valid.scored)?;
    write::write_csv(&files.test_fold_in, &split.test.fold_in)?;
    write::write_csv(&files.test_scored, &split.test.scored)?;
    Ok(files)
}

/// One user's metrics at K.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UserTopN {
    /// Hits in the top K over min(K, relevant) (Liang et al. 2018).
    pub recall: f64,
    /// NDCG@K, the ideal list holding min(K, relevant) hits.
    pub ndcg: f64,
    /// Average precision at K over min(K, relevant).
    pub ap: f64,
}

/// Metrics of one ranked list (best first) against the sorted relevant
/// items, at `k`. An empty relevant set gives zeros.
pub fn user_top_n(ranked: &[u32], relevant: &[u32], k: usize) -> UserTopN {
    if relevant.is_empty() || k == 0 {
        return UserTopN::default();
    }
    let m = user_ranking(ranked, relevant, k);
    let hits = ranked
        .iter()
        .take(k)
        .filter(|i| relevant.binary_search(i).is_ok())
        .count();
    UserTopN {
        recall: hits as f64 / k.min(relevant.len()) as f64,
        ndcg: m.ndcg,
        ap: m.ap,
    }
}

/// A mean over users with its 95 % confidence interval (normal
/// approximation: mean ± 1.96 · standard deviation / √users).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The mean.
    pub mean: f64,
    /// Half the interval's width.
    pub half_width: f64,
}

impl Interval {
    /// Mean and interval of `values` (zeros when there are none).
    pub fn of(values: &[f64]) -> Interval {
        let n = values.len();
        if n == 0 {
            return Interval::default();
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Interval {
                mean,
                half_width: 0.0,
            };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Interval {
            mean,
            half_width: 1.96 * (var / n as f64).sqrt(),
        }
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.4} ± {:.4}", self.mean, self.half_width)
    }
}

/// The metrics at one K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    /// List length.
    pub k: usize,
    /// Recall@K (hits / min(K, relevant)).
    pub recall: Interval,
    /// NDCG@K.
    pub ndcg: Interval,
    /// MAP@K.
    pub map: Interval,
    /// Share of the catalogue in at least one user's top K.
    pub coverage: f64,
    /// Popularity bias: the mean, over users, of the mean share of training
    /// users who interacted with each listed item.
    pub list_popularity: f64,
}

/// Ranking quality of a model on held-out users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopNReport {
    /// Users scored.
    pub users: usize,
    /// The same popularity as [`AtK::list_popularity`] for the items the
    /// users actually chose: a list far above it leans on popular items.
    pub relevant_popularity: f64,
    /// The metrics at each K asked for, in that order.
    pub at: Vec<AtK>,
}

impl TopNReport {
    /// The metrics at `k`, if it was asked for.
    pub fn at_k(&self, k: usize) -> Option<&AtK> {
        self.at.iter().find(|a| a.k == k)
    }
}

/// The paper's list lengths.
pub const FIELD_KS: [usize; 3] = [20, 50, 100];

/// Folds in each held-out user of `part` (in parallel), ranks every item
/// they were not fed, and measures the lists at each of `ks` against their
/// scored items. The model's id space must be the split's.
pub fn evaluate_held_out(model: &TrainedModel, part: &HeldOut, ks: &[usize]) -> Result<TopNReport> {
    if ks.is_empty() || ks.contains(&0) {
        return Err(Error::config("list lengths K must be at least 1"));
    }
    let n_items = model.n_items();
    if part.fold_in.n_items() != n_items || part.scored.n_items() != n_items {
        return Err(Error::config(format!(
            "the held-out users speak of {} items, the model knows {n_items}",
            part.scored.n_items()
        )));
    }
    let mut fed: BTreeMap<u32, Vec<(u32, f32)>> = BTreeMap::new();
    for ((&u, &i), &v) in part
        .fold_in
        .users
        .iter()
        .zip(&part.fold_in.items)
        .zip(&part.fold_in.values)
    {
        fed.entry(u).or_default().push((i, v));
    }
    let mut relevant: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&u, &i) in part.scored.users.iter().zip(&part.scored.items) {
        relevant.entry(u).or_default().push(i);
    }
    let max_k = *ks.iter().max().unwrap_or(&1);
    let jobs: Vec<(u32, Vec<u32>)> = relevant
        .into_iter()
        .map(|(u, mut items)| {
            items.sort_unstable();
            items.dedup();
            (u, items)
        })
        .collect();
    let empty = Vec::new();
    let lists: Vec<Vec<u32>> = jobs
        .par_iter()
        .map(|(u, _)| {
            let row = fed.get(u).unwrap_or(&empty);
            Ok(model
                .recommend_new(row, max_k)?
                .into_iter()
                .map(|(i, _)| i)
                .collect())
        })
        .collect::<Result<_>>()?;
    let train_users = model
        .train
        .indptr
        .windows(2)
        .filter(|w| w[1] > w[0])
        .count();
    let share = |i: u32| {
        model
            .fallback
            .item_counts
            .get(i as usize)
            .copied()
            .unwrap_or(0) as f64
            / train_users.max(1) as f64
    };
    let mean_share = |items: &[u32]| {
        if items.is_empty() {
            0.0
        } else {
            items.iter().map(|&i| share(i)).sum::<f64>() / items.len() as f64
        }
    };
    let users = jobs.len();
    let relevant_popularity =
        jobs.iter().map(|(_, rel)| mean_share(rel)).sum::<f64>() / users.max(1) as f64;
    let at = ks
        .iter()
        .map(|&k| {
            let per_user: Vec<UserTopN> = jobs
                .iter()
                .zip(&lists)
                .map(|((_, rel), list)| user_top_n(list, rel, k))
                .collect();
            let metric = |f: fn(&UserTopN) -> f64| {
                Interval::of(&per_user.iter().map(f).collect::<Vec<f64>>())
            };
            let mut shown = vec![false; n_items];
            for list in &lists {
                for &i in list.iter().take(k) {
                    shown[i as usize] = true;
                }
            }
            AtK {
                k,
                recall: metric(|m| m.recall),
                ndcg: metric(|m| m.ndcg),
                map: metric(|m| m.ap),
                coverage: shown.iter().filter(|&&s| s).count() as f64 / n_items.max(1) as f64,
                list_popularity: lists
                    .iter()
                    .map(|l| mean_share(&l[..k.min(l.len())]))
                    .sum::<f64>()
                    / users.max(1) as f64,
            }
        })
        .collect();
    Ok(TopNReport {
        users,
        relevant_popularity,
        at,
    })
}

/// One model's row of [`compare_strong`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedModel {
    /// The model's label.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Whether it is a ranking model (fitted on the positives) rather than
    /// a rating model (fitted on the ratings).
    pub ranks_only: bool,
    /// Its lists measured on the test users.
    pub report: TopNReport,
    /// Seconds to fit.
    pub fit_seconds: f64,
}

/// Ranking models and rating models side by side on one
/// strong-generalization split of `ratings`, whose values of at least
/// `threshold` are the positives.
///
/// The users are split on their positives. A ranking model
/// ([`ModelSpec::ranks_only`](crate::model::ModelSpec::ranks_only)) fits on
/// the training users' positives, as clicks of weight 1, and is fed each
/// test user's fed-in positives as clicks; a rating model fits on every
/// rating of the training users (low ones too: that is what it is built
/// for) and is fed the same fed-in positives with their ratings. Both are
/// asked for the same scored positives, so the only difference is what
/// each kind of model learns from. Rating models get no validation data;
/// ranking models get the validation users (they choose their epochs on
/// them where they train in epochs).
pub fn compare_strong(
    ratings: &Ratings,
    threshold: f32,
    models: &[super::NamedSpec],
    opts: &StrongOptions,
    ks: &[usize],
    fit: &crate::model::FitOptions,
) -> Result<(StrongSplit, Vec<ComparedModel>)> {
    use crate::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
    let rated = to_implicit(
        ratings,
        &ImplicitOptions {
            positives: Positives::AtLeast(threshold),
            weighting: Weighting::Value,
        },
    )?;
    if rated.is_empty() {
        return Err(Error::config(format!(
            "no rating is at least {threshold}: there is no positive to rank"
        )));
    }
    let split = strong_split(&rated, opts)?;
    let clicks = |r: &Ratings| {
        let mut c = r.clone();
        c.values.fill(1.0);
        c
    };
    let click_train = clicks(&split.train);
    let click_test = HeldOut {
        fold_in: clicks(&split.test.fold_in),
        scored: split.test.scored.clone(),
    };
    let mut click_valid = clicks(&split.valid.fold_in);
    click_valid
        .users
        .extend_from_slice(&split.valid.scored.users);
    click_valid
        .items
        .extend_from_slice(&split.valid.scored.items);
    click_valid
        .values
        .extend(std::iter::repeat_n(1.0, split.valid.scored.len()));
    click_valid.timestamps = None;
    let mut is_train_user = vec![false; ratings.n_users()];
    for &u in &split.train.users {
        is_train_user[u as usize] = true;
    }
    let train_rows: Vec<usize> = (0..ratings.len())
        .filter(|&k| is_train_user[ratings.users[k] as usize])
        .collect();
    let rating_train = ratings.select(&train_rows);
    let (lo, hi) = ratings.min_max().unwrap_or((0.0, 1.0));
    let rating_scale = crate::data::RatingScale::new(lo, hi.max(lo + 1.0))?;
    let click_scale = crate::data::RatingScale { min: 0.0, max: 1.0 };
    let mut rows = Vec::with_capacity(models.len());
    for m in models {
        let ranks_only = m.spec.ranks_only();
        let start = std::time::Instant::now();
        let model = if ranks_only {
            let valid = (!click_valid.is_empty()).then_some(&click_valid);
            TrainedModel::fit(&m.spec, &click_train, valid, None, click_scale, fit)
        } else {
            TrainedModel::fit(&m.spec, &rating_train, None, None, rating_scale, fit)
        }
        .map_err(|e| e.context(format!("fitting model {:?}", m.name)))?;
        let fit_seconds = start.elapsed().as_secs_f64();
        let part = if ranks_only { &click_test } else { &split.test };
        let report = evaluate_held_out(&model, part, ks)?;
        rows.push(ComparedModel {
            name: m.name.clone(),
            kind: m.spec.kind().to_string(),
            ranks_only,
            report,
            fit_seconds,
        });
    }
    Ok((split, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IdMap;
    use std::sync::Arc;

    #[test]
    fn recall_ndcg_and_ap_of_hand_computed_lists() {
        // Relevant {2, 5, 9}; list 5, 1, 2, 7, 8. At K = 2: one hit of
        // min(2, 3) = 2 → recall 0.5; DCG 1, IDCG 1 + 1/log2 3; AP = (1/1)/2.
        let m = user_top_n(&[5, 1, 2, 7, 8], &[2, 5, 9], 2);
        let idcg2 = 1.0 + 1.0 / 3f64.log2();
        assert!((m.recall - 0.5).abs() < 1e-12);
        assert!((m.ndcg - 1.0 / idcg2).abs() < 1e-12);
        assert!((m.ap - 0.5).abs() < 1e-12);
        // At K = 5: hits at ranks 1 and 3 of min(5, 3) = 3 relevant.
        // DCG = 1 + 1/log2 4 = 1.5; IDCG = 1 + 1/log2 3 + 1/2.
        // AP = (1/1 + 2/3) / 3.
        let m = user_top_n(&[5, 1, 2, 7, 8], &[2, 5, 9], 5);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.ndcg - 1.5 / (idcg2 + 0.5)).abs() < 1e-12);
        assert!((m.ap - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // The paper's normalisation: 20 relevant, K = 5, all five hit → 1,
        // where hits / relevant would give 0.25.
        let rel: Vec<u32> = (0..20).collect();
        assert_eq!(user_top_n(&[0, 1, 2, 3, 4], &rel, 5).recall, 1.0);
        assert_eq!(user_top_n(&[0, 1], &[], 5), UserTopN::default());
    }

    #[test]
    fn intervals_by_hand() {
        // Mean 2, sample variance 1, n = 3: half width 1.96 · √(1/3).
        let i = Interval::of(&[1.0, 2.0, 3.0]);
        assert!((i.mean - 2.0).abs() < 1e-12);
        assert!((i.half_width - 1.96 * (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(Interval::of(&[0.5]).half_width, 0.0);
        assert_eq!(Interval::of(&[]), Interval::default());
        assert_eq!(i.to_string(), "2.0000 ± 1.1316");
    }

    fn clicks(n_users: u32, per_user: u32, n_items: u32) -> Ratings {
        let (mut users, mut items) = (Vec::new(), Vec::new());
        for u in 0..n_users {
            for k in 0..per_user {
                users.push(u);
                items.push((u * 7 + k * 3) % n_items);
            }
        }
        let mut pairs: Vec<(u32, u32)> = users.into_iter().zip(items).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let ids = |n: u32, p: &str| {
            Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
        };
        Ratings {
            users: pairs.iter().map(|p| p.0).collect(),
            items: pairs.iter().map(|p| p.1).collect(),
            values: vec![1.0; pairs.len()],
            timestamps: None,
            user_ids: ids(n_users, "u"),
            item_ids: ids(n_items, "i"),
        }
    }

    #[test]
    fn the_split_holds_users_out_whole_and_cuts_them_eighty_twenty() {
        let r = clicks(100, 10, 50);
        let opts = StrongOptions {
            test_users: 0.2,
            valid_users: 0.1,
            ..StrongOptions::default()
        };
        let s = strong_split(&r, &opts).unwrap();
        let users_of = |p: &Ratings| {
            let mut u = p.users.clone();
            u.sort_unstable();
            u.dedup();
            u
        };
        let (tr, va, te) = (
            users_of(&s.train),
            users_of(&s.valid.fold_in),
            users_of(&s.test.fold_in),
        );
        assert_eq!((tr.len(), va.len(), te.len()), (70, 10, 20));
        assert!(tr.iter().all(|u| !va.contains(u) && !te.contains(u)));
        assert!(va.iter().all(|u| !te.contains(u)));
        assert_eq!(users_of(&s.test.scored), te);
        // Ten interactions each: 2 scored, 8 fed in, nothing lost.
        assert_eq!(s.test.scored.len(), 40);
        assert_eq!(s.test.fold_in.len(), 160);
        assert_eq!(
            s.train.len()
                + s.valid.fold_in.len()
                + s.valid.scored.len()
                + s.test.fold_in.len()
                + s.test.scored.len()
                + s.dropped_unseen_items,
            r.len()
        );
        assert_eq!(s.test.scored_users(), 20);
        // Seeded: the same seed, the same split; another seed, another one.
        let again = strong_split(&r, &opts).unwrap();
        assert_eq!(again.test.scored.items, s.test.scored.items);
        let other = strong_split(&r, &StrongOptions { seed: 1, ..opts }).unwrap();
        assert_ne!(other.test.scored.users, s.test.scored.users);
        // Written to disk, read back the same.
        let dir = tempfile::tempdir().unwrap();
        let files = write_strong_split(&s, dir.path()).unwrap();
        let text = std::fs::read_to_string(&files.test_scored).unwrap();
        assert_eq!(text.lines().count(), 1 + 40);
        assert!(text.starts_with("user,item,rating\n"));
    }

    #[test]
    fn held_out_items_no_training_user_has_are_dropped_and_small_users_fed_whole() {
        // Item 9 belongs to user 0 alone; user 1 has 3 interactions.
        let ids = |n: u32, p: &str| {
            Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
        };
        let mut cells: Vec<(u32, u32)> = (0..6).map(|i| (0, i)).collect();
        cells.push((0, 9));
        cells.extend((0..3).map(|i| (1, i)));
        for u in 2..10 {
            cells.extend((0..8).map(|i| (u, i)));
        }
        let r = Ratings {
            users: cells.iter().map(|c| c.0).collect(),
            items: cells.iter().map(|c| c.1).collect(),
            values: vec![1.0; cells.len()],
            timestamps: None,
            user_ids: ids(10, "u"),
            item_ids: ids(10, "i"),
        };
        for seed in 0..20 {
            let opts = StrongOptions {
                test_users: 0.2,
                valid_users: 0.0,
                seed,
                ..StrongOptions::default()
            };
            let s = strong_split(&r, &opts).unwrap();
            if s.test.fold_in.users.contains(&0) {
                assert_eq!(s.dropped_unseen_items, 1);
                assert!(!s.test.fold_in.items.contains(&9) && !s.test.scored.items.contains(&9));
            }
            if s.test.fold_in.users.contains(&1) {
                assert!(!s.test.scored.users.contains(&1));
            }
        }
        assert!(strong_split(
            &r,
            &StrongOptions {
                test_users: 0.0,
                ..StrongOptions::default()
            }
        )
        .is_err());
        assert!(strong_split(
            &r,
            &StrongOptions {
                test_users: 0.6,
                valid_users: 0.4,
                ..StrongOptions::default()
            }
        )
        .is_err());
    }
}
