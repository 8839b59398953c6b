//! Planning: desired pipelines (specs + inference + rendering) against the recorded
//! state give a [`Plan`], an inert value with one [`Change`] per pipeline. Pure: no IO,
//! no clock, no environment; the time of an outcome is passed in.

mod columns;
pub mod continuity;
mod diff;
mod drift;
pub mod file;
pub mod meaning;
mod sink;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::state::{Operation, PipelineState, State};
pub use columns::widens;
pub use continuity::{DataEffect, PartitionOffsets};
use diff::classify;
pub use diff::secret_names;
use drift::drift;
pub use drift::live_drift;
pub use sink::sink_key;
use sink::sinks_ddl;
pub use vvp_wire::model::{JobState, LiveSettings};

/// Why a data effect has no counts until the topic's offsets are read.
const NOT_READ: &str = "not read: the plan was made without Kafka";

/// Version of the plan formats (saved plan file and `--format json`).
pub const FORMAT_VERSION: u32 = 1;

/// What happens to one pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// New pipeline.
    Create,
    /// Changed in place, state-compatible.
    Update,
    /// Destroyed and created again (topic, primary key or a narrowing changed).
    Replace,
    /// Spec removed: destroy.
    Delete,
    /// Recorded as failed (or interrupted): bring the job back to RUNNING.
    Repair,
    /// Only state-only attributes changed (`protect`): the state records them, the job
    /// and its deployment are not touched.
    Record,
    /// Only the parallelism or checkpoint settings changed: the deployment takes them
    /// and the running job is hot-updated (HotUpdateJob), not restarted.
    HotUpdate,
}

impl Action {
    /// The Terraform-style symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Repair => "!",
            Action::Record | Action::HotUpdate => "~",
        }
    }

    /// The verb, as in "will be created".
    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "created",
            Action::Update => "updated in place",
            Action::Replace => "replaced",
            Action::Delete => "destroyed",
            Action::Repair => "repaired",
            Action::Record => "updated in the state only (the job is not touched)",
            Action::HotUpdate => "updated in place (hot)",
        }
    }

    /// What apply does for this action, recorded in the journal and the revision
    /// (`None` for no-op).
    pub fn operation(self) -> Option<Operation> {
        match self {
            Action::NoOp | Action::Record => None,
            Action::Create => Some(Operation::Create),
            Action::Update => Some(Operation::Update),
            Action::Replace => Some(Operation::Replace),
            Action::Delete => Some(Operation::Delete),
            Action::Repair => Some(Operation::Repair),
            Action::HotUpdate => Some(Operation::HotUpdate),
        }
    }

    /// Short name (`create`, `update`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Repair => "repair",
            Action::Record => "record",
            Action::HotUpdate => "hot-update",
        }
    }
}

/// How the sample behind a desired pipeline looked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleSummary {
    /// Where it came from.
    pub origin: String,
    /// Usable records.
    pub records: u64,
    /// Records skipped, with reasons (`"2 invalid JSON"`), empty if none.
    pub skipped: String,
    /// Number skipped.
    pub skipped_count: u64,
    /// A change stream: what its events are and what the job does with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<String>,
    /// Taken from the sample cache: the topic had not changed since it was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// A pipeline as the specs, samples and templates want it.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The pipeline name.
    pub name: String,
    /// The record that applying it would write (boxed: a plan moves it whole into its change).
    pub record: Box<PipelineState>,
    /// Sample summary.
    pub sample: SampleSummary,
    /// Warnings about this pipeline (case folding, empty keys, ...).
    pub warnings: Vec<String>,
}

/// What VVP showed of a recorded pipeline when the plan refreshed.
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    /// The recorded deployment no longer exists.
    Gone,
    /// The deployment exists.
    Found {
        /// Its SQL is the recorded SQL (false: edited outside flinkform).
        sql_matches: bool,
        /// The digest ([`crate::spec::digest`]) of the SQL it runs, if any: an
        /// interrupted apply that deployed the planned SQL shows it here.
        sql_digest: Option<String>,
        /// Its newest job's state (`None`: no job).
        job: Option<JobState>,
        /// That job's id.
        job_id: Option<String>,
        /// How many times Flink restarted that job, when VVP says.
        restarts: Option<u64>,
        /// What it is set to, of what flinkform manages.
        settings: Box<LiveSettings>,
    },
    /// VVP could not be asked about this pipeline (its message).
    Unknown(String),
}

