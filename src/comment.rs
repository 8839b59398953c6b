//! The plan as one sticky pull-request comment on GitHub: the comment is found again by
//! its hidden marker (`<!-- flinkform:plan project=… env=… -->`) and, by `Behavior`,
//! edited in place, or a new one is added (the old ones deleted first, or left). A
//! comment marked applied is final and never edited. Comments are listed page by page;
//! rate limits are waited out when their reset is near; the token never reaches a message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flinkform_core::plan::meaning::Marker;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What happens to an earlier comment of the same project and environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Edit it in place (a new one when there is none, or it is final).
    Update,
    /// Leave it, and add a new one.
    New,
    /// Delete it, and add a new one.
    DeleteAndNew,
    /// Hide it as outdated (GraphQL `minimizeComment`), and add a new one.
    HideAndNew,
}

/// Where the comment goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// API root, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api: String,
    /// `owner/name`.
    pub repo: String,
    /// Pull request number.
    pub pr: u64,
    /// Token (GITHUB_TOKEN); never shown.
    pub token: String,
}

/// A failure, said without the token.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// Something needed is not set.
    #[error("{0}")]
    Setup(String),
    /// GitHub answered with an error.
    #[error("GitHub answered {status} to {what}: {message}{hint}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// GitHub's message.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// GitHub could not be reached.
    #[error("cannot reach GitHub at {api} ({what}): {source}")]
    Transport {
        /// API root.
        api: String,
        /// The call.
        what: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// `updated` or `created`.
    pub verb: &'static str,
    /// The comment's page address.
    pub url: String,
    /// Earlier comments deleted.
    pub deleted: usize,
    /// Earlier comments hidden as outdated.
    pub hidden: usize,
    /// `flinkform:` labels added to the PR, and removed from it.
    pub labels: (Vec<String>, Vec<String>),
}

/// The prefix of the PR labels flinkform owns.
const LABEL_PREFIX: &str = "flinkform:";

impl Target {
    /// From the flags, else the environment GitHub Actions sets: `GITHUB_TOKEN`,
    /// `GITHUB_API_URL`, `GITHUB_REPOSITORY`, and the PR number from the event
    /// (`GITHUB_EVENT_PATH`).
    pub fn from_env(api: Option<String>, repo: Option<String>, pr: Option<u64>) -> Result<Target, CommentError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let token = var("GITHUB_TOKEN").ok_or_else(|| {
            CommentError::Setup(
                "GITHUB_TOKEN is not set: in GitHub Actions pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`"
                    .into(),
            )
        })?;
        let api = api.or_else(|| var("GITHUB_API_URL")).unwrap_or_else(|| "https://api.github.com".into());
        let repo = repo.or_else(|| var("GITHUB_REPOSITORY")).ok_or_else(|| {
            CommentError::Setup("no repository: pass --repo OWNER/NAME (GitHub Actions sets GITHUB_REPOSITORY)".into())
        })?;
        if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
            return Err(CommentError::Setup(format!("--repo must be OWNER/NAME, not `{repo}`")));
        }
        let pr = match pr {
            Some(n) => n,
            None => pr_of_event(var("GITHUB_EVENT_PATH"))?,
        };
        Ok(Target { api: api.trim_end_matches('/').to_string(), repo, pr, token })
    }
}

impl Target {
    /// The target of apply on merge: the PR of the event when it is one (`pull_request:
    /// closed`), else `pr` 0, to be found from the merge commit (`GITHUB_SHA`) by
    /// [`GitHub::merged_pr`].
    pub fn for_merge() -> Result<Target, CommentError> {
        let event = std::env::var("GITHUB_EVENT_PATH").ok().filter(|v| !v.is_empty());
        let pr = event.and_then(|e| pr_of_event(Some(e)).ok());
        Target::from_env(None, None, Some(pr.unwrap_or(0)))
    }
}

