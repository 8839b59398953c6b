//! Flink is the judge of the plan's word on state (docs/state.md): a corpus of change
//! kinds, each planned by flinkform against the recorded old version and carried out on
//! the Flink 2.0 cluster. The old job runs over the first messages and stops with a
//! savepoint; more messages come (new ones, repeats, and for the deduplication older and
//! newer versions of rows it holds). Then, for every case, the new job is restored from
//! that savepoint, and what it writes is compared with what the messages say when the
//! state is kept; where the plan restarts without state, the new job also runs as the plan
//! says, and its rows must be right. A `kept` verdict must restore and write the right
//! rows; a `lost` one must fail to restore, or restore into wrong rows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

use super::{
    broker, cancel, create_topic, orders_sent, orders_to_topic, payments_to_topic, produce, read_back, rest,
    stop_with_savepoint, submit, try_submit,
};
use crate::common::TestProject;
use crate::kafka::unique;

/// An edit of a spec or of its sample.
type Edit = Box<dyn Fn(String) -> String>;

/// The table a version writes from scratch over the messages, by key.
type Table = fn(&[String]) -> BTreeMap<String, Value>;

/// One change kind.
struct Case {
    name: &'static str,
    /// The spec as the change makes it.
    spec: Edit,
    /// The sample as the change makes it (new fields).
    sample: Edit,
    /// The verdict the plan gives.
    verdict: &'static str,
    /// Whether a message passes the new version's filter.
    passes: fn(&Value) -> bool,
    /// Whether the plan's restore is tried (not when the spec asks for no state).
    restore: bool,
    /// The table the new version writes from scratch over `messages`, where it is not the
    /// old version's (`Some(None)`: not computed here).
    fresh: Option<Option<Table>>,
}

impl Case {
    fn new(name: &'static str, verdict: &'static str, spec: impl Fn(String) -> String + 'static) -> Case {
        let sample = Box::new(|s| s);
        Case { name, spec: Box::new(spec), sample, verdict, passes: |_| true, restore: true, fresh: None }
    }

    fn no_restore(mut self) -> Case {
        self.restore = false;
        self
    }

    fn fresh(mut self, table: Option<Table>) -> Case {
        self.fresh = Some(table);
        self
    }

    fn sample(mut self, sample: impl Fn(String) -> String + 'static) -> Case {
        self.sample = Box::new(sample);
        self
    }

    fn passes(mut self, passes: fn(&Value) -> bool) -> Case {
        self.passes = passes;
        self
    }
}

/// What the new job did, restored from the old job's savepoint.
#[derive(Debug)]
enum Restored {
    /// It ran, and wrote what the messages say when the state is kept.
    Right,
    /// It ran, and wrote something else.
    Wrong(String),
    /// The client refused to submit it from the savepoint.
    Refused(String),
    /// It failed once running.
    Fails(String),
}

impl Restored {
    fn summary(&self) -> String {
        let first = |s: &str| -> String {
            s.lines().rfind(|l| l.starts_with("Caused by:")).unwrap_or(s).chars().take(160).collect()
        };
        match self {
            Restored::Right => "runs, rows right".into(),
            Restored::Wrong(w) => format!("runs, rows WRONG: {w}"),
            Restored::Refused(s) => format!("refused: {}", first(s)),
            Restored::Fails(s) => format!("fails: {}", first(s)),
        }
    }

    /// Whether this is what the verdict says Flink does.
    fn agrees(&self, verdict: &str) -> bool {
        match verdict {
            "kept" => matches!(self, Restored::Right),
            "lost" => !matches!(self, Restored::Right),
            _ => true,
        }
    }
}

/// The next offset of `topic`'s only partition.
fn high(topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", broker()).create().unwrap();
    c.fetch_watermarks(topic, 0, Duration::from_secs(10)).unwrap().1
}

/// The messages of `topic` from offset `from`, once `done` says they are all there (then
/// 3 s more for any that should not come), or `failed` says (asked every second) that
/// none will, or after 45 s; tombstones as `null`.
fn read_from(topic: &str, from: i64, done: impl Fn(&[String]) -> bool, failed: impl Fn() -> bool) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", format!("flinkform-corpus-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(from)).unwrap();
    c.assign(&tpl).unwrap();
    let (mut out, mut quiet_until) = (Vec::new(), None::<Instant>);
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut asked = Instant::now();
    while Instant::now() < deadline && quiet_until.is_none_or(|q| Instant::now() < q) {
        if asked.elapsed() >= Duration::from_secs(1) {
            if failed() {
                break;
            }
            asked = Instant::now();
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push(m.payload_view::<str>().and_then(Result::ok).unwrap_or("null").to_string());
        }
        if quiet_until.is_none() && done(&out) {
            quiet_until = Some(Instant::now() + Duration::from_secs(3));
        }
    }
    out
}

