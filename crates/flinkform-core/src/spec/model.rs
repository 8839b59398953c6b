//! The spec's model: `flinkform.toml`'s settings and each pipeline's, with defaults
//! applied, as the readers (`read`, `sink`, `transform`, `config`) make them.

use crate::diag::Spot;
use crate::types::FlinkType;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::infer::{InferConfig, TsStandard};

use super::{LookupSpec, Sink, TransformSpec};

/// The current version of the flinkform.toml format.
pub const CONFIG_VERSION: u64 = 1;

/// Project-wide settings from `flinkform.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Format version (`version = 1`).
    pub version: u64,
    /// The project's id (`project = "..."`), labelled on every deployment so that two
    /// projects in one namespace never take each other's deployments for their own.
    pub project: Option<String>,
    /// The VVP target.
    pub vvp: VvpTarget,
    /// Where the state lives.
    pub state: StateConfig,
    /// The environment selected (`--env`), if any.
    pub env: Option<String>,
    /// The environments flinkform.toml defines (`[environments.NAME]`), in file order.
    pub environments: Vec<String>,
    /// The chat channels alerts go to (`[[alert]]`; an environment's own replace them).
    pub alerts: Vec<super::AlertChannel>,
}

/// The Ververica Platform workspace and namespace deployments go to.
#[derive(Clone, Debug, PartialEq)]
pub struct VvpTarget {
    /// Alibaba Cloud region id, e.g. `cn-hangzhou`.
    pub region: String,
    /// Explicit API endpoint; defaults to `ververica.<region>.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// `https` (default), or `http` when set explicitly (for the emulator).
    pub protocol: Option<String>,
    /// Workspace id.
    pub workspace: String,
    /// Namespace.
    pub namespace: String,
    /// How long apply waits for each step.
    pub timeouts: VvpTimeouts,
}

/// `[vvp] timeouts = { ... }`: how long apply waits for each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VvpTimeouts {
    /// A draft validation ticket (`plan --validate`).
    pub validate: Duration,
    /// A deploy ticket.
    pub deploy: Duration,
    /// A job from STARTING to RUNNING.
    pub start: Duration,
    /// A job from CANCELLING to stopped.
    pub stop: Duration,
}

/// State backend settings.
#[derive(Clone, Debug, PartialEq)]
pub enum StateConfig {
    /// A JSON file under the project root.
    Local {
        /// Path relative to the project root.
        path: String,
    },
    /// Tables in a PostgreSQL-protocol database (PostgreSQL or Hologres).
    Postgres {
        /// The environment variable holding the connection string.
        dsn_env: String,
        /// Schema of the tables.
        schema: String,
        /// The database is Hologres: lease-row lock, autocommit writes.
        hologres: bool,
        /// Lease duration of the Hologres lock.
        lease_ttl: Duration,
    },
}

/// A reference to a secret: rendered as `${secret_values.NAME}` for VVP, read from the
/// environment variable `env` when flinkform itself needs the value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// The VVP variable name.
    pub name: String,
    /// The environment variable that holds the value for local use, if any.
    pub env: Option<String>,
}

impl SecretRef {
    /// Whether `name` can name a VVP variable: letters, digits, `_` and `-`, at least one.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }
}

/// A VVR engine version: major, minor, patch.
pub(super) type Vvr = (u32, u32, u32);

/// A setting that is either a plain value or a secret reference (e.g. a user name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Credential {
    /// Written in the spec.
    Literal(String),
    /// A secret reference.
    Secret(SecretRef),
}

