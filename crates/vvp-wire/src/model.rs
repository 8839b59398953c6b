//! VVP's domain values, named alike on both sides of the wire: a job's state, where a
//! starting job takes its state from, and the deployment settings flinkform sets and
//! reads back.
//! The planner (`flinkform-core`) records and compares them; the client (`vvp-api`)
//! sends and reads them; neither needs the other for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A job's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Being started.
    Starting,
    /// Running.
    Running,
    /// Being stopped.
    Cancelling,
    /// Stopped.
    Cancelled,
    /// Finished (batch).
    Finished,
    /// Failed, with VVP's message.
    Failed(String),
}

/// VVP's name of the state (`RUNNING`), and a failure's message (`FAILED (why)`).
impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobState::Starting => f.write_str("STARTING"),
            JobState::Running => f.write_str("RUNNING"),
            JobState::Cancelling => f.write_str("CANCELLING"),
            JobState::Cancelled => f.write_str("CANCELLED"),
            JobState::Finished => f.write_str("FINISHED"),
            JobState::Failed(m) => write!(f, "FAILED ({m})"),
        }
    }
}

impl JobState {
    /// STARTING, RUNNING or CANCELLING: the deployment has a job that is not stopped.
    pub fn live(&self) -> bool {
        matches!(self, JobState::Starting | JobState::Running | JobState::Cancelling)
    }
}

/// Where a starting job takes its state from (VVP's restore strategy kinds). Journaled by
/// flinkform in snake case (`latest_savepoint`, `{"from_savepoint": "ID"}`); `name()` is VVP's spelling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restore {
    /// No state: the sources start from their startup mode.
    None,
    /// The latest checkpoint or savepoint.
    LatestState,
    /// The latest savepoint.
    LatestSavepoint,
    /// This savepoint.
    FromSavepoint(String),
}

impl Restore {
    /// The restore of VVP's `restoreStrategy` (`kind`, and `savepointId` for
    /// `FROM_SAVEPOINT`); `None` for a kind VVP does not document.
    pub fn of_kind(kind: &str, savepoint: Option<&str>) -> Option<Restore> {
        match kind {
            "NONE" => Some(Restore::None),
            "LATEST_STATE" => Some(Restore::LatestState),
            "LATEST_SAVEPOINT" => Some(Restore::LatestSavepoint),
            "FROM_SAVEPOINT" => Some(Restore::FromSavepoint(savepoint.unwrap_or_default().to_string())),
            _ => None,
        }
    }

    /// VVP's spelling of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            Restore::None => "NONE",
            Restore::LatestState => "LATEST_STATE",
            Restore::LatestSavepoint => "LATEST_SAVEPOINT",
            Restore::FromSavepoint(_) => "FROM_SAVEPOINT",
        }
    }
}

impl std::fmt::Display for Restore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restore::FromSavepoint(id) => write!(f, "FROM_SAVEPOINT {id}"),
            other => f.write_str(other.name()),
        }
    }
}

/// What flinkform sets on a deployment besides its SQL and labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// VVR engine version.
    pub engine_version: String,
    /// Job parallelism.
    pub parallelism: u64,
    /// Resource queue (deployment target).
    pub resource_queue: String,
    /// Job manager (cores, memory), when set.
    pub jobmanager: Option<(f64, String)>,
    /// Task manager (cores, memory), when set.
    pub taskmanager: Option<(f64, String)>,
    /// Flink configuration.
    pub flink_conf: BTreeMap<String, String>,
}

/// What a deployment on VVP is set to, of what flinkform manages (`None`: not set).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveSettings {
    /// Engine version.
    pub engine_version: Option<String>,
    /// Parallelism.
    pub parallelism: Option<u64>,
    /// Resource queue (deployment target).
    pub resource_queue: Option<String>,
    /// Job manager (cores, memory).
    pub jobmanager: Option<(f64, String)>,
    /// Task manager (cores, memory).
    pub taskmanager: Option<(f64, String)>,
    /// Flink configuration, values as text.
    pub flink_conf: BTreeMap<String, String>,
    /// Its labels no longer name it this project's deployment of the pipeline
    /// (`managed-by`, `flinkform-pipeline`, `flinkform-project`).
    pub labels_edited: bool,
}
