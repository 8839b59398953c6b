//! The command line end to end: errors, init, validate, schema, state, completions.

use crate::common::TestProject;

#[test]
fn typo_wrong_type_and_literal_password_in_one_run_exit_1() {
    let p = TestProject::two_pipelines();
    let spec = p
        .read("pipelines/orders.toml")
        .replace("topic = \"orders\"", "topik = \"orders\"")
        .replace("parallelism = 2", "parallelism = \"2\"")
        .replace("on_conflict = \"update\"", "on_conflict = \"update\"\npassword = \"hunter2\"");
    p.write("pipelines/orders.toml", &spec);
    let r = p.run(&["plan"]).code(1);
    let e = &r.stderr;
    assert!(e.contains("error: unknown key `topik` in [source]\n --> pipelines/orders.toml:6:1"), "{e}");
    assert!(e.contains("= help: did you mean `topic`?"), "{e}");
    assert!(e.contains("error: `parallelism` in [deployment] must be a non-negative integer, found a string\n  --> pipelines/orders.toml:22:15"), "{e}");
    assert!(e.contains("error: `password` in [sink] is a literal secret"), "{e}");
    assert!(e.contains("--> pipelines/orders.toml:19:12"), "{e}");
    assert!(!e.contains("hunter2"), "the secret is masked: {e}");
    assert!(e.contains("4 errors"), "{e}");
    assert!(r.stdout.is_empty());
}

#[test]
fn a_usage_error_exits_1_never_the_2_of_changes_present() {
    let p = TestProject::two_pipelines();
    // A CI script reading `--detailed-exitcode` must not take a typo for changes.
    let r = p.run(&["plan", "--detailed-exitcode", "--selct", "orders"]).code(1);
    assert!(r.stderr.contains("unexpected argument '--selct'"), "{}", r.stderr);
    let r = p.run(&["plann"]).code(1);
    assert!(r.stderr.contains("unrecognized subcommand 'plann'"), "{}", r.stderr);
    p.run(&["apply", "--parallelism", "many"]).code(1);
    let r = p.run(&["apply", "--parallelism", "0"]).code(1);
    assert!(r.stderr.contains("0 is not in 1..="), "{}", r.stderr);
    // Help and version are no errors.
    assert!(p.run(&["--help"]).code(0).stdout.contains("Usage:"));
    assert!(p.run(&["--version"]).code(0).stdout.starts_with("flinkform "));
}

#[test]
fn a_saved_plan_shown_as_markdown_carries_the_marker_plan_writes() {
    let p = TestProject::two_pipelines();
    let planned = p.run(&["plan", "--format", "markdown"]).code(0).stdout;
    p.run(&["plan", "-out", "plan.json"]).code(0);
    let shown = p.run(&["show", "plan.json", "--format", "markdown"]).code(0).stdout;
    let marker = |md: &str| md.lines().next().unwrap_or_default().to_string();
    assert!(marker(&planned).contains("project=flinkform-example"), "{planned}");
    assert_eq!(marker(&shown), marker(&planned), "`comment` finds the comment either made");
}

#[test]
fn init_scaffolds_a_project_that_plans() {
    let dir = tempfile::tempdir().unwrap();
    let p = TestProject { dir };
    let r = p.run(&["init"]).code(0);
    assert!(r.stdout.contains("pipelines/orders.toml"), "{}", r.stdout);
    // The templates README names every built-in, and each prints.
    let readme = p.read("templates/README.md");
    for (kind, file) in flinkform_core::render::KINDS {
        assert!(readme.contains(file), "{file} in {readme}");
        let t = p.run(&["render", "--template", kind]).code(0).stdout;
        assert_eq!(t, flinkform_core::render::BUILTIN.iter().find(|(n, _)| n == file).unwrap().1, "{kind}");
    }
    let config = p.read("flinkform.toml");
    let id = config.lines().find_map(|l| l.strip_prefix("project = \"")).and_then(|r| r.split('"').next()).unwrap();
    assert!(id.starts_with("flinkform-") && id != "flinkform-example", "a project id of its own: {id}");
    p.run(&["validate"]).code(0);
    p.run(&["plan", "--detailed-exitcode"]).code(2);
    // Every environment the new flinkform.toml defines plans its one pipeline.
    for env in ["dev", "prod"] {
        p.run(&["--env", env, "plan", "--detailed-exitcode"]).code(2);
    }
    let again = p.run(&["init"]).code(1);
    assert!(again.stderr.contains("already holds a flinkform.toml"), "{}", again.stderr);
}

