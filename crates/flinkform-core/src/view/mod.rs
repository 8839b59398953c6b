//! Output views: the plan, columns and diagnostics as human text (colour optional),
//! versioned JSON (docs/plan-json.md) and Markdown for pull-request comments.
//! Views return strings; only the CLI writes them out.

pub mod markdown;

use std::fmt::Write as _;

use serde_json::json;
use similar::TextDiff;

use crate::diag::Diagnostic;
use crate::infer::Shape;
use crate::plan::meaning::ChangeClass;
use crate::plan::{Action, Change, FORMAT_VERSION, Plan, SinkDdl};
use crate::sample::Sample;
use crate::state::{ColumnRecord, EvidenceRecord};

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// Versioned JSON (docs/plan-json.md).
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

impl Format {
    /// Every format with its name, as the command line spells it.
    pub const ALL: [(&'static str, Format); 3] =
        [("text", Format::Text), ("json", Format::Json), ("markdown", Format::Markdown)];

    /// The format called `name`.
    pub fn named(name: &str) -> Option<Format> {
        Format::ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }
}

/// ANSI styling, on or off.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Emit colour codes.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    fn action(self, a: Action, s: &str) -> String {
        let code = match a {
            Action::Create => "32",
            Action::Update | Action::Record | Action::HotUpdate => "33",
            Action::Replace => "35",
            Action::Delete => "31",
            Action::Repair => "36",
            Action::NoOp => "0",
        };
        self.paint(code, s)
    }

    fn diff_line(self, line: &str) -> String {
        match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => self.paint("32", line),
            Some(b'-') if !line.starts_with("---") => self.paint("31", line),
            Some(b'@') => self.paint("36", line),
            _ => line.to_string(),
        }
    }
}

/// Said when the plan did not look at VVP.
const NOT_REFRESHED: &str = "Note: VVP was not refreshed (no credentials, or --refresh=false): this plan compares the specs with the recorded state only.";

/// Renders a plan in `format`.
pub fn plan(plan: &Plan, format: Format, style: Style) -> String {
    let mut out = Vec::new();
    write_plan(plan, format, style, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("a plan's text is UTF-8")
}

/// Writes a plan in `format` to `out` as it is made, a pipeline at a time, so that the
/// text of a large plan is never whole in memory.
pub fn write_plan(plan: &Plan, format: Format, style: Style, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match format {
        Format::Text => plan_text(plan, style, out),
        Format::Json => plan_json(plan, out),
        Format::Markdown => out.write_all(markdown::plan(plan, &markdown::Comment::default()).as_bytes()),
    }
}

/// Said of a plan of some pipelines only.
fn partial_note(plan: &Plan, selection: &str) -> String {
    let n = plan.changes.len();
    format!(
        "Note: this plan covers only the selected pipelines ({selection}): {n} pipeline{}. The others are not planned and will not be changed.",
        if n == 1 { "" } else { "s" }
    )
}

/// `n` and `word`, plural unless one (`1 record`, `2 records`).
pub fn count(n: impl Into<u64>, word: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// The summary line, as Terraform users expect it.
pub fn summary_line(plan: &Plan) -> String {
    let blocked = format!("cannot be applied: {} (above).", count(plan.errors.len() as u64, "error"));
    match (plan.has_changes(), plan.errors.is_empty()) {
        (false, true) => return "No changes. The pipelines match the recorded state.".into(),
        (false, false) => return format!("The plan {blocked}"),
        _ => {}
    }
    let s = plan.summary();
    let repair = if s.repair > 0 { format!(", {} to repair", s.repair) } else { String::new() };
    let counts = format!(
        "Plan: {} to add, {} to change, {} to replace, {} to destroy{repair}.{}",
        s.add,
        s.change,
        s.replace,
        s.destroy,
        losses(plan)
    );
    if plan.errors.is_empty() { counts } else { format!("{counts} It {blocked}") }
}

/// The summary's word on restarts that lose a job's state or skip messages, naming a few.
fn losses(plan: &Plan) -> String {
    let state = plan
        .changes
        .iter()
        .filter(|c| matches!(c.class(), Some(ChangeClass::StateLoss | ChangeClass::RestartWithoutState)));
    let skips = plan.changes.iter().filter(|c| c.data.as_ref().is_some_and(|d| d.skips()));
    named(state, ["restarts without state", "restart without state"])
        + &named(skips, ["skips messages on its restart", "skip messages on their restart"])
}

/// ` N jobs WHAT: a, b and 3 more.` of `changes`, `what` said of one and of several (none:
/// empty).
fn named<'a>(changes: impl Iterator<Item = &'a Change>, what: [&str; 2]) -> String {
    const NAMED: usize = 5;
    let names: Vec<&str> = changes.map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        return String::new();
    }
    let more = names.len().saturating_sub(NAMED);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    let what = what[usize::from(names.len() > 1)];
    let shown = names[..names.len().min(NAMED)].join(", ");
    format!(" {} {what}: {shown}{more}.", count(names.len() as u64, "job"))
}

