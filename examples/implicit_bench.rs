//! Ranking on implicit feedback the field's way: ratings ≥ 4 as positives,
//! strong generalization (20 % of users held out for test, 10 % for
//! validation; 80 % of each held-out user's positives fed in, 20 % scored),
//! one split per seed written to disk so the reference implementations in
//! `bench/implicit_ref.py` score the very same users and items.
//!
//! ```text
//! cargo run --release --example implicit_bench -- FILE OUT_DIR SEED...
//! ```
//!
//! For each seed: `OUT_DIR/seed-S/` gets the five split files and
//! `items.csv` (the catalogue in index order); then popularity, item-kNN,
//! EASE (λ chosen on the validation users from a grid), Mult-VAE /
//! Mult-DAE and CDAE (epochs chosen on validation NDCG@100) are fitted on the
//! training users and measured on the test users. One JSON line per (seed,
//! model) on stdout: Recall@20/50, NDCG@100, MAP@100, coverage, popularity
//! and seconds.
//!
//! ```text
//! cargo run --release --example implicit_bench -- speed ITEMS USERS PER_USER BATCHES
//! ```
//!
//! times one Mult-VAE epoch over `BATCHES` batches of 500 users of a random
//! click matrix of that shape (each user `PER_USER` distinct items), the
//! same work `bench/implicit_ref.py speed` times for PyTorch.

use std::path::PathBuf;
use std::time::Instant;

use aerec::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
use aerec::data::read::{read_ratings, ReadOptions};
use aerec::data::{RatingScale, Ratings};
use aerec::eval::protocol::{
    evaluate_held_out, strong_split, write_strong_split, HeldOut, StrongOptions, FIELD_KS,
};
use aerec::model::{FitControl, FitOptions, ModelSpec, TrainedModel};
use serde_json::{json, Value};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("speed") {
        return speed(&args[1..]);
    }
    if args.len() < 3 {
        anyhow::bail!("usage: implicit_bench FILE OUT_DIR SEED...");
    }
    let (file, out_dir) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let seeds: Vec<u64> = args[2..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let read = read_ratings(&file, &ReadOptions::new())?.ratings;
    let positives = to_implicit(
        &read,
        &ImplicitOptions {
            positives: Positives::AtLeast(4.0),
            weighting: Weighting::Binary,
        },
    )?;
    let only = std::env::var("MODELS").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|m| m.split(',').any(|x| x == name))
    };
    for seed in seeds {
        let opts = StrongOptions {
            test_users: 0.2,
            valid_users: 0.1,
            seed,
            ..StrongOptions::default()
        };
        let split = strong_split(&positives, &opts)?;
        let dir = out_dir.join(format!("seed-{seed}"));
        write_strong_split(&split, &dir)?;
        let catalogue = split.train.item_ids.ids().join("\n");
        std::fs::write(dir.join("items.csv"), format!("item\n{catalogue}\n"))?;
        let valid_all = concat(&split.valid);
        let fit = |settings: &Value, valid: Option<&Ratings>| -> anyhow::Result<TrainedModel> {
            let spec = ModelSpec::from_json(settings)?;
            let fit_opts = FitOptions {
                seed,
                progress: false,
                ..FitOptions::default()
            };
            Ok(TrainedModel::fit(
                &spec,
                &split.train,
                valid,
                None,
                RatingScale::new(0.0, 1.0)?,
                &fit_opts,
            )?)
        };
        let run = |name: &str, settings: Value, valid: Option<&Ratings>| -> anyhow::Result<()> {
            if !wanted(name) {
                return Ok(());
            }
            let start = Instant::now();
            let model = fit(&settings, valid)?;
            let seconds = start.elapsed().as_secs_f64();
            let report = evaluate_held_out(&model, &split.test, &FIELD_KS)?;
            let (k20, k50, k100) = (
                report.at_k(20).unwrap(),
                report.at_k(50).unwrap(),
                report.at_k(100).unwrap(),
            );
            println!(
                "{}",
                json!({
                    "seed": seed, "model": name, "settings": settings,
                    "users": report.users,
                    "recall20": k20.recall.mean, "recall20_ci": k20.recall.half_width,
                    "recall50": k50.recall.mean, "recall50_ci": k50.recall.half_width,
                    "ndcg100": k100.ndcg.mean, "ndcg100_ci": k100.ndcg.half_width,
                    "map100": k100.map.mean,
                    "coverage100": k100.coverage,
                    "popularity20": k20.list_popularity,
                    "relevant_popularity": report.relevant_popularity,
                    "best_epoch": model.report.best_epoch,
                    "seconds": seconds,
                })
            );
            Ok(())
        };
        run("popularity", json!({ "model": "popularity" }), None)?;
        run(
            "item-knn",
            json!({ "model": "item-knn", "neighbors": 100 }),
            None,
        )?;
        if wanted("ease") {
            // λ on the validation users, NDCG@100.
            let mut best = (f64::NEG_INFINITY, 0.0);
            for lambda in [50.0, 100.0, 200.0, 500.0, 1000.0] {
                let model = fit(&json!({ "model": "ease", "lambda": lambda }), None)?;
                let r = evaluate_held_out(&model, &split.valid, &[100])?;
                let ndcg = r.at_k(100).unwrap().ndcg.mean;
                if ndcg > best.0 {
                    best = (ndcg, lambda);
                }
            }
            run("ease", json!({ "model": "ease", "lambda": best.1 }), None)?;
        }
        run("mult-vae", json!({ "model": "mult-vae" }), Some(&valid_all))?;
        run("mult-dae", json!({ "model": "mult-dae" }), Some(&valid_all))?;
        run("cdae", json!({ "model": "cdae" }), Some(&valid_all))?;
    }
    Ok(())
}

