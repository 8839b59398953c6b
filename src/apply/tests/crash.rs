//! The crash-point suite. Every action (create, stateful and stateless update, the
//! update of a stopped pipeline, replace, hot update, destroy, rollback, repair,
//! adoption, and the `start` and `stop` commands) is interrupted at every point of its
//! run: before each remote call, after the call took effect but before its answer was
//! seen, and after each journal write. Then it is resumed as a user would: a new plan
//! and apply (or the command again). The points are counted from the uninterrupted
//! run, so every case is generated, none written by hand.
//!
//! VVP is a model here, separate from the executor: deployments, drafts, tickets, jobs
//! and the state each job left and restored. It never refuses a second live job (so a
//! duplicate shows), and it is the model, not the executor, that says which job ran
//! and what each one restored. Every trial checks what apply promises:
//! 1. no job restores an older state than the newest job that ran before it;
//! 2. a stopped pipeline stays stopped;
//! 3. one deployment per pipeline, no draft left, never two live jobs;
//! 4. no stop or start beyond the uninterrupted run's;
//! 5. the state equals what the uninterrupted run leaves;
//! 6. the next plan is the uninterrupted run's next plan.

use std::collections::BTreeMap;
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

use flinkform_core::plan::{self, Action, Desired, Live, LiveSettings, Observed, Plan};
use flinkform_core::spec::{OnFailure, Upgrade};
use flinkform_core::state::{Intent, LockGuard, LockInfo, PipelineState, State, StateError, StateStore};
use vvp_api::{
    HotUpdate, HotUpdateState, JobState, RemoteDeployment, RemoteDraft, RemoteJob, Restore, Stop, TicketState, VvpError,
};

use super::{Executor, NoLock, Timeouts, Vvp, applied, changed, desired};

/// Where a job is, in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Cancelling { savepoint: bool },
    Cancelled,
    Failed,
}

impl Phase {
    fn live(self) -> bool {
        matches!(self, Phase::Starting | Phase::Running | Phase::Cancelling { .. })
    }
}

#[derive(Clone, Debug)]
struct Job {
    id: String,
    dep: String,
    sql: String,
    phase: Phase,
    /// It reached RUNNING: it processed records, and its state is the newest.
    ran: bool,
    /// The state it restored (an id in `Model::states`).
    restored: Option<String>,
    parallelism: u64,
}

/// A state a job left: a savepoint (a stop with one) or a retained checkpoint (any
/// other end of a job that ran).
#[derive(Clone, Debug)]
struct Snapshot {
    id: String,
    dep: String,
    job: String,
    savepoint: bool,
}

#[derive(Clone, Debug)]
struct Deployment {
    name: String,
    sql: String,
    parallelism: u64,
    /// What it was last configured with.
    params: Option<vvp_api::Settings>,
}

#[derive(Clone, Debug)]
struct Draft {
    name: String,
    sql: String,
    deployment: Option<String>,
}

/// VVP as a model: what exists, and what happened to jobs.
#[derive(Clone, Debug, Default)]
struct Model {
    deployments: BTreeMap<String, Deployment>,
    drafts: BTreeMap<String, Draft>,
    tickets: BTreeMap<String, String>,
    jobs: Vec<Job>,
    states: Vec<Snapshot>,
    next: u64,
    /// Jobs whose SQL holds this fail as they start.
    fail_sql: Option<&'static str>,
    /// Starts while the deployment had a live job.
    duplicates: u32,
    /// Jobs stopped, by id (a second stop of a job that is already stopping is not one).
    stopped: Vec<String>,
    /// Jobs that failed while apply was down.
    killed: usize,
}

fn refused(action: &str, code: &str) -> VvpError {
    VvpError::Api {
        action: action.into(),
        status: 400,
        code: code.into(),
        message: code.into(),
        request_id: "r".into(),
    }
}

impl Model {
    fn id(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("{kind}-{}", self.next)
    }

