//! The VVP wire format: JSON shapes of requests, responses and the envelope, exactly as
//! the API (and Alibaba's SDK) spell them. Separate from flinkform's domain types;
//! times are parsed leniently (numbers or numeric strings).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The envelope every answer comes in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Request id.
    #[serde(default)]
    pub request_id: String,
    /// Business success; false with HTTP 200 is an error too.
    #[serde(default)]
    pub success: bool,
    /// Business status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<i64>,
    /// Error code when `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Error message when `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payload.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Paging (list operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_index: Option<i64>,
    /// Paging (list operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    /// Paging (list operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<i64>,
}

fn none<T>() -> Option<T> {
    None
}

/// A gateway-level error body (signature, throttling): `Code`, `Message`, `RequestId`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GatewayError {
    /// Request id.
    #[serde(rename = "RequestId", default)]
    pub request_id: String,
    /// Host id.
    #[serde(rename = "HostId", default)]
    pub host_id: String,
    /// Error code, e.g. `SignatureDoesNotMatch`.
    #[serde(rename = "Code")]
    pub code: String,
    /// Human message.
    #[serde(rename = "Message")]
    pub message: String,
}

/// `artifact` of drafts and deployments (SQL only here).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// `SQLSCRIPT`, `JAR`, `PYTHON`, `CDCYAML`.
    pub kind: String,
    /// The SQL artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_artifact: Option<SqlArtifact>,
}

/// `sqlArtifact`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlArtifact {
    /// The SQL script.
    pub sql_script: String,
    /// Extra jars.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_dependencies: Vec<String>,
}

/// `deploymentTarget`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTarget {
    /// `PER_JOB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Resource queue.
    pub name: String,
}

/// CPU and memory of a job or task manager.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory, e.g. `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// `basicResourceSetting`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicResourceSetting {
    /// Job parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i64>,
    /// Job manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobmanager_resource_setting_spec: Option<ResourceSpec>,
    /// Task managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taskmanager_resource_setting_spec: Option<ResourceSpec>,
}

/// `streamingResourceSetting`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingResourceSetting {
    /// `BASIC` or `EXPERT`.
    pub resource_setting_mode: String,
    /// Basic mode settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_resource_setting: Option<BasicResourceSetting>,
}

/// `localVariables` entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalVariable {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A deployment draft.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDraft {
    /// Id (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_draft_id: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// Engine version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `STREAMING` or `BATCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    /// The deployment this draft updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_deployment_id: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Always sent, may be empty.
    #[serde(default)]
    pub local_variables: Vec<LocalVariable>,
    /// Namespace (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Workspace (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

/// Counts of a deployment's jobs by state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSummary {
    /// Starting.
    pub starting: i64,
    /// Running.
    pub running: i64,
    /// Cancelling.
    pub cancelling: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Finished.
    pub finished: i64,
    /// Failed.
    pub failed: i64,
}

/// A deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Name, unique in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// Engine version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `STREAMING` or `BATCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    /// Resource queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target: Option<DeploymentTarget>,
    /// Resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_resource_setting: Option<StreamingResourceSetting>,
    /// Flink configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_conf: Option<BTreeMap<String, serde_json::Value>>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Always sent, may be empty.
    #[serde(default)]
    pub local_variables: Vec<LocalVariable>,
    /// The draft it was deployed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_deployment_draft_id: Option<String>,
    /// Job counts (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_summary: Option<JobSummary>,
    /// Namespace (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Workspace (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

/// `restoreStrategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStrategy {
    /// `NONE`, `LATEST_SAVEPOINT`, `FROM_SAVEPOINT`, `LATEST_STATE`.
    pub kind: String,
    /// For `FROM_SAVEPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_id: Option<String>,
    /// Start time for stateless starts (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_start_time_in_ms: Option<i64>,
}

/// StartJobWithParams body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStartParameters {
    /// The deployment to start.
    pub deployment_id: String,
    /// Always sent, may be empty.
    #[serde(default)]
    pub local_variables: Vec<LocalVariable>,
    /// How to restore state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_strategy: Option<RestoreStrategy>,
    /// Resource queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_queue_name: Option<String>,
}

/// `status.failure`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFailure {
    /// Short reason.
    #[serde(default)]
    pub reason: String,
    /// Message.
    #[serde(default)]
    pub message: String,
}

/// `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// `STARTING`, `RUNNING`, `CANCELLING`, `FAILED`, `CANCELLED`, `FINISHED`.
    pub current_job_status: String,
    /// When FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<JobFailure>,
    /// When RUNNING: what the Flink job itself shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<JobRunning>,
}

/// `status.running`: the Flink job under a RUNNING job (the API reference's JobStatus).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRunning {
    /// Flink's job status (`RUNNING`, `RESTARTING`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_flink_job_status: Option<String>,
    /// How many times Flink restarted the job.
    #[serde(default, deserialize_with = "lenient_i64", skip_serializing_if = "Option::is_none")]
    pub observed_flink_job_restarts: Option<i64>,
}

/// A job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Id.
    pub job_id: String,
    /// Its deployment.
    #[serde(default)]
    pub deployment_id: String,
    /// The deployment's name.
    #[serde(default)]
    pub deployment_name: String,
    /// State.
    #[serde(default)]
    pub status: JobStatus,
    /// How it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_strategy: Option<RestoreStrategy>,
    /// Start time.
    #[serde(default, deserialize_with = "lenient_i64", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// End time.
    #[serde(default, deserialize_with = "lenient_i64", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// The resources it runs with (a hot update changes its parallelism).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_resource_setting: Option<StreamingResourceSetting>,
    /// The Flink configuration it runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_conf: Option<BTreeMap<String, serde_json::Value>>,
}