/// Submits `sql` (from `savepoint` when given) and reads what it writes to `output` from
/// offset `from` until `done`; cancels it. `Fails` when the job records an exception.
fn run_job(
    sql: &str,
    savepoint: Option<&str>,
    output: &str,
    from: i64,
    done: impl Fn(&[String]) -> bool,
) -> Result<Vec<String>, Restored> {
    let job = try_submit(sql, savepoint).map_err(Restored::Refused)?;
    let failure = || {
        let ex = rest(reqwest::Method::GET, &format!("/jobs/{job}/exceptions"), None);
        let first = ex["exceptionHistory"]["entries"].as_array().and_then(|e| e.first()).cloned();
        first.map(|e| e["stacktrace"].as_str().unwrap_or_default().to_string())
    };
    let written = read_from(output, from, done, || failure().is_some());
    let failure = failure();
    cancel(&job);
    match failure {
        Some(trace) => Err(Restored::Fails(trace)),
        None => Ok(written),
    }
}

/// Plans the case against the recorded old version: its verdict and where the plan says
/// the new job's source starts.
fn planned(p: &TestProject, pipeline: &str) -> (String, String) {
    let json: Value =
        serde_json::from_str(&p.run(&["plan", "--select", pipeline, "--format", "json"]).code(0).stdout).unwrap();
    let c = &json["pipelines"][0];
    assert_eq!(c["action"], "update", "{c}");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&c["state"]["verdict"]), s(&c["data"]["start"]))
}

/// What a job must write, as a check of what it wrote so far: `Ok` once it is all there
/// and nothing else (`Err(None)`: not compared for this case).
type Check<'a> = &'a dyn Fn(&Case, &[String]) -> Result<(), Option<String>>;

/// Runs every case against one old version: `restored` checks what the restored job
/// wrote, `restarted` what the job the plan restarts without state wrote. Each case's
/// line goes to the test output; a verdict that disagrees with Flink fails the test.
fn judge(
    p: &TestProject,
    pipeline: &str,
    cases: &[Case],
    savepoint: &str,
    output: &str,
    restored: Check<'_>,
    restarted: Check<'_>,
) {
    let (spec_file, sample_file) = (format!("pipelines/{pipeline}.toml"), format!("samples/{pipeline}.jsonl"));
    let (spec, sample) = (p.read(&spec_file), p.read(&sample_file));
    let mut disagree = Vec::new();
    for case in cases {
        p.write(&spec_file, &(case.spec)(spec.clone()));
        p.write(&sample_file, &(case.sample)(sample.clone()));
        let (verdict, start) = planned(p, pipeline);
        assert_eq!(verdict, case.verdict, "{}: the plan's verdict", case.name);
        let sql = p.run(&["render", pipeline]).code(0).stdout;
        let mut line = format!("{}: plan says {verdict}", case.name);
        if case.restore {
            let done = |w: &[String]| restored(case, w).is_ok();
            let outcome = match run_job(&sql, Some(savepoint), output, high(output), done) {
                Ok(written) => match restored(case, &written) {
                    Ok(()) => Restored::Right,
                    Err(why) => Restored::Wrong(why.unwrap_or_default()),
                },
                Err(r) => r,
            };
            line.push_str(&format!("; from the savepoint Flink {}", outcome.summary()));
            if !outcome.agrees(&verdict) {
                disagree.push(line.clone());
            }
        }
        if start != "savepoint" {
            let done = |w: &[String]| restarted(case, w).is_ok();
            let rows = match run_job(&sql, None, output, high(output), done) {
                Ok(written) => match restarted(case, &written) {
                    Ok(()) => "rows right".to_string(),
                    Err(None) => "rows not compared (the new version's own)".to_string(),
                    Err(Some(w)) => format!("rows WRONG: {w}"),
                },
                Err(r) => r.summary(),
            };
            line.push_str(&format!("; restarted without state ({start}) as planned: {rows}"));
            if rows.contains("WRONG") || !rows.starts_with("rows") {
                disagree.push(line.clone());
            }
        }
        report!("state corpus: {line}");
    }
    p.write(&spec_file, &spec);
    p.write(&sample_file, &sample);
    assert!(disagree.is_empty(), "the plan and Flink disagree:\n{}", disagree.join("\n"));
}

fn order_id(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    v["order_id"].as_str().unwrap_or_default().to_string()
}

