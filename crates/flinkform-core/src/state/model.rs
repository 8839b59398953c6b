//! The state file's model: what is recorded of each pipeline (its schema, rendered SQL
//! and DDL, deployment settings, remote ids, status and history).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FORMAT_VERSION;
use super::journal::{Operation, Pending, Step};
use super::log::Stamp;
use crate::infer::{Shape, TsStandard};
use crate::schema::Evidence;
use crate::spec::{Dialect, OnConflict, OnFailure, Upgrade};

/// The recorded state of one (workspace, namespace).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub format_version: u32,
    /// Fixed at creation: a plan or state from another lineage is never mixed in.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    /// Pipelines by name.
    pub pipelines: BTreeMap<String, PipelineState>,
}

/// A recorded column: what the sink table holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnRecord {
    /// Name as `[schema]` refers to it.
    pub name: String,
    /// Sink (Hologres) name.
    pub sink_name: String,
    /// Flink type written.
    #[serde(rename = "type")]
    pub ty: String,
    /// Hologres type.
    pub hologres: String,
    /// Nullable in the sink.
    pub nullable: bool,
    /// Records present / total / null, and the notes.
    pub evidence: EvidenceRecord,
}

/// Serialized [`Evidence`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EvidenceRecord {
    /// Records with the key present.
    pub present: u64,
    /// Records sampled.
    pub total: u64,
    /// Null values.
    pub nulls: u64,
    /// Why the type is what it is.
    pub notes: Vec<String>,
}

impl From<&Evidence> for EvidenceRecord {
    fn from(e: &Evidence) -> Self {
        EvidenceRecord { present: e.present, total: e.total, nulls: e.nulls, notes: e.notes.clone() }
    }
}

/// Ids of the pipeline's objects on VVP (empty until apply).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    /// Deployment draft id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    /// Deployment id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Job id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// How the job is deployed: what apply sends to VVP besides the SQL (from `[deployment]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployParams {
    /// VVR engine version.
    pub engine_version: String,
    /// Job parallelism.
    pub parallelism: u64,
    /// Resource queue (deployment target).
    pub resource_queue: String,
    /// How an update restarts the job.
    pub upgrade: Upgrade,
    /// Job manager (cores, memory), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobmanager: Option<(f64, String)>,
    /// Task manager (cores, memory), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taskmanager: Option<(f64, String)>,
    /// Flink configuration.
    pub flink_conf: BTreeMap<String, String>,
    /// After a start, how long the job must stay RUNNING (seconds; `[deployment] verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_secs: Option<u64>,
    /// What an update whose new job fails does (`[deployment] on_failure`).
    #[serde(default, skip_serializing_if = "OnFailure::is_fail")]
    pub on_failure: OnFailure,
}

/// Flink configuration keys a running job takes without a restart (HotUpdateJob), with
/// the parallelism: the checkpoint interval, timeout and minimum pause ("dynamically
/// update deployment parameters", Alibaba Cloud Realtime Compute docs).
pub const HOT_FLINK_CONF: [&str; 3] =
    ["execution.checkpointing.interval", "execution.checkpointing.timeout", "execution.checkpointing.min-pause"];

/// The first VVR engine that hot-updates a running job.
pub const HOT_UPDATE_VVR: (u32, u32, u32) = (8, 0, 1);

impl DeployParams {
    /// What of these VVP is set to (the rest is flinkform's own).
    pub fn vvp_settings(&self) -> vvp_wire::model::Settings {
        vvp_wire::model::Settings {
            engine_version: self.engine_version.clone(),
            parallelism: self.parallelism,
            resource_queue: self.resource_queue.clone(),
            jobmanager: self.jobmanager.clone(),
            taskmanager: self.taskmanager.clone(),
            flink_conf: self.flink_conf.clone(),
        }
    }

    /// Whether a running job already runs with these hot-updatable settings (its
    /// parallelism and [`HOT_FLINK_CONF`] values as VVP shows them on the job).
    pub fn hot_settings_match(&self, parallelism: Option<u64>, flink_conf: &BTreeMap<String, String>) -> bool {
        parallelism == Some(self.parallelism)
            && HOT_FLINK_CONF.iter().all(|k| match (self.flink_conf.get(*k), flink_conf.get(*k)) {
                (Some(ours), Some(theirs)) => crate::echo::same_conf(ours, theirs),
                (ours, _) => ours.is_none(),
            })
    }
}

/// The sink table as recorded: what the DDL made, and what can never change in place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkRecord {
    /// The sink database's dialect.
    pub dialect: Dialect,
    /// Schema of the table.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Properties fixed at creation (orientation, distribution_key, clustering_key,
    /// event_time_column), as rendered.
    pub fixed: BTreeMap<String, String>,
    /// Environment variable with the connection string to run DDL with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_env: Option<String>,
    /// What the sink does with a row whose key exists.
    pub on_conflict: OnConflict,
    /// A Kafka topic rather than a table: `table` is the topic, and there is no DDL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaRecord>,
}

/// A Kafka sink as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaRecord {
    /// Keyed by the primary key (`upsert-kafka`), rather than appended.
    pub upsert: bool,
}

