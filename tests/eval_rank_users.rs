//! Which test users the ranking metrics rank (issue 14, item 15): the
//! default samples users with the run's seed on a large catalogue, `all`
//! is the full pass exactly, and `aerec train` says when it sampled.

use std::process::Command;

use aerec::data::synth::{generate, SynthConfig};
use aerec::data::RatingScale;
use aerec::eval::ranking::{
    ranking_metrics, sample_users, user_ranking, RankUsers, RankingOptions, UserRanking,
    AUTO_RANK_CELLS, MIN_SAMPLED_USERS,
};
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use aerec::Ratings;
use assert_cmd::cargo::CommandCargoExt;

/// 600 users × 150 items, 12,000 ratings: every fourth one is a test rating.
fn fitted() -> (TrainedModel, Ratings) {
    let all = generate(&SynthConfig::custom(600, 150, 12_000, 7)).unwrap();
    let train = all.select(&(0..all.len()).filter(|k| k % 4 != 3).collect::<Vec<_>>());
    let test = all.select(&(0..all.len()).filter(|k| k % 4 == 3).collect::<Vec<_>>());
    let spec = ModelSpec::from_json(&serde_json::json!({ "model": "biases" })).unwrap();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let model =
        TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default()).unwrap();
    (model, test)
}

fn opts(users: RankUsers, seed: u64) -> RankingOptions {
    RankingOptions {
        k: 5,
        threshold: 4.0,
        users,
        seed,
    }
}

#[test]
fn all_is_the_full_pass_written_out_by_hand() {
    let (model, test) = fitted();
    // The protocol of the module docs, user by user in index order.
    let mut relevant: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for k in 0..test.len() {
        let list = relevant.entry(test.users[k]).or_default();
        if test.values[k] >= 4.0 {
            list.push(test.items[k]);
        }
    }
    let mut per_user: Vec<UserRanking> = Vec::new();
    for (u, mut rel) in relevant {
        if !model.user_is_known(u) || rel.is_empty() {
            continue;
        }
        rel.sort_unstable();
        rel.dedup();
        let top: Vec<u32> = model
            .recommend_index(u, 5)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        per_user.push(user_ranking(&top, &rel, 5));
    }
    assert!(per_user.len() > 100, "{} users", per_user.len());
    let n = per_user.len() as f64;
    let ndcg = per_user.iter().map(|m| m.ndcg).sum::<f64>() / n;
    let recall = per_user.iter().map(|m| m.recall).sum::<f64>() / n;
    let all = ranking_metrics(&model, &test, &opts(RankUsers::All, 1)).unwrap();
    assert_eq!(
        (all.users, all.eligible_users),
        (per_user.len(), per_user.len())
    );
    assert_eq!(all.ndcg.to_bits(), ndcg.to_bits());
    assert_eq!(all.recall.to_bits(), recall.to_bits());
    // Below the cell budget the default is the full pass; so is a sample
    // at least as large as the eligible users, whatever its seed.
    let auto = ranking_metrics(&model, &test, &opts(RankUsers::Auto, 9)).unwrap();
    let big = ranking_metrics(&model, &test, &opts(RankUsers::Sample(1 << 20), 3)).unwrap();
    assert_eq!(auto, all);
    assert_eq!(big, all);
}

#[test]
fn a_sample_is_seeded_reproducible_and_smaller() {
    let (model, test) = fitted();
    let a = ranking_metrics(&model, &test, &opts(RankUsers::Sample(60), 11)).unwrap();
    let b = ranking_metrics(&model, &test, &opts(RankUsers::Sample(60), 11)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.users, 60);
    assert!(a.eligible_users > 100);
    let others: Vec<f64> = (12..20)
        .map(|seed| {
            ranking_metrics(&model, &test, &opts(RankUsers::Sample(60), seed))
                .unwrap()
                .ndcg
        })
        .collect();
    assert!(
        others.iter().any(|&n| n != a.ndcg),
        "eight other seeds gave the same NDCG {}",
        a.ndcg
    );
}

#[test]
fn sampled_users_are_distinct_members_in_order() {
    let eligible: Vec<u32> = (0..5000).map(|k| 3 * k + 1).collect();
    let s = sample_users(&eligible, 700, 5);
    assert_eq!(s.len(), 700);
    assert!(s.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    assert!(s.iter().all(|u| u % 3 == 1 && *u < 15_000));
    assert_eq!(s, sample_users(&eligible, 700, 5));
    assert_ne!(s, sample_users(&eligible, 700, 6));
    assert_eq!(sample_users(&eligible, 9000, 5), eligible);
}

#[test]
fn the_default_keeps_the_scored_cells_within_its_budget() {
    // ML-1M: 6,040 × 3,706 = 22M cells, every user.
    assert_eq!(RankUsers::Auto.count(6040, 3706), 6040);
    // Beauty-shaped: 111k items; 2^26 cells hold 604 users.
    let n = RankUsers::Auto.count(200_000, 111_000);
    assert_eq!(n as u64, AUTO_RANK_CELLS / 111_000);
    assert!(n as u64 * 111_000 <= AUTO_RANK_CELLS);
    // A huge catalogue still ranks enough users for a stable mean.
    assert_eq!(RankUsers::Auto.count(50_000, 10_000_000), MIN_SAMPLED_USERS);
    assert_eq!(RankUsers::Auto.count(300, 10_000_000), 300);
    assert_eq!(RankUsers::All.count(200_000, 111_000), 200_000);
    assert_eq!(RankUsers::Sample(10).count(5, 111_000), 5);
}

#[test]
fn train_says_when_ranking_metrics_come_from_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let synth = Command::cargo_bin("aerec")
        .unwrap()
        .args([
            "synth",
            "--shape",
            "custom",
            "--users",
            "300",
            "--items",
            "80",
            "--ratings",
            "5000",
        ])
        .args(["--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{synth:?}");
    let train = dir.path().join("train.csv");
    let run = |rank: &str| {
        let out = Command::cargo_bin("aerec")
            .unwrap()
            .args([
                "train",
                "--data",
                train.to_str().unwrap(),
                "--model",
                "biases",
            ])
            .args(["--rank-users", rank, "--seed", "3", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        (stderr, json)
    };
    let (stderr, json) = run("20");
    let eligible = json["ranking"]["eligible_users"].as_u64().unwrap();
    assert!(eligible > 20, "{json}");
    assert_eq!(json["ranking"]["users"], 20);
    let line = format!(
        "ranking metrics on a seeded sample of 20 of {eligible} test users; \
         --rank-users all for every user"
    );
    assert!(stderr.contains(&line), "{stderr}");
    assert_eq!(
        run("20").1["ranking"],
        json["ranking"],
        "same seed, same sample"
    );
    let (stderr, json) = run("all");
    assert_eq!(json["ranking"]["users"].as_u64(), Some(eligible));
    assert!(!stderr.contains("seeded sample"), "{stderr}");
    let bad = Command::cargo_bin("aerec")
        .unwrap()
        .args([
            "train",
            "--data",
            train.to_str().unwrap(),
            "--rank-users",
            "some",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not `all`, `auto` or a number"));
}
