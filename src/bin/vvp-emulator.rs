//! `vvp-emulator`: a local Ververica Platform OpenAPI (2022-07-18) server that speaks the
//! exact wire protocol, for tests and dry runs. See `flinkform::vvp::emulator`.

use std::time::Duration;

use clap::Parser;
use flinkform::vvp::emulator::{Config, serve};

/// A local VVP OpenAPI server: signatures verified, real envelopes and job state machine,
/// deterministic fault injection (all off by default). In-memory state.
#[derive(Parser, Debug)]
#[command(name = "vvp-emulator", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Accepted access key id.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: String,
    /// Accepted access key secret.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: String,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Latency added to every call (e.g. "20ms").
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Share of calls answered with a 5xx (half after the call took effect).
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// Share of calls throttled.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Share of deployments whose first job fails (a repair's restart succeeds).
    #[arg(long, default_value_t = 0.0)]
    job_fail_rate: f64,
    /// Share of deploy tickets that finish without success.
    #[arg(long, default_value_t = 0.0)]
    ticket_fail_rate: f64,
    /// How long a deploy ticket runs.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    deploy_delay: Duration,
    /// How long a job is STARTING.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    start_delay: Duration,
    /// How long a job is CANCELLING.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    stop_delay: Duration,
    /// Variables every namespace has from the start (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    variables: Vec<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    for (name, rate) in [
        ("fail-rate", a.fail_rate),
        ("throttle-rate", a.throttle_rate),
        ("job-fail-rate", a.job_fail_rate),
        ("ticket-fail-rate", a.ticket_fail_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            eprintln!("error: --{name} must be between 0 and 1");
            std::process::exit(2);
        }
    }
    let listener = tokio::net::TcpListener::bind(&a.listen).await?;
    println!("vvp-emulator listening on {}", listener.local_addr()?);
    let cfg = Config {
        access_key_id: a.access_key_id,
        access_key_secret: a.access_key_secret,
        seed: a.seed,
        latency: a.latency,
        fail_rate: a.fail_rate,
        throttle_rate: a.throttle_rate,
        job_fail_rate: a.job_fail_rate,
        ticket_fail_rate: a.ticket_fail_rate,
        deploy_delay: a.deploy_delay,
        start_delay: a.start_delay,
        stop_delay: a.stop_delay,
        variables: a.variables,
    };
    tokio::select! {
        r = serve(cfg, listener) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
