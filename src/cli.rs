//! The command line: clap arguments, then one function per command. Commands return
//! text for stdout and an exit code; this module is the only place that prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::apply::{EVENT_DESTROYED, EVENT_RUNNING, Executor, Timeouts};
use crate::project::{self, Failed, Progress, Workspace};
use crate::sample::{KafkaSampler, Sampler};
use flinkform_core::diag::Diagnostic;
use flinkform_core::plan::{self, file as planfile};
use flinkform_core::state::LockInfo;
use flinkform_core::view::{self, Format, Style};
use std::sync::atomic::{AtomicBool, Ordering};
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

#[derive(Parser, Debug)]
#[command(
    name = "flinkform",
    version,
    about = "Pipelines as code for Kafka → Flink SQL → Hologres on Alibaba Cloud VVP",
    after_help = "Examples:\n  flinkform plan\n  flinkform plan --format markdown --out plan.json\n  flinkform -C infra/streaming render orders"
)]
struct Cli {
    /// Run as if started in DIR (the project root, holding flinkform.toml).
    #[arg(short = 'C', long = "chdir", global = true, value_name = "DIR")]
    chdir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Never colour the output (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    no_color: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a project: flinkform.toml, an example pipeline with a sample file, templates/.
    #[command(after_help = "Example:\n  flinkform -C my-pipelines init")]
    Init,
    /// Check the specs and every pipeline's schema without planning.
    #[command(after_help = "Example:\n  flinkform validate")]
    Validate,
    /// Print a pipeline's Flink SQL (or its Hologres DDL, or deployment config).
    #[command(after_help = "Examples:\n  flinkform render orders\n  flinkform render orders --ddl")]
    Render {
        /// Pipeline name.
        name: String,
        /// Print the Hologres DDL instead.
        #[arg(long, conflicts_with = "deployment")]
        ddl: bool,
        /// Print the deployment config instead.
        #[arg(long)]
        deployment: bool,
    },
    /// Show a pipeline's inferred columns with the evidence behind each type.
    #[command(after_help = "Example:\n  flinkform schema orders")]
    Schema {
        /// Pipeline name.
        name: String,
    },
    /// Compare the specs and samples with the recorded state and show what would change.
    #[command(
        after_help = "Examples:\n  flinkform plan\n  flinkform plan --detailed-exitcode\n  flinkform plan --format markdown > comment.md\n  flinkform plan -out plan.json"
    )]
    Plan {
        /// Output format.
        #[arg(long, default_value = "text", value_parser = format_parser())]
        format: Format,
        /// Save the plan to FILE (also `-out FILE`), for apply to carry out exactly.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Do not take the state lock.
        #[arg(long = "lock", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        lock: bool,
        /// Look at VVP (when credentials are set): drift, failed jobs, missing variables.
        #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        refresh: bool,
        /// Have VVP validate the SQL of every changed pipeline (needs credentials).
        #[arg(long)]
        validate: bool,
        /// How long to wait for the state lock (e.g. "30s").
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: Duration,
    },
    /// Carry out a plan on VVP: create, update, replace or destroy deployments and jobs,
    /// journaling every step in the state. Holds the state lock for the whole run.
    #[command(
        after_help = "Examples:\n  flinkform apply\n  flinkform apply --auto-approve --parallelism 20\n  flinkform apply plan.json"
    )]
    Apply {
        /// A plan saved with `plan -out FILE`: apply exactly it (refused if the state changed since).
        plan: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Pipelines carried out at the same time.
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        /// How long to wait for the state lock (e.g. "30s").
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: Duration,
    },
    /// Show the live state of the recorded pipelines on VVP.
    #[command(after_help = "Examples:\n  flinkform status\n  flinkform status orders")]
    Status {
        /// Only this pipeline.
        name: Option<String>,
    },
    /// Start a recorded pipeline's job.
    #[command(after_help = "Example:\n  flinkform start orders --restore latest-savepoint")]
    Start {
        /// Pipeline name.
        name: String,
        /// Where the job resumes from.
        #[arg(long, value_enum, default_value = "latest-state")]
        restore: Restore,
    },
    /// Stop a recorded pipeline's job (it stays stopped until `start`).
    #[command(after_help = "Example:\n  flinkform stop orders --savepoint")]
    Stop {
        /// Pipeline name.
        name: String,
        /// Take a savepoint while stopping.
        #[arg(long)]
        savepoint: bool,
    },
    /// Destroy every pipeline in the state (protected ones refuse): stop jobs, delete deployments.
    #[command(after_help = "Example:\n  flinkform destroy --auto-approve")]
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Pipelines carried out at the same time.
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
    },
    /// Adopt an existing VVP deployment as pipeline NAME (whose spec must exist).
    #[command(after_help = "Example:\n  flinkform import orders 7468776d-d5d7-4079-a8a2-af4b66668084")]
    Import {
        /// Pipeline name (a spec in pipelines/).
        name: String,
        /// The VVP deployment id.
        deployment_id: String,
    },
    /// Print the newest messages of a pipeline's topic (or any topic) as JSON lines, or
    /// with --schema the columns inferred from them. Never joins a consumer group or
    /// commits offsets.
    #[command(
        after_help = "Examples:\n  flinkform sample orders -n 5\n  flinkform sample orders --schema\n  flinkform sample --topic clicks --bootstrap-servers 127.0.0.1:9092 --schema"
    )]
    Sample {
        /// Pipeline name (or give --topic and --bootstrap-servers).
        #[arg(required_unless_present = "topic")]
        name: Option<String>,
        /// How many of the newest messages.
        #[arg(short = 'n', long = "messages", default_value_t = 20)]
        messages: u64,
        /// Show the inferred columns instead of the messages.
        #[arg(long)]
        schema: bool,
        /// Sample this topic without a spec.
        #[arg(long, requires = "bootstrap_servers", conflicts_with = "name")]
        topic: Option<String>,
        /// Brokers of --topic.
        #[arg(long)]
        bootstrap_servers: Option<String>,
        /// Give up after this long (with --topic).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Inspect the recorded state.
    #[command(subcommand)]
    State(StateCommand),
    /// A pipeline's applied revisions (SQL digests, when, which action) and its job.
    #[command(after_help = "Example:\n  flinkform history orders")]
    History {
        /// Pipeline name.
        name: String,
    },
    /// Break a stuck state lock by its ID (shown in the lock error).
    #[command(name = "force-unlock", after_help = "Example:\n  flinkform force-unlock 3f2a...")]
    ForceUnlock {
        /// The lock ID.
        id: String,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  flinkform completions bash > /etc/bash_completion.d/flinkform")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `start --restore`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Restore {
    /// From the latest checkpoint or savepoint.
    LatestState,
    /// From the latest savepoint.
    LatestSavepoint,
    /// Without state: the source starts from its startup mode.
    None,
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// List recorded pipelines.
    List,
    /// Show one recorded pipeline: columns, SQL, DDL, ids, history.
    Show {
        /// Pipeline name.
        name: String,
    },
    /// Move the state from one backend to the other, without loss (lineage and serial kept).
    #[command(
        after_help = "Example:\n  FLINKFORM_STATE_DSN=postgres://... flinkform state migrate --from local --to postgres"
    )]
    Migrate {
        /// Where the state is now.
        #[arg(long, value_enum)]
        from: Backend,
        /// Where it goes (must hold no state yet).
        #[arg(long, value_enum)]
        to: Backend,
    },
}

