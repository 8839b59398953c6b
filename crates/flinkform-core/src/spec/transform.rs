//! `[transform]` (a filter and deduplication) and `[[lookup]]` (dimension tables joined
//! in): what happens to the rows between the source and the sink.

use super::settings::key;
use super::walk::Section;
use super::{Settings, TableConnector};
use crate::types::{FlinkType, plain_pg_ident};
use std::collections::BTreeMap;

/// `[transform]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransformSpec {
    /// `where`: a Flink SQL condition over the source columns; rows that fail it are
    /// dropped before anything else happens to them.
    pub filter: Option<String>,
    /// `dedupe`: keep only the latest row of each key.
    pub dedupe: Option<Dedupe>,
}

/// `[transform] dedupe = { key = [...], order_by = "..." }`: Flink's deduplication
/// (ROW_NUMBER over the key, newest first, keeping the first).
#[derive(Clone, Debug, PartialEq)]
pub struct Dedupe {
    /// The columns that identify a row.
    pub key: Vec<String>,
    /// The column that orders a key's rows: the latest is kept. Flink recognises the
    /// pattern as deduplication when it is a time attribute (the event time).
    pub order_by: String,
}

/// `[[lookup]]`: a dimension table joined on key columns, as of each row's processing
/// time. It is read with the first table sink's connector, endpoint, database and
/// credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupSpec {
    /// Schema of the dimension table (`public` when not given).
    pub schema: String,
    /// Table name.
    pub table: String,
    /// The join: source column → dimension column, in file order.
    pub on: Vec<(String, String)>,
    /// The dimension's columns brought into the row.
    pub columns: Vec<String>,
    /// Prefix of the joined columns' names in the row (`user_` makes `name` `user_name`).
    pub prefix: String,
    /// Types pinned in the spec, by dimension column; the others are read from the live table.
    pub types: BTreeMap<String, FlinkType>,
    /// Further options of the dimension table (its cache), checked against VVR's list.
    pub options: BTreeMap<String, String>,
}

