//! The command line's shape: clap types only, validated without IO.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use flinkform_core::view::Format;

#[derive(Parser, Debug)]
#[command(
    name = "flinkform",
    version,
    about = "Pipelines as code for Kafka → Flink SQL → Hologres on Alibaba Cloud VVP",
    after_help = "Examples:\n  flinkform plan\n  flinkform plan --format markdown --out plan.json\n  flinkform -C infra/streaming render orders"
)]
pub(super) struct Cli {
    /// Run as if started in DIR (the project root, holding flinkform.toml).
    #[arg(short = 'C', long = "chdir", global = true, value_name = "DIR")]
    pub(super) chdir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(super) verbose: u8,
    /// Never colour the output (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub(super) no_color: bool,
    /// The environment: `[environments.NAME]` of flinkform.toml overlaid, with its own state.
    #[arg(long = "env", global = true, env = "FLINKFORM_ENV", value_name = "NAME")]
    pub(super) env: Option<String>,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Create a project: flinkform.toml, an example pipeline with a sample file, templates/.
    #[command(after_help = "Example:\n  flinkform -C my-pipelines init")]
    Init,
    /// Check the specs and every pipeline's schema without planning.
    #[command(after_help = "Examples:\n  flinkform validate\n  flinkform validate --select tag:billing")]
    Validate {
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Print a pipeline's Flink SQL (or its Hologres DDL, or deployment config).
    #[command(
        after_help = "Examples:\n  flinkform render orders\n  flinkform render orders --ddl\n  flinkform render --select tag:billing"
    )]
    Render {
        /// Pipeline name.
        #[arg(required_unless_present_any = ["template", "select", "target"])]
        name: Option<String>,
        #[command(flatten)]
        select: SelectArgs,
        /// Print this built-in template instead (source, lookup, sink, view, insert, ddl
        /// or deployment), to copy into templates/ and edit.
        #[arg(long, value_parser = template_kinds(), conflicts_with_all = ["name", "ddl", "deployment"])]
        template: Option<String>,
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
        after_help = "Examples:\n  flinkform plan\n  flinkform plan --select orders,tag:billing\n  flinkform plan -target=orders\n  flinkform plan --detailed-exitcode\n  flinkform plan --format markdown > comment.md\n  flinkform plan -out plan.json"
    )]
    Plan(PlanArgs),
    /// Post the plan as one sticky pull-request comment, found again by its hidden marker
    /// and edited in place on every push.
    #[command(
        after_help = "Examples (in GitHub Actions with GITHUB_TOKEN set, in GitLab CI with GITLAB_TOKEN set):\n  flinkform comment github\n  flinkform comment github --behavior delete-and-new\n  flinkform comment github --repo octo/infra --pr 42 --api-url https://ghe.example.com/api/v3\n  flinkform comment gitlab"
    )]
    Comment {
        /// Where the pull request is.
        #[arg(value_enum)]
        provider: CommentProvider,
        /// What happens to the previous comment: edit it, or add a new one (keeping,
        /// deleting or hiding the old).
        #[arg(long, value_enum, default_value = "update")]
        behavior: CommentBehavior,
        /// GitHub: OWNER/NAME (default: GITHUB_REPOSITORY); GitLab: the project's id or
        /// path (default: CI_PROJECT_ID).
        #[arg(long)]
        repo: Option<String>,
        /// Pull request number (default: from the event at GITHUB_EVENT_PATH), or merge
        /// request iid (default: CI_MERGE_REQUEST_IID).
        #[arg(long)]
        pr: Option<u64>,
        /// API root, for GitHub Enterprise Server or self-managed GitLab (default:
        /// GITHUB_API_URL or CI_API_V4_URL, else github.com's or gitlab.com's).
        #[arg(long)]
        api_url: Option<String>,
        /// Post this Markdown (from `plan --format markdown`) instead of planning here.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Look at VVP while planning (when credentials are set).
        #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        refresh: bool,
    },
    /// Carry out a plan on VVP: create, update, replace or destroy deployments and jobs,
    /// journaling every step in the state. Holds the state lock for the whole run.
    #[command(
        after_help = "Examples:\n  flinkform apply\n  flinkform apply --auto-approve --parallelism 20\n  flinkform apply plan.json"
    )]
    Apply {
        /// A plan saved with `plan -out FILE`: apply exactly it (refused if the state changed since).
        plan: Option<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
        /// Apply only if the plan means what was reviewed: its digest, a file with the PR
        /// comment or `plan --format json` output, or `github`/`gitlab` (the comment of the
        /// pull or merge request merged as GITHUB_SHA or CI_COMMIT_SHA, which then says what
        /// apply did).
        #[arg(long, value_name = "DIGEST|FILE|github|gitlab")]
        expect_plan: Option<String>,
        /// Apply a project without specs (every recorded pipeline destroyed).
        #[arg(long)]
        allow_empty: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Pipelines carried out at the same time (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        parallelism: u16,
        /// How long to wait for the state lock (e.g. "30s").
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: Duration,
    },
    /// Show the live state of the recorded pipelines on VVP.
    #[command(
        after_help = "Examples:\n  flinkform status\n  flinkform status orders\n  flinkform status --job-id 5f1c…"
    )]
    Status {
        /// Only this pipeline.
        #[arg(conflicts_with = "job_id")]
        name: Option<String>,
        #[command(flatten)]
        select: SelectArgs,
        /// Any job on VVP, by its id (recorded or not).
        #[arg(long)]
        job_id: Option<String>,
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Start a recorded pipeline's job (or, by `--deployment-id`, any deployment's).
    #[command(
        after_help = "Examples:\n  flinkform start orders --restore latest-savepoint\n  flinkform start --deployment-id 0c8a…"
    )]
    Start {
        /// Pipeline name.
        #[arg(required_unless_present = "deployment_id", conflicts_with = "deployment_id")]
        name: Option<String>,
        /// Start this deployment on VVP (recorded or not) and wait until its job runs.
        #[arg(long)]
        deployment_id: Option<String>,
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
    /// Destroy the pipelines in the state (all, or those named; protected ones refuse): stop
    /// jobs, delete deployments.
    #[command(
        after_help = "Examples:\n  flinkform destroy --auto-approve\n  flinkform destroy clickstream --auto-approve"
    )]
    Destroy {
        /// Only these pipelines (the others stay as they are).
        names: Vec<String>,
        #[command(flatten)]
        select: SelectArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Pipelines carried out at the same time (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        parallelism: u16,
    },
    /// Adopt an existing VVP deployment as pipeline NAME (whose spec must exist).
    #[command(after_help = "Example:\n  flinkform import orders 7468776d-d5d7-4079-a8a2-af4b66668084")]
    Import {
        /// Pipeline name (a spec in pipelines/).
        name: String,
        /// The VVP deployment id.
        deployment_id: String,
        /// Adopt it even when its labels say another flinkform project or pipeline made it.
        #[arg(long)]
        force: bool,
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
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Break a stuck state lock by its ID (shown in the lock error).
    #[command(name = "force-unlock", after_help = "Example:\n  flinkform force-unlock 3f2a...")]
    ForceUnlock {
        /// The lock ID.
        id: String,
    },
    /// List the pipelines (those selected): name, topic, sink table, tags, and what the
    /// state records of each.
    #[command(after_help = "Examples:\n  flinkform ls\n  flinkform ls --select tag:billing --format json")]
    Ls {
        #[command(flatten)]
        select: SelectArgs,
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Show a plan saved with `plan -out FILE`.
    #[command(after_help = "Examples:\n  flinkform show plan.json\n  flinkform show plan.json --format markdown")]
    Show {
        /// The saved plan.
        plan: PathBuf,
        /// Output format.
        #[arg(long, default_value = "text", value_parser = format_parser())]
        format: Format,
    },
    /// Show how two environments' rendered SQL, sink DDL and deployments differ, pipeline
    /// by pipeline: what promoting one to the other changes.
    #[command(after_help = "Example:\n  flinkform diff staging prod")]
    Diff {
        /// The environment promoted from.
        from: String,
        /// The environment promoted to.
        to: String,
    },
    /// Print flinkform's version.
    Version,
    /// Lay out flinkform.toml and the specs canonically (comments kept); with --check,
    /// only say which files are not (exit 1), for CI.
    #[command(after_help = "Examples:\n  flinkform fmt\n  flinkform fmt --check")]
    Fmt {
        /// Change nothing; exit 1 when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Print flinkform's man page (roff), e.g. `flinkform man > /usr/local/share/man/man1/flinkform.1`.
    Man,
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  flinkform completions bash > /etc/bash_completion.d/flinkform")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `start --restore`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum Restore {
    /// From the latest checkpoint or savepoint.
    LatestState,
    /// From the latest savepoint.
    LatestSavepoint,
    /// Without state: the source starts from its startup mode.
    None,
}

#[derive(Subcommand, Debug)]
pub(super) enum StateCommand {
    /// List recorded pipelines.
    List {
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
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
    /// Put the state back to what it was before the last write (the backup every write
    /// keeps), written as a new serial of the same lineage.
    #[command(after_help = "Example:\n  flinkform state restore")]
    Restore,
    /// Forget pipelines: their records leave the state, and nothing on VVP is touched
    /// (the next plan creates them again while their specs exist).
    #[command(after_help = "Example:\n  flinkform state rm orders")]
    Rm {
        /// Pipeline names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Rename a pipeline in the state (with `[pipeline] name`), so that the next plan
    /// updates its deployment in place instead of destroying and creating it.
    #[command(after_help = "Example:\n  flinkform state mv orders orders_eu")]
    Mv {
        /// The recorded name.
        old: String,
        /// The new name.
        new: String,
    },
}

/// A state backend, for `state migrate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Backend {
    /// The JSON file.
    Local,
    /// PostgreSQL (or Hologres) tables.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Local => "local",
            Backend::Postgres => "postgres",
        })
    }
}

/// Parses `--format` with the names the view knows (listed in `--help`).
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    clap::builder::TypedValueParser::map(
        clap::builder::PossibleValuesParser::new(Format::ALL.map(|(name, _)| name)),
        |name| Format::named(&name).expect("a possible value is a format"),
    )
}

