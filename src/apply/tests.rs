//! The executor's step order and journal, against a scripted VVP: each test lists the
//! calls VVP gets with its answers, and the expected log of calls and state writes in
//! the order they happen. The log is written by hand from the protocol (journal the
//! step, call, journal the answer), not derived from the executor.

use std::collections::VecDeque;
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use flinkform_core::plan::{Action, Change, Plan};
use flinkform_core::spec::Upgrade;
use flinkform_core::state::{
    DeployParams, LockGuard, LockInfo, Operation, PipelineState, Remote, Revision, State, StateError, StateStore,
    Status,
};
use vvp_api::{JobState, RemoteDeployment, RemoteDraft, RemoteJob, Restore, Stop, TicketState, VvpError};

use super::{Executor, Outcome, Timeouts, Vvp};

/// The bundled v1 state fixture: its `orders` record is the pipeline every test uses.
const V1: &str = include_str!("../../crates/flinkform-core/tests/fixtures/state/v1.json");

/// The desired `orders` record: stateful, no sink DSN, nothing remote.
fn desired() -> PipelineState {
    let mut p = flinkform_core::state::parse(V1, "v1.json").unwrap().pipelines.remove("orders").unwrap();
    p.remote = Remote::default();
    p.pending = None;
    p.history.clear();
    p.status = Status::Planned;
    p.sink.dsn_env = None;
    p
}

/// `orders` as a finished create left it: deployment `dep-1`, job `job-1` running.
fn applied() -> PipelineState {
    let mut p = desired();
    p.remote = Remote { draft_id: None, deployment_id: Some("dep-1".into()), job_id: Some("job-1".into()) };
    p.status = Status::Running;
    p.history.push(Revision {
        serial: 1,
        action: Operation::Create,
        sql_digest: "sha256:1".into(),
        ddl_digest: "sha256:2".into(),
        at: "2026-12-01T00:00:00Z".into(),
    });
    p
}

/// `desired` with other SQL and `upgrade`.
fn changed(upgrade: Upgrade) -> PipelineState {
    let mut p = desired();
    p.sql.push_str("-- v2\n");
    p.deploy.upgrade = upgrade;
    p
}

/// One scripted answer.
#[derive(Debug)]
enum Answer {
    Deployment(Option<RemoteDeployment>),
    MaybeId(Option<String>),
    Draft(Option<RemoteDraft>),
    Drafts(Vec<RemoteDraft>),
    Id(&'static str),
    Ticket(TicketState),
    Live(Option<RemoteJob>),
    Job(RemoteJob),
    Done,
    Fails(VvpError),
}

fn job(id: &str, state: JobState) -> RemoteJob {
    RemoteJob { id: id.into(), state, restore: None, savepoint: None }
}

fn ours(id: &str, sql: &str) -> Answer {
    Answer::Deployment(Some(RemoteDeployment {
        id: id.into(),
        name: "orders".into(),
        ours: true,
        sql: Some(sql.into()),
        settings: Default::default(),
    }))
}

/// Draft `id` of `orders` with `sql`, linked to `deployment`.
fn draft(id: &str, sql: &str, deployment: Option<&str>) -> RemoteDraft {
    RemoteDraft { id: id.into(), name: "orders".into(), sql: Some(sql.into()), deployment: deployment.map(Into::into) }
}

fn lost(action: &str) -> VvpError {
    VvpError::Transport {
        action: action.into(),
        endpoint: "vvp".into(),
        message: "connection reset".into(),
        sent: true,
    }
}

/// Everything that happened, in order: VVP calls and state writes.
type Log = SyncMutex<Vec<String>>;

/// VVP answering from a script: each call must be the next one scripted.
struct Scripted<'a> {
    script: SyncMutex<VecDeque<(&'static str, Answer)>>,
    log: &'a Log,
}

impl Scripted<'_> {
    fn answer(&self, op: &'static str, call: String) -> Answer {
        self.log.lock().unwrap().push(format!("call {call}"));
        let (want, answer) =
            self.script.lock().unwrap().pop_front().unwrap_or_else(|| panic!("unscripted call: {call}"));
        assert_eq!(op, want, "call {call} came where the script has {want}");
        answer
    }
}