/// A deployment of this project's that apply adopts for a pipeline it creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoptable {
    /// Its id.
    pub id: String,
    /// The digest ([`crate::spec::digest`]) of the SQL it runs, if any.
    pub sql_digest: Option<String>,
}

/// A column of a live sink table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveColumn {
    /// Name.
    pub name: String,
    /// `udt_name` (`int4`, `_text` for `text[]`, ...).
    pub udt: String,
    /// NOT NULL.
    pub not_null: bool,
    /// Has a default.
    pub has_default: bool,
}

/// A live sink table, read from information_schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTable {
    /// Columns in order.
    pub columns: Vec<LiveColumn>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
}

/// What a refresh observed (VVP when there are credentials, sink tables when their
/// `dsn_env` is set); the plan is computed without it otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// VVP was looked at.
    pub vvp: bool,
    /// Live sink tables by pipeline (`None`: the table does not exist yet).
    pub sinks: BTreeMap<String, Option<LiveTable>>,
    /// Recorded pipelines that have a deployment id, by name.
    pub pipelines: BTreeMap<String, Live>,
    /// Desired pipelines the state has no record of whose deployment this project made
    /// (a state that was lost, or `state rm`): apply adopts it. By pipeline name.
    pub adoptable: BTreeMap<String, Adoptable>,
    /// Names of the namespace's variables (values are never read).
    pub variables: Option<BTreeSet<String>>,
    /// VVP's verdict on the SQL of changed pipelines (`plan --validate`).
    pub validations: BTreeMap<String, Result<(), String>>,
}

/// One piece of sink DDL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkDdl {
    /// The whole `CREATE SCHEMA/TABLE IF NOT EXISTS` script.
    Create {
        /// The script.
        sql: String,
        /// The sink it is for (`schema.table`); the pipeline's first when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sink: Option<String>,
    },
    /// A nullable column added by schema evolution.
    AddColumn {
        /// The column (sink name).
        column: String,
        /// The statement.
        sql: String,
        /// The sink it is for (`schema.table`); the pipeline's first when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sink: Option<String>,
    },
}

impl SinkDdl {
    /// The SQL text.
    pub fn sql(&self) -> &str {
        match self {
            SinkDdl::Create { sql, .. } | SinkDdl::AddColumn { sql, .. } => sql,
        }
    }

    /// The sink it is for: `None` for the pipeline's first.
    pub fn sink(&self) -> Option<&str> {
        match self {
            SinkDdl::Create { sink, .. } | SinkDdl::AddColumn { sink, .. } => sink.as_deref(),
        }
    }

    fn for_sink(mut self, label: Option<String>) -> SinkDdl {
        match &mut self {
            SinkDdl::Create { sink, .. } | SinkDdl::AddColumn { sink, .. } => *sink = label,
        }
        self
    }
}

/// One pipeline's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Pipeline name.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Why: which spec key, column or template changed.
    pub reasons: Vec<String>,
    /// The recorded pipeline, if any (boxed, as `after`: a plan of many pipelines holds a
    /// slot for each, mostly empty for creates and deletes).
    pub before: Option<Box<PipelineState>>,
    /// The desired pipeline, unless deleted.
    pub after: Option<Box<PipelineState>>,
    /// The sample behind `after`.
    pub sample: Option<SampleSummary>,
    /// Sink DDL this change runs before the job is deployed (the whole CREATE for a new
    /// table, nullable ADD COLUMNs for new columns).
    #[serde(default)]
    pub sink_ddl: Vec<SinkDdl>,
    /// For an update, what restarting from the savepoint does to the job's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<verdict::StateVerdict>,
    /// For an update that restarts a job, where its source starts reading and what that
    /// does to the messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataEffect>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// The whole plan: an inert value that apply executes exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Lineage of the state planned against (`None`: no state yet).
    pub lineage: Option<String>,
    /// Serial of the state planned against.
    pub serial: Option<u64>,
    /// One change per pipeline, sorted by name.
    pub changes: Vec<Change>,
    /// Problems that forbid applying this plan (protected pipelines...).
    pub errors: Vec<String>,
    /// Digest of every input: file → digest.
    pub inputs: BTreeMap<String, String>,
    /// Whether the plan saw VVP (a refresh), or only the recorded state.
    #[serde(default)]
    pub refreshed: bool,
    /// The environment planned (`--env`), if any: a saved plan applies only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// When only some pipelines were planned, the selectors (`--select tag:x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
}

