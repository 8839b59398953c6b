//! Watching applied pipelines: what `flinkform serve` and `watch` know of an environment
//! at one refresh (`EnvSnapshot`), each pipeline's health from its record and what VVP
//! shows (`health`), the alerts a refresh's transitions raise (`alerts`), the
//! Prometheus exposition (`metrics`) and the lineage graph drawn as SVG (`lineage`).
//! Pure: the edge observes, this judges.

pub mod alerts;
pub mod lineage;
pub mod metrics;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{JobState, Live, live_drift};
use crate::state::{ApplyRecord, Intent, PipelineState, Stamp, State, Status};

/// One environment as one refresh saw it.
#[derive(Clone, Debug)]
pub struct EnvSnapshot {
    /// The environment (`default` for a project without environments).
    pub env: String,
    /// When the refresh ended (Unix milliseconds).
    pub at_ms: u64,
    /// How long it took (milliseconds).
    pub took_ms: u64,
    /// The recorded state (`None`: nothing applied yet).
    pub state: Option<State>,
    /// What VVP shows of each recorded pipeline with a deployment, or why VVP could not
    /// be asked.
    pub live: Result<BTreeMap<String, Live>, String>,
    /// VVP's diagnosis of each pipeline whose job FAILED.
    pub diagnosis: BTreeMap<String, Vec<String>>,
    /// The newest applies, newest first.
    pub applies: Vec<ApplyRecord>,
    /// Why the state or the log could not be read, if so.
    pub error: Option<String>,
}

impl EnvSnapshot {
    /// Environment `env` before its first refresh.
    pub fn unrefreshed(env: &str) -> EnvSnapshot {
        EnvSnapshot {
            env: env.to_string(),
            at_ms: 0,
            took_ms: 0,
            state: None,
            live: Err("not refreshed yet".into()),
            diagnosis: BTreeMap::new(),
            applies: Vec::new(),
            error: None,
        }
    }

    /// Every recorded pipeline (destroyed ones left out), by name.
    pub fn pipelines(&self) -> impl Iterator<Item = (&String, &PipelineState)> {
        self.state.iter().flat_map(|s| s.pipelines.iter()).filter(|(_, p)| p.status != Status::Destroyed)
    }

    /// The health of the recorded pipeline `name`.
    pub fn health(&self, name: &str, record: &PipelineState) -> Health {
        let live = match &self.live {
            Ok(l) => l.get(name).map_or(Seen::NotDeployed, Seen::Live),
            Err(e) => Seen::Unreached(e),
        };
        health(record, live)
    }
}

/// What a refresh saw of one pipeline.
#[derive(Clone, Copy, Debug)]
pub enum Seen<'a> {
    /// What VVP shows.
    Live(&'a Live),
    /// The record has no deployment.
    NotDeployed,
    /// VVP could not be asked (why).
    Unreached(&'a str),
}

/// A job as the pages, metrics and alerts name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "message")]
pub enum JobView {
    /// RUNNING.
    Running,
    /// STARTING.
    Starting,
    /// CANCELLING.
    Cancelling,
    /// CANCELLED.
    Cancelled,
    /// FINISHED.
    Finished,
    /// FAILED, with VVP's message.
    Failed(String),
    /// The deployment has no job.
    NoJob,
    /// The deployment is gone.
    Gone,
    /// Never deployed.
    NotDeployed,
    /// VVP could not be asked (why).
    Unknown(String),
}

impl JobView {
    /// Every state's name, as metrics label them.
    pub const NAMES: [&'static str; 10] = [
        "running",
        "starting",
        "cancelling",
        "cancelled",
        "finished",
        "failed",
        "no_job",
        "gone",
        "not_deployed",
        "unknown",
    ];

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            JobView::Running => "running",
            JobView::Starting => "starting",
            JobView::Cancelling => "cancelling",
            JobView::Cancelled => "cancelled",
            JobView::Finished => "finished",
            JobView::Failed(_) => "failed",
            JobView::NoJob => "no_job",
            JobView::Gone => "gone",
            JobView::NotDeployed => "not_deployed",
            JobView::Unknown(_) => "unknown",
        }
    }
}

impl std::fmt::Display for JobView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobView::Failed(m) => write!(f, "FAILED ({m})"),
            JobView::Unknown(m) => write!(f, "unknown ({m})"),
            JobView::NoJob => f.write_str("no job"),
            JobView::Gone => f.write_str("deployment gone"),
            JobView::NotDeployed => f.write_str("not deployed"),
            other => f.write_str(&other.name().to_uppercase()),
        }
    }
}

/// A pipeline's health at one refresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Its job.
    pub job: JobView,
    /// The job's id, when VVP shows one.
    pub job_id: Option<String>,
    /// How many times Flink restarted the job, when VVP says.
    pub restarts: Option<u64>,
    /// Where VVP no longer shows what was applied.
    pub drift: Vec<String>,
    /// Its job should be RUNNING: applied, and not stopped with `flinkform stop`.
    pub should_run: bool,
    /// The change that last touched it, if any was applied.
    pub last_change: Option<Stamp>,
}

/// The health of `record` from what was `seen` of it.
pub fn health(record: &PipelineState, seen: Seen<'_>) -> Health {
    let (job, job_id, restarts, drift) = match seen {
        Seen::NotDeployed => (JobView::NotDeployed, None, None, Vec::new()),
        Seen::Unreached(why) => (JobView::Unknown(why.to_string()), None, None, Vec::new()),
        Seen::Live(live) => {
            let drift = live_drift(record, live);
            match live {
                Live::Gone => (JobView::Gone, None, None, drift),
                Live::Unknown(why) => (JobView::Unknown(why.clone()), None, None, drift),
                Live::Found { job, job_id, restarts, .. } => {
                    let view = match job {
                        None => JobView::NoJob,
                        Some(JobState::Running) => JobView::Running,
                        Some(JobState::Starting) => JobView::Starting,
                        Some(JobState::Cancelling) => JobView::Cancelling,
                        Some(JobState::Cancelled) => JobView::Cancelled,
                        Some(JobState::Finished) => JobView::Finished,
                        Some(JobState::Failed(m)) => JobView::Failed(m.clone()),
                    };
                    (view, job_id.clone(), *restarts, drift)
                }
            }
        }
    };
    let applied = !matches!(record.status, Status::Planned | Status::Recorded | Status::Destroyed);
    Health {
        job,
        job_id,
        restarts,
        drift,
        should_run: applied && record.intent == Intent::Running,
        last_change: record.history.last().map(|r| r.stamp.clone()),
    }
}

#[cfg(test)]
mod tests;
