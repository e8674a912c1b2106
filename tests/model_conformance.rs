//! The contract every model kind keeps (after implicit's shared recommender
//! tests): fit on a checkerboard and on a low-rank set, predict, top-N with N
//! larger than the catalogue, fold-in of a new user, the model-file round
//! trip, and an answer over HTTP. Every kind in the registry runs it; a kind
//! declared in `src/` but not registered, or registered without a line in
//! [`settings_for`], fails here.

mod low_rank_data;

use std::collections::HashSet;
use std::sync::Arc;

use aerec::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::model::registry::KINDS;
use aerec::model::{FitControl, FitOptions, ModelSpec, TrainedModel};
use aerec::serve::{self, AppState, ServeConfig};
use serde_json::{json, Value};

/// Small, quick settings for each kind, and whether the kind personalises
/// (learns user × item interactions: the mean, the biases and popularity
/// cannot). Kinds whose scores only rank ([`ModelSpec::ranks_only`]: the
/// implicit-feedback kinds) are fitted on the positives (ratings of 4 and
/// above, as 1) and held to the ranking half of the contract.
fn settings_for(kind: &str) -> Option<(Value, bool)> {
    Some(match kind {
        "autoencoder" => (
            json!({ "model": "autoencoder", "layers": [24], "epochs": 60, "lr": 0.01,
                    "batch_size": 8, "l2": 0.0 }),
            true,
        ),
        "mean" => (json!({ "model": "mean" }), false),
        "biases" => (json!({ "model": "biases" }), false),
        "svd" => (json!({ "model": "svd", "factors": 4 }), true),
        "mf" => (
            json!({ "model": "mf", "factors": 4, "epochs": 60, "lr": 0.02, "l2": 0.01 }),
            true,
        ),
        "svdpp" => (
            json!({ "model": "svdpp", "factors": 4, "epochs": 60, "lr": 0.02, "l2": 0.01 }),
            true,
        ),
        "glocal-k" => (
            json!({ "model": "glocal-k", "hidden": [16], "kernel_dim": 3, "lambda_2": 0.5,
                    "lambda_s": 0.01, "pretrain_epochs": 8, "finetune_epochs": 4 }),
            true,
        ),
        "ensemble" => (
            json!({ "model": "mf", "factors": 4, "epochs": 60, "lr": 0.02, "l2": 0.01,
                    "ensemble": 2 }),
            true,
        ),
        "blend" => (
            json!({ "model": "blend", "meta_features": true, "members": [
                { "model": "mf", "factors": 4, "epochs": 60, "lr": 0.02, "l2": 0.01 },
                { "model": "biases" },
            ] }),
            true,
        ),
        "popularity" => (json!({ "model": "popularity" }), false),
        "item-knn" => (json!({ "model": "item-knn", "neighbors": 10 }), true),
        "ease" => (json!({ "model": "ease", "lambda": 1.0 }), true),
        "mult-vae" => (
            json!({ "model": "mult-vae", "hidden": 16, "latent": 8, "epochs": 150,
                    "batch_size": 8, "lr": 0.01, "anneal_steps": 1000 }),
            true,
        ),
        "mult-dae" => (
            json!({ "model": "mult-dae", "hidden": 16, "latent": 8, "epochs": 150,
                    "batch_size": 8, "lr": 0.01 }),
            true,
        ),
        "cdae" => (
            json!({ "model": "cdae", "hidden": 8, "epochs": 60, "lr": 0.1, "negatives": 3 }),
            true,
        ),
        _ => return None,
    })
}

/// What a kind fits on: the ratings, or for a ranking kind their positives.
fn training_set(spec: &ModelSpec, train: &Ratings) -> Ratings {
    if !spec.ranks_only() {
        return train.clone();
    }
    let opts = ImplicitOptions {
        positives: Positives::AtLeast(4.0),
        weighting: Weighting::Binary,
    };
    to_implicit(train, &opts).unwrap()
}