impl SinkRecord {
    /// What the sink writes to: `schema.table`, or `kafka:topic`.
    pub fn label(&self) -> String {
        match self.kafka {
            Some(_) => format!("kafka:{}", self.table),
            None => format!("{}.{}", self.schema, self.table),
        }
    }
}

/// A sink after a pipeline's first (whose record is the pipeline's own `sink`,
/// `columns`, `primary_key` and `ddl`, as the v1 format has them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkState {
    /// The table or topic.
    pub sink: SinkRecord,
    /// The columns it is written.
    pub columns: Vec<ColumnRecord>,
    /// Its primary key (sink names).
    pub primary_key: Vec<String>,
    /// Its Hologres DDL (empty for a topic).
    pub ddl: String,
}

/// One sink of a recorded pipeline, whichever field it is kept in.
#[derive(Clone, Copy, Debug)]
pub struct SinkView<'a> {
    /// The table or topic.
    pub sink: &'a SinkRecord,
    /// The columns it is written.
    pub columns: &'a [ColumnRecord],
    /// Its primary key.
    pub primary_key: &'a [String],
    /// Its DDL.
    pub ddl: &'a str,
    /// It is the pipeline's first sink.
    pub first: bool,
}

impl SinkView<'_> {
    /// How plans and DDL name this sink: `None` for the first, else its label.
    pub fn tag(&self) -> Option<String> {
        (!self.first).then(|| self.sink.label())
    }
}

/// One applied revision of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// State serial the revision was written at.
    pub serial: u64,
    /// `create`, `update`, `replace` or `repair`.
    pub action: Operation,
    /// Digest of the SQL.
    pub sql_digest: String,
    /// Digest of the DDL.
    pub ddl_digest: String,
    /// When, by whom and from what it was applied (its fields stand in the revision's
    /// own object, `at` first, as the v1 format has them).
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// Where a recorded pipeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Planned, never applied.
    Planned,
    /// An outcome written without VVP.
    Recorded,
    /// Adopted from VVP by `import`.
    Imported,
    /// An apply is under way (or was interrupted: see `pending`).
    Applying,
    /// Its job runs.
    Running,
    /// Its job was stopped on purpose.
    Stopped,
    /// Its job failed.
    Failed,
    /// Destroyed on VVP.
    Destroyed,
}

impl Status {
    /// The state file's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Recorded => "recorded",
            Status::Imported => "imported",
            Status::Applying => "applying",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Destroyed => "destroyed",
        }
    }
}

/// `Display` as the state file's spelling, `name()`.
macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}
display_by_name!(Status, Operation, Step, Intent);

/// What the user asked of a pipeline's job (`flinkform stop` and `start`), kept apart
/// from where an apply is (`status`, `pending`): an apply's progress never overwrites it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// The job runs.
    #[default]
    Running,
    /// Stopped on purpose: it stays stopped, whatever is applied, until `flinkform start`.
    Stopped,
}

impl Intent {
    /// The state file's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Intent::Running => "running",
            Intent::Stopped => "stopped",
        }
    }

    fn is_running(&self) -> bool {
        *self == Intent::Running
    }
}

/// A recorded shape, kept as its compact JSON text: it is read only when the next
/// sample is merged into it, so a state or a plan of many pipelines holds text a tenth
/// the size of the shapes' trees. Read and written as the shape it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedShape(Box<str>);

impl RecordedShape {
    /// The lattice of `shape` (its evidence counters are not recorded).
    pub fn of(shape: &Shape) -> RecordedShape {
        RecordedShape(serde_json::to_string(shape).expect("a shape serializes").into_boxed_str())
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        serde_json::from_str(&self.0).expect("a recorded shape's text was made from a shape or checked when read")
    }
}

impl Serialize for RecordedShape {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The text's tokens, straight into `s` (so that a pretty state file stays pretty
        // throughout), with no tree built.
        serde_transcode::Transcoder::new(&mut serde_json::Deserializer::from_str(&self.0)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecordedShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Shape::deserialize(d).map(|shape| RecordedShape::of(&shape))
    }
}

