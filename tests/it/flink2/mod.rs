//! Real data through real Flink: a job flinkform renders runs on a Flink 2.0 session
//! cluster (started by ./scripts/test: FLINKFORM_TEST_FLINK2_HOME, _CONF and _REST),
//! reading a real topic of the broker and writing a real
//! topic, and what arrives is compared with what the test produced, value by value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

use crate::common::TestProject;
use crate::kafka::unique;

/// Says what a case moved, in the test output even when it passes (the test harness
/// captures only the print macros, not the stream itself).
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The broker of the jobs run here (one of their own: Flink's Kafka source commits its
/// offsets to a consumer group, which the sampling tests must not see).
fn broker() -> String {
    std::env::var("FLINKFORM_TEST_FLINK2_KAFKA")
        .expect("FLINKFORM_TEST_FLINK2_KAFKA is not set: run the tests with ./scripts/test, which starts its brokers")
}

fn create_topic(name: &str) {
    crate::kafka::create_topic_on(&broker(), name, 1);
}

/// The cluster under test: Flink's home, its configuration and its REST address.
fn cluster() -> (PathBuf, PathBuf, String) {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} is not set: run the tests with ./scripts/test, which starts Flink 2.0"))
    };
    let (home, conf) = (var("FLINKFORM_TEST_FLINK2_HOME"), var("FLINKFORM_TEST_FLINK2_CONF"));
    (PathBuf::from(home), PathBuf::from(conf), var("FLINKFORM_TEST_FLINK2_REST"))
}

/// `tests/flink2/Submit.java` compiled against the cluster's jars, once per run.
fn submitter() -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        let (home, _, _) = cluster();
        let dir = std::env::temp_dir().join(format!("flinkform-submit-{}", std::process::id()));
        let classes = dir.join("classes");
        std::fs::create_dir_all(&classes).unwrap();
        let src = crate::common::repo().join("tests/flink2/Submit.java");
        let cp = format!("{}/lib/*", home.display());
        let ok = Command::new("javac").args(["-cp", &cp, "-d"]).arg(&classes).arg(&src).status().unwrap();
        assert!(ok.success(), "javac Submit.java");
        let jar = dir.join("submit.jar");
        let ok = Command::new("jar").arg("cf").arg(&jar).arg("-C").arg(&classes).arg(".").status().unwrap();
        assert!(ok.success(), "jar submit.jar");
        jar
    })
}

/// Submits `sql` (a script flinkform rendered) detached; the job's id.
fn submit(sql: &str) -> String {
    submit_from(sql, None)
}

/// [`submit`], restoring from `savepoint` when given (as VVP starts from a savepoint).
fn submit_from(sql: &str, savepoint: Option<&str>) -> String {
    try_submit(sql, savepoint).unwrap_or_else(|why| panic!("no job submitted:\n{why}"))
}

