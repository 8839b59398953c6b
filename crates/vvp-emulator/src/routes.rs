//! The API: answers in the real envelopes, one route per operation.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use rand::RngExt;
use serde_json::{Value, json};

use vvp_wire::wire::{
    Deployment, DeploymentDraft, DraftDeployParams, DraftValidateParams, Savepoint, Ticket, Variable,
};

use crate::NotFound;
use crate::envelope::{Answer, fail, gateway, ok, page, paged};
use crate::world::{Scope, TicketRec, World};

impl World {
    /// The answer for a draft, deployment, job or ticket that does not exist, in the
    /// configured style ([`NotFound`]); `what` names it.
    pub(crate) fn gone(&self, legacy_code: &str, what: String) -> Answer {
        match self.cfg.not_found {
            NotFound::Code990301 => fail(404, "990301", format!("文件不存在: {what}")),
            NotFound::Legacy => fail(404, legacy_code, format!("{what} not found")),
        }
    }
}

/// Percent-decodes a path segment or query part (`+` is a space in queries).
pub(crate) fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// One request as the operations see it: method, scope, path segments (raw and
/// percent-decoded), query and body.
pub(crate) struct Req<'a> {
    pub(crate) method: &'a str,
    pub(crate) scope: Scope,
    pub(crate) rest: &'a [&'a str],
    seg: Vec<String>,
    query: &'a [(String, String)],
    body: &'a [u8],
}

impl Req<'_> {
    pub(crate) fn q(&self, k: &str) -> Option<String> {
        self.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    /// `pageIndex` (from 1) and `pageSize` (1 to 100, 10 when absent).
    pub(crate) fn paging(&self) -> (usize, usize) {
        let i = self.q("pageIndex").and_then(|v| v.parse().ok()).unwrap_or(1usize);
        let s = self.q("pageSize").and_then(|v| v.parse().ok()).unwrap_or(10usize).clamp(1, 100);
        (i, s)
    }

    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Answer> {
        serde_json::from_slice(self.body)
            .map_err(|e| fail(400, "InvalidParameter", format!("the request body is invalid: {e}")))
    }

    pub(crate) fn seg(&self) -> Vec<&str> {
        self.seg.iter().map(String::as_str).collect()
    }
}

/// The request body as `$t`, or the answer to an invalid one.
macro_rules! parse {
    ($req:ident, $t:ty) => {
        match $req.parse::<$t>() {
            Ok(v) => v,
            Err(answer) => return answer,
        }
    };
}

mod jobs;

