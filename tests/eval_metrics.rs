//! Metrics against hand computations (each worked out in the comments).

mod small_tables;

use aerec::eval::ranking::user_ranking;
use aerec::eval::{evaluate, rating_metrics, EvalOptions, Quantiles, RankingOptions};
use aerec::model::{Fallback, FitOptions, ModelSpec, Prediction, TrainedModel};
use aerec::RatingScale;
use small_tables::ratings;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn ranking_metrics_of_one_list_by_hand() {
    // Ranked [5, 3, 9, 1], relevant {1, 3, 7}, K = 4: hits at ranks 2 and 4.
    // Precision 2/4; recall 2/3; DCG = 1/log2(3) + 1/log2(5); IDCG over
    // min(4, 3) = 3 hits = 1 + 1/log2(3) + 1/2; AP = (1/2 + 2/4) / 3 = 1/3.
    let m = user_ranking(&[5, 3, 9, 1], &[1, 3, 7], 4);
    let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
    let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
    assert!(close(m.precision, 0.5));
    assert!(close(m.recall, 2.0 / 3.0));
    assert!(close(m.ndcg, dcg / idcg));
    assert!(close(m.ap, 1.0 / 3.0));
    assert!(close(m.hit, 1.0));
    // K = 1 sees only item 5: nothing.
    let m1 = user_ranking(&[5, 3, 9, 1], &[1, 3, 7], 1);
    assert_eq!(
        (m1.precision, m1.recall, m1.ndcg, m1.ap, m1.hit),
        (0.0, 0.0, 0.0, 0.0, 0.0)
    );
    // A perfect list scores 1 everywhere but precision (2 relevant, K = 3 → 2/3).
    let p = user_ranking(&[7, 1, 4], &[1, 7], 3);
    assert!(close(p.ndcg, 1.0) && close(p.ap, 1.0) && close(p.recall, 1.0));
    assert!(close(p.precision, 2.0 / 3.0));
}

#[test]
fn rmse_mae_clipping_and_cold_start_by_hand() {
    let test = ratings(&[("a", "x", 4.0), ("a", "y", 5.0), ("b", "x", 1.0)]);
    let preds = [
        Prediction {
            value: 3.5,
            fallback: None,
        },
        Prediction {
            value: 5.7,
            fallback: None,
        },
        Prediction {
            value: 2.0,
            fallback: Some(Fallback::UnknownUser),
        },
    ];
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    // Clipped: errors 0.5, 0 (5.7 → 5), −1: RMSE = sqrt(1.25 / 3), MAE = 1.5 / 3.
    let m = rating_metrics(&test, &preds, Some(scale));
    assert!(close(m.rmse, (1.25f64 / 3.0).sqrt()));
    assert!(close(m.mae, 0.5));
    assert_eq!(m.cold_start.n, 1);
    assert!(close(m.cold_start.rmse.unwrap(), 1.0));
    // Unclipped: errors 0.5, −0.7, −1: RMSE = sqrt((0.25 + 0.49 + 1) / 3).
    let raw = rating_metrics(&test, &preds, None);
    assert!((raw.rmse - (1.74f64 / 3.0).sqrt()).abs() < 1e-6);
    // Per user: a has sqrt((0.25 + 0) / 2), b has 1.
    let q = m.per_user_rmse.unwrap();
    assert_eq!(q.count, 2);
    assert!(close(q.min, 0.125f64.sqrt()) && close(q.max, 1.0));
}

#[test]
fn quantiles_interpolate_like_numpy() {
    // np.percentile([1, 2, 3, 4], [10, 25, 50, 90]) = [1.3, 1.75, 2.5, 3.7].
    let q = Quantiles::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    assert!(close(q.p10, 1.3) && close(q.p25, 1.75) && close(q.median, 2.5));
    assert!(close(q.p90, 3.7));
    assert!(Quantiles::of(&[]).is_none());
}

#[test]
fn evaluate_ranks_unseen_items_and_skips_users_without_relevant_items() {
    // Train: a rated i0, b rated i1; the catalogue is i0..i4 (i2..i4 only in
    // test or rated by c). The mean model scores every item equally, so ties
    // go to the lower index: a's candidates [i1, i2, i3, i4] → top 2 = [i1, i2].
    // Test: a rates i2 = 5 (relevant) and i4 = 2; b rates i3 = 3 (nothing
    // relevant: skipped); d is unknown in training (skipped).
    // For a at K = 2: one hit at rank 2 → precision 1/2, recall 1, NDCG =
    // (1/log2 3) / 1, AP = (1/2) / min(2, 1) = 1/2, hit 1. Coverage: {i1, i2} of 5.
    let all = ratings(&[
        ("a", "i0", 4.0),
        ("b", "i1", 3.0),
        ("c", "i2", 2.0),
        ("c", "i3", 5.0),
        ("c", "i4", 1.0),
        ("a", "i2", 5.0),
        ("a", "i4", 2.0),
        ("b", "i3", 3.0),
        ("d", "i0", 4.0),
    ]);
    let train = all.select(&[0, 1, 2, 3, 4]);
    let test = all.select(&[5, 6, 7, 8]);
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let model = TrainedModel::fit(
        &ModelSpec::new(aerec::model::baseline::MeanConfig::default()).unwrap(),
        &train,
        None,
        None,
        scale,
        &FitOptions::default(),
    )
    .unwrap();
    let opts = EvalOptions {
        clip: true,
        ranking: Some(RankingOptions {
            k: 2,
            threshold: 4.0,
        }),
    };
    let report = evaluate(&model, &test, &opts).unwrap();
    let r = report.ranking.unwrap();
    assert_eq!(
        (r.users, r.skipped_no_relevant, r.skipped_unknown),
        (1, 1, 1)
    );
    assert!(close(r.precision, 0.5) && close(r.recall, 1.0));
    assert!(close(r.ndcg, 1.0 / 3f64.log2()));
    assert!(close(r.map, 0.5) && close(r.hit_rate, 1.0));
    assert!(close(r.coverage, 2.0 / 5.0));
    // Rating side: μ = 15 / 5 = 3 for a and b; d is unknown, and its item i0
    // is known, so the fallback is μ + b_i0 — one cold-start rating.
    assert_eq!(report.rating.n, 4);
    assert_eq!(report.rating.cold_start.n, 1);
}