impl LookupSpec {
    /// The dimension table as `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// The Hologres dimension-table options VVR documents beyond the connection ("Hologres
/// connector", dimension table WITH parameters: the cache and asynchronous lookups).
const LOOKUP_OPTIONS: &[&str] = &["async", "cache", "cacheEmpty", "cacheSize", "cacheTTLMs"];

/// The JDBC dimension-table options VVR documents ("JDBC connector", WITH parameters of
/// a dimension table: the cache and retries).
const JDBC_LOOKUP_OPTIONS: &[&str] =
    &["lookup.cache.caching-missing-key", "lookup.cache.max-rows", "lookup.cache.ttl", "lookup.max-retries"];

pub(super) fn read_transform(s: &Section<'_, '_>, settings: &Settings) -> TransformSpec {
    let filter = s.string("where");
    if let (Some(w), Some(f)) = (&filter, s.get("where"))
        && w.trim().is_empty()
    {
        s.report(f.error("`where` in [transform] is empty"));
    }
    let d = s.section("dedupe");
    let dedupe = match (d.string_list("key").filter(|k| !k.is_empty()), d.string("order_by")) {
        (Some(key), Some(order_by)) => Some(Dedupe { key, order_by }),
        (None, None) if !s.has("dedupe") => None,
        (key, _) => {
            let missing = if key.is_none() { "key" } else { "order_by" };
            d.report(d.error_here(format!("`dedupe` in [transform] needs `{missing}`")).with_help(
                "write `dedupe = { key = [\"id\"], order_by = \"updated_at\" }`: the latest row of each key is kept",
            ));
            None
        }
    };
    d.finish();
    s.finish();
    let spec = TransformSpec { filter, dedupe };
    settings.set("transform.where", &spec.filter);
    if let Some(d) = &spec.dedupe {
        settings.set("transform.dedupe.key", &d.key);
        settings.set("transform.dedupe.order_by", &d.order_by);
    }
    spec
}

/// Reads every `[[lookup]]`, its options checked against what `connector` documents.
pub(super) fn read_lookups(top: &Section<'_, '_>, connector: TableConnector, settings: &Settings) -> Vec<LookupSpec> {
    let (known_options, name): (&[&str], &str) = match connector {
        TableConnector::Hologres => (LOOKUP_OPTIONS, "VVR's Hologres connector"),
        TableConnector::Jdbc => (JDBC_LOOKUP_OPTIONS, "Flink's JDBC connector"),
    };
    let mut out = Vec::new();
    for s in top.tables("lookup") {
        let table = s.required_string("table");
        let on = s.string_map("on").unwrap_or_default();
        if on.is_empty() {
            s.report(
                s.error_here(format!(
                    "{} joins on nothing: `on` names the source columns and the dimension's",
                    s.path()
                ))
                .with_help("write `on = { user_id = \"id\" }`: the source column, then the dimension's"),
            );
        }
        let columns = s.string_list("columns").unwrap_or_default();
        if columns.is_empty() {
            s.report(
                s.error_here(format!("{} brings in no column: list them in `columns`", s.path()))
                    .with_help("write `columns = [\"name\", \"tier\"]`"),
            );
        }
        let prefix = s.string("prefix").unwrap_or_default();
        let mut types = BTreeMap::new();
        for (col, text) in s.string_map("types").unwrap_or_default() {
            match FlinkType::parse(&text) {
                Ok(t) => {
                    types.insert(col, t);
                }
                Err(e) => s.report(s.get("types").expect("read above").error(format!("invalid type for `{col}`: {e}"))),
            }
        }
        let options: BTreeMap<String, String> = s.string_map("options").unwrap_or_default().into_iter().collect();
        // The Hologres connector reads its option names without regard to case (its docs
        // spell them both ways: `cacheSize`, `cachesize`); Flink's options are exact.
        let known = |k: &str| match connector {
            TableConnector::Hologres => known_options.iter().any(|o| o.eq_ignore_ascii_case(k)),
            TableConnector::Jdbc => known_options.contains(&k),
        };
        for k in options.keys().filter(|k| !known(k)) {
            let mut d = s
                .get("options")
                .expect("read above")
                .error(format!("`{k}` is not a dimension-table option {name} documents"));
            d = match crate::diag::suggest(k, known_options.iter().copied()) {
                Some(near) => d.with_help(format!("did you mean `{near}`?")),
                None => d.with_help(format!("known: {}", known_options.join(", "))),
            };
            s.report(d);
        }
        s.finish();
        let Some(table) = table else { continue };
        let (schema, table) = match table.split_once('.') {
            Some((sc, t)) => (sc.to_string(), t.to_string()),
            None => ("public".to_string(), table),
        };
        let l = LookupSpec { schema, table, on, columns, prefix, types, options };
        if connector == TableConnector::Jdbc {
            let names = [&l.schema, &l.table].into_iter().chain(l.on.iter().map(|(_, d)| d)).chain(&l.columns);
            for n in names.filter(|n| !plain_pg_ident(n)) {
                s.report(s.error_here(format!("the JDBC connector reads the dimension table {} with names unquoted, and PostgreSQL does not read `{n}` as itself", l.qualified())).with_help("look up a table and columns named in lower-case letters, digits and `_`, none a reserved word"));
            }
        }
        let at = |k: &str| format!("lookup.{}.{k}", key(&l.qualified()));
        let on: Vec<String> = l.on.iter().map(|(s, d)| format!("{s} = {d}")).collect();
        settings.set(at("on"), on);
        settings.set(at("columns"), &l.columns);
        settings.set(at("prefix"), Some(&l.prefix).filter(|p| !p.is_empty()));
        for (col, ty) in &l.types {
            settings.set(at(&format!("types.{}", key(col))), ty.to_string());
        }
        for (k, v) in &l.options {
            settings.set(at(&format!("options.{}", key(k))), v);
        }
        out.push(l);
    }
    out
}