/// A state backend, for `state migrate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// The JSON file.
    Local,
    /// PostgreSQL (or Hologres) tables.
    Postgres,
}

/// What a command produced.
struct Output {
    stdout: String,
    code: u8,
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

impl From<flinkform_core::state::StateError> for Error {
    fn from(e: flinkform_core::state::StateError) -> Self {
        Error::Other(e.into())
    }
}

/// Terraform spells it `-out FILE` / `-out=FILE`; clap would read `-o ut`.
fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|a| match a.strip_prefix("-out") {
        Some("") => "--out".to_string(),
        Some(rest) if rest.starts_with('=') => format!("--out{rest}"),
        _ => a,
    })
    .collect()
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args()));
    let color_ok = !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let style_out = Style { color: color_ok && std::io::stdout().is_terminal() };
    let style_err = Style { color: color_ok && std::io::stderr().is_terminal() };
    init_tracing(cli.verbose, style_err.color);
    // Like `git -C` and `terraform -chdir`: every relative path is then relative to DIR.
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
    match run(cli.command, Path::new("."), style_out, &progress) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.stdout.as_bytes());
            ExitCode::from(out.code)
        }
        Err(Error::Diagnostics(diags)) => {
            eprintln!("{}", view::diagnostics(&diags, style_err));
            let n = diags.iter().filter(|d| d.is_error()).count();
            if n > 1 {
                eprintln!("{n} errors");
            }
            ExitCode::from(exit::ERROR)
        }
        Err(Error::Other(e)) => {
            let label = if style_err.color { "\x1b[1;31merror\x1b[0m" } else { "error" };
            eprintln!("{label}: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn init_tracing(verbose: u8, color: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(color).with_writer(std::io::stderr).try_init();
}

fn ok(stdout: String) -> Result<Output, Error> {
    Ok(Output { stdout, code: exit::OK })
}

fn run(command: Command, root: &Path, style: Style, progress: Progress<'_>) -> Result<Output, Error> {
    match command {
        Command::Init => init(root),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "flinkform", &mut buf);
            ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Command::Validate => {
            let ws = Workspace::load(root)?;
            let state = ws.store()?.load()?;
            let (desired, _) = project::desired_all(&ws, state.as_ref(), progress)?;
            let mut out = view::diagnostics(&ws.warnings, style);
            for d in &desired {
                for w in &d.warnings {
                    out.push_str(&format!("warning: {w}\n"));
                }
            }
            out.push_str(&format!("Success! {} pipelines are valid.\n", desired.len()));
            ok(out)
        }
        Command::Render { name, ddl, deployment } => {
            let resolved = resolve_one(root, &name, None, progress)?;
            let r = &resolved.desired.record;
            ok(if ddl {
                r.ddl.clone()
            } else if deployment {
                r.deployment.clone()
            } else {
                r.sql.clone()
            })
        }
        Command::Schema { name } => ok(schema_text(&resolve_one(root, &name, None, progress)?)),
        Command::Sample { name: Some(name), messages, schema, .. } => {
            if schema {
                return ok(schema_text(&resolve_one(root, &name, Some(messages), progress)?));
            }
            let ws = Workspace::load(root)?;
            let mut p = ws.pipeline(&name)?.clone();
            p.source.sample.messages = messages;
            ok(view::json_lines(&ws.sample_one(&p, progress).map_err(Failed::from)?))
        }
        Command::Sample { name: None, messages, schema, topic, bootstrap_servers, timeout } => {
            let source = flinkform_core::spec::SourceSpec::adhoc(
                topic.unwrap_or_default(),
                bootstrap_servers.unwrap_or_default(),
                messages,
                timeout,
            );
            let mut r = KafkaSampler::default().sample(&[&source]);
            let sample = r.pop().expect("one result").map_err(|e| anyhow::anyhow!("{e}"))?;
            if !schema {
                return ok(view::json_lines(&sample));
            }
            let shape = flinkform_core::infer::infer(sample.records(), &Default::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            ok(format!("{}: {} records\n\n{}", sample.origin, sample.len(), view::shape_table(&shape)))
        }
        Command::Plan { format, out, detailed_exitcode, lock, lock_timeout, refresh, validate } => {
            let ws = Workspace::load(root)?;
            let store = ws.store()?;
            let _guard = if lock { Some(store.lock(&lock_info("plan"), lock_timeout)?) } else { None };
            let state = store.load()?;
            let (desired, inputs) = project::desired_all(&ws, state.as_ref(), progress)?;
            let mut observed = if refresh || validate { observe(&ws, state.as_ref(), &desired)? } else { None };
            if validate {
                let o = observed.as_mut().ok_or_else(|| {
                    anyhow::anyhow!("--validate needs VVP credentials (ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)")
                })?;
                let client = vvp_client(&ws)?;
                let timeout = ws.project.config.vvp.timeouts.validate;
                o.validations = runtime()?
                    .block_on(crate::refresh::validate(&client, &desired, state.as_ref(), timeout))
                    .map_err(anyhow::Error::from)?;
            }
            let plan = plan::compute(desired, state.as_ref(), observed.as_ref(), inputs);
            tracing::info!(changes = plan.changes.len(), has_changes = plan.has_changes(), "plan computed");
            if let Some(path) = &out {
                write_new(path, &planfile::to_text(&plan))?;
            }
            let mut text = view::plan(&plan, format, style);
            if let (Some(path), Format::Text) = (&out, format) {
                text.push_str(&format!(
                    "\nSaved the plan to {}. Apply exactly it with `flinkform apply {}`.\n",
                    path.display(),
                    path.display()
                ));
            }
            let code = if !plan.errors.is_empty() {
                exit::ERROR
            } else if detailed_exitcode && plan.has_changes() {
                exit::CHANGES
            } else {
                exit::OK
            };
            Ok(Output { stdout: text, code })
        }
        Command::Apply { plan, auto_approve, parallelism, lock_timeout } => {
            apply(root, plan.as_deref(), Mode::Apply, auto_approve, parallelism, lock_timeout, style, progress)
        }
        Command::Destroy { auto_approve, parallelism } => {
            apply(root, None, Mode::Destroy, auto_approve, parallelism, Duration::ZERO, style, progress)
        }
        Command::Status { name } => status(root, name.as_deref()),
        Command::Start { name, restore } => {
            let kind = match restore {
                Restore::LatestState => "LATEST_STATE",
                Restore::LatestSavepoint => "LATEST_SAVEPOINT",
                Restore::None => "NONE",
            };
            operate(root, &name, "start", |ex, n| Box::pin(async move { ex.start_pipeline(n, kind).await }))
        }
        Command::Stop { name, savepoint } => {
            operate(root, &name, "stop", |ex, n| Box::pin(async move { ex.stop_pipeline(n, savepoint).await }))
        }
        Command::Import { name, deployment_id } => import(root, &name, &deployment_id, progress),
        Command::State(StateCommand::List) => {
            let ws = Workspace::load(root)?;
            let state = ws.store()?.load()?;
            let mut out = String::new();
            if let Some(s) = &state {
                for (name, p) in &s.pipelines {
                    out.push_str(&format!("{name}\t{}\t{}\n", p.status, p.file));
                }
            }
            ok(out)
        }
        Command::State(StateCommand::Show { name }) => {
            let ws = Workspace::load(root)?;
            let state = ws.store()?.load()?;
            let p = state.as_ref().and_then(|s| s.pipelines.get(&name)).ok_or_else(|| {
                anyhow::anyhow!("no pipeline `{name}` in the state (`flinkform state list` shows what is recorded)")
            })?;
            let mut out = format!("# {name}\nfile: {}\nstatus: {}\ntopic: {}\n", p.file, p.status, p.topic);
            out.push_str(&format!(
                "deployment id: {}\njob id: {}\n\ncolumns:\n",
                p.remote.deployment_id.as_deref().unwrap_or("-"),
                p.remote.job_id.as_deref().unwrap_or("-")
            ));
            out.push_str(&view::columns_table(&p.columns, "  "));
            out.push_str("\nhistory:\n");
            for h in &p.history {
                out.push_str(&format!("  serial {}  {}  {}  sql {}\n", h.serial, h.at, h.action, &h.sql_digest[..12]));
            }
            out.push_str(&format!("\n{}\n{}\n{}", p.sql, p.ddl, p.deployment));
            ok(out)
        }
        Command::State(StateCommand::Migrate { from, to }) => {
            if from == to {
                return Err(anyhow::anyhow!("--from and --to are the same backend").into());
            }
            let ws = Workspace::load(root)?;
            let (source, target) = (ws.store_of(from == Backend::Postgres)?, ws.store_of(to == Backend::Postgres)?);
            let _a = source.lock(&lock_info("state migrate"), Duration::ZERO)?;
            let _b = target.lock(&lock_info("state migrate"), Duration::ZERO)?;
            let state = source
                .load()?
                .ok_or_else(|| anyhow::anyhow!("the {from:?} backend holds no state: nothing to migrate"))?;
            if let Some(t) = target.load()? {
                return Err(anyhow::anyhow!(
                    "the {to:?} backend already holds a state (lineage {}, serial {}); it is left untouched",
                    t.lineage,
                    t.serial
                )
                .into());
            }
            target.save(&state, None)?;
            ok(format!(
                "Moved the state (lineage {}, serial {}, {} pipelines) from {from:?} to {to:?}. Set [state] backend in flinkform.toml to use it.\n",
                state.lineage,
                state.serial,
                state.pipelines.len()
            ))
        }
        Command::History { name } => {
            let ws = Workspace::load(root)?;
            let state = ws.store()?.load()?;
            let p = state
                .as_ref()
                .and_then(|s| s.pipelines.get(&name))
                .ok_or_else(|| anyhow::anyhow!("no pipeline `{name}` in the state"))?;
            let mut out = String::from("SERIAL\tAPPLIED\tACTION\tSQL\tDDL\n");
            for h in &p.history {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    h.serial,
                    h.at,
                    h.action,
                    &h.sql_digest[..12],
                    &h.ddl_digest[..12]
                ));
            }
            out.push_str(&format!(
                "\ndeployment {}, job {}, status {}{}\n",
                p.remote.deployment_id.as_deref().unwrap_or("-"),
                p.remote.job_id.as_deref().unwrap_or("-"),
                p.status,
                p.error.as_deref().map_or(String::new(), |e| format!(": {e}"))
            ));
            ok(out)
        }
        Command::ForceUnlock { id } => {
            let ws = Workspace::load(root)?;
            ws.store()?.force_unlock(&id)?;
            ok(format!("The state lock {id} was released.\n"))
        }
    }
}

