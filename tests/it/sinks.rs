//! Several sinks per pipeline: one job whose inserts run as one statement set, each sink
//! with its own columns, key and DDL, recorded in the state; adding one is an update.

use crate::common::TestProject;

/// `orders` with its `[sink]` written as the first `[[sink]]`, and `more` after it.
fn with_sinks(p: &TestProject, more: &str) {
    let spec = std::fs::read_to_string(crate::common::repo().join("pipelines/orders.toml")).unwrap();
    let spec = spec.replace("[sink]\ntable = \"public.orders\"", "[[sink]]\ntable = \"public.orders\"");
    assert!(spec.contains("[[sink]]"), "{spec}");
    p.write("pipelines/orders.toml", &format!("{spec}\n{more}"));
}

const STATUS: &str = "# The latest status of each order, for the support desk.\n[[sink]]\ntable = \"support.order_status\"\ncolumns = [\"order_id\", \"status\", \"updated_ms\"]\n";

#[test]
fn a_second_sink_is_an_update_and_renders_one_statement_set() {
    let p = TestProject::two_pipelines();
    p.record();
    // The same sink as an array of one: nothing changes.
    with_sinks(&p, "");
    let r = p.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);

    with_sinks(&p, STATUS);
    let r = p.run(&["plan", "--detailed-exitcode"]).code(2);
    let out = &r.stdout;
    assert!(out.contains("~ pipeline \"orders\""), "{out}");
    assert!(out.contains("because: sink support.order_status added (3 columns)"), "{out}");
    assert!(
        out.contains("      also written to:\n        support.order_status: order_id, status, updated_at\n"),
        "{out}"
    );
    assert!(out.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{out}");
    assert!(out.contains("+CREATE TABLE IF NOT EXISTS \"support\".\"order_status\" ("), "{out}");
    assert!(out.contains("run it on support.order_status before the job starts"), "{out}");
    let json = p.run(&["plan", "--format", "json"]).code(0).stdout;
    assert!(json.contains("CREATE TABLE IF NOT EXISTS \\\"support\\\".\\\"order_status\\\""), "{json}");

    let sql = p.run(&["render", "orders"]).code(0).stdout;
    assert_eq!(sql.matches("BEGIN STATEMENT SET;").count(), 1, "{sql}");
    assert_eq!(sql.matches("INSERT INTO").count(), 2, "{sql}");
    assert!(sql.contains("INSERT INTO `orders_sink_2`\nSELECT\n  `order_id` AS `order_id`,\n  `status` AS `status`,\n  `updated_at` AS `updated_at`\nFROM `orders_source`;"), "{sql}");
    assert!(sql.trim_end().ends_with("END;"), "{sql}");

    // Recorded, the sink is part of the state: the next plan has nothing to do, and
    // taking the sink away again is an update that says so.
    let state = p.record();
    assert_eq!(state.pipelines["orders"].more_sinks.len(), 1);
    assert!(p.run(&["plan"]).code(0).stdout.contains("No changes."));
    with_sinks(&p, "");
    let r = p.run(&["plan"]).code(0);
    assert!(r.stdout.contains("sink support.order_status removed: the job no longer writes it"), "{}", r.stdout);
}

#[test]
fn kafka_sinks_append_rows_or_upsert_a_changelog() {
    let p = TestProject::example();
    let shop = p.read("pipelines/shop_orders.toml");
    let kafka = |kind: &str| {
        let more = format!(
            "[[sink]]\ntype = \"{kind}\"\ntopic = \"orders_cdc\"\nbootstrap_servers = \"k:9092\"\ncolumns = [\"id\", \"status\"]\n"
        );
        p.write("pipelines/shop_orders.toml", &format!("{}\n{more}", shop.replace("[sink]\n", "[[sink]]\n")));
    };
    kafka("kafka");
    let r = p.run(&["render", "shop_orders"]).code(1);
    assert!(
        r.stderr.contains("kafka:orders_cdc appends every row, but the rows are updated and deleted (canal-json)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--> pipelines/shop_orders.toml:24:8"), "{}", r.stderr);
    assert!(r.stderr.contains("write `type = \"upsert-kafka\"`"), "{}", r.stderr);
    kafka("upsert-kafka");
    let sql = p.run(&["render", "shop_orders"]).code(0).stdout;
    for want in [
        "'connector' = 'upsert-kafka'",
        "'key.format' = 'json'",
        "PRIMARY KEY (`id`) NOT ENFORCED",
        "BEGIN STATEMENT SET;",
    ] {
        assert!(sql.contains(want), "{want}:\n{sql}");
    }
}

