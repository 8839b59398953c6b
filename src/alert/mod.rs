//! Posting alerts to the chat channels of `[[alert]]`: one task per channel, so a
//! failing channel never holds up the others; each keeps its vendor's documented rate
//! (waiting, not dropping), retries what is worth retrying with growing, jittered
//! pauses, and counts what it sent and what it gave up on. Addresses and secrets are
//! read from the environment once and never shown: errors name the variable.

pub mod channels;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use channels::{Answer, judge, per_minute, request};
use flinkform_core::spec::AlertChannel;
use flinkform_core::watch::alerts::Alert;

/// Tries of one alert before it is counted as failed.
const TRIES: u32 = 5;
/// The first pause between tries; each next one doubles.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// The most alerts one message carries.
const BATCH: usize = 10;

/// A channel that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// Its address or secret is not in the environment.
    #[error("[[alert]] `{channel}`: the environment variable {var} is not set (it holds the channel's {what})")]
    Unset {
        /// The channel.
        channel: String,
        /// The variable.
        var: String,
        /// What it holds.
        what: &'static str,
    },
    /// The HTTP client could not be made.
    #[error("alerts: cannot make the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// What was sent and what failed, by channel.
#[derive(Debug, Default)]
pub struct AlertStats {
    counts: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl AlertStats {
    fn count(&self, channel: &str, ok: bool, alerts: u64) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let e = c.entry(channel.to_string()).or_default();
        if ok { e.0 += alerts } else { e.1 += alerts }
    }

    /// (sent, failed) by channel.
    pub fn counts(&self) -> BTreeMap<String, (u64, u64)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A configured channel with its address and secret read.
struct Channel {
    spec: AlertChannel,
    url: String,
    secret: Option<String>,
}

impl Channel {
    fn read(spec: &AlertChannel) -> Result<Channel, AlertError> {
        let var = |name: &str, what| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| AlertError::Unset {
                channel: spec.name.clone(),
                var: name.to_string(),
                what,
            })
        };
        let url = var(&spec.url_env, "webhook address")?;
        let secret = spec.secret_env.as_deref().map(|v| var(v, "signing secret")).transpose()?;
        Ok(Channel { spec: spec.clone(), url, secret })
    }
}

/// The channels of one environment, each served by its own task.
pub struct Alerts {
    queues: Vec<(AlertChannel, mpsc::UnboundedSender<Vec<Alert>>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Alerts {
    /// Starts a task for each of `specs` (on the current runtime), counting into `stats`.
    pub fn start(specs: &[AlertChannel], stats: Arc<AlertStats>) -> Result<Alerts, AlertError> {
        let channels = specs.iter().map(Channel::read).collect::<Result<Vec<_>, _>>()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("flinkform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AlertError::Client)?;
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for ch in channels {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.push((ch.spec.clone(), tx));
            tasks.push(tokio::spawn(serve_channel(ch, rx, http.clone(), stats.clone())));
        }
        Ok(Alerts { queues, tasks })
    }

    /// Waits until every queued alert was posted or given up on.
    pub async fn finish(self) {
        drop(self.queues);
        futures::future::join_all(self.tasks).await;
    }

    /// Queues the alerts of one refresh, together, for every channel that hears them.
    pub fn send(&self, alerts: &[Alert]) {
        for (spec, tx) in &self.queues {
            let heard: Vec<Alert> = alerts.iter().filter(|a| spec.on.contains(&a.on)).cloned().collect();
            if !heard.is_empty() {
                let _ = tx.send(heard);
            }
        }
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Sends the queued alerts of `ch` in turn, within its rate: those queued together (a
/// refresh's, and those of refreshes that came while it waited) go as messages of up to
/// [`BATCH`], so that a storm does not take an hour to post.
async fn serve_channel(
    ch: Channel,
    mut rx: mpsc::UnboundedReceiver<Vec<Alert>>,
    http: reqwest::Client,
    stats: Arc<AlertStats>,
) {
    let mut sent: VecDeque<tokio::time::Instant> = VecDeque::new();
    while let Some(mut queued) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            queued.extend(more);
        }
        for batch in queued.chunks(BATCH) {
            if let Some(limit) = per_minute(ch.spec.kind) {
                let minute = Duration::from_secs(60);
                while sent.front().is_some_and(|t| t.elapsed() >= minute) {
                    sent.pop_front();
                }
                if sent.len() >= limit
                    && let Some(oldest) = sent.pop_front()
                {
                    tokio::time::sleep_until(oldest + minute).await;
                }
            }
            let ok = deliver(&ch, batch, &http).await;
            sent.push_back(tokio::time::Instant::now());
            stats.count(&ch.spec.name, ok, batch.len() as u64);
        }
    }
}

/// Tries to post `alerts` up to [`TRIES`] times; whether the channel accepted them.
async fn deliver(ch: &Channel, alerts: &[Alert], http: &reqwest::Client) -> bool {
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=TRIES {
        // Signed afresh each time: DingTalk and Feishu refuse a stale timestamp.
        let req = request(ch.spec.kind, &ch.url, ch.secret.as_deref(), alerts, now_ms());
        let mut post = http.post(&req.url).header("Content-Type", "application/json").body(req.body);
        for (k, v) in req.headers {
            post = post.header(k, v);
        }
        let answer = match post.send().await {
            // The address holds the robot's token: errors are shown without it.
            Err(e) => Answer::Retry(flinkform_core::diag::chain(&e.without_url())),
            Ok(r) => {
                let status = r.status().as_u16();
                judge(ch.spec.kind, status, &r.text().await.unwrap_or_default())
            }
        };
        match answer {
            Answer::Ok => return true,
            Answer::Refused(why) => {
                tracing::warn!(channel = %ch.spec.name, "the alert was refused: {why}");
                return false;
            }
            Answer::Retry(why) if attempt < TRIES => {
                tracing::info!(channel = %ch.spec.name, attempt, "the alert will be sent again: {why}");
                let jitter = Duration::from_millis(rand::random_range(0..=pause.as_millis() as u64 / 2));
                tokio::time::sleep(pause + jitter).await;
                pause *= 2;
            }
            Answer::Retry(why) => {
                tracing::warn!(channel = %ch.spec.name, "the alert was not sent after {TRIES} tries: {why}")
            }
        }
    }
    false
}
