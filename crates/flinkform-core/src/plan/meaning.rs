//! What a plan means, as digests: the actions and what each change applies (the SQL, the
//! sink DDL, the deployment, flinkform's own settings), not the evidence of the sample
//! behind it. The plan reviewed in a pull request and the plan apply makes on merge are
//! compared by it, and the PR comment carries it in a hidden marker.

use std::collections::{BTreeMap, BTreeSet};

use super::verdict::Verdict;
use super::{Action, Change, Plan, SinkDdl};
use crate::spec::digest;

/// How many hex digits of a pipeline's digest the marker keeps (64 bits).
const SHORT: usize = 16;

/// The meaning of a plan: its digest, each changing pipeline's action and digest, and
/// the classes of change that call for a closer review.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meaning {
    /// Digest of the whole meaning (hex, 64 digits).
    pub digest: String,
    /// Changing pipelines: name → (action, short digest). Empty when only the digest
    /// is known (`--expect-plan DIGEST`).
    pub pipelines: BTreeMap<String, (String, String)>,
    /// The classes of the plan's changes (PR labels: `flinkform:destroy`, …).
    pub classes: BTreeSet<ChangeClass>,
}

/// A kind of change that branch protection may want more review for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeClass {
    /// A pipeline is destroyed.
    Destroy,
    /// A pipeline is replaced (a new deployment; its job starts without state).
    Replace,
    /// A running job restarts without its state (`upgrade = "stateless"`): the source
    /// reads again from its startup mode.
    RestartWithoutState,
    /// A job restarts from a savepoint its new version cannot use (the update's state
    /// verdict is `lost`): the restore would fail or misread the state.
    StateLoss,
}

impl ChangeClass {
    /// Every class.
    pub const ALL: [ChangeClass; 4] =
        [ChangeClass::Destroy, ChangeClass::Replace, ChangeClass::RestartWithoutState, ChangeClass::StateLoss];

