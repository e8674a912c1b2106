//! Serving benchmarks (run with `cargo bench --bench serve`; numbers go to
//! docs/serving-speed.md).
//!
//! 1. Top-10 for one user, in process, on a U-AutoRec of 100,000 items × 500
//!    sigmoid units with random (1-epoch) weights: p50 and p99 over random
//!    users of the served path (`Recommender::top_n`, the 4-bit serving copy
//!    plus exact rescoring), checked equal to the exact full scan, which is
//!    timed too (scoring, the model's GEMV, and selection, top-N).
//! 2. The ml-latest-small `autorec` model (I-AutoRec 500 sigmoid, the preset
//!    trained for `AEREC_BENCH_EPOCHS` epochs, default 20): trained once and
//!    saved to `target/serving-speed/ml-small-autorec.aerec` for the HTTP load
//!    test (`aerec serve` + wrk, see the doc), and its in-process latency.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use aerec::data::synth::{generate, SynthConfig};
use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::model::autoencoder::config::{AutoencoderConfig, Based, OptimizerKind};
use aerec::model::autoencoder::Autoencoder;
use aerec::model::{FitData, FitOptions, ModelSpec, SparseRow};
use aerec::{Recommender, TrainedModel};
use rand::{Rng, SeedableRng};

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "ml-small") {
        ml_small();
    }
    if only.as_deref().is_none_or(|o| o == "big") {
        big_user_autorec();
    }
}

/// Percentiles of `samples` (milliseconds), sorted in place.
fn summary(name: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        samples[samples.len() - 1]
    );
}

/// Times top-10 for `queries` random known users: first the served call,
/// back to back (as a service answers them, its data staying in cache),
/// then the exact full scan split into scoring and selection; asserts that
/// both gave the same answer.
fn time_top10(name: &str, model: &TrainedModel, queries: usize) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let users: Vec<u32> = (0..queries)
        .map(|_| rng.random_range(0..model.n_users() as u32))
        .filter(|&u| model.user_is_known(u))
        .collect();
    let mut whole = Vec::new();
    let mut served = Vec::new();
    for &u in &users {
        let t = Instant::now();
        let recs = model.recommend_index(u, 10).unwrap();
        whole.push(t.elapsed().as_secs_f64() * 1e3);
        served.push(recs);
    }
    let (mut scoring, mut selection) = (Vec::new(), Vec::new());
    for (&u, recs) in users.iter().zip(&served) {
        let t = Instant::now();
        let scores = model.score_user(u).unwrap();
        scoring.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let top = aerec::model::top_n(&scores, 10, model.train.row(u as usize).0);
        selection.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(
            &top, recs,
            "user {u}: served top-10 differs from the exact scan"
        );
    }
    summary(&format!("{name} top-10 (served path)"), &mut whole);
    summary(&format!("{name} exact scan: scoring only"), &mut scoring);
    summary(
        &format!("{name} exact scan: top-N selection only"),
        &mut selection,
    );
}

/// Counts the rows the 4-bit top-10 of `model` rescored in f32, checking
/// every answer against the exact full scan.
fn count_rescored(name: &str, model: &Autoencoder, train: &aerec::Csr, queries: usize) {
    assert!(model.has_quantized_top_n(), "{name}: no 4-bit serving copy");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
    let mut rescored = Vec::new();
    let mut scores = vec![0f32; model.n_items()];
    for _ in 0..queries {
        let u = rng.random_range(0..train.n_rows as u32);
        let row = SparseRow::of(train, u as usize);
        let seen = train.row(u as usize).0;
        let found = model.quantized_top_n(Some(u), row, 10, seen).unwrap();
        let found = found.expect("the 4-bit path answers");
        rescored.push(found.rescored);
        model.score_all(Some(u), row, &mut scores).unwrap();
        assert_eq!(found.items, aerec::model::top_n(&scores, 10, seen));
    }
    rescored.sort_unstable();
    println!(
        "{name}: rows rescored in f32 per top-10: median {} max {} (80 preselected); \
         equal to the exact scan in all {} queries",
        rescored[rescored.len() / 2],
        rescored[rescored.len() - 1],
        rescored.len()
    );
}

