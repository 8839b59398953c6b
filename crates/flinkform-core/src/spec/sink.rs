//! A pipeline's sinks: `[sink]`, or each `[[sink]]` of a pipeline that writes to
//! several tables (or topics) in one job. Hologres sinks take `[defaults.sink]`
//! underneath; a JDBC or Kafka sink is its own table of keys (the defaults name a
//! Hologres instance).

use super::model::Vvr;
use super::options::{self, Connector};
use super::settings::sink_prefix;
use super::walk::Section;
use super::{Credential, Dialect, OnConflict, SecretRef, Settings, SinkSpec, TableConnector};
use std::collections::BTreeMap;

/// One sink of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Sink {
    /// Where the rows go.
    pub target: Target,
    /// The columns written, as `flinkform schema` names them; every column when `None`.
    pub columns: Option<Vec<String>>,
    /// This sink's own primary key; `[schema] primary_key` when `None`.
    pub primary_key: Option<Vec<String>>,
}

/// Where a sink writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A table in Hologres or PostgreSQL.
    Table(Box<SinkSpec>),
    /// A Kafka topic.
    Kafka(KafkaSinkSpec),
}

/// `type = "kafka"` or `type = "upsert-kafka"`: a Kafka topic of JSON messages.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSinkSpec {
    /// Topic name.
    pub topic: String,
    /// Brokers as Flink reaches them.
    pub bootstrap_servers: String,
    /// `upsert-kafka`: keyed by the primary key, updates and deletes as upserts and
    /// tombstones; otherwise every row is appended (`kafka`, inserts only).
    pub upsert: bool,
}

impl Sink {
    /// The sink's table, if it writes one.
    pub fn table(&self) -> Option<&SinkSpec> {
        match &self.target {
            Target::Table(h) => Some(h.as_ref()),
            Target::Kafka(_) => None,
        }
    }

    /// What the sink writes to, for messages and for finding it again in the state:
    /// `schema.table`, or `kafka:topic`.
    pub fn label(&self) -> String {
        match &self.target {
            Target::Table(h) => format!("{}.{}", h.schema, h.table),
            Target::Kafka(k) => format!("kafka:{}", k.topic),
        }
    }
}

/// Reads `[sink]`, or every `[[sink]]` of `top`. A Hologres sink reads `[defaults.sink]`
/// under its own keys; a JDBC or Kafka sink only its own.
pub(super) fn read_sinks(
    top: &Section<'_, '_>,
    defaults: &Section<'_, '_>,
    vvr: Option<Vvr>,
    settings: &Settings,
) -> Option<Vec<Sink>> {
    let under = || defaults.section("sink").into_layers();
    let alone = |s: &Section<'_, '_>| matches!(s.peek_str("type"), Some("jdbc" | "kafka" | "upsert-kafka"));
    if !top.is_array("sink") {
        let own = top.section("sink");
        let s = if alone(&own) { own } else { own.stacked(under()) };
        let own = Settings::default();
        let sink = read_sink(&s, vvr, &own)?;
        settings.extend_under("sink", own);
        return Some(vec![sink]);
    }
    let mut out = Vec::new();
    let mut ok = true;
    for elem in top.tables("sink") {
        let s = if alone(&elem) { elem } else { elem.stacked(under()) };
        let own = Settings::default();
        match read_sink(&s, vvr, &own) {
            Some(sink) => {
                // The first sink is the pipeline's own; the others are found again by
                // what they write to, wherever they move in the file.
                let prefix = if out.is_empty() { "sink".to_string() } else { sink_prefix(&sink.label()) };
                settings.extend_under(&prefix, own);
                out.push(sink);
            }
            None => ok = false,
        }
    }
    let mut seen = std::collections::HashSet::new();
    for s in &out {
        if !seen.insert(s.label()) {
            top.report(top.error_here(format!(
                "two [[sink]] write to {}: give each sink a table (or topic) of its own",
                s.label()
            )));
            ok = false;
        }
    }
    (ok && !out.is_empty()).then_some(out)
}

/// One sink: its `type`, the column selection and key, then the target's own keys.
fn read_sink(s: &Section<'_, '_>, vvr: Option<Vvr>, settings: &Settings) -> Option<Sink> {
    let kind = s.choice("type", &["hologres", "jdbc", "kafka", "upsert-kafka"]).unwrap_or("hologres");
    let columns = s.string_list("columns");
    let primary_key = s.string_list("primary_key");
    settings.set("columns", &columns);
    settings.set("primary_key", &primary_key);
    let target = match kind {
        "hologres" => read_hologres(s, vvr, settings).map(|h| Target::Table(Box::new(h))),
        "jdbc" => read_jdbc(s, vvr, settings).map(|t| Target::Table(Box::new(t))),
        _ => {
            let topic = s.required_string("topic");
            let bootstrap_servers = s.required_string("bootstrap_servers");
            topic.zip(bootstrap_servers).map(|(topic, bootstrap_servers)| {
                settings.set("type", kind);
                settings.set("topic", &topic);
                settings.set("bootstrap_servers", &bootstrap_servers);
                Target::Kafka(KafkaSinkSpec { topic, bootstrap_servers, upsert: kind == "upsert-kafka" })
            })
        }
    };
    s.finish();
    Some(Sink { target: target?, columns, primary_key })
}

