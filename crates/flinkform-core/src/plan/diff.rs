//! What changed between a recorded pipeline and the desired one, and between the
//! record and what VVP and the sink database show: the action, the reasons, the sink
//! DDL and the problems.

use std::collections::{HashMap, HashSet};

use super::Action;
use super::columns::{by_sink_name, widens};
use crate::spec::{OnFailure, Upgrade};
use crate::state::{
    ColumnRecord, DeployParams, HOT_FLINK_CONF, HOT_UPDATE_VVR, Operation, Pending, PipelineState, SinkView,
};

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
pub(super) fn classify(before: &PipelineState, after: &PipelineState) -> (Action, Vec<String>) {
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
    column_changes(&before.columns, &after.columns, "", &mut update, &mut replace);
    // The sinks after the first, found again by what they write to.
    let was: HashMap<String, SinkView<'_>> = before.sinks().skip(1).map(|s| (s.sink.label(), s)).collect();
    let now: HashSet<String> = after.sinks().skip(1).map(|s| s.sink.label()).collect();
    // The settings of a sink added or removed are said by its own line: their prefixes.
    let mut whole = Vec::new();
    for (label, a) in after.sinks().skip(1).map(|s| (s.sink.label(), s)) {
        match was.get(&label) {
            None => {
                update.push(format!("sink {label} added ({} columns)", a.columns.len()));
                whole.push(format!("{}.", crate::spec::sink_prefix(&label)));
            }
            Some(b) => column_changes(b.columns, a.columns, &format!(" of sink {label}"), &mut update, &mut replace),
        }
    }
    for label in before.sinks().skip(1).map(|s| s.sink.label()).filter(|l| !now.contains(l)) {
        update.push(format!("sink {label} removed: the job no longer writes it (the table or topic stays)"));
        whole.push(format!("{}.", crate::spec::sink_prefix(&label)));
    }
    if before.timestamp_standard != after.timestamp_standard {
        update.push(format!(
            "json.timestamp-format.standard: {} → {}",
            before.timestamp_standard.as_str(),
            after.timestamp_standard.as_str()
        ));
    }
    settings_changes(before, after, &whole, &mut update);
    for (kind, t) in &after.templates {
        if before.templates.get(kind) != Some(t) {
            update.push(format!("template {kind} changed ({t})"));
        }
    }
    let takes = settings_take(&before.deploy, &after.deploy);
    if let Some(p) = &before.pending {
        return resume(p, before, after, takes, replace, update);
    }
    let protect = (before.protect != after.protect)
        .then(|| format!("protect: {} → {} (recorded in the state only)", before.protect, after.protect));
    if !replace.is_empty() {
        replace.extend(update);
        replace.extend(protect);
        return (Action::Replace, replace);
    }
    let hot = takes == Takes::Hot && hot_capable(before, after);
    if changed(before, after) || takes == Takes::Restart || (takes == Takes::Hot && !hot) {
        if update.is_empty() {
            update.push("rendered output changed (a new flinkform version renders differently)".into());
        }
        if takes == Takes::Hot && !hot && before.status == crate::state::Status::Running {
            update.push(format!(
                "{} cannot hot-update a running job (VVR {}.{}.{} and later can): the new settings take a restart",
                after.deploy.engine_version, HOT_UPDATE_VVR.0, HOT_UPDATE_VVR.1, HOT_UPDATE_VVR.2
            ));
        }
        update.extend(protect);
        update.push(restart_note(before, after));
        return (Action::Update, update);
    }
    if hot {
        update.extend(protect);
        return (Action::HotUpdate, update);
    }
    if before.status == crate::state::Status::Failed {
        let why = before.error.as_deref().unwrap_or("no message");
        return (Action::Repair, vec![format!("the job failed: {why}")]);
    }
    // What VVP runs is unchanged: what changed is flinkform's alone (protect, verify,
    // sampling), recorded without touching the job.
    update.extend(protect);
    if !update.is_empty() {
        return (Action::Record, update);
    }
    (Action::NoOp, Vec::new())
}

/// Each setting that differs, as the spec's text changed. A record of an older form is
/// not compared setting by setting: what it renders is (a changed job still says why).
/// The settings of a sink added or removed (under a prefix of `whole`) are said by the
/// sink's own line.
fn settings_changes(before: &PipelineState, after: &PipelineState, whole: &[String], out: &mut Vec<String>) {
    if before.settings_form != after.settings_form {
        if before.deploy != after.deploy {
            out.push(
                "deployment settings changed (recorded by an earlier flinkform, so not compared key by key)".into(),
            );
        }
        return;
    }
    let own = |k: &&String| !whole.iter().any(|w| k.starts_with(w.as_str()));
    for (k, v) in after.settings.iter().filter(|(k, _)| own(k)) {
        match before.settings.get(k) {
            Some(old) if old != v => out.push(format!("{k}: {old} → {v}")),
            None => out.push(format!("{k}: set to {v}")),
            _ => {}
        }
    }
    for k in before.settings.keys().filter(own).filter(|k| !after.settings.contains_key(*k)) {
        out.push(format!("{k}: removed"));
    }
}