#[test]
fn missing_project_and_unknown_pipeline() {
    let empty = TestProject { dir: tempfile::tempdir().unwrap() };
    let r = empty.run(&["plan"]).code(1);
    assert!(r.stderr.contains("no flinkform.toml in"), "{}", r.stderr);
    assert!(r.stderr.contains("flinkform init"), "{}", r.stderr);
    let p = TestProject::two_pipelines();
    let r = p.run(&["render", "order"]).code(1);
    assert!(r.stderr.contains("no pipeline named `order`"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `orders`?"), "{}", r.stderr);
}

#[test]
fn schema_shows_evidence() {
    let p = TestProject::two_pipelines();
    let out = p.run(&["schema", "orders"]).code(0).stdout;
    assert!(out.contains("sample: samples/orders.jsonl: 40 records, 1 skipped (1 invalid JSON)"), "{out}");
    assert!(out.contains("widened from integers: 24 fractional"), "{out}");
    assert!(out.contains("updated_ms → updated_at"), "{out}");
}

#[test]
fn state_list_and_show_after_recording() {
    let p = TestProject::two_pipelines();
    assert_eq!(p.run(&["state", "list"]).code(0).stdout, "");
    p.record();
    let list = p.run(&["state", "list"]).code(0).stdout;
    assert_eq!(list, "clickstream\trecorded\tpipelines/clickstream.toml\norders\trecorded\tpipelines/orders.toml\n");
    let show = p.run(&["state", "show", "orders"]).code(0).stdout;
    assert!(show.contains("serial 1  2026-01-01T00:00:00Z  create"), "{show}");
    assert!(show.contains("CREATE TEMPORARY TABLE `orders_source`"), "{show}");
    p.run(&["state", "show", "nope"]).code(1);
}

#[test]
fn corrupt_or_future_state_is_refused_and_left_untouched() {
    let p = TestProject::two_pipelines();
    p.write(".flinkform/state.json", "{\"format_version\": 99}");
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("format_version 99 is not supported"), "{}", r.stderr);
    p.write(".flinkform/state.json", "{ truncated");
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("unreadable and was left untouched"), "{}", r.stderr);
    assert_eq!(p.read(".flinkform/state.json"), "{ truncated");
}

#[test]
fn completions_and_help() {
    let p = TestProject::two_pipelines();
    assert!(p.run(&["completions", "bash"]).code(0).stdout.contains("flinkform"));
    let help = p.run(&["plan", "--help"]).code(0).stdout;
    assert!(help.contains("--detailed-exitcode"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
}

#[test]
fn force_unlock_of_a_lock_nobody_holds() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["force-unlock", "1234"]).code(1);
    assert!(r.stderr.contains("no lock with ID 1234 is held"), "{}", r.stderr);
}

#[test]
fn errors_found_after_inference_point_into_the_spec() {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace("primary_key = [\"order_id\"]", "primary_key = [\"order_idd\"]");
    p.write("pipelines/orders.toml", &spec);
    let e = p.run(&["plan"]).code(1).stderr;
    assert!(
        e.contains(
            "error: [schema] primary_key names `order_idd`, which is not a column\n  --> pipelines/orders.toml:11:15"
        ),
        "{e}"
    );
    assert!(e.contains("did you mean `order_id`?"), "{e}");
}

/// Every error of every file and every environment in one run: a key's typo in one
/// spec, a primary key naming no column in another (found only once its sample is
/// read), an engine no VVP runs, and a bad value an environment's overlay sets; `plan`
/// and `validate` say them all, and `validate` names the environment of an error only
/// it has.
#[test]
fn every_error_of_every_file_and_environment_in_one_run() {
    let p = TestProject::two_pipelines();
    let orders =
        p.read("pipelines/orders.toml").replace("primary_key = [\"order_id\"]", "primary_key = [\"order_idd\"]");
    p.write("pipelines/orders.toml", &orders);
    let clicks = p.read("pipelines/clickstream.toml").replacen("[source]\n", "[source]\ntopik = \"x\"\n", 1);
    let clicks = clicks.replace("vvr-11.1-jdk11-flink-1.20", "vvr-11.1-jdk11-flink-1.02");
    p.write("pipelines/clickstream.toml", &clicks);
    let config = p.read("flinkform.toml").replace(
        "[environments.prod.pipelines.clickstream.deployment]\nparallelism = 8",
        "[environments.prod.pipelines.clickstream.deployment]\nparallelism = \"eight\"",
    );
    p.write("flinkform.toml", &config);
    let spec_errors =
        ["unknown key `topik`", "primary_key names `order_idd`, which is not a column", "names Flink 1.02"];
    let e = p.run(&["plan"]).code(1).stderr;
    for want in spec_errors {
        assert!(e.contains(want), "plan: `{want}` in\n{e}");
    }
    let e = p.run(&["validate"]).code(1).stderr;
    for want in spec_errors {
        assert_eq!(e.matches(want).count(), 1, "validate: `{want}` once in\n{e}");
    }
    assert!(
        e.contains("environment `prod`: ") && e.contains("parallelism"),
        "the overlay's error, by environment:\n{e}"
    );
    let e = p.run(&["--env", "dev", "validate"]).code(1).stderr;
    assert!(!e.contains("environment `prod`"), "--env dev checks dev only:\n{e}");
}

