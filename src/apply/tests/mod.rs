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
    LockGuard, LockInfo, Operation, PipelineState, Remote, Revision, State, StateError, StateStore, Status,
};
use vvp_api::{
    HotUpdate, HotUpdateState, JobState, RemoteDeployment, RemoteDraft, RemoteJob, Restore, Stop, TicketState, VvpError,
};

use super::{Executor, JournalStats, Outcome, Timeouts, Vvp};

mod crash;
mod hot;
mod lifecycle;
mod resume;

/// The bundled v1 state fixture: its `orders` record is the pipeline every test uses.
const V1: &str = include_str!("../../../crates/flinkform-core/tests/fixtures/state/v1.json");

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
        stamp: flinkform_core::state::Stamp::at("2026-12-01T00:00:00Z"),
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
    Hot(HotUpdate),
    HotState(HotUpdateState),
    Diagnosis(Vec<String>),
    Done,
    Fails(VvpError),
}

fn job(id: &str, state: JobState) -> RemoteJob {
    RemoteJob {
        id: id.into(),
        state,
        restore: None,
        savepoint: None,
        parallelism: Some(1),
        flink_conf: Default::default(),
        restarts: None,
        started: None,
        ended: None,
    }
}

fn ours(id: &str, sql: &str) -> Answer {
    Answer::Deployment(Some(RemoteDeployment {
        id: id.into(),
        name: "orders".into(),
        owner: vvp_api::Owner::ThisProject(Some("orders".into())),
        sql: Some(sql.into()),
        settings: Default::default(),
        summary: vvp_api::Summary::Undecided,
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
        refused: false,
        timed_out: false,
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
    async fn recorded_deployment(&self, id: &str, _name: &str) -> Result<Option<RemoteDeployment>, VvpError> {
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
        _: &str,
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
    async fn configure(&self, _: &str, deployment: &str, p: &vvp_api::Settings) -> Result<bool, VvpError> {
        // No job summary in a scripted answer: the start looks.
        take!(self, "configure", format!("configure {deployment} parallelism {}", p.parallelism), Answer::Done => true)
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
    async fn delete(&self, deployment: &str, _name: &str) -> Result<(), VvpError> {
        take!(self, "delete", format!("delete {deployment}"), Answer::Done => ())
    }
    async fn hot_update(&self, job: &str) -> Result<HotUpdate, VvpError> {
        take!(self, "hot_update", format!("hot_update {job}"), Answer::Hot(h) => h)
    }
    async fn hot_update_state(&self, id: &str) -> Result<HotUpdateState, VvpError> {
        take!(self, "hot_update_state", format!("hot_update_state {id}"), Answer::HotState(s) => s)
    }
    async fn diagnosis(&self, deployment: &str, job: &str) -> Result<Vec<String>, VvpError> {
        take!(self, "diagnosis", format!("diagnosis {deployment} {job}"), Answer::Diagnosis(d) => d)
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
    fn replace_unreadable(&self, _: State) -> Result<(State, String), StateError> {
        unreachable!("a state held in memory is always readable")
    }
    fn lock(&self, _: &LockInfo, _: Duration) -> Result<Box<dyn LockGuard>, StateError> {
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
        before: before.map(Box::new),
        after: after.map(Box::new),
        sample: None,
        sink_ddl: Vec::new(),
        state: None,
        data: None,
        warnings: Vec::new(),
    };
    let plan = Plan {
        lineage: Some("lineage-1".into()),
        serial: Some(recorded.serial),
        changes: vec![change],
        errors: Vec::new(),
        inputs: Default::default(),
        refreshed: false,
        env: None,
        selection: None,
    };
    let cancel = AtomicBool::new(false);
    let events = |_: &str, _: crate::apply::Event<'_>| {};
    let ex = Executor::new(
        &vvp,
        &store,
        recorded,
        Timeouts::default(),
        flinkform_core::state::Stamp::at("2026-12-02T00:00:00Z"),
        &cancel,
        &events,
    );
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
