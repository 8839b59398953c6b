//! The Kafka sampler: reads the newest messages of topics without disturbing their
//! consumers. No consumer group, no subscribe, no offset commit: partitions are
//! assigned directly at `max(low, high - share)` and read up to the high watermark.
//! A cluster's topics are read at once by a few consumers (one for every ten topics, up
//! to four), each with its share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::cache::Key;
use super::{Sample, SampleCache, SampleError, Sampler};
use flinkform_core::plan::PartitionOffsets;
use flinkform_core::spec::{Credential, SecretRef, Security, SourceSpec};

/// Most consumers reading at the same time.
const MAX_CLUSTERS_AT_ONCE: usize = 8;
/// Most consumers reading one cluster's topics.
const CONSUMERS_PER_CLUSTER: usize = 4;
/// A cluster gets another consumer for every this many topics.
const TOPICS_PER_CONSUMER: usize = 10;
/// A topic stops being read once this many bytes were collected from it.
const MAX_TOPIC_BYTES: usize = 64 << 20;

/// Samples Kafka topics with rdkafka.
#[derive(Default)]
pub struct KafkaSampler {
    /// Topics finished so far (for a progress display).
    pub done: AtomicUsize,
    /// Where samples of unchanged topics are kept between plans (`None`: read them all).
    pub cache: Option<SampleCache>,
}

/// The value of a secret for local use: from the environment variable the reference
/// names. The value is never printed; only the variable's name is.
pub fn resolve_secret(s: &SecretRef) -> Result<String, SampleError> {
    let var = s.env.as_deref().ok_or_else(|| {
        SampleError::Source(format!(
            "secret `{}` is needed to sample, but says no environment variable: write `{{ secret = \"{}\", env = \"VAR\" }}`",
            s.name, s.name
        ))
    })?;
    std::env::var(var).map_err(|_| {
        SampleError::Source(format!("set the environment variable {var} (secret `{}`) to sample this topic", s.name))
    })
}

/// The servers and security settings that identify one cluster connection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cluster {
    servers: String,
    security: Option<Security>,
}

fn cluster_of(s: &SourceSpec) -> Cluster {
    Cluster {
        servers: s.sample_bootstrap_servers.clone().unwrap_or_else(|| s.bootstrap_servers.clone()),
        security: s.security.clone(),
    }
}

fn client_config(servers: &str, security: Option<&Security>, timeout: Duration) -> Result<ClientConfig, SampleError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", servers)
        .set("client.id", "flinkform-sampler")
        // librdkafka's assign() needs a group id; the group is never joined (no subscribe)
        // and never written to (no commits), so the broker never creates it.
        .set("group.id", "flinkform-sampler")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("socket.timeout.ms", timeout.as_millis().clamp(10, 300_000).to_string())
        // The sampler reads up to watermarks it knows, so a fetch has nothing to wait for:
        // the broker answers at once instead of holding an empty fetch 500 ms (the default).
        .set("fetch.wait.max.ms", "50")
        .set("log_level", "3");
    if let Some(sec) = security {
        c.set("security.protocol", sec.protocol.name());
        if let Some(m) = sec.mechanism {
            c.set("sasl.mechanism", m.name());
        }
        if let Some(u) = &sec.username {
            let user = match u {
                Credential::Literal(s) => s.clone(),
                Credential::Secret(s) => resolve_secret(s)?,
            };
            c.set("sasl.username", user);
        }
        if let Some(p) = &sec.password {
            c.set("sasl.password", resolve_secret(p)?);
        }
    }
    Ok(c)
}

