//! `flinkform serve` and `watch`: a read-only view of a project's environments. A
//! background loop refreshes each environment (the state, the log of applies, what VVP
//! shows, VVP's diagnosis of failed jobs) at an interval, raises the alerts its
//! transitions call for and posts them (`alert`); `serve` also answers pages, their
//! JSON and `/metrics` from the last refresh (`pages`). Nothing here writes the state.

mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;

use crate::alert::{AlertStats, Alerts};
use crate::refresh::Depth;
use flinkform_core::plan::{JobState, Live};
use flinkform_core::spec::AlertChannel;
use flinkform_core::state::{StateError, StateStore};
use flinkform_core::watch::EnvSnapshot;
use flinkform_core::watch::alerts::Watcher;
use vvp_api::{Client, Vvp};

/// The applies each refresh reads of the log.
const APPLIES_KEPT: usize = 100;
/// Failed jobs' diagnoses asked at the same time.
const DIAGNOSES_AT_ONCE: usize = 10;

/// One environment served.
pub struct Source {
    /// Its name (`default` when the project has none).
    pub env: String,
    /// Where its state is.
    pub store: Arc<dyn StateStore>,
    /// Its VVP namespace.
    pub client: Client,
    /// Its `[[alert]]` channels.
    pub alerts: Vec<AlertChannel>,
    /// Tags of each pipeline, from the specs of the checkout (none when serving a state
    /// alone).
    pub tags: HashMap<String, Vec<String>>,
}

/// What the server holds: the sources, the last refresh of each, counters.
pub struct Shared {
    sources: Vec<Source>,
    snapshots: RwLock<Vec<Arc<EnvSnapshot>>>,
    /// VVP's diagnosis of failed jobs, by job id: a job is asked about once.
    diagnoses: Mutex<HashMap<String, Vec<String>>>,
    alert_stats: Arc<AlertStats>,
    requests: Mutex<HashMap<&'static str, u64>>,
    refreshes: AtomicU64,
    started: SystemTime,
}

impl Shared {
    /// Shared state over `sources`, before the first refresh.
    pub fn new(sources: Vec<Source>) -> Arc<Shared> {
        let empty = sources.iter().map(|s| Arc::new(EnvSnapshot::unrefreshed(&s.env))).collect();
        Arc::new(Shared {
            sources,
            snapshots: RwLock::new(empty),
            diagnoses: Mutex::default(),
            alert_stats: Arc::default(),
            requests: Mutex::default(),
            refreshes: AtomicU64::new(0),
            started: SystemTime::now(),
        })
    }

    /// The last refresh of every environment.
    fn snapshots(&self) -> Vec<Arc<EnvSnapshot>> {
        self.snapshots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Refreshes every environment once, then each `every`, raising alerts; `rounds`
    /// bounds the refreshes (`watch --rounds`). Returns when the rounds are done and
    /// every alert they raised was posted or given up on.
    pub async fn watch(self: Arc<Self>, every: Duration, rounds: Option<u64>) -> Result<(), crate::alert::AlertError> {
        let alerts = self
            .sources
            .iter()
            .map(|s| Alerts::start(&s.alerts, self.alert_stats.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut watcher = Watcher::default();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let fresh = futures::future::join_all(self.sources.iter().map(|s| self.refresh(s))).await;
            for (snap, a) in fresh.iter().zip(&alerts) {
                let raised = watcher.observe(snap);
                for alert in &raised {
                    tracing::info!(env = %alert.env, on = alert.on.name(), "alert: {}", alert.what);
                }
                a.send(&raised);
            }
            *self.snapshots.write().unwrap_or_else(|e| e.into_inner()) = fresh;
            let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            if rounds.is_some_and(|r| n >= r) {
                futures::future::join_all(alerts.into_iter().map(Alerts::finish)).await;
                return Ok(());
            }
        }
    }

    /// One refresh of `src`.
    async fn refresh(&self, src: &Source) -> Arc<EnvSnapshot> {
        let began = Instant::now();
        let store = src.store.clone();
        let read =
            tokio::task::spawn_blocking(move || Ok::<_, StateError>((store.load()?, store.applies(APPLIES_KEPT)?)))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| flinkform_core::diag::chain(&e)));
        let (state, applies, error) = match read {
            Ok((state, applies)) => (state, applies, None),
            Err(e) => (None, Vec::new(), Some(e)),
        };
        let live = crate::refresh::observe(&src.client, state.as_ref(), &[], Depth::WATCH)
            .await
            .map(|o| o.pipelines)
            .map_err(|e| flinkform_core::diag::chain(&e));
        let failed = match (&live, &state) {
            (Ok(live), Some(st)) => live
                .iter()
                .filter_map(|(name, l)| {
                    let Live::Found { job: Some(JobState::Failed(_)), job_id: Some(job), .. } = l else { return None };
                    let dep = st.pipelines.get(name)?.remote.deployment_id.as_deref()?;
                    Some((name, dep, job))
                })
                .collect(),
            _ => Vec::new(),
        };
        // The futures made first, then run (see `refresh::observe`).
        let asks: Vec<_> =
            failed.into_iter().map(|(name, dep, job)| self.named_diagnosis(&src.client, name, dep, job)).collect();
        let diagnosis = futures::stream::iter(asks).buffer_unordered(DIAGNOSES_AT_ONCE).collect().await;
        let at_ms = crate::alert::now_ms();
        Arc::new(EnvSnapshot {
            env: src.env.clone(),
            at_ms,
            took_ms: began.elapsed().as_millis() as u64,
            state,
            live,
            diagnosis,
            applies,
            error,
        })
    }

    /// [`Shared::diagnosis`] with the pipeline's name.
    async fn named_diagnosis(&self, client: &Client, name: &str, dep: &str, job: &str) -> (String, Vec<String>) {
        (name.to_string(), self.diagnosis(client, dep, job).await)
    }

    /// VVP's diagnosis of a failed job, asked once per job (an error is said, and asked
    /// again next time).
    async fn diagnosis(&self, client: &Client, dep: &str, job: &str) -> Vec<String> {
        if let Some(d) = self.diagnoses.lock().unwrap_or_else(|e| e.into_inner()).get(job) {
            return d.clone();
        }
        match client.diagnosis(dep, job).await {
            Ok(d) => {
                self.diagnoses.lock().unwrap_or_else(|e| e.into_inner()).insert(job.to_string(), d.clone());
                d
            }
            Err(e) => vec![format!("VVP's diagnosis could not be read: {}", flinkform_core::diag::chain(&e))],
        }
    }

    fn count(&self, route: &'static str) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry(route).or_default() += 1;
    }
}

/// Serves pages on `listen` and refreshes every `every`, until the process ends.
pub async fn serve(shared: Arc<Shared>, listen: SocketAddr, every: Duration) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| ServeError::Bind(listen, e))?;
    let addr = listener.local_addr().map_err(|e| ServeError::Bind(listen, e))?;
    // The address bound (port 0 picks one), for scripts and tests.
    println!("flinkform serve: listening on http://{addr}");
    let app = pages::router(shared.clone());
    let watching = tokio::spawn(shared.watch(every, None));
    tokio::select! {
        r = axum::serve(listener, app) => r.map_err(ServeError::Serve),
        r = watching => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Alerts(e)),
            Err(e) => Err(ServeError::Serve(std::io::Error::other(e))),
        },
    }
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// Serving failed.
    #[error("serving failed")]
    Serve(#[source] std::io::Error),
    /// The alert channels could not start.
    #[error(transparent)]
    Alerts(crate::alert::AlertError),
}
