//! `aerec serve --model m.aerec [--addr 127.0.0.1:8080]`: the HTTP service.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Context;
use crate::serve::{Limits, ServeConfig};

/// The environment variable that holds the admin token.
pub const ADMIN_TOKEN_ENV: &str = "AEREC_ADMIN_TOKEN";

/// Serve recommendations over HTTP.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (reloaded on SIGHUP and `POST /v1/admin/reload`).
    #[arg(long, value_name = "FILE", help_heading = "Serving")]
    pub model: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", help_heading = "Serving")]
    pub addr: SocketAddr,
    /// Largest `n` a request may ask for (at least 1).
    #[arg(long, default_value_t = Limits::default().max_n, help_heading = "Serving")]
    pub max_n: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes, help_heading = "Serving")]
    pub max_body_bytes: usize,
    /// A file whose first line is the token admin routes require
    /// (`Authorization: Bearer TOKEN`); or set AEREC_ADMIN_TOKEN. Without
    /// either, admin routes answer 403.
    #[arg(long, value_name = "FILE", help_heading = "Serving")]
    pub admin_token_file: Option<PathBuf>,
    /// Seconds a client has to send a request's headers (and that a
    /// keep-alive connection may stay idle).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        help_heading = "Serving"
    )]
    pub header_timeout: u64,
    /// Seconds a client has to send a request's body.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        help_heading = "Serving"
    )]
    pub body_timeout: u64,
    /// Seconds requests in flight may take after SIGTERM or Ctrl-C (a second signal stops at once).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        help_heading = "Serving"
    )]
    pub shutdown_grace: u64,
}

/// The admin token: `--admin-token-file`'s first line, else the environment variable.
fn admin_token(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|e| crate::Error::from(e).with_path(path))?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.is_empty() {
            anyhow::bail!(
                "--admin-token-file {}: the first line is empty; put the token there",
                path.display()
            );
        }
        return Ok(Some(token));
    }
    Ok(std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// Runs the service until Ctrl-C or SIGTERM.
pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--max-n", args.max_n as u64),
        ("--max-body-bytes", args.max_body_bytes as u64),
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
    ] {
        if value == 0 {
            anyhow::bail!("{flag} 0 would refuse every request; give at least 1");
        }
    }
    let mut config = ServeConfig::new(&args.model);
    config.addr = args.addr;
    config.limits = Limits {
        max_n: args.max_n,
        max_body_bytes: args.max_body_bytes,
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        ..Limits::default()
    };
    config.admin_token = admin_token(args.admin_token_file.as_deref())?;
    crate::serve::run(config)?;
    Ok(())
}