    /// `orders` deployed as dep-1 with `sql`, its job job-1 in `phase` (having run).
    fn deployed(sql: &str, phase: Phase) -> Model {
        let mut m = Model::default();
        let params = desired().deploy.vvp_settings();
        let dep = Deployment {
            name: "orders".into(),
            sql: sql.into(),
            parallelism: params.parallelism,
            params: Some(params),
        };
        m.deployments.insert("dep-1".into(), dep);
        m.next = 1;
        m.jobs.push(Job {
            id: "job-1".into(),
            dep: "dep-1".into(),
            sql: sql.into(),
            phase,
            ran: true,
            restored: None,
            parallelism: desired().deploy.parallelism,
        });
        if !phase.live() {
            m.states.push(Snapshot { id: "sp-0".into(), dep: "dep-1".into(), job: "job-1".into(), savepoint: true });
        }
        m
    }

    /// Time passes for one job: a start settles, a stop completes.
    fn advance(&mut self, i: usize) {
        let j = &mut self.jobs[i];
        match j.phase {
            Phase::Starting if self.fail_sql.is_some_and(|m| j.sql.contains(m)) => j.phase = Phase::Failed,
            Phase::Starting => {
                j.phase = Phase::Running;
                j.ran = true;
            }
            Phase::Cancelling { savepoint } => {
                j.phase = Phase::Cancelled;
                if savepoint || j.ran {
                    let (dep, job) = (j.dep.clone(), j.id.clone());
                    let id = self.id(if savepoint { "sp" } else { "cp" });
                    self.states.push(Snapshot { id, dep, job, savepoint });
                }
            }
            _ => {}
        }
    }

    /// While apply is down, every live job started since the first `since` fails after
    /// it ran (a checkpoint retained).
    fn fail_new_jobs(&mut self, since: usize) {
        for i in since..self.jobs.len() {
            if self.jobs[i].phase.live() {
                let j = &mut self.jobs[i];
                (j.phase, j.ran) = (Phase::Failed, true);
                let (dep, job) = (j.dep.clone(), j.id.clone());
                let id = self.id("cp");
                self.states.push(Snapshot { id, dep, job, savepoint: false });
                self.killed += 1;
            }
        }
    }

    fn remote_job(&self, i: usize) -> RemoteJob {
        let j = &self.jobs[i];
        let state = match j.phase {
            Phase::Starting => JobState::Starting,
            Phase::Running => JobState::Running,
            Phase::Cancelling { .. } => JobState::Cancelling,
            Phase::Cancelled => JobState::Cancelled,
            Phase::Failed => JobState::Failed("the model failed it".into()),
        };
        let flink_conf = desired().deploy.flink_conf;
        RemoteJob {
            id: j.id.clone(),
            state,
            restore: None,
            savepoint: None,
            parallelism: Some(j.parallelism),
            flink_conf,
            restarts: None,
            started: None,
            ended: None,
        }
    }

    fn live_of(&self, dep: &str) -> Option<usize> {
        self.jobs.iter().rposition(|j| j.dep == dep && j.phase.live())
    }

    fn remote_deployment(&self, id: &str) -> Option<RemoteDeployment> {
        let d = self.deployments.get(id)?;
        Some(RemoteDeployment {
            id: id.into(),
            name: d.name.clone(),
            owner: vvp_api::Owner::ThisProject(Some(d.name.clone())),
            sql: Some(d.sql.clone()),
            settings: Default::default(),
            summary: vvp_api::Summary::Undecided,
        })
    }

    fn remote_draft(&self, id: &str) -> Option<RemoteDraft> {
        let d = self.drafts.get(id)?;
        Some(RemoteDraft {
            id: id.into(),
            name: d.name.clone(),
            sql: Some(d.sql.clone()),
            deployment: d.deployment.clone(),
        })
    }

    fn deployments_named(&self, name: &str) -> Vec<String> {
        self.deployments.iter().filter(|(_, d)| d.name == name).map(|(id, _)| id.clone()).collect()
    }
}

/// Where this run dies: the `at`-th point (none: `usize::MAX`), counted from 0.
#[derive(Default)]
struct Crash {
    at: AtomicUsize,
    count: AtomicUsize,
    crashed: AtomicBool,
    notify: Notify,
}

