//! Snapshots of what the bundled example and the fixtures render to, and of plans in
//! every output format.

use crate::common::TestProject;

fn check_render(p: &TestProject, name: &str) {
    let sql = p.run(&["render", name]).code(0).stdout;
    let ddl = p.run(&["render", name, "--ddl"]).code(0).stdout;
    let deployment = p.run(&["render", name, "--deployment"]).code(0).stdout;
    insta::assert_snapshot!(format!("{name}.sql"), sql);
    insta::assert_snapshot!(format!("{name}.hologres.sql"), ddl);
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
    p.write(
        "templates/insert.sql.j2",
        "INSERT INTO {{ sink.table | ident }} SELECT * FROM {{ source.table | ident }};\n",
    );
    let sql = p.run(&["render", "orders"]).code(0).stdout;
    assert!(sql.contains("INSERT INTO `orders_sink` SELECT * FROM `orders_source`;"), "{sql}");
    p.record();
    p.write("custom/ddl.sql.j2", "-- custom DDL for {{ ddl.table | pgident }}\n");
    let spec = p.read("pipelines/orders.toml") + "\n[template]\nddl = \"custom/ddl.sql.j2\"\n";
    p.write("pipelines/orders.toml", &spec);
    assert_eq!(p.run(&["render", "orders", "--ddl"]).code(0).stdout, "-- custom DDL for \"orders\"\n");
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(plan.contains("because: template.ddl: set to custom/ddl.sql.j2"), "{plan}");
    assert!(plan.contains("because: template ddl changed (custom/ddl.sql.j2@"), "{plan}");
    p.write("custom/ddl.sql.j2", "{{ nope.nothing }}\n");
    let r = p.run(&["render", "orders"]).code(1);
    assert!(r.stderr.contains("template custom/ddl.sql.j2:1: undefined value"), "{}", r.stderr);
}
