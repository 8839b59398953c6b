//! `serve` and `watch`: the project's environments, refreshed in the background, as
//! pages, JSON and Prometheus metrics (`serve`), and as alerts to the `[[alert]]`
//! channels (both). Read-only: nothing here takes the state lock or writes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::context::{Context, runtime, vvp_client};
use crate::cli::output::{Error, Output, ok};
use crate::serve::{Shared, Source, serve};

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Where to listen (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    refresh: RefreshArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    refresh: RefreshArgs,
    /// Refresh this many times, then exit (the first refresh is the baseline of what
    /// has already happened; a job already FAILED alerts on it).
    #[arg(long)]
    rounds: Option<u64>,
}

#[derive(clap::Args, Debug)]
struct RefreshArgs {
    /// How often to read the state and VVP (e.g. "30s").
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    refresh: Duration,
}

/// Every environment to watch: the one `--env` names, else each flinkform.toml
/// defines (and the project without an environment, where it has a state), else the
/// project's only one.
fn sources(ctx: &Context<'_>) -> Result<Arc<Shared>, Error> {
    let ws = ctx.workspace()?;
    let envs: Vec<Option<String>> = match (&ws.project.config.env, ws.project.config.environments.as_slice()) {
        (Some(e), _) => vec![Some(e.clone())],
        (None, []) => vec![None],
        (None, all) => {
            let plain = ws.store()?.load()?.is_some().then_some(None);
            plain.into_iter().chain(all.iter().cloned().map(Some)).collect()
        }
    };
    let mut out = Vec::new();
    for env in envs {
        let ws = ctx.workspace_in(env.as_deref())?;
        let tags: HashMap<String, Vec<String>> =
            ws.project.pipelines.iter().map(|p| (p.name.clone(), p.tags.clone())).collect();
        out.push(Source {
            env: env.unwrap_or_else(|| "default".into()),
            store: Arc::from(ws.store()?),
            client: vvp_client(&ws)?,
            alerts: ws.project.config.alerts.clone(),
            tags,
        });
    }
    Ok(Shared::new(out))
}

/// `serve`.
pub(crate) fn serve_run(ctx: &Context<'_>, args: ServeArgs) -> Result<Output, Error> {
    let shared = sources(ctx)?;
    runtime()?.block_on(serve(shared, args.listen, args.refresh.refresh)).map_err(anyhow::Error::from)?;
    ok(String::new())
}

/// `watch`.
pub(crate) fn watch_run(ctx: &Context<'_>, args: WatchArgs) -> Result<Output, Error> {
    let shared = sources(ctx)?;
    runtime()?.block_on(shared.watch(args.refresh.refresh, args.rounds)).map_err(anyhow::Error::from)?;
    ok(String::new())
}