    /// Its name, as the marker, the JSON and the label (`flinkform:NAME`) spell it.
    pub fn name(self) -> &'static str {
        match self {
            ChangeClass::Destroy => "destroy",
            ChangeClass::Replace => "replace",
            ChangeClass::RestartWithoutState => "restart-without-state",
            ChangeClass::StateLoss => "state-loss",
        }
    }

    /// The class called `name`.
    pub fn named(name: &str) -> Option<ChangeClass> {
        ChangeClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl Change {
    /// Digest of what applying this change does (hex, 64 digits).
    pub fn meaning(&self) -> String {
        let (after, before) = (self.after.as_deref(), self.before.as_deref());
        let text = |f: fn(&crate::state::PipelineState) -> &str| after.map_or("", f).as_bytes();
        let ddl = self.sink_ddl.iter().map(SinkDdl::sql).collect::<Vec<&str>>().join("\n");
        let settings: String =
            after.map_or(String::new(), |a| a.settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect());
        let target = before.and_then(|b| b.remote.deployment_id.as_deref()).unwrap_or("");
        let protect = if after.is_some_and(|a| a.protect) { "protect" } else { "" };
        // What the record says apply resumes or keeps: the user's intent (a stopped job
        // is not started) and the journaled step with its savepoint (what a start
        // restores). A running pipeline with nothing pending adds nothing, so digests of
        // the common case stay as they were.
        let recorded = before.filter(|b| b.intent == crate::state::Intent::Stopped || b.pending.is_some()).map(|b| {
            let pending = b.pending.as_ref().map_or(String::new(), |p| {
                format!("{}/{} {}", p.action, p.step, p.savepoint_id.as_deref().unwrap_or(""))
            });
            format!("{} {pending}", b.intent)
        });
        let mut parts = vec![
            self.name.as_bytes(),
            self.action.name().as_bytes(),
            text(|a| &a.sql),
            text(|a| &a.ddl),
            text(|a| &a.deployment),
            ddl.as_bytes(),
            settings.as_bytes(),
            target.as_bytes(),
            protect.as_bytes(),
        ];
        parts.extend(recorded.as_ref().map(|r| r.as_bytes()));
        // A restart without state that the spec did not ask for (the verdict's): what
        // the reviewer consented to.
        if after.is_some_and(|a| self.upgrade().is_some_and(|u| u != a.deploy.upgrade)) {
            parts.push(b"restart without state: state lost");
        }
        digest(&parts)
    }
}

impl Change {
    /// How apply restarts this update's job: as the spec says, or without state when
    /// the verdict is that a restore would lose it (`None`: not an update).
    pub fn upgrade(&self) -> Option<crate::spec::Upgrade> {
        let after = self.after.as_deref().filter(|_| self.action == Action::Update)?;
        Some(self.state.as_ref().map_or(after.deploy.upgrade, |s| s.upgrade(after.deploy.upgrade)))
    }

    /// The class of this change, if it is one that calls for a closer review.
    pub fn class(&self) -> Option<ChangeClass> {
        let restarts = |b: &crate::state::PipelineState, a: &crate::state::PipelineState| {
            b.intent != crate::state::Intent::Stopped && a.deploy.upgrade != crate::spec::Upgrade::Stateful
        };
        match (self.action, self.before.as_deref(), self.after.as_deref()) {
            (Action::Delete, ..) => Some(ChangeClass::Destroy),
            (Action::Replace, ..) => Some(ChangeClass::Replace),
            (Action::Update, Some(b), Some(a)) if restarts(b, a) => Some(ChangeClass::RestartWithoutState),
            (Action::Update, ..) if self.state.as_ref().is_some_and(|s| s.verdict == Verdict::Lost) => {
                Some(ChangeClass::StateLoss)
            }
            _ => None,
        }
    }
}

impl Plan {
    /// The plan's meaning: two plans with the same digest carry out the same actions
    /// with the same SQL, DDL and deployments.
    pub fn meaning(&self) -> Meaning {
        let mut parts: Vec<String> = Vec::new();
        let mut pipelines = BTreeMap::new();
        let mut classes = BTreeSet::new();
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            let m = c.meaning();
            parts.push(format!("{}\n{}", c.name, m));
            pipelines.insert(c.name.clone(), (c.action.name().to_string(), m[..SHORT].to_string()));
            classes.extend(c.class());
        }
        let joined: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        Meaning { digest: digest(&joined), pipelines, classes }
    }
}

/// Why an `--expect-plan` value names no reviewed plan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpectedError {
    /// The comment is of a plan that failed.
    #[error("the comment's plan failed: there is no reviewed plan to apply")]
    Failed,
    /// JSON without a plan's digest.
    #[error("the JSON has no plan `digest`: is it from `flinkform plan --format json`?")]
    NoDigest,
    /// Nothing a plan is named by.
    #[error(
        "expected a plan digest (64 hex digits), a PR comment with a flinkform marker, a plan saved with `plan -out`, or one from `plan --format json`"
    )]
    Unknown,
}

impl Meaning {
    /// The meaning an `--expect-plan` value names: a digest, or a text holding a marker
    /// (a PR comment), a saved plan (`plan -out`) or a plan in JSON (`plan --format json`).
    pub fn expected(value: &str) -> Result<Meaning, ExpectedError> {
        let v = value.trim();
        if is_digest(v) {
            return Ok(Meaning { digest: v.to_string(), ..Meaning::default() });
        }
        if let Some(m) = Marker::find(v) {
            if m.meaning.digest.is_empty() {
                return Err(ExpectedError::Failed);
            }
            return Ok(m.meaning);
        }
        if let Ok(saved) = super::file::from_text(v) {
            return Ok(saved.meaning());
        }
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(v) {
            return from_json(&json);
        }
        Err(ExpectedError::Unknown)
    }

