//! Blends (`model = "blend"`): members of any kinds fitted on the training
//! split, weighted by a ridge regression on the validation split; through
//! the settings parser, the model file, fold-in, the HTTP service and the
//! command line.

mod low_rank_data;

use std::process::Command;

use aerec::data::{RatingScale, Ratings};
use aerec::eval::{evaluate, EvalOptions};
use aerec::model::blend::{BlendConfig, MEMBER_SEED_STRIDE};
use aerec::model::{FitData, FitOptions, ModelSpec, Recommender, SparseRow, TrainedModel};
use aerec::{persist, ErrorKind};
use assert_cmd::cargo::CommandCargoExt;
use serde_json::{json, Value};

/// Low-rank ratings on 1–5: (train, validation, test), shared id maps.
fn data(seed: u64) -> (Ratings, Ratings, Ratings) {
    let (train, held) = low_rank_data::low_rank(80, 60, seed);
    let even: Vec<usize> = (0..held.len()).step_by(2).collect();
    let odd: Vec<usize> = (1..held.len()).step_by(2).collect();
    (train, held.select(&even), held.select(&odd))
}

fn scale() -> RatingScale {
    RatingScale::new(1.0, 5.0).unwrap()
}

fn opts(seed: u64) -> FitOptions {
    FitOptions {
        seed,
        progress: false,
        ..FitOptions::default()
    }
}

fn fit(spec: &ModelSpec, train: &Ratings, valid: &Ratings, seed: u64) -> TrainedModel {
    TrainedModel::fit(spec, train, Some(valid), None, scale(), &opts(seed)).unwrap()
}

fn values(model: &TrainedModel, ratings: &Ratings) -> Vec<f32> {
    model
        .predict_ratings(ratings)
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect()
}

/// Top-`n` (item index, score) of a known user by original id.
fn rec(model: &TrainedModel, user: &str, n: usize) -> Vec<(u32, f32)> {
    model
        .recommend_index(model.user_ids.get(user).unwrap(), n)
        .unwrap()
}

/// The raw prediction for a pair of original ids.
fn pred(model: &TrainedModel, user: &str, item: &str) -> f32 {
    let pair = (model.user_ids.get(user), model.item_ids.get(item));
    model.predict_indices(&[pair]).unwrap()[0].value
}

fn clipped_rmse(model: &TrainedModel, ratings: &Ratings) -> f64 {
    let eval = EvalOptions {
        clip: true,
        ranking: None,
    };
    evaluate(model, ratings, &eval).unwrap().rating.rmse
}

/// Members of different kinds, as a user writes them.
fn members() -> Vec<Value> {
    vec![
        json!({ "layers": [10], "epochs": 12, "lr": 0.01, "batch_size": 8, "patience": 3 }),
        json!({ "model": "svdpp", "factors": 4, "epochs": 10 }),
        json!({ "model": "biases" }),
        json!({ "layers": [6], "based": "user", "epochs": 8, "lr": 0.01 }),
    ]
}

fn blend_spec(members: &[Value], meta: bool) -> ModelSpec {
    ModelSpec::from_json(&json!({ "model": "blend", "members": members, "meta_features": meta }))
        .unwrap()
}

#[test]
fn a_blend_of_one_member_is_that_member() {
    let (train, valid, test) = data(1);
    for member in [members()[0].clone(), members()[1].clone()] {
        for meta in [false, true] {
            let blend = fit(
                &blend_spec(std::slice::from_ref(&member), meta),
                &train,
                &valid,
                7,
            );
            let alone = fit(&ModelSpec::from_json(&member).unwrap(), &train, &valid, 7);
            assert_eq!(values(&blend, &test), values(&alone, &test), "{member}");
            assert_eq!(rec(&blend, "u2", 5), rec(&alone, "u2", 5));
            assert!(
                blend.report.notes.iter().any(|n| n.contains("one member")),
                "{:?}",
                blend.report.notes
            );
        }
    }
}