/// A unified diff between two texts, empty when equal.
pub fn unified(old: &str, new: &str, label: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

fn artifacts(c: &Change) -> Vec<(&'static str, String)> {
    let texts = |s: Option<&crate::state::PipelineState>| s.map_or_else(Default::default, |p| p.artifacts());
    let (b, a) = (texts(c.before.as_deref()), texts(c.after.as_deref()));
    crate::state::PipelineState::ARTIFACTS
        .into_iter()
        .zip(b.into_iter().zip(a))
        // A destroyed pipeline keeps its Hologres table: no DDL diff for it.
        .filter(|(label, _)| !(c.action == Action::Delete && *label == "ddl.sql"))
        .map(|(label, (old, new))| (label, unified(&old, &new, &format!("{}/{label}", c.name))))
        .filter(|(_, d)| !d.is_empty())
        .collect()
}

/// Said when a change has sink DDL that flinkform will not run.
fn ddl_note(c: &Change) -> Option<String> {
    let after = c.after.as_deref()?;
    let by_hand: Vec<String> = after
        .sinks()
        .filter(|s| s.sink.dsn_env.is_none() && c.sink_ddl.iter().any(|d| d.sink() == s.tag().as_deref()))
        .map(|s| s.sink.label())
        .collect();
    (!by_hand.is_empty()).then(|| {
        format!(
            "flinkform does not run the sink DDL of `{}` ([sink] dsn_env is not set): run it on {} before the job starts",
            c.name,
            by_hand.join(", ")
        )
    })
}

fn sample_line(c: &Change) -> Option<String> {
    c.sample.as_ref().map(sample_text)
}

/// "samples/orders.jsonl: 40 records, 1 skipped (1 invalid JSON)", and what a change
/// stream's events were.
pub fn sample_text(s: &crate::plan::SampleSummary) -> String {
    let mut line = format!("{}: {}", s.origin, count(s.records, "record"));
    if s.skipped_count > 0 {
        let _ = write!(line, ", {} skipped ({})", s.skipped_count, s.skipped);
    }
    if let Some(ch) = &s.changes {
        let _ = write!(line, "; {ch}");
    }
    if s.cached {
        line.push_str(" (cached: the topic has not changed since it was read; --no-cache reads it again)");
    }
    line
}

/// "38/40 present, 2 null; widened from INT: 3 fractional".
fn evidence_text(e: &EvidenceRecord) -> String {
    let mut ev = format!("{}/{} present", e.present, e.total);
    if e.nulls > 0 {
        let _ = write!(ev, ", {} null", e.nulls);
    }
    for n in &e.notes {
        let _ = write!(ev, "; {n}");
    }
    ev
}

/// The columns of a pipeline as an aligned table with evidence.
pub fn columns_table(cols: &[ColumnRecord], indent: &str) -> String {
    let rows: Vec<[String; 4]> = cols
        .iter()
        .map(|c| {
            let ev = evidence_text(&c.evidence);
            let name = if c.name == c.sink_name { c.name.clone() } else { format!("{} → {}", c.name, c.sink_name) };
            let ty = if c.nullable { c.ty.clone() } else { format!("{} NOT NULL", c.ty) };
            [name, ty, c.hologres.clone(), ev]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    for r in &rows {
        let _ = writeln!(out, "{indent}{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
    }
    out
}

fn plan_text(plan: &Plan, style: Style, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut out = match &plan.env {
        Some(env) => format!("Environment: {env}\n\n"),
        None => String::new(),
    };
    if let Some(sel) = &plan.selection {
        let _ = writeln!(out, "{}\n", partial_note(plan, sel));
    }
    let changed: Vec<&Change> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if !changed.is_empty() {
        out.push_str("flinkform will perform the following actions:\n");
    }
    for c in changed {
        // Each change's text goes out before the next is made.
        sink.write_all(out.as_bytes())?;
        out.clear();
        let file = c.after.as_deref().or(c.before.as_deref()).map_or("", |p| p.file.as_str());
        let _ = writeln!(out, "\n  # {} will be {}", style.paint("1", &c.name), c.action.verb());
        let _ = writeln!(
            out,
            "  {}",
            style.action(c.action, &format!("{} pipeline \"{}\" ({file})", c.action.symbol(), c.name))
        );
        for r in &c.reasons {
            let _ = writeln!(out, "      because: {r}");
        }
        if let Some(s) = sample_line(c) {
            let _ = writeln!(out, "      sample: {s}");
        }
        for w in &c.warnings {
            let _ = writeln!(out, "      {}: {w}", style.paint("33", "warning"));
        }
        if let Some(a) = c.after.as_deref().filter(|_| c.action != Action::Delete) {
            out.push_str("      columns:\n");
            out.push_str(&columns_table(&a.columns, "        "));
            if !a.more_sinks.is_empty() {
                out.push_str("      also written to:\n");
                for s in &a.more_sinks {
                    let cols: Vec<&str> = s.columns.iter().map(|c| c.sink_name.as_str()).collect();
                    let _ = writeln!(out, "        {}: {}", s.sink.label(), cols.join(", "));
                }
            }
        }
        for (_, d) in artifacts(c) {
            for line in d.lines() {
                let _ = writeln!(out, "      {}", style.diff_line(line));
            }
        }
        let adds: Vec<&str> =
            c.sink_ddl.iter().filter(|d| matches!(d, SinkDdl::AddColumn { .. })).map(SinkDdl::sql).collect();
        if !adds.is_empty() {
            out.push_str("      sink DDL:\n");
            adds.iter().for_each(|sql| {
                let _ = writeln!(out, "        {sql}");
            });
        }
        if let Some(note) = ddl_note(c) {
            let _ = writeln!(out, "      note: {note}");
        }
    }
    for e in &plan.errors {
        let _ = writeln!(out, "\n{}: {e}", style.paint("31", "error"));
    }
    // A plan of destroys alone needs no refresh: apply looks at VVP as it destroys.
    let mut changing = plan.changes.iter().filter(|c| c.action != Action::NoOp).peekable();
    let destroys_only = changing.peek().is_some() && changing.all(|c| c.action == Action::Delete);
    if !plan.refreshed && !destroys_only {
        let _ = writeln!(out, "\n{NOT_REFRESHED}");
    }
    let _ = writeln!(out, "\n{}", style.paint("1", &summary_line(plan)));
    sink.write_all(out.as_bytes())
}

/// `plan --format json` for a plan that failed before it was made: each error as the
/// CLI prints it.
pub fn failed_json(errors: &[String]) -> String {
    let v = json!({
        "format_version": FORMAT_VERSION,
        "failed": true,
        "errors": errors,
        "has_changes": false,
        "digest": null,
        "classes": [],
        "pipelines": [],
    });
    serde_json::to_string_pretty(&v).expect("JSON serializes") + "\n"
}

/// GitLab's merge request report of a plan (`artifacts: reports: terraform`): the counts
/// Terraform's JSON plan gives it, a replace counted as a delete and a create.
pub fn gitlab_report(plan: &Plan) -> String {
    let s = plan.summary();
    let v = json!({ "create": s.add + s.replace, "update": s.change + s.repair, "delete": s.destroy + s.replace });
    v.to_string() + "\n"
}

/// One pipeline of `plan --format json`.
fn pipeline_json(c: &Change) -> serde_json::Value {
    let after = c.after.as_deref();
    json!({
        "name": c.name,
        "action": c.action.name(),
        "digest": c.meaning(),
        "reasons": c.reasons,
        "state": c.state,
        "data": c.data,
        "file": after.or(c.before.as_deref()).map(|p| p.file.clone()),
        "sample": c.sample,
        "warnings": c.warnings,
        "columns": after.map(|a| a.columns.iter().map(|col| json!({
            "name": col.name,
            "sink_name": col.sink_name,
            "type": col.ty,
            "hologres_type": col.hologres,
            "nullable": col.nullable,
            "evidence": col.evidence,
        })).collect::<Vec<_>>()),
        "diff": artifacts(c).into_iter().map(|(k, d)| (k.to_string(), json!(d))).collect::<serde_json::Map<_, _>>(),
        "sink_ddl": c.sink_ddl.iter().map(SinkDdl::sql).collect::<Vec<_>>(),
        "sink_ddl_runs": after.is_some_and(|a| a.sink.dsn_env.is_some()),
    })
}

/// The plan's JSON object, its `pipelines` made one at a time as they are written: the
/// text is that of the whole value, which is never whole in memory.
struct PlanJson<'a> {
    head: serde_json::Map<String, serde_json::Value>,
    plan: &'a Plan,
}

/// The key of [`PlanJson`] whose value is made as it is written.
const PIPELINES: &str = "pipelines";

impl serde::Serialize for PlanJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.head.len()))?;
        for (k, v) in &self.head {
            if k == PIPELINES {
                m.serialize_entry(k, &Pipelines(self.plan))?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

struct Pipelines<'a>(&'a Plan);

impl serde::Serialize for Pipelines<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.changes.iter().map(pipeline_json))
    }
}