    /// Why `now` is not the plan that was reviewed as `self`, pipeline by pipeline;
    /// empty when the meaning is the same.
    pub fn differences(&self, now: &Meaning) -> Vec<String> {
        if self.digest == now.digest {
            return Vec::new();
        }
        if self.pipelines.is_empty() && now.pipelines.is_empty() {
            return vec![format!("the plan's digest is {} now, {} when reviewed", now.digest, self.digest)];
        }
        if self.pipelines.is_empty() {
            let list: Vec<String> = now.pipelines.iter().map(|(n, (a, _))| format!("`{n}` {a}")).collect();
            return vec![format!(
                "the plan's digest is {} now, {} when reviewed; the plan now does: {}",
                now.digest,
                self.digest,
                list.join(", ")
            )];
        }
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<&String> = self.pipelines.keys().chain(now.pipelines.keys()).collect();
        for n in names {
            match (self.pipelines.get(n), now.pipelines.get(n)) {
                (Some((a, d)), Some((b, e))) if a == b && d != e => out
                    .push(format!("`{n}`: {a} as reviewed, but what it applies changed (SQL, sink DDL, deployment, or the recorded intent or step it resumes)")),
                (Some((a, _)), Some((b, _))) if a != b => out.push(format!("`{n}`: reviewed as {a}, now {b}")),
                (Some((a, _)), None) => out.push(format!("`{n}`: reviewed as {a}, now no change")),
                (None, Some((b, _))) => out.push(format!("`{n}`: not in the reviewed plan, now {b}")),
                _ => {}
            }
        }
        if out.is_empty() {
            out.push(format!("the plan's digest is {} now, {} when reviewed", now.digest, self.digest));
        }
        out
    }
}

/// The hidden marker a PR comment carries, which finds the comment again and says what
/// it shows: `<!-- flinkform:plan project=P env=E digest=D state=7 applied=false
/// truncated=false classes=destroy pipelines=a:create:0123…,… -->`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marker {
    /// Its project.
    pub project: String,
    /// Its environment.
    pub env: String,
    /// The serial of the state the plan was made against (`None`: no state yet).
    pub state: Option<u64>,
    /// Whether the plan was applied (the comment is then final).
    pub applied: bool,
    /// Whether the comment was cut to fit.
    pub truncated: bool,
    /// The plan's meaning (an empty digest: the plan failed).
    pub meaning: Meaning,
}

impl Marker {
    /// The marker of `meaning` for `project` and `env`.
    pub fn new(project: &str, env: &str, state: Option<u64>, meaning: Meaning) -> Marker {
        Marker { project: marker_word(project), env: marker_word(env), state, meaning, ..Marker::default() }
    }

    /// The marker as the comment's first line.
    pub fn text(&self) -> String {
        let m = &self.meaning;
        let pipelines: Vec<String> = m.pipelines.iter().map(|(n, (a, d))| format!("{n}:{a}:{d}")).collect();
        let classes: Vec<&str> = m.classes.iter().map(|c| c.name()).collect();
        format!(
            "<!-- flinkform:plan project={} env={} digest={} state={} applied={} truncated={} classes={} pipelines={} -->",
            marker_word(&self.project),
            marker_word(&self.env),
            if m.digest.is_empty() { "none" } else { &m.digest },
            self.state.map_or("none".to_string(), |s| s.to_string()),
            self.applied,
            self.truncated,
            classes.join(","),
            pipelines.join(",")
        )
    }

    /// The first flinkform marker in `text` (a failed plan's has an empty digest).
    pub fn find(text: &str) -> Option<Marker> {
        let start = text.find("<!-- flinkform:plan ")? + "<!-- flinkform:plan ".len();
        let body = &text[start..start + text[start..].find("-->")?];
        let mut m = Marker::default();
        for word in body.split_whitespace() {
            let (k, v) = word.split_once('=')?;
            match k {
                "project" => m.project = v.to_string(),
                "env" => m.env = v.to_string(),
                "state" => m.state = v.parse().ok(),
                "applied" => m.applied = v == "true",
                "truncated" => m.truncated = v == "true",
                "digest" if is_digest(v) => m.meaning.digest = v.to_string(),
                "classes" => m.meaning.classes = v.split(',').filter_map(ChangeClass::named).collect(),
                "pipelines" => {
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        let mut it = p.splitn(3, ':');
                        let (n, a, d) = (it.next()?, it.next()?, it.next()?);
                        m.meaning.pipelines.insert(n.to_string(), (a.to_string(), d.to_string()));
                    }
                }
                _ => {}
            }
        }
        Some(m)
    }
}

