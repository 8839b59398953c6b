//! Apply: carries a [`Plan`] out on VVP. Each pipeline runs a small step machine
//! (look up → draft → deploy → configure → start → RUNNING; stop → redeploy → start;
//! stop → delete), and every step is journaled in the state before and after its
//! remote call. Every step looks before it acts (a deployment by name, a draft's
//! deployment, a deployment's live job), so a re-run after a crash or a lost answer
//! resumes and converges without a second deployment or a second job.

mod hot;
mod steps;
mod stop;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};

use crate::poll::{Backoff, Pace};
use flinkform_core::plan::{Action, Change, Plan, Summary};
use flinkform_core::state::{
    self, Operation, Pending, PipelineState, Stamp, State, StateError, StateStore, Step, resume,
};
use vvp_api::{JobState, RemoteDraft, Restore, Stop, VvpError};

pub use vvp_api::Vvp;

/// What apply says of a pipeline as it goes: a step begun, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A step begun, or something seen on the way.
    Step(&'a str),
    /// The pipeline is done.
    Done(Done),
}

/// How a pipeline's apply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Its job is running.
    Running,
    /// Its new version is deployed and its job stays stopped.
    Stopped,
    /// An update was rolled back to the previous revision.
    RolledBack,
    /// A change recorded in the state only.
    Recorded,
    /// Destroyed.
    Destroyed,
}

impl std::fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Event::Step(what) => what,
            Event::Done(Done::Running) => "RUNNING",
            Event::Done(Done::Stopped) => "deployed; the job stays stopped",
            Event::Done(Done::RolledBack) => "rolled back: the previous revision runs",
            Event::Done(Done::Recorded) => "recorded in the state (the job is not touched)",
            Event::Done(Done::Destroyed) => "destroyed",
        })
    }
}

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
    /// What the journal took.
    pub journal: JournalStats,
}

/// Changes journaled, and the state writes that carried them (fewer under group commit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Changes made to the state.
    pub changes: u64,
    /// State writes.
    pub writes: u64,
}

/// Why a pipeline's apply, start or stop did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// VVP refused or did not answer.
    #[error(transparent)]
    Vvp(#[from] VvpError),
    /// The state could not be written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The sink DDL failed.
    #[error("sink DDL failed")]
    Sink(#[source] flinkform_state::pg::PgError),
    /// A deployment of the pipeline's name that this project did not make.
    #[error(
        "a deployment named `{name}` ({deployment}) exists and was not made by this flinkform project (its labels managed-by, flinkform-pipeline and flinkform-project say so): rename the pipeline, or adopt it with `flinkform import {name} {deployment}`"
    )]
    NameTaken {
        /// The pipeline.
        name: String,
        /// The deployment's id.
        deployment: String,
    },
    /// A step VVP did not finish in time.
    #[error("{what} within {}", humantime::format_duration(*.timeout))]
    Timeout {
        /// What did not happen.
        what: String,
        /// How long it was waited for.
        timeout: std::time::Duration,
    },
    /// VVP failed a deploy ticket.
    #[error("deploying failed: {0}")]
    DeployFailed(String),
    /// VVP forgot the deploy tickets of one deployment, again and again.
    #[error("VVP forgot three deploy tickets in a row; run apply again")]
    TicketsLost,
    /// The job failed: VVP's message and diagnosis.
    #[error("job {job} {when}: {message}")]
    JobFailed {
        /// The job.
        job: String,
        /// When (`failed`, `failed within the 60s verify window`).
        when: String,
        /// VVP's message, with its diagnosis.
        message: String,
    },
    /// The job left RUNNING without failing (stopped while starting or being verified).
    #[error("job {job} {when} ({state})")]
    JobLeft {
        /// The job.
        job: String,
        /// When (`stopped while starting`).
        when: String,
        /// What it is now.
        state: JobState,
    },
    /// An update whose job did not run was rolled back to the previous revision.
    #[error("{why}; rolled back: the previous revision runs again")]
    RolledBack {
        /// Why the update's job did not run.
        why: Box<Error>,
    },
    /// A hot update that was not done (nothing restarted).
    #[error("the hot update was not done: {0}; the job was not restarted (the plan named no restart): run plan again")]
    NotHot(String),
    /// `start` of a pipeline whose job is between states.
    #[error("`{name}` has a job that is {state} ({job}): wait for it to settle, then start again")]
    Busy {
        /// The pipeline.
        name: String,
        /// Its job.
        job: String,
        /// The job's state.
        state: JobState,
    },
    /// `start`/`stop` of a pipeline the state does not hold.
    #[error("no pipeline `{0}` in the state")]
    NotRecorded(String),
    /// `start`/`stop` of a pipeline not deployed yet.
    #[error("`{0}` has no deployment yet: run apply")]
    NotDeployed(String),
    /// Stopped by an interrupt between steps.
    #[error("interrupted; run apply again to resume")]
    Interrupted,
}

