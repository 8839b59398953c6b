//! Snapshots of what the bundled example and the fixtures render to, and of plans in
//! every output format.

use crate::common::TestProject;

fn check_render(p: &TestProject, name: &str) {
    let sql = p.run(&["render", name]).code(0).stdout;
    let ddl = p.run(&["render", name, "--ddl"]).code(0).stdout;
    let deployment = p.run(&["render", name, "--deployment"]).code(0).stdout;
    insta::assert_snapshot!(format!("{name}.sql"), sql);
    insta::assert_snapshot!(format!("{name}.ddl.sql"), ddl);
    insta::assert_snapshot!(format!("{name}.deployment.yaml"), deployment);
}

#[test]
fn example_orders() {
    check_render(&TestProject::example(), "orders");
}

#[test]
fn example_clickstream() {
    check_render(&TestProject::example(), "clickstream");
}

/// A PostgreSQL table through Flink's JDBC connector: its connection as a JDBC URL, the
/// TIMESTAMP_LTZ written as TIMESTAMP, the `user` object renamed, PostgreSQL's DDL.
#[test]
fn example_orders_report() {
    check_render(&TestProject::example(), "orders_report");
}

/// A Canal change stream: declared types, the key from `pkNames` (declared on the source
/// table too), the table filter.
#[test]
fn example_shop_orders() {
    let p = TestProject::example();
    check_render(&p, "shop_orders");
    // `schema` states the changelog as the plan does (the user guide says so).
    let schema = p.run(&["schema", "shop_orders"]).code(0).stdout;
    assert!(
        schema.contains("sample: samples/shop_orders.canal.jsonl: 11 records; changelog (canal-json): 8 of the sample's events carry rows: 5 inserted, 3 updated, 1 deleted"),
        "{schema}"
    );
}

/// A filter, a lookup join and deduplication.
#[test]
fn example_payments() {
    check_render(&TestProject::example(), "payments");
}

/// Three sinks (two tables and an upsert-kafka topic) in one statement set.
#[test]
fn several_sinks() {
    let p = TestProject::example();
    let spec = p.read("pipelines/orders.toml").replace("[sink]\n", "[[sink]]\n");
    p.write(
        "pipelines/orders.toml",
        &format!(
            "{spec}\n[[sink]]\ntable = \"support.order_status\"\ncolumns = [\"order_id\", \"status\", \"updated_ms\"]\norientation = \"row\"\n\n[[sink]]\ntype = \"upsert-kafka\"\ntopic = \"orders_clean\"\nbootstrap_servers = \"k:9092\"\ncolumns = [\"order_id\", \"total\"]\n"
        ),
    );
    let sql = p.run(&["render", "orders"]).code(0).stdout;
    let ddl = p.run(&["render", "orders", "--ddl"]).code(0).stdout;
    insta::assert_snapshot!("orders_several_sinks.sql", sql);
    insta::assert_snapshot!("orders_several_sinks.ddl.sql", ddl);
}

/// Keys of every shape: reserved words, punctuation, unicode, case twins, empty and
/// line-break keys; huge and inexact numbers; timestamps of every shape; deep nesting.
#[test]
fn torture_keys_and_values() {
    let p = TestProject::fixture("torture");
    check_render(&p, "torture");
    check_render(&p, "torture_flat");
    insta::assert_snapshot!("torture.schema", p.run(&["schema", "torture"]).code(0).stdout);
}

#[test]
fn plan_views() {
    let p = TestProject::example();
    insta::assert_snapshot!("plan_create.txt", p.run(&["plan"]).code(0).stdout);
    insta::assert_snapshot!("plan_create.md", p.run(&["plan", "--format", "markdown"]).code(0).stdout);
    insta::assert_snapshot!("plan_create.json", p.run(&["plan", "--format", "json"]).code(0).stdout);
    p.record();
    let spec = p.read("pipelines/clickstream.toml").replace("parallelism = 4", "parallelism = 8");
    p.write("pipelines/clickstream.toml", &spec);
    std::fs::remove_file(p.path().join("pipelines/orders.toml")).unwrap();
    insta::assert_snapshot!("plan_update_delete.txt", p.run(&["plan"]).code(0).stdout);
    insta::assert_snapshot!("plan_update_delete.md", p.run(&["plan", "--format", "markdown"]).code(0).stdout);
    insta::assert_snapshot!("plan_update_delete.json", p.run(&["plan", "--format", "json"]).code(0).stdout);
}

