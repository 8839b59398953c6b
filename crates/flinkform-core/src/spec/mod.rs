//! Specs: `flinkform.toml` (target, state backend, defaults) and one
//! `pipelines/<name>.toml` per pipeline, read into typed values. Pure: takes file
//! names and texts, returns the model and every diagnostic. Knows nothing of
//! sampling, SQL or state.

mod walk;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Location, Source};
use crate::infer::{InferConfig, TsStandard};
use crate::types::FlinkType;
use walk::{Ctx, Layer, Section};

/// The current version of the flinkform.toml format.
pub const CONFIG_VERSION: u64 = 1;

/// Project-wide settings from `flinkform.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Format version (`version = 1`).
    pub version: u64,
    /// The VVP target.
    pub vvp: VvpTarget,
    /// Where the state lives.
    pub state: StateConfig,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The VVP variable name.
    pub name: String,
    /// The environment variable that holds the value for local use, if any.
    pub env: Option<String>,
}

/// A setting that is either a plain value or a secret reference (e.g. a user name).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The Kafka source.
    pub source: SourceSpec,
    /// Schema overrides and inference knobs.
    pub schema: SchemaSpec,
    /// The Hologres sink.
    pub sink: SinkSpec,
    /// How the job runs on VVP.
    pub deployment: DeploymentSpec,
    /// Template overrides: template name → file relative to the project root.
    pub templates: BTreeMap<String, String>,
    /// Where each key read was written (`schema.primary_key` → file:line:column), for
    /// errors found after inference.
    pub locations: BTreeMap<String, Location>,
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
    /// How to sample.
    pub sample: SampleSpec,
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
            sample: SampleSpec { file: None, messages, max_bytes: 1 << 20, timeout },
        }
    }
}

/// Kafka security settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: &'static str,
    /// `sasl.mechanism`, for SASL protocols.
    pub mechanism: Option<&'static str>,
    /// SASL user name.
    pub username: Option<Credential>,
    /// SASL password (always a secret reference).
    pub password: Option<SecretRef>,
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

/// `[sink]`: a Hologres table.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSpec {
    /// `host:port` of the Hologres endpoint.
    pub endpoint: String,
    /// Database name.
    pub database: String,
    /// Schema of the table (`public` when not given).
    pub schema: String,
    /// Table name.
    pub table: String,
    /// User name.
    pub username: Credential,
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
}

/// `{ cpu = 1, memory = "4Gi" }` of a job or task manager.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    /// Cores.
    pub cpu: f64,
    /// Memory, e.g. `4Gi`.
    pub memory: String,
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
pub const TEMPLATE_NAMES: &[&str] = &["source", "sink", "insert", "ddl", "deployment"];

/// Reads the project from `flinkform.toml` and the pipeline files. Returns the project
/// when there is no error, and every diagnostic (errors and warnings) in any case.
pub fn load(config: &Source, pipelines: &[Source]) -> (Option<Project>, Vec<Diagnostic>) {
    let ctx = Ctx::default();
    let config_table = walk::parse(config, &ctx);
    let parsed: Vec<_> = pipelines.iter().map(|p| (p, walk::parse(p, &ctx))).collect();

    let mut project = None;
    if let Some(ct) = &config_table {
        let root = Section::new("flinkform.toml", vec![Layer::new(config, ct.get_ref(), 0..0)], &ctx);
        let cfg = read_config(&root);
        let defaults = root.section("defaults");
        let mut out = Vec::new();
        for (src, table) in &parsed {
            let Some(t) = table else { continue };
            let top = Section::new(src.name.to_string(), vec![Layer::new(src, t.get_ref(), 0..0)], &ctx);
            if let Some(p) = read_pipeline(&top, &defaults, src) {
                out.push(p);
            }
            top.finish();
        }
        check_unique_names(&out, &ctx.diags);
        defaults.finish_defaults();
        root.finish();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        project = cfg.map(|config| Project { config, pipelines: out });
    }
    let mut diags = ctx.diags.into_inner();
    // A bad key in [defaults] is found once per pipeline that reads it: report it once.
    let mut seen = Vec::new();
    diags.retain(|d| {
        if seen.contains(d) {
            false
        } else {
            seen.push(d.clone());
            true
        }
    });
    let ok = !diags.iter().any(Diagnostic::is_error);
    (if ok { project } else { None }, diags)
}

