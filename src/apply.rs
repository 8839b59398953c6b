//! Apply: carries a [`Plan`] out on VVP. Each pipeline runs a small step machine
//! (look up → draft → deploy → configure → start → RUNNING; stop → redeploy → start;
//! stop → delete), and every step is journaled in the state before and after its
//! remote call. Every step looks before it acts (a deployment by name, a draft's
//! deployment, a deployment's live job), so a re-run after a crash or a lost answer
//! resumes and converges without a second deployment or a second job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use flinkform_core::plan::{Action, Change, Plan, SinkDdl, Summary};
use flinkform_core::spec::Upgrade;
use flinkform_core::state::{self, Pending, PipelineState, Revision, State, StateError, StateStore};
use vvp_api::{Client, ErrorKind, JobState, TicketState, VvpError};

/// The last event of a pipeline whose job is running.
pub const EVENT_RUNNING: &str = "RUNNING";
/// The last event of a destroyed pipeline.
pub const EVENT_DESTROYED: &str = "destroyed";

/// How long each waiting step may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// A deploy ticket.
    pub deploy: Duration,
    /// A job from STARTING to RUNNING.
    pub start: Duration,
    /// A job from CANCELLING to stopped.
    pub stop: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { deploy: Duration::from_secs(300), start: Duration::from_secs(300), stop: Duration::from_secs(300) }
    }
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The actions carried out, counted.
    pub done: Summary,
    /// Pipelines that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Stopped by an interrupt before finishing.
    pub interrupted: bool,
}

/// One pipeline's failure.
#[derive(Debug)]
enum StepError {
    Vvp(VvpError),
    State(StateError),
    Failed(String),
    Interrupted,
}

impl From<VvpError> for StepError {
    fn from(e: VvpError) -> Self {
        StepError::Vvp(e)
    }
}

impl From<StateError> for StepError {
    fn from(e: StateError) -> Self {
        StepError::State(e)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Vvp(e) => write!(f, "{e}"),
            StepError::State(e) => write!(f, "{e}"),
            StepError::Failed(m) => f.write_str(m),
            StepError::Interrupted => f.write_str("interrupted; run apply again to resume"),
        }
    }
}

type Step<T> = Result<T, StepError>;

/// The state as changed in memory, and how far it is written.
struct Journal {
    state: State,
    /// Changes made so far.
    changed: u64,
    /// Changes the last write carried.
    written: u64,
}

/// Runs plans against VVP and journals into a state store.
pub struct Executor<'a> {
    client: &'a Client,
    store: &'a dyn StateStore,
    state: Mutex<Journal>,
    /// Held while writing: one write at a time, and a write carries every change made
    /// before it started (group commit).
    writer: Mutex<()>,
    timeouts: Timeouts,
    at: String,
    cancel: &'a AtomicBool,
    events: &'a (dyn Fn(&str, &str) + Sync),
}

