//! Resolution: the inferred [`Shape`] plus the `[schema]` overrides of a spec become
//! the columns of a pipeline: the source table's physical and computed columns, the
//! watermark, and the sink columns with their Hologres names and types. Pure.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, suggest};
use crate::infer::{Shape, TsStandard};
use crate::spec::{Conversion, Pipeline};
use crate::types::{FlinkType, HoloType, Integers, quote_ident};
use keys::{primary_key, watermark};
use typing::Typing;

mod keys;
mod sinks;
mod stages;
mod typing;

pub use sinks::SinkSchema;
pub use stages::{DimColumn, Dimension, Lookup, Stages};

/// A physical column of the Kafka source table: one top-level JSON key.
#[derive(Clone, Debug, PartialEq)]
pub struct Physical {
    /// The JSON key, as-is.
    pub key: String,
    /// The type Flink reads it as (JSON-bound nested values are read as STRING text).
    pub ty: FlinkType,
}

/// A computed column of the source table.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// Column name in the source table.
    pub name: String,
    /// Flink SQL expression.
    pub expr: String,
}

/// Where a column's type came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Inferred from the sample (and the recorded schema).
    Inferred,
    /// Pinned with `type` in `[schema]`.
    Pinned,
    /// Converted with `from` or `expr`.
    Converted,
    /// Joined from a dimension table (`[[lookup]]`).
    Lookup,
}

/// What the sample said about a column.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Evidence {
    /// Records where the key was present (null or not).
    pub present: u64,
    /// Records sampled.
    pub total: u64,
    /// Records where it was null.
    pub nulls: u64,
    /// Why the type is what it is.
    pub notes: Vec<String>,
}

/// One column of the sink table and how it is fed.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Name as `flinkform schema` shows it and `[schema]` refers to it.
    pub name: String,
    /// Name in Hologres and in the Flink sink table (folded to lower case, unique).
    pub sink_name: String,
    /// Flink SQL expression over the source table that yields the value.
    pub expr: String,
    /// The type inference found, if the column was in the sample.
    pub inferred: Option<FlinkType>,
    /// The Flink type written to the sink.
    pub ty: FlinkType,
    /// The Hologres column type.
    pub holo: HoloType,
    /// False for primary key columns.
    pub nullable: bool,
    /// Where the type came from.
    pub origin: Origin,
    /// Sample evidence.
    pub evidence: Evidence,
}

/// A pipeline's resolved columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// `json.timestamp-format.standard` of the source table.
    pub standard: TsStandard,
    /// Source physical columns in order.
    pub physical: Vec<Physical>,
    /// Source computed columns.
    pub computed: Vec<Computed>,
    /// Watermark: source column and delay in seconds.
    pub watermark: Option<(String, u64)>,
    /// Sink columns in order.
    pub columns: Vec<Column>,
    /// Primary key, as sink names.
    pub primary_key: Vec<String>,
    /// Each sink's columns and key, in spec order.
    pub sinks: Vec<SinkSchema>,
    /// What happens between the source and the sink.
    pub stages: Stages,
}

impl Schema {
    /// The sink column whose `[schema]` name is `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A candidate column before overrides: a path into the record.
struct Candidate<'s> {
    name: String,
    path: Vec<String>,
    shape: &'s Shape,
}

