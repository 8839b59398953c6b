//! Sampling a real Kafka-protocol broker (started by ./scripts/test, or the one
//! FLINKFORM_TEST_KAFKA points at). Fixtures are produced here with rdkafka.

use std::time::{Duration, Instant};

use flinkform::sampler::{KafkaSampler, Sample, Sampler};
use flinkform_core::spec::SourceSpec;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::common::TestProject;

/// The broker under test; the README's test command always sets it.
fn broker() -> String {
    std::env::var("FLINKFORM_TEST_KAFKA")
        .expect("FLINKFORM_TEST_KAFKA is not set: run the tests with ./scripts/test, which starts a Kafka broker")
}

/// A topic name no other test uses.
pub(crate) fn unique(name: &str) -> String {
    format!("{name}_{}", uuid::Uuid::new_v4().simple())
}

fn create_topic(name: &str, partitions: i32) {
    create_topic_on(&broker(), name, partitions);
}

/// Creates a topic on the broker at `servers`.
pub(crate) fn create_topic_on(servers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", servers).create().expect("admin client");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let r = rt
        .block_on(admin.create_topics([&topic], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))));
    for t in r.expect("create_topics") {
        t.unwrap_or_else(|(n, e)| panic!("creating topic {n}: {e}"));
    }
}

/// A message to produce: partition, key, payload (`None`: a tombstone).
type Msg<'a> = (i32, Option<&'a str>, Option<&'a [u8]>);

/// Produces messages with one compression codec.
fn produce(topic: &str, compression: &str, messages: &[Msg<'_>]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (part, key, payload) in messages {
        let mut rec: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).partition(*part);
        if let Some(k) = key {
            rec = rec.key(*k);
        }
        if let Some(v) = payload {
            rec = rec.payload(*v);
        }
        p.send(rec).map_err(|(e, _)| e).expect("send");
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn source(topic: &str, messages: u64, timeout: Duration) -> SourceSpec {
    SourceSpec::adhoc(topic.to_string(), broker(), messages, timeout)
}

fn sample(topic: &str, messages: u64) -> Sample {
    let mut r = KafkaSampler::default().sample(&[&source(topic, messages, Duration::from_secs(20))]);
    r.pop().unwrap().unwrap_or_else(|e| panic!("{e}"))
}

fn groups() -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", broker()).create().unwrap();
    let list = c.fetch_group_list(None, Duration::from_secs(10)).expect("list groups");
    let mut names: Vec<String> = list.groups().iter().map(|g| g.name().to_string()).collect();
    names.sort();
    names
}

fn values(s: &Sample) -> Vec<serde_json::Value> {
    s.records().map(|r| serde_json::from_slice(r).unwrap()).collect()
}

