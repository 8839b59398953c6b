//! A sink table's side of a change: the DDL that brings the recorded (or live) table to
//! the desired one, what cannot change in place, and the contract with the live table.

use std::collections::{HashMap, HashSet};

use super::columns::{by_sink_name, widens};
use super::{Action, Desired, LiveColumn, LiveTable, Observed, SinkDdl};
use crate::spec::{Dialect, OnConflict};
use crate::state::{PipelineState, SinkView};
use crate::types::quote_pg_ident;

/// The key of a sink's live table in [`Observed::sinks`]: the pipeline's name for its
/// first sink, `name#schema.table` for the others.
pub fn sink_key(pipeline: &str, sink: &SinkView<'_>) -> String {
    match sink.tag() {
        None => pipeline.to_string(),
        Some(label) => format!("{pipeline}#{label}"),
    }
}

/// The DDL of every Hologres sink of `d`: CREATE TABLE IF NOT EXISTS for a create or
/// replace (also on resume) and for a sink new to the pipeline, then nullable ADD
/// COLUMNs for the columns the recorded (or, when read, the live) table lacks; with the
/// problems that forbid a change, and the live tables' contract mismatches in `errors`.
pub(super) fn sinks_ddl(
    d: &Desired,
    before: Option<&PipelineState>,
    observed: Option<&Observed>,
    action: Action,
    errors: &mut Vec<String>,
) -> (Vec<SinkDdl>, Vec<String>) {
    let (mut all, mut problems) = (Vec::new(), Vec::new());
    for a in d.record.sinks().filter(|s| s.sink.kafka.is_none()) {
        let tag = a.tag();
        // The first sink is the first sink whatever its table; the others are found by it.
        let b = before.and_then(|b| b.sinks().find(|s| s.tag() == tag));
        let (mut ddl, p) = match b {
            Some(b) => sink_changes(b, a),
            None if before.is_some() => (vec![SinkDdl::Create { sql: a.ddl.to_string(), sink: None }], Vec::new()),
            None => (Vec::new(), Vec::new()),
        };
        problems.extend(p.into_iter().map(|p| match &tag {
            None => p,
            Some(label) => format!("sink {label}: {p}"),
        }));
        if let Some(Some(live)) = observed.and_then(|o| o.sinks.get(&sink_key(&d.name, &a))) {
            // The live table decides which columns are missing.
            ddl.retain(|x| !matches!(x, SinkDdl::AddColumn { .. }));
            ddl.extend(missing_columns(a, live));
            errors.extend(
                contract(a, live)
                    .into_iter()
                    .map(|p| format!("pipeline `{}`: contract mismatch{}: {p}", d.name, of_sink(&tag))),
            );
        }
        let create = SinkDdl::Create { sql: a.ddl.to_string(), sink: None };
        if matches!(action, Action::Create | Action::Replace) && !ddl.contains(&create) {
            ddl.insert(0, create);
        }
        all.extend(ddl.into_iter().map(|x| x.for_sink(tag.clone())));
    }
    (all, problems)
}

/// " of schema.table" naming a sink after the first in a message; nothing for the first.
fn of_sink(tag: &Option<String>) -> String {
    tag.as_ref().map_or_else(String::new, |label| format!(" of {label}"))
}

/// The DDL that brings a recorded sink table to the desired one, and what cannot be
/// done in place. Tables are never dropped and types never altered; the properties
/// Hologres fixes at creation, and the primary key, never change in place.
fn sink_changes(before: SinkView<'_>, after: SinkView<'_>) -> (Vec<SinkDdl>, Vec<String>) {
    let (b, a) = (before.sink, after.sink);
    if (b.schema.as_str(), b.table.as_str()) != (a.schema.as_str(), a.table.as_str()) || before.columns.is_empty() {
        return (vec![SinkDdl::Create { sql: after.ddl.to_string(), sink: None }], Vec::new());
    }
    let table = format!("{}.{}", quote_pg_ident(&a.schema), quote_pg_ident(&a.table));
    let mut problems = Vec::new();
    if a.dialect == Dialect::Hologres {
        for (k, new) in &a.fixed {
            let old = b.fixed.get(k).map_or("(unset)", String::as_str);
            if old != new {
                problems.push(format!(
                    "[sink] {k} changes ({old} → {new}), but Hologres fixes it when the table is created: \
                     set it back, or write to a new table ([sink] table) and backfill it"
                ));
            }
        }
    }
    if before.primary_key != after.primary_key {
        problems.push(format!(
            "the primary key of {table} cannot change in place ({} → {}): write to a new table ([sink] table)",
            before.primary_key.join(", "),
            after.primary_key.join(", ")
        ));
    }
    let mut ddl = Vec::new();
    let recorded = by_sink_name(before.columns);
    for c in after.columns {
        match recorded.get(c.sink_name.as_str()) {
            None => ddl.push(add_column(&table, c)),
            Some(o) if o.hologres != c.hologres => {
                // Pinning a wider type back to the old one would lose the values that need it.
                let fix = if widens(&o.ty, &c.ty) {
                    format!(
                        "write it as a new column ([schema] columns.{}.rename = \"{}_v2\": a new nullable column, the old one keeps its rows), \
                         or to a new table ([sink] table) and backfill it; pinning it to {} would lose the values that need {}",
                        c.name, c.sink_name, o.ty, c.ty
                    )
                } else {
                    "pin the column to its old type in [schema], or write to a new table ([sink] table)".to_string()
                };
                problems.push(format!(
                    "column {} of {table} would change type ({} → {}), which the sink cannot do in place: {fix}",
                    quote_pg_ident(&c.sink_name),
                    o.hologres,
                    c.hologres
                ))
            }
            Some(_) => {}
        }
    }
    (ddl, problems)
}

