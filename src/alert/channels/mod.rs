//! Each vendor's request for an alert: address, headers and body as its documentation
//! gives them, and its signing. A response is judged as the vendor documents it, too
//! (DingTalk and WeCom answer `errcode`, Feishu `code`, Slack the text `ok`).
//!
//! - DingTalk custom robot, "Custom robot security settings" (open.dingtalk.com/document/
//!   robots/customize-robot-security-settings): `timestamp` (ms) and `sign` =
//!   urlencode(base64(HmacSHA256(key = secret, message = timestamp + "\n" + secret)))
//!   added to the webhook's query; body `{"msgtype": "markdown", "markdown": {title, text}}`.
//! - WeCom group robot, "Group robot configuration" (developer.work.weixin.qq.com/
//!   document/path/91770): body `{"msgtype": "markdown", "markdown": {"content"}}`, the
//!   content at most 4096 bytes; no signing (the key is in the address).
//! - Feishu / Lark custom bot, "Custom bot usage guide" (open.feishu.cn/document/
//!   client-docs/bot-v3/add-custom-bot): `timestamp` (s) and `sign` =
//!   base64(HmacSHA256(key = timestamp + "\n" + secret, message = empty)) in the body
//!   with `{"msg_type": "text", "content": {"text"}}`.
//! - Slack incoming webhooks (api.slack.com/messaging/webhooks): body `{"text"}`, answer
//!   `ok`.
//! - A generic webhook: flinkform's JSON (`docs/serve.md`), signed when it has a secret:
//!   `X-Flinkform-Timestamp` (s) and `X-Flinkform-Signature` = `sha256=` hex(HmacSHA256(
//!   key = secret, message = timestamp + "." + body)).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use flinkform_core::spec::ChannelKind;
use flinkform_core::watch::alerts::Alert;

/// One request to send.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// Where (holds the robot's token: never shown).
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

/// The WeCom markdown content's documented maximum, in bytes.
const WECOM_MAX: usize = 4096;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `s` percent-encoded for a query value (RFC 3986 unreserved characters kept).
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The alerts as a subject and lines of text: each one's section, one after the other.
pub fn text(alerts: &[Alert], markdown: bool) -> (String, String) {
    if let [a] = alerts {
        return one(a, markdown);
    }
    let subject = format!("flinkform: {} alerts", alerts.len());
    let (head, sep) =
        if markdown { (format!("### {subject}\n\n"), "\n\n---\n\n") } else { (format!("{subject}\n\n"), "\n\n") };
    let sections: Vec<String> = alerts.iter().map(|a| one(a, markdown).1).collect();
    (subject, head + &sections.join(sep))
}

