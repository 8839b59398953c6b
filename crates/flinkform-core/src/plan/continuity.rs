//! Data continuity: where a restarted job's source starts reading, and what that means
//! for the messages, in numbers read from Kafka at plan time. A restart from the
//! savepoint reads on from the saved offsets; a restart without state reads from the
//! source's startup mode: the consumer group's committed offsets, the earliest or
//! latest offset, or a timestamp. Flink's Kafka source commits its offsets after each
//! completed checkpoint, and a stop does not wait for the last commit (measured on Flink
//! 2.0: docs/state.md), so the group's offsets trail what the old job read.

use serde::{Deserialize, Serialize};

use crate::spec::Upgrade;

/// One partition of a source topic, as Kafka showed it at plan time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffsets {
    /// Partition number.
    pub partition: i32,
    /// Oldest retained offset.
    pub low: i64,
    /// Next offset to be written.
    pub high: i64,
    /// The job's consumer group's committed offset, if any.
    pub committed: Option<i64>,
    /// The first offset at or after the startup timestamp (`startup_mode = "timestamp"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_timestamp: Option<i64>,
}

impl PartitionOffsets {
    /// Messages after `from` that are retained (an offset below the low watermark reads
    /// from it).
    fn after(&self, from: i64) -> u64 {
        u64::try_from(self.high - from.max(self.low)).unwrap_or(0)
    }
}

/// Where the new job's source starts, with what Kafka showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "start", rename_all = "snake_case")]
pub enum Start {
    /// From the savepoint's offsets: nothing is read twice or skipped.
    Savepoint,
    /// `group-offsets`: at the consumer group's committed offsets; a partition without
    /// one reads from `offset_reset`.
    GroupOffsets {
        /// The consumer group.
        group: String,
        /// `earliest` or `latest`: where a partition without a committed offset reads.
        offset_reset: String,
    },
    /// `earliest-offset`: every retained message again.
    Earliest,
    /// `latest-offset`: what is unread at the stop, and produced until the new job
    /// runs, is skipped.
    Latest,
    /// `timestamp`: from the first message at or after it.
    Timestamp,
    /// `specific-offsets`: from the offsets the spec gives.
    SpecificOffsets,
    /// The job stays stopped (`flinkform stop`): nothing is read until `flinkform start`.
    Stopped,
}

/// What a restart does to the messages: where reading starts, and counts from Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataEffect {
    /// Where the new job's source starts.
    #[serde(flatten)]
    pub start: Start,
    /// Messages read again (already read by the old job), as Kafka shows it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reread: Option<u64>,
    /// Messages skipped (never read), as Kafka shows it now; the messages produced
    /// between the stop and the start add to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// Messages not yet read by the old job (its group's lag), which the new job reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Partitions without a committed offset in the group (reading from `offset_reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncommitted: Option<u32>,
    /// Why the counts are missing (the topic could not be read at plan time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

impl DataEffect {
    /// Where a job restarted by `upgrade` starts, from the after-record's settings
    /// (`source.startup_mode`, `source.offset_reset`, `source.group_id`, as TOML text),
    /// and the counts from `offsets` (`Err`: why Kafka could not be read).
    pub fn of(
        upgrade: Upgrade,
        setting: impl Fn(&str) -> Option<String>,
        offsets: Result<&[PartitionOffsets], &str>,
    ) -> DataEffect {
        let text = |k: &str| setting(k).map(|v| v.trim_matches('"').to_string()).unwrap_or_default();
        let start = match (upgrade, text("source.startup_mode").as_str()) {
            (Upgrade::Stateful, _) => Start::Savepoint,
            (_, "earliest-offset") => Start::Earliest,
            (_, "latest-offset") => Start::Latest,
            (_, "timestamp") => Start::Timestamp,
            (_, "specific-offsets") => Start::SpecificOffsets,
            _ => Start::GroupOffsets { group: text("source.group_id"), offset_reset: text("source.offset_reset") },
        };
        DataEffect { start, ..DataEffect::stopped() }.counted(offsets)
    }

    /// This effect counted from `offsets` (`Err`: why Kafka could not be read): the same
    /// start, new counts.
    pub fn counted(&self, offsets: Result<&[PartitionOffsets], &str>) -> DataEffect {
        let mut effect = DataEffect { start: self.start.clone(), ..DataEffect::stopped() };
        match offsets {
            Ok(parts) => effect.count(parts),
            Err(why) => effect.unread = Some(why.to_string()),
        }
        effect
    }

    /// An update of a pipeline stopped on purpose: no job starts.
    pub fn stopped() -> DataEffect {
        DataEffect { start: Start::Stopped, reread: None, skipped: None, lag: None, uncommitted: None, unread: None }
    }

