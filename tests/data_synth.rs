//! The synthetic generator: exact sizes, minimums per user and item, no
//! repeated pair, the target histogram, id styles, and output that depends
//! on the seed only (not on the thread count).

mod row_tables;

use std::collections::{HashMap, HashSet};

use aerec::data::synth::{generate, write_csv, Shape, SynthConfig};
use aerec::Ratings;

fn degrees(index: &[u32], n: usize) -> Vec<usize> {
    let mut d = vec![0; n];
    for &i in index {
        d[i as usize] += 1;
    }
    d
}

fn assert_no_repeated_pair(r: &Ratings) {
    let pairs: HashSet<(u32, u32)> = r
        .users
        .iter()
        .copied()
        .zip(r.items.iter().copied())
        .collect();
    assert_eq!(pairs.len(), r.len(), "a (user, item) pair repeats");
}

/// Share of each rating value.
fn histogram(r: &Ratings) -> HashMap<u32, f64> {
    let mut h = HashMap::new();
    for v in &r.values {
        *h.entry((v * 2.0) as u32).or_insert(0.0) += 1.0 / r.len() as f64;
    }
    h
}

#[test]
fn ml1m_shape_has_its_sizes_minimums_and_histogram() {
    let r = generate(&SynthConfig::shape(Shape::Ml1m, 5)).unwrap();
    // MovieLens 1M: 6,040 users, 3,706 items, 1,000,209 ratings, ≥ 20 per user.
    assert_eq!(
        (r.len(), r.n_users(), r.n_items()),
        (1_000_209, 6_040, 3_706)
    );
    assert_no_repeated_pair(&r);
    let users = degrees(&r.users, r.n_users());
    assert!(users.iter().all(|&d| d >= 20));
    // The most active MovieLens 1M user has 2,314 ratings: the target maximum.
    let top = *users.iter().max().unwrap();
    assert!((2_000..=2_314).contains(&top), "top user has {top}");
    assert!(degrees(&r.items, r.n_items()).iter().all(|&d| d >= 1));
    // MovieLens 1M star shares 5.6 %, 10.8 %, 26.1 %, 34.9 %, 22.6 % (mean 3.58).
    let h = histogram(&r);
    for (stars, share) in [
        (1, 0.0562),
        (2, 0.1075),
        (3, 0.2611),
        (4, 0.3489),
        (5, 0.2263),
    ] {
        let got = h[&(stars * 2)];
        assert!(
            (got - share).abs() < 0.02,
            "{stars} stars: {got:.4} vs {share}"
        );
    }
    // The mean moves with the sampled biases of the heaviest users (a user
    // with 2,000 ratings carries 0.2 % of them) and with the interaction
    // term's heavier-than-normal tails: a few hundredths either way.
    assert!(
        (r.mean().unwrap() - 3.58).abs() < 0.05,
        "mean {}",
        r.mean().unwrap()
    );
    // Many users sit near the minimum, as in MovieLens 1M (median 96).
    let mut sorted = users.clone();
    sorted.sort_unstable();
    assert_eq!(sorted[0], 20);
    assert!(
        (60..=140).contains(&sorted[sorted.len() / 2]),
        "median {}",
        sorted[sorted.len() / 2]
    );
    let (t0, t1) = (956_703_932, 1_046_454_590);
    assert!(r
        .timestamps
        .as_ref()
        .unwrap()
        .iter()
        .all(|t| (t0..t1).contains(t)));
}

#[test]
fn beauty_shape_has_amazon_ids_and_two_ratings_everywhere() {
    let r = generate(&SynthConfig::shape(Shape::Beauty, 1)).unwrap();
    assert_eq!(
        (r.len(), r.n_users(), r.n_items()),
        (1_069_875, 321_367, 133_212)
    );
    assert_no_repeated_pair(&r);
    assert!(degrees(&r.users, r.n_users()).iter().all(|&d| d >= 2));
    assert!(degrees(&r.items, r.n_items()).iter().all(|&d| d >= 2));
    // The seed notebook's Beauty set has mean ≈ 4.2, integer stars skewed to 5.
    assert!(
        (r.mean().unwrap() - 4.2).abs() < 0.05,
        "mean {}",
        r.mean().unwrap()
    );
    let h = histogram(&r);
    assert!(h[&10] > 0.55 && h[&2] > 0.04, "{h:?}");
    let user = r.user_ids.id(0);
    assert!(user.starts_with('A') && user.len() == 14, "{user}");
    assert!(r.item_ids.ids().iter().all(|id| id.len() == 10));
    assert!(
        r.item_ids.ids().iter().any(|id| id.starts_with('0')),
        "leading zeros occur"
    );
    assert!(r.item_ids.ids().iter().any(|id| id.starts_with('B')));
}

#[test]
fn output_depends_on_the_seed_not_the_threads() {
    let config = SynthConfig::custom(3_000, 700, 60_000, 11);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| generate(&config).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.users, two.users);
    assert_eq!(one.items, two.items);
    assert_eq!(one.values, two.values);
    assert_eq!(one.timestamps, two.timestamps);
    let other = generate(&SynthConfig { seed: 12, ..config }).unwrap();
    assert_ne!(one.items, other.items);
}

#[test]
fn custom_sizes_are_exact_and_infeasible_ones_refused() {
    let r = generate(&SynthConfig::custom(50, 40, 600, 3)).unwrap();
    assert_eq!((r.len(), r.n_users(), r.n_items()), (600, 50, 40));
    assert_no_repeated_pair(&r);
    assert_eq!(r.user_ids.id(0), "1");
    for bad in [
        SynthConfig::custom(100, 40, 99, 1),  // a user would get nothing
        SynthConfig::custom(10, 400, 300, 1), // an item would get nothing
        SynthConfig::custom(10, 10, 60, 1),   // more than half the matrix
        SynthConfig::custom(0, 10, 60, 1),
    ] {
        let err = generate(&bad).unwrap_err();
        assert!(err.to_string().contains("synthetic set of"), "{err}");
    }
}

#[test]
fn csv_files_hold_the_generated_ratings() {
    let config = SynthConfig::custom(200, 80, 3_000, 9);
    let dir = tempfile::tempdir().unwrap();
    let out = write_csv(&config, dir.path(), 0.25).unwrap();
    let r = generate(&config).unwrap();
    let mut from_files = Vec::new();
    for (path, expected) in [
        (&out.train, out.train_ratings),
        (&out.test, out.test_ratings),
    ] {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("user,item,rating,timestamp"));
        let rows: Vec<String> = lines.map(str::to_string).collect();
        assert_eq!(rows.len(), expected);
        from_files.extend(rows);
    }
    assert_eq!(out.ratings, 3_000);
    // 25 % of 3,000 is 750; a binomial standard deviation is about 24.
    assert!(out.test_ratings.abs_diff(750) < 120, "{}", out.test_ratings);
    let mut generated: Vec<String> = (0..r.len())
        .map(|k| {
            let ts = r.timestamps.as_ref().unwrap()[k];
            format!(
                "{},{},{},{ts}",
                r.user_ids.id(r.users[k]),
                r.item_ids.id(r.items[k]),
                r.values[k]
            )
        })
        .collect();
    generated.sort();
    from_files.sort();
    assert_eq!(from_files, generated);
    assert!((out.mean - r.mean().unwrap()).abs() < 1e-9);
}
