//! The command line: clap arguments (`args`), then one file per group of commands.
//! Commands return text for stdout and an exit code; this module is the only place that
//! prints (with apply's board, `board`).

mod apply;
mod args;
mod board;
mod comment;
mod init;
mod inspect;
mod plan;
mod review;
mod state;

use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::apply::Timeouts;
use crate::project::{self, Failed, Progress, Workspace};
use args::{Cli, Command, Restore, StateCommand};
use flinkform_core::diag::Diagnostic;
use flinkform_core::state::{LockInfo, StateError};
use flinkform_core::view::{self, Format, Style};
use vvp_api::{Client, Credentials, RetryPolicy};

/// Exit codes, defined once.
pub mod exit {
    /// Success; with `--detailed-exitcode`, also "no changes".
    pub const OK: u8 = 0;
    /// An error.
    pub const ERROR: u8 = 1;
    /// `--detailed-exitcode`: the plan has changes.
    pub const CHANGES: u8 = 2;
}

/// What a command produced.
struct Output {
    stdout: Stdout,
    code: u8,
}

/// A command's stdout: its text, or text written out as it is made (a large plan is
/// never whole in memory).
enum Stdout {
    Text(String),
    Stream(Writer),
}

/// Writes a command's stdout as it makes it.
type Writer = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()>>;

impl Stdout {
    /// Writes it out.
    fn write(self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Stdout::Text(text) => out.write_all(text.as_bytes()),
            Stdout::Stream(write) => write(out),
        }
    }

    /// The whole text.
    fn into_text(self) -> String {
        match self {
            Stdout::Text(text) => text,
            stream => {
                let mut out = Vec::new();
                let _ = stream.write(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            }
        }
    }
}

impl From<String> for Stdout {
    fn from(text: String) -> Self {
        Stdout::Text(text)
    }
}

enum Error {
    Diagnostics(Vec<Diagnostic>),
    Other(anyhow::Error),
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Self {
        Error::Diagnostics(f.0)
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Other(e)
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        match &e {
            StateError::Corrupt { path, .. } if !path.ends_with(".backup") => Error::Diagnostics(vec![
                Diagnostic::error(e.to_string()).with_help(
                    "`flinkform state restore` puts back the state before it (the backup every write keeps) and sets the unreadable one aside",
                ),
            ]),
            _ => Error::Other(e.into()),
        }
    }
}

/// The environment of this run (`--env`, `FLINKFORM_ENV`), set once at startup.
static ENV: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The project at `root`, in this run's environment.
fn workspace(root: &Path) -> Result<Workspace, Failed> {
    Workspace::load_env(root, ENV.get().and_then(Option::as_deref))
}

/// Whether the environment variable `name` is set and not empty.
fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
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

