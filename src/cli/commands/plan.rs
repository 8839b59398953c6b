//! `plan`: specs and samples against the recorded state and what VVP shows.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::context::{
    Context, ci_log_url, env_is_set, narrow, project_id, runtime, selection, take_lock, vvp_client,
};
use crate::cli::exit;
use crate::cli::flags::{SelectArgs, format_parser};
use crate::cli::output::{Error, Output, Stdout, error_list, error_text, write_new};
use crate::workspace::{self, Failed, Workspace};
use flinkform_core::plan::{self, Desired, Observed, file as planfile};
use flinkform_core::state::State;
use flinkform_core::view::{self, Format};
use vvp_api::{Client, Credentials, RetryPolicy};

/// `plan`'s flags (also what `comment` plans with).
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub(crate) format: Format,
    /// Save the plan to FILE (also `-out FILE`), for apply to carry out exactly.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Also write GitLab's merge request report (`{"create": N, "update": N,
    /// "delete": N}`, for `artifacts: reports: terraform`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) gitlab_report: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub(crate) detailed_exitcode: bool,
    /// Plan a project without specs (every recorded pipeline destroyed).
    #[arg(long)]
    pub(crate) allow_empty: bool,
    /// When a topic cannot be sampled: fail the plan (`required`), or plan that pipeline
    /// from its recorded schema, with a warning (`recorded`).
    #[arg(long, default_value = "required", value_parser = ["required", "recorded"])]
    pub(crate) sample: String,
    /// Read every topic, even one whose watermarks have not moved since the sample
    /// kept in .flinkform/cache/samples/ (and keep none).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Take the state lock while planning (`--lock=false`: read the state without it).
    #[arg(long = "lock", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) lock: bool,
    /// Look at VVP (when credentials are set): drift, failed jobs, missing variables.
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) refresh: bool,
    /// Have VVP validate the SQL of every changed pipeline (needs credentials).
    #[arg(long)]
    pub(crate) validate: bool,
    /// How long to wait for the state lock (e.g. "30s").
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub(crate) lock_timeout: Duration,
}

/// `plan`. A plan that fails before it is made still explains itself in JSON and
/// Markdown (the PR comment), besides the errors on stderr.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let format = args.format;
    match (make(ctx, args), format) {
        (Err(e), Format::Json | Format::Markdown) => {
            eprintln!("{}", error_text(&e, ctx.style_err));
            let errors = error_list(&e);
            let stdout = match format {
                Format::Json => view::failed_json(&errors),
                _ => {
                    let project = project_id(&ctx.root);
                    let log = ci_log_url();
                    view::markdown::failed(&errors, &comment_for(project.as_deref(), ctx.env.as_deref(), &log))
                }
            };
            Ok(Output { stdout: stdout.into(), code: exit::ERROR })
        }
        (made, _) => made,
    }
}

/// The comment a plan's Markdown is: the project's (its `project` id), with the CI log
/// to link to.
pub(super) fn comment_for<'a>(
    project: Option<&'a str>,
    env: Option<&'a str>,
    log_url: &'a Option<String>,
) -> view::markdown::Comment<'a> {
    let d = view::markdown::Comment::default();
    let (project, env) = (project.unwrap_or(d.project), env.unwrap_or(d.env));
    view::markdown::Comment { project, env, log_url: log_url.as_deref(), ..d }
}

