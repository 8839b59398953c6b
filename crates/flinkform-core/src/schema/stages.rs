//! What happens to the rows between the source and the sink, resolved against the
//! source's columns: the filter (`[transform] where`), the lookup joins (`[[lookup]]`)
//! and deduplication (`[transform] dedupe`). In the job they run in that order.

use super::{Column, Computed, Evidence, Origin, Physical, spec_error, with_near};
use crate::diag::{Diagnostic, suggest};
use crate::spec::Pipeline;
use crate::types::{FlinkType, quote_ident};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A column of a dimension table as the live table has it.
#[derive(Clone, Debug, PartialEq)]
pub struct DimColumn {
    /// Column name.
    pub name: String,
    /// Its type as SQL (`numeric(12,2)`), for messages.
    pub sql: String,
    /// The Flink type that reads it, if there is one.
    pub ty: Option<FlinkType>,
}

/// A dimension table as the live database has it (read by the IO edge).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dimension {
    /// Columns in table order.
    pub columns: Vec<DimColumn>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
}

/// A resolved lookup join.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// The dimension's table in the Flink job.
    pub table: String,
    /// Its alias in the join.
    pub alias: String,
    /// The dimension table, `schema.table`.
    pub dimension: String,
    /// The columns the job declares for it: the join keys, then the columns brought in.
    pub columns: Vec<(String, FlinkType)>,
    /// The join: an expression over the source row (`s.`) = a dimension column.
    pub on: Vec<(String, String)>,
    /// The columns brought in: dimension column → name in the row.
    pub select: Vec<(String, String)>,
    /// Further connector options.
    pub options: BTreeMap<String, String>,
}

/// The stages of a pipeline between its source and its sink.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stages {
    /// The filter condition over the source row.
    pub filter: Option<String>,
    /// The processing-time column the lookups join as of.
    pub proctime: Option<String>,
    /// Lookup joins, in spec order.
    pub lookups: Vec<Lookup>,
    /// Deduplication: the key expressions and the ordering expression (newest kept).
    pub dedupe: Option<(Vec<String>, String)>,
}

/// The processing-time column a pipeline with lookups gets.
const PROCTIME: &str = "flinkform_proctime";

/// Resolves the lookups: each brings its columns into `columns` (typed as pinned, or as
/// the live table has them) and the source gets a processing-time column.
pub(super) fn lookups(
    p: &Pipeline,
    dims: &[Option<Dimension>],
    computed: &mut Vec<Computed>,
    columns: &mut Vec<Column>,
    total: u64,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Lookup>, Option<String>) {
    if p.lookups.is_empty() {
        return (Vec::new(), None);
    }
    if p.table_sinks().next().is_none() {
        diags.push(spec_error(p, "lookup.1", "a [[lookup]] reads its dimension table with the connection of a table sink (Hologres or JDBC), and this pipeline writes to none".into()));
        return (Vec::new(), None);
    }
    let by_name: HashMap<String, (String, FlinkType)> =
        columns.iter().map(|c| (c.name.clone(), (c.expr.clone(), c.ty.clone()))).collect();
    // The row's column names, and those the lookups bring in as they go.
    let mut taken: HashSet<String> = by_name.keys().cloned().collect();
    let mut out = Vec::new();
    for (i, l) in p.lookups.iter().enumerate() {
        let key = format!("lookup.{}", i + 1);
        let dim = dims.get(i).and_then(Option::as_ref);
        let typed = |col: &str, diags: &mut Vec<Diagnostic>| dim_type(p, l, &key, dim, col, diags);
        let alias = format!("d{}", i + 1);
        let mut lk = Lookup {
            table: format!("{}_dim_{}", p.name, i + 1),
            alias: alias.clone(),
            dimension: l.qualified(),
            columns: Vec::new(),
            on: Vec::new(),
            select: Vec::new(),
            options: l.options.clone(),
        };
        for (src, dcol) in &l.on {
            let Some((expr, sty)) = by_name.get(src) else {
                let d = spec_error(
                    p,
                    &key,
                    format!("`on` in [[lookup]] {} names `{src}`, which is not a column", l.qualified()),
                );
                diags.push(with_near(d, src, columns));
                continue;
            };
            let Some((dty, _)) = typed(dcol, diags) else { continue };
            let left = format!("s.{expr}");
            let left = if *sty == dty { left } else { format!("CAST({left} AS {dty})") };
            lk.on.push((left, dcol.clone()));
            lk.columns.push((dcol.clone(), dty));
        }
        warn_partial_key(p, l, dim, diags);
        for dcol in &l.columns {
            let Some((ty, note)) = typed(dcol, diags) else { continue };
            let name = format!("{}{dcol}", l.prefix);
            if !taken.insert(name.clone()) {
                diags.push(
                    spec_error(
                        p,
                        &key,
                        format!("[[lookup]] {} brings in `{name}`, which is already a column", l.qualified()),
                    )
                    .with_help("give the lookup a `prefix`, e.g. `prefix = \"dim_\"`"),
                );
                continue;
            }
            if !lk.columns.iter().any(|(c, _)| c == dcol) {
                lk.columns.push((dcol.clone(), ty.clone()));
            }
            lk.select.push((dcol.clone(), name.clone()));
            columns.push(Column {
                name: name.clone(),
                sink_name: String::new(),
                expr: quote_ident(&name),
                inferred: None,
                holo: ty.hologres(),
                ty,
                nullable: true,
                origin: Origin::Lookup,
                evidence: Evidence {
                    total,
                    notes: vec![format!("joined from {}.{dcol}: {note}", l.qualified())],
                    ..Evidence::default()
                },
            });
        }
        out.push(lk);
    }
    computed.push(Computed { name: PROCTIME.into(), expr: "PROCTIME()".into() });
    (out, Some(PROCTIME.to_string()))
}