/// Refreshes from VVP when credentials are set, and reads the sink tables whose
/// `dsn_env` is set; `None` when there is nothing to look at.
fn observe(
    ws: &Workspace,
    state: Option<&flinkform_core::state::State>,
    desired: &[flinkform_core::plan::Desired],
) -> Result<Option<flinkform_core::plan::Observed>, Error> {
    let runtime = runtime()?;
    let mut observed = match Credentials::from_env() {
        None => {
            tracing::info!("no VVP credentials: planning from the recorded state only");
            None
        }
        Some(creds) => {
            let client = Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
                .map_err(anyhow::Error::from)?;
            Some(runtime.block_on(crate::refresh::observe(&client, state)).map_err(|e| {
                anyhow::anyhow!(
                    "refreshing from VVP failed: {e}; use --refresh=false to plan from the recorded state only"
                )
            })?)
        }
    };
    let sinks = runtime.block_on(crate::refresh::sinks(desired)).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !sinks.is_empty() {
        observed.get_or_insert_with(Default::default).sinks = sinks;
    }
    Ok(observed)
}

/// Apply's progress: one line per step when the output is a log, a live board of the
/// pipelines in flight (redrawn in place) on a terminal.
struct Board {
    tty: bool,
    live: std::sync::Mutex<(Vec<(String, String)>, usize)>,
}

