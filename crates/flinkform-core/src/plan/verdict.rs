//! What restarting a changed job from its savepoint does to the job's state, judged from
//! the operators flinkform renders: the Kafka source's read position (all state a job
//! without deduplication has) and the rows a deduplication keeps. One table, in order;
//! the first rule that applies decides, and a change no rule knows is `unknown`, never
//! `kept`. docs/state.md shows the table and what real Flink did for its rows.

use serde::{Deserialize, Serialize};

use crate::spec::{SourceFormat, Upgrade, parse_vvr};
use crate::state::PipelineState;

/// The state's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The new job reads the saved state as the old one wrote it.
    Kept,
    /// The restore fails or misreads the state: only a restart without state is sound.
    Lost,
    /// No rule of the table knows the change.
    Unknown,
}

impl Verdict {
    /// As the plan writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Kept => "kept",
            Verdict::Lost => "lost",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A verdict and the rule behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateVerdict {
    /// The state's fate.
    pub verdict: Verdict,
    /// Why, in the reviewer's words.
    pub why: String,
}

impl StateVerdict {
    fn new(verdict: Verdict, why: impl Into<String>) -> StateVerdict {
        StateVerdict { verdict, why: why.into() }
    }

    /// The plan's line: the verdict, why, and what it asks of the reviewer.
    pub fn line(&self, upgrade: Upgrade) -> String {
        let advice = match (self.verdict, upgrade) {
            (Verdict::Lost, Upgrade::Stateful) => {
                ": restoring the savepoint would fail or misread it, so the job restarts without state; an unreviewed apply needs `--accept-state-loss` for it"
            }
            _ => "",
        };
        format!("state: {} ({}){advice}", self.verdict.name(), self.why)
    }

    /// How apply restarts the job of a spec that asks for `upgrade`: from the savepoint,
    /// unless the spec says stateless or the restore would lose the state anyway.
    pub fn upgrade(&self, upgrade: Upgrade) -> Upgrade {
        match self.verdict {
            Verdict::Lost => Upgrade::Stateless,
            Verdict::Kept | Verdict::Unknown => upgrade,
        }
    }
}

/// The settings that describe the deduplication: its key and order.
const DEDUPE: [&str; 2] = ["transform.dedupe.key", "transform.dedupe.order_by"];

/// What restoring `after`'s job from `before`'s savepoint does to the state.
pub fn judge(before: &PipelineState, after: &PipelineState) -> StateVerdict {
    use Verdict::{Kept, Lost, Unknown};
    if after.deploy.upgrade == Upgrade::Stateless {
        return StateVerdict::new(Lost, "`upgrade = \"stateless\"`: the job restarts without state");
    }
    let (was, now) = (&before.deploy.engine_version, &after.deploy.engine_version);
    if was != now {
        return match (parse_vvr(was), parse_vvr(now)) {
            (Some(a), Some(b)) if a.0 != b.0 => StateVerdict::new(
                Lost,
                format!("VVR {} → {}: VVR keeps savepoints readable within a major version only", a.0, b.0),
            ),
            _ => StateVerdict::new(Unknown, format!("engine {was} → {now}: VVR's own check answers unknown for it")),
        };
    }
    if before.sql == after.sql {
        return StateVerdict::new(Kept, "the job's SQL is unchanged");
    }
    if !after.templates.values().all(|t| crate::render::is_builtin(t)) {
        return StateVerdict::new(Unknown, "templates of the project's own render the job");
    }
    if before.settings_form != after.settings_form {
        return StateVerdict::new(
            Unknown,
            "recorded by an earlier flinkform, whose settings are not compared key by key",
        );
    }
    let setting = |s: &PipelineState, k: &str| s.settings.get(k).cloned();
    if setting(before, "source.bootstrap_servers") != setting(after, "source.bootstrap_servers") {
        return StateVerdict::new(
            Lost,
            "the brokers changed: the saved read position is the old cluster's partitions and offsets",
        );
    }
    if before.more_sinks.len() != after.more_sinks.len() {
        return StateVerdict::new(
            Lost,
            "a sink added or removed changes the job graph's shape, and Flink refuses a savepoint whose operators it no longer finds",
        );
    }
    let changelog = |s: &PipelineState| {
        setting(s, "source.format").is_some_and(|f| f.trim_matches('"') != SourceFormat::Json.name())
    };
    if changelog(before) || changelog(after) {
        return StateVerdict::new(
            Unknown,
            "a change stream's upsert sinks may keep rows in state (Flink's sink materializer)",
        );
    }
    let dedupes = |s: &PipelineState| s.settings.contains_key(DEDUPE[0]);
    if dedupes(before) || dedupes(after) {
        if DEDUPE.iter().any(|k| setting(before, k) != setting(after, k)) {
            return StateVerdict::new(
                Lost,
                "the deduplication's key or order changed: its saved rows are keyed and kept as the old one kept them",
            );
        }
        let lookups = |s: &PipelineState| {
            s.settings
                .iter()
                .filter(|(k, _)| k.starts_with("lookup."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        if columns(before) != columns(after) || lookups(before) != lookups(after) {
            return StateVerdict::new(
                Lost,
                "the deduplication keeps each key's latest row in state, and the row changed: Flink cannot read the saved rows",
            );
        }
        return StateVerdict::new(Unknown, "the job's SQL changed around the deduplication's state");
    }
    let start = ["source.startup_mode", "source.offset_reset"];
    if start.iter().any(|k| setting(before, k) != setting(after, k)) {
        return StateVerdict::new(
            Kept,
            "the source's saved read position wins over the new startup mode, which only a restart without state uses",
        );
    }
    StateVerdict::new(Kept, "the job's only state is the source's read position, which the new job reads on from")
}

/// The columns a pipeline writes, as names and types.
fn columns(s: &PipelineState) -> Vec<(&str, &str)> {
    s.columns.iter().map(|c| (c.name.as_str(), c.ty.as_str())).collect()
}

#[cfg(test)]
pub(super) mod tests;
