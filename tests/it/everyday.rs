//! The commands a Terraform or dbt user reaches for (`version`, `ls`, `show`, `state rm`,
//! `state mv`, `fmt`, Terraform's single-dash flags), and the rough edges a new user
//! found, each pinned.

use crate::common::TestProject;

/// A loopback port nothing listens on: a connection to it is refused at once.
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn version_ls_and_show() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["version"]).code(0);
    assert_eq!(r.stdout, format!("flinkform {}\n", env!("CARGO_PKG_VERSION")));
    let man = p.run(&["man"]).code(0).stdout;
    assert!(
        man.contains(".TH flinkform 1") && man.contains("flinkform\\-plan"),
        "a man page with every command: {}",
        &man[..300.min(man.len())]
    );
    let spec = p.read("pipelines/orders.toml");
    p.write(
        "pipelines/orders.toml",
        &spec.replace("name = \"orders\"", "name = \"orders\"\ntags = [\"shop\", \"eu\"]"),
    );
    let r = p.run(&["ls"]).code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("STATUS"), "{}", r.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with("orders ")
            && l.contains("public.orders")
            && l.contains("shop,eu")
            && l.ends_with("not applied")),
        "{}",
        r.stdout
    );
    let r = p.run(&["ls", "--select", "tag:eu", "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"name": "orders", "topic": "orders", "table": "public.orders", "tags": ["shop", "eu"], "status": "not applied"}])
    );
    p.run(&["plan", "-out", "plan.json"]).code(0);
    let text = p.run(&["show", "plan.json"]).code(0).stdout;
    assert!(text.contains("Plan: 2 to add"), "{text}");
    let md = p.run(&["show", "plan.json", "--format", "markdown"]).code(0).stdout;
    assert!(md.starts_with("<!-- flinkform:plan "), "{md}");
    let r = p.run(&["show", "flinkform.toml"]).code(1);
    assert!(r.stderr.contains("flinkform.toml is not a plan saved with `plan -out`"), "{}", r.stderr);
}

#[test]
fn state_rm_forgets_and_state_mv_renames_without_touching_vvp() {
    let p = TestProject::two_pipelines();
    p.record();
    let r = p.run(&["state", "rm", "clickstream"]).code(0);
    assert!(r.stdout.contains("Removed `clickstream` from the state"), "{}", r.stdout);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert!(state["pipelines"].get("clickstream").is_none());
    assert!(p.run(&["plan"]).code(0).stdout.contains("# clickstream will be created"));
    let r = p.run(&["state", "rm", "clikstream"]).code(1);
    assert!(r.stderr.contains("no pipeline `clikstream` in the state"), "{}", r.stderr);
    // Renamed in the spec and in the state: no destroy and no create.
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("name = \"orders\"", "name = \"orders_eu\""));
    p.run(&["state", "mv", "orders", "orders_eu"]).code(0);
    // The SQL names the pipeline, so the job is updated in place, from its savepoint.
    let plan = p.run(&["plan"]).code(0).stdout;
    assert!(!plan.contains("destroyed") && !plan.contains("# orders_eu will be created"), "{plan}");
    assert!(plan.contains("# orders_eu will be updated in place") && plan.contains("state: kept"), "{plan}");
    let r = p.run(&["state", "mv", "nope", "x"]).code(1);
    assert!(r.stderr.contains("no pipeline `nope` in the state"), "{}", r.stderr);
    // A name no spec can have is refused: the next plan would destroy the pipeline.
    let before = p.read(".flinkform/state.json");
    let r = p.run(&["state", "mv", "orders_eu", "bad name!"]).code(1);
    assert!(
        r.stderr.contains("`bad name!` cannot name a pipeline: a pipeline name must start with a letter"),
        "{}",
        r.stderr
    );
    assert_eq!(p.read(".flinkform/state.json"), before, "the state is untouched");
}