/// Takes the scripted answer of `call`: its value, or the scripted failure.
macro_rules! take {
    ($self:ident, $op:literal, $call:expr, $pat:pat => $v:expr) => {
        match $self.answer($op, $call) {
            $pat => Ok($v),
            Answer::Fails(e) => Err(e),
            other => panic!("{} scripted with {other:?}", $op),
        }
    };
}

impl Vvp for Scripted<'_> {
    async fn find_deployment(&self, name: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        take!(self, "find_deployment", format!("find_deployment {name}"), Answer::Deployment(d) => d)
    }
    async fn deployment(&self, id: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        take!(self, "deployment", format!("deployment {id}"), Answer::Deployment(d) => d)
    }
    async fn draft(&self, id: &str) -> Result<Option<RemoteDraft>, VvpError> {
        take!(self, "draft", format!("draft {id}"), Answer::Draft(d) => d)
    }
    async fn drafts(&self) -> Result<Vec<RemoteDraft>, VvpError> {
        take!(self, "drafts", "drafts".to_string(), Answer::Drafts(d) => d)
    }
    async fn discard_draft(&self, id: &str) -> Result<(), VvpError> {
        take!(self, "discard_draft", format!("discard_draft {id}"), Answer::Done => ())
    }
    async fn create_sql_draft(
        &self,
        name: &str,
        sql: &str,
        _: &DeployParams,
        deployment: Option<&str>,
    ) -> Result<String, VvpError> {
        let v2 = if sql.ends_with("-- v2\n") { " (v2)" } else { "" };
        let call = format!("create_sql_draft {name}{v2} for {}", deployment.unwrap_or("a new deployment"));
        take!(self, "create_sql_draft", call, Answer::Id(id) => id.to_string())
    }
    async fn deploy(&self, draft: &str, queue: &str) -> Result<String, VvpError> {
        take!(self, "deploy", format!("deploy {draft} on {queue}"), Answer::Id(t) => t.to_string())
    }
    async fn ticket(&self, ticket: &str) -> Result<TicketState, VvpError> {
        take!(self, "ticket", format!("ticket {ticket}"), Answer::Ticket(t) => t)
    }
    async fn configure(&self, deployment: &str, p: &DeployParams) -> Result<(), VvpError> {
        take!(self, "configure", format!("configure {deployment} parallelism {}", p.parallelism), Answer::Done => ())
    }
    async fn live_job(&self, deployment: &str) -> Result<Option<RemoteJob>, VvpError> {
        take!(self, "live_job", format!("live_job {deployment}"), Answer::Live(j) => j)
    }
    async fn start(&self, deployment: &str, restore: &Restore, queue: &str) -> Result<RemoteJob, VvpError> {
        let call = format!("start {deployment} restore {restore} on {queue}");
        take!(self, "start", call, Answer::Job(j) => j)
    }
    async fn stop_savepoint(&self, deployment: &str, job: &str) -> Result<Option<String>, VvpError> {
        take!(self, "stop_savepoint", format!("stop_savepoint {deployment} {job}"), Answer::MaybeId(s) => s)
    }
    async fn job(&self, id: &str) -> Result<RemoteJob, VvpError> {
        take!(self, "job", format!("job {id}"), Answer::Job(j) => j)
    }
    async fn stop(&self, job: &str, how: Stop) -> Result<(), VvpError> {
        take!(self, "stop", format!("stop {job} {}", how.name()), Answer::Done => ())
    }
    async fn delete(&self, deployment: &str) -> Result<(), VvpError> {
        take!(self, "delete", format!("delete {deployment}"), Answer::Done => ())
    }
}

