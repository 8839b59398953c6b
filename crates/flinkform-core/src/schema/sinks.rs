//! Each sink's columns and key: a selection of the row's columns (`[[sink]] columns`),
//! keyed by its own primary key or the schema's.

use super::{Column, keys, spec_error, with_near};
use crate::diag::Diagnostic;
use crate::spec::Pipeline;
use crate::spec::{Sink, SinkSpec, TableConnector, Target};
use crate::types::{FlinkType, plain_pg_ident};
use std::collections::{HashMap, HashSet};

/// What one sink is written.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSchema {
    /// Its columns, in the order the sink lists them (the row's order by default); its
    /// key columns are NOT NULL.
    pub columns: Vec<Column>,
    /// Its primary key, as sink names.
    pub primary_key: Vec<String>,
}

/// The columns and key of every sink of `p`, from the row's `columns` and the schema's
/// primary key (sink names).
pub(super) fn sinks(
    p: &Pipeline,
    columns: &[Column],
    primary_key: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<SinkSchema> {
    let by_name: HashMap<&str, &Column> = columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let changelog = p.source.format.is_changelog() || p.transform.dedupe.is_some();
    p.sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| {
            let key = spec_key(p, i);
            let mut cols: Vec<Column> = match &sink.columns {
                None => columns.to_vec(),
                Some(names) => names
                    .iter()
                    .filter_map(|n| match by_name.get(n.as_str()) {
                        Some(c) => Some((*c).clone()),
                        None => {
                            let d = spec_error(p, &format!("{key}.columns"), format!("{} writes `{n}`, which is not a column", sink.label()));
                            diags.push(with_near(d, n, columns));
                            None
                        }
                    })
                    .collect(),
            };
            // An append-only topic has no key (Flink's `kafka` connector refuses one).
            let append = matches!(&sink.target, Target::Kafka(k) if !k.upsert);
            let pk = if append { Vec::new() } else { own_key(p, sink, &key, &by_name, primary_key, diags) };
            for c in &mut cols {
                c.nullable = !pk.contains(&c.sink_name);
            }
            let written: HashSet<&str> = cols.iter().map(|c| c.sink_name.as_str()).collect();
            if let Some(k) = pk.iter().find(|k| !written.contains(k.as_str())) {
                diags.push(spec_error(p, &format!("{key}.columns"), format!("{} leaves out `{k}`, a column of its primary key", sink.label())));
            }
            match &sink.target {
                Target::Kafka(k) if !k.upsert && changelog => diags.push(
                    spec_error(p, &format!("{key}.type"), format!("{} appends every row, but the rows are updated and deleted ({}): an append-only topic cannot take that", sink.label(), if p.transform.dedupe.is_some() { "[transform] dedupe keeps the latest row of each key" } else { p.source.format.name() }))
                        .with_help("write `type = \"upsert-kafka\"`: the topic is keyed by the primary key, with tombstones for deletes"),
                ),
                Target::Kafka(k) if k.upsert && pk.is_empty() => diags.push(
                    spec_error(p, &format!("{key}.type"), format!("{} is an upsert-kafka sink, which is keyed by a primary key, and it has none", sink.label()))
                        .with_help("set `primary_key` on the sink, or [schema] primary_key"),
                ),
                Target::Table(h) if h.connector == TableConnector::Jdbc => check_jdbc(p, h, &key, &cols, diags),
                Target::Table(h) => keys::check_sink_keys(p, h, &key, &cols, &pk, diags),
                Target::Kafka(_) => {}
            }
            SinkSchema { columns: cols, primary_key: pk }
        })
        .collect()
}

/// A sink's primary key as sink names: its own, else the schema's.
fn own_key(
    p: &Pipeline,
    sink: &Sink,
    key: &str,
    by_name: &HashMap<&str, &Column>,
    primary_key: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let Some(names) = &sink.primary_key else { return primary_key.to_vec() };
    names
        .iter()
        .filter_map(|n| match by_name.get(n.as_str()) {
            Some(c)
                if sink.table().is_some_and(|t| t.connector == TableConnector::Hologres)
                    && !c.ty.can_be_primary_key() =>
            {
                diags.push(spec_error(p, &format!("{key}.primary_key"), format!("primary key column `{n}` of {} is {}; Hologres keys cannot be FLOAT, DOUBLE, DECIMAL, ARRAY or JSON", sink.label(), c.ty)));
                None
            }
            Some(c) => Some(c.sink_name.clone()),
            None => {
                diags.push(spec_error(p, &format!("{key}.primary_key"), format!("the primary key of {} names `{n}`, which is not a column", sink.label())));
                None
            }
        })
        .collect()
}

/// What Flink's JDBC connector can write: it puts names into its statements unquoted (the
/// PostgreSQL dialect of flink-connector-jdbc quotes nothing), so every name must read
/// as itself, and it has no converter for writing an ARRAY.
fn check_jdbc(p: &Pipeline, sink: &SinkSpec, key: &str, columns: &[Column], diags: &mut Vec<Diagnostic>) {
    for part in [&sink.schema, &sink.table] {
        if !plain_pg_ident(part) {
            diags.push(spec_error(p, &format!("{key}.table"), format!("the JDBC connector writes table names unquoted, and PostgreSQL does not read `{part}` as itself")).with_help("name a table of lower-case letters, digits and `_` that is not a reserved word"));
        }
    }
    for c in columns {
        if !plain_pg_ident(&c.sink_name) {
            diags.push(spec_error(p, &format!("{key}.type"), format!("column `{}` is written as `{}`, which the JDBC connector writes unquoted and PostgreSQL does not read as itself", c.name, c.sink_name)).with_help(format!("rename it in [schema]: `columns.{} = {{ rename = \"...\" }}` (lower-case letters, digits and `_`, not a reserved word)", crate::spec::toml_key(&c.name))));
        }
        if let FlinkType::Array(_) = c.ty {
            diags.push(
                spec_error(
                    p,
                    &format!("{key}.type"),
                    format!("column `{}` is {}, and the JDBC connector cannot write an ARRAY", c.name, c.ty),
                )
                .with_help(format!(
                    "read it as JSON text: `columns.{} = {{ type = \"STRING\" }}` in [schema]",
                    crate::spec::toml_key(&c.name)
                )),
            );
        }
    }
}

/// Where sink `i`'s keys are in the spec: `sink.N` for a `[[sink]]`, `sink` for `[sink]`.
fn spec_key(p: &Pipeline, i: usize) -> String {
    let array = format!("sink.{}", i + 1);
    let dotted = format!("{array}.");
    let in_array = p.locations.range(dotted.clone()..).next().is_some_and(|(k, _)| k.starts_with(&dotted));
    if in_array { array } else { "sink".to_string() }
}
