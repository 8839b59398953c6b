//! Planning against recorded state: creates, no-ops, monotone evolution, stale plans.

use crate::common::TestProject;

#[test]
fn example_plans_creates_and_exits_2_with_detailed_exitcode() {
    let p = TestProject::example();
    let r = p.run(&["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", r.stdout);
    p.run(&["plan"]).code(0);
}

#[test]
fn recorded_plan_then_no_changes_then_evolution() {
    let p = TestProject::example();
    let first = p.record();
    assert_eq!(first.serial, 1);
    let r = p.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);

    // A new field in some records: an update that adds the column, to both pipelines that
    // read the orders (the example's `orders` into Hologres, `orders_report` over JDBC).
    let mut sample = p.read("samples/orders.jsonl");
    sample = sample.replacen("\"currency\": \"CNY\"", "\"currency\": \"CNY\", \"channel\": \"app\"", 3);
    p.write("samples/orders.jsonl", &sample);
    let r = p.run(&["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("~ pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("~ pipeline \"orders_report\""), "{}", r.stdout);
    assert!(r.stdout.contains("because: column `channel` added (STRING, 3/40 present)"), "{}", r.stdout);
    assert!(r.stdout.contains("Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy."), "{}", r.stdout);
    let second = p.record();
    assert_eq!(second.serial, 2);
    assert_eq!(second.pipelines["orders"].history.len(), 2);
    p.run(&["plan", "--detailed-exitcode"]).code(0);

    // The field disappears from the sample: the column stays, nothing changes.
    let without: String = p.read("samples/orders.jsonl").replace(", \"channel\": \"app\"", "");
    p.write("samples/orders.jsonl", &without);
    let r = p.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);

    // A wider type is an update; a pinned narrower one is a replace.
    p.write(
        "samples/orders.jsonl",
        &p.read("samples/orders.jsonl").replacen("\"currency\": \"CNY\"", "\"currency\": 7", 1),
    );
    assert!(p.run(&["plan"]).code(0).stdout.contains("No changes."), "STRING already holds a number");
    let schema = p.run(&["schema", "orders"]).code(0).stdout;
    assert!(schema.contains("mixed kinds (number 1, string 39)"), "{schema}");
    let spec = p.read("pipelines/orders.toml").replace("[sink]", "columns.total = { type = \"INT\" }\n\n[sink]");
    p.write("pipelines/orders.toml", &spec);
    // The job would be replaced, but the sink column cannot change type in place.
    let r = p.run(&["plan"]).code(1);
    assert!(r.stdout.contains("-/+ pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("column `total` would narrow: DOUBLE → INT"), "{}", r.stdout);
    assert!(
        r.stdout.contains("column \"total\" of \"public\".\"orders\" would change type (float8 → int4)"),
        "{}",
        r.stdout
    );
}

#[test]
fn protected_pipeline_cannot_be_destroyed_or_replaced() {
    let p = TestProject::example();
    let spec = p.read("pipelines/orders.toml").replace("name = \"orders\"", "name = \"orders\"\nprotect = true");
    p.write("pipelines/orders.toml", &spec);
    p.record();
    let spec = spec.replace("topic = \"orders\"", "topic = \"orders_v2\"");
    p.write("pipelines/orders.toml", &spec);
    let r = p.run(&["plan"]).code(1);
    assert!(r.stdout.contains("source topic changed: orders → orders_v2"), "{}", r.stdout);
    assert!(r.stdout.contains("error: pipeline `orders` is protected"), "{}", r.stdout);
    std::fs::remove_file(p.path().join("pipelines/orders.toml")).unwrap();
    let r = p.run(&["plan"]).code(1);
    assert!(r.stdout.contains("- pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("its spec pipelines/orders.toml is gone"), "{}", r.stdout);
}

#[test]
fn saved_plan_is_refused_once_the_state_changed() {
    use flinkform_core::plan::file;
    let p = TestProject::example();
    p.run(&["plan", "-out", "plan.json"]).code(0);
    let saved = file::from_text(&p.read("plan.json")).unwrap();
    file::check_fresh(&saved, None).unwrap();
    let state = p.record();
    let err = file::check_fresh(&saved, Some(&state)).unwrap_err();
    assert!(err.to_string().contains("saved plan is stale"), "{err}");
    assert!(err.to_string().contains("serial 1"), "{err}");
    // A plan made now is fresh against this state, and records the inputs it read.
    p.run(&["plan", "--out", "plan2.json"]).code(0);
    let again = file::from_text(&p.read("plan2.json")).unwrap();
    file::check_fresh(&again, Some(&state)).unwrap();
    assert!(again.inputs.contains_key("pipelines/orders.toml"));
    assert!(again.inputs.contains_key("samples/orders.jsonl"));
    assert!(file::from_text("{}").is_err());
}

#[test]
fn plan_waits_for_and_reports_the_state_lock() {
    use flinkform_core::state::StateStore;
    use flinkform_state::LocalStore;
    let p = TestProject::example();
    let store = LocalStore::new(p.path().join(".flinkform/state.json"), "state");
    let mut info = flinkform::cli::lock_info("apply");
    info.who = "ci-bot".into();
    let guard = store.lock(&info, std::time::Duration::ZERO).unwrap();
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("state is locked"), "{}", r.stderr);
    assert!(r.stderr.contains("ci-bot"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("flinkform force-unlock {}", info.id)), "{}", r.stderr);
    p.run(&["plan", "--lock=false"]).code(0);
    drop(guard);
    p.run(&["plan", "--lock-timeout", "2s"]).code(0);
}

#[test]
fn empty_sample_asks_to_pin_the_schema() {
    let p = TestProject::example();
    p.write("samples/orders.jsonl", "not json\n[1,2]\n");
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("no usable JSON record in samples/orders.jsonl: all 2 records were skipped (1 invalid JSON, 1 not an object)"), "{}", r.stderr);
    assert!(r.stderr.contains("pin the schema in [schema]"), "{}", r.stderr);
}

#[test]
fn ids_that_pass_2_31_after_the_first_apply_change_nothing_and_old_int_records_keep_int() {
    let p = TestProject::example();
    p.record();
    let grown = p.read("samples/clickstream.jsonl").replacen("\"user_id\": 20000", "\"user_id\": 3000000000", 1);
    p.write("samples/clickstream.jsonl", &grown);
    let r = p.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "BIGINT from the start: {}", r.stdout);

    // A record made before BIGINT became the default (no `integers`, an INT column)
    // keeps INT while the values fit, and a value beyond INT is a conflict whose advice
    // loses nothing.
    let fresh = TestProject::example();
    fresh.record();
    let mut state: serde_json::Value = serde_json::from_str(&fresh.read(".flinkform/state.json")).unwrap();
    let rec = &mut state["pipelines"]["clickstream"];
    rec.as_object_mut().unwrap().remove("integers");
    for c in rec["columns"].as_array_mut().unwrap() {
        if c["name"] == "user_id" {
            c["type"] = "INT".into();
            c["hologres"] = "int4".into();
        }
    }
    fresh.write(".flinkform/state.json", &serde_json::to_string_pretty(&state).unwrap());
    let r = fresh.run(&["plan"]).code(0);
    assert!(!r.stdout.contains("user_id` widened"), "still INT: {}", r.stdout);
    fresh.write("samples/clickstream.jsonl", &grown);
    let r = fresh.run(&["plan"]).code(1);
    assert!(r.stdout.contains("column `user_id` widened: INT → BIGINT"), "{}", r.stdout);
    assert!(r.stdout.contains("would change type (int4 → int8)"), "{}", r.stdout);
    assert!(r.stdout.contains("columns.user_id.rename = \"user_id_v2\""), "{}", r.stdout);
    assert!(r.stdout.contains("pinning it to INT would lose the values that need BIGINT"), "{}", r.stdout);
}