/// Rows under `header`: columns aligned as `ls` prints them, or (`json`) objects keyed
/// by the header's names in lower case, each cell its JSON value (a number stays a
/// number, a list a list).
fn table(header: &[&str], rows: &[Vec<serde_json::Value>], json: bool) -> String {
    if json {
        let keys: Vec<String> = header.iter().map(|h| h.to_lowercase().replace(' ', "_")).collect();
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::Value::Object(keys.iter().cloned().zip(r.iter().cloned()).collect()))
            .collect();
        return serde_json::to_string_pretty(&v).expect("JSON serializes") + "\n";
    }
    fn text(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        }
    }
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().map(|r| r.iter().map(text).collect()))
        .collect();
    let mut width = vec![0; header.len()];
    for l in &lines {
        for (w, cell) in width.iter_mut().zip(l) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, cell) in l.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < l.len() {
                line.push_str(&" ".repeat(width[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A project without specs is a mistake (a missing or misnamed `pipelines/`) unless
/// asked for: planning it would destroy every recorded pipeline.
fn require_pipelines(root: &Path, ws: &Workspace, allow_empty: bool) -> Result<(), Error> {
    if !ws.project.pipelines.is_empty() || allow_empty {
        return Ok(());
    }
    let dir = root.join("pipelines");
    let what = if dir.is_dir() {
        "pipelines/ holds no .toml spec".to_string()
    } else {
        format!(
            "there is no pipelines/ directory in {}",
            std::path::absolute(root).unwrap_or(root.to_path_buf()).display()
        )
    };
    Err(Failed(vec![Diagnostic::error(format!("no pipelines: {what}")).with_help(
        "specs go in pipelines/NAME.toml; to plan an empty project on purpose (every recorded pipeline destroyed), pass --allow-empty",
    )])
    .into())
}

/// The selection `--select`, `-target` and `--exclude` name.
fn selection(args: &args::SelectArgs) -> Result<flinkform_core::select::Selection, Error> {
    args.selection().map_err(|e| Error::Other(anyhow::anyhow!("{e}")))
}

/// Narrows the project to the selected pipelines, and returns the recorded state as far
/// as they go (for planning; apply records into the whole state). A selector that
/// matches nothing is an error.
fn narrow(
    ws: &mut Workspace,
    state: Option<&flinkform_core::state::State>,
    sel: &flinkform_core::select::Selection,
) -> Result<Option<flinkform_core::state::State>, Error> {
    let narrowed = selected(ws, state, sel)?;
    ws.project.pipelines.retain(|p| sel.matches(&p.name, Some(p)));
    Ok(narrowed)
}

/// The recorded state as far as the selection goes (a recorded pipeline is matched with
/// its spec, when it has one).
fn selected(
    ws: &Workspace,
    state: Option<&flinkform_core::state::State>,
    sel: &flinkform_core::select::Selection,
) -> Result<Option<flinkform_core::state::State>, Error> {
    if sel.is_all() {
        return Ok(state.cloned());
    }
    let specs: std::collections::HashMap<&str, &flinkform_core::spec::Pipeline> =
        ws.project.pipelines.iter().map(|p| (p.name.as_str(), p)).collect();
    let recorded =
        state.into_iter().flat_map(|s| s.pipelines.keys()).map(|n| (n.as_str(), specs.get(n.as_str()).copied()));
    let names = specs.iter().map(|(n, p)| (*n, Some(*p))).chain(recorded);
    if let Some(why) = sel.unmatched(names) {
        return Err(anyhow::anyhow!("{}: {why}", sel.shown()).into());
    }
    Ok(state.map(|s| {
        let mut s = s.clone();
        s.pipelines.retain(|name, _| sel.matches(name, specs.get(name.as_str()).copied()));
        s
    }))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    crate::interrupt::install();
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
    let _ = ENV.set(cli.env.clone().filter(|e| !e.is_empty()));
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
    match run(cli.command, Path::new("."), style_out, &progress) {
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

/// An error as stderr shows it.
fn error_text(e: &Error, style: Style) -> String {
    match e {
        Error::Diagnostics(diags) => {
            let mut text = view::diagnostics(diags, style);
            let n = diags.iter().filter(|d| d.is_error()).count();
            if n > 1 {
                text.push_str(&format!("\n{n} errors"));
            }
            text
        }
        Error::Other(e) => {
            let label = if style.color { "\x1b[1;31merror\x1b[0m" } else { "error" };
            format!("{label}: {e:#}")
        }
    }
}

/// Each error of `e` on its own, plain, as JSON and the PR comment show them.
fn error_list(e: &Error) -> Vec<String> {
    match e {
        Error::Diagnostics(diags) => diags.iter().map(|d| d.to_string()).collect(),
        Error::Other(e) => vec![format!("error: {e:#}")],
    }
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

fn ok(stdout: String) -> Result<Output, Error> {
    Ok(Output { stdout: stdout.into(), code: exit::OK })
}
fn run(command: Command, root: &Path, style: Style, progress: Progress<'_>) -> Result<Output, Error> {
    match command {
        Command::Init => init::init(root),
        Command::Completions { shell } => init::completions(shell),
        Command::Man => init::man(),
        Command::Validate { select } => inspect::validate(root, style, progress, &selection(&select)?),
        Command::Render { template: Some(kind), .. } => inspect::builtin_template(&kind),
        Command::Render { name: Some(name), ddl, deployment, .. } => {
            inspect::render(root, progress, name, ddl, deployment)
        }
        Command::Render { select, ddl, deployment, .. } => {
            inspect::render_selected(root, progress, &selection(&select)?, ddl, deployment)
        }
        Command::Schema { name } => ok(inspect::schema_text(&resolve_one(root, &name, None, progress)?)),
        Command::Sample { name: Some(name), messages, schema, .. } => {
            inspect::sample_pipeline(root, progress, name, messages, schema)
        }
        Command::Sample { name: None, messages, schema, topic, bootstrap_servers, timeout } => {
            inspect::sample_topic(messages, schema, topic, bootstrap_servers, timeout)
        }
        Command::Plan(args) => plan::plan(root, style, progress, args),
        Command::Comment { provider, behavior, repo, pr, api_url, body_file, refresh } => {
            let opts = comment::Opts { provider, behavior, repo, pr, api_url, body_file, refresh };
            comment::comment(root, style, progress, opts)
        }
        Command::Apply { plan, select, expect_plan, allow_empty, auto_approve, parallelism, lock_timeout } => {
            apply::apply(
                root,
                plan.as_deref(),
                apply::Mode::Apply { expect: expect_plan, select: selection(&select)?, allow_empty },
                auto_approve,
                usize::from(parallelism),
                lock_timeout,
                style,
                progress,
            )
        }
        Command::Destroy { names, select, auto_approve, parallelism } => {
            let mode = apply::Mode::Destroy { names, select: selection(&select)? };
            apply::apply(root, None, mode, auto_approve, usize::from(parallelism), Duration::ZERO, style, progress)
        }
        Command::Status { job_id: Some(id), format, .. } => state::job_status(root, &id, format == "json"),
        Command::Status { name, select, format, .. } => {
            state::status(root, name.as_deref(), &selection(&select)?, format == "json")
        }
        Command::Start { name, deployment_id, restore } => {
            let restore = match restore {
                Restore::LatestState => vvp_api::Restore::LatestState,
                Restore::LatestSavepoint => vvp_api::Restore::LatestSavepoint,
                Restore::None => vvp_api::Restore::None,
            };
            // A recorded pipeline's deployment is started as that pipeline, so its job is
            // recorded.
            let name = match (name, deployment_id) {
                (_, Some(id)) => match state::pipeline_of_deployment(root, &id)? {
                    Some(name) => name,
                    None => return state::start_deployment(root, &id, restore),
                },
                (name, None) => name.unwrap_or_default(),
            };
            apply::operate(root, &name, "start", |ex, n| Box::pin(async move { ex.start_pipeline(n, restore).await }))
        }
        Command::Stop { name, savepoint } => {
            let how = if savepoint { vvp_api::Stop::WithSavepoint } else { vvp_api::Stop::Now };
            apply::operate(root, &name, "stop", |ex, n| Box::pin(async move { ex.stop_pipeline(n, how).await }))
        }
        Command::Import { name, deployment_id, force } => state::import(root, &name, &deployment_id, force, progress),
        Command::State(StateCommand::List { format }) => state::list(root, format == "json"),
        Command::State(StateCommand::Show { name }) => state::show(root, name),
        Command::State(StateCommand::Migrate { from, to }) => state::migrate(root, from, to),
        Command::State(StateCommand::Restore) => state::restore(root),
        Command::State(StateCommand::Rm { names }) => state::rm(root, &names),
        Command::State(StateCommand::Mv { old, new }) => state::mv(root, &old, &new),
        Command::Ls { select, format } => inspect::ls(root, &selection(&select)?, format == "json"),
        Command::Show { plan, format } => inspect::show(root, &plan, format, style),
        Command::Diff { from, to } => inspect::diff_envs(root, progress, &from, &to),
        Command::Version => ok(format!("flinkform {}\n", env!("CARGO_PKG_VERSION"))),
        Command::Fmt { check } => init::fmt(root, check),
        Command::History { name, format } => state::history(root, name, format == "json"),
        Command::ForceUnlock { id } => state::force_unlock(root, id),
    }
}

fn timeouts(ws: &Workspace) -> Timeouts {
    let t = ws.project.config.vvp.timeouts;
    Timeouts { deploy: t.deploy, start: t.start, stop: t.stop }
}

/// The VVP client from flinkform.toml and the environment.
fn vvp_client(ws: &Workspace) -> Result<Client, Error> {
    let creds = Credentials::from_env().ok_or_else(|| {
        anyhow::anyhow!(
            "no VVP credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)"
        )
    })?;
    Ok(Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
        .map_err(anyhow::Error::from)?)
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Runtime::new().context("cannot start the async runtime")?)
}

/// Samples and resolves one pipeline (`messages` overrides the spec's sample size).
fn resolve_one(
    root: &Path,
    name: &str,
    messages: Option<u64>,
    progress: Progress<'_>,
) -> Result<project::Resolved, Error> {
    let ws = workspace(root)?;
    let mut p = ws.pipeline(name)?.clone();
    if let Some(n) = messages {
        p.source.sample.messages = n;
    }
    let state = ws.store()?.load()?;
    Ok(ws.resolve_one(&p, state.as_ref().and_then(|s| s.pipelines.get(name)), progress)?)
}

fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Takes the state lock for `operation`, saying so when it may wait (as Terraform's
/// "Acquiring state lock" does), and how long it waited.
fn take_lock(
    store: &dyn flinkform_core::state::StateStore,
    operation: &str,
    timeout: Duration,
) -> Result<Box<dyn flinkform_core::state::LockGuard>, Error> {
    if timeout.is_zero() {
        return Ok(store.lock(&lock_info(operation), timeout)?);
    }
    eprintln!("Acquiring the state lock (waiting up to {})…", humantime::format_duration(timeout));
    let started = std::time::Instant::now();
    let guard = store.lock(&lock_info(operation), timeout)?;
    if started.elapsed() >= Duration::from_secs(1) {
        eprintln!("Acquired the state lock after {}s.", started.elapsed().as_secs());
    }
    Ok(guard)
}

/// Where this CI job's log is (GitHub Actions, GitLab CI): a cut comment links to it, and
/// a lock's holder names it.
fn ci_log_url() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
        _ => var("CI_JOB_URL"),
    }
}

/// Who is asking for the lock, for the holder info a loser sees.
pub fn lock_info(operation: &str) -> LockInfo {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let ci = ci_log_url().map_or(String::new(), |url| format!(" ({url})"));
    LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        who: format!("{user}{ci}"),
        pid: std::process::id(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "unknown".into(), |h| h.trim().to_string()),
        operation: operation.into(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    }
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
