//! Resolution: the inferred [`Shape`] plus the `[schema]` overrides of a spec become
//! the columns of a pipeline: the source table's physical and computed columns, the
//! watermark, and the sink columns with their Hologres names and types. Pure.

use crate::diag::{Diagnostic, suggest};
use crate::infer::{Shape, TsStandard};
use crate::spec::{Conversion, Pipeline};
use crate::types::{FlinkType, HoloType, quote_ident};

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
pub fn resolve(pipeline: &Pipeline, root: &Shape, standard: TsStandard) -> (Option<Schema>, Vec<Diagnostic>) {
    let spec = &pipeline.schema;
    let file = &pipeline.file;
    let mut diags = Vec::new();
    let total = root.stats.objects;
    let empty = crate::infer::Object::default();
    let fields = &root.object.as_ref().unwrap_or(&empty).fields;

    // Physical columns: every readable top-level key, read as its storage type.
    let mut physical: Vec<Physical> = Vec::new();
    let mut candidates = Vec::new();
    for (key, shape) in fields {
        if !crate::types::nameable(key) {
            diags.push(Diagnostic::warning(format!(
                "{file}: the sample has the JSON key {key:?}, which Flink SQL cannot name (empty or with a line break); it is left out"
            )));
            continue;
        }
        let logical = shape.flink_type(standard);
        physical.push(Physical { key: key.clone(), ty: storage_type(&logical, spec.flatten) });
        expand(key.clone(), vec![key.clone()], shape, &logical, spec.flatten, standard, &mut candidates);
    }

    // Overrides.
    let mut columns = Vec::new();
    let mut computed = Vec::new();
    let mut excluded = Vec::new();
    for c in &spec.columns {
        if !c.exclude && c.ty.is_none() && c.from.is_none() && c.rename.is_none() {
            diags.push(Diagnostic::warning(format!("{file}: [schema] columns.{} changes nothing", c.name)));
        }
        let known = candidates.iter().any(|k: &Candidate| k.name == c.name);
        if !known && c.ty.is_none() {
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
    for cand in &candidates {
        let ov = spec.columns.iter().find(|c| c.name == cand.name);
        if ov.is_some_and(|o| o.exclude) {
            excluded.push(cand.name.clone());
            continue;
        }
        let logical = cand.shape.flink_type(standard);
        let evidence = Evidence {
            present: cand.shape.stats.present,
            total,
            nulls: cand.shape.stats.nulls,
            notes: cand.shape.notes(&logical, standard),
        };
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
            apply_override(pipeline, o, &mut col, cand, &mut physical, &mut computed, &mut diags);
        }
        columns.push(col);
    }
    // Pinned columns the sample does not show.
    for o in spec.columns.iter().filter(|o| !o.exclude && !candidates.iter().any(|k| k.name == o.name)) {
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
            physical.push(Physical { key: o.name.clone(), ty: storage_type(ty, false) });
        }
        apply_override(pipeline, o, &mut col, &cand, &mut physical, &mut computed, &mut diags);
        columns.push(col);
    }
    // An excluded top-level key leaves the source table too, unless something still reads it.
    physical.retain(|p| {
        let q = quote_ident(&p.key);
        !excluded.contains(&p.key)
            || columns.iter().any(|c| c.expr.starts_with(&q))
            || computed.iter().any(|c| c.expr.contains(&q))
    });

    assign_sink_names(&mut columns, &mut diags, file);

    if columns.is_empty() {
        diags.push(
            Diagnostic::error(format!("{file}: no columns: the sample holds no usable field"))
                .with_help("declare the columns in [schema] with `columns.NAME = { type = \"...\" }`"),
        );
    }

    // Primary key.
    let mut primary_key = Vec::new();
    for k in &spec.primary_key {
        match columns.iter_mut().find(|c| &c.name == k) {
            Some(c) if !c.ty.can_be_primary_key() => diags.push(
                spec_error(
                    pipeline,
                    "schema.primary_key",
                    format!(
                        "primary key column `{k}` is {}; Hologres keys cannot be FLOAT, DOUBLE, DECIMAL, ARRAY or JSON",
                        c.ty
                    ),
                )
                .with_help(format!("pin its type, e.g. `columns.{k} = {{ type = \"STRING\" }}`")),
            ),
            Some(c) => {
                c.nullable = false;
                primary_key.push(c.sink_name.clone());
            }
            None => diags.push(missing(pipeline, "primary_key", k, &columns, &excluded)),
        }
    }

    // Event time.
    let mut watermark = None;
    if let Some(et) = &spec.event_time {
        match columns.iter().find(|c| c.name == et.column) {
            None => diags.push(missing(pipeline, "event_time.column", &et.column, &columns, &excluded)),
            Some(c) => {
                let source_col = computed
                    .iter()
                    .find(|k| quote_ident(&k.name) == c.expr)
                    .map(|k| k.name.clone())
                    .or_else(|| physical.iter().find(|p| quote_ident(&p.key) == c.expr).map(|p| p.key.clone()));
                let ok_type = matches!(c.ty, FlinkType::Timestamp(p) | FlinkType::TimestampLtz(p) if p <= 3);
                match source_col {
                    Some(s) if ok_type => watermark = Some((s, et.delay_secs)),
                    Some(_) => diags.push(
                        spec_error(pipeline, "schema.event_time.column", format!(
                            "event_time column `{}` is {}; a watermark needs TIMESTAMP(3) or TIMESTAMP_LTZ(3)",
                            c.name, c.ty
                        ))
                        .with_help(format!(
                            "pin or convert it: `columns.{} = {{ type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\" }}`",
                            c.name
                        )),
                    ),
                    None => diags.push(spec_error(pipeline, "schema.event_time.column", format!(
                        "event_time column `{}` is a nested field; a watermark needs a top-level or converted column",
                        c.name
                    ))),
                }
            }
        }
    }

    check_sink_keys(pipeline, &columns, &primary_key, &mut diags);

    let ok = !diags.iter().any(Diagnostic::is_error);
    let schema = Schema { standard, physical, computed, watermark, columns, primary_key };
    (ok.then_some(schema), diags)
}