impl Board {
    /// Pipelines shown at once on a terminal.
    const ROWS: usize = 12;

    fn new(tty: bool) -> Board {
        Board { tty, live: std::sync::Mutex::new((Vec::new(), 0)) }
    }

    fn event(&self, name: &str, msg: &str) {
        if !self.tty {
            return print_now(&format!("{name}: {msg}\n"));
        }
        let mut guard = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let (rows, drawn) = &mut *guard;
        let mut out = String::new();
        for _ in 0..*drawn {
            out.push_str("\x1b[1A\x1b[2K");
        }
        rows.retain(|(n, _)| n != name);
        if msg == EVENT_RUNNING || msg == EVENT_DESTROYED {
            out.push_str(&format!("{name}: {msg}\n")); // final lines stay
        } else {
            rows.push((name.to_string(), msg.to_string()));
        }
        let shown = &rows[rows.len().saturating_sub(Self::ROWS)..];
        for (n, m) in shown {
            out.push_str(&format!("  {n}: {m}\n"));
        }
        *drawn = shown.len();
        print_now(&out);
    }
}

/// Set by ctrl-c during apply: in-flight steps finish and are recorded, then apply stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit code after ctrl-c.
const INTERRUPTED_EXIT: u8 = 130;

fn print_now(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Whether `apply` carries out the plan of the specs, or destroys everything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Destroy,
}