/// Counts of each action, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates.
    pub add: usize,
    /// Updates.
    pub change: usize,
    /// Replaces.
    pub replace: usize,
    /// Deletes.
    pub destroy: usize,
    /// Repairs.
    pub repair: usize,
}

impl Summary {
    /// Counts one more `action`.
    pub fn count(&mut self, action: Action) {
        match action {
            Action::Create => self.add += 1,
            Action::Update | Action::Record | Action::HotUpdate => self.change += 1,
            Action::Replace => self.replace += 1,
            Action::Delete => self.destroy += 1,
            Action::Repair => self.repair += 1,
            Action::NoOp => {}
        }
    }
}

impl Plan {
    /// A plan made against `recorded` (its lineage and serial).
    fn against(
        recorded: Option<(String, u64)>,
        changes: Vec<Change>,
        errors: Vec<String>,
        inputs: BTreeMap<String, String>,
        refreshed: bool,
    ) -> Plan {
        let (lineage, serial) = recorded.unzip();
        Plan { lineage, serial, changes, errors, inputs, refreshed, env: None, selection: None }
    }

    /// Counts of each action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        self.changes.iter().for_each(|c| s.count(c.action));
        s
    }

    /// Refuses sink DDL that apply could not run: a change with DDL whose `[sink]
    /// dsn_env` names a variable that is not set where this runs (`is_set` tells), so
    /// that apply never stops halfway for it.
    pub fn require_sink_dsn(&mut self, is_set: impl Fn(&str) -> bool) {
        for c in self.changes.iter().filter(|c| !c.sink_ddl.is_empty()) {
            let Some(after) = &c.after else { continue };
            let mut envs: Vec<&str> =
                after.sinks().filter_map(|s| s.sink.dsn_env.as_deref()).filter(|e| !is_set(e)).collect();
            envs.sort_unstable();
            envs.dedup();
            for env in envs {
                self.errors.push(format!(
                    "pipeline `{}`: the sink DDL runs through [sink] dsn_env = \"{env}\", but {env} is not set: set it to the sink's connection string, or remove dsn_env and run the DDL by hand",
                    c.name
                ));
            }
        }
    }

    /// The pipelines whose restart's data effect counts messages: the topics whose
    /// offsets the edge reads for [`Plan::count_data`].
    pub fn restarted(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter(|c| c.data.as_ref().is_some_and(DataEffect::counts)).map(|c| c.name.as_str())
    }

    /// Counts each restart's data effect from the offsets Kafka showed, by pipeline
    /// (`Err`: why they could not be read); the plan's line says the counts.
    pub fn count_data(&mut self, offsets: &BTreeMap<String, Result<Vec<PartitionOffsets>, String>>) {
        for c in &mut self.changes {
            let (Some(data), Some(read)) = (c.data.as_ref().filter(|d| d.counts()), offsets.get(&c.name)) else {
                continue;
            };
            let counted = data.counted(read.as_deref().map_err(String::as_str));
            let old = data.line();
            if let Some(r) = c.reasons.iter_mut().find(|r| **r == old) {
                *r = counted.line();
            }
            c.data = Some(counted);
        }
    }

    /// True when some pipeline changes.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// The state this plan leads to when every change is carried out, made from
    /// `prev` (or a new state of `new_lineage`), with `at` as the time of each revision.
    /// The serial is left for [`crate::state::commit`] to set.
    pub fn outcome(&self, prev: Option<&State>, new_lineage: &str, at: &str) -> State {
        let mut next = prev.cloned().unwrap_or_else(|| State::new(new_lineage.to_string()));
        let serial = prev.map_or(1, |p| p.serial + 1);
        for c in &self.changes {
            match (c.action, &c.after) {
                (Action::Delete, _) => {
                    next.pipelines.remove(&c.name);
                }
                (
                    Action::Create | Action::Update | Action::Replace | Action::Repair | Action::HotUpdate,
                    Some(after),
                ) => {
                    let remote = match (&c.before, c.action) {
                        (Some(b), Action::Update | Action::Repair | Action::HotUpdate) => b.remote.clone(),
                        _ => after.remote.clone(),
                    };
                    let action = c.action.operation().expect("a change that records a revision");
                    let rec = after.applied(
                        c.before.as_deref(),
                        remote,
                        action,
                        serial,
                        &crate::state::Stamp::at(at),
                        crate::state::Status::Recorded,
                    );
                    next.pipelines.insert(c.name.clone(), rec);
                }
                (Action::Record, Some(after)) => {
                    let rec = c.before.as_deref().map_or_else(|| (**after).clone(), |b| after.recorded_over(b));
                    next.pipelines.insert(c.name.clone(), rec);
                }
                _ => {}
            }
        }
        next
    }
}

