//! The plan as one pull-request comment: the hidden marker that finds the comment again,
//! the summary, every error, and the table of changes (every destroy and replace in it)
//! are always shown; each pipeline's details are folded, and cut on a line boundary,
//! with a notice and a link to the CI log, when the comment would pass the limit.

use std::fmt::Write as _;

use super::{NOT_REFRESHED, artifacts, ddl_note, evidence_text, sample_line, summary_line};
use crate::plan::meaning::{Marker, Meaning};
use crate::plan::{Action, Change, Plan, SinkDdl};

/// GitHub refuses a comment over 65,536 characters (GitLab allows 1,000,000).
pub const GITHUB_LIMIT: usize = 65_536;

/// Room kept for the truncation notice.
const NOTICE_ROOM: usize = 1_000;
/// An error shows at most this much of its text; a row of the table this much of its reasons.
const ERROR_MAX: usize = 2_000;
const WHY_MAX: usize = 300;
const WHY_SHORT: usize = 60;
/// The marker lists the changing pipelines while it stays this short.
const MARKER_MAX: usize = 16_000;

/// Which comment a plan's Markdown is, and how much room it has.
#[derive(Clone, Debug)]
pub struct Comment<'a> {
    /// The project (`default` unless several share a repository).
    pub project: &'a str,
    /// The environment.
    pub env: &'a str,
    /// At most this many bytes (so at most this many characters).
    pub limit: usize,
    /// Where the whole plan can be read (the CI job's log).
    pub log_url: Option<&'a str>,
    /// When set, the plan was applied, with this result: the comment is then final.
    pub applied: Option<&'a str>,
}

impl Default for Comment<'_> {
    fn default() -> Self {
        Comment { project: "default", env: "default", limit: GITHUB_LIMIT, log_url: None, applied: None }
    }
}

/// `s` on one line of a Markdown table cell, at most `max` bytes.
fn cell(s: &str, max: usize) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    cut(&s, max)
}

/// At most `max` bytes of `s`, cut at a character boundary, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The comment for `plan`.
pub fn plan(plan: &Plan, c: &Comment<'_>) -> String {
    let meaning = plan.meaning();
    let mut head = String::new();
    let title: String = [c.project, c.env].iter().filter(|n| **n != "default").map(|n| format!(" · `{n}`")).collect();
    let _ = writeln!(head, "### flinkform plan{title}\n");
    if let Some(result) = c.applied {
        let _ = writeln!(head, "**Applied:** {}\n", cell(result, ERROR_MAX));
    }
    let _ = writeln!(head, "**{}**\n", summary_line(plan));
    if let Some(sel) = &plan.selection {
        let _ = writeln!(head, "_{}_\n", super::partial_note(plan, sel));
    }
    if !plan.refreshed {
        let _ = writeln!(head, "_{NOT_REFRESHED}_\n");
    }
    for e in &plan.errors {
        let _ = writeln!(head, "> [!CAUTION]\n> {}\n", cell(e, ERROR_MAX));
    }
    let changed: Vec<&Change> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    let mut marker = Marker { applied: c.applied.is_some(), ..Marker::new(c.project, c.env, plan.serial, meaning) };
    if marker.text().len() > MARKER_MAX {
        marker.meaning.pipelines.clear();
    }
    // The body stays within what the marker and the notice leave of the limit.
    let budget = c.limit.saturating_sub(marker.text().len() + NOTICE_ROOM);
    let (table, listed) = table(&changed, budget.saturating_sub(head.len()) / 2);
    let mut body = head + &table;
    let mut shown = 0;
    for ch in &changed {
        let block = details(ch);
        let left = budget.saturating_sub(body.len());
        if block.len() > left {
            body.push_str(&cut_block(&block, left));
            break;
        }
        body.push_str(&block);
        shown += 1;
    }
    let truncated = listed < changed.len() || shown < changed.len();
    if truncated {
        let where_ = match c.log_url {
            Some(url) => format!("[The whole plan is in the CI log]({url})."),
            None => "Run `flinkform plan` for the whole plan.".into(),
        };
        let _ = writeln!(
            body,
            "\n> [!NOTE]\n> This comment is cut to stay within the {}-character limit: the details of {shown} of {} pipelines are shown. {where_}",
            c.limit,
            changed.len()
        );
        marker.truncated = true;
    }
    format!("{}\n{body}", marker.text())
}