impl Crash {
    /// Counts a point; true when the run is dead from here on.
    fn point(&self) -> bool {
        if self.crashed.load(Ordering::SeqCst) {
            return true;
        }
        if self.count.fetch_add(1, Ordering::SeqCst) == self.at.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            self.notify.notify_one();
            return true;
        }
        false
    }

    fn arm(&self, at: usize) {
        self.at.store(at, Ordering::SeqCst);
        self.count.store(0, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }
}

/// The model behind the executor's `Vvp`, with the crash points around each call.
struct World {
    model: SyncMutex<Model>,
    crash: Crash,
}

impl World {
    async fn call<T>(&self, effect: impl FnOnce(&mut Model) -> Result<T, VvpError>) -> Result<T, VvpError> {
        if self.crash.point() {
            std::future::pending::<()>().await;
        }
        let answer = effect(&mut self.model.lock().unwrap());
        if self.crash.point() {
            std::future::pending::<()>().await;
        }
        answer
    }
}

impl Vvp for World {
    async fn find_deployment(&self, name: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        self.call(|m| Ok(m.deployments_named(name).first().and_then(|id| m.remote_deployment(id)))).await
    }
    async fn recorded_deployment(&self, id: &str, _name: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        self.call(|m| Ok(m.remote_deployment(id))).await
    }
    async fn drafts(&self) -> Result<Vec<RemoteDraft>, VvpError> {
        self.call(|m| Ok(m.drafts.keys().filter_map(|id| m.remote_draft(id)).collect())).await
    }
    async fn discard_draft(&self, id: &str) -> Result<(), VvpError> {
        self.call(|m| {
            m.drafts.remove(id);
            Ok(())
        })
        .await
    }
    async fn draft(&self, id: &str) -> Result<Option<RemoteDraft>, VvpError> {
        self.call(|m| Ok(m.remote_draft(id))).await
    }
    async fn create_sql_draft(
        &self,
        name: &str,
        sql: &str,
        _: &str,
        deployment: Option<&str>,
    ) -> Result<String, VvpError> {
        self.call(|m| {
            let id = m.id("draft");
            let d = Draft { name: name.into(), sql: sql.into(), deployment: deployment.map(Into::into) };
            m.drafts.insert(id.clone(), d);
            Ok(id)
        })
        .await
    }
    async fn deploy(&self, draft: &str, _: &str) -> Result<String, VvpError> {
        self.call(|m| {
            if !m.drafts.contains_key(draft) {
                return Err(refused("DeployDeploymentDraftAsync", "DraftNotFound"));
            }
            let id = m.id("ticket");
            m.tickets.insert(id.clone(), draft.into());
            Ok(id)
        })
        .await
    }
    async fn ticket(&self, ticket: &str) -> Result<TicketState, VvpError> {
        self.call(|m| {
            let draft_id = m.tickets.get(ticket).cloned().ok_or_else(|| refused("GetDeploy", "TicketNotFound"))?;
            let Some(draft) = m.drafts.get(&draft_id).cloned() else {
                return Ok(TicketState::Failed("the draft is gone".into()));
            };
            let dep = match &draft.deployment {
                Some(dep) => dep.clone(),
                None if !m.deployments_named(&draft.name).is_empty() => {
                    return Ok(TicketState::Failed(format!("a deployment named {} exists", draft.name)));
                }
                None => m.id("dep"),
            };
            let (parallelism, params) =
                m.deployments.get(&dep).map_or((1, None), |d| (d.parallelism, d.params.clone()));
            let deployment = Deployment { name: draft.name.clone(), sql: draft.sql.clone(), parallelism, params };
            m.deployments.insert(dep.clone(), deployment);
            m.drafts.get_mut(&draft_id).unwrap().deployment = Some(dep.clone());
            Ok(TicketState::Deployed(dep))
        })
        .await
    }
    async fn configure(&self, _: &str, deployment: &str, p: &vvp_api::Settings) -> Result<bool, VvpError> {
        self.call(|m| {
            let d = m.deployments.get_mut(deployment).ok_or_else(|| refused("UpdateDeployment", "990301"))?;
            d.parallelism = p.parallelism;
            d.params = Some(p.clone());
            // The answer's job summary, as VVP counts it.
            let mine: Vec<usize> = (0..m.jobs.len()).filter(|&i| m.jobs[i].dep == deployment).collect();
            for i in mine {
                m.advance(i);
            }
            Ok(m.live_of(deployment).is_some())
        })
        .await
    }
    async fn live_job(&self, deployment: &str) -> Result<Option<RemoteJob>, VvpError> {
        self.call(|m| {
            let mine: Vec<usize> = (0..m.jobs.len()).filter(|&i| m.jobs[i].dep == deployment).collect();
            for i in mine {
                m.advance(i);
            }
            Ok(m.live_of(deployment).map(|i| m.remote_job(i)))
        })
        .await
    }
    async fn start(&self, deployment: &str, restore: &Restore, _: &str) -> Result<RemoteJob, VvpError> {
        self.call(|m| {
            let dep = m.deployments.get(deployment).cloned().ok_or_else(|| refused("StartJob", "990301"))?;
            let of_dep = |s: &&Snapshot| s.dep == deployment;
            let restored = match restore {
                Restore::None => None,
                Restore::LatestState => m.states.iter().rfind(of_dep).map(|s| s.id.clone()),
                Restore::LatestSavepoint => m.states.iter().rfind(|s| of_dep(s) && s.savepoint).map(|s| s.id.clone()),
                Restore::FromSavepoint(id) => match m.states.iter().filter(of_dep).find(|s| &s.id == id) {
                    Some(s) => Some(s.id.clone()),
                    None => return Err(refused("StartJobWithParams", "InvalidParameter")),
                },
            };
            if m.live_of(deployment).is_some() {
                m.duplicates += 1;
            }
            let id = m.id("job");
            let job = Job {
                id,
                dep: deployment.into(),
                sql: dep.sql,
                phase: Phase::Starting,
                ran: false,
                restored,
                parallelism: dep.parallelism,
            };
            m.jobs.push(job);
            Ok(m.remote_job(m.jobs.len() - 1))
        })
        .await
    }
    async fn stop_savepoint(&self, deployment: &str, job: &str) -> Result<Option<String>, VvpError> {
        self.call(|m| {
            Ok(m.states.iter().find(|s| s.dep == deployment && s.job == job && s.savepoint).map(|s| s.id.clone()))
        })
        .await
    }
    async fn job(&self, id: &str) -> Result<RemoteJob, VvpError> {
        self.call(|m| {
            let i = m.jobs.iter().position(|j| j.id == id).ok_or_else(|| refused("GetJob", "990301"))?;
            m.advance(i);
            Ok(m.remote_job(i))
        })
        .await
    }
    async fn stop(&self, job: &str, how: Stop) -> Result<(), VvpError> {
        self.call(|m| {
            let j = m.jobs.iter_mut().find(|j| j.id == job).ok_or_else(|| refused("StopJob", "990301"))?;
            if matches!(j.phase, Phase::Starting | Phase::Running) {
                j.phase = Phase::Cancelling { savepoint: how == Stop::WithSavepoint };
                m.stopped.push(job.into());
            }
            Ok(())
        })
        .await
    }
    async fn delete(&self, deployment: &str, _name: &str) -> Result<(), VvpError> {
        self.call(|m| {
            if m.live_of(deployment).is_some() {
                return Err(refused("DeleteDeployment", "DeploymentHasRunningJob"));
            }
            m.deployments.remove(deployment);
            Ok(())
        })
        .await
    }
    async fn hot_update(&self, job: &str) -> Result<HotUpdate, VvpError> {
        self.call(|m| {
            let i = m.jobs.iter().position(|j| j.id == job).ok_or_else(|| refused("HotUpdateJob", "990301"))?;
            let parallelism = m.deployments.get(&m.jobs[i].dep).map_or(1, |d| d.parallelism);
            m.jobs[i].parallelism = parallelism;
            Ok(HotUpdate { id: format!("hot-{job}"), state: HotUpdateState::Done })
        })
        .await
    }
    async fn hot_update_state(&self, _: &str) -> Result<HotUpdateState, VvpError> {
        self.call(|_| Ok(HotUpdateState::Done)).await
    }
    async fn diagnosis(&self, _: &str, _: &str) -> Result<Vec<String>, VvpError> {
        self.call(|_| Ok(Vec::new())).await
    }
}

