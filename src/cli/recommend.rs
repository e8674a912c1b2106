//! `aerec recommend`: top-N for a known user (`--user`), a new user
//! (`--ratings`), or every user to a file (`--all-users --out`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::Context;
use crate::recommend::{self, Recommendation};
use crate::TrainedModel;

/// Top-N recommendations for a user, a new user, or every user.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["user", "ratings", "all_users"])))]
pub struct Args {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// A user seen in training (original id).
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// A new user's ratings: `item,rating` lines, header optional.
    #[arg(long, value_name = "FILE")]
    pub ratings: Option<PathBuf>,
    /// Every user of the model, written to `--out`.
    #[arg(long, requires = "out")]
    pub all_users: bool,
    /// Output CSV for `--all-users` (`user,rank,item,rating`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Under MPI (`mpirun`): each rank writes its own share of the users to
    /// `--out` with `.rank-R` before the extension, instead of rank 0
    /// writing the whole file.
    #[arg(long, requires = "all_users")]
    pub per_rank: bool,
    /// How many items per user.
    #[arg(short = 'n', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub n: u32,
}

/// Loads the model and runs the chosen mode.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let mut inputs = vec![args.model.as_path()];
    inputs.extend(args.ratings.as_deref());
    super::check_outputs(&[("--out", args.out.as_deref())], &inputs)?;
    let model = crate::persist::load(&args.model)?;
    let n = args.n as usize;
    if let Some(user) = &args.user {
        let items = recommend::for_user(&model, user, n)?;
        let human = table(&format!("top {n} for user {user}:"), &items);
        ctx.emit(&human, &serde_json::json!({ "user": user, "items": items }))
    } else if let Some(path) = &args.ratings {
        let ratings = crate::data::read::read_item_ratings(path, model.scale)?;
        let recs = recommend::for_new_user(&model, &ratings, n)?;
        if !recs.unknown_items.is_empty() {
            ctx.note(&format!(
                "ignored {} item(s) the model does not know: {}",
                recs.unknown_items.len(),
                recs.unknown_items.join(", ")
            ));
        }
        let head = format!(
            "top {n} for the new user of {} ({} rating(s) used):",
            path.display(),
            recs.used_ratings
        );
        ctx.emit(&table(&head, &recs.items), &serde_json::to_value(&recs)?)
    } else {
        all_users(&model, args, ctx)
    }
}

fn all_users(model: &TrainedModel, args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let out = args
        .out
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--all-users needs --out FILE"))?;
    let bar = if ctx.progress() {
        indicatif::ProgressBar::new(model.n_users() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} users ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let mut rows = 0;
    let comm = super::group();
    let n = args.n as usize;
    let progress = |done: usize| bar.set_position(done as u64);
    if comm.size() == 1 {
        crate::output::write_atomic(out, |w| {
            rows = recommend::recommend_all(model, n, w, progress)?;
            Ok(())
        })?;
    } else if args.per_rank {
        let users = aerec::collective::share(model.n_users(), comm.rank(), comm.size());
        let part = super::rank_part(out, comm.rank());
        crate::output::write_atomic(&part, |w| {
            rows = recommend::recommend_users(model, n, users, true, w, progress)?;
            Ok(())
        })?;
        let mut total = [rows as f64];
        comm.all_reduce_sum_f64(&mut total)?;
        rows = total[0] as usize;
    } else if let Some((csv, total)) = recommend::recommend_all_over(model, n, &*comm, 0, progress)?
    {
        crate::output::write_atomic(out, |w| Ok(w.write_all(&csv)?))?;
        rows = total;
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let human = format!(
        "{rows} recommendations for {} users written to {}{} in {seconds:.2} s",
        model.n_users(),
        out.display(),
        if args.per_rank && comm.size() > 1 {
            " (one part per rank, `.rank-R` before the extension)"
        } else {
            ""
        }
    );
    ctx.emit(
        &human,
        &serde_json::json!({ "users": model.n_users(), "rows": rows, "out": out, "seconds": seconds }),
    )
}

fn table(head: &str, items: &[Recommendation]) -> String {
    let mut s = format!("{head}\n");
    for (rank, r) in items.iter().enumerate() {
        let title = r.title.as_deref().unwrap_or("");
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "{:>3}. {:<12} {:>5.2}  {title}",
            rank + 1,
            r.item,
            r.rating
        );
    }
    s
}
