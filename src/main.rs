//! The `flinkform` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    flinkform::cli::main()
}
