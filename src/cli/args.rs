//! The command line's shape: the global flags and the list of commands (each command's
//! own arguments are in its module under `commands/`), validated without IO.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::commands::{
    apply, comment, diff, fmt, force_unlock, history, import, ls, manual, operate, plan, render, sample, schema, serve,
    show, state, status, validate,
};

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
    /// Check the specs and every pipeline's schema without planning, in every environment
    /// (or the one --env names), every error in one run.
    #[command(after_help = "Examples:\n  flinkform validate\n  flinkform validate --select tag:billing")]
    Validate(validate::Args),
    /// Print a pipeline's Flink SQL (or its Hologres DDL, or deployment config).
    #[command(
        after_help = "Examples:\n  flinkform render orders\n  flinkform render orders --ddl\n  flinkform render --select tag:billing"
    )]
    Render(render::Args),
    /// Show a pipeline's inferred columns with the evidence behind each type.
    #[command(after_help = "Example:\n  flinkform schema orders")]
    Schema(schema::Args),
    /// Compare the specs and samples with the recorded state and show what would change.
    #[command(
        after_help = "Examples:\n  flinkform plan\n  flinkform plan --select orders,tag:billing\n  flinkform plan -target=orders\n  flinkform plan --detailed-exitcode\n  flinkform plan --format markdown > comment.md\n  flinkform plan -out plan.json"
    )]
    Plan(plan::Args),
    /// Post the plan as one sticky pull-request comment, found again by its hidden marker
    /// and edited in place on every push.
    #[command(
        after_help = "Examples (in GitHub Actions with GITHUB_TOKEN set, in GitLab CI with GITLAB_TOKEN set):\n  flinkform comment github\n  flinkform comment github --behavior delete-and-new\n  flinkform comment github --repo octo/infra --pr 42 --api-url https://ghe.example.com/api/v3\n  flinkform comment gitlab"
    )]
    Comment(comment::Args),
    /// Carry out a plan on VVP: create, update, replace or destroy deployments and jobs,
    /// journaling every step in the state. Holds the state lock for the whole run.
    #[command(
        after_help = "Examples:\n  flinkform apply\n  flinkform apply --auto-approve --parallelism 20\n  flinkform apply plan.json"
    )]
    Apply(apply::Args),
    /// Show the live state of the recorded pipelines on VVP.
    #[command(
        after_help = "Examples:\n  flinkform status\n  flinkform status orders\n  flinkform status --job-id 5f1c…"
    )]
    Status(status::Args),
    /// Start a recorded pipeline's job (or, by `--deployment-id`, any deployment's).
    #[command(
        after_help = "Examples:\n  flinkform start orders --restore latest-savepoint\n  flinkform start --deployment-id 0c8a…"
    )]
    Start(operate::StartArgs),
    /// Stop a recorded pipeline's job (it stays stopped until `start`).
    #[command(after_help = "Example:\n  flinkform stop orders --savepoint")]
    Stop(operate::StopArgs),
    /// Destroy the pipelines in the state (all, or those named; protected ones refuse): stop
    /// jobs, delete deployments.
    #[command(
        after_help = "Examples:\n  flinkform destroy --auto-approve\n  flinkform destroy clickstream --auto-approve"
    )]
    Destroy(apply::DestroyArgs),
    /// Adopt an existing VVP deployment as pipeline NAME (whose spec must exist).
    #[command(after_help = "Example:\n  flinkform import orders 7468776d-d5d7-4079-a8a2-af4b66668084")]
    Import(import::Args),
    /// Print the newest messages of a pipeline's topic (or any topic) as JSON lines, or
    /// with --schema the columns inferred from them. Never joins a consumer group or
    /// commits offsets.
    #[command(
        after_help = "Examples:\n  flinkform sample orders -n 5\n  flinkform sample orders --schema\n  flinkform sample --topic clicks --bootstrap-servers 127.0.0.1:9092 --schema"
    )]
    Sample(sample::Args),
    /// Inspect the recorded state.
    #[command(subcommand)]
    State(state::Command),
    /// A pipeline's applied revisions (SQL digests, when, which action) and its job.
    #[command(after_help = "Example:\n  flinkform history orders")]
    History(history::Args),
    /// Break a stuck state lock by its ID (shown in the lock error).
    #[command(name = "force-unlock", after_help = "Example:\n  flinkform force-unlock 3f2a...")]
    ForceUnlock(force_unlock::Args),
    /// List the pipelines (those selected): name, topic, sink table, tags, and what the
    /// state records of each.
    #[command(after_help = "Examples:\n  flinkform ls\n  flinkform ls --select tag:billing --format json")]
    Ls(ls::Args),
    /// Show a plan saved with `plan -out FILE`.
    #[command(after_help = "Examples:\n  flinkform show plan.json\n  flinkform show plan.json --format markdown")]
    Show(show::Args),
    /// Show how two environments' rendered SQL, sink DDL and deployments differ, pipeline
    /// by pipeline: what promoting one to the other changes.
    #[command(after_help = "Example:\n  flinkform diff staging prod")]
    Diff(diff::Args),
    /// Serve the environments read-only: pages of the pipelines, their revisions and
    /// jobs, lineage and applies (JSON with `Accept: application/json`), Prometheus
    /// metrics at /metrics, and the `[[alert]]` channels told of every transition.
    #[command(after_help = "Examples:
  flinkform serve
  flinkform serve --listen 0.0.0.0:8080 --refresh 1m")]
    Serve(serve::ServeArgs),
    /// Refresh the environments and post alerts to the `[[alert]]` channels, as `serve`
    /// does, without pages.
    #[command(after_help = "Examples:
  flinkform watch
  flinkform watch --refresh 1m")]
    Watch(serve::WatchArgs),
    /// Print flinkform's version.
    Version,
    /// Lay out flinkform.toml and the specs canonically (comments kept); with --check,
    /// only say which files are not (exit 1), for CI.
    #[command(after_help = "Examples:\n  flinkform fmt\n  flinkform fmt --check")]
    Fmt(fmt::Args),
    /// Print flinkform's man page (roff), e.g. `flinkform man > /usr/local/share/man/man1/flinkform.1`.
    Man,
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  flinkform completions bash > /etc/bash_completion.d/flinkform")]
    Completions(manual::CompletionsArgs),
}
