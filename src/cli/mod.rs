//! The command-line program: parses arguments, calls the library, prints.
//! No logic of its own (as ripgrep's `main.rs`): each subcommand lives in a
//! small file with its `Args` (clap derive) and a `run` function.
//!
//! Output convention: human-readable text on stdout; with `--json` the last
//! line on stdout is one JSON object with the command's results. Progress
//! bars and logs go to stderr.

pub mod ae_args;
pub mod baseline_args;
pub mod compare;
pub mod data_args;
pub mod demo;
pub mod eval;
pub mod filter_args;
pub mod info;
pub mod model_args;
pub mod predict;
pub mod recommend;
pub mod serve;
pub mod similar;
pub mod split;
pub mod split_args;
pub mod stats;
pub mod synth;
pub mod train;
pub mod tune;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// aerec: autoencoder collaborative filtering, sparse first.
#[derive(Debug, Parser)]
#[command(name = "aerec", version, about, long_about = None, arg_required_else_help = false)]
pub struct Cli {
    /// Print one JSON object with the results as the last line on stdout.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// No progress bars or notes on stderr.
    #[arg(long, short = 'q', global = true, help_heading = "Output")]
    pub quiet: bool,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N", help_heading = "Output")]
    pub threads: Option<usize>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands, in the order of the data's path.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show counts, density, mean, rating histogram and activity quantiles.
    Stats(stats::Args),
    /// Split ratings into train/test (and validation, folds) CSV files.
    Split(split::Args),
    /// Generate a synthetic rating set shaped like a real catalogue.
    Synth(synth::Args),
    /// Train a model (autoencoder or baseline) and evaluate it on the test split.
    Train(train::Args),
    /// Evaluate a saved model on a test file.
    Eval(eval::Args),
    /// Compare several models on the same data and splits.
    Compare(compare::Args),
    /// Search hyperparameters on a validation split.
    Tune(tune::Args),
    /// Show what a model file holds.
    Info(info::Args),
    /// Top-N recommendations for a user, a new user, or every user.
    Recommend(recommend::Args),
    /// Predict ratings for (user, item) pairs.
    Predict(predict::Args),
    /// Items most similar to an item.
    Similar(similar::Args),
    /// Serve recommendations over HTTP.
    Serve(serve::Args),
    /// Run the whole pipeline on the embedded dataset.
    Demo(demo::Args),
    /// Print shell completions.
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// What every subcommand gets besides its own arguments.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// `--json` was given.
    pub json: bool,
    /// `--quiet` was given.
    pub quiet: bool,
}

impl Context {
    /// Show progress bars and notes on stderr?
    pub fn progress(&self) -> bool {
        !self.quiet
    }

    /// Prints the human text (unless `--json`) or the JSON object as one line.
    pub fn emit(&self, human: &str, json: &serde_json::Value) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string(json)?)?;
        } else {
            write!(out, "{human}")?;
            if !human.ends_with('\n') && !human.is_empty() {
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(())
    }

    /// A note on stderr (suppressed by `--quiet`).
    pub fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

/// Parses the command line, runs the command, maps the outcome to an exit code:
/// 0 on success (a closed stdout pipe included), 1 on an error, 2 on a usage error.
/// A flag's value parser for a library enum, by its serde names: the
/// library's types carry no command-line derives, and the names users type
/// are the ones config files use.
pub(crate) fn serde_names<T>(
    names: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names)
        .try_map(|name| serde_json::from_value::<T>(serde_json::Value::String(name)))
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        // A second call fails when the pool was already built; that is harmless.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let ctx = Context {
        json: cli.json,
        quiet: cli.quiet,
    };
    let Some(command) = cli.command else {
        let mut help = Cli::command();
        eprintln!(
            "aerec: autoencoder recommender. Start with `aerec demo` (trains and recommends on the \
             embedded MovieLens latest-small), or see `aerec --help`.\n"
        );
        help.print_help()?;
        return Ok(());
    };
    match command {
        Command::Stats(a) => stats::run(&a, &ctx),
        Command::Split(a) => split::run(&a, &ctx),
        Command::Synth(a) => synth::run(&a, &ctx),
        Command::Train(a) => train::run(&a, &ctx),
        Command::Eval(a) => eval::run(&a, &ctx),
        Command::Compare(a) => compare::run(&a, &ctx),
        Command::Tune(a) => tune::run(&a, &ctx),
        Command::Info(a) => info::run(&a, &ctx),
        Command::Recommend(a) => recommend::run(&a, &ctx),
        Command::Predict(a) => predict::run(&a, &ctx),
        Command::Similar(a) => similar::run(&a, &ctx),
        Command::Serve(a) => serve::run(&a, &ctx),
        Command::Demo(a) => demo::run(&a, &ctx),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "aerec", &mut std::io::stdout());
            Ok(())
        }
    }
}