/// A state store in memory that logs every write (serial, then each pipeline as
/// `status action/step ids history`) and checks the compare-and-set like a backend.
struct Memory<'a> {
    state: SyncMutex<Option<State>>,
    previous: SyncMutex<Option<State>>,
    log: &'a Log,
}

struct NoLock;
impl LockGuard for NoLock {}

fn describe(name: &str, p: &PipelineState) -> String {
    let mut s = format!("{name} {}", p.status);
    if let Some(x) = &p.pending {
        s.push_str(&format!(" {}/{}", x.action, x.step));
        if let Some(t) = &x.ticket_id {
            s.push_str(&format!(" ticket={t}"));
        }
        if let Some(sp) = &x.savepoint_id {
            s.push_str(&format!(" savepoint={sp}"));
        }
    }
    let r = &p.remote;
    for (k, v) in [("draft", &r.draft_id), ("dep", &r.deployment_id), ("job", &r.job_id)] {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={v}"));
        }
    }
    if !p.history.is_empty() {
        let revs: Vec<String> = p.history.iter().map(|h| format!("{}@{}", h.action, h.serial)).collect();
        s.push_str(&format!(" history={}", revs.join(",")));
    }
    if let Some(e) = &p.error {
        s.push_str(&format!(" error={e}"));
    }
    s
}

impl StateStore for Memory<'_> {
    fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.state.lock().unwrap().clone())
    }
    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        let mut cur = self.state.lock().unwrap();
        let found = cur.as_ref().map(|s| s.serial);
        if found != expected {
            return Err(StateError::Conflict { expected, found });
        }
        let pipelines: Vec<String> = state.pipelines.iter().map(|(n, p)| format!(" {}", describe(n, p))).collect();
        self.log.lock().unwrap().push(format!("write {}:{}", state.serial, pipelines.join(";")));
        *self.previous.lock().unwrap() = cur.replace(state.clone());
        Ok(())
    }
    fn previous(&self) -> Result<Option<State>, StateError> {
        Ok(self.previous.lock().unwrap().clone())
    }
    fn lock(&self, _: &LockInfo, _: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        Ok(Box::new(NoLock))
    }
    fn force_unlock(&self, _: &str) -> Result<(), StateError> {
        Ok(())
    }
}

/// What one apply of `change` over `recorded` did.
struct Run {
    outcome: Outcome,
    log: Vec<String>,
    state: Option<State>,
}

