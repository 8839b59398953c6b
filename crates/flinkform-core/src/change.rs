//! Change streams: topics of database change events (`canal-json`, `debezium-json`,
//! `maxwell-json`). Flink's format reads each event's row images (Canal's `data` and
//! `old`, Debezium's `before` and `after`, Maxwell's `data` and `old`) under the table's
//! schema and turns the event into inserts, updates and deletes, so inference runs over
//! the images. The envelope adds what the source database itself declared, which beats
//! guessing from values: column types (Canal's `mysqlType`, Debezium's `schema`) and the
//! primary key (Canal's `pkNames`, Maxwell's `primary_key_columns`). Pure.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::infer::{self, InferConfig, RecordError, Shape, TsStandard, strings};
use crate::spec::SourceFormat;
use crate::types::FlinkType;

/// How events are read: the format, Canal's table filter and whether Flink skips
/// events it cannot read (`<format>.ignore-parse-errors`).
#[derive(Clone, Copy, Debug)]
pub struct Reading<'a> {
    /// The format of the topic.
    pub format: SourceFormat,
    /// Only events of this database (`canal-json.database.include`).
    pub database: Option<&'a str>,
    /// Only events of this table (`canal-json.table.include`).
    pub table: Option<&'a str>,
    /// Events Flink's format cannot read are skipped rather than failing the job.
    pub ignore_errors: bool,
    /// Debezium events are wrapped in Kafka Connect's schema envelope
    /// (`debezium-json.schema-include`).
    pub schema_include: bool,
}

/// What the sampled events were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Events that carry rows.
    pub events: u64,
    /// Rows inserted (Debezium's snapshot reads included).
    pub inserts: u64,
    /// Rows updated.
    pub updates: u64,
    /// Rows deleted.
    pub deletes: u64,
    /// Events Flink's format skips: schema changes (Canal's `CREATE`), and with
    /// `ignore-parse-errors` any event of another kind.
    pub skipped: u64,
    /// Events of other tables, left out by the table filter.
    pub filtered: u64,
}

impl Changes {
    /// One line for the plan: what the sample holds and what the job does with it.
    pub fn describe(&self, format: SourceFormat) -> String {
        let mut s = format!(
            "changelog ({}): {} of the sample's events carry rows: {} inserted, {} updated, {} deleted",
            format.name(),
            self.events,
            self.inserts,
            self.updates,
            self.deletes
        );
        if self.skipped > 0 {
            s.push_str(&format!("; {} skipped as Flink's format skips them (schema changes)", self.skipped));
        }
        if self.filtered > 0 {
            s.push_str(&format!("; {} of other tables filtered out", self.filtered));
        }
        s
    }
}

/// The row images of one event and what its envelope declares.
#[derive(Default)]
struct Event<'a> {
    /// The rows the event inserts, updates to or deletes.
    rows: Vec<&'a RawValue>,
    /// What an update changed from: Canal's and Maxwell's partial `old`, Debezium's
    /// `before`. Their values must read too, but they are not rows of their own.
    old: Vec<&'a RawValue>,
    declared: Vec<(String, String)>,
    key: Option<Vec<String>>,
}

/// Why a change stream's sample cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// An event the format refuses, by its place (from 1).
    #[error("event {event}: {why}")]
    Event {
        /// Which event.
        event: usize,
        /// Why.
        why: String,
    },
    /// A row image that is no JSON object.
    #[error("{0}")]
    Row(RecordError),
    /// An old image that is no JSON object.
    #[error("an old image: {0}")]
    Old(RecordError),
}

