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
use vvp_api::{Client, ErrorKind, ValidationState, Vvp, VvpError};

use crate::poll::{Backoff, poll_until};

/// Pipelines looked at the same time.
const CONCURRENCY: usize = 10;

/// Observes every recorded pipeline that has a deployment, the deployments this project
/// made for the pipelines in `creates` (desired, not recorded: apply adopts them; one
/// listing, only when there are any), and the variable names.
pub async fn observe(client: &Client, recorded: Option<&State>, creates: &[&str]) -> Result<Observed, VvpError> {
    let targets: Vec<(String, String, Option<String>, String)> = recorded
        .map(|s| {
            s.pipelines
                .iter()
                .filter_map(|(n, p)| {
                    let dep = p.remote.deployment_id.clone()?;
                    Some((n.clone(), dep, p.remote.job_id.clone(), p.sql.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let looks = futures::stream::iter(targets)
        .map(|(name, dep, job, sql)| async move {
            let live = match look(client, &name, &dep, job.as_deref(), &sql).await {
                Ok(live) => live,
                // Every pipeline would fail the same way: the refresh fails.
                Err(e) if e.kind() == ErrorKind::Auth => return Err(e),
                Err(e) => Live::Unknown(flinkform_core::diag::chain(&e)),
            };
            Ok((name, live))
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut observed = Observed { vvp: true, ..Observed::default() };
    for r in looks {
        let (name, live) = r?;
        observed.pipelines.insert(name, live);
    }
    if !creates.is_empty() {
        let ours: HashMap<String, vvp_api::RemoteDeployment> =
            client.our_deployments().await?.into_iter().filter(|d| d.ours()).map(|d| (d.name.clone(), d)).collect();
        for name in creates {
            if let Some(d) = ours.get(*name) {
                let sql_digest = d.sql.as_deref().map(echo::sql_digest);
                observed.adoptable.insert(name.to_string(), Adoptable { id: d.id.clone(), sql_digest });
            }
        }
    }
    observed.variables = Some(client.variable_names().await?.into_iter().collect());
    Ok(observed)
}

/// What VVP shows of the recorded deployment `dep` of pipeline `name`: the recorded
/// job's state, or the live job's when the recorded one is not live; a recorded job
/// that VVP no longer knows counts as no job (drift), not as a failure.
async fn look(client: &Client, name: &str, dep: &str, job: Option<&str>, sql: &str) -> Result<Live, VvpError> {
    let Some(mut d) = client.recorded_deployment(dep, name).await? else { return Ok(Live::Gone) };
    // Ours when its labels name this project's pipeline as recorded (after `state mv`,
    // the deployment keeps its first name, and its label takes the new one).
    d.settings.labels_edited = !d.owner.is(name);
    let recorded_job = match job {
        Some(j) => client.recorded_job(j, dep).await?,
        None => None,
    };
    // A recorded job that stopped may have a successor started outside flinkform: the
    // deployment's live job (any page of its jobs) is what runs.
    let shown = match recorded_job {
        Some(j) if j.state.live() => Some(j),
        recorded => client.live_job(dep).await?.or(recorded),
    };
    Ok(Live::Found {
        sql_matches: d.sql.as_deref().is_some_and(|s| echo::same_sql(s, sql)),
        sql_digest: d.sql.as_deref().map(echo::sql_digest),
        job_id: shown.as_ref().map(|j| j.id.clone()),
        restarts: shown.as_ref().and_then(|j| j.restarts),
        job: shown.map(|j| j.state),
        settings: Box::new(d.settings),
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