#[test]
fn state_restore_puts_back_the_state_before_the_last_write() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["state", "restore"]).code(1);
    assert!(r.stderr.contains("there is no state"), "{}", r.stderr);
    p.record();
    let r = p.run(&["state", "restore"]).code(1);
    assert!(r.stderr.contains("no earlier state to restore (serial 1 is the first)"), "{}", r.stderr);
    let spec = p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 4");
    p.write("pipelines/orders.toml", &spec);
    p.record();
    assert!(p.read(".flinkform/state.json.backup").contains("\"serial\": 1"), "the write kept the state it replaced");
    let r = p.run(&["state", "restore"]).code(0);
    assert!(r.stdout.contains("Restored the state of serial 1 as serial 3 (it replaces serial 2)"), "{}", r.stdout);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(
        (state["serial"].as_u64(), state["pipelines"]["orders"]["deploy"]["parallelism"].as_u64()),
        (Some(3), Some(2))
    );
    let r = p.run(&["plan"]).code(0);
    assert!(r.stdout.contains("deployment.parallelism: 2 → 4"), "{}", r.stdout);

    // An unreadable state: every command says how to repair it; restore sets it aside.
    std::fs::write(p.path().join(".flinkform/state.json"), "{ \"serial\": 3, broken").unwrap();
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("is unreadable") && r.stderr.contains("`flinkform state restore`"), "{}", r.stderr);
    let r = p.run(&["state", "restore"]).code(0);
    assert!(r.stdout.contains("it is kept as .flinkform/state.json.unreadable"), "{}", r.stdout);
    assert!(r.stdout.contains("Restored the state of serial 2 as serial 4"), "{}", r.stdout);
    assert_eq!(p.read(".flinkform/state.json.unreadable"), "{ \"serial\": 3, broken");
    p.run(&["plan"]).code(0);
}

#[test]
fn history_and_state_show_take_any_digest_text_without_a_panic() {
    let p = TestProject::two_pipelines();
    p.record();
    let text = p.read(".flinkform/state.json");
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    let h = &mut state["pipelines"]["orders"]["history"][0];
    h["sql_digest"] = "é".into();
    h["ddl_digest"] = "sha256:ééééééééééééé".into();
    p.write(".flinkform/state.json", &serde_json::to_string_pretty(&state).unwrap());
    let r = p.run(&["history", "orders"]).code(0);
    assert!(r.stdout.contains("é") && r.stdout.contains("sha256:ééééé"), "{}", r.stdout);
    p.run(&["state", "show", "orders"]).code(0);
}

#[test]
fn ctrl_c_ends_a_plan_waiting_for_the_state_lock_with_130() {
    use std::process::{Command, Stdio};
    let p = TestProject::two_pipelines();
    std::fs::create_dir_all(p.path().join(".flinkform")).unwrap();
    // Another process (flock(1), the same OS lock) holds the state lock.
    let mut holder = Command::new("flock")
        .arg("--close")
        .arg(p.path().join(".flinkform/state.json.lock"))
        .args(["sleep", "120"])
        .spawn()
        .expect("flock(1) from util-linux");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut plan =
        p.command(&["plan", "-lock-timeout=100s"], &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(plan.try_wait().unwrap().is_none(), "plan waits for the lock");
    Command::new("kill").args(["-INT", &plan.id().to_string()]).status().unwrap();
    let out = plan.wait_with_output().unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "no plan after ctrl-c: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn sample_shows_the_newest_records_of_a_sample_file_as_of_a_topic() {
    let p = TestProject::two_pipelines();
    let lines = p.run(&["sample", "orders", "-n", "3"]).code(0).stdout;
    let file = p.read("samples/orders.jsonl");
    let newest: Vec<&str> = file.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), newest, "the file's last records, in order");
}
