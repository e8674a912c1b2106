//! Baseline models: reference numbers (the SVD assignment's numpy output),
//! hand-computed updates, fold-in, save/load round trips and the ML-100K u1
//! accuracy targets.

mod small_tables;
/// The SVD assignment's matrix and recipe (seed 004), shared with the example.
#[path = "../examples/svd_assignment.rs"]
#[allow(dead_code)]
mod svd_assignment;

use aerec::data::Ratings;
use aerec::model::baseline::{
    BiasesConfig, BiasesMethod, MeanModel, MfConfig, SvdConfig, SvdFill, SvdMethod,
};
use aerec::model::spec::load_model;
use aerec::model::{FitData, FitOptions, ModelSpec, Recommender, SparseRow, TrainedModel};
use aerec::RatingScale;
use small_tables::{from_dense, ml100k_u1, ratings};

fn fit(spec: &ModelSpec, train: &Ratings) -> Box<dyn Recommender> {
    let by_user = train.by_user();
    let data = FitData::new(
        train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, train).unwrap(),
    )
    .unwrap();
    spec.fit(&data, &FitOptions::default()).unwrap().0
}

fn scores(model: &dyn Recommender, train: &Ratings, u: u32) -> Vec<f32> {
    let by_user = train.by_user();
    let mut out = vec![0f32; model.n_items()];
    model
        .score_all(Some(u), SparseRow::of(&by_user, u as usize), &mut out)
        .unwrap();
    out
}

/// `np.round(low_rank_reconstruction)` with 3 components, as printed in seed
/// 004 (numpy's `-0.` written as 0).
const ASSIGNMENT_RANK3: [[f32; 10]; 18] = [
    [1., 1., 1., 0., 2., 0., 0., 0., 1., 1.],
    [2., 0., 1., 1., 4., 0., 2., 1., 3., 1.],
    [0., 1., 0., 0., 0., 0., 0., 0., 0., 0.],
    [1., 4., 0., 1., 0., 1., 0., 0., 0., 1.],
    [0., 0., 0., 0., 1., 0., 0., 0., 0., 0.],
    [2., 3., 1., 0., 1., 1., 0., 0., 0., 1.],
    [0., 0., 0., 4., 1., 0., 3., 0., 4., 0.],
    [0., 3., 0., 2., -1., 1., 1., 0., 1., 1.],
    [1., 1., 0., 0., 1., 0., 0., 0., 0., 0.],
    [1., -1., 1., 1., 4., 0., 1., 1., 3., 1.],
    [2., 5., 0., 1., 0., 1., 0., 0., 0., 1.],
    [2., 0., 1., -1., 4., 0., 0., 1., 1., 1.],
    [0., 1., 0., 2., 0., 0., 1., 0., 2., 0.],
    [1., 4., 0., 4., 0., 1., 1., 0., 3., 1.],
    [2., 0., 1., -1., 4., 0., 0., 1., 1., 1.],
    [-1., 1., 0., 3., -1., 0., 1., 0., 2., 0.],
    [1., 2., 0., 1., 0., 1., 0., 0., 1., 1.],
    [2., 4., 1., 0., 1., 1., 0., 0., 0., 2.],
];

fn assignment() -> Ratings {
    let rows: Vec<&[f32]> = svd_assignment::UP_RATING.iter().map(|r| &r[..]).collect();
    from_dense(&rows)
}

fn svd_spec(method: SvdMethod) -> ModelSpec {
    ModelSpec::new(SvdConfig {
        factors: 3,
        fill: SvdFill::Zero,
        method,
        // The 18 × 10 matrix has rank ≤ 10, so a sketch of 10 columns spans
        // its whole range and the randomized solver is exact up to rounding.
        oversample: 7,
        ..SvdConfig::default()
    })
    .unwrap()
}

#[test]
fn svd_reproduces_the_assignments_rank_3_reconstruction() {
    let train = assignment();
    for method in [SvdMethod::Exact, SvdMethod::Randomized] {
        let model = fit(&svd_spec(method), &train);
        for (u, expected) in ASSIGNMENT_RANK3.iter().enumerate() {
            let got = scores(model.as_ref(), &train, u as u32);
            let rounded: Vec<f32> = got.iter().map(|v| v.round() + 0.0).collect();
            assert_eq!(&rounded[..], &expected[..], "{method:?}, user {u}: {got:?}");
        }
    }
}

#[test]
fn svd_recommends_item_7_to_user_2_as_the_assignment_says() {
    let train = assignment();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let model = TrainedModel::fit(
        &svd_spec(SvdMethod::Exact),
        &train,
        None,
        None,
        scale,
        &FitOptions::default(),
    )
    .unwrap();
    // User 2 is index 1; product 7 is index 6 (seed 004, bold in the text).
    assert_eq!(model.recommend_index(1, 1).unwrap()[0].0, 6);
}

