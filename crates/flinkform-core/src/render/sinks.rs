//! Each sink's part of the template context: its Flink table (columns, key, connector
//! options as the engine spells them), its insert, and for a table its DDL.

use std::collections::BTreeMap;

use serde_json::json;

use super::{option_value, options};
use crate::infer::TsStandard;
use crate::schema::{Column, SinkSchema};
use crate::spec::{KafkaSinkSpec, OnConflict, Pipeline, SinkSpec, TableConnector, Target};
use crate::types::{FlinkType, quote_pg_ident};

/// The name of sink `i` in the script: `NAME_sink`, then `NAME_sink_2`...
pub(super) fn table_name(p: &Pipeline, i: usize) -> String {
    match i {
        0 => format!("{}_sink", p.name),
        _ => format!("{}_sink_{}", p.name, i + 1),
    }
}

/// The `sink`, `insert` and (for a table) `ddl` variables of sink `i`.
pub(super) fn context(
    p: &Pipeline,
    i: usize,
    s: &SinkSchema,
    standard: TsStandard,
    from: &str,
    insert_where: &Option<String>,
) -> serde_json::Value {
    let target = &p.sinks[i].target;
    let opts = match target {
        Target::Table(t) if t.connector == TableConnector::Jdbc => options(jdbc_options(t)),
        Target::Table(h) => options(hologres_options(h, p.deployment.vvr)),
        Target::Kafka(k) => options(kafka_options(k, standard)),
    };
    let jdbc = matches!(target, Target::Table(t) if t.connector == TableConnector::Jdbc);
    // Each column's type in the Flink sink table, and the expression that writes it.
    let written: Vec<(FlinkType, String)> = s
        .columns
        .iter()
        .map(|c| match jdbc_type(&c.ty).filter(|_| jdbc) {
            Some(t) => {
                let expr = format!("CAST({} AS {t})", c.expr);
                (t, expr)
            }
            None => (c.ty.clone(), c.expr.clone()),
        })
        .collect();
    let mut v = json!({
        "sink": {
            "table": table_name(p, i),
            "columns": s.columns.iter().zip(&written).map(|(c, (t, _))| json!({ "name": c.sink_name, "type": t.to_string(), "not_null": !c.nullable })).collect::<Vec<_>>(),
            "primary_key": s.primary_key,
            "options": opts,
        },
        "insert": {
            "select": s.columns.iter().zip(&written).map(|(c, (_, e))| json!({ "expr": e, "name": c.sink_name })).collect::<Vec<_>>(),
            "from": from,
            "where": insert_where,
        },
    });
    if let Target::Table(h) = target {
        let props: Vec<serde_json::Value> =
            table_properties(h, &s.columns).into_iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        v["ddl"] = json!({
            "dialect": h.dialect.name(),
            "with_form": h.hologres_version >= (2, 1),
            "schema": h.schema,
            "table": h.table,
            "columns": s.columns.iter().map(|c| json!({ "name": c.sink_name, "type": c.holo.sql, "not_null": !c.nullable })).collect::<Vec<_>>(),
            "primary_key": s.primary_key,
            "properties": props,
        });
    }
    v
}

/// The type Flink's JDBC connector writes in place of `ty`, where it cannot write `ty`
/// itself: its PostgreSQL dialect has no TIMESTAMP_LTZ ("Unsupported type") and takes
/// TIMESTAMP precisions 1 to 6 only. A TIMESTAMP_LTZ is written as the local time of
/// the session's time zone, which the connector binds in the JVM's (by default the same)
/// zone, so a `timestamptz` column receives the same instant.
fn jdbc_type(ty: &FlinkType) -> Option<FlinkType> {
    let t = match ty {
        FlinkType::TimestampLtz(p) | FlinkType::Timestamp(p) => FlinkType::Timestamp((*p).clamp(1, 6)),
        _ => return None,
    };
    (t != *ty).then_some(t)
}

/// The connection options of `table` (`schema.table`) in the database of table sink
/// `t`, through its connector: a sink's own table, or a lookup's dimension table. A JDBC
/// table gets PostgreSQL's URL, with `stringtype=unspecified` so that PostgreSQL types
/// the STRING values the connector binds (JSON text goes into `jsonb` columns).
pub(super) fn connection(t: &SinkSpec, table: &str) -> BTreeMap<&'static str, serde_json::Value> {
    let mut o = BTreeMap::new();
    match t.connector {
        TableConnector::Hologres => {
            o.insert("connector", json!("hologres"));
            o.insert("endpoint", json!(t.endpoint));
            o.insert("dbname", json!(t.database));
            o.insert("tablename", json!(table));
        }
        TableConnector::Jdbc => {
            o.insert("connector", json!("jdbc"));
            o.insert("url", json!(format!("jdbc:postgresql://{}/{}?stringtype=unspecified", t.endpoint, t.database)));
            o.insert("table-name", json!(table));
        }
    }
    credentials(&mut o, t);
    o
}

