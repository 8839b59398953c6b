//! The HTTP both forges' clients share: the token in one header, JSON bodies, the next
//! page from `Link: <…>; rel="next"` (both GitHub and GitLab send it), and rate limits
//! (`retry-after`, or a reset time when none are left) waited out within a bound.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A failure, said without the token.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// Something needed is not set.
    #[error("{0}")]
    Setup(String),
    /// The forge answered with an error.
    #[error("{forge} answered {status} to {what}: {message}{hint}")]
    Refused {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// The forge's message.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The forge could not be reached.
    #[error("cannot reach {forge} at {api} ({what}): {source}")]
    Transport {
        /// `GitHub` or `GitLab`.
        forge: &'static str,
        /// API root.
        api: String,
        /// The call.
        what: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
}

/// A JSON API client with one token.
pub(super) struct Http {
    client: reqwest::Client,
    /// `GitHub` or `GitLab`.
    pub(super) forge: &'static str,
    /// API root, without a trailing `/`.
    pub(super) api: String,
    /// The header that carries the token, and its value.
    auth: (&'static str, String),
    /// Extra headers every call sends.
    headers: &'static [(&'static str, &'static str)],
    /// What to do about a 401, 403 or 404.
    hint: fn(u16) -> &'static str,
    /// Longest wait for a rate limit to reset before giving up.
    max_wait: Duration,
}

impl Http {
    pub(super) fn new(
        forge: &'static str,
        api: &str,
        auth: (&'static str, String),
        headers: &'static [(&'static str, &'static str)],
        hint: fn(u16) -> &'static str,
        max_wait: Duration,
    ) -> Result<Http, CommentError> {
        let api = api.trim_end_matches('/').to_string();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("flinkform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CommentError::Transport { forge, api: api.clone(), what: "connect".into(), source: e })?;
        Ok(Http { client, forge, api, auth, headers, hint, max_wait })
    }

    /// Every page of a list, from `path` on.
    pub(super) async fn all(&self, path: &str, what: &str) -> Result<Vec<Value>, CommentError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(p) = next.take() {
            let (v, more) = self.call(Method::GET, &p, None, what).await?;
            out.extend(v.as_array().cloned().unwrap_or_default());
            // The token goes only to the API root it was given for.
            next = match more {
                Some(n) if !n.starts_with(&self.api) => {
                    return Err(CommentError::Setup(format!(
                        "{}'s next page is outside the API root {}: {n}",
                        self.forge, self.api
                    )));
                }
                more => more,
            };
        }
        Ok(out)
    }

    /// One call (`path` under the API root, or a whole address on it), waiting out a
    /// rate limit whose reset is near. Returns the answer and the next page's address.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<(Value, Option<String>), CommentError> {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.api) };
        let mut waited = Duration::ZERO;
        loop {
            let mut req = self.client.request(method.clone(), &url).header(self.auth.0, &self.auth.1);
            for (k, v) in self.headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let transport = |e: reqwest::Error| CommentError::Transport {
                forge: self.forge,
                api: self.api.clone(),
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
                .and_then(|v| v["message"].as_str().map(String::from).or_else(|| v["error"].as_str().map(String::from)))
                .unwrap_or_else(|| text.chars().take(300).collect());
            let refused = |hint: String| CommentError::Refused {
                forge: self.forge,
                status: status.as_u16(),
                what: what.into(),
                message: message.clone(),
                hint,
            };
            match rate_limit_wait(status, &headers) {
                Some(wait) if waited + wait <= self.max_wait => {
                    tracing::warn!("{} rate limit on {what}: waiting {}s", self.forge, wait.as_secs());
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                Some(wait) => {
                    return Err(refused(format!(
                        " (rate limited for {}s more, longer than the {}s flinkform waits: run again later)",
                        wait.as_secs(),
                        self.max_wait.as_secs()
                    )));
                }
                None => return Err(refused((self.hint)(status.as_u16()).to_string())),
            }
        }
    }
}

/// How long the forge asks to wait: `retry-after` (seconds), or until the reset when no
/// requests are left (GitHub: `x-ratelimit-remaining`/`x-ratelimit-reset` on a 403 or 429;
/// GitLab: `RateLimit-Remaining`/`RateLimit-Reset` on a 429).
fn rate_limit_wait(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let num = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(secs) = num("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let remaining = num("x-ratelimit-remaining").or_else(|| num("ratelimit-remaining"));
    if remaining == Some(0) {
        let reset = num("x-ratelimit-reset").or_else(|| num("ratelimit-reset"))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(60))
}

/// The `rel="next"` address of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
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
        for (remaining, reset) in
            [("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset")]
        {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(remaining, "0".parse().unwrap());
            let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
            h.insert(reset, at.to_string().parse().unwrap());
            let wait = rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h).unwrap();
            assert!(wait >= Duration::from_secs(29) && wait <= Duration::from_secs(32), "{wait:?}");
        }
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "10".parse().unwrap());
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &h), None, "a plain 403 is a permission error");
    }
}
