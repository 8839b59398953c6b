//! What VVP shows against the record: drift folded into the action (put back in place
//! where the platform allows, restarted only where it must, and said why), what the
//! resume of an interrupted apply does by the table apply follows
//! ([`crate::state::resume`]), and what adopting a deployment the state forgot does.

use super::diff::{hot_engine, restart_note};
use super::{Action, Adoptable, JobState, Live, LiveSettings};
use crate::echo;
use crate::spec::Upgrade;
use crate::state::resume::{self, Next, Seen};
use crate::state::{DeployParams, HOT_UPDATE_VVR, Operation, PipelineState};

/// Folds what VVP showed into the action: a deleted deployment is created again; an
/// edited one is put back, in place where only its settings or labels were edited
/// (UpdateDeployment, then HotUpdateJob where the running job's parallelism or
/// checkpointing differ), by a restart where its SQL was; a job that is not running is
/// repaired.
pub(super) fn drift(
    before: &PipelineState,
    after: &PipelineState,
    live: &Live,
    action: &mut Action,
    reasons: &mut Vec<String>,
) {
    let id = before.remote.deployment_id.as_deref().unwrap_or("?");
    match live {
        // An interrupted replace had deleted it: the replace goes on with its create.
        Live::Gone if *action == Action::Replace => {
            reasons.push(format!("deployment {id} is already deleted: the replace goes on with its create"));
        }
        Live::Gone => {
            *action = Action::Create;
            reasons.insert(0, format!("deployment {id} is gone from VVP (deleted outside flinkform)"));
        }
        Live::Found { sql_matches, settings, job, .. }
            if matches!(action, Action::NoOp | Action::Repair)
                && (!sql_matches || !settings_drift(&before.deploy, settings).is_empty()) =>
        {
            let mut edits = settings_drift(&before.deploy, settings);
            let running = *job == Some(JobState::Running);
            let stopped = before.intent == crate::state::Intent::Stopped;
            // A running job whose parallelism VVP changed takes it back only from an
            // engine that hot-updates; any other edit of the settings is put back on the
            // deployment alone.
            let parallelism = settings.parallelism.is_some_and(|p| p != before.deploy.parallelism);
            let hot_ok = !parallelism || hot_engine(after);
            *action = match (*sql_matches, stopped, running) {
                (true, true, _) => Action::HotUpdate,
                (true, false, true) if hot_ok => Action::HotUpdate,
                (true, false, false) => Action::Repair,
                _ => Action::Update,
            };
            if !sql_matches {
                edits.insert(0, "its SQL differs from the recorded revision".into());
            }
            reasons.insert(0, format!("deployment {id} was edited outside flinkform: {}", edits.join("; ")));
            match *action {
                Action::Update => {
                    if *sql_matches {
                        reasons.push(format!(
                            "{} cannot hot-update a running job (VVR {}.{}.{} and later can): its parallelism is put back by a restart",
                            after.deploy.engine_version, HOT_UPDATE_VVR.0, HOT_UPDATE_VVR.1, HOT_UPDATE_VVR.2
                        ));
                    }
                    reasons.push(restart_note(before, after));
                }
                Action::Repair => {
                    reasons.push(format!("recorded as running, but on VVP the {}", job_said(job)));
                    reasons.push("the deployment is put back (UpdateDeployment), then the job starts".into());
                }
                _ => reasons.push(
                    "put back in place: the deployment is set as recorded (UpdateDeployment), without a restart; settings only a restart changes (engine, resources, queue, Flink configuration other than checkpointing) stay as the running job has them until its next restart"
                        .into(),
                ),
            }
        }
        Live::Found { job, .. } if *action == Action::HotUpdate && *job != Some(JobState::Running) => {
            *action = Action::Update;
            reasons.push(format!(
                "on VVP the {}, so the new settings cannot be hot-updated: the job restarts",
                job_said(job)
            ));
            reasons.push(restart_note(before, after));
        }
        // A job stopped with `flinkform stop` stays stopped until `flinkform start`.
        Live::Found { job, .. }
            if *action == Action::NoOp
                && *job != Some(JobState::Running)
                && before.intent != crate::state::Intent::Stopped =>
        {
            *action = Action::Repair;
            reasons.push(format!("recorded as running, but on VVP the {}", job_said(job)));
        }
        Live::Found { .. } | Live::Unknown(_) => {}
    }
}

/// Where VVP no longer shows what was applied to `record`: the deployment gone, its SQL
/// or settings edited outside flinkform (empty: none, or VVP was not asked).
pub fn live_drift(record: &PipelineState, live: &Live) -> Vec<String> {
    match live {
        Live::Gone => vec!["the deployment is gone from VVP (deleted outside flinkform)".into()],
        Live::Found { sql_matches, settings, .. } => {
            let mut out = settings_drift(&record.deploy, settings);
            if !sql_matches {
                out.insert(0, "its SQL differs from the recorded revision".into());
            }
            out
        }
        Live::Unknown(_) => Vec::new(),
    }
}

/// What VVP shows of a deployment's job, as the reasons say it.
fn job_said(job: &Option<JobState>) -> String {
    job.as_ref().map_or("has no job".to_string(), |s| format!("job is {s}"))
}