impl Error {
    /// Whether the job of a start did not come to run: what `on_failure = "rollback"`
    /// rolls an update back for.
    fn job_did_not_run(&self) -> bool {
        matches!(self, Error::JobFailed { .. } | Error::JobLeft { .. } | Error::Timeout { .. })
    }
}

type Res<T> = Result<T, Error>;

/// The state as changed in memory, and how far it is written.
struct Journal {
    state: State,
    /// The pipelines changed since the last write.
    dirty: BTreeSet<String>,
    /// Changes made so far.
    changed: u64,
    /// Changes the last write carried.
    written: u64,
    /// State writes so far.
    writes: u64,
}

/// Runs plans against VVP and journals into a state store.
pub struct Executor<'a, V> {
    vvp: &'a V,
    store: &'a dyn StateStore,
    /// Held while writing, so a write takes the state in memory as it is, with no copy:
    /// changes made meanwhile wait and go with the next write (group commit).
    state: Mutex<Journal>,
    timeouts: Timeouts,
    stamp: Stamp,
    cancel: &'a AtomicBool,
    events: &'a (dyn Fn(&str, Event<'_>) + Sync),
    /// This project's drafts by pipeline, listed once when first needed.
    drafts: Mutex<Option<HashMap<String, Vec<RemoteDraft>>>>,
    /// The waits for deploy tickets and for starting jobs, each kind learning from its own.
    paces: Paces,
}

/// The waits of this run that learn from each other, by kind.
struct Paces {
    deploy: Pace,
    start: Pace,
}

