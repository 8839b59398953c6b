//! The world the emulator holds: drafts, deployments, tickets, jobs, savepoints and
//! variables per (workspace, namespace), and how time moves them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use vvp_wire::wire::{
    AsyncDraftDeployResult, AsyncDraftValidateResult, Deployment, DeploymentDraft, HotUpdateJobFailureInfo,
    HotUpdateJobResult, Job, JobFailure, JobRunning, JobSummary, Savepoint, SavepointStatus, Variable,
};

use crate::Config;
use crate::clock::epoch_secs;

/// A hot update in progress. Alibaba's API reference gives only `HOT_UPDATED` (the
/// example of HotUpdateJobStatus) and a `failure` (HotUpdateJobFailureInfo) for its end;
/// what it says meanwhile is not documented, so this spelling is the emulator's own.
pub(crate) const HOT_UPDATING: &str = "HOT_UPDATING";

/// Where the namespace and workspace of an object are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub(crate) struct Scope {
    pub(crate) workspace: String,
    pub(crate) namespace: String,
}

pub(crate) struct TicketRec {
    pub(crate) scope: Scope,
    pub(crate) draft_id: String,
    pub(crate) validate: bool,
    pub(crate) ready_at: Instant,
    pub(crate) fails: bool,
    pub(crate) result: Option<Value>,
}

pub(crate) struct JobRec {
    pub(crate) scope: Scope,
    pub(crate) job: Job,
    pub(crate) running_at: Instant,
    pub(crate) fails: bool,
    pub(crate) stop: Option<(Instant, String)>,
}

/// Everything the emulator holds.
pub(crate) struct World {
    pub(crate) cfg: Config,
    pub(crate) rng: StdRng,
    pub(crate) seq: u64,
    pub(crate) drafts: BTreeMap<String, (Scope, DeploymentDraft)>,
    pub(crate) deployments: BTreeMap<String, (Scope, Deployment)>,
    pub(crate) tickets: HashMap<String, TicketRec>,
    pub(crate) jobs: BTreeMap<String, JobRec>,
    /// Per deployment, oldest first: savepoints and retained checkpoints.
    pub(crate) savepoints: HashMap<String, Vec<Savepoint>>,
    pub(crate) variables: BTreeMap<Scope, BTreeMap<String, Variable>>,
    pub(crate) nonces: HashMap<String, Instant>,
    /// Hot updates by id.
    pub(crate) hot_updates: HashMap<String, (Scope, HotUpdateJobResult)>,
    /// When each hot update in progress is done.
    pub(crate) hot_due: HashMap<String, Instant>,
    /// API calls received since the process started, by operation (`GET /_emulator/stats`).
    pub(crate) calls: BTreeMap<String, u64>,
    /// Draws the steps' durations (apart from the faults' draws, so that a spread does
    /// not change which calls fail).
    pub(crate) steps: StdRng,
    /// The milliseconds of every step drawn, summed per deployment name (`GET
    /// /_emulator/stats`): the platform's own time per pipeline.
    pub(crate) drawn: BTreeMap<String, u64>,
}

/// The savepoint (`sp-JOB`) or retained checkpoint (`cp-JOB`) a stopped job leaves.
fn state_of(job: &Job, origin: &str) -> Savepoint {
    let prefix = if origin == "RETAINED_CHECKPOINT" { "cp" } else { "sp" };
    Savepoint {
        savepoint_id: format!("{prefix}-{}", job.job_id),
        deployment_id: Some(job.deployment_id.clone()),
        job_id: Some(job.job_id.clone()),
        savepoint_origin: Some(origin.into()),
        status: Some(SavepointStatus { state: "COMPLETED".into() }),
        created_at: Some(epoch_secs() * 1000),
    }
}

impl World {
    pub(crate) fn new(cfg: Config) -> World {
        World {
            rng: StdRng::seed_from_u64(cfg.seed),
            steps: StdRng::seed_from_u64(cfg.seed ^ 0x5354_4550),
            drawn: BTreeMap::new(),
            cfg,
            seq: 0,
            drafts: BTreeMap::new(),
            deployments: BTreeMap::new(),
            tickets: HashMap::new(),
            jobs: BTreeMap::new(),
            savepoints: HashMap::new(),
            variables: BTreeMap::new(),
            nonces: HashMap::new(),
            hot_updates: HashMap::new(),
            hot_due: HashMap::new(),
            calls: BTreeMap::new(),
        }
    }

