//! The manual's outputs: `man` (the man page), `completions` (a shell's completion
//! script) and `version`, from the command line's definition (the one `--help` shows).

use anyhow::Context as _;

use crate::cli::output::{Error, Output, ok};

#[derive(clap::Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

/// `man`: the man page, from the same definitions as `--help` (clap_mangen): the global
/// options and every command (each command's own flags: `flinkform CMD --help`, or
/// docs/reference.md).
pub(crate) fn man(cli: clap::Command) -> Result<Output, Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cli).render(&mut buf).context("rendering the man page")?;
    ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `completions`.
pub(crate) fn completions(mut cli: clap::Command, args: CompletionsArgs) -> Result<Output, Error> {
    let shell = args.shell;
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cli, "flinkform", &mut buf);
    ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `version`.
pub(crate) fn version() -> Result<Output, Error> {
    ok(format!("flinkform {}\n", env!("CARGO_PKG_VERSION")))
}