/// One pipeline, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// Deployment name, unique in the namespace.
    pub name: String,
    /// The spec file, relative to the project root.
    pub file: String,
    /// Refuse destroy and replace.
    pub protect: bool,
    /// Tags, for selecting pipelines (`--select tag:NAME`).
    pub tags: Vec<String>,
    /// The Kafka source.
    pub source: SourceSpec,
    /// Schema overrides and inference knobs.
    pub schema: SchemaSpec,
    /// The sinks, in spec order (never empty): `[sink]`, or each `[[sink]]`.
    pub sinks: Vec<Sink>,
    /// `[transform]`: the filter and deduplication.
    pub transform: TransformSpec,
    /// `[[lookup]]`: dimension tables joined in.
    pub lookups: Vec<LookupSpec>,
    /// How the job runs on VVP.
    pub deployment: DeploymentSpec,
    /// Template overrides: template name → file relative to the project root.
    pub templates: BTreeMap<String, String>,
    /// Where each key read was written (`schema.primary_key` → file:line:column), for
    /// errors found after inference.
    pub locations: BTreeMap<String, Spot>,
    /// Every setting read, as `section.key` → canonical text (secret values never appear:
    /// specs cannot hold them). Recorded in the state to say which key changed.
    pub settings: BTreeMap<String, String>,
}

/// `[source]`: a Kafka topic of JSON messages.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// Topic name.
    pub topic: String,
    /// Brokers as Flink reaches them.
    pub bootstrap_servers: String,
    /// Brokers as `plan` reaches them, when different.
    pub sample_bootstrap_servers: Option<String>,
    /// Consumer group of the Flink job.
    pub group_id: String,
    /// `scan.startup.mode`.
    pub startup_mode: &'static str,
    /// `properties.auto.offset.reset` for `group-offsets` without committed offsets.
    pub offset_reset: &'static str,
    /// SASL/SSL settings, when the cluster needs them.
    pub security: Option<Security>,
    /// What the messages are: JSON rows, or database change events.
    pub format: SourceFormat,
    /// Canal topics that carry several tables: only events of this database.
    pub database: Option<String>,
    /// Canal topics that carry several tables: only events of this table.
    pub table: Option<String>,
    /// How to sample.
    pub sample: SampleSpec,
    /// `[source.options]`: further Kafka connector options, checked against VVR's list.
    pub options: BTreeMap<String, Credential>,
}

impl SourceSpec {
    /// A source given on the command line (`sample --topic T --bootstrap-servers S`).
    pub fn adhoc(topic: String, bootstrap_servers: String, messages: u64, timeout: Duration) -> SourceSpec {
        SourceSpec {
            topic,
            bootstrap_servers,
            sample_bootstrap_servers: None,
            group_id: String::new(),
            startup_mode: "latest-offset",
            offset_reset: "latest",
            security: None,
            format: SourceFormat::Json,
            database: None,
            table: None,
            sample: SampleSpec { file: None, messages, max_bytes: 1 << 20, timeout },
            options: BTreeMap::new(),
        }
    }
}

/// An enum whose values the spec (or Kafka) spells as words: `ALL` pairs each spelling
/// with its value, `name()` gives it back.
macro_rules! spelled {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $text:literal => $variant:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, by its spelling.
            pub const ALL: &'static [(&'static str, $name)] = &[$(($text, $name::$variant)),+];

            /// Its spelling.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

spelled! {
    /// `[source] format`: how the topic's messages are read, by its spec spelling (Flink's
    /// format identifier and its options' prefix).
    #[derive(Default)]
    SourceFormat {
        /// One JSON object per message, a row each (Flink's `json`).
        #[default]
        "json" => Json,
        /// Canal's flat messages of MySQL binlog changes (`canal-json`).
        "canal-json" => Canal,
        /// Debezium's change events (`debezium-json`).
        "debezium-json" => Debezium,
        /// Maxwell's change events (`maxwell-json`).
        "maxwell-json" => Maxwell,
    }
}

impl SourceFormat {
    /// A stream of inserts, updates and deletes rather than of rows.
    pub fn is_changelog(self) -> bool {
        self != SourceFormat::Json
    }
}

/// Kafka security settings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// `sasl.mechanism`, for SASL protocols.
    pub mechanism: Option<SaslMechanism>,
    /// SASL user name.
    pub username: Option<Credential>,
    /// SASL password (always a secret reference).
    pub password: Option<SecretRef>,
}

spelled! {
    /// Kafka's `security.protocol`, but PLAINTEXT (which needs no settings).
    SecurityProtocol {
        /// TLS.
        "SSL" => Ssl,
        /// SASL without TLS.
        "SASL_PLAINTEXT" => SaslPlaintext,
        /// SASL over TLS.
        "SASL_SSL" => SaslSsl,
    }
}

