//! A sample: a bounded buffer of JSON object records, stored back to back, and the
//! record filter that decides what is usable (a UTF-8 JSON object within the byte cap).
//! Reading the records (files, Kafka) is the binary's edge, behind its `Sampler` trait.

use serde::de::IgnoredAny;

/// Records that were read but not used, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not valid JSON.
    pub invalid_json: u64,
    /// Valid JSON, but not an object (scalar, array, null).
    pub not_object: u64,
    /// Not valid UTF-8.
    pub bad_utf8: u64,
    /// Longer than the per-message byte cap.
    pub too_large: u64,
    /// Kafka tombstones (null values).
    pub tombstones: u64,
}

impl Skipped {
    /// All skipped records.
    pub fn total(&self) -> u64 {
        self.invalid_json + self.not_object + self.bad_utf8 + self.too_large + self.tombstones
    }

    /// "3 invalid JSON, 1 not an object", or empty when nothing was skipped.
    pub fn describe(&self) -> String {
        [
            (self.invalid_json, "invalid JSON"),
            (self.not_object, "not an object"),
            (self.bad_utf8, "not UTF-8"),
            (self.too_large, "over the byte cap"),
            (self.tombstones, "tombstones"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A bounded sample of JSON object records, stored back to back in one buffer.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    data: Vec<u8>,
    ends: Vec<usize>,
    /// What was skipped and why.
    pub skipped: Skipped,
    /// Where the sample came from (a file path or `topic@servers`), for messages.
    pub origin: String,
    /// Digest of the records used, for saved plans.
    pub digest: String,
    /// Taken from the sample cache: the topic had not changed since it was read.
    pub cached: bool,
}

impl Sample {
    /// An empty sample from `origin`.
    pub fn new(origin: impl Into<String>) -> Sample {
        Sample { origin: origin.into(), ..Sample::default() }
    }

    /// Number of usable records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no record is usable.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The usable records, each a JSON object's bytes.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(s, e)| &self.data[s..e])
    }

    /// Offers one raw message; keeps it if it is a JSON object within `max_bytes`,
    /// otherwise counts why not. `None` is a tombstone.
    pub fn offer(&mut self, message: Option<&[u8]>, max_bytes: u64) {
        match message {
            None => self.skipped.tombstones += 1,
            Some(m) => self.take(m, verdict(m, max_bytes)),
        }
    }

    /// Offers messages in order, as [`Sample::offer`] would one by one, until the
    /// sample holds `cap` records; checks them on up to `threads` cores.
    pub fn offer_all(&mut self, messages: &[&[u8]], max_bytes: u64, cap: usize, threads: usize) {
        // Checking a message costs about a microsecond: a thread pays off from a few
        // thousand. Checked a batch at a time, no larger than what the cap still takes
        // (or a few thousand), so that little is checked past the cap.
        const MIN_BATCH: usize = 4096;
        let mut rest = messages;
        while !rest.is_empty() && self.len() < cap {
            let (batch, after) = rest.split_at(rest.len().min((cap - self.len()).max(MIN_BATCH)));
            rest = after;
            let verdicts = crate::par::map_chunks(batch, threads, MIN_BATCH, |_, part| {
                part.iter().map(|m| verdict(m, max_bytes)).collect::<Vec<_>>()
            });
            for (m, v) in batch.iter().zip(verdicts.into_iter().flatten()) {
                if self.len() >= cap {
                    break;
                }
                self.take(m, v);
            }
        }
    }

    fn take(&mut self, message: &[u8], v: Verdict) {
        match v {
            Verdict::Record => {
                self.data.extend_from_slice(message.strip_prefix(BOM).unwrap_or(message));
                self.ends.push(self.data.len());
            }
            Verdict::TooLarge => self.skipped.too_large += 1,
            Verdict::BadUtf8 => self.skipped.bad_utf8 += 1,
            Verdict::InvalidJson => self.skipped.invalid_json += 1,
            Verdict::NotObject => self.skipped.not_object += 1,
        }
    }

    /// Seals the sample: computes its digest, with BLAKE3, since a sample is by far the
    /// largest input and SHA-256 took a sixth of inferring one.
    pub fn finish(mut self) -> Sample {
        let mut h = blake3::Hasher::new();
        h.update(&(self.data.len() as u64).to_le_bytes());
        h.update(&self.data);
        h.update(&(self.ends.len() as u64).to_le_bytes());
        self.digest = h.finalize().to_hex().to_string();
        self
    }
}

/// The UTF-8 byte order mark, which a message may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the record filter makes of one message.
#[derive(Clone, Copy)]
enum Verdict {
    Record,
    TooLarge,
    BadUtf8,
    InvalidJson,
    NotObject,
}

fn verdict(message: &[u8], max_bytes: u64) -> Verdict {
    let m = message.strip_prefix(BOM).unwrap_or(message);
    if m.len() as u64 > max_bytes {
        return Verdict::TooLarge;
    }
    // Parsed as text: serde_json then checks no UTF-8 again.
    let Ok(text) = std::str::from_utf8(m) else { return Verdict::BadUtf8 };
    if serde_json::from_str::<IgnoredAny>(text).is_err() {
        Verdict::InvalidJson
    } else if m.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        Verdict::NotObject
    } else {
        Verdict::Record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offering_all_at_once_is_offering_one_by_one_up_to_the_cap() {
        let kinds: [&[u8]; 6] = [
            b"{\"a\":1}",
            b"\xEF\xBB\xBF{\"b\":2}",
            b"not json",
            b"[1]",
            b"{\"c\":\"\xff\"}",
            b"{\"long\":\"xxxxxxxxxx\"}",
        ];
        let messages: Vec<&[u8]> = (0..10_000).map(|i| kinds[(i * 7 + i / 3) % kinds.len()]).collect();
        for cap in [0, 1, 5, 4095, 4097, 6000, 20_000] {
            let mut one = Sample::new("t");
            for m in &messages {
                if one.len() >= cap {
                    break;
                }
                one.offer(Some(m), 16);
            }
            for threads in [1, 2, 3] {
                let mut all = Sample::new("t");
                all.offer_all(&messages, 16, cap, threads);
                assert_eq!(all.records().collect::<Vec<_>>(), one.records().collect::<Vec<_>>(), "cap {cap}");
                assert_eq!(all.skipped, one.skipped, "cap {cap}, {threads} threads");
            }
        }
    }
}
