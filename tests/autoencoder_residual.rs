//! The residual option (`residual = true`): with a zero baseline it is the
//! plain model, bit for bit; its validation
//! RMSE is in rating units; it round-trips through the model file (and files
//! without the option still load); new users get their bias folded in.

mod low_rank_data;

use std::sync::Arc;

use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::model::autoencoder::{Autoencoder, AutoencoderConfig, Based};
use aerec::model::{FitData, FitOptions, ModelSpec, Recommender, SparseRow, TrainedModel};

use low_rank_data::low_rank;

fn ratings(n_users: usize, n_items: usize, cells: &[(u32, u32, f32)]) -> Ratings {
    let users = IdMap::from_ids((0..n_users).map(|u| format!("u{u}")).collect()).unwrap();
    let items = IdMap::from_ids((0..n_items).map(|i| format!("i{i}")).collect()).unwrap();
    Ratings {
        users: cells.iter().map(|c| c.0).collect(),
        items: cells.iter().map(|c| c.1).collect(),
        values: cells.iter().map(|c| c.2).collect(),
        timestamps: None,
        user_ids: Arc::new(users),
        item_ids: Arc::new(items),
    }
}

/// Every user rates every item `((u + i) mod 3) − 1` (ratings centred on 0,
/// as after a `center` step): each row and each column holds as many −1s as
/// 1s, so μ = 0 and every damped bias is exactly 0. Validation: some of the
/// same cells rated −2..2 by another pattern.
fn zero_bias_data() -> (Ratings, Ratings) {
    let (nu, ni) = (12usize, 9usize);
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for u in 0..nu as u32 {
        for i in 0..ni as u32 {
            train.push((u, i, ((u + i) % 3) as f32 - 1.0));
            if (u * 7 + i) % 5 == 0 {
                valid.push((u, i, ((u * 3 + i) % 5) as f32 - 2.0));
            }
        }
    }
    (ratings(nu, ni, &train), ratings(nu, ni, &valid))
}

fn fit(cfg: &AutoencoderConfig, train: &Ratings, valid: Option<&Ratings>) -> Autoencoder {
    let by_user = train.by_user();
    let data = FitData::new(
        train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, train).unwrap(),
    )
    .unwrap()
    .with_valid(valid);
    cfg.fit(
        &data,
        &FitOptions {
            seed: 3,
            progress: false,
            ..FitOptions::default()
        },
    )
    .unwrap()
    .0
}

fn small(based: Based) -> AutoencoderConfig {
    AutoencoderConfig {
        based,
        layers: vec![6],
        lr: 0.01,
        epochs: 8,
        batch_size: 4,
        input_dropout: 0.2,
        dropout: 0.25,
        ..Default::default()
    }
}

fn all_scores(model: &dyn Recommender, user: Option<u32>, row: SparseRow<'_>) -> Vec<f32> {
    let mut out = vec![0f32; model.n_items()];
    model.score_all(user, row, &mut out).unwrap();
    out
}

#[test]
fn with_a_zero_baseline_the_residual_model_is_the_plain_model() {
    let (train, valid) = zero_bias_data();
    let by_user = train.by_user();
    for based in [Based::User, Based::Item] {
        let plain = fit(&small(based), &train, Some(&valid));
        let residual = fit(
            &AutoencoderConfig {
                residual: true,
                ..small(based)
            },
            &train,
            Some(&valid),
        );
        // The premise: the fitted baseline is exactly zero.
        let b = residual
            .baseline()
            .expect("a residual model has a baseline");
        assert_eq!(b.biases().mu(), 0.0);
        assert!(b.biases().user_bias().iter().all(|&x| x == 0.0));
        assert!(b.biases().item_bias().iter().all(|&x| x == 0.0));
        // Same seed, same inputs and targets: the same weights.
        for (p, r) in plain
            .network()
            .params
            .iter()
            .zip(&residual.network().params)
        {
            assert_eq!(p.data, r.data, "{based:?}: {} differs", p.name);
        }
        for u in [0u32, 5, 11] {
            let row = SparseRow::of(&by_user, u as usize);
            let (a, b) = (
                all_scores(&plain, Some(u), row),
                all_scores(&residual, Some(u), row),
            );
            assert_eq!(a, b, "{based:?} user {u}");
            // Fold-in: a balanced row's folded-in bias is 0 too.
            let (a, b) = (
                all_scores(&plain, None, row),
                all_scores(&residual, None, row),
            );
            assert_eq!(a, b, "{based:?} new user like {u}");
        }
    }
}