/// One alert as lines of text: what happened, VVP's diagnosis, the change that last
/// touched the pipeline.
fn one(a: &Alert, markdown: bool) -> (String, String) {
    let subject = match &a.pipeline {
        Some(p) => format!("flinkform {} · {p}: {}", a.env, a.on.name().replace('_', " ")),
        None => format!("flinkform {}: {}", a.env, a.on.name().replace('_', " ")),
    };
    let mut lines = vec![if markdown { format!("### {subject}") } else { subject.clone() }, a.what.clone()];
    if !a.diagnosis.is_empty() {
        lines.push(format!("VVP's diagnosis: {}", a.diagnosis.join("; ")));
    }
    if let Some(c) = &a.change {
        let mut said = vec![format!("applied {}", c.at)];
        if let Some(by) = &c.by {
            said.push(format!("by {by}"));
        }
        if let Some(r) = &c.review {
            said.push(match (&r.url, markdown) {
                (Some(url), true) => format!("from [{}]({url})", r.name),
                (Some(url), false) => format!("from {} ({url})", r.name),
                (None, _) => format!("from {}", r.name),
            });
        }
        if let Some(sha) = &c.commit {
            said.push(format!("commit {}", &sha[..sha.len().min(12)]));
        }
        if let Some(plan) = &c.plan {
            said.push(format!("plan {}", &plan[..plan.len().min(12)]));
        }
        lines.push(format!("Last change: {}", said.join(", ")));
    }
    (subject, lines.join(if markdown { "\n\n" } else { "\n" }))
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The request that posts `alerts` (one message) to a channel of `kind` at `url`,
/// signed with `secret` where the vendor signs, at `now_ms`.
pub fn request(kind: ChannelKind, url: &str, secret: Option<&str>, alerts: &[Alert], now_ms: u64) -> Request {
    let json = |v: serde_json::Value| v.to_string();
    match kind {
        ChannelKind::DingTalk => {
            let (title, body) = text(alerts, true);
            let url = match secret {
                Some(secret) => {
                    let sign = b64(&hmac(secret.as_bytes(), format!("{now_ms}\n{secret}").as_bytes()));
                    let sep = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{sep}timestamp={now_ms}&sign={}", urlencode(&sign))
                }
                None => url.to_string(),
            };
            let body = json(serde_json::json!({"msgtype": "markdown", "markdown": {"title": title, "text": body}}));
            Request { url, headers: Vec::new(), body }
        }
        ChannelKind::WeCom => {
            let (_, body) = text(alerts, true);
            let content = cut(&body, WECOM_MAX);
            let body = json(serde_json::json!({"msgtype": "markdown", "markdown": {"content": content}}));
            Request { url: url.to_string(), headers: Vec::new(), body }
        }
        ChannelKind::Feishu => {
            let (_, body) = text(alerts, false);
            let mut v = serde_json::json!({"msg_type": "text", "content": {"text": body}});
            if let Some(secret) = secret {
                let ts = now_ms / 1000;
                v["timestamp"] = ts.to_string().into();
                v["sign"] = b64(&hmac(format!("{ts}\n{secret}").as_bytes(), b"")).into();
            }
            Request { url: url.to_string(), headers: Vec::new(), body: json(v) }
        }
        ChannelKind::Slack => {
            let (_, body) = text(alerts, false);
            Request { url: url.to_string(), headers: Vec::new(), body: json(serde_json::json!({"text": body})) }
        }
        ChannelKind::Webhook => {
            let (_, said) = text(alerts, false);
            let body = json(serde_json::json!({"version": 1, "alerts": alerts, "text": said}));
            let mut headers = Vec::new();
            if let Some(secret) = secret {
                let ts = now_ms / 1000;
                let mac = hmac(secret.as_bytes(), format!("{ts}.{body}").as_bytes());
                headers.push(("X-Flinkform-Timestamp", ts.to_string()));
                headers.push(("X-Flinkform-Signature", format!("sha256={}", hex::encode(mac))));
            }
            Request { url: url.to_string(), headers, body }
        }
    }
}

/// What a channel's answer means.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Accepted.
    Ok,
    /// Worth trying again (a rate limit, the server's trouble).
    Retry(String),
    /// Refused (a bad signature, a removed robot): trying again would not help.
    Refused(String),
}

/// Judges a response of `kind` with HTTP `status` and `body`.
pub fn judge(kind: ChannelKind, status: u16, body: &str) -> Answer {
    if status == 429 || status >= 500 {
        return Answer::Retry(format!("HTTP {status}"));
    }
    if !(200..300).contains(&status) {
        return Answer::Refused(format!("HTTP {status}: {}", cut(body.trim(), 200)));
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let code = |key: &str| v.get(key).and_then(serde_json::Value::as_i64);
    let said = |key: &str| v.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    match kind {
        // DingTalk: 130101 "send too fast"; WeCom: 45009 "api freq out of limit".
        ChannelKind::DingTalk | ChannelKind::WeCom => match code("errcode") {
            Some(0) => Answer::Ok,
            Some(c @ (130101 | 45009)) => Answer::Retry(format!("errcode {c}: {}", said("errmsg"))),
            Some(c) => Answer::Refused(format!("errcode {c}: {}", said("errmsg"))),
            None => Answer::Refused(format!("no errcode in the answer: {}", cut(body.trim(), 200))),
        },
        // Feishu: 9499 "too many request"; older answers say StatusCode.
        ChannelKind::Feishu => match code("code").or_else(|| code("StatusCode")) {
            Some(0) => Answer::Ok,
            Some(c @ 9499) => Answer::Retry(format!("code {c}: {}", said("msg"))),
            Some(c) => Answer::Refused(format!("code {c}: {}", said("msg"))),
            None => Answer::Refused(format!("no code in the answer: {}", cut(body.trim(), 200))),
        },
        ChannelKind::Slack if body.trim() == "ok" => Answer::Ok,
        ChannelKind::Slack => Answer::Refused(format!("Slack answered `{}`", cut(body.trim(), 200))),
        ChannelKind::Webhook => Answer::Ok,
    }
}

/// How many messages a channel takes per minute, as its vendor documents (DingTalk and
/// WeCom 20, Feishu 100, Slack one a second); a generic webhook is not limited here.
pub fn per_minute(kind: ChannelKind) -> Option<usize> {
    match kind {
        ChannelKind::DingTalk | ChannelKind::WeCom => Some(20),
        ChannelKind::Feishu => Some(100),
        ChannelKind::Slack => Some(60),
        ChannelKind::Webhook => None,
    }
}

#[cfg(test)]
mod tests;
