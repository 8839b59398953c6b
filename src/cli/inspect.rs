//! `validate`, `render`, `schema` and `sample`: looking at what flinkform makes of the
//! specs and samples, without planning.

use super::*;
use crate::sample::{KafkaSampler, Sampler};
use flinkform_core::state::PipelineState;
use std::collections::{BTreeMap, BTreeSet};

/// `validate`.
pub(super) fn validate(
    root: &Path,
    style: Style,
    progress: Progress<'_>,
    select: &flinkform_core::select::Selection,
) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    require_pipelines(root, &ws, false)?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded.as_ref(), select)?;
    let (desired, _) = project::desired_all(&mut ws, state.as_ref(), progress)?;
    let mut out = view::diagnostics(&ws.warnings, style);
    for d in &desired {
        for w in &d.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    let n = desired.len();
    out.push_str(&format!(
        "Success! {} {} valid.\n",
        view::count(n as u64, "pipeline"),
        if n == 1 { "is" } else { "are" }
    ));
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
        r.all_ddl()
    } else if deployment {
        r.deployment.clone()
    } else {
        r.sql.clone()
    })
}

/// `render --select`: each selected pipeline's artifact, under a header naming it.
pub(super) fn render_selected(
    root: &Path,
    progress: Progress<'_>,
    select: &flinkform_core::select::Selection,
    ddl: bool,
    deployment: bool,
) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded.as_ref(), select)?;
    let (desired, _) = project::desired_all(&mut ws, state.as_ref(), progress)?;
    let mut out = String::new();
    for d in &desired {
        let r = &d.record;
        let [sql, all_ddl, deploy] = r.artifacts();
        let text = if ddl {
            all_ddl
        } else if deployment {
            deploy
        } else {
            sql
        };
        let comment = if deployment { "#" } else { "--" };
        out.push_str(&format!("{comment} ==== {} ({})\n{text}\n", d.name, r.file));
    }
    ok(out)
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
    // A topic is sampled at its newest messages; a sample file's newest records are its
    // last ones, so the whole file is read and its tail shown.
    let from_file = p.source.sample.file.is_some();
    p.source.sample.messages = if from_file { u64::MAX } else { messages };
    let lines = view::json_lines(&ws.sample_one(&p, progress).map_err(Failed::from)?);
    if !from_file {
        return ok(lines);
    }
    let n = usize::try_from(messages).unwrap_or(usize::MAX);
    let all: Vec<&str> = lines.lines().collect();
    ok(all[all.len().saturating_sub(n)..].iter().map(|l| format!("{l}\n")).collect())
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
    let shape = flinkform_core::infer::of_sample(&sample, &Default::default());
    ok(format!("{}: {}\n\n{}", sample.origin, view::count(sample.len() as u64, "record"), view::shape_table(&shape)))
}

pub(super) fn schema_text(resolved: &project::Resolved) -> String {
    let d = &resolved.desired;
    let mut out = format!(
        "{}: {} columns, json.timestamp-format.standard = {}\nsample: {}\n\n",
        d.name,
        d.record.columns.len(),
        d.record.timestamp_standard.as_str(),
        view::sample_text(&d.sample)
    );
    out.push_str(&view::columns_table(&d.record.columns, ""));
    for w in &d.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// `ls`: the selected pipelines, and what the state records of each.
pub(super) fn ls(root: &Path, select: &flinkform_core::select::Selection, json: bool) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded.as_ref(), select)?;
    let status = |name: &str| {
        state.as_ref().and_then(|s| s.pipelines.get(name)).map_or("not applied".to_string(), |p| p.status.to_string())
    };
    let rows: Vec<Vec<serde_json::Value>> = ws
        .project
        .pipelines
        .iter()
        .map(|p| {
            let table = p.sinks.iter().map(flinkform_core::spec::Sink::label).collect::<Vec<_>>().join(",");
            vec![
                p.name.clone().into(),
                p.source.topic.clone().into(),
                table.into(),
                p.tags.clone().into(),
                status(&p.name).into(),
            ]
        })
        .collect();
    ok(table(&["NAME", "TOPIC", "TABLE", "TAGS", "STATUS"], &rows, json))
}

/// `show PLAN`: a saved plan; as Markdown, the comment `plan` would post for it (the
/// project's marker, the plan's environment), so `comment` finds the same comment.
pub(super) fn show(root: &Path, file: &Path, format: Format, style: Style) -> Result<Output, Error> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let plan = flinkform_core::plan::file::from_text(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a plan saved with `plan -out`: {e}", file.display()))?;
    if format == Format::Markdown {
        let (project, log) = (super::plan::project_id(root), ci_log_url());
        let comment = super::plan::comment_for(project.as_deref(), plan.env.as_deref(), &log);
        return ok(view::markdown::plan(&plan, &comment));
    }
    ok(view::plan(&plan, format, style))
}

/// `diff FROM TO`: each pipeline as environment `from` renders it against `to`.
pub(super) fn diff_envs(root: &Path, progress: Progress<'_>, from: &str, to: &str) -> Result<Output, Error> {
    let render = |env: &str| -> Result<BTreeMap<String, PipelineState>, Error> {
        let mut ws = Workspace::load_env(root, Some(env))?;
        let state = ws.store()?.load()?;
        let (desired, _) = project::desired_all(&mut ws, state.as_ref(), progress)?;
        Ok(desired.into_iter().map(|d| (d.name, *d.record)).collect())
    };
    let (a, b) = (render(from)?, render(to)?);
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = String::new();
    let mut differ = Vec::new();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        let texts = |p: Option<&PipelineState>| p.map_or_else(Default::default, PipelineState::artifacts);
        let (old, new) = (texts(x), texts(y));
        let mut diffs = String::new();
        for (i, label) in PipelineState::ARTIFACTS.into_iter().enumerate() {
            diffs.push_str(&view::unified(&old[i], &new[i], &format!("{name}/{label}")));
        }
        if !diffs.is_empty() {
            let what = match (x, y) {
                (Some(_), None) => format!(" (only in {from})"),
                (None, Some(_)) => format!(" (only in {to})"),
                _ => String::new(),
            };
            out.push_str(&format!("# {name}{what}\n{diffs}\n"));
            differ.push(name.clone());
        }
    }
    out.push_str(&match differ.len() {
        0 => format!("{from} and {to} render every pipeline the same.\n"),
        n => format!(
            "{} differ{} between {from} and {to}: {}.\n",
            view::count(n as u64, "pipeline"),
            if n == 1 { "s" } else { "" },
            differ.join(", ")
        ),
    });
    ok(out)
}