/// Infers the shape of the rows of a change stream from its events: the images, with
/// the declared column types and primary key of every event joined in.
pub fn infer<'a>(
    reading: Reading<'_>,
    records: impl IntoIterator<Item = &'a [u8]>,
    cfg: &InferConfig,
) -> Result<(Shape, Changes), ChangeError> {
    let mut changes = Changes::default();
    let (mut rows, mut old): (Vec<&RawValue>, Vec<&RawValue>) = (Vec::new(), Vec::new());
    // Column → declared types seen, and the keys seen: deduplicated while reading, so
    // the work is linear in the events.
    let mut declared: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    let mut keys = std::collections::BTreeSet::new();
    for (i, r) in records.into_iter().enumerate() {
        let event = match reading.format {
            SourceFormat::Canal => canal(r, reading, &mut changes),
            SourceFormat::Debezium => debezium(r, reading, &mut changes),
            SourceFormat::Maxwell => maxwell(r, reading, &mut changes),
            SourceFormat::Json => Err("not a change stream".to_string()),
        }
        .map_err(|why| ChangeError::Event { event: i + 1, why })?;
        let Some(event) = event else { continue };
        changes.events += 1;
        rows.extend(event.rows);
        old.extend(event.old);
        for (col, ty) in event.declared {
            declared.entry(col).or_default().insert(ty);
        }
        keys.extend(event.key.filter(|k| !k.is_empty()));
    }
    let mut shape = infer::infer(rows.iter().map(|i| i.get().as_bytes()), cfg).map_err(ChangeError::Row)?;
    // The old images widen the types; the evidence counts the rows.
    let old = infer::infer(old.iter().map(|i| i.get().as_bytes()), cfg).map_err(ChangeError::Old)?;
    shape.join(&old.without_stats());
    let root = shape.object.get_or_insert_with(Default::default);
    root.keys = keys;
    for (col, tys) in declared {
        if let Some(f) = root.fields.get_mut(&col) {
            f.declared = tys;
        }
    }
    Ok((shape, changes))
}

/// An event's text as the envelope type `T`.
fn envelope<'a, T: Deserialize<'a>>(r: &'a [u8], format: SourceFormat) -> Result<T, String> {
    serde_json::from_slice(r).map_err(|e| format!("not a {} event: {e}", format.name()))
}

/// Skips an event Flink's format cannot read when told to, or says why the job fails.
fn unreadable<'a>(reading: Reading<'_>, changes: &mut Changes, why: String) -> Result<Option<Event<'a>>, String> {
    match reading.ignore_errors {
        true => {
            changes.skipped += 1;
            Ok(None)
        }
        false => Err(format!(
            "{why}: Flink's {} format fails the job on it (set `{}.ignore-parse-errors` = \"true\" in [source.options] to skip such events)",
            reading.format.name(),
            reading.format.name()
        )),
    }
}

#[derive(Deserialize)]
struct CanalEvent<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    old: Option<Vec<&'a RawValue>>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(rename = "pkNames", default)]
    pk_names: Option<Vec<String>>,
    #[serde(rename = "mysqlType", default)]
    mysql_type: Option<BTreeMap<String, String>>,
}

/// A Canal flat message, as Flink's `CanalJsonDeserializationSchema` reads it: the table
/// filter first, then `INSERT`/`UPDATE`/`DELETE` rows; `CREATE` is a schema change it
/// skips; any other type fails the job unless parse errors are ignored.
fn canal<'a>(r: &'a [u8], reading: Reading<'_>, changes: &mut Changes) -> Result<Option<Event<'a>>, String> {
    let e: CanalEvent<'a> = envelope(r, reading.format)?;
    let keep = |want: Option<&str>, got: &Option<String>| want.is_none_or(|w| got.as_deref() == Some(w));
    if !keep(reading.database, &e.database) || !keep(reading.table, &e.table) {
        changes.filtered += 1;
        return Ok(None);
    }
    let kind = e.kind.as_deref().unwrap_or_default();
    let rows = e.data.as_ref().map_or(0, Vec::len) as u64;
    match kind {
        "INSERT" => changes.inserts += rows,
        "UPDATE" => changes.updates += rows,
        "DELETE" => changes.deletes += rows,
        "CREATE" => {
            changes.skipped += 1;
            return Ok(None);
        }
        other => return unreadable(reading, changes, format!("type {other:?}")),
    }
    let Some(data) = e.data else {
        return unreadable(reading, changes, format!("a {kind} event without `data`"));
    };
    let declared =
        e.mysql_type.unwrap_or_default().into_iter().map(|(c, t)| (c, format!("mysql:{}", t.trim()))).collect();
    Ok(Some(Event { rows: data, old: e.old.unwrap_or_default(), declared, key: e.pk_names }))
}

