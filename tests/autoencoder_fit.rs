//! End-to-end behaviour of the autoencoder through the `Recommender` trait
//! on small synthetic low-rank data: learning, early stopping, divergence,
//! thread-count independence, save/load, scoring paths and new users.

mod low_rank_data;

use aerec::data::side::{SideFeatures, SideOf};
use aerec::data::Ratings;
use aerec::model::autoencoder::{Activation, AutoencoderConfig, Based, OptimizerKind};
use aerec::model::{FitData, FitOptions, Recommender, SparseRow};
use aerec::ErrorKind;

use low_rank_data::low_rank as data;

fn small() -> AutoencoderConfig {
    AutoencoderConfig {
        layers: vec![16],
        activation: Activation::Sigmoid,
        lr: 0.01,
        epochs: 30,
        batch_size: 16,
        ..Default::default()
    }
}

fn fit(
    cfg: &AutoencoderConfig,
    train: &Ratings,
    valid: Option<&Ratings>,
    side: Option<&SideFeatures>,
) -> aerec::Result<(
    aerec::model::autoencoder::Autoencoder,
    aerec::model::FitReport,
)> {
    let by_user = train.by_user();
    let fd = FitData::new(
        train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, train).unwrap(),
    )?
    .with_valid(valid)
    .with_side(side);
    cfg.fit(&fd, &FitOptions::default())
}

#[test]
fn learns_below_the_mean_baseline_user_and_item_based() {
    let (train, valid) = data(200, 120, 1);
    let mu = train.mean().unwrap();
    let baseline = (valid
        .values
        .iter()
        .map(|&y| (y as f64 - mu).powi(2))
        .sum::<f64>()
        / valid.len() as f64)
        .sqrt();
    for based in [Based::User, Based::Item] {
        let cfg = AutoencoderConfig {
            based,
            l2: 1e-3,
            ..small()
        };
        let (_, report) = fit(&cfg, &train, Some(&valid), None).unwrap();
        let first = report.history[0].train_rmse;
        let last = report.history.last().unwrap();
        assert!(
            last.train_rmse < 0.8 * first,
            "{based:?}: train RMSE {first} → {}",
            last.train_rmse
        );
        let v = last.valid_rmse.unwrap();
        assert!(
            v < 0.9 * baseline,
            "{based:?}: valid RMSE {v} vs mean baseline {baseline}"
        );
    }
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let (train, valid) = data(60, 40, 2);
    // A wide, unregularised net overfits: validation RMSE turns up.
    let cfg = AutoencoderConfig {
        layers: vec![64],
        lr: 0.02,
        epochs: 200,
        patience: Some(3),
        ..small()
    };
    let (model, report) = fit(&cfg, &train, Some(&valid), None).unwrap();
    let best = report.best_epoch.unwrap();
    assert!(
        report.epochs < 200 && report.epochs == best + 3,
        "{} epochs, best {best}",
        report.epochs
    );
    let best_valid = report.history[best - 1].valid_rmse.unwrap();
    assert!(report
        .history
        .iter()
        .all(|e| e.valid_rmse.unwrap() >= best_valid));
    // The kept weights are the best epoch's: re-measure validation RMSE.
    let by_user = train.by_user();
    let mut sse = 0.0;
    let mut n = 0;
    for k in 0..valid.len() {
        let (u, i) = (valid.users[k], valid.items[k]);
        if by_user.row_len(u as usize) == 0 || !train.items.contains(&i) {
            continue;
        }
        let mut out = [0f32];
        model
            .score_items(Some(u), SparseRow::of(&by_user, u as usize), &[i], &mut out)
            .unwrap();
        sse += ((out[0].clamp(1.0, 5.0) - valid.values[k]) as f64).powi(2);
        n += 1;
    }
    assert!(((sse / n as f64).sqrt() - best_valid).abs() < 1e-4);
}

#[test]
fn divergence_is_a_clear_error() {
    let (train, _) = data(40, 30, 3);
    let cfg = AutoencoderConfig {
        activation: Activation::Relu,
        optimizer: OptimizerKind::Sgd,
        lr: 1e4,
        ..small()
    };
    let err = fit(&cfg, &train, None, None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Diverged(_)), "{err}");
    assert!(err.to_string().contains("learning rate"), "{err}");
}

