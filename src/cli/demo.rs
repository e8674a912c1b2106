//! `aerec demo`: the whole pipeline on the embedded MovieLens latest-small, in
//! well under a minute — split, train an AutoRec and two baselines, compare,
//! save, plot, recommend for a known and for a made-up new user; then the
//! same user's top-10 from a ranking model (EASE) trained on what people
//! rated 4 or more, beside the rating model's predicted ratings.

use std::path::PathBuf;

use serde_json::json;

use super::Context;
use crate::data::implicit::{to_implicit, ImplicitOptions, Positives, Weighting};
use crate::data::read::embedded;
use crate::data::split::{split, Input, SplitConfig, SplitMethod};
use crate::data::RatingScale;
use crate::eval::{self, EvalOptions, RankUsers, RankingOptions};
use crate::model::{FitOptions, ModelSpec, TrainedModel};
use crate::recommend::{self, Recommendation};
use crate::report::table::Table;

/// `aerec demo` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the model file, the history and the loss-curve plot.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "aerec-demo",
        help_heading = "Output"
    )]
    pub out: PathBuf,
    /// Seed of the split and of training.
    #[arg(long, default_value_t = 1, value_name = "N", help_heading = "Split")]
    pub seed: u64,
    /// The known user to recommend for.
    #[arg(long, default_value = "1", value_name = "ID", help_heading = "Output")]
    pub user: String,
}

/// The demo's autoencoder: I-AutoRec as tuned for ml-latest-small on a
/// validation split (`examples/configs/engine-mlsmall-iautorec.toml`: 200
/// sigmoid units, identity output, input dropout 0.1, L2 2e-3, Adam 1e-3),
/// with a smaller epoch budget and patience so the demo stays under a minute.
pub fn demo_autoencoder() -> anyhow::Result<ModelSpec> {
    Ok(ModelSpec::from_json(&json!({
        "model": "autoencoder",
        "preset": "autorec",
        "layers": [200],
        "input_dropout": 0.1,
        "lr": 1e-3,
        "l2": 2e-3,
        "epochs": 400,
        "patience": 20,
    }))?)
}

/// The demo's ranking model: EASE with λ = 200, the value the validation
/// users chose on every ML-100K strong-generalization seed (BENCHMARKS.md),
/// fitted on the items with at least [`DEMO_MIN_POSITIVES`] positives so its
/// one dense solve takes a second or two.
pub fn demo_ranker() -> anyhow::Result<ModelSpec> {
    Ok(ModelSpec::from_json(
        &json!({ "model": "ease", "lambda": 200.0 }),
    )?)
}

/// Items with fewer positives (ratings ≥ 4 in the training part) are left
/// out of the demo's ranking model.
pub const DEMO_MIN_POSITIVES: usize = 5;

/// A made-up new user: (MovieLens movie id, rating). Loves classic sci-fi and
/// Pixar, dislikes romance.
pub const NEW_USER: &[(&str, f32)] = &[
    ("1", 5.0),    // Toy Story (1995)
    ("260", 5.0),  // Star Wars: Episode IV (1977)
    ("1196", 4.5), // The Empire Strikes Back (1980)
    ("2571", 5.0), // The Matrix (1999)
    ("1240", 4.0), // The Terminator (1984)
    ("4886", 4.5), // Monsters, Inc. (2001)
    ("1721", 1.0), // Titanic (1997)
    ("597", 1.5),  // Pretty Woman (1990)
];

fn recommendation_table(recs: &[Recommendation]) -> String {
    let mut t = Table::new(vec![
        "#".into(),
        "item".into(),
        "predicted".into(),
        "title".into(),
    ]);
    for (k, r) in recs.iter().enumerate() {
        t.push(vec![
            (k + 1).to_string(),
            r.item.clone(),
            format!("{:.2}", r.rating),
            r.title.clone().unwrap_or_default(),
        ]);
    }
    t.to_text()
}

