//! `/metrics` in Prometheus' text exposition format (version 0.0.4): per environment
//! and pipeline the job's state, restarts, drift and last apply, per environment the
//! last apply and the refresh, and the server's own counters. Names and labels follow
//! Prometheus' naming conventions: a `flinkform_` prefix, base units (seconds, bytes),
//! `_total` for counters, `_info` for a constant 1 carrying labels.

use std::collections::HashMap;
use std::fmt::Write;

use super::{EnvSnapshot, Health, JobView};
use crate::state::{ApplyOutcome, PipelineState};

/// What the server counts of itself.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// flinkform's version.
    pub version: String,
    /// HTTP requests served, by route.
    pub requests: Vec<(String, u64)>,
    /// Alerts posted and failed, by channel.
    pub alerts_sent: Vec<(String, u64)>,
    /// Alerts that failed after every retry, by channel.
    pub alerts_failed: Vec<(String, u64)>,
    /// Resident memory of the process (bytes), when known.
    pub resident_bytes: Option<u64>,
    /// When the server started (Unix seconds).
    pub start_seconds: f64,
}

/// One metric family being written: HELP and TYPE once, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// A label value escaped as the format asks: backslash, double quote and line feed.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

fn seconds(rfc3339_ms: Option<u64>) -> Option<f64> {
    rfc3339_ms.map(|ms| ms as f64 / 1000.0)
}

/// A pipeline's row: environment, name, record and health.
type Row<'a> = (&'a str, &'a str, &'a PipelineState, Health);

/// A family: its name, type, help and the value of a row (none: no sample).
type Spec<'f, T> = (&'static str, &'static str, &'static str, &'f dyn Fn(&T) -> Option<f64>);

/// A family with one sample per pipeline that has a value.
fn per_pipeline(
    out: &mut String,
    rows: &[Row<'_>],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&Row<'_>) -> Option<f64>,
) {
    let mut f = family(out, name, kind, help);
    for r in rows {
        if let Some(v) = value(r) {
            f.sample(name, &[("env", r.0), ("pipeline", r.1)], v);
        }
    }
}

/// A family with one sample per environment that has a value.
fn per_env(
    out: &mut String,
    envs: &[&EnvSnapshot],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&EnvSnapshot) -> Option<f64>,
) {
    let mut f = family(out, name, kind, help);
    for e in envs {
        if let Some(v) = value(e) {
            f.sample(name, &[("env", &e.env)], v);
        }
    }
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// The exposition of `envs` and the server's `stats`. `parse_time` reads an RFC 3339
/// time as Unix milliseconds (the caller's clock library; the core reads no clock).
pub fn render<'e>(
    envs: &'e [&'e EnvSnapshot],
    stats: &ServerStats,
    parse_time: &dyn Fn(&str) -> Option<u64>,
) -> String {
    let mut out = String::new();
    // Each pipeline's health once: every family below reads it.
    let rows: Vec<Row<'_>> = envs
        .iter()
        .flat_map(|e| e.pipelines().map(move |(n, p)| (e.env.as_str(), n.as_str(), p, e.health(n, p))))
        .collect();
    let mut f = family(&mut out, "flinkform_pipeline_info", "gauge", "A recorded pipeline: its topic and status.");
    for (env, name, p, _) in &rows {
        let labels = [("env", *env), ("pipeline", name), ("topic", &p.topic), ("status", p.status.name())];
        f.sample("flinkform_pipeline_info", &labels, 1.0);
    }
    let mut f = family(&mut out, "flinkform_job_state", "gauge", "1 for the state VVP shows the pipeline's job in.");
    for (env, name, _, h) in &rows {
        for state in JobView::NAMES {
            f.sample(
                "flinkform_job_state",
                &[("env", env), ("pipeline", name), ("state", state)],
                flag(h.job.name() == state),
            );
        }
    }
    let help = "1 when the pipeline's job is RUNNING.";
    per_pipeline(&mut out, &rows, "flinkform_job_running", "gauge", help, |r| Some(flag(r.3.job == JobView::Running)));
    let help = "1 when the pipeline is applied and not stopped with flinkform stop.";
    per_pipeline(&mut out, &rows, "flinkform_job_should_run", "gauge", help, |r| Some(flag(r.3.should_run)));
    let help = "Times Flink restarted the pipeline's current job (VVP's observedFlinkJobRestarts).";
    per_pipeline(&mut out, &rows, "flinkform_job_restarts_total", "counter", help, |r| r.3.restarts.map(|n| n as f64));
    let help = "1 when VVP no longer shows what was applied.";
    per_pipeline(&mut out, &rows, "flinkform_pipeline_drift", "gauge", help, |r| Some(flag(!r.3.drift.is_empty())));
    let help = "When the pipeline's last revision was applied (time() minus this is the time since).";
    let name = "flinkform_pipeline_last_apply_timestamp_seconds";
    per_pipeline(&mut out, &rows, name, "gauge", help, |r| {
        seconds(r.2.history.last().and_then(|v| parse_time(&v.stamp.at)))
    });
    // The last apply that named each pipeline, newest first.
    let mut last: HashMap<(&str, &str), (bool, u64)> = HashMap::new();
    for e in envs {
        for a in &e.applies {
            for c in &a.changes {
                last.entry((e.env.as_str(), c.pipeline.as_str())).or_insert((c.error.is_none(), a.duration_ms));
            }
        }
    }
    per_pipeline(
        &mut out,
        &rows,
        "flinkform_pipeline_last_apply_success",
        "gauge",
        "1 when the last apply that changed the pipeline succeeded for it.",
        |r| last.get(&(r.0, r.1)).map(|(ok, _)| flag(*ok)),
    );
    per_pipeline(
        &mut out,
        &rows,
        "flinkform_pipeline_last_apply_duration_seconds",
        "gauge",
        "How long the last apply that changed the pipeline took.",
        |r| last.get(&(r.0, r.1)).map(|(_, ms)| *ms as f64 / 1000.0),
    );
    env_families(&mut out, envs, parse_time);
    server_families(&mut out, stats);
    out
}