/// The plan of `destroy`: every recorded pipeline deleted (or only those in `only`,
/// when it names any), unless protected. `protect` is what each spec that still exists
/// says (name → `protect`), like Terraform's `prevent_destroy`; a pipeline whose spec is
/// gone keeps its recorded one. A name in `only` that the state does not hold is an error.
pub fn destroy(
    recorded: Option<&State>,
    protect: &BTreeMap<String, bool>,
    only: &[String],
    inputs: BTreeMap<String, String>,
) -> Plan {
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    let empty = BTreeMap::new();
    let all = recorded.map_or(&empty, |s| &s.pipelines);
    let picked: HashSet<&str> = only.iter().map(String::as_str).collect();
    for name in only.iter().filter(|n| !all.contains_key(*n)) {
        errors.push(format!("destroy {name}: the state has no pipeline `{name}`"));
    }
    for (name, b) in all.iter().filter(|(n, _)| picked.is_empty() || picked.contains(n.as_str())) {
        match protect.get(name) {
            Some(true) => errors.push(format!(
                "pipeline `{name}` is protected (protect = true in {}): set protect = false there to destroy it",
                b.file
            )),
            None if b.protect => errors.push(format!(
                "pipeline `{name}` is protected (protect = true when last applied) and its spec {} is gone: restore the spec with protect = false to destroy it",
                b.file
            )),
            _ => {}
        }
        changes.push(delete(name.clone(), b.clone(), "`flinkform destroy` asks for it".into()));
    }
    Plan::against(recorded.map(|s| (s.lineage.clone(), s.serial)), changes, errors, inputs, false)
}

/// Deleting the recorded pipeline `name`, because of `why`.
fn delete(name: String, b: PipelineState, why: String) -> Change {
    Change {
        name,
        action: Action::Delete,
        reasons: vec![format!(
            "{why}: the job stops and its deployment is deleted; the Hologres table {} is kept",
            b.sink_table
        )],
        before: Some(Box::new(b)),
        after: None,
        sample: None,
        sink_ddl: Vec::new(),
        state: None,
        data: None,
        warnings: Vec::new(),
    }
}

/// Computes the plan: `desired` against `recorded` (whose pipelines become the changes'
/// `before`, moved rather than copied), and against what a refresh `observed` on VVP
/// when there was one. Pure.
pub fn compute(
    desired: Vec<Desired>,
    recorded: Option<State>,
    observed: Option<&Observed>,
    inputs: BTreeMap<String, String>,
) -> Plan {
    let (mut before_all, recorded) = match recorded {
        Some(s) => (s.pipelines, Some((s.lineage, s.serial))),
        None => (BTreeMap::new(), None),
    };
    let mut changes = Vec::with_capacity(desired.len());
    let mut errors = Vec::new();
    for d in desired {
        let before = before_all.remove(&d.name);
        changes.push(change(d, before, observed, &mut errors));
    }
    // What is left is recorded and no longer desired.
    let mut deletes = Vec::new();
    for (name, b) in before_all {
        if b.protect {
            errors.push(format!(
                "pipeline `{name}` is protected (protect = true) but its spec {} is gone; restore the spec, or set protect = false and apply before removing it",
                b.file
            ));
        }
        let why = format!("spec {} removed", b.file);
        deletes.push(delete(name, b, why));
    }
    changes.reserve_exact(deletes.len());
    changes.extend(deletes);
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    Plan::against(recorded, changes, errors, inputs, observed.is_some_and(|o| o.vvp))
}

