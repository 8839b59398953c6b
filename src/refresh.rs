//! Refresh: what VVP shows of the recorded pipelines (does the deployment still exist,
//! does it run the recorded SQL, is its job RUNNING) and the names of the namespace's
//! variables, for the planner. The IO edge between `vvp` and `plan`.

use futures::StreamExt;

use crate::plan::{Live, Observed};
use crate::state::State;
use crate::vvp::{Client, JobState, VvpError};

/// Pipelines looked at the same time.
const CONCURRENCY: usize = 10;

fn job_name(s: &JobState) -> String {
    match s {
        JobState::Starting => "STARTING".into(),
        JobState::Running => "RUNNING".into(),
        JobState::Cancelling => "CANCELLING".into(),
        JobState::Cancelled => "CANCELLED".into(),
        JobState::Finished => "FINISHED".into(),
        JobState::Failed(m) => format!("FAILED ({m})"),
    }
}

/// Observes every recorded pipeline that has a deployment, and the variable names.
pub async fn observe(client: &Client, recorded: Option<&State>) -> Result<Observed, VvpError> {
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
            let live = match client.get_deployment(&dep).await {
                Err(e) if e.code().is_some_and(|c| c.contains("NotFound")) => Live::Gone,
                Err(e) => return Err(e),
                Ok(d) => {
                    let deployed = d.artifact.and_then(|a| a.sql_artifact).map(|s| s.sql_script);
                    let state = match &job {
                        Some(j) => Some(client.job(j).await?.state),
                        None => client.live_job(&dep).await?.map(|j| j.state),
                    };
                    Live::Found {
                        sql_matches: deployed.as_deref() == Some(sql.as_str()),
                        job: state.as_ref().map(job_name),
                    }
                }
            };
            Ok((name, live))
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut observed = Observed::default();
    for r in looks {
        let (name, live) = r?;
        observed.pipelines.insert(name, live);
    }
    observed.variables = Some(client.variable_names().await?);
    Ok(observed)
}