fn read_config(root: &Section<'_, '_>) -> Option<Config> {
    let version = root.uint("version");
    match version {
        None if !root.has("version") => root.report(
            root.error_here("missing `version` in flinkform.toml")
                .with_help(format!("add `version = {CONFIG_VERSION}` at the top")),
        ),
        Some(v) if v != CONFIG_VERSION => root.report(root.get("version").unwrap().error(format!(
            "flinkform.toml version {v} is not supported by this flinkform (it reads version {CONFIG_VERSION})"
        ))),
        _ => {}
    }
    let vvp = root.section("vvp");
    let target = VvpTarget {
        region: vvp.required_string("region").unwrap_or_default(),
        endpoint: vvp.string("endpoint"),
        protocol: vvp.choice("protocol", &["https", "http"]).map(str::to_string),
        workspace: vvp.required_string("workspace").unwrap_or_default(),
        namespace: vvp.required_string("namespace").unwrap_or_default(),
        timeouts: {
            let t = vvp.section("timeouts");
            let secs = |k: &'static str, d: u64| t.duration(k).unwrap_or(Duration::from_secs(d));
            let v = VvpTimeouts {
                validate: secs("validate", 60),
                deploy: secs("deploy", 300),
                start: secs("start", 300),
                stop: secs("stop", 300),
            };
            t.finish();
            v
        },
    };
    vvp.finish();
    let st = root.section("state");
    let state = match st.choice("backend", &["local", "postgres"]).unwrap_or("local") {
        "postgres" => {
            if st.has("path") {
                st.report(
                    st.get("path")?.error("`path` is for the local backend; the postgres backend takes `dsn_env`"),
                );
            }
            StateConfig::Postgres {
                dsn_env: st.string("dsn_env").unwrap_or_else(|| "FLINKFORM_STATE_DSN".into()),
                schema: st.string("schema").unwrap_or_else(|| "flinkform".into()),
                hologres: st.choice("flavor", &["postgres", "hologres"]) == Some("hologres"),
                lease_ttl: st.duration("lease_ttl").unwrap_or(Duration::from_secs(30)),
            }
        }
        _ => StateConfig::Local { path: st.string("path").unwrap_or_else(|| ".flinkform/state.json".into()) },
    };
    st.finish();
    Some(Config { version: version.unwrap_or(CONFIG_VERSION), vvp: target, state })
}

impl Section<'_, '_> {
    /// `[defaults]` holds the same sections as a pipeline (bar `[pipeline]`); its keys
    /// are checked by each pipeline's walk, so only its section names are checked here.
    fn finish_defaults(&self) {
        for s in ["source", "schema", "sink", "deployment", "template"] {
            self.section(s);
        }
        self.finish();
    }

    /// A secret reference: `{ secret = "name", env = "VAR" }`. A plain string is an
    /// error that says how to reference the secret instead.
    fn secret(&self, key: &'static str) -> Option<SecretRef> {
        let f = self.get(key)?;
        if f.value.get_ref().as_str().is_some() {
            self.report(
                f.secret_error(format!("`{key}` in {} is a literal secret; secrets must be references", self.path()))
                    .with_help(format!(
                        "write `{key} = {{ secret = \"NAME\" }}` and create the variable NAME in the VVP namespace \
                         (add `env = \"VAR\"` to read it from an environment variable locally)"
                    )),
            );
            return None;
        }
        self.secret_table(key)
    }

