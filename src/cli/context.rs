//! One run's context, made once in `main` and passed to every command: where the
//! project is, its environment, how output is styled, the sampling progress line and
//! ctrl-c. The helpers every command shares (loading the workspace, selecting, locking,
//! the VVP client) are here too.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::flags::SelectArgs;
use super::output::Error;
use crate::apply::Timeouts;
use crate::interrupt::Interrupt;
use crate::workspace::{self, Failed, Progress, Resolved, Workspace};
use flinkform_core::diag::Diagnostic;
use flinkform_core::select::Selection;
use flinkform_core::spec::Pipeline;
use flinkform_core::state::{LockGuard, LockInfo, Stamp, State, StateStore};
use flinkform_core::view::Style;
use vvp_api::{Client, Credentials, RetryPolicy};

/// One run's context.
pub(super) struct Context<'p> {
    /// The project root (flinkform.toml's directory).
    pub(super) root: PathBuf,
    /// The environment (`--env`, `FLINKFORM_ENV`), if any.
    pub(super) env: Option<String>,
    /// How stdout is styled.
    pub(super) style: Style,
    /// How stderr is styled.
    pub(super) style_err: Style,
    /// Called as topics are sampled.
    pub(super) progress: Progress<'p>,
    /// What ctrl-c does.
    pub(super) interrupt: Interrupt,
}

impl Context<'_> {
    /// The project, in this run's environment.
    pub(super) fn workspace(&self) -> Result<Workspace, Failed> {
        self.workspace_in(self.env.as_deref())
    }

    /// The project in environment `env` (none: no overlay).
    pub(super) fn workspace_in(&self, env: Option<&str>) -> Result<Workspace, Failed> {
        Workspace::load_env(&self.root, env)
    }

    /// The project to plan in this run's environment, or every error it has, in one run:
    /// its files' errors and, for each pipeline that reads, its schema's (sampled as
    /// planning samples).
    pub(super) fn workspace_to_plan(&self) -> Result<Workspace, Error> {
        let errors = match Workspace::read_env(&self.root, self.env.as_deref())? {
            (ws, errors) if errors.is_empty() => return Ok(ws),
            (ws, errors) => self.with_schema_errors(ws, errors),
        };
        Err(Failed(errors).into())
    }

    /// `errors` and the schema errors of every pipeline of `ws` that reads.
    fn with_schema_errors(&self, mut ws: Workspace, mut errors: Vec<Diagnostic>) -> Vec<Diagnostic> {
        let state = ws.store().ok().and_then(|s| s.load().ok()).flatten();
        if let Err(Failed(more)) = workspace::desired_all(&mut ws, state.as_ref(), self.progress) {
            errors.extend(more.into_iter().filter(Diagnostic::is_error));
        }
        errors
    }

    /// Samples and resolves one pipeline (`messages` overrides the spec's sample size).
    pub(super) fn resolve_one(&self, name: &str, messages: Option<u64>) -> Result<Resolved, Error> {
        let ws = self.workspace()?;
        let mut p = ws.pipeline(name)?.clone();
        if let Some(n) = messages {
            p.source.sample.messages = n;
        }
        let state = ws.store()?.load()?;
        Ok(ws.resolve_one(&p, state.as_ref().and_then(|s| s.pipelines.get(name)), self.progress)?)
    }

    /// A project without specs is a mistake (a missing or misnamed `pipelines/`) unless
    /// asked for: planning it would destroy every recorded pipeline.
    pub(super) fn require_pipelines(&self, ws: &Workspace, allow_empty: bool) -> Result<(), Error> {
        if !ws.project.pipelines.is_empty() || allow_empty {
            return Ok(());
        }
        let dir = self.root.join("pipelines");
        let what = if dir.is_dir() {
            "pipelines/ holds no .toml spec".to_string()
        } else {
            let root = std::path::absolute(&self.root).unwrap_or(self.root.clone());
            format!("there is no pipelines/ directory in {}", root.display())
        };
        Err(Failed(vec![Diagnostic::error(format!("no pipelines: {what}")).with_help(
            "specs go in pipelines/NAME.toml; to plan an empty project on purpose (every recorded pipeline destroyed), pass --allow-empty",
        )])
        .into())
    }
}

