//! `--state-file`: the world written after every call (to a temporary file, then
//! renamed over the old one) and read back at start. Deadlines are kept as the time
//! left, so a ticket or a stopping job carries on after a restart; nonces are not kept.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use vvp_wire::wire::{Deployment, DeploymentDraft, HotUpdateJobResult, Job, Savepoint, Variable};

use crate::Config;
use crate::world::{HOT_UPDATING, JobRec, Scope, TicketRec, World};

#[derive(Serialize, Deserialize)]
struct Saved {
    seq: u64,
    drafts: BTreeMap<String, (Scope, DeploymentDraft)>,
    deployments: BTreeMap<String, (Scope, Deployment)>,
    tickets: Vec<(String, SavedTicket)>,
    jobs: Vec<(String, SavedJob)>,
    savepoints: HashMap<String, Vec<Savepoint>>,
    variables: Vec<(Scope, BTreeMap<String, Variable>)>,
    hot_updates: HashMap<String, (Scope, HotUpdateJobResult)>,
}

#[derive(Serialize, Deserialize)]
struct SavedTicket {
    scope: Scope,
    draft_id: String,
    validate: bool,
    ready_in_ms: i64,
    fails: bool,
    result: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct SavedJob {
    scope: Scope,
    job: Job,
    running_in_ms: i64,
    fails: bool,
    stop: Option<(i64, String)>,
}

/// Milliseconds from `now` to `at` (negative when past).
fn left(now: Instant, at: Instant) -> i64 {
    match at.checked_duration_since(now) {
        Some(d) => d.as_millis() as i64,
        None => -(now.duration_since(at).as_millis() as i64),
    }
}

/// The instant `ms` from `now`.
fn at(now: Instant, ms: i64) -> Instant {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { now + d } else { now.checked_sub(d).unwrap_or(now) }
}

impl World {
    /// A world from `cfg.state_file` when it exists, else a new one.
    pub(crate) fn open(cfg: Config) -> std::io::Result<World> {
        let Some(path) = cfg.state_file.clone().filter(|p| p.exists()) else { return Ok(World::new(cfg)) };
        let text = std::fs::read_to_string(&path)?;
        let saved: Saved = serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        let now = Instant::now();
        let mut w = World::new(cfg);
        w.rng = StdRng::seed_from_u64(w.cfg.seed.wrapping_add(saved.seq));
        w.seq = saved.seq;
        w.drafts = saved.drafts;
        w.deployments = saved.deployments;
        w.tickets = saved
            .tickets
            .into_iter()
            .map(|(k, t)| {
                let rec = TicketRec {
                    scope: t.scope,
                    draft_id: t.draft_id,
                    validate: t.validate,
                    ready_at: at(now, t.ready_in_ms),
                    fails: t.fails,
                    result: t.result,
                };
                (k, rec)
            })
            .collect();
        w.jobs = saved
            .jobs
            .into_iter()
            .map(|(k, j)| {
                let stop = j.stop.map(|(ms, s)| (at(now, ms), s));
                (k, JobRec { scope: j.scope, job: j.job, running_at: at(now, j.running_in_ms), fails: j.fails, stop })
            })
            .collect();
        w.savepoints = saved.savepoints;
        w.variables = saved.variables.into_iter().collect();
        w.hot_updates = saved.hot_updates;
        // A hot update in progress when the emulator stopped is done at once.
        let pending =
            w.hot_updates.iter().filter(|(_, (_, r))| r.status.as_ref().is_some_and(|s| s.status == HOT_UPDATING));
        w.hot_due = pending.map(|(id, _)| (id.clone(), now)).collect();
        Ok(w)
    }

    /// Writes the world to `--state-file`, if set.
    pub(crate) fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.cfg.state_file else { return Ok(()) };
        let now = Instant::now();
        let saved = Saved {
            seq: self.seq,
            drafts: self.drafts.clone(),
            deployments: self.deployments.clone(),
            tickets: self
                .tickets
                .iter()
                .map(|(k, t)| {
                    let s = SavedTicket {
                        scope: t.scope.clone(),
                        draft_id: t.draft_id.clone(),
                        validate: t.validate,
                        ready_in_ms: left(now, t.ready_at),
                        fails: t.fails,
                        result: t.result.clone(),
                    };
                    (k.clone(), s)
                })
                .collect(),
            jobs: self
                .jobs
                .iter()
                .map(|(k, j)| {
                    let s = SavedJob {
                        scope: j.scope.clone(),
                        job: j.job.clone(),
                        running_in_ms: left(now, j.running_at),
                        fails: j.fails,
                        stop: j.stop.as_ref().map(|(t, s)| (left(now, *t), s.clone())),
                    };
                    (k.clone(), s)
                })
                .collect(),
            savepoints: self.savepoints.clone(),
            variables: self.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            hot_updates: self.hot_updates.clone(),
        };
        write_atomically(path, &serde_json::to_vec(&saved).map_err(std::io::Error::other)?)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