fn scale() -> RatingScale {
    RatingScale::new(1.0, 5.0).unwrap()
}

fn spec_of(kind: &str) -> (ModelSpec, bool) {
    let (settings, personal) = settings_for(kind).unwrap_or_else(|| {
        panic!("model kind {kind:?} is registered but has no line in settings_for: add one")
    });
    let spec = ModelSpec::from_json(&settings)
        .unwrap_or_else(|e| panic!("{kind}: settings do not build: {e}"));
    (spec, personal)
}

fn ids(prefix: &str, n: usize) -> Arc<IdMap> {
    Arc::new(IdMap::from_ids((0..n).map(|k| format!("{prefix}{k}")).collect()).unwrap())
}

fn ratings(cells: &[(u32, u32, f32)], users: &Arc<IdMap>, items: &Arc<IdMap>) -> Ratings {
    Ratings {
        users: cells.iter().map(|c| c.0).collect(),
        items: cells.iter().map(|c| c.1).collect(),
        values: cells.iter().map(|c| c.2).collect(),
        timestamps: None,
        user_ids: Arc::clone(users),
        item_ids: Arc::clone(items),
    }
}

const N: usize = 24;

/// Users like the items of their own parity (5) and dislike the others (1).
/// Each user's items `u` and `u + 1` (one of each parity) are withheld.
fn checkerboard() -> (Ratings, Vec<(u32, u32, f32)>) {
    let (users, items) = (ids("u", N), ids("i", N));
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for u in 0..N as u32 {
        for i in 0..N as u32 {
            let r = if (u + i) % 2 == 0 { 5.0 } else { 1.0 };
            if i == u || i == (u + 1) % N as u32 {
                held.push((u, i, r));
            } else {
                train.push((u, i, r));
            }
        }
    }
    (ratings(&train, &users, &items), held)
}

fn fit(spec: &ModelSpec, train: &Ratings, valid: Option<&Ratings>) -> TrainedModel {
    let train = training_set(spec, train);
    TrainedModel::fit(spec, &train, valid, None, scale(), &FitOptions::default())
        .unwrap_or_else(|e| panic!("{}: fit failed: {e}", spec.kind()))
}

#[test]
fn every_declared_kind_is_registered() {
    let registered: HashSet<&str> = KINDS.iter().map(|k| k.name).collect();
    let mut declared = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices(": ModelKind = ModelKind {") {
                let rest = &text[at..];
                let name = rest
                    .split("name: \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_else(|| panic!("{}: a ModelKind without a name", path.display()));
                declared.push(name.to_string());
            }
        }
    }
    assert!(declared.len() >= KINDS.len(), "declared: {declared:?}");
    for name in &declared {
        assert!(
            registered.contains(name.as_str()),
            "model kind {name:?} is declared but not in registry::KINDS"
        );
    }
    let unique: HashSet<&str> = declared.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        declared.len(),
        "a kind name is declared twice: {declared:?}"
    );
    for kind in KINDS {
        assert!(
            settings_for(kind.name).is_some(),
            "{}: add it to settings_for",
            kind.name
        );
        assert!(!kind.summary.is_empty());
    }
}

/// The kinds that train in epochs: each must hear a stop request.
const ITERATIVE: &[&str] = &[
    "autoencoder",
    "mf",
    "svdpp",
    "glocal-k",
    "ensemble",
    "blend",
    "mult-vae",
    "mult-dae",
    "cdae",
];

