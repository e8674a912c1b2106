//! Data-parallel training on an in-process group of ranks (threads,
//! `collective::ThreadGroup`), no MPI needed: N ranks take the
//! single-process steps (the gradients' float sums in another order), so
//! their weights match one process's within float tolerance and match each
//! other bit for bit; each step hands the collective exactly the bytes the
//! formula of docs/distributed.md says; a rank that fails stops the others
//! with an error instead of a hang.

mod low_rank_data;

use aerec::collective::{Comm, ThreadGroup};
use aerec::data::Ratings;
use aerec::model::autoencoder::config::{DefaultKind, DefaultRating};
use aerec::model::autoencoder::init;
use aerec::model::autoencoder::network::{Network, Workspace};
use aerec::model::autoencoder::optim::{OptimSettings, Optimizer};
use aerec::model::autoencoder::sparse::Batch;
use aerec::model::autoencoder::train::{group_step, train_step};
use aerec::model::autoencoder::{Autoencoder, AutoencoderConfig, Based, OptimizerKind};
use aerec::model::{FitControl, FitData, FitOptions, FitReport, ModelSpec, TrainedModel};
use aerec::recommend::{
    predict_pairs, predict_pairs_over, recommend_all, recommend_all_over, write_predictions,
};

use low_rank_data::low_rank;

fn fit_on(
    cfg: &AutoencoderConfig,
    train: &Ratings,
    valid: &Ratings,
    comm: Comm,
) -> aerec::Result<(Autoencoder, FitReport)> {
    let by_user = train.by_user();
    let data = FitData::new(
        train,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, train)?,
    )?
    .with_valid(Some(valid));
    let opts = FitOptions {
        seed: 11,
        control: FitControl::new().with_collective(comm),
        ..FitOptions::default()
    };
    cfg.fit(&data, &opts)
}

