//! (being written)
use super::Context;

/// Arguments (being written).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command (being written).
pub fn run(_args: &Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
