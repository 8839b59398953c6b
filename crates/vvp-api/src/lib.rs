//! The VVP OpenAPI (2022-07-18) client: signed requests with retries ([`Client`]) and
//! the domain operations apply and refresh use (find a deployment by name, deploy a
//! draft, a ticket's state, a deployment's live job...). The only crate that reads wire
//! shapes: what it returns are domain values.

mod client;
mod error;
mod gone;
mod ops;

use std::collections::BTreeMap;

pub use client::{Client, Credentials, RetryPolicy, Target};
pub use error::{ErrorKind, NOT_FOUND, VvpError};
pub use ops::Vvp;

pub use vvp_wire::model::{JobState, LiveSettings, Restore, Settings};
use vvp_wire::wire::{self, Deployment, DeploymentDraft, ResourceSpec, StreamingResourceSetting};

/// Label every deployment flinkform makes carries.
pub const MANAGED_BY: (&str, &str) = ("managed-by", "flinkform");
/// Label naming the pipeline a deployment belongs to.
pub const PIPELINE_LABEL: &str = "flinkform-pipeline";
/// Label naming the flinkform project (`project` in flinkform.toml) a deployment belongs to.
pub const PROJECT_LABEL: &str = "flinkform-project";

/// A deployment as apply sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteDeployment {
    /// Deployment id.
    pub id: String,
    /// Deployment name.
    pub name: String,
    /// Whose it is, by flinkform's labels.
    pub owner: Owner,
    /// Its SQL, when it is a SQL deployment.
    pub sql: Option<String>,
    /// What it is set to, of what flinkform manages.
    pub settings: LiveSettings,
    /// What its job summary decides of the job that shows.
    pub summary: Summary,
}

impl RemoteDeployment {
    /// Made by this flinkform project for the pipeline of its own name (labels say so).
    pub fn ours(&self) -> bool {
        self.owner.is(&self.name)
    }
}

/// Whose a deployment is, by flinkform's labels (`managed-by`, `flinkform-project`,
/// `flinkform-pipeline`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Not labelled `managed-by: flinkform`: made outside flinkform.
    Outside,
    /// This flinkform project, for the pipeline its label names (if any).
    ThisProject(Option<String>),
    /// Another flinkform project (its label; none: a project without a name).
    OtherProject(Option<String>),
}

impl Owner {
    /// Whether it is this project's deployment of `pipeline`.
    pub fn is(&self, pipeline: &str) -> bool {
        matches!(self, Owner::ThisProject(Some(p)) if p == pipeline)
    }
}

/// What a deployment's job summary (its jobs counted by state, which every GetDeployment
/// and ListDeployments answer carries) decides of the job that shows: the live job if
/// there is one, else the newest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summary {
    /// The counts decide it: no job at all (`None`); exactly one live job and it is
    /// RUNNING; or no live job, and every job it had was stopped, so the newest is
    /// CANCELLED.
    Shows(Option<JobState>),
    /// They do not (a job starting or stopping, two live, a failed or finished one that
    /// may be the newest), or VVP gave no summary: its jobs must be asked.
    Undecided,
}

impl Summary {
    fn of(s: Option<&wire::JobSummary>) -> Summary {
        let Some(s) = s else { return Summary::Undecided };
        let live = s.starting + s.running + s.cancelling;
        match (live, s.running, s.failed + s.finished, s.cancelled) {
            (0, _, 0, 0) => Summary::Shows(None),
            (0, _, 0, _) => Summary::Shows(Some(JobState::Cancelled)),
            (1, 1, _, _) => Summary::Shows(Some(JobState::Running)),
            _ => Summary::Undecided,
        }
    }
}

/// A deployment draft this project made for a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteDraft {
    /// Draft id.
    pub id: String,
    /// The pipeline (the draft's name).
    pub name: String,
    /// Its SQL.
    pub sql: Option<String>,
    /// The deployment it updates, or was deployed to.
    pub deployment: Option<String>,
}

/// A job as apply sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteJob {
    /// Job id.
    pub id: String,
    /// State.
    pub state: JobState,
    /// The restore strategy it started with.
    pub restore: Option<Restore>,
    /// The savepoint it restored from, if any.
    pub savepoint: Option<String>,
    /// The parallelism it runs with (a hot update changes it), when VVP says.
    pub parallelism: Option<u64>,
    /// The Flink configuration it runs with, values as text.
    pub flink_conf: BTreeMap<String, String>,
    /// How many times Flink restarted it, when VVP says (a RUNNING job's
    /// `status.running.observedFlinkJobRestarts`).
    pub restarts: Option<u64>,
    /// When it started and ended (Unix seconds), when VVP says.
    pub started: Option<i64>,
    /// When it ended.
    pub ended: Option<i64>,
}

