//! A sample: a bounded buffer of JSON object records, stored back to back, and the
//! record filter that decides what is usable (a UTF-8 JSON object within the byte cap).
//! The filter is the inference scanner: one pass over a record both checks it and
//! observes its values into the sample's shape. Reading the records (files, Kafka) is
//! the binary's edge, behind its `Sampler` trait.

use crate::infer::{Refusal, Shape, observe};

/// Records that were read but not used, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not valid JSON.
    pub invalid_json: u64,
    /// Valid JSON, but not an object (scalar, array, null).
    pub not_object: u64,
    /// Not valid UTF-8, or a `\u` escape of a lone surrogate (no Unicode text).
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
    /// Every usable record observed, at every depth.
    shape: Shape,
    /// A refused record left part of itself in `shape`: it is observed again from the
    /// usable records when the sample is finished.
    stale: bool,
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

    /// Every usable record observed at every depth (see [`crate::infer::of_sample`]).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Offers one raw message; keeps it if it is a JSON object within `max_bytes`,
    /// otherwise counts why not. `None` is a tombstone.
    pub fn offer(&mut self, message: Option<&[u8]>, max_bytes: u64) {
        let Some(m) = message else {
            self.skipped.tombstones += 1;
            return;
        };
        let v = verdict(&mut self.shape, m, max_bytes);
        self.stale |= v.touched();
        self.take(m, v);
    }

    /// Offers messages in order, as [`Sample::offer`] would one by one, until the
    /// sample holds `cap` records; checks them on up to `threads` cores.
    pub fn offer_all(&mut self, messages: &[&[u8]], max_bytes: u64, cap: usize, threads: usize) {
        // Checking a message costs about a microsecond: a thread pays off from a few thousand.
        self.offer_chunked(messages, max_bytes, cap, threads, 4096);
    }

    /// [`Sample::offer_all`] in chunks of at least `min_chunk` messages. A batch is what
    /// the cap still takes, so that nothing past the cap is observed into the shape; each
    /// chunk is observed into a shape of its own, and the shapes are joined in order.
    fn offer_chunked(&mut self, messages: &[&[u8]], max_bytes: u64, cap: usize, threads: usize, min_chunk: usize) {
        let mut rest = messages;
        while !rest.is_empty() && self.len() < cap {
            let (batch, after) = rest.split_at(rest.len().min(cap - self.len()));
            rest = after;
            let parts = crate::par::map_chunks(batch, threads, min_chunk, |_, part| {
                let mut shape = Shape::default();
                let verdicts: Vec<Verdict> = part.iter().map(|m| verdict(&mut shape, m, max_bytes)).collect();
                if verdicts.iter().any(|v| v.touched()) {
                    shape = observed(part.iter().zip(&verdicts).filter(|(_, v)| v.is_record()).map(|(m, _)| *m));
                }
                (shape, verdicts)
            });
            let mut verdicts = Vec::with_capacity(batch.len());
            for (shape, v) in parts {
                self.shape.join(&shape);
                verdicts.extend(v);
            }
            for (m, v) in batch.iter().zip(verdicts) {
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
            Verdict::BadUtf8 { .. } => self.skipped.bad_utf8 += 1,
            Verdict::InvalidJson { .. } => self.skipped.invalid_json += 1,
            Verdict::NotObject => self.skipped.not_object += 1,
        }
    }

    /// Seals the sample: computes its digest, with BLAKE3, since a sample is by far the
    /// largest input and SHA-256 took a sixth of inferring one.
    pub fn finish(mut self) -> Sample {
        if std::mem::take(&mut self.stale) {
            self.shape = observed(self.records());
        }
        let mut h = blake3::Hasher::new();
        h.update(&(self.data.len() as u64).to_le_bytes());
        h.update(&self.data);
        h.update(&(self.ends.len() as u64).to_le_bytes());
        self.digest = h.finalize().to_hex().to_string();
        self
    }
}

/// The shape of records already found usable.
fn observed<'a>(records: impl Iterator<Item = &'a [u8]>) -> Shape {
    let mut shape = Shape::default();
    for r in records {
        // Usable records were observed once without a refusal, so they are again.
        let _ = observe(&mut shape, r);
    }
    shape
}

