//! Planning: desired pipelines (specs + inference + rendering) against the recorded
//! state give a [`Plan`], an inert value with one [`Change`] per pipeline. Pure: no IO,
//! no clock, no environment; the time of an outcome is passed in.

pub mod file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::{Dialect, OnConflict, Upgrade};
use crate::state::{Operation, PipelineState, State};
use crate::types::{FlinkType, quote_pg_ident};

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
        }
    }

    /// What apply does for this action, recorded in the journal and the revision
    /// (`None` for no-op).
    pub fn operation(self) -> Option<Operation> {
        match self {
            Action::NoOp => None,
            Action::Create => Some(Operation::Create),
            Action::Update => Some(Operation::Update),
            Action::Replace => Some(Operation::Replace),
            Action::Delete => Some(Operation::Delete),
            Action::Repair => Some(Operation::Repair),
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
}

/// A pipeline as the specs, samples and templates want it.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The pipeline name.
    pub name: String,
    /// The record that applying it would write.
    pub record: PipelineState,
    /// Sample summary.
    pub sample: SampleSummary,
    /// Warnings about this pipeline (case folding, empty keys, ...).
    pub warnings: Vec<String>,
}

/// What VVP showed of a recorded pipeline when the plan refreshed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    /// The recorded deployment no longer exists.
    Gone,
    /// The deployment exists.
    Found {
        /// Its SQL is the recorded SQL (false: edited outside flinkform).
        sql_matches: bool,
        /// Its job's state (`None`: no job, or not RUNNING: say which).
        job: Option<String>,
    },
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// VVP was looked at.
    pub vvp: bool,
    /// Live sink tables by pipeline (`None`: the table does not exist yet).
    pub sinks: BTreeMap<String, Option<LiveTable>>,
    /// Recorded pipelines that have a deployment id, by name.
    pub pipelines: BTreeMap<String, Live>,
    /// Names of the namespace's variables (values are never read).
    pub variables: Option<Vec<String>>,
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
    },
    /// A nullable column added by schema evolution.
    AddColumn {
        /// The column (sink name).
        column: String,
        /// The statement.
        sql: String,
    },
}

impl SinkDdl {
    /// The SQL text.
    pub fn sql(&self) -> &str {
        match self {
            SinkDdl::Create { sql } | SinkDdl::AddColumn { sql, .. } => sql,
        }
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
    /// The recorded pipeline, if any.
    pub before: Option<PipelineState>,
    /// The desired pipeline, unless deleted.
    pub after: Option<PipelineState>,
    /// The sample behind `after`.
    pub sample: Option<SampleSummary>,
    /// Sink DDL this change runs before the job is deployed (the whole CREATE for a new
    /// table, nullable ADD COLUMNs for new columns).
    #[serde(default)]
    pub sink_ddl: Vec<SinkDdl>,
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
            Action::Update => self.change += 1,
            Action::Replace => self.replace += 1,
            Action::Delete => self.destroy += 1,
            Action::Repair => self.repair += 1,
            Action::NoOp => {}
        }
    }
}

impl Plan {
    /// Counts of each action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        self.changes.iter().for_each(|c| s.count(c.action));
        s
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
                (Action::Create | Action::Update | Action::Replace | Action::Repair, Some(after)) => {
                    let history = c.before.as_ref().map_or(&[][..], |b| &b.history);
                    let remote = match (&c.before, c.action) {
                        (Some(b), Action::Update | Action::Repair) => b.remote.clone(),
                        _ => after.remote.clone(),
                    };
                    let action = c.action.operation().expect("a change that records a revision");
                    let rec = after.applied(history, remote, action, serial, at, crate::state::Status::Recorded);
                    next.pipelines.insert(c.name.clone(), rec);
                }
                _ => {}
            }
        }
        next
    }
}