#[test]
fn a_nonzero_baseline_changes_the_model() {
    let (train, _) = low_rank(60, 30, 2);
    let by_user = train.by_user();
    let plain = fit(&small(Based::Item), &train, None);
    let residual = fit(
        &AutoencoderConfig {
            residual: true,
            ..small(Based::Item)
        },
        &train,
        None,
    );
    let row = SparseRow::of(&by_user, 4);
    let (a, b) = (
        all_scores(&plain, Some(4), row),
        all_scores(&residual, Some(4), row),
    );
    assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
}

/// RMSE of the model's clipped predictions over `valid`, by hand.
fn rmse(model: &Autoencoder, train: &Ratings, valid: &Ratings) -> f64 {
    let by_user = train.by_user();
    let (lo, hi) = train.min_max().unwrap();
    let mut sse = 0.0;
    for k in 0..valid.len() {
        let (u, i) = (valid.users[k], valid.items[k]);
        let mut p = [0f32];
        model
            .score_items(Some(u), SparseRow::of(&by_user, u as usize), &[i], &mut p)
            .unwrap();
        sse += ((p[0].clamp(lo, hi) - valid.values[k]) as f64).powi(2);
    }
    (sse / valid.len() as f64).sqrt()
}

#[test]
fn validation_rmse_is_in_rating_units() {
    let (train, valid) = low_rank(80, 40, 4);
    for based in [Based::User, Based::Item] {
        let cfg = AutoencoderConfig {
            residual: true,
            epochs: 4,
            ..small(based)
        };
        let by_user = train.by_user();
        let data = FitData::new(
            &train,
            &by_user,
            aerec::data::filter::declared_or_inferred_scale(None, &train).unwrap(),
        )
        .unwrap()
        .with_valid(Some(&valid));
        let (model, report) = cfg.fit(&data, &FitOptions::default()).unwrap();
        let logged = report.history.last().unwrap().valid_rmse.unwrap();
        let by_hand = rmse(&model, &train, &valid);
        assert!(
            (logged - by_hand).abs() < 1e-5,
            "{based:?}: history says {logged}, the model scores {by_hand}"
        );
    }
}

#[test]
fn residual_models_round_trip_and_their_scoring_paths_agree() {
    let (train, _) = low_rank(50, 30, 5);
    let by_user = train.by_user();
    for based in [Based::User, Based::Item] {
        let model = fit(
            &AutoencoderConfig {
                residual: true,
                ..small(based)
            },
            &train,
            None,
        );
        let parts = model.to_parts();
        for name in ["residual.mu", "residual.user_bias", "residual.item_bias"] {
            assert!(
                parts.tensors.iter().any(|(n, _)| n == name),
                "{name} missing"
            );
        }
        let back = Autoencoder::from_parts(&parts).unwrap();
        for user in [Some(7), None] {
            let row = SparseRow::of(&by_user, 7);
            let all = all_scores(&model, user, row);
            assert_eq!(all, all_scores(&back, user, row), "{based:?} {user:?}");
            let items = [3u32, 0, 29];
            let mut some = [0f32; 3];
            model.score_items(user, row, &items, &mut some).unwrap();
            for (k, &i) in items.iter().enumerate() {
                assert!(
                    (some[k] - all[i as usize]).abs() < 1e-5,
                    "{based:?} {user:?}"
                );
            }
            let top = model.top_n(user, row, 5, row.indices).unwrap();
            let want = aerec::model::top_n(&all, 5, row.indices);
            assert_eq!(top, want);
        }
        // A missing baseline tensor is a model-file error, not a panic.
        let mut broken = parts.clone();
        broken.tensors.retain(|(n, _)| n != "residual.item_bias");
        assert!(Autoencoder::from_parts(&broken).is_err());
    }
}

