//! Jobs: start, list, get, stop, hot updates (HotUpdateJob, GetHotUpdateJobResult) and
//! the diagnosis of a job (GetJobDiagnosis).

use std::time::Instant;

use rand::RngExt;

use vvp_wire::wire::{
    BriefResourceSetting, HotUpdateJobResult, HotUpdateJobStatus, Job, JobDiagnosis, JobDiagnosisSymptom,
    JobDiagnosisSymptoms, JobStartParameters, JobStatus, RestoreStrategy, StopJobRequest, StreamingResourceSetting,
};

use super::{Req, decode, live, no_such_api};
use crate::SecondJob;
use crate::clock::epoch_secs;
use crate::envelope::{Answer, fail, ok, page};
use crate::world::{HOT_UPDATING, JobRec, Scope, World};

/// Flink configuration keys a running job takes without a restart, with the
/// parallelism ("Dynamic scaling and dynamic parameter updates": parallelism,
/// checkpointing interval, timeout and minimum pause; VVR 8.0.1 and later, basic
/// resource mode only). Others take effect at the job's next start.
const HOT_KEYS: [&str; 3] =
    ["execution.checkpointing.interval", "execution.checkpointing.timeout", "execution.checkpointing.min-pause"];

impl World {
    pub(super) fn jobs(&mut self, req: Req<'_>) -> Answer {
        let seg = req.seg();
        let scope = req.scope.clone();
        match (req.method, req.rest, seg.as_slice()) {
            ("POST", ["jobs%3Astart"], _) => self.start_job(&req),
            ("GET", ["jobs"], _) => {
                let Some(dep) = req.q("deploymentId") else {
                    return fail(400, "MissingParameter", "deploymentId is required");
                };
                let items: Vec<Job> = self
                    .jobs
                    .values()
                    .filter(|j| j.scope == scope && j.job.deployment_id == dep)
                    .map(|j| j.job.clone())
                    .collect();
                let (i, s) = req.paging();
                page(items, i, s)
            }
            ("GET", ["jobs", _], [_, id]) => match self.jobs.get(*id).filter(|j| j.scope == scope) {
                Some(j) => ok(j.job.clone()),
                None => self.gone("JobNotFound", format!("job {id}")),
            },
            ("GET", ["jobs", "hot-updates", _], [_, _, id]) => match self.hot_updates.get(*id) {
                Some((s, r)) if *s == scope => ok(r.clone()),
                _ => self.gone("JobHotUpdateNotFound", format!("hot update {id}")),
            },
            ("POST", ["jobs", raw], _) if raw.ends_with("%3AhotUpdate") => {
                self.hot_update(&scope, &decode(raw.trim_end_matches("%3AhotUpdate"), false))
            }
            ("POST", ["jobs", raw], _) if raw.ends_with("%3Astop") => {
                let id = decode(raw.trim_end_matches("%3Astop"), false);
                let req = parse!(req, StopJobRequest);
                if !matches!(req.stop_strategy.as_str(), "NONE" | "STOP_WITH_SAVEPOINT" | "STOP_WITH_DRAIN") {
                    return fail(400, "InvalidParameter", format!("unknown stopStrategy {}", req.stop_strategy));
                }
                let Some(name) = self.jobs.get(&id).filter(|j| j.scope == scope).map(|j| j.job.deployment_name.clone())
                else {
                    return self.gone("JobNotFound", format!("job {id}"));
                };
                let stop_delay = self.step(self.cfg.stop_delay, &name);
                let j = self.jobs.get_mut(&id).expect("job");
                if matches!(j.job.status.current_job_status.as_str(), "STARTING" | "RUNNING") {
                    j.job.status.current_job_status = "CANCELLING".into();
                    j.job.status.running = None;
                    j.stop = Some((Instant::now() + stop_delay, req.stop_strategy));
                }
                ok(j.job.clone())
            }
            _ => no_such_api(),
        }
    }