    fn secret_table(&self, key: &'static str) -> Option<SecretRef> {
        let t = self.section(key);
        let name = t.required_string("secret");
        let env = t.string("env");
        t.finish();
        let name = name?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.is_empty() {
            self.report(
                self.get(key)?.error(format!("secret name `{name}` may only hold letters, digits, `_` and `-`")),
            );
            return None;
        }
        Some(SecretRef { name, env })
    }

    /// A plain string or a secret reference.
    fn credential(&self, key: &'static str) -> Option<Credential> {
        let f = self.get(key)?;
        match f.value.get_ref().as_str() {
            Some(s) => Some(Credential::Literal(s.to_string())),
            None => self.secret_table(key).map(Credential::Secret),
        }
    }
}

fn read_pipeline(top: &Section<'_, '_>, defaults: &Section<'_, '_>, src: &Source) -> Option<Pipeline> {
    top.ctx().take_locations();
    let settings = RefCell::new(BTreeMap::new());
    let layered = |name: &'static str| {
        let mine = top.section(name);
        let d = defaults.section(name);
        let mut layers = mine.into_layers();
        layers.extend(d.into_layers());
        Section::new(format!("[{name}]"), layers, top.ctx())
    };
    let p = top.section("pipeline");
    let name = p.required_string("name");
    let protect = p.bool("protect").unwrap_or(false);
    p.finish();
    if let Some(n) = &name {
        let valid = !n.is_empty()
            && n.len() <= 64
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && n.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid {
            top.report(top.section("pipeline").get("name")?.error(format!(
                "pipeline name `{n}` must start with a letter and hold only letters, digits, `_` and `-` (at most 64)"
            )));
        }
    }

    let source = read_source(&layered("source"), name.as_deref().unwrap_or_default(), &settings);
    let schema = read_schema(&layered("schema"), &settings);
    let sink = read_sink(&layered("sink"), &settings);
    let deployment = read_deployment(&layered("deployment"), &settings);
    let tpl = layered("template");
    let mut templates = BTreeMap::new();
    for t in TEMPLATE_NAMES {
        if let Some(path) = tpl.string(t) {
            templates.insert(t.to_string(), path);
        }
    }
    tpl.finish();
    let locations = top.ctx().take_locations();
    let mut settings = settings.into_inner();
    for (k, v) in &templates {
        settings.insert(format!("template.{k}"), v.clone());
    }
    Some(Pipeline {
        name: name?,
        file: src.name.to_string(),
        protect,
        source: source?,
        schema: schema?,
        sink: sink?,
        deployment: deployment?,
        templates,
        locations,
        settings,
    })
}

type Settings = RefCell<BTreeMap<String, String>>;

fn note(settings: &Settings, key: &str, value: impl std::fmt::Debug) {
    settings.borrow_mut().insert(key.to_string(), format!("{value:?}"));
}

