//! The alerts a refresh raises: conditions that begin (a job FAILED, drift, a job not
//! RUNNING past its verify window, Flink restarting a job) and events that happen (an
//! apply failed), each once. A condition that holds on is not raised again; one that
//! ends and begins again is. The first refresh of an environment is the baseline of
//! restart counts and applies: a restarted server does not replay old ones.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{EnvSnapshot, Health, JobView};
use crate::spec::AlertOn;
use crate::state::{ApplyOutcome, Stamp};

/// How long a job that should run may be other than RUNNING when its record sets no
/// verify window (`[deployment] verify`).
pub const NOT_RUNNING_AFTER_MS: u64 = 5 * 60 * 1000;

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The environment.
    pub env: String,
    /// The pipeline (none for an apply's failure of several).
    pub pipeline: Option<String>,
    /// What happened.
    pub on: AlertOn,
    /// Said in a line.
    pub what: String,
    /// VVP's diagnosis of the job, if it has one.
    pub diagnosis: Vec<String>,
    /// The change that last touched the pipeline: its review, commit, plan and author.
    pub change: Option<Stamp>,
}

/// A condition's key: it is raised when it begins.
type Key = (String, String, AlertOn);

/// What the watcher remembers between refreshes.
#[derive(Debug, Default)]
pub struct Watcher {
    /// Conditions that held at the last refresh.
    active: HashSet<Key>,
    /// Since when (Unix ms) each pipeline that should run was seen not RUNNING.
    not_running_since: HashMap<(String, String), u64>,
    /// The job and restart count last seen of each pipeline.
    restarts: HashMap<(String, String), (Option<String>, u64)>,
    /// The applies already seen, and the environments seen once.
    applies: HashSet<String>,
    primed: HashSet<String>,
}

impl Watcher {
    /// The alerts `snap` raises, given everything seen before it.
    pub fn observe(&mut self, snap: &EnvSnapshot) -> Vec<Alert> {
        let env = &snap.env;
        let first = self.primed.insert(env.clone());
        let mut out = Vec::new();
        let mut now_active = HashSet::new();
        let mut raise = |key: Key, alert: Alert, out: &mut Vec<Alert>| {
            if !self.active.contains(&key) {
                out.push(alert);
            }
            now_active.insert(key);
        };
        let unreached = snap.live.is_err();
        for (name, record) in snap.pipelines() {
            let h = snap.health(name, record);
            let at = |on: AlertOn, what: String| Alert {
                env: env.clone(),
                pipeline: Some(name.clone()),
                on,
                what,
                diagnosis: snap.diagnosis.get(name).cloned().unwrap_or_default(),
                change: h.last_change.clone(),
            };
            let key = |on: AlertOn| (env.clone(), name.clone(), on);
            if let JobView::Failed(m) = &h.job {
                raise(key(AlertOn::Failed), at(AlertOn::Failed, format!("job {} FAILED: {m}", id(&h))), &mut out);
            }
            if !h.drift.is_empty() {
                raise(key(AlertOn::Drift), at(AlertOn::Drift, format!("drift: {}", h.drift.join("; "))), &mut out);
            }
            let since_key = (env.clone(), name.clone());
            // A job VVP could not be asked about is neither waiting nor settled: its
            // timer is left as it was (an outage is not a thousand jobs not running).
            let unknown = unreached || matches!(h.job, JobView::Unknown(_));
            let waiting = h.should_run && !matches!(h.job, JobView::Running | JobView::Failed(_)) && !unknown;
            if waiting {
                let since = *self.not_running_since.entry(since_key.clone()).or_insert(snap.at_ms);
                let window = record.deploy.verify_secs.map_or(NOT_RUNNING_AFTER_MS, |s| s * 1000);
                if snap.at_ms.saturating_sub(since) >= window {
                    let what = format!("job not RUNNING for {} s: {}", (snap.at_ms - since) / 1000, h.job);
                    raise(key(AlertOn::NotRunning), at(AlertOn::NotRunning, what), &mut out);
                }
            } else if !unknown {
                self.not_running_since.remove(&since_key);
            }
            // Restarting holds while the count grows from one refresh to the next: a
            // job that keeps restarting alerts once, until a refresh sees it settle.
            if let Some(n) = h.restarts {
                let before = self.restarts.insert(since_key, (h.job_id.clone(), n));
                let grew = match before {
                    Some((job, m)) if job == h.job_id => n > m,
                    Some(_) => n > 0,
                    None => false,
                };
                if grew {
                    let what = format!("Flink restarted job {} ({n} restarts so far)", id(&h));
                    raise(key(AlertOn::Restarting), at(AlertOn::Restarting, what), &mut out);
                }
            }
        }
        // Conditions not seen because VVP was not reached are kept, not ended.
        if unreached {
            now_active.extend(self.active.iter().filter(|(e, _, _)| e == env).cloned());
        }
        self.active.retain(|(e, _, _)| e != env);
        self.active.extend(now_active);
        for a in snap.applies.iter().rev() {
            if !self.applies.insert(a.id.clone()) || first || a.outcome != ApplyOutcome::Failed {
                continue;
            }
            let failed: Vec<&str> =
                a.changes.iter().filter(|c| c.error.is_some()).map(|c| c.pipeline.as_str()).collect();
            out.push(Alert {
                env: env.clone(),
                pipeline: (failed.len() == 1).then(|| failed[0].to_string()),
                on: AlertOn::ApplyFailed,
                what: format!("apply failed for {}: {}", failed.join(", "), a.said.lines().last().unwrap_or_default()),
                diagnosis: a.changes.iter().filter_map(|c| c.error.clone()).collect(),
                change: Some(a.stamp.clone()),
            });
        }
        out
    }
}

fn id(h: &Health) -> &str {
    h.job_id.as_deref().unwrap_or("?")
}