/// The example's `orders` (no state of its own but the source's read position), from a
/// topic to a topic: every message written once, in order.
#[test]
fn the_plan_s_state_verdicts_agree_with_flink_for_a_job_without_deduplication() {
    let (input, output, second) = (unique("corpus_in"), unique("corpus_out"), unique("corpus_more"));
    for t in [&input, &output, &second] {
        create_topic(t);
    }
    let p = orders_to_topic(&input, &output);
    let records = orders_sent(&p);
    let (before, after) = records.split_at(records.len() / 2);
    produce(&input, before);
    let job = submit(&p.run(&["render", "orders"]).code(0).stdout);
    assert_eq!(read_back(&output, before.len(), Duration::from_secs(90)).len(), before.len());
    let savepoint = stop_with_savepoint(&job);
    let again: Vec<String> = after.iter().chain(&before[..3]).cloned().collect();
    produce(&input, &again);
    p.record();

    let with_channel = |s: String| {
        s.lines()
            .map(|l| l.replacen("\"currency\":", "\"channel\": \"app\", \"currency\":", 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let deploy =
        |extra: &'static str| move |s: String| s.replace("parallelism = 2", &format!("parallelism = 2\n{extra}"));
    let schema = |extra: &'static str| move |s: String| s.replace("[schema]\n", &format!("[schema]\n{extra}\n"));
    let more = format!(
        "\n[[sink]]\ntype = \"kafka\"\ntopic = \"{second}\"\nbootstrap_servers = \"{}\"\ncolumns = [\"order_id\", \"status\"]\n",
        broker()
    );
    let cases = vec![
        Case::new("task manager resources", "kept", deploy("taskmanager = { cpu = 1, memory = \"4Gi\" }")),
        Case::new("a column added", "kept", |s| s).sample(with_channel),
        Case::new("a column left out", "kept", schema("columns.note = { exclude = true }")),
        Case::new("a column widened", "kept", schema("columns.total = { type = \"STRING\" }")),
        Case::new("a column renamed", "kept", schema("columns.status = { rename = \"order_status\" }")),
        Case::new(
            "a computed column added",
            "kept",
            schema("columns.total_cents = { type = \"BIGINT\", expr = \"CAST(`total` * 100 AS BIGINT)\" }"),
        ),
        Case::new("a filter added", "kept", |s| s + "\n[transform]\nwhere = \"status <> 'created'\"\n")
            .passes(|v| v["status"] != "created"),
        Case::new("the watermark delay", "kept", |s| {
            s.replace("watermark_delay = \"5s\"", "watermark_delay = \"30s\"")
        }),
        Case::new("the startup mode", "kept", |s| {
            s.replace("startup_mode = \"earliest-offset\"", "startup_mode = \"latest-offset\"")
        }),
        Case::new("nested objects flattened", "kept", schema("flatten = true")),
        Case::new("a second sink", "lost", move |s| s.replace("[sink]\ntype", "[[sink]]\ntype") + &more),
        Case::new(
            "resources with upgrade = \"stateless\"",
            "lost",
            deploy("upgrade = \"stateless\"\ntaskmanager = { cpu = 1, memory = \"4Gi\" }"),
        )
        .no_restore(),
    ];
    let ids = |written: &[String]| written.iter().map(|t| order_id(t)).collect::<Vec<_>>();
    let want = |case: &Case, messages: &[String]| {
        let passes = |t: &&String| (case.passes)(&serde_json::from_str(t).unwrap());
        messages.iter().filter(passes).map(|t| order_id(t)).collect::<Vec<_>>()
    };
    let same = |got: Vec<String>, want: Vec<String>| {
        (got == want)
            .then_some(())
            .ok_or_else(|| Some(format!("{} written for {} messages: {got:?}", got.len(), want.len())))
    };
    let all: Vec<String> = before.iter().chain(&again).cloned().collect();
    // Restored: every message since the stop, once. Restarted: the example reads from the
    // earliest offset, so every message again.
    let restored = |case: &Case, written: &[String]| same(ids(written), want(case, &again));
    let restarted = |case: &Case, written: &[String]| same(ids(written), want(case, &all));
    judge(&p, "orders", &cases, &savepoint, &output, &restored, &restarted);
}

/// A payment's version: the message's amount and status.
fn payment(text: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some((v["payment_id"].as_str()?.to_string(), serde_json::json!([v["amount"], v["status"]])))
}

/// What `payments` holds after `messages`: each payment's latest version by `paid_at`
/// (the later message on a tie) among those that are not `test`.
fn payments_table(messages: &[String]) -> BTreeMap<String, Value> {
    let mut latest: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for text in messages {
        let v: Value = serde_json::from_str(text).unwrap();
        if v["status"] == "test" {
            continue;
        }
        let (id, version) = payment(text).unwrap();
        let at = v["paid_at"].as_str().unwrap().to_string();
        if latest.get(&id).is_none_or(|(was, _)| at >= *was) {
            latest.insert(id, (at, version));
        }
    }
    latest.into_iter().map(|(id, (_, version))| (id, version)).collect()
}

/// The table an upsert topic's messages leave (a tombstone deletes; keys as the values
/// carry them).
fn folded(written: &[String]) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for text in written {
        if let Some((id, version)) = payment(text) {
            table.insert(id, version);
        }
    }
    table
}

/// The example's `payments`: a last-row deduplication by event time, which keeps each
/// payment's latest row in state. After the stop come new payments, newer versions and
/// older ones: a job that kept the state writes the newer and ignores the older.
#[test]
fn the_plan_s_state_verdicts_agree_with_flink_for_a_deduplication() {
    let (input, output) = (unique("corpus_pay_in"), unique("corpus_pay_out"));
    create_topic(&input);
    create_topic(&output);
    let p = payments_to_topic(&input, &output);
    let sample = p.read("samples/payments.jsonl");
    let objects = sample.lines().filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()));
    let before: Vec<String> = objects.map(str::to_string).collect();
    produce(&input, &before);
    let job = submit(&p.run(&["render", "payments"]).code(0).stdout);
    let first = payments_table(&before);
    let old = read_from(&output, 0, |w| folded(w) == first, || false);
    assert_eq!(folded(&old), first, "the old job writes the table");
    let savepoint = stop_with_savepoint(&job);
    let version = |text: &str, paid_at: &str, amount: f64| {
        let mut v: Value = serde_json::from_str(text).unwrap();
        v["paid_at"] = paid_at.into();
        v["amount"] = amount.into();
        v.to_string()
    };
    let after: Vec<String> = vec![
        version(&before[0], "2024-04-30 10:00:00.000", 999.0),
        version(&before[1], "2024-04-30 10:00:00.000", 999.0),
        version(&before[2], "2024-05-02 10:00:00.000", 555.0),
        version(&before[3], "2024-05-02 10:00:00.000", 555.0),
        version(&before[4].replace("p-20", "p-30"), "2024-05-02 11:00:00.000", 42.0),
    ];
    produce(&input, &after);
    p.record();
    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    let want = payments_table(&all);

    let with_channel = |s: String| {
        s.lines()
            .map(|l| l.replacen("\"method\":", "\"channel\": \"app\", \"method\":", 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let schema = |extra: &'static str| move |s: String| s.replace("[schema]\n", &format!("[schema]\n{extra}\n"));
    let cases = vec![
        Case::new("task manager resources", "kept", |s| {
            s.replace("parallelism = 2", "parallelism = 2\ntaskmanager = { cpu = 1, memory = \"4Gi\" }")
        }),
        Case::new("a column added under the deduplication", "lost", |s| s).sample(with_channel),
        Case::new("a column left out under the deduplication", "lost", schema("columns.method = { exclude = true }")),
        Case::new(
            "a column widened under the deduplication",
            "lost",
            schema("columns.user_id = { type = \"STRING\" }"),
        ),
        Case::new(
            "a column renamed under the deduplication",
            "unknown",
            schema("columns.user_id = { rename = \"customer_id\" }"),
        ),
        Case::new("the deduplication keyed by another column", "lost", |s| {
            s.replace("dedupe = { key = [\"payment_id\"]", "dedupe = { key = [\"order_id\"]")
        })
        .fresh(None),
        Case::new("the deduplication removed", "lost", |s| {
            s.replace("dedupe = { key = [\"payment_id\"], order_by = \"paid_at\" }\n", "")
        })
        .fresh(Some(last_payments)),
        Case::new("the filter changed above the deduplication", "unknown", |s| {
            s.replace("where = \"status <> 'test'\"", "where = \"status <> 'test' AND amount < 100000\"")
        }),
        Case::new("the startup mode", "unknown", |s| {
            s.replace("startup_mode = \"earliest-offset\"", "startup_mode = \"latest-offset\"")
        }),
    ];
    let table = |written: &[String]| folded(&old.iter().chain(written).cloned().collect::<Vec<_>>());
    let differ = |got: BTreeMap<String, Value>, want: &BTreeMap<String, Value>| {
        (got == *want).then_some(()).ok_or_else(|| {
            let wrong = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .map(|(k, v)| format!("{k}: {:?} for {v}", got.get(k)));
            Some(wrong.collect::<Vec<_>>().join(", "))
        })
    };
    let restored = |_: &Case, written: &[String]| differ(table(written), &want);
    let restarted = |case: &Case, written: &[String]| match case.fresh {
        None => differ(table(written), &want),
        Some(Some(fresh)) => differ(folded(written), &fresh(&all)),
        Some(None) => Err(None),
    };
    judge(&p, "payments", &cases, &savepoint, &output, &restored, &restarted);
}

/// What `payments` without its deduplication holds after `messages`: each payment's last
/// message among those that are not `test`.
fn last_payments(messages: &[String]) -> BTreeMap<String, Value> {
    let kept: Vec<String> = messages.iter().filter(|t| !t.contains("\"status\": \"test\"")).cloned().collect();
    folded(&kept)
}