/// The UTF-8 byte order mark, which a message may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the record filter makes of one message; `touched` when the scanner had
/// observed part of a record into the shape before refusing it.
#[derive(Clone, Copy)]
enum Verdict {
    Record,
    TooLarge,
    BadUtf8 { touched: bool },
    InvalidJson { touched: bool },
    NotObject,
}

impl Verdict {
    fn touched(self) -> bool {
        matches!(self, Verdict::BadUtf8 { touched: true } | Verdict::InvalidJson { touched: true })
    }

    fn is_record(self) -> bool {
        matches!(self, Verdict::Record)
    }
}

/// Checks one message and, when it is a usable record, observes it into `shape`.
fn verdict(shape: &mut Shape, message: &[u8], max_bytes: u64) -> Verdict {
    let m = message.strip_prefix(BOM).unwrap_or(message);
    if m.len() as u64 > max_bytes {
        return Verdict::TooLarge;
    }
    // Refused before the first `{`, a record has touched nothing.
    let opens = m.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match observe(shape, m) {
        Ok(()) => Verdict::Record,
        Err(Refusal::NotObject) => Verdict::NotObject,
        Err(Refusal::Invalid(_)) => Verdict::InvalidJson { touched: opens },
        Err(Refusal::NotText(_)) => Verdict::BadUtf8 { touched: opens && std::str::from_utf8(m).is_ok() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debug shows the fields in order, which `==` on the index maps ignores.
    fn shape_of(s: &Sample) -> String {
        format!("{:?}", s.shape())
    }

    #[test]
    fn offering_all_at_once_is_offering_one_by_one_up_to_the_cap() {
        let kinds: [&[u8]; 8] = [
            b"{\"a\":1}",
            b"\xEF\xBB\xBF{\"b\":2}",
            b"not json",
            b"[1]",
            b"{\"c\":\"\xff\"}",
            b"{\"long\":\"xxxxxxxxxx\"}",
            b"{\"x\":1,\"y\":tru}",
            b"{\"z\":\"\\ud800\"}",
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
            let one = one.finish();
            // The records kept, observed afresh: what the shape must be, refused records
            // leaving no trace in it.
            let mut expect = Shape::default();
            one.records().for_each(|r| observe(&mut expect, r).expect("a kept record"));
            assert_eq!(format!("{expect:?}"), shape_of(&one), "cap {cap}");
            for threads in [1, 2, 3] {
                let mut all = Sample::new("t");
                all.offer_all(&messages, 16, cap, threads);
                let all = all.finish();
                assert_eq!(all.records().collect::<Vec<_>>(), one.records().collect::<Vec<_>>(), "cap {cap}");
                assert_eq!(all.skipped, one.skipped, "cap {cap}, {threads} threads");
                assert_eq!(shape_of(&all), shape_of(&one), "cap {cap}, {threads} threads");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parallel_chunks_give_the_sequential_shape(
            records in proptest::collection::vec("[a-c]{1,2}", 1..40),
            values in proptest::collection::vec(proptest::sample::select(&["1", "2.5", "\"x\"", "null", "{\"d\":[1]}", "tru", "\"\\ud800\""][..]), 1..40),
            threads in 1usize..6,
            cap in 1usize..50,
        ) {
            let texts: Vec<String> =
                records.iter().zip(values.iter().cycle()).map(|(k, v)| format!("{{\"{k}\":{v},\"z\":0}}")).collect();
            let refs: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
            let mut one = Sample::new("t");
            for m in &refs {
                if one.len() < cap {
                    one.offer(Some(m), u64::MAX);
                }
            }
            let one = one.finish();
            let mut many = Sample::new("t");
            many.offer_chunked(&refs, u64::MAX, cap, threads, 1);
            let many = many.finish();
            proptest::prop_assert_eq!(shape_of(&one), shape_of(&many));
            proptest::prop_assert_eq!(one.skipped, many.skipped);
        }
    }
}