/// Computes the plan: `desired` against `recorded`, and against what a refresh
/// `observed` on VVP when there was one. Pure.
pub fn compute(
    desired: Vec<Desired>,
    recorded: Option<&State>,
    observed: Option<&Observed>,
    inputs: BTreeMap<String, String>,
) -> Plan {
    let empty = BTreeMap::new();
    let before_all = recorded.map_or(&empty, |s| &s.pipelines);
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let mut names: Vec<&String> = Vec::new();
    for d in desired {
        let before = before_all.get(&d.name);
        let (mut action, mut reasons) = match before {
            None => (Action::Create, vec!["new pipeline".to_string()]),
            Some(b) => classify(b, &d.record),
        };
        if let (Some(b), Some(live)) = (before, observed.and_then(|o| o.pipelines.get(&d.name))) {
            drift(b, &d.record, live, &mut action, &mut reasons);
        }
        match observed.and_then(|o| o.validations.get(&d.name)) {
            Some(Ok(())) => reasons.push("VVP validated the SQL".into()),
            Some(Err(m)) => errors.push(format!("pipeline `{}`: VVP rejected the SQL: {m}", d.name)),
            None => {}
        }
        if let Some(vars) = observed.and_then(|o| o.variables.as_ref()) {
            for name in secret_names(&d.record.sql) {
                if !vars.contains(&name) {
                    errors.push(format!(
                        "pipeline `{}` references ${{secret_values.{name}}}, but the namespace has no variable `{name}`: create it in VVP",
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
        // CREATE TABLE IF NOT EXISTS for a create or replace (also on resume), then nullable
        // ADD COLUMNs for the columns the recorded table lacks.
        let (mut sink_ddl, problems) = before.map_or((Vec::new(), Vec::new()), |b| sink_changes(b, &d.record));
        if let Some(Some(live)) = observed.and_then(|o| o.sinks.get(&d.name)) {
            // The live table decides which columns are missing.
            sink_ddl.retain(|x| !matches!(x, SinkDdl::AddColumn { .. }));
            sink_ddl.extend(missing_columns(&d.record, live));
            errors.extend(
                contract(&d.record, live).into_iter().map(|p| format!("pipeline `{}`: contract mismatch: {p}", d.name)),
            );
        }
        let create = SinkDdl::Create { sql: d.record.ddl.clone() };
        if matches!(action, Action::Create | Action::Replace) && !sink_ddl.contains(&create) {
            sink_ddl.insert(0, create);
        }
        errors.extend(problems.into_iter().map(|p| format!("pipeline `{}`: {p}", d.name)));
        changes.push(Change {
            name: d.name.clone(),
            action,
            reasons,
            before: before.cloned(),
            after: Some(d.record),
            sample: Some(d.sample),
            sink_ddl,
            warnings: d.warnings,
        });
    }
    for c in &changes {
        names.push(&c.name);
    }
    let mut deletes = Vec::new();
    for (name, b) in before_all {
        if names.contains(&name) {
            continue;
        }
        if b.protect {
            errors.push(format!(
                "pipeline `{name}` is protected (protect = true) but its spec {} is gone; restore the spec, or set protect = false and apply before removing it",
                b.file
            ));
        }
        deletes.push(Change {
            name: name.clone(),
            action: Action::Delete,
            reasons: vec![format!(
                "spec {} removed: the job stops and its deployment is deleted; the Hologres table {} is kept",
                b.file, b.sink_table
            )],
            before: Some(b.clone()),
            after: None,
            sample: None,
            sink_ddl: Vec::new(),
            warnings: Vec::new(),
        });
    }
    changes.extend(deletes);
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    Plan {
        lineage: recorded.map(|s| s.lineage.clone()),
        serial: recorded.map(|s| s.serial),
        changes,
        errors,
        inputs,
        refreshed: observed.is_some_and(|o| o.vvp),
    }
}

/// Folds what VVP showed into the action: a deleted deployment is created again, an
/// edited one is updated back to the spec, a job that is not running is repaired.
fn drift(before: &PipelineState, after: &PipelineState, live: &Live, action: &mut Action, reasons: &mut Vec<String>) {
    let id = before.remote.deployment_id.as_deref().unwrap_or("?");
    match live {
        Live::Gone => {
            *action = Action::Create;
            reasons.insert(0, format!("deployment {id} is gone from VVP (deleted outside flinkform)"));
        }
        Live::Found { sql_matches: false, .. } if matches!(action, Action::NoOp | Action::Repair) => {
            *action = Action::Update;
            reasons.insert(
                0,
                format!("deployment {id} was edited outside flinkform: its SQL differs from the recorded revision"),
            );
            reasons.push(restart_note(after));
        }
        // A job stopped with `flinkform stop` stays stopped until `flinkform start`.
        Live::Found { job, .. }
            if *action == Action::NoOp
                && job.as_deref() != Some("RUNNING")
                && before.status != crate::state::Status::Stopped =>
        {
            *action = Action::Repair;
            let what = job.as_deref().map_or("has no job".to_string(), |s| format!("job is {s}"));
            reasons.push(format!("recorded as running, but on VVP the {what}"));
        }
        Live::Found { .. } => {}
    }
}

/// The names in every `${secret_values.NAME}` of a SQL text.
pub fn secret_names(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = sql
        .split("${secret_values.")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(n, _)| n.to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Classifies a change of a recorded pipeline and explains it.
fn classify(before: &PipelineState, after: &PipelineState) -> (Action, Vec<String>) {
    let mut replace = Vec::new();
    let mut update = Vec::new();
    if before.topic != after.topic {
        replace.push(format!("source topic changed: {} → {}", before.topic, after.topic));
    }
    if before.primary_key != after.primary_key {
        replace.push(format!(
            "primary key changed: ({}) → ({})",
            before.primary_key.join(", "),
            after.primary_key.join(", ")
        ));
    }
    for b in &before.columns {
        match after.columns.iter().find(|a| a.sink_name == b.sink_name) {
            None => update.push(format!("column `{}` is no longer written (the Hologres column stays)", b.sink_name)),
            Some(a) if a.ty != b.ty => {
                if widens(&b.ty, &a.ty) {
                    update.push(format!("column `{}` widened: {} → {}", a.sink_name, b.ty, a.ty));
                } else {
                    replace.push(format!("column `{}` would narrow: {} → {}", a.sink_name, b.ty, a.ty));
                }
            }
            Some(_) => {}
        }
    }
    for a in &after.columns {
        if !before.columns.iter().any(|b| b.sink_name == a.sink_name) {
            let e = &a.evidence;
            update.push(format!("column `{}` added ({}, {}/{} present)", a.sink_name, a.ty, e.present, e.total));
        }
    }
    if before.timestamp_standard != after.timestamp_standard {
        update.push(format!(
            "json.timestamp-format.standard: {} → {}",
            before.timestamp_standard.as_str(),
            after.timestamp_standard.as_str()
        ));
    }
    for (k, v) in &after.settings {
        match before.settings.get(k) {
            Some(old) if old != v => update.push(format!("{k}: {old} → {v}")),
            None => update.push(format!("{k}: set to {v}")),
            _ => {}
        }
    }
    for k in before.settings.keys().filter(|k| !after.settings.contains_key(*k)) {
        update.push(format!("{k}: removed"));
    }
    for (kind, t) in &after.templates {
        if before.templates.get(kind) != Some(t) {
            update.push(format!("template {kind} changed ({t})"));
        }
    }
    if let Some(p) = &before.pending {
        let action = match p.action {
            Operation::Create => Action::Create,
            Operation::Replace | Operation::Delete => Action::Replace,
            Operation::Update | Operation::Repair | Operation::Start => Action::Update,
        };
        update.insert(0, format!("an interrupted apply ({}) resumes at step `{}`", p.action, p.step));
        if action == Action::Replace || !replace.is_empty() {
            replace.extend(update);
            return (Action::Replace, replace);
        }
        return (action, update);
    }
    if before.protect != after.protect {
        update.push(format!("protect: {} → {} (recorded in the state only)", before.protect, after.protect));
    }
    let artifacts = before.sql != after.sql
        || before.ddl != after.ddl
        || before.deployment != after.deployment
        || before.protect != after.protect;
    if !replace.is_empty() {
        replace.extend(update);
        return (Action::Replace, replace);
    }
    if artifacts {
        if update.is_empty() {
            update.push("rendered output changed (a new flinkform version renders differently)".into());
        }
        update.push(restart_note(after));
        return (Action::Update, update);
    }
    if before.status == crate::state::Status::Failed {
        let why = before.error.as_deref().unwrap_or("no message");
        return (Action::Repair, vec![format!("the job failed: {why}")]);
    }
    (Action::NoOp, Vec::new())
}

/// The DDL that brings a recorded sink table to the desired one, and what cannot be
/// done in place. Tables are never dropped and types never altered; the properties
/// Hologres fixes at creation, and the primary key, never change in place.
fn sink_changes(before: &PipelineState, after: &PipelineState) -> (Vec<SinkDdl>, Vec<String>) {
    let (b, a) = (&before.sink, &after.sink);
    if (b.schema.as_str(), b.table.as_str()) != (a.schema.as_str(), a.table.as_str()) || before.columns.is_empty() {
        return (vec![SinkDdl::Create { sql: after.ddl.clone() }], Vec::new());
    }
    let table = format!("{}.{}", quote_pg_ident(&a.schema), quote_pg_ident(&a.table));
    let mut problems = Vec::new();
    if a.dialect == Dialect::Hologres {
        for (k, new) in &a.fixed {
            let old = b.fixed.get(k).map_or("(unset)", String::as_str);
            if old != new {
                problems.push(format!(
                    "[sink] {k} changes ({old} → {new}), but Hologres fixes it when the table is created: \
                     set it back, or write to a new table ([sink] table) and backfill it"
                ));
            }
        }
    }
    if before.primary_key != after.primary_key {
        problems.push(format!(
            "the primary key of {table} cannot change in place ({} → {}): write to a new table ([sink] table)",
            before.primary_key.join(", "),
            after.primary_key.join(", ")
        ));
    }
    let mut ddl = Vec::new();
    for c in &after.columns {
        match before.columns.iter().find(|o| o.sink_name == c.sink_name) {
            None => ddl.push(add_column(&table, c)),
            Some(o) if o.hologres != c.hologres => problems.push(format!(
                "column {} of {table} would change type ({} → {}), which the sink cannot do in place: \
                 pin the column to its old type in [schema], or write to a new table",
                quote_pg_ident(&c.sink_name),
                o.hologres,
                c.hologres
            )),
            Some(_) => {}
        }
    }
    (ddl, problems)
}

/// Nullable ADD COLUMNs for the columns the job writes that the live table lacks.
fn missing_columns(after: &PipelineState, live: &LiveTable) -> Vec<SinkDdl> {
    let table = format!("{}.{}", quote_pg_ident(&after.sink.schema), quote_pg_ident(&after.sink.table));
    after
        .columns
        .iter()
        .filter(|c| !live.columns.iter().any(|l| l.name == c.sink_name))
        .map(|c| add_column(&table, c))
        .collect()
}

/// A nullable ADD COLUMN without default: the only column change the sink gets.
fn add_column(table: &str, c: &crate::state::ColumnRecord) -> SinkDdl {
    SinkDdl::AddColumn {
        column: c.sink_name.clone(),
        sql: format!("ALTER TABLE {table} ADD COLUMN {} {};", quote_pg_ident(&c.sink_name), c.hologres),
    }
}

/// The `udt_name` information_schema reports for a type as flinkform writes it.
fn udt(sql_type: &str) -> String {
    match sql_type.strip_suffix("[]") {
        Some(elem) => format!("_{}", udt(elem)),
        None => sql_type.split('(').next().unwrap_or(sql_type).to_string(),
    }
}

/// Whether a live column of type `live` can take what the job writes as `written`.
fn takes(live: &str, written: &str) -> bool {
    live == written
        || matches!(
            (live, written),
            ("int8", "int4")
                | ("numeric", "int4" | "int8")
                | ("float8", "int4")
                | ("text", "jsonb" | "varchar")
                | ("varchar", "text")
        )
}

/// What the job writes against what the live table is: the contract problems.
fn contract(after: &PipelineState, live: &LiveTable) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &after.columns {
        if let Some(l) = live.columns.iter().find(|l| l.name == c.sink_name) {
            let written = udt(&c.hologres);
            if !takes(&l.udt, &written) {
                problems.push(format!(
                    "live column {} is {}, but the job writes {} ({}): alter the table back or pin the column's type in [schema]",
                    quote_pg_ident(&l.name),
                    l.udt,
                    c.hologres,
                    c.ty
                ));
            }
        }
    }
    for l in live.columns.iter().filter(|l| l.not_null && !l.has_default) {
        if !after.columns.iter().any(|c| c.sink_name == l.name) {
            problems.push(format!(
                "live column {} is NOT NULL without a default, and the job does not write it: every insert would fail",
                quote_pg_ident(&l.name)
            ));
        }
    }
    if live.primary_key != after.primary_key {
        problems.push(format!(
            "the live table's primary key is ({}), the spec's is ({}): Hologres upserts by the table's key",
            live.primary_key.join(", "),
            after.primary_key.join(", ")
        ));
    }
    if live.primary_key.is_empty()
        && after.sink.on_conflict != OnConflict::Ignore
        && after.sink.dialect == Dialect::Hologres
    {
        problems.push(format!(
            "on_conflict = {} needs a primary key, and the live table has none",
            after.sink.on_conflict.name()
        ));
    }
    problems
}

/// How an update restarts the job, and what that means for the data.
fn restart_note(after: &PipelineState) -> String {
    if after.deploy.upgrade == Upgrade::Stateful {
        "restart: stop with a savepoint, start from LATEST_SAVEPOINT (state kept: reading resumes where the job stopped)".into()
    } else {
        let mode = after.settings.get("source.startup_mode").map_or("\"group-offsets\"", String::as_str);
        format!("restart without state: start NONE (the source reads again from scan.startup.mode {mode})")
    }
}

/// True when a column of type `old` can take every value of `new` written by Flink
/// without a replace: equal, or a widening (INT → BIGINT → DECIMAL/DOUBLE, anything →
/// STRING, a higher timestamp precision, nested types widening field by field).
pub fn widens(old: &str, new: &str) -> bool {
    match (FlinkType::parse(old), FlinkType::parse(new)) {
        (Ok(o), Ok(n)) => widens_type(&o, &n),
        _ => old == new,
    }
}

fn widens_type(o: &FlinkType, n: &FlinkType) -> bool {
    use FlinkType::*;
    match (o, n) {
        _ if o == n => true,
        (_, String) => true,
        (Int, BigInt | Decimal(..) | Double) | (BigInt, Decimal(..) | Double) => true,
        (Timestamp(p), Timestamp(q)) | (TimestampLtz(p), TimestampLtz(q)) => q >= p,
        (Array(a), Array(b)) | (Map(a), Map(b)) => widens_type(a, b),
        (Row(a), Row(b)) => a.iter().all(|(k, t)| b.iter().any(|(k2, t2)| k == k2 && widens_type(t, t2))),
        (Row(a), Map(v)) => a.iter().all(|(_, t)| widens_type(t, v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::widens;

    #[test]
    fn widening_order() {
        assert!(widens("INT", "BIGINT"));
        assert!(widens("BIGINT", "DOUBLE"));
        assert!(widens("DATE", "STRING"));
        assert!(widens("TIMESTAMP(3)", "TIMESTAMP(6)"));
        assert!(widens("ROW<`a` INT>", "ROW<`a` BIGINT, `b` STRING>"));
        assert!(!widens("BIGINT", "INT"));
        assert!(!widens("STRING", "INT"));
        assert!(!widens("TIMESTAMP(3)", "TIMESTAMP_LTZ(3)"));
        assert!(!widens("ROW<`a` INT, `b` INT>", "ROW<`a` INT>"));
    }
}