/// Where `comment` posts.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum CommentProvider {
    /// A GitHub pull request (github.com or GitHub Enterprise Server).
    Github,
    /// A GitLab merge request (gitlab.com or self-managed).
    Gitlab,
}

/// `comment --behavior`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum CommentBehavior {
    /// Edit the previous comment in place (a new one when there is none).
    Update,
    /// Add a new comment, leaving the previous ones.
    New,
    /// Delete the previous comments, then add a new one.
    DeleteAndNew,
    /// Hide the previous comments as outdated, then add a new one.
    HideAndNew,
}

/// Which pipelines a command works on (all, unless some are selected).
#[derive(clap::Args, Debug, Default)]
pub(super) struct SelectArgs {
    /// Only these pipelines: names, globs (`orders_*`), `tag:NAME` (`[pipeline] tags`),
    /// `path:DIR` (repeatable, or comma-separated).
    #[arg(long, short = 's', value_name = "SELECTOR")]
    pub(super) select: Vec<String>,
    /// Terraform's spelling of --select (`-target=NAME`).
    #[arg(long, value_name = "SELECTOR")]
    pub(super) target: Vec<String>,
    /// Leave these pipelines out (same selectors).
    #[arg(long, value_name = "SELECTOR")]
    pub(super) exclude: Vec<String>,
}

