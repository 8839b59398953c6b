//! Connector options a spec passes through (`[source.options]`, `[sink.options]`): the
//! settings a production job needs beyond flinkform's own (consumer properties, startup
//! offsets, connection pools, batching, write modes). Each is checked against the
//! options VVR documents for the connector on the pipeline's engine, with the nearest
//! known one for a typo; options flinkform sets itself are refused with the spec key
//! that sets them; a literal secret is refused as everywhere else.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::model::Vvr;
use super::settings::key;
use super::walk::{Found, Section, scalar_text};
use super::{Credential, SecretRef, Settings};
use crate::diag::suggest;

/// The connector whose options are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connector {
    /// VVR's Kafka connector with the JSON format.
    Kafka,
    /// VVR's Hologres connector, as a sink.
    Hologres,
    /// Flink's JDBC connector (VVR ships Apache Flink's), as a sink.
    Jdbc,
}

/// Options flinkform renders itself, and the spec key that sets each.
const KAFKA_OWNED: &[(&str, &str)] = &[
    ("connector", "the source is always `kafka`"),
    ("canal-json.database.include", "[source] database"),
    ("canal-json.table.include", "[source] table"),
    ("canal-json.timestamp-format.standard", "[schema] timestamp_standard"),
    ("debezium-json.timestamp-format.standard", "[schema] timestamp_standard"),
    ("format", "[source] format"),
    ("json.timestamp-format.standard", "[schema] timestamp_standard"),
    ("maxwell-json.timestamp-format.standard", "[schema] timestamp_standard"),
    ("properties.auto.offset.reset", "[source] offset_reset"),
    ("properties.bootstrap.servers", "[source] bootstrap_servers"),
    ("properties.group.id", "[source] group_id"),
    ("properties.sasl.jaas.config", "[source] username and password"),
    ("properties.sasl.mechanism", "[source] sasl_mechanism"),
    ("properties.security.protocol", "[source] security_protocol"),
    ("scan.startup.mode", "[source] startup_mode"),
    ("topic", "[source] topic"),
];

