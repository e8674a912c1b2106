//! `aerec predict --model m.aerec --pairs pairs.csv --out preds.csv`: batch
//! scoring of (user, item) pairs.

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
}

/// Reads the pairs, predicts them in parallel and writes the CSV.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let to_stdout = args.out.as_os_str() == "-";
    if !to_stdout {
        super::check_outputs(&[("--out", Some(&args.out))], &[&args.model, &args.pairs])?;
    }
    let model = crate::persist::load(&args.model)?;
    let pairs = read_pairs(&args.pairs)?;
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
