//! `aerec train`: read → filter → split → fit → evaluate → (save, history, plot).
//!
//! The same flags train an autoencoder or a baseline (`--model`), and the
//! `--json` line has the same keys for every model. With no model flag at
//! all (no `--model`, `--preset`, `--config` or model setting) it runs the
//! automatic default ([`crate::eval::auto`]) within `--budget` seconds.

use std::path::PathBuf;

use serde_json::json;

use super::ae_args::AutoencoderArgs;
use super::baseline_args::BaselineArgs;
use super::data_args::DataArgs;
use super::data_args::Loaded;
use super::filter_args::FilterArgs;
use super::model_args::ModelArgs;
use super::split_args::SplitArgs;
use super::Context;
use crate::data::filter::declared_or_inferred_scale;
use crate::data::side::{self, SideOf};
use crate::data::split::{Input, Split};
use crate::data::RatingScale;
use crate::data::Ratings;
use anyhow::Context as _;

use crate::eval::{
    self, auto_fit, default_budget, AutoOptions, AutoReport, AutoTrial, EvalOptions, EvalReport,
    RankUsers, RankingMetrics, RankingOptions,
};
use crate::model::{FitControl, FitOptions, TrainedModel};
use crate::report::table::Table;

/// `aerec train` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Activity filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Side information file for hybrid autoencoders: `u.user`/`users.dat`
    /// (user gender, age, occupation) or `u.item` (item genres).
    #[arg(long, value_name = "FILE", help_heading = "Data")]
    pub side_info: Option<PathBuf>,
    /// Whether `--side-info` describes users or items (default: from the file name).
    #[arg(long, value_enum, value_name = "OF", help_heading = "Data")]
    pub side_of: Option<SideOfArg>,
    /// Under mpirun, each rank reads its own part of `--data` (a byte range
    /// of a text file, row groups of a Parquet file) and the split is drawn
    /// on the parts; the training and validation parts are then gathered on
    /// every rank (the evaluation is split over the ranks), so the model is
    /// the one a single process fits (docs/distributed.md).
    #[arg(long, help_heading = "Data")]
    pub distributed_read: bool,
    /// How to split.
    #[command(flatten)]
    pub split: SplitArgs,
    /// Which model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Autoencoder settings.
    #[command(flatten)]
    pub ae: AutoencoderArgs,
    /// Baseline settings.
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// Evaluation settings.
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Seconds the automatic default may spend (used when no model flag is
    /// given) [default: 60 per 100,000 ratings, at least 10].
    #[arg(long, value_name = "SECONDS", help_heading = "Model")]
    pub budget: Option<f64>,
    /// The automatic default keeps the model fitted without the validation
    /// ratings, instead of fitting it again on training and validation
    /// together with the epochs early stopping chose.
    #[arg(long, help_heading = "Model")]
    pub no_refit: bool,
    /// Save the trained model to this `.aerec` file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Write the per-epoch history (CSV or JSON, by extension).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub history: Option<PathBuf>,
    /// Plot the loss curves (PNG or SVG, by extension).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub plot: Option<PathBuf>,
}

/// Users or items, for `--side-of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideOfArg {
    /// One feature row per user.
    Users,
    /// One feature row per item.
    Items,
}

/// Evaluation flags shared by `train`, `eval` and `compare`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Evaluation")]
pub struct EvalArgs {
    /// Report RMSE/MAE of raw predictions instead of clipping them to the rating scale.
    #[arg(long)]
    pub unclipped: bool,
    /// Cut-off K of the ranking metrics (0: skip ranking metrics).
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub k: usize,
    /// A test rating at least this high counts as relevant for ranking metrics.
    #[arg(value_parser = super::finite_f32, long, value_name = "R", default_value_t = 4.0)]
    pub relevant: f32,
    /// Test users the ranking metrics rank: `all`, a number (a seeded
    /// sample), or `auto`: every user unless that scores more than 2^26
    /// user × item cells, else a seeded sample that does not.
    #[arg(long, value_name = "all|auto|N", value_parser = parse_rank_users, default_value = "auto")]
    pub rank_users: RankUsers,
}

/// Parses `--rank-users`: `all`, `auto` or a positive number of users.
pub fn parse_rank_users(s: &str) -> Result<RankUsers, String> {
    match s.trim() {
        "all" => Ok(RankUsers::All),
        "auto" => Ok(RankUsers::Auto),
        n => match n.parse::<usize>() {
            Ok(0) => Err("0 users would rank nobody: use --k 0 to skip ranking metrics".into()),
            Ok(n) => Ok(RankUsers::Sample(n)),
            Err(_) => Err(format!("{s:?} is not `all`, `auto` or a number of users")),
        },
    }
}