#[test]
fn reads_exactly_the_newest_n_spread_over_partitions_without_a_group() {
    let topic = unique("newest");
    create_topic(&topic, 3);
    let msgs: Vec<(i32, String)> =
        (0..3).flat_map(|p| (0..50).map(move |i| (p, format!(r#"{{"p":{p},"i":{i},"v":"x{i}"}}"#)))).collect();
    let batch: Vec<Msg<'_>> = msgs.iter().map(|(p, m)| (*p, Some("k"), Some(m.as_bytes()))).collect();
    produce(&topic, "none", &batch);
    let before = groups();
    let s = sample(&topic, 30);
    let got: Vec<(u64, u64)> =
        values(&s).iter().map(|v| (v["p"].as_u64().unwrap(), v["i"].as_u64().unwrap())).collect();
    let want: Vec<(u64, u64)> = (0..3).flat_map(|p| (40..50).map(move |i| (p, i))).collect();
    assert_eq!(got, want, "the 10 newest of each partition, in partition/offset order");
    assert_eq!(groups(), before, "sampling created no consumer group and committed nothing");
    // Fewer messages than asked for: everything there is.
    assert_eq!(sample(&topic, 1000).len(), 150);
}

/// Snappy is not in the list: Tansu 0.6.0 stores snappy batches but fails every fetch
/// of them (`SansIo(UnexpectedType("Snappy"))` in its log), so no client can read them
/// back from it. librdkafka decodes snappy itself; only this broker cannot serve it.
#[test]
fn compressed_batches_tombstones_and_garbage_are_counted() {
    let topic = unique("codecs");
    create_topic(&topic, 4);
    for (p, codec) in ["none", "gzip", "lz4", "zstd"].iter().enumerate() {
        let good = format!(r#"{{"codec":"{codec}","n":{p}}}"#);
        let msgs: Vec<Msg<'_>> = vec![
            (p as i32, Some("a"), Some(good.as_bytes())),
            (p as i32, Some("tomb"), None),
            (p as i32, None, Some(b"not json")),
            (p as i32, None, Some(b"[1,2]")),
            (p as i32, None, Some(good.as_bytes())),
        ];
        produce(&topic, codec, &msgs);
    }
    let s = sample(&topic, 100);
    assert_eq!(s.len(), 8);
    let k = s.skipped;
    assert_eq!((k.tombstones, k.invalid_json, k.not_object), (4, 4, 4), "{k:?}");
    let codecs: Vec<String> = values(&s).iter().map(|v| v["codec"].as_str().unwrap().to_string()).collect();
    assert_eq!(codecs, ["none", "none", "gzip", "gzip", "lz4", "lz4", "zstd", "zstd"]);
}

#[test]
fn unknown_topic_lists_the_closest_names() {
    let topic = unique("orders");
    create_topic(&topic, 1);
    let typo = format!("{}x", &topic[..topic.len() - 1]);
    let mut r = KafkaSampler::default().sample(&[&source(&typo, 10, Duration::from_secs(10))]);
    let e = r.pop().unwrap().unwrap_err().to_string();
    assert!(e.contains(&format!("topic `{typo}` does not exist on {}", broker())), "{e}");
    assert!(e.contains(&format!("closest: `{topic}`")), "{e}");
}

#[test]
fn empty_topic_asks_to_pin_the_schema() {
    let topic = unique("empty");
    create_topic(&topic, 2);
    let mut r = KafkaSampler::default().sample(&[&source(&topic, 10, Duration::from_secs(10))]);
    let e = r.pop().unwrap().unwrap_err().to_string();
    assert!(e.contains("is empty: pin the schema in [schema]"), "{e}");
}

#[test]
fn unreachable_broker_is_named_within_the_timeout() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut s = SourceSpec::adhoc("t".into(), closed.clone(), 10, Duration::from_secs(2));
    s.bootstrap_servers = closed.clone();
    let started = Instant::now();
    let e = KafkaSampler::default().sample(&[&s]).pop().unwrap().unwrap_err().to_string();
    assert!(e.contains(&format!("no Kafka broker answered within 2s (tried {closed})")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "gave up in time: {:?}", started.elapsed());
}

/// A new one-partition topic holding the example's orders sample, one line per message
/// (`compression` as librdkafka names it); with the sample's text.
fn orders_topic(compression: &str) -> (String, String) {
    let topic = unique("orders");
    create_topic(&topic, 1);
    let file = std::fs::read_to_string(crate::common::repo().join("samples/orders.jsonl")).unwrap();
    let msgs: Vec<Msg<'_>> = file.lines().map(|l| (0, None, Some(l.as_bytes()))).collect();
    produce(&topic, compression, &msgs);
    (topic, file)
}

/// A copy of the example whose orders pipeline reads `topic` on the test broker.
fn example_on_kafka(topic: &str) -> TestProject {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace("topic = \"orders\"", &format!("topic = \"{topic}\"")).replace(
        "sample = { file = \"samples/orders.jsonl\", messages = 1000 }",
        &format!("sample_bootstrap_servers = \"{}\"\nsample = {{ messages = 1000, timeout = \"20s\" }}", broker()),
    );
    p.write("pipelines/orders.toml", &spec);
    p
}

#[test]
fn plan_and_sample_with_a_kafka_source_match_the_sample_file() {
    let (topic, file) = orders_topic("zstd");

    let from_file = TestProject::two_pipelines().run(&["schema", "orders"]).code(0).stdout;
    let p = example_on_kafka(&topic);
    let from_kafka = p.run(&["schema", "orders"]).code(0).stdout;
    let columns = |s: &str| s.lines().skip(3).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(columns(&from_kafka), columns(&from_file), "{from_kafka}");
    assert!(
        from_kafka.contains(&format!("sample: {topic}@{}: 40 records, 1 skipped (1 invalid JSON)", broker())),
        "{from_kafka}"
    );

    let plan = p.run(&["plan", "--detailed-exitcode"]).code(2).stdout;
    assert!(plan.contains("+ pipeline \"orders\""), "{plan}");

    let lines = p.run(&["sample", "orders", "-n", "3"]).code(0).stdout;
    let newest: Vec<&str> = file.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), newest);
    let adhoc = p.run(&["sample", "--topic", &topic, "--bootstrap-servers", &broker(), "--schema"]).code(0).stdout;
    assert!(adhoc.contains("total"), "{adhoc}");
    assert!(adhoc.contains("DOUBLE"), "{adhoc}");
    // One inference: a topic without a spec is typed as `schema` types a pipeline's
    // columns (BIGINT integers, objects as jsonb text), but for the spec's own conversions.
    let typed = |s: &str| -> std::collections::BTreeMap<String, String> {
        s.lines()
            .filter(|l| !l.contains('→') && l.contains(" present"))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect()
    };
    let (adhoc_types, spec_types) = (typed(&adhoc), typed(&from_kafka));
    assert!(spec_types.len() >= 8, "{from_kafka}");
    for (k, t) in &spec_types {
        assert_eq!(adhoc_types.get(k), Some(t), "column {k}:\n{adhoc}\n{from_kafka}");
    }
}

#[test]
fn a_kafka_sink_s_topic_is_looked_up_on_the_cluster() {
    let (topic, _) = orders_topic("none");
    let p = example_on_kafka(&topic);
    let out_topic = unique("orders_out");
    let spec = p.read("pipelines/orders.toml").replace("[sink]\n", "[[sink]]\n");
    p.write(
        "pipelines/orders.toml",
        &format!(
            "{spec}\n[[sink]]\ntype = \"upsert-kafka\"\ntopic = \"{out_topic}\"\nbootstrap_servers = \"{}\"\ncolumns = [\"order_id\", \"status\"]\n",
            broker()
        ),
    );
    let missing = format!("the sink topic {out_topic} does not exist on {}", broker());
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(plan.contains(&missing), "{plan}");
    create_topic(&out_topic, 3);
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(!plan.contains("does not exist"), "{plan}");
}

#[test]
fn a_plan_takes_an_unchanged_topic_from_the_sample_cache_and_reads_it_again_once_it_moves() {
    let (topic, _) = orders_topic("none");
    let p = example_on_kafka(&topic);
    let line =
        |plan: &str| plan.lines().find(|l| l.contains(&format!("sample: {topic}@"))).unwrap_or_default().to_string();
    let cached = "(cached: the topic has not changed since it was read; --no-cache reads it again)";
    let first = p.run(&["plan"]).code(0).stdout;
    assert!(line(&first).ends_with("40 records, 1 skipped (1 invalid JSON)"), "{first}");
    let second = p.run(&["plan"]).code(0).stdout;
    assert_eq!(line(&second), format!("{} {cached}", line(&first)), "{second}");
    // The same plan either way, but for the note.
    assert_eq!(second.replace(&format!(" {cached}"), ""), first);
    let json = p.run(&["plan", "--format", "json"]).code(0).stdout;
    assert!(json.contains("\"cached\":true") || json.contains("\"cached\": true"), "{json}");
    assert!(!line(&p.run(&["plan", "--no-cache"]).code(0).stdout).contains("cached"));

    // A new message moves the high watermark: the topic is read again.
    produce(&topic, "none", &[(0, None, Some(br#"{"order_id": 9999, "amount": 1.5}"#))]);
    let moved = p.run(&["plan"]).code(0).stdout;
    assert!(line(&moved).ends_with("41 records, 1 skipped (1 invalid JSON)"), "{moved}");
}

#[test]
fn many_topics_of_one_cluster_are_shared_among_consumers_and_each_gets_its_own_messages() {
    // 23 topics: three consumers, with shares of 8, 8 and 7.
    let topics: Vec<String> = (0..23).map(|i| unique(&format!("many{i}"))).collect();
    for (i, t) in topics.iter().enumerate() {
        create_topic(t, 1);
        let msgs: Vec<String> = (0..i + 1).map(|k| format!(r#"{{"topic":{i},"k":{k}}}"#)).collect();
        produce(t, "none", &msgs.iter().map(|m| (0, None, Some(m.as_bytes()))).collect::<Vec<_>>());
    }
    let specs: Vec<SourceSpec> = topics.iter().map(|t| source(t, 100, Duration::from_secs(20))).collect();
    let results = KafkaSampler::default().sample(&specs.iter().collect::<Vec<_>>());
    assert_eq!(results.len(), topics.len());
    for (i, r) in results.into_iter().enumerate() {
        let s = r.unwrap_or_else(|e| panic!("{}: {e}", topics[i]));
        assert_eq!(s.origin, format!("{}@{}", topics[i], broker()));
        let want: Vec<serde_json::Value> = (0..i + 1).map(|k| serde_json::json!({ "topic": i, "k": k })).collect();
        assert_eq!(values(&s), want, "{}", topics[i]);
    }
    assert!(groups().iter().all(|g| !g.starts_with("flinkform")), "no group joined: {:?}", groups());
}