/// The selection `--select`, `-target` and `--exclude` name.
pub(super) fn selection(args: &SelectArgs) -> Result<Selection, Error> {
    Ok(args.selection().map_err(anyhow::Error::from)?)
}

/// Narrows the project and the recorded `state` to the selected pipelines (for planning;
/// apply records into the whole state). A selector that matches nothing is an error.
pub(super) fn narrow(ws: &mut Workspace, mut state: Option<State>, sel: &Selection) -> Result<Option<State>, Error> {
    if sel.is_all() {
        return Ok(state);
    }
    let names: HashSet<String> = selected(ws, state.as_ref(), sel)?.into_iter().map(str::to_owned).collect();
    if let Some(s) = &mut state {
        s.pipelines.retain(|name, _| names.contains(name));
    }
    ws.project.pipelines.retain(|p| sel.matches(&p.name, Some(p)));
    Ok(state)
}

/// The recorded pipelines the selection matches (a recorded pipeline is matched with its
/// spec, when it has one). A selector that matches nothing is an error.
pub(super) fn selected<'s>(ws: &Workspace, state: Option<&'s State>, sel: &Selection) -> Result<Vec<&'s str>, Error> {
    let specs: HashMap<&str, &Pipeline> = ws.project.pipelines.iter().map(|p| (p.name.as_str(), p)).collect();
    let recorded = || state.into_iter().flat_map(|s| s.pipelines.keys()).map(String::as_str);
    let names = specs.iter().map(|(n, p)| (*n, Some(*p))).chain(recorded().map(|n| (n, specs.get(n).copied())));
    if let Some(why) = sel.unmatched(names) {
        return Err(anyhow::anyhow!("{}: {why}", sel.shown()).into());
    }
    Ok(recorded().filter(|n| sel.matches(n, specs.get(n).copied())).collect())
}

/// How long apply waits for VVP's steps, from flinkform.toml.
pub(super) fn timeouts(ws: &Workspace) -> Timeouts {
    let t = ws.project.config.vvp.timeouts;
    Timeouts { deploy: t.deploy, start: t.start, stop: t.stop }
}

/// The VVP client from flinkform.toml and the environment.
pub(super) fn vvp_client(ws: &Workspace) -> Result<Client, Error> {
    let creds = Credentials::from_env().ok_or_else(|| {
        anyhow::anyhow!(
            "no VVP credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)"
        )
    })?;
    Ok(Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
        .map_err(anyhow::Error::from)?)
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Runtime::new().context("cannot start the async runtime")?)
}

/// Whether the environment variable `name` is set and not empty.
pub(super) fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Takes the state lock for `operation`, saying so when it may wait (as Terraform's
/// "Acquiring state lock" does), and how long it waited.
pub(super) fn take_lock(
    store: &dyn StateStore,
    operation: &str,
    timeout: Duration,
) -> Result<Box<dyn LockGuard>, Error> {
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
pub(super) fn ci_log_url() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
        _ => var("CI_JOB_URL"),
    }
}

/// When, by whom and from which commit a change is applied now: the CI's actor and
/// commit (GitHub Actions, GitLab CI), else the local user and the checkout's HEAD.
pub fn stamp(root: &Path) -> Stamp {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let head = || {
        let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(root).output().ok()?;
        let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !sha.is_empty()).then_some(sha)
    };
    Stamp {
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        by: var("GITHUB_ACTOR").or_else(|| var("GITLAB_USER_LOGIN")).or_else(|| var("USER")),
        commit: var("GITHUB_SHA").or_else(|| var("CI_COMMIT_SHA")).or_else(head),
        review: None,
        plan: None,
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

/// The `project` id of flinkform.toml, read on its own (a project that does not load, a
/// saved plan shown), so that every comment of the project replaces the same comment.
pub(super) fn project_id(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("flinkform.toml")).ok()?;
    let v: toml::Table = text.parse().ok()?;
    v.get("project")?.as_str().map(String::from)
}
