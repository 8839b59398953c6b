//! GitLab: a merge request's notes, its labels, and the merge request a commit belongs
//! to (REST API v4, as GitLab's "Notes API" and "Merge requests API" pages describe it).
//! Project, merge request and API root come from the flags or GitLab CI's predefined
//! variables; the token (`GITLAB_TOKEN`: CI_JOB_TOKEN cannot write notes) goes in
//! `PRIVATE-TOKEN`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::http::{CommentError, Http};
use super::{Forge, Note};

/// Where the note goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// API root, e.g. `https://gitlab.com/api/v4`.
    pub api: String,
    /// Project id, or its path (`group/project`).
    pub project: String,
    /// Merge request iid (0: to be found from the merge commit).
    pub mr: u64,
    /// Web address of the project, for the note's link.
    pub web: Option<String>,
    /// Token; never shown.
    pub token: String,
}

impl Target {
    /// From the flags, else GitLab CI's variables: `GITLAB_TOKEN`, `CI_API_V4_URL`,
    /// `CI_PROJECT_ID`, `CI_MERGE_REQUEST_IID`, `CI_PROJECT_URL`.
    pub fn from_env(api: Option<String>, project: Option<String>, mr: Option<u64>) -> Result<Target, CommentError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let token = var("GITLAB_TOKEN").ok_or_else(|| {
            CommentError::Setup(
                "GITLAB_TOKEN is not set: give the job a project access token with the api scope as GITLAB_TOKEN (CI_JOB_TOKEN cannot write merge request notes)".into(),
            )
        })?;
        let api = api.or_else(|| var("CI_API_V4_URL")).unwrap_or_else(|| "https://gitlab.com/api/v4".into());
        let project = project.or_else(|| var("CI_PROJECT_ID")).ok_or_else(|| {
            CommentError::Setup("no project: pass --repo ID|GROUP/PROJECT (GitLab CI sets CI_PROJECT_ID)".into())
        })?;
        let mr = match mr.or_else(|| var("CI_MERGE_REQUEST_IID").and_then(|v| v.parse().ok())) {
            Some(n) => n,
            None => {
                return Err(CommentError::Setup(
                    "no merge request: pass --pr IID (GitLab CI sets CI_MERGE_REQUEST_IID in merge request pipelines)"
                        .into(),
                ));
            }
        };
        let web = var("CI_MERGE_REQUEST_PROJECT_URL").or_else(|| var("CI_PROJECT_URL"));
        Ok(Target { api: api.trim_end_matches('/').to_string(), project, mr, web, token })
    }

    /// The target of apply on merge: merge request 0, found from the commit by
    /// [`GitLab::merged_mr`].
    pub fn for_merge() -> Result<Target, CommentError> {
        Target::from_env(None, None, Some(0))
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token is not valid: check GITLAB_TOKEN)",
        403 => {
            " (the token may not write the merge request's notes: use a project, group or personal access token with the api scope; CI_JOB_TOKEN cannot)"
        }
        404 => " (no such project or merge request, or the token cannot see it: check --repo and --pr)",
        _ => "",
    }
}

/// One merge request on GitLab.
pub struct GitLab {
    http: Http,
    /// The project as a path segment (a path's `/` encoded).
    project: String,
    shown: String,
    mr: u64,
    web: Option<String>,
}

impl GitLab {
    /// A client for `target`, waiting out rate limits up to `max_wait`.
    pub fn new(target: Target, max_wait: Duration) -> Result<GitLab, CommentError> {
        let http = Http::new("GitLab", &target.api, ("PRIVATE-TOKEN", target.token), &[], hint, max_wait)?;
        let project = target.project.replace('/', "%2F");
        Ok(GitLab { http, project, shown: target.project, mr: target.mr, web: target.web })
    }

    fn notes_path(&self) -> String {
        format!("/projects/{}/merge_requests/{}/notes", self.project, self.mr)
    }

    fn link(&self, id: u64) -> String {
        match &self.web {
            Some(web) => format!("{}/-/merge_requests/{}#note_{id}", web.trim_end_matches('/'), self.mr),
            None => format!("note {id} on {}", self.review()),
        }
    }
}