/// Where a hot update (HotUpdateJob) is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HotUpdateState {
    /// Under way, with VVP's status.
    Running(String),
    /// The job runs with the new settings (`HOT_UPDATED`).
    Done,
    /// Failed, with VVP's message; the job runs with its old settings.
    Failed(String),
}

/// A hot update VVP accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotUpdate {
    /// Its id, for GetHotUpdateJobResult.
    pub id: String,
    /// Where it is.
    pub state: HotUpdateState,
}

fn hot_update_of(r: wire::HotUpdateJobResult) -> HotUpdate {
    let status = r.status.unwrap_or_default();
    let state = match (status.failure, status.status.as_str()) {
        (Some(f), _) => HotUpdateState::Failed(
            [f.reason, f.message].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": "),
        ),
        (None, "HOT_UPDATED") => HotUpdateState::Done,
        (None, other) => HotUpdateState::Running(other.to_string()),
    };
    HotUpdate { id: r.job_hot_update_id, state }
}

/// How a job stops (VVP's stop strategies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// At once, without a savepoint.
    Now,
    /// After taking a savepoint.
    WithSavepoint,
}

impl Stop {
    /// VVP's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Now => "NONE",
            Stop::WithSavepoint => "STOP_WITH_SAVEPOINT",
        }
    }
}

/// Where a deploy ticket is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketState {
    /// Still running.
    Running,
    /// Deployed: the deployment id.
    Deployed(String),
    /// Failed, with VVP's message.
    Failed(String),
}

/// Where a validation ticket is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationState {
    /// Still running.
    Running,
    /// The draft is valid.
    Passed,
    /// Invalid, with VVP's message.
    Failed(String),
}

fn spec((cpu, memory): &(f64, String)) -> ResourceSpec {
    ResourceSpec { cpu: Some(*cpu), memory: Some(memory.clone()) }
}

fn remote_draft(d: DeploymentDraft) -> RemoteDraft {
    RemoteDraft {
        id: d.deployment_draft_id.unwrap_or_default(),
        name: d.name.unwrap_or_default(),
        sql: d.artifact.and_then(|a| a.sql_artifact).map(|s| s.sql_script),
        deployment: d.referenced_deployment_id.filter(|s| !s.is_empty()),
    }
}

/// A deployment as apply sees it: ours when flinkform's labels name it for its own
/// name and for `project` (no project label when `project` is `None`).
fn remote_of(d: Deployment, project: Option<&str>) -> RemoteDeployment {
    let labels = d.labels.clone().unwrap_or_default();
    let name = d.name.clone().unwrap_or_default();
    let owner = match labels.get(PROJECT_LABEL).map(String::as_str) {
        _ if labels.get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1) => Owner::Outside,
        p if p == project => Owner::ThisProject(labels.get(PIPELINE_LABEL).cloned()),
        p => Owner::OtherProject(p.map(String::from)),
    };
    let settings = settings_of(&d, owner.is(&name));
    RemoteDeployment {
        summary: Summary::of(d.job_summary.as_ref()),
        id: d.deployment_id.unwrap_or_default(),
        owner,
        name,
        settings,
        sql: d.artifact.and_then(|a| a.sql_artifact).map(|s| s.sql_script),
    }
}

/// The managed settings of a deployment as GetDeployment shows them (`ours`: its labels
/// name it this project's deployment of the pipeline).
fn settings_of(d: &Deployment, ours: bool) -> LiveSettings {
    let basic = d.streaming_resource_setting.as_ref().and_then(|s| s.basic_resource_setting.as_ref());
    let resources = |r: Option<&ResourceSpec>| r.and_then(|r| Some((r.cpu?, r.memory.clone()?)));
    LiveSettings {
        engine_version: d.engine_version.clone(),
        parallelism: parallelism_of(d.streaming_resource_setting.as_ref()),
        resource_queue: d.deployment_target.as_ref().map(|t| t.name.clone()),
        jobmanager: resources(basic.and_then(|b| b.jobmanager_resource_setting_spec.as_ref())),
        taskmanager: resources(basic.and_then(|b| b.taskmanager_resource_setting_spec.as_ref())),
        flink_conf: conf_text(d.flink_conf.as_ref()),
        labels_edited: !ours,
    }
}