impl<'a> Executor<'a> {
    /// An executor over `state` (the current state, or a new one of a fresh lineage,
    /// serial 0, when none is stored). `at` is the time recorded in revisions;
    /// `events(pipeline, message)` is called for every step.
    pub fn new(
        client: &'a Client,
        store: &'a dyn StateStore,
        state: State,
        timeouts: Timeouts,
        at: String,
        cancel: &'a AtomicBool,
        events: &'a (dyn Fn(&str, &str) + Sync),
    ) -> Executor<'a> {
        Executor {
            client,
            store,
            state: Mutex::new(Journal { state, changed: 0, written: 0 }),
            writer: Mutex::new(()),
            timeouts,
            at,
            cancel,
            events,
        }
    }

    /// Carries out every change of `plan`, `parallelism` pipelines at a time.
    pub async fn apply(&self, plan: &Plan, parallelism: usize) -> Outcome {
        let permits = Semaphore::new(parallelism.max(1));
        let permits = &permits;
        let runs = plan.changes.iter().filter(|c| c.action != Action::NoOp).map(|c| async move {
            let _permit = permits.acquire().await.expect("semaphore is never closed");
            (c, self.run(c).await)
        });
        let mut out = Outcome::default();
        for (c, r) in futures::future::join_all(runs).await {
            match r {
                Ok(()) => out.done.count(c.action),
                Err(StepError::Interrupted) => out.interrupted = true,
                Err(e) => out.failed.push((c.name.clone(), e.to_string())),
            }
        }
        out
    }

    /// `flinkform start NAME`: starts the recorded pipeline's job with a restore strategy
    /// (`NONE`, `LATEST_STATE`, `LATEST_SAVEPOINT`) and waits for RUNNING.
    pub async fn start_pipeline(&self, name: &str, restore: &str) -> Result<(), String> {
        let rec = self.recorded(name).await.ok_or_else(|| format!("no pipeline `{name}` in the state"))?;
        let dep =
            rec.remote.deployment_id.clone().ok_or_else(|| format!("`{name}` has no deployment yet: run apply"))?;
        if let Some(j) = self.client.live_job(&dep).await.map_err(|e| e.to_string())? {
            return Err(format!("`{name}` already has a job that is not stopped ({}, {:?})", j.id, j.state));
        }
        self.update(name, |p| {
            p.pending = Some(Pending { action: "start".into(), step: "start".into(), ticket_id: None })
        })
        .await
        .map_err(|e| e.to_string())?;
        self.start(name, &dep, restore, &rec.deploy.resource_queue).await.map_err(|e| e.to_string())?;
        self.update(name, |p| {
            p.status = state::Status::Running;
            p.pending = None;
            p.error = None;
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// `flinkform stop NAME`: stops the recorded pipeline's job (with a savepoint if asked).
    pub async fn stop_pipeline(&self, name: &str, savepoint: bool) -> Result<(), String> {
        let rec = self.recorded(name).await.ok_or_else(|| format!("no pipeline `{name}` in the state"))?;
        let dep = rec.remote.deployment_id.clone().ok_or_else(|| format!("`{name}` has no deployment yet"))?;
        let strategy = if savepoint { "STOP_WITH_SAVEPOINT" } else { "NONE" };
        self.stop_all(name, &dep, strategy).await.map_err(|e| e.to_string())?;
        self.update(name, |p| p.status = state::Status::Stopped).await.map_err(|e| e.to_string())
    }

    fn event(&self, name: &str, msg: &str) {
        (self.events)(name, msg);
    }

    fn check_cancel(&self) -> Step<()> {
        if self.cancel.load(Ordering::Relaxed) { Err(StepError::Interrupted) } else { Ok(()) }
    }

    /// Changes the state and returns once the change is written (compare-and-set on the
    /// serial). Concurrent changes share writes: a write carries every change made
    /// before it starts, so many pipelines journal at the cost of few writes.
    async fn journal(&self, f: impl FnOnce(&mut State)) -> Step<()> {
        let mine = {
            let mut j = self.state.lock().await;
            f(&mut j.state);
            j.changed += 1;
            j.changed
        };
        let _writing = self.writer.lock().await;
        let (mut snapshot, upto) = {
            let j = self.state.lock().await;
            if j.written >= mine {
                return Ok(()); // an earlier write carried this change
            }
            (j.state.clone(), j.changed)
        };
        state::write_next(self.store, &mut snapshot)?;
        let mut j = self.state.lock().await;
        j.state.serial = snapshot.serial;
        j.written = upto;
        Ok(())
    }

    /// Changes one recorded pipeline and writes the state.
    async fn update(&self, name: &str, f: impl FnOnce(&mut PipelineState)) -> Step<()> {
        self.journal(|st| {
            if let Some(p) = st.pipelines.get_mut(name) {
                f(p);
            }
        })
        .await
    }

    /// Records the step about to run.
    async fn step(&self, name: &str, step: &str) -> Step<()> {
        self.check_cancel()?;
        self.event(name, step);
        self.update(name, |p| {
            if let Some(pending) = &mut p.pending {
                pending.step = step.to_string();
            }
        })
        .await
    }

    async fn recorded(&self, name: &str) -> Option<PipelineState> {
        self.state.lock().await.state.pipelines.get(name).cloned()
    }

    async fn run(&self, c: &Change) -> Step<()> {
        let name = c.name.as_str();
        let ddl = &c.sink_ddl;
        match (c.action, &c.before, &c.after) {
            (Action::Create, _, Some(after)) => self.create(name, after, "create", ddl).await,
            (Action::Update, Some(before), Some(after)) if before.remote.deployment_id.is_some() => {
                self.upgrade(name, before, after, ddl).await
            }
            (Action::Update, _, Some(after)) => self.create(name, after, "create", ddl).await,
            (Action::Replace, Some(before), Some(after)) => {
                self.destroy(name, before, "replace").await?;
                self.create(name, after, "replace", ddl).await
            }
            (Action::Delete, Some(before), _) => {
                self.destroy(name, before, "delete").await?;
                self.journal(|st| {
                    st.pipelines.remove(name);
                })
                .await
            }
            (Action::Repair, Some(before), Some(after)) => self.repair(name, before, after).await,
            _ => Ok(()),
        }
    }

    /// Create: adopt our deployment of this name or deploy a new one, configure, start.
    async fn create(&self, name: &str, after: &PipelineState, action: &str, ddl: &[SinkDdl]) -> Step<()> {
        let prior = self.recorded(name).await;
        self.journal(|st| {
            let mut rec = after.clone();
            if let Some(p) = &prior {
                rec.history.clone_from(&p.history);
                // Ids of an interrupted create are resumed; others are of a deployment that is gone.
                if p.pending.is_some() {
                    rec.remote = p.remote.clone();
                }
            }
            rec.status = state::Status::Applying;
            rec.pending = Some(Pending {
                action: action.into(),
                step: "lookup".into(),
                ticket_id: prior.as_ref().and_then(|p| p.pending.as_ref()).and_then(|p| p.ticket_id.clone()),
            });
            st.pipelines.insert(name.to_string(), rec);
        })
        .await?;
        self.sink_ddl(name, after, ddl).await?;
        self.step(name, "looking up the deployment by name").await?;
        let mut restore = "NONE";
        let dep = match self.client.find_deployment(name).await? {
            Some(d) if d.ours => {
                self.event(name, &format!("adopting deployment {}", d.id));
                if d.sql.as_deref() != Some(after.sql.as_str()) {
                    // It runs other SQL: bring it to the plan like an update.
                    let stateful = after.deploy.upgrade == Upgrade::Stateful;
                    self.stop_all(name, &d.id, if stateful { "STOP_WITH_SAVEPOINT" } else { "NONE" }).await?;
                    self.deploy(name, after, Some(&d.id)).await?;
                    if stateful {
                        restore = "LATEST_SAVEPOINT";
                    }
                }
                d.id
            }
            Some(d) => {
                return Err(StepError::Failed(format!(
                    "a deployment named `{name}` ({}) exists and was not made by flinkform: rename the pipeline, or adopt it with `flinkform import {name} {}`",
                    d.id, d.id
                )));
            }
            None => self.deploy(name, after, None).await?,
        };
        self.update(name, |p| p.remote.deployment_id = Some(dep.clone())).await?;
        self.step(name, "configuring resources and Flink configuration").await?;
        self.client.configure(&dep, &after.deploy).await?;
        self.start(name, &dep, restore, &after.deploy.resource_queue).await?;
        self.finish(name, after, action).await
    }

    /// Update in place: stop (with a savepoint when stateful), redeploy, start again.
    async fn upgrade(&self, name: &str, before: &PipelineState, after: &PipelineState, ddl: &[SinkDdl]) -> Step<()> {
        let dep = before.remote.deployment_id.clone().expect("checked by the caller");
        let stateful = after.deploy.upgrade == Upgrade::Stateful;
        self.update(name, |p| {
            p.status = state::Status::Applying;
            if p.pending.is_none() {
                p.pending = Some(Pending { action: "update".into(), step: "stop".into(), ticket_id: None });
            }
        })
        .await?;
        self.sink_ddl(name, after, ddl).await?;
        self.stop_all(name, &dep, if stateful { "STOP_WITH_SAVEPOINT" } else { "NONE" }).await?;
        self.deploy(name, after, Some(&dep)).await?;
        self.step(name, "configuring resources and Flink configuration").await?;
        self.client.configure(&dep, &after.deploy).await?;
        let restore = if stateful { "LATEST_SAVEPOINT" } else { "NONE" };
        self.start(name, &dep, restore, &after.deploy.resource_queue).await?;
        self.finish(name, after, "update").await
    }

    /// Repair: start the job again (from the latest state when stateful).
    async fn repair(&self, name: &str, before: &PipelineState, after: &PipelineState) -> Step<()> {
        let Some(dep) = before.remote.deployment_id.clone() else {
            return self.create(name, after, "create", &[]).await;
        };
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending { action: "repair".into(), step: "start".into(), ticket_id: None });
        })
        .await?;
        if before.sql != after.sql || before.deploy != after.deploy {
            self.stop_all(name, &dep, "NONE").await?;
            self.deploy(name, after, Some(&dep)).await?;
            self.client.configure(&dep, &after.deploy).await?;
        }
        let restore = if after.deploy.upgrade == Upgrade::Stateful { "LATEST_STATE" } else { "NONE" };
        self.start(name, &dep, restore, &after.deploy.resource_queue).await?;
        self.finish(name, after, "repair").await
    }

    /// Runs the planned sink DDL (idempotent: IF NOT EXISTS, and only missing columns)
    /// before the job is deployed, when `[sink] dsn_env` is set.
    async fn sink_ddl(&self, name: &str, after: &PipelineState, ddl: &[SinkDdl]) -> Step<()> {
        let Some(env) = after.sink.dsn_env.as_deref().filter(|_| !ddl.is_empty()) else { return Ok(()) };
        self.step(name, &format!("running the sink DDL on {}.{}", after.sink.schema, after.sink.table)).await?;
        let ran =
            crate::sink::run_ddl(env, &after.sink.schema, &after.sink.table, ddl).await.map_err(StepError::Failed)?;
        self.event(name, &format!("sink DDL: {} statement batches run", ran.len()));
        Ok(())
    }

    /// Destroy: stop the job, delete the deployment (the Hologres table is kept).
    async fn destroy(&self, name: &str, before: &PipelineState, action: &str) -> Step<()> {
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending { action: action.into(), step: "stop".into(), ticket_id: None });
        })
        .await?;
        let dep = match &before.remote.deployment_id {
            Some(d) => Some(d.clone()),
            None => self.client.find_deployment(name).await?.filter(|d| d.ours).map(|d| d.id),
        };
        if let Some(dep) = dep {
            self.stop_all(name, &dep, "NONE").await?;
            self.step(name, &format!("deleting deployment {dep}")).await?;
            self.client.delete(&dep).await?;
        }
        self.update(name, |p| {
            p.remote = Default::default();
            p.status = state::Status::Destroyed;
        })
        .await?;
        self.event(name, EVENT_DESTROYED);
        Ok(())
    }

    /// Deploys the planned SQL through a draft (linked to `deployment` to update it) and
    /// returns the deployment id. Resumes an in-flight ticket or a deployed draft.
    async fn deploy(&self, name: &str, after: &PipelineState, deployment: Option<&str>) -> Step<String> {
        let rec = self.recorded(name).await.expect("journaled before");
        let ticket = match rec.pending.as_ref().and_then(|p| p.ticket_id.clone()) {
            Some(t) => t,
            None => {
                if let Some(draft) = &rec.remote.draft_id
                    && let Some(dep) = self.client.draft_deployment(draft).await?
                    && deployment.is_none_or(|d| d == dep)
                    && self.deployed_sql_is(&dep, &after.sql).await?
                {
                    self.event(name, &format!("deployment {dep} already runs this SQL (draft {draft})"));
                    return Ok(dep);
                }
                self.step(name, "creating a deployment draft").await?;
                let draft = self.client.create_sql_draft(name, &after.sql, &after.deploy, deployment).await?;
                self.update(name, |p| p.remote.draft_id = Some(draft.clone())).await?;
                self.step(name, &format!("deploying draft {draft}")).await?;
                let t = self.client.deploy(&draft, &after.deploy.resource_queue).await?;
                self.update(name, |p| {
                    if let Some(pending) = &mut p.pending {
                        pending.ticket_id = Some(t.clone());
                    }
                })
                .await?;
                t
            }
        };
        let deadline = Instant::now() + self.timeouts.deploy;
        let mut wait = Duration::from_millis(100);
        let result = loop {
            self.check_cancel()?;
            match self.client.ticket(&ticket).await? {
                TicketState::Running if Instant::now() < deadline => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 5 / 4).min(Duration::from_secs(2));
                }
                TicketState::Running => {
                    break Err(StepError::Failed(format!(
                        "deploy ticket {ticket} did not finish within {}",
                        humantime::format_duration(self.timeouts.deploy)
                    )));
                }
                TicketState::Deployed(id) => break Ok(id),
                TicketState::Failed(m) => {
                    // A retried or resumed deploy of ours may have won the race for the name.
                    match self.client.find_deployment(name).await? {
                        Some(d)
                            if d.ours
                                && deployment.is_none_or(|x| x == d.id)
                                && d.sql.as_deref() == Some(after.sql.as_str()) =>
                        {
                            break Ok(d.id);
                        }
                        _ => break Err(StepError::Failed(format!("deploying failed: {m}"))),
                    }
                }
            }
        };
        self.update(name, |p| {
            if let Some(pending) = &mut p.pending {
                pending.ticket_id = None;
            }
        })
        .await?;
        let id = result?;
        self.event(name, &format!("deployed to {id}"));
        Ok(id)
    }

    /// Whether the deployment exists and runs exactly `sql`.
    async fn deployed_sql_is(&self, deployment: &str, sql: &str) -> Step<bool> {
        match self.client.get_deployment(deployment).await {
            Ok(d) => Ok(d.artifact.and_then(|a| a.sql_artifact).map(|s| s.sql_script).as_deref() == Some(sql)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    /// Starts the deployment's job (adopting one that is already live) and waits for RUNNING.
    async fn start(&self, name: &str, dep: &str, restore: &str, queue: &str) -> Step<()> {
        self.step(name, &format!("starting the job (restore {restore})")).await?;
        let job = match self.client.live_job(dep).await? {
            Some(j) => j,
            None => match self.client.start(dep, restore, queue).await {
                Ok(j) => j,
                // A lost answer to a start that happened: the job is there.
                Err(e) => self.client.live_job(dep).await?.ok_or(e)?,
            },
        };
        self.update(name, |p| p.remote.job_id = Some(job.id.clone())).await?;
        let deadline = Instant::now() + self.timeouts.start;
        let mut wait = Duration::from_millis(100);
        loop {
            self.check_cancel()?;
            match self.client.job(&job.id).await?.state {
                JobState::Running => return Ok(()),
                JobState::Failed(m) => {
                    self.update(name, |p| {
                        p.status = state::Status::Failed;
                        p.error = Some(m.clone());
                        p.pending = None;
                    })
                    .await?;
                    return Err(StepError::Failed(format!("job {} failed: {m}", job.id)));
                }
                s if !s.live() => {
                    return Err(StepError::Failed(format!("job {} stopped while starting ({s:?})", job.id)));
                }
                _ if Instant::now() >= deadline => {
                    return Err(StepError::Failed(format!(
                        "job {} was not RUNNING within {}",
                        job.id,
                        humantime::format_duration(self.timeouts.start)
                    )));
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 5 / 4).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Stops every live job of the deployment and waits until they stopped.
    async fn stop_all(&self, name: &str, dep: &str, strategy: &str) -> Step<()> {
        let deadline = Instant::now() + self.timeouts.stop;
        while let Some(job) = self.client.live_job(dep).await? {
            self.check_cancel()?;
            if job.state != JobState::Cancelling {
                self.step(name, &format!("stopping job {} ({strategy})", job.id)).await?;
                self.client.stop(&job.id, strategy).await?;
            }
            if Instant::now() >= deadline {
                return Err(StepError::Failed(format!(
                    "job {} did not stop within {}",
                    job.id,
                    humantime::format_duration(self.timeouts.stop)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Records the planned pipeline as applied: RUNNING, a new revision, no pending step.
    async fn finish(&self, name: &str, after: &PipelineState, action: &str) -> Step<()> {
        let at = self.at.clone();
        self.journal(|st| {
            let serial = st.serial + 1;
            let cur = st.pipelines.get(name).cloned();
            let mut rec = after.clone();
            if let Some(c) = cur {
                rec.remote = c.remote;
                rec.history = c.history;
            }
            rec.history.push(Revision {
                serial,
                action: action.into(),
                sql_digest: flinkform_core::spec::digest(&[rec.sql.as_bytes()]),
                ddl_digest: flinkform_core::spec::digest(&[rec.ddl.as_bytes()]),
                at,
            });
            rec.status = state::Status::Running;
            rec.pending = None;
            rec.error = None;
            st.pipelines.insert(name.to_string(), rec);
        })
        .await?;
        self.event(name, EVENT_RUNNING);
        Ok(())
    }
}
