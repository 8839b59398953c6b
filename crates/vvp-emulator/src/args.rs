//! The emulator's command line: what it accepts, and the [`Config`] it makes.

use std::time::Duration;

use clap::Parser;

use crate::{Config, NotFound, SecondJob};

/// A local VVP OpenAPI server: signatures verified, real envelopes and job state machine,
/// deterministic fault injection (all off by default). In-memory state.
#[derive(Parser, Debug)]
#[command(name = "vvp-emulator", version)]
pub struct Args {
    /// Address to listen on (port 0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Accepted access key id.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: String,
    /// Accepted access key secret.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: String,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latency added to every call (e.g. "20ms").
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Share of calls answered with a 5xx (half after the call took effect).
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share of calls throttled.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Share of deployments whose first job fails (a repair's restart succeeds).
    #[arg(long, default_value_t = 0.0)]
    pub job_fail_rate: f64,
    /// Share of deploy tickets that finish without success.
    #[arg(long, default_value_t = 0.0)]
    pub ticket_fail_rate: f64,
    /// How long a deploy ticket runs.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub deploy_delay: Duration,
    /// How long a job is STARTING.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    pub start_delay: Duration,
    /// How long a job is CANCELLING.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub stop_delay: Duration,
    /// How long a hot update runs (HotUpdateJob answers at once; GetHotUpdateJobResult
    /// says `HOT_UPDATED` after this).
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub hot_update_delay: Duration,
    /// Draw each deploy, start, stop and hot update's duration from a log-normal
    /// distribution around its delay (the median) with this spread (σ of its logarithm;
    /// 1.256: a tenth of steps take over five times the median), seeded by `--seed`.
    #[arg(long, default_value_t = 0.0)]
    pub step_spread: f64,
    /// Variables every namespace has from the start (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub variables: Vec<String>,
    /// Forget a finished ticket this long after it finished (answered as not found
    /// from then on), as VVP does with old tickets; kept forever when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ticket_ttl: Option<Duration>,
    /// Let two deployments of a namespace share a name (a deploy of a new deployment
    /// then never fails for its name), so that a client that deploys twice makes a
    /// duplicate one can count, instead of an error that hides it.
    #[arg(long)]
    pub allow_duplicate_names: bool,
    /// A job chosen to fail (`--job-fail-rate`) first goes RUNNING and fails this long
    /// after, instead of failing while starting: what only a watched start catches.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub job_crash_after: Option<Duration>,
    /// Every job of a deployment whose SQL contains this text fails (as with
    /// `--job-fail-rate`): a bad change that only fails at run time.
    #[arg(long)]
    pub fail_jobs_of_sql_with: Option<String>,
    /// Every RUNNING job of a deployment whose SQL contains this text is restarted by
    /// Flink once a second (its `observedFlinkJobRestarts` grows): a job that keeps
    /// failing and recovering.
    #[arg(long)]
    pub restart_jobs_of_sql_with: Option<String>,
    /// Keep the world in this file, written after every call and read at start: the
    /// emulator's drafts, deployments, tickets, jobs and savepoints survive its restart.
    #[arg(long)]
    pub state_file: Option<std::path::PathBuf>,
    /// How a missing draft, deployment, job or ticket is answered: VVP's `990301`
    /// (cited) or a `…NotFound` code per resource (a variant).
    #[arg(long, value_enum, default_value = "990301")]
    pub not_found_code: NotFound,
    /// What a start does when the deployment already has a live job: `accept` starts a
    /// second one (nothing cited says VVP refuses), `refuse` answers `JobAlreadyRunning`.
    #[arg(long, value_enum, default_value = "accept")]
    pub second_job: SecondJob,
    /// Answer deployments in a spelling of the server's own (SQL without trailing
    /// whitespace, memory as `4 GiB`, Flink durations in milliseconds), not as they were sent.
    #[arg(long)]
    pub normalize: bool,
}

impl Args {
    /// The configuration these arguments describe, or what is wrong with them.
    pub fn config(self) -> Result<Config, String> {
        for (name, rate) in [
            ("fail-rate", self.fail_rate),
            ("throttle-rate", self.throttle_rate),
            ("job-fail-rate", self.job_fail_rate),
            ("ticket-fail-rate", self.ticket_fail_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("--{name} must be between 0 and 1"));
            }
        }
        if !(0.0..=5.0).contains(&self.step_spread) {
            return Err("--step-spread must be between 0 and 5".into());
        }
        Ok(Config {
            access_key_id: self.access_key_id,
            access_key_secret: self.access_key_secret,
            seed: self.seed,
            latency: self.latency,
            fail_rate: self.fail_rate,
            throttle_rate: self.throttle_rate,
            job_fail_rate: self.job_fail_rate,
            ticket_fail_rate: self.ticket_fail_rate,
            deploy_delay: self.deploy_delay,
            start_delay: self.start_delay,
            stop_delay: self.stop_delay,
            hot_update_delay: self.hot_update_delay,
            step_spread: self.step_spread,
            variables: self.variables,
            ticket_ttl: self.ticket_ttl,
            allow_duplicate_names: self.allow_duplicate_names,
            job_crash_after: self.job_crash_after,
            fail_jobs_of_sql_with: self.fail_jobs_of_sql_with,
            restart_jobs_of_sql_with: self.restart_jobs_of_sql_with,
            state_file: self.state_file,
            not_found: self.not_found_code,
            second_job: self.second_job,
            normalize: self.normalize,
        })
    }
}