/// The basic-mode parallelism of a deployment's or a job's resources.
fn parallelism_of(r: Option<&StreamingResourceSetting>) -> Option<u64> {
    r?.basic_resource_setting.as_ref()?.parallelism.and_then(|p| u64::try_from(p).ok())
}

/// A Flink configuration as text values (VVP may answer numbers as numbers).
fn conf_text(conf: Option<&BTreeMap<String, serde_json::Value>>) -> BTreeMap<String, String> {
    conf.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect()
}

/// A ticket status the API does not document: an error, never "still running".
fn unknown_status(action: &str, status: &str) -> VvpError {
    VvpError::Decode { action: action.into(), message: format!("unknown ticketStatus `{status}`") }
}

fn job_of(j: wire::Job) -> Result<RemoteJob, VvpError> {
    let state = match j.status.current_job_status.as_str() {
        "STARTING" => JobState::Starting,
        "RUNNING" => JobState::Running,
        "CANCELLING" => JobState::Cancelling,
        "CANCELLED" => JobState::Cancelled,
        "FINISHED" => JobState::Finished,
        "FAILED" => JobState::Failed(
            j.status.failure.map(|f| format!("{}: {}", f.reason, f.message)).unwrap_or_else(|| "job is FAILED".into()),
        ),
        other => {
            return Err(VvpError::Decode {
                action: "GetJob".into(),
                message: format!("job {} has an unknown currentJobStatus `{other}`", j.job_id),
            });
        }
    };
    let parallelism = parallelism_of(j.streaming_resource_setting.as_ref());
    let restore = match &j.restore_strategy {
        None => None,
        Some(r) => Some(Restore::of_kind(&r.kind, r.savepoint_id.as_deref()).ok_or_else(|| VvpError::Decode {
            action: "GetJob".into(),
            message: format!("job {} has an unknown restoreStrategy kind `{}`", j.job_id, r.kind),
        })?),
    };
    Ok(RemoteJob {
        id: j.job_id,
        state,
        restore,
        savepoint: j.restore_strategy.and_then(|r| r.savepoint_id),
        parallelism,
        flink_conf: conf_text(j.flink_conf.as_ref()),
        restarts: j.status.running.and_then(|r| r.observed_flink_job_restarts).and_then(|n| u64::try_from(n).ok()),
        started: j.start_time,
        ended: j.end_time,
    })
}

impl Client {
    /// Every job of a deployment, the newest start first.
    pub async fn deployment_jobs(&self, deployment: &str) -> Result<Vec<RemoteJob>, VvpError> {
        let mut jobs = self.jobs(deployment).await?.into_iter().map(job_of).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started));
        Ok(jobs)
    }

    /// Every deployment flinkform made in the namespace, of any project and pipeline
    /// (one paged listing by label).
    pub async fn managed_deployments(&self) -> Result<Vec<RemoteDeployment>, VvpError> {
        let listed = self.deployments_with_label(MANAGED_BY.0, MANAGED_BY.1).await?;
        let project = self.project();
        Ok(listed.into_iter().map(|d| remote_of(d, project)).collect())
    }

    /// The deployment with this id (`None` when VVP answers that it does not exist).
    pub async fn deployment(&self, id: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        match self.get_deployment(id).await {
            Ok(d) => Ok(Some(remote_of(d, self.project()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts validating a draft against `queue`; returns the ticket.
    pub async fn validate(&self, draft_id: &str, queue: &str) -> Result<String, VvpError> {
        self.validate_draft(&wire::DraftValidateParams {
            deployment_draft_id: draft_id.into(),
            deployment_target_name: Some(queue.into()),
        })
        .await
    }

    /// Where a validation ticket is.
    pub async fn validation(&self, ticket: &str) -> Result<ValidationState, VvpError> {
        let r = self.validate_result(ticket).await?;
        Ok(match r.ticket_status.as_str() {
            "FINISHED" | "FAILED" if r.success => ValidationState::Passed,
            "FINISHED" | "FAILED" => ValidationState::Failed(r.message.unwrap_or_else(|| "validation failed".into())),
            "EXECUTING" => ValidationState::Running,
            other => return Err(unknown_status("GetValidateDeploymentDraftResult", other)),
        })
    }

    /// The labels of pipeline `name`'s deployment and drafts: flinkform's, the
    /// pipeline's and this project's.
    fn labels(&self, name: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            (PIPELINE_LABEL.to_string(), name.to_string()),
        ]);
        if let Some(project) = self.project() {
            labels.insert(PROJECT_LABEL.to_string(), project.to_string());
        }
        labels
    }
}