/// [`submit_from`]: the job's id, or what the client said when it refused the job.
fn try_submit(sql: &str, savepoint: Option<&str>) -> Result<String, String> {
    let (home, conf, rest) = cluster();
    let script = std::env::temp_dir().join(format!("flinkform-job-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&script, sql).unwrap();
    let address = rest.trim_start_matches("http://");
    let out = Command::new(home.join("bin/flink"))
        .env("FLINK_CONF_DIR", &conf)
        .args(["run", "-d", "-m", address])
        .args(savepoint.map(|s| ["-s", s]).into_iter().flatten())
        .args(["-c", "Submit"])
        .arg(submitter())
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job = stdout.lines().find_map(|l| l.strip_prefix("JOB ")).map(str::to_string);
    job.ok_or_else(|| format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// A JSON answer of the cluster's REST API.
fn rest(method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let (_, _, rest) = cluster();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut r = reqwest::Client::new().request(method, format!("{rest}{path}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    })
}

/// Stops a job with a savepoint (`POST /jobs/:id/stop`, as VVP's stop with a
/// savepoint); where the savepoint is.
fn stop_with_savepoint(job: &str) -> String {
    let asked = rest(reqwest::Method::POST, &format!("/jobs/{job}/stop"), Some(serde_json::json!({ "drain": false })));
    let request = asked["request-id"].as_str().expect("a request id").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let s = rest(reqwest::Method::GET, &format!("/jobs/{job}/savepoints/{request}"), None);
        if s["status"]["id"] == "COMPLETED" {
            let location = s["operation"]["location"].as_str();
            return location.unwrap_or_else(|| panic!("the savepoint failed: {s}")).to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no savepoint of job {job} within 60 s");
}

/// Cancels a job (through the REST API).
fn cancel(job: &str) {
    rest(reqwest::Method::PATCH, &format!("/jobs/{job}?mode=cancel"), None);
}

fn produce(topic: &str, payloads: &[impl AsRef<str>]) {
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", broker()).create().expect("producer");
    for payload in payloads {
        p.send(BaseRecord::<str, str>::to(topic).payload(payload.as_ref())).map_err(|(e, _)| e).expect("send");
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

/// Every message of `topic` once `want` arrived (or `timeout` passed), as JSON.
fn read_back(topic: &str, want: usize, timeout: Duration) -> Vec<Value> {
    let texts = read_back_text(topic, want, timeout);
    texts.iter().map(|t| serde_json::from_str(t).unwrap_or_else(|e| panic!("{topic}: {e}: {t}"))).collect()
}

/// Every message of `topic` once `want` arrived (or `timeout` passed), as its text.
fn read_back_text(topic: &str, want: usize, timeout: Duration) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", format!("flinkform-e2e-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(500)) {
            out.push(m.payload_view::<str>().and_then(Result::ok).unwrap_or("null").to_string());
        }
    }
    out
}

/// The example's `orders` reading `input` from the broker's start and writing its
/// columns as JSON to `output`.
fn orders_to_topic(input: &str, output: &str) -> TestProject {
    let p = TestProject::two_pipelines();
    let broker = broker();
    let spec = p
        .read("pipelines/orders.toml")
        .replace(
            "topic = \"orders\"",
            &format!(
                "topic = \"{input}\"\nstartup_mode = \"earliest-offset\"\nsample_bootstrap_servers = \"{broker}\""
            ),
        )
        .replace("alikafka-pre-cn-xxxxxxxx-1-vpc.alikafka.aliyuncs.com:9092", &broker)
        .replace(
            "[sink]\ntable = \"public.orders\"\ndistribution_key = [\"order_id\"]\non_conflict = \"update\"\n",
            &format!("[sink]\ntype = \"kafka\"\ntopic = \"{output}\"\nbootstrap_servers = \"{broker}\"\n"),
        );
    p.write("pipelines/orders.toml", &spec);
    p
}

/// The records of the example's orders sample, as the tests send them: each line that is
/// a JSON object.
fn orders_sent(p: &TestProject) -> Vec<String> {
    let sample = p.read("samples/orders.jsonl");
    let objects = sample.lines().filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()));
    objects.map(str::to_string).collect()
}

/// Runs the example's `orders` (its spec changed by `edit`) on the cluster over its
/// sample's records; what was sent, and each order id's first differing value (none:
/// every value arrived as itself).
fn run_orders(edit: impl Fn(String) -> String) -> (usize, usize, Vec<String>) {
    let (input, output) = (unique("orders_in"), unique("orders_out"));
    create_topic(&input);
    create_topic(&output);
    let p = orders_to_topic(&input, &output);
    p.write("pipelines/orders.toml", &edit(p.read("pipelines/orders.toml")));
    let records = orders_sent(&p);
    produce(&input, &records);
    let sql = p.run(&["render", "orders"]).code(0).stdout;
    let job = submit(&sql);
    let got = read_back(&output, records.len(), Duration::from_secs(90));
    cancel(&job);
    let by_id: BTreeMap<String, &Value> =
        got.iter().filter_map(|v| Some((v["order_id"].as_str()?.to_string(), v))).collect();
    let mut wrong = Vec::new();
    for text in &records {
        let sent: Value = serde_json::from_str(text).unwrap();
        let id = sent["order_id"].as_str().unwrap();
        let Some(row) = by_id.get(id) else {
            wrong.push(format!("order {id} did not arrive"));
            continue;
        };
        for (k, v) in sent.as_object().unwrap() {
            let arrived = if k == "updated_ms" { &row["updated_at"] } else { &row[k] };
            if !same(k, v, arrived) {
                wrong.push(format!("order {id}: `{k}` was {v}, arrived as {arrived}"));
                break;
            }
        }
    }
    (records.len(), got.len(), wrong)
}

/// Every sampled order travels from a real topic through the job flinkform renders into
/// a real topic: one message each, every value what its JSON said (a JSON-valued column
/// as its JSON text, a timestamp as its instant, the epoch milliseconds converted as the
/// instant they name).
#[test]
fn every_order_arrives_once_with_every_value_it_had() {
    let (sent, arrived, wrong) = run_orders(|spec| spec);
    report!("orders on Flink 2.0: {sent} produced, {arrived} arrived, {} differ", wrong.len());
    assert_eq!(arrived, sent, "every message arrives once");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The comparison is seen to fail: a total pinned to INT, which cuts the fractions,
/// arrives changed.
#[test]
fn a_pin_that_cuts_values_is_seen_to_change_them() {
    let pin =
        |spec: String| spec.replace("columns.updated_ms", "columns.total = { type = \"INT\" }\ncolumns.updated_ms");
    let (sent, arrived, wrong) = run_orders(pin);
    report!("orders with total as INT: {sent} produced, {arrived} arrived, {} differ", wrong.len());
    assert!(wrong.iter().any(|w| w.contains("`total`")), "{wrong:#?}");
}

/// One job writes two sinks (the statement set flinkform renders for several
/// `[[sink]]`, reading the source once): each gets every message, one its chosen columns.
#[test]
fn a_job_with_two_sinks_writes_every_message_to_each() {
    let (input, all, some) = (unique("orders_in"), unique("orders_all"), unique("orders_some"));
    for t in [&input, &all, &some] {
        create_topic(t);
    }
    let p = orders_to_topic(&input, &all);
    let spec = p.read("pipelines/orders.toml").replace("[sink]\ntype", "[[sink]]\ntype");
    let second = format!(
        "\n[[sink]]\ntype = \"kafka\"\ntopic = \"{some}\"\nbootstrap_servers = \"{}\"\ncolumns = [\"order_id\", \"status\"]\n",
        broker()
    );
    p.write("pipelines/orders.toml", &(spec + &second));
    let texts = orders_sent(&p);
    produce(&input, &texts);
    let records: Vec<Value> = texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    let sql = p.run(&["render", "orders"]).code(0).stdout;
    assert!(sql.contains("BEGIN STATEMENT SET;"), "{sql}");
    let job = submit(&sql);
    let (got_all, got_some) = (
        read_back(&all, records.len(), Duration::from_secs(90)),
        read_back(&some, records.len(), Duration::from_secs(30)),
    );
    cancel(&job);
    report!("orders to two sinks: {} produced, {} and {} arrived", records.len(), got_all.len(), got_some.len());
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter().map(|v| v["order_id"].as_str().unwrap_or_default().to_string()).collect()
    };
    assert_eq!(ids(&got_all), ids(&records), "every message, once, in order, to the first sink");
    let want: Vec<Value> =
        records.iter().map(|r| serde_json::json!({ "order_id": r["order_id"], "status": r["status"] })).collect();
    assert_eq!(got_some, want, "the second sink: every message, its chosen columns only");
}

/// The example's `orders` running between two topics of its own, the first half of its
/// sample produced and arrived.
struct HalfWay {
    p: TestProject,
    input: String,
    output: String,
    /// The sample's records, all of them.
    records: Vec<String>,
    job: String,
}

fn orders_half_way() -> HalfWay {
    let (input, output) = (unique("orders_in"), unique("orders_out"));
    create_topic(&input);
    create_topic(&output);
    let p = orders_to_topic(&input, &output);
    let records = orders_sent(&p);
    let half = &records[..records.len() / 2];
    produce(&input, half);
    let job = submit(&p.run(&["render", "orders"]).code(0).stdout);
    assert_eq!(read_back(&output, half.len(), Duration::from_secs(90)).len(), half.len());
    HalfWay { p, input, output, records, job }
}

/// A restart flinkform plans as "stop with a savepoint, start from exactly that
/// savepoint" keeps the reading where it stopped: the messages produced before the stop
/// arrive once, those produced after it (and duplicates of earlier ones, produced again)
/// arrive once each, and none is read twice or skipped.
#[test]
fn a_restart_from_the_savepoint_reads_on_where_the_job_stopped() {
    let HalfWay { p, input, output, records, job } = orders_half_way();
    let (before, after) = records.split_at(records.len() / 2);
    // The change: task manager resources, which flinkform restarts from a savepoint.
    p.record();
    let spec = p
        .read("pipelines/orders.toml")
        .replace("parallelism = 2", "parallelism = 2\ntaskmanager = { cpu = 1, memory = \"4Gi\" }");
    p.write("pipelines/orders.toml", &spec);
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(plan.contains("start from exactly that savepoint (reading resumes where the job stopped"), "{plan}");
    assert!(plan.contains("state: kept (the job's SQL is unchanged)"), "{plan}");
    let savepoint = stop_with_savepoint(&job);
    let again: Vec<&str> = after.iter().chain(&before[..3]).map(String::as_str).collect();
    produce(&input, &again);
    let job = submit_from(&p.run(&["render", "orders"]).code(0).stdout, Some(&savepoint));
    let want = before.len() + again.len();
    // Read past the count for a while: a message read twice would arrive meanwhile.
    let got = read_back(&output, want + 1, Duration::from_secs(25));
    cancel(&job);
    report!("orders across a restart from a savepoint: {want} produced, {} arrived", got.len());
    let id = |t: &str| serde_json::from_str::<Value>(t).unwrap()["order_id"].as_str().unwrap().to_string();
    let arrived: Vec<String> = got.iter().map(|v| v["order_id"].as_str().unwrap().to_string()).collect();
    let sent: Vec<String> = before.iter().map(|t| id(t)).chain(again.iter().map(|t| id(t))).collect();
    assert_eq!(arrived, sent, "every message once, in order: none read twice, none skipped");
}

/// Whether a sent JSON value arrived as itself: numbers by value, a JSON-valued column as
/// its JSON text, a timestamp as the same instant however many zero fractions it prints,
/// epoch milliseconds as the instant they name.
fn same(key: &str, sent: &Value, arrived: &Value) -> bool {
    match (sent, arrived) {
        (Value::Number(ms), Value::String(t)) if key == "updated_ms" => {
            let since_epoch = instant(t).and_then(|i| i.duration_since(std::time::UNIX_EPOCH).ok());
            since_epoch.is_some_and(|d| ms.as_u64() == u64::try_from(d.as_millis()).ok())
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) if a != b => instant(a).is_some() && instant(a) == instant(b),
        (Value::Object(_) | Value::Array(_), Value::String(t)) => {
            serde_json::from_str::<Value>(t).ok().as_ref() == Some(sent)
        }
        (a, b) => a == b,
    }
}

/// A timestamp's instant, as Flink's JSON format writes it (`2024-05-01 10:00:00[.fff][Z]`,
/// read as UTC).
fn instant(text: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z').replace(' ', "T").as_str()).ok()
}

/// The test database's endpoint (`host:port`), database and user, from FLINKFORM_TEST_PG.
fn pg_target() -> (String, String, String) {
    let dsn = crate::state::pg_dsn();
    let part = |k: &str, default: &str| {
        dsn.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{k}="))).unwrap_or(default).to_string()
    };
    (
        format!("{}:{}", part("host", "127.0.0.1"), part("port", "5432")),
        part("dbname", "test"),
        part("user", "postgres"),
    )
}

/// The example's `orders_report` (a JDBC sink) reading `input` from the broker's start
/// and writing the table `orders` of `schema` in the test database.
fn orders_to_postgres(input: &str, schema: &str) -> TestProject {
    let p = TestProject::example();
    let (endpoint, database, user) = pg_target();
    let spec = p
        .read("pipelines/orders_report.toml")
        .replace("topic = \"orders\"", &format!("topic = \"{input}\"\nstartup_mode = \"earliest-offset\""))
        .replace("alikafka-pre-cn-xxxxxxxx-1-vpc.alikafka.aliyuncs.com:9092", &broker())
        .replace("pgm-xxxxxxxx.pg.rds.aliyuncs.com:5432", &endpoint)
        .replace("database = \"reporting\"", &format!("database = \"{database}\""))
        .replace("table = \"public.orders\"", &format!("table = \"{schema}.orders\""))
        // The test database trusts its local users: the password (a VVP variable, which
        // no one resolves here) is not checked.
        .replace("username = { secret = \"pg_user\" }", &format!("username = \"{user}\""));
    p.write("pipelines/orders_report.toml", &spec);
    p
}

/// The rows of `schema.orders`, as JSON, each with its `updated_at` also as epoch
/// milliseconds (`updated_ms`, as the messages carry it).
fn orders_rows(db: &crate::state::TempSchema) -> Vec<Value> {
    let rows = db.sql(&[&format!(
        "SELECT row_to_json(t)::text FROM (SELECT *, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms FROM \"{}\".orders) t",
        db.0
    )]);
    rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

/// Every value of each order's last message that its row does not hold: the order id
/// and key of each difference (`user` is written as `customer`).
fn rows_differ(sent: &[String], rows: &[Value]) -> Vec<String> {
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for text in sent {
        let v: Value = serde_json::from_str(text).unwrap();
        last.insert(v["order_id"].as_str().unwrap().to_string(), v);
    }
    let by_id: BTreeMap<&str, &Value> = rows.iter().filter_map(|r| Some((r["order_id"].as_str()?, r))).collect();
    let mut wrong = Vec::new();
    for (id, sent) in &last {
        let Some(row) = by_id.get(id.as_str()) else {
            wrong.push(format!("order {id} has no row"));
            continue;
        };
        for (k, v) in sent.as_object().unwrap() {
            let arrived = &row[if k == "user" { "customer" } else { k.as_str() }];
            if !same(k, v, arrived) {
                wrong.push(format!("order {id}: `{k}` was {v}, its row holds {arrived}"));
            }
        }
    }
    if rows.len() != last.len() {
        wrong.push(format!("{} rows for {} orders", rows.len(), last.len()));
    }
    wrong
}

/// The example's JDBC pipeline as flinkform renders it, run for real: its table made by
/// the DDL flinkform renders, the job reading a real topic and upserting into
/// PostgreSQL through Flink's JDBC connector. Each order's row ends holding exactly what
/// its last message said: JSON values as jsonb, the epoch milliseconds as the instant
/// they name in a `timestamptz` column (the cluster runs in Asia/Shanghai, so a
/// time-zone shift would show).
#[test]
fn every_order_lands_in_postgresql_as_its_last_message_said() {
    let db = crate::state::TempSchema::default();
    let input = unique("orders_in");
    create_topic(&input);
    let p = orders_to_postgres(&input, &db.0);
    let ddl = p.run(&["render", "orders_report", "--ddl"]).code(0).stdout;
    db.sql(&[&ddl]);
    let records = orders_sent(&p);
    produce(&input, &records);
    let job = submit(&p.run(&["render", "orders_report"]).code(0).stdout);
    let (rows, wrong) = settle(&job, || orders_rows(&db), |rows| rows_differ(&records, rows));
    report!(
        "orders into PostgreSQL over JDBC: {} produced, {} rows, {} differ",
        records.len(),
        rows.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// One change of the source table a change stream describes.
enum Change {
    Insert(Value),
    /// Rows updated by one statement: each row's old and new image.
    Update(Vec<(Value, Value)>),
    Delete(Vec<Value>),
}

/// A row of the source table `shop.orders` the change streams describe.
fn row(id: u64, status: &str, qty: u64, note: Option<&str>) -> Value {
    serde_json::json!({ "id": id, "status": status, "qty": qty, "note": note })
}

/// A row as Canal writes it: every value as text (`null` stays null).
fn canal_text(row: &Value) -> Value {
    let text = |v: &Value| match v {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        v => Value::String(v.to_string()),
    };
    Value::Object(row.as_object().unwrap().iter().map(|(k, v)| (k.clone(), text(v))).collect())
}

/// The columns of `new` whose values differ from `old`'s, with `old`'s values (what
/// Canal's `old` and Maxwell's `old` hold).
fn changed(old: &Value, new: &Value) -> Value {
    let o = old.as_object().unwrap();
    Value::Object(o.iter().filter(|(k, v)| new[k.as_str()] != **v).map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The changes as `format`'s messages: Canal one per statement (several rows each),
/// Debezium and Maxwell one per row.
fn change_messages(format: &str, changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, c) in changes.iter().enumerate() {
        let ts = 1_714_557_600_000u64 + n as u64 * 1000;
        let rows: Vec<(&str, Option<&Value>, Option<&Value>)> = match c {
            Change::Insert(r) => vec![("INSERT", None, Some(r))],
            Change::Update(rows) => rows.iter().map(|(o, r)| ("UPDATE", Some(o), Some(r))).collect(),
            Change::Delete(rows) => rows.iter().map(|r| ("DELETE", Some(r), None)).collect(),
        };
        match format {
            "canal-json" => {
                let kind = rows[0].0;
                let data: Vec<Value> = rows.iter().map(|(_, o, r)| canal_text(r.or(*o).unwrap())).collect();
                let old: Option<Vec<Value>> = (kind == "UPDATE")
                    .then(|| rows.iter().map(|(_, o, r)| canal_text(&changed(o.unwrap(), r.unwrap()))).collect());
                out.push(serde_json::json!({
                    "data": data, "old": old, "database": "shop", "table": "orders", "type": kind,
                    "isDdl": false, "pkNames": ["id"], "es": ts, "ts": ts + 7, "sql": "",
                    "mysqlType": { "id": "bigint(20)", "status": "varchar(32)", "qty": "int(11)", "note": "text" },
                }));
            }
            "debezium-json" => out.extend(rows.iter().map(|(kind, o, r)| {
                let op = match *kind {
                    "INSERT" => "c",
                    "UPDATE" => "u",
                    _ => "d",
                };
                serde_json::json!({ "before": o, "after": r, "op": op, "ts_ms": ts,
                    "source": { "db": "shop", "table": "orders" } })
            })),
            _ => out.extend(rows.iter().map(|(kind, o, r)| {
                let old = match (o, r) {
                    (Some(o), Some(r)) => changed(o, r),
                    _ => Value::Null,
                };
                serde_json::json!({ "database": "shop", "table": "orders", "type": kind.to_lowercase(),
                    "ts": ts / 1000, "data": r.or(*o), "old": old, "primary_key_columns": ["id"] })
            })),
        }
    }
    out.into_iter().map(|v| v.to_string()).collect()
}

/// The source table the changes leave, by id: what the sink table must end equal to.
fn table_after(changes: &[Change]) -> BTreeMap<u64, Value> {
    let mut t = BTreeMap::new();
    let id = |r: &Value| r["id"].as_u64().unwrap();
    for c in changes {
        match c {
            Change::Insert(r) => {
                t.insert(id(r), r.clone());
            }
            Change::Update(rows) => t.extend(rows.iter().map(|(_, r)| (id(r), r.clone()))),
            Change::Delete(rows) => rows.iter().for_each(|r| drop(t.remove(&id(r)))),
        }
    }
    t
}

/// Changes as a MySQL table sees them: inserts, a statement that updates three rows
/// each in different columns, single updates, and deletes, among them of rows that
/// statement updated.
fn shop_changes() -> Vec<Change> {
    let mut c: Vec<Change> = (1..=6).map(|i| Change::Insert(row(i, "new", i, None))).collect();
    c.push(Change::Update(vec![
        (row(1, "new", 1, None), row(1, "paid", 1, None)),
        (row(2, "new", 2, None), row(2, "new", 20, None)),
        (row(3, "new", 3, None), row(3, "new", 3, Some("gift"))),
    ]));
    c.push(Change::Update(vec![(row(4, "new", 4, None), row(4, "shipped", 40, Some("door")))]));
    c.push(Change::Delete(vec![row(1, "paid", 1, None), row(2, "new", 20, None)]));
    c.push(Change::Insert(row(7, "new", 7, Some("late"))));
    c.push(Change::Delete(vec![row(5, "new", 5, None)]));
    c.push(Change::Update(vec![(row(3, "new", 3, Some("gift")), row(3, "paid", 3, Some("gift")))]));
    c
}

/// Runs a `format` change stream of [`shop_changes`] through the job flinkform renders
/// into a PostgreSQL table; the differences between the table and the source table the
/// changes leave (none: equal).
fn run_change_stream(format: &str) -> (usize, usize, Vec<String>) {
    let db = crate::state::TempSchema::default();
    let input = unique("shop_changes");
    create_topic(&input);
    let changes = shop_changes();
    let messages = change_messages(format, &changes);
    let p = TestProject::example();
    let canal = if format == "canal-json" { "database = \"shop\"\ntable = \"orders\"\n" } else { "" };
    let spec = format!(
        "[pipeline]\nname = \"shop_orders\"\n[source]\ntopic = \"{input}\"\nbootstrap_servers = \"{}\"\nstartup_mode = \"earliest-offset\"\nformat = \"{format}\"\n{canal}sample = {{ file = \"samples/changes.jsonl\" }}\n\
         [schema]\nprimary_key = [\"id\"]\n\
         {}[deployment]\nengine_version = \"vvr-11.1-jdk11-flink-1.20\"\nparallelism = 1\n",
        broker(),
        jdbc_sink(&format!("{}.shop_orders", db.0))
    );
    p.write("pipelines/shop_orders.toml", &spec);
    p.write("samples/changes.jsonl", &messages.join("\n"));
    db.sql(&[&p.run(&["render", "shop_orders", "--ddl"]).code(0).stdout]);
    produce(&input, &messages);
    let job = submit(&p.run(&["render", "shop_orders"]).code(0).stdout);
    let want = table_after(&changes);
    let differ = |rows: &[Value]| -> Vec<String> {
        let mut wrong: Vec<String> = Vec::new();
        let got: BTreeMap<u64, &Value> = rows.iter().filter_map(|r| Some((r["id"].as_u64()?, r))).collect();
        for id in got.keys().filter(|id| !want.contains_key(id)) {
            wrong.push(format!("row {id} is in the table, and the source table has none"));
        }
        for (id, w) in &want {
            match got.get(id) {
                Some(g) if *g == w => {}
                Some(g) => wrong.push(format!("row {id} is {g}, the source table's is {w}")),
                None => wrong.push(format!("row {id} is missing")),
            }
        }
        wrong
    };
    let (rows, wrong) = settle(&job, || table_rows(&db, "shop_orders"), differ);
    (messages.len(), rows.len(), wrong)
}

/// Each change-stream format, run for real through the job flinkform renders into a
/// PostgreSQL table: the table ends equal to the source table the events describe,
/// with a Canal statement that updates several rows in different columns among them.
#[test]
fn a_change_stream_leaves_the_table_the_events_describe() {
    for format in ["canal-json", "debezium-json", "maxwell-json"] {
        let (sent, rows, wrong) = run_change_stream(format);
        report!("{format} into PostgreSQL: {sent} messages, {rows} rows, {} differ", wrong.len());
        assert!(wrong.is_empty(), "{format}: {wrong:#?}");
    }
}

/// The `[sink]` of a JDBC table `table` in the test database (its password a VVP
/// variable, which the test database, trusting local users, does not check).
fn jdbc_sink(table: &str) -> String {
    let (endpoint, database, user) = pg_target();
    format!(
        "[sink]\ntype = \"jdbc\"\nendpoint = \"{endpoint}\"\ndatabase = \"{database}\"\ntable = \"{table}\"\nusername = \"{user}\"\npassword = {{ secret = \"pg_password\" }}\n"
    )
}

/// Waits (up to 90 s) until the table `rows` reads holds what `differ` finds no fault
/// with, then 2 s more for a row that would come back (a stale one a later delete
/// re-emits); cancels `job`. The rows, and what `differ` finds wrong with them.
fn settle(
    job: &str,
    rows: impl Fn() -> Vec<Value>,
    differ: impl Fn(&[Value]) -> Vec<String>,
) -> (Vec<Value>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !differ(&rows()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let last = rows();
    cancel(job);
    let wrong = differ(&last);
    (last, wrong)
}

/// The rows of `schema.table`, as JSON.
fn table_rows(db: &crate::state::TempSchema, table: &str) -> Vec<Value> {
    let q = format!("SELECT row_to_json(t)::text FROM \"{}\".{table} t", db.0);
    db.sql(&[&q]).iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

/// The example's `payments` (a filter, a deduplication by event time and a lookup of
/// each payment's customer), run for real over JDBC: the dimension table in PostgreSQL,
/// read through the JDBC connector's lookup, the rows into PostgreSQL. Each payment's row
/// is what the spec says, computed here from the messages: its latest message by
/// `paid_at` among those that are not `test`, with its customer's name and tier (none for
/// a customer the table does not have).
#[test]
fn payments_are_filtered_deduplicated_and_enriched_as_the_spec_says() {
    let db = crate::state::TempSchema::default();
    let input = unique("payments_in");
    create_topic(&input);
    let p = TestProject::example();
    let spec = p
        .read("pipelines/payments.toml")
        .replace("topic = \"payments\"", &format!("topic = \"{input}\"\nstartup_mode = \"earliest-offset\""))
        .replace("alikafka-pre-cn-xxxxxxxx-1-vpc.alikafka.aliyuncs.com:9092", &broker())
        .replace("table = \"public.users\"", &format!("table = \"{}.users\"", db.0))
        .replace("options = { cache = \"LRU\", cacheSize = \"100000\", cacheTTLMs = \"600000\" }\n", "")
        .replace(
            "[sink]\ntable = \"public.payments\"\ndistribution_key = [\"payment_id\"]\n",
            &jdbc_sink(&format!("{}.payments", db.0)),
        );
    p.write("pipelines/payments.toml", &spec);
    db.sql(&[
        &p.run(&["render", "payments", "--ddl"]).code(0).stdout,
        &format!("CREATE TABLE \"{}\".users (id bigint PRIMARY KEY, name text, tier text)", db.0),
        &format!("INSERT INTO \"{}\".users VALUES (100, 'Ana', 'gold'), (101, 'Bo', 'silver'), (102, 'Chen Wei', 'gold'), (103, 'Dee', NULL)", db.0),
    ]);
    let mut messages: Vec<String> = p.read("samples/payments.jsonl").lines().map(str::to_string).collect();
    let again = |id: &str, status: &str, paid_at: &str| {
        let first: Value =
            messages.iter().map(|m| serde_json::from_str::<Value>(m).unwrap()).find(|v| v["payment_id"] == id).unwrap();
        let mut v = first;
        v["status"] = status.into();
        v["paid_at"] = paid_at.into();
        v.to_string()
    };
    // A later state, an older one that arrives late, and a later `test` one.
    let extra = [
        again("p-2000", "captured", "2024-05-01 10:20:00.000"),
        again("p-2001", "refunded", "2024-05-01 09:00:00.000"),
        again("p-2002", "test", "2024-05-01 10:30:00.000"),
    ];
    messages.extend(extra);
    produce(&input, &messages);
    let job = submit(&p.run(&["render", "payments"]).code(0).stdout);

    let users: BTreeMap<u64, (Value, Value)> =
        [(100, "Ana", Some("gold")), (101, "Bo", Some("silver")), (102, "Chen Wei", Some("gold")), (103, "Dee", None)]
            .into_iter()
            .map(|(id, name, tier)| (id, (Value::from(name), tier.map_or(Value::Null, Value::from))))
            .collect();
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    for m in &messages {
        let mut v: Value = serde_json::from_str(m).unwrap();
        let later = want
            .get(v["payment_id"].as_str().unwrap())
            .is_none_or(|w| instant(v["paid_at"].as_str().unwrap()) > instant(w["paid_at"].as_str().unwrap()));
        if v["status"] != "test" && later {
            let (name, tier) =
                users.get(&v["user_id"].as_u64().unwrap()).cloned().unwrap_or((Value::Null, Value::Null));
            v["user_name"] = name;
            v["user_tier"] = tier;
            want.insert(v["payment_id"].as_str().unwrap().to_string(), v);
        }
    }
    let differ = |rows: &[Value]| -> Vec<String> {
        let got: BTreeMap<&str, &Value> = rows.iter().filter_map(|r| Some((r["payment_id"].as_str()?, r))).collect();
        let mut wrong: Vec<String> = got
            .keys()
            .filter(|id| !want.contains_key(**id))
            .map(|id| format!("{id} has a row and should not"))
            .collect();
        for (id, w) in &want {
            match got.get(id.as_str()) {
                None => wrong.push(format!("{id} has no row")),
                Some(g) => wrong.extend(
                    w.as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, v)| !same(k, v, &g[k.as_str()]))
                        .map(|(k, v)| format!("{id}: `{k}` should be {v}, is {}", g[k.as_str()])),
                ),
            }
        }
        wrong
    };
    let (rows, wrong) = settle(&job, || table_rows(&db, "payments"), differ);
    report!(
        "payments with a filter, dedupe and lookup over JDBC: {} messages, {} rows, {} differ",
        messages.len(),
        rows.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Updates flinkform plans as restarts without state, run for real: the old job is
/// cancelled (no savepoint) and the new one starts where the plan says its source
/// starts. From the earliest offset, every message is read again; from the latest
/// offset, the messages produced while the job was stopped are skipped. (From the
/// group's offsets, the default, it would resume where the group's last commit left
/// it; Tansu 0.6.0 never stores the offsets Flink's Kafka source commits, so that is not
/// run here.)
#[test]
fn a_restart_without_state_reads_from_where_the_plan_says() {
    let (input, output) = (unique("orders_in"), unique("orders_out"));
    create_topic(&input);
    create_topic(&output);
    let p = orders_to_topic(&input, &output);
    let stateless =
        p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 2\nupgrade = \"stateless\"");
    p.write("pipelines/orders.toml", &stateless);
    let records = orders_sent(&p);
    let batches: Vec<&[String]> = records.chunks(records.len() / 4 + 1).collect();
    let ids =
        |rows: &[Value]| -> Vec<String> { rows.iter().map(|v| v["order_id"].as_str().unwrap().to_string()).collect() };
    let sent = |batch: &[String]| -> Vec<String> {
        batch
            .iter()
            .map(|t| serde_json::from_str::<Value>(t).unwrap()["order_id"].as_str().unwrap().to_string())
            .collect()
    };
    // Once the old job's group committed `read` offsets, plans `edit` of the spec, which
    // must say `says` and whose data line must be `data`; cancels `job`; produces `batch`
    // while no job runs; submits the new version.
    let restart =
        |job: &str, read: usize, edit: &dyn Fn(String) -> String, says: &str, data: &str, batch: &[String]| {
            wait_committed(&input, "flinkform_orders", read);
            p.record();
            p.write("pipelines/orders.toml", &edit(p.read("pipelines/orders.toml")));
            let plan = p.run(&["plan", "--select", "orders"]).code(0).stdout;
            assert!(plan.contains(says), "{plan}");
            assert_eq!(data_line(&plan), data, "{plan}");
            cancel(job);
            produce(&input, batch);
            let job = submit(&p.run(&["render", "orders"]).code(0).stdout);
            wait_running(&job);
            job
        };

    produce(&input, batches[0]);
    let job = submit(&p.run(&["render", "orders"]).code(0).stdout);
    assert_eq!(read_back(&output, batches[0].len(), Duration::from_secs(90)).len(), batches[0].len());
    // From the earliest offset (the test's spec): everything is read again.
    let resources = |spec: String| {
        spec.replace("parallelism = 2\n", "parallelism = 2\ntaskmanager = { cpu = 1, memory = \"4Gi\" }\n")
    };
    let says = "restart without state: start NONE (the source reads again from scan.startup.mode \"earliest-offset\")";
    let data = format!(
        "reads again from the earliest offset: {} messages the old job read are read again (the old job's group is 0 messages behind now)",
        batches[0].len()
    );
    let job = restart(&job, batches[0].len(), &resources, says, &data, batches[1]);
    let want: Vec<String> = [batches[0], batches[0], batches[1]].into_iter().flat_map(sent).collect();
    let got = ids(&read_back(&output, want.len() + 1, Duration::from_secs(10)));
    report!(
        "a restart without state from the earliest offset: {} produced, {} arrived (the first {} again)",
        batches[0].len() + batches[1].len(),
        got.len(),
        batches[0].len()
    );
    assert_eq!(got, want, "every message before the restart again, then the others once");

    // From the latest offset: what is produced while no job runs is skipped.
    let latest = |spec: String| spec.replace("startup_mode = \"earliest-offset\"", "startup_mode = \"latest-offset\"");
    let says = "restart without state: start NONE (the source reads again from scan.startup.mode \"latest-offset\")";
    let data = "starts at the latest offset: 0 messages unread now, and every message produced until the new job runs, are skipped (the old job's group is 0 messages behind now)";
    let job = restart(&job, batches[0].len() + batches[1].len(), &latest, says, data, batches[2]);
    // The new job reads from the end once it runs: give it a moment before producing more.
    std::thread::sleep(Duration::from_secs(5));
    produce(&input, batches[3]);
    let want: Vec<String> = want.into_iter().chain(sent(batches[3])).collect();
    let got = ids(&read_back(&output, want.len() + 1, Duration::from_secs(10)));
    cancel(&job);
    report!(
        "a restart without state from the latest offset: {} produced while no job ran, none arrived; {} arrived in all",
        batches[2].len(),
        got.len()
    );
    assert_eq!(got, want, "the messages produced while no job ran are skipped, the others arrive once");
}

/// Waits until every task of `job` runs.
fn wait_running(job: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = rest(reqwest::Method::GET, &format!("/jobs/{job}"), None);
        let vertices = j["vertices"].as_array().cloned().unwrap_or_default();
        if !vertices.is_empty() && vertices.iter().all(|v| v["status"] == "RUNNING") {
            return;
        }
        assert!(Instant::now() < deadline, "job {job} not running within 60 s: {}", j["state"]);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs tests/flink2/compare.py over what was sent and what was written (JSON lines,
/// in order) and which field holds each key; its lines of differences.
fn compare_written(sent: &[String], written: &[String], columns: &BTreeMap<String, String>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (s, w, c) = (dir.path().join("sent.jsonl"), dir.path().join("written.jsonl"), dir.path().join("columns.json"));
    std::fs::write(&s, sent.join("\n")).unwrap();
    std::fs::write(&w, written.join("\n")).unwrap();
    std::fs::write(&c, serde_json::to_string(columns).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(crate::common::repo().join("tests/flink2/compare.py"))
        .args([&s, &w, &c])
        .output()
        .unwrap();
    let problems: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(out.status.success(), problems.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    problems
}

/// The torture fixture's records (ids past 2^53 and 2^63, integers beyond BIGINT, odd and
/// reserved keys, nested objects and arrays, timestamps of every form, nulls) travel
/// from a real topic through the job flinkform renders into a topic: every key that has
/// a column arrives in it, each value what its JSON text means, judged by
/// tests/flink/check.py's rules. The judgement is seen to fail on a value changed on
/// purpose.
#[test]
fn hostile_records_arrive_with_every_value_they_had() {
    let (input, output) = (unique("torture_in"), unique("torture_out"));
    create_topic(&input);
    create_topic(&output);
    let p = TestProject::fixture("torture");
    let broker = broker();
    p.write(
        "pipelines/torture.toml",
        &format!(
            "[pipeline]\nname = \"torture\"\n[source]\ntopic = \"{input}\"\nbootstrap_servers = \"{broker}\"\nstartup_mode = \"earliest-offset\"\nsample = {{ file = \"samples/torture.jsonl\" }}\n\
             [schema]\nmax_depth = 3\n\
             [sink]\ntype = \"kafka\"\ntopic = \"{output}\"\nbootstrap_servers = \"{broker}\"\n\
             [deployment]\nengine_version = \"vvr-11.1-jdk11-flink-1.20\"\nparallelism = 1\n"
        ),
    );
    std::fs::remove_file(p.path().join("pipelines/torture_flat.toml")).unwrap();
    let sent: Vec<String> = p.read("samples/torture.jsonl").lines().map(str::to_string).collect();
    // Each JSON key's field in the written messages: its sink column, as the plan names it.
    let plan: Value = serde_json::from_str(&p.run(&["plan", "--format", "json"]).code(0).stdout).unwrap();
    let columns: BTreeMap<String, String> = plan["pipelines"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["sink_name"].as_str().unwrap().to_string()))
        .collect();
    produce(&input, &sent);
    let job = submit(&p.run(&["render", "torture"]).code(0).stdout);
    let written = read_back_text(&output, sent.len(), Duration::from_secs(90));
    cancel(&job);
    let problems = compare_written(&sent, &written, &columns);
    report!(
        "hostile records on Flink 2.0: {} produced, {} arrived, {} keys with a column each, {} differ",
        sent.len(),
        written.len(),
        columns.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    // The judgement is not blind: a huge integer one larger is seen.
    let changed: Vec<String> = written
        .iter()
        .map(|w| w.replacen("123456789012345678901234567890", "123456789012345678901234567891", 1))
        .collect();
    assert_ne!(changed, written, "the fixture's huge integer arrived as written");
    let problems = compare_written(&sent, &changed, &columns);
    assert!(problems.iter().any(|p| p.contains("\"huge\"")), "{problems:#?}");
}

/// The example's `payments` (its latest row of each payment kept by event time: a
/// deduplication that holds the row in state) reading `input` and upserting `output`.
fn payments_to_topic(input: &str, output: &str) -> TestProject {
    let p = TestProject::example();
    let broker = broker();
    let spec = p
        .read("pipelines/payments.toml")
        .replace("topic = \"payments\"", &format!("topic = \"{input}\"\nstartup_mode = \"earliest-offset\""))
        .replace("alikafka-pre-cn-xxxxxxxx-1-vpc.alikafka.aliyuncs.com:9092", &broker)
        .replace(
            "[sink]\ntable = \"public.payments\"\ndistribution_key = [\"payment_id\"]\n",
            &format!("[sink]\ntype = \"upsert-kafka\"\ntopic = \"{output}\"\nbootstrap_servers = \"{broker}\"\n"),
        );
    // No dimension table here: the lookup is left out.
    let cut = spec.find("# The customer of each payment").expect("the example's lookup");
    let end = spec.find("\n[sink]\n").expect("the sink") + 1;
    p.write("pipelines/payments.toml", &format!("{}{}", &spec[..cut], &spec[end..]));
    p
}

/// The offset consumer group `group` committed on partition 0 of `topic` (none yet: `None`).
fn committed(topic: &str, group: &str) -> Option<i64> {
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", broker()).set("group.id", group).create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    match c.committed_offsets(tpl, Duration::from_secs(10)).unwrap().elements()[0].offset() {
        rdkafka::Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Waits (up to 40 s) until `group` committed offset `want` on `topic`: Flink commits
/// after a checkpoint, once its fetch in flight returns (up to 10 s on a quiet topic).
fn wait_committed(topic: &str, group: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while committed(topic, group) != i64::try_from(want).ok() {
        assert!(Instant::now() < deadline, "{group} did not commit offset {want} of {topic} within 40 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The data-effect line of `plan`'s pipeline (the plan's `data: ...` reason).
fn data_line(plan: &str) -> &str {
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("because: data: "))
        .unwrap_or_else(|| panic!("no data line:\n{plan}"))
}

/// A restart without state by default (`startup_mode = "group-offsets"`) resumes at the
/// job's consumer group's committed offsets, as the plan says, counted from Kafka: the new
/// job skips nothing, and what it reads again (the tail after the group's last commit)
/// writes the same rows again, so the upsert table ends exactly as the messages say.
#[test]
fn a_restart_without_state_resumes_at_the_group_s_offsets_and_the_upsert_table_is_exact() {
    let db = crate::state::TempSchema::default();
    let input = unique("orders_in");
    create_topic(&input);
    let group = unique("flinkform_report");
    let p = orders_to_postgres(&input, &db.0);
    let spec = p
        .read("pipelines/orders_report.toml")
        .replace(
            "\nstartup_mode = \"earliest-offset\"",
            &format!("\ngroup_id = \"{group}\"\nsample_bootstrap_servers = \"{}\"", broker()),
        )
        .replace("[deployment]\n", "[deployment]\nupgrade = \"stateless\"\n");
    p.write("pipelines/orders_report.toml", &spec);
    db.sql(&[&p.run(&["render", "orders_report", "--ddl"]).code(0).stdout]);
    let records = orders_sent(&p);
    let (before, after) = records.split_at(records.len() / 2);
    produce(&input, before);
    let job = submit(&p.run(&["render", "orders_report"]).code(0).stdout);
    wait_committed(&input, &group, before.len());

    p.record();
    let resources = p
        .read("pipelines/orders_report.toml")
        .replace("[deployment]\n", "[deployment]\ntaskmanager = { cpu = 1, memory = \"4Gi\" }\n");
    p.write("pipelines/orders_report.toml", &resources);
    let plan = p.run(&["plan", "--select", "orders_report"]).code(0).stdout;
    assert!(
        plan.contains(
            "restart without state: start NONE (the source reads again from scan.startup.mode \"group-offsets\")"
        ),
        "{plan}"
    );
    let data = data_line(&plan);
    assert!(
        data.starts_with(&format!("resumes at consumer group `{group}`'s committed offsets: no message is skipped")),
        "{data}"
    );
    assert!(data.ends_with("(the old job's group is 0 messages behind now)"), "{data}");
    let json: Value =
        serde_json::from_str(&p.run(&["plan", "--select", "orders_report", "--format", "json"]).code(0).stdout)
            .unwrap();
    let effect = &json["pipelines"][0]["data"];
    assert_eq!(
        (&effect["start"], &effect["skipped"], &effect["uncommitted"]),
        (&"group_offsets".into(), &0.into(), &0.into()),
        "{effect}"
    );

    // As apply stops a stateless job: without a savepoint. Then messages come while no job
    // runs, some of them again.
    cancel(&job);
    let again: Vec<String> = after.iter().chain(&before[..3]).cloned().collect();
    produce(&input, &again);
    let job = submit(&p.run(&["render", "orders_report"]).code(0).stdout);
    let sent: Vec<String> = before.iter().chain(&again).cloned().collect();
    let (rows, wrong) = settle(&job, || orders_rows(&db), |rows| rows_differ(&sent, rows));
    report!(
        "a restart without state from the group's offsets: {} produced, {} rows, {} differ",
        sent.len(),
        rows.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A restart's `data:` line counts from the broker: the topic's watermarks on every
/// partition, what the job's consumer group committed (here by a plain consumer, as
/// Flink's source commits), and the offsets at the startup timestamp. A partition the
/// group never committed leaves the counts that need it out.
#[test]
fn a_restart_s_data_line_counts_what_the_group_committed_on_every_partition() {
    // On the jobs' broker: the sampling tests' broker must see no group.
    let topic = unique("restarted");
    crate::kafka::create_topic_on(&broker(), &topic, 3);
    let group = unique("restarted_job");
    // Partition p gets `sizes[p]` messages, the i-th of each stamped T0 + i s.
    let (t0, sizes) = (1_700_000_000_000_i64, [10, 6, 4]);
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", broker()).create().unwrap();
    for (p, n) in sizes.iter().enumerate() {
        for i in 0..*n {
            let record = BaseRecord::<str, str>::to(&topic).partition(p as i32).timestamp(t0 + i * 1000).payload("{}");
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let commit = |offsets: &[(i32, i64)]| {
        let c: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", broker()).set("group.id", &group).create().unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(&topic, *p, rdkafka::Offset::Offset(*o)).unwrap();
        }
        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
    };
    commit(&[(0, 7), (1, 6)]);

    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace(
        "topic = \"orders\"",
        &format!("topic = \"{topic}\"\ngroup_id = \"{group}\"\nsample_bootstrap_servers = \"{}\"", broker()),
    );
    p.write("pipelines/orders.toml", &spec);
    p.record();
    let restart = |mode: &str| {
        let options = match mode {
            "timestamp" => format!("\n[source.options]\n\"scan.startup.timestamp-millis\" = {}\n", t0 + 3000),
            _ => String::new(),
        };
        let spec = spec
            .replace(
                "parallelism = 2",
                "parallelism = 2\nupgrade = \"stateless\"\ntaskmanager = { cpu = 1, memory = \"4Gi\" }",
            )
            .replace("[source]\n", &format!("[source]\nstartup_mode = \"{mode}\"\n"))
            + &options;
        p.write("pipelines/orders.toml", &spec);
        let json: serde_json::Value =
            serde_json::from_str(&p.run(&["plan", "--select", "orders", "--format", "json"]).code(0).stdout).unwrap();
        json["pipelines"][0]["data"].clone()
    };
    // Partition 2 has no committed offset: what the old job read there is unknown.
    let data = restart("earliest-offset");
    assert_eq!(
        (&data["start"], &data["uncommitted"], &data.get("reread")),
        (&"earliest".into(), &1.into(), &None),
        "{data}"
    );

    commit(&[(2, 2)]);
    let data = restart("earliest-offset");
    // Read by the group: 7 + 6 + 2, read again from the start; behind: 3 + 0 + 2.
    assert_eq!(
        (&data["reread"], &data["skipped"], &data["lag"], &data["uncommitted"]),
        (&15.into(), &0.into(), &5.into(), &0.into()),
        "{data}"
    );
    let data = restart("latest-offset");
    assert_eq!((&data["reread"], &data["skipped"]), (&0.into(), &5.into()), "{data}");
    let data = restart("group-offsets");
    assert_eq!(
        (&data["start"], &data["skipped"], &data.get("reread")),
        (&"group_offsets".into(), &0.into(), &None),
        "{data}"
    );
    // From T0 + 3 s: offset 3 of each partition. Again: 7 - 3 and 6 - 3; skipped: 3 - 2.
    let data = restart("timestamp");
    assert_eq!((&data["reread"], &data["skipped"]), (&7.into(), &1.into()), "{data}");
}

mod corpus;