#[test]
fn fmt_lays_out_the_specs_and_check_says_which_are_not() {
    let p = TestProject::two_pipelines();
    p.run(&["fmt", "--check"]).code(0);
    let spec = p.read("pipelines/orders.toml");
    let messy = spec.replace("topic = \"orders\"", "topic=\"orders\"   ").replace("[sink]", "\n\n\n[sink]");
    p.write("pipelines/orders.toml", &messy);
    let r = p.run(&["fmt", "--check"]).code(1);
    assert_eq!(r.stdout, "not formatted: pipelines/orders.toml\n");
    assert_eq!(p.read("pipelines/orders.toml"), messy, "--check changes nothing");
    p.run(&["fmt"]).code(0);
    assert_eq!(p.read("pipelines/orders.toml"), spec, "comments and layout back as they were");
}

#[test]
fn terraform_single_dash_flags_work_on_the_commands() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["plan", "-refresh=false", "-lock=false", "-detailed-exitcode", "-no-color"]).code(2);
    assert!(r.stdout.contains("Plan: 2 to add"), "{}", r.stdout);
    let help = p.run(&["plan", "--help"]).code(0).stdout;
    assert!(help.contains("--lock <BOOL>") && help.contains("Take the state lock while planning"), "{help}");
    let r = p.run(&["plan", "-json"]).code(0);
    assert!(serde_json::from_str::<serde_json::Value>(&r.stdout).is_ok(), "{}", r.stdout);
    let r = p.run(&["plan", "-lock-timeout=1s", "-target=orders"]).code(0);
    assert!(r.stderr.contains("Acquiring the state lock (waiting up to 1s)…"), "{}", r.stderr);
}

#[test]
fn init_never_overwrites_makes_its_directory_and_ignores_the_state() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new/project");
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_flinkform")).arg("-C").arg(&dir).arg("init").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("flinkform.toml").is_file());
    assert_eq!(std::fs::read_to_string(dir.join(".gitignore")).unwrap(), ".flinkform/\n");
    // The new project's sample has no broken line.
    let p = TestProject { dir: tempfile::tempdir().unwrap() };
    p.write("pipelines/orders.toml", "# mine\n");
    p.write(".gitignore", "target/");
    let r = p.run(&["init"]).code(0);
    assert!(r.stdout.contains("pipelines/orders.toml (kept: it exists)"), "{}", r.stdout);
    assert_eq!(p.read("pipelines/orders.toml"), "# mine\n", "never overwritten");
    assert_eq!(p.read(".gitignore"), "target/\n.flinkform/\n");
    p.write("pipelines/orders.toml", &TestProject::two_pipelines().read("pipelines/orders.toml"));
    let schema = p.run(&["schema", "orders"]).code(0).stdout;
    assert!(schema.contains("sample: samples/orders.jsonl: 40 records\n"), "no skipped line: {schema}");
}

