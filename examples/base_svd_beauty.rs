//! Times the rank-50 randomized truncated SVD on a matrix shaped like Amazon
//! Beauty (321,367 users × 133,212 items, 1,069,875 ratings), generated here
//! with skewed (power-law-like) user and item activity, for docs/baseline-speed-accuracy.md.
//!
//! `cargo run --release --example base_svd_beauty [-- POWER_ITERS]`

use std::sync::Arc;
use std::time::Instant;

use aerec::data::{IdMap, Ratings};
use aerec::model::baseline::{SvdConfig, SvdFill, SvdMethod};
use aerec::model::{FitData, FitOptions, Recommender};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const USERS: usize = 321_367;
const ITEMS: usize = 133_212;
const RATINGS: usize = 1_069_875;

fn main() -> anyhow::Result<()> {
    let power_iters: usize = std::env::args().nth(1).map_or(Ok(2), |s| s.parse())?;
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(7);
    // Squaring a uniform draw skews activity towards low indices, as real
    // catalogues are skewed; duplicates are dropped and redrawn.
    let mut pairs = std::collections::HashSet::with_capacity(RATINGS);
    while pairs.len() < RATINGS {
        let u = (rng.random::<f64>().powi(2) * USERS as f64) as u32;
        let i = (rng.random::<f64>().powi(2) * ITEMS as f64) as u32;
        pairs.insert((u, i));
    }
    let mut pairs: Vec<(u32, u32)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let users: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let items: Vec<u32> = pairs.iter().map(|p| p.1).collect();
    let values: Vec<f32> = (0..RATINGS)
        .map(|_| rng.random_range(1..=5) as f32)
        .collect();
    let ids = |n: usize| IdMap::from_ids((0..n).map(|k| k.to_string()).collect());
    let train = Ratings {
        users,
        items,
        values,
        timestamps: None,
        user_ids: Arc::new(ids(USERS)?),
        item_ids: Arc::new(ids(ITEMS)?),
    };
    let by_user = train.by_user();
    eprintln!("generated in {:.2} s", start.elapsed().as_secs_f64());
    let config = SvdConfig {
        factors: 50,
        fill: SvdFill::Mean,
        method: SvdMethod::Randomized,
        power_iters,
        ..SvdConfig::default()
    };
    let data = FitData::new(
        &train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, &train).unwrap(),
    )
    .unwrap();
    let t = Instant::now();
    let (model, _) = config.fit(&data, &FitOptions::default())?;
    let secs = t.elapsed().as_secs_f64();
    let s = model.singular_values();
    println!(
        "beauty-shaped {USERS}×{ITEMS}, {RATINGS} nnz: rank-50 randomized SVD \
         (oversample 10, power_iters {power_iters}) in {secs:.2} s; σ1 = {:.2}, σ50 = {:.2}, params {}",
        s[0],
        s[49],
        model.n_params()
    );
    Ok(())
}
