//! The command line: the global flags and command list (`args`), the run's context
//! (`context`), what a command returns (`output`), and one module per command under
//! `commands/`. Commands return text for stdout and an exit code; `main` prints it (and
//! apply's board, `board`, prints as it goes).

mod args;
mod board;
mod commands;
mod context;
mod flags;
mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::interrupt::Interrupt;
use args::{Cli, Command};
use context::Context;
pub use context::lock_info;
use flinkform_core::view::Style;
use output::{Error, Output, error_text};

/// Exit codes, defined once.
pub mod exit {
    /// Success; with `--detailed-exitcode`, also "no changes".
    pub const OK: u8 = 0;
    /// An error.
    pub const ERROR: u8 = 1;
    /// `--detailed-exitcode`: the plan has changes.
    pub const CHANGES: u8 = 2;
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let interrupt = Interrupt::install();
    // A usage error exits 1, like any error (as Terraform's do): clap's own 2 is what
    // `plan --detailed-exitcode` means by "changes present". Help and version exit 0.
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::ERROR } else { exit::OK });
        }
    };
    let color_ok = !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let style_out = Style { color: color_ok && std::io::stdout().is_terminal() };
    let style_err = Style { color: color_ok && std::io::stderr().is_terminal() };
    init_tracing(cli.verbose, style_err.color);
    // Like `git -C` and `terraform -chdir`: every relative path is then relative to DIR.
    // `init` makes the directory it is pointed at.
    if let (Some(dir), Command::Init) = (&cli.chdir, &cli.command)
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(exit::ERROR);
    }
    if let Some(dir) = &cli.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!("error: cannot change to {}: {e}", dir.display());
        return ExitCode::from(exit::ERROR);
    }
    let progress = move |done: usize, total: usize| {
        if std::io::stderr().is_terminal() {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2Ksampling Kafka topics: {done}/{total}");
            if done >= total {
                let _ = write!(e, "\r\x1b[2K");
            }
            let _ = e.flush();
        }
    };
    let ctx = Context {
        root: PathBuf::from("."),
        env: cli.env.clone().filter(|e| !e.is_empty()),
        style: style_out,
        style_err,
        progress: &progress,
        interrupt,
    };
    match run(&ctx, cli.command) {
        Ok(out) => {
            let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let _ = out.stdout.write(&mut stdout).and_then(|()| stdout.flush());
            ExitCode::from(out.code)
        }
        Err(e) => {
            eprintln!("{}", error_text(&e, style_err));
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Runs `command` in `ctx`.
fn run(ctx: &Context<'_>, command: Command) -> Result<Output, Error> {
    match command {
        Command::Init => commands::init::run(ctx),
        Command::Validate(args) => commands::validate::run(ctx, args),
        Command::Render(args) => commands::render::run(ctx, args),
        Command::Schema(args) => commands::schema::run(ctx, args),
        Command::Sample(args) => commands::sample::run(ctx, args),
        Command::Plan(args) => commands::plan::run(ctx, args),
        Command::Comment(args) => commands::comment::run(ctx, args),
        Command::Apply(args) => commands::apply::run(ctx, args),
        Command::Destroy(args) => commands::apply::destroy(ctx, args),
        Command::Status(args) => commands::status::run(ctx, args),
        Command::Start(args) => commands::operate::start(ctx, args),
        Command::Stop(args) => commands::operate::stop(ctx, args),
        Command::Import(args) => commands::import::run(ctx, args),
        Command::State(command) => commands::state::run(ctx, command),
        Command::History(args) => commands::history::run(ctx, args),
        Command::ForceUnlock(args) => commands::force_unlock::run(ctx, args),
        Command::Ls(args) => commands::ls::run(ctx, args),
        Command::Show(args) => commands::show::run(ctx, args),
        Command::Diff(args) => commands::diff::run(ctx, args),
        Command::Fmt(args) => commands::fmt::run(ctx, args),
        Command::Serve(args) => commands::serve::serve_run(ctx, args),
        Command::Watch(args) => commands::serve::watch_run(ctx, args),
        Command::Version => commands::manual::version(),
        Command::Man => commands::manual::man(Cli::command()),
        Command::Completions(args) => commands::manual::completions(Cli::command(), args),
    }
}

/// Terraform's single-dash spellings of long flags (`-out FILE`, `-target=NAME`,
/// `-auto-approve`, `-refresh=false`, `-lock=false`, `-lock-timeout=30s`,
/// `-detailed-exitcode`, `-no-color`, and `-json` for `--format json`): clap would read
/// them as bundles of short flags.
fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    const TERRAFORM: [&str; 8] =
        ["out", "target", "auto-approve", "refresh", "lock-timeout", "lock", "detailed-exitcode", "no-color"];
    args.map(|a| {
        let Some(rest) = a.strip_prefix('-').filter(|r| !r.starts_with('-')) else { return a };
        if rest == "json" {
            return "--format=json".into();
        }
        for flag in TERRAFORM {
            match rest.strip_prefix(flag) {
                Some("") => return format!("--{flag}"),
                Some(value) if value.starts_with('=') => return format!("--{flag}{value}"),
                _ => {}
            }
        }
        a
    })
    .collect()
}

/// The log filter of `-v` counted `verbose` times. librdkafka's own lines (one per failed
/// connect, repeated) are flinkform's to sum up: they show from -v on.
fn log_filter(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn,librdkafka=off,rdkafka=off",
        1 => "info,librdkafka=warn,rdkafka=warn",
        _ => "debug",
    }
}

fn init_tracing(verbose: u8, color: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(verbose)));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(color).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn librdkafka_logs_show_from_one_v_on() {
        assert!(super::log_filter(0).contains("librdkafka=off"));
        assert!(super::log_filter(1).contains("librdkafka=warn"));
        assert_eq!(super::log_filter(2), "debug");
    }

    #[test]
    fn terraform_single_dash_flags() {
        let args = [
            "flinkform",
            "plan",
            "-out",
            "p.json",
            "-out=q.json",
            "-o",
            "r",
            "-target=orders",
            "-target",
            "x",
            "--target=y",
            "-refresh=false",
            "-lock=false",
            "-lock-timeout=30s",
            "-detailed-exitcode",
            "-no-color",
            "-json",
            "-auto-approve",
            "-v",
            "-C",
            "dir",
            "-s",
            "tag:x",
        ]
        .map(String::from);
        assert_eq!(
            super::normalize_args(args.into_iter()),
            [
                "flinkform",
                "plan",
                "--out",
                "p.json",
                "--out=q.json",
                "-o",
                "r",
                "--target=orders",
                "--target",
                "x",
                "--target=y",
                "--refresh=false",
                "--lock=false",
                "--lock-timeout=30s",
                "--detailed-exitcode",
                "--no-color",
                "--format=json",
                "--auto-approve",
                "-v",
                "-C",
                "dir",
                "-s",
                "tag:x",
            ]
        );
    }
}
