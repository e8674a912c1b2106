//! Property tests of every split: parts are disjoint and together are the
//! input (as a multiset), the same seed gives the same split, per-user
//! stratification and time order hold, k-fold folds partition the input,
//! and cold-start dropping removes exactly the counted ratings.

mod row_tables;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aerec::data::split::{
    split, split_all, ColdStart, Input, Split, SplitConfig, SplitMethod, ValidMethod,
};
use proptest::prelude::*;
use row_tables::{ratings, rows, Row};

/// Up to 80 ratings of up to 12 users × 12 items, no repeated pair, in
/// arbitrary order, timestamps with ties.
fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((0u8..12, 0u8..12, 1u8..=10, 0i64..40), 0..80).prop_map(|raw| {
        let mut seen = HashSet::new();
        raw.into_iter()
            .filter(|&(u, i, _, _)| seen.insert((u, i)))
            .map(|(u, i, v, t)| (format!("u{u}"), format!("i{i}"), v as f32 / 2.0, t))
            .collect()
    })
}

fn arb_method() -> impl Strategy<Value = SplitMethod> {
    prop_oneof![
        Just(SplitMethod::Random),
        Just(SplitMethod::User),
        Just(SplitMethod::Time),
        Just(SplitMethod::UserTime),
        Just(SplitMethod::KFold),
        Just(SplitMethod::None),
    ]
}

fn arb_config() -> impl Strategy<Value = SplitConfig> {
    (
        arb_method(),
        0.05f64..0.95,
        0.05f64..0.95,
        2usize..6,
        any::<u64>(),
        prop::option::of(0.05f64..0.9),
        prop_oneof![Just(ValidMethod::Random), Just(ValidMethod::User)],
    )
        .prop_map(
            |(method, test_fraction, time_quantile, folds, seed, valid_fraction, valid_method)| {
                SplitConfig {
                    method,
                    test_fraction,
                    time_quantile,
                    folds,
                    fold: (seed % folds as u64) as usize + 1,
                    valid_fraction,
                    valid_method,
                    seed,
                    cold_start: ColdStart::Keep,
                }
            },
        )
}

fn sorted(mut rows: Vec<Row>) -> Vec<(String, String, u32, i64)> {
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows.into_iter()
        .map(|r| (r.0, r.1, r.2.to_bits(), r.3))
        .collect()
}

fn all_rows(s: &Split) -> Vec<Row> {
    let mut all = rows(&s.train);
    all.extend(rows(&s.test));
    if let Some(v) = &s.valid {
        all.extend(rows(v));
    }
    all
}

