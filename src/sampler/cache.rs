//! The sample cache: a topic's sample kept between plans, keyed by what decides it
//! (the cluster, the topic, each partition's low and high watermarks, how many messages
//! and how large). A topic whose watermarks have not moved holds the same messages, so a
//! plan takes its sample from here instead of reading it again, and says so. Kept under
//! `.flinkform/cache/samples/` (git-ignored), one file per key, readable by its owner
//! only; `plan --no-cache` neither reads nor writes it. A file that does not read back
//! is a miss, never an error.

use std::io::Write;
use std::path::PathBuf;

use super::{Sample, Skipped};

/// Where samples are kept.
pub struct SampleCache {
    dir: PathBuf,
}

/// What a topic's sample is decided by.
pub struct Key<'a> {
    /// The cluster's bootstrap servers.
    pub servers: &'a str,
    /// The topic.
    pub topic: &'a str,
    /// Each partition's (low, high) watermarks, by partition number.
    pub partitions: &'a [(i64, i64)],
    /// `sample.messages`.
    pub messages: u64,
    /// `sample.max_bytes`.
    pub max_bytes: u64,
}

const MAGIC: &[u8] = b"flinkform sample cache 1\n";

impl Key<'_> {
    fn digest(&self) -> String {
        let marks: Vec<u8> =
            self.partitions.iter().flat_map(|(l, h)| l.to_le_bytes().into_iter().chain(h.to_le_bytes())).collect();
        flinkform_core::spec::digest(&[
            self.servers.as_bytes(),
            self.topic.as_bytes(),
            &marks,
            &self.messages.to_le_bytes(),
            &self.max_bytes.to_le_bytes(),
        ])
    }
}

impl SampleCache {
    /// A cache in `dir` (made when first written).
    pub fn new(dir: PathBuf) -> SampleCache {
        SampleCache { dir }
    }

    /// The sample kept for `key`, if any, marked cached.
    pub fn load(&self, key: &Key<'_>, origin: &str) -> Option<Sample> {
        let bytes = std::fs::read(self.dir.join(key.digest())).ok()?;
        let sample = decode(&bytes, origin);
        if sample.is_none() {
            tracing::debug!(topic = key.topic, "a sample cache file that does not read back: read the topic");
        }
        sample
    }

    /// Keeps `sample` for `key`; a failure only costs the next plan a read.
    pub fn store(&self, key: &Key<'_>, sample: &Sample) {
        if let Err(e) = self.write(&key.digest(), sample) {
            tracing::debug!(topic = key.topic, error = %e, "sample not cached");
        }
    }

    fn write(&self, name: &str, sample: &Sample) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = std::io::BufWriter::new(opts.open(&tmp)?);
        f.write_all(&encode(sample))?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(name))
    }
}

/// The magic line, the skipped counts and the record count (u64 each, little-endian),
/// then each record as its length (u32) and its bytes.
fn encode(s: &Sample) -> Vec<u8> {
    let k = s.skipped;
    let mut out = MAGIC.to_vec();
    for n in [k.invalid_json, k.not_object, k.bad_utf8, k.too_large, k.tombstones, s.len() as u64] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for r in s.records() {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    out
}

fn decode(bytes: &[u8], origin: &str) -> Option<Sample> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut counts = [0u64; 6];
    for c in &mut counts {
        *c = u64::from_le_bytes(take(8)?.try_into().ok()?);
    }
    let [invalid_json, not_object, bad_utf8, too_large, tombstones, records] = counts;
    let mut sample = Sample::new(origin);
    for _ in 0..records {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        // Offered again, so that what the cache gives is what the filter admits.
        sample.offer(Some(take(len)?), u64::MAX);
    }
    if sample.len() as u64 != records || !rest.is_empty() {
        return None;
    }
    sample.skipped = Skipped { invalid_json, not_object, bad_utf8, too_large, tombstones };
    sample.cached = true;
    Some(sample.finish(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(high: i64) -> Key<'static> {
        let parts: &'static [(i64, i64)] = Box::leak(vec![(0, high), (3, 9)].into_boxed_slice());
        Key { servers: "k:9092", topic: "orders", partitions: parts, messages: 100, max_bytes: 1 << 20 }
    }

    #[test]
    fn a_sample_reads_back_the_same_under_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SampleCache::new(dir.path().join("samples"));
        let mut s = Sample::new("orders@k:9092");
        for m in [&b"{\"a\": 1}"[..], b"not json", b"{\"b\": \"\\n\"}", b"[1]"] {
            s.offer(Some(m), 1 << 20);
        }
        s.offer(None, 1 << 20);
        let s = s.finish(1);
        cache.store(&key(5), &s);
        let back = cache.load(&key(5), "orders@k:9092").expect("a hit");
        assert!(back.cached && !s.cached);
        assert_eq!(back.records().collect::<Vec<_>>(), s.records().collect::<Vec<_>>());
        assert_eq!((back.skipped, back.digest()), (s.skipped, s.digest()));
        assert!(cache.load(&key(6), "orders@k:9092").is_none(), "a moved watermark is a miss");
        let file = std::fs::read_dir(dir.path().join("samples")).unwrap().next().unwrap().unwrap().path();
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions()) & 0o777,
            0o600
        );
        let bytes = std::fs::read(&file).unwrap();
        for cut in [0, MAGIC.len(), bytes.len() - 1] {
            std::fs::write(&file, &bytes[..cut]).unwrap();
            assert!(cache.load(&key(5), "orders@k:9092").is_none(), "cut at {cut}: a miss");
        }
    }
}