impl Forge for GitLab {
    fn review(&self) -> String {
        format!("{}!{}", self.shown, self.mr)
    }

    fn review_url(&self) -> Option<String> {
        self.web.as_ref().map(|web| format!("{}/-/merge_requests/{}", web.trim_end_matches('/'), self.mr))
    }

    /// `GET /user`: a project access token's bot user (Users API, "current user").
    async fn me(&self) -> Result<String, CommentError> {
        if let Some(author) = super::configured_author() {
            return Ok(author);
        }
        let (v, _) = self.http.call(Method::GET, "/user", None, "ask whom the token belongs to").await?;
        v["username"].as_str().map(String::from).ok_or_else(|| {
            CommentError::Setup("GitLab's /user answer has no username: set FLINKFORM_COMMENT_AUTHOR".into())
        })
    }

    async fn notes(&self) -> Result<Vec<Note>, CommentError> {
        // Oldest first (GitLab lists the newest first unless asked).
        let path = format!("{}?sort=asc&order_by=created_at&per_page=100", self.notes_path());
        let all = self.http.all(&path, "list the merge request's notes").await?;
        Ok(all
            .iter()
            .filter(|n| n["system"] != true)
            .map(|n| Note {
                id: n["id"].as_u64().unwrap_or_default(),
                node_id: String::new(),
                body: n["body"].as_str().unwrap_or_default().to_string(),
                author: n["author"]["username"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn create(&self, body: &str) -> Result<String, CommentError> {
        let (v, _) =
            self.http.call(Method::POST, &self.notes_path(), Some(json!({ "body": body })), "add the note").await?;
        Ok(self.link(v["id"].as_u64().unwrap_or_default()))
    }

    async fn edit(&self, note: &Note, body: &str) -> Result<String, CommentError> {
        let path = format!("{}/{}", self.notes_path(), note.id);
        self.http.call(Method::PUT, &path, Some(json!({ "body": body })), "update the note").await?;
        Ok(self.link(note.id))
    }

    async fn delete(&self, note: &Note) -> Result<(), CommentError> {
        let path = format!("{}/{}", self.notes_path(), note.id);
        self.http.call(Method::DELETE, &path, None, "delete an earlier note").await?;
        Ok(())
    }

    async fn hide(&self, _note: &Note) -> Result<(), CommentError> {
        Err(CommentError::Setup("GitLab cannot hide a note: use --behavior delete-and-new (or update)".into()))
    }

    async fn labels(&self) -> Result<Vec<String>, CommentError> {
        let path = format!("/projects/{}/merge_requests/{}", self.project, self.mr);
        let (v, _) = self.http.call(Method::GET, &path, None, "read the merge request's labels").await?;
        Ok(v["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str().map(String::from)).collect())
    }

    async fn relabel(&self, add: &[String], remove: &[String]) -> Result<(), CommentError> {
        let path = format!("/projects/{}/merge_requests/{}", self.project, self.mr);
        let body = json!({ "add_labels": add.join(","), "remove_labels": remove.join(",") });
        self.http.call(Method::PUT, &path, Some(body), "label the merge request").await?;
        Ok(())
    }

    /// Finds the merged merge request of commit `sha` when the target has none yet.
    async fn merged(&mut self, sha: &str) -> Result<(), CommentError> {
        if self.mr != 0 {
            return Ok(());
        }
        let path = format!("/projects/{}/repository/commits/{sha}/merge_requests", self.project);
        let (v, _) = self.http.call(Method::GET, &path, None, "find the merge request of the commit").await?;
        let mrs = v.as_array().cloned().unwrap_or_default();
        // Only a merged one: an open merge request's plan was never approved to apply.
        let merged = mrs.iter().find(|m| m["state"] == "merged");
        self.mr = merged.and_then(|m| m["iid"].as_u64()).ok_or_else(|| {
            CommentError::Setup(format!(
                "commit {sha} belongs to no merged merge request: there is no reviewed plan to apply"
            ))
        })?;
        Ok(())
    }
}