impl EvalArgs {
    /// The library options these flags stand for; `seed` draws the user
    /// sample (the run's seed).
    pub fn options(&self, seed: u64) -> EvalOptions {
        EvalOptions {
            clip: !self.unclipped,
            ranking: (self.k > 0).then_some(RankingOptions {
                k: self.k,
                threshold: self.relevant,
                users: self.rank_users,
                seed,
            }),
        }
    }

    /// [`Self::options`] for data that may be implicit feedback: there a
    /// held-out interaction is a positive whatever its weight, so every
    /// one is relevant (a `--relevant 4` meant for star ratings would find
    /// no relevant item among clicks of weight 1).
    pub fn options_for(&self, seed: u64, implicit: bool) -> EvalOptions {
        let mut opts = self.options(seed);
        if let Some(r) = opts.ranking.as_mut().filter(|_| implicit) {
            r.threshold = f32::MIN_POSITIVE;
        }
        opts
    }
}

/// Whether loaded data is implicit feedback: read so by the flags, or a
/// file of bare interactions (scale 0..1, every value 1).
pub fn is_implicit(read: &super::data_args::ReadArgs, scale: crate::data::RatingScale) -> bool {
    read.implicit_options().is_some() || (scale.min == 0.0 && scale.max == 1.0)
}

/// The error for `--k 0` with a model whose scores only rank: nothing would
/// be left to report.
pub fn ranking_needed(kind: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{kind} only ranks items (its scores are no ratings, so RMSE means nothing for it): \
         its metrics are the ranking ones, which --k 0 turns off; give --k K"
    )
}

/// Evaluates with the ranking pass's progress on stderr, and says when the
/// ranking metrics come from a sample of the test users.
pub fn evaluate_shown(
    model: &TrainedModel,
    test: &Ratings,
    opts: &EvalOptions,
    ctx: &Context,
) -> anyhow::Result<EvalReport> {
    let mut progress = super::progress::Progress::new(ctx, "ranking", "users");
    // Under MPI every rank evaluates its share of the test users and every
    // rank gets the whole report (docs/distributed.md).
    let group = super::group();
    let report = eval::evaluate_over(model, test, opts, &*group, &mut |done, total| {
        progress.update(done, total)
    })?;
    if let Some(line) = report.ranking.as_ref().and_then(sample_note) {
        ctx.note(&line);
    }
    Ok(report)
}

/// The line that says ranking metrics come from a sample, when they do.
pub fn sample_note(r: &RankingMetrics) -> Option<String> {
    (r.users < r.eligible_users).then(|| {
        format!(
            "ranking metrics on a seeded sample of {} of {} test users; \
             --rank-users all for every user",
            r.users, r.eligible_users
        )
    })
}

impl From<SideOfArg> for SideOf {
    fn from(of: SideOfArg) -> SideOf {
        match of {
            SideOfArg::Users => SideOf::Users,
            SideOfArg::Items => SideOf::Items,
        }
    }
}

