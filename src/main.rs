//! The `aerec` binary: everything happens in [`aerec::cli`].

fn main() -> std::process::ExitCode {
    aerec::cli::main()
}
