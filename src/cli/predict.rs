//! `aerec predict --model m.aerec --pairs pairs.csv --out preds.csv`: batch
//! scoring of (user, item) pairs.

use std::io::Write;
use std::path::PathBuf;

use super::Context;
use crate::data::read::read_pairs;
use crate::recommend::{predict_pairs, write_predictions};

/// Predict ratings for (user, item) pairs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// `user,item` lines (a `user,item` header is optional).
    #[arg(long, value_name = "FILE")]
    pub pairs: PathBuf,
    /// Output CSV (`user,item,prediction,fallback`); `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Under MPI (`mpirun`): each rank writes its own share of the pairs to
    /// `--out` with `.rank-R` before the extension, instead of rank 0
    /// writing the whole file.
    #[arg(long)]
    pub per_rank: bool,
}

/// Reads the pairs, predicts them in parallel and writes the CSV.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let to_stdout = args.out.as_os_str() == "-";
    if !to_stdout {
        super::check_outputs(&[("--out", Some(&args.out))], &[&args.model, &args.pairs])?;
    }
    let model = crate::persist::load(&args.model)?;
    let pairs = read_pairs(&args.pairs)?;
    let comm = super::group();
    if comm.size() > 1 {
        return run_over(args, ctx, &model, &pairs, &*comm);
    }
    let predictions = predict_pairs(&model, &pairs)?;
    if to_stdout {
        write_predictions(std::io::stdout().lock(), &predictions)?;
    } else {
        crate::output::write_atomic(&args.out, |w| write_predictions(w, &predictions))?;
    }
    let fallbacks = predictions.iter().filter(|p| p.fallback.is_some()).count();
    let human = format!(
        "{} predictions written to {} ({fallbacks} from the cold-start fallback)",
        predictions.len(),
        args.out.display()
    );
    if to_stdout {
        ctx.note(&human);
        return Ok(());
    }
    ctx.emit(
        &human,
        &serde_json::json!({
            "predictions": predictions.len(),
            "fallbacks": fallbacks,
            "out": args.out,
        }),
    )
}

/// `predict` under MPI: the pairs split in order across the ranks; rank 0
/// writes the whole file, or each rank its part (`--per-rank`).
fn run_over(
    args: &Args,
    ctx: &Context,
    model: &crate::TrainedModel,
    pairs: &[(String, String)],
    comm: &dyn aerec::collective::Collective,
) -> anyhow::Result<()> {
    if args.out.as_os_str() == "-" {
        anyhow::bail!("--out - (stdout) under MPI: give a file, which rank 0 writes");
    }
    let fallbacks = if args.per_rank {
        let mine = aerec::collective::share(pairs.len(), comm.rank(), comm.size());
        let predictions = predict_pairs(model, &pairs[mine])?;
        let part = super::rank_part(&args.out, comm.rank());
        crate::output::write_atomic(&part, |w| write_predictions(w, &predictions))?;
        let mut n = [predictions.iter().filter(|p| p.fallback.is_some()).count() as f64];
        comm.all_reduce_sum_f64(&mut n)?;
        n[0] as usize
    } else {
        match crate::recommend::predict_pairs_over(model, pairs, comm, 0)? {
            Some((csv, fallbacks)) => {
                crate::output::write_atomic(&args.out, |w| Ok(w.write_all(&csv)?))?;
                fallbacks
            }
            None => return Ok(()),
        }
    };
    let human = format!(
        "{} predictions written by {} ranks to {}{} ({fallbacks} from the cold-start fallback)",
        pairs.len(),
        comm.size(),
        args.out.display(),
        if args.per_rank {
            " (one part per rank)"
        } else {
            ""
        },
    );
    ctx.emit(
        &human,
        &serde_json::json!({
            "predictions": pairs.len(),
            "fallbacks": fallbacks,
            "out": args.out,
            "ranks": comm.size(),
            "per_rank": args.per_rank,
        }),
    )
}
