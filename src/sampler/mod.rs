//! Sampling: bounded reads of JSON messages for inference, behind the [`Sampler`]
//! trait: the file sampler here, live topics in `kafka`. What counts as a usable record
//! is decided by [`Sample::offer`] in the core.

mod cache;
mod kafka;

pub use cache::SampleCache;
pub use kafka::{KafkaSampler, resolve_secret, source_offsets, topic_partitions};

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

pub use flinkform_core::sample::{Sample, Skipped};

use flinkform_core::spec::SourceSpec;

/// Why sampling failed.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The sample file could not be read.
    #[error("cannot read sample file {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The source cannot be sampled as configured.
    #[error("{0}")]
    Source(String),
}

/// Something that yields bounded samples of pipelines' messages.
pub trait Sampler: Send + Sync {
    /// Samples each source (at most `sample.messages` usable records each); one result
    /// per source, in order. Batched, so that a sampler can share connections.
    fn sample(&self, sources: &[&SourceSpec]) -> Vec<Result<Sample, SampleError>>;
}

/// Samples from files (`sample = { file = "..." }`): JSON Lines, or one JSON array.
pub struct FileSampler<'a> {
    /// Project root that `file` is relative to.
    pub root: &'a Path,
    /// How many cores may check one file's records.
    pub threads: usize,
}

impl Sampler for FileSampler<'_> {
    fn sample(&self, sources: &[&SourceSpec]) -> Vec<Result<Sample, SampleError>> {
        sources.iter().map(|s| self.sample_file(&s.sample)).collect()
    }
}

impl FileSampler<'_> {
    fn sample_file(&self, spec: &flinkform_core::spec::SampleSpec) -> Result<Sample, SampleError> {
        let rel = spec.file.as_deref().ok_or_else(|| SampleError::Source("no sample file configured".into()))?;
        let path = self.root.join(rel);
        let io = |source| SampleError::Io { path: rel.to_string(), source };
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut reader = BufReader::new(file);
        let head = reader.fill_buf().map_err(io)?;
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        let is_array = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        // A first line that is a lone `{` opens a pretty-printed object: the file is a
        // stream of JSON values (as `jq` reads it), not one record per line.
        let first_line = head.split(|b| *b == b'\n').find(|l| !l.trim_ascii().is_empty());
        let is_pretty = first_line.is_some_and(|l| l.trim_ascii() == b"{");
        let mut sample = Sample::new(rel);
        let cap = usize::try_from(spec.messages).unwrap_or(usize::MAX);
        if is_array || is_pretty {
            let mut text = Vec::new();
            reader.read_to_end(&mut text).map_err(io)?;
            let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
            let items: Vec<&serde_json::value::RawValue> = if is_array {
                serde_json::from_slice(text)
                    .map_err(|e| SampleError::Source(format!("{rel}: not a JSON array of records: {e}")))?
            } else {
                serde_json::Deserializer::from_slice(text)
                    .into_iter::<&serde_json::value::RawValue>()
                    .collect::<Result<_, _>>()
                    .map_err(|e| SampleError::Source(format!("{rel}: not a stream of JSON records: {e}")))?
            };
            let items: Vec<&[u8]> = items.iter().take(cap).map(|i| i.get().as_bytes()).collect();
            sample.offer_all(&items, spec.max_bytes, cap, self.threads);
            return Ok(sample.finish(self.threads));
        }
        // Blocks of whole lines (more when one line is longer), checked in parallel and
        // kept where they were read; the first block is read at the file's size, by
        // every core when there are several.
        let size = reader.get_ref().metadata().map_or(0, |m| m.len());
        let first = size.min(BLOCK as u64) as usize;
        let mut block = match read_spread(reader.get_ref(), first, self.threads) {
            Some(text) => {
                reader.seek(std::io::SeekFrom::Start(first as u64)).map_err(io)?;
                sample.offer_lines(text, false, spec.max_bytes, cap, self.threads)
            }
            None => Vec::with_capacity(first),
        };
        while sample.len() < cap {
            let read = (&mut reader).take(BLOCK as u64).read_to_end(&mut block).map_err(io)?;
            let last = read < BLOCK;
            block = sample.offer_lines(block, last, spec.max_bytes, cap, self.threads);
            if last {
                break;
            }
        }
        Ok(sample.finish(self.threads))
    }
}