fn per_user_counts(rows: &[Row]) -> HashMap<String, usize> {
    let mut c = HashMap::new();
    for r in rows {
        *c.entry(r.0.clone()).or_insert(0) += 1;
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parts_are_disjoint_and_cover_the_input(input in arb_rows(), config in arb_config()) {
        let s = split(&Input::Whole(ratings(&input)), &config).unwrap();
        // Pairs are unique in the input, so equal sorted multisets mean
        // disjoint parts whose union is the input.
        prop_assert_eq!(sorted(all_rows(&s)), sorted(input));
        prop_assert!(Arc::ptr_eq(&s.train.user_ids, &s.test.user_ids));
        prop_assert!(Arc::ptr_eq(&s.train.item_ids, &s.test.item_ids));
        if let Some(v) = &s.valid {
            prop_assert!(Arc::ptr_eq(&s.train.user_ids, &v.user_ids));
        }
    }

    #[test]
    fn same_seed_same_split(input in arb_rows(), config in arb_config()) {
        let whole = Input::Whole(ratings(&input));
        let (a, b) = (split(&whole, &config).unwrap(), split(&whole, &config).unwrap());
        prop_assert_eq!(all_rows(&a), all_rows(&b));
        prop_assert_eq!(rows(&a.test), rows(&b.test));
    }

    #[test]
    fn per_user_holdouts_are_stratified(input in arb_rows(), f in 0.05f64..0.95, seed: u64, by_time: bool) {
        let method = if by_time { SplitMethod::UserTime } else { SplitMethod::User };
        let config = SplitConfig { method, test_fraction: f, seed, ..Default::default() };
        let s = split(&Input::Whole(ratings(&input)), &config).unwrap();
        let (train, test) = (per_user_counts(&rows(&s.train)), per_user_counts(&rows(&s.test)));
        for (user, n) in per_user_counts(&input) {
            let (tr, te) = (train.get(&user).copied().unwrap_or(0), test.get(&user).copied().unwrap_or(0));
            if n == 1 {
                prop_assert_eq!((tr, te), (1, 0));
            } else {
                prop_assert!(tr >= 1 && te >= 1, "user {} with {} ratings: {} train, {} test", user, n, tr, te);
                let expected = ((n as f64 * f).round() as usize).clamp(1, n - 1);
                prop_assert_eq!(te, expected);
            }
        }
        prop_assert_eq!(s.cold.users, 0);
        if by_time {
            for user in test.keys() {
                let latest_train = rows(&s.train).iter().filter(|r| &r.0 == user).map(|r| r.3).max();
                let earliest_test = rows(&s.test).iter().filter(|r| &r.0 == user).map(|r| r.3).min();
                prop_assert!(latest_train <= earliest_test);
            }
        }
    }

    #[test]
    fn time_split_puts_later_ratings_in_test(input in arb_rows(), q in 0.05f64..0.95) {
        let config = SplitConfig { method: SplitMethod::Time, time_quantile: q, ..Default::default() };
        let s = split(&Input::Whole(ratings(&input)), &config).unwrap();
        let latest_train = rows(&s.train).iter().map(|r| r.3).max();
        let earliest_test = rows(&s.test).iter().map(|r| r.3).min();
        if let (Some(a), Some(b)) = (latest_train, earliest_test) {
            prop_assert!(a < b);
        }
        // At least ⌈q·n⌉-ish ratings stay in train: the cut is at or above the
        // ⌊(n−1)q⌋-th order statistic.
        if !input.is_empty() {
            prop_assert!(s.train.len() > ((input.len() - 1) as f64 * q).floor() as usize);
        }
    }

    #[test]
    fn kfold_test_parts_partition_the_input(input in arb_rows(), k in 2usize..7, seed: u64) {
        let config = SplitConfig { method: SplitMethod::KFold, folds: k, seed, ..Default::default() };
        let folds = split_all(&Input::Whole(ratings(&input)), &config).unwrap();
        prop_assert_eq!(folds.len(), k);
        let mut tests = Vec::new();
        for (f, s) in folds.iter().enumerate() {
            prop_assert_eq!(sorted(all_rows(s)), sorted(input.clone()));
            // Fold sizes differ by at most one.
            prop_assert!(s.test.len().abs_diff(input.len() / k) <= 1);
            let one = split(&Input::Whole(ratings(&input)), &SplitConfig { fold: f + 1, ..config }).unwrap();
            prop_assert_eq!(rows(&one.test), rows(&s.test));
            tests.extend(rows(&s.test));
        }
        prop_assert_eq!(sorted(tests), sorted(input));
    }

    #[test]
    fn dropping_cold_start_removes_exactly_the_counted(input in arb_rows(), config in arb_config()) {
        let whole = Input::Whole(ratings(&input));
        let kept = split(&whole, &config).unwrap();
        let dropped = split(&whole, &SplitConfig { cold_start: ColdStart::Drop, ..config }).unwrap();
        let train = rows(&kept.train);
        let users: HashSet<_> = train.iter().map(|r| r.0.clone()).collect();
        let items: HashSet<_> = train.iter().map(|r| r.1.clone()).collect();
        let warm = |r: &Row| users.contains(&r.0) && items.contains(&r.1);
        let test = rows(&kept.test);
        let cold: Vec<_> = test.iter().filter(|r| !warm(r)).collect();
        prop_assert_eq!(kept.cold.ratings, cold.len());
        prop_assert_eq!(kept.cold.users, cold.iter().filter(|r| !users.contains(&r.0)).map(|r| &r.0).collect::<HashSet<_>>().len());
        prop_assert_eq!(kept.cold.items, cold.iter().filter(|r| !items.contains(&r.1)).map(|r| &r.1).collect::<HashSet<_>>().len());
        prop_assert_eq!(rows(&dropped.test), test.iter().filter(|r| warm(r)).cloned().collect::<Vec<_>>());
        prop_assert_eq!(rows(&dropped.train), train);
        prop_assert_eq!(dropped.cold.ratings, kept.cold.ratings);
    }

    #[test]
    fn pre_split_pairs_align_without_losing_ratings(train in arb_rows(), test in arb_rows()) {
        let input = Input::PreSplit { train: ratings(&train), test: ratings(&test) };
        // The method is ignored for a pre-split pair.
        let config = SplitConfig { method: SplitMethod::Time, ..Default::default() };
        let s = split(&input, &config).unwrap();
        prop_assert_eq!(rows(&s.train), train.clone());
        prop_assert_eq!(rows(&s.test), test);
        // Train's ids keep their indices; test-only ids come after.
        let train_users = ratings(&train).user_ids;
        prop_assert_eq!(&s.train.user_ids.ids()[..train_users.len()], train_users.ids());
    }
}

#[test]
fn validation_leaves_test_unchanged() {
    let input: Vec<Row> = (0..200)
        .map(|k| (format!("u{}", k % 13), format!("i{k}"), 3.0, k as i64))
        .collect();
    let whole = Input::Whole(ratings(&input));
    let plain = SplitConfig {
        method: SplitMethod::User,
        ..Default::default()
    };
    let with_valid = SplitConfig {
        valid_fraction: Some(0.2),
        valid_method: ValidMethod::User,
        ..plain
    };
    let (a, b) = (
        split(&whole, &plain).unwrap(),
        split(&whole, &with_valid).unwrap(),
    );
    assert_eq!(rows(&a.test), rows(&b.test));
    let valid = b.valid.unwrap();
    // 13 users with 15 or 16 training ratings each: round(0.2·c) = 3 each.
    assert_eq!(valid.len(), 39);
    assert_eq!(b.train.len() + valid.len(), a.train.len());
}

#[test]
fn different_seeds_give_different_splits() {
    let input: Vec<Row> = (0..500)
        .map(|k| (format!("u{}", k % 7), format!("i{k}"), 4.0, 0))
        .collect();
    let whole = Input::Whole(ratings(&input));
    let a = split(
        &whole,
        &SplitConfig {
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let b = split(
        &whole,
        &SplitConfig {
            seed: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((a.test.len(), b.test.len()), (50, 50));
    assert_ne!(rows(&a.test), rows(&b.test));
}
