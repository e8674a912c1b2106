//! The `aerec` binary: a thin command-line layer over the library. Flags
//! become library calls in [`cli`]; the library knows nothing of them.

mod cli;

// The command-line layer names the library's modules by their crate paths.
use aerec::{data, error, eval, model, persist, recommend, report, serve, Error, TrainedModel};

fn main() -> std::process::ExitCode {
    cli::main()
}