fn make(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let Args {
        select,
        format,
        out,
        gitlab_report,
        detailed_exitcode,
        allow_empty,
        sample,
        no_cache,
        lock,
        lock_timeout,
        refresh,
        validate,
    } = args;
    let select = selection(&select)?;
    let mut ws = ctx.workspace_to_plan()?;
    ws.sample_fallback = sample == "recorded";
    ws.sample_cache = !no_cache;
    ctx.require_pipelines(&ws, allow_empty)?;
    // The specs' own warnings go to stderr, so that stdout stays the plan in every format.
    if !ws.warnings.is_empty() {
        eprint!("{}", view::diagnostics(&ws.warnings, ctx.style_err));
    }
    let store = ws.store()?;
    let _guard = if lock { Some(take_lock(&*store, "plan", lock_timeout)?) } else { None };
    let state = narrow(&mut ws, store.load()?, &select)?;
    let sources = ws.sources();
    let (desired, inputs) = workspace::desired_all(&mut ws, state.as_ref(), ctx.progress)?;
    let mut observed = if refresh || validate { observe(&ws, state.as_ref(), &desired, true)? } else { None };
    if validate {
        let o = observed.as_mut().ok_or_else(|| {
            anyhow::anyhow!(
                "--validate needs VVP credentials (ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
            )
        })?;
        let client = vvp_client(&ws)?;
        let timeout = ws.project.config.vvp.timeouts.validate;
        o.validations = runtime()?
            .block_on(crate::refresh::validate(&client, &desired, state.as_ref(), timeout))
            .map_err(anyhow::Error::from)?;
    }
    let mut plan = plan::compute(desired, state, observed.as_ref(), inputs);
    workspace::count_data(&sources, &mut plan);
    plan.env = ws.project.config.env.clone();
    plan.selection = (!select.is_all()).then(|| select.shown().to_string());
    plan.require_sink_dsn(env_is_set);
    tracing::info!(changes = plan.changes.len(), has_changes = plan.has_changes(), "plan computed");
    if let Some(path) = &out {
        write_new(path, &planfile::to_text(&plan))?;
    }
    if let Some(path) = &gitlab_report {
        write_new(path, &view::gitlab_report(&plan))?;
    }
    let code = if !plan.errors.is_empty() {
        exit::ERROR
    } else if detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    };
    let stdout = match format {
        Format::Markdown => {
            let log = ci_log_url();
            let c = &ws.project.config;
            view::markdown::plan(&plan, &comment_for(c.project.as_deref(), c.env.as_deref(), &log)).into()
        }
        _ => {
            let saved = out.filter(|_| format == Format::Text).map(|path| {
                format!(
                    "\nSaved the plan to {}. Apply exactly it with `flinkform apply {}`.\n",
                    path.display(),
                    path.display()
                )
            });
            let style = ctx.style;
            Stdout::Stream(Box::new(move |w| {
                view::write_plan(&plan, format, style, w)?;
                w.write_all(saved.unwrap_or_default().as_bytes())
            }))
        }
    };
    Ok(Output { stdout, code })
}

/// Refreshes from VVP when credentials are set, and reads the sink tables whose
/// `dsn_env` is set; `None` when there is nothing to look at.
///
/// `plan` suggests `--refresh=false` when VVP cannot be asked; `apply` has no such
/// flag, so it says only what failed.
pub(super) fn observe(
    ws: &Workspace,
    state: Option<&State>,
    desired: &[Desired],
    from_plan: bool,
) -> Result<Option<Observed>, Error> {
    let runtime = runtime()?;
    let mut observed = match Credentials::from_env() {
        None => {
            tracing::info!("no VVP credentials: planning from the recorded state only");
            None
        }
        Some(creds) => {
            let client = Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
                .map_err(anyhow::Error::from)?;
            let recorded = |n: &str| state.is_some_and(|s| s.pipelines.contains_key(n));
            let creates: Vec<&str> = desired.iter().map(|d| d.name.as_str()).filter(|n| !recorded(n)).collect();
            Some(
                runtime
                    .block_on(crate::refresh::observe(&client, state, &creates, crate::refresh::Depth::PLAN))
                    .map_err(|e| {
                        let hint =
                            if from_plan { "; use --refresh=false to plan from the recorded state only" } else { "" };
                        anyhow::anyhow!("refreshing from VVP failed: {e}{hint}")
                    })?,
            )
        }
    };
    let sinks = runtime.block_on(crate::refresh::sinks(desired)).map_err(anyhow::Error::from)?;
    if !sinks.is_empty() {
        observed.get_or_insert_with(Default::default).sinks = sinks;
    }
    Ok(observed)
}