/// Median of per-epoch seconds, or 0 when there were no epochs.
fn median_epoch_seconds(model: &TrainedModel) -> f64 {
    let mut s: Vec<f64> = model.report.history.iter().map(|e| e.seconds).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Runs `aerec train`.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    // Settings first: a bad flag fails before any data is read.
    let settings = args.model.settings()?;
    let kind = ModelArgs::kind(&settings).to_string();
    let (ae, baseline) = (args.ae.overrides(), args.baseline.overrides(&kind)?);
    let auto = settings.is_empty() && ae.is_empty() && baseline.is_empty();
    let spec = if auto {
        if args.side_info.is_some() {
            anyhow::bail!(
                "--side-info needs a model that takes side features: add --model autoencoder \
                 (the automatic default does not use them)"
            );
        }
        None
    } else {
        if args.budget.is_some() || args.no_refit {
            anyhow::bail!(
                "--{} applies to the automatic default, which runs when no model flag \
                 (--model, --preset, --config or a model setting) is given",
                if args.budget.is_some() {
                    "budget"
                } else {
                    "no-refit"
                }
            );
        }
        Some(args.model.spec(ae, baseline)?)
    };
    let mut inputs = args.data.input_paths();
    inputs.extend(args.side_info.as_deref());
    inputs.extend(args.model.config.as_deref());
    super::check_outputs(
        &[
            ("--out", args.out.as_deref()),
            ("--history", args.history.as_deref()),
            ("--plot", args.plot.as_deref()),
        ],
        &inputs,
    )?;
    if let Some(plot) = &args.plot {
        crate::report::PlotFormat::from_path(plot)?;
    }
    let mut split_args = args.split.clone();
    let auto_valid = auto && split_args.valid_fraction.is_none();
    if auto_valid {
        split_args.valid_fraction = Some(AUTO_VALID_FRACTION);
    }
    let (split, data_scale, titles, source) = if args.distributed_read {
        read_split_in_parts(args, &split_args, ctx)?
    } else {
        let loaded = args.data.load()?;
        ctx.note(&loaded.note());
        let (input, filtered) = args.filter.apply(loaded.input);
        if let Some(f) = &filtered {
            ctx.note(&format!(
                "filter: removed {} users, {} items, {} ratings in {} round(s)",
                f.users_removed, f.items_removed, f.ratings_removed, f.rounds
            ));
        }
        let split = split_args.split(&input, ctx)?;
        (split, loaded.scale, loaded.titles, loaded.source)
    };
    if auto_valid {
        ctx.note(&format!(
            "auto: validation = {:.0} % of train, for early stopping and choosing the model \
             (set --valid-fraction to change)",
            100.0 * AUTO_VALID_FRACTION
        ));
    }
    let scale = declared_or_inferred_scale(data_scale, &split.train)?;
    let side = match &args.side_info {
        Some(p) => Some(side::read_side_features(
            p,
            args.side_of.map(SideOf::from),
            &split.train,
        )?),
        None => None,
    };
    ctx.note(&format!(
        "split: {} train, {} test{} ratings; {} test ratings with a user or item unseen in train{}",
        split.train.len(),
        split.test.len(),
        split
            .valid
            .as_ref()
            .map(|v| format!(", {} validation", v.len()))
            .unwrap_or_default(),
        split.cold.ratings,
        if split.cold.dropped {
            " (dropped)"
        } else {
            " (kept: fallback predictions)"
        },
    ));
    // Under MPI every rank reads, splits and fits alike; the fit is
    // data-parallel over the ranks (kinds without it fit the same model on
    // each), the evaluation is split over the ranks, and only rank 0
    // writes, after the evaluation's last collective.
    let opts = FitOptions {
        seed: args.split.seed,
        progress: ctx.progress(),
        control: FitControl::new().with_collective(super::group()),
    };
    let (mut model, auto_report) = match &spec {
        Some(spec) => (
            TrainedModel::fit(
                spec,
                &split.train,
                split.valid.as_ref(),
                side.as_ref(),
                scale,
                &opts,
            )?,
            None,
        ),
        None => {
            let valid = split
                .valid
                .as_ref()
                .context("the split has no validation part")?;
            let budget = args
                .budget
                .unwrap_or_else(|| default_budget(split.train.len() + valid.len()));
            ctx.note(&format!("auto: budget {budget:.0} s"));
            let auto_opts = AutoOptions {
                budget,
                seed: args.split.seed,
                refit: !args.no_refit,
            };
            let (model, report) = auto_fit(&split.train, valid, scale, &auto_opts, &mut |t| {
                ctx.note(&format!("auto: {}", trial_line(t)))
            })?;
            (model, Some(report))
        }
    };
    let spec = model.spec.clone();
    if let Some(t) = titles {
        model.titles = t;
    }
    for n in &model.report.notes {
        ctx.note(&format!("note: {n}"));
    }
    // A ranking model's scores order items and are no ratings: it is
    // measured by its lists alone (Recall/NDCG/MAP@K on the test users'
    // held-out items), never by an RMSE.
    let ranks_only = spec.ranks_only();
    let eval_opts = args
        .eval
        .options_for(args.split.seed, is_implicit(&args.data.read, scale));
    if ranks_only && eval_opts.ranking.is_none() {
        return Err(ranking_needed(spec.kind()));
    }
    if ranks_only {
        ctx.note(&format!(
            "{} ranks items: measured by its top-{} lists of the test users, no RMSE",
            spec.kind(),
            args.eval.k
        ));
    }
    let eval_start = std::time::Instant::now();
    let test = evaluate_shown(&model, &split.test, &eval_opts, ctx)?;
    let eval_seconds = eval_start.elapsed().as_secs_f64();
    // A refitted model has seen the validation ratings: its honest
    // validation RMSE is the one the search measured before the refit.
    let refitted = auto_report.as_ref().is_some_and(|_| !args.no_refit);
    let valid: Option<EvalReport> = match &split.valid {
        Some(_) if refitted || ranks_only => None,
        Some(v) => Some(eval::evaluate_over(
            &model,
            v,
            &EvalOptions {
                ranking: None,
                ..eval_opts
            },
            &*super::group(),
            &mut |_, _| {},
        )?),
        None => None,
    };
    // The evaluation was the last collective operation: the other ranks
    // are done, rank 0 writes alone.
    if !ctx.primary {
        return Ok(());
    }
    if let Some(path) = &args.history {
        crate::report::history::write_history(path, &model.report)?;
        ctx.note(&format!("history: {}", path.display()));
    }
    if let Some(path) = &args.plot {
        let title = format!("aerec {} — {}", spec.kind(), source);
        crate::report::history::plot_history(path, &model.report, &title)?;
        ctx.note(&format!("plot: {}", path.display()));
    }
    if let Some(path) = &args.out {
        crate::persist::save(&model, path)?;
        ctx.note(&format!("model: {}", path.display()));
    }
    let valid_rmse = match &auto_report {
        Some(r) if refitted => r.trials[r.winner].valid_rmse,
        _ => valid.as_ref().map(|v| v.rating.rmse),
    };
    let rating = (!ranks_only).then_some(&test.rating);
    let result = json!({
        "model": spec.kind(),
        "auto": auto_report,
        "config": spec.to_json(),
        "data": source,
        "train_ratings": split.train.len(),
        "test_ratings": split.test.len(),
        "ranks_only": ranks_only,
        "test_rmse": rating.map(|r| r.rmse),
        "test_mae": rating.map(|r| r.mae),
        "clipped": rating.map(|r| r.clipped),
        "valid_rmse": valid_rmse,
        "epochs": model.report.epochs,
        "best_epoch": model.report.best_epoch,
        "train_seconds": model.report.train_seconds,
        "eval_seconds": eval_seconds,
        "epoch_seconds_median": median_epoch_seconds(&model),
        "params": model.model.n_params(),
        "cold_start_test": split.cold.ratings,
        "cold_start": rating.map(|r| &r.cold_start),
        "ranking": test.ranking,
        "notes": model.report.notes,
        "out": args.out,
    });
    let mut t = Table::new(vec!["metric".into(), "value".into()]);
    t.push(vec!["model".into(), spec.kind().into()]);
    t.push(vec![
        "parameters".into(),
        model.model.n_params().to_string(),
    ]);
    t.push(vec!["epochs".into(), model.report.epochs.to_string()]);
    t.push(vec![
        "fit seconds".into(),
        format!("{:.2}", model.report.train_seconds),
    ]);
    if let Some(v) = valid_rmse {
        let label = if refitted {
            "valid RMSE (before the refit)"
        } else {
            "valid RMSE"
        };
        t.push(vec![label.into(), format!("{v:.4}")]);
    }
    if let Some(r) = rating {
        t.push(vec!["test RMSE".into(), format!("{:.4}", r.rmse)]);
        t.push(vec!["test MAE".into(), format!("{:.4}", r.mae)]);
    }
    t.push(vec![
        "test eval seconds".into(),
        format!("{eval_seconds:.2}"),
    ]);
    if let Some(r) = &test.ranking {
        t.push(vec![format!("NDCG@{}", r.k), format!("{:.4}", r.ndcg)]);
        t.push(vec![format!("Recall@{}", r.k), format!("{:.4}", r.recall)]);
        if ranks_only {
            t.push(vec![format!("MAP@{}", r.k), format!("{:.4}", r.map)]);
            t.push(vec![
                format!("HitRate@{}", r.k),
                format!("{:.4}", r.hit_rate),
            ]);
            t.push(vec!["coverage".into(), format!("{:.4}", r.coverage)]);
        }
        t.push(vec![
            "ranked test users".into(),
            if r.users < r.eligible_users {
                format!("{} of {} (seeded sample)", r.users, r.eligible_users)
            } else {
                r.users.to_string()
            },
        ]);
    }
    t.push(vec![
        "cold-start test ratings".into(),
        split.cold.ratings.to_string(),
    ]);
    let human = match &auto_report {
        Some(r) => format!(
            "{}winner: {}\n\n{}",
            trials_table(r).to_text(),
            r.reason,
            t.to_text()
        ),
        None => t.to_text(),
    };
    ctx.emit(&human, &result)
}