#[allow(clippy::too_many_arguments)]
fn apply(
    root: &Path,
    plan_file: Option<&Path>,
    mode: Mode,
    auto_approve: bool,
    parallelism: usize,
    lock_timeout: Duration,
    style: Style,
    progress: Progress<'_>,
) -> Result<Output, Error> {
    let ws = Workspace::load(root)?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info("apply"), lock_timeout)?;
    let state = store.load()?;
    let plan = match plan_file {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
            let p = planfile::from_text(&text).map_err(anyhow::Error::from)?;
            planfile::check_fresh(&p, state.as_ref()).map_err(anyhow::Error::from)?;
            p
        }
        None => {
            let (desired, inputs) = match mode {
                Mode::Apply => project::desired_all(&ws, state.as_ref(), progress)?,
                Mode::Destroy => (Vec::new(), ws.inputs.clone()),
            };
            let observed = observe(&ws, state.as_ref(), &desired)?;
            let p = plan::compute(desired, state.as_ref(), observed.as_ref(), inputs);
            print_now(&view::plan(&p, Format::Text, style));
            if p.has_changes() && p.errors.is_empty() && !auto_approve {
                if !std::io::stdin().is_terminal() {
                    return Err(anyhow::anyhow!("apply asks for confirmation, and there is no terminal: pass --auto-approve, or apply a saved plan").into());
                }
                print_now("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer).map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?;
                if answer.trim() != "yes" {
                    return Ok(Output { stdout: "\nApply cancelled.\n".into(), code: exit::ERROR });
                }
            }
            p
        }
    };
    if !plan.errors.is_empty() {
        return Err(anyhow::anyhow!("the plan cannot be applied:\n  {}", plan.errors.join("\n  ")).into());
    }
    if !plan.has_changes() {
        return ok("No changes. Nothing to apply.\n".into());
    }
    let creds = Credentials::from_env().ok_or_else(|| {
        anyhow::anyhow!(
            "no VVP credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)"
        )
    })?;
    let client = Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
        .map_err(anyhow::Error::from)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
    });
    let lineage = uuid::Uuid::new_v4().to_string();
    let start = state.unwrap_or_else(|| flinkform_core::state::State::new(lineage));
    let board = Board::new(std::io::stdout().is_terminal());
    let events = |name: &str, msg: &str| board.event(name, msg);
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let executor = Executor::new(&client, &*store, start, timeouts(&ws), now, &INTERRUPTED, &events);
    let outcome = runtime.block_on(executor.apply(&plan, parallelism));
    let mut text = String::new();
    for (name, why) in &outcome.failed {
        text.push_str(&format!("\nerror: {name}: {why}\n"));
    }
    let counts = format!(
        "{} created, {} updated, {} replaced, {} destroyed{}",
        outcome.done.add,
        outcome.done.change,
        outcome.done.replace,
        outcome.done.destroy,
        if outcome.done.repair > 0 { format!(", {} repaired", outcome.done.repair) } else { String::new() }
    );
    let code = if outcome.interrupted {
        text.push_str(&format!("\nApply interrupted: {counts}. Run apply again to resume.\n"));
        INTERRUPTED_EXIT
    } else if outcome.failed.is_empty() {
        text.push_str(&format!("\nApply complete! {counts}.\n"));
        exit::OK
    } else {
        text.push_str(&format!(
            "\nApply failed for {} pipelines: {counts}. The state records every step taken; fix the cause and run apply again.\n",
            outcome.failed.len()
        ));
        exit::ERROR
    };
    Ok(Output { stdout: text, code })
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
    Ok(tokio::runtime::Runtime::new().map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?)
}

