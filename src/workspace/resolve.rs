//! One pipeline through the pure core: inference over its sample (joined with the
//! recorded shape), the schema (with live dimension tables), rendering, and the
//! state it records.

use flinkform_core::change;
use flinkform_core::diag::Diagnostic;
use flinkform_core::infer::Shape;
use flinkform_core::plan::{Desired, SampleSummary};
use flinkform_core::render::Renderer;
use flinkform_core::schema::{self, Schema, SinkSchema};
use flinkform_core::spec::{Pipeline, Sink, Target, digest};
use flinkform_core::state::{ColumnRecord, KafkaRecord, PipelineState, RecordedShape, SinkRecord, SinkState};
use flinkform_core::types::Integers;

use super::Failed;
use crate::sampler::Sample;

/// One pipeline, desired: what inference, resolution and rendering made of it.
pub struct Resolved {
    /// The resolved columns.
    pub schema: Schema,
    /// What plan compares and apply records.
    pub desired: Desired,
}

/// Runs the pure core for one pipeline over its sample and its recorded state.
pub fn resolve(
    p: &Pipeline,
    sample: &Sample,
    recorded: Option<&PipelineState>,
    renderer: &Renderer,
) -> Result<(Resolved, Vec<Diagnostic>), Failed> {
    let pinned = p.schema.columns.iter().any(|c| c.ty.is_some() && c.from.is_none() && !c.exclude);
    if sample.is_empty() && recorded.is_none() && !pinned {
        let skipped = match sample.skipped.total() {
            0 => "it holds no records".to_string(),
            _ => format!("all {} records were skipped ({})", sample.skipped.total(), sample.skipped.describe()),
        };
        return Err(Diagnostic::error(format!("{}: no usable JSON record in {}: {skipped}", p.file, sample.origin))
            .with_help("pin the schema in [schema] with `columns.NAME = { type = \"...\" }`, or give a sample file")
            .into());
    }
    let (today, changes) =
        infer_sample(p, sample).map_err(|e| Diagnostic::error(format!("{}: sample {}: {e}", p.file, sample.origin)))?;
    let mut merged = recorded.map_or_else(Shape::default, |r| r.shape.shape());
    merged.join(&today);
    // Below the root only: the root's keys are the table's columns.
    if let Some(o) = &mut merged.object {
        o.fields.values_mut().for_each(|f| f.cap_maps(&p.schema.infer));
    }
    let recorded_std =
        recorded.filter(|r| r.columns.iter().any(|c| c.ty.contains("TIMESTAMP"))).map(|r| r.timestamp_standard);
    let standard = p.schema.timestamp_standard.or(recorded_std).unwrap_or_else(|| merged.choose_standard());
    let integers = recorded.map_or(Integers::BigInt, |r| r.integers);
    let dims = dimensions(p)?;
    let (schema, diags) = schema::resolve(p, &merged, standard, integers, &dims);
    let Some(schema) = schema else {
        return Err(Failed(diags));
    };
    let rendered = renderer.render(p, &schema).map_err(|e| Diagnostic::error(format!("{}: {e}", p.file)))?;
    let settings_text: String = p.settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut sinks = p.sinks.iter().zip(&schema.sinks).zip(rendered.ddls).map(|((s, ss), ddl)| sink_state(s, ss, ddl));
    let first = sinks.next().expect("a pipeline has a sink");
    let record = PipelineState {
        file: p.file.clone(),
        spec_digest: digest(&[settings_text.as_bytes()]),
        settings: p.settings.clone(),
        settings_form: flinkform_core::spec::SETTINGS_FORM,
        topic: p.source.topic.clone(),
        sink_table: first.sink.label(),
        primary_key: first.primary_key,
        protect: p.protect,
        shape: RecordedShape::of(&merged),
        timestamp_standard: standard,
        integers,
        columns: first.columns,
        sql: rendered.sql,
        ddl: first.ddl,
        deployment: rendered.deployment,
        templates: rendered.templates,
        deploy: rendered.deploy,
        sink: first.sink,
        more_sinks: sinks.collect(),
        remote: Default::default(),
        status: flinkform_core::state::Status::Planned,
        intent: flinkform_core::state::Intent::Running,
        pending: None,
        error: None,
        history: Vec::new(),
    };
    let warnings = diags.iter().filter(|d| !d.is_error()).map(|d| d.message.clone()).collect();
    let desired = Desired {
        name: p.name.clone(),
        record: Box::new(record),
        sample: SampleSummary {
            origin: sample.origin.clone(),
            records: sample.len() as u64,
            skipped: sample.skipped.describe(),
            skipped_count: sample.skipped.total(),
            cached: sample.cached,
            changes: changes.map(|c| {
                format!(
                    "{}; the sink upserts and deletes rows by the primary key ({})",
                    c.describe(p.source.format),
                    schema.primary_key.join(", ")
                )
            }),
        },
        warnings,
    };
    Ok((Resolved { schema, desired }, diags))
}