/// What applying a change of the deployment settings takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Takes {
    /// Nothing VVP runs with changed (only flinkform's own: upgrade, verify, on_failure).
    Nothing,
    /// Only the parallelism and [`HOT_FLINK_CONF`] values changed (or were added).
    Hot,
    /// Anything else: the engine, the queue, resources, other Flink configuration.
    Restart,
}

fn settings_take(b: &DeployParams, a: &DeployParams) -> Takes {
    let restart = b.engine_version != a.engine_version
        || b.resource_queue != a.resource_queue
        || b.jobmanager != a.jobmanager
        || b.taskmanager != a.taskmanager
        || b.flink_conf.iter().any(|(k, v)| a.flink_conf.get(k) != Some(v) && !HOT_FLINK_CONF.contains(&k.as_str()))
        || a.flink_conf.keys().any(|k| !b.flink_conf.contains_key(k) && !HOT_FLINK_CONF.contains(&k.as_str()))
        || HOT_FLINK_CONF.iter().any(|k| b.flink_conf.contains_key(*k) && !a.flink_conf.contains_key(*k));
    if restart {
        Takes::Restart
    } else if b.parallelism != a.parallelism
        || HOT_FLINK_CONF.iter().any(|k| b.flink_conf.get(*k) != a.flink_conf.get(*k))
    {
        Takes::Hot
    } else {
        Takes::Nothing
    }
}

/// A hot update needs a running job and an engine that takes one.
fn hot_capable(before: &PipelineState, after: &PipelineState) -> bool {
    before.status == crate::state::Status::Running && hot_engine(after)
}

/// The engine takes HotUpdateJob.
pub(super) fn hot_engine(after: &PipelineState) -> bool {
    crate::spec::parse_vvr(&after.deploy.engine_version).is_some_and(|v| v >= HOT_UPDATE_VVR)
}

/// What a hot update does to the running job: the last reason of a change that stays a
/// hot update once the live job was looked at.
pub(super) fn hot_note(before: &PipelineState, after: &PipelineState) -> String {
    if before.intent == crate::state::Intent::Stopped {
        return "the deployment takes the settings (UpdateDeployment); the job stays stopped (flinkform stop)".into();
    }
    let note = "hot update: the deployment takes the new settings and the running job is updated in place with HotUpdateJob where it runs with others (no stop, no savepoint, same job id; VVP may restart tasks in place for a few seconds)".to_string();
    match after.deploy.verify_secs {
        Some(secs) => format!("{note}; then the job must stay RUNNING for {secs}s ([deployment] verify)"),
        None => note,
    }
}

/// The change that resumes an interrupted apply: its own action, unless what the spec
/// asks for now needs more (a replace, or an update of what runs).
fn resume(
    p: &Pending,
    before: &PipelineState,
    after: &PipelineState,
    takes: Takes,
    mut replace: Vec<String>,
    mut update: Vec<String>,
) -> (Action, Vec<String>) {
    let runs_as_recorded = replace.is_empty() && !changed(before, after);
    let action = match p.action {
        Operation::Create => Action::Create,
        Operation::Replace | Operation::Delete => Action::Replace,
        Operation::Update | Operation::Rollback => Action::Update,
        // Starting again is all that is left: the job restarts as it was asked to.
        Operation::Repair | Operation::Start if runs_as_recorded && takes == Takes::Nothing => Action::Repair,
        Operation::Repair | Operation::Start => Action::Update,
        // The job was never stopped: the hot update is asked for again (or found done).
        Operation::HotUpdate if runs_as_recorded && takes != Takes::Restart => Action::HotUpdate,
        Operation::HotUpdate => Action::Update,
    };
    let what = match (&p.restore, p.action) {
        (Some(r), Operation::Start) => format!("an interrupted `flinkform start` (restore {r}) resumes"),
        (_, Operation::Rollback) => format!(
            "an interrupted rollback (at step `{}`) is not finished: the update is tried again from what VVP shows",
            p.step
        ),
        _ => format!("an interrupted apply ({}) resumes at step `{}`", p.action, p.step),
    };
    update.insert(0, what);
    if action == Action::Replace || !replace.is_empty() {
        replace.extend(update);
        return (Action::Replace, replace);
    }
    (action, update)
}