/// Applies one change to `orders` over the recorded `before` (stored at serial 1) with
/// VVP answering from `script`, on a paused clock (polling sleeps take no time).
async fn run(
    action: Action,
    before: Option<PipelineState>,
    after: Option<PipelineState>,
    script: Vec<(&'static str, Answer)>,
) -> Run {
    let log = Log::default();
    let mut recorded = State::new("lineage-1".into());
    if let Some(b) = &before {
        recorded.serial = 1;
        recorded.pipelines.insert("orders".into(), b.clone());
    }
    let store = Memory {
        state: SyncMutex::new(before.is_some().then(|| recorded.clone())),
        previous: SyncMutex::default(),
        log: &log,
    };
    let vvp = Scripted { script: SyncMutex::new(script.into()), log: &log };
    let change = Change {
        name: "orders".into(),
        action,
        reasons: Vec::new(),
        before,
        after,
        sample: None,
        sink_ddl: Vec::new(),
        warnings: Vec::new(),
    };
    let plan = Plan {
        lineage: Some("lineage-1".into()),
        serial: Some(recorded.serial),
        changes: vec![change],
        errors: Vec::new(),
        inputs: Default::default(),
        refreshed: false,
    };
    let cancel = AtomicBool::new(false);
    let events = |_: &str, _: &str| {};
    let ex =
        Executor::new(&vvp, &store, recorded, Timeouts::default(), "2026-12-02T00:00:00Z".into(), &cancel, &events);
    let outcome = ex.apply(&plan, 1).await;
    drop(ex);
    let state = store.state.into_inner().unwrap();
    let left: Vec<_> = vvp.script.into_inner().unwrap().into_iter().map(|(op, _)| op).collect();
    assert!(left.is_empty(), "scripted calls never made: {left:?}");
    Run { outcome, log: log.into_inner().unwrap(), state }
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

#[tokio::test(start_paused = true)]
async fn create_journals_each_step_before_its_call_and_each_id_after() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-1")),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Running)),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Starting))),
            ("job", Job(job("job-1", JobState::Starting))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.add, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 1: orders applying create/lookup
        call find_deployment orders
        call drafts
        write 2: orders applying create/create_draft
        call create_sql_draft orders for a new deployment
        write 3: orders applying create/create_draft draft=draft-1
        write 4: orders applying create/deploy draft=draft-1
        call deploy draft-1 on default-queue
        write 5: orders applying create/deploy ticket=ticket-1 draft=draft-1
        call ticket ticket-1
        call ticket ticket-1
        write 6: orders applying create/deploy draft=draft-1
        write 7: orders applying create/deploy draft=draft-1 dep=dep-1
        call discard_draft draft-1
        write 8: orders applying create/deploy dep=dep-1
        write 9: orders applying create/configure dep=dep-1
        call configure dep-1 parallelism 2
        write 10: orders applying create/start dep=dep-1
        call live_job dep-1
        call start dep-1 restore NONE on default-queue
        write 11: orders applying create/start dep=dep-1 job=job-1
        call job job-1
        call job job-1
        write 12: orders running dep=dep-1 job=job-1 history=create@12
    "
        )
    );
    let rec = &r.state.unwrap().pipelines["orders"];
    assert_eq!((rec.sql.as_str(), rec.history[0].at.as_str()), (desired().sql.as_str(), "2026-12-02T00:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn a_stateful_update_restores_exactly_the_savepoint_its_stop_took() {
    use Answer::*;
    let r = run(
        Action::Update,
        Some(applied()),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(Some(job("job-1", JobState::Cancelling)))),
            ("live_job", Live(None)),
            ("stop_savepoint", MaybeId(Some("sp-1".into()))),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.change, 1);
    assert_eq!(r.log, lines(
            "
        write 2: orders applying update/stop dep=dep-1 job=job-1 history=create@1
        call live_job dep-1
        call stop job-1 STOP_WITH_SAVEPOINT
        call live_job dep-1
        call live_job dep-1
        call stop_savepoint dep-1 job-1
        write 3: orders applying update/stop savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call drafts
        write 4: orders applying update/create_draft savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call create_sql_draft orders (v2) for dep-1
        write 5: orders applying update/create_draft savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        write 6: orders applying update/deploy savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call deploy draft-2 on default-queue
        write 7: orders applying update/deploy ticket=ticket-2 savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call ticket ticket-2
        write 8: orders applying update/deploy savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call discard_draft draft-2
        write 9: orders applying update/deploy savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        write 10: orders applying update/configure savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call configure dep-1 parallelism 2
        write 11: orders applying update/start savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call live_job dep-1
        call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue
        write 12: orders applying update/start savepoint=sp-1 dep=dep-1 job=job-2 history=create@1
        call job job-2
        write 13: orders running dep=dep-1 job=job-2 history=create@1,update@13
    "
        ));
}

#[tokio::test(start_paused = true)]
async fn a_stateful_update_without_a_running_job_starts_from_the_latest_state_not_an_old_savepoint() {
    use Answer::*;
    let before = applied();
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call start dep-1 restore LATEST_STATE on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_update_restores_the_savepoint_its_first_run_journaled() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Applying;
    before.pending = Some(flinkform_core::state::Pending {
        savepoint_id: Some("sp-1".into()),
        ..flinkform_core::state::Pending::new(Operation::Update, flinkform_core::state::Step::CreateDraft)
    });
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(
        r.log.contains(&"call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue".to_string()),
        "{:?}",
        r.log
    );
}

#[tokio::test(start_paused = true)]
async fn a_stateless_update_stops_without_a_savepoint_and_starts_without_state() {
    use Answer::*;
    let before = applied();
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateless)),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    let calls: Vec<&str> = r
        .log
        .iter()
        .filter(|l| l.starts_with("call stop") || l.starts_with("call start"))
        .map(String::as_str)
        .collect();
    assert_eq!(calls, ["call stop job-1 NONE", "call start dep-1 restore NONE on default-queue"]);
    assert!(
        r.log.last().unwrap().ends_with("orders running dep=dep-1 job=job-2 history=create@1,update@12"),
        "{:?}",
        r.log
    );
}