#[test]
fn randomized_svd_equals_exact_when_the_sketch_spans_the_range() {
    // 60 users, each a multiple of one of 5 sparse prototype rows over 40
    // items: rank 5. With rank 3 + 5 oversampling the sketch holds the whole
    // range, so both solvers give the same rank-3 truncation.
    let mut dense = vec![[0f32; 40]; 60];
    for (u, row) in dense.iter_mut().enumerate() {
        let proto = u % 5;
        for (c, cell) in row.iter_mut().enumerate() {
            if (c * 7 + proto * 3) % 5 == 0 || c % 9 == proto {
                *cell = ((c + proto) % 5 + 1) as f32 * (1.0 + (u / 5) as f32 * 0.1);
            }
        }
    }
    let rows: Vec<&[f32]> = dense.iter().map(|r| &r[..]).collect();
    let train = from_dense(&rows);
    let spec = |method| {
        ModelSpec::new(SvdConfig {
            factors: 3,
            fill: SvdFill::Zero,
            method,
            oversample: 5,
            power_iters: 1,
            ..SvdConfig::default()
        })
        .unwrap()
    };
    let exact = fit(&spec(SvdMethod::Exact), &train);
    let randomized = fit(&spec(SvdMethod::Randomized), &train);
    for u in [0u32, 7, 33, 59] {
        let (a, b) = (
            scores(exact.as_ref(), &train, u),
            scores(randomized.as_ref(), &train, u),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-3, "user {u}: {x} vs {y}");
        }
    }
}

#[test]
fn svd_fold_in_of_a_training_row_equals_the_known_user() {
    let train = assignment();
    let by_user = train.by_user();
    for fill in [SvdFill::Zero, SvdFill::Mean] {
        let spec = ModelSpec::new(SvdConfig {
            factors: 3,
            fill,
            ..SvdConfig::default()
        })
        .unwrap();
        let model = fit(&spec, &train);
        let row = SparseRow::of(&by_user, 6);
        let (mut known, mut new) = (vec![0f32; 10], vec![0f32; 10]);
        model.score_all(Some(6), row, &mut known).unwrap();
        model.score_all(None, row, &mut new).unwrap();
        assert_eq!(known, new);
    }
}

/// 3 users × 3 items, small enough to run ALS by hand.
fn tiny() -> Ratings {
    ratings(&[
        ("a", "x", 5.0),
        ("a", "y", 3.0),
        ("b", "x", 4.0),
        ("c", "y", 1.0),
        ("c", "z", 2.0),
    ])
}

#[test]
fn biases_als_one_epoch_matches_the_hand_computation() {
    // μ = 15 / 5 = 3. Items first with b_u = 0 (Surprise's order), reg_i = 10:
    // b_x = (2 + 1) / 12 = 0.25, b_y = (0 − 2) / 12 = −1/6, b_z = −1 / 11.
    // Then users, reg_u = 15: b_a = ((5−3−0.25) + (3−3+1/6)) / 17 = (1.75 + 1/6) / 17,
    // b_b = (4−3−0.25) / 16 = 0.75 / 16, b_c = ((1−3+1/6) + (2−3+1/11)) / 17.
    let train = tiny();
    let spec = ModelSpec::new(BiasesConfig {
        epochs: 1,
        ..BiasesConfig::default()
    })
    .unwrap();
    let model = fit(&spec, &train);
    let b_a = (1.75 + 1.0 / 6.0) / 17.0;
    let b_c = ((-2.0 + 1.0 / 6.0) + (-1.0 + 1.0 / 11.0)) / 17.0;
    let expected_a = [
        3.0 + b_a + 0.25,
        3.0 + b_a - 1.0 / 6.0,
        3.0 + b_a - 1.0 / 11.0,
    ];
    let got_a = scores(model.as_ref(), &train, 0);
    let got_c = scores(model.as_ref(), &train, 2);
    for (g, e) in got_a.iter().zip(expected_a) {
        assert!((*g as f64 - e).abs() < 1e-6, "{got_a:?}");
    }
    assert!((got_c[0] as f64 - (3.0 + b_c + 0.25)).abs() < 1e-6);
}

