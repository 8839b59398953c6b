//! `plan`: specs and samples against the recorded state and what VVP shows.

use super::*;
use args::PlanArgs;
use flinkform_core::plan::{self, file as planfile};

/// `plan`. A plan that fails before it is made still explains itself in JSON and
/// Markdown (the PR comment), besides the errors on stderr.
pub(super) fn plan(root: &Path, style: Style, progress: Progress<'_>, opts: PlanArgs) -> Result<Output, Error> {
    let format = opts.format;
    match (make(root, style, progress, opts), format) {
        (Err(e), Format::Json | Format::Markdown) => {
            eprintln!("{}", error_text(&e, Style { color: std::io::stderr().is_terminal() }));
            let errors = error_list(&e);
            let stdout = match format {
                Format::Json => view::failed_json(&errors),
                _ => {
                    let project = project_id(root);
                    let log = ci_log_url();
                    let env = ENV.get().cloned().flatten();
                    view::markdown::failed(&errors, &comment_for(project.as_deref(), env.as_deref(), &log))
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

/// The `project` id of flinkform.toml, read on its own (a project that does not load, a
/// saved plan shown), so that every comment of the project replaces the same comment.
pub(super) fn project_id(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("flinkform.toml")).ok()?;
    let v: toml::Table = text.parse().ok()?;
    v.get("project")?.as_str().map(String::from)
}

fn make(root: &Path, style: Style, progress: Progress<'_>, opts: PlanArgs) -> Result<Output, Error> {
    let PlanArgs {
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
    } = opts;
    let select = selection(&select)?;
    let mut ws = workspace(root)?;
    ws.sample_fallback = sample == "recorded";
    ws.sample_cache = !no_cache;
    require_pipelines(root, &ws, allow_empty)?;
    // The specs' own warnings go to stderr, so that stdout stays the plan in every format.
    if !ws.warnings.is_empty() {
        eprint!("{}", view::diagnostics(&ws.warnings, style));
    }
    let store = ws.store()?;
    let _guard = if lock { Some(take_lock(&*store, "plan", lock_timeout)?) } else { None };
    let state = narrow(&mut ws, store.load()?.as_ref(), &select)?;
    let (desired, inputs) = project::desired_all(&mut ws, state.as_ref(), progress)?;
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
    let mut plan = plan::compute(desired, state.as_ref(), observed.as_ref(), inputs);
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
    state: Option<&flinkform_core::state::State>,
    desired: &[flinkform_core::plan::Desired],
    from_plan: bool,
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
            let recorded = |n: &str| state.is_some_and(|s| s.pipelines.contains_key(n));
            let creates: Vec<&str> = desired.iter().map(|d| d.name.as_str()).filter(|n| !recorded(n)).collect();
            Some(runtime.block_on(crate::refresh::observe(&client, state, &creates)).map_err(|e| {
                let hint = if from_plan { "; use --refresh=false to plan from the recorded state only" } else { "" };
                anyhow::anyhow!("refreshing from VVP failed: {e}{hint}")
            })?)
        }
    };
    let sinks = runtime.block_on(crate::refresh::sinks(desired)).map_err(anyhow::Error::from)?;
    if !sinks.is_empty() {
        observed.get_or_insert_with(Default::default).sinks = sinks;
    }
    Ok(observed)
}