/// An error about the spec key `key` of `p`: pointing at where it is written (in the
/// pipeline file or in flinkform.toml's defaults), or naming the file.
fn spec_error(p: &Pipeline, key: &str, message: String) -> Diagnostic {
    match p.locations.get(key) {
        Some(at) => Diagnostic::error(message).at(Some(at)),
        None => Diagnostic::error(format!("{}: {message}", p.file)),
    }
}

fn missing(p: &Pipeline, what: &str, name: &str, columns: &[Column], excluded: &[String]) -> Diagnostic {
    let key = format!("schema.{what}");
    if excluded.iter().any(|e| e == name) {
        return spec_error(p, &key, format!("[schema] {what} names `{name}`, which is excluded"));
    }
    let d = spec_error(p, &key, format!("[schema] {what} names `{name}`, which is not a column"));
    match suggest(name, columns.iter().map(|c| c.name.as_str())) {
        Some(near) => d.with_help(format!("did you mean `{near}`?")),
        None => d.with_help("`flinkform schema NAME` lists the columns"),
    }
}

/// Expands a top-level key into candidate columns (flattening nested ROWs when asked).
fn expand<'s>(
    name: String,
    path: Vec<String>,
    shape: &'s Shape,
    logical: &FlinkType,
    flatten: bool,
    std: TsStandard,
    out: &mut Vec<Candidate<'s>>,
) {
    if let (true, FlinkType::Row(_), Some(obj)) = (flatten, logical, &shape.object) {
        for (k, child) in obj.fields.iter().filter(|(k, _)| crate::types::nameable(k)) {
            let mut p = path.clone();
            p.push(k.clone());
            expand(format!("{name}_{k}"), p, child, &child.flink_type(std), flatten, std, out);
        }
        return;
    }
    out.push(Candidate { name, path, shape });
}

/// The type the source table declares for a logical type: values that go to a jsonb
/// column are read as JSON text; with `flatten`, ROWs keep their structure.
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