/// The validation RMSE a note reports for member `k` ("blend member k (kind): valid R").
fn noted_member_rmse(notes: &[String], k: usize) -> f64 {
    let prefix = format!("blend member {k} (");
    let note = notes
        .iter()
        .find(|n| n.starts_with(&prefix) && n.contains("): valid "))
        .unwrap_or_else(|| panic!("no note for member {k}: {notes:?}"));
    note.rsplit("valid ").next().unwrap().parse().unwrap()
}

#[test]
fn a_blend_never_validates_worse_than_its_best_member() {
    let list = members();
    let mut weighted = 0;
    for seed in [1, 2] {
        let (train, valid, _) = data(seed);
        // Each member alone, fitted with the seed the blend gives it.
        let alone: Vec<f64> = list
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let s = seed + k as u64 * MEMBER_SEED_STRIDE;
                clipped_rmse(
                    &fit(&ModelSpec::from_json(m).unwrap(), &train, &valid, s),
                    &valid,
                )
            })
            .collect();
        let best = alone.iter().cloned().fold(f64::INFINITY, f64::min);
        for meta in [false, true] {
            let blend = fit(&blend_spec(&list, meta), &train, &valid, seed);
            let got = clipped_rmse(&blend, &valid);
            assert!(
                got <= best + 1e-6,
                "seed {seed}, meta {meta}: blend {got} > best {best}"
            );
            for (k, &a) in alone.iter().enumerate() {
                let noted = noted_member_rmse(&blend.report.notes, k + 1);
                assert!(
                    (noted - a).abs() < 1e-4,
                    "member {}: noted {noted}, alone {a}",
                    k + 1
                );
            }
            let blend_note = blend
                .report
                .notes
                .iter()
                .find(|n| n.starts_with("blend: valid"))
                .unwrap();
            if blend_note.contains("ridge weights") {
                weighted += 1;
                assert!(got < best, "ridge weights kept although {got} ≥ {best}");
            }
        }
    }
    // Kinds this different are worth weighing on this data: the ridge path,
    // not only the fallback, is what the guarantee was checked on.
    assert!(
        weighted >= 2,
        "ridge weights were used in only {weighted} of 4 fits"
    );
}

fn mean() -> ModelSpec {
    ModelSpec::from_json(&json!({ "model": "mean" })).unwrap()
}

/// A blend built from members already fitted, with predictions chosen so
/// the answer is known.
fn from_fitted(
    train: &Ratings,
    valid: &Ratings,
    predictions: &[Vec<f32>],
) -> (aerec::model::blend::Blend, aerec::model::blend::BlendFit) {
    let by_user = train.by_user();
    let data = FitData::new(
        train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, train).unwrap(),
    )
    .unwrap()
    .with_valid(Some(valid));
    let config = BlendConfig {
        members: vec![mean(); predictions.len()],
        meta_features: false,
    };
    let members: Vec<Box<dyn Recommender>> = (0..predictions.len())
        .map(|_| mean().fit(&data, &opts(1)).unwrap().0)
        .collect();
    config.from_fitted(members, predictions, &data).unwrap()
}

#[test]
fn weights_fitted_from_given_predictions_recover_a_known_mix() {
    let (train, mut valid, _) = data(3);
    // Two "members" whose predictions make the rating exactly
    // 0.5 + 0.6·p₀ + 0.3·p₁, inside the clip range, so least squares is exact.
    let n = valid.len();
    let p0: Vec<f32> = (0..n).map(|j| 1.5 + (j * 7 % 13) as f32 / 4.5).collect();
    let p1: Vec<f32> = (0..n).map(|j| 1.5 + (j * 5 % 11) as f32 / 3.7).collect();
    valid.values = (0..n).map(|j| 0.5 + 0.6 * p0[j] + 0.3 * p1[j]).collect();
    let (blend, fit) = from_fitted(&train, &valid, &[p0, p1]);
    assert_eq!(blend.only_member(), None, "{}", fit.why);
    let (w, b) = blend.weights();
    assert!(
        (w[0] - 0.6).abs() < 1e-3 && (w[1] - 0.3).abs() < 1e-3,
        "{w:?}"
    );
    assert!((b - 0.5).abs() < 1e-2, "{b}");
    assert!(fit.blend_rmse < 1e-3, "{fit:?}");
}