#[test]
fn project_template_overrides_builtin_and_pipeline_picks_its_own() {
    let p = TestProject::example();
    let builtin = p.run(&["render", "--template", "insert"]).code(0).stdout;
    assert_eq!(builtin, std::fs::read_to_string(crate::common::repo().join("templates/insert.sql.j2")).unwrap());
    p.write(
        "templates/insert.sql.j2",
        "INSERT INTO {{ sink.table | ident }} SELECT * FROM {{ source.table | ident }};\n",
    );
    let sql = p.run(&["render", "orders"]).code(0).stdout;
    assert!(sql.contains("INSERT INTO `orders_sink` SELECT * FROM `orders_source`;"), "{sql}");
    // A file that replaces nothing is named, with the built-in it was probably meant for.
    p.write("templates/sorce.sql.j2", "-- typo\n");
    let r = p.run(&["validate"]).code(0);
    assert!(r.stdout.contains("templates/sorce.sql.j2 replaces no built-in template"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `source.sql.j2`?"), "{}", r.stdout);
    let r = p.run(&["plan", "--format", "json"]).code(0);
    assert!(
        r.stderr.contains("templates/sorce.sql.j2 replaces no built-in template"),
        "plan says so too: {}",
        r.stderr
    );
    serde_json::from_str::<serde_json::Value>(&r.stdout).expect("stdout stays the JSON plan");
    std::fs::remove_file(p.path().join("templates/sorce.sql.j2")).unwrap();
    p.record();
    p.write("custom/ddl.sql.j2", "-- custom DDL for {{ ddl.table | pgident }}\n");
    let spec = p.read("pipelines/orders.toml") + "\n[template]\nddl = \"custom/ddl.sql.j2\"\n";
    p.write("pipelines/orders.toml", &spec);
    assert_eq!(p.run(&["render", "orders", "--ddl"]).code(0).stdout, "-- custom DDL for \"orders\"\n");
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(plan.contains("because: template.ddl: set to \"custom/ddl.sql.j2\""), "{plan}");
    assert!(plan.contains("because: template ddl changed (custom/ddl.sql.j2@"), "{plan}");
    p.write("custom/ddl.sql.j2", "{{ nope.nothing }}\n");
    let r = p.run(&["render", "orders"]).code(1);
    assert!(r.stderr.contains("template custom/ddl.sql.j2:1: undefined value"), "{}", r.stderr);
}

/// Every variable path of a template context: `a.b`, with `[]` for list items.
fn paths(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        serde_json::Value::Array(items) => {
            let p = format!("{at}[]");
            for x in items {
                paths(x, &p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn docs_templates_md_names_every_variable_the_templates_receive() {
    let mut real = std::collections::BTreeSet::new();
    let example = TestProject::example();
    let orders = example.read("pipelines/orders.toml");
    example.write("pipelines/orders.toml", &format!("{orders}jobmanager = {{ cpu = 1, memory = \"2Gi\" }}\n"));
    for project in [example, TestProject::fixture("torture")] {
        let ws = flinkform::workspace::Workspace::load(project.path()).unwrap_or_else(|f| panic!("{:?}", f.0));
        for p in &ws.project.pipelines {
            let r = ws.resolve_one(p, None, &|_, _| {}).unwrap_or_else(|f| panic!("{:?}", f.0));
            paths(&flinkform_core::render::variables(p, &r.schema), "", &mut real);
        }
    }
    let doc = std::fs::read_to_string(crate::common::repo().join("docs/templates.md")).unwrap();
    let documented: std::collections::BTreeSet<String> =
        doc.split('`').skip(1).step_by(2).map(|s| s.strip_suffix("[]").unwrap_or(s).to_string()).collect();
    let undocumented: Vec<&String> = real.iter().filter(|p| p.contains('.') && !documented.contains(*p)).collect();
    assert!(undocumented.is_empty(), "docs/templates.md does not name {undocumented:?}");
    let tops: Vec<&str> = ["pipeline", "source", "sink", "insert", "ddl", "deployment"].to_vec();
    let stale: Vec<&String> = documented
        .iter()
        .filter(|d| tops.iter().any(|t| d.starts_with(&format!("{t}."))) && !d.ends_with(".j2") && !real.contains(*d))
        .collect();
    assert!(stale.is_empty(), "docs/templates.md names variables the templates do not receive: {stale:?}");
}

/// What Rust's `Debug` prints, which no user should read: `Some(`, `None`, `Name { `.
fn debug_forms(text: &str) -> Vec<&str> {
    let struct_debug = |l: &str| {
        l.match_indices(" { ").any(|(i, _)| {
            let word = l[..i].rsplit(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
            word.starts_with(|c: char| c.is_ascii_uppercase())
        })
    };
    text.lines().filter(|l| l.contains("Some(") || l.contains("None") || struct_debug(l)).collect()
}

/// Every kind of setting changed at once, and a middle `[[sink]]` removed: the plan says
/// each change in the spec's own words, in text, JSON and Markdown, and names the
/// removed sink by its table, once.
#[test]
fn plans_read_as_the_spec_is_written() {
    let p = TestProject::example();
    let sinks = "\n[[sink]]\ntable = \"support.order_status\"\ncolumns = [\"order_id\", \"status\"]\n\n[[sink]]\ntype = \"upsert-kafka\"\ntopic = \"orders_clean\"\nbootstrap_servers = \"k:9092\"\ncolumns = [\"order_id\", \"total\"]\n";
    let spec = p.read("pipelines/orders.toml").replace("[sink]\n", "[[sink]]\n");
    p.write("pipelines/orders.toml", &format!("{spec}{sinks}"));
    p.record();
    let changed = spec
        .replace(
            "columns.updated_ms =",
            "columns.total = { type = \"DOUBLE\" }\ncolumns.note = { exclude = true }\ncolumns.updated_ms =",
        )
        .replace("watermark_delay = \"5s\"", "watermark_delay = \"10s\"")
        .replace("parallelism = 2", "parallelism = 2\nverify = \"10s\"\non_failure = \"rollback\"\ntaskmanager = { cpu = 2, memory = \"8Gi\" }\nflink_conf = { \"execution.checkpointing.interval\" = \"30s\" }")
        .replace("on_conflict = \"update\"", "on_conflict = \"ignore\"\noptions = { connectionSize = \"8\" }");
    let kafka_only = &sinks[sinks.find("\n[[sink]]\ntype").unwrap()..];
    p.write("pipelines/orders.toml", &format!("{changed}{kafka_only}"));
    let text = p.run(&["plan"]).code(0).stdout;
    let json = p.run(&["plan", "--format", "json"]).code(0).stdout;
    let md = p.run(&["plan", "--format", "markdown"]).code(0).stdout;
    for (what, out) in [("text", &text), ("json", &json), ("markdown", &md)] {
        assert!(debug_forms(out).is_empty(), "{what} plan shows Rust's debug forms: {:?}\n{out}", debug_forms(out));
        assert!(!out.contains("sink.2") && !out.contains("sink.3"), "{what}: sinks by position\n{out}");
    }
    for line in [
        "schema.columns.total.type: set to \"DOUBLE\"",
        "schema.columns.note.exclude: set to true",
        "schema.event_time.watermark_delay: \"5s\" → \"10s\"",
        "deployment.verify: set to \"10s\"",
        "deployment.on_failure: \"fail\" → \"rollback\"",
        "deployment.taskmanager.memory: set to \"8Gi\"",
        "deployment.flink_conf.\"execution.checkpointing.interval\": \"60s\" → \"30s\"",
        "sink.on_conflict: \"update\" → \"ignore\"",
        "sink.options.connectionSize: set to \"8\"",
        "sink support.order_status removed",
    ] {
        assert_eq!(text.matches(line).count(), 1, "`{line}` once in:\n{text}");
    }
    assert!(!text.contains("sink.\"support.order_status\".columns: removed"), "one line for the removed sink:\n{text}");
}