impl SecurityProtocol {
    /// Whether it authenticates with SASL (and so needs a user name and password).
    pub fn sasl(self) -> bool {
        self != SecurityProtocol::Ssl
    }
}

spelled! {
    /// Kafka's `sasl.mechanism`.
    SaslMechanism {
        /// A user name and password in the clear (over TLS, with SASL_SSL).
        "PLAIN" => Plain,
        /// SCRAM with SHA-256.
        "SCRAM-SHA-256" => ScramSha256,
        /// SCRAM with SHA-512.
        "SCRAM-SHA-512" => ScramSha512,
    }
}

/// `[source] sample = { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSpec {
    /// Read samples from this file (relative to the project root) instead of Kafka.
    pub file: Option<String>,
    /// At most this many records.
    pub messages: u64,
    /// Records longer than this many bytes are skipped.
    pub max_bytes: u64,
    /// Give up sampling after this long.
    pub timeout: Duration,
}

/// How a column's value is derived from its JSON field.
#[derive(Clone, Debug, PartialEq)]
pub enum Conversion {
    /// Integer epoch milliseconds → `TO_TIMESTAMP_LTZ(x, 3)`.
    EpochMillis,
    /// Integer epoch seconds → `TO_TIMESTAMP_LTZ(x, 0)`.
    EpochSeconds,
    /// A Flink SQL expression over the source columns.
    Expr(String),
}

/// `[schema] columns.NAME = { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSpec {
    /// Column name as `flinkform schema` shows it (the JSON key, or `parent_child` when flattened).
    pub name: String,
    /// Pinned type.
    pub ty: Option<FlinkType>,
    /// Conversion into a computed column.
    pub from: Option<Conversion>,
    /// Name in the sink table.
    pub rename: Option<String>,
    /// Leave the column out.
    pub exclude: bool,
}

/// `[schema] event_time = { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTime {
    /// The time attribute column.
    pub column: String,
    /// Watermark delay in whole seconds.
    pub delay_secs: u64,
}

/// `[schema]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaSpec {
    /// Primary key columns (sink side).
    pub primary_key: Vec<String>,
    /// Column overrides, in file order.
    pub columns: Vec<ColumnSpec>,
    /// Event time and watermark.
    pub event_time: Option<EventTime>,
    /// Nested objects become `parent_child` columns.
    pub flatten: bool,
    /// Inference knobs.
    pub infer: InferConfig,
    /// Pinned `json.timestamp-format.standard`.
    pub timestamp_standard: Option<TsStandard>,
}

/// What the Hologres sink does with a row whose primary key exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Update the given columns.
    Update,
    /// Replace the whole row.
    Replace,
    /// Keep the existing row.
    Ignore,
}

impl OnConflict {
    /// The spec's spelling.
    pub fn name(self) -> &'static str {
        match self {
            OnConflict::Update => "update",
            OnConflict::Replace => "replace",
            OnConflict::Ignore => "ignore",
        }
    }
}

/// `[sink]`: a table in Hologres (`type = "hologres"`, its own connector) or in
/// PostgreSQL (`type = "jdbc"`, Flink's JDBC connector). The table properties are
/// Hologres's; a JDBC sink has none.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSpec {
    /// The connector that writes the table.
    pub connector: TableConnector,
    /// `host:port` of the database endpoint.
    pub endpoint: String,
    /// Database name.
    pub database: String,
    /// Schema of the table (`public` when not given).
    pub schema: String,
    /// Table name.
    pub table: String,
    /// User name (always set for Hologres; a JDBC sink may have none).
    pub username: Option<Credential>,
    /// Password (a secret reference).
    pub password: Option<SecretRef>,
    /// Conflict handling.
    pub on_conflict: OnConflict,
    /// `orientation` table property.
    pub orientation: String,
    /// `distribution_key` table property.
    pub distribution_key: Vec<String>,
    /// `clustering_key` table property.
    pub clustering_key: Vec<String>,
    /// `event_time_column` table property.
    pub event_time_column: Option<String>,
    /// `time_to_live_in_seconds` table property.
    pub ttl_seconds: Option<u64>,
    /// SQL dialect of the sink database.
    pub dialect: Dialect,
    /// Hologres version (major, minor): 2.1+ creates tables with `WITH (...)`, older
    /// ones with `CALL set_table_property` in the creating transaction.
    pub hologres_version: (u32, u32),
    /// Environment variable with a connection string to run the DDL with, if any.
    pub dsn_env: Option<String>,
    /// `[sink.options]`: further Hologres connector options, checked against VVR's list.
    pub options: BTreeMap<String, Credential>,
}