/// `--distributed-read`: every rank reads its part of `--data` and draws
/// its rows of the split; the training and validation parts are gathered
/// on every rank (the fit still takes them whole), and so is the test part
/// (every rank evaluates its share of the test users). What cannot be done on parts yet is refused
/// with the reason, never done differently. Returns the split, the
/// declared or inferred scale, the titles and the source's name.
fn read_split_in_parts(
    args: &Args,
    split_args: &super::split_args::SplitArgs,
    ctx: &Context,
) -> anyhow::Result<(Split, Option<RatingScale>, Option<Titles>, String)> {
    use crate::data::read::{read_distributed, RowsBy};
    use crate::data::split::{gather_part, split_distributed};
    let Some(path) = args.data.data.as_deref() else {
        anyhow::bail!(
            "--distributed-read reads one file, each rank its part: give --data FILE \
             (not --train/--test, nor the embedded set)"
        );
    };
    let refused = if args.filter.active() {
        Some("the activity filters need every user's and item's count over the whole file")
    } else if args.side_info.is_some() {
        Some("--side-info rows follow the whole training set's ids")
    } else if args.data.read.implicit_options().is_some() {
        Some("implicit feedback is converted after a whole read")
    } else {
        None
    };
    if let Some(why) = refused {
        anyhow::bail!(
            "--distributed-read cannot be combined with this yet: {why}; \
             drop --distributed-read (every rank then reads the whole file)"
        );
    }
    let comm = super::group();
    let read = read_distributed(path, &args.data.read.options()?, RowsBy::User, &*comm)?;
    let out = read.outcome;
    let loaded = Loaded {
        input: Input::Whole(out.ratings.select(&[])),
        titles: args.data.read.titles()?,
        source: format!(
            "{} ({}), read in {} part(s)",
            path.display(),
            out.format,
            comm.size()
        ),
        format: out.format,
        skipped: out.skipped,
        skipped_examples: out.skipped_examples,
        scale: out.scale,
    };
    ctx.note(&loaded.note());
    let parts = split_distributed(
        &out.ratings,
        &read.rows,
        read.total,
        &split_args.config(),
        &*comm,
    )?;
    drop(out.ratings);
    let train = gather_part(&*comm, &parts.train, None)?
        .context("the training part was gathered on every rank")?;
    let valid = match &parts.valid {
        Some(v) => Some(
            gather_part(&*comm, v, None)?
                .context("the validation part was gathered on every rank")?,
        ),
        None => None,
    };
    // Evaluation is split over the ranks (`eval::evaluate_over`), each
    // scoring its share of the test users: every rank needs the test part.
    let test = gather_part(&*comm, &parts.test, None)?
        .context("the test part was gathered on every rank")?;
    let split = Split {
        train,
        test,
        valid,
        cold: parts.cold,
        valid_cold: parts.valid_cold,
    };
    Ok((split, loaded.scale, loaded.titles, loaded.source))
}