/// The PR number of the GitHub Actions event (`pull_request`, `pull_request_target`,
/// `issue_comment` on a PR).
fn pr_of_event(path: Option<String>) -> Result<u64, CommentError> {
    let path = path.ok_or_else(|| {
        CommentError::Setup("no pull request: pass --pr N (in GitHub Actions, run on a pull_request event)".into())
    })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CommentError::Setup(format!("cannot read the event at GITHUB_EVENT_PATH ({path}): {e}")))?;
    let event: Value = serde_json::from_str(&text)
        .map_err(|e| CommentError::Setup(format!("the event at GITHUB_EVENT_PATH ({path}) is not JSON: {e}")))?;
    event["pull_request"]["number"]
        .as_u64()
        .or_else(|| event["issue"]["pull_request"].is_object().then(|| event["issue"]["number"].as_u64()).flatten())
        .ok_or_else(|| {
            CommentError::Setup(format!(
                "the event at GITHUB_EVENT_PATH ({path}) is not about a pull request: pass --pr N, or run on pull_request"
            ))
        })
}

/// A GitHub REST client for one repository.
pub struct GitHub {
    http: reqwest::Client,
    target: Target,
    /// Longest wait for a rate limit to reset before giving up.
    max_wait: Duration,
}

/// A comment of ours found on the PR.
struct Ours {
    id: u64,
    node_id: String,
    applied: bool,
    body: String,
}

impl GitHub {
    /// A client for `target`.
    pub fn new(target: Target, max_wait: Duration) -> Result<GitHub, CommentError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("flinkform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CommentError::Transport { api: target.api.clone(), what: "connect".into(), source: e })?;
        Ok(GitHub { http, target, max_wait })
    }

    /// Posts `body` (which carries the marker) by `behavior`.
    pub async fn post(&self, body: &str, behavior: Behavior) -> Result<Posted, CommentError> {
        let marker =
            Marker::find(body).ok_or_else(|| CommentError::Setup("the comment has no flinkform marker".into()))?;
        let ours = self.ours(&marker).await?;
        let (owner_repo, pr) = (&self.target.repo, self.target.pr);
        // A failed plan has no classes to label: the labels stay as the last plan left them.
        let labels = match marker.meaning.digest.is_empty() {
            true => (Vec::new(), Vec::new()),
            false => self.sync_labels(&marker).await?,
        };
        // Another change applied since this PR's last plan: the new plan says so.
        let newest = ours.last().and_then(|c| Marker::find(&c.body));
        let planned = |m: &Marker| !m.meaning.digest.is_empty();
        let outdated = newest.filter(|m| planned(m) && planned(&marker) && m.state != marker.state).map(|m| m.state);
        let body = &match outdated {
            Some(before) => flinkform_core::view::markdown::outdated(body, before, marker.state),
            None => body.to_string(),
        };
        let editable = ours.iter().rev().find(|c| !c.applied);
        if let (Behavior::Update, Some(c)) = (behavior, editable) {
            let path = format!("/repos/{owner_repo}/issues/comments/{}", c.id);
            let (v, _) = self.call(Method::PATCH, &path, Some(json!({ "body": body })), "update the comment").await?;
            return Ok(Posted { verb: "updated", url: html_url(&v), deleted: 0, hidden: 0, labels });
        }
        let (mut deleted, mut hidden) = (0, 0);
        for c in ours.iter().filter(|c| !c.applied) {
            match behavior {
                Behavior::DeleteAndNew => {
                    let path = format!("/repos/{owner_repo}/issues/comments/{}", c.id);
                    self.call(Method::DELETE, &path, None, "delete an earlier comment").await?;
                    deleted += 1;
                }
                Behavior::HideAndNew => {
                    self.minimize(&c.node_id).await?;
                    hidden += 1;
                }
                Behavior::Update | Behavior::New => {}
            }
        }
        let path = format!("/repos/{owner_repo}/issues/{pr}/comments");
        let (v, _) = self.call(Method::POST, &path, Some(json!({ "body": body })), "add the comment").await?;
        Ok(Posted { verb: "created", url: html_url(&v), deleted, hidden, labels })
    }