/// What changed in the columns a sink is written (`of` names the sink in the reasons):
/// added and widened columns are updates, narrowed ones a replace.
fn column_changes(
    before: &[ColumnRecord],
    after: &[ColumnRecord],
    of: &str,
    update: &mut Vec<String>,
    replace: &mut Vec<String>,
) {
    let (after_cols, before_cols) = (by_sink_name(after), by_sink_name(before));
    for b in before {
        match after_cols.get(b.sink_name.as_str()) {
            None => update.push(format!("column `{}`{of} is no longer written (the column stays)", b.sink_name)),
            Some(a) if a.ty != b.ty => {
                if widens(&b.ty, &a.ty) {
                    update.push(format!("column `{}`{of} widened: {} → {}", a.sink_name, b.ty, a.ty));
                } else {
                    replace.push(format!("column `{}`{of} would narrow: {} → {}", a.sink_name, b.ty, a.ty));
                }
            }
            Some(_) => {}
        }
    }
    for a in after {
        if !before_cols.contains_key(a.sink_name.as_str()) {
            let e = &a.evidence;
            update.push(format!("column `{}`{of} added ({}, {}/{} present)", a.sink_name, a.ty, e.present, e.total));
        }
    }
}

/// Whether the job's SQL or its sink table's DDL changes (the deployment settings are
/// judged by [`settings_take`]: the rendered deployment text is their display).
fn changed(before: &PipelineState, after: &PipelineState) -> bool {
    before.sql != after.sql || before.sinks().map(|s| s.ddl).ne(after.sinks().map(|s| s.ddl))
}