impl<'a, V: Vvp> Executor<'a, V> {
    /// An executor over `state` (the current state, or a new one of a fresh lineage,
    /// serial 0, when none is stored). `stamp` is recorded in revisions;
    /// `events(pipeline, event)` is called for every step, and once the pipeline is done.
    pub fn new(
        vvp: &'a V,
        store: &'a dyn StateStore,
        state: State,
        timeouts: Timeouts,
        stamp: Stamp,
        cancel: &'a AtomicBool,
        events: &'a (dyn Fn(&str, Event<'_>) + Sync),
    ) -> Executor<'a, V> {
        Executor {
            vvp,
            store,
            state: Mutex::new(Journal { state, dirty: BTreeSet::new(), changed: 0, written: 0, writes: 0 }),
            timeouts,
            stamp,
            cancel,
            events,
            drafts: Mutex::new(None),
            paces: Paces { deploy: Pace::new(Backoff::GROWING), start: Pace::new(Backoff::GROWING) },
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
                Err(Error::Interrupted) => out.interrupted = true,
                Err(e) => out.failed.push((c.name.clone(), flinkform_core::diag::chain(&e))),
            }
        }
        let j = self.state.lock().await;
        out.journal = JournalStats { changes: j.changed, writes: j.writes };
        out
    }

    /// `flinkform start NAME`: starts the recorded pipeline's job from `restore` and
    /// waits for RUNNING.
    pub async fn start_pipeline(&self, name: &str, restore: Restore) -> Res<()> {
        let (rec, dep) = self.deployed(name).await?;
        match self.vvp.live_job(&dep).await? {
            // Already as asked: said, and nothing done (as `stop` of a stopped job).
            Some(j) if j.state == JobState::Running => {
                self.event(name, &format!("already running (job {}): nothing to start", j.id));
                return self
                    .update(name, |p| {
                        p.status = state::Status::Running;
                        p.intent = state::Intent::Running;
                        p.remote.job_id = Some(j.id.clone());
                        // An interrupted `start` whose job runs is done.
                        if p.pending.as_ref().is_some_and(|x| x.action == Operation::Start) {
                            p.pending = None;
                        }
                    })
                    .await;
            }
            Some(j) => return Err(Error::Busy { name: name.to_string(), job: j.id, state: j.state }),
            None => {}
        }
        self.update(name, |p| {
            p.intent = state::Intent::Running;
            p.pending = Some(Pending { restore: Some(restore.clone()), ..Pending::new(Operation::Start, Step::Start) })
        })
        .await?;
        self.start(name, &dep, &restore, &rec.deploy, true).await?;
        self.update(name, |p| {
            p.status = state::Status::Running;
            p.pending = None;
            p.error = None;
        })
        .await
    }

    /// `flinkform stop NAME`: stops the recorded pipeline's job (with a savepoint if
    /// asked). The intent is journaled first, so a stop that is interrupted is never
    /// undone by a repair.
    pub async fn stop_pipeline(&self, name: &str, how: Stop) -> Res<()> {
        let (_, dep) = self.deployed(name).await?;
        self.update(name, |p| p.intent = state::Intent::Stopped).await?;
        let live = self.vvp.live_job(&dep).await?;
        if live.is_none() {
            self.event(name, "already stopped: nothing to stop");
        }
        self.stop_from(name, &dep, live, how).await?;
        self.update(name, |p| p.status = state::Status::Stopped).await
    }

    /// The recorded pipeline and its deployment id.
    async fn deployed(&self, name: &str) -> Res<(PipelineState, String)> {
        let rec = self.recorded(name).await.ok_or_else(|| Error::NotRecorded(name.to_string()))?;
        let dep = rec.remote.deployment_id.clone().ok_or_else(|| Error::NotDeployed(name.to_string()))?;
        Ok((rec, dep))
    }

    fn event(&self, name: &str, msg: &str) {
        (self.events)(name, Event::Step(msg));
    }

    /// Between steps: an interrupt stops the apply, and so does a state lock that is no
    /// longer surely held (its next write would be refused anyway; no remote call first).
    fn check_cancel(&self) -> Res<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        self.store.fenced().map_or(Ok(()), |e| Err(e.into()))
    }

    /// Changes the state (`f`, of pipeline `name`) and returns once the change is written
    /// (compare-and-set on the serial). Concurrent changes share writes: a write carries
    /// every change made before it starts, so many pipelines journal at the cost of few
    /// writes, and each write names the pipelines it changed, so it costs what changed.
    async fn journal(&self, name: &str, f: impl FnOnce(&mut State)) -> Res<()> {
        let mine = {
            let mut j = self.state.lock().await;
            f(&mut j.state);
            j.dirty.insert(name.to_string());
            j.changed += 1;
            j.changed
        };
        let mut j = self.state.lock().await;
        if j.written >= mine {
            return Ok(()); // an earlier write carried this change
        }
        let Journal { state, dirty, changed, written, writes } = &mut *j;
        state::write_changed(self.store, state, dirty)?;
        dirty.clear();
        *written = *changed;
        *writes += 1;
        Ok(())
    }

    /// Changes one recorded pipeline and writes the state.
    async fn update(&self, name: &str, f: impl FnOnce(&mut PipelineState)) -> Res<()> {
        self.journal(name, |st| {
            if let Some(p) = st.pipelines.get_mut(name) {
                f(p);
            }
        })
        .await
    }

    /// Records the step about to run (`what`, for the events); no write when it is
    /// the step already journaled.
    async fn step(&self, name: &str, step: Step, what: &str) -> Res<()> {
        self.check_cancel()?;
        self.event(name, what);
        if self.at_step(name, step).await {
            return Ok(());
        }
        self.update_pending(name, |pending| pending.step = step).await
    }

    /// Whether `step` is the one journaled as in progress (a step a run began before).
    async fn at_step(&self, name: &str, step: Step) -> bool {
        self.read(name, |p| Some(p.pending.as_ref()?.step)).await == Some(step)
    }

    /// Changes the pending entry of an apply in progress (none: nothing to change).
    async fn update_pending(&self, name: &str, f: impl FnOnce(&mut Pending)) -> Res<()> {
        self.update(name, |p| {
            if let Some(pending) = &mut p.pending {
                f(pending);
            }
        })
        .await
    }

    /// What `f` reads of the recorded pipeline, under the lock: no copy of the record.
    async fn read<T>(&self, name: &str, f: impl FnOnce(&PipelineState) -> Option<T>) -> Option<T> {
        self.state.lock().await.state.pipelines.get(name).and_then(f)
    }

    /// What the user asked of the pipeline's job (running when it is not recorded).
    async fn intent(&self, name: &str) -> state::Intent {
        self.read(name, |p| Some(p.intent)).await.unwrap_or_default()
    }

    async fn recorded(&self, name: &str) -> Option<PipelineState> {
        self.state.lock().await.state.pipelines.get(name).cloned()
    }

    async fn run(&self, c: &Change) -> Res<()> {
        let name = c.name.as_str();
        let ddl = &c.sink_ddl;
        match (c.action, &c.before, &c.after) {
            (Action::Create, _, Some(after)) => self.create(name, after, Operation::Create, ddl).await,
            (Action::Update, Some(before), Some(after)) if before.remote.deployment_id.is_some() => {
                let upgrade = c.upgrade().unwrap_or(after.deploy.upgrade);
                self.upgrade(name, before, after, upgrade, ddl).await
            }
            (Action::Update, _, Some(after)) => self.create(name, after, Operation::Create, ddl).await,
            // The sink DDL first: a DDL that fails leaves the old job running. A replace
            // whose create began (the old deployment is gone) goes on with the create.
            (Action::Replace, Some(before), Some(after)) => {
                self.sink_ddl(name, after, ddl).await?;
                if !resume::replace_destroyed(before.pending.as_ref()) {
                    self.destroy(name, before, Operation::Replace).await?;
                }
                self.create(name, after, Operation::Replace, &[]).await
            }
            (Action::Delete, Some(before), _) => {
                self.destroy(name, before, Operation::Delete).await?;
                self.journal(name, |st| {
                    st.pipelines.remove(name);
                })
                .await
            }
            (Action::Repair, Some(before), Some(after)) => self.repair(name, before, after).await,
            (Action::HotUpdate, Some(before), Some(after)) if before.remote.deployment_id.is_some() => {
                self.hot_update(name, before, after).await
            }
            (Action::Record, Some(_), Some(after)) => {
                self.update(name, |p| *p = after.recorded_over(p)).await?;
                (self.events)(name, Event::Done(Done::Recorded));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Records the planned pipeline as applied: running (or `Stopped`, for a pipeline
    /// stopped on purpose), a new revision, no pending step.
    async fn finish(&self, name: &str, after: &PipelineState, action: Operation) -> Res<()> {
        self.finish_as(name, after, action, state::Status::Running, Done::Running).await
    }

    async fn finish_as(
        &self,
        name: &str,
        after: &PipelineState,
        action: Operation,
        status: state::Status,
        done: Done,
    ) -> Res<()> {
        self.journal(name, |st| {
            let serial = st.serial + 1;
            let cur = st.pipelines.get(name);
            let remote = cur.map_or_else(|| after.remote.clone(), |c| c.remote.clone());
            let rec = after.applied(cur, remote, action, serial, &self.stamp, status);
            st.pipelines.insert(name.to_string(), rec);
        })
        .await?;
        (self.events)(name, Event::Done(done));
        Ok(())
    }
}