/// The keys every table sink has: where the table is and who writes it.
struct Place {
    endpoint: String,
    database: String,
    schema: String,
    table: String,
    username: Option<Credential>,
    password: Option<SecretRef>,
    dsn_env: Option<String>,
}

impl Place {
    /// The sink at this place: a PostgreSQL table that upserts, with no Hologres
    /// table properties (a Hologres sink sets its own over these).
    fn spec(self, connector: TableConnector, options: BTreeMap<String, Credential>) -> SinkSpec {
        SinkSpec {
            connector,
            endpoint: self.endpoint,
            database: self.database,
            schema: self.schema,
            table: self.table,
            username: self.username,
            password: self.password,
            on_conflict: OnConflict::Update,
            orientation: String::new(),
            distribution_key: Vec::new(),
            clustering_key: Vec::new(),
            event_time_column: None,
            ttl_seconds: None,
            dialect: Dialect::Postgres,
            hologres_version: (0, 0),
            dsn_env: self.dsn_env,
            options,
        }
    }
}

/// Reads where a table sink is and who writes it. VVR 8 and 11 both mark the Hologres
/// connector's `username` and `password` required; Flink's JDBC connector takes both
/// or neither ("Either all or none of the following options should be provided").
fn read_place(s: &Section<'_, '_>, connector: TableConnector) -> Option<Place> {
    let endpoint = s.required_string("endpoint");
    let database = s.required_string("database");
    let table = s.required_string("table");
    let username = s.credential("username");
    let password = s.secret("password");
    let (user, pass) = (s.has("username"), s.has("password"));
    match connector {
        TableConnector::Hologres => {
            if !user {
                s.report(
                    s.error_here("missing `username` in [sink]").with_help("write `username = { secret = \"holo_user\" }`"),
                );
            }
            if !pass {
                s.report(
                    s.error_here("missing `password` in [sink]: the Hologres connector requires it")
                        .with_help("write `password = { secret = \"holo_password\" }` (a VVP variable)"),
                );
            }
        }
        TableConnector::Jdbc if user != pass => s.report(
            s.error_here(format!("missing `{}` in [sink]: the JDBC connector takes `username` and `password` both or neither", if user { "password" } else { "username" }))
                .with_help("write `username = { secret = \"db_user\" }` and `password = { secret = \"db_password\" }` (VVP variables)"),
        ),
        TableConnector::Jdbc => {}
    }
    // A username that is there but invalid has been reported.
    let username_read = username.is_some() || (!user && connector == TableConnector::Jdbc);
    let dsn_env = s.string("dsn_env");
    let table = table?;
    let (schema, table) = match table.split_once('.') {
        Some((sc, t)) => (sc.to_string(), t.to_string()),
        None => ("public".to_string(), table),
    };
    if schema.is_empty() || table.is_empty() || table.contains('.') {
        if let Some(f) = s.get("table") {
            s.report(
                f.error("`table` must be `schema.table` or `table`, each part non-empty")
                    .with_help("quote nothing: write `table = \"public.orders\"`"),
            );
        }
        return None;
    }
    let place = Place { endpoint: endpoint?, database: database?, schema, table, username, password, dsn_env };
    username_read.then_some(place)
}

/// Records the keys of a table sink shared by every connector.
fn note_place(settings: &Settings, spec: &SinkSpec) {
    settings.set("endpoint", &spec.endpoint);
    settings.set("database", &spec.database);
    settings.set("table", format!("{}.{}", spec.schema, spec.table));
    settings.set("username", &spec.username);
    settings.set("password", &spec.password);
    settings.set("dsn_env", &spec.dsn_env);
    options::note(settings, "", &spec.options);
}

/// A Hologres sink's keys.
fn read_hologres(s: &Section<'_, '_>, vvr: Option<Vvr>, settings: &Settings) -> Option<SinkSpec> {
    let place = read_place(s, TableConnector::Hologres);
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
    let options = options::read(s, Connector::Hologres, vvr);
    let spec = SinkSpec {
        on_conflict,
        orientation,
        distribution_key,
        clustering_key,
        event_time_column,
        ttl_seconds,
        dialect,
        hologres_version,
        ..place?.spec(TableConnector::Hologres, options)
    };
    note_place(settings, &spec);
    settings.set("dialect", spec.dialect.name());
    if spec.dialect == Dialect::Hologres {
        settings.set("hologres_version", format!("{}.{}", spec.hologres_version.0, spec.hologres_version.1));
    }
    settings.set("on_conflict", spec.on_conflict);
    settings.set("orientation", &spec.orientation);
    settings.set("distribution_key", &spec.distribution_key);
    settings.set("clustering_key", &spec.clustering_key);
    settings.set("event_time_column", &spec.event_time_column);
    settings.set("ttl_seconds", spec.ttl_seconds);
    Some(spec)
}

/// A JDBC sink's keys: a PostgreSQL table written by Flink's JDBC connector, which
/// upserts by the primary key (`INSERT ... ON CONFLICT DO UPDATE`) or appends without one.
fn read_jdbc(s: &Section<'_, '_>, vvr: Option<Vvr>, settings: &Settings) -> Option<SinkSpec> {
    let place = read_place(s, TableConnector::Jdbc);
    let options = options::read(s, Connector::Jdbc, vvr);
    let spec = place?.spec(TableConnector::Jdbc, options);
    settings.set("type", TableConnector::Jdbc.name());
    note_place(settings, &spec);
    Some(spec)
}