/// An option a spec may set, and the first engine that has it.
type Known = (&'static str, Vvr);

const ANY: Vvr = (0, 0, 0);

/// The Kafka source options VVR documents that a spec may set ("Kafka connector",
/// WITH parameters; `properties.*` are Kafka consumer settings, passed on).
const KAFKA_KNOWN: &[Known] = &[
    ("canal-json.ignore-parse-errors", ANY),
    ("debezium-json.ignore-parse-errors", ANY),
    ("debezium-json.schema-include", ANY),
    ("json.fail-on-missing-field", ANY),
    ("json.ignore-parse-errors", ANY),
    ("maxwell-json.ignore-parse-errors", ANY),
    ("scan.check.duplicated.group.id", ANY),
    ("scan.header-filter", (8, 0, 6)),
    ("scan.startup.specific-offsets", ANY),
    ("scan.startup.timestamp-millis", ANY),
    ("scan.topic-partition-discovery.interval", ANY),
];

const HOLOGRES_OWNED: &[(&str, &str)] = &[
    ("connector", "the sink is always `hologres`"),
    ("dbname", "[sink] database"),
    ("endpoint", "[sink] endpoint"),
    ("mutatetype", "[sink] on_conflict"),
    ("password", "[sink] password"),
    ("sink.on-conflict-action", "[sink] on_conflict"),
    ("tablename", "[sink] table"),
    ("type-mapping.timestamp-converting.legacy", "the engine version (flinkform turns the legacy shift off)"),
    ("username", "[sink] username"),
];

/// The Hologres sink options of VVR 8 ("Hologres connector options (VVR 8 or earlier)",
/// with its table of the minor version that introduced each).
const HOLOGRES_VVR8: &[Known] = &[
    ("aggressive.enabled", (8, 0, 11)),
    ("bulkload", (8, 0, 5)),
    ("check-and-put.column", (8, 0, 11)),
    ("check-and-put.null-as", (8, 0, 11)),
    ("check-and-put.operator", (8, 0, 11)),
    ("connection.ssl.mode", (8, 0, 5)),
    ("connection.ssl.root-cert.location", (8, 0, 5)),
    ("connectionPoolName", ANY),
    ("connectionSize", ANY),
    ("createparttable", ANY),
    ("deduplication.enabled", (8, 0, 5)),
    ("ignoreNullWhenUpdate", ANY),
    ("ignoredelete", ANY),
    ("jdbcConnectionMaxIdleMs", ANY),
    ("jdbcEnableDefaultForNotNullColumn", ANY),
    ("jdbcMetaAutoRefreshFactor", ANY),
    ("jdbcMetaCacheTTL", ANY),
    ("jdbcRetryCount", ANY),
    ("jdbcRetrySleepInitMs", ANY),
    ("jdbcRetrySleepStepMs", ANY),
    ("jdbcWriteBatchByteSize", ANY),
    ("jdbcWriteBatchSize", ANY),
    ("jdbcWriteFlushInterval", ANY),
    ("partial-insert.enabled", ANY),
    ("partitionrouter", ANY),
    ("property-version", (8, 0, 6)),
    ("remove-u0000-in-text.enabled", ANY),
    ("sdkMode", ANY),
    ("sink.delete-strategy", (8, 0, 8)),
];

/// The Hologres sink options of VVR 11 ("Hologres connector options (VVR 11+)").
const HOLOGRES_VVR11: &[Known] = &[
    ("connection.fixed.enabled", ANY),
    ("connection.max-idle-ms", ANY),
    ("connection.pool.name", ANY),
    ("connection.pool.size", ANY),
    ("connection.ssl.mode", ANY),
    ("connection.ssl.root-cert.location", ANY),
    ("meta-cache-ttl-ms", ANY),
    ("retry-count", ANY),
    ("retry-sleep-step-ms", ANY),
    ("serverless-computing.enabled", ANY),
    ("sink.aggressive-flush.enabled", ANY),
    ("sink.copy.format", ANY),
    ("sink.create-missing-partition", ANY),
    ("sink.deduplication.enabled", ANY),
    ("sink.default-for-not-null-column.enabled", ANY),
    ("sink.delete-strategy", ANY),
    ("sink.ignore-null-when-update-by-expr.enabled", ANY),
    ("sink.ignore-null-when-update.enabled", ANY),
    ("sink.insert.batch-byte-size", ANY),
    ("sink.insert.batch-size", ANY),
    ("sink.insert.check-and-put.column", ANY),
    ("sink.insert.check-and-put.null-as", ANY),
    ("sink.insert.check-and-put.operator", ANY),
    ("sink.insert.conflict-update-set", ANY),
    ("sink.insert.conflict-where", ANY),
    ("sink.insert.flush-interval-ms", ANY),
    ("sink.partial-insert.enabled", ANY),
    ("sink.remove-u0000-in-text.enabled", ANY),
    ("sink.write-mode", ANY),
];

/// VVR 11's new names for VVR 8's sink options (its "Renamed parameters" table). VVR 11
/// still takes the old names ("VVR 11 remains backward compatible with VVR 8").
const HOLOGRES_RENAMED: &[(&str, &str)] = &[
    ("aggressive.enabled", "sink.aggressive-flush.enabled"),
    ("check-and-put.column", "sink.insert.check-and-put.column"),
    ("check-and-put.null-as", "sink.insert.check-and-put.null-as"),
    ("check-and-put.operator", "sink.insert.check-and-put.operator"),
    ("connectionPoolName", "connection.pool.name"),
    ("connectionSize", "connection.pool.size"),
    ("createparttable", "sink.create-missing-partition"),
    ("deduplication.enabled", "sink.deduplication.enabled"),
    ("ignoreNullWhenUpdate", "sink.ignore-null-when-update.enabled"),
    ("jdbcConnectionMaxIdleMs", "connection.max-idle-ms"),
    ("jdbcEnableDefaultForNotNullColumn", "sink.default-for-not-null-column.enabled"),
    ("jdbcMetaCacheTTL", "meta-cache-ttl-ms"),
    ("jdbcRetryCount", "retry-count"),
    ("jdbcRetrySleepStepMs", "retry-sleep-step-ms"),
    ("jdbcWriteBatchByteSize", "sink.insert.batch-byte-size"),
    ("jdbcWriteBatchSize", "sink.insert.batch-size"),
    ("jdbcWriteFlushInterval", "sink.insert.flush-interval-ms"),
    ("partial-insert.enabled", "sink.partial-insert.enabled"),
    ("remove-u0000-in-text.enabled", "sink.remove-u0000-in-text.enabled"),
    ("sdkMode", "sink.write-mode"),
];

const JDBC_OWNED: &[(&str, &str)] = &[
    ("connector", "`type = \"jdbc\"`"),
    ("password", "[sink] password"),
    ("table-name", "[sink] table"),
    ("url", "[sink] endpoint and database"),
    ("username", "[sink] username"),
];

/// The JDBC sink options VVR documents ("JDBC connector", WITH parameters: the general
/// ones and those of a sink table), on every engine that has the connector (VVR 6.0.1+).
const JDBC_KNOWN: &[Known] = &[
    ("connection.max-retry-timeout", ANY),
    ("sink.buffer-flush.interval", ANY),
    ("sink.buffer-flush.max-rows", ANY),
    ("sink.max-retries", ANY),
    ("sink.parallelism", ANY),
];

/// What a connector takes on an engine: the options flinkform owns, and those a spec may set.
fn table(c: Connector, vvr: Option<Vvr>) -> (&'static [(&'static str, &'static str)], Vec<Known>) {
    match c {
        Connector::Kafka => (KAFKA_OWNED, KAFKA_KNOWN.to_vec()),
        Connector::Hologres => {
            let known = match vvr {
                Some(v) if v.0 >= 11 => HOLOGRES_VVR11.to_vec(),
                Some(_) => HOLOGRES_VVR8.to_vec(),
                // No engine could be read (its own error says so): any VVR's options.
                None => HOLOGRES_VVR8.iter().chain(HOLOGRES_VVR11).copied().collect(),
            };
            (HOLOGRES_OWNED, known)
        }
        Connector::Jdbc => (JDBC_OWNED, JDBC_KNOWN.to_vec()),
    }
}

/// Reads `section.options` for `connector` on engine `vvr`, reporting every option that
/// is unknown, owned by a spec key, not a scalar, or a literal secret.
pub(super) fn read(s: &Section<'_, '_>, connector: Connector, vvr: Option<Vvr>) -> BTreeMap<String, Credential> {
    let (owned, known) = table(connector, vvr);
    let name = match connector {
        Connector::Kafka => "Kafka",
        Connector::Hologres => "Hologres",
        Connector::Jdbc => "JDBC",
    };
    let engine = vvr.map_or(String::new(), |v| format!(" on VVR {}.{}.{}", v.0, v.1, v.2));
    let mut out = BTreeMap::new();
    for (key, found) in s.flat_options("options") {
        let passed_on =
            connector == Connector::Kafka && key.strip_prefix("properties.").is_some_and(|rest| !rest.is_empty());
        if let Some((_, by)) = owned.iter().find(|(k, _)| *k == key) {
            s.report(found.error(format!("option `{key}` is set by flinkform: {by}")));
            continue;
        }
        let renamed = HOLOGRES_RENAMED.iter().find(|(old, _)| connector == Connector::Hologres && *old == key);
        if let (Some((old, new)), Some(v)) = (renamed, vvr.filter(|v| v.0 >= 11)) {
            let d = found.warning(format!("option `{old}` is VVR 8's name; VVR {} documents `{new}`", v.0));
            s.report(d.with_help(format!("write `\"{new}\"` (VVR 11 still takes the old name)")));
            if let Some(v) = value(s, &key, &found) {
                out.insert(key, v);
            }
            continue;
        }
        match known.iter().find(|(k, _)| *k == key) {
            None if !passed_on => {
                let mut d = found.error(format!("unknown option `{key}` for the {name} connector{engine}"));
                d = match suggest(&key, known.iter().map(|(k, _)| *k)) {
                    Some(near) => d.with_help(format!("did you mean `{near}`?")),
                    None => d.with_help(format!(
                        "options flinkform passes on here: {}",
                        known.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                    )),
                };
                s.report(d);
                continue;
            }
            Some((_, since)) if vvr.is_some_and(|v| v < *since) => {
                s.report(found.error(format!(
                    "option `{key}` of the {name} connector needs VVR {}.{}.{} or later{engine}",
                    since.0, since.1, since.2
                )));
                continue;
            }
            _ => {}
        }
        if let Some(v) = value(s, &key, &found) {
            if let Credential::Literal(path) = &v
                && key.ends_with(".location")
                && !path.starts_with("/flink/usrlib/")
            {
                let d = found.warning(format!("option `{key}` names `{path}`, outside /flink/usrlib/"));
                s.report(d.with_help(
                    "VVR keeps the files uploaded as additional dependencies under /flink/usrlib/: \
                     write '/flink/usrlib/FILE'",
                ));
            }
            out.insert(key, v);
        }
    }
    out
}

/// One option's value: a scalar as text, or `{ secret = "NAME" }`.
fn value(s: &Section<'_, '_>, key: &str, f: &Found<'_>) -> Option<Credential> {
    let text = match (scalar_text(f.value.get_ref()), f.value.get_ref()) {
        (Some(text), _) => text,
        (None, DeValue::Table(t)) => {
            let valid = t.get("secret").and_then(|v| v.get_ref().as_str()).filter(|n| SecretRef::valid_name(n));
            return match (valid, t.len()) {
                (Some(n), 1) => Some(Credential::Secret(SecretRef { name: n.to_string(), env: None })),
                _ => {
                    s.report(f.error(format!(
                        "option `{key}` must be `{{ secret = \"NAME\" }}` (a VVP variable: letters, digits, `_`, `-`)"
                    )));
                    None
                }
            };
        }
        (None, _) => {
            s.report(f.error(format!("option `{key}` must be a string, number, boolean or `{{ secret = \"NAME\" }}`")));
            return None;
        }
    };
    if crate::diag::looks_like_credential(key, &text) && !text.contains("${secret_values.") {
        s.report(f.secret_error(format!("option `{key}` holds a literal secret")).with_help(format!(
            "write `\"{key}\" = {{ secret = \"NAME\" }}` and create the variable NAME in the VVP namespace"
        )));
        return None;
    }
    Some(Credential::Literal(text))
}

/// Records each option as `section.options.KEY` (`options.KEY` with no section).
pub(super) fn note(settings: &Settings, section: &str, options: &BTreeMap<String, Credential>) {
    let dot = if section.is_empty() { "" } else { "." };
    for (k, v) in options {
        settings.set(format!("{section}{dot}options.{}", key(k)), v);
    }
}

/// `startup_mode = "timestamp"` and `"specific-offsets"` need the option that says where,
/// and those options mean nothing with another mode.
pub(super) fn check_startup(s: &Section<'_, '_>, mode: &str, options: &BTreeMap<String, Credential>) {
    for (m, option) in
        [("timestamp", "scan.startup.timestamp-millis"), ("specific-offsets", "scan.startup.specific-offsets")]
    {
        if mode == m && !options.contains_key(option) {
            if let Some(f) = s.get("startup_mode") {
                s.report(f.error(format!("startup_mode \"{m}\" needs `{option}` in [source.options]")));
            }
        } else if mode != m && options.contains_key(option) {
            s.report(
                s.error_here(format!("`{option}` in [source.options] takes effect only with startup_mode = \"{m}\"")),
            );
        }
    }
}