/// Where each source's consumer group stands on its topic: every partition's watermarks,
/// the group's committed offset and, with `startup_mode = "timestamp"`, the first offset
/// at or after the startup timestamp; one result per source, in order. Reads only
/// (Metadata, ListOffsets, OffsetFetch): it joins no group and commits nothing, like the
/// sampler. A cluster is asked once for its topics and watermarks, whatever the number of
/// sources on it, and once per consumer group for the committed offsets; clusters in
/// parallel.
pub fn source_offsets(sources: &[&SourceSpec]) -> Vec<Result<Vec<PartitionOffsets>, String>> {
    let mut clusters: BTreeMap<Cluster, Vec<(usize, &SourceSpec)>> = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        clusters.entry(cluster_of(s)).or_default().push((i, s));
    }
    let clusters: Vec<(Cluster, Vec<(usize, &SourceSpec)>)> = clusters.into_iter().collect();
    let read = flinkform_core::par::map_chunks(&clusters, MAX_CLUSTERS_AT_ONCE, 1, |_, chunk| {
        chunk.iter().flat_map(|(cluster, members)| cluster_offsets(cluster, members)).collect::<Vec<_>>()
    });
    let mut out: Vec<Result<Vec<PartitionOffsets>, String>> = sources.iter().map(|_| Ok(Vec::new())).collect();
    for (i, r) in read.into_iter().flatten() {
        out[i] = r;
    }
    out
}

/// [`source_offsets`] of the sources (by their index) on one cluster.
fn cluster_offsets(
    cluster: &Cluster,
    members: &[(usize, &SourceSpec)],
) -> Vec<(usize, Result<Vec<PartitionOffsets>, String>)> {
    let timeout = members.iter().map(|(_, s)| s.sample.timeout).max().unwrap_or(Duration::from_secs(10));
    let servers = cluster.servers.as_str();
    let fail = |why: String| members.iter().map(|(i, _)| (*i, Err(why.clone()))).collect::<Vec<_>>();
    let config = match client_config(servers, cluster.security.as_ref(), timeout) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let consumer = |group: &str| -> Result<BaseConsumer, String> {
        let mut c = config.clone();
        c.set("group.id", group);
        c.create().map_err(|e| e.to_string())
    };
    let Ok(c) = consumer("flinkform-sampler") else { return fail("cannot make a Kafka client".into()) };
    let metadata = match c.fetch_metadata(None, timeout) {
        Ok(m) => m,
        Err(e) => return fail(describe(&e, servers, timeout)),
    };
    let partitions: HashMap<&str, Vec<i32>> =
        metadata.topics().iter().map(|t| (t.name(), t.partitions().iter().map(|p| p.id()).collect())).collect();
    let mut tpl = TopicPartitionList::new();
    let mut seen = HashSet::new();
    for (_, s) in members {
        if let Some(parts) = partitions.get(s.topic.as_str()).filter(|_| seen.insert(s.topic.as_str())) {
            for p in parts {
                tpl.add_partition(&s.topic, *p);
            }
        }
    }
    let (low, high) = match watermarks(&c, &tpl, timeout) {
        Ok(w) => w,
        Err(e) => return fail(describe(&e, servers, timeout)),
    };
    // The committed offsets, once per consumer group, of every topic its sources read.
    let mut groups: BTreeMap<&str, (TopicPartitionList, HashSet<&str>)> = BTreeMap::new();
    for (_, s) in members {
        let (list, topics) = groups.entry(s.group_id.as_str()).or_default();
        if topics.insert(s.topic.as_str()) {
            for p in partitions.get(s.topic.as_str()).into_iter().flatten() {
                list.add_partition(&s.topic, *p);
            }
        }
    }
    let mut committed: HashMap<&str, Result<Offsets, String>> = HashMap::new();
    for (group, (list, _)) in groups {
        let read = consumer(group).and_then(|g| {
            g.committed_offsets(list, timeout).map(|l| offsets(&l)).map_err(|e| describe(&e, servers, timeout))
        });
        committed.insert(group, read);
    }
    let offset_of = |found: &Offsets, topic: &str, partition: i32| found.get(&(topic.to_string(), partition)).copied();
    members
        .iter()
        .map(|(i, s)| {
            let Some(parts) = partitions.get(s.topic.as_str()) else {
                let known: Vec<&str> = partitions.keys().copied().collect();
                return (*i, Err(unknown_topic(&s.topic, servers, known.iter())));
            };
            let group = match &committed[s.group_id.as_str()] {
                Ok(list) => list,
                Err(why) => return (*i, Err(why.clone())),
            };
            let at_timestamp = match startup_millis(s) {
                Some(ms) => {
                    let mut q = TopicPartitionList::new();
                    for p in parts {
                        let _ = q.add_partition_offset(&s.topic, *p, Offset::Offset(ms));
                    }
                    match c.offsets_for_times(q, timeout) {
                        Ok(found) => Some(offsets(&found)),
                        Err(e) => return (*i, Err(describe(&e, servers, timeout))),
                    }
                }
                None => None,
            };
            let key = |p: i32| (s.topic.clone(), p);
            let offsets = parts
                .iter()
                .map(|&p| {
                    let high = high.get(&key(p)).copied().unwrap_or(0);
                    PartitionOffsets {
                        partition: p,
                        low: low.get(&key(p)).copied().unwrap_or(0),
                        high,
                        committed: offset_of(group, &s.topic, p),
                        // No message at or after the timestamp: the reading starts at the end.
                        at_timestamp: at_timestamp.as_ref().map(|t| offset_of(t, &s.topic, p).unwrap_or(high)),
                    }
                })
                .collect();
            (*i, Ok(offsets))
        })
        .collect()
}