#[test]
fn files_written_before_the_option_still_load() {
    let (train, _) = low_rank(30, 20, 6);
    let by_user = train.by_user();
    let model = fit(&small(Based::User), &train, None);
    let mut parts = model.to_parts();
    let config = parts.config.get_mut("config").unwrap();
    assert_eq!(
        config.as_object_mut().unwrap().remove("residual"),
        Some(false.into())
    );
    let back = Autoencoder::from_parts(&parts).unwrap();
    assert!(back.baseline().is_none());
    let row = SparseRow::of(&by_user, 2);
    assert_eq!(
        all_scores(&model, Some(2), row),
        all_scores(&back, Some(2), row)
    );
}

#[test]
fn new_users_get_their_bias_folded_in() {
    // Users 0..40 rate one star lower, 40..80 one higher: a new user's
    // folded-in bias must move their predictions to their own side.
    let (train, _) = low_rank(80, 30, 7);
    let shifted: Vec<f32> = train
        .users
        .iter()
        .zip(&train.values)
        .map(|(&u, &r)| {
            if u < 40 {
                (r - 1.0).max(1.0)
            } else {
                (r + 1.0).min(5.0)
            }
        })
        .collect();
    let train = Ratings {
        values: shifted,
        ..train
    };
    let by_user = train.by_user();
    for based in [Based::User, Based::Item] {
        let model = fit(
            &AutoencoderConfig {
                residual: true,
                ..small(based)
            },
            &train,
            None,
        );
        let mean_of = |u: usize| {
            let s = all_scores(&model, None, SparseRow::of(&by_user, u));
            s.iter().sum::<f32>() / s.len() as f32
        };
        let (low, high) = (mean_of(3), mean_of(60));
        assert!(
            low + 0.5 < high,
            "{based:?}: new low user {low}, high user {high}"
        );
        if based == Based::User {
            // The network sees the same row either way, so a new user's
            // scores differ from the known user's by exactly the folded-in
            // bias minus the fitted one: Σ(r − μ − b_i) / (reg_u + n), with
            // the `biases` default reg_u = 15.
            let b = model.baseline().unwrap().biases();
            for u in [3usize, 60] {
                let row = SparseRow::of(&by_user, u);
                let dev: f64 = row
                    .indices
                    .iter()
                    .zip(row.values)
                    .map(|(&i, &r)| (r - b.mu() - b.item_bias()[i as usize]) as f64)
                    .sum();
                let folded = (dev / (15.0 + row.len() as f64)) as f32;
                let want = folded - b.user_bias()[u];
                let new = all_scores(&model, None, row);
                let known = all_scores(&model, Some(u as u32), row);
                for (n, k) in new.iter().zip(&known) {
                    assert!((n - k - want).abs() < 1e-4, "user {u}: {n} − {k} ≠ {want}");
                }
            }
        }
    }
}

#[test]
fn residual_models_save_load_and_predict_through_the_model_file() {
    let (train, _) = low_rank(40, 25, 8);
    let spec = ModelSpec::from_json(&serde_json::json!({
        "based": "item", "layers": [5], "epochs": 3, "residual": true
    }))
    .unwrap();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let model =
        TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residual.aerec");
    aerec::persist::save(&model, &path).unwrap();
    let back = aerec::persist::load(&path).unwrap();
    assert_eq!(back.spec, spec);
    let pair = [(model.user_ids.get("u3"), model.item_ids.get("i4"))];
    let a = model.predict_indices(&pair).unwrap();
    assert_eq!(a, back.predict_indices(&pair).unwrap());
    assert!(a[0].fallback.is_none());
    assert_eq!(
        model.recommend_index(3, 5).unwrap(),
        back.recommend_index(3, 5).unwrap()
    );
    let new = [(2u32, 5.0f32), (7, 1.0), (11, 4.0)];
    assert_eq!(
        model.recommend_new(&new, 4).unwrap(),
        back.recommend_new(&new, 4).unwrap()
    );
}