fn max_abs_diff(a: &Network<f32>, b: &Network<f32>) -> f64 {
    a.params
        .iter()
        .zip(&b.params)
        .flat_map(|(p, q)| p.data.iter().zip(&q.data))
        .map(|(&x, &y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

/// The recipes the engine's paths differ by: user and item rows, Adam
/// and SGD with momentum, lazy and dense updates, a deep stack with code
/// and input dropout, a non-zero default, dense re-feeding, tied weights.
fn recipes() -> Vec<(&'static str, AutoencoderConfig)> {
    let base = AutoencoderConfig {
        layers: vec![8],
        lr: 0.01,
        epochs: 3,
        batch_size: 8,
        ..AutoencoderConfig::default()
    };
    vec![
        ("user-based Adam", base.clone()),
        (
            "item-based SGD momentum, lazy",
            AutoencoderConfig {
                based: Based::Item,
                optimizer: OptimizerKind::Sgd,
                momentum: 0.9,
                lr: 0.05,
                sparse_updates: aerec::model::autoencoder::SparseUpdates::Lazy,
                ..base.clone()
            },
        ),
        (
            "deep with dropout and input dropout",
            AutoencoderConfig {
                layers: vec![8, 4, 8],
                dropout: 0.3,
                input_dropout: 0.2,
                ..base.clone()
            },
        ),
        (
            "average default, re-feeding, tied",
            AutoencoderConfig {
                default_rating: DefaultRating::Named(DefaultKind::Average),
                refeed: 1,
                tied: true,
                ..base.clone()
            },
        ),
    ]
}

#[test]
fn two_and_three_ranks_train_the_single_process_model() {
    let (train, valid) = low_rank(40, 30, 5);
    for (what, cfg) in recipes() {
        let (alone, alone_report) = fit_on(&cfg, &train, &valid, aerec::collective::single())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        for ranks in [2, 3] {
            let fits = ThreadGroup::run(ranks, 1, |comm| fit_on(&cfg, &train, &valid, comm));
            let fits: Vec<_> = fits
                .into_iter()
                .map(|f| f.unwrap_or_else(|e| panic!("{what}, {ranks} ranks: {e}")))
                .collect();
            for (rank, (model, report)) in fits.iter().enumerate() {
                assert!(
                    report.notes.iter().any(|n| n.contains("data-parallel")),
                    "{what}: {:?}",
                    report.notes
                );
                // Every rank sums the same parts in the same order.
                assert_eq!(
                    model.network().params,
                    fits[0].0.network().params,
                    "{what}: rank {rank} differs from rank 0"
                );
                let diff = max_abs_diff(model.network(), alone.network());
                assert!(
                    diff < 2e-5,
                    "{what}, {ranks} ranks: weights differ by {diff}"
                );
                assert_eq!(report.history.len(), alone_report.history.len());
                for (h, a) in report.history.iter().zip(&alone_report.history) {
                    assert!(
                        (h.train_rmse - a.train_rmse).abs() < 1e-5,
                        "{what}: train {} vs {}",
                        h.train_rmse,
                        a.train_rmse
                    );
                    let (hv, av) = (h.valid_rmse.unwrap(), a.valid_rmse.unwrap());
                    assert!((hv - av).abs() < 1e-5, "{what}: valid {hv} vs {av}");
                }
            }
        }
    }
}

/// A small batch by hand: `rows[b]` lists (column, rating) pairs that are
/// both the inputs and the targets of row `b`.
fn batch(rows: &[&[(u32, f64)]]) -> Batch<f64> {
    let mut b = Batch::default();
    b.clear();
    for row in rows {
        for &(c, v) in *row {
            b.in_idx.push(c);
            b.in_val.push(v);
            b.tg_idx.push(c);
            b.tg_val.push(v);
        }
        b.end_row(0.0);
    }
    b
}

fn optimizer(net: &Network<f64>) -> Optimizer<f64> {
    let mut opt = Optimizer::new(
        OptimSettings {
            adam: true,
            momentum: 0.0,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            l2: 0.01,
            weight_decay: 0.0,
            lazy: true,
        },
        &net.params,
    );
    opt.begin_epoch(0.01);
    opt
}

#[test]
fn a_step_sums_the_ranks_gradients_and_sends_the_counted_bytes() {
    let cfg = AutoencoderConfig {
        layers: vec![5, 3, 5],
        ..AutoencoderConfig::default()
    };
    let n_cols = 12;
    let start: Network<f64> = init::build(&cfg, n_cols, 0, 7);
    let rows: [&[(u32, f64)]; 4] = [
        &[(0, 1.0), (3, -0.5)],
        &[(3, 0.25), (7, 1.5), (9, -1.0)],
        &[(1, 0.75)],
        &[(7, -0.25), (11, 0.5)],
    ];
    // One process, the whole batch, two steps.
    let mut alone = start.clone();
    let mut opt = optimizer(&alone);
    let mut ws = Workspace::default();
    for _ in 0..2 {
        train_step(&mut alone, &mut opt, &batch(&rows), &mut ws, None);
    }
    // Two ranks: rank 0 rows 0 and 2, rank 1 rows 1 and 3 (their positions
    // in the whole batch kept for the dropout masks).
    let out = ThreadGroup::run(2, 1, |comm| {
        let mine: Vec<usize> = (0..4).filter(|b| b % 2 == comm.rank()).collect();
        let part: Vec<&[(u32, f64)]> = mine.iter().map(|&b| rows[b]).collect();
        let mut part = batch(&part);
        part.row_ids = mine.iter().map(|&b| b as u32).collect();
        let mut net = start.clone();
        let mut opt = optimizer(&net);
        let mut ws = Workspace::default();
        let mut sent = Vec::new();
        for _ in 0..2 {
            let before = comm.bytes_sent();
            let (loss, stop) = group_step(&mut net, &mut opt, &part, &mut ws, None, &*comm, false)?;
            assert!(!stop);
            assert_eq!(loss.count, 8);
            sent.push((comm.bytes_sent() - before) as usize);
        }
        Ok((net, sent))
    });
    // Touched: rank 0 {0, 1, 3}, rank 1 {3, 7, 9, 11}; union of 6.
    let (own, union) = ([3usize, 4], 6usize);
    let dense: usize = (start.params.iter())
        .filter(|p| !p.row_sparse)
        .map(|p| p.data.len())
        .sum();
    // Input weight rows and output weight rows (untied) of the union × width,
    // plus the output bias of the union.
    let sparse = union * 5 + union * 5 + union;
    for (rank, o) in out.into_iter().enumerate() {
        let (net, sent) = o.unwrap();
        let formula = 4 * (2 + own[rank]) + 8 * (dense + sparse) + 8;
        assert_eq!(sent, [formula, formula], "rank {rank}");
        for (p, q) in net.params.iter().zip(&alone.params) {
            for (&x, &y) in p.data.iter().zip(&q.data) {
                assert!((x - y).abs() < 1e-12, "{}: {x} vs {y}", p.name);
            }
        }
    }
}

#[test]
fn a_rank_that_fails_ends_the_others_fit_with_an_error() {
    let (train, valid) = low_rank(20, 15, 2);
    let cfg = AutoencoderConfig {
        layers: vec![4],
        epochs: 2,
        batch_size: 4,
        ..AutoencoderConfig::default()
    };
    let out = ThreadGroup::run(2, 1, |comm| {
        if comm.rank() == 1 {
            return Err(aerec::Error::other("rank 1 could not read its part"));
        }
        fit_on(&cfg, &train, &valid, comm).map(|_| ())
    });
    let msg = out[0].as_ref().unwrap_err().to_string();
    assert!(msg.contains("rank 1 left the group"), "{msg}");
}

#[test]
fn scoring_split_over_ranks_writes_what_one_process_writes() {
    let (train, valid) = low_rank(23, 17, 4);
    let spec = ModelSpec::from_json(&serde_json::json!({"model": "mf", "epochs": 3})).unwrap();
    let scale = aerec::RatingScale { min: 1.0, max: 5.0 };
    let model =
        TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default()).unwrap();
    let mut whole = Vec::new();
    recommend_all(&model, 4, &mut whole, |_| {}).unwrap();
    let pairs: Vec<(String, String)> = (0..valid.len())
        .map(|k| {
            let (u, i) = (valid.users[k], valid.items[k]);
            (
                valid.user_ids.id(u).to_string(),
                valid.item_ids.id(i).to_string(),
            )
        })
        .chain([("nobody".to_string(), "i1".to_string())])
        .collect();
    let alone = predict_pairs(&model, &pairs).unwrap();
    let expected_fallbacks = alone.iter().filter(|p| p.fallback.is_some()).count();
    assert!(expected_fallbacks >= 1);
    let mut predicted = Vec::new();
    write_predictions(&mut predicted, &alone).unwrap();
    for ranks in [2, 3, 5] {
        let out = ThreadGroup::run(ranks, 1, |comm| {
            let recs = recommend_all_over(&model, 4, &*comm, 1, |_| {})?;
            let preds = predict_pairs_over(&model, &pairs, &*comm, 0)?;
            Ok((recs, preds))
        });
        for (rank, o) in out.into_iter().enumerate() {
            let (recs, preds) = o.unwrap();
            match recs {
                Some((csv, rows)) => {
                    assert_eq!(rank, 1);
                    assert_eq!(csv, whole, "{ranks} ranks");
                    assert_eq!(rows, whole.iter().filter(|&&b| b == b'\n').count() - 1);
                }
                None => assert_ne!(rank, 1),
            }
            match preds {
                Some((csv, fallbacks)) => {
                    assert_eq!(rank, 0);
                    assert_eq!(csv, predicted, "{ranks} ranks");
                    assert_eq!(fallbacks, expected_fallbacks);
                }
                None => assert_ne!(rank, 0),
            }
        }
    }
}

// Baselines (biases, MF): each rank fits the users it owns (`u % ranks`).

fn baseline_data(train: &Ratings) -> (aerec::data::Csr, aerec::RatingScale) {
    let scale = aerec::data::filter::declared_or_inferred_scale(None, train).unwrap();
    (train.by_user(), scale)
}

fn fit_options(comm: Comm, seed: u64) -> FitOptions {
    FitOptions {
        seed,
        control: FitControl::new().with_collective(comm),
        ..FitOptions::default()
    }
}

/// A fitted model's named tensors.
type Tensors = Vec<(String, Vec<f32>)>;

/// Fits `cfg` on `ranks` thread-ranks (1: alone); per rank the model's
/// tensors, the report and the bytes handed to the collective.
fn fit_baseline<C>(
    cfg: &C,
    train: &Ratings,
    valid: &Ratings,
    ranks: usize,
    seed: u64,
) -> Vec<(Tensors, FitReport, u64)>
where
    C: aerec::model::registry::ModelConfig + Sync,
{
    let (by_user, scale) = baseline_data(train);
    let out = ThreadGroup::run(ranks, 1, |comm| {
        let data = FitData::new(train, &by_user, scale)?.with_valid(Some(valid));
        let before = comm.bytes_sent();
        let (model, report) = cfg.fit(&data, &fit_options(comm.clone(), seed))?;
        let tensors = (model.to_parts().tensors.into_iter())
            .map(|(n, t)| (n, t.data))
            .collect();
        Ok((tensors, report, comm.bytes_sent() - before))
    });
    out.into_iter()
        .map(|o| o.unwrap_or_else(|e| panic!("{ranks} ranks: {e}")))
        .collect()
}

fn max_tensor_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|((n, x), (m, y))| {
            assert_eq!(n, m);
            assert_eq!(x.len(), y.len(), "{n}");
            x.iter().zip(y).map(|(&p, &q)| (p - q).abs() as f64)
        })
        .fold(0.0, f64::max)
}

