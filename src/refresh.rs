//! Refresh: what VVP shows of the recorded pipelines (does the deployment still exist,
//! does it run the recorded SQL, is its job RUNNING) and the names of the namespace's
//! variables, for the planner. The IO edge between `vvp` and `plan`.

use futures::StreamExt;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::time::Duration;

use flinkform_core::echo;
use flinkform_core::plan::{Adoptable, Desired, Live, Observed};
use flinkform_core::state::State;
use vvp_api::{Client, ErrorKind, JobState, RemoteDeployment, RemoteJob, Summary, ValidationState, Vvp, VvpError};

use crate::poll::{Backoff, poll_until};

/// Pipelines looked at the same time.
const CONCURRENCY: usize = 10;

/// What a refresh asks of VVP beyond the deployments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth {
    /// Ask each running job for its id and restarts (which a deployment's job summary
    /// does not carry), not only for its state.
    pub jobs: bool,
    /// List the namespace's variable names.
    pub variables: bool,
}

impl Depth {
    /// What a plan needs: job states and the variables.
    pub const PLAN: Depth = Depth { jobs: false, variables: true };
    /// What a watch needs: running jobs' restarts, no variables.
    pub const WATCH: Depth = Depth { jobs: true, variables: false };
    /// What `status` needs: job states only.
    pub const STATES: Depth = Depth { jobs: false, variables: false };
}

