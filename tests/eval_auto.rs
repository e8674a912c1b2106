//! The automatic default (`eval::auto`): it tries the baselines and the
//! residual autoencoders, keeps the one that validates best (never worse
//! than any baseline on validation), returns that very model, keeps to its
//! budget, and its ensembles save and load like any model.

mod low_rank_data;

use aerec::data::RatingScale;
use aerec::eval::{auto_fit, default_budget, evaluate, AutoOptions, EvalOptions};

use low_rank_data::low_rank;

fn scale() -> RatingScale {
    RatingScale::new(1.0, 5.0).unwrap()
}

fn valid_rmse(model: &aerec::model::TrainedModel, valid: &aerec::data::Ratings) -> f64 {
    let opts = EvalOptions {
        clip: true,
        ranking: None,
    };
    evaluate(model, valid, &opts).unwrap().rating.rmse
}

#[test]
fn keeps_the_best_candidate_and_returns_that_model() {
    let (train, valid) = low_rank(150, 80, 11);
    let opts = AutoOptions {
        budget: 3.0,
        seed: 2,
        refit: false,
    };
    let mut seen = Vec::new();
    let (model, report) = auto_fit(&train, &valid, scale(), &opts, &mut |t| {
        seen.push(t.name.clone())
    })
    .unwrap();
    let names: Vec<&str> = report.trials.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(seen, names, "every trial is reported as it ends");
    assert_eq!(&names[..4], ["biases", "svdpp", "mf", "residual I-AutoRec"]);
    let winner = report.trials[report.winner].valid_rmse.unwrap();
    for t in &report.trials {
        if let Some(r) = t.valid_rmse {
            assert!(winner <= r, "{} validates {r} < winner {winner}", t.name);
        }
    }
    // The returned model is the one that was scored. A blend's trial shows
    // its leave-one-out RMSE; in sample it validates at least as well as
    // the best model it blends (the blend's guarantee).
    let got = valid_rmse(&model, &valid);
    if report.trials[report.winner].name.starts_with("blend") {
        let best_single = report.trials[..report.winner]
            .iter()
            .filter_map(|t| t.valid_rmse)
            .fold(f64::INFINITY, f64::min);
        assert!(got <= best_single + 1e-4, "blend {got} vs {best_single}");
    } else {
        assert!((got - winner).abs() < 1e-5);
    }
    assert!(report.reason.contains(&report.trials[report.winner].name));
    assert!(model.report.notes.iter().any(|n| n.starts_with("auto: ")));
}

#[test]
fn a_spent_budget_still_runs_the_baselines_and_one_autoencoder() {
    let (train, valid) = low_rank(60, 40, 12);
    let opts = AutoOptions {
        budget: 1e-6,
        seed: 1,
        refit: false,
    };
    let (_, report) = auto_fit(&train, &valid, scale(), &opts, &mut |_| {}).unwrap();
    let fitted: Vec<&str> = report
        .trials
        .iter()
        .filter(|t| t.valid_rmse.is_some())
        .map(|t| t.name.as_str())
        .collect();
    // The blend fits nothing new, so it runs whatever the budget.
    assert_eq!(
        fitted,
        [
            "biases",
            "svdpp",
            "mf",
            "residual I-AutoRec",
            "blend of 4 (meta-features)"
        ]
    );
    assert!(report
        .trials
        .iter()
        .filter(|t| t.valid_rmse.is_none())
        .all(|t| t.note.as_deref().is_some_and(|n| n.starts_with("skipped"))));
}

#[test]
fn bad_budgets_and_empty_validation_are_errors() {
    let (train, valid) = low_rank(30, 20, 13);
    for budget in [0.0, -1.0, f64::NAN] {
        let opts = AutoOptions {
            budget,
            seed: 1,
            refit: false,
        };
        assert!(auto_fit(&train, &valid, scale(), &opts, &mut |_| {}).is_err());
    }
    let empty = aerec::data::Ratings {
        users: vec![],
        items: vec![],
        values: vec![],
        ..valid
    };
    let opts = AutoOptions {
        budget: 5.0,
        seed: 1,
        refit: false,
    };
    assert!(auto_fit(&train, &empty, scale(), &opts, &mut |_| {}).is_err());
}

#[test]
fn an_ensemble_winner_saves_and_loads() {
    let (train, valid) = low_rank(120, 60, 14);
    let opts = AutoOptions {
        budget: 2.0,
        seed: 3,
        refit: false,
    };
    let (model, report) = auto_fit(&train, &valid, scale(), &opts, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auto.aerec");
    aerec::persist::save(&model, &path).unwrap();
    let back = aerec::persist::load(&path).unwrap();
    assert_eq!(back.spec, model.spec);
    assert_eq!(valid_rmse(&back, &valid), valid_rmse(&model, &valid));
    // Whatever won, the spec says what it was.
    let w = &report.trials[report.winner];
    assert_eq!(model.spec.to_json(), w.settings);
}

#[test]
fn the_default_budget_scales_with_the_data() {
    assert_eq!(default_budget(100_000), 60.0);
    assert_eq!(default_budget(1_000_000), 600.0);
    assert_eq!(default_budget(1_000), 10.0);
}

#[test]
fn the_refit_trains_the_chosen_model_again_on_train_and_validation() {
    let (train, valid) = low_rank(120, 60, 15);
    // A budget large enough that the search is not cut, so both runs make
    // the same choices.
    let run = |refit| {
        let opts = AutoOptions {
            budget: 1e6,
            seed: 4,
            refit,
        };
        auto_fit(&train, &valid, scale(), &opts, &mut |_| {}).unwrap()
    };
    let (kept, plain) = run(false);
    let (model, report) = run(true);
    let searched = |r: &aerec::eval::AutoReport| -> Vec<(String, Option<f64>)> {
        r.trials
            .iter()
            .filter(|t| !t.name.starts_with("refit"))
            .map(|t| (t.name.clone(), t.valid_rmse))
            .collect()
    };
    assert_eq!(searched(&report), searched(&plain), "the same search");
    assert_eq!(report.winner, plain.winner);
    let last = report.trials.last().unwrap();
    assert_eq!(
        last.name,
        format!("refit of {}", report.trials[report.winner].name)
    );
    assert!(
        last.valid_rmse.is_none(),
        "no honest validation after a refit"
    );
    // Trained on both parts: the model knows the validation ratings.
    assert_eq!(model.train.nnz(), train.len() + valid.len());
    assert_eq!(kept.train.nnz(), train.len());
    assert!(model
        .report
        .notes
        .iter()
        .any(|n| n.starts_with("refitted on the training and validation ratings")));
    // An autoencoder that stopped early is refitted for the epochs it kept.
    let note = model
        .report
        .notes
        .iter()
        .find(|n| n.starts_with("refitted"))
        .unwrap();
    if let Some(rest) = note.split("autoencoder for ").nth(1) {
        let epochs: usize = rest.split(' ').next().unwrap().parse().unwrap();
        assert!((1..=400).contains(&epochs), "{note}");
    }
    // It saves and loads as any model, predicting the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refit.aerec");
    aerec::persist::save(&model, &path).unwrap();
    let back = aerec::persist::load(&path).unwrap();
    assert_eq!(back.spec, model.spec);
    assert_eq!(valid_rmse(&back, &valid), valid_rmse(&model, &valid));
}
