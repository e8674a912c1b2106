//! `aerec serve --model m.aerec [--addr 127.0.0.1:8080]`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Context;
use crate::serve::{Limits, ServeConfig};

/// Serve recommendations over HTTP.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (reloaded on SIGHUP and `POST /v1/admin/reload`).
    #[arg(long, value_name = "FILE", help_heading = "Serving")]
    pub model: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", help_heading = "Serving")]
    pub addr: SocketAddr,
    /// Largest `n` a request may ask for.
    #[arg(long, default_value_t = Limits::default().max_n, help_heading = "Serving")]
    pub max_n: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes, help_heading = "Serving")]
    pub max_body_bytes: usize,
}

/// Runs the service until Ctrl-C or SIGTERM.
pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<()> {
    let mut config = ServeConfig::new(&args.model);
    config.addr = args.addr;
    config.limits = Limits {
        max_n: args.max_n,
        max_body_bytes: args.max_body_bytes,
        ..Limits::default()
    };
    crate::serve::run(config)?;
    Ok(())
}
