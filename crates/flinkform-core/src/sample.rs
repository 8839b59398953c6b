//! A sample: a bounded buffer of JSON object records, as spans of the text they were
//! read from or of the messages copied in, and the record filter that decides what is usable (a UTF-8 JSON object within the byte cap).
//! The filter is the inference scanner: one pass over a record both checks it and
//! observes its values into the sample's shape. Reading the records (files, Kafka) is
//! the binary's edge, behind its `Sampler` trait.

use crate::infer::{InferConfig, Refusal, Shape, observe, settle};

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

/// A bounded sample of JSON object records: spans of one buffer, which is the text they
/// were read from (JSON Lines are kept where they were read) or the messages copied in.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// What was skipped and why.
    pub skipped: Skipped,
    /// Where the sample came from (a file path or `topic@servers`), for messages.
    pub origin: String,
    /// Digest of the records used and of the text they lie in, for saved plans: made
    /// when first asked for ([`Sample::digest`]), on the cores `finish` was given.
    digest: std::sync::OnceLock<String>,
    threads: usize,
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
        self.spans.len()
    }

    /// True when no record is usable.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The usable records, each a JSON object's bytes.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|&(s, e)| &self.data[s..e])
    }

    /// Every usable record observed at every depth (see [`Sample::infer`]).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The shape of the records under `cfg`: they were observed as they were taken, so
    /// this costs a copy of the shape, not another pass over the records.
    pub fn infer(&self, cfg: &InferConfig) -> Shape {
        settle(self.shape.clone(), cfg)
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
        self.count(v);
        if v.is_record() {
            self.copy(m);
        }
    }

    /// Offers messages in order, as [`Sample::offer`] would one by one, until the
    /// sample holds `cap` records; checks them on up to `threads` cores.
    pub fn offer_all(&mut self, messages: &[&[u8]], max_bytes: u64, cap: usize, threads: usize) {
        let verdicts = self.judge(messages, max_bytes, cap, threads, MIN_CHUNK);
        for (m, v) in messages.iter().zip(verdicts) {
            if v.is_record() {
                self.copy(m);
            }
        }
    }

    /// Offers the JSON Lines of `text` in order, as [`Sample::offer_all`] would, keeping
    /// the records where they are (no copy when the sample is empty): every line that
    /// ends in a newline, and the last one too when `last`. Blank lines are no messages,
    /// and a line's `\r\n` is its end. Returns what follows the last line offered (a line
    /// begun but not ended), to be given again in front of the next text.
    pub fn offer_lines(&mut self, text: Vec<u8>, last: bool, max_bytes: u64, cap: usize, threads: usize) -> Vec<u8> {
        let cut = match memchr::memrchr(b'\n', &text) {
            _ if last => text.len(),
            Some(i) => i + 1,
            None => return text, // a line longer than the text: all of it comes again
        };
        let rest = text[cut..].to_vec();
        let base = self.data.len();
        if base == 0 {
            self.data = text;
            self.data.truncate(cut);
        } else {
            self.data.extend_from_slice(&text[..cut]);
        }
        let data = std::mem::take(&mut self.data);
        let spans = lines(&data[base..]).map(|(a, z)| (base + a, base + z)).collect::<Vec<_>>();
        let lines: Vec<&[u8]> = spans.iter().map(|&(a, z)| &data[a..z]).collect();
        let verdicts = self.judge(&lines, max_bytes, cap, threads, MIN_CHUNK);
        for (&(a, z), v) in spans.iter().zip(verdicts) {
            if v.is_record() {
                let bom = if data[a..z].starts_with(BOM) { BOM.len() } else { 0 };
                self.spans.push((a + bom, z));
            }
        }
        self.data = data;
        rest
    }

    /// Judges messages in order until the sample would hold `cap` records, in batches of
    /// what the cap still takes (so that nothing past it is observed), each batch in
    /// chunks of at least `min_chunk` on up to `threads` cores: every chunk is observed
    /// into a shape of its own, and the shapes are joined in order. Counts what is
    /// skipped; returns the verdicts of the messages judged, a prefix of `messages`.
    fn judge(
        &mut self,
        messages: &[&[u8]],
        max_bytes: u64,
        cap: usize,
        threads: usize,
        min_chunk: usize,
    ) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(messages.len().min(cap));
        let mut taken = self.len();
        let mut rest = messages;
        while !rest.is_empty() && taken < cap {
            let (batch, after) = rest.split_at(rest.len().min(cap - taken));
            rest = after;
            let parts = crate::par::map_chunks(batch, threads, min_chunk, |_, part| {
                let mut shape = Shape::default();
                let verdicts: Vec<Verdict> = part.iter().map(|m| verdict(&mut shape, m, max_bytes)).collect();
                if verdicts.iter().any(|v| v.touched()) {
                    shape = observed(part.iter().zip(&verdicts).filter(|(_, v)| v.is_record()).map(|(m, _)| *m));
                }
                (shape, verdicts)
            });
            for (shape, vs) in parts {
                self.shape.join(&shape);
                for v in vs {
                    self.count(v);
                    taken += usize::from(v.is_record());
                    verdicts.push(v);
                }
            }
        }
        verdicts
    }

    /// Counts a message that is not a record.
    fn count(&mut self, v: Verdict) {
        let k = &mut self.skipped;
        match v {
            Verdict::Record => {}
            Verdict::TooLarge => k.too_large += 1,
            Verdict::BadUtf8 { .. } => k.bad_utf8 += 1,
            Verdict::InvalidJson { .. } => k.invalid_json += 1,
            Verdict::NotObject => k.not_object += 1,
        }
    }

    /// Keeps a record by copying it in.
    fn copy(&mut self, message: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(message.strip_prefix(BOM).unwrap_or(message));
        self.spans.push((start, self.data.len()));
    }

    /// Seals the sample: drops what follows the last record; its digest will be made on
    /// up to `threads` cores.
    pub fn finish(mut self, threads: usize) -> Sample {
        if std::mem::take(&mut self.stale) {
            self.shape = observed(self.records());
        }
        self.data.truncate(self.spans.last().map_or(0, |&(_, e)| e));
        self.threads = threads;
        self
    }

    /// The digest of the text and the records' places in it (of a finished sample),
    /// made once, when first asked for: `schema` never needs it.
    pub fn digest(&self) -> &str {
        self.digest.get_or_init(|| digest(&self.data, &self.spans, self.threads))
    }
}