/// The comment for a plan that failed before it was made (spec, sampling or refresh
/// errors): each error as the CLI prints it, so the PR still learns why.
pub fn failed(errors: &[String], c: &Comment<'_>) -> String {
    let errors = errors.join("\n\n");
    let marker = Marker::new(c.project, c.env, None, Meaning::default()).text();
    let fence = if errors.contains("```") { "~~~~" } else { "```" };
    let room = c.limit.saturating_sub(marker.len() + NOTICE_ROOM);
    format!(
        "{marker}\n### flinkform plan\n\n**The plan failed: nothing can be applied until it passes.**\n\n{fence}text\n{}\n{fence}\n",
        cut(errors.trim_end(), room)
    )
}

/// A reviewed plan's comment after apply ran on merge: the outcome under the title, and
/// when the plan was applied, the marker says so (the comment is then final).
pub fn after_apply(body: &str, outcome: &str, applied: bool) -> String {
    let fence = if outcome.contains("```") { "~~~~" } else { "```" };
    let label = if applied { "Applied" } else { "Not applied" };
    let note = format!("**{label} on merge:**\n\n{fence}text\n{}\n{fence}\n", cut(outcome.trim(), 4_000));
    let body = with_note(body, &note);
    match (applied, Marker::find(&body)) {
        (true, Some(m)) => body.replacen(&m.text(), &Marker { applied: true, ..m.clone() }.text(), 1),
        _ => body,
    }
}

/// A comment whose plan was made against another state than the PR's previous plan
/// (another change was applied meanwhile) says so under the title.
pub fn outdated(body: &str, before: Option<u64>, now: Option<u64>) -> String {
    let serial = |s: Option<u64>| s.map_or("none".to_string(), |s| s.to_string());
    let note = format!(
        "> [!NOTE]\n> The recorded state changed since this pull request's last plan (serial {} → {}): another change was applied meanwhile, and this plan is made against it. If that change touched these pipelines, rebase onto the main branch.\n",
        serial(before),
        serial(now)
    );
    with_note(body, &note)
}

/// `body` with `note` as the first paragraph under the title.
fn with_note(body: &str, note: &str) -> String {
    let mut out = String::with_capacity(body.len() + note.len() + 2);
    let mut placed = false;
    for line in body.split_inclusive('\n') {
        out.push_str(line);
        if !placed && line.starts_with("### flinkform plan") {
            out.push('\n');
            out.push_str(note);
            placed = true;
        }
    }
    if !placed {
        out.push_str(note);
    }
    out
}

/// The table of changes within `room` bytes: every destroy and replace, then the
/// others in name order while they fit. Returns the table and how many rows it lists.
fn table(changed: &[&Change], room: usize) -> (String, usize) {
    if changed.is_empty() {
        return (String::new(), 0);
    }
    let row = |c: &Change, why: usize| {
        format!(
            "| `{}` | `{}` | {} | {} |\n",
            c.action.symbol(),
            cell(&c.name, 200),
            c.action.name(),
            cell(&c.reasons.join("; "), why)
        )
    };
    let header = "| | Pipeline | Action | Why |\n|---|---|---|---|\n";
    let must = |c: &Change| matches!(c.action, Action::Delete | Action::Replace);
    let mut used = header.len() + 200;
    let mut keep = vec![false; changed.len()];
    for (i, c) in changed.iter().enumerate().filter(|(_, c)| must(c)) {
        used += row(c, WHY_MAX).len();
        keep[i] = true;
    }
    // So many destroys and replaces that their reasons do not fit: shorter reasons.
    let why = if used > room { WHY_SHORT } else { WHY_MAX };
    for (i, c) in changed.iter().enumerate().filter(|(_, c)| !must(c)) {
        let n = row(c, why).len();
        if used + n > room {
            break;
        }
        used += n;
        keep[i] = true;
    }
    let mut out = String::from(header);
    for (c, _) in changed.iter().zip(&keep).filter(|(_, k)| **k) {
        out.push_str(&row(c, why));
    }
    let listed = keep.iter().filter(|k| **k).count();
    if listed < changed.len() {
        let _ = writeln!(out, "\n_…and {} more changes, not listed here._", changed.len() - listed);
    }
    (out, listed)
}