#[tokio::test(start_paused = true)]
async fn replace_destroys_the_old_deployment_before_creating_the_new_one() {
    use Answer::*;
    let r = run(
        Action::Replace,
        Some(applied()),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("delete", Done),
            ("drafts", Drafts(vec![])),
            ("find_deployment", Deployment(None)),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-2".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.replace, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying replace/stop dep=dep-1 job=job-1 history=create@1
        call live_job dep-1
        call stop job-1 NONE
        call live_job dep-1
        write 3: orders applying replace/delete dep=dep-1 job=job-1 history=create@1
        call delete dep-1
        call drafts
        write 4: orders destroyed replace/delete history=create@1
        write 5: orders applying replace/lookup history=create@1
        call find_deployment orders
        write 6: orders applying replace/create_draft history=create@1
        call create_sql_draft orders (v2) for a new deployment
        write 7: orders applying replace/create_draft draft=draft-2 history=create@1
        write 8: orders applying replace/deploy draft=draft-2 history=create@1
        call deploy draft-2 on default-queue
        write 9: orders applying replace/deploy ticket=ticket-2 draft=draft-2 history=create@1
        call ticket ticket-2
        write 10: orders applying replace/deploy draft=draft-2 history=create@1
        write 11: orders applying replace/deploy draft=draft-2 dep=dep-2 history=create@1
        call discard_draft draft-2
        write 12: orders applying replace/deploy dep=dep-2 history=create@1
        write 13: orders applying replace/configure dep=dep-2 history=create@1
        call configure dep-2 parallelism 2
        write 14: orders applying replace/start dep=dep-2 history=create@1
        call live_job dep-2
        call start dep-2 restore NONE on default-queue
        write 15: orders applying replace/start dep=dep-2 job=job-2 history=create@1
        call job job-2
        write 16: orders running dep=dep-2 job=job-2 history=create@1,replace@16
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn destroy_stops_deletes_and_then_forgets_the_pipeline() {
    use Answer::*;
    let r = run(
        Action::Delete,
        Some(applied()),
        None,
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(Some(job("job-1", JobState::Cancelling)))),
            ("live_job", Live(None)),
            ("delete", Done),
            ("drafts", Drafts(vec![])),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.destroy, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying delete/stop dep=dep-1 job=job-1 history=create@1
        call live_job dep-1
        call stop job-1 NONE
        call live_job dep-1
        call live_job dep-1
        write 3: orders applying delete/delete dep=dep-1 job=job-1 history=create@1
        call delete dep-1
        call drafts
        write 4: orders destroyed delete/delete history=create@1
        write 5:
    "
        )
    );
    assert!(r.state.unwrap().pipelines.is_empty());
}