fn read_source(s: &Section<'_, '_>, name: &str, settings: &Settings) -> Option<SourceSpec> {
    let topic = s.required_string("topic");
    let bootstrap_servers = s.required_string("bootstrap_servers");
    let sample_bootstrap_servers = s.string("sample_bootstrap_servers");
    let group_id = s.string("group_id").unwrap_or_else(|| format!("flinkform_{name}"));
    let startup_mode =
        s.choice("startup_mode", &["group-offsets", "earliest-offset", "latest-offset"]).unwrap_or("group-offsets");
    let offset_reset = s.choice("offset_reset", &["earliest", "latest"]).unwrap_or("earliest");
    let protocol = s.choice("security_protocol", &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]);
    let mechanism = s.choice("sasl_mechanism", &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    let username = s.credential("username");
    let password = s.secret("password");
    let security = protocol.filter(|p| *p != "PLAINTEXT").map(|protocol| Security {
        protocol,
        mechanism: mechanism.or(protocol.starts_with("SASL").then_some("PLAIN")),
        username: username.clone(),
        password: password.clone(),
    });
    if let Some(sec) = &security
        && sec.protocol.starts_with("SASL")
        && (sec.username.is_none() || sec.password.is_none())
    {
        s.report(
            s.error_here(format!("security_protocol {} needs `username` and `password` in [source]", sec.protocol)),
        );
    }
    let sm = s.section("sample");
    let sample = SampleSpec {
        file: sm.string("file"),
        messages: sm.uint("messages").unwrap_or(1000),
        max_bytes: sm.uint("max_bytes").unwrap_or(1 << 20),
        timeout: sm.duration("timeout").unwrap_or(Duration::from_secs(10)),
    };
    if sample.messages == 0 {
        sm.report(sm.get("messages")?.error("`messages` must be at least 1"));
    }
    sm.finish();
    s.finish();
    let spec = SourceSpec {
        topic: topic?,
        bootstrap_servers: bootstrap_servers?,
        sample_bootstrap_servers,
        group_id,
        startup_mode,
        offset_reset,
        security,
        sample,
    };
    for (k, v) in [
        ("source.topic", &spec.topic),
        ("source.bootstrap_servers", &spec.bootstrap_servers),
        ("source.group_id", &spec.group_id),
    ] {
        note(settings, k, v);
    }
    note(settings, "source.startup_mode", spec.startup_mode);
    note(settings, "source.offset_reset", spec.offset_reset);
    note(settings, "source.security", &spec.security);
    Some(spec)
}

fn read_schema(s: &Section<'_, '_>, settings: &Settings) -> Option<SchemaSpec> {
    let primary_key = s.string_list("primary_key").unwrap_or_default();
    let flatten = s.bool("flatten").unwrap_or(false);
    let d = InferConfig::default();
    let max_depth = s.uint("max_depth").map_or(d.max_depth, |v| v as usize);
    let map_max_keys = s.uint("map_max_keys").map_or(d.map_max_keys, |v| v as usize);
    let map_min_presence = s.number("map_min_presence").unwrap_or(d.map_min_presence);
    let timestamp_standard = s.choice("timestamp_standard", &["SQL", "ISO-8601"]).map(|v| match v {
        "SQL" => TsStandard::Sql,
        _ => TsStandard::Iso,
    });
    let mut columns = Vec::new();
    let mut ok = true;
    for (name, c) in s.entries("columns") {
        let ty = c.get("type").and_then(|f| match f.value.get_ref().as_str().map(FlinkType::parse) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                c.report(f.error(format!("invalid type for column `{name}`: {e}")));
                ok = false;
                None
            }
            None => {
                c.report(f.error(format!("`type` of column `{name}` must be a string such as \"BIGINT\"")));
                ok = false;
                None
            }
        });
        let from = match (c.choice("from", &["epoch_millis", "epoch_seconds"]), c.string("expr")) {
            (Some(_), Some(_)) => {
                c.report(c.error_here(format!("column `{name}`: give either `from` or `expr`, not both")));
                None
            }
            (Some("epoch_millis"), None) => Some(Conversion::EpochMillis),
            (Some(_), None) => Some(Conversion::EpochSeconds),
            (None, Some(e)) => Some(Conversion::Expr(e)),
            (None, None) => None,
        };
        if from.is_some() && ty.is_none() {
            c.report(
                c.error_here(format!("column `{name}`: a converted column needs `type` (e.g. \"TIMESTAMP_LTZ(3)\")")),
            );
        }
        let spec = ColumnSpec {
            name: name.clone(),
            ty,
            from,
            rename: c.string("rename"),
            exclude: c.bool("exclude").unwrap_or(false),
        };
        c.finish();
        note(
            settings,
            &format!("schema.columns.{name}"),
            (&spec.ty.as_ref().map(ToString::to_string), &spec.from, &spec.rename, spec.exclude),
        );
        columns.push(spec);
    }
    let et = s.section("event_time");
    let event_time = if s.has("event_time") {
        let column = et.required_string("column");
        let delay = et.duration("watermark_delay").unwrap_or(Duration::ZERO);
        if delay.subsec_nanos() != 0 {
            et.report(et.get("watermark_delay")?.error("`watermark_delay` must be whole seconds"));
        }
        column.map(|column| EventTime { column, delay_secs: delay.as_secs() })
    } else {
        None
    };
    et.finish();
    s.finish();
    let spec = SchemaSpec {
        primary_key,
        columns,
        event_time,
        flatten,
        infer: InferConfig { max_depth, map_max_keys, map_min_presence },
        timestamp_standard,
    };
    note(settings, "schema.primary_key", &spec.primary_key);
    note(settings, "schema.event_time", &spec.event_time);
    note(settings, "schema.flatten", spec.flatten);
    note(settings, "schema.infer", &spec.infer);
    note(settings, "schema.timestamp_standard", spec.timestamp_standard);
    ok.then_some(spec)
}

