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
pub mod progress;
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
use std::sync::Mutex;

use aerec::collective::{self, Comm};

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
    /// `--quiet` was given (always, on ranks other than 0).
    pub quiet: bool,
    /// This process prints the results and writes the outputs: a single
    /// process, or rank 0 of an MPI job.
    pub primary: bool,
}

impl Context {
    /// Show progress bars and notes on stderr?
    pub fn progress(&self) -> bool {
        !self.quiet
    }

    /// Prints the human text (unless `--json`) or the JSON object as one line.
    pub fn emit(&self, human: &str, json: &serde_json::Value) -> anyhow::Result<()> {
        if !self.primary {
            return Ok(());
        }
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

/// The group of processes this run is part of: an MPI job's ranks when the
/// binary was built with `--features mpi` and started by `mpirun`/`srun`,
/// else one process. Held here (the binary, not the library) so that `main`
/// can finalise MPI after the command, by dropping the last handle.
static GROUP: Mutex<Option<Comm>> = Mutex::new(None);

/// The group the command runs in (see [`GROUP`]).
pub fn group() -> Comm {
    GROUP
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or_else(collective::single)
}

/// Joins the MPI job this process was launched in, if any.
fn join_group() -> anyhow::Result<()> {
    #[cfg(feature = "mpi")]
    if collective::mpi::launched_by_mpi() {
        let comm = collective::mpi::MpiCollective::init()?;
        if let Ok(mut g) = GROUP.lock() {
            *g = Some(std::sync::Arc::new(comm));
        }
    }
    Ok(())
}

/// Commands that run data-parallel over an MPI job's ranks; the others run
/// on rank 0 alone while the other ranks exit at once.
fn distributed(command: &Option<Command>) -> bool {
    match command {
        Some(Command::Train(_) | Command::Eval(_) | Command::Predict(_)) => true,
        Some(Command::Recommend(a)) => a.all_users,
        _ => false,
    }
}

/// Rank `rank`'s part of the output `path`: `.rank-R` before the extension
/// (`recs.csv` → `recs.rank-1.csv`).
pub fn rank_part(path: &std::path::Path, rank: usize) -> std::path::PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.rank-{rank}.{}", ext.to_string_lossy()),
        None => format!("{stem}.rank-{rank}"),
    };
    path.with_file_name(name)
}

/// Parses the command line, runs the command, maps the outcome to an exit code:
/// 0 on success (a closed stdout pipe included), 1 on an error, 2 on a usage error.
/// The error goes to stderr; with `--json` it is also the last stdout line,
/// as `{"error": "…"}`, so a script reading that line always gets an object.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            if std::env::args().any(|a| a == "--json") {
                print_json_error(&e.kind().to_string(), &e.to_string());
            }
            return ExitCode::from(2);
        }
    };
    let json = cli.json;
    if let Err(e) = join_group() {
        eprintln!("error: joining the MPI job: {e:#}");
        return ExitCode::from(1);
    }
    let comm = group();
    let (rank, size) = (comm.rank(), comm.size());
    drop(comm);
    if rank > 0 && !distributed(&cli.command) {
        return finish(ExitCode::SUCCESS);
    }
    match run(cli) {
        Ok(()) => finish(ExitCode::SUCCESS),
        Err(e) => {
            if is_broken_pipe(&e) {
                return finish(ExitCode::SUCCESS);
            }
            let mut message = crate::error::chain_message(e.as_ref());
            if let Some(hint) = flag_hint(&e) {
                message.push_str(hint);
            }
            // Every rank says its own error; MPI is not finalised (the other
            // ranks may wait in a collective), so the launcher sees a rank
            // exit without finalising and ends the whole job, non-zero.
            if size > 1 {
                // One write, so the ranks' lines do not interleave.
                let line = format!("rank {rank} of {size}: error: {message}\n");
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                std::process::exit(1);
            }
            eprintln!("error: {message}");
            if json {
                print_json_error(&message, &message);
            }
            ExitCode::from(1)
        }
    }
}

/// Leaves the group (finalising MPI when this process joined a job) and
/// returns `code`.
fn finish(code: ExitCode) -> ExitCode {
    if let Ok(mut g) = GROUP.lock() {
        g.take();
    }
    code
}

/// The `--json` line of a failure; `detail` is the full text (clap's usage
/// errors have a one-line kind and a longer text).
fn print_json_error(message: &str, detail: &str) {
    let mut object = serde_json::json!({ "error": message });
    if detail != message {
        object["detail"] = serde_json::Value::from(detail.trim_end());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{object}");
    let _ = out.flush();
}

/// The flag that answers a library error, where one does: the library's
/// messages name choices, the command line names its flags.
fn flag_hint(e: &anyhow::Error) -> Option<&'static str> {
    e.chain().find_map(
        |c| match c.downcast_ref::<crate::Error>().map(crate::Error::kind) {
            Some(crate::ErrorKind::Duplicate { .. }) => Some(" [--duplicates keep-last|mean]"),
            _ => None,
        },
    )
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().or_else(|| {
            match c.downcast_ref::<crate::Error>().map(crate::Error::kind) {
                Some(crate::ErrorKind::Io(io)) => Some(io),
                _ => None,
            }
        });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Clap value parser for an `f64` flag: a finite number. `inf` and `NaN`
/// parse as floats but no setting means them, and a JSON settings table
/// cannot even hold them (they would silently become `null`).
pub fn finite_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not a finite number")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

/// Clap value parser for an `f32` flag: a finite number that fits an `f32`.
pub fn finite_f32(s: &str) -> Result<f32, String> {
    let v = finite_f64(s)?;
    let narrow = v as f32;
    if narrow.is_finite() {
        Ok(narrow)
    } else {
        Err(format!("{v} is too large"))
    }
}

/// Checks every output path given (flag, path) before any work: its
/// directory exists and is writable, and it is none of `inputs`
/// (see [`crate::output::check_output`]).
pub fn check_outputs(
    outputs: &[(&str, Option<&std::path::Path>)],
    inputs: &[&std::path::Path],
) -> anyhow::Result<()> {
    for (flag, path) in outputs {
        if let Some(path) = path {
            crate::output::check_output(path, flag, inputs)?;
        }
    }
    Ok(())
}

/// The most worker threads `--threads` accepts: a few per core is already
/// more than any part of aerec can use, and a pool of 100,000 threads takes
/// minutes to start (each needs its stack mapped).
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).max(64)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        let max = max_threads();
        if n > max {
            anyhow::bail!(
                "--threads {n} is more than {max} (4 per core, at least 64); \
                 leave it out to use every core"
            );
        }
        // A second call fails when the pool was already built; that is harmless.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let primary = group().rank() == 0;
    let ctx = Context {
        json: cli.json,
        quiet: cli.quiet || !primary,
        primary,
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