#[test]
fn the_best_member_alone_when_weighing_cannot_help() {
    let (train, valid, _) = data(4);
    let n = valid.len();
    let exact: Vec<f32> = valid.values.clone();
    let noise: Vec<f32> = (0..n).map(|j| 1.0 + (j * 7 % 5) as f32).collect();
    for (preds, best) in [
        (vec![exact.clone(), noise.clone()], 0),
        (vec![noise.clone(), exact.clone()], 1),
    ] {
        let (blend, fit) = from_fitted(&train, &valid, &preds);
        assert_eq!(blend.only_member(), Some(best), "{}", fit.why);
        let (w, b) = blend.weights();
        let mut unit = vec![0.0; 2];
        unit[best] = 1.0;
        assert_eq!((w.to_vec(), b), (unit, 0.0));
        assert_eq!(fit.blend_rmse, 0.0);
    }
}

#[test]
fn a_blend_round_trips_through_the_model_file_and_folds_in_new_users() {
    let (train, valid, test) = data(5);
    let dir = tempfile::tempdir().unwrap();
    for meta in [false, true] {
        let spec = blend_spec(&members()[1..], meta);
        let model = fit(&spec, &train, &valid, 3);
        let path = dir.path().join("b.aerec");
        persist::save(&model, &path).unwrap();
        let back = persist::load(&path).unwrap();
        assert_eq!(back.model.kind(), "blend");
        assert_eq!(back.spec, model.spec);
        assert_eq!(values(&back, &test), values(&model, &test));
        assert_eq!(rec(&back, "u3", 4), rec(&model, "u3", 4));
        let ratings = [(0, 5.0), (3, 1.0), (7, 4.0)];
        let new = model.recommend_new(&ratings, 5).unwrap();
        assert_eq!(new, back.recommend_new(&ratings, 5).unwrap());
        assert_eq!(new.len(), 5);
        assert!(new
            .iter()
            .all(|&(i, s)| ![0, 3, 7].contains(&i) && s.is_finite()));

        // score_all and score_items agree, for a known user and a new one.
        let n_items = model.n_items();
        let items: Vec<u32> = (0..n_items as u32).rev().collect();
        for user in [Some(4), None] {
            let row = SparseRow::of(&model.train, 4);
            let mut all = vec![0f32; n_items];
            model.model.score_all(user, row, &mut all).unwrap();
            let mut some = vec![0f32; n_items];
            model
                .model
                .score_items(user, row, &items, &mut some)
                .unwrap();
            for (k, &i) in items.iter().enumerate() {
                assert!((some[k] - all[i as usize]).abs() <= 1e-5, "item {i}");
            }
        }

        let info = persist::inspect(&path).unwrap();
        let names: Vec<&str> = info.tensors.iter().map(|t| t.name.as_str()).collect();
        for expected in [
            "member0.mu",
            "member1.item_bias",
            "blend.weights",
            "blend.clip",
        ] {
            assert!(names.contains(&expected), "{expected} not in {names:?}");
        }
        assert_eq!(names.contains(&"blend.item_counts"), meta);
        assert!(info
            .fit_report
            .notes
            .iter()
            .any(|n| n.starts_with("blend: valid")));
    }
}