/// Resolves the columns of `pipeline` from `root` (today's sample merged with the
/// recorded shape). Returns the schema when there is no error, and all diagnostics.
pub fn resolve(
    pipeline: &Pipeline,
    root: &Shape,
    standard: TsStandard,
    integers: Integers,
    dims: &[Option<Dimension>],
) -> (Option<Schema>, Vec<Diagnostic>) {
    let typing = Typing::new(pipeline, standard, integers);
    let file = &pipeline.file;
    let mut diags = Vec::new();
    let empty = crate::infer::Object::default();
    let fields = &root.object.as_ref().unwrap_or(&empty).fields;
    let (mut physical, candidates) = readable(pipeline, fields, typing, &mut diags);
    let known: HashSet<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
    check_overrides(pipeline, &candidates, &known, &mut diags);
    let mut computed = Vec::new();
    let mut excluded = HashSet::new();
    let mut columns = Vec::new();
    let mut sink = Sink {
        pipeline,
        total: root.stats.objects,
        physical: &mut physical,
        computed: &mut computed,
        diags: &mut diags,
    };
    sink.inferred(&candidates, typing, &mut columns, &mut excluded);
    sink.pinned(&known, &mut columns);
    // An excluded top-level key leaves the source table too, unless something still reads it.
    let filtered = pipeline.transform.filter.as_deref().map(stages::names_in).unwrap_or_default();
    let read: HashSet<String> = columns
        .iter()
        .filter_map(|c| stages::names_in(&c.expr).into_iter().next())
        .chain(computed.iter().flat_map(|c| stages::names_in(&c.expr)))
        .chain(filtered)
        .collect();
    physical.retain(|p| !excluded.contains(&p.key) || read.contains(&p.key));

    let filter = stages::filter(pipeline, &physical, &computed, &mut diags);
    let (lookups, proctime) =
        stages::lookups(pipeline, dims, &mut computed, &mut columns, root.stats.objects, &mut diags);
    assign_sink_names(&mut columns, &mut diags, file);

    if columns.is_empty() {
        diags.push(
            Diagnostic::error(format!("{file}: no columns: the sample holds no usable field"))
                .with_help("declare the columns in [schema] with `columns.NAME = { type = \"...\" }`"),
        );
    }
    let primary_key = primary_key(pipeline, root, &mut columns, &excluded, &mut diags);
    let watermark = watermark(pipeline, &columns, &physical, &computed, &excluded, &mut diags);
    let dedupe = stages::dedupe(pipeline, &columns, watermark.as_ref(), &mut diags);
    let sinks = sinks::sinks(pipeline, &columns, &primary_key, &mut diags);
    typing::warn_timestamps(pipeline, &columns, &mut diags);
    typing::warn_reprinted_numbers(pipeline, &physical, fields, &mut diags);

    let ok = !diags.iter().any(Diagnostic::is_error);
    let stages = Stages { filter, proctime, lookups, dedupe };
    let schema = Schema { standard, physical, computed, watermark, columns, primary_key, sinks, stages };
    (ok.then_some(schema), diags)
}

/// The physical columns (every readable top-level key, read as its storage type) and
/// the candidate columns (those keys, and nested fields when flattening).
fn readable<'s>(
    pipeline: &Pipeline,
    fields: &'s crate::infer::Fields,
    typing: Typing,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Physical>, Vec<Candidate<'s>>) {
    let (spec, file) = (&pipeline.schema, &pipeline.file);
    let mut physical: Vec<Physical> = Vec::new();
    let mut candidates = Vec::new();
    for (key, shape) in fields {
        if !crate::types::nameable(key) {
            diags.push(Diagnostic::warning(format!(
                "{file}: the sample has the JSON key {}, which Flink SQL cannot name (empty, with a line break, or over 256 characters); it is left out",
                crate::diag::shown_key(key)
            )));
            continue;
        }
        let logical = typing.of(shape);
        let ty = storage_type(&logical, spec.flatten);
        let mut dropped = Vec::new();
        left_out(key, shape, &ty, &mut dropped);
        for (path, k) in dropped {
            diags.push(Diagnostic::warning(format!(
                "{file}: the sample has the JSON key {} in `{path}`, which Flink SQL cannot name (empty, with a line break, or over 256 characters); it is left out",
                crate::diag::shown_key(k)
            )));
        }
        physical.push(Physical { key: key.clone(), ty });
        expand(key.clone(), vec![key.clone()], shape, &logical, spec.flatten, typing, &mut candidates);
    }

    (physical, candidates)
}

/// Warns of overrides that change nothing; an error for one that names no column.
fn check_overrides(pipeline: &Pipeline, candidates: &[Candidate], known: &HashSet<&str>, diags: &mut Vec<Diagnostic>) {
    let (spec, file) = (&pipeline.schema, &pipeline.file);
    for c in &spec.columns {
        if !c.exclude && c.ty.is_none() && c.from.is_none() && c.rename.is_none() {
            diags.push(Diagnostic::warning(format!("{file}: [schema] columns.{} changes nothing", c.name)));
        }
        if !known.contains(c.name.as_str()) && c.ty.is_none() {
            let mut d = spec_error(
                pipeline,
                &format!("schema.columns.{}", c.name),
                format!("[schema] columns.{} names a column that is not in the sample or the recorded schema", c.name),
            );
            d = match suggest(&c.name, candidates.iter().map(|k| k.name.as_str())) {
                Some(near) => d.with_help(format!("did you mean `{near}`?")),
                None => d.with_help("give it a `type` to declare a column the sample does not show"),
            };
            diags.push(d);
        }
    }
}