impl SelectArgs {
    /// The selection the flags name.
    pub(super) fn selection(&self) -> Result<flinkform_core::select::Selection, String> {
        let all: Vec<String> = self.select.iter().chain(&self.target).cloned().collect();
        flinkform_core::select::Selection::parse(&all, &self.exclude)
    }
}

/// `plan`'s flags (also what `comment` plans with).
#[derive(clap::Args, Debug)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    pub(super) select: SelectArgs,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub(super) format: Format,
    /// Save the plan to FILE (also `-out FILE`), for apply to carry out exactly.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Also write GitLab's merge request report (`{"create": N, "update": N,
    /// "delete": N}`, for `artifacts: reports: terraform`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(super) gitlab_report: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub(super) detailed_exitcode: bool,
    /// Plan a project without specs (every recorded pipeline destroyed).
    #[arg(long)]
    pub(super) allow_empty: bool,
    /// When a topic cannot be sampled: fail the plan (`required`), or plan that pipeline
    /// from its recorded schema, with a warning (`recorded`).
    #[arg(long, default_value = "required", value_parser = ["required", "recorded"])]
    pub(super) sample: String,
    /// Read every topic, even one whose watermarks have not moved since the sample
    /// kept in .flinkform/cache/samples/ (and keep none).
    #[arg(long)]
    pub(super) no_cache: bool,
    /// Take the state lock while planning (`--lock=false`: read the state without it).
    #[arg(long = "lock", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(super) lock: bool,
    /// Look at VVP (when credentials are set): drift, failed jobs, missing variables.
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(super) refresh: bool,
    /// Have VVP validate the SQL of every changed pipeline (needs credentials).
    #[arg(long)]
    pub(super) validate: bool,
    /// How long to wait for the state lock (e.g. "30s").
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub(super) lock_timeout: Duration,
}

/// The kinds `render --template` prints: every built-in template.
fn template_kinds() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(flinkform_core::render::KINDS.iter().map(|(k, _)| *k))
}
