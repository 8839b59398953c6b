//! The journal of an apply in progress: what it is doing to a pipeline, at which step,
//! and what it learnt that a resumed run needs (the deploy ticket, the savepoint its
//! stop took, the restore `flinkform start` was asked for).

use serde::{Deserialize, Serialize};
use vvp_wire::model::Restore;

/// The journal entry of an apply in progress on a pipeline: what it is doing, and at
/// which step, so that a re-run resumes instead of starting over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// What the apply is doing.
    pub action: Operation,
    /// The step about to run or running.
    pub step: Step,
    /// The deploy ticket, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    /// The savepoint this apply's stop took, which its start restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_id: Option<String>,
    /// What `flinkform start` was asked to restore, so that resuming it restores that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

impl Pending {
    /// `action` about to run its first step.
    pub fn new(action: Operation, step: Step) -> Pending {
        Pending { action, step, ticket_id: None, savepoint_id: None, restore: None }
    }
}

/// What an apply does to a pipeline: a pending entry's `action`, a revision's `action`
/// (never `delete` or `start` there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Deploys and starts a new pipeline.
    Create,
    /// Redeploys the pipeline's deployment in place.
    Update,
    /// Destroys the deployment and creates a new one.
    Replace,
    /// Stops the job and deletes the deployment.
    Delete,
    /// Starts a failed or stopped job again.
    Repair,
    /// `flinkform start`.
    Start,
    /// The previous revision deployed again after an update's job failed.
    Rollback,
    /// New parallelism or checkpoint settings taken by the running job (HotUpdateJob),
    /// without a restart.
    #[serde(rename = "hot_update")]
    HotUpdate,
}

impl Operation {
    /// The state file's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
            Operation::Repair => "repair",
            Operation::Start => "start",
            Operation::Rollback => "rollback",
            Operation::HotUpdate => "hot_update",
        }
    }
}

/// A step of an apply (a pending entry's `step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Looking the deployment up by name.
    Lookup,
    /// Running the sink DDL.
    SinkDdl,
    /// Creating a deployment draft.
    CreateDraft,
    /// Deploying the draft, waiting for its ticket.
    Deploy,
    /// Setting resources and the Flink configuration.
    Configure,
    /// Starting the job, waiting for RUNNING.
    Start,
    /// Stopping the job, waiting until it stopped.
    Stop,
    /// Deleting the deployment.
    Delete,
    /// Asking the running job to take the deployment's new settings (HotUpdateJob).
    HotUpdate,
}

impl Step {
    /// The state file's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Step::Lookup => "lookup",
            Step::SinkDdl => "sink_ddl",
            Step::CreateDraft => "create_draft",
            Step::Deploy => "deploy",
            Step::Configure => "configure",
            Step::Start => "start",
            Step::Stop => "stop",
            Step::Delete => "delete",
            Step::HotUpdate => "hot_update",
        }
    }
}