#[derive(Deserialize)]
struct DebeziumEvent<'a> {
    #[serde(borrow, default)]
    before: Option<&'a RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a RawValue>,
    #[serde(default)]
    op: Option<String>,
}

#[derive(Deserialize)]
struct DebeziumEnvelope<'a> {
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    schema: Option<ConnectSchema>,
}

/// Kafka Connect's schema of a value (`schemas.enable`), as far as it declares types.
#[derive(Deserialize)]
struct ConnectSchema {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    fields: Vec<ConnectField>,
}

#[derive(Deserialize)]
struct ConnectField {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    field: String,
    /// A logical type (`org.apache.kafka.connect.data.Decimal`, `io.debezium.time.*`):
    /// its physical type alone does not say how Flink reads it.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fields: Vec<ConnectField>,
}

/// A Debezium event, as Flink's `DebeziumJsonDeserializationSchema` reads it: with
/// `schema-include`, the event is the envelope's `payload`; `c` and `r` insert `after`,
/// `u` updates `before` to `after`, `d` deletes `before`.
fn debezium<'a>(r: &'a [u8], reading: Reading<'_>, changes: &mut Changes) -> Result<Option<Event<'a>>, String> {
    let outer: DebeziumEnvelope<'a> = envelope(r, reading.format)?;
    let (body, declared) = match (&outer.payload, &outer.schema) {
        (Some(p), Some(s)) => (p.get().as_bytes(), connect_types(s)),
        _ => (r, Vec::new()),
    };
    // Flink reads the envelope only when told to, and then only the envelope.
    match (outer.payload.is_some() && outer.schema.is_some(), reading.schema_include) {
        (true, false) => {
            return Err("the event carries Kafka Connect's schema envelope (`schema` and `payload`): set `debezium-json.schema-include` = \"true\" in [source.options]".into());
        }
        (false, true) => {
            return Err(
                "`debezium-json.schema-include` is \"true\", but the event has no `schema` and `payload` envelope"
                    .into(),
            );
        }
        _ => {}
    }
    let e: DebeziumEvent<'a> = envelope(body, reading.format)?;
    let (before, after) = (image(e.before), image(e.after));
    let op = e.op.as_deref().unwrap_or_default();
    if matches!(op, "u" | "d") && before.is_none() {
        // Flink needs the old row of an update or delete: the source table's REPLICA
        // IDENTITY (PostgreSQL) must be FULL.
        return unreadable(reading, changes, format!("op {op:?} without `before`"));
    }
    let (rows, old) = match op {
        "c" | "r" => {
            changes.inserts += 1;
            (after, None)
        }
        "u" => {
            changes.updates += 1;
            (after, before)
        }
        "d" => {
            changes.deletes += 1;
            (before, None)
        }
        other => return unreadable(reading, changes, format!("op {other:?}")),
    };
    Ok(Some(Event { rows: rows.into_iter().collect(), old: old.into_iter().collect(), declared, key: None }))
}

