//! The pages and their JSON: each handler makes one context value from the last
//! refresh, and answers it as HTML (a minijinja template, escaped) or, for
//! `Accept: application/json`, as JSON. Pipelines, a pipeline, lineage, applies, an
//! apply, `/metrics` and `/healthz`. Only what a plan may show is shown: settings, SQL
//! and DDL hold secrets only as `${secret_values...}` references.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use serde_json::{Value, json};

use super::{Shared, Source};
use flinkform_core::state::{PipelineState, Revision};
use flinkform_core::watch::lineage::graph;
use flinkform_core::watch::metrics::{ServerStats, render};
use flinkform_core::watch::{EnvSnapshot, Health};

/// How long a pipeline's job list read from VVP is shown before it is read again.
const JOBS_FOR: Duration = Duration::from_secs(15);

struct App {
    shared: Arc<Shared>,
    pages: Environment<'static>,
    jobs: std::sync::Mutex<HashMap<(String, String), (Instant, Value)>>,
}

type Ctx = State<Arc<App>>;

/// The built-in page templates (auto-escaped: their names end in `.html`).
fn templates() -> Environment<'static> {
    let mut pages = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("pages/base.html")),
        ("macros.html", include_str!("pages/macros.html")),
        ("pipelines.html", include_str!("pages/pipelines.html")),
        ("pipeline.html", include_str!("pages/pipeline.html")),
        ("lineage.html", include_str!("pages/lineage.html")),
        ("applies.html", include_str!("pages/applies.html")),
        ("apply.html", include_str!("pages/apply.html")),
        ("missing.html", include_str!("pages/missing.html")),
    ] {
        pages.add_template(name, text).expect("the built-in pages parse");
    }
    pages
}

/// The routes over `shared`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let pages = templates();
    let app = Arc::new(App { shared, pages, jobs: Default::default() });
    Router::new()
        .route("/", get(pipelines))
        .route("/env/{env}/pipelines/{name}", get(pipeline))
        .route("/lineage", get(lineage))
        .route("/applies", get(applies))
        .route("/env/{env}/applies/{id}", get(apply))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/style.css", get(style))
        .fallback(missing)
        .with_state(app)
}

/// Whether the client asked for JSON.
fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

/// `ctx` as JSON or as the page `template`.
fn answer(app: &App, headers: &HeaderMap, status: StatusCode, template: &str, ctx: Value) -> Response {
    if wants_json(headers) {
        return (status, axum::Json(ctx)).into_response();
    }
    let page =
        app.pages.get_template(template).and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))));
    match page {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!("page {template}: {e:#}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("the page {template} could not be made")).into_response()
        }
    }
}

fn refreshed(s: &EnvSnapshot) -> Value {
    json!({"env": s.env, "at_ms": s.at_ms, "took_ms": s.took_ms, "vvp_error": s.live.as_ref().err(), "error": s.error})
}

fn health_json(h: &Health) -> Value {
    json!({
        "job": h.job.name(),
        "job_said": h.job.to_string(),
        "job_id": h.job_id,
        "restarts": h.restarts,
        "drift": h.drift,
        "should_run": h.should_run,
        "last_change": h.last_change,
    })
}

/// The shown form of a pipeline's row: what it reads and writes, and how it is.
fn row(s: &EnvSnapshot, src: &Source, name: &str, p: &PipelineState) -> Value {
    let h = s.health(name, p);
    json!({
        "env": s.env,
        "name": name,
        "url": pipeline_url(&s.env, name),
        "topic": p.topic,
        "sinks": p.sinks().map(|v| v.sink.label()).collect::<Vec<_>>(),
        "tags": src.tags.get(name).cloned().unwrap_or_default(),
        "status": p.status.name(),
        "intent": p.intent.name(),
        "health": health_json(&h),
        "revision": p.history.last().map(revision_json),
        "error": p.error,
    })
}