#[test]
fn blend_settings_round_trip_through_json_toml_and_the_model_file_form() {
    let spec = ModelSpec::from_json(&json!({
        "model": "blend",
        "meta_features": true,
        "members": [
            { "preset": "autorec", "epochs": 3 },
            { "model": "mf", "factors": 5, "ensemble": 3 },
            { "model": "biases" },
        ],
    }))
    .unwrap();
    let c = spec
        .config::<BlendConfig>()
        .unwrap_or_else(|| panic!("not a blend: {spec:?}"));
    assert_eq!(c.members[1].kind(), "ensemble");
    assert!(c.meta_features);
    // The config-file form.
    let settings = spec.to_json();
    assert_eq!(settings["members"][1]["ensemble"], 3);
    assert_eq!(ModelSpec::from_json(&settings).unwrap(), spec);
    // The serde form the model file stores.
    let stored = serde_json::to_value(&spec).unwrap();
    assert_eq!(ModelSpec::from_json(&stored).unwrap(), spec);
    // TOML as `tune --out` writes it: [[members]] tables.
    let report = aerec::eval::tune::TuneReport {
        trials: Vec::new(),
        best: 0,
        best_spec: spec.clone(),
        skipped: 0,
    };
    let text = report.best_toml().unwrap();
    assert!(text.contains("[[members]]"), "{text}");
    let table: toml::Table = toml::from_str(&text).unwrap();
    let back = ModelSpec::from_json(&serde_json::to_value(table).unwrap()).unwrap();
    assert_eq!(back, spec, "{text}");
}

#[test]
fn bad_blend_settings_are_clear_errors() {
    let mf = json!({ "model": "mf" });
    let blend = json!({ "model": "blend", "members": [mf] });
    let cases = [
        (json!({ "model": "blend" }), "no members"),
        (json!({ "model": "blend", "members": [] }), "no members"),
        (
            json!({ "model": "blend", "members": [mf, blend] }),
            "member 2 is a blend",
        ),
        (
            json!({ "model": "blend", "members": [mf], "ensemble": 2 }),
            "blend cannot be trained from several seeds",
        ),
        (
            json!({ "model": "blend", "members": [{ "model": "blend", "members": [mf], "ensemble": 2 }] }),
            "several seeds",
        ),
        (
            json!({ "model": "blend", "members": [mf], "epochs": 3 }),
            "unknown setting `epochs`",
        ),
        (json!({ "model": "blend", "members": mf }), "must be a list"),
        (
            json!({ "model": "blend", "members": [mf], "meta_features": "yes" }),
            "true or false",
        ),
        (
            json!({ "model": "blend", "members": [mf, { "model": "mf", "factors": 0 }] }),
            "blend member 2",
        ),
        (
            json!({ "model": "blend", "members": [{ "model": "nope" }] }),
            "nope",
        ),
    ];
    for (settings, needle) in cases {
        let err = ModelSpec::from_json(&settings).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Config(_)),
            "{settings}: {err}"
        );
        assert!(
            err.to_string().contains(needle),
            "{settings}: {err} lacks {needle:?}"
        );
    }
}

/// Without a validation split a blend holds out a tenth of train for it, says
/// so, and is the blend of members fitted on the rest.
#[test]
fn without_a_validation_split_a_blend_carves_one() {
    let (train, _, test) = data(6);
    let spec = blend_spec(&members()[1..3], true);
    let model = TrainedModel::fit(&spec, &train, None, None, scale(), &opts(4)).unwrap();
    assert!(
        model
            .report
            .notes
            .iter()
            .any(|n| n.contains("no validation split given; 10%")),
        "{:?}",
        model.report.notes
    );
    let p = values(&model, &test);
    assert!(p.iter().all(|v| v.is_finite()));
    // The same seed carves the same part: the fit repeats.
    let again = TrainedModel::fit(&spec, &train, None, None, scale(), &opts(4)).unwrap();
    assert_eq!(values(&again, &test), p);
}