/// Building the sink columns: what the overrides add to the source table lands in
/// `physical` and `computed`.
struct Sink<'a> {
    pipeline: &'a Pipeline,
    /// Records sampled.
    total: u64,
    physical: &'a mut Vec<Physical>,
    computed: &'a mut Vec<Computed>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Sink<'_> {
    /// A column per candidate, overridden as `[schema]` says; excluded ones are named
    /// in `excluded`.
    fn inferred(
        &mut self,
        candidates: &[Candidate],
        typing: Typing,
        columns: &mut Vec<Column>,
        excluded: &mut HashSet<String>,
    ) {
        let (pipeline, total) = (self.pipeline, self.total);
        let overrides: HashMap<&str, &crate::spec::ColumnSpec> =
            pipeline.schema.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        for cand in candidates {
            let ov = overrides.get(cand.name.as_str()).copied();
            if ov.is_some_and(|o| o.exclude) {
                excluded.insert(cand.name.clone());
                continue;
            }
            let logical = typing.of(cand.shape);
            let notes = match crate::change::declared(cand.shape, typing.standard) {
                crate::change::Declared::Type(_, note) => vec![note],
                crate::change::Declared::Ignored(note) => {
                    [note].into_iter().chain(cand.shape.notes(&logical, typing.standard)).collect()
                }
                crate::change::Declared::None => cand.shape.notes(&logical, typing.standard),
            };
            let evidence = Evidence { present: cand.shape.stats.present, total, nulls: cand.shape.stats.nulls, notes };
            let access = access_expr(&cand.path);
            let mut col = Column {
                name: cand.name.clone(),
                sink_name: String::new(),
                expr: access.clone(),
                inferred: Some(logical.clone()),
                ty: storage_type(&logical, false),
                holo: logical.hologres(),
                nullable: true,
                origin: Origin::Inferred,
                evidence,
            };
            if let Some(o) = ov {
                self.apply_override(o, &mut col, cand);
            }
            columns.push(col);
        }
    }

    /// Pinned columns the sample does not show.
    fn pinned(&mut self, known: &HashSet<&str>, columns: &mut Vec<Column>) {
        let (pipeline, total) = (self.pipeline, self.total);
        for o in pipeline.schema.columns.iter().filter(|o| !o.exclude && !known.contains(o.name.as_str())) {
            let Some(ty) = &o.ty else { continue };
            let mut col = Column {
                name: o.name.clone(),
                sink_name: String::new(),
                expr: quote_ident(&o.name),
                inferred: None,
                ty: ty.clone(),
                holo: ty.hologres(),
                nullable: true,
                origin: Origin::Pinned,
                evidence: Evidence {
                    total,
                    notes: vec!["not in the sample: declared in [schema]".into()],
                    ..Evidence::default()
                },
            };
            let shape = Shape::default();
            let cand = Candidate { name: o.name.clone(), path: vec![o.name.clone()], shape: &shape };
            if o.from.is_none() {
                self.physical.push(Physical { key: o.name.clone(), ty: storage_type(ty, false) });
            }
            self.apply_override(o, &mut col, &cand);
            columns.push(col);
        }
    }

    /// Applies `[schema] columns.NAME` to the column of `cand`: rename, pin, convert.
    fn apply_override(&mut self, o: &crate::spec::ColumnSpec, col: &mut Column, cand: &Candidate<'_>) {
        let p = self.pipeline;
        let (physical, computed, diags) = (&mut *self.physical, &mut *self.computed, &mut *self.diags);
        let key = format!("schema.columns.{}", o.name);
        if let Some(r) = &o.rename {
            col.sink_name.clone_from(r);
        }
        let Some(ty) = &o.ty else { return };
        match &o.from {
            None => {
                set_type_at(physical, &cand.path, storage_type(ty, false));
                col.ty = storage_type(ty, false);
                col.holo = ty.hologres();
                col.origin = Origin::Pinned;
                col.evidence.notes.push(format!("pinned to {ty} in [schema]"));
            }
            Some(conv) => {
                let call = match conv {
                    Conversion::EpochMillis | Conversion::EpochSeconds => {
                        let digits = if *conv == Conversion::EpochMillis { 3 } else { 0 };
                        if !matches!(ty, FlinkType::TimestampLtz(_)) {
                            diags.push(spec_error(
                                p,
                                &key,
                                format!(
                                    "column `{}` converted from epoch needs type TIMESTAMP_LTZ(3), not {ty}",
                                    o.name
                                ),
                            ));
                        }
                        if !matches!(col.inferred, None | Some(FlinkType::Int | FlinkType::BigInt)) {
                            diags.push(spec_error(
                                p,
                                &key,
                                format!(
                                    "column `{}` is converted from epoch numbers, but the sample holds {}",
                                    o.name,
                                    col.inferred.as_ref().map_or(String::new(), ToString::to_string)
                                ),
                            ));
                        }
                        match physical.iter().any(|p| p.key == cand.path[0]) {
                            true => set_type_at(physical, &cand.path, FlinkType::BigInt),
                            false => {
                                diags.push(spec_error(p, &key, format!(
                                "column `{}` converted from epoch is not in the sample; declare it with a plain `type` first",
                                o.name
                            )));
                            }
                        }
                        format!("TO_TIMESTAMP_LTZ({}, {digits})", access_expr(&cand.path))
                    }
                    Conversion::Expr(e) => e.clone(),
                };
                let base = col.sink_name.clone();
                let base = if base.is_empty() { o.name.clone() } else { base };
                let mut name = base.clone();
                let mut n = 1;
                while physical.iter().any(|p| p.key == name) || computed.iter().any(|c| c.name == name) {
                    name = if n == 1 { format!("{base}_converted") } else { format!("{base}_converted_{n}") };
                    n += 1;
                }
                computed.push(Computed { name: name.clone(), expr: call });
                col.expr = quote_ident(&name);
                col.ty = ty.clone();
                col.holo = ty.hologres();
                col.origin = Origin::Converted;
                col.evidence.notes.push(format!("converted to {ty} in [schema]"));
            }
        }
    }
}

