//! The `rateline` binary: parses the command line and hands over to [`rateline::cli`].

/// Allocation is a ninth of the server's CPU under load with glibc's allocator; mimalloc's
/// per-thread heaps spend less of it (measured in the performance log).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rateline::cli::main()
}