/// A project or environment name as one marker word (no spaces, no `--`).
fn marker_word(s: &str) -> String {
    let w: String = s.chars().map(|c| if c.is_alphanumeric() || "_.-/".contains(c) { c } else { '_' }).collect();
    let w = w.replace("--", "__");
    if w.is_empty() { "default".into() } else { w }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn from_json(v: &serde_json::Value) -> Result<Meaning, ExpectedError> {
    let digest = v.get("digest").and_then(|d| d.as_str()).filter(|d| is_digest(d));
    let digest = digest.ok_or(ExpectedError::NoDigest)?;
    let mut pipelines = BTreeMap::new();
    for p in v.get("pipelines").and_then(|p| p.as_array()).into_iter().flatten() {
        let field = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if field("action") != Action::NoOp.name() {
            let d = field("digest");
            pipelines.insert(field("name"), (field("action"), d.chars().take(SHORT).collect()));
        }
    }
    let classes = v.get("classes").and_then(|c| c.as_array()).into_iter().flatten();
    let classes = classes.filter_map(|c| c.as_str().and_then(ChangeClass::named)).collect();
    Ok(Meaning { digest: digest.to_string(), pipelines, classes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{Change, Plan};

    /// A plan of `n` changes of the fixture's `orders` (renamed), `action` each.
    pub(crate) fn plan_of(n: usize, action: Action) -> Plan {
        let state = crate::state::parse(include_str!("../../tests/fixtures/state/v1.json"), "v1.json").unwrap();
        let orders = state.pipelines["orders"].clone();
        let changes = (0..n)
            .map(|i| {
                let mut p = orders.clone();
                p.sql = format!("{}-- {i}\n", p.sql);
                Change {
                    name: format!("p{i:04}"),
                    action,
                    reasons: vec![format!("reason {i}")],
                    before: Some(Box::new(orders.clone())),
                    after: (action != Action::Delete).then_some(Box::new(p)),
                    sample: None,
                    sink_ddl: Vec::new(),
                    state: None,
                    data: None,
                    warnings: Vec::new(),
                }
            })
            .collect();
        Plan {
            lineage: None,
            serial: None,
            changes,
            errors: Vec::new(),
            inputs: BTreeMap::new(),
            refreshed: true,
            env: None,
            selection: None,
        }
    }

    #[test]
    fn the_evidence_of_a_fresh_sample_is_not_meaning_but_the_sql_is() {
        let plan = plan_of(3, Action::Update);
        let mut fresh = plan.clone();
        let after = fresh.changes[1].after.as_mut().unwrap();
        after.columns[0].evidence.present += 7;
        after.columns[0].evidence.total += 7;
        fresh.changes[1].reasons.push("sampled 7 more records".into());
        assert_eq!(plan.meaning(), fresh.meaning());
        assert!(plan.meaning().differences(&fresh.meaning()).is_empty());

        fresh.changes[1].after.as_mut().unwrap().sql.push_str("-- edited\n");
        let diffs = plan.meaning().differences(&fresh.meaning());
        assert_eq!(
            diffs,
            [
                "`p0001`: update as reviewed, but what it applies changed (SQL, sink DDL, deployment, or the recorded intent or step it resumes)"
            ]
        );

        fresh.changes[2].action = Action::Replace;
        fresh.changes.remove(0);
        let diffs = plan.meaning().differences(&fresh.meaning());
        assert_eq!(diffs.len(), 3, "{diffs:?}");
        assert_eq!(diffs[0], "`p0000`: reviewed as update, now no change");
        assert_eq!(diffs[2], "`p0002`: reviewed as update, now replace");
    }

    #[test]
    fn a_plan_reviewed_while_a_job_was_stopped_means_something_else_once_it_runs() {
        let plan = plan_of(2, Action::Update);
        let mut stopped = plan.clone();
        stopped.changes[0].before.as_mut().unwrap().intent = crate::state::Intent::Stopped;
        let diffs = stopped.meaning().differences(&plan.meaning());
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].starts_with("`p0000`: update as reviewed, but"), "{diffs:?}");

        let mut resumed = plan.clone();
        let b = resumed.changes[1].before.as_mut().unwrap();
        b.pending = Some(crate::state::Pending {
            savepoint_id: Some("sp-1".into()),
            ..crate::state::Pending::new(crate::state::Operation::Update, crate::state::Step::Start)
        });
        assert_ne!(resumed.meaning(), plan.meaning(), "where a resumed apply starts from is meaning");
    }

    #[test]
    fn destroys_replaces_and_restarts_without_state_are_classes_of_their_own() {
        use ChangeClass::*;
        let classes = |p: &Plan| p.meaning().classes.into_iter().collect::<Vec<_>>();
        assert_eq!(classes(&plan_of(2, Action::Create)), []);
        assert_eq!(classes(&plan_of(1, Action::Delete)), [Destroy]);
        let mut plan = plan_of(2, Action::Update);
        for c in &mut plan.changes {
            c.before.as_mut().unwrap().status = crate::state::Status::Running;
        }
        assert_eq!(classes(&plan), [], "a stateful restart keeps the state");
        let lost = crate::plan::verdict::StateVerdict { verdict: Verdict::Lost, why: "the row changed".into() };
        plan.changes[1].state = Some(lost);
        assert_eq!(classes(&plan), [StateLoss], "a restore its new job cannot use");
        plan.changes[0].after.as_mut().unwrap().deploy.upgrade = crate::spec::Upgrade::Stateless;
        plan.changes[1].action = Action::Replace;
        assert_eq!(classes(&plan), [Replace, RestartWithoutState]);
        plan.changes[0].before.as_mut().unwrap().intent = crate::state::Intent::Stopped;
        assert_eq!(classes(&plan), [Replace], "a stopped job does not restart");
        let marker = Marker::new("p", "e", None, plan.meaning()).text();
        assert!(marker.contains(" classes=replace "), "{marker}");
        assert_eq!(Marker::find(&marker).unwrap().meaning.classes, plan.meaning().classes);
    }

    #[test]
    fn a_marker_a_digest_and_a_json_plan_name_the_same_meaning() {
        let plan = plan_of(2, Action::Create);
        let m = plan.meaning();
        let marker = Marker { applied: true, ..Marker::new("infra/streaming", "prod", Some(4), m.clone()) };
        let comment = format!("hello\n{}\n### flinkform plan\n", marker.text());
        assert_eq!(Marker::find(&comment).unwrap(), marker);
        assert_eq!(Meaning::expected(&comment).unwrap(), m);
        let none = Marker::new("p", "e", None, Meaning::default()).text();
        assert!(none.contains(" digest=none state=none "), "{none}");
        assert_eq!(Marker::find(&none).unwrap().state, None);
        let json = crate::view::plan(&plan, crate::view::Format::Json, crate::view::Style { color: false });
        assert_eq!(Meaning::expected(&json).unwrap(), m);
        let only = Meaning::expected(&m.digest).unwrap();
        assert!(only.differences(&m).is_empty());
        let other = plan_of(3, Action::Create).meaning();
        let d = only.differences(&other);
        assert!(d[0].contains("the plan now does: `p0000` create, `p0001` create, `p0002` create"), "{d:?}");
        assert_eq!(Meaning::expected("not a plan"), Err(ExpectedError::Unknown));
        let odd = Marker::new("a --> b", "x", None, m.clone()).text();
        assert_eq!(odd.matches("-->").count(), 1, "a name cannot end the comment: {odd}");
        assert_eq!(Marker::find(&odd).unwrap().project, "a_____b");
    }
}
