//! `aerec similar --model m.aerec --item ID`: nearest items by cosine of the
//! model's item vectors, or by the item × item matrix a model holds
//! (item-kNN's cosines, EASE's weights).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::Context;
use crate::recommend::{similar_items, SimilarityIndex};

/// Items most similar to an item.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The item (original id).
    #[arg(long, value_name = "ID")]
    pub item: String,
    /// How many items.
    #[arg(short = 'n', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub n: u32,
}

/// Loads the model, builds the similarity index and prints the neighbours.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let model = crate::persist::load(&args.model)?;
    let index = SimilarityIndex::new(&model)?;
    let items = similar_items(&model, &index, &args.item, args.n as usize)?;
    let mut human = format!("items most similar to {}", args.item);
    if let Some(t) = model.titles.get(&args.item) {
        write!(human, " ({t})")?;
    }
    human.push_str(":\n");
    for (rank, s) in items.iter().enumerate() {
        let title = s.title.as_deref().unwrap_or("");
        writeln!(
            human,
            "{:>3}. {:<12} {:>7.4}  {title}",
            rank + 1,
            s.item,
            s.similarity
        )?;
    }
    ctx.emit(
        &human,
        &serde_json::json!({ "item": args.item, "similar": items }),
    )
}