#[test]
fn biases_fold_in_is_the_als_user_step() {
    let train = tiny();
    let model = fit(&ModelSpec::new(BiasesConfig::default()).unwrap(), &train);
    let parts = model.to_parts();
    let item_bias = &parts
        .tensors
        .iter()
        .find(|t| t.0 == "item_bias")
        .unwrap()
        .1
        .data;
    let mu = 3.0f32;
    // A new user who rated x = 5: b_u = (5 − μ − b_x) / (15 + 1).
    let b_u = (5.0 - mu - item_bias[0]) / 16.0;
    let mut out = [0f32; 1];
    let row = SparseRow {
        indices: &[0],
        values: &[5.0],
    };
    model.score_items(None, row, &[2], &mut out).unwrap();
    assert!((out[0] - (mu + b_u + item_bias[2])).abs() < 1e-6);
}

#[test]
fn biases_als_refuses_sgd_settings() {
    let c = BiasesConfig {
        l2: Some(0.1),
        ..BiasesConfig::default()
    };
    assert!(c.validate().unwrap_err().to_string().contains("sgd"));
    let sgd = BiasesConfig {
        method: BiasesMethod::Sgd,
        l2: Some(0.1),
        ..BiasesConfig::default()
    };
    assert!(sgd.validate().is_ok());
}

#[test]
fn mf_one_sgd_step_matches_surprises_update_by_hand() {
    // One rating (a, x, 4): μ = 4. Factors start at 0.1 (init_std 0), k = 1.
    // e = 4 − (4 + 0 + 0 + 0.1·0.1) = −0.01; lr = 0.005, reg = 0.02:
    // b_u = b_i = 0.005·(−0.01) = −5e-5; p = q = 0.1 + 0.005·(−0.01·0.1 − 0.02·0.1) = 0.099985.
    // Prediction afterwards: 4 − 1e-4 + 0.099985² = 4.0098970002.
    let train = ratings(&[("a", "x", 4.0)]);
    let spec = ModelSpec::new(MfConfig {
        factors: Some(1),
        epochs: 1,
        init_mean: 0.1,
        init_std: 0.0,
        ..MfConfig::default()
    })
    .unwrap();
    let model = fit(&spec, &train);
    let got = scores(model.as_ref(), &train, 0)[0] as f64;
    assert!((got - 4.009_897).abs() < 1e-6, "{got}");
}

#[test]
fn every_hyperparameter_changes_the_result() {
    let (train, _) = small_movielens();
    let base = MfConfig {
        factors: Some(8),
        epochs: 3,
        ..MfConfig::default()
    };
    let reference = scores(
        fit(&ModelSpec::new(base.clone()).unwrap(), &train).as_ref(),
        &train,
        0,
    );
    let variants = [
        MfConfig {
            factors: Some(4),
            ..base.clone()
        },
        MfConfig {
            epochs: 4,
            ..base.clone()
        },
        MfConfig {
            lr: Some(0.01),
            ..base.clone()
        },
        MfConfig {
            l2: 0.5,
            ..base.clone()
        },
        MfConfig {
            init_std: 0.2,
            ..base.clone()
        },
        MfConfig {
            init_mean: 0.05,
            ..base.clone()
        },
        MfConfig {
            biased: false,
            ..base.clone()
        },
    ];
    for v in variants {
        for spec in [
            ModelSpec::new(v.clone()).unwrap(),
            ModelSpec::new(aerec::model::baseline::SvdppConfig(v.clone())).unwrap(),
        ] {
            let got = scores(fit(&spec, &train).as_ref(), &train, 0);
            assert_ne!(got, reference, "{spec:?} gave the reference scores");
        }
    }
}

/// A few hundred ratings drawn from a low-rank pattern, with a held-out part.
fn small_movielens() -> (Ratings, Ratings) {
    let mut triples = Vec::new();
    let names: Vec<(String, String)> = (0..40)
        .flat_map(|u| (0..30).map(move |i| (format!("u{u}"), format!("i{i}"))))
        .collect();
    for (k, (u, i)) in names.iter().enumerate() {
        let (uu, ii) = (k / 30, k % 30);
        if (uu * 7 + ii * 3) % 4 == 0 {
            let r = 1.0 + ((uu % 5) as f32 * 0.5 + (ii % 3) as f32).min(4.0);
            triples.push((u.as_str(), i.as_str(), r));
        }
    }
    let all = ratings(&triples);
    let (test, train): (Vec<usize>, Vec<usize>) = (0..all.len()).partition(|k| k % 5 == 0);
    (all.select(&train), all.select(&test))
}