/// The state in memory, dead with the run: after the crash nothing more reaches it.
struct Disk<'a> {
    state: SyncMutex<Option<State>>,
    crash: &'a Crash,
}

impl StateStore for Disk<'_> {
    fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.state.lock().unwrap().clone())
    }
    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        if self.crash.crashed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut cur = self.state.lock().unwrap();
        let found = cur.as_ref().map(|s| s.serial);
        if found != expected {
            return Err(StateError::Conflict { expected, found });
        }
        *cur = Some(state.clone());
        drop(cur);
        self.crash.point();
        Ok(())
    }
    fn previous(&self) -> Result<Option<State>, StateError> {
        Ok(None)
    }
    fn replace_unreadable(&self, _: State) -> Result<(State, String), StateError> {
        unreachable!("a state held in memory is always readable")
    }
    fn lock(&self, _: &LockInfo, _: std::time::Duration) -> Result<Box<dyn LockGuard>, StateError> {
        Ok(Box::new(NoLock))
    }
    fn force_unlock(&self, _: &str) -> Result<(), StateError> {
        Ok(())
    }
    // The executor keeps no history: the command that runs it does (`cli`).
    fn keep_texts(&self, _: &[(String, String)]) -> Result<(), StateError> {
        unreachable!("the executor keeps no texts")
    }
    fn texts(&self, _: &[&str]) -> Result<std::collections::BTreeMap<String, String>, StateError> {
        unreachable!("the executor reads no texts")
    }
    fn log_apply(&self, _: &flinkform_core::state::ApplyRecord) -> Result<(), StateError> {
        unreachable!("the executor logs no apply")
    }
    fn applies(&self, _: usize) -> Result<Vec<flinkform_core::state::ApplyRecord>, StateError> {
        unreachable!("the executor reads no log")
    }
}

