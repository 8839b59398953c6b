use super::read::parse_vvr;
use super::*;
use crate::diag::{Diagnostic, Source};
use std::collections::BTreeMap;

const CONFIG: &str = r#"version = 1
[vvp]
region = "cn-hangzhou"
workspace = "ws"
namespace = "ns"
[defaults.sink]
endpoint = "holo:80"
database = "db"
username = { secret = "holo_user" }
password = { secret = "holo_password" }
[defaults.deployment]
engine_version = "vvr-8.0.11-flink-1.17"
"#;

const PIPELINE: &str = r#"[pipeline]
name = "orders"
[source]
topic = "orders"
bootstrap_servers = "k:9092"
sample = { file = "s.jsonl" }
[sink]
table = "public.orders"
"#;

fn load_texts(config: &str, pipelines: &[(&str, &str)]) -> (Option<Project>, Vec<Diagnostic>) {
    let c = Source::new("flinkform.toml", config);
    let ps: Vec<Source> = pipelines.iter().map(|(n, t)| Source::new(*n, *t)).collect();
    load(&c, &ps, None)
}

fn errors(config: &str, pipelines: &[(&str, &str)]) -> String {
    let (p, diags) = load_texts(config, pipelines);
    assert!(p.is_none(), "expected errors");
    diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

#[test]
fn defaults_are_merged_and_pipeline_keys_win() {
    let (p, diags) =
        load_texts(CONFIG, &[("pipelines/orders.toml", &format!("{PIPELINE}[deployment]\nparallelism = 3\n"))]);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &p.unwrap().pipelines[0];
    let sink = p.table_sinks().next().unwrap();
    assert_eq!(sink.database, "db");
    assert_eq!((sink.schema.as_str(), sink.table.as_str()), ("public", "orders"));
    assert_eq!(p.deployment.parallelism, 3);
    assert_eq!(p.deployment.vvr, (8, 0, 11));
    assert_eq!(p.source.group_id, "flinkform_orders");
    assert_eq!(sink.password, Some(SecretRef { name: "holo_password".into(), env: None }));
}

#[test]
fn typo_wrong_type_and_literal_password_all_reported_with_positions() {
    let bad = r#"[pipeline]
name = "orders"
[source]
topik = "orders"
bootstrap_servers = "k:9092"
sample = { file = "s.jsonl" }
[sink]
table = "public.orders"
password = "hunter2"
[deployment]
parallelism = "two"
"#;
    insta::assert_snapshot!(errors(CONFIG, &[("pipelines/orders.toml", bad)]), @r#"
    error: missing `topic` in [source]
     --> pipelines/orders.toml:3:1
      |
    3 | [source]
      | ^^^^^^^^

    error: unknown key `topik` in [source]
     --> pipelines/orders.toml:4:1
      |
    4 | topik = "orders"
      | ^^^^^
      = help: did you mean `topic`?

    error: `password` in [sink] is a literal secret; secrets must be references
     --> pipelines/orders.toml:9:12
      |
    9 | password = "***"
      |            ^^^^^
      = help: write `password = { secret = "NAME" }` and create the variable NAME in the VVP namespace (add `env = "VAR"` to read it from an environment variable locally)

    error: `parallelism` in [deployment] must be a non-negative integer, found a string
      --> pipelines/orders.toml:11:15
       |
    11 | parallelism = "two"
       |               ^^^^^
    "#);
}

#[test]
fn secret_values_never_appear_in_errors() {
    let bad = PIPELINE.replace("[sink]\n", "[sink]\npassword = \"s3cr3t-value\"\n");
    let text = errors(CONFIG, &[("pipelines/orders.toml", &bad)]);
    assert!(text.contains("literal secret"));
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(text.contains("password = \"***\""), "{text}");
}

#[test]
fn errors_across_files_in_one_run() {
    let a = PIPELINE.replace("name = \"orders\"", "name = \"dup\"");
    let b =
        PIPELINE.replace("name = \"orders\"", "name = \"dup\"").replace("[sink]", "[sink]\norientation = \"colum\"");
    let cfg = CONFIG.replace("region", "regoin");
    let text = errors(&cfg, &[("pipelines/a.toml", &a), ("pipelines/b.toml", &b)]);
    assert!(text.contains("unknown key `regoin` in [vvp]"), "{text}");
    assert!(text.contains("did you mean `region`?"), "{text}");
    assert!(text.contains("--> pipelines/b.toml:8:15"), "{text}");
    assert!(text.contains("did you mean `column`?"), "{text}");
    assert!(text.contains("pipeline name `dup` is used by both pipelines/a.toml and pipelines/b.toml"), "{text}");
}

#[test]
fn syntax_errors_point_into_the_file() {
    let text = errors(CONFIG, &[("pipelines/x.toml", "[pipeline\nname = 1\n")]);
    assert!(text.contains("invalid TOML"), "{text}");
    assert!(text.contains("--> pipelines/x.toml:1:"), "{text}");
}

#[test]
fn version_is_required_and_checked() {
    let text = errors(&CONFIG.replace("version = 1", "version = 7"), &[]);
    assert!(text.contains("flinkform.toml version 7 is not supported"), "{text}");
    let text = errors(&CONFIG.replace("version = 1\n", ""), &[]);
    assert!(text.contains("missing `version`"), "{text}");
}

#[test]
fn schema_overrides_and_event_time() {
    let extra = r#"[schema]
primary_key = ["id"]
flatten = true
columns.ts = { type = "TIMESTAMP_LTZ(3)", from = "epoch_millis" }
columns.junk = { exclude = true }
columns.bad = { type = "TEXT" }
event_time = { column = "ts", watermark_delay = "5s" }
"#;
    let text = errors(CONFIG, &[("pipelines/o.toml", &format!("{PIPELINE}{extra}"))]);
    assert!(text.contains("invalid type for column `bad`: unknown type `TEXT`"), "{text}");
    let good = extra.replace("columns.bad = { type = \"TEXT\" }\n", "");
    let (p, d) = load_texts(CONFIG, &[("pipelines/o.toml", &format!("{PIPELINE}{good}"))]);
    assert!(d.is_empty(), "{d:?}");
    let s = &p.unwrap().pipelines[0].schema;
    assert_eq!(s.event_time, Some(EventTime { column: "ts".into(), delay_secs: 5 }));
    assert_eq!(s.columns[0].from, Some(Conversion::EpochMillis));
    assert!(s.columns[1].exclude);
}

#[test]
fn vvr_versions() {
    assert_eq!(parse_vvr("vvr-11.1-jdk11-flink-1.20"), Some((11, 1, 0)));
    assert_eq!(parse_vvr("vvr-8.0.11-flink-1.17"), Some((8, 0, 11)));
    assert_eq!(parse_vvr("flink-1.17"), None);
}

#[test]
fn vvp_timeouts_and_protocol() {
    let cfg = CONFIG.replace(
        "namespace = \"ns\"",
        "namespace = \"ns\"\nprotocol = \"http\"\ntimeouts = { deploy = \"10s\", start = \"2m\" }",
    );
    let (p, d) = load_texts(&cfg, &[]);
    assert!(d.is_empty(), "{d:?}");
    let v = p.unwrap().config.vvp;
    assert_eq!(v.protocol.as_deref(), Some("http"));
    assert_eq!((v.timeouts.deploy.as_secs(), v.timeouts.start.as_secs(), v.timeouts.stop.as_secs()), (10, 120, 300));
    let text = errors(&CONFIG.replace("namespace = \"ns\"", "namespace = \"ns\"\ntimeouts = { deploi = \"1s\" }"), &[]);
    assert!(
        text.contains("unknown key `deploi` in [vvp.timeouts]") && text.contains("did you mean `deploy`?"),
        "{text}"
    );
}

#[test]
fn a_sink_table_name_must_have_one_or_two_non_empty_parts() {
    for table in ["", ".orders", "public.", "a.b.c"] {
        let spec = PIPELINE.replace("table = \"public.orders\"", &format!("table = \"{table}\""));
        let e = errors(CONFIG, &[("pipelines/orders.toml", &spec)]);
        assert!(e.contains("`table` must be `schema.table` or `table`, each part non-empty"), "{table:?}: {e}");
    }
}

#[test]
fn the_hologres_password_is_required() {
    let config = CONFIG.replace("password = { secret = \"holo_password\" }\n", "");
    let e = errors(&config, &[("pipelines/orders.toml", PIPELINE)]);
    assert!(e.contains("missing `password` in [sink]: the Hologres connector requires it"), "{e}");
}

#[test]
fn credential_looking_flink_options_refuse_literal_values() {
    for (k, v) in [
        ("fs.oss.accessKeySecret", "canary-1abc"),
        ("fs.oss.accessKeyId", "canary-LTAI123"),
        ("security.token", "canary-tok"),
        ("my.credentials", "canary-cred"),
        ("properties.sasl.jaas.config", "canary-jaas required;"),
        ("anything", "canary.PlainLoginModule required"),
    ] {
        let spec = format!("{PIPELINE}[deployment]\nflink_conf = {{ \"{k}\" = \"{v}\" }}\n");
        let e = errors(CONFIG, &[("pipelines/orders.toml", &spec)]);
        assert!(e.contains(&format!("flink_conf `{k}` holds a literal secret")), "{k}: {e}");
        assert!(!e.contains(v), "{k}: the value is masked: {e}");
    }
    let spec =
        format!("{PIPELINE}[deployment]\nflink_conf = {{ \"fs.oss.accessKeySecret\" = \"${{secret_values.oss}}\" }}\n");
    let (p, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", &spec)]);
    assert!(p.is_some(), "a variable reference is fine: {diags:?}");
}

#[test]
fn a_credential_line_is_masked_whatever_is_wrong_with_it() {
    for line in ["password = \"hunter2-canary", "password = 48151623", "password = [\"hunter2-canary\"]"] {
        let spec = format!("{PIPELINE}{line}\n");
        let e = errors(CONFIG, &[("pipelines/orders.toml", &spec)]);
        assert!(!e.contains("hunter2-canary") && !e.contains("48151623"), "{line}: {e}");
        assert!(e.contains("password = \"***\""), "{line}: {e}");
    }
}

#[test]
fn connector_options_pass_through_flattened_with_defaults_under_the_pipelines() {
    let config = format!("{CONFIG}[defaults.sink.options]\njdbcRetryCount = 5\nconnectionSize = 3\n");
    let pipeline = format!(
        "{PIPELINE}[source.options]\nproperties.max.poll.records = 500\n\"scan.topic-partition-discovery.interval\" = \"60s\"\n\
         \"properties.ssl.truststore.password\" = {{ secret = \"kafka_trust\" }}\n[sink.options]\nconnectionSize = 8\n"
    );
    let (p, diags) = load_texts(&config, &[("pipelines/orders.toml", &pipeline)]);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &p.unwrap().pipelines[0];
    let lit = |s: &str| Credential::Literal(s.into());
    assert_eq!(
        p.source.options,
        BTreeMap::from([
            ("properties.max.poll.records".to_string(), lit("500")),
            (
                "properties.ssl.truststore.password".to_string(),
                Credential::Secret(SecretRef { name: "kafka_trust".into(), env: None })
            ),
            ("scan.topic-partition-discovery.interval".to_string(), lit("60s")),
        ])
    );
    assert_eq!(
        p.table_sinks().next().unwrap().options,
        BTreeMap::from([("connectionSize".to_string(), lit("8")), ("jdbcRetryCount".to_string(), lit("5"))])
    );
    assert_eq!(p.settings["sink.options.connectionSize"], "\"8\"");
    assert_eq!(p.settings["source.options.\"properties.ssl.truststore.password\""], "{ secret = \"kafka_trust\" }");
}

#[test]
fn connector_options_are_checked_against_the_engines_list() {
    let pipeline = format!(
        "{PIPELINE}[source.options]\ntopic = \"other\"\n\"scan.startup.timestamp-milis\" = 1\n\
         \"properties.sasl.jaas.config\" = \"x required password=\\\"hunter2\\\";\"\n\
         [sink.options]\njdbcRetryCont = 5\n\"connection.pool.size\" = 10\nconnectionPoolName = [1]\n"
    );
    let e = errors(CONFIG, &[("pipelines/orders.toml", &pipeline)]);
    assert!(e.contains("option `topic` is set by flinkform: [source] topic"), "{e}");
    assert!(
        e.contains("unknown option `scan.startup.timestamp-milis` for the Kafka connector on VVR 8.0.11")
            && e.contains("did you mean `scan.startup.timestamp-millis`?"),
        "{e}"
    );
    assert!(e.contains("option `properties.sasl.jaas.config` is set by flinkform"), "{e}");
    assert!(e.contains("did you mean `jdbcRetryCount`?"), "{e}");
    // A VVR 11 name on a VVR 8 engine is unknown there.
    assert!(e.contains("unknown option `connection.pool.size` for the Hologres connector on VVR 8.0.11"), "{e}");
    assert!(e.contains("option `connectionPoolName` must be a string, number, boolean"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn literal_secrets_in_connector_options_are_refused_and_masked() {
    let pipeline = format!(
        "{PIPELINE}[source.options]\n\"properties.ssl.keystore.password\" = \"hunter2\"\n\
         \"properties.ssl.key.password\" = 12345678\n\
         \"properties.ssl.keystore.key\" = \"-----BEGIN PRIVATE KEY----- MIIEvQ -----END PRIVATE KEY-----\"\n"
    );
    let e = errors(CONFIG, &[("pipelines/orders.toml", &pipeline)]);
    assert!(e.contains("option `properties.ssl.keystore.password` holds a literal secret"), "{e}");
    assert!(e.contains("option `properties.ssl.key.password` holds a literal secret"), "{e}");
    // A PEM key is a secret whatever its option is called.
    assert!(e.contains("option `properties.ssl.keystore.key` holds a literal secret"), "{e}");
    assert!(!e.contains("hunter2") && !e.contains("12345678") && !e.contains("MIIEvQ"), "{e}");
}

#[test]
fn an_engine_version_names_an_engine_vvp_runs() {
    let with = |engine: &str| format!("{PIPELINE}[deployment]\nengine_version = \"{engine}\"\n");
    let e = errors(CONFIG, &[("pipelines/orders.toml", &with("vvr-99-flink-9.9"))]);
    assert!(e.contains("engine_version `vvr-99-flink-9.9`: VVR 99 is no engine flinkform knows"), "{e}");
    let e = errors(CONFIG, &[("pipelines/orders.toml", &with("vvr-8.0.11-flink-1.20"))]);
    assert!(e.contains("names Flink 1.20, but VVR 8 runs Flink 1.17"), "{e}");
    for engine in
        ["vvr-8.0.11-flink-1.17", "vvr-8.0.11-jdk11-flink-1.17", "vvr-11.2-jdk11-flink-1.20", "vvr-6.0.7-flink-1.15"]
    {
        let (p, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", &with(engine))]);
        assert!(p.is_some(), "{engine}: {diags:?}");
    }
}

#[test]
fn every_secret_bearing_kafka_property_is_refused_by_rule_whatever_its_value_looks_like() {
    // Values a name heuristic cannot tell from settings: only the closed list catches them.
    let listed = [
        "properties.basic.auth.user.info",
        "properties.schema.registry.basic.auth.user.info",
        "properties.bearer.auth.token",
        "properties.ssl.key.password",
        "properties.ssl.keystore.password",
        "properties.ssl.truststore.password",
        "properties.ssl.keystore.key",
    ];
    for key in listed {
        let pipeline = format!("{PIPELINE}[source.options]\n\"{key}\" = \"u:p4ss\"\n");
        let e = errors(CONFIG, &[("pipelines/orders.toml", &pipeline)]);
        assert!(e.contains(&format!("option `{key}` holds a literal secret")), "{key}: {e}");
        assert!(!e.contains("u:p4ss"), "{key}: the value is never shown: {e}");
    }
    // Settings beside them are no secrets.
    for key in
        ["properties.ssl.keystore.location", "properties.ssl.keystore.type", "properties.basic.auth.credentials.source"]
    {
        let pipeline = format!("{PIPELINE}[source.options]\n\"{key}\" = \"/flink/usrlib/x\"\n");
        let (_, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", &pipeline)]);
        assert!(diags.iter().all(|d| !d.to_string().contains("literal secret")), "{key}: {diags:?}");
    }
}

#[test]
fn startup_by_timestamp_or_offsets_needs_its_option_and_only_then() {
    let with = |mode: &str, opts: &str| {
        PIPELINE.replace("[sink]", &format!("startup_mode = \"{mode}\"\n[source.options]\n{opts}\n[sink]"))
    };
    let e = errors(CONFIG, &[("pipelines/orders.toml", &with("timestamp", ""))]);
    assert!(e.contains("startup_mode \"timestamp\" needs `scan.startup.timestamp-millis` in [source.options]"), "{e}");
    let e = errors(
        CONFIG,
        &[(
            "pipelines/orders.toml",
            &with("latest-offset", "\"scan.startup.specific-offsets\" = \"partition:0,offset:42\""),
        )],
    );
    assert!(e.contains("takes effect only with startup_mode = \"specific-offsets\""), "{e}");
    let (p, diags) = load_texts(
        CONFIG,
        &[("pipelines/orders.toml", &with("timestamp", "\"scan.startup.timestamp-millis\" = 1700000000000"))],
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(p.unwrap().pipelines[0].source.startup_mode, "timestamp");
}

#[test]
fn connector_options_follow_the_engine_minor_version_and_major_renames() {
    let on = |engine: &str, opts: &str| {
        format!("{PIPELINE}[sink.options]\n{opts}\n[deployment]\nengine_version = \"{engine}\"\n")
    };
    let e = errors(
        CONFIG,
        &[("pipelines/orders.toml", &on("vvr-8.0.5-flink-1.17", "\"sink.delete-strategy\" = \"IGNORE_DELETE\""))],
    );
    assert!(
        e.contains("option `sink.delete-strategy` of the Hologres connector needs VVR 8.0.8 or later on VVR 8.0.5"),
        "{e}"
    );
    let ok = on("vvr-8.0.8-flink-1.17", "\"sink.delete-strategy\" = \"IGNORE_DELETE\"");
    assert!(load_texts(CONFIG, &[("pipelines/orders.toml", &ok)]).1.is_empty());
    let e = errors(CONFIG, &[("pipelines/orders.toml", &on("vvr-11.1-jdk11-flink-1.20", "ignoredelete = true"))]);
    assert!(e.contains("unknown option `ignoredelete` for the Hologres connector on VVR 11.1.0"), "{e}");
    // A renamed option still works on VVR 11, with a warning naming the new spelling.
    let (p, diags) =
        load_texts(CONFIG, &[("pipelines/orders.toml", &on("vvr-11.1-jdk11-flink-1.20", "connectionSize = 3"))]);
    assert_eq!(
        p.unwrap().pipelines[0].table_sinks().next().unwrap().options["connectionSize"],
        Credential::Literal("3".into())
    );
    assert!(
        diags.len() == 1
            && !diags[0].is_error()
            && diags[0]
                .to_string()
                .contains("`connectionSize` is VVR 8's name; VVR 11 documents `connection.pool.size`"),
        "{diags:?}"
    );
    let ok = on("vvr-11.1-jdk11-flink-1.20", "\"connection.pool.size\" = 3");
    assert!(load_texts(CONFIG, &[("pipelines/orders.toml", &ok)]).1.is_empty());
}

#[test]
fn a_certificate_or_keystore_outside_usrlib_is_a_warning() {
    let pipeline = format!("{PIPELINE}[source.options]\nproperties.ssl.truststore.location = \"/tmp/kafka.jks\"\n");
    let (p, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", &pipeline)]);
    assert!(p.is_some());
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(
        diags.len() == 1 && !diags[0].is_error() && shown[0].contains("`/tmp/kafka.jks`, outside /flink/usrlib/"),
        "{shown:?}"
    );
}

#[test]
fn change_streams_transforms_and_lookups_are_read_with_their_errors_in_place() {
    let good = PIPELINE.replace("sample = {", "format = \"canal-json\"\ndatabase = \"shop\"\nsample = {")
        + "[transform]\nwhere = \"status <> 'test'\"\ndedupe = { key = [\"id\"], order_by = \"ts\" }\n\
           [[lookup]]\ntable = \"users\"\non = { user_id = \"id\" }\ncolumns = [\"name\"]\nprefix = \"user_\"\n\
           types = { name = \"STRING\" }\noptions = { cache = \"LRU\" }\n";
    let (p, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", &good)]);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &p.unwrap().pipelines[0];
    assert_eq!((p.source.format, p.source.database.as_deref()), (SourceFormat::Canal, Some("shop")));
    assert_eq!(p.transform.dedupe, Some(Dedupe { key: vec!["id".into()], order_by: "ts".into() }));
    let l = &p.lookups[0];
    assert_eq!(
        (l.qualified(), l.on.clone(), l.prefix.as_str()),
        ("public.users".into(), vec![("user_id".into(), "id".into())], "user_")
    );
    assert_eq!(p.settings.get("source.format").map(String::as_str), Some("\"canal-json\""));

    let bad = PIPELINE.replace("sample = {", "format = \"canal\"\ntable = \"orders\"\nsample = {")
        + "[transform]\ndedupe = { key = [\"id\"] }\n[[lookup]]\ntable = \"users\"\non = { user_id = \"id\" }\ncolumns = [\"name\"]\noptions = { cahce = \"LRU\" }\n";
    insta::assert_snapshot!(errors(CONFIG, &[("pipelines/orders.toml", &bad)]), @r#"
    error: `format` in [source] must be one of: json, canal-json, debezium-json, maxwell-json
     --> pipelines/orders.toml:6:10
      |
    6 | format = "canal"
      |          ^^^^^^^

    error: `table` filters the events of a canal-json topic that carries several tables; format `json` has no such filter
     --> pipelines/orders.toml:7:9
      |
    7 | table = "orders"
      |         ^^^^^^^^

    error: `dedupe` in [transform] needs `order_by`
      --> pipelines/orders.toml:12:10
       |
    12 | dedupe = { key = ["id"] }
       |          ^^^^^^^^^^^^^^^^
      = help: write `dedupe = { key = ["id"], order_by = "updated_at" }`: the latest row of each key is kept

    error: `cahce` is not a dimension-table option VVR's Hologres connector documents
      --> pipelines/orders.toml:17:11
       |
    17 | options = { cahce = "LRU" }
       |           ^^^^^^^^^^^^^^^^^
      = help: did you mean `cache`?
    "#);
}

#[test]
fn a_jdbc_sink_stands_alone_and_takes_the_jdbc_connectors_options() {
    let jdbc = r#"[pipeline]
name = "orders"
[source]
topic = "orders"
bootstrap_servers = "k:9092"
sample = { file = "s.jsonl" }
[sink]
type = "jdbc"
endpoint = "pg:5432"
database = "reporting"
table = "orders"
username = { secret = "pg_user" }
password = { secret = "pg_password" }
options = { "sink.buffer-flush.interval" = "1s" }
"#;
    let (p, diags) = load_texts(CONFIG, &[("pipelines/orders.toml", jdbc)]);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &p.unwrap().pipelines[0];
    let sink = p.table_sinks().next().unwrap();
    // `[defaults.sink]` names a Hologres instance: a JDBC sink does not inherit it.
    assert_eq!((sink.connector, sink.dialect), (TableConnector::Jdbc, Dialect::Postgres));
    assert_eq!(
        (sink.endpoint.as_str(), sink.database.as_str(), sink.schema.as_str()),
        ("pg:5432", "reporting", "public")
    );
    assert_eq!(sink.options["sink.buffer-flush.interval"], Credential::Literal("1s".into()));

    // Hologres's table properties, a typo'd option and a Hologres option are each an error.
    let bad = jdbc.replace(
        "options = { \"sink.buffer-flush.interval\" = \"1s\" }",
        "orientation = \"row\"\noptions = { \"sink.buffer-flush.intervall\" = \"1s\", connectionSize = \"3\", url = \"jdbc:x\" }",
    );
    let e = errors(CONFIG, &[("pipelines/orders.toml", &bad)]);
    assert!(e.contains("orientation"), "{e}");
    assert!(
        e.contains("unknown option `sink.buffer-flush.intervall` for the JDBC connector")
            && e.contains("did you mean `sink.buffer-flush.interval`?"),
        "{e}"
    );
    assert!(e.contains("unknown option `connectionSize` for the JDBC connector"), "{e}");
    assert!(e.contains("option `url` is set by flinkform: [sink] endpoint and database"), "{e}");
    // Flink's JDBC connector takes a user and a password both or neither.
    let alone = jdbc.replace("password = { secret = \"pg_password\" }\n", "");
    let e = errors(CONFIG, &[("pipelines/orders.toml", &alone)]);
    assert!(
        e.contains("missing `password` in [sink]: the JDBC connector takes `username` and `password` both or neither"),
        "{e}"
    );
    let neither = alone.replace("username = { secret = \"pg_user\" }\n", "");
    assert!(load_texts(CONFIG, &[("pipelines/orders.toml", &neither)]).1.is_empty());

    // A lookup reads through the JDBC connector: its options and names are the JDBC ones.
    let lookup = format!(
        "{jdbc}[[lookup]]\ntable = \"users\"\non = {{ user_id = \"ID\" }}\ncolumns = [\"name\"]\noptions = {{ cacheSize = \"10\" }}\n"
    );
    let e = errors(CONFIG, &[("pipelines/orders.toml", &lookup)]);
    assert!(e.contains("`cacheSize` is not a dimension-table option Flink's JDBC connector documents"), "{e}");
    assert!(e.contains("does not read `ID` as itself"), "{e}");
}

#[test]
fn alert_channels_name_their_address_and_secret_by_environment_variable() {
    let cfg = format!(
        "{CONFIG}\n[[alert]]\nkind = \"dingtalk\"\nurl_env = \"D_URL\"\nsecret_env = \"D_SECRET\"\non = [\"failed\", \"drift\"]\n\n[[alert]]\nname = \"team\"\nkind = \"slack\"\nurl_env = \"S_URL\"\n"
    );
    let (p, d) = load_texts(&cfg, &[]);
    assert!(d.is_empty(), "{d:?}");
    let alerts = p.unwrap().config.alerts;
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        (alerts[0].name.as_str(), alerts[0].kind, alerts[0].secret_env.as_deref()),
        ("dingtalk #1", ChannelKind::DingTalk, Some("D_SECRET"))
    );
    assert_eq!(alerts[0].on, [AlertOn::Failed, AlertOn::Drift]);
    assert_eq!((alerts[1].name.as_str(), alerts[1].on.len()), ("team", 5), "every transition by default");

    let literal = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef";
    let text = errors(&format!("{CONFIG}\n[[alert]]\nkind = \"dingtalk\"\nurl = \"{literal}\"\n"), &[]);
    assert!(text.contains("a webhook's address holds its token") && text.contains("url_env"), "{text}");
    assert!(!text.contains("0123456789abcdef"), "the token is masked: {text}");
    assert!(text.contains("missing `url_env`"), "{text}");
    let text = errors(
        &format!(
            "{CONFIG}\n[[alert]]\nkind = \"teams\"\nurl_env = \"U\"\n[[alert]]\nkind = \"wecom\"\nurl_env = \"W\"\nsecret_env = \"X\"\non = [\"failing\"]\n"
        ),
        &[],
    );
    for part in ["`kind`", "\"teams\"", "wecom robots are not signed", "`on` names `failing`, which is no transition"] {
        assert!(text.contains(part), "{part} in {text}");
    }
}