#[tokio::test(start_paused = true)]
async fn repair_starts_the_failed_job_again_from_its_latest_state() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Failed;
    before.error = Some("job failed".into());
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.repair, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying repair/start dep=dep-1 job=job-1 history=create@1 error=job failed
        call live_job dep-1
        call start dep-1 restore LATEST_STATE on default-queue
        write 3: orders applying repair/start dep=dep-1 job=job-2 history=create@1 error=job failed
        call job job-2
        write 4: orders running dep=dep-1 job=job-2 history=create@1,repair@4
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_create_resumes_its_journaled_ticket_without_a_second_draft() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("drafts", Drafts(vec![])),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(
        r.log[..4],
        lines(
            "
        write 2: orders applying create/lookup ticket=ticket-1 draft=draft-1
        call find_deployment orders
        call ticket ticket-1
        write 3: orders applying create/lookup draft=draft-1
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_whose_answer_was_lost_adopts_the_job_it_made() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("live_job", Live(None)),
            ("start", Fails(lost("StartJobWithParams"))),
            ("live_job", Live(Some(job("job-2", JobState::Starting)))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-2"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_is_recorded_failed_with_vvp_s_message() {
    use Answer::*;
    let r = run(
        Action::Repair,
        Some(applied()),
        Some(desired()),
        vec![
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Failed("OOM: heap".into())))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, [("orders".to_string(), "job job-2 failed: OOM: heap".to_string())]);
    assert_eq!(r.log.last().unwrap(), "write 4: orders failed dep=dep-1 job=job-2 history=create@1 error=OOM: heap");
}

#[tokio::test(start_paused = true)]
async fn a_vvp_error_keeps_the_step_journaled_for_the_next_run() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-1")),
            ("deploy", Fails(lost("DeployDeploymentDraftAsync"))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed.len(), 1);
    assert!(r.outcome.failed[0].1.contains("DeployDeploymentDraftAsync"), "{:?}", r.outcome.failed);
    assert_eq!(r.log.last().unwrap(), "call deploy draft-1 on default-queue");
    let rec = &r.state.unwrap().pipelines["orders"];
    assert_eq!((rec.status, rec.remote.draft_id.as_deref()), (Status::Applying, Some("draft-1")));
}

#[tokio::test(start_paused = true)]
async fn a_state_only_change_is_recorded_without_a_call_to_vvp() {
    let mut after = desired();
    after.protect = true;
    let r = run(Action::Record, Some(applied()), Some(after), Vec::new()).await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.log, lines("write 2: orders running dep=dep-1 job=job-1 history=create@1"));
    assert!(r.state.unwrap().pipelines["orders"].protect);
}

#[tokio::test(start_paused = true)]
async fn an_update_of_a_stopped_pipeline_deploys_and_leaves_the_job_stopped() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|l| l.starts_with("call start")), "{:?}", r.log);
    assert_eq!(r.log.last().unwrap(), "write 10: orders stopped dep=dep-1 job=job-1 history=create@1,update@10");
}

fn ticket_not_found() -> VvpError {
    VvpError::Api {
        action: "GetDeployDeploymentDraftResult".into(),
        status: 404,
        code: "TicketNotFound".into(),
        message: "ticket ticket-1 not found".into(),
        request_id: "r".into(),
    }
}

/// `orders` interrupted while its create waited for deploy ticket `ticket-1` of `draft-1`.
fn waiting_on_ticket() -> PipelineState {
    let mut p = desired();
    p.status = Status::Applying;
    p.remote.draft_id = Some("draft-1".into());
    p.pending = Some(flinkform_core::state::Pending {
        ticket_id: Some("ticket-1".into()),
        ..flinkform_core::state::Pending::new(Operation::Create, flinkform_core::state::Step::Deploy)
    });
    p
}