/// What a trial runs: a plan and apply, or a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Apply,
    Start,
    Stop,
}

/// One action to interrupt.
struct Scenario {
    name: &'static str,
    /// The recorded `orders` (none: not in the state).
    before: Option<PipelineState>,
    /// The desired `orders` (none: its spec is gone).
    after: Option<PipelineState>,
    /// VVP before the run.
    world: Model,
    run: Run,
    /// The action the plan must name.
    action: Option<Action>,
    /// An apply run again after it finished does the action again (a rolled-back
    /// update is tried again): counts and history are compared as at most two runs'.
    again: bool,
    /// The jobs the run started fail while it is down.
    jobs_fail_while_down: bool,
}

/// The recorded `orders`, stopped on purpose with its job's savepoint.
fn stopped() -> PipelineState {
    PipelineState { intent: Intent::Stopped, status: flinkform_core::state::Status::Stopped, ..applied() }
}

fn scenarios() -> Vec<Scenario> {
    let running = || Model::deployed(&desired().sql, Phase::Running);
    let at_rest = || Model::deployed(&desired().sql, Phase::Cancelled);
    let scenario = |name, before, after, world, action| Scenario {
        name,
        before,
        after,
        world,
        run: Run::Apply,
        action: Some(action),
        again: false,
        jobs_fail_while_down: false,
    };
    let mut replaced = changed(Upgrade::Stateful);
    replaced.topic = "orders_v2".into();
    let mut wider = desired();
    wider.deploy.parallelism = 8;
    let mut risky = changed(Upgrade::Stateful);
    risky.deploy.on_failure = OnFailure::Rollback;
    let failing = || Model { fail_sql: Some("-- v2"), ..running() };
    let failed = || Model::deployed(&desired().sql, Phase::Failed);
    vec![
        scenario("create", None, Some(desired()), Model::default(), Action::Create),
        scenario("stateful update", Some(applied()), Some(changed(Upgrade::Stateful)), running(), Action::Update),
        Scenario {
            jobs_fail_while_down: true,
            ..scenario(
                "stateful update whose new job fails while apply is down",
                Some(applied()),
                Some(changed(Upgrade::Stateful)),
                running(),
                Action::Update,
            )
        },
        scenario("stateless update", Some(applied()), Some(changed(Upgrade::Stateless)), running(), Action::Update),
        scenario(
            "update of a stopped pipeline",
            Some(stopped()),
            Some(changed(Upgrade::Stateful)),
            at_rest(),
            Action::Update,
        ),
        scenario("replace", Some(applied()), Some(replaced), running(), Action::Replace),
        scenario("hot update", Some(applied()), Some(wider), running(), Action::HotUpdate),
        scenario("destroy", Some(applied()), None, running(), Action::Delete),
        Scenario { again: true, ..scenario("rollback", Some(applied()), Some(risky), failing(), Action::Update) },
        scenario("repair", Some(applied()), Some(desired()), failed(), Action::Repair),
        scenario("adoption after state rm", None, Some(desired()), at_rest(), Action::Create),
        Scenario {
            run: Run::Start,
            action: None,
            ..scenario("start", Some(stopped()), Some(desired()), at_rest(), Action::NoOp)
        },
        Scenario {
            run: Run::Stop,
            action: None,
            ..scenario("stop", Some(applied()), Some(desired()), running(), Action::NoOp)
        },
    ]
}