#[test]
fn same_seed_same_weights_with_one_and_two_threads() {
    let (train, _) = data(150, 80, 4);
    let cfg = AutoencoderConfig {
        layers: vec![24, 12],
        mirror: true,
        dropout: 0.3,
        input_dropout: 0.2,
        epochs: 3,
        ..small()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fit(&cfg, &train, None, None).unwrap().0.to_parts())
    };
    let (one, two) = (run(1), run(2));
    for ((name, a), (_, b)) in one.tensors.iter().zip(&two.tensors) {
        for (x, y) in a.data.iter().zip(&b.data) {
            // Identical work split by rows and columns; only GEMM blocking may round differently.
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + x.abs()),
                "{name}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn parts_round_trip_and_scoring_paths_agree() {
    let (train, _) = data(50, 30, 5);
    let by_user = train.by_user();
    for based in [Based::User, Based::Item] {
        let cfg = AutoencoderConfig {
            based,
            epochs: 3,
            center: true,
            ..small()
        };
        let (model, _) = fit(&cfg, &train, None, None).unwrap();
        let back = aerec::model::autoencoder::Autoencoder::from_parts(&model.to_parts()).unwrap();
        let row = SparseRow::of(&by_user, 7);
        let mut all = vec![0f32; 30];
        model.score_all(Some(7), row, &mut all).unwrap();
        let mut again = vec![0f32; 30];
        back.score_all(Some(7), row, &mut again).unwrap();
        assert_eq!(all, again, "{based:?}: reloaded model scores differently");
        let items = [3u32, 0, 29];
        let mut some = [0f32; 3];
        model.score_items(Some(7), row, &items, &mut some).unwrap();
        for (k, &i) in items.iter().enumerate() {
            assert!((some[k] - all[i as usize]).abs() < 1e-5);
        }
        let (dim, vecs) = model.item_vectors().unwrap();
        assert_eq!(vecs.len(), 30 * dim);
        assert!(model.score_items(Some(7), row, &[30], &mut [0f32]).is_err());
    }
}

#[test]
fn new_users_are_folded_in() {
    let (train, _) = data(200, 40, 6);
    let by_user = train.by_user();
    for based in [Based::User, Based::Item] {
        let cfg = AutoencoderConfig {
            based,
            l2: 1e-3,
            ..small()
        };
        let (model, _) = fit(&cfg, &train, None, None).unwrap();
        // A known user's row presented as a new user: the folded-in scores
        // fit that user's ratings better than the global mean does.
        let mu = train.mean().unwrap() as f32;
        let row = SparseRow::of(&by_user, 3);
        let mut new = vec![0f32; 40];
        model.score_all(None, row, &mut new).unwrap();
        assert!(new.iter().all(|x| x.is_finite()));
        let sse = |f: &dyn Fn(u32) -> f32| -> f32 {
            row.indices
                .iter()
                .zip(row.values)
                .map(|(&i, &y)| (f(i) - y).powi(2))
                .sum()
        };
        let (fold, mean) = (sse(&|i| new[i as usize]), sse(&|_| mu));
        assert!(fold < mean, "{based:?}: fold-in SSE {fold} vs mean {mean}");
    }
}

#[test]
fn side_features_of_the_rows_are_used_and_checked() {
    let (train, valid) = data(60, 30, 7);
    let side = SideFeatures {
        of: SideOf::Users,
        n_rows: 60,
        dim: 2,
        data: (0..120).map(|k| (k % 3) as f32).collect(),
        names: vec!["a".into(), "b".into()],
    };
    let (model, _) = fit(&small(), &train, Some(&valid), Some(&side)).unwrap();
    assert!(model
        .to_parts()
        .tensors
        .iter()
        .any(|(n, t)| n == "side.features" && t.shape == [60, 2]));
    let wrong = AutoencoderConfig {
        based: Based::Item,
        ..small()
    };
    let err = fit(&wrong, &train, None, Some(&side)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config(_)), "{err}");
}

#[test]
fn every_preset_trains_an_epoch() {
    let (train, valid) = data(40, 30, 8);
    for (name, _) in aerec::model::autoencoder::PRESETS {
        let mut cfg = AutoencoderConfig::preset(name).unwrap();
        cfg.epochs = 1;
        cfg.layers = cfg.layers.iter().map(|w| w / 32).collect();
        let (model, report) = fit(&cfg, &train, Some(&valid), None).unwrap();
        assert!(report.history[0].valid_rmse.unwrap().is_finite(), "{name}");
        assert!(model.n_params() > 0);
    }
}

/// A whole fit with lazy row updates equals the dense fit for SGD with
/// momentum, L2 and weight decay: the catch-up is exact, including rows that
/// only served as outputs and the sweep skipped between epochs.
#[test]
fn lazy_and_dense_sgd_fits_agree() {
    use aerec::model::autoencoder::SparseUpdates;
    let (train, _) = data(120, 300, 9);
    let run = |sparse_updates| {
        let cfg = AutoencoderConfig {
            optimizer: OptimizerKind::Sgd,
            momentum: 0.9,
            nesterov: true,
            lr: 0.05,
            l2: 1e-3,
            weight_decay: 1e-2,
            input_dropout: 0.5,
            epochs: 3,
            sparse_updates,
            ..small()
        };
        fit(&cfg, &train, None, None).unwrap().0.to_parts()
    };
    let (lazy, dense) = (run(SparseUpdates::Lazy), run(SparseUpdates::Dense));
    for ((name, a), (_, b)) in lazy.tensors.iter().zip(&dense.tensors) {
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                "{name}: {x} vs {y}"
            );
        }
    }
}