fn read_sink(s: &Section<'_, '_>, settings: &Settings) -> Option<SinkSpec> {
    let endpoint = s.required_string("endpoint");
    let database = s.required_string("database");
    let table = s.required_string("table");
    let username = s.credential("username");
    if !s.has("username") {
        s.report(
            s.error_here("missing `username` in [sink]").with_help("write `username = { secret = \"holo_user\" }`"),
        );
    }
    let password = s.secret("password");
    let on_conflict = match s
        .choice("on_conflict", &["update", "replace", "ignore", "insertorupdate", "insertorreplace", "insertorignore"])
    {
        Some("replace" | "insertorreplace") => OnConflict::Replace,
        Some("ignore" | "insertorignore") => OnConflict::Ignore,
        _ => OnConflict::Update,
    };
    let orientation = s.choice("orientation", &["column", "row", "row,column"]).unwrap_or("column").to_string();
    let distribution_key = s.string_list("distribution_key").unwrap_or_default();
    let clustering_key = s.string_list("clustering_key").unwrap_or_default();
    let event_time_column = s.string("event_time_column");
    let ttl_seconds = s.uint("ttl_seconds");
    let dialect = match s.choice("dialect", &["hologres", "postgres"]) {
        Some("postgres") => Dialect::Postgres,
        _ => Dialect::Hologres,
    };
    let hologres_version = match s.get("hologres_version") {
        None => (2, 1),
        Some(f) => {
            let parsed = f.value.get_ref().as_str().and_then(|v| {
                let mut it = v.split('.').map(str::parse::<u32>);
                Some((it.next()?.ok()?, it.next().unwrap_or(Ok(0)).ok()?))
            });
            parsed.unwrap_or_else(|| {
                s.report(f.error("`hologres_version` must be a version such as \"2.1\" or \"1.3\""));
                (2, 1)
            })
        }
    };
    let dsn_env = s.string("dsn_env");
    s.finish();
    let table = table?;
    let (schema, table) = match table.split_once('.') {
        Some((sc, t)) => (sc.to_string(), t.to_string()),
        None => ("public".to_string(), table),
    };
    let spec = SinkSpec {
        endpoint: endpoint?,
        database: database?,
        schema,
        table,
        username: username?,
        password,
        on_conflict,
        orientation,
        distribution_key,
        clustering_key,
        event_time_column,
        ttl_seconds,
        dialect,
        hologres_version,
        dsn_env,
    };
    note(settings, "sink.endpoint", &spec.endpoint);
    note(settings, "sink.dialect", (spec.dialect, spec.hologres_version));
    note(settings, "sink.database", &spec.database);
    note(settings, "sink.table", (&spec.schema, &spec.table));
    note(settings, "sink.username", &spec.username);
    note(settings, "sink.password", &spec.password);
    note(settings, "sink.on_conflict", spec.on_conflict);
    note(
        settings,
        "sink.properties",
        (&spec.orientation, &spec.distribution_key, &spec.clustering_key, &spec.event_time_column, spec.ttl_seconds),
    );
    Some(spec)
}