/// Nullable ADD COLUMNs for the columns the job writes that the live table lacks.
fn missing_columns(after: SinkView<'_>, live: &LiveTable) -> Vec<SinkDdl> {
    let table = format!("{}.{}", quote_pg_ident(&after.sink.schema), quote_pg_ident(&after.sink.table));
    let live: HashSet<&str> = live.columns.iter().map(|l| l.name.as_str()).collect();
    after.columns.iter().filter(|c| !live.contains(c.sink_name.as_str())).map(|c| add_column(&table, c)).collect()
}

/// A nullable ADD COLUMN without default: the only column change the sink gets.
fn add_column(table: &str, c: &crate::state::ColumnRecord) -> SinkDdl {
    SinkDdl::AddColumn {
        column: c.sink_name.clone(),
        sql: format!("ALTER TABLE {table} ADD COLUMN {} {};", quote_pg_ident(&c.sink_name), c.hologres),
        sink: None,
    }
}

/// The `udt_name` information_schema reports for a type as flinkform writes it.
fn udt(sql_type: &str) -> String {
    match sql_type.strip_suffix("[]") {
        Some(elem) => format!("_{}", udt(elem)),
        None => sql_type.split('(').next().unwrap_or(sql_type).to_string(),
    }
}

/// Whether a live column of type `live` can take what the job writes as `written`.
fn takes(live: &str, written: &str) -> bool {
    live == written
        || matches!(
            (live, written),
            ("int8", "int4")
                | ("numeric", "int4" | "int8")
                | ("float8", "int4")
                | ("text", "jsonb" | "varchar")
                | ("varchar", "text")
        )
}

/// What the job writes against what the live table is: the contract problems.
fn contract(after: SinkView<'_>, live: &LiveTable) -> Vec<String> {
    let mut problems = Vec::new();
    let live_cols: HashMap<&str, &LiveColumn> = live.columns.iter().map(|l| (l.name.as_str(), l)).collect();
    let written = by_sink_name(after.columns);
    for c in after.columns {
        if let Some(l) = live_cols.get(c.sink_name.as_str()) {
            let written = udt(&c.hologres);
            if !takes(&l.udt, &written) {
                problems.push(format!(
                    "live column {} is {}, but the job writes {} ({}): alter the table back or pin the column's type in [schema]",
                    quote_pg_ident(&l.name),
                    l.udt,
                    c.hologres,
                    c.ty
                ));
            }
        }
    }
    for l in live.columns.iter().filter(|l| l.not_null && !l.has_default) {
        if !written.contains_key(l.name.as_str()) {
            problems.push(format!(
                "live column {} is NOT NULL without a default, and the job does not write it: every insert would fail",
                quote_pg_ident(&l.name)
            ));
        }
    }
    if live.primary_key != after.primary_key {
        problems.push(format!(
            "the live table's primary key is ({}), the spec's is ({}): Hologres upserts by the table's key",
            live.primary_key.join(", "),
            after.primary_key.join(", ")
        ));
    }
    if live.primary_key.is_empty()
        && after.sink.on_conflict != OnConflict::Ignore
        && after.sink.dialect == Dialect::Hologres
    {
        problems.push(format!(
            "on_conflict = {} needs a primary key, and the live table has none",
            after.sink.on_conflict.name()
        ));
    }
    problems
}
