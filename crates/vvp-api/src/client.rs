//! The VVP OpenAPI client: signed HTTPS (or HTTP for the emulator, when asked for
//! explicitly), the response envelope turned into one error type, retries with
//! exponential backoff and full jitter on transient failures only.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use vvp_wire::sign;

use crate::error::{ErrorKind, VvpError};
use vvp_wire::wire::{
    AsyncDraftDeployResult, AsyncDraftValidateResult, Deployment, DeploymentDraft, DraftDeployParams,
    DraftValidateParams, Envelope, GatewayError, HotUpdateJobResult, Job, JobDiagnosis, JobStartParameters, Savepoint,
    StopJobRequest, Ticket, Variable,
};

/// The API version every request names.
pub const API_VERSION: &str = "2022-07-18";

/// Access key credentials, from the environment as Alibaba's tools name them.
#[derive(Clone)]
pub struct Credentials {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID`.
    pub access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials given directly.
    pub fn new(access_key_id: String, access_key_secret: String, security_token: Option<String>) -> Credentials {
        Credentials { access_key_id, access_key_secret, security_token }
    }

    /// Reads ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and the optional
    /// ALIBABA_CLOUD_SECURITY_TOKEN. `None` when the key id or secret is missing.
    pub fn from_env() -> Option<Credentials> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: get("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
            access_key_secret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?,
            security_token: get("ALIBABA_CLOUD_SECURITY_TOKEN"),
        })
    }
}

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]`, signed as the `host` header.
    pub endpoint: String,
    /// `https`, or `http` for an emulator.
    pub protocol: String,
    /// Workspace id (the `workspace` header).
    pub workspace: String,
    /// Namespace (a path segment).
    pub namespace: String,
    /// The flinkform project's id, labelled on its deployments (`None`: unlabelled).
    pub project: Option<String>,
}

/// Whether sending `action` twice does what sending it once does: reads, PUT and DELETE,
/// stopping a job (a stopping job stays stopping) and validating (a second ticket).
/// Creating a draft, deploying one and starting a job are not: they are retried only
/// when the first send surely did not take effect, and otherwise left to the caller,
/// which looks before it tries again.
fn idempotent(action: &str, method: &Method) -> bool {
    *method != Method::POST || matches!(action, "StopJob" | "ValidateDeploymentDraftAsync")
}

/// Items per page of a list operation (the API's maximum).
const PAGE_SIZE: usize = 100;
/// Pages read of one list at most.
const MAX_PAGES: usize = 1000;