fn revision_json(r: &Revision) -> Value {
    json!({"serial": r.serial, "action": r.action.name(), "stamp": r.stamp, "sql_digest": r.sql_digest, "ddl_digest": r.ddl_digest})
}

fn source<'a>(app: &'a App, env: &str) -> Option<(&'a Source, Arc<EnvSnapshot>)> {
    let i = app.shared.sources.iter().position(|s| s.env == env)?;
    Some((&app.shared.sources[i], app.shared.snapshots().get(i)?.clone()))
}

async fn pipelines(State(app): Ctx, headers: HeaderMap) -> Response {
    app.shared.count("pipelines");
    let snaps = app.shared.snapshots();
    let mut rows = Vec::new();
    for (s, src) in snaps.iter().zip(&app.shared.sources) {
        rows.extend(s.pipelines().map(|(n, p)| row(s, src, n, p)));
    }
    let ctx = json!({"page": "pipelines", "pipelines": rows, "environments": snaps.iter().map(|s| refreshed(s)).collect::<Vec<_>>()});
    answer(&app, &headers, StatusCode::OK, "pipelines.html", ctx)
}

#[derive(serde::Deserialize)]
struct DiffQuery {
    from: Option<u64>,
    to: Option<u64>,
}

async fn pipeline(
    State(app): Ctx,
    headers: HeaderMap,
    Path((env, name)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Response {
    app.shared.count("pipeline");
    let Some((src, snap)) = source(&app, &env) else {
        return not_found(&app, &headers, &format!("no environment `{env}`"));
    };
    let Some(p) = snap.pipelines().find(|(n, _)| **n == name).map(|(_, p)| p.clone()) else {
        return not_found(&app, &headers, &format!("no pipeline `{name}` in {env}"));
    };
    let h = &p.history;
    let to = q.to.and_then(|s| h.iter().find(|r| r.serial == s)).or(h.last());
    let from = q.from.and_then(|s| h.iter().find(|r| r.serial == s)).or_else(|| h.len().checked_sub(2).map(|i| &h[i]));
    let diff = match (from, to) {
        (Some(a), Some(b)) => revision_diff(src, &name, a, b).await,
        _ => Value::Null,
    };
    let jobs = jobs(&app, src, &env, &name, &p).await;
    let columns: Vec<Value> = p
        .sinks()
        .flat_map(|s| {
            let sink = s.sink.label();
            s.columns.iter().map(move |c| json!({"sink": sink, "name": c.name, "sink_name": c.sink_name, "type": c.ty, "sink_type": c.hologres, "nullable": c.nullable, "evidence": c.evidence}))
        })
        .collect();
    let ctx = json!({
        "page": "pipeline",
        "pipeline": row(&snap, src, &name, &p),
        "refreshed": refreshed(&snap),
        "file": p.file,
        "settings": p.settings,
        "columns": columns,
        "sql": p.sql,
        "ddl": p.all_ddl(),
        "deployment": p.deployment,
        "remote": p.remote,
        "revisions": h.iter().rev().map(revision_json).collect::<Vec<_>>(),
        "diff": diff,
        "jobs": jobs,
        "diagnosis": snap.diagnosis.get(&name),
    });
    answer(&app, &headers, StatusCode::OK, "pipeline.html", ctx)
}

/// The SQL and DDL diff between revisions `a` and `b`, from the texts kept by digest.
async fn revision_diff(src: &Source, name: &str, a: &Revision, b: &Revision) -> Value {
    let digests = [a.sql_digest.clone(), b.sql_digest.clone(), a.ddl_digest.clone(), b.ddl_digest.clone()];
    let store = src.store.clone();
    let kept =
        tokio::task::spawn_blocking(move || store.texts(&digests.iter().map(String::as_str).collect::<Vec<_>>()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| flinkform_core::diag::chain(&e)));
    let texts = match kept {
        Ok(t) => t,
        Err(e) => return json!({"from": a.serial, "to": b.serial, "error": e}),
    };
    let mut missing = Vec::new();
    let mut lines = Vec::new();
    for (label, x, y) in [("flink.sql", &a.sql_digest, &b.sql_digest), ("ddl.sql", &a.ddl_digest, &b.ddl_digest)] {
        match (texts.get(x), texts.get(y)) {
            (Some(old), Some(new)) => {
                let d = flinkform_core::view::unified(old, new, &format!("{name}/{label}"));
                lines.extend(d.lines().map(|l| {
                    let kind = match l.as_bytes().first() {
                        Some(b'@') => "hunk",
                        _ if l.starts_with("+++") || l.starts_with("---") => "file",
                        Some(b'+') => "add",
                        Some(b'-') => "del",
                        _ => "ctx",
                    };
                    json!({"kind": kind, "text": l})
                }));
            }
            _ => missing.push(label),
        }
    }
    json!({"from": a.serial, "to": b.serial, "lines": lines, "missing": missing})
}

/// The pipeline's jobs on VVP, newest first, read at most every [`JOBS_FOR`].
async fn jobs(app: &App, src: &Source, env: &str, name: &str, p: &PipelineState) -> Value {
    let Some(dep) = &p.remote.deployment_id else { return json!([]) };
    let key = (env.to_string(), name.to_string());
    if let Some((at, v)) = app.jobs.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
        && at.elapsed() < JOBS_FOR
    {
        return v.clone();
    }
    let v = match src.client.deployment_jobs(dep).await {
        Ok(jobs) => Value::Array(
            jobs.iter()
                .map(|j| {
                    json!({
                        "id": j.id,
                        "state": j.state.to_string(),
                        "failed": matches!(j.state, vvp_api::JobState::Failed(_)),
                        "restore": j.restore.as_ref().map(|r| r.name()),
                        "savepoint": j.savepoint,
                        "restarts": j.restarts,
                        "started": j.started.map(time),
                        "ended": j.ended.map(time),
                    })
                })
                .collect(),
        ),
        Err(e) => json!({"error": flinkform_core::diag::chain(&e)}),
    };
    app.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (Instant::now(), v.clone()));
    v
}

/// Unix seconds as RFC 3339 (VVP's times are seconds or milliseconds).
fn time(t: i64) -> String {
    let secs = if t > 100_000_000_000 { t / 1000 } else { t };
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

async fn lineage(State(app): Ctx, headers: HeaderMap) -> Response {
    app.shared.count("lineage");
    let envs: Vec<Value> = app
        .shared
        .snapshots()
        .iter()
        .map(|s| {
            let g = graph(s.state.as_ref());
            let env = s.env.clone();
            let svg = g.svg(&|p| pipeline_url(&env, p));
            json!({"env": s.env, "graph": g, "svg": svg})
        })
        .collect();
    answer(&app, &headers, StatusCode::OK, "lineage.html", json!({"page": "lineage", "environments": envs}))
}

/// The address of pipeline `name`'s page in `env`.
fn pipeline_url(env: &str, name: &str) -> String {
    format!("/env/{}/pipelines/{}", url_part(env), url_part(name))
}

/// A path segment percent-encoded.
fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn applies(State(app): Ctx, headers: HeaderMap) -> Response {
    app.shared.count("applies");
    let mut rows: Vec<Value> = Vec::new();
    for s in app.shared.snapshots().iter() {
        rows.extend(s.applies.iter().map(|a| {
            let url = format!("/env/{}/applies/{}", url_part(&s.env), url_part(&a.id));
            json!({"env": s.env, "id": a.id, "url": url, "stamp": a.stamp, "outcome": a.outcome.name(), "duration_s": a.duration_ms as f64 / 1000.0, "changes": a.changes, "said": a.said})
        }));
    }
    rows.sort_by(|a, b| b["stamp"]["at"].as_str().cmp(&a["stamp"]["at"].as_str()));
    answer(&app, &headers, StatusCode::OK, "applies.html", json!({"page": "applies", "applies": rows}))
}

async fn apply(State(app): Ctx, headers: HeaderMap, Path((env, id)): Path<(String, String)>) -> Response {
    app.shared.count("apply");
    let Some((_, snap)) = source(&app, &env) else {
        return not_found(&app, &headers, &format!("no environment `{env}`"));
    };
    let Some(a) = snap.applies.iter().find(|a| a.id == id) else {
        return not_found(&app, &headers, &format!("no apply `{id}` in {env}"));
    };
    let mut shown = json!(a);
    for (c, v) in a.changes.iter().zip(shown["changes"].as_array_mut().into_iter().flatten()) {
        v["url"] = pipeline_url(&env, &c.pipeline).into();
    }
    let ctx = json!({"page": "applies", "env": env, "apply": shown, "duration_s": a.duration_ms as f64 / 1000.0});
    answer(&app, &headers, StatusCode::OK, "apply.html", ctx)
}

async fn metrics(State(app): Ctx) -> Response {
    app.shared.count("metrics");
    let snaps = app.shared.snapshots();
    let counts = app.shared.alert_stats.counts();
    let stats = ServerStats {
        version: env!("CARGO_PKG_VERSION").to_string(),
        requests: app
            .shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        alerts_sent: counts.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
        alerts_failed: counts.iter().map(|(k, v)| (k.clone(), v.1)).collect(),
        resident_bytes: resident_bytes(),
        start_seconds: app.shared.started.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
    };
    let parse = |t: &str| {
        humantime::parse_rfc3339(t).ok()?.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64)
    };
    let text = render(&snaps.iter().map(|s| &**s).collect::<Vec<_>>(), &stats, &parse);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The process's resident memory (Linux: `/proc/self/statm`, pages of 4 KiB).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    statm.split_whitespace().nth(1)?.parse::<u64>().ok().map(|pages| pages * 4096)
}

async fn healthz(State(app): Ctx) -> Response {
    let snaps = app.shared.snapshots();
    let ok = app.shared.refreshes.load(std::sync::atomic::Ordering::SeqCst) > 0;
    let body = json!({"refreshed": ok, "environments": snaps.iter().map(|s| refreshed(s)).collect::<Vec<_>>()});
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, axum::Json(body)).into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("pages/style.css")).into_response()
}