#[test]
fn als_biases_on_two_and_three_ranks_are_the_single_process_biases() {
    let (train, valid) = low_rank(41, 29, 3);
    let cfg = aerec::model::baseline::BiasesConfig::default();
    let alone = fit_baseline(&cfg, &train, &valid, 1, 1).remove(0);
    let (n_users, n_items) = (train.n_users(), train.n_items());
    for ranks in [2, 3] {
        let fits = fit_baseline(&cfg, &train, &valid, ranks, 1);
        for (rank, (tensors, report, sent)) in fits.iter().enumerate() {
            assert_eq!(tensors, &fits[0].0, "rank {rank} differs from rank 0");
            // The f64 sums differ only in order; stored as f32.
            let diff = max_tensor_diff(tensors, &alone.0);
            assert!(diff <= 1e-6, "{ranks} ranks: biases differ by {diff}");
            assert!(report.notes.iter().any(|n| n.contains("data-parallel")));
            // Item counts once, the item step's sums each epoch, then the
            // owned users' biases gathered: all f64.
            let owned = (0..n_users).filter(|u| u % ranks == rank).count();
            let formula = 8 * n_items * (1 + cfg.epochs) + 8 * owned;
            assert_eq!(*sent as usize, formula, "{ranks} ranks, rank {rank}");
        }
    }
}