/// HotUpdateJob's and GetHotUpdateJobResult's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HotUpdateJobResult {
    /// The hot update's id (for GetHotUpdateJobResult).
    #[serde(default)]
    pub job_hot_update_id: String,
    /// The job.
    #[serde(default)]
    pub job_id: String,
    /// Where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<HotUpdateJobStatus>,
    /// The settings the job is updated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource_setting: Option<BriefResourceSetting>,
}

/// `HotUpdateJobStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HotUpdateJobStatus {
    /// `HOT_UPDATED` once done.
    #[serde(default)]
    pub status: String,
    /// Request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<HotUpdateJobFailureInfo>,
}

/// `HotUpdateJobFailureInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HotUpdateJobFailureInfo {
    /// Reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `LOW`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_severity: Option<String>,
}

/// `BriefResourceSetting`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BriefResourceSetting {
    /// Flink configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_conf: Option<BTreeMap<String, serde_json::Value>>,
    /// Streaming resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_resource_setting: Option<StreamingResourceSetting>,
}

/// GetJobDiagnosis's answer (`JobDiagnosis`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDiagnosis {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnose_id: Option<String>,
    /// When (epoch milliseconds).
    #[serde(default, deserialize_with = "lenient_i64", skip_serializing_if = "Option::is_none")]
    pub diagnose_time: Option<i64>,
    /// Health score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<i64>,
    /// Risk level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<String>,
    /// What it found, by area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symptoms: Option<JobDiagnosisSymptoms>,
}

/// `JobDiagnosisSymptoms`: symptoms by area.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDiagnosisSymptoms {
    /// While starting.
    #[serde(default)]
    pub startup: Vec<JobDiagnosisSymptom>,
    /// While running.
    #[serde(default)]
    pub runtime: Vec<JobDiagnosisSymptom>,
    /// Of its state.
    #[serde(default)]
    pub state: Vec<JobDiagnosisSymptom>,
    /// Troubleshooting.
    #[serde(default)]
    pub troubleshooting: Vec<JobDiagnosisSymptom>,
    /// Autopilot.
    #[serde(default)]
    pub autopilot: Vec<JobDiagnosisSymptom>,
    /// Others.
    #[serde(default)]
    pub others: Vec<JobDiagnosisSymptom>,
}

/// `JobDiagnosisSymptom`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDiagnosisSymptom {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
}

/// StopJob body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopJobRequest {
    /// `NONE`, `STOP_WITH_SAVEPOINT`, `STOP_WITH_DRAIN`.
    pub stop_strategy: String,
}

/// DeployDeploymentDraftAsync body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftDeployParams {
    /// The draft.
    pub deployment_draft_id: String,
    /// Resource queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target: Option<DeploymentTarget>,
    /// Skip validation.
    #[serde(default)]
    pub skip_validate: bool,
}

/// ValidateDeploymentDraftAsync body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftValidateParams {
    /// The draft.
    pub deployment_draft_id: String,
    /// Resource queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_name: Option<String>,
}

/// `{ticketId}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// The async ticket.
    pub ticket_id: String,
}

/// Where a validation failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// Line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<String>,
    /// Column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_number: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `artifactValidationDetail`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactValidationDetail {
    /// Verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<String>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// GetDeployDeploymentDraftResult data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncDraftDeployResult {
    /// `EXECUTING`, `FINISHED`, `FAILED`.
    pub ticket_status: String,
    /// Deploy succeeded.
    #[serde(default)]
    pub success: bool,
    /// The deployment created or updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Validation details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_validation_detail: Option<ArtifactValidationDetail>,
}

/// GetValidateDeploymentDraftResult data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncDraftValidateResult {
    /// `EXECUTING`, `FINISHED`, `FAILED`.
    pub ticket_status: String,
    /// Validation passed.
    #[serde(default)]
    pub success: bool,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A savepoint, or a retained checkpoint (ListSavepoints).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    /// Id.
    #[serde(default)]
    pub savepoint_id: String,
    /// Its deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// The job it was taken of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `USER_REQUEST`, `STOP_WITH_SAVEPOINT` or `RETAINED_CHECKPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_origin: Option<String>,
    /// Where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SavepointStatus>,
    /// When it was made (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

/// A savepoint's `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavepointStatus {
    /// `STARTED`, `COMPLETED` or `FAILED`.
    pub state: String,
}

/// A namespace variable (values are never read by flinkform).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// Name.
    pub name: String,
    /// Value (write only for flinkform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `Clear` or `Encrypted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Accepts a number, a numeric string or null.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_times_parse_leniently_and_envelopes_round_trip() {
        let j: Envelope<Job> = serde_json::from_str(
            r#"{"requestId":"r","success":true,"httpCode":200,"data":{"jobId":"j","status":{"currentJobStatus":"RUNNING"},"startTime":"1660190835","endTime":null}}"#,
        )
        .unwrap();
        let job = j.data.unwrap();
        assert_eq!((job.start_time, job.end_time), (Some(1660190835), None));
        // The API reference's `running` of a RUNNING job.
        let j: Job = serde_json::from_str(
            r#"{"jobId":"j","status":{"currentJobStatus":"RUNNING","running":{"observedFlinkJobStatus":"RUNNING","observedFlinkJobRestarts":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(j.status.running.and_then(|r| r.observed_flink_job_restarts), Some(3));
        let draft = DeploymentDraft { name: Some("n".into()), ..Default::default() };
        assert_eq!(serde_json::to_string(&draft).unwrap(), r#"{"name":"n","localVariables":[]}"#);
    }
}