async fn missing(State(app): Ctx, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    not_found(&app, &headers, &format!("no page at {}", uri.path()))
}

fn not_found(app: &App, headers: &HeaderMap, what: &str) -> Response {
    answer(app, headers, StatusCode::NOT_FOUND, "missing.html", json!({"page": "missing", "error": what}))
}

#[cfg(test)]
mod tests {
    use super::templates;
    use serde_json::json;

    #[test]
    fn what_a_page_shows_is_escaped_and_only_web_addresses_are_linked() {
        let stamp = |url: &str| json!({"at": "t", "review": {"name": "<script>x</script>", "url": url}});
        let ctx = |url: &str| json!({"page": "applies", "applies": [{"env": "e", "id": "i", "url": "/a", "stamp": stamp(url), "outcome": "failed", "duration_s": 1, "changes": [], "said": ""}]});
        let page = |url: &str| {
            templates()
                .get_template("applies.html")
                .unwrap()
                .render(minijinja::Value::from(minijinja::value::Serde(ctx(url))))
                .unwrap()
        };
        let bad = page("javascript:alert(1)");
        assert!(!bad.contains("<script>") && bad.contains("&lt;script&gt;"), "{bad}");
        assert!(!bad.contains("javascript:"), "{bad}");
        let good = page("https://github.com/o/r/pull/7");
        assert!(good.contains("<a href=\"https:&#x2f;&#x2f;github.com&#x2f;o&#x2f;r&#x2f;pull&#x2f;7\">"), "{good}");
    }
}