#[test]
fn a_stop_request_ends_every_iterative_kind_with_a_usable_model() {
    let (train, held) = checkerboard();
    for kind in KINDS {
        let (spec, _) = spec_of(kind.name);
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let control = FitControl::new();
        let (seen_in, stop) = (seen.clone(), control.clone());
        // The request comes from the observer of the first epoch, as a
        // host language's Ctrl-C handler would set it between epochs.
        let control = control.with_observer(Arc::new(move |stats, planned| {
            assert!(stats.epoch >= 1 && planned >= 1);
            seen_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stop.request_stop();
        }));
        let opts = FitOptions {
            control,
            ..FitOptions::default()
        };
        let model = TrainedModel::fit(&spec, &train, None, None, scale(), &opts)
            .unwrap_or_else(|e| panic!("{}: fit failed: {e}", kind.name));
        let observed = seen.load(std::sync::atomic::Ordering::Relaxed);
        if ITERATIVE.contains(&kind.name) {
            assert!(
                observed >= 1,
                "{}: the observer never heard an epoch",
                kind.name
            );
            let notes = model.report.notes.join("; ");
            assert!(
                notes.contains("stopped on request"),
                "{}: no stop note in {notes:?}",
                kind.name
            );
            assert!(
                model.report.history.len() <= 1,
                "{}: {} epochs after a stop requested in the first",
                kind.name,
                model.report.history.len()
            );
        }
        let pairs: Vec<_> = held.iter().map(|h| (Some(h.0), Some(h.1))).collect();
        let preds = model.model_predictions(&pairs);
        assert!(
            preds.iter().all(|p| p.is_finite()),
            "{}: a stopped fit predicts non-finite values",
            kind.name
        );
        assert!(!model.recommend_index(0, 3).unwrap().is_empty());
    }
}

#[test]
fn every_kind_learns_the_checkerboard_and_ranks_what_is_left() {
    let (train, held) = checkerboard();
    for kind in KINDS {
        let (spec, personal) = spec_of(kind.name);
        let model = fit(&spec, &train, None);
        assert_eq!(model.model.kind(), kind.name);
        let mut right = 0;
        for u in 0..N as u32 {
            let mine: Vec<&(u32, u32, f32)> = held.iter().filter(|h| h.0 == u).collect();
            let pairs: Vec<_> = mine.iter().map(|h| (Some(h.0), Some(h.1))).collect();
            let preds = model.model_predictions(&pairs);
            let liked = mine.iter().zip(&preds).find(|(h, _)| h.2 == 5.0).unwrap().1;
            let disliked = mine.iter().zip(&preds).find(|(h, _)| h.2 == 1.0).unwrap().1;
            right += usize::from(liked > disliked);
            // N larger than the catalogue: exactly the items not in the
            // user's training row (the held-out pair, and for a ranking
            // kind every disliked item too), best first.
            let top = model.recommend_index(u, 10 * N).unwrap();
            let got: HashSet<u32> = top.iter().map(|t| t.0).collect();
            let seen = model.train.row(u as usize).0;
            let want: HashSet<u32> = (0..N as u32).filter(|i| !seen.contains(i)).collect();
            assert_eq!(got, want, "{}: top-N of user {u}", kind.name);
            assert!(
                top.windows(2).all(|w| w[0].1 >= w[1].1),
                "{}: not sorted",
                kind.name
            );
            assert!(
                top.iter().all(|t| t.1.is_finite()),
                "{}: non-finite score",
                kind.name
            );
        }
        if personal {
            assert!(
                right >= N * 9 / 10,
                "{}: liked above disliked for {right}/{N} users",
                kind.name
            );
        }
    }
}