fn aerec(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ratings as a CSV file a user would pass with `--data`.
fn csv(ratings: &Ratings) -> String {
    let mut text = String::from("user,item,rating\n");
    for j in 0..ratings.len() {
        text.push_str(&format!(
            "{},{},{}\n",
            ratings.user_ids.id(ratings.users[j]),
            ratings.item_ids.id(ratings.items[j]),
            ratings.values[j]
        ));
    }
    text
}

#[test]
fn train_info_and_predict_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (train, _, _) = data(7);
    let data_file = dir.path().join("r.csv");
    std::fs::write(&data_file, csv(&train)).unwrap();
    let config = dir.path().join("blend.toml");
    std::fs::write(
        &config,
        r#"
model = "blend"
meta_features = true

[[members]]
model = "svdpp"
factors = 4
epochs = 5

[[members]]
model = "biases"
"#,
    )
    .unwrap();
    let model = dir.path().join("b.aerec");
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, out, err) = aerec(&[
        "train",
        "--config",
        &p(&config),
        "--data",
        &p(&data_file),
        "--valid-fraction",
        "0.15",
        "--out",
        &p(&model),
        "--json",
    ]);
    assert!(ok, "train failed: {err}");
    let trained: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(trained["model"], "blend", "{trained}");

    let (ok, out, err) = aerec(&["info", &p(&model)]);
    assert!(ok, "info failed: {err}");
    for needle in [
        "blend member 1 (svdpp): valid",
        "blend member 2 (biases): valid",
        "blend: valid",
        "blend weights: intercept",
        "member 2 (biases)",
        "g_user",
        "blend.weights",
    ] {
        assert!(out.contains(needle), "info lacks {needle:?}:\n{out}");
    }
    let pairs = dir.path().join("pairs.csv");
    std::fs::write(&pairs, "user,item\nu1,i2\nu3,i5\n").unwrap();
    let (ok, out, err) = aerec(&[
        "predict",
        "--model",
        &p(&model),
        "--pairs",
        &p(&pairs),
        "--out",
        "-",
    ]);
    assert!(ok, "predict failed: {err}");
    let loaded = persist::load(&model).unwrap();
    for (user, item) in [("u1", "i2"), ("u3", "i5")] {
        let expected = pred(&loaded, user, item);
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{user},{item},")))
            .unwrap_or_else(|| panic!("no {user},{item} in {out}"));
        let got: f32 = line.split(',').nth(2).unwrap().parse().unwrap();
        assert!((got - expected).abs() < 1e-4, "{line} vs {expected}");
    }
}

/// The HTTP service answers from a blend's model file what the library does.
#[test]
fn a_blend_is_served() {
    use aerec::serve::{self, AppState, ServeConfig};

    let (train, valid, _) = data(8);
    let model = fit(&blend_spec(&members()[1..], true), &train, &valid, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.aerec");
    persist::save(&model, &path).unwrap();
    let state = AppState::load(&ServeConfig::new(&path)).unwrap();
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
    let client = reqwest::blocking::Client::new();
    let url = |route: &str| format!("http://{addr}{route}");
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item"].as_str().unwrap().to_string())
            .collect()
    };
    let names = |list: Vec<(u32, f32)>| -> Vec<String> {
        list.iter()
            .map(|&(i, _)| model.item_ids.id(i).to_string())
            .collect()
    };

    let body: Value = client
        .get(url("/v1/users/u1/recommendations?n=4"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&body), names(rec(&model, "u1", 4)), "{body}");

    let new_user = json!({ "ratings": [{ "item": "i1", "rating": 5 }, { "item": "i4", "rating": 2 }], "n": 3 });
    let body: Value = client
        .post(url("/v1/recommendations"))
        .json(&new_user)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (i1, i4) = (
        model.item_ids.get("i1").unwrap(),
        model.item_ids.get("i4").unwrap(),
    );
    let expected = model.recommend_new(&[(i1, 5.0), (i4, 2.0)], 3).unwrap();
    assert_eq!(ids(&body), names(expected), "{body}");

    let pairs = json!({ "pairs": [{ "user": "u2", "item": "i3" }] });
    let body: Value = client
        .post(url("/v1/predictions"))
        .json(&pairs)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let expected = scale().clip(pred(&model, "u2", "i3"));
    let got = body["predictions"][0]["rating"].as_f64().unwrap() as f32;
    assert!((got - expected).abs() < 1e-5, "{body} vs {expected}");

    let _ = stop.send(());
    server.join().unwrap().unwrap();
}