/// Offsets by topic and partition.
type Offsets = HashMap<(String, i32), i64>;

/// The offsets a list holds (a partition without one is left out).
fn offsets(list: &TopicPartitionList) -> Offsets {
    let offset = |e: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| match e.offset() {
        Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
        _ => None,
    };
    list.elements().iter().filter_map(offset).collect()
}

/// `scan.startup.timestamp-millis` of a source that starts from a timestamp.
fn startup_millis(s: &SourceSpec) -> Option<i64> {
    if s.startup_mode != "timestamp" {
        return None;
    }
    match s.options.get("scan.startup.timestamp-millis")? {
        Credential::Literal(v) => v.trim_matches('"').parse().ok(),
        Credential::Secret(_) => None,
    }
}

/// How many partitions `topic` has on `servers`: `Ok(None)` when the cluster answers and
/// has no such topic, `Err` when it cannot be asked (unreachable, refused). Lists every
/// topic rather than asking for this one, so that no broker creates it on the request.
pub fn topic_partitions(servers: &str, topic: &str, timeout: Duration) -> Result<Option<usize>, String> {
    let consumer: BaseConsumer =
        client_config(servers, None, timeout).map_err(|e| e.to_string())?.create().map_err(|e| e.to_string())?;
    let metadata = consumer.fetch_metadata(None, timeout).map_err(|e| describe(&e, servers, timeout))?;
    Ok(metadata.topics().iter().find(|t| t.name() == topic).map(|t| t.partitions().len()))
}

/// Splits `want` records over partitions with `available[i]` records each, as evenly
/// as possible; a partition with fewer records leaves its share to the others.
pub fn allocate(available: &[u64], want: u64) -> Vec<u64> {
    let mut got = vec![0u64; available.len()];
    let mut left = want;
    loop {
        let open: Vec<usize> = (0..available.len()).filter(|&i| got[i] < available[i]).collect();
        if left == 0 || open.is_empty() {
            return got;
        }
        let share = (left / open.len() as u64).max(1);
        for i in open {
            let take = share.min(available[i] - got[i]).min(left);
            got[i] += take;
            left -= take;
        }
    }
}

fn describe(e: &KafkaError, servers: &str, timeout: Duration) -> String {
    match e.rdkafka_error_code() {
        Some(c) if is_auth_failure(c) => format!(
            "authentication with {servers} failed ({e}): check security_protocol, sasl_mechanism and the credentials"
        ),
        Some(
            RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Resolve,
        ) => format!(
            "no Kafka broker answered within {} (tried {servers}); check the address and the network, \
             or set sample_bootstrap_servers to an endpoint reachable from here",
            humantime::format_duration(timeout)
        ),
        _ => format!("sampling from {servers} failed: {e}"),
    }
}