/// Everything recorded about one pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// The spec file.
    pub file: String,
    /// Digest of the spec's settings.
    pub spec_digest: String,
    /// Every setting, as `section.key` → text (see [`crate::spec::Pipeline::settings`]).
    pub settings: BTreeMap<String, String>,
    /// How `settings` is written ([`crate::spec::SETTINGS_FORM`]); records without it
    /// hold the first form, which plans do not compare setting by setting.
    #[serde(default = "first_settings_form", skip_serializing_if = "is_first_settings_form")]
    pub settings_form: u32,
    /// Kafka topic.
    pub topic: String,
    /// The Hologres table, `schema.table`.
    pub sink_table: String,
    /// Primary key (sink names).
    pub primary_key: Vec<String>,
    /// `protect = true` in the spec when recorded.
    pub protect: bool,
    /// The inferred shape (lattice only), merged with every earlier one.
    pub shape: RecordedShape,
    /// Timestamp standard of the source table.
    pub timestamp_standard: TsStandard,
    /// How JSON integers are typed (absent in records made before BIGINT became the
    /// default: they keep the narrowest type).
    #[serde(default, skip_serializing_if = "crate::types::Integers::is_narrowest")]
    pub integers: crate::types::Integers,
    /// Sink columns.
    pub columns: Vec<ColumnRecord>,
    /// Rendered Flink SQL.
    pub sql: String,
    /// Rendered Hologres DDL.
    pub ddl: String,
    /// Rendered deployment config.
    pub deployment: String,
    /// Template kind → `name@digest`.
    pub templates: BTreeMap<String, String>,
    /// What apply sends to VVP besides the SQL.
    pub deploy: DeployParams,
    /// The sink table.
    pub sink: SinkRecord,
    /// The sinks after the first, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_sinks: Vec<SinkState>,
    /// VVP ids.
    #[serde(default)]
    pub remote: Remote,
    /// Where the pipeline is.
    pub status: Status,
    /// What the user asked of its job (absent: running).
    #[serde(default, skip_serializing_if = "Intent::is_running")]
    pub intent: Intent,
    /// The apply in progress, if one was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The last error VVP reported (a failed job's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Applied revisions, oldest first.
    #[serde(default)]
    pub history: Vec<Revision>,
}

fn first_settings_form() -> u32 {
    1
}

fn is_first_settings_form(form: &u32) -> bool {
    *form == 1
}

impl PipelineState {
    /// Every sink's DDL, one after the other (a topic has none).
    pub fn all_ddl(&self) -> String {
        self.sinks().map(|s| s.ddl).filter(|d| !d.is_empty()).collect::<Vec<_>>().join("\n")
    }

    /// The digest of every sink's DDL, as a revision records it.
    pub fn ddl_digest(&self) -> String {
        crate::spec::digest(&self.sinks().map(|s| s.ddl.as_bytes()).collect::<Vec<_>>())
    }

    /// The texts a revision of this record names by digest: its SQL and its DDL
    /// ([`PipelineState::all_ddl`]), to keep beside the state ([`StateStore::keep_texts`](super::StateStore::keep_texts)).
    pub fn revision_texts(&self) -> [(String, String); 2] {
        [(crate::spec::digest(&[self.sql.as_bytes()]), self.sql.clone()), (self.ddl_digest(), self.all_ddl())]
    }

    /// The names of what a pipeline renders, as plans and diffs label it.
    pub const ARTIFACTS: [&'static str; 3] = ["flink.sql", "ddl.sql", "deployment.yaml"];

    /// What the pipeline renders, named by [`PipelineState::ARTIFACTS`]: the SQL, every
    /// sink's DDL, the deployment.
    pub fn artifacts(&self) -> [String; 3] {
        [self.sql.clone(), self.all_ddl(), self.deployment.clone()]
    }

    /// Every sink, the first one first.
    pub fn sinks(&self) -> impl Iterator<Item = SinkView<'_>> {
        let first = SinkView {
            sink: &self.sink,
            columns: &self.columns,
            primary_key: &self.primary_key,
            ddl: &self.ddl,
            first: true,
        };
        std::iter::once(first).chain(self.more_sinks.iter().map(|s| SinkView {
            sink: &s.sink,
            columns: &s.columns,
            primary_key: &s.primary_key,
            ddl: &s.ddl,
            first: false,
        }))
    }

    /// This planned record in place of `current` without an apply step: `current`'s
    /// remote ids, status, intent, error, pending step and history carried on (a
    /// state-only change, such as `protect`).
    pub fn recorded_over(&self, current: &PipelineState) -> PipelineState {
        PipelineState {
            remote: current.remote.clone(),
            status: current.status,
            intent: current.intent,
            pending: current.pending.clone(),
            error: current.error.clone(),
            history: current.history.clone(),
            ..self.clone()
        }
    }

    /// The record a change leaves: this planned record with the history and the user's
    /// intent of `current` (the record it replaces, if any) carried on, `remote`, one
    /// more revision (`action` at state `serial`, time `at`), `status`, and nothing
    /// pending. What apply records after a change and what a plan's outcome records are
    /// this one function. `stamp` says when, by whom and from what.
    pub fn applied(
        &self,
        current: Option<&PipelineState>,
        remote: Remote,
        action: Operation,
        serial: u64,
        stamp: &Stamp,
        status: Status,
    ) -> PipelineState {
        let mut rec = self.clone();
        rec.intent = current.map_or(Intent::Running, |c| c.intent);
        rec.history = current.map_or_else(Vec::new, |c| c.history.clone());
        rec.history.push(Revision {
            serial,
            action,
            sql_digest: crate::spec::digest(&[rec.sql.as_bytes()]),
            ddl_digest: rec.ddl_digest(),
            stamp: stamp.clone(),
        });
        rec.remote = remote;
        rec.status = status;
        rec.pending = None;
        rec.error = None;
        rec
    }
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new(lineage: String) -> State {
        State { format_version: FORMAT_VERSION, lineage, serial: 0, pipelines: BTreeMap::new() }
    }
}