/// Retry and timeout settings.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (first try included) after a transient failure.
    pub attempts: u32,
    /// Attempts in all after throttling: VVP throttles per user, so other clients'
    /// load (other CI jobs) can throttle several calls in a row.
    pub throttled_attempts: u32,
    /// Attempts in all when the endpoint refuses the connection (nothing listens there:
    /// most often a wrong endpoint), so that a mistake fails in a moment, not minutes.
    pub refused_attempts: u32,
    /// Attempts in all when no answer comes within `request_timeout`: an endpoint that
    /// accepts connections and never answers fails a call in about this many timeouts.
    pub timed_out_attempts: u32,
    /// First backoff ceiling; doubles per attempt.
    pub base: Duration,
    /// Largest backoff.
    pub max: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl RetryPolicy {
    fn attempts_for(&self, e: &VvpError) -> u32 {
        match (e, e.kind()) {
            (VvpError::Transport { refused: true, .. }, _) => self.refused_attempts,
            (VvpError::Transport { timed_out: true, .. }, _) => self.timed_out_attempts,
            (_, ErrorKind::Throttled) => self.throttled_attempts,
            _ => self.attempts,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            throttled_attempts: 20,
            refused_attempts: 2,
            timed_out_attempts: 2,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A signed VVP OpenAPI client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    target: Target,
    creds: Credentials,
    retry: RetryPolicy,
}

/// An HTTP error with its causes (`error sending request …: … : Connection refused`):
/// reqwest's own message leaves out why.
fn with_causes(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A path segment, percent-encoded as the API expects (RFC 3986).
fn seg(s: &str) -> String {
    sign::rfc3986(s)
}

/// Form encoding for the query on the wire (space as `+`), as the SDK sends it.
fn form(s: &str) -> String {
    sign::rfc3986(s).replace("%20", "+")
}

/// The draft operations VVP runs as a ticket, started and then asked after.
#[derive(Clone, Copy)]
enum DraftTicket {
    Deploy,
    Validate,
}

impl DraftTicket {
    /// The operation that starts it, the one that reads its result, and its path's name.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            DraftTicket::Deploy => ("DeployDeploymentDraftAsync", "GetDeployDeploymentDraftResult", "deploy"),
            DraftTicket::Validate => ("ValidateDeploymentDraftAsync", "GetValidateDeploymentDraftResult", "validate"),
        }
    }
}

impl Client {
    /// A client for `target` with `creds`.
    pub fn new(target: Target, creds: Credentials, retry: RetryPolicy) -> Result<Client, VvpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .user_agent(concat!("flinkform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VvpError::Transport {
                action: "connect".into(),
                endpoint: target.endpoint.clone(),
                message: with_causes(&e),
                sent: false,
                refused: false,
                timed_out: false,
            })?;
        Ok(Client { http, target, creds, retry })
    }

    /// One operation: `path` is after `/api/v2/namespaces/{namespace}` and already encoded.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<Envelope<T>, VvpError> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| VvpError::Decode { action: action.into(), message: e.to_string() })?,
            ),
            None => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(action, &method, path, query, body.as_deref()).await {
                Ok(v) => return Ok(v),
                Err((e, retry_after))
                    if e.transient()
                        && (idempotent(action, &method) || !e.may_have_taken_effect())
                        && attempt < self.retry.attempts_for(&e) =>
                {
                    let ceiling = self.retry.base.saturating_mul(1 << attempt.min(16)).min(self.retry.max);
                    // The server's retry-after, but never longer than our longest backoff.
                    let wait = retry_after
                        .map(|w| w.min(self.retry.max))
                        .unwrap_or_else(|| ceiling.mul_f64(rand::random::<f64>()));
                    if matches!(e, VvpError::Transport { timed_out: true, .. }) {
                        // Said at any verbosity: the user is waiting on it.
                        tracing::warn!(
                            "VVP {action}: no answer from {} within {:?}; trying again",
                            self.target.endpoint,
                            self.retry.request_timeout
                        );
                    } else {
                        tracing::info!(action, attempt, error = %e, wait = ?wait, "retrying VVP call");
                    }
                    tokio::time::sleep(wait).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    async fn once<T: DeserializeOwned>(
        &self,
        action: &str,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Envelope<T>, (VvpError, Option<Duration>)> {
        let raw_path = format!("/api/v2/namespaces/{}{path}", seg(&self.target.namespace));
        let payload_hash = sign::sha256_hex(body.unwrap_or_default());
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.target.endpoint.clone()),
            ("x-acs-version".into(), API_VERSION.into()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-date".into(), humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
            ("x-acs-signature-nonce".into(), uuid::Uuid::new_v4().simple().to_string()),
            ("accept".into(), "application/json".into()),
            ("workspace".into(), self.target.workspace.clone()),
            ("x-acs-content-sha256".into(), payload_hash.clone()),
        ];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json; charset=utf-8".into()));
        }
        match &self.creds.security_token {
            Some(t) => {
                headers.push(("x-acs-credentials-provider".into(), "static_sts".into()));
                headers.push(("x-acs-accesskey-id".into(), self.creds.access_key_id.clone()));
                headers.push(("x-acs-security-token".into(), t.clone()));
            }
            None => headers.push(("x-acs-credentials-provider".into(), "static_ak".into())),
        }
        headers.sort();
        let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        let q: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let creq = sign::canonical_request(method.as_str(), &raw_path, &q, &headers, &signed, &payload_hash);
        let auth = sign::authorization(
            &self.creds.access_key_id,
            &signed,
            &sign::signature(&self.creds.access_key_secret, &creq),
        );
        let mut url = format!("{}://{}{raw_path}", self.target.protocol, self.target.endpoint);
        if !q.is_empty() {
            let wire: Vec<String> = q.iter().map(|(k, v)| format!("{}={}", form(k), form(v))).collect();
            url = format!("{url}?{}", wire.join("&"));
        }
        let mut req = self.http.request(method.clone(), &url).header("authorization", auth);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            req = req.body(b.to_vec());
        }
        let transport = |e: reqwest::Error| {
            let message = with_causes(&e);
            let refused = e.is_connect() && message.to_ascii_lowercase().contains("connection refused");
            let endpoint = self.target.endpoint.clone();
            let (sent, timed_out) = (!e.is_connect(), e.is_timeout());
            (VvpError::Transport { action: action.into(), endpoint, message, sent, refused, timed_out }, None)
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        let bytes = resp.bytes().await.map_err(transport)?;
        let decode = |m: String| (VvpError::Decode { action: action.into(), message: m }, None);
        if !(200..300).contains(&status) {
            let (code, message, request_id) = match serde_json::from_slice::<GatewayError>(&bytes) {
                Ok(g) => (g.code, g.message, g.request_id),
                Err(_) => match serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes) {
                    Ok(e) => (e.error_code.unwrap_or_default(), e.error_message.unwrap_or_default(), e.request_id),
                    Err(_) => (
                        format!("HTTP{status}"),
                        String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                        String::new(),
                    ),
                },
            };
            return Err((VvpError::Api { action: action.into(), status, code, message, request_id }, retry_after));
        }
        let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| decode(format!("{e}")))?;
        if !env.success {
            return Err((
                VvpError::Api {
                    action: action.into(),
                    status: env.http_code.map_or(status, |c| c as u16),
                    code: env.error_code.clone().unwrap_or_default(),
                    message: env.error_message.clone().unwrap_or_default(),
                    request_id: env.request_id.clone(),
                },
                retry_after,
            ));
        }
        Ok(env)
    }

    async fn data<T: DeserializeOwned>(
        &self,
        action: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, VvpError> {
        self.call::<T>(action, method, path, query, body)
            .await?
            .data
            .ok_or_else(|| VvpError::Decode { action: action.into(), message: "no data in the answer".into() })
    }

    /// CreateDeploymentDraft.
    pub async fn create_draft(&self, draft: &DeploymentDraft) -> Result<DeploymentDraft, VvpError> {
        self.data("CreateDeploymentDraft", Method::POST, "/deployment-drafts", &[], Some(draft)).await
    }

    /// GetDeploymentDraft.
    pub async fn get_draft(&self, id: &str) -> Result<DeploymentDraft, VvpError> {
        self.data("GetDeploymentDraft", Method::GET, &format!("/deployment-drafts/{}", seg(id)), &[], None::<&()>).await
    }

    /// UpdateDeploymentDraft (PATCH).
    pub async fn update_draft(&self, id: &str, draft: &DeploymentDraft) -> Result<DeploymentDraft, VvpError> {
        self.data("UpdateDeploymentDraft", Method::PATCH, &format!("/deployment-drafts/{}", seg(id)), &[], Some(draft))
            .await
    }

    /// DeleteDeploymentDraft.
    pub async fn delete_draft(&self, id: &str) -> Result<(), VvpError> {
        let path = format!("/deployment-drafts/{}", seg(id));
        self.call::<serde_json::Value>("DeleteDeploymentDraft", Method::DELETE, &path, &[], None::<&()>).await.map(drop)
    }

    /// ListDeploymentDrafts, every page.
    pub async fn list_drafts(&self) -> Result<Vec<DeploymentDraft>, VvpError> {
        self.all_pages("ListDeploymentDrafts", "/deployment-drafts", &[]).await
    }

    /// DeployDeploymentDraftAsync: returns the ticket id.
    pub async fn deploy_draft(&self, params: &DraftDeployParams) -> Result<String, VvpError> {
        self.start_ticket(DraftTicket::Deploy, params).await
    }

    /// GetDeployDeploymentDraftResult.
    pub async fn deploy_result(&self, ticket: &str) -> Result<AsyncDraftDeployResult, VvpError> {
        self.ticket_result(DraftTicket::Deploy, ticket).await
    }

    /// ValidateDeploymentDraftAsync: returns the ticket id.
    pub async fn validate_draft(&self, params: &DraftValidateParams) -> Result<String, VvpError> {
        self.start_ticket(DraftTicket::Validate, params).await
    }

    /// GetValidateDeploymentDraftResult.
    pub async fn validate_result(&self, ticket: &str) -> Result<AsyncDraftValidateResult, VvpError> {
        self.ticket_result(DraftTicket::Validate, ticket).await
    }

    /// Starts a draft operation VVP runs as a ticket; the ticket's id.
    async fn start_ticket<P: Serialize>(&self, kind: DraftTicket, params: &P) -> Result<String, VvpError> {
        let (action, _, op) = kind.names();
        let path = format!("/deployment-drafts/async-{op}");
        let t: Ticket = self.data(action, Method::POST, &path, &[], Some(params)).await?;
        Ok(t.ticket_id)
    }

    /// Where a ticket of a draft operation is.
    async fn ticket_result<T: DeserializeOwned>(&self, kind: DraftTicket, ticket: &str) -> Result<T, VvpError> {
        let (_, action, op) = kind.names();
        let path = format!("/deployment-drafts/tickets/{}/async-{op}", seg(ticket));
        self.data(action, Method::GET, &path, &[], None::<&()>).await
    }

    /// GetDeployment.
    pub async fn get_deployment(&self, id: &str) -> Result<Deployment, VvpError> {
        self.data("GetDeployment", Method::GET, &format!("/deployments/{}", seg(id)), &[], None::<&()>).await
    }

    /// The project id deployments are labelled with.
    pub fn project(&self) -> Option<&str> {
        self.target.project.as_deref()
    }

    /// Every page of a list operation (pages of 100, at most [`MAX_PAGES`]): ends at
    /// a short or empty page or at `totalSize`; a server that answers a page other
    /// than the one asked for (it ignores paging) is an error, not an endless loop.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        action: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, VvpError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.extend([("pageIndex", page.to_string()), ("pageSize", PAGE_SIZE.to_string())]);
            let env: Envelope<Vec<T>> = self.call(action, Method::GET, path, &q, None::<&()>).await?;
            if env.page_index.is_some_and(|i| i != page as i64) {
                return Err(VvpError::Decode {
                    action: action.into(),
                    message: format!("asked for page {page}, got page {}", env.page_index.unwrap_or_default()),
                });
            }
            let items = env.data.unwrap_or_default();
            let n = items.len();
            all.extend(items);
            if n < PAGE_SIZE || env.total_size.is_some_and(|t| all.len() as i64 >= t) {
                return Ok(all);
            }
        }
        Err(VvpError::Decode { action: action.into(), message: format!("more than {MAX_PAGES} pages of {PAGE_SIZE}") })
    }

    /// ListDeployments with a name filter, every page: unlike GetDeploymentsByName, a
    /// listing answers "none" with an empty page, never with an error.
    pub async fn deployments_named(&self, name: &str) -> Result<Vec<Deployment>, VvpError> {
        self.all_pages("ListDeployments", "/deployments", &[("name", name.to_string())]).await
    }

    /// ListDeployments with a label filter, every page.
    pub async fn deployments_with_label(&self, key: &str, value: &str) -> Result<Vec<Deployment>, VvpError> {
        let q = [("labelKey", key.to_string()), ("labelValueArray", value.to_string())];
        self.all_pages("ListDeployments", "/deployments", &q).await
    }

    /// UpdateDeployment (PUT).
    pub async fn update_deployment(&self, id: &str, d: &Deployment) -> Result<Deployment, VvpError> {
        self.data("UpdateDeployment", Method::PUT, &format!("/deployments/{}", seg(id)), &[], Some(d)).await
    }

    /// DeleteDeployment.
    pub async fn delete_deployment(&self, id: &str) -> Result<(), VvpError> {
        let path = format!("/deployments/{}", seg(id));
        self.call::<serde_json::Value>("DeleteDeployment", Method::DELETE, &path, &[], None::<&()>).await.map(drop)
    }

    /// StartJobWithParams.
    pub async fn start_job(&self, p: &JobStartParameters) -> Result<Job, VvpError> {
        self.data("StartJobWithParams", Method::POST, "/jobs%3Astart", &[], Some(p)).await
    }

    /// GetJob.
    pub async fn get_job(&self, id: &str) -> Result<Job, VvpError> {
        self.data("GetJob", Method::GET, &format!("/jobs/{}", seg(id)), &[], None::<&()>).await
    }

    /// ListJobs of a deployment, every page.
    pub async fn jobs(&self, deployment_id: &str) -> Result<Vec<Job>, VvpError> {
        self.all_pages("ListJobs", "/jobs", &[("deploymentId", deployment_id.to_string())]).await
    }

    /// ListSavepoints of a job of a deployment, every page.
    pub async fn savepoints(&self, deployment_id: &str, job_id: &str) -> Result<Vec<Savepoint>, VvpError> {
        let q = [("deploymentId", deployment_id.to_string()), ("jobId", job_id.to_string())];
        self.all_pages("ListSavepoints", "/savepoints", &q).await
    }

    /// StopJob (`NONE`, `STOP_WITH_SAVEPOINT` or `STOP_WITH_DRAIN`).
    pub async fn stop_job(&self, id: &str, strategy: &str) -> Result<Job, VvpError> {
        let body = StopJobRequest { stop_strategy: strategy.into() };
        self.data("StopJob", Method::POST, &format!("/jobs/{}%3Astop", seg(id)), &[], Some(&body)).await
    }

    /// HotUpdateJob: the running job takes its deployment's current parallelism and
    /// hot-updatable Flink configuration (the API takes no body: what the job takes is
    /// what UpdateDeployment set). POST, never re-sent blindly.
    pub async fn hot_update_job(&self, id: &str) -> Result<HotUpdateJobResult, VvpError> {
        self.data("HotUpdateJob", Method::POST, &format!("/jobs/{}%3AhotUpdate", seg(id)), &[], None::<&()>).await
    }

    /// GetHotUpdateJobResult.
    pub async fn hot_update_job_result(&self, id: &str) -> Result<HotUpdateJobResult, VvpError> {
        self.data("GetHotUpdateJobResult", Method::GET, &format!("/jobs/hot-updates/{}", seg(id)), &[], None::<&()>)
            .await
    }

    /// GetJobDiagnosis: VVP's diagnosis of a job (the "lite" one).
    pub async fn job_diagnosis(&self, deployment_id: &str, job_id: &str) -> Result<JobDiagnosis, VvpError> {
        let path = format!("/deployments/{}/jobs/{}/job-diagnoses/lite", seg(deployment_id), seg(job_id));
        self.data("GetJobDiagnosis", Method::GET, &path, &[], None::<&()>).await
    }

    /// ListVariables: names only are used (values are never read).
    pub async fn variable_names(&self) -> Result<Vec<String>, VvpError> {
        let vars: Vec<Variable> = self.all_pages("ListVariables", "/variables", &[]).await?;
        Ok(vars.into_iter().map(|v| v.name).collect())
    }
}