/// The first `len` bytes of `file`, read by up to `threads` threads at once, a part
/// each (copying from the page cache is the kernel's work, on the reading core); `None`
/// when one thread, a short file, or a file cut shorter meanwhile (read in turn then).
fn read_spread(file: &std::fs::File, len: usize, threads: usize) -> Option<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        const PART: usize = 4 << 20;
        if threads < 2 || len < 2 * PART {
            return None;
        }
        let mut text = vec![0; len];
        let part = len.div_ceil(threads).max(PART);
        let read = std::thread::scope(|s| {
            let reads: Vec<_> = text
                .chunks_mut(part)
                .enumerate()
                .map(|(i, p)| s.spawn(move || file.read_exact_at(p, (i * part) as u64).is_ok()))
                .collect();
            reads.into_iter().all(|r| r.join().unwrap_or(false))
        });
        read.then_some(text)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, len, threads);
        None
    }
}

/// How much of a sample file is read and checked at a time.
const BLOCK: usize = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(file: &str, messages: u64) -> flinkform_core::spec::SampleSpec {
        flinkform_core::spec::SampleSpec {
            file: Some(file.into()),
            messages,
            max_bytes: 40,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn jsonl_skips_and_counts_what_is_not_an_object() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = b"\xEF\xBB\xBF{\"a\":1}\r\n\n[1]\n42\nnot json\n{\"a\":\"\xff\"}\n".to_vec();
        text.extend_from_slice(format!("{{\"long\":\"{}\"}}\n{{\"b\":2}}\n{{\"c\":3}}\n", "x".repeat(50)).as_bytes());
        std::fs::write(dir.path().join("s.jsonl"), &text).unwrap();
        let s = FileSampler { root: dir.path(), threads: 2 }.sample_file(&spec("s.jsonl", 2)).unwrap();
        let recs: Vec<_> = s.records().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
        assert_eq!(recs, ["{\"a\":1}", "{\"b\":2}"], "bounded to 2 records, BOM and CRLF handled");
        assert_eq!(s.skipped, Skipped { invalid_json: 1, not_object: 2, bad_utf8: 1, too_large: 1, tombstones: 0 });
        assert_eq!(s.skipped.describe(), "1 invalid JSON, 2 not an object, 1 not UTF-8, 1 over the byte cap");
    }

    #[test]
    fn a_large_file_read_by_several_cores_gives_what_one_reading_in_turn_gives() {
        let dir = tempfile::tempdir().unwrap();
        // Over 8 MiB, so it is read in parts; records of every kind, the last line with no
        // newline, and a cap the file holds more records than.
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 9 << 20 {
            text += &match i % 5 {
                0 => format!("{{\"n\":{i},\"s\":\"{}\"}}\n", "y".repeat(i % 97)),
                1 => format!("{{\"long\":\"{}\"}}\r\n", "x".repeat(300)),
                2 => "[1]\n\n".to_string(),
                3 => format!("{{\"m\":[{i}, {{\"k\": null}}]}}\n"),
                _ => "{\"torn\": \n".to_string(),
            };
            i += 1;
        }
        text += "{\"last\":true}";
        std::fs::write(dir.path().join("big.jsonl"), &text).unwrap();
        let mut spec = spec("big.jsonl", u64::MAX);
        spec.max_bytes = 200;
        for cap in [u64::MAX, 40_000] {
            spec.messages = cap;
            let read = |threads| FileSampler { root: dir.path(), threads }.sample_file(&spec).unwrap();
            let (one, three) = (read(1), read(3));
            assert!(one.records().eq(three.records()), "cap {cap}");
            assert_eq!((one.skipped, one.digest(), one.shape()), (three.skipped, three.digest(), three.shape()));
            assert_eq!(one.records().last() == Some(&b"{\"last\":true}"[..]), cap == u64::MAX);
        }
    }

    #[test]
    fn json_array_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "  [{\"a\":1}, 2, {\"b\":[true]}]").unwrap();
        let s = FileSampler { root: dir.path(), threads: 2 }.sample_file(&spec("a.json", 10)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.skipped.not_object, 1);
    }

    #[test]
    fn pretty_printed_objects_are_read_as_a_stream_of_records() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\n  \"a\": 1,\n  \"b\": {\"c\": true}\n}\n{\n  \"a\": 2\n}\n";
        std::fs::write(dir.path().join("p.json"), text).unwrap();
        let s = FileSampler { root: dir.path(), threads: 2 }.sample_file(&spec("p.json", 10)).unwrap();
        assert_eq!((s.len(), s.skipped.total()), (2, 0));
        std::fs::write(dir.path().join("bad.json"), "{\n  \"a\": 1,\n").unwrap();
        let e = FileSampler { root: dir.path(), threads: 2 }.sample_file(&spec("bad.json", 10)).unwrap_err();
        assert!(flinkform_core::diag::chain(&e).contains("bad.json: not a stream of JSON records"), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileSampler { root: dir.path(), threads: 2 }.sample_file(&spec("nope.jsonl", 1)).unwrap_err();
        let text = flinkform_core::diag::chain(&e);
        assert!(text.starts_with("cannot read sample file nope.jsonl: "), "{text}");
    }
}