    pub(crate) fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}-{:08x}-{:04x}", self.rng.random::<u32>(), self.seq)
    }

    /// Applies every timed transition that is due: tickets finish, jobs start and stop.
    pub(crate) fn advance(&mut self) {
        let now = Instant::now();
        let mut due: Vec<String> = self
            .tickets
            .iter()
            .filter(|(_, t)| t.result.is_none() && t.ready_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort_by_key(|k| self.tickets[k].ready_at);
        for k in due {
            let result = self.finish_ticket(&k);
            self.tickets.get_mut(&k).expect("due ticket").result = Some(result);
        }
        if let Some(ttl) = self.cfg.ticket_ttl {
            self.tickets.retain(|_, t| t.result.is_none() || t.ready_at + ttl > now);
        }
        let mut new_savepoints = Vec::new();
        for j in self.jobs.values_mut() {
            let status = j.job.status.current_job_status.as_str();
            let started = status == "STARTING" && now >= j.running_at;
            // A failing job fails while starting or, with --job-crash-after, once it ran that long.
            let fails_now = j.fails
                && match self.cfg.job_crash_after {
                    None => started,
                    Some(d) => matches!(status, "STARTING" | "RUNNING") && now >= j.running_at + d,
                };
            if fails_now {
                let ran = status == "RUNNING";
                let s = &mut j.job.status;
                s.current_job_status = "FAILED".into();
                s.running = None;
                s.failure = Some(JobFailure {
                    reason: "JobFailed".into(),
                    message: "org.apache.flink.runtime.JobException: Recovery is suppressed (injected by vvp-emulator)"
                        .into(),
                });
                j.job.end_time = Some(epoch_secs());
                // Flink triggers checkpoints only once every task runs (Apache Flink,
                // "Checkpointing": the coordinator skips a trigger while tasks are not
                // RUNNING): a job that fails while starting leaves no state.
                if ran {
                    new_savepoints.push(state_of(&j.job, "RETAINED_CHECKPOINT"));
                }
            } else if started {
                j.job.status.current_job_status = "RUNNING".into();
                // The API reference's JobStatus: `running` {observedFlinkJobStatus,
                // observedFlinkJobRestarts} when RUNNING.
                j.job.status.running = Some(JobRunning {
                    observed_flink_job_status: Some("RUNNING".into()),
                    observed_flink_job_restarts: Some(0),
                });
            }
            // With --restart-jobs-of-sql-with, Flink restarts such a RUNNING job once a
            // second (a task that fails and recovers): its observedFlinkJobRestarts grows.
            if let (Some(marker), Some(running)) = (&self.cfg.restart_jobs_of_sql_with, &mut j.job.status.running) {
                let sql = self
                    .deployments
                    .get(&j.job.deployment_id)
                    .and_then(|(_, d)| d.artifact.as_ref()?.sql_artifact.as_ref());
                if sql.is_some_and(|a| a.sql_script.contains(marker.as_str())) {
                    running.observed_flink_job_restarts =
                        Some(now.saturating_duration_since(j.running_at).as_secs() as i64);
                }
            }
            if let Some((at, strategy)) = &j.stop
                && j.job.status.current_job_status == "CANCELLING"
                && now >= *at
            {
                j.job.status.current_job_status = "CANCELLED".into();
                j.job.end_time = Some(epoch_secs());
                // A stop with a savepoint takes one; any other stop retains the last
                // checkpoint, which LATEST_STATE restores.
                let origin =
                    if strategy == "STOP_WITH_SAVEPOINT" { "STOP_WITH_SAVEPOINT" } else { "RETAINED_CHECKPOINT" };
                new_savepoints.push(state_of(&j.job, origin));
            }
        }
        for sp in new_savepoints {
            self.savepoints.entry(sp.deployment_id.clone().unwrap_or_default()).or_default().push(sp);
        }
        self.finish_hot_updates(now);
    }

    /// Hot updates that are due: the job takes the target settings while it runs; one
    /// that stopped meanwhile fails the update.
    fn finish_hot_updates(&mut self, now: Instant) {
        let due: Vec<String> = self.hot_due.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
        for id in due {
            self.hot_due.remove(&id);
            let (_, r) = self.hot_updates.get_mut(&id).expect("due hot update");
            let job = self.jobs.get_mut(&r.job_id).filter(|j| j.job.status.current_job_status == "RUNNING");
            let status = r.status.get_or_insert_default();
            match (job, r.target_resource_setting.as_ref()) {
                (Some(j), Some(target)) => {
                    j.job.flink_conf = target.flink_conf.clone();
                    j.job.streaming_resource_setting = target.streaming_resource_setting.clone();
                    status.status = "HOT_UPDATED".into();
                }
                _ => {
                    status.status = "HOT_UPDATE_FAILED".into();
                    status.failure = Some(HotUpdateJobFailureInfo {
                        reason: Some("JobNotRunning".into()),
                        message: Some(format!("job {} stopped before the update took effect", r.job_id)),
                        failure_severity: Some("HIGH".into()),
                    });
                }
            }
        }
    }

    pub(crate) fn finish_ticket(&mut self, ticket: &str) -> Value {
        let t = &self.tickets[ticket];
        let (scope, draft_id, validate, fails) = (t.scope.clone(), t.draft_id.clone(), t.validate, t.fails);
        let Some((_, draft)) = self.drafts.get(&draft_id).filter(|(s, _)| *s == scope).cloned() else {
            return json!({ "ticketStatus": "FAILED", "success": false, "message": format!("deployment draft {draft_id} not found") });
        };
        let sql_ok = draft
            .artifact
            .as_ref()
            .and_then(|a| a.sql_artifact.as_ref())
            .is_some_and(|s| !s.sql_script.trim().is_empty());
        if fails || !sql_ok {
            let message = if sql_ok {
                "Validation error: SQL validate failed (injected by vvp-emulator)"
            } else {
                "Validation error: the SQL script is empty"
            };
            let r = AsyncDraftDeployResult {
                ticket_status: "FINISHED".into(),
                success: false,
                message: Some(message.into()),
                ..Default::default()
            };
            return serde_json::to_value(r).expect("serializes");
        }
        if validate {
            let r = AsyncDraftValidateResult {
                ticket_status: "FINISHED".into(),
                success: true,
                message: Some(String::new()),
            };
            return serde_json::to_value(r).expect("serializes");
        }
        let name = draft.name.clone().unwrap_or_default();
        let existing = draft
            .referenced_deployment_id
            .clone()
            .filter(|id| self.deployments.get(id).is_some_and(|(s, _)| *s == scope));
        let id = match existing {
            Some(id) => id,
            None => {
                if !self.cfg.allow_duplicate_names
                    && self.deployments.values().any(|(s, d)| *s == scope && d.name.as_deref() == Some(&name))
                {
                    let r = AsyncDraftDeployResult {
                        ticket_status: "FINISHED".into(),
                        success: false,
                        message: Some(format!(
                            "a deployment named {name} already exists in namespace {}",
                            scope.namespace
                        )),
                        ..Default::default()
                    };
                    return serde_json::to_value(r).expect("serializes");
                }
                let id = self.id("dep");
                let fresh = Deployment {
                    deployment_id: Some(id.clone()),
                    name: Some(name.clone()),
                    execution_mode: Some("STREAMING".into()),
                    namespace: Some(scope.namespace.clone()),
                    workspace: Some(scope.workspace.clone()),
                    ..Default::default()
                };
                self.deployments.insert(id.clone(), (scope.clone(), fresh));
                id
            }
        };
        let dep = &mut self.deployments.get_mut(&id).expect("deployment").1;
        dep.artifact = draft.artifact.clone();
        dep.engine_version = draft.engine_version.clone();
        dep.execution_mode = draft.execution_mode.clone().or(dep.execution_mode.take());
        dep.labels = draft.labels.clone().or(dep.labels.take());
        dep.referenced_deployment_draft_id = Some(draft_id.clone());
        if let Some((_, d)) = self.drafts.get_mut(&draft_id) {
            d.referenced_deployment_id = Some(id.clone());
        }
        let r = AsyncDraftDeployResult {
            ticket_status: "FINISHED".into(),
            success: true,
            deployment_id: Some(id),
            message: Some(String::new()),
            ..Default::default()
        };
        serde_json::to_value(r).expect("serializes")
    }

    /// How long a step of deployment `name` whose median is `median` takes this time
    /// (`Config::step_spread`), counted in `drawn`.
    pub(crate) fn step(&mut self, median: Duration, name: &str) -> Duration {
        let took = if self.cfg.step_spread > 0.0 {
            // Box-Muller: a standard normal from two uniforms in (0, 1].
            let (u, v): (f64, f64) = (1.0 - self.steps.random::<f64>(), self.steps.random::<f64>());
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            median.mul_f64((self.cfg.step_spread * z).exp().min(1e3))
        } else {
            median
        };
        *self.drawn.entry(name.to_string()).or_default() += took.as_millis() as u64;
        took
    }

    pub(crate) fn deployment_view(&self, id: &str) -> Deployment {
        let mut views = self.deployment_views(&[id]);
        views.pop().expect("one view")
    }

    /// The deployments `ids` as GetDeployment and ListDeployments answer them, each with
    /// its job summary (the jobs counted by state): one pass over the jobs.
    pub(crate) fn deployment_views(&self, ids: &[&str]) -> Vec<Deployment> {
        let mut summaries: HashMap<&str, JobSummary> = ids.iter().map(|id| (*id, JobSummary::default())).collect();
        for j in self.jobs.values() {
            let Some(s) = summaries.get_mut(j.job.deployment_id.as_str()) else { continue };
            match j.job.status.current_job_status.as_str() {
                "STARTING" => s.starting += 1,
                "RUNNING" => s.running += 1,
                "CANCELLING" => s.cancelling += 1,
                "CANCELLED" => s.cancelled += 1,
                "FINISHED" => s.finished += 1,
                _ => s.failed += 1,
            }
        }
        ids.iter()
            .map(|id| {
                let mut d = self.deployments[*id].1.clone();
                d.job_summary = summaries.remove(id);
                if self.cfg.normalize { crate::normalize::deployment(d) } else { d }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::RngExt;

    use super::World;
    use crate::Config;

    fn world(seed: u64, spread: f64) -> World {
        World::new(Config { seed, step_spread: spread, ..Config::default() })
    }

    #[test]
    fn steps_are_log_normal_around_their_delay_and_seeded() {
        let mut w = world(7, 1.256);
        let second = Duration::from_secs(1);
        let mut drawn: Vec<Duration> = (0..20_000).map(|i| w.step(second, &format!("p{}", i % 4))).collect();
        drawn.sort();
        // The delay is the median; σ = 1.256 puts a tenth of steps over five times it.
        let median = drawn[drawn.len() / 2].as_secs_f64();
        assert!((0.95..1.05).contains(&median), "median {median}");
        let over = drawn.iter().filter(|d| **d > 5 * second).count() as f64 / drawn.len() as f64;
        assert!((0.09..0.11).contains(&over), "share over 5 s: {over}");
        // Each step is counted for its deployment name.
        let total: u64 = w.drawn.values().sum();
        assert_eq!(w.drawn.len(), 4);
        assert_eq!(total, drawn.iter().map(|d| d.as_millis() as u64).sum::<u64>());
        // The same seed draws the same steps; another seed others.
        let same: Vec<Duration> = (0..5).map(|_| world(7, 1.256).step(second, "p")).collect();
        assert!(same.windows(2).all(|w| w[0] == w[1]), "{same:?}");
        assert_ne!(world(7, 1.256).step(second, "p"), world(8, 1.256).step(second, "p"));
    }

    #[test]
    fn without_a_spread_a_step_takes_its_delay_and_faults_draw_as_before() {
        let mut w = world(3, 0.0);
        assert_eq!(w.step(Duration::from_millis(250), "p"), Duration::from_millis(250));
        // Drawing steps leaves the faults' draws as they were.
        let mut spread = world(3, 1.256);
        for _ in 0..10 {
            spread.step(Duration::from_secs(1), "p");
        }
        let faults = |w: &mut World| (0..16).map(|_| w.rng.random::<u32>()).collect::<Vec<_>>();
        assert_eq!(faults(&mut spread), faults(&mut world(3, 0.0)));
    }
}