#[test]
fn every_model_round_trips_through_its_parts() {
    let (train, _) = small_movielens();
    let by_user = train.by_user();
    let specs = [
        ModelSpec::new(aerec::model::baseline::MeanConfig::default()).unwrap(),
        ModelSpec::new(BiasesConfig::default()).unwrap(),
        ModelSpec::new(BiasesConfig {
            method: BiasesMethod::Sgd,
            ..BiasesConfig::default()
        })
        .unwrap(),
        ModelSpec::new(SvdConfig::default()).unwrap(),
        ModelSpec::new(MfConfig {
            factors: Some(5),
            ..MfConfig::default()
        })
        .unwrap(),
        ModelSpec::new(aerec::model::baseline::SvdppConfig(MfConfig::default())).unwrap(),
    ];
    for spec in specs {
        let model = fit(&spec, &train);
        let back = load_model(&model.to_parts()).unwrap();
        assert_eq!(back.kind(), spec.kind());
        assert_eq!(
            (back.n_users(), back.n_items()),
            (model.n_users(), model.n_items())
        );
        assert_eq!(back.n_params(), model.n_params());
        for u in [0u32, 5, 39] {
            let row = SparseRow::of(&by_user, u as usize);
            for user in [Some(u), None] {
                let (mut a, mut b) = (vec![0f32; model.n_items()], vec![0f32; back.n_items()]);
                model.score_all(user, row, &mut a).unwrap();
                back.score_all(user, row, &mut b).unwrap();
                assert_eq!(a, b, "{spec:?}");
                // score_items agrees with score_all.
                let items = [3u32, 0, 29];
                let mut c = [0f32; 3];
                model.score_items(user, row, &items, &mut c).unwrap();
                for (k, &i) in items.iter().enumerate() {
                    assert!((c[k] - a[i as usize]).abs() < 1e-5, "{spec:?}");
                }
            }
        }
        // Out-of-range input is an error, not a panic.
        let mut out = [0f32; 1];
        assert!(model
            .score_items(Some(0), SparseRow::default(), &[1000], &mut out)
            .is_err());
        assert!(model
            .score_items(Some(1000), SparseRow::default(), &[0], &mut out)
            .is_err());
        let mut parts = model.to_parts();
        if let Some((_, t)) = parts.tensors.first_mut() {
            t.shape.push(2);
            assert!(
                load_model(&parts).is_err(),
                "{spec:?} accepted a wrong shape"
            );
        }
    }
}

#[test]
fn mf_fold_in_fits_the_new_users_own_ratings() {
    let (train, _) = small_movielens();
    let by_user = train.by_user();
    let model = fit(&ModelSpec::new(MfConfig::default()).unwrap(), &train);
    let mean = MeanModel::fit(
        &FitData::new(
            &train,
            &by_user,
            aerec::data::filter::declared_or_inferred_scale(None, &train).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
    .0;
    let mut folded_sq = 0f32;
    let mut mean_sq = 0f32;
    for u in 0..40 {
        let row = SparseRow::of(&by_user, u);
        let mut out = vec![0f32; row.len()];
        model.score_items(None, row, row.indices, &mut out).unwrap();
        for (p, r) in out.iter().zip(row.values) {
            folded_sq += (p - r).powi(2);
            mean_sq += (mean.mu() - r).powi(2);
        }
    }
    assert!(
        folded_sq < 0.5 * mean_sq,
        "fold-in {folded_sq} vs mean {mean_sq}"
    );
}

#[test]
fn ml100k_u1_meets_the_accuracy_targets() {
    let Some((train, test)) = ml100k_u1() else {
        return;
    };
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let rmse = |toml_spec: &str| {
        let spec: ModelSpec = toml::from_str(toml_spec).unwrap();
        let model =
            TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default()).unwrap();
        let opts = aerec::eval::EvalOptions {
            clip: true,
            ranking: None,
        };
        aerec::eval::evaluate(&model, &test, &opts)
            .unwrap()
            .rating
            .rmse
    };
    // Surprise on this split: BaselineOnly 0.9599, SVD 0.9529, SVDpp 0.9339 (issue 4).
    // Biases: 0.96003 here; the last 3e-5 is the 32 test ratings of items unseen in
    // training, which TrainedModel answers with its own damped-mean fallback where
    // Surprise uses μ + b_u of the model.
    let biases = rmse("model = \"biases\"");
    assert!(biases <= 0.9601, "biases {biases}");
    let mf_defaults = rmse("model = \"mf\"");
    assert!(
        mf_defaults <= 0.9535,
        "mf with Surprise's defaults {mf_defaults}"
    );
    // The best of a grid over l2, lr and epochs on a validation split carved
    // from u1.base (examples/base_tune_u1.rs, docs/baseline-speed-accuracy.md): 0.9228.
    let mf = rmse("model = \"mf\"\nepochs = 40\nlr = 0.01\nl2 = 0.1");
    assert!(mf <= 0.950, "mf {mf}");
    let svdpp = rmse("model = \"svdpp\"");
    assert!(svdpp <= 0.9339, "svdpp {svdpp}");
}