/// The connector a table sink is written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableConnector {
    /// VVR's Hologres connector.
    Hologres,
    /// Flink's JDBC connector with the PostgreSQL driver.
    Jdbc,
}

impl TableConnector {
    /// The spec's spelling (`[sink] type`).
    pub fn name(self) -> &'static str {
        match self {
            TableConnector::Hologres => "hologres",
            TableConnector::Jdbc => "jdbc",
        }
    }
}

/// The SQL dialect of a sink database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Hologres: table properties, no type changes.
    Hologres,
    /// Plain PostgreSQL (tests, JDBC sinks).
    Postgres,
}

impl Dialect {
    /// The spec's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Hologres => "hologres",
            Dialect::Postgres => "postgres",
        }
    }
}

/// How an update restarts the job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upgrade {
    /// Stop with a savepoint and restart from it: state kept (the default).
    #[default]
    Stateful,
    /// Restart without state: the source starts again from its startup mode.
    Stateless,
}

impl Upgrade {
    /// The spec's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Upgrade::Stateful => "stateful",
            Upgrade::Stateless => "stateless",
        }
    }
}

/// `[deployment]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentSpec {
    /// VVR engine version, e.g. `vvr-8.0.11-flink-1.17`.
    pub engine_version: String,
    /// VVR version as (major, minor, patch): picks connector option names.
    pub vvr: (u32, u32, u32),
    /// Job parallelism.
    pub parallelism: u64,
    /// Restart behaviour on update.
    pub upgrade: Upgrade,
    /// Resource queue (deployment target).
    pub resource_queue: String,
    /// Job manager resources.
    pub jobmanager: Option<Resources>,
    /// Task manager resources.
    pub taskmanager: Option<Resources>,
    /// Flink configuration, sorted by key.
    pub flink_conf: BTreeMap<String, String>,
    /// After a start, how long the job must stay RUNNING for apply to count it done.
    pub verify: Option<Duration>,
    /// What an update whose new job fails does.
    pub on_failure: OnFailure,
}

/// What an update does when its new job fails to start or to stay RUNNING.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Leave it failed: the next plan shows a repair.
    #[default]
    Fail,
    /// Deploy the previous revision again and restore the state from before the update.
    Rollback,
}

impl OnFailure {
    /// As the spec spells it.
    pub fn name(self) -> &'static str {
        match self {
            OnFailure::Fail => "fail",
            OnFailure::Rollback => "rollback",
        }
    }

    /// Whether this is the default (the state file leaves it out then).
    pub fn is_fail(&self) -> bool {
        *self == OnFailure::Fail
    }
}

/// `{ cpu = 1, memory = "4Gi" }` of a job or task manager.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    /// Cores.
    pub cpu: f64,
    /// Memory, e.g. `4Gi`.
    pub memory: String,
}

impl Pipeline {
    /// The table sinks (Hologres or JDBC).
    pub fn table_sinks(&self) -> impl Iterator<Item = &SinkSpec> {
        self.sinks.iter().filter_map(Sink::table)
    }
}

/// The project: config plus every pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    /// flinkform.toml.
    pub config: Config,
    /// Pipelines sorted by name.
    pub pipelines: Vec<Pipeline>,
}

/// Template names a pipeline may override in `[template]`.
pub const TEMPLATE_NAMES: &[&str] = &["source", "lookup", "sink", "view", "insert", "ddl", "deployment"];