type Op<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>;

/// `start` / `stop`: one pipeline, under the state lock, journaled.
fn operate(
    root: &Path,
    name: &str,
    what: &str,
    op: impl for<'e> FnOnce(&'e Executor<'e>, &'e str) -> Op<'e>,
) -> Result<Output, Error> {
    let ws = Workspace::load(root)?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info(what), Duration::ZERO)?;
    let state = store.load()?.ok_or_else(|| anyhow::anyhow!("there is no state yet: run apply first"))?;
    let client = vvp_client(&ws)?;
    let events = |n: &str, msg: &str| print_now(&format!("{n}: {msg}\n"));
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let ex = Executor::new(&client, &*store, state, timeouts(&ws), now, &INTERRUPTED, &events);
    runtime()?.block_on(op(&ex, name)).map_err(|e| anyhow::anyhow!("{what} {name}: {e}"))?;
    ok(format!("{name}: {what} done.\n"))
}

/// `status`: each recorded pipeline's deployment and job as VVP shows them.
fn status(root: &Path, only: Option<&str>) -> Result<Output, Error> {
    let ws = Workspace::load(root)?;
    let state = ws.store()?.load()?;
    let client = vvp_client(&ws)?;
    let observed =
        runtime()?.block_on(crate::refresh::observe(&client, state.as_ref())).map_err(anyhow::Error::from)?;
    let mut out = String::from("PIPELINE\tDEPLOYMENT\tJOB\tLIVE STATUS\tRECORDED\n");
    for (name, p) in state.iter().flat_map(|s| s.pipelines.iter()).filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
    {
        let live = match observed.pipelines.get(name) {
            Some(flinkform_core::plan::Live::Gone) => "deployment gone".to_string(),
            Some(flinkform_core::plan::Live::Found { job, .. }) => job.clone().unwrap_or_else(|| "no job".into()),
            None => "not deployed".into(),
        };
        out.push_str(&format!(
            "{name}\t{}\t{}\t{live}\t{}\n",
            p.remote.deployment_id.as_deref().unwrap_or("-"),
            p.remote.job_id.as_deref().unwrap_or("-"),
            p.status
        ));
    }
    ok(out)
}