/// What VVP shows of the recorded pipelines, as the planner's refresh sees it.
fn observe(model: &Model, recorded: Option<&State>) -> Observed {
    let mut pipelines = BTreeMap::new();
    for (name, p) in recorded.map(|s| &s.pipelines).into_iter().flatten() {
        let Some(dep) = &p.remote.deployment_id else { continue };
        let live = match model.deployments.get(dep) {
            None => Live::Gone,
            Some(d) => {
                let job = model.jobs.iter().rev().find(|j| &j.dep == dep).map(|j| match j.phase {
                    Phase::Starting => JobState::Starting,
                    Phase::Running => JobState::Running,
                    Phase::Cancelling { .. } => JobState::Cancelling,
                    Phase::Cancelled => JobState::Cancelled,
                    Phase::Failed => JobState::Failed("the model failed it".into()),
                });
                let settings = d.params.as_ref().map_or_else(Default::default, |p| LiveSettings {
                    engine_version: Some(p.engine_version.clone()),
                    parallelism: Some(d.parallelism),
                    resource_queue: Some(p.resource_queue.clone()),
                    jobmanager: p.jobmanager.clone(),
                    taskmanager: p.taskmanager.clone(),
                    flink_conf: p.flink_conf.clone(),
                    labels_edited: false,
                });
                Live::Found {
                    sql_matches: d.sql == p.sql,
                    sql_digest: Some(flinkform_core::echo::sql_digest(&d.sql)),
                    job,
                    job_id: None,
                    restarts: None,
                    settings: Box::new(settings),
                }
            }
        };
        pipelines.insert(name.clone(), live);
    }
    Observed { vvp: true, pipelines, ..Default::default() }
}

/// The plan a user would run now.
fn plan_now(world: &World, disk: &Disk<'_>, after: Option<&PipelineState>) -> Plan {
    let recorded = disk.load().unwrap();
    let observed = observe(&world.model.lock().unwrap(), recorded.as_ref());
    let desired = after.map(|a| Desired {
        name: "orders".into(),
        record: Box::new(a.clone()),
        sample: Default::default(),
        warnings: Vec::new(),
    });
    plan::compute(desired.into_iter().collect(), recorded.clone(), Some(&observed), BTreeMap::new())
}