fn env_families(out: &mut String, envs: &[&EnvSnapshot], parse_time: &dyn Fn(&str) -> Option<u64>) {
    let families: [Spec<'_, EnvSnapshot>; 7] = [
        ("flinkform_pipelines", "gauge", "Recorded pipelines of the environment.", &|e| {
            Some(e.pipelines().count() as f64)
        }),
        (
            "flinkform_last_apply_success",
            "gauge",
            "1 when the environment's last apply carried out every change.",
            &|e| e.applies.first().map(|a| flag(a.outcome == ApplyOutcome::Applied)),
        ),
        ("flinkform_last_apply_duration_seconds", "gauge", "How long the environment's last apply took.", &|e| {
            e.applies.first().map(|a| a.duration_ms as f64 / 1000.0)
        }),
        ("flinkform_last_apply_timestamp_seconds", "gauge", "When the environment's last apply started.", &|e| {
            seconds(e.applies.first().and_then(|a| parse_time(&a.stamp.at)))
        }),
        ("flinkform_refresh_success", "gauge", "1 when the last refresh read the state and reached VVP.", &|e| {
            Some(flag(e.live.is_ok() && e.error.is_none()))
        }),
        ("flinkform_refresh_timestamp_seconds", "gauge", "When the last refresh ended.", &|e| {
            Some(e.at_ms as f64 / 1000.0)
        }),
        ("flinkform_refresh_duration_seconds", "gauge", "How long the last refresh took.", &|e| {
            Some(e.took_ms as f64 / 1000.0)
        }),
    ];
    for (name, kind, help, value) in families {
        per_env(out, envs, name, kind, help, value);
    }
}
fn server_families(out: &mut String, stats: &ServerStats) {
    let mut f = family(out, "flinkform_build_info", "gauge", "The flinkform build serving.");
    f.sample("flinkform_build_info", &[("version", &stats.version)], 1.0);
    let mut f = family(out, "flinkform_serve_start_time_seconds", "gauge", "When the server started.");
    f.sample("flinkform_serve_start_time_seconds", &[], stats.start_seconds);
    let mut f = family(out, "flinkform_serve_requests_total", "counter", "HTTP requests served, by route.");
    for (route, n) in &stats.requests {
        f.sample("flinkform_serve_requests_total", &[("route", route)], *n as f64);
    }
    let mut f = family(out, "flinkform_alerts_sent_total", "counter", "Alerts a channel accepted.");
    for (ch, n) in &stats.alerts_sent {
        f.sample("flinkform_alerts_sent_total", &[("channel", ch)], *n as f64);
    }
    let mut f = family(out, "flinkform_alerts_failed_total", "counter", "Alerts a channel refused after every retry.");
    for (ch, n) in &stats.alerts_failed {
        f.sample("flinkform_alerts_failed_total", &[("channel", ch)], *n as f64);
    }
    if let Some(b) = stats.resident_bytes {
        let mut f = family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        f.sample("process_resident_memory_bytes", &[], b as f64);
    }
}