/// The declared types of the row fields of a Debezium value schema (`after`'s struct),
/// where a physical type alone says how Flink reads the value.
fn connect_types(s: &ConnectSchema) -> Vec<(String, String)> {
    if s.kind != "struct" {
        return Vec::new();
    }
    let row = s.fields.iter().find(|f| f.field == "after" || f.field == "before");
    row.map(|r| {
        r.fields
            .iter()
            .filter(|f| f.name.is_none() && f.fields.is_empty())
            .map(|f| (f.field.clone(), format!("connect:{}", f.kind)))
            .collect()
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
struct MaxwellEvent<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old: Option<&'a RawValue>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    primary_key_columns: Option<Vec<String>>,
}

/// A Maxwell event, as Flink's `MaxwellJsonDeserializationSchema` reads it: `insert`,
/// `update` (with `old`) and `delete` of `data`; any other type fails the job unless
/// parse errors are ignored.
fn maxwell<'a>(r: &'a [u8], reading: Reading<'_>, changes: &mut Changes) -> Result<Option<Event<'a>>, String> {
    let e: MaxwellEvent<'a> = envelope(r, reading.format)?;
    match e.kind.as_deref().unwrap_or_default() {
        "insert" => changes.inserts += 1,
        "update" => changes.updates += 1,
        "delete" => changes.deletes += 1,
        other => return unreadable(reading, changes, format!("type {other:?}")),
    }
    let (rows, old) = (image(e.data).into_iter().collect(), image(e.old).into_iter().collect());
    Ok(Some(Event { rows, old, declared: Vec::new(), key: e.primary_key_columns }))
}

/// A row image, unless it is absent or `null`.
fn image(i: Option<&RawValue>) -> Option<&RawValue> {
    i.filter(|i| i.get() != "null")
}

/// What the source database's declared type of a column makes of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Declared {
    /// Nothing declared: the values decide.
    None,
    /// The declared type, read as this Flink type; the note says why.
    Type(FlinkType, String),
    /// Declared, but not usable: the values decide; the note says why.
    Ignored(String),
}

/// What `shape`'s declared type makes of it under timestamp `standard`. Types declared
/// differently across the sample (a migration from `int(11)` to `bigint(20)`) join to
/// the wider one when one reads every value of the other exactly.
pub fn declared(shape: &Shape, standard: TsStandard) -> Declared {
    let mut it = shape.declared.iter();
    let (Some(text), None) = (it.next(), it.next()) else {
        if shape.declared.is_empty() {
            return Declared::None;
        }
        let all = shape.declared.iter().map(|t| shown(t)).collect::<Vec<_>>().join(", ");
        let wider = shape.declared.iter().map(|t| source_type(t).map(|(ty, _)| ty)).try_fold(None, |acc, ty| {
            let ty = ty?;
            match acc {
                None => Some(Some(ty)),
                Some(a) => widest(&a, &ty).map(Some),
            }
        });
        return match wider.flatten() {
            Some(ty) if values_fit(shape, &ty, standard) => {
                Declared::Type(ty.clone(), format!("{ty}, the widest of the types the events declare: {all}"))
            }
            _ => Declared::Ignored(format!("the events declare different types ({all}): read from the values")),
        };
    };
    let Some((ty, why)) = source_type(text) else {
        return Declared::Ignored(format!(
            "declared {}, which maps to no exact Flink type: read from the values",
            shown(text)
        ));
    };
    match values_fit(shape, &ty, standard) {
        true => Declared::Type(ty.clone(), format!("{ty} as the source declares it: {}{why}", shown(text))),
        false => Declared::Ignored(format!(
            "declared {}, but not every sampled value reads as {ty} (MySQL's zero dates, say): read from the values",
            shown(text)
        )),
    }
}

/// The one of two declared types that reads every value of both exactly: integers
/// widen (INT → BIGINT), decimals to the larger integer part and scale (within
/// DECIMAL(38)); `None` when neither holds the other.
fn widest(a: &FlinkType, b: &FlinkType) -> Option<FlinkType> {
    use FlinkType::{BigInt, Decimal, Int};
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Int, BigInt) | (BigInt, Int) => Some(BigInt),
        (Decimal(p1, s1), Decimal(p2, s2)) => {
            let scale = *s1.max(s2);
            let precision = (p1 - s1).max(p2 - s2).checked_add(scale).filter(|p| *p <= 38)?;
            Some(Decimal(precision, scale))
        }
        _ => None,
    }
}

/// A declared type as the source spells it: `decimal(10,2) (Canal's mysqlType)`.
fn shown(text: &str) -> String {
    match text.split_once(':') {
        Some(("mysql", t)) => format!("{t} in Canal's mysqlType"),
        Some(("connect", t)) => format!("{t} in Debezium's schema"),
        _ => text.to_string(),
    }
}