fn read_deployment(s: &Section<'_, '_>, settings: &Settings) -> Option<DeploymentSpec> {
    let engine_version = s.required_string("engine_version");
    let parallelism = s.uint("parallelism").unwrap_or(1);
    if parallelism == 0 {
        s.report(s.get("parallelism")?.error("`parallelism` must be at least 1"));
    }
    let upgrade = match s.choice("upgrade", &["stateful", "stateless"]) {
        Some("stateless") => Upgrade::Stateless,
        _ => Upgrade::Stateful,
    };
    let resource_queue = s.string("resource_queue").unwrap_or_else(|| "default-queue".into());
    let resources = |key: &'static str| {
        let r = s.section(key);
        let out = if s.has(key) {
            let cpu = r.number("cpu");
            let memory = r.string("memory");
            if cpu.is_none() || memory.is_none() {
                r.report(r.error_here(format!("`{key}` needs both `cpu` (cores) and `memory` (e.g. \"4Gi\")")));
            }
            cpu.zip(memory).map(|(cpu, memory)| Resources { cpu, memory })
        } else {
            None
        };
        r.finish();
        out
    };
    let jobmanager = resources("jobmanager");
    let taskmanager = resources("taskmanager");
    let flink_conf: BTreeMap<String, String> = s.string_map("flink_conf").unwrap_or_default().into_iter().collect();
    for k in flink_conf.keys() {
        let lower = k.to_ascii_lowercase();
        if (lower.contains("password") || lower.contains("secret")) && !flink_conf[k].contains("${secret_values.") {
            s.report(
                s.get("flink_conf")?
                    .secret_error(format!("flink_conf `{k}` holds a literal secret"))
                    .with_help("use `${secret_values.NAME}` and create the variable NAME in the VVP namespace"),
            );
        }
    }
    let vvr = engine_version.as_deref().and_then(|v| {
        let version = parse_vvr(v);
        if version.is_none() {
            s.report(s.get("engine_version")?.error(format!("engine_version `{v}` is not a VVR version")).with_help(
                "write it as VVP lists it, e.g. \"vvr-8.0.11-flink-1.17\" or \"vvr-11.1-jdk11-flink-1.20\"",
            ));
        }
        version
    });
    s.finish();
    let spec = DeploymentSpec {
        engine_version: engine_version?,
        vvr: vvr?,
        parallelism,
        upgrade,
        resource_queue,
        jobmanager,
        taskmanager,
        flink_conf,
    };
    note(settings, "deployment.engine_version", &spec.engine_version);
    note(settings, "deployment.parallelism", spec.parallelism);
    note(settings, "deployment.upgrade", spec.upgrade);
    note(settings, "deployment.resource_queue", &spec.resource_queue);
    note(settings, "deployment.jobmanager", &spec.jobmanager);
    note(settings, "deployment.taskmanager", &spec.taskmanager);
    for (k, v) in &spec.flink_conf {
        note(settings, &format!("deployment.flink_conf.{k}"), v);
    }
    Some(spec)
}

/// `vvr-8.0.11-flink-1.17` → (8, 0, 11); `vvr-11.1-jdk11-flink-1.20` → (11, 1, 0).
fn parse_vvr(v: &str) -> Option<(u32, u32, u32)> {
    let nums = v.strip_prefix("vvr-")?.split('-').next()?;
    let mut it = nums.split('.').map(str::parse::<u32>);
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

fn check_unique_names(pipelines: &[Pipeline], diags: &RefCell<Vec<Diagnostic>>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for p in pipelines {
        if let Some(first) = seen.insert(&p.name, &p.file) {
            diags.borrow_mut().push(
                Diagnostic::error(format!("pipeline name `{}` is used by both {first} and {}", p.name, p.file))
                    .with_help("pipeline names are VVP deployment names and must be unique"),
            );
        }
    }
}

/// A stable hex digest of text (specs, samples, templates, SQL).
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;