#[test]
fn a_project_without_specs_is_an_error_unless_asked_for() {
    let p = TestProject::two_pipelines();
    std::fs::rename(p.path().join("pipelines"), p.path().join("pipeline")).unwrap();
    for args in [&["validate"][..], &["plan"]] {
        let r = p.run(args).code(1);
        assert!(r.stderr.contains("no pipelines: there is no pipelines/ directory in"), "{}", r.stderr);
        assert!(r.stderr.contains("pass --allow-empty"), "{}", r.stderr);
    }
    std::fs::create_dir(p.path().join("pipelines")).unwrap();
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("no pipelines: pipelines/ holds no .toml spec"), "{}", r.stderr);
    let r = p.run(&["plan", "--allow-empty"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

#[test]
fn an_unreachable_vvp_fails_fast_with_its_cause_and_apply_suggests_no_plan_flag() {
    let p = TestProject::two_pipelines();
    let port = refused_port();
    let env = [
        ("FLINKFORM_VVP_ENDPOINT", format!("127.0.0.1:{port}")),
        ("FLINKFORM_VVP_PROTOCOL", "http".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-canary-5d1e".into()),
    ];
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.record();
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("parallelism = 2", "parallelism = 3"));
    let started = std::time::Instant::now();
    let r = p.run_with(&["plan"], &pairs).code(1);
    assert!(r.stderr.to_lowercase().contains("connection refused"), "the cause is shown: {}", r.stderr);
    assert!(r.stderr.contains("--refresh=false"), "plan has the flag: {}", r.stderr);
    let r = p.run_with(&["apply", "--auto-approve"], &pairs).code(1);
    assert!(r.stderr.to_lowercase().contains("connection refused"), "{}", r.stderr);
    assert!(!r.stderr.contains("--refresh=false"), "apply has no such flag: {}", r.stderr);
    assert!(!r.stderr.contains("secret-canary-5d1e"));
    // Two tries, not eight with backoff (16 s before).
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "{:?}", started.elapsed());
}

#[test]
fn wording_and_exit_codes_a_new_user_tripped_on() {
    let p = TestProject::two_pipelines();
    p.record();
    // `status` of a pipeline the state does not hold is an error, not an empty table.
    let r = p.run(&["status", "ordres"]).code(1);
    assert!(r.stderr.contains("no pipeline `ordres` in the state (did you mean `orders`?)"), "{}", r.stderr);
    // Plurals.
    let r = p.run(&["validate", "--select", "orders"]).code(0);
    assert!(r.stdout.contains("Success! 1 pipeline is valid in every environment (dev, prod)."), "{}", r.stdout);
    // A plan with errors does not end in a summary that contradicts them.
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("name = \"orders\"", "name = \"orders\"\nprotect = true"));
    p.record();
    std::fs::remove_file(p.path().join("pipelines/orders.toml")).unwrap();
    let r = p.run(&["plan"]).code(1);
    let last = r.stdout.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last, "Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy. It cannot be applied: 1 error (above).",
        "{}",
        r.stdout
    );
    // A region that is not one, an empty workspace: said at once.
    let q = TestProject::two_pipelines();
    let config = q.read("flinkform.toml");
    q.write(
        "flinkform.toml",
        &config
            .replace("region = \"cn-hangzhou\"", "region = \"mars-1\"")
            .replace("workspace = \"your-workspace-id\"", "workspace = \"\""),
    );
    let r = q.run(&["validate"]).code(1);
    assert!(r.stderr.contains("`region` `mars-1` is not an Alibaba Cloud region id"), "{}", r.stderr);
    assert!(r.stderr.contains("`workspace` in [vvp] is empty"), "{}", r.stderr);
    q.write("flinkform.toml", &config.replace("region = \"cn-hangzhou\"", "region = \"cn-shanghai-finance-1\""));
    q.run(&["validate"]).code(0);
}

