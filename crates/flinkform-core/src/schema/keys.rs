//! The keys of a schema: the primary key (NOT NULL, and what the sample shows of it),
//! the watermark, and the Hologres keys the sink declares.

use std::collections::HashSet;

use super::{Column, Computed, Origin, Physical, missing, spec_error};
use crate::diag::Diagnostic;
use crate::infer::Shape;
use crate::spec::Pipeline;
use crate::types::{FlinkType, quote_ident};

/// The primary key's sink names; its columns become NOT NULL. The spec's key, else the
/// one the source declared (a change stream's `pkNames`), which a change stream needs:
/// its updates and deletes find their rows by it.
pub(super) fn primary_key(
    pipeline: &Pipeline,
    root: &Shape,
    columns: &mut [Column],
    excluded: &HashSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let spec = &pipeline.schema;
    let declared = root.object.as_ref().map(|o| &o.keys);
    let mut keys = &spec.primary_key;
    let format = pipeline.source.format;
    if keys.is_empty() && format.is_changelog() {
        match declared.map(|d| d.iter().collect::<Vec<_>>()).as_deref() {
            Some([one]) => {
                keys = one;
                for c in columns.iter_mut().filter(|c| one.contains(&c.name)) {
                    c.evidence.notes.push(format!("in the primary key the events declare ({})", one.join(", ")));
                }
            }
            Some([_, _, ..]) => diags.push(Diagnostic::error(format!(
                "{}: the events declare different primary keys ({}); set [schema] primary_key",
                pipeline.file,
                declared.into_iter().flatten().map(|k| format!("[{}]", k.join(", "))).collect::<Vec<_>>().join(", ")
            ))),
            _ => diags.push(
                Diagnostic::error(format!(
                    "{}: a {} change stream upserts and deletes rows by their primary key, and its events declare none",
                    pipeline.file,
                    format.name()
                ))
                .with_help("set [schema] primary_key"),
            ),
        }
    }
    let mut primary_key = Vec::new();
    for k in keys {
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
                let e = &c.evidence;
                let missing = e.total.saturating_sub(e.present);
                if c.origin == Origin::Inferred && (missing > 0 || e.nulls > 0) {
                    diags.push(Diagnostic::warning(format!(
                        "{}: primary key column `{k}` is missing in {missing} and null in {} of {} sampled records: \
                         such a record fails the job (a key column is NOT NULL)",
                        pipeline.file, e.nulls, e.total
                    )));
                }
                primary_key.push(c.sink_name.clone());
            }
            None => diags.push(missing(pipeline, "primary_key", k, columns, excluded)),
        }
    }

    primary_key
}

/// The watermark: the source column of `[schema] event_time` and its delay.
pub(super) fn watermark(
    pipeline: &Pipeline,
    columns: &[Column],
    physical: &[Physical],
    computed: &[Computed],
    excluded: &HashSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, u64)> {
    let spec = &pipeline.schema;
    let mut watermark = None;
    if let Some(et) = &spec.event_time {
        match columns.iter().find(|c| c.name == et.column) {
            None => diags.push(missing(pipeline, "event_time.column", &et.column, columns, excluded)),
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

    watermark
}

/// The Hologres keys a sink declares name columns it writes; the distribution key is
/// part of its primary key.
pub(super) fn check_sink_keys(
    p: &Pipeline,
    sink: &crate::spec::SinkSpec,
    key: &str,
    columns: &[Column],
    pk: &[String],
    diags: &mut Vec<Diagnostic>,
) {
    let sink_of =
        |name: &str| columns.iter().find(|c| c.name == name || c.sink_name == name).map(|c| c.sink_name.clone());
    for (what, names) in [("distribution_key", &sink.distribution_key), ("clustering_key", &sink.clustering_key)] {
        for n in names {
            match sink_of(n) {
                None => diags.push(spec_error(
                    p,
                    &format!("{key}.{what}"),
                    format!("[sink] {what} names `{n}`, which is not a column"),
                )),
                Some(s) if what == "distribution_key" && !pk.is_empty() && !pk.contains(&s) => diags.push(
                    spec_error(
                        p,
                        &format!("{key}.distribution_key"),
                        format!("[sink] distribution_key `{n}` is not part of the primary key"),
                    )
                    .with_help("Hologres needs the distribution key to be a subset of the primary key"),
                ),
                Some(_) => {}
            }
        }
    }
    if let Some(n) = &sink.event_time_column
        && sink_of(n).is_none()
    {
        diags.push(spec_error(
            p,
            &format!("{key}.event_time_column"),
            format!("[sink] event_time_column names `{n}`, which is not a column"),
        ));
    }
}