fn plan_json(plan: &Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let s = plan.summary();
    let meaning = plan.meaning();
    let head = json!({
        "format_version": FORMAT_VERSION,
        "env": plan.env,
        "selection": plan.selection,
        "state": { "lineage": plan.lineage, "serial": plan.serial },
        "summary": { "add": s.add, "change": s.change, "replace": s.replace, "destroy": s.destroy, "repair": s.repair },
        "has_changes": plan.has_changes(),
        "digest": meaning.digest,
        "classes": meaning.classes.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "refreshed": plan.refreshed,
        "errors": plan.errors,
        PIPELINES: null,
    });
    let serde_json::Value::Object(head) = head else { unreachable!("a JSON object") };
    serde_json::to_writer_pretty(&mut *out, &PlanJson { head, plan })?;
    out.write_all(b"\n")
}

/// A sample's records as JSON Lines (records spread over several lines are compacted).
pub fn json_lines(sample: &Sample) -> String {
    let mut out = String::new();
    for r in sample.records() {
        let text = String::from_utf8_lossy(r);
        if text.contains(['\n', '\r']) {
            out.push_str(&compact_json(&text));
        } else {
            out.push_str(text.trim());
        }
        out.push('\n');
    }
    out
}

/// Removes insignificant whitespace from valid JSON text.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Top-level fields of an inferred shape with their types and evidence (for
/// `sample --topic ... --schema`, where there is no spec).
pub fn shape_table(shape: &Shape) -> String {
    let std = shape.choose_standard();
    let total = shape.stats.objects;
    let cols: Vec<ColumnRecord> = shape
        .object
        .iter()
        .flat_map(|o| o.fields.iter())
        .map(|(k, f)| {
            let ty = crate::schema::default_column_type(f, std);
            ColumnRecord {
                name: k.clone(),
                sink_name: k.clone(),
                ty: ty.to_string(),
                hologres: ty.hologres().sql,
                nullable: true,
                evidence: EvidenceRecord {
                    present: f.stats.present,
                    total,
                    nulls: f.stats.nulls,
                    notes: f.notes(&ty, std),
                },
            }
        })
        .collect();
    columns_table(&cols, "")
}

/// Renders diagnostics, each with its position and caret.
pub fn diagnostics(diags: &[Diagnostic], style: Style) -> String {
    diags
        .iter()
        .map(|d| {
            let text = d.to_string();
            let (label, code) = if d.is_error() { ("error", "31") } else { ("warning", "33") };
            match text.strip_prefix(label) {
                Some(rest) => format!("{}{rest}", style.paint(&format!("1;{code}"), label)),
                None => text,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