/// `import NAME DEPLOYMENT_ID`: records an existing deployment as pipeline NAME, with the
/// SQL it runs now, so that the next plan shows how to bring it to the spec.
fn import(root: &Path, name: &str, deployment_id: &str, progress: Progress<'_>) -> Result<Output, Error> {
    let ws = Workspace::load(root)?;
    let p = ws.pipeline(name)?.clone();
    let store = ws.store()?;
    let _guard = store.lock(&lock_info("import"), Duration::ZERO)?;
    let state = store.load()?;
    if state.as_ref().is_some_and(|s| s.pipelines.contains_key(name)) {
        return Err(anyhow::anyhow!("`{name}` is already in the state").into());
    }
    let client = vvp_client(&ws)?;
    let rt = runtime()?;
    let live = rt.block_on(client.get_deployment(deployment_id)).map_err(anyhow::Error::from)?;
    let job = rt.block_on(client.live_job(deployment_id)).map_err(anyhow::Error::from)?;
    let mut rec = ws.resolve_one(&p, None, progress)?.desired.record;
    rec.sql = live.artifact.and_then(|a| a.sql_artifact).map(|s| s.sql_script).unwrap_or_default();
    rec.remote.deployment_id = Some(deployment_id.to_string());
    rec.remote.job_id = job.map(|j| j.id);
    rec.status = flinkform_core::state::Status::Imported;
    let mut next = state.clone().unwrap_or_else(|| flinkform_core::state::State::new(uuid::Uuid::new_v4().to_string()));
    next.pipelines.insert(name.to_string(), rec);
    flinkform_core::state::commit(&*store, state.as_ref(), next)?;
    ok(format!(
        "Imported deployment {deployment_id} as `{name}`. Run `flinkform plan` to see how it differs from the spec.\n"
    ))
}