fn big_user_autorec() {
    let t = Instant::now();
    let ratings = generate(&SynthConfig::custom(2_000, 100_000, 300_000, 3)).unwrap();
    let spec = ModelSpec::new(AutoencoderConfig {
        based: Based::User,
        layers: vec![500],
        epochs: 1,
        optimizer: OptimizerKind::Sgd,
        lr: 0.01,
        ..AutoencoderConfig::default()
    })
    .unwrap();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let model =
        TrainedModel::fit(&spec, &ratings, None, None, scale, &FitOptions::default()).unwrap();
    println!(
        "U-AutoRec {} users × {} items × 500 hidden ({} params) built in {:.1} s",
        model.n_users(),
        model.n_items(),
        model.model.n_params(),
        t.elapsed().as_secs_f64()
    );
    time_top10("U-AutoRec 100k×500", &model, 200);
    // The bare autoencoder (same seed, same weights) for the rescoring counts.
    let config = spec
        .config::<AutoencoderConfig>()
        .expect("built above as an autoencoder");
    let data = FitData::new(
        &ratings,
        &model.train,
        aerec::data::filter::declared_or_inferred_scale(None, &ratings).unwrap(),
    )
    .unwrap();
    let (ae, _) = config.fit(&data, &FitOptions::default()).unwrap();
    count_rescored("U-AutoRec 100k×500", &ae, &model.train, 100);
    drop(ae);
}

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/ml-latest-small"
    ))
}

/// ml-latest-small `ratings.csv` (header `userId,movieId,rating,timestamp`)
/// and the titles of `movies.csv`.
fn read_ml_small(dir: &Path) -> (Ratings, std::collections::HashMap<String, String>) {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (mut u, mut i, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let mut reader = csv::Reader::from_path(dir.join("ratings.csv")).unwrap();
    for record in reader.records() {
        let r = record.unwrap();
        u.push(users.intern(&r[0]));
        i.push(items.intern(&r[1]));
        v.push(r[2].parse::<f32>().unwrap());
    }
    let mut titles = std::collections::HashMap::new();
    let mut reader = csv::Reader::from_path(dir.join("movies.csv")).unwrap();
    for record in reader.records() {
        let r = record.unwrap();
        titles.insert(r[0].to_string(), r[1].to_string());
    }
    let ratings = Ratings {
        users: u,
        items: i,
        values: v,
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    };
    (ratings, titles)
}

fn ml_small() {
    let dir = data_dir();
    if !dir.join("ratings.csv").exists() {
        eprintln!("skipping ml-latest-small: {} is absent", dir.display());
        return;
    }
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/serving-speed"));
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("ml-small-autorec.aerec");
    if !path.exists() {
        let epochs: usize = std::env::var("AEREC_BENCH_EPOCHS")
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(20);
        let (ratings, titles) = read_ml_small(&dir);
        let mut config = AutoencoderConfig::preset("autorec").unwrap();
        config.epochs = epochs;
        let scale = RatingScale::new(0.5, 5.0).unwrap();
        let t = Instant::now();
        let opts = FitOptions {
            seed: 1,
            progress: true,
            ..FitOptions::default()
        };
        let mut model = TrainedModel::fit(
            &ModelSpec::new(config).unwrap(),
            &ratings,
            None,
            None,
            scale,
            &opts,
        )
        .unwrap();
        model.titles = titles;
        println!(
            "trained autorec on ml-latest-small, {epochs} epochs, in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        aerec::persist::save(&model, &path).unwrap();
    }
    let t = Instant::now();
    let model = aerec::persist::load(&path).unwrap();
    println!(
        "loaded {} in {:.3} s",
        path.display(),
        t.elapsed().as_secs_f64()
    );
    time_top10("ml-latest-small autorec", &model, 1000);
}