/// The change that brings `before` (if recorded) to the desired pipeline `d`, given
/// what a refresh observed; problems that forbid it go to `errors`.
fn change(
    d: Desired,
    recorded: Option<PipelineState>,
    observed: Option<&Observed>,
    errors: &mut Vec<String>,
) -> Change {
    let before = recorded.as_ref();
    let (mut action, mut reasons) = match (before, observed.and_then(|o| o.adoptable.get(&d.name))) {
        (None, None) => (Action::Create, vec!["new pipeline".to_string()]),
        (None, Some(found)) => (Action::Create, drift::adopt_notes(found, &d.record)),
        (Some(b), _) => classify(b, &d.record),
    };
    if let Some(Live::Unknown(m)) = observed.and_then(|o| o.pipelines.get(&d.name)) {
        errors.push(format!("pipeline `{}`: VVP could not be asked about its deployment: {m}", d.name));
    }
    if let (Some(b), Some(live)) = (before, observed.and_then(|o| o.pipelines.get(&d.name))) {
        drift(b, &d.record, live, &mut action, &mut reasons);
    }
    if action == Action::HotUpdate {
        reasons.push(diff::hot_note(before.unwrap_or(&d.record), &d.record));
    }
    if let Some(b) = before {
        reasons.extend(drift::resume_note(b, &d.record, action, observed.and_then(|o| o.pipelines.get(&d.name))));
    }
    match observed.and_then(|o| o.validations.get(&d.name)) {
        Some(Ok(())) => reasons.push("VVP validated the SQL".into()),
        Some(Err(m)) => errors.push(format!("pipeline `{}`: VVP rejected the SQL: {m}", d.name)),
        None => {}
    }
    if let Some(vars) = observed.and_then(|o| o.variables.as_ref()) {
        for name in secret_names(&d.record.sql) {
            if !vars.contains(&name) {
                let near = crate::diag::suggest(&name, vars.iter().map(String::as_str));
                let fix = near
                    .map_or("create it in VVP".to_string(), |n| format!("did you mean `{n}`? else create it in VVP"));
                errors.push(format!(
                    "pipeline `{}` references ${{secret_values.{name}}}, but the namespace has no variable `{name}`: {fix}",
                    d.name
                ));
            }
        }
    }
    if action == Action::Replace && (d.record.protect || before.is_some_and(|b| b.protect)) {
        errors.push(format!(
            "pipeline `{}` is protected (protect = true) but the plan must replace it: {}",
            d.name,
            reasons.join("; ")
        ));
    }
    let (sink_ddl, problems) = sinks_ddl(&d, before, observed, action, errors);
    errors.extend(problems.into_iter().map(|p| format!("pipeline `{}`: {p}", d.name)));
    let state = before.filter(|_| action == Action::Update).map(|b| verdict::judge(b, &d.record));
    if let Some(s) = &state {
        reasons.push(s.line(d.record.deploy.upgrade));
    }
    let stopped = before.is_some_and(|b| b.intent == crate::state::Intent::Stopped);
    let data = state.as_ref().map(|s| match stopped {
        true => DataEffect::stopped(),
        false => {
            DataEffect::of(s.upgrade(d.record.deploy.upgrade), |k| d.record.settings.get(k).cloned(), Err(NOT_READ))
        }
    });
    reasons.extend(data.as_ref().map(DataEffect::line));
    Change {
        name: d.name.clone(),
        action,
        reasons,
        before: recorded.map(Box::new),
        after: Some(d.record),
        sample: Some(d.sample),
        sink_ddl,
        state,
        data,
        warnings: d.warnings,
    }
}