/// An error about the spec key `key` of `p`: pointing at where it is written (in the
/// pipeline file or in flinkform.toml's defaults), or naming the file.
fn spec_error(p: &Pipeline, key: &str, message: String) -> Diagnostic {
    match p.locations.get(key) {
        Some(at) => Diagnostic::error(message).at(Some(&at.locate())),
        None => Diagnostic::error(format!("{}: {message}", p.file)),
    }
}

fn missing(p: &Pipeline, what: &str, name: &str, columns: &[Column], excluded: &HashSet<String>) -> Diagnostic {
    let key = format!("schema.{what}");
    if excluded.contains(name) {
        return spec_error(p, &key, format!("[schema] {what} names `{name}`, which is excluded"));
    }
    with_near(spec_error(p, &key, format!("[schema] {what} names `{name}`, which is not a column")), name, columns)
}

/// `d` with the nearest column name to `name` as help.
fn with_near(d: Diagnostic, name: &str, columns: &[Column]) -> Diagnostic {
    match suggest(name, columns.iter().map(|c| c.name.as_str())) {
        Some(near) => d.with_help(format!("did you mean `{near}`?")),
        None => d.with_help("`flinkform schema NAME` lists the columns"),
    }
}

/// The keys of objects under `path` that the ROW type `ty` reads them as leaves out
/// (keys Flink SQL cannot name), each with the path of its object.
fn left_out<'s>(path: &str, shape: &'s Shape, ty: &FlinkType, out: &mut Vec<(String, &'s str)>) {
    match (ty, &shape.object, &shape.array) {
        (FlinkType::Row(fields), Some(obj), _) => {
            let named: HashMap<&str, &FlinkType> = fields.iter().map(|(n, t)| (n.as_str(), t)).collect();
            for (k, child) in &obj.fields {
                match named.get(k.as_str()) {
                    Some(t) => left_out(&format!("{path}.{k}"), child, t, out),
                    None => out.push((path.to_string(), k)),
                }
            }
        }
        (FlinkType::Map(v), Some(obj), _) => {
            for child in obj.fields.values() {
                left_out(&format!("{path}[*]"), child, v, out);
            }
        }
        (FlinkType::Array(e), _, Some(elem)) => left_out(&format!("{path}[*]"), elem, e, out),
        _ => {}
    }
}

