//! A local VVP OpenAPI server for tests and dry runs (`vvp-emulator`). It verifies every
//! ACS3-HMAC-SHA256 signature as the gateway does (over the raw path and the received
//! SignedHeaders, with the body hash, clock skew and nonce checks), answers in the real
//! envelopes, and runs the real state machine: drafts, async deploy tickets,
//! deployments with unique names, jobs STARTING → RUNNING, stop → CANCELLING →
//! CANCELLED with savepoints, hot updates and diagnoses. Faults are injected
//! deterministically from a seed; `--state-file` keeps the world across restarts.

mod args;
mod clock;
mod envelope;
mod normalize;
mod persist;
mod routes;
mod verify;
mod world;

pub use args::Args;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;

use routes::{App, handle};
use world::World;

/// Emulator settings (all faults off by default).
#[derive(Clone, Debug)]
pub struct Config {
    /// Accepted access key id.
    pub access_key_id: String,
    /// Its secret.
    pub access_key_secret: String,
    /// Seed of the fault injection.
    pub seed: u64,
    /// Added to every call.
    pub latency: Duration,
    /// Share of calls answered with a 5xx (half of them after the call took effect).
    pub fail_rate: f64,
    /// Share of calls throttled (HTTP 400 `Throttling.User` with `x-acs-retry-after`).
    pub throttle_rate: f64,
    /// Share of deployments whose first job goes FAILED instead of RUNNING.
    pub job_fail_rate: f64,
    /// Share of deploy tickets that finish without success.
    pub ticket_fail_rate: f64,
    /// How long a deploy or validate ticket runs.
    pub deploy_delay: Duration,
    /// How long a job is STARTING.
    pub start_delay: Duration,
    /// How long a job is CANCELLING.
    pub stop_delay: Duration,
    /// How long a hot update runs before the job has the new settings.
    pub hot_update_delay: Duration,
    /// The spread of the four delays above: each step's duration is its delay (the
    /// median) times `exp(spread × Z)`, `Z` a standard normal drawn from the seed (0:
    /// every step takes exactly its delay). 1.256 puts a tenth of steps over five times
    /// the median, as real deploys and starts vary per job.
    pub step_spread: f64,
    /// Variables (names) every namespace has from the start, as `Encrypted`.
    pub variables: Vec<String>,
    /// How long a finished ticket is remembered (`None`: forever).
    pub ticket_ttl: Option<Duration>,
    /// Deployments of a namespace may share a name.
    pub allow_duplicate_names: bool,
    /// A failing job goes RUNNING first and fails this long after (`None`: it fails
    /// while starting).
    pub job_crash_after: Option<Duration>,
    /// Jobs of deployments whose SQL contains this text fail.
    pub fail_jobs_of_sql_with: Option<String>,
    /// RUNNING jobs of deployments whose SQL contains this text restart once a second.
    pub restart_jobs_of_sql_with: Option<String>,
    /// Where the world is kept across restarts (`None`: in memory only).
    pub state_file: Option<std::path::PathBuf>,
    /// How a resource that does not exist is answered.
    pub not_found: NotFound,
    /// Whether a deployment may have a second live job.
    pub second_job: SecondJob,
    /// Answer deployments in VVP's own spelling (see `normalize`), not as sent.
    pub normalize: bool,
}

/// How the emulator says a draft, deployment, job or ticket does not exist. Alibaba's
/// Terraform provider (`resource_alicloud_realtime_compute_job.go`, Delete) takes VVP's
/// `errorCode` `990301` as not found, and the Go SDK's models show `990301` with
/// `文件不存在`; no source gives another code, so `Legacy` (a `…NotFound` code per
/// resource) is only a variant to test a client against, not a claim about VVP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NotFound {
    /// `errorCode: "990301"`, `errorMessage: "文件不存在"` and what is missing.
    #[default]
    #[value(name = "990301")]
    Code990301,
    /// `DeploymentNotFound`, `DraftNotFound`, `JobNotFound`, `TicketNotFound`...
    Legacy,
}

/// What StartJobWithParams does when the deployment already has a live job. No Alibaba
/// source says VVP refuses it, nor with which code; `Accept` (a second job is started)
/// is the default so that a client that starts twice is caught, `Refuse` the variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SecondJob {
    /// A second job is started beside the live one.
    #[default]
    Accept,
    /// The start is refused (`errorCode: "JobAlreadyRunning"`, HTTP 400).
    Refuse,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_key_id: String::new(),
            access_key_secret: String::new(),
            seed: 0,
            latency: Duration::ZERO,
            fail_rate: 0.0,
            throttle_rate: 0.0,
            job_fail_rate: 0.0,
            ticket_fail_rate: 0.0,
            deploy_delay: Duration::from_millis(200),
            start_delay: Duration::from_millis(300),
            stop_delay: Duration::from_millis(200),
            hot_update_delay: Duration::from_millis(200),
            step_spread: 0.0,
            variables: Vec::new(),
            ticket_ttl: None,
            allow_duplicate_names: false,
            job_crash_after: None,
            fail_jobs_of_sql_with: None,
            restart_jobs_of_sql_with: None,
            state_file: None,
            not_found: NotFound::default(),
            second_job: SecondJob::default(),
            normalize: false,
        }
    }
}

/// Serves the emulator on `listener` until `shutdown` completes.
pub async fn serve(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app: App = Arc::new(Mutex::new(World::open(cfg)?));
    let router = Router::new().fallback(handle).with_state(app);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