/// A ranking model's list: raw scores, not ratings.
fn score_table(recs: &[Recommendation]) -> String {
    let mut t = Table::new(vec![
        "#".into(),
        "item".into(),
        "score".into(),
        "title".into(),
    ]);
    for (k, r) in recs.iter().enumerate() {
        t.push(vec![
            (k + 1).to_string(),
            r.item.clone(),
            format!("{:.3}", r.score),
            r.title.clone().unwrap_or_default(),
        ]);
    }
    t.to_text()
}

/// Runs `aerec demo`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.out)?;
    let ratings = embedded::ratings();
    let titles = embedded::titles();
    ctx.note(&format!(
        "data: {} — {} users, {} items, {} ratings",
        embedded::NAME,
        ratings.n_users(),
        ratings.n_items(),
        ratings.len()
    ));
    let parts = split(
        &Input::Whole(ratings),
        &SplitConfig {
            method: SplitMethod::Random,
            test_fraction: 0.1,
            valid_fraction: Some(0.1),
            seed: args.seed,
            ..SplitConfig::default()
        },
    )?;
    ctx.note(&format!(
        "split: random 90/10 (seed {}), 10% of train held out for early stopping: {} train, {} validation, {} test",
        args.seed,
        parts.train.len(),
        parts.valid.as_ref().map_or(0, |v| v.len()),
        parts.test.len()
    ));
    let scale = embedded::scale();
    let specs = [
        ("autorec", demo_autoencoder()?),
        (
            "biases",
            ModelSpec::from_json(&json!({ "model": "biases" }))?,
        ),
        ("mf", ModelSpec::from_json(&json!({ "model": "mf" }))?),
    ];
    let opts = FitOptions {
        seed: args.seed,
        progress: ctx.progress(),
        ..FitOptions::default()
    };
    let eval_opts = EvalOptions {
        clip: true,
        ranking: Some(RankingOptions {
            k: 10,
            threshold: 4.0,
            users: RankUsers::All,
            seed: args.seed,
        }),
    };
    let mut table = Table::new(vec![
        "model".into(),
        "test RMSE".into(),
        "test MAE".into(),
        "NDCG@10".into(),
        "fit s".into(),
    ]);
    let mut rows = Vec::new();
    let mut autorec: Option<TrainedModel> = None;
    for (name, spec) in &specs {
        ctx.note(&format!("training {name} …"));
        let mut model =
            TrainedModel::fit(spec, &parts.train, parts.valid.as_ref(), None, scale, &opts)?;
        model.titles = titles.clone();
        let report = eval::evaluate(&model, &parts.test, &eval_opts)?;
        let ndcg = report.ranking.as_ref().map_or(f64::NAN, |r| r.ndcg);
        table.push(vec![
            name.to_string(),
            format!("{:.4}", report.rating.rmse),
            format!("{:.4}", report.rating.mae),
            format!("{ndcg:.4}"),
            format!("{:.2}", model.report.train_seconds),
        ]);
        rows.push(json!({
            "model": name,
            "test_rmse": report.rating.rmse,
            "test_mae": report.rating.mae,
            "ndcg_at_10": ndcg,
            "fit_seconds": model.report.train_seconds,
            "epochs": model.report.epochs,
        }));
        if *name == "autorec" {
            autorec = Some(model);
        }
    }
    let model = autorec.ok_or_else(|| anyhow::anyhow!("the autorec model was not trained"))?;

    // The ranking model learns which films people pick (rated 4 or more),
    // not how they rate them.
    ctx.note("training ease on the ratings of 4 or more …");
    let positives = to_implicit(
        &parts.train,
        &ImplicitOptions {
            positives: Positives::AtLeast(4.0),
            weighting: Weighting::Binary,
        },
    )?;
    let mut counts = vec![0usize; positives.n_items()];
    for &i in &positives.items {
        counts[i as usize] += 1;
    }
    let common: Vec<usize> = (0..positives.len())
        .filter(|&k| counts[positives.items[k] as usize] >= DEMO_MIN_POSITIVES)
        .collect();
    let positives = positives.select(&common);
    let mut ranker = TrainedModel::fit(
        &demo_ranker()?,
        &positives,
        None,
        None,
        RatingScale { min: 0.0, max: 1.0 },
        &opts,
    )?;
    ranker.titles = titles.clone();
    let ranker_ndcg = eval::ranking_metrics(
        &ranker,
        &parts.test,
        &RankingOptions {
            k: 10,
            threshold: 4.0,
            users: RankUsers::All,
            seed: args.seed,
        },
    )?
    .ndcg;
    table.push(vec![
        "ease (ranks)".into(),
        "–".into(),
        "–".into(),
        format!("{ranker_ndcg:.4}"),
        format!("{:.2}", ranker.report.train_seconds),
    ]);
    rows.push(json!({
        "model": "ease",
        "ndcg_at_10": ranker_ndcg,
        "fit_seconds": ranker.report.train_seconds,
    }));
    let ranked = recommend::for_user(&ranker, &args.user, 10)?;
    let model_path = args.out.join("autorec.aerec");
    let plot_path = args.out.join("loss.png");
    let history_path = args.out.join("history.csv");
    crate::persist::save(&model, &model_path)?;
    crate::report::history::write_history(&history_path, &model.report)?;
    crate::report::history::plot_history(
        &plot_path,
        &model.report,
        "I-AutoRec on MovieLens latest-small",
    )?;

    let known = recommend::for_user(&model, &args.user, 10)?;
    let new_ratings: Vec<(String, f32)> =
        NEW_USER.iter().map(|&(i, r)| (i.to_string(), r)).collect();
    let new_user = recommend::for_new_user(&model, &new_ratings, 10)?;
    let liked: Vec<String> = NEW_USER
        .iter()
        .map(|(i, r)| format!("{} ({r})", titles.get(*i).map_or(*i, |t| t.as_str())))
        .collect();

    let mut human = String::new();
    human.push_str("\nModels on the same split (test RMSE/MAE clipped to 0.5–5):\n");
    human.push_str(&table.to_text());
    human.push_str(&format!(
        "\nSaved: {} (model), {} (loss curves), {} (history)\n",
        model_path.display(),
        plot_path.display(),
        history_path.display()
    ));
    human.push_str(&format!("\nTop 10 for user {} (AutoRec):\n", args.user));
    human.push_str(&recommendation_table(&known));
    human.push_str(&format!(
        "\nTop 10 for a new user who rated {} — folded in, no retraining:\n",
        liked.join(", ")
    ));
    human.push_str(&recommendation_table(&new_user.items));
    human.push_str(&format!(
        "\nTop 10 for user {} from EASE, a ranking model:\n",
        args.user
    ));
    human.push_str(&score_table(&ranked));
    human.push_str(
        "Which is which: AutoRec predicts ratings (\"user 1 would rate this 4.8\"), and its \
         top-10 is the films it predicts highest, often rarely rated ones at the scale's \
         ceiling. EASE learns only which films people rated 4 or more and scores what a \
         user is likely to pick next (a score, not a rating); on the same test ratings its \
         NDCG@10 is in the table above. Use the rating model to predict ratings, the ranking \
         model for lists people click on.\n",
    );
    human.push_str(&format!(
        "\nDone in {:.1} s. Try next:\n\
         \x20 aerec stats ratings.csv                                  # your own data (MovieLens, Amazon CSV, .npz, any delimited file)\n\
         \x20 aerec train --data ratings.csv --preset autorec --out my.aerec --plot loss.png\n\
         \x20 aerec train --data ratings.csv --model mf --json           # a baseline, same flags\n\
         \x20 aerec recommend --model {} --user 42 -n 10\n\
         \x20 aerec serve --model {}                                   # HTTP: GET /v1/users/42/recommendations\n\
         \x20 aerec --help                                             # every command and flag\n",
        started.elapsed().as_secs_f64(),
        model_path.display(),
        model_path.display(),
    ));
    let result = json!({
        "models": rows,
        "model_file": model_path,
        "plot": plot_path,
        "history": history_path,
        "user": args.user,
        "recommendations": known,
        "ranking_recommendations": ranked,
        "new_user": new_user,
        "seconds": started.elapsed().as_secs_f64(),
    });
    ctx.emit(&human, &result)
}
