//! `[[alert]]` in flinkform.toml: the chat channels `serve` and `watch` post to, and
//! which transitions each hears. A webhook's address holds its token, so it is named by
//! an environment variable, never written in the file; so is a signing secret.

use super::walk::Section;

/// Where an alert goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKind {
    /// A DingTalk custom robot (signed when it has a secret).
    DingTalk,
    /// A WeCom (WeChat Work) group robot.
    WeCom,
    /// A Feishu / Lark custom bot (signed when it has a secret).
    Feishu,
    /// A Slack incoming webhook.
    Slack,
    /// Any endpoint taking flinkform's JSON (signed with HMAC-SHA256 when it has a secret).
    Webhook,
}

impl ChannelKind {
    /// Every kind with its spelling in flinkform.toml.
    pub const ALL: [(&'static str, ChannelKind); 5] = [
        ("dingtalk", ChannelKind::DingTalk),
        ("wecom", ChannelKind::WeCom),
        ("feishu", ChannelKind::Feishu),
        ("slack", ChannelKind::Slack),
        ("webhook", ChannelKind::Webhook),
    ];

    /// Its spelling.
    pub fn name(self) -> &'static str {
        ChannelKind::ALL.iter().find(|(_, k)| *k == self).map_or("webhook", |(n, _)| n)
    }

    /// Whether the vendor documents a signing secret for this kind.
    pub fn signs(self) -> bool {
        matches!(self, ChannelKind::DingTalk | ChannelKind::Feishu | ChannelKind::Webhook)
    }
}

/// A transition an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOn {
    /// A job FAILED.
    Failed,
    /// Flink restarted a job.
    Restarting,
    /// VVP no longer runs what was applied.
    Drift,
    /// An apply failed.
    ApplyFailed,
    /// A job that should run was not RUNNING past its verify window.
    NotRunning,
}

impl AlertOn {
    /// Every transition with its spelling.
    pub const ALL: [(&'static str, AlertOn); 5] = [
        ("failed", AlertOn::Failed),
        ("restarting", AlertOn::Restarting),
        ("drift", AlertOn::Drift),
        ("apply_failed", AlertOn::ApplyFailed),
        ("not_running", AlertOn::NotRunning),
    ];

    /// Its spelling.
    pub fn name(self) -> &'static str {
        AlertOn::ALL.iter().find(|(_, k)| *k == self).map_or("failed", |(n, _)| n)
    }
}

/// One `[[alert]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertChannel {
    /// How messages and logs name it (`name`, else its kind and position).
    pub name: String,
    /// The vendor.
    pub kind: ChannelKind,
    /// The environment variable holding the webhook's address.
    pub url_env: String,
    /// The environment variable holding the signing secret, if it signs.
    pub secret_env: Option<String>,
    /// The transitions it hears (every one by default).
    pub on: Vec<AlertOn>,
}

/// Reads every `[[alert]]` of `root`.
pub(super) fn read_alerts(root: &Section<'_, '_>) -> Vec<AlertChannel> {
    let mut out = Vec::new();
    for (i, t) in root.tables("alert").into_iter().enumerate() {
        if let Some(c) = read_alert(&t, i + 1) {
            out.push(c);
        }
        t.finish();
    }
    out
}

fn read_alert(t: &Section<'_, '_>, n: usize) -> Option<AlertChannel> {
    if let Some(at) = t.get("url") {
        t.report(
            at.secret_error("a webhook's address holds its token: it is not written in flinkform.toml")
                .with_help("put it in an environment variable and name that with `url_env`"),
        );
    }
    if let Some(at) = t.get("secret") {
        t.report(
            at.secret_error("a signing secret is not written in flinkform.toml")
                .with_help("put it in an environment variable and name that with `secret_env`"),
        );
    }
    let kind = t.spelled("kind", &ChannelKind::ALL);
    if kind.is_none() && !t.has("kind") {
        t.report(t.error_here(format!("{} has no `kind`", t.path())).with_help(format!(
            "one of {}",
            ChannelKind::ALL.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
        )));
    }
    let url_env = t.required_string("url_env");
    let secret_env = t.string("secret_env");
    if let (Some(k), Some(at)) = (kind, t.get("secret_env"))
        && !k.signs()
    {
        t.report(at.error(format!("{} robots are not signed: `secret_env` does nothing here", k.name())));
    }
    let on = match t.string_list("on") {
        None => AlertOn::ALL.iter().map(|(_, k)| *k).collect(),
        Some(names) => {
            let mut on = Vec::new();
            for name in names {
                match AlertOn::ALL.iter().find(|(n, _)| *n == name) {
                    Some((_, k)) => on.push(*k),
                    None => {
                        t.report(t.get("on")?.error(format!("`on` names `{name}`, which is no transition")).with_help(
                            format!("each of {}", AlertOn::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
                        ))
                    }
                }
            }
            on
        }
    };
    let kind = kind?;
    Some(AlertChannel {
        name: t.string("name").unwrap_or_else(|| format!("{} #{n}", kind.name())),
        kind,
        url_env: url_env?,
        secret_env,
        on,
    })
}