/// One message read (`None` payload: a tombstone).
struct Fetched {
    partition: i32,
    offset: i64,
    payload: Option<Vec<u8>>,
}

/// What is being read from one partition.
struct Reading {
    /// Index of the source (topic) in the batch.
    source: usize,
    high: i64,
    done: bool,
}

impl Sampler for KafkaSampler {
    fn sample(&self, sources: &[&SourceSpec]) -> Vec<Result<Sample, SampleError>> {
        let mut by_cluster: BTreeMap<Cluster, Vec<usize>> = BTreeMap::new();
        for (i, s) in sources.iter().enumerate() {
            by_cluster.entry(cluster_of(s)).or_default().push(i);
        }
        let mut results: Vec<Option<Result<Sample, SampleError>>> = sources.iter().map(|_| None).collect();
        // A cluster's topics are read by up to CONSUMERS_PER_CLUSTER consumers at once,
        // each on its share: a broker answers several fetches at once faster than one.
        let clusters: Vec<Vec<usize>> = by_cluster
            .into_values()
            .flat_map(|topics| {
                let consumers = topics.len().div_ceil(TOPICS_PER_CONSUMER).clamp(1, CONSUMERS_PER_CLUSTER);
                let share = topics.len().div_ceil(consumers);
                topics.chunks(share).map(<[usize]>::to_vec).collect::<Vec<_>>()
            })
            .collect();
        for batch in clusters.chunks(MAX_CLUSTERS_AT_ONCE) {
            let done: Vec<Vec<(usize, Result<Sample, SampleError>)>> = std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|idx| {
                        s.spawn(move || self.sample_cluster(&idx.iter().map(|&i| (i, sources[i])).collect::<Vec<_>>()))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("a sampling thread panicked")).collect()
            });
            for (i, r) in done.into_iter().flatten() {
                results[i] = Some(r);
            }
        }
        results.into_iter().map(|r| r.expect("every source is sampled")).collect()
    }
}