/// Observes every recorded pipeline that has a deployment, the deployments this project
/// made for the pipelines in `creates` (desired, not recorded: apply adopts them), and,
/// as `depth` asks, the variable names.
///
/// One paged listing of flinkform's deployments answers for every pipeline whose
/// deployment it shows with a job summary that decides the job's state: such a pipeline
/// costs no call of its own. Any other (not listed, its job starting, stopping or
/// failed) is looked at alone, as GetDeployment and its jobs show it.
pub async fn observe(
    client: &Client,
    recorded: Option<&State>,
    creates: &[&str],
    depth: Depth,
) -> Result<Observed, VvpError> {
    let targets: Vec<(&str, &str, Option<&str>, &str)> = recorded
        .map(|s| {
            s.pipelines
                .iter()
                .filter_map(|(n, p)| {
                    let dep = p.remote.deployment_id.as_deref()?;
                    Some((n.as_str(), dep, p.remote.job_id.as_deref(), p.sql.as_str()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut listed: HashMap<String, RemoteDeployment> = if targets.is_empty() && creates.is_empty() {
        HashMap::new()
    } else {
        client.managed_deployments().await?.into_iter().map(|d| (d.id.clone(), d)).collect()
    };
    let mut observed = Observed { vvp: true, ..Observed::default() };
    let ours: HashMap<&str, &RemoteDeployment> =
        listed.values().filter(|d| d.ours()).map(|d| (d.name.as_str(), d)).collect();
    for name in creates {
        if let Some(d) = ours.get(*name) {
            let sql_digest = d.sql.as_deref().map(echo::sql_digest);
            observed.adoptable.insert(name.to_string(), Adoptable { id: d.id.clone(), sql_digest });
        }
    }
    drop(ours);
    // The futures made first, then run: a stream of borrowed items mapped by a closure
    // is not `Send` for every lifetime, as `serve`'s spawned refresh needs.
    let looks: Vec<_> = targets
        .into_iter()
        .map(|(name, dep, job, sql)| {
            let listed = listed.remove(dep);
            look_at(client, Target { name, dep, listed, job, sql }, depth.jobs)
        })
        .collect();
    let looks = futures::stream::iter(looks).buffer_unordered(CONCURRENCY).collect::<Vec<_>>().await;
    for r in looks {
        let (name, live) = r?;
        observed.pipelines.insert(name, live);
    }
    if depth.variables {
        observed.variables = Some(client.variable_names().await?.into_iter().collect());
    }
    Ok(observed)
}

/// A recorded pipeline to look at: its name, deployment, the deployment as the listing
/// showed it (if it did), its recorded job and SQL.
struct Target<'a> {
    name: &'a str,
    dep: &'a str,
    listed: Option<RemoteDeployment>,
    job: Option<&'a str>,
    sql: &'a str,
}

/// [`look`] at `t`, a failure said as VVP's message, except one of authentication: every
/// pipeline would fail the same way, so the refresh fails.
async fn look_at(client: &Client, t: Target<'_>, jobs: bool) -> Result<(String, Live), VvpError> {
    let name = t.name.to_string();
    let live = match look(client, t, jobs).await {
        Ok(live) => live,
        Err(e) if e.kind() == ErrorKind::Auth => return Err(e),
        Err(e) => Live::Unknown(flinkform_core::diag::chain(&e)),
    };
    Ok((name, live))
}

/// What VVP shows of the recorded deployment of `t` (as the listing showed it; else it
/// is asked for). The job that shows is what the deployment's job summary decides where
/// it does (unless `jobs` asks for a running job's restarts); else the recorded job, or
/// the live one when the recorded one is not live. A recorded job that VVP no longer
/// knows counts as no job (drift), not as a failure.
async fn look(client: &Client, t: Target<'_>, jobs: bool) -> Result<Live, VvpError> {
    let Target { name, dep, listed, job, sql } = t;
    let mut d = match listed {
        Some(d) => d,
        None => match client.recorded_deployment(dep, name).await? {
            Some(d) => d,
            None => return Ok(Live::Gone),
        },
    };
    // Ours when its labels name this project's pipeline as recorded (after `state mv`,
    // the deployment keeps its first name, and its label takes the new one).
    d.settings.labels_edited = !d.owner.is(name);
    let (job, job_id, restarts) = match d.summary {
        Summary::Shows(state) if !(jobs && state.as_ref().is_some_and(JobState::live)) => (state, None, None),
        _ => {
            let shown = shown_job(client, dep, job).await?;
            match shown {
                Some(j) => (Some(j.state), Some(j.id), j.restarts),
                None => (None, None, None),
            }
        }
    };
    Ok(Live::Found {
        sql_matches: d.sql.as_deref().is_some_and(|s| echo::same_sql(s, sql)),
        sql_digest: d.sql.as_deref().map(echo::sql_digest),
        job_id,
        restarts,
        job,
        settings: Box::new(d.settings),
    })
}

/// The job of deployment `dep` that shows: the recorded `job` while it is live; else the
/// deployment's live job (any page of its jobs: a successor started outside flinkform),
/// or the recorded one.
async fn shown_job(client: &Client, dep: &str, job: Option<&str>) -> Result<Option<RemoteJob>, VvpError> {
    let recorded = match job {
        Some(j) => client.recorded_job(j, dep).await?,
        None => None,
    };
    Ok(match recorded {
        Some(j) if j.state.live() => Some(j),
        recorded => client.live_job(dep).await?.or(recorded),
    })
}

/// Asks VVP to validate the SQL of every desired pipeline whose SQL differs from the
/// recorded one, through a draft that is deleted afterwards. `Err` holds VVP's message.
pub async fn validate(
    client: &Client,
    desired: &[Desired],
    recorded: Option<&State>,
    timeout: Duration,
) -> Result<BTreeMap<String, Result<(), String>>, VvpError> {
    let changed = desired
        .iter()
        .filter(|d| recorded.and_then(|s| s.pipelines.get(&d.name)).is_none_or(|r| r.sql != d.record.sql));
    let verdicts = futures::stream::iter(changed)
        .map(|d| async move {
            let draft = client.create_sql_draft(&d.name, &d.record.sql, &d.record.deploy.engine_version, None).await?;
            let verdict = verdict(client, &draft, &d.record.deploy.resource_queue, timeout).await;
            client.delete_draft(&draft).await?;
            Ok::<_, VvpError>((d.name.clone(), verdict?))
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    verdicts.into_iter().collect()
}

async fn verdict(client: &Client, draft: &str, queue: &str, timeout: Duration) -> Result<Result<(), String>, VvpError> {
    let ticket = client.validate(draft, queue).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let done = poll_until(deadline, Backoff::STEADY, async || {
        Ok(match client.validation(&ticket).await? {
            ValidationState::Running => ControlFlow::Continue(()),
            ValidationState::Passed => ControlFlow::Break(Ok(())),
            ValidationState::Failed(message) => ControlFlow::Break(Err(message)),
        })
    })
    .await?;
    Ok(done.unwrap_or_else(|| Err(format!("validation did not finish within {}", humantime::format_duration(timeout)))))
}

/// Reading a pipeline's live sink table failed.
#[derive(Debug, thiserror::Error)]
#[error("pipeline `{pipeline}`: reading the sink table")]
pub struct SinkReadError {
    /// The pipeline.
    pub pipeline: String,
    /// Why.
    #[source]
    pub source: flinkform_state::pg::PgError,
}

/// Reads the live table of every Hologres sink of the desired pipelines whose `dsn_env`
/// is set in the environment (`None` for a table that does not exist yet), keyed by
/// [`flinkform_core::plan::sink_key`].
pub async fn sinks(
    desired: &[Desired],
) -> Result<BTreeMap<String, Option<flinkform_core::plan::LiveTable>>, SinkReadError> {
    let with_dsn = desired.iter().flat_map(|d| {
        d.record.sinks().filter_map(move |s| {
            let env = s.sink.dsn_env.as_ref()?;
            std::env::var(env).ok().filter(|v| !v.is_empty())?;
            Some((d, flinkform_core::plan::sink_key(&d.name, &s), s.sink, env))
        })
    });
    let looks = futures::stream::iter(with_dsn)
        .map(|(d, key, sink, env)| async move {
            let live = crate::sink::live_table(env, &sink.schema, &sink.table).await;
            live.map(|t| (key, t)).map_err(|source| SinkReadError { pipeline: d.name.clone(), source })
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    looks.into_iter().collect()
}