/// Where the deployment on VVP differs from what was applied, of what flinkform sets
/// (a Flink configuration key set only on VVP is not flinkform's to judge).
fn settings_drift(recorded: &DeployParams, live: &LiveSettings) -> Vec<String> {
    fn differs<T: PartialEq + std::fmt::Display>(what: &str, vvp: &Option<T>, ours: Option<&T>, out: &mut Vec<String>) {
        if let (Some(v), Some(o)) = (vvp, ours)
            && v != o
        {
            out.push(format!("{what} is {v} on VVP, {o} when applied"));
        }
    }
    let mut out = Vec::new();
    differs("engine version", &live.engine_version, Some(&recorded.engine_version), &mut out);
    differs("parallelism", &live.parallelism, Some(&recorded.parallelism), &mut out);
    differs("resource queue", &live.resource_queue, Some(&recorded.resource_queue), &mut out);
    for (what, vvp, ours) in [
        ("jobmanager", &live.jobmanager, recorded.jobmanager.as_ref()),
        ("taskmanager", &live.taskmanager, recorded.taskmanager.as_ref()),
    ] {
        if let (Some((cpu, memory)), Some((our_cpu, our_memory))) = (vvp, ours)
            && (cpu != our_cpu || !echo::same_memory(memory, our_memory))
        {
            out.push(format!("{what} is {cpu} CPU, {memory} on VVP; {our_cpu} CPU, {our_memory} when applied"));
        }
    }
    for (k, v) in &recorded.flink_conf {
        match live.flink_conf.get(k) {
            Some(l) if echo::same_conf(l, v) => {}
            Some(l) => out.push(format!("flink_conf {k} is `{l}` on VVP, `{v}` when applied")),
            None => out.push(format!("flink_conf {k} is not set on VVP, `{v}` when applied")),
        }
    }
    if live.labels_edited {
        out.push(
            "its labels no longer name it this project's pipeline (managed-by, flinkform-pipeline, flinkform-project)"
                .into(),
        );
    }
    out
}

/// What an interrupted apply's resume does to the job, by the table apply follows
/// ([`resume::restart`]), from what the refresh saw (`None`: no refresh, so what is
/// seen is said as a choice); `None` when nothing is resumed.
pub(super) fn resume_note(
    before: &PipelineState,
    after: &PipelineState,
    action: Action,
    live: Option<&Live>,
) -> Option<String> {
    let pending = before.pending.as_ref()?;
    let upgrade = after.deploy.upgrade;
    let seen = match live {
        Some(Live::Found { job, sql_digest, .. }) => {
            let live_job = job.as_ref().is_some_and(JobState::live);
            let planned = sql_digest.as_deref() == Some(echo::sql_digest(&after.sql).as_str());
            Some(match (live_job, planned) {
                (false, _) => Seen::NoJob,
                (true, true) => Seen::PlannedJob,
                (true, false) => Seen::OtherJob,
            })
        }
        _ => None,
    };
    let stays = before.intent == crate::state::Intent::Stopped;
    let note = match action {
        Action::Update => {
            let reached = resume::reached(Some(pending), Operation::Update);
            let savepoint = pending.savepoint_id.as_deref().filter(|_| reached.is_some());
            let say = |seen: Seen| match resume::restart(reached, savepoint, seen, upgrade) {
                Next::Keep => "the job it started runs the new version: kept (no stop, no new job)".to_string(),
                Next::Stop { savepoint: true } => {
                    "the live job is stopped with a savepoint and the new version starts from it".into()
                }
                Next::Stop { savepoint: false } => "the live job is stopped and the new version starts without state".into(),
                Next::Start(r) if stays => format!("the job stays stopped (flinkform stop); its next start restores {r}"),
                Next::Start(crate::state::Restore::LatestState) => {
                    "the new version starts from the latest state (a job may have run since the stop)".into()
                }
                Next::Start(r) => format!("the new version starts with restore {r}"),
            };
            match seen {
                Some(seen) => say(seen),
                None => format!(
                    "without a refresh: if the job it started is live, {}; if none is, {}",
                    say(Seen::PlannedJob),
                    say(Seen::NoJob)
                ),
            }
        }
        Action::Replace if resume::replace_destroyed(Some(pending)) => {
            "the old deployment is already deleted: the replace goes on with its create, adopting the deployment it made and keeping its live job".into()
        }
        Action::Create | Action::Replace if pending.action == Operation::Create || pending.action == Operation::Replace => {
            "a deployment the interrupted run made is adopted, and its live job kept".into()
        }
        _ => return None,
    };
    Some(format!("resume: {note}"))
}

/// What apply does with a deployment of this project's that it adopts for a pipeline
/// the state has no record of (the executor's create: same SQL, its live job kept or a
/// stateful job started from its latest state; other SQL, an update).
pub(super) fn adopt_notes(found: &Adoptable, after: &PipelineState) -> Vec<String> {
    let planned = found.sql_digest.as_deref() == Some(echo::sql_digest(&after.sql).as_str());
    let how = match (planned, after.deploy.upgrade) {
        (true, Upgrade::Stateful) => {
            "it runs the planned SQL: its live job is kept; if none runs, the job starts from its latest state (LATEST_STATE)"
        }
        (true, Upgrade::Stateless) => {
            "it runs the planned SQL: its live job is kept; if none runs, the job starts without state"
        }
        (false, Upgrade::Stateful) => {
            "it runs other SQL: its live job stops with a savepoint, and the planned SQL starts from it"
        }
        (false, Upgrade::Stateless) => {
            "it runs other SQL: its live job stops, and the planned SQL starts without state"
        }
    };
    vec![
        format!(
            "adopt deployment {}: this project made it, and the state has no record of it (`state rm`, or a lost state)",
            found.id
        ),
        how.to_string(),
    ]
}
