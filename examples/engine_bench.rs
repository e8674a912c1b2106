//! Epoch-time benchmark of the autoencoder engine on catalogue shapes.
//!
//! `cargo run --release --example engine_bench -- SHAPE [EPOCHS]` with SHAPE
//! one of `beauty` (Amazon Beauty: 321,367 × 133,212, 1,069,875 ratings,
//! 80 % trained; tutorial recipe), `ml100k` (the real u.data when present,
//! I-AutoRec 500 sigmoid, batch 256) or `ml20m` (138,493 × 26,744, 20M
//! ratings; DeepRecommender 512,512,1024 selu without re-feeding). Synthetic
//! shapes draw power-law users and items with the exact counts. Prints the
//! epoch times, the flop count and the achieved GFLOP/s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use aerec::data::{IdMap, Ratings};
use aerec::model::autoencoder::{AutoencoderConfig, Based};
use aerec::model::{FitData, FitOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Power-law ratings with exactly `nnz` distinct pairs, every user and item present.
fn power_law(n_users: usize, n_items: usize, nnz: usize, seed: u64) -> Ratings {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut seen: HashSet<u64> = HashSet::with_capacity(nnz * 2);
    let (mut us, mut is, mut vs) = (
        Vec::with_capacity(nnz),
        Vec::with_capacity(nnz),
        Vec::with_capacity(nnz),
    );
    let mut push = |u: usize, i: usize, rng: &mut SmallRng| -> usize {
        if seen.insert((u as u64) << 32 | i as u64) {
            us.push(u as u32);
            is.push(i as u32);
            vs.push(rng.random_range(1..=5) as f32);
        }
        us.len()
    };
    for k in 0..n_users.max(n_items) {
        let (u, i) = (k % n_users, (k * 7919) % n_items);
        push(u, i, &mut rng);
    }
    // Index = n·x^3 for uniform x: density ∝ index^(−2/3), a heavy head.
    let mut have = 0;
    while have < nnz {
        let u = (n_users as f64 * rng.random::<f64>().powi(3)) as usize;
        let i = (n_items as f64 * rng.random::<f64>().powi(3)) as usize;
        have = push(u.min(n_users - 1), i.min(n_items - 1), &mut rng);
    }
    let ids = |n: usize, p: &str| {
        Arc::new(IdMap::from_ids((0..n).map(|k| format!("{p}{k}")).collect()).unwrap())
    };
    Ratings {
        users: us,
        items: is,
        values: vs,
        timestamps: None,
        user_ids: ids(n_users, "u"),
        item_ids: ids(n_items, "i"),
    }
}

fn ml100k() -> Option<Ratings> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/ml-100k/u.data");
    let text = std::fs::read_to_string(path).ok()?;
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (mut us, mut is, mut vs) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        us.push(users.intern(f[0]));
        is.push(items.intern(f[1]));
        vs.push(f[2].parse().ok()?);
    }
    Some(Ratings {
        users: us,
        items: is,
        values: vs,
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    })
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat:
/// on a shared machine it measures the work, where wall time measures the queue.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after_name
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields 14 and 15 of the file (utime, stime), in 1/100 s; the state
    // letter (field 3) is not a number, so after the name they are at 10 and 11.
    f.get(10)
        .zip(f.get(11))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = args.get(1).map_or("beauty", |s| s.as_str());
    let epochs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let t0 = Instant::now();
    let (all, mut cfg) = match shape {
        "beauty" => (
            power_law(321_367, 133_212, 1_069_875, 1),
            AutoencoderConfig::preset("tutorial").unwrap(),
        ),
        "ml100k" => {
            let cfg = AutoencoderConfig {
                based: Based::Item,
                batch_size: 256,
                ..AutoencoderConfig::preset("autorec").unwrap()
            };
            (ml100k().expect("../shared/data/ml-100k/u.data"), cfg)
        }
        "ml20m" => {
            let cfg = AutoencoderConfig {
                refeed: 0,
                ..AutoencoderConfig::preset("deep").unwrap()
            };
            (power_law(138_493, 26_744, 20_000_263, 1), cfg)
        }
        other => panic!("unknown shape {other:?}: beauty, ml100k or ml20m"),
    };
    cfg.epochs = epochs;
    // 80/20 random split (as the tutorial); only the training part is timed.
    let mut rng = SmallRng::seed_from_u64(2);
    let keep: Vec<usize> = (0..all.len())
        .filter(|_| rng.random::<f64>() < 0.8)
        .collect();
    let train = all.select(&keep);
    eprintln!("{shape}: data ready in {:.1} s", t0.elapsed().as_secs_f64());
    let by_user = train.by_user();
    let data = FitData::new(
        &train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, &train).unwrap(),
    )
    .unwrap();
    let cpu0 = cpu_seconds();
    let (model, report) = cfg
        .fit(
            &data,
            &FitOptions {
                seed: 1,
                progress: false,
                ..FitOptions::default()
            },
        )
        .unwrap();
    let cpu_per_epoch = (cpu_seconds() - cpu0) / report.epochs as f64;
    let rows = if cfg.based == Based::User {
        train.n_users()
    } else {
        train.n_items()
    };
    let widths = cfg.hidden_widths();
    let dense: f64 = widths.windows(2).map(|w| (w[0] * w[1]) as f64).sum();
    let sparse_flops =
        10.0 * train.len() as f64 * (widths[0] + widths[widths.len() - 1]) as f64 / 2.0;
    let flops = sparse_flops + 6.0 * rows as f64 * dense;
    for e in &report.history {
        eprintln!(
            "epoch {}: {:.3} s, train rmse {:.4}, {:.2} GFLOP/s",
            e.epoch,
            e.seconds,
            e.train_rmse,
            flops / e.seconds / 1e9
        );
    }
    let mut secs: Vec<f64> = report.history.iter().map(|e| e.seconds).collect();
    secs.sort_by(f64::total_cmp);
    println!(
        "shape={shape} rows={rows} nnz_train={} params={} threads={} flops_per_epoch={:.3e} epoch_seconds_median={:.3} cpu_seconds_per_epoch={cpu_per_epoch:.3} notes={:?}",
        train.len(),
        aerec::Recommender::n_params(&model),
        rayon::current_num_threads(),
        flops,
        secs[secs.len() / 2],
        report.notes
    );
}
