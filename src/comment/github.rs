//! GitHub: a pull request's issue comments (REST), hiding by GraphQL `minimizeComment`,
//! labels, and the pull request a merge commit belongs to. Repository, PR and API root
//! come from the flags or the environment GitHub Actions sets.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::http::{CommentError, Http};
use super::{Forge, Note};

/// Who GitHub Actions' GITHUB_TOKEN writes comments as.
const ACTIONS_BOT: &str = "github-actions[bot]";

/// Where the comment goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// API root, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api: String,
    /// `owner/name`.
    pub repo: String,
    /// Pull request number (0: to be found from the merge commit).
    pub pr: u64,
    /// Token (GITHUB_TOKEN); never shown.
    pub token: String,
}

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

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token is not valid: check GITHUB_TOKEN)",
        403 => {
            " (the token may not write the PR's comments: give the job `permissions: pull-requests: write`; a PR from a fork gets a read-only token)"
        }
        404 => " (no such repository or pull request, or the token cannot see it: check --repo and --pr)",
        _ => "",
    }
}

/// One pull request on GitHub.
pub struct GitHub {
    http: Http,
    repo: String,
    pr: u64,
    /// The web root (`https://github.com`, or a GitHub Enterprise Server's).
    web: String,
}

impl GitHub {
    /// A client for `target`, waiting out rate limits up to `max_wait`.
    pub fn new(target: Target, max_wait: Duration) -> Result<GitHub, CommentError> {
        const HEADERS: &[(&str, &str)] =
            &[("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")];
        let auth = ("Authorization", format!("Bearer {}", target.token));
        let http = Http::new("GitHub", &target.api, auth, HEADERS, hint, max_wait)?;
        // The API is at api.github.com for github.com, and at /api/v3 on a server.
        let web = match target.api.trim_end_matches('/') {
            "https://api.github.com" => "https://github.com".to_string(),
            api => api.strip_suffix("/api/v3").unwrap_or(api).to_string(),
        };
        Ok(GitHub { http, repo: target.repo, pr: target.pr, web })
    }
}

impl Forge for GitHub {
    fn review(&self) -> String {
        format!("{}#{}", self.repo, self.pr)
    }

    fn review_url(&self) -> Option<String> {
        Some(format!("{}/{}/pull/{}", self.web, self.repo, self.pr))
    }

    /// `GET /user`. A GitHub App installation's token, as GitHub Actions' GITHUB_TOKEN
    /// is, may not ask (403, "Resource not accessible by integration"): its comments
    /// are written as `github-actions[bot]` (GitHub docs, "Automatic token
    /// authentication"); another app's token names its bot in `FLINKFORM_COMMENT_AUTHOR`.
    async fn me(&self) -> Result<String, CommentError> {
        if let Some(author) = super::configured_author() {
            return Ok(author);
        }
        match self.http.call(Method::GET, "/user", None, "ask whom the token belongs to").await {
            Ok((v, _)) => v["login"].as_str().map(String::from).ok_or_else(|| {
                CommentError::Setup("GitHub's /user answer has no login: set FLINKFORM_COMMENT_AUTHOR".into())
            }),
            Err(CommentError::Refused { status: 403, .. }) => Ok(ACTIONS_BOT.into()),
            Err(e) => Err(e),
        }
    }

    async fn notes(&self) -> Result<Vec<Note>, CommentError> {
        let path = format!("/repos/{}/issues/{}/comments?per_page=100", self.repo, self.pr);
        let all = self.http.all(&path, "list the PR's comments").await?;
        Ok(all
            .iter()
            .map(|c| Note {
                id: c["id"].as_u64().unwrap_or_default(),
                node_id: c["node_id"].as_str().unwrap_or_default().to_string(),
                body: c["body"].as_str().unwrap_or_default().to_string(),
                author: c["user"]["login"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn create(&self, body: &str) -> Result<String, CommentError> {
        let path = format!("/repos/{}/issues/{}/comments", self.repo, self.pr);
        let (v, _) = self.http.call(Method::POST, &path, Some(json!({ "body": body })), "add the comment").await?;
        Ok(v["html_url"].as_str().unwrap_or_default().to_string())
    }

    async fn edit(&self, note: &Note, body: &str) -> Result<String, CommentError> {
        let path = format!("/repos/{}/issues/comments/{}", self.repo, note.id);
        let (v, _) = self.http.call(Method::PATCH, &path, Some(json!({ "body": body })), "update the comment").await?;
        Ok(v["html_url"].as_str().unwrap_or_default().to_string())
    }

    async fn delete(&self, note: &Note) -> Result<(), CommentError> {
        let path = format!("/repos/{}/issues/comments/{}", self.repo, note.id);
        self.http.call(Method::DELETE, &path, None, "delete an earlier comment").await?;
        Ok(())
    }

    /// GraphQL lives at `/graphql` beside the REST root (`/api/graphql` beside GitHub
    /// Enterprise Server's `/api/v3`).
    async fn hide(&self, note: &Note) -> Result<(), CommentError> {
        let api = &self.http.api;
        let url = match api.strip_suffix("/v3") {
            Some(base) if base.ends_with("/api") => format!("{base}/graphql"),
            _ => format!("{api}/graphql"),
        };
        let query = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";
        let body = json!({ "query": query, "variables": { "id": note.node_id } });
        let what = "hide an earlier comment";
        let (v, _) = self.http.call(Method::POST, &url, Some(body), what).await?;
        match v["errors"].as_array() {
            Some(errors) if !errors.is_empty() => {
                let message: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
                Err(CommentError::Refused {
                    forge: "GitHub",
                    status: 200,
                    what: what.into(),
                    message: message.join("; "),
                    hint: String::new(),
                })
            }
            _ => Ok(()),
        }
    }

    async fn labels(&self) -> Result<Vec<String>, CommentError> {
        let path = format!("/repos/{}/issues/{}/labels?per_page=100", self.repo, self.pr);
        let all = self.http.all(&path, "list the PR's labels").await?;
        Ok(all.iter().filter_map(|l| l["name"].as_str().map(String::from)).collect())
    }

    async fn relabel(&self, add: &[String], remove: &[String]) -> Result<(), CommentError> {
        let (repo, pr) = (&self.repo, self.pr);
        if !add.is_empty() {
            let path = format!("/repos/{repo}/issues/{pr}/labels");
            self.http.call(Method::POST, &path, Some(json!({ "labels": add })), "label the PR").await?;
        }
        for name in remove {
            let path = format!("/repos/{repo}/issues/{pr}/labels/{}", name.replace(':', "%3A"));
            self.http.call(Method::DELETE, &path, None, "remove a PR label").await?;
        }
        Ok(())
    }

    /// Finds the merged PR of the merge commit `sha` when the target has none yet.
    async fn merged(&mut self, sha: &str) -> Result<(), CommentError> {
        if self.pr != 0 {
            return Ok(());
        }
        let path = format!("/repos/{}/commits/{sha}/pulls", self.repo);
        let (v, _) = self.http.call(Method::GET, &path, None, "find the pull request of the merge commit").await?;
        let pulls = v.as_array().cloned().unwrap_or_default();
        // Only a merged one: an open pull request's plan was never approved to apply.
        let merged = pulls.iter().find(|p| !p["merged_at"].is_null());
        self.pr = merged.and_then(|p| p["number"].as_u64()).ok_or_else(|| {
            CommentError::Setup(format!(
                "commit {sha} belongs to no merged pull request: there is no reviewed plan to apply"
            ))
        })?;
        Ok(())
    }
}