impl KafkaSampler {
    /// Samples the topics of one cluster with one consumer.
    fn sample_cluster(&self, sources: &[(usize, &SourceSpec)]) -> Vec<(usize, Result<Sample, SampleError>)> {
        let first = sources[0].1;
        let servers = cluster_of(first).servers;
        let timeout = sources.iter().map(|(_, s)| s.sample.timeout).max().unwrap_or(Duration::from_secs(10));
        let fail_all = |msg: String| sources.iter().map(|(i, _)| (*i, Err(SampleError::Source(msg.clone())))).collect();
        let consumer: BaseConsumer = match client_config(&servers, first.security.as_ref(), timeout)
            .and_then(|c| c.create().map_err(|e| SampleError::Source(format!("cannot create a Kafka client: {e}"))))
        {
            Ok(c) => c,
            Err(e) => return fail_all(e.to_string()),
        };
        let metadata = match consumer.fetch_metadata(None, timeout) {
            Ok(m) => m,
            Err(e) => return fail_all(describe(&e, &servers, timeout)),
        };
        let known: BTreeMap<&str, usize> = metadata.topics().iter().map(|t| (t.name(), t.partitions().len())).collect();

        // Watermarks of every partition of every topic, in two batched requests.
        let mut out = Vec::new();
        let mut wanted = Vec::new();
        let mut tpl = TopicPartitionList::new();
        for (k, (i, s)) in sources.iter().enumerate() {
            match known.get(s.topic.as_str()) {
                Some(&n) if n > 0 => {
                    for p in 0..n as i32 {
                        let _ = tpl.add_partition_offset(&s.topic, p, Offset::End);
                    }
                    wanted.push(k);
                }
                _ => out.push((*i, Err(SampleError::Source(unknown_topic(&s.topic, &servers, known.keys()))))),
            }
        }
        if wanted.is_empty() {
            return out;
        }
        let (lows, highs) = match watermarks(&consumer, &tpl, timeout) {
            Ok(w) => w,
            Err(e) => {
                out.extend(
                    wanted.iter().map(|&k| (sources[k].0, Err(SampleError::Source(describe(&e, &servers, timeout))))),
                );
                return out;
            }
        };

        let marks = Marks { known: &known, lows: &lows, highs: &highs };
        let (mut reads, assign, samples) =
            plan_reads(sources, &wanted, &marks, &servers, self.cache.as_ref(), &mut out);
        self.done.fetch_add(wanted.len() - samples.iter().flatten().count(), Ordering::Relaxed);
        if let Err(e) = consumer.assign(&assign) {
            out.extend(
                samples
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_some())
                    .map(|(k, _)| (sources[k].0, Err(SampleError::Source(describe(&e, &servers, timeout))))),
            );
            return out;
        }
        let failure = self.read(&consumer, &mut reads, Instant::now() + timeout, &servers, timeout);
        for (k, sample) in samples.into_iter().enumerate() {
            let Some((mut sample, parts)) = sample else { continue };
            let s = sources[k].1;
            if let Some(f) = &failure {
                out.push((sources[k].0, Err(SampleError::Source(f.clone()))));
                continue;
            }
            // Deterministic order, whatever order the partitions arrived in.
            let mut msgs = std::mem::take(&mut reads.messages[k]);
            msgs.sort_by_key(|m| (m.partition, m.offset));
            for m in &msgs {
                sample.offer(m.payload.as_deref(), s.sample.max_bytes);
            }
            let unfinished = reads.open[k] > 0;
            if unfinished && msgs.is_empty() {
                out.push((
                    sources[k].0,
                    Err(SampleError::Source(format!(
                        "no message of topic `{}` arrived from {servers} within {}",
                        s.topic,
                        humantime::format_duration(timeout)
                    ))),
                ));
                continue;
            }
            let sample = sample.finish(1);
            if unfinished {
                tracing::warn!(topic = %s.topic, records = msgs.len(), "sampling stopped at the timeout");
            } else if let Some(cache) = &self.cache {
                cache.store(&key(&servers, s, &parts), &sample);
            }
            out.push((sources[k].0, Ok(sample)));
        }
        out
    }

    /// Reads until every partition reaches its high watermark, the deadline, or its
    /// topic's byte cap. `Some` is a failure that retrying cannot help.
    fn read(
        &self,
        consumer: &BaseConsumer,
        reads: &mut Reads,
        deadline: Instant,
        servers: &str,
        timeout: Duration,
    ) -> Option<String> {
        while reads.open_total > 0 && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(e)) => {
                    if matches!(e.rdkafka_error_code(), Some(c) if is_auth_failure(c)) {
                        return Some(describe(&e, servers, timeout));
                    }
                    tracing::debug!(error = %e, "kafka poll");
                }
                Some(Ok(m)) if reads.take(&m) => {
                    self.done.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
            }
        }
        None
    }
}

/// What the cluster said of its topics: partition counts and watermarks.
struct Marks<'a> {
    known: &'a BTreeMap<&'a str, usize>,
    lows: &'a Watermarks,
    highs: &'a Watermarks,
}

/// The cache key of a topic's sample.
fn key<'a>(servers: &'a str, s: &'a SourceSpec, parts: &'a [(i64, i64)]) -> Key<'a> {
    Key { servers, topic: &s.topic, partitions: parts, messages: s.sample.messages, max_bytes: s.sample.max_bytes }
}

/// Per source, the sample to fill and its partitions' (low, high) watermarks, when it
/// is to be read.
type ToRead = Vec<Option<(Sample, Vec<(i64, i64)>)>>;