/// The type of dimension column `col`: pinned in the spec, or as the live table has it.
fn dim_type(
    p: &Pipeline,
    l: &crate::spec::LookupSpec,
    key: &str,
    dim: Option<&Dimension>,
    col: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(FlinkType, String)> {
    if let Some(t) = l.types.get(col) {
        return Some((t.clone(), format!("pinned to {t} in [[lookup]]")));
    }
    let Some(d) = dim else {
        diags.push(spec_error(p, key, format!("the type of {}.{col} is unknown: flinkform reads a dimension's types from the live table through [sink] dsn_env, which is not set", l.qualified()))
            .with_help(format!("set [sink] dsn_env, or pin it: `types = {{ {col} = \"STRING\" }}`")));
        return None;
    };
    match d.columns.iter().find(|c| c.name == col) {
        Some(DimColumn { ty: Some(t), sql, .. }) => {
            Some((t.clone(), format!("{sql} in the live table {}", l.qualified())))
        }
        Some(DimColumn { sql, .. }) => {
            diags.push(
                spec_error(p, key, format!("{}.{col} is {sql}, which flinkform has no Flink type for", l.qualified()))
                    .with_help(format!("pin it in `types = {{ {col} = \"...\" }}`, or leave it out")),
            );
            None
        }
        None => {
            let e = spec_error(p, key, format!("{} has no column `{col}`", l.qualified()));
            diags.push(match suggest(col, d.columns.iter().map(|c| c.name.as_str())) {
                Some(near) => e.with_help(format!("did you mean `{near}`?")),
                None => e,
            });
            None
        }
    }
}

/// Warns when a lookup does not join on the dimension's whole primary key: Hologres
/// then scans instead of looking a row up.
fn warn_partial_key(p: &Pipeline, l: &crate::spec::LookupSpec, dim: Option<&Dimension>, diags: &mut Vec<Diagnostic>) {
    if let Some(d) = dim.filter(|d| !d.primary_key.is_empty()) {
        let mut on: Vec<&str> = l.on.iter().map(|(_, c)| c.as_str()).collect();
        let mut pk: Vec<&str> = d.primary_key.iter().map(String::as_str).collect();
        on.sort_unstable();
        pk.sort_unstable();
        if on != pk {
            diags.push(Diagnostic::warning(format!(
                "{}: [[lookup]] {} joins on ({}), not on its whole primary key ({}): every row is a scan of the table, not a point lookup",
                p.file, l.qualified(), on.join(", "), pk.join(", ")
            )));
        }
    }
}

/// Checks the filter's column names against the source table's columns.
pub(super) fn filter(
    p: &Pipeline,
    physical: &[Physical],
    computed: &[Computed],
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    let w = p.transform.filter.as_ref()?;
    let known: HashSet<&str> =
        physical.iter().map(|c| c.key.as_str()).chain(computed.iter().map(|c| c.name.as_str())).collect();
    for name in names_in(w) {
        if !known.contains(name.as_str()) {
            let d = spec_error(
                p,
                "transform.where",
                format!("[transform] where names `{name}`, which is not a column of the source"),
            );
            diags.push(match suggest(&name, known.iter().copied()) {
                Some(near) => d.with_help(format!("did you mean `{near}`?")),
                None => d.with_help("`flinkform schema NAME` lists the source's columns"),
            });
        }
    }
    Some(w.clone())
}

/// Resolves deduplication: its key and order over the row's columns, warning when the
/// order is not a time attribute (Flink then ranks the rows, keeping more state).
pub(super) fn dedupe(
    p: &Pipeline,
    columns: &[Column],
    watermark: Option<&(String, u64)>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Vec<String>, String)> {
    let d = p.transform.dedupe.as_ref()?;
    let by_name: HashMap<&str, &Column> = columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut expr = |name: &str, what: &str| match by_name.get(name) {
        Some(c) => Some(c.expr.clone()),
        None => {
            let d = spec_error(
                p,
                "transform.dedupe",
                format!("`{what}` of [transform] dedupe names `{name}`, which is not a column"),
            );
            diags.push(with_near(d, name, columns));
            None
        }
    };
    let key: Vec<String> = d.key.iter().filter_map(|k| expr(k, "key")).collect();
    let order = expr(&d.order_by, "order_by")?;
    if watermark.is_none_or(|(col, _)| quote_ident(col) != order) {
        diags.push(Diagnostic::warning(format!(
            "{}: [transform] dedupe orders by `{}`, which is not the event time ([schema] event_time): Flink keeps the top row per key as a ranking, with more state than a deduplication",
            p.file, d.order_by
        )));
    }
    (key.len() == d.key.len()).then_some((key, order))
}

/// SQL words a condition may hold that are not column names.
const WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "is",
    "null",
    "true",
    "false",
    "unknown",
    "like",
    "similar",
    "escape",
    "in",
    "between",
    "symmetric",
    "case",
    "when",
    "then",
    "else",
    "end",
    "cast",
    "try_cast",
    "as",
    "interval",
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "year",
    "to",
    "distinct",
    "from",
    "date",
    "time",
    "timestamp",
    "timestamp_ltz",
    "local",
    "zone",
    "with",
    "int",
    "integer",
    "bigint",
    "smallint",
    "tinyint",
    "string",
    "varchar",
    "char",
    "double",
    "float",
    "decimal",
    "boolean",
    "bytes",
    "array",
    "map",
    "row",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "current_row_timestamp",
    "exists",
    "any",
    "all",
    "some",
    "leading",
    "trailing",
    "both",
    "for",
    "using",
];