/// Runs `what` once; `None` when the run died at its crash point.
async fn once(world: &World, disk: &Disk<'_>, s: &Scenario, plan: &Plan) -> Option<()> {
    let state = disk.load().unwrap().unwrap_or_else(|| State::new("lineage-1".into()));
    let cancel = AtomicBool::new(false);
    let events = |_: &str, _: crate::apply::Event<'_>| {};
    let at = flinkform_core::state::Stamp::at("2026-12-06T00:00:00Z");
    let ex = Executor::new(world, disk, state, Timeouts::default(), at, &cancel, &events);
    let run = async {
        match s.run {
            Run::Apply => drop(ex.apply(plan, 1).await),
            Run::Start => drop(ex.start_pipeline("orders", Restore::LatestState).await),
            Run::Stop => drop(ex.stop_pipeline("orders", Stop::WithSavepoint).await),
        }
    };
    // A wake from an earlier run's crash is stale: only this run's crash ends it.
    let died = async {
        while !world.crash.crashed.load(Ordering::SeqCst) {
            world.crash.notify.notified().await;
        }
    };
    tokio::select! {
        () = run => Some(()),
        () = died => None,
    }
}

/// What a trial left.
struct Trial {
    model: Model,
    record: Option<PipelineState>,
    next: Vec<(String, Action)>,
    /// Points the first run passed (its crash point, or all of them).
    points: usize,
}

/// Runs `s`, dying at point `crash` (none: runs through), then resumes it as a user
/// would and plans once more.
async fn trial(s: &Scenario, crash: Option<usize>) -> Trial {
    let world = World { model: SyncMutex::new(s.world.clone()), crash: Crash::default() };
    let mut recorded = State::new("lineage-1".into());
    recorded.serial = 1;
    recorded.pipelines.extend(s.before.clone().map(|b| ("orders".to_string(), b)));
    let disk = Disk { state: SyncMutex::new(Some(recorded)), crash: &world.crash };
    let plan = plan_now(&world, &disk, s.after.as_ref());
    let acted: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
    if let Some(want) = s.action {
        assert_eq!(acted, [want], "{}: the plan: {:?}", s.name, plan.changes[0].reasons);
    }
    world.crash.arm(crash.unwrap_or(usize::MAX));
    once(&world, &disk, s, &plan).await;
    // Dead at the crash point, whether or not the run went on to end without a call.
    let died = world.crash.crashed.load(Ordering::SeqCst);
    let points = world.crash.count.load(Ordering::SeqCst);
    world.crash.arm(usize::MAX);
    if died {
        // Within the apply: once it recorded its end, a failure is a new story (a repair).
        let unfinished = disk.load().unwrap().is_some_and(|st| st.pipelines.values().any(|p| p.pending.is_some()));
        if s.jobs_fail_while_down && unfinished {
            world.model.lock().unwrap().fail_new_jobs(s.world.jobs.len());
        }
        let again = plan_now(&world, &disk, s.after.as_ref());
        once(&world, &disk, s, &again).await.expect("no crash on resume");
    }
    let next = plan_now(&world, &disk, s.after.as_ref()).changes.iter().map(|c| (c.name.clone(), c.action)).collect();
    let record = disk.load().unwrap().and_then(|mut st| st.pipelines.remove("orders"));
    Trial { model: world.model.into_inner().unwrap(), record, next, points }
}

/// Jobs started and jobs stopped in a trial.
fn restarts(s: &Scenario, t: &Trial) -> (usize, usize) {
    (t.model.jobs.len() - s.world.jobs.len(), t.model.stopped.len())
}

/// The record with what differs between equal outcomes taken out: ids (checked
/// against the model instead) and revision serials and times.
fn normal(p: &PipelineState, again: bool) -> String {
    let mut p = p.clone();
    p.remote = Default::default();
    let mut actions: Vec<String> = p.history.iter().map(|h| h.action.to_string()).collect();
    if again {
        actions.dedup();
    }
    p.history.clear();
    format!("{:?} {:?} {:?} {:?} {} {actions:?}", p.status, p.intent, p.pending, p.error.is_some(), p.sql.len())
}