    /// Whether the topic's offsets count what this restart reads.
    pub fn counts(&self) -> bool {
        self.start != Start::Stopped
    }

    /// Fills in the counts, one pass over the partitions. What the old job read is known
    /// only where its group committed an offset: a count that needs an uncommitted
    /// partition is left out.
    fn count(&mut self, parts: &[PartitionOffsets]) {
        let (mut reread, mut skipped, mut lag, mut uncommitted) = (0u64, 0u64, 0u64, 0u32);
        for p in parts {
            let Some(committed) = p.committed else {
                uncommitted += 1;
                continue;
            };
            let (read, unread) = (p.after(p.low) - p.after(committed), p.after(committed));
            lag += unread;
            match &self.start {
                Start::Savepoint | Start::GroupOffsets { .. } | Start::SpecificOffsets | Start::Stopped => {}
                Start::Earliest => reread += read,
                Start::Latest => skipped += unread,
                Start::Timestamp => {
                    let from = p.at_timestamp.unwrap_or(p.high).max(p.low);
                    reread += u64::try_from(committed - from).unwrap_or(0);
                    skipped += u64::try_from(from - committed.max(p.low)).unwrap_or(0);
                }
            }
        }
        let known = uncommitted == 0;
        // From the savepoint nothing is read twice or skipped, whatever the group shows;
        // from the group's offsets, only where it has them.
        let (reread, skipped) = match self.start {
            Start::Savepoint => (Some(0), Some(0)),
            Start::SpecificOffsets | Start::Stopped => (None, None),
            // Flink commits on checkpoints, after the fact: what the old job read since its
            // last commit is read again, and how much that is, only the job knew.
            Start::GroupOffsets { .. } => (None, known.then_some(0)),
            _ => (known.then_some(reread), known.then_some(skipped)),
        };
        (self.reread, self.skipped) = (reread, skipped);
        self.uncommitted = Some(uncommitted);
        self.lag = known.then_some(lag);
    }

    /// The plan's line.
    pub fn line(&self) -> String {
        // Without counts, "the messages ..." still says what happens to them.
        let n = |v: Option<u64>| v.map_or("the".to_string(), |v| v.to_string());
        let mut line = match &self.start {
            Start::Savepoint => {
                "data: reads on from the savepoint's offsets: no message is read twice or skipped".to_string()
            }
            Start::GroupOffsets { group, .. } => {
                let skipped = if self.skips() { "" } else { ": no message is skipped" };
                format!(
                    "data: resumes at consumer group `{group}`'s committed offsets{skipped}; what the old job read after its last commit (Flink commits after each checkpoint) is read again, the same rows again on an upsert sink"
                )
            }
            Start::Earliest => format!(
                "data: reads again from the earliest offset: {} messages the old job read are read again",
                n(self.reread)
            ),
            Start::Latest => format!(
                "data: starts at the latest offset: {} messages unread now, and every message produced until the new job runs, are skipped",
                n(self.skipped)
            ),
            Start::Timestamp => format!(
                "data: reads from the startup timestamp: {} messages the old job read after it are read again, and {} it had not read before it are skipped",
                n(self.reread),
                n(self.skipped)
            ),
            Start::SpecificOffsets => "data: reads from the offsets of `scan.startup.specific-offsets`".to_string(),
            Start::Stopped => {
                return "data: the job stays stopped: nothing is read until `flinkform start`".to_string();
            }
        };
        if let Some(k) = self.uncommitted.filter(|k| *k > 0) {
            match &self.start {
                Start::Savepoint => {}
                Start::GroupOffsets { offset_reset, .. } => line.push_str(&format!(
                    "; {k} partition(s) have no committed offset now, and start from the {offset_reset} (offset_reset)"
                )),
                _ => line.push_str(&format!(
                    "; {k} partition(s) have no committed offset in the job's consumer group, so what the old job read there is unknown"
                )),
            }
        }
        match (&self.unread, self.lag) {
            (Some(why), _) => line.push_str(&format!(" (the topic's offsets could not be read: {why})")),
            (None, Some(lag)) => line.push_str(&format!(" (the old job's group is {lag} messages behind now)")),
            (None, None) => {}
        }
        line
    }

    /// Whether the restart skips messages on purpose or by the data: the plan's summary
    /// says so.
    pub fn skips(&self) -> bool {
        let reset_latest = matches!(&self.start, Start::GroupOffsets { offset_reset, .. } if offset_reset == "latest");
        matches!(self.start, Start::Latest)
            || self.skipped.is_some_and(|s| s > 0)
            || (reset_latest && self.uncommitted.is_some_and(|k| k > 0))
    }
}

#[cfg(test)]
mod tests;