/// How an update restarts the job, and what that means for the data.
pub(super) fn restart_note(before: &PipelineState, after: &PipelineState) -> String {
    let upgrade = super::verdict::judge(before, after).upgrade(after.deploy.upgrade);
    let note = if before.intent == crate::state::Intent::Stopped {
        let why = match (upgrade, after.deploy.upgrade) {
            (Upgrade::Stateful, _) => "",
            (Upgrade::Stateless, Upgrade::Stateless) => " --restore none` (upgrade = \"stateless\")",
            (Upgrade::Stateless, Upgrade::Stateful) => {
                " --restore none` (its saved state does not fit the new version)"
            }
        };
        let start = if why.is_empty() { "`flinkform start`".to_string() } else { format!("`flinkform start{why}") };
        format!("the job stays stopped (flinkform stop): the new version runs from the next {start}")
    } else if upgrade == Upgrade::Stateful {
        "restart: stop with a savepoint, start from exactly that savepoint (reading resumes where the job stopped); a job that is not running starts from its latest state".into()
    } else {
        let mode = after.settings.get("source.startup_mode").map_or("\"group-offsets\"", String::as_str);
        format!("restart without state: start NONE (the source reads again from scan.startup.mode {mode})")
    };
    if before.intent == crate::state::Intent::Stopped {
        return note;
    }
    let note = match after.deploy.verify_secs {
        Some(secs) => format!("{note}; then the job must stay RUNNING for {secs}s ([deployment] verify)"),
        None => note,
    };
    match after.deploy.on_failure {
        OnFailure::Rollback => format!(
            "{note}; if the new job fails, the previous revision is deployed again from the state before the update ([deployment] on_failure)"
        ),
        OnFailure::Fail => note,
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, classify};
    use crate::plan::columns::widens;
    use crate::state::{Operation, Pending, Restore, Step};

    #[test]
    fn an_interrupted_start_resumes_as_a_start_not_a_restart() {
        let state = crate::state::parse(include_str!("../../tests/fixtures/state/v1.json"), "v1.json").unwrap();
        let mut before = state.pipelines["orders"].clone();
        before.pending =
            Some(Pending { restore: Some(Restore::LatestSavepoint), ..Pending::new(Operation::Start, Step::Start) });
        let mut after = before.clone();
        after.pending = None;
        let (action, reasons) = classify(&before, &after);
        assert_eq!(action, Action::Repair, "{reasons:?}");
        assert_eq!(reasons[0], "an interrupted `flinkform start` (restore LATEST_SAVEPOINT) resumes");
        after.sql.push_str("-- changed\n");
        assert_eq!(classify(&before, &after).0, Action::Update, "with new SQL it is an update");
    }

    /// The fixture's `orders`, applied and running on `engine` (nothing pending).
    fn running(engine: &str) -> crate::state::PipelineState {
        let state = crate::state::parse(include_str!("../../tests/fixtures/state/v1.json"), "v1.json").unwrap();
        let mut p = state.pipelines["orders"].clone();
        p.pending = None;
        p.status = crate::state::Status::Running;
        p.deploy.engine_version = engine.into();
        p
    }

    #[test]
    fn a_stopped_job_whose_state_is_lost_is_told_to_start_without_it() {
        let (mut before, mut after) = crate::plan::verdict::tests::orders();
        before.intent = crate::state::Intent::Stopped;
        after.intent = crate::state::Intent::Stopped;
        after.settings.insert("transform.dedupe.key".into(), "[\"order_id\"]".into());
        let note = super::restart_note(&before, &after);
        assert!(
            note.ends_with("`flinkform start --restore none` (its saved state does not fit the new version)"),
            "{note}"
        );
        after.settings.remove("transform.dedupe.key");
        let note = super::restart_note(&before, &after);
        assert!(note.ends_with("the next `flinkform start`"), "a state that fits is restored: {note}");
    }

    #[test]
    fn parallelism_and_checkpoint_settings_alone_are_hot_updates_where_the_engine_takes_them() {
        let before = running("vvr-8.0.11-flink-1.17");
        let mut after = before.clone();
        after.deploy.parallelism = 8;
        assert_eq!(classify(&before, &after).0, Action::HotUpdate);
        after.deploy.flink_conf.insert("execution.checkpointing.timeout".into(), "10min".into());
        assert_eq!(classify(&before, &after).0, Action::HotUpdate, "a checkpoint setting added");

        let old = running("vvr-6.0.7-flink-1.15");
        let mut later = old.clone();
        later.deploy.parallelism = 8;
        let (action, reasons) = classify(&old, &later);
        assert_eq!(action, Action::Update);
        assert!(
            reasons.iter().any(|r| r.contains("cannot hot-update a running job (VVR 8.0.1 and later can)")),
            "{reasons:?}"
        );

        let mut stopped = before.clone();
        stopped.status = crate::state::Status::Stopped;
        stopped.intent = crate::state::Intent::Stopped;
        assert_eq!(classify(&stopped, &after).0, Action::Update, "a stopped job is only reconfigured");
    }

    #[test]
    fn other_deployment_settings_take_a_restart() {
        let before = running("vvr-8.0.11-flink-1.17");
        let mut after = before.clone();
        after.deploy.parallelism = 8;
        after.deploy.flink_conf.insert("table.exec.state.ttl".into(), "1d".into());
        assert_eq!(classify(&before, &after).0, Action::Update, "a non-hot Flink option");
        let mut after = before.clone();
        after.deploy.taskmanager = Some((4.0, "16Gi".into()));
        assert_eq!(classify(&before, &after).0, Action::Update, "resources are not hot-updated");
        let mut after = before.clone();
        after.deploy.flink_conf.remove("execution.checkpointing.interval");
        assert_eq!(classify(&before, &after).0, Action::Update, "a hot key removed");
    }

    #[test]
    fn what_only_flinkform_reads_never_touches_the_job() {
        // `upgrade` was part of the rendered deployment text, so changing it restarted the job.
        let before = running("vvr-8.0.11-flink-1.17");
        let mut after = before.clone();
        after.deploy.upgrade = match before.deploy.upgrade {
            crate::spec::Upgrade::Stateful => crate::spec::Upgrade::Stateless,
            crate::spec::Upgrade::Stateless => crate::spec::Upgrade::Stateful,
        };
        after.deployment.push_str("# rendered differently\n");
        after.settings.insert("deployment.upgrade".into(), "changed".into());
        assert_eq!(classify(&before, &after).0, Action::Record);
    }

    #[test]
    fn settings_of_an_earlier_form_are_compared_by_what_they_do() {
        let before = running("vvr-8.0.11-flink-1.17");
        assert_eq!(before.settings_form, 1, "the fixture holds the first form");
        let mut after = before.clone();
        after.settings_form = crate::spec::SETTINGS_FORM;
        after.settings = [("source.topic".to_string(), "\"orders\"".to_string())].into();
        assert_eq!(classify(&before, &after), (Action::NoOp, vec![]), "the same pipeline, written anew");
        after.deploy.upgrade = crate::spec::Upgrade::Stateless;
        let (action, reasons) = classify(&before, &after);
        assert_eq!(action, Action::Record);
        assert!(reasons[0].starts_with("deployment settings changed"), "{reasons:?}");
    }

    #[test]
    fn an_interrupted_hot_update_resumes_as_a_hot_update() {
        let mut before = running("vvr-8.0.11-flink-1.17");
        before.pending = Some(Pending::new(Operation::HotUpdate, Step::HotUpdate));
        let mut after = before.clone();
        after.pending = None;
        after.deploy.parallelism = 8;
        assert_eq!(classify(&before, &after).0, Action::HotUpdate);
        after.sql.push_str("-- changed\n");
        assert_eq!(classify(&before, &after).0, Action::Update, "with new SQL it restarts");
    }

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