/// Item titles by original id.
type Titles = std::collections::HashMap<String, String>;

/// Share of train the automatic default carves out for validation when
/// `--valid-fraction` is not given: 5 % (4,000 ratings of ML-100K u1) is
/// enough to rank candidates whose RMSE differ by more than ~0.005, and
/// keeps 95 % of the ratings for the model, which is not refitted.
pub const AUTO_VALID_FRACTION: f64 = 0.05;

/// One trial of the automatic default, as a progress line.
fn trial_line(t: &AutoTrial) -> String {
    match (t.valid_rmse, &t.note) {
        (Some(r), _) => format!("{}: validation RMSE {r:.4} ({:.1} s)", t.name, t.seconds),
        (None, Some(n)) => format!("{}: {n}", t.name),
        (None, None) => t.name.clone(),
    }
}

/// The trials of the automatic default as a table, the winner marked.
fn trials_table(r: &AutoReport) -> Table {
    let mut t = Table::new(vec![
        "candidate".into(),
        "valid RMSE".into(),
        "seconds".into(),
        "".into(),
    ]);
    for (k, trial) in r.trials.iter().enumerate() {
        t.push(vec![
            trial.name.clone(),
            trial
                .valid_rmse
                .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
            format!("{:.1}", trial.seconds),
            if k == r.winner {
                "winner".into()
            } else {
                trial.note.clone().unwrap_or_default()
            },
        ]);
    }
    t
}