/// One pipeline's folded details.
fn details(c: &Change) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n<details><summary><code>{}</code> {}</summary>\n", cell(&c.name, 200), c.action.verb());
    if let Some(s) = sample_line(c) {
        let _ = writeln!(out, "Sample: {}\n", cell(&s, ERROR_MAX));
    }
    for w in &c.warnings {
        let _ = writeln!(out, "> [!WARNING]\n> {}\n", cell(w, ERROR_MAX));
    }
    if let Some(a) = c.after.as_deref().filter(|_| c.action != Action::Delete) {
        out.push_str("| Column | Flink | Hologres | Evidence |\n|---|---|---|---|\n");
        for col in &a.columns {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | `{}` | {} |",
                cell(&col.sink_name, 300),
                cell(&col.ty, 1_000),
                cell(&col.hologres, 1_000),
                cell(&evidence_text(&col.evidence), WHY_MAX)
            );
        }
        out.push('\n');
    }
    for (_, d) in artifacts(c) {
        let fence = if d.contains("```") { "~~~~" } else { "```" };
        let _ = writeln!(out, "{fence}diff\n{d}{fence}\n");
    }
    let adds: Vec<&str> =
        c.sink_ddl.iter().filter(|d| matches!(d, SinkDdl::AddColumn { .. })).map(SinkDdl::sql).collect();
    if !adds.is_empty() {
        let _ = writeln!(out, "Sink DDL:\n\n```sql\n{}\n```\n", adds.join("\n"));
    }
    if let Some(note) = ddl_note(c) {
        let _ = writeln!(out, "> [!NOTE]\n> {}\n", cell(&note, ERROR_MAX));
    }
    out.push_str("</details>\n");
    out
}

/// The whole lines of a details block that fit in `room` bytes, with an open code
/// fence closed and the block closed; nothing when not even its summary fits.
fn cut_block(block: &str, room: usize) -> String {
    let closing = 40;
    let mut out = String::new();
    let mut fence: Option<&str> = None;
    for line in block.split_inclusive('\n') {
        if out.len() + line.len() + closing > room || line.starts_with("</details>") {
            break;
        }
        let t = line.trim_end();
        match fence {
            Some(f) if t == f => fence = None,
            None if t.starts_with("```") || t.starts_with("~~~~") => {
                fence = Some(if t.starts_with("```") { "```" } else { "~~~~" })
            }
            _ => {}
        }
        out.push_str(line);
    }
    if out.lines().count() <= 1 {
        return String::new();
    }
    if let Some(f) = fence {
        let _ = writeln!(out, "{f}");
    }
    out.push_str("\n_(cut here)_\n</details>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::meaning::tests::plan_of;

    #[test]
    fn a_plan_of_300_pipelines_is_one_comment_within_the_limit_with_every_destroy_in_view() {
        let mut plan = plan_of(300, Action::Update);
        for (i, c) in plan.changes.iter_mut().enumerate() {
            // Big diffs: each pipeline's details alone take kilobytes.
            let after = c.after.as_mut().unwrap();
            after.sql = (0..200).map(|l| format!("-- line {l} of pipeline {i}\n")).collect();
            if i % 6 == 0 {
                c.action = Action::Delete;
                c.after = None;
            }
        }
        plan.errors.push("pipeline `p0003` is protected (protect = true) but the plan must replace it".into());
        let url = "https://github.com/o/r/actions/runs/1";
        let md = super::plan(&plan, &Comment { log_url: Some(url), ..Comment::default() });
        assert!(md.chars().count() <= GITHUB_LIMIT, "{} characters", md.chars().count());
        assert!(md.contains(
            "**Plan: 0 to add, 250 to change, 0 to replace, 50 to destroy. It cannot be applied: 1 error (above).**"
        ));
        assert!(md.contains("> [!CAUTION]\n> pipeline `p0003` is protected"));
        for c in plan.changes.iter().filter(|c| c.action == Action::Delete) {
            assert!(md.contains(&format!("| `-` | `{}` | delete |", c.name)), "{} is not in the table", c.name);
        }
        assert!(md.contains(&format!("[The whole plan is in the CI log]({url})")));
        let marker = Marker::find(&md).unwrap();
        assert_eq!(marker.meaning, plan.meaning(), "the marker names the whole plan, also when the details are cut");
        assert!(marker.truncated);
        // Folded blocks and code fences stay balanced where the details were cut.
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
        assert_eq!(md.lines().filter(|l| l.starts_with("```")).count() % 2, 0);
    }

    #[test]
    fn a_small_plan_is_whole_and_not_marked_truncated() {
        let plan = plan_of(3, Action::Create);
        let md = super::plan(&plan, &Comment { env: "prod", ..Comment::default() });
        assert!(md.contains("### flinkform plan · `prod`"));
        assert_eq!(md.matches("<details>").count(), 3);
        assert!(!Marker::find(&md).unwrap().truncated && !md.contains("This comment is cut"), "{md}");
    }

    #[test]
    fn more_destroys_than_fit_with_their_reasons_keep_every_row_with_shorter_reasons() {
        let mut plan = plan_of(600, Action::Delete);
        for c in &mut plan.changes {
            c.reasons = vec!["x".repeat(1_000)];
        }
        let md = super::plan(&plan, &Comment::default());
        assert!(md.len() <= GITHUB_LIMIT, "{} bytes", md.len());
        assert_eq!(md.matches("| delete |").count(), 600);
    }
}