/// `compare` and `tune` take a blend like any other model.
#[test]
fn compare_and_tune_take_a_blend() {
    use aerec::data::split::{ColdStartReport, Split};
    use aerec::eval::{compare, tune, NamedSpec, SearchMode};

    let (train, valid, test) = data(9);
    let members = [
        json!({ "model": "mf", "factors": 3, "epochs": 5 }),
        json!({ "model": "biases" }),
    ];
    let spec = blend_spec(&members, true);
    let fold = Split {
        train: train.clone(),
        test: test.clone(),
        valid: Some(valid.clone()),
        cold: ColdStartReport::default(),
        valid_cold: None,
    };
    let eval = EvalOptions {
        clip: true,
        ranking: None,
    };
    let report = compare(
        &[NamedSpec::new("blend", spec.clone())],
        &[fold],
        scale(),
        &eval,
        &opts(1),
    )
    .unwrap();
    let row = &report.models[0];
    assert_eq!(
        row.params,
        "members=[mf(epochs=5 factors=3), biases()] meta_features"
    );
    let alone = fit(&spec, &train, &valid, 1);
    assert_eq!(row.folds[0].test.rating.rmse, clipped_rmse(&alone, &test));

    let base = json!({ "model": "blend", "members": members });
    let search = [("meta_features".to_string(), vec![json!(false), json!(true)])]
        .into_iter()
        .collect();
    let tuned = tune(
        base.as_object().unwrap(),
        &search,
        SearchMode::Grid,
        &train,
        &valid,
        scale(),
        &opts(1),
    )
    .unwrap();
    assert_eq!(tuned.trials.len(), 2);
    assert_eq!(tuned.best_spec.kind(), "blend");
}

#[test]
fn a_blend_with_new_members_keeps_its_weights() {
    let (train, mut valid, test) = data(5);
    let n = valid.len();
    let p0: Vec<f32> = (0..n).map(|j| 1.5 + (j * 7 % 13) as f32 / 4.5).collect();
    let p1: Vec<f32> = (0..n).map(|j| 1.5 + (j * 5 % 11) as f32 / 3.7).collect();
    valid.values = (0..n).map(|j| 0.5 + 0.6 * p0[j] + 0.3 * p1[j]).collect();
    let (blend, _) = from_fitted(&train, &valid, &[p0, p1]);
    let (w, b) = blend.weights();
    let (w, b) = ((w[0], w[1]), b);
    // Members of other kinds, fitted the way a refit would: they replace
    // the placeholders, the weights stay.
    let kinds = [json!({"model": "biases"}), json!({"model": "mf"})];
    let specs: Vec<ModelSpec> = kinds
        .iter()
        .map(|k| ModelSpec::from_json(k).unwrap())
        .collect();
    let alone: Vec<Vec<f32>> = specs
        .iter()
        .map(|s| values(&fit(s, &train, &valid, 4), &test))
        .collect();
    let refitted: Vec<Box<dyn Recommender>> = specs
        .iter()
        .map(|s| fit(s, &train, &valid, 4).model)
        .collect();
    let blend = blend.with_members(refitted).unwrap();
    assert_eq!(blend.weights().0, [w.0, w.1]);
    let config = BlendConfig {
        members: specs,
        meta_features: false,
    };
    let model = TrainedModel::from_fitted(
        Box::new(blend),
        ModelSpec::new(config).unwrap(),
        &train,
        scale(),
        Default::default(),
    )
    .unwrap();
    let got = values(&model, &test);
    let (lo, hi) = train.min_max().unwrap();
    for (j, g) in got.iter().enumerate() {
        let want = b + w.0 * alone[0][j].clamp(lo, hi) + w.1 * alone[1][j].clamp(lo, hi);
        assert!((g - want).abs() < 1e-4, "cell {j}: {g} vs {want}");
    }
}

#[test]
fn a_blend_refuses_new_members_that_do_not_match() {
    let (train, mut valid, _) = data(6);
    let n = valid.len();
    let p: Vec<f32> = (0..n).map(|j| 1.0 + (j % 5) as f32).collect();
    valid.values = p.iter().map(|x| 0.2 + 0.9 * x).collect();
    let (blend, _) = from_fitted(&train, &valid, &[p.clone(), p]);
    let one: Vec<Box<dyn Recommender>> = vec![fit(&mean(), &train, &valid, 1).model];
    let err = blend.with_members(one).unwrap_err();
    assert!(
        err.to_string().contains("1 members to put in place of 2"),
        "{err}"
    );
}
