//! The `rateline` binary: parses the command line and hands over to [`rateline::cli`].

fn main() -> std::process::ExitCode {
    rateline::cli::main()
}
