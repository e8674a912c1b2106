//! Experiments: compare over folds, tune by grid and random search, tables
//! and bar charts.

mod small_tables;

use std::collections::BTreeMap;

use aerec::data::split::{ColdStartReport, Split};
use aerec::eval::compare::{non_default_params, NamedSpec};
use aerec::eval::tune::candidates;
use aerec::eval::{compare, tune, EvalOptions, MeanStd, SearchMode};
use aerec::model::{FitOptions, ModelSpec};
use aerec::report::bars::{bar_chart, Bar};
use aerec::RatingScale;
use serde_json::{json, Map, Value};
use small_tables::ratings;

fn folds() -> Vec<Split> {
    let mut triples = Vec::new();
    let names: Vec<(String, String)> = (0..30)
        .flat_map(|u| (0..20).map(move |i| (format!("u{u}"), format!("i{i}"))))
        .collect();
    for (k, (u, i)) in names.iter().enumerate() {
        let (uu, ii) = (k / 20, k % 20);
        if (uu + 2 * ii) % 3 == 0 {
            triples.push((u.as_str(), i.as_str(), 1.0 + ((uu + ii) % 5) as f32));
        }
    }
    let all = ratings(&triples);
    (0..2)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..all.len()).partition(|k| k % 2 == f);
            Split {
                train: all.select(&train),
                test: all.select(&test),
                valid: None,
                cold: ColdStartReport::default(),
                valid_cold: None,
            }
        })
        .collect()
}

#[test]
fn mean_std_by_hand() {
    // [1, 2, 3]: mean 2, sample variance (1 + 0 + 1) / 2 = 1.
    let s = MeanStd::of(&[1.0, 2.0, 3.0]);
    assert_eq!((s.mean, s.std), (2.0, 1.0));
    assert_eq!(MeanStd::of(&[0.5]).std, 0.0);
}

#[test]
fn compare_fits_every_model_on_every_fold_and_tabulates() {
    let models = vec![
        NamedSpec::new(
            "mean",
            ModelSpec::new(aerec::model::baseline::MeanConfig::default()).unwrap(),
        ),
        NamedSpec::new(
            "mf",
            serde_json::from_value(json!({"model": "mf", "factors": 4})).unwrap(),
        ),
    ];
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let report = compare(
        &models,
        &folds(),
        scale,
        &EvalOptions::default(),
        &FitOptions::default(),
    )
    .unwrap();
    assert_eq!(report.folds, 2);
    assert_eq!(report.models[1].folds.len(), 2);
    assert_eq!(report.models[1].params, "factors=4");
    let rmse = report.models[0].summary["test_rmse"];
    let per_fold: Vec<f64> = report.models[0]
        .folds
        .iter()
        .map(|f| f.test.rating.rmse)
        .collect();
    assert_eq!(rmse, MeanStd::of(&per_fold));
    let text = report.table().to_text();
    assert!(text.starts_with("model"), "{text}");
    assert!(text.lines().nth(3).unwrap().starts_with("mf"), "{text}");
    assert!(text.contains(" ± "), "{text}");
    let csv = report.table().to_csv().unwrap();
    assert_eq!(csv.lines().count(), 3);
    // A bad spec cannot be built, so no fit ever starts on one.
    let bad = serde_json::from_value::<ModelSpec>(json!({"model": "mf", "epochs": 0}));
    assert!(bad.unwrap_err().to_string().contains("epochs"));
}

#[test]
fn non_default_params_lists_only_changed_keys() {
    let spec: ModelSpec =
        serde_json::from_value(json!({"model": "svd", "fill": "zero", "factors": 10})).unwrap();
    // factors = 10 is the default; fill = zero is not.
    assert_eq!(non_default_params(&spec), "fill=zero");
    assert_eq!(
        non_default_params(&ModelSpec::new(aerec::model::baseline::MeanConfig::default()).unwrap()),
        ""
    );
    // An ensemble reads as written: the members' changed keys, then its size.
    let ensemble = ModelSpec::from_json(&json!({"model": "svd", "fill": "zero", "ensemble": 3}));
    assert_eq!(
        non_default_params(&ensemble.unwrap()),
        "fill=zero ensemble=3"
    );
    let plain = ModelSpec::from_json(&json!({"model": "mean", "ensemble": 2})).unwrap();
    assert_eq!(non_default_params(&plain), "ensemble=2");
}