#[test]
fn every_kind_predicts_held_out_ratings_and_folds_in_a_new_user() {
    let (train, valid) = low_rank_data::low_rank(40, 30, 7);
    let mean_rmse = {
        let mu = train.mean().unwrap() as f32;
        rmse(valid.values.iter().map(|&r| (mu, r)))
    };
    for kind in KINDS {
        let (spec, personal) = spec_of(kind.name);
        let model = fit(&spec, &train, Some(&valid));
        let preds = model.predict_ratings(&valid).unwrap();
        assert_eq!(preds.len(), valid.len());
        let err = rmse(
            preds
                .iter()
                .zip(&valid.values)
                .map(|(p, &r)| (p.value.clamp(1.0, 5.0), r)),
        );
        assert!(err.is_finite(), "{}: RMSE {err}", kind.name);
        if spec.ranks_only() {
            // Scores that order items are no ratings: no RMSE to hold them to.
        } else {
            let bound = if personal {
                0.9 * mean_rmse
            } else {
                1.05 * mean_rmse
            };
            assert!(
                err <= bound,
                "{}: held-out RMSE {err:.4}, global mean {mean_rmse:.4}",
                kind.name
            );
        }

        // A new user: user 0's training ratings, folded in without retraining.
        let (items, values) = model.train.row(0);
        let row: Vec<(u32, f32)> = items.iter().copied().zip(values.iter().copied()).collect();
        let recs = model.recommend_new(&row, 5).unwrap();
        assert_eq!(
            recs.len(),
            5.min(model.n_items() - row.len()),
            "{}",
            kind.name
        );
        assert!(
            recs.iter()
                .all(|r| !items.contains(&r.0) && r.1.is_finite()),
            "{}",
            kind.name
        );
        // An unknown user and item fall back, flagged.
        let p = aerec::recommend::predict_pairs(&model, &[("nobody".into(), "nothing".into())])
            .unwrap();
        assert!(
            p[0].fallback.is_some() && p[0].rating.is_finite(),
            "{}",
            kind.name
        );
    }
}

#[test]
fn every_kind_round_trips_through_the_model_file_and_serves() {
    let (train, valid) = low_rank_data::low_rank(30, 20, 3);
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let (spec, _) = spec_of(kind.name);
        let model = fit(&spec, &train, Some(&valid));
        let path = dir.path().join(format!("{}.aerec", kind.name));
        aerec::persist::save(&model, &path).unwrap();
        let back = aerec::persist::load(&path).unwrap();
        assert_eq!(back.spec, model.spec, "{}: spec", kind.name);
        let a = model.predict_ratings(&valid).unwrap();
        let b = back.predict_ratings(&valid).unwrap();
        assert_eq!(a, b, "{}: predictions after the round trip", kind.name);
        let want = aerec::recommend::for_user(&model, "u3", 4).unwrap();
        assert_eq!(
            aerec::recommend::for_user(&back, "u3", 4).unwrap(),
            want,
            "{}: top-N after the round trip",
            kind.name
        );

        let served = serve_once(&path, "/v1/users/u3/recommendations?n=4");
        let items: Vec<String> = served["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: {served}", kind.name))
            .iter()
            .map(|r| r["item"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = want.iter().map(|r| r.item.clone()).collect();
        assert_eq!(items, want, "{}: served top-N", kind.name);
    }
}

fn rmse(pairs: impl Iterator<Item = (f32, f32)>) -> f64 {
    let (mut s, mut n) = (0f64, 0usize);
    for (p, r) in pairs {
        s += ((p - r) as f64).powi(2);
        n += 1;
    }
    (s / n as f64).sqrt()
}

/// Starts the service on a free loopback port, makes one GET, stops it.
fn serve_once(path: &std::path::Path, route: &str) -> Value {
    let state = AppState::load(&ServeConfig::new(path)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(serve::serve(listener, state, async {
            let _ = stopped.await;
        }))
    });
    let body: Value = reqwest::blocking::get(format!("http://{addr}{route}"))
        .unwrap()
        .json()
        .unwrap();
    let _ = stop.send(());
    server.join().unwrap().unwrap();
    body
}

/// Model predictions through the trained model's own path, for known pairs.
trait ModelPredictions {
    fn model_predictions(&self, pairs: &[(Option<u32>, Option<u32>)]) -> Vec<f32>;
}

impl ModelPredictions for TrainedModel {
    fn model_predictions(&self, pairs: &[(Option<u32>, Option<u32>)]) -> Vec<f32> {
        self.predict_indices(pairs)
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect()
    }
}