/// Ratings in two blocks that share no item: even users rate even items,
/// odd users odd items, so on 2 ranks (rank = user % 2) no item row is
/// changed by both ranks.
fn two_blocks(n_users: u32, n_items: u32) -> (Ratings, Ratings) {
    let (train, valid) = low_rank(n_users as usize, n_items as usize, 9);
    let keep = |r: &Ratings| {
        let idx: Vec<usize> = (0..r.len())
            .filter(|&k| r.users[k] % 2 == r.items[k] % 2)
            .collect();
        r.select(&idx)
    };
    (keep(&train), keep(&valid))
}

/// Bytes rank `rank` of `ranks` hands to the collective in an SGD fit
/// (docs/distributed.md): per block of `SYNC_USERS_PER_RANK` users a rank,
/// `4·|T_r|` for its touched items and `4·width·|U|` for the union's rows;
/// per epoch 16 for the train sums, 16 for the validation sums (`s` bytes
/// a value) and 8 for the stop agreement (all epochs but the last); at the
/// end `s·width` per owned user.
fn sgd_bytes(
    train: &Ratings,
    ranks: usize,
    rank: usize,
    (width, s): (usize, usize),
    epochs: usize,
    per_epoch_extra: usize,
) -> usize {
    let by_user = train.by_user();
    let n_users = by_user.n_rows;
    let block = aerec::model::baseline::SYNC_USERS_PER_RANK * ranks;
    let mut per_epoch = 0;
    for start in (0..n_users).step_by(block) {
        let touched = |r: usize| {
            let mut t: Vec<u32> = (start..n_users.min(start + block))
                .filter(|u| u % ranks == r)
                .flat_map(|u| by_user.row(u).0.to_vec())
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        let mut union: Vec<u32> = (0..ranks).flat_map(touched).collect();
        union.sort_unstable();
        union.dedup();
        per_epoch += 4 * touched(rank).len();
        if !union.is_empty() {
            per_epoch += s * width * union.len();
        }
    }
    let owned = (0..n_users).filter(|u| u % ranks == rank).count();
    epochs * (per_epoch + per_epoch_extra) + 8 * (epochs - 1) + s * width * owned
}

#[test]
fn sgd_on_ranks_that_share_no_item_is_the_single_process_fit() {
    let (train, valid) = two_blocks(70, 24);
    let mf = aerec::model::baseline::MfConfig {
        factors: Some(6),
        epochs: 4,
        ..Default::default()
    };
    let biases = aerec::model::baseline::BiasesConfig {
        method: aerec::model::baseline::BiasesMethod::Sgd,
        epochs: 4,
        ..Default::default()
    };
    let alone = fit_baseline(&mf, &train, &valid, 1, 5).remove(0);
    let fits = fit_baseline(&mf, &train, &valid, 2, 5);
    for (rank, (tensors, report, sent)) in fits.iter().enumerate() {
        // Every update is the one a single process makes, in the same
        // order per row: the same bits.
        assert_eq!(tensors, &alone.0, "mf, rank {rank}");
        assert_eq!(report.history.len(), alone.1.history.len());
        for (h, a) in report.history.iter().zip(&alone.1.history) {
            assert!(
                (h.train_rmse - a.train_rmse).abs() < 1e-12,
                "{h:?} vs {a:?}"
            );
            let (hv, av) = (h.valid_rmse.unwrap(), a.valid_rmse.unwrap());
            assert!((hv - av).abs() < 1e-12, "valid {hv} vs {av}");
        }
        let formula = sgd_bytes(&train, 2, rank, (7, 4), 4, 32);
        assert_eq!(*sent as usize, formula, "mf, rank {rank}");
    }
    let alone = fit_baseline(&biases, &train, &valid, 1, 5).remove(0);
    for (rank, (tensors, _, sent)) in fit_baseline(&biases, &train, &valid, 2, 5)
        .iter()
        .enumerate()
    {
        assert_eq!(tensors, &alone.0, "biases, rank {rank}");
        // No validation and no stop agreement: the train sums alone.
        let formula = sgd_bytes(&train, 2, rank, (1, 8), 4, 16) - 8 * 3;
        assert_eq!(*sent as usize, formula, "biases, rank {rank}");
    }
}

#[test]
fn mf_on_two_and_three_ranks_reaches_the_single_process_accuracy() {
    let (train, valid) = low_rank(300, 80, 21);
    let cfg = aerec::model::baseline::MfConfig {
        factors: Some(10),
        epochs: 15,
        lr: Some(0.02),
        ..Default::default()
    };
    let seeds = [1u64, 2, 3, 4];
    let final_rmse = |ranks: usize, seed: u64| {
        let fits = fit_baseline(&cfg, &train, &valid, ranks, seed);
        for (rank, f) in fits.iter().enumerate() {
            assert_eq!(f.0, fits[0].0, "{ranks} ranks: rank {rank} differs");
            let rmse = |r: &FitReport| -> Vec<_> {
                (r.history.iter())
                    .map(|h| (h.train_rmse, h.valid_rmse))
                    .collect()
            };
            assert_eq!(rmse(&f.1), rmse(&fits[0].1), "{ranks} ranks: rank {rank}");
        }
        fits[0].1.history.last().unwrap().valid_rmse.unwrap()
    };
    let alone: Vec<f64> = seeds.iter().map(|&s| final_rmse(1, s)).collect();
    for ranks in [2, 3] {
        let group: Vec<f64> = seeds.iter().map(|&s| final_rmse(ranks, s)).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let gap = (mean(&group) - mean(&alone)).abs();
        eprintln!("{ranks} ranks: valid RMSE {group:?} vs 1 rank {alone:?}");
        assert!(gap < 2.5e-3, "{ranks} ranks: mean valid RMSE off by {gap}");
        for (g, a) in group.iter().zip(&alone) {
            assert!((g - a).abs() < 5e-3, "{ranks} ranks: {g} vs {a}");
        }
    }
}

#[test]
fn evaluation_split_over_ranks_reports_what_one_process_reports() {
    let (train, test) = low_rank(37, 26, 8);
    // User 0 keeps no training rating: its test ratings are cold start,
    // scored by the fallback, and it is skipped by the ranking metrics.
    let warm: Vec<usize> = (0..train.len()).filter(|&k| train.users[k] != 0).collect();
    let train = train.select(&warm);
    let spec = ModelSpec::from_json(&serde_json::json!({"model": "mf", "epochs": 3})).unwrap();
    let scale = aerec::RatingScale { min: 1.0, max: 5.0 };
    let model =
        TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default()).unwrap();
    let opts = aerec::eval::EvalOptions {
        clip: true,
        ranking: Some(aerec::eval::RankingOptions {
            k: 5,
            threshold: 3.0,
            ..Default::default()
        }),
    };
    let alone = aerec::eval::evaluate(&model, &test, &opts).unwrap();
    assert!(alone.rating.cold_start.n > 0);
    let ranking = alone.ranking.as_ref().unwrap();
    assert!(ranking.skipped_unknown == 1 && ranking.users > 10);
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-12, "{what}: {a} vs {b}");
    for ranks in [2, 3] {
        let out = ThreadGroup::run(ranks, 1, |comm| {
            aerec::eval::evaluate_over(&model, &test, &opts, &*comm, &mut |_, _| {})
        });
        for o in out {
            let got = o.unwrap();
            let (r, a) = (&got.rating, &alone.rating);
            assert_eq!(
                (r.n, r.clipped, r.cold_start.n),
                (a.n, a.clipped, a.cold_start.n)
            );
            close(r.rmse, a.rmse, "rmse");
            close(r.mae, a.mae, "mae");
            close(
                r.cold_start.rmse.unwrap(),
                a.cold_start.rmse.unwrap(),
                "cold rmse",
            );
            close(
                r.cold_start.mae.unwrap(),
                a.cold_start.mae.unwrap(),
                "cold mae",
            );
            // Each user's errors stay on one rank: the quantiles are exact.
            assert_eq!(r.per_user_rmse, a.per_user_rmse);
            let (g, w) = (got.ranking.as_ref().unwrap(), ranking);
            assert_eq!(
                (
                    g.k,
                    g.users,
                    g.eligible_users,
                    g.skipped_no_relevant,
                    g.skipped_unknown
                ),
                (
                    w.k,
                    w.users,
                    w.eligible_users,
                    w.skipped_no_relevant,
                    w.skipped_unknown
                )
            );
            for (x, y, what) in [
                (g.precision, w.precision, "precision"),
                (g.recall, w.recall, "recall"),
                (g.ndcg, w.ndcg, "ndcg"),
                (g.map, w.map, "map"),
                (g.hit_rate, w.hit_rate, "hit rate"),
            ] {
                close(x, y, what);
            }
            assert_eq!(g.coverage, w.coverage);
        }
    }
}