    /// Hides comment `node_id` as outdated. GraphQL lives at `/graphql` beside the REST
    /// root (`/api/graphql` beside GitHub Enterprise Server's `/api/v3`).
    async fn minimize(&self, node_id: &str) -> Result<(), CommentError> {
        let api = &self.target.api;
        let url = match api.strip_suffix("/v3") {
            Some(base) if base.ends_with("/api") => format!("{base}/graphql"),
            _ => format!("{api}/graphql"),
        };
        let query = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";
        let body = json!({ "query": query, "variables": { "id": node_id } });
        let what = "hide an earlier comment";
        let (v, _) = self.call(Method::POST, &url, Some(body), what).await?;
        match v["errors"].as_array() {
            Some(errors) if !errors.is_empty() => {
                let message: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
                Err(CommentError::Refused {
                    status: 200,
                    what: what.into(),
                    message: message.join("; "),
                    hint: String::new(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Makes the PR's `flinkform:` labels the plan's change classes (`flinkform:destroy`,
    /// `flinkform:replace`, `flinkform:restart-without-state`), so that branch protection
    /// or a CODEOWNERS rule can ask for more review. Other labels are left alone.
    async fn sync_labels(&self, marker: &Marker) -> Result<(Vec<String>, Vec<String>), CommentError> {
        let (repo, pr) = (&self.target.repo, self.target.pr);
        let want: Vec<String> = marker.meaning.classes.iter().map(|c| format!("{LABEL_PREFIX}{}", c.name())).collect();
        let (v, _) = self
            .call(Method::GET, &format!("/repos/{repo}/issues/{pr}/labels?per_page=100"), None, "list the PR's labels")
            .await?;
        let have: Vec<String> =
            v.as_array().into_iter().flatten().filter_map(|l| l["name"].as_str().map(String::from)).collect();
        let add: Vec<String> = want.iter().filter(|w| !have.contains(w)).cloned().collect();
        let remove: Vec<String> =
            have.into_iter().filter(|h| h.starts_with(LABEL_PREFIX) && !want.contains(h)).collect();
        if !add.is_empty() {
            let path = format!("/repos/{repo}/issues/{pr}/labels");
            self.call(Method::POST, &path, Some(json!({ "labels": add })), "label the PR").await?;
        }
        for name in &remove {
            let path = format!("/repos/{repo}/issues/{pr}/labels/{}", name.replace(':', "%3A"));
            self.call(Method::DELETE, &path, None, "remove a PR label").await?;
        }
        Ok((add, remove))
    }

    /// Finds the merged PR of the merge commit `sha` when the target has none yet.
    pub async fn merged_pr(&mut self, sha: &str) -> Result<u64, CommentError> {
        if self.target.pr != 0 {
            return Ok(self.target.pr);
        }
        let path = format!("/repos/{}/commits/{sha}/pulls", self.target.repo);
        let (v, _) = self.call(Method::GET, &path, None, "find the pull request of the merge commit").await?;
        let pulls = v.as_array().cloned().unwrap_or_default();
        let merged = pulls.iter().find(|p| !p["merged_at"].is_null()).or(pulls.first());
        let pr = merged.and_then(|p| p["number"].as_u64()).ok_or_else(|| {
            CommentError::Setup(format!("commit {sha} belongs to no pull request: there is no reviewed plan to apply"))
        })?;
        self.target.pr = pr;
        Ok(pr)
    }

    /// The newest comment of `project` and `env` on the PR: its id and body (the plan
    /// that was reviewed).
    pub async fn reviewed(&self, project: &str, env: &str) -> Result<(u64, String), CommentError> {
        let want = Marker::new(project, env, None, Default::default());
        let newest = self.ours(&want).await?.pop().ok_or_else(|| {
            CommentError::Setup(format!(
                "{}#{} has no flinkform plan comment for project {project}: there is no reviewed plan to apply",
                self.target.repo, self.target.pr
            ))
        })?;
        Ok((newest.id, newest.body))
    }

    /// Replaces comment `id`'s body.
    pub async fn edit(&self, id: u64, body: &str) -> Result<(), CommentError> {
        let path = format!("/repos/{}/issues/comments/{id}", self.target.repo);
        self.call(Method::PATCH, &path, Some(json!({ "body": body })), "update the comment").await?;
        Ok(())
    }

    /// The PR's comments of the marker's project and environment, oldest first, every
    /// page read.
    async fn ours(&self, marker: &Marker) -> Result<Vec<Ours>, CommentError> {
        let mut out = Vec::new();
        let mut path = Some(format!("/repos/{}/issues/{}/comments?per_page=100", self.target.repo, self.target.pr));
        while let Some(p) = path.take() {
            let (v, next) = self.call(Method::GET, &p, None, "list the PR's comments").await?;
            for c in v.as_array().into_iter().flatten() {
                let Some(m) = c["body"].as_str().and_then(Marker::find) else { continue };
                if m.project == marker.project && m.env == marker.env {
                    let body = c["body"].as_str().unwrap_or_default().to_string();
                    let (id, node_id) =
                        (c["id"].as_u64().unwrap_or_default(), c["node_id"].as_str().unwrap_or_default());
                    out.push(Ours { id, node_id: node_id.to_string(), applied: m.applied, body });
                }
            }
            // The token goes only to the API root it was given for.
            path = match next {
                Some(n) if !n.starts_with(&self.target.api) => {
                    return Err(CommentError::Setup(format!(
                        "GitHub's next page of comments is outside the API root {}: {n}",
                        self.target.api
                    )));
                }
                next => next,
            };
        }
        Ok(out)
    }

    /// One call, waiting out a rate limit whose reset is near. Returns the answer and
    /// the path of the next page (from `Link: <…>; rel="next"`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<(Value, Option<String>), CommentError> {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.target.api) };
        let mut waited = Duration::ZERO;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .bearer_auth(&self.target.token);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let transport = |e: reqwest::Error| CommentError::Transport {
                api: self.target.api.clone(),
                what: what.into(),
                source: e,
            };
            let resp = req.send().await.map_err(transport)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let text = resp.text().await.map_err(transport)?;
            if status.is_success() {
                let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
                let next = headers.get("link").and_then(|l| l.to_str().ok()).and_then(next_link);
                return Ok((v, next));
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| text.chars().take(300).collect());
            if let Some(wait) = rate_limit_wait(status, &headers) {
                if waited + wait <= self.max_wait {
                    tracing::warn!("GitHub rate limit on {what}: waiting {}s", wait.as_secs());
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    continue;
                }
                return Err(CommentError::Refused {
                    status: status.as_u16(),
                    what: what.into(),
                    message,
                    hint: format!(
                        " (rate limited for {}s more, longer than the {}s flinkform waits: run again later)",
                        wait.as_secs(),
                        self.max_wait.as_secs()
                    ),
                });
            }
            return Err(CommentError::Refused {
                status: status.as_u16(),
                what: what.into(),
                message,
                hint: hint(status),
            });
        }
    }
}

/// How long GitHub asks to wait: `retry-after` (seconds), or until `x-ratelimit-reset`
/// when `x-ratelimit-remaining` is 0 (GitHub's documented rate-limit answers, 403 or 429).
fn rate_limit_wait(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let num = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(secs) = num("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if num("x-ratelimit-remaining") == Some(0) {
        let reset = num("x-ratelimit-reset")?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(60))
}

fn hint(status: StatusCode) -> String {
    match status.as_u16() {
        401 => " (the token is not valid: check GITHUB_TOKEN)".into(),
        403 => " (the token may not write the PR's comments: give the job `permissions: pull-requests: write`; a PR from a fork gets a read-only token)".into(),
        404 => " (no such repository or pull request, or the token cannot see it: check --repo and --pr)".into(),
        _ => String::new(),
    }
}

/// The `rel="next"` address of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

fn html_url(v: &Value) -> String {
    v["html_url"].as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let link = r#"<https://api.github.com/repositories/1/issues/3/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/3/comments?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues/3/comments?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn rate_limits_say_how_long_to_wait() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &h), Some(Duration::from_secs(7)));
        assert_eq!(rate_limit_wait(StatusCode::NOT_FOUND, &h), None);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
        h.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        let wait = rate_limit_wait(StatusCode::FORBIDDEN, &h).unwrap();
        assert!(wait >= Duration::from_secs(29) && wait <= Duration::from_secs(32), "{wait:?}");
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "10".parse().unwrap());
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &h), None, "a plain 403 is a permission error");
    }
}