/// A held-out part's fed-in and scored interactions together: the
/// validation users as a model's fit sees them (it cuts them itself).
fn concat(part: &HeldOut) -> Ratings {
    let mut all = part.fold_in.clone();
    all.users.extend_from_slice(&part.scored.users);
    all.items.extend_from_slice(&part.scored.items);
    all.values.extend_from_slice(&part.scored.values);
    all.timestamps = None;
    all
}

/// One Mult-VAE epoch on a random click matrix (see the module docs).
fn speed(args: &[String]) -> anyhow::Result<()> {
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let [items, users, per_user, batches] = args else {
        anyhow::bail!("usage: implicit_bench speed ITEMS USERS PER_USER BATCHES");
    };
    let (items, users, per_user, batches): (usize, usize, usize, usize) = (
        items.parse()?,
        users.parse()?,
        per_user.parse()?,
        batches.parse()?,
    );
    let rows = (batches * 500).min(users);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let (mut u, mut i) = (Vec::new(), Vec::new());
    for user in 0..rows {
        for item in sample(&mut rng, items, per_user) {
            u.push(user as u32);
            i.push(item as u32);
        }
    }
    let ids = |n: usize, p: &str| -> anyhow::Result<std::sync::Arc<aerec::data::IdMap>> {
        Ok(std::sync::Arc::new(aerec::data::IdMap::from_ids(
            (0..n).map(|k| format!("{p}{k}")).collect(),
        )?))
    };
    let train = Ratings {
        values: vec![1.0; u.len()],
        users: u,
        items: i,
        timestamps: None,
        user_ids: ids(rows, "u")?,
        item_ids: ids(items, "i")?,
    };
    let spec = ModelSpec::from_json(&json!({ "model": "mult-vae", "epochs": 1 }))?;
    // The epoch's own seconds, as the reference times its batches: not the
    // weights' initialisation nor building the training matrix.
    let epoch_seconds = std::sync::Arc::new(std::sync::Mutex::new(f64::NAN));
    let seen = epoch_seconds.clone();
    let control = FitControl::new().with_observer(std::sync::Arc::new(move |stats, _| {
        *seen.lock().unwrap() = stats.seconds;
    }));
    TrainedModel::fit(
        &spec,
        &train,
        None,
        None,
        RatingScale::new(0.0, 1.0)?,
        &FitOptions {
            control,
            ..FitOptions::default()
        },
    )?;
    let seconds = *epoch_seconds.lock().unwrap();
    let batches = rows.div_ceil(500);
    println!(
        "{}",
        json!({ "model": "aerec-mult-vae", "items": items, "batches": batches,
                "seconds": seconds, "seconds_per_batch": seconds / batches as f64,
                "threads": rayon::current_num_threads() })
    );
    Ok(())
}
