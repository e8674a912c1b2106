//! Accuracy experiments of the autoencoder engine (release mode):
//!
//! ```text
//! cargo run --release --example engine_accuracy -- tune DATASET CONFIG.toml...
//! cargo run --release --example engine_accuracy -- test DATASET CONFIG.toml
//! ```
//!
//! DATASET is `ml100k-u1` (the canonical u1 split built from u.data: u1.test
//! = lines 1..20000 in file order, u1.base = the rest) or `mlsmall` (ml-latest-
//! small, random 90/10 with seed 1). `tune` carves a 5 % validation split
//! (seed 7) out of the training part, trains each config with early stopping
//! on it, and prints the validation RMSE; the test part is not read. `test`
//! trains the one config the same way and reports test RMSE and MAE once,
//! clipped to the rating scale, with the bias fallback for test ratings whose
//! user or item has no training rating (as `TrainedModel::predict_ratings`).

use std::sync::Arc;

use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::model::autoencoder::AutoencoderConfig;
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

/// All ratings of a delimited file in file order, one id space.
fn read(path: &str, sep: char, header: bool) -> Ratings {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let (mut us, mut is, mut vs) = (Vec::new(), Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate().skip(header as usize) {
        let f: Vec<&str> = line.split(sep).collect();
        let bad = || panic!("{path}: line {}: {line:?}", n + 1);
        if f.len() < 3 {
            bad();
        }
        us.push(users.intern(f[0]));
        is.push(items.intern(f[1]));
        vs.push(f[2].trim().parse::<f32>().unwrap_or_else(|_| bad()));
    }
    Ratings {
        users: us,
        items: is,
        values: vs,
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    }
}

/// (train, test, scale) of a dataset.
fn dataset(name: &str) -> (Ratings, Ratings, RatingScale) {
    match name {
        "ml100k-u1" => {
            let all = read(&format!("{DATA}/ml-100k/u.data"), '\t', false);
            let test: Vec<usize> = (0..20_000).collect();
            let base: Vec<usize> = (20_000..all.len()).collect();
            (
                all.select(&base),
                all.select(&test),
                RatingScale::new(1.0, 5.0).unwrap(),
            )
        }
        "mlsmall" => {
            let all = read(&format!("{DATA}/ml-latest-small/ratings.csv"), ',', true);
            let mut idx: Vec<usize> = (0..all.len()).collect();
            idx.shuffle(&mut SmallRng::seed_from_u64(1));
            let cut = all.len() / 10;
            (
                all.select(&idx[cut..]),
                all.select(&idx[..cut]),
                RatingScale::new(0.5, 5.0).unwrap(),
            )
        }
        other => panic!("unknown dataset {other:?}: ml100k-u1 or mlsmall"),
    }
}

/// 5 % of `train` (seed 7) as validation, the rest to fit.
fn carve(train: &Ratings) -> (Ratings, Ratings) {
    let mut idx: Vec<usize> = (0..train.len()).collect();
    idx.shuffle(&mut SmallRng::seed_from_u64(7));
    let cut = train.len() / 20;
    (train.select(&idx[cut..]), train.select(&idx[..cut]))
}

fn rmse_mae(model: &TrainedModel, test: &Ratings, scale: RatingScale) -> (f64, f64, usize) {
    let preds = model.predict_ratings(test).expect("predictions");
    let (mut se, mut ae, mut cold) = (0.0, 0.0, 0);
    for (p, &y) in preds.iter().zip(&test.values) {
        let e = (scale.clip(p.value) - y) as f64;
        se += e * e;
        ae += e.abs();
        cold += p.fallback.is_some() as usize;
    }
    let n = test.len() as f64;
    ((se / n).sqrt(), ae / n, cold)
}

fn load(path: &str) -> AutoencoderConfig {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: engine_accuracy tune|test DATASET CONFIG.toml...");
        std::process::exit(2);
    }
    let (mode, name) = (&args[1], &args[2]);
    let (train, test, scale) = dataset(name);
    let (fit_part, valid) = carve(&train);
    for path in &args[3..] {
        let cfg = load(path);
        let spec = ModelSpec::new(cfg).unwrap();
        let opts = FitOptions {
            seed: 1,
            progress: false,
            ..FitOptions::default()
        };
        let model =
            TrainedModel::fit(&spec, &fit_part, Some(&valid), None, scale, &opts).expect("fit");
        let r = &model.report;
        let best = r.best_epoch.unwrap_or(r.epochs);
        let (vr, _, _) = rmse_mae(&model, &valid, scale);
        let secs: f64 = r.history.iter().map(|e| e.seconds).sum::<f64>() / r.history.len() as f64;
        if mode == "test" {
            let (tr, ta, cold) = rmse_mae(&model, &test, scale);
            println!(
                "{name} {path}: test_rmse={tr:.4} test_mae={ta:.4} valid_rmse={vr:.4} best_epoch={best} epochs={} epoch_s={secs:.3} cold_start_test={cold} notes={:?}",
                r.epochs, r.notes
            );
        } else {
            println!(
                "{name} {path}: valid_rmse={vr:.4} best_epoch={best} epochs={} epoch_s={secs:.3}",
                r.epochs
            );
        }
    }
}