/// Where to start in each partition (the newest records, spread evenly), the
/// assignment, and an empty sample per topic to read, with its watermarks; an empty
/// topic's error, and a sample the cache holds, go to `out`.
fn plan_reads(
    sources: &[(usize, &SourceSpec)],
    wanted: &[usize],
    marks: &Marks<'_>,
    servers: &str,
    cache: Option<&SampleCache>,
    out: &mut Vec<(usize, Result<Sample, SampleError>)>,
) -> (Reads, TopicPartitionList, ToRead) {
    let Marks { known, lows, highs } = marks;
    let mut assign = TopicPartitionList::new();
    let mut reads = Reads::new(sources.len());
    let mut samples: ToRead = sources.iter().map(|_| None).collect();
    for &k in wanted {
        let s = sources[k].1;
        let n = known.get(s.topic.as_str()).copied().unwrap_or(0);
        // Metadata and watermarks come from separate requests: a partition the broker
        // listed but gave no offsets for (it moved, or appeared, in between) fails this
        // topic's sample with a message, never the process.
        let parts: Option<Vec<(i64, i64)>> = (0..n as i32)
            .map(|p| {
                let key = (s.topic.clone(), p);
                Some((*lows.get(&key)?, *highs.get(&key)?))
            })
            .collect();
        let Some(parts) = parts else {
            out.push((
                sources[k].0,
                Err(SampleError::Source(format!(
                    "topic `{}` on {servers}: the broker gave no offsets for some of its partitions; sample again",
                    s.topic
                ))),
            ));
            continue;
        };
        let available: Vec<u64> = parts.iter().map(|(l, h)| (h - l).max(0) as u64).collect();
        if available.iter().sum::<u64>() == 0 {
            out.push((
                sources[k].0,
                Err(SampleError::Source(format!(
                    "topic `{}` on {servers} is empty: pin the schema in [schema], or sample a file with `sample = {{ file = \"...\" }}`",
                    s.topic
                ))),
            ));
            continue;
        }
        let origin = format!("{}@{servers}", s.topic);
        if let Some(hit) = cache.and_then(|c| c.load(&key(servers, s, &parts), &origin)) {
            out.push((sources[k].0, Ok(hit)));
            continue;
        }
        for (p, (take, (_, high))) in allocate(&available, s.sample.messages).into_iter().zip(&parts).enumerate() {
            if take > 0 {
                let _ = assign.add_partition_offset(&s.topic, p as i32, Offset::Offset(high - take as i64));
                reads.add(k, (s.topic.clone(), p as i32), *high);
            }
        }
        samples[k] = Some((Sample::new(origin), parts));
    }
    (reads, assign, samples)
}

/// What is being read, per partition and per source, and what was read.
struct Reads {
    /// (topic, partition) → its reading.
    partitions: HashMap<(String, i32), Reading>,
    /// Per source: its partitions, how many are still open, the records and their bytes.
    keys: Vec<Vec<(String, i32)>>,
    open: Vec<usize>,
    messages: Vec<Vec<Fetched>>,
    bytes: Vec<usize>,
    /// Partitions still open in all.
    open_total: usize,
}

impl Reads {
    fn new(sources: usize) -> Reads {
        Reads {
            partitions: HashMap::new(),
            keys: vec![Vec::new(); sources],
            open: vec![0; sources],
            messages: (0..sources).map(|_| Vec::new()).collect(),
            bytes: vec![0; sources],
            open_total: 0,
        }
    }

    fn add(&mut self, source: usize, key: (String, i32), high: i64) {
        self.keys[source].push(key.clone());
        self.partitions.insert(key, Reading { source, high, done: false });
        self.open[source] += 1;
        self.open_total += 1;
    }

