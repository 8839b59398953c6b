//! `start` and `stop`: one pipeline's job, under the state lock, journaled; or (`start
//! --deployment-id`) any deployment's job.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;

use super::apply::settle;
use crate::apply::{Error as ApplyError, Event, Executor};
use crate::cli::context::{Context, lock_info, runtime, stamp, timeouts, vvp_client};
use crate::cli::output::{Error, Output, ok, print_now};
use crate::poll::{Backoff, poll_until};
use vvp_api::{Client, JobState, Vvp};

#[derive(clap::Args, Debug)]
pub(crate) struct StartArgs {
    /// Pipeline name.
    #[arg(required_unless_present = "deployment_id", conflicts_with = "deployment_id")]
    name: Option<String>,
    /// Start this deployment on VVP (recorded or not) and wait until its job runs.
    #[arg(long)]
    deployment_id: Option<String>,
    /// Where the job resumes from.
    #[arg(long, value_enum, default_value = "latest-state")]
    restore: Restore,
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

#[derive(clap::Args, Debug)]
pub(crate) struct StopArgs {
    /// Pipeline name.
    name: String,
    /// Take a savepoint while stopping.
    #[arg(long)]
    savepoint: bool,
}

pub(crate) fn start(ctx: &Context<'_>, args: StartArgs) -> Result<Output, Error> {
    let restore = match args.restore {
        Restore::LatestState => vvp_api::Restore::LatestState,
        Restore::LatestSavepoint => vvp_api::Restore::LatestSavepoint,
        Restore::None => vvp_api::Restore::None,
    };
    // A recorded pipeline's deployment is started as that pipeline, so its job is
    // recorded.
    let name = match (args.name, args.deployment_id) {
        (_, Some(id)) => match pipeline_of_deployment(ctx, &id)? {
            Some(name) => name,
            None => return start_deployment(ctx, &id, restore),
        },
        (name, None) => name.unwrap_or_default(),
    };
    operate(ctx, &name, "start", |ex, n| Box::pin(async move { ex.start_pipeline(n, restore).await }))
}

pub(crate) fn stop(ctx: &Context<'_>, args: StopArgs) -> Result<Output, Error> {
    let how = if args.savepoint { vvp_api::Stop::WithSavepoint } else { vvp_api::Stop::Now };
    operate(ctx, &args.name, "stop", |ex, n| Box::pin(async move { ex.stop_pipeline(n, how).await }))
}

type Op<'a> = Pin<Box<dyn std::future::Future<Output = Result<(), ApplyError>> + 'a>>;

/// One pipeline's `what`, under the state lock, journaled.
fn operate(
    ctx: &Context<'_>,
    name: &str,
    what: &str,
    op: impl for<'e> FnOnce(&'e Executor<'e, Client>, &'e str) -> Op<'e>,
) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info(what), Duration::ZERO)?;
    let state = store.load()?.ok_or_else(|| anyhow::anyhow!("there is no state yet: run apply first"))?;
    let client = vvp_client(&ws)?;
    let events = |n: &str, event: Event<'_>| print_now(&format!("{n}: {event}\n"));
    let ex = Executor::new(&client, &*store, state, timeouts(&ws), stamp(&ws.root), ctx.interrupt.flag(), &events);
    let graceful = ctx.interrupt.graceful();
    let done = runtime()?.block_on(op(&ex, name));
    drop(graceful);
    settle(&*store);
    done.with_context(|| format!("{what} {name}"))?;
    ok(format!("{name}: {what} done.\n"))
}

/// The recorded pipeline whose deployment is `id`, if any.
fn pipeline_of_deployment(ctx: &Context<'_>, id: &str) -> Result<Option<String>, Error> {
    let state = ctx.workspace()?.store()?.load()?;
    let mut recorded = state.iter().flat_map(|s| s.pipelines.iter());
    Ok(recorded.find(|(_, p)| p.remote.deployment_id.as_deref() == Some(id)).map(|(n, _)| n.clone()))
}

/// `start --deployment-id`: starts any deployment's job and waits until it runs (as long
/// as `[vvp] timeouts.start`); a deployment that already runs a job is left as it is.
fn start_deployment(ctx: &Context<'_>, id: &str, restore: vvp_api::Restore) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
    let client = vvp_client(&ws)?;
    let timeout = ws.project.config.vvp.timeouts.start;
    let rt = runtime()?;
    let said = rt.block_on(async {
        let dep = client.deployment(id).await?.ok_or_else(|| anyhow::anyhow!("no deployment {id} in the namespace"))?;
        if let Some(j) = client.live_job(id).await? {
            return anyhow::Ok(format!(
                "deployment {id} ({}) already has job {} ({}): nothing to start\n",
                dep.name, j.id, j.state
            ));
        }
        let queue = dep.settings.resource_queue.clone().unwrap_or_else(|| "default-queue".into());
        let job = client.start(id, &restore, &queue).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let state = poll_until(deadline, Backoff::GROWING, async || {
            let j = client.job(&job.id).await?;
            anyhow::Ok(match j.state {
                JobState::Running | JobState::Failed(_) => ControlFlow::Break(j.state),
                _ => ControlFlow::Continue(()),
            })
        })
        .await?;
        match state {
            Some(JobState::Running) => Ok(format!("deployment {id} ({}): job {} is running\n", dep.name, job.id)),
            Some(s) => Err(anyhow::anyhow!("deployment {id} ({}): job {} is {s}", dep.name, job.id)),
            None => Err(anyhow::anyhow!(
                "deployment {id} ({}): job {} did not run within {}s",
                dep.name,
                job.id,
                timeout.as_secs()
            )),
        }
    })?;
    ok(said)
}