    fn start_job(&mut self, req: &Req<'_>) -> Answer {
        let scope = req.scope.clone();
        let p = parse!(req, JobStartParameters);
        let Some((_, dep)) = self.deployments.get(&p.deployment_id).filter(|(s, _)| *s == scope) else {
            return self.gone("DeploymentNotFound", format!("deployment {}", p.deployment_id));
        };
        let name = dep.name.clone().unwrap_or_default();
        let sql = dep.artifact.as_ref().and_then(|a| a.sql_artifact.as_ref()).map(|a| a.sql_script.as_str());
        let bad = self.cfg.fail_jobs_of_sql_with.as_deref().is_some_and(|m| sql.is_some_and(|s| s.contains(m)));
        if self.cfg.second_job == SecondJob::Refuse
            && self
                .jobs
                .values()
                .any(|j| j.job.deployment_id == p.deployment_id && live(&j.job.status.current_job_status))
        {
            return fail(400, "JobAlreadyRunning", format!("deployment {name} already has a job that is not stopped"));
        }
        let mut restore = p.restore_strategy.unwrap_or(RestoreStrategy { kind: "NONE".into(), ..Default::default() });
        let taken = self.savepoints.get(&p.deployment_id).map_or(&[][..], Vec::as_slice);
        match restore.kind.as_str() {
            "NONE" => restore.savepoint_id = None,
            // The latest savepoint; retained checkpoints are not savepoints.
            "LATEST_SAVEPOINT" => {
                restore.savepoint_id = taken
                    .iter()
                    .rfind(|s| s.savepoint_origin.as_deref() != Some("RETAINED_CHECKPOINT"))
                    .map(|s| s.savepoint_id.clone());
            }
            // The latest state of any kind: a savepoint or a retained checkpoint.
            "LATEST_STATE" => restore.savepoint_id = taken.last().map(|s| s.savepoint_id.clone()),
            "FROM_SAVEPOINT" => {
                let wanted = restore.savepoint_id.clone().unwrap_or_default();
                if !taken.iter().any(|s| s.savepoint_id == wanted) {
                    return fail(
                        400,
                        "InvalidParameter",
                        format!("savepoint `{wanted}` is not a savepoint of deployment {}", p.deployment_id),
                    );
                }
            }
            other => return fail(400, "InvalidParameter", format!("unknown restoreStrategy kind {other}")),
        }
        let job_id = self.id("job");
        // Injected start failures hit a deployment's first job only, like a bad
        // first rollout: a repair (a second start) then succeeds.
        let first = !self.jobs.values().any(|j| j.job.deployment_id == p.deployment_id);
        let fails = bad || first && self.rng.random_bool(self.cfg.job_fail_rate);
        let dep = &self.deployments[&p.deployment_id].1;
        let job = Job {
            job_id: job_id.clone(),
            deployment_id: p.deployment_id.clone(),
            deployment_name: name,
            status: JobStatus { current_job_status: "STARTING".into(), failure: None, running: None },
            restore_strategy: Some(restore),
            start_time: Some(epoch_secs()),
            end_time: None,
            // A job runs with its deployment's settings as they were when it started.
            streaming_resource_setting: dep.streaming_resource_setting.clone(),
            flink_conf: dep.flink_conf.clone(),
        };
        let running_at = Instant::now() + self.step(self.cfg.start_delay, &job.deployment_name);
        self.jobs.insert(job_id, JobRec { scope, job: job.clone(), running_at, fails, stop: None });
        ok(job)
    }