/// Whether every value seen reads under the declared type: Canal writes values as
/// text, which Flink's reader parses for numbers; temporal text must be in the shape
/// Flink parses.
fn values_fit(shape: &Shape, ty: &FlinkType, standard: TsStandard) -> bool {
    if shape.too_deep || shape.object.is_some() || shape.array.is_some() {
        return false;
    }
    let temporal = match ty {
        FlinkType::Date => Some(strings::DATE),
        FlinkType::Timestamp(_) => Some(match standard {
            TsStandard::Sql => strings::TS_SQL,
            TsStandard::Iso => strings::TS_ISO,
        }),
        _ => None,
    };
    match (temporal, shape.string) {
        (Some(mask), Some(caps)) => {
            let digits_fit = matches!(ty, FlinkType::Timestamp(p) if caps.digits <= *p) || *ty == FlinkType::Date;
            caps.mask & mask != 0 && digits_fit && !shape.boolean && shape.int.is_none() && !shape.fraction
        }
        (Some(_), None) => !shape.boolean && shape.int.is_none() && !shape.fraction,
        (None, _) => *ty == FlinkType::String || (!shape.boolean || *ty == FlinkType::Boolean),
    }
}

/// The Flink type that reads a declared source type exactly, with a note where the
/// choice needs one. `None` for types with no exact reading (binary data, which
/// Canal writes as ISO-8859-1 text, not the base64 Flink's BYTES expects).
fn source_type(text: &str) -> Option<(FlinkType, &'static str)> {
    let (ns, t) = text.split_once(':')?;
    match ns {
        "mysql" => mysql_type(&t.to_ascii_lowercase()),
        "connect" => match t {
            "int8" | "int16" | "int32" => Some((FlinkType::Int, "")),
            "int64" => Some((FlinkType::BigInt, "")),
            "float32" | "float64" => Some((FlinkType::Double, "")),
            "boolean" => Some((FlinkType::Boolean, "")),
            "string" => Some((FlinkType::String, "")),
            _ => None,
        },
        _ => None,
    }
}

/// MySQL's column types (as Canal's `mysqlType` spells them: `int(11)`, `decimal(10,2)`,
/// `bigint(20) unsigned`, `datetime(3)`...) as the Flink types that hold every value.
fn mysql_type(t: &str) -> Option<(FlinkType, &'static str)> {
    let unsigned = t.contains("unsigned");
    let base = t.split(['(', ' ']).next().unwrap_or_default();
    let args: Vec<u32> = t
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(a, _)| a.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let ty = match (base, unsigned) {
        ("tinyint", _) if args.first() == Some(&1) => {
            return Some((
                FlinkType::Int,
                " (TINYINT(1) is MySQL's boolean, but Canal writes it as the text 0 or 1, which Flink's reader does not take for a BOOLEAN)",
            ));
        }
        ("tinyint" | "smallint" | "mediumint", _) | ("int" | "integer", false) => FlinkType::Int,
        ("int" | "integer", true) | ("bigint", false) => FlinkType::BigInt,
        ("bigint", true) => FlinkType::Decimal(20, 0),
        ("decimal" | "numeric" | "dec" | "fixed", _) => {
            let p = args.first().copied().unwrap_or(10);
            let s = args.get(1).copied().unwrap_or(0);
            if p > 38 || s > p {
                return None;
            }
            FlinkType::Decimal(p as u8, s as u8)
        }
        ("float" | "double" | "real", _) => FlinkType::Double,
        ("date", _) => FlinkType::Date,
        ("datetime" | "timestamp", _) => {
            return Some((
                FlinkType::Timestamp(args.first().copied().unwrap_or(0).min(9) as u8),
                " (MySQL's wall-clock time, as Canal writes it)",
            ));
        }
        ("year", _) => FlinkType::Int,
        (
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" | "json" | "time",
            _,
        ) => FlinkType::String,
        _ => return None,
    };
    Some((ty, ""))
}

#[cfg(test)]
mod tests;