/// Expands a top-level key into candidate columns (flattening nested ROWs when asked).
fn expand<'s>(
    name: String,
    path: Vec<String>,
    shape: &'s Shape,
    logical: &FlinkType,
    flatten: bool,
    typing: Typing,
    out: &mut Vec<Candidate<'s>>,
) {
    if let (true, FlinkType::Row(_), Some(obj)) = (flatten, logical, &shape.object) {
        for (k, child) in obj.fields.iter().filter(|(k, _)| crate::types::nameable(k)) {
            let mut p = path.clone();
            p.push(k.clone());
            expand(format!("{name}_{k}"), p, child, &typing.of(child), flatten, typing, out);
        }
        return;
    }
    out.push(Candidate { name, path, shape });
}

/// The type the source table declares for a logical type: values that go to a jsonb
/// column are read as JSON text; with `flatten`, ROWs keep their structure.
/// The column type a top-level key of `field`'s shape is read as by a pipeline of
/// default settings on the newest engine (integers BIGINT, objects as JSON text,
/// fractions as VVR 11 reads them) under timestamp `standard`: the one inference, for a
/// topic that has no spec yet (`sample --topic --schema`).
pub fn default_column_type(field: &Shape, standard: TsStandard) -> FlinkType {
    let typing = Typing { standard, integers: Integers::BigInt, fractions: crate::infer::Fractions::Text };
    storage_type(&typing.of(field), false)
}

fn storage_type(logical: &FlinkType, flatten: bool) -> FlinkType {
    match logical {
        FlinkType::Row(fields) if flatten => {
            FlinkType::Row(fields.iter().map(|(k, t)| (k.clone(), storage_type(t, flatten))).collect())
        }
        t if t.hologres().json => FlinkType::String,
        t => t.clone(),
    }
}

fn access_expr(path: &[String]) -> String {
    path.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(".")
}

/// Sets the type at `path` inside a physical column's (possibly nested ROW) type.
fn set_type_at(physical: &mut [Physical], path: &[String], ty: FlinkType) {
    let Some(p) = physical.iter_mut().find(|p| p.key == path[0]) else {
        return;
    };
    let mut t = &mut p.ty;
    for seg in &path[1..] {
        let FlinkType::Row(fields) = t else { return };
        let Some((_, ft)) = fields.iter_mut().find(|(k, _)| k == seg) else {
            return;
        };
        t = ft;
    }
    *t = ty;
}

/// Hologres folds unquoted names to lower case and caps them at 63 bytes: give every
/// sink column a lower-case, unique, short-enough name, warning on every collision.
fn assign_sink_names(columns: &mut [Column], diags: &mut Vec<Diagnostic>, file: &str) {
    // Sink name → the column that has it; base name → the next suffix to try.
    let mut used: HashMap<String, String> = HashMap::with_capacity(columns.len());
    let mut next: HashMap<String, usize> = HashMap::new();
    for c in columns.iter_mut() {
        let wanted = if c.sink_name.is_empty() { c.name.clone() } else { c.sink_name.clone() };
        let base = fit63(&wanted.to_lowercase(), &wanted);
        let mut name = base.clone();
        if used.contains_key(&name) {
            let n = next.entry(base.clone()).or_insert(2);
            while used.contains_key(&name) {
                name = fit63(&format!("{base}_{n}"), &wanted);
                *n += 1;
            }
        }
        if let Some(first) = used.get(&base) {
            diags.push(Diagnostic::warning(format!(
                "{file}: columns `{first}` and `{}` both fold to `{base}` in Hologres; `{}` is written as `{name}`",
                c.name, c.name
            )));
        }
        used.insert(name.clone(), c.name.clone());
        c.sink_name = name;
    }
}

/// Caps a name at 63 bytes, keeping it unique with a short hash of the original.
fn fit63(name: &str, original: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    let mut cut = 54;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &crate::spec::digest(&[original.as_bytes()])[..8])
}

#[cfg(test)]
mod tests;