#[tokio::test(start_paused = true)]
async fn a_ticket_vvp_forgot_is_re_derived_from_the_draft_s_deployment() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("ticket", Fails(ticket_not_found())),
            ("draft", Draft(Some(draft("draft-1", &desired().sql, Some("dep-1"))))),
            ("deployment", ours("dep-1", &desired().sql)),
            ("drafts", Drafts(vec![])),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(
        r.log[..6],
        lines(
            "
        write 2: orders applying create/lookup ticket=ticket-1 draft=draft-1
        call find_deployment orders
        call ticket ticket-1
        write 3: orders applying create/lookup draft=draft-1
        call draft draft-1
        call deployment dep-1
    "
        )
    );
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-1"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_ticket_vvp_forgot_of_a_draft_never_deployed_deploys_that_draft_again() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("ticket", Fails(ticket_not_found())),
            ("draft", Draft(Some(draft("draft-1", &desired().sql, None)))),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("drafts", Drafts(vec![])),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call deploy draft-1 on default-queue".to_string()), "no second draft: {:?}", r.log);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-1"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_draft_an_earlier_run_left_is_reused_when_it_fits_and_discarded_when_not() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            (
                "drafts",
                Drafts(vec![draft("draft-old", "SELECT 'other SQL';", None), draft("draft-1", &desired().sql, None)]),
            ),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|l| l.starts_with("call create_sql_draft")), "reused, not made again: {:?}", r.log);
    let discarded: Vec<&str> =
        r.log.iter().filter(|l| l.starts_with("call discard_draft")).map(String::as_str).collect();
    assert_eq!(discarded, ["call discard_draft draft-1", "call discard_draft draft-old"]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_to_creating_a_draft_is_looked_up_before_creating_again() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Fails(lost("CreateDeploymentDraft"))),
            ("drafts", Drafts(vec![draft("draft-1", &desired().sql, None)])),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.log.iter().filter(|l| l.starts_with("call create_sql_draft")).count(), 1, "{:?}", r.log);
    assert!(r.log.contains(&"call deploy draft-1 on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_flinkform_start_resumes_with_the_restore_it_was_asked_for() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    before.pending = Some(flinkform_core::state::Pending {
        restore: Some(Restore::LatestSavepoint),
        ..flinkform_core::state::Pending::new(Operation::Start, flinkform_core::state::Step::Start)
    });
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call start dep-1 restore LATEST_SAVEPOINT on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_fails_in_the_verify_window_fails_the_pipeline() {
    use Answer::*;
    let mut after = desired();
    after.deploy.verify_secs = Some(60);
    let mut before = applied();
    before.status = Status::Failed;
    before.deploy.verify_secs = Some(60);
    let failed = JobState::Failed("JobFailed: OOM".into());
    let r = run(
        Action::Repair,
        Some(before),
        Some(after),
        vec![
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", failed))),
        ],
    )
    .await;
    assert_eq!(
        r.outcome.failed,
        [("orders".to_string(), "job job-2 failed within the 60s verify window: JobFailed: OOM".to_string())]
    );
    assert_eq!(
        r.log.last().unwrap(),
        "write 4: orders failed dep=dep-1 job=job-2 history=create@1 error=JobFailed: OOM"
    );
}

#[tokio::test(start_paused = true)]
async fn an_update_whose_job_fails_rolls_back_to_the_previous_revision_and_its_savepoint() {
    use Answer::*;
    let mut after = changed(Upgrade::Stateful);
    after.deploy.on_failure = flinkform_core::spec::OnFailure::Rollback;
    let r = run(
        Action::Update,
        Some(applied()),
        Some(after),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("stop_savepoint", MaybeId(Some("sp-1".into()))),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Failed("boom".into())))),
            // The rollback: the previous SQL, from the savepoint the update's stop took.
            ("live_job", Live(None)),
            ("create_sql_draft", Id("draft-3")),
            ("deploy", Id("ticket-3")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-3", JobState::Starting))),
            ("job", Job(job("job-3", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(
        r.outcome.failed,
        [("orders".to_string(), "job job-2 failed: boom; rolled back: the previous revision runs again".to_string())]
    );
    let starts: Vec<&str> = r.log.iter().filter(|l| l.starts_with("call start")).map(String::as_str).collect();
    assert_eq!(starts, ["call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue"; 2]);
    assert!(r.log.contains(&"call create_sql_draft orders for dep-1".to_string()), "the previous SQL: {:?}", r.log);
    let last = r.log.last().unwrap();
    assert!(last.contains("orders running dep=dep-1 job=job-3 history=create@1,rollback@"), "{last}");
    assert!(last.ends_with("error=the update was rolled back: job job-2 failed: boom"), "{last}");
    assert_eq!(r.state.unwrap().pipelines["orders"].sql, desired().sql, "the previous revision is recorded");
}