/// Each Hologres sink is checked against its own live table, and evolves on its own: a
/// new field in the topic is an ADD COLUMN on every sink that writes every column.
#[test]
fn each_sink_has_its_own_contract_and_schema_evolution() {
    let db = crate::state::TempSchema::default();
    let p = TestProject::two_pipelines();
    let pg = "dialect = \"postgres\"\ndsn_env = \"TEST_SINK_DSN\"\n";
    let spec = std::fs::read_to_string(crate::common::repo().join("pipelines/orders.toml")).unwrap();
    let spec = spec
        .replace("[sink]\ntable = \"public.orders\"", &format!("[[sink]]\ntable = \"{}.orders\"\n{pg}", db.0))
        .replace("distribution_key = [\"order_id\"]\n", "");
    p.write(
        "pipelines/orders.toml",
        &format!("{spec}\n[[sink]]\ntable = \"{}.orders_copy\"\n{pg}\n[[sink]]\ntable = \"{}.order_status\"\ncolumns = [\"order_id\", \"status\"]\n{pg}", db.0, db.0),
    );
    let env = [("TEST_SINK_DSN", crate::state::pg_dsn())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.record();

    // The status table exists with `status` as an integer: its contract is broken, and
    // the message names it; the other two tables do not exist yet.
    db.sql(&[
        &format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", db.0),
        &format!("CREATE TABLE \"{}\".order_status (order_id text PRIMARY KEY, status int4)", db.0),
    ]);
    let r = p.run_with(&["plan"], &env).code(1);
    let status = format!("contract mismatch of {}.order_status: live column \"status\" is int4", db.0);
    assert!(r.stdout.contains(&status) || r.stderr.contains(&status), "{}\n{}", r.stdout, r.stderr);
    db.sql(&[&format!("DROP TABLE \"{}\".order_status", db.0)]);

    // A new field: both full sinks add the column, the selection does not.
    let sample = p.read("samples/orders.jsonl").replacen(
        "\"currency\": \"CNY\"",
        "\"currency\": \"CNY\", \"channel\": \"app\"",
        3,
    );
    p.write("samples/orders.jsonl", &sample);
    let out = p.run_with(&["plan"], &env).code(0).stdout;
    assert!(out.contains("column `channel` added (STRING, 3/40 present)"), "{out}");
    assert!(out.contains(&format!("column `channel` of sink {}.orders_copy added", db.0)), "{out}");
    for table in ["orders", "orders_copy"] {
        let add = format!("ALTER TABLE \"{}\".\"{table}\" ADD COLUMN \"channel\" text;", db.0);
        assert!(out.contains(&add), "{add} missing:\n{out}");
    }
    assert!(!out.contains("\"order_status\" ADD COLUMN"), "{out}");
}

/// Sink DDL only creates: the CREATE script (here Hologres's CALL form, whose
/// `set_table_property` PostgreSQL does not have) never runs against a table that
/// exists, so a property fixed at creation is never set on a table made before; where
/// the table is missing it runs (and PostgreSQL refuses the call, which shows it ran).
#[test]
fn a_create_script_never_runs_on_a_table_that_exists() {
    use flinkform_core::plan::SinkDdl;
    let db = crate::state::TempSchema::default();
    let table = format!("\"{}\".\"events\"", db.0);
    let create = SinkDdl::Create {
        sql: format!(
            "BEGIN;\nCREATE TABLE IF NOT EXISTS {table} (id text);\nCALL set_table_property('{}.events', 'orientation', 'column');\nCOMMIT;",
            db.0
        ),
        sink: None,
    };
    let add = SinkDdl::AddColumn {
        column: "note".into(),
        sql: format!("ALTER TABLE {table} ADD COLUMN \"note\" text;"),
        sink: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dsn = flinkform_state::pg::config(&crate::state::pg_dsn(), "FLINKFORM_TEST_PG").unwrap();
    // A connection per run, as apply has one per sink.
    let run = |ddl: &[SinkDdl]| {
        rt.block_on(async {
            let c = flinkform_state::pg::connect(&dsn, "FLINKFORM_TEST_PG").await.unwrap();
            flinkform::sink::run_ddl_on(&c, &db.0, "events", ddl).await
        })
    };
    assert!(run(std::slice::from_ref(&create)).is_err(), "no table: the script runs");
    db.sql(&[&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", db.0), &format!("CREATE TABLE {table} (id text)")]);
    let ran = run(&[create, add.clone()]).expect("the existing table is left as it is");
    assert_eq!(ran, [add.sql().to_string()], "only the missing column is added");
    assert_eq!(run(&[add]).unwrap(), Vec::<String>::new(), "and only once");
}

/// A JDBC sink is a PostgreSQL table like any other: checked against the live table
/// through `dsn_env`, and evolved by its DDL (a new field is an ADD COLUMN).
#[test]
fn a_jdbc_sink_is_checked_against_its_live_table_and_evolves() {
    let db = crate::state::TempSchema::default();
    let p = TestProject::example();
    let spec = p
        .read("pipelines/orders_report.toml")
        .replace("table = \"public.orders\"", &format!("table = \"{}.orders\"\ndsn_env = \"TEST_SINK_DSN\"", db.0));
    p.write("pipelines/orders_report.toml", &spec);
    let env = [("TEST_SINK_DSN", crate::state::pg_dsn())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.record();

    db.sql(&[
        &format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", db.0),
        &format!("CREATE TABLE \"{}\".orders (order_id text PRIMARY KEY, total int4)", db.0),
    ]);
    let r = p.run_with(&["plan", "--select", "orders_report"], &env).code(1);
    let broken = "contract mismatch: live column \"total\" is int4, but the job writes float8 (DOUBLE)";
    assert!(r.stdout.contains(broken) || r.stderr.contains(broken), "{}\n{}", r.stdout, r.stderr);
    db.sql(&[&format!("DROP TABLE \"{}\".orders", db.0)]);

    let sample = p.read("samples/orders.jsonl").replacen(
        "\"currency\": \"CNY\"",
        "\"currency\": \"CNY\", \"channel\": \"app\"",
        3,
    );
    p.write("samples/orders.jsonl", &sample);
    let out = p.run_with(&["plan", "--select", "orders_report"], &env).code(0).stdout;
    assert!(out.contains("~ pipeline \"orders_report\""), "{out}");
    let add = format!("ALTER TABLE \"{}\".\"orders\" ADD COLUMN \"channel\" text;", db.0);
    assert!(out.contains(&add), "{add} missing:\n{out}");
}

/// The reserved words a JDBC sink refuses as names are PostgreSQL's own: every word this
/// server reserves (`pg_get_keywords()`: reserved, or reserved but allowed as a function
/// or type name) is in flinkform's list, which holds beyond them only `system_user`,
/// reserved since PostgreSQL 16.
#[test]
fn the_reserved_words_a_jdbc_sink_refuses_are_postgresqls() {
    let db = crate::state::TempSchema::default();
    let server = db.sql(&["SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')"]);
    let ours = flinkform_core::types::PG_RESERVED;
    let missing: Vec<&String> = server.iter().filter(|w| !ours.contains(&w.as_str())).collect();
    assert!(missing.is_empty(), "reserved by the server, not in the list: {missing:?}");
    let extra: Vec<&&str> = ours.iter().filter(|w| !server.iter().any(|s| s == *w)).collect();
    assert!(extra.iter().all(|w| **w == "system_user"), "in the list, not reserved by the server: {extra:?}");
    assert!(server.len() > 90, "the server named its reserved words: {}", server.len());
}