fn apply_override(
    p: &Pipeline,
    o: &crate::spec::ColumnSpec,
    col: &mut Column,
    cand: &Candidate<'_>,
    physical: &mut [Physical],
    computed: &mut Vec<Computed>,
    diags: &mut Vec<Diagnostic>,
) {
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
                            format!("column `{}` converted from epoch needs type TIMESTAMP_LTZ(3), not {ty}", o.name),
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

/// Hologres folds unquoted names to lower case and caps them at 63 bytes: give every
/// sink column a lower-case, unique, short-enough name, warning on every collision.
fn assign_sink_names(columns: &mut [Column], diags: &mut Vec<Diagnostic>, file: &str) {
    let mut used: Vec<(String, String)> = Vec::new();
    for c in columns.iter_mut() {
        let wanted = if c.sink_name.is_empty() { c.name.clone() } else { c.sink_name.clone() };
        let base = fit63(&wanted.to_lowercase(), &wanted);
        let mut name = base.clone();
        let mut n = 2;
        while used.iter().any(|(u, _)| *u == name) {
            name = fit63(&format!("{base}_{n}"), &wanted);
            n += 1;
        }
        if let Some((_, first)) = used.iter().find(|(u, _)| *u == base) {
            diags.push(Diagnostic::warning(format!(
                "{file}: columns `{first}` and `{}` both fold to `{base}` in Hologres; `{}` is written as `{name}`",
                c.name, c.name
            )));
        }
        used.push((name.clone(), c.name.clone()));
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

fn check_sink_keys(p: &Pipeline, columns: &[Column], pk: &[String], diags: &mut Vec<Diagnostic>) {
    let sink_of =
        |name: &str| columns.iter().find(|c| c.name == name || c.sink_name == name).map(|c| c.sink_name.clone());
    for (what, names) in [("distribution_key", &p.sink.distribution_key), ("clustering_key", &p.sink.clustering_key)] {
        for n in names {
            match sink_of(n) {
                None => diags.push(spec_error(
                    p,
                    &format!("sink.{what}"),
                    format!("[sink] {what} names `{n}`, which is not a column"),
                )),
                Some(s) if what == "distribution_key" && !pk.is_empty() && !pk.contains(&s) => diags.push(
                    spec_error(
                        p,
                        "sink.distribution_key",
                        format!("[sink] distribution_key `{n}` is not part of the primary key"),
                    )
                    .with_help("Hologres needs the distribution key to be a subset of the primary key"),
                ),
                Some(_) => {}
            }
        }
    }
    if let Some(n) = &p.sink.event_time_column
        && sink_of(n).is_none()
    {
        diags.push(spec_error(
            p,
            "sink.event_time_column",
            format!("[sink] event_time_column names `{n}`, which is not a column"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::infer::{InferConfig, infer};

    const CONFIG: &str = "version = 1\n[vvp]\nregion = \"r\"\nworkspace = \"w\"\nnamespace = \"n\"\n";

    /// Resolves a pipeline whose `[schema]` (and extra `[sink]` keys) are given, over records.
    fn resolve_with(schema: &str, sink: &str, records: &[&str]) -> (Option<Schema>, Vec<String>) {
        let spec = format!(
            "[pipeline]\nname = \"p\"\n[source]\ntopic = \"t\"\nbootstrap_servers = \"k:1\"\n[schema]\n{schema}\n\
             [sink]\nendpoint = \"h:80\"\ndatabase = \"d\"\ntable = \"t\"\nusername = \"u\"\n{sink}\n\
             [deployment]\nengine_version = \"vvr-8.0.11-flink-1.17\"\n"
        );
        let (project, diags) =
            crate::spec::load(&Source::new("flinkform.toml", CONFIG), &[Source::new("p.toml", spec)]);
        assert!(diags.is_empty(), "{diags:?}");
        let p = &project.unwrap().pipelines[0];
        let shape = infer(records.iter().map(|r| r.as_bytes()), &InferConfig::default()).unwrap();
        let (s, diags) = resolve(p, &shape, shape.choose_standard());
        (
            s,
            diags
                .iter()
                .map(|d| format!("{}{}", d.message, d.help.as_deref().map_or(String::new(), |h| format!(" ({h})"))))
                .collect(),
        )
    }

    fn ok(schema: &str, records: &[&str]) -> Schema {
        let (s, d) = resolve_with(schema, "", records);
        s.unwrap_or_else(|| panic!("{d:?}"))
    }

    fn err(schema: &str, sink: &str, records: &[&str]) -> String {
        let (s, d) = resolve_with(schema, sink, records);
        assert!(s.is_none(), "expected an error");
        d.join("\n")
    }

    #[test]
    fn epoch_conversion_renders_a_computed_column_and_watermark() {
        let s = ok(
            "columns.ts = { type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\" }\nevent_time = { column = \"ts\", watermark_delay = \"2s\" }",
            &[r#"{"ts": 1714557600000, "ts_converted": 1}"#],
        );
        assert_eq!(s.physical[0], Physical { key: "ts".into(), ty: FlinkType::BigInt });
        assert_eq!(s.computed, [Computed { name: "ts_converted_2".into(), expr: "TO_TIMESTAMP_LTZ(`ts`, 3)".into() }]);
        assert_eq!(s.watermark, Some(("ts_converted_2".into(), 2)));
        let c = s.column("ts").unwrap();
        assert_eq!(
            (c.sink_name.as_str(), c.expr.as_str(), &c.ty),
            ("ts", "`ts_converted_2`", &FlinkType::TimestampLtz(3))
        );
    }

    #[test]
    fn expressions_and_declared_columns() {
        let s = ok(
            "columns.amount = { type = \"DECIMAL(18, 2)\", expr = \"CAST(`amount_text` AS DECIMAL(18, 2))\" }\n\
             columns.extra = { type = \"BIGINT\" }",
            &[r#"{"amount_text": "12.50"}"#],
        );
        assert_eq!(
            s.computed[0],
            Computed { name: "amount".into(), expr: "CAST(`amount_text` AS DECIMAL(18, 2))".into() }
        );
        assert!(s.physical.iter().any(|p| p.key == "extra" && p.ty == FlinkType::BigInt), "{:?}", s.physical);
        assert_eq!(s.column("amount").unwrap().holo.sql, "numeric(18,2)");
    }

    #[test]
    fn bad_conversions_and_keys_are_errors_with_help() {
        let e =
            err("columns.ts = { type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\" }", "", &[r#"{"ts": "2024"}"#]);
        assert!(e.contains("converted from epoch numbers, but the sample holds STRING"), "{e}");
        let e = err("event_time = { column = \"ts\" }", "", &[r#"{"ts": "2024-01-01 10:00:00.123456"}"#]);
        assert!(e.contains("event_time column `ts` is TIMESTAMP(6); a watermark needs TIMESTAMP(3)"), "{e}");
        let e = err("primary_key = [\"price\"]", "", &[r#"{"price": 1.5}"#]);
        assert!(e.contains("primary key column `price` is DOUBLE"), "{e}");
        let e = err("primary_key = [\"ide\"]", "", &[r#"{"id": 1}"#]);
        assert!(e.contains("names `ide`, which is not a column (did you mean `id`?)"), "{e}");
        let e = err("primary_key = [\"id\"]", "distribution_key = [\"x\"]", &[r#"{"id": 1, "x": 2}"#]);
        assert!(e.contains("distribution_key `x` is not part of the primary key"), "{e}");
        let e = err("columns.nope = { rename = \"n\" }", "", &[r#"{"id": 1}"#]);
        assert!(e.contains("columns.nope names a column that is not in the sample"), "{e}");
    }

    #[test]
    fn exclude_rename_and_hologres_names() {
        let long = "k".repeat(70);
        let rec = format!(r#"{{"Id": 1, "id": 2, "debug": {{"a": 1}}, "{long}": 3, "{long}X": 4}}"#);
        let (s, warnings) =
            resolve_with("columns.debug = { exclude = true }\ncolumns.Id = { rename = \"ID_A\" }", "", &[&rec]);
        let s = s.unwrap();
        assert!(!s.physical.iter().any(|p| p.key == "debug"), "an excluded key leaves the source");
        let names: Vec<&str> = s.columns.iter().map(|c| c.sink_name.as_str()).collect();
        assert_eq!(names[..2], ["id_a", "id"]);
        assert!(names[2].len() <= 63 && names[3].len() <= 63 && names[2] != names[3], "{names:?}");
        assert!(warnings.is_empty(), "a rename avoids the fold collision: {warnings:?}");
    }

    #[test]
    fn flattened_pin_changes_the_nested_field() {
        let s =
            ok("flatten = true\ncolumns.user_id = { type = \"STRING\" }", &[r#"{"user": {"id": 7, "tags": ["a"]}}"#]);
        assert_eq!(s.physical[0].ty.to_string(), "ROW<`id` STRING, `tags` ARRAY<STRING>>");
        let c = s.column("user_id").unwrap();
        assert_eq!((c.expr.as_str(), c.origin), ("`user`.`id`", Origin::Pinned));
    }
}