#[test]
fn status_state_list_and_history_take_format_json() {
    let emu = crate::vvp::Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    crate::apply::run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&crate::apply::run(&p, &emu, args).code(0).stdout).unwrap()
    };
    let list = json(&["state", "list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["name"], "orders");
    assert_eq!(list[1]["status"], "running");
    assert!(list[1]["deployment"].as_str().is_some_and(|d| d != "-"), "{list}");
    let status = json(&["status", "orders", "--format", "json"]);
    assert_eq!(status[0]["pipeline"], "orders");
    assert_eq!(status[0]["live_status"], "RUNNING", "{status}");
    let history = json(&["history", "orders", "--format", "json"]);
    assert_eq!(history[0]["action"], "create", "{history}");
    assert_eq!(history[0]["sql"].as_str().unwrap().len(), 64, "the whole digest: {history}");
}

#[test]
fn a_database_refusal_shows_the_servers_message() {
    let p = TestProject::two_pipelines();
    let config = p.read("flinkform.toml");
    let postgres =
        config.replace("backend = \"local\"", "backend = \"postgres\"").replace("path = \".flinkform/state.json\"", "");
    p.write("flinkform.toml", &postgres);
    let r = p
        .run_with(&["plan"], &[("FLINKFORM_STATE_DSN", "host=127.0.0.1 port=5432 user=no_such_role_7c dbname=test")])
        .code(1);
    assert!(r.stderr.contains("role \"no_such_role_7c\" does not exist"), "not just `db error`: {}", r.stderr);
    assert!(r.stderr.contains("FLINKFORM_STATE_DSN"), "names where the string came from: {}", r.stderr);
}

#[test]
fn librdkafkas_own_lines_stay_out_of_the_way_unless_asked_for() {
    let p = TestProject::two_pipelines();
    let addr = format!("127.0.0.1:{}", refused_port());
    let args = ["sample", "--topic", "t", "--bootstrap-servers", addr.as_str(), "--timeout", "2s"];
    let r = p.run(&args).code(1);
    assert!(r.stderr.contains("no Kafka broker answered within 2s"), "{}", r.stderr);
    assert!(!r.stderr.contains("librdkafka"), "librdkafka's lines are summed up by flinkform's: {}", r.stderr);
}

#[test]
fn start_of_a_running_job_and_stop_of_a_stopped_one_are_both_nothing_to_do() {
    let emu = crate::vvp::Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    crate::apply::run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let r = crate::apply::run(&p, &emu, &["start", "orders"]).code(0);
    assert!(r.stdout.contains("orders: already running (job "), "{}", r.stdout);
    crate::apply::run(&p, &emu, &["stop", "orders"]).code(0);
    let r = crate::apply::run(&p, &emu, &["stop", "orders"]).code(0);
    assert!(r.stdout.contains("orders: already stopped: nothing to stop"), "{}", r.stdout);
    let r = crate::apply::run(&p, &emu, &["start", "orders"]).code(0);
    assert!(!r.stdout.contains("already"), "{}", r.stdout);
}

#[test]
fn wrong_credentials_name_the_variable_that_is_wrong() {
    let emu = crate::vvp::Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    p.record();
    let base = crate::apply::env(&emu);
    let with = |k: &str, v: &str| -> Vec<(&str, String)> {
        base.iter().map(|(name, val)| (*name, if *name == k { v.to_string() } else { val.clone() })).collect()
    };
    for (var, value, says) in [
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "wrong-secret-canary-2b",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not the secret of ALIBABA_CLOUD_ACCESS_KEY_ID",
        ),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "no-such-key", "VVP does not know the key in ALIBABA_CLOUD_ACCESS_KEY_ID"),
    ] {
        let env = with(var, value);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = p.run_with(&["plan"], &pairs).code(1);
        assert!(r.stderr.contains(says), "{var}: {}", r.stderr);
        assert!(!r.stderr.contains("wrong-secret-canary-2b"));
    }
}

#[test]
fn an_unreachable_topic_can_be_planned_from_its_recorded_schema_when_asked() {
    let p = TestProject::two_pipelines();
    p.record();
    let spec = p.read("pipelines/orders.toml");
    let kafka = spec
        .replace("alikafka-pre-cn-xxxxxxxx-1-vpc.alikafka.aliyuncs.com:9092", &format!("127.0.0.1:{}", refused_port()))
        .replace(
            "sample = { file = \"samples/orders.jsonl\", messages = 1000 }",
            "sample = { messages = 1000, timeout = \"2s\" }",
        );
    assert_ne!(kafka, spec);
    p.write("pipelines/orders.toml", &kafka);
    let r = p.run(&["plan", "--select", "orders"]).code(1);
    assert!(r.stderr.contains("no Kafka broker answered within 2s"), "{}", r.stderr);
    let r = p.run(&["plan", "--select", "orders", "--sample=recorded"]).code(0);
    assert!(r.stdout.contains("planned from the recorded schema instead (--sample=recorded)"), "{}", r.stdout);
    assert!(!r.stdout.contains("removed"), "the recorded columns stay: {}", r.stdout);
    assert!(r.stdout.contains("not in today's sample (kept from the recorded schema)"), "{}", r.stdout);
}

#[test]
fn jobs_and_deployments_by_id_as_the_old_tool_had() {
    let emu = crate::vvp::Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    crate::apply::run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    crate::apply::run(&p, &emu, &["stop", "orders"]).code(0);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap().to_string();
    // A recorded pipeline's deployment starts as that pipeline: its job is recorded.
    crate::apply::run(&p, &emu, &["start", "--deployment-id", &dep]).code(0);
    let job = crate::apply::state_job(&p, "orders");
    let r = crate::apply::run(&p, &emu, &["status", "--job-id", &job, "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v[0]["job"].as_str(), v[0]["state"].as_str()),
        (Some(job.as_str()), Some("RUNNING")),
        "VVP's name, as `status` shows it: {v}"
    );
    let r = crate::apply::run(&p, &emu, &["start", "--deployment-id", &dep]).code(0);
    assert!(r.stdout.contains("nothing to start"), "{}", r.stdout);
}