    /// HotUpdateJob: the running job takes its deployment's current parallelism and
    /// hot-updatable Flink configuration, keeping its id; other settings wait for a restart.
    fn hot_update(&mut self, scope: &Scope, id: &str) -> Answer {
        let Some(j) = self.jobs.get(id).filter(|j| j.scope == *scope) else {
            return self.gone("JobNotFound", format!("job {id}"));
        };
        if j.job.status.current_job_status != "RUNNING" {
            return fail(
                400,
                "InvalidParameter",
                format!(
                    "job {id} is {}: only a RUNNING job can be updated dynamically",
                    j.job.status.current_job_status
                ),
            );
        }
        let dep = &self.deployments[&j.job.deployment_id].1;
        let engine = dep.engine_version.clone().unwrap_or_default();
        if !hot_capable(&engine) {
            return fail(
                400,
                "InvalidParameter",
                format!("engine {engine} does not support dynamic parameter updates (VVR 8.0.1 and later do)"),
            );
        }
        // What the job will run with: the deployment's parallelism and hot keys over the
        // job's own settings.
        let parallelism = dep
            .streaming_resource_setting
            .as_ref()
            .and_then(|r| r.basic_resource_setting.as_ref())
            .and_then(|b| b.parallelism);
        let conf = dep.flink_conf.clone().unwrap_or_default();
        let mut target = BriefResourceSetting {
            flink_conf: j.job.flink_conf.clone(),
            streaming_resource_setting: j.job.streaming_resource_setting.clone(),
        };
        if let Some(p) = parallelism {
            let r = target.streaming_resource_setting.get_or_insert_with(|| StreamingResourceSetting {
                resource_setting_mode: "BASIC".into(),
                basic_resource_setting: None,
            });
            r.basic_resource_setting.get_or_insert_default().parallelism = Some(p);
        }
        let target_conf = target.flink_conf.get_or_insert_default();
        for k in HOT_KEYS {
            match conf.get(k) {
                Some(v) => target_conf.insert(k.to_string(), v.clone()),
                None => target_conf.remove(k),
            };
        }
        let hot_id = self.id("hot");
        let result = HotUpdateJobResult {
            job_hot_update_id: hot_id.clone(),
            job_id: id.to_string(),
            status: Some(HotUpdateJobStatus { status: HOT_UPDATING.into(), ..Default::default() }),
            target_resource_setting: Some(target),
        };
        self.hot_updates.insert(hot_id.clone(), (scope.clone(), result));
        let name = self.jobs[id].job.deployment_name.clone();
        let took = self.step(self.cfg.hot_update_delay, &name);
        self.hot_due.insert(hot_id.clone(), Instant::now() + took);
        self.advance();
        ok(self.hot_updates[&hot_id].1.clone())
    }

    /// GetJobDiagnosis: a failed job's failure as a startup or runtime symptom.
    pub(super) fn diagnosis(&self, scope: &Scope, deployment: &str, id: &str) -> Answer {
        let Some(j) = self.jobs.get(id).filter(|j| j.scope == *scope && j.job.deployment_id == deployment) else {
            return self.gone("JobNotFound", format!("job {id}"));
        };
        let mut symptoms = JobDiagnosisSymptoms::default();
        if let Some(f) = j.job.status.failure.as_ref().filter(|_| j.job.status.current_job_status == "FAILED") {
            let s = JobDiagnosisSymptom {
                name: f.reason.clone(),
                description: f.message.clone(),
                recommendation: Some("check the job's SQL and its connector options, then start it again".into()),
            };
            // A job that never reached RUNNING failed while starting.
            if self.cfg.job_crash_after.is_none() { symptoms.startup.push(s) } else { symptoms.runtime.push(s) }
        }
        let failing = !symptoms.startup.is_empty() || !symptoms.runtime.is_empty();
        ok(JobDiagnosis {
            diagnose_id: Some(format!("diag-{id}")),
            diagnose_time: Some(epoch_secs() * 1000),
            health_score: Some(if failing { 0 } else { 100 }),
            risk_level: Some(if failing { "HIGH" } else { "LOW" }.into()),
            symptoms: Some(symptoms),
        })
    }
}

/// `vvr-8.0.1-...` and later.
fn hot_capable(engine: &str) -> bool {
    let nums = engine.strip_prefix("vvr-").and_then(|r| r.split('-').next()).unwrap_or("");
    let v: Vec<u32> = nums.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    (v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0), v.get(2).copied().unwrap_or(0)) >= (8, 0, 1)
}