/// BLAKE3 over the text's length, the BLAKE3 of each MiB of it (the MiBs hashed in
/// parallel: a sample is by far the largest input, and one core took a tenth of a
/// `schema` to hash it), and the records' places in it.
fn digest(data: &[u8], spans: &[(usize, usize)], threads: usize) -> String {
    const PIECE: usize = 1 << 20;
    let pieces: Vec<&[u8]> = data.chunks(PIECE).collect();
    let hashes =
        crate::par::map_chunks(&pieces, threads, 4, |_, part| part.iter().map(|p| blake3::hash(p)).collect::<Vec<_>>());
    let mut h = blake3::Hasher::new();
    h.update(&(data.len() as u64).to_le_bytes());
    hashes.iter().flatten().for_each(|p| {
        h.update(p.as_bytes());
    });
    let places: Vec<u8> = spans.iter().flat_map(|&(a, z)| [a as u64, z as u64]).flat_map(u64::to_le_bytes).collect();
    h.update(&(spans.len() as u64).to_le_bytes());
    h.update(&places);
    h.finalize().to_hex().to_string()
}

/// Checking a message costs about a microsecond: a thread pays off from a few thousand.
const MIN_CHUNK: usize = 4096;

/// The lines of JSON Lines text that hold something, as spans without the line ends.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let ends =
        memchr::memchr_iter(b'\n', text).chain((!text.is_empty() && !text.ends_with(b"\n")).then_some(text.len()));
    let mut start = 0;
    ends.filter_map(move |end| {
        let line = (start, if end > start && text[end - 1] == b'\r' { end - 1 } else { end });
        start = end + 1;
        // Blank lines are not messages.
        (!text[line.0..line.1].iter().all(u8::is_ascii_whitespace)).then_some(line)
    })
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
    // Refused before the first `{`, a record has touched nothing; asked of refused
    // records only, off the path of the usable ones.
    let opens = || m.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match observe(shape, m) {
        Ok(()) => Verdict::Record,
        Err(Refusal::NotObject) => Verdict::NotObject,
        Err(Refusal::Invalid(_)) => Verdict::InvalidJson { touched: opens() },
        Err(Refusal::NotText(_)) => Verdict::BadUtf8 { touched: opens() && std::str::from_utf8(m).is_ok() },
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
            let one = one.finish(1);
            // The records kept, observed afresh: what the shape must be, refused records
            // leaving no trace in it.
            let mut expect = Shape::default();
            one.records().for_each(|r| observe(&mut expect, r).expect("a kept record"));
            assert_eq!(format!("{expect:?}"), shape_of(&one), "cap {cap}");
            for threads in [1, 2, 3] {
                let mut all = Sample::new("t");
                all.offer_all(&messages, 16, cap, threads);
                let all = all.finish(threads);
                assert_eq!(all.records().collect::<Vec<_>>(), one.records().collect::<Vec<_>>(), "cap {cap}");
                assert_eq!(all.skipped, one.skipped, "cap {cap}, {threads} threads");
                assert_eq!(shape_of(&all), shape_of(&one), "cap {cap}, {threads} threads");
            }
            // The same messages as JSON Lines (CRLF ends and blank lines between, which
            // are no messages), read in blocks cut anywhere, a line's start carried over.
            let text: Vec<u8> = messages
                .iter()
                .enumerate()
                .flat_map(|(i, m)| [*m, [&b"\n"[..], b"\r\n", b"\n \n"][i % 3]].concat())
                .collect();
            for block in [7, 1000, 1 << 20] {
                let mut lines = Sample::new("t");
                let mut carry = Vec::new();
                for (k, piece) in text.chunks(block).enumerate() {
                    carry.extend_from_slice(piece);
                    let last = (k + 1) * block >= text.len();
                    carry = lines.offer_lines(carry, last, 16, cap, 2);
                }
                let lines = lines.finish(2);
                assert_eq!(lines.records().collect::<Vec<_>>(), one.records().collect::<Vec<_>>(), "cap {cap}");
                assert_eq!(lines.skipped, one.skipped, "cap {cap}, blocks of {block}");
                assert_eq!(shape_of(&lines), shape_of(&one), "cap {cap}, blocks of {block}");
            }
        }
    }

    #[test]
    fn the_digest_is_of_the_records_and_their_text_whatever_the_threads() {
        let text: Vec<u8> = (0..400_000).flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes()).collect();
        let digest = |threads, edit: Option<usize>| {
            let mut t = text.clone();
            if let Some(i) = edit {
                t[i] = b'7';
            }
            let mut s = Sample::new("t");
            s.offer_lines(t, true, 64, usize::MAX, threads);
            s.finish(threads).digest().to_string()
        };
        let d = digest(1, None);
        assert_eq!(d, digest(4, None), "the same on any number of cores");
        assert_ne!(d, digest(1, Some(text.len() - 3)), "a digit changed in the last record");
        assert_ne!(d, digest(2, Some(6)), "a digit changed in the first record");
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
            let one = one.finish(1);
            let mut many = Sample::new("t");
            let verdicts = many.judge(&refs, u64::MAX, cap, threads, 1);
            for (m, v) in refs.iter().zip(verdicts) {
                if v.is_record() {
                    many.copy(m);
                }
            }
            let many = many.finish(threads);
            proptest::prop_assert_eq!(shape_of(&one), shape_of(&many));
            proptest::prop_assert_eq!(one.skipped, many.skipped);
        }
    }
}
