//! The `flinkform` binary: everything lives in the library; see `cli`.

/// mimalloc: plans and inference allocate many small values on every core
/// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flinkform::cli::main()
}