fn schema_text(resolved: &project::Resolved) -> String {
    let d = &resolved.desired;
    let mut out = format!(
        "{}: {} columns, json.timestamp-format.standard = {}\nsample: {}: {} records",
        d.name,
        d.record.columns.len(),
        d.record.timestamp_standard.as_str(),
        d.sample.origin,
        d.sample.records
    );
    if d.sample.skipped_count > 0 {
        out.push_str(&format!(", {} skipped ({})", d.sample.skipped_count, d.sample.skipped));
    }
    out.push_str("\n\n");
    out.push_str(&view::columns_table(&d.record.columns, ""));
    for w in &d.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// Samples and resolves one pipeline (`messages` overrides the spec's sample size).
fn resolve_one(
    root: &Path,
    name: &str,
    messages: Option<u64>,
    progress: Progress<'_>,
) -> Result<project::Resolved, Error> {
    let ws = Workspace::load(root)?;
    let mut p = ws.pipeline(name)?.clone();
    if let Some(n) = messages {
        p.source.sample.messages = n;
    }
    let state = ws.store()?.load()?;
    Ok(ws.resolve_one(&p, state.as_ref().and_then(|s| s.pipelines.get(name)), progress)?)
}

fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Who is asking for the lock, for the holder info a loser sees.
pub fn lock_info(operation: &str) -> LockInfo {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let ci = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(s), Ok(r), Ok(id)) => format!(" ({s}/{r}/actions/runs/{id})"),
        _ => String::new(),
    };
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

/// Parses `--format` with the names the view knows (listed in `--help`).
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    clap::builder::TypedValueParser::map(
        clap::builder::PossibleValuesParser::new(Format::ALL.map(|(name, _)| name)),
        |name| Format::named(&name).expect("a possible value is a format"),
    )
}

const INIT_CONFIG: &str = include_str!("../flinkform.toml");
const INIT_PIPELINE: &str = include_str!("../pipelines/orders.toml");
const INIT_SAMPLE: &str = include_str!("../samples/orders.jsonl");
const INIT_TEMPLATES: &str = "Templates placed here override flinkform's built-ins by file name:\n\
source.sql.j2, sink.sql.j2, insert.sql.j2, ddl.sql.j2, deployment.yaml.j2.\n\
Print a built-in with `flinkform render NAME` to see what it produces.\n";

fn init(root: &Path) -> Result<Output, Error> {
    if root.join("flinkform.toml").exists() {
        return Err(anyhow::anyhow!(
            "{} already holds a flinkform.toml; init leaves existing projects alone",
            root.display()
        )
        .into());
    }
    let files = [
        ("flinkform.toml", INIT_CONFIG),
        ("pipelines/orders.toml", INIT_PIPELINE),
        ("samples/orders.jsonl", INIT_SAMPLE),
        ("templates/README.md", INIT_TEMPLATES),
    ];
    for (rel, text) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    ok(format!(
        "Created a flinkform project in {}:\n  flinkform.toml\n  pipelines/orders.toml\n  samples/orders.jsonl\n  templates/\nNext: edit flinkform.toml for your VVP workspace, then run `flinkform plan`.\n",
        root.display()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn terraform_style_out_flag() {
        let args = ["flinkform", "plan", "-out", "p.json", "-out=q.json", "-o", "r"].map(String::from);
        assert_eq!(
            super::normalize_args(args.into_iter()),
            ["flinkform", "plan", "--out", "p.json", "--out=q.json", "-o", "r"]
        );
    }
}
