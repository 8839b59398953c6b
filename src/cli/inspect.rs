//! `validate`, `render`, `schema` and `sample`: looking at what flinkform makes of the
//! specs and samples, without planning.

use super::*;
use crate::sample::{KafkaSampler, Sampler};

/// `validate`.
pub(super) fn validate(
    root: &Path,
    style: Style,
    progress: Progress<'_>,
    select: &flinkform_core::select::Selection,
) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded.as_ref(), select)?;
    let (desired, _) = project::desired_all(&ws, state.as_ref(), progress)?;
    let mut out = view::diagnostics(&ws.warnings, style);
    for d in &desired {
        for w in &d.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    out.push_str(&format!("Success! {} pipelines are valid.\n", desired.len()));
    ok(out)
}

/// `render --template KIND`: the built-in template of that kind, as compiled in.
pub(super) fn builtin_template(kind: &str) -> Result<Output, Error> {
    let file = flinkform_core::render::KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f);
    let text = file.and_then(|f| flinkform_core::render::BUILTIN.iter().find(|(n, _)| *n == f)).map(|(_, t)| *t);
    match text {
        Some(t) => ok(t.to_string()),
        None => Err(anyhow::anyhow!("no built-in template of kind `{kind}`").into()),
    }
}

/// `render`: the SQL, or the DDL, or the deployment config.
pub(super) fn render(
    root: &Path,
    progress: Progress<'_>,
    name: String,
    ddl: bool,
    deployment: bool,
) -> Result<Output, Error> {
    let resolved = resolve_one(root, &name, None, progress)?;
    let r = &resolved.desired.record;
    ok(if ddl {
        r.ddl.clone()
    } else if deployment {
        r.deployment.clone()
    } else {
        r.sql.clone()
    })
}

/// `sample NAME`: a pipeline's sample (or its schema).
pub(super) fn sample_pipeline(
    root: &Path,
    progress: Progress<'_>,
    name: String,
    messages: u64,
    schema: bool,
) -> Result<Output, Error> {
    if schema {
        return ok(schema_text(&resolve_one(root, &name, Some(messages), progress)?));
    }
    let ws = workspace(root)?;
    let mut p = ws.pipeline(&name)?.clone();
    p.source.sample.messages = messages;
    ok(view::json_lines(&ws.sample_one(&p, progress).map_err(Failed::from)?))
}

/// `sample --topic`: an ad-hoc sample of any topic (or its shape).
pub(super) fn sample_topic(
    messages: u64,
    schema: bool,
    topic: Option<String>,
    bootstrap_servers: Option<String>,
    timeout: Duration,
) -> Result<Output, Error> {
    let source = flinkform_core::spec::SourceSpec::adhoc(
        topic.unwrap_or_default(),
        bootstrap_servers.unwrap_or_default(),
        messages,
        timeout,
    );
    let mut r = KafkaSampler::default().sample(&[&source]);
    let sample = r.pop().expect("one result").map_err(anyhow::Error::from)?;
    if !schema {
        return ok(view::json_lines(&sample));
    }
    let shape = flinkform_core::infer::infer(sample.records(), &Default::default()).map_err(anyhow::Error::msg)?;
    ok(format!("{}: {} records\n\n{}", sample.origin, sample.len(), view::shape_table(&shape)))
}

pub(super) fn schema_text(resolved: &project::Resolved) -> String {
    let d = &resolved.desired;
    let mut out = format!(
        "{}: {} columns, json.timestamp-format.standard = {}\nsample: {}: {} records",
        d.name,
        d.record.columns.len(),
        d.record.timestamp_standard.as_str(),
        d.sample.origin,
        d.sample.records
    );
    if d.sample.skipped_count > 0 {
        out.push_str(&format!(", {} skipped ({})", d.sample.skipped_count, d.sample.skipped));
    }
    out.push_str("\n\n");
    out.push_str(&view::columns_table(&d.record.columns, ""));
    for w in &d.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