/// What the state records of a sink: its table (or topic), the columns it is written,
/// its key and its DDL.
fn sink_state(sink: &Sink, schema: &SinkSchema, ddl: String) -> SinkState {
    let record = match &sink.target {
        Target::Table(h) => SinkRecord {
            dialect: h.dialect,
            schema: h.schema.clone(),
            table: h.table.clone(),
            fixed: flinkform_core::render::table_properties(h, &schema.columns)
                .into_iter()
                .filter(|(k, _)| flinkform_core::render::FIXED_PROPERTIES.contains(k))
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            dsn_env: h.dsn_env.clone(),
            on_conflict: h.on_conflict,
            kafka: None,
        },
        Target::Kafka(k) => SinkRecord {
            dialect: flinkform_core::spec::Dialect::Hologres,
            schema: String::new(),
            table: k.topic.clone(),
            fixed: Default::default(),
            dsn_env: None,
            on_conflict: flinkform_core::spec::OnConflict::Update,
            kafka: Some(KafkaRecord { upsert: k.upsert }),
        },
    };
    SinkState {
        sink: record,
        columns: schema.columns.iter().map(column_record).collect(),
        primary_key: schema.primary_key.clone(),
        ddl,
    }
}

fn column_record(c: &flinkform_core::schema::Column) -> ColumnRecord {
    ColumnRecord {
        name: c.name.clone(),
        sink_name: c.sink_name.clone(),
        ty: c.ty.to_string(),
        hologres: c.holo.sql.clone(),
        nullable: c.nullable,
        evidence: (&c.evidence).into(),
    }
}

/// What the Kafka sinks' clusters say of their topics, for a pipeline sampled from
/// Kafka (a plan that reads files is offline): a missing topic is a warning, since the
/// job does not create it. The source's `sample_bootstrap_servers` stand for its own
/// cluster; a cluster that cannot be reached is not checked.
pub(super) fn kafka_sink_topics(p: &Pipeline) -> Vec<String> {
    let src = &p.source;
    let mut out = Vec::new();
    for s in &p.sinks {
        let Target::Kafka(k) = &s.target else { continue };
        let servers = match &src.sample_bootstrap_servers {
            Some(here) if k.bootstrap_servers == src.bootstrap_servers => here.as_str(),
            _ => k.bootstrap_servers.as_str(),
        };
        match crate::sampler::topic_partitions(servers, &k.topic, src.sample.timeout) {
            Ok(Some(n)) => tracing::debug!(topic = %k.topic, partitions = n, "sink topic exists"),
            Ok(None) => out.push(format!(
                "{}: the sink topic {} does not exist on {servers}: create it before the job starts (Flink's Kafka sink does not)",
                p.file, k.topic
            )),
            Err(e) => tracing::debug!(topic = %k.topic, error = %e, "sink topic not checked"),
        }
    }
    out
}

/// The dimension tables of a pipeline's lookups, read from the live database through
/// `[sink] dsn_env` where a column's type is not pinned and the variable is set.
fn dimensions(p: &Pipeline) -> Result<Vec<Option<schema::Dimension>>, Diagnostic> {
    let sink = p.table_sinks().next();
    let env = sink.and_then(|s| s.dsn_env.as_deref()).filter(|e| std::env::var(e).is_ok_and(|v| !v.is_empty()));
    p.lookups
        .iter()
        .map(|l| {
            let unpinned = l.on.iter().map(|(_, c)| c).chain(&l.columns).any(|c| !l.types.contains_key(c));
            let Some(env) = env.filter(|_| unpinned) else { return Ok(None) };
            match crate::sink::dimension(env, &l.schema, &l.table) {
                Ok(Some(d)) => Ok(Some(d)),
                Ok(None) => Err(Diagnostic::error(format!(
                    "{}: the dimension table {} of [[lookup]] does not exist in the database of {env}",
                    p.file,
                    l.qualified()
                ))),
                Err(e) => Err(Diagnostic::error(format!(
                    "{}: cannot read the dimension table {}: {}",
                    p.file,
                    l.qualified(),
                    flinkform_core::diag::chain(&e)
                ))),
            }
        })
        .collect()
}

/// The shape of a sample's rows: the records themselves, or a change stream's row
/// images with what its events declare (and what the events were).
fn infer_sample(p: &Pipeline, sample: &Sample) -> Result<(Shape, Option<change::Changes>), change::ChangeError> {
    let src = &p.source;
    if !src.format.is_changelog() {
        return Ok((sample.infer(&p.schema.infer), None));
    }
    let option_true = |key: String| matches!(src.options.get(&key), Some(flinkform_core::spec::Credential::Literal(v)) if v.eq_ignore_ascii_case("true"));
    let reading = change::Reading {
        format: src.format,
        database: src.database.as_deref(),
        table: src.table.as_deref(),
        ignore_errors: option_true(format!("{}.ignore-parse-errors", src.format.name())),
        schema_include: option_true("debezium-json.schema-include".into()),
    };
    let (shape, changes) = change::infer(reading, sample.records(), &p.schema.infer)?;
    Ok((shape, Some(changes)))
}