    /// Keeps a record below its partition's high watermark; true when it finished its
    /// source (every partition read, or the byte cap reached).
    fn take<M: Message>(&mut self, m: &M) -> bool {
        let Some(r) = self.partitions.get_mut(&(m.topic().to_string(), m.partition())) else { return false };
        if r.done {
            return false;
        }
        let k = r.source;
        if m.offset() < r.high {
            self.bytes[k] += m.payload().map_or(0, <[u8]>::len);
            self.messages[k].push(Fetched {
                partition: m.partition(),
                offset: m.offset(),
                payload: m.payload().map(<[u8]>::to_vec),
            });
        }
        if m.offset() + 1 < r.high && self.bytes[k] < MAX_TOPIC_BYTES {
            return false;
        }
        r.done = true;
        self.open[k] -= 1;
        self.open_total -= 1;
        if self.bytes[k] >= MAX_TOPIC_BYTES {
            for key in &self.keys[k] {
                let r = self.partitions.get_mut(key).expect("added with its source");
                if !r.done {
                    r.done = true;
                    self.open[k] -= 1;
                    self.open_total -= 1;
                }
            }
        }
        self.open[k] == 0
    }
}

/// Authentication or authorization refused: retrying cannot help.
fn is_auth_failure(c: RDKafkaErrorCode) -> bool {
    matches!(
        c,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
    )
}

type Watermarks = BTreeMap<(String, i32), i64>;

/// Low and high watermarks of every partition in `tpl`, in two batched requests.
fn watermarks(
    c: &BaseConsumer,
    tpl: &TopicPartitionList,
    timeout: Duration,
) -> Result<(Watermarks, Watermarks), KafkaError> {
    let read = |at: Offset| -> Result<Watermarks, KafkaError> {
        let mut q = tpl.clone();
        q.set_all_offsets(at)?;
        let r = c.offsets_for_times(q, timeout)?;
        r.elements()
            .iter()
            .map(|e| {
                e.error()?;
                let o = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                };
                Ok(((e.topic().to_string(), e.partition()), o))
            })
            .collect()
    };
    Ok((read(Offset::Beginning)?, read(Offset::End)?))
}

fn unknown_topic<'a>(topic: &str, servers: &str, known: impl Iterator<Item = &'a &'a str>) -> String {
    let mut close: Vec<(usize, &str)> = known
        .filter(|k| !k.starts_with("__"))
        .map(|k| (strsim::damerau_levenshtein(topic, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 3))
        .collect();
    close.sort();
    let mut msg = format!("topic `{topic}` does not exist on {servers}");
    if !close.is_empty() {
        let names: Vec<String> = close.iter().take(3).map(|(_, k)| format!("`{k}`")).collect();
        msg.push_str(&format!("; closest: {}", names.join(", ")));
    }
    msg
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::{Marks, Watermarks, allocate, plan_reads};
    use flinkform_core::spec::SourceSpec;

    #[test]
    fn a_partition_without_offsets_fails_its_topic_not_the_process() {
        let spec = SourceSpec::adhoc("t".into(), "k:9092".into(), 10, Duration::from_secs(1));
        let sources = [(0, &spec)];
        let known = BTreeMap::from([("t", 2)]);
        let lows: Watermarks = BTreeMap::from([(("t".to_string(), 0), 0), (("t".to_string(), 1), 0)]);
        let highs: Watermarks = BTreeMap::from([(("t".to_string(), 0), 5)]);
        let mut out = Vec::new();
        let marks = Marks { known: &known, lows: &lows, highs: &highs };
        let (_, _, samples) = plan_reads(&sources, &[0], &marks, "k:9092", None, &mut out);
        assert!(samples[0].is_none());
        let e = out[0].1.as_ref().err().unwrap().to_string();
        assert!(e.contains("gave no offsets for some of its partitions"), "{e}");
    }

    #[test]
    fn allocation_is_even_and_refills_from_fuller_partitions() {
        assert_eq!(allocate(&[50, 50, 50], 30), [10, 10, 10]);
        assert_eq!(allocate(&[2, 50, 50], 30), [2, 14, 14]);
        assert_eq!(allocate(&[0, 0, 5], 30), [0, 0, 5]);
        assert_eq!(allocate(&[10, 10], 3), [2, 1]);
        assert_eq!(allocate(&[], 3), Vec::<u64>::new());
    }
}
