//! `consume BROKER produce|read PREFIX TOPICS MESSAGES`: the
//! sampling reference of `benches/run`. `produce` makes TOPICS topics `PREFIX-N` of one
//! partition with MESSAGES JSON records each (as `gen_project.py` writes them); `read` is
//! one plain librdkafka consumer that reads all of them, assigned from the beginning to
//! their high watermarks, the least any sampler must do, and prints `read SECONDS`.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A clickstream-like record, as `gen_project.py` writes them.
fn record(i: usize) -> String {
    serde_json::json!({
        "event_id": format!("e-{i}"),
        "user": { "id": i * 7919 % 1_000_000, "name": format!("user{i}"), "tags": ["a", "b"] },
        "price": (i % 10_000) as f64 / 100.0,
        "ts": format!("2024-05-01 10:{:02}:{:02}.{:03}", i % 60, i * 7 % 60, i % 1000),
        "ok": i.is_multiple_of(2),
        "big": 1_000_000_000_000u64 + i as u64,
        "country": "SG",
    })
    .to_string()
}

fn produce(broker: &str, topics: &[String], messages: usize) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", broker).create().expect("an admin client");
    let new: Vec<NewTopic<'_>> = topics.iter().map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1))).collect();
    let made = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(admin.create_topics(&new, &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
        .expect("create_topics");
    for t in made {
        t.unwrap_or_else(|(n, e)| panic!("creating topic {n}: {e}"));
    }
    let p: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", broker).set("linger.ms", "5").create().expect("a producer");
    for t in topics {
        for i in 0..messages {
            let payload = record(i);
            loop {
                match p.send(BaseRecord::<'_, str, str>::to(t).payload(&payload)) {
                    Ok(()) => break,
                    Err((e, _)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                        p.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => panic!("producing to {t}: {e}"),
                }
            }
            p.poll(Duration::ZERO);
        }
    }
    p.flush(TIMEOUT).expect("flush");
}

fn read(broker: &str, topics: &[String]) -> Duration {
    let started = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "flinkform-bench-reference")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    let mut left = 0i64;
    for t in topics {
        let (low, high) = c.fetch_watermarks(t, 0, TIMEOUT).expect("watermarks");
        tpl.add_partition_offset(t, 0, Offset::Offset(low)).expect("an offset");
        left += high - low;
    }
    c.assign(&tpl).expect("assign");
    while left > 0 {
        match c.poll(TIMEOUT) {
            Some(Ok(m)) => {
                std::hint::black_box(m.payload());
                left -= 1;
            }
            Some(Err(e)) => panic!("reading: {e}"),
            None => panic!("no message within {TIMEOUT:?}, {left} left"),
        }
    }
    started.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [broker, what, prefix, topics, messages] = &args[..] else {
        panic!("usage: consume BROKER produce|read PREFIX TOPICS MESSAGES");
    };
    let n: usize = topics.parse().expect("a number of topics");
    let messages: usize = messages.parse().expect("a number of messages");
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
    match what.as_str() {
        "produce" => produce(broker, &names, messages),
        "read" => println!("read {:.4}", read(broker, &names).as_secs_f64()),
        other => panic!("unknown action {other}: produce or read"),
    }
}