/// The column names a Flink SQL condition reads: backquoted names, and bare names that
/// are not SQL words, not functions (followed by `(`) and not fields of a ROW (after `.`).
/// String literals are skipped.
pub(super) fn names_in(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    let mut after_dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'`' {
            let mut j = i + 1;
            let mut text = Vec::new();
            while j < b.len() {
                if b[j] == c && b.get(j + 1) == Some(&c) {
                    text.push(c);
                    j += 2;
                } else if b[j] == c {
                    break;
                } else {
                    text.push(b[j]);
                    j += 1;
                }
            }
            if c == b'`' && !after_dot {
                out.push(String::from_utf8_lossy(&text).into_owned());
            }
            i = j + 1;
            after_dot = false;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            let call = expr[i..].trim_start().starts_with('(');
            if !after_dot && !call && !WORDS.contains(&word.to_ascii_lowercase().as_str()) {
                out.push(word.to_string());
            }
            after_dot = false;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            after_dot = false;
        } else {
            after_dot = c == b'.';
            i += 1;
        }
    }
    out
}

#[cfg(test)]
#[test]
fn condition_names_leave_out_words_functions_literals_and_fields() {
    let names = names_in(
        "status <> 'test''s' AND `user`.`id` > 10 AND UPPER(country) IN ('CN') AND amount IS NOT NULL AND 1.5e3 < price",
    );
    assert_eq!(names, ["status", "user", "country", "amount", "price"]);
}
