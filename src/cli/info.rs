//! `aerec info m.aerec`: what a model file holds.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::Context;

/// Show what a model file holds.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
}

/// Reads the file's metadata (checking its checksum) and prints it.
pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<()> {
    let info = crate::persist::inspect(&args.model)?;
    let s = &info.stats;
    let r = &info.fit_report;
    let mut human = String::new();
    writeln!(
        human,
        "file:      {} ({} bytes)",
        info.path.display(),
        info.size_bytes
    )?;
    writeln!(
        human,
        "format:    aerec version {} (written by aerec {}) on {}",
        info.format_version, info.aerec_version, info.created
    )?;
    writeln!(human, "model:     {}", info.kind)?;
    writeln!(human, "config:    {}", info.config)?;
    writeln!(
        human,
        "data:      {} users, {} items, {} ratings; scale {}..{}; mean {:.4}",
        s.users, s.items, s.ratings, s.scale.min, s.scale.max, s.mu
    )?;
    let best = r
        .best_epoch
        .map_or(String::new(), |b| format!(", best epoch {b}"));
    writeln!(
        human,
        "training:  {} epochs{best}, {:.2} s",
        r.epochs, r.train_seconds
    )?;
    if let Some(last) = r.history.last() {
        let valid = last
            .valid_rmse
            .map_or(String::new(), |v| format!(", valid RMSE {v:.4}"));
        writeln!(
            human,
            "last epoch: train RMSE {:.4}{valid}",
            last.train_rmse
        )?;
    }
    for note in &r.notes {
        writeln!(human, "note:      {note}")?;
    }
    writeln!(human, "titles:    {}", info.titles)?;
    if info.metadata_verified {
        writeln!(human, "sha256:    {} (verified)", info.sha256)?;
    } else {
        writeln!(
            human,
            "sha256:    {} (tensors verified; format version {} does not cover the metadata: \
             save the model again to protect it)",
            info.sha256, info.format_version
        )?;
    }
    writeln!(human, "tensors:")?;
    for t in &info.tensors {
        writeln!(human, "  {:<28} {:<4} {:?}", t.name, t.dtype, t.shape)?;
    }
    ctx.emit(&human, &serde_json::to_value(&info)?)
}