fn search() -> (Map<String, Value>, BTreeMap<String, Vec<Value>>) {
    let base = json!({"model": "mf", "epochs": 5})
        .as_object()
        .unwrap()
        .clone();
    let mut space = BTreeMap::new();
    space.insert("factors".to_string(), vec![json!(2), json!(4), json!(8)]);
    space.insert("l2".to_string(), vec![json!(0.02), json!(0.1)]);
    (base, space)
}

#[test]
fn grid_enumerates_every_combination_last_key_fastest() {
    let (base, space) = search();
    let grid = candidates(&base, &space, SearchMode::Grid).unwrap();
    assert_eq!(grid.len(), 6);
    assert_eq!(
        Value::Object(grid[0].0.clone()),
        json!({"factors": 2, "l2": 0.02})
    );
    assert_eq!(
        Value::Object(grid[1].0.clone()),
        json!({"factors": 2, "l2": 0.1})
    );
    assert_eq!(
        Value::Object(grid[5].0.clone()),
        json!({"factors": 8, "l2": 0.1})
    );
    let random = candidates(&base, &space, SearchMode::Random { trials: 4, seed: 3 }).unwrap();
    assert_eq!(random.len(), 4);
    let mut seen: Vec<String> = random
        .iter()
        .map(|c| Value::Object(c.0.clone()).to_string())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "random search repeated a combination");
    // Values are checked before any fit.
    let mut bad = space.clone();
    bad.insert("epochs".into(), vec![json!(0)]);
    assert!(candidates(&base, &bad, SearchMode::Grid).is_err());
    let mut unknown = space;
    unknown.insert("factorz".into(), vec![json!(3)]);
    assert!(candidates(&base, &unknown, SearchMode::Grid)
        .unwrap_err()
        .to_string()
        .contains("factorz"));
}

#[test]
fn tune_picks_the_lowest_validation_rmse_and_writes_loadable_toml() {
    let (base, space) = search();
    let fold = &folds()[0];
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let report = tune(
        &base,
        &space,
        SearchMode::Grid,
        &fold.train,
        &fold.test,
        scale,
        &FitOptions::default(),
    )
    .unwrap();
    assert_eq!(report.trials.len(), 6);
    let best = report.trials[report.best].valid_rmse;
    assert!(report.trials.iter().all(|t| t.valid_rmse >= best));
    let text = report.best_toml().unwrap();
    assert!(text.contains("model = \"mf\""), "{text}");
    let back: ModelSpec = toml::from_str(&text).unwrap();
    assert_eq!(back, report.best_spec);
}

#[test]
fn tune_within_a_spent_budget_tries_one_candidate_and_counts_the_rest() {
    let (base, space) = search();
    let fold = &folds()[0];
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let run = |budget| {
        aerec::eval::tune::tune_within(
            &base,
            &space,
            SearchMode::Grid,
            &fold.train,
            &fold.test,
            scale,
            &FitOptions::default(),
            budget,
        )
    };
    let report = run(Some(1e-9)).unwrap();
    assert_eq!((report.trials.len(), report.skipped), (1, 5));
    assert_eq!(report.best, 0);
    let report = run(Some(1e6)).unwrap();
    assert_eq!((report.trials.len(), report.skipped), (6, 0));
    assert!(run(Some(0.0)).is_err());
}

#[test]
fn bar_charts_render_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let bars = vec![
        Bar {
            label: "biases".into(),
            value: 0.96,
            error: 0.004,
        },
        Bar {
            label: "mf".into(),
            value: 0.95,
            error: 0.0,
        },
    ];
    for name in ["c.png", "c.svg"] {
        let path = dir.path().join(name);
        bar_chart(&path, "test RMSE", "RMSE", &bars).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
    assert!(svg.contains("biases") && svg.contains("test RMSE"));
    assert!(bar_chart(&dir.path().join("c.gif"), "t", "y", &bars).is_err());
}