/// A table's `username` and `password` options, where it has them: the same keys in the
/// Hologres and JDBC connectors.
fn credentials(o: &mut BTreeMap<&str, serde_json::Value>, t: &SinkSpec) {
    if let Some(user) = &t.username {
        o.insert("username", option_value(user));
    }
    if let Some(pw) = &t.password {
        o.insert("password", json!({ "secret": pw.name }));
    }
}

/// A JDBC sink's connector options: the connection, then the spec's own.
fn jdbc_options(t: &SinkSpec) -> BTreeMap<&str, serde_json::Value> {
    let mut o = connection(t, &format!("{}.{}", t.schema, t.table));
    o.extend(t.options.iter().map(|(k, v)| (k.as_str(), option_value(v))));
    o
}

/// A Kafka sink's connector options: JSON values (decimals as plain numbers, so they
/// keep their digits), keyed by the primary key for `upsert-kafka`.
fn kafka_options(k: &KafkaSinkSpec, standard: TsStandard) -> BTreeMap<String, serde_json::Value> {
    let mut o = BTreeMap::new();
    o.insert("topic".to_string(), json!(k.topic));
    o.insert("properties.bootstrap.servers".to_string(), json!(k.bootstrap_servers));
    let formats: &[&str] = if k.upsert {
        o.insert("connector".to_string(), json!("upsert-kafka"));
        o.insert("key.format".to_string(), json!("json"));
        o.insert("value.format".to_string(), json!("json"));
        &["key.json", "value.json"]
    } else {
        o.insert("connector".to_string(), json!("kafka"));
        o.insert("format".to_string(), json!("json"));
        &["json"]
    };
    for f in formats {
        o.insert(format!("{f}.timestamp-format.standard"), json!(standard.as_str()));
        o.insert(format!("{f}.encode.decimal-as-plain-number"), json!("true"));
    }
    o
}

/// Hologres table properties that are fixed once the table exists.
pub const FIXED_PROPERTIES: &[&str] = &["orientation", "distribution_key", "clustering_key", "event_time_column"];

/// The Hologres table properties of a sink, sorted, with column names as
/// Hologres spells them (double-quoted sink names).
pub fn table_properties(sink: &SinkSpec, columns: &[Column]) -> BTreeMap<&'static str, String> {
    if sink.connector == TableConnector::Jdbc {
        return BTreeMap::new();
    }
    let names = |cols: &[String], suffix: &str| {
        cols.iter()
            .map(|c| {
                let n = columns.iter().find(|x| &x.name == c).map_or(c.as_str(), |x| x.sink_name.as_str());
                format!("{}{suffix}", quote_pg_ident(n))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut m = BTreeMap::new();
    m.insert("orientation", sink.orientation.clone());
    if !sink.distribution_key.is_empty() {
        m.insert("distribution_key", names(&sink.distribution_key, ""));
    }
    if !sink.clustering_key.is_empty() {
        m.insert("clustering_key", names(&sink.clustering_key, ":asc"));
    }
    if let Some(e) = &sink.event_time_column {
        m.insert("event_time_column", names(std::slice::from_ref(e), ""));
    }
    if let Some(t) = sink.ttl_seconds {
        m.insert("time_to_live_in_seconds", t.to_string());
    }
    m
}

/// The Hologres sink table's connector options, as the engine version spells them.
fn hologres_options(sink: &SinkSpec, vvr: (u32, u32, u32)) -> BTreeMap<&str, serde_json::Value> {
    let mut ko = connection(sink, &format!("{}.{}", sink.schema, sink.table));
    if vvr.0 >= 11 {
        let action = match sink.on_conflict {
            OnConflict::Update => "INSERT_OR_UPDATE",
            OnConflict::Replace => "INSERT_OR_REPLACE",
            OnConflict::Ignore => "INSERT_OR_IGNORE",
        };
        ko.insert("sink.on-conflict-action", json!(action));
    } else {
        let mutate = match sink.on_conflict {
            OnConflict::Update => "insertorupdate",
            OnConflict::Replace => "insertorreplace",
            OnConflict::Ignore => "insertorignore",
        };
        ko.insert("mutatetype", json!(mutate));
        if vvr >= (8, 0, 6) {
            // TIMESTAMP_LTZ ↔ timestamptz without the legacy time-zone shift (VVR 8.0.6+;
            // VVR 11 dropped the option and always converts correctly).
            ko.insert("type-mapping.timestamp-converting.legacy", json!("false"));
        }
    }
    ko.extend(sink.options.iter().map(|(k, v)| (k.as_str(), option_value(v))));
    ko
}