pub(crate) fn no_such_api() -> Answer {
    gateway(
        StatusCode::NOT_FOUND,
        "InvalidApi.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}

pub(crate) fn live(status: &str) -> bool {
    matches!(status, "STARTING" | "RUNNING" | "CANCELLING")
}

impl World {
    /// Answers one API call (after the gateway's checks): the operation is chosen by
    /// the path's first segment, then by method and the rest of the path.
    pub(crate) fn route(
        &mut self,
        method: &Method,
        scope: Scope,
        rest: &[&str],
        query: &[(String, String)],
        body: &[u8],
    ) -> Answer {
        let seg = rest.iter().map(|s| decode(s, false)).collect();
        let req = Req { method: method.as_str(), scope, rest, seg, query, body };
        match rest.first().copied() {
            Some("deployment-drafts") => self.drafts(req),
            Some("deployments") => self.deployments(req),
            Some("jobs%3Astart" | "jobs") => self.jobs(req),
            Some("variables") => self.variables(req),
            Some("savepoints") => self.list_savepoints(&req),
            _ => no_such_api(),
        }
    }

    fn drafts(&mut self, req: Req<'_>) -> Answer {
        let seg = req.seg();
        let scope = req.scope.clone();
        match (req.method, req.rest, seg.as_slice()) {
            ("GET", ["deployment-drafts"], _) => {
                let items: Vec<DeploymentDraft> =
                    self.drafts.values().filter(|(s, _)| *s == scope).map(|(_, d)| d.clone()).collect();
                let (i, s) = req.paging();
                page(items, i, s)
            }
            ("POST", ["deployment-drafts"], _) => {
                let mut d = parse!(req, DeploymentDraft);
                if d.name.as_deref().unwrap_or_default().is_empty() {
                    return fail(400, "InvalidParameter", "name is required");
                }
                let id = self.id("draft");
                d.deployment_draft_id = Some(id.clone());
                d.namespace = Some(scope.namespace.clone());
                d.workspace = Some(scope.workspace.clone());
                self.drafts.insert(id, (scope, d.clone()));
                ok(d)
            }
            ("POST", ["deployment-drafts", "async-deploy"], _)
            | ("POST", ["deployment-drafts", "async-validate"], _) => {
                let validate = req.rest[1] == "async-validate";
                let draft_id = if validate {
                    parse!(req, DraftValidateParams).deployment_draft_id
                } else {
                    parse!(req, DraftDeployParams).deployment_draft_id
                };
                if self.drafts.get(&draft_id).is_none_or(|(s, _)| *s != scope) {
                    return self.gone("DraftNotFound", format!("deployment draft {draft_id}"));
                }
                let fails = !validate && self.rng.random_bool(self.cfg.ticket_fail_rate);
                let ticket = self.id("ticket");
                let name = self.drafts[&draft_id].1.name.clone().unwrap_or_default();
                let ready_at = Instant::now() + self.step(self.cfg.deploy_delay, &name);
                self.tickets
                    .insert(ticket.clone(), TicketRec { scope, draft_id, validate, ready_at, fails, result: None });
                ok(Ticket { ticket_id: ticket })
            }
            ("GET", ["deployment-drafts", "tickets", _, kind], [_, _, t, _])
                if *kind == "async-deploy" || *kind == "async-validate" =>
            {
                match self.tickets.get(*t).filter(|r| r.scope == scope && r.validate == (*kind == "async-validate")) {
                    None => self.gone("TicketNotFound", format!("ticket {t}")),
                    Some(r) => match &r.result {
                        Some(v) => ok(v.clone()),
                        None => ok(json!({ "ticketStatus": "EXECUTING", "success": false })),
                    },
                }
            }
            (m, ["deployment-drafts", _], [_, id]) => self.draft(&req, m, id),
            _ => no_such_api(),
        }
    }

    fn draft(&mut self, req: &Req<'_>, m: &str, id: &str) -> Answer {
        let Some((_, d)) = self.drafts.get(id).filter(|(s, _)| *s == req.scope) else {
            return self.gone("DraftNotFound", format!("deployment draft {id}"));
        };
        match m {
            "GET" => ok(d.clone()),
            "DELETE" => {
                self.drafts.remove(id);
                ok(Value::Null)
            }
            "PATCH" => {
                let patch = parse!(req, DeploymentDraft);
                let d = &mut self.drafts.get_mut(id).expect("draft").1;
                macro_rules! set {
                    ($($f:ident),*) => { $( if patch.$f.is_some() { d.$f = patch.$f; } )* };
                }
                set!(name, artifact, engine_version, labels, referenced_deployment_id);
                ok(d.clone())
            }
            _ => fail(405, "MethodNotAllowed", "method not allowed"),
        }
    }

    fn deployments(&mut self, req: Req<'_>) -> Answer {
        let seg = req.seg();
        let scope = req.scope.clone();
        match (req.method, req.rest, seg.as_slice()) {
            // ListDeployments (API reference, https://help.aliyun.com/document_detail/453544.html):
            // filters `name`, `labelKey` with `labelValueArray` (values separated by `;`),
            // `executionMode`; pages of `pageSize` (1 to 100, 10 when absent) from
            // `pageIndex` 1. Its other filters (`status`, the latest job's; `creator`,
            // `modifier`; `sortName`) are not modelled, and refused, so that no client
            // comes to rely on an answer the emulator would get wrong.
            ("GET", ["deployments"], _) => {
                if let Some(k) = ["status", "creator", "modifier", "sortName"].iter().find(|k| req.q(k).is_some()) {
                    return fail(400, "InvalidParameter", format!("the emulator does not model the `{k}` filter"));
                }
                let label = req.q("labelKey");
                let values: Option<Vec<String>> =
                    req.q("labelValueArray").map(|v| v.split(';').map(str::to_string).collect());
                let name = req.q("name");
                let mode = req.q("executionMode");
                let ids: Vec<&str> = self
                    .deployments
                    .iter()
                    .filter(|(_, (s, d))| {
                        *s == scope
                            && name.as_ref().is_none_or(|n| d.name.as_ref() == Some(n))
                            && mode.as_ref().is_none_or(|m| d.execution_mode.as_ref() == Some(m))
                            && label.as_ref().is_none_or(|k| {
                                d.labels
                                    .as_ref()
                                    .and_then(|l| l.get(k))
                                    .is_some_and(|v| values.as_ref().is_none_or(|vs| vs.contains(v)))
                            })
                    })
                    .map(|(id, _)| id.as_str())
                    .collect();
                let (i, s) = req.paging();
                let total = ids.len();
                let shown: Vec<&str> = ids.into_iter().skip((i.max(1) - 1) * s).take(s).collect();
                paged(self.deployment_views(&shown), i, s, total)
            }
            ("GET", ["deployments", "name", _], [_, _, name]) => {
                let items: Vec<Deployment> = self
                    .deployments
                    .iter()
                    .filter(|(_, (s, d))| *s == scope && d.name.as_deref() == Some(*name))
                    .map(|(id, _)| self.deployment_view(id))
                    .collect();
                ok(items)
            }
            ("GET", ["deployments", _, "jobs", _, "job-diagnoses", "lite"], [_, dep, _, job, _, _]) => {
                self.diagnosis(&scope, dep, job)
            }
            (m, ["deployments", _], [_, id]) => self.deployment(&req, m, id),
            _ => no_such_api(),
        }
    }

    fn deployment(&mut self, req: &Req<'_>, m: &str, id: &str) -> Answer {
        if self.deployments.get(id).is_none_or(|(s, _)| *s != req.scope) {
            return self.gone("DeploymentNotFound", format!("deployment {id}"));
        }
        match m {
            "GET" => ok(self.deployment_view(id)),
            "PUT" => {
                let patch = parse!(req, Deployment);
                let d = &mut self.deployments.get_mut(id).expect("deployment").1;
                if patch.name.is_some_and(|n| Some(&n) != d.name.as_ref()) {
                    return fail(400, "InvalidParameter", "a deployment cannot be renamed");
                }
                macro_rules! set {
                    ($($f:ident),*) => { $( if patch.$f.is_some() { d.$f = patch.$f; } )* };
                }
                set!(artifact, engine_version, deployment_target, streaming_resource_setting, flink_conf, labels);
                ok(self.deployment_view(id))
            }
            "DELETE" => {
                if self.jobs.values().any(|j| j.job.deployment_id == id && live(&j.job.status.current_job_status)) {
                    return fail(
                        400,
                        "DeploymentHasRunningJob",
                        format!("deployment {id} has a job that is not stopped; stop it first"),
                    );
                }
                self.deployments.remove(id);
                self.jobs.retain(|_, j| j.job.deployment_id != id);
                ok(Value::Null)
            }
            _ => fail(405, "MethodNotAllowed", "method not allowed"),
        }
    }

    /// ListSavepoints: of a deployment, and of one of its jobs when `jobId` is given.
    fn list_savepoints(&self, req: &Req<'_>) -> Answer {
        if req.method != "GET" || req.rest.len() != 1 {
            return no_such_api();
        }
        let Some(dep) = req.q("deploymentId") else {
            return fail(400, "MissingParameter", "deploymentId is required");
        };
        if self.deployments.get(&dep).is_none_or(|(s, _)| *s != req.scope) {
            return self.gone("DeploymentNotFound", format!("deployment {dep}"));
        }
        let job = req.q("jobId");
        let items: Vec<Savepoint> = self
            .savepoints
            .get(&dep)
            .into_iter()
            .flatten()
            .filter(|s| job.is_none() || s.job_id == job)
            .cloned()
            .collect();
        let (i, s) = req.paging();
        page(items, i, s)
    }

    fn variables(&mut self, req: Req<'_>) -> Answer {
        let seg = req.seg();
        let scope = req.scope.clone();
        match (req.method, req.rest, seg.as_slice()) {
            ("GET", ["variables"], _) => {
                let preset = self.cfg.variables.iter().map(|n| Variable {
                    name: n.clone(),
                    kind: Some("Encrypted".into()),
                    ..Default::default()
                });
                let own = self.variables.get(&scope).into_iter().flat_map(|m| m.values()).map(|v| Variable {
                    value: (v.kind.as_deref() == Some("Clear")).then(|| v.value.clone()).flatten(),
                    ..v.clone()
                });
                let items: Vec<Variable> = preset.chain(own).collect();
                let (i, s) = req.paging();
                page(items, i, s)
            }
            ("POST", ["variables"], _) => {
                let v = parse!(req, Variable);
                if v.name.is_empty() || v.value.is_none() || !matches!(v.kind.as_deref(), Some("Clear" | "Encrypted")) {
                    return fail(400, "InvalidParameter", "name, value and kind (Clear or Encrypted) are required");
                }
                self.variables.entry(scope).or_default().insert(v.name.clone(), v.clone());
                ok(Variable { value: None, ..v })
            }
            ("DELETE", ["variables", _], [_, name]) => {
                self.variables.entry(scope).or_default().remove(*name);
                ok(Value::Null)
            }
            _ => no_such_api(),
        }
    }
}

pub(crate) type App = Arc<Mutex<World>>;

pub(crate) async fn handle(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = to_bytes(body, 16 << 20).await.unwrap_or_default();
    let latency = app.lock().expect("emulator state").cfg.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = {
        let mut w = app.lock().expect("emulator state");
        if parts.method == Method::GET && raw_path == STATS {
            return json_response(StatusCode::OK, &stats(&w), None);
        }
        if parts.method == Method::POST && raw_path == LATENCY {
            let set = query.iter().find(|(k, _)| k == "value").map(|(_, v)| humantime::parse_duration(v));
            return match set {
                Some(Ok(latency)) => {
                    w.cfg.latency = latency;
                    json_response(StatusCode::OK, &json!({ "latency_ms": latency.as_millis() as u64 }), None)
                }
                _ => json_response(StatusCode::BAD_REQUEST, &json!({ "error": "expected ?value=DURATION" }), None),
            };
        }
        *w.calls.entry(operation(&parts.method, &raw_path)).or_default() += 1;
        let a = answer(&mut w, &parts.method, &raw_path, &query, &headers, &body);
        match w.save() {
            Ok(()) => a,
            Err(e) => gateway(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &format!("state file: {e}")),
        }
    };
    json_response(answer.status, &answer.body, answer.retry_after_ms)
}

fn json_response(status: StatusCode, body: &Value, retry_after_ms: Option<u64>) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json;charset=utf-8"));
    if let Some(ms) = retry_after_ms {
        resp.headers_mut().insert("x-acs-retry-after", HeaderValue::from(ms));
    }
    resp
}

/// The emulator's own endpoint, outside VVP's `/api/`: the calls it received.
const STATS: &str = "/_emulator/stats";
/// The emulator's own endpoint that sets `--latency` from then on (`POST
/// /_emulator/latency?value=100ms`): a world built quickly, then asked slowly.
const LATENCY: &str = "/_emulator/latency";

/// `{"calls": {"POST /deployment-drafts": 3, ...}, "total": N, "steps": {"p1": 2400}}`:
/// every call received since the emulator started, answered or refused, by operation;
/// and the milliseconds of the steps (deploys, starts, stops, hot updates) drawn for
/// each deployment name.
fn stats(w: &World) -> Value {
    json!({ "calls": w.calls, "total": w.calls.values().sum::<u64>(), "steps": w.drawn })
}

/// A call's operation: its method and path below the namespace, ids as `{id}`.
fn operation(method: &Method, raw_path: &str) -> String {
    const WORDS: &[&str] = &[
        "deployment-drafts",
        "async-deploy",
        "async-validate",
        "tickets",
        "deployments",
        "jobs",
        "jobs%3Astart",
        "variables",
        "savepoints",
        "hot-updates",
        "job-diagnoses",
        "lite",
        "name",
    ];
    let word = |s: &str| {
        if WORDS.contains(&s) || s.is_empty() {
            return s.to_string();
        }
        // `{id}%3Astop`, `{id}%3AhotUpdate`: an id and an action in one segment.
        match s.split_once("%3A") {
            Some((_, action)) => format!("{{id}}%3A{action}"),
            None => "{id}".into(),
        }
    };
    let rest = raw_path.strip_prefix("/api/v2/namespaces/").and_then(|r| r.split_once('/')).map_or("", |(_, r)| r);
    let segs: Vec<String> = rest.split('/').map(word).collect();
    format!("{method} /{}", segs.join("/"))
}

pub(crate) fn answer(
    w: &mut World,
    method: &Method,
    raw_path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    if let Err(a) = w.verify(method.as_str(), raw_path, query, headers, body) {
        return a;
    }
    if headers.iter().any(|(k, v)| k == "x-acs-version" && v != "2022-07-18") {
        return gateway(StatusCode::BAD_REQUEST, "InvalidVersion", "Specified api version is not valid.");
    }
    let roll: f64 = w.rng.random();
    if roll < w.cfg.throttle_rate {
        let mut a = gateway(StatusCode::BAD_REQUEST, "Throttling.User", "Request was denied due to user flow control.");
        a.retry_after_ms = Some(50);
        return a;
    }
    let roll = roll - w.cfg.throttle_rate;
    let (fail_before, fail_after) =
        (roll < w.cfg.fail_rate / 2.0, roll >= w.cfg.fail_rate / 2.0 && roll < w.cfg.fail_rate);
    if fail_before {
        return gateway(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        );
    }
    let Some(rest) = raw_path.strip_prefix("/api/v2/namespaces/") else {
        return gateway(
            StatusCode::NOT_FOUND,
            "InvalidApi.NotFound",
            "Specified api is not found, please check your url and method.",
        );
    };
    let mut segs: Vec<&str> = rest.split('/').collect();
    let namespace = decode(segs.remove(0), false);
    let Some(workspace) = headers.iter().find(|(k, _)| k == "workspace").map(|(_, v)| v.clone()) else {
        return gateway(StatusCode::BAD_REQUEST, "MissingParameter.Workspace", "The workspace header is required.");
    };
    w.advance();
    let a = w.route(method, Scope { workspace, namespace }, &segs, query, body);
    if fail_after {
        // The call took effect, but its answer is lost: the client must converge anyway.
        return gateway(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        );
    }
    a
}