/// Checks the invariants of a trial interrupted at `at` against the uninterrupted one.
fn check(s: &Scenario, at: usize, t: &Trial, reference: &Trial) {
    let case = format!("{} interrupted at point {at}", s.name);
    let m = &t.model;
    // 1. Each stateful job restores the state of the newest job that ran before it on
    //    its deployment (a rollback's restores the state before the update: that is the
    //    newest, the update's job never ran).
    let stateful = s.after.as_ref().or(s.before.as_ref()).is_some_and(|p| p.deploy.upgrade == Upgrade::Stateful);
    for (i, j) in m.jobs.iter().enumerate().skip(s.world.jobs.len()) {
        let Some(prev) = m.jobs[..i].iter().rev().find(|p| p.dep == j.dep && p.ran) else { continue };
        if !stateful {
            continue;
        }
        let from = j.restored.as_ref().and_then(|r| m.states.iter().find(|x| &x.id == r)).map(|x| x.job.as_str());
        assert_eq!(
            from,
            Some(prev.id.as_str()),
            "{case}: job {} restored {:?}, not {}'s state; jobs {:?}, states {:?}",
            j.id,
            j.restored,
            prev.id,
            m.jobs.iter().map(|j| (&j.id, j.phase, j.ran, &j.restored)).collect::<Vec<_>>(),
            m.states
        );
    }
    // 2. A stopped pipeline stays stopped.
    if s.before.as_ref().is_some_and(|b| b.intent == Intent::Stopped) && s.run != Run::Start {
        assert_eq!(m.jobs.len(), s.world.jobs.len(), "{case}: a job of a stopped pipeline was started");
    }
    if s.run == Run::Stop {
        assert!(m.live_of("dep-1").is_none(), "{case}: the job still runs after stop");
    }
    // 3. One deployment, no draft, never two live jobs.
    let deps = m.deployments_named("orders");
    assert_eq!(deps.len(), usize::from(s.after.is_some() || s.run != Run::Apply), "{case}: deployments {deps:?}");
    assert!(m.drafts.is_empty(), "{case}: drafts left: {:?}", m.drafts);
    assert_eq!(m.duplicates, 0, "{case}: a second live job was started");
    // 4. No stop or start beyond the uninterrupted run's.
    let (started, stopped) = restarts(s, t);
    let (want_started, want_stopped) = restarts(s, reference);
    let times = if s.again { 2 } else { 1 };
    let started = started - m.killed;
    assert!(started <= want_started * times, "{case}: {started} jobs started, {want_started} uninterrupted");
    assert!(stopped <= want_stopped * times, "{case}: {stopped} jobs stopped, {want_stopped} uninterrupted");
    if !s.again {
        assert_eq!(
            (started, stopped),
            (want_started, want_stopped),
            "{case}: starts (beyond those that failed) and stops"
        );
    }
    // 5. The state the uninterrupted run leaves, its ids those VVP shows.
    match (&t.record, &reference.record) {
        (Some(p), Some(r)) => {
            assert_eq!(normal(p, s.again), normal(r, s.again), "{case}: the record");
            assert_eq!(p.remote.deployment_id.as_ref(), deps.first(), "{case}: the recorded deployment");
            let newest = m.jobs.iter().rev().find(|j| deps.contains(&j.dep)).map(|j| &j.id);
            if p.remote.job_id.is_some() || newest.is_some_and(|_| s.run != Run::Stop) {
                assert_eq!(p.remote.job_id.as_ref(), newest, "{case}: the recorded job");
            }
        }
        (p, r) => assert_eq!(p.is_some(), r.is_some(), "{case}: recorded"),
    }
    // 6. The next plan.
    assert_eq!(t.next, reference.next, "{case}: the next plan");
}

#[tokio::test(start_paused = true)]
async fn every_action_interrupted_at_every_point_resumes_to_what_an_uninterrupted_run_leaves() {
    let mut trials = 0;
    for s in scenarios() {
        let reference = trial(&s, None).await;
        assert!(reference.points > 3, "{}: {} points", s.name, reference.points);
        let settled = reference.next.iter().all(|(_, a)| *a == Action::NoOp);
        assert!(settled || s.again, "{}: the plan after it: {:?}", s.name, reference.next);
        check(&s, usize::MAX, &reference, &reference);
        for at in 0..reference.points {
            let t = trial(&s, Some(at)).await;
            check(&s, at, &t, &reference);
            trials += 1;
        }
    }
    assert!(trials > 200, "{trials} trials");
}
