//! `apply` end to end against `vvp-emulator`: the lifecycle, injected faults, kill -9
//! at several points, and a canary for secrets.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use vvp_api::{Client, Credentials, JobState, Restore, RetryPolicy, Target, Vvp};

use crate::common::{Run, TestProject};
use crate::vvp::{AK, Emulator, SK};

/// Environment that points flinkform at the emulator.
pub fn env(emu: &Emulator) -> Vec<(&'static str, String)> {
    vec![
        ("FLINKFORM_VVP_ENDPOINT", emu.addr.clone()),
        ("FLINKFORM_VVP_PROTOCOL", "http".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK.into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SK.into()),
    ]
}

pub fn run(p: &TestProject, emu: &Emulator, args: &[&str]) -> Run {
    let e = env(emu);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = p.run_with(args, &pairs);
    assert!(!r.stdout.contains(SK) && !r.stderr.contains(SK), "the access key secret leaked into the output");
    r
}

/// A client on the example's workspace and namespace, to look at the emulator.
pub(crate) fn client(emu: &Emulator) -> Client {
    let target = Target {
        workspace: "your-workspace-id".into(),
        project: Some("flinkform-example".into()),
        ..emu.target("your-namespace")
    };
    Client::new(target, Credentials::new(AK.into(), SK.into(), None), RetryPolicy::default()).unwrap()
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Names of the deployments flinkform made, sorted (duplicates kept, to be caught).
pub fn managed_deployments(emu: &Emulator) -> Vec<String> {
    let c = client(emu);
    let mut names: Vec<String> = block_on(c.deployments_with_label("managed-by", "flinkform"))
        .unwrap()
        .into_iter()
        .map(|d| d.name.unwrap_or_default())
        .collect();
    names.sort();
    names
}

/// The cells of a line of a table the CLI prints (columns at least two spaces apart).
pub(crate) fn cells(line: &str) -> Vec<&str> {
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect()
}

/// The job id of pipeline `name` as the local state records it.
pub(crate) fn state_job(p: &TestProject, name: &str) -> String {
    state_remote(p, name, "job_id")
}

/// The deployment id of pipeline `name` as the local state records it.
pub(crate) fn state_deployment(p: &TestProject, name: &str) -> String {
    state_remote(p, name, "deployment_id")
}

fn state_remote(p: &TestProject, name: &str, id: &str) -> String {
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    state["pipelines"][name]["remote"][id].as_str().unwrap().to_string()
}

#[test]
fn lifecycle_plan_apply_update_from_savepoint_destroy() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    let r = run(&p, &emu, &["plan", "--validate"]).code(0);
    assert_eq!(r.stdout.matches("because: VVP validated the SQL").count(), 2, "{}", r.stdout);
    run(&p, &emu, &["plan", "-out", "plan.json"]).code(0);
    assert!(!p.read("plan.json").contains(SK), "no secret in the plan file");
    let r = run(&p, &emu, &["apply", "plan.json"]).code(0);
    assert!(r.stdout.contains("Apply complete! 2 created, 0 updated, 0 replaced, 0 destroyed."), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    assert_eq!(block_on(client(&emu).list_drafts()).unwrap(), [], "validation and deploy drafts are deleted");
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["clickstream"]["remote"]["deployment_id"].as_str().unwrap();
    let d = serde_json::to_value(block_on(client(&emu).get_deployment(dep)).unwrap()).unwrap();
    let basic = &d["streamingResourceSetting"]["basicResourceSetting"];
    assert_eq!(basic["parallelism"], 4, "{d}");
    assert_eq!(basic["taskmanagerResourceSettingSpec"], serde_json::json!({"cpu": 2.0, "memory": "8Gi"}), "{d}");
    assert_eq!(d["flinkConf"]["execution.checkpointing.interval"], "60s", "{d}");
    assert_eq!(d["labels"]["managed-by"], "flinkform", "{d}");
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    // The saved plan was used up: applying it again is refused as stale.
    let r = run(&p, &emu, &["apply", "plan.json"]).code(1);
    assert!(r.stderr.contains("saved plan is stale"), "{}", r.stderr);

    // A parallelism edit is a hot update: the running job takes it, no stop, same job.
    let spec = p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 3");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("# orders will be updated in place (hot)"), "{}", r.stdout);
    assert!(r.stdout.contains("because: deployment.parallelism: 2 → 3"), "{}", r.stdout);
    let old_job = state_job(&p, "orders");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(!r.stdout.contains("stopping job"), "a hot update stops nothing: {}", r.stdout);
    assert!(r.stdout.contains(&format!("orders: hot-updating job {old_job} (HotUpdateJob)")), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete! 0 created, 1 updated"), "{}", r.stdout);
    assert_eq!(state_job(&p, "orders"), old_job, "the job id is kept");
    let job = block_on(client(&emu).job(&old_job)).unwrap();
    assert_eq!((job.state, job.parallelism), (JobState::Running, Some(3)), "the job runs with the new parallelism");
    // VVP runs a hot update asynchronously: apply waited for its result.
    let stats = emu.stats();
    let polled = stats["calls"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("GET /jobs/hot-updates/"));
    assert!(polled.map(|(_, n)| n.as_u64().unwrap()).sum::<u64>() >= 1, "GetHotUpdateJobResult asked: {stats}");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);

    // A resources edit is an update that restarts the job from its savepoint.
    let spec = p
        .read("pipelines/orders.toml")
        .replace("parallelism = 3", "parallelism = 3\ntaskmanager = { cpu = 1, memory = \"4Gi\" }");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("~ pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("because: deployment.taskmanager.memory: set to \"4Gi\""), "{}", r.stdout);
    assert!(
        r.stdout.contains("start from exactly that savepoint (reading resumes where the job stopped"),
        "{}",
        r.stdout
    );
    let old_job = state_job(&p, "orders");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains(&format!("orders: stopping job {old_job} (STOP_WITH_SAVEPOINT)")), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete! 0 created, 1 updated"), "{}", r.stdout);
    let job = block_on(client(&emu).job(&state_job(&p, "orders"))).unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.restore.as_ref().map(Restore::name), Some("FROM_SAVEPOINT"));
    assert_eq!(job.savepoint, Some(format!("sp-{old_job}")), "restored from the savepoint of the stopped job");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);

    // A protected pipeline is not destroyed.
    let spec = p
        .read("pipelines/clickstream.toml")
        .replace("name = \"clickstream\"", "name = \"clickstream\"\nprotect = true");
    p.write("pipelines/clickstream.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("will be updated in the state only (the job is not touched)"), "{}", r.stdout);
    let click_job = state_job(&p, "clickstream");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(!r.stdout.contains("stopping job"), "a protect-only change touches no job: {}", r.stdout);
    assert_eq!(state_job(&p, "clickstream"), click_job, "a protect-only change keeps the job");
    let job = block_on(client(&emu).job(&click_job)).unwrap();
    assert_eq!(job.state, JobState::Running);
    std::fs::rename(p.path().join("pipelines/clickstream.toml"), p.path().join("clickstream.toml.off")).unwrap();
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(r.stderr.contains("the plan cannot be applied") && r.stderr.contains("is protected"), "{}", r.stderr);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);

    // Removing a spec destroys its pipeline.
    std::fs::rename(p.path().join("clickstream.toml.off"), p.path().join("pipelines/clickstream.toml")).unwrap();
    std::fs::remove_file(p.path().join("pipelines/orders.toml")).unwrap();
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Apply complete! 0 created, 0 updated, 0 replaced, 1 destroyed."), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream"]);
    assert_eq!(p.run(&["state", "list"]).code(0).stdout, "clickstream\trunning\tpipelines/clickstream.toml\n");
    assert!(!p.read(".flinkform/state.json").contains(SK));
}

/// An update whose state the plan says is lost (the deduplication re-keyed) restarts
/// without state though the spec says stateful, and only with consent: an unreviewed
/// `apply --auto-approve` refuses it and touches no job; `--accept-state-loss` or the
/// saved plan carries it out, stopping without a savepoint and starting NONE.
#[test]
fn a_lost_state_restarts_without_state_and_only_with_consent() {
    let emu = Emulator::start(&[]);
    let p = TestProject::example();
    for name in ["clickstream", "orders", "orders_report", "shop_orders"] {
        std::fs::remove_file(p.path().join("pipelines").join(format!("{name}.toml"))).unwrap();
    }
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let rekey = |p: &TestProject, key: &str| {
        let spec = p.read("pipelines/payments.toml");
        let spec = spec.replace("dedupe = { key = [\"payment_id\"]", &format!("dedupe = {{ key = [\"{key}\"]"));
        let spec = spec.replace("dedupe = { key = [\"order_id\"]", &format!("dedupe = {{ key = [\"{key}\"]"));
        p.write("pipelines/payments.toml", &spec);
    };
    rekey(&p, "order_id");
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("because: state: lost (the deduplication's key or order changed"), "{}", r.stdout);
    assert!(r.stdout.contains("because: restart without state: start NONE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("because: data: resumes at consumer group `flinkform_payments`'s committed offsets"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 job restarts without state: payments."), "the summary says it: {}", r.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&run(&p, &emu, &["plan", "--format", "json"]).code(0).stdout).unwrap();
    let change = &json["pipelines"][0];
    assert_eq!(change["state"]["verdict"], "lost", "{change}");
    assert_eq!(change["data"]["start"], "group_offsets", "{change}");
    assert_eq!(change["data"]["group"], "flinkform_payments", "{change}");
    assert_eq!(json["classes"], serde_json::json!(["state-loss"]), "{json}");

    let job = state_job(&p, "payments");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(
        r.stderr.contains("the plan restarts payments without state")
            && r.stderr.contains("--accept-state-loss payments"),
        "{}",
        r.stderr
    );
    assert_eq!(state_job(&p, "payments"), job, "nothing was done");
    assert_eq!(block_on(client(&emu).job(&job)).unwrap().state, JobState::Running);
    run(&p, &emu, &["apply", "--auto-approve", "--accept-state-loss", "orders"]).code(1);

    let r = run(&p, &emu, &["apply", "--auto-approve", "--accept-state-loss", "payments"]).code(0);
    assert!(r.stdout.contains(&format!("payments: stopping job {job} (NONE)")), "{}", r.stdout);
    let new = block_on(client(&emu).job(&state_job(&p, "payments"))).unwrap();
    assert_eq!((&new.state, new.restore.as_ref().map(Restore::name)), (&JobState::Running, Some("NONE")), "{new:?}");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);

    // The reviewed plan is consent too: a saved plan carries the restart out as shown.
    rekey(&p, "payment_id");
    run(&p, &emu, &["plan", "-out", "plan.json"]).code(0);
    let job = state_job(&p, "payments");
    run(&p, &emu, &["apply", "plan.json"]).code(0);
    let new = block_on(client(&emu).job(&state_job(&p, "payments"))).unwrap();
    assert_ne!(new.id, job);
    assert_eq!(new.restore.as_ref().map(Restore::name), Some("NONE"), "{new:?}");
}

/// A copy of the example with `n` copies of the orders pipeline.
fn many(n: usize) -> TestProject {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml");
    for i in 0..n {
        p.write(
            &format!("pipelines/orders_{i:02}.toml"),
            &spec.replace("name = \"orders\"", &format!("name = \"orders_{i:02}\"")),
        );
    }
    p
}

#[test]
fn faults_converge_with_reruns_with_one_deployment_per_pipeline_and_no_draft_left() {
    let p = many(18); // 20 pipelines with the example's two
    let file = p.path().join("vvp-world.json");
    let world = ["--state-file", file.to_str().unwrap()];
    let emu = Emulator::start(&[
        world[0],
        world[1],
        "--seed",
        "11",
        "--fail-rate",
        "0.2",
        "--throttle-rate",
        "0.1",
        "--job-fail-rate",
        "0.2",
        "--deploy-delay",
        "50ms",
        "--start-delay",
        "50ms",
        "--stop-delay",
        "50ms",
    ]);
    // Answers lost after the effect are not retried blindly: the pipeline fails, and the
    // next run looks and goes on. Every run makes progress; a few runs converge.
    let mut runs = 0;
    loop {
        runs += 1;
        let r = run(&p, &emu, &["apply", "--auto-approve", "--parallelism", "8"]);
        if r.code == 0 {
            break;
        }
        assert!(r.stdout.contains("Apply failed for"), "{}\n{}", r.stdout, r.stderr);
        assert!(runs < 6, "not converged after {runs} runs:\n{}", r.stdout);
    }
    // What apply left is judged on the same world without faults: a plan against the
    // faults could meet injected errors on every retry of a call and fail for that alone.
    drop(emu);
    let emu = Emulator::start(&world);
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    let names = managed_deployments(&emu);
    let mut want: Vec<String> = (0..18).map(|i| format!("orders_{i:02}")).collect();
    want.extend(["clickstream".to_string(), "orders".to_string()]);
    want.sort();
    assert_eq!(names, want, "exactly one deployment per pipeline");
    let drafts = block_on(client(&emu).list_drafts()).unwrap();
    assert!(drafts.is_empty(), "no draft left behind: {:?}", drafts.iter().map(|d| &d.name).collect::<Vec<_>>());
    let list = p.run(&["state", "list"]).code(0).stdout;
    assert_eq!(list.lines().filter(|l| l.contains("\trunning\t")).count(), 20, "{list}");
}

/// Runs `cmd`, sends `signal` (via kill(1)) when a line of its output contains
/// `trigger`, and returns its exit code (`None` when killed by the signal).
pub(crate) fn interrupt_at(mut cmd: std::process::Command, trigger: &str, signal: &str) -> Option<i32> {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(trigger) {
            std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
            break;
        }
    }
    assert!(seen.contains(trigger), "never reached `{trigger}`:\n{seen}");
    child.wait().unwrap().code()
}

/// Kills `apply` with SIGKILL when it prints `trigger`, then applies again.
fn kill_at(trigger: &str) {
    let emu = Emulator::start(&["--deploy-delay", "600ms", "--start-delay", "600ms"]);
    let p = TestProject::two_pipelines();
    let e = env(&emu);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let code = interrupt_at(p.command(&["apply", "--auto-approve", "--parallelism", "1"], &pairs), trigger, "-KILL");
    assert_eq!(code, None, "killed");
    let deltas = p.path().join(".flinkform/state.json.deltas");
    assert!(deltas.is_file(), "the killed apply's journal writes are deltas beside the base");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Apply complete!"), "{}", r.stdout);
    assert!(r.stdout.contains("resumes at step") || r.stdout.contains("created"), "{}", r.stdout);
    assert!(!deltas.exists(), "folded into the base once the apply is done");
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"], "after a kill at `{trigger}`");
    assert_eq!(block_on(client(&emu).list_drafts()).unwrap(), [], "no draft left after a kill at `{trigger}`");
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

#[test]
fn kill_after_draft() {
    kill_at("deploying draft");
}

#[test]
fn kill_after_deploy_ticket() {
    kill_at("deployed to");
}

#[test]
fn kill_after_start() {
    kill_at("starting the job");
}

#[test]
fn two_projects_in_one_namespace_never_adopt_each_other_s_deployments() {
    let emu = Emulator::start(&[]);
    let a = TestProject::two_pipelines();
    run(&a, &emu, &["apply", "--auto-approve"]).code(0);
    let jobs = (state_job(&a, "orders"), state_job(&a, "clickstream"));
    let b = TestProject::two_pipelines();
    let config = b.read("flinkform.toml").replace("project = \"flinkform-example\"", "project = \"other-project\"");
    b.write("flinkform.toml", &config);
    let r = run(&b, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(r.stdout.contains("was not made by this flinkform project"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply failed for 2 pipelines: "), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"], "no second deployment");
    assert_eq!((state_job(&a, "orders"), state_job(&a, "clickstream")), jobs);
    for job in [&jobs.0, &jobs.1] {
        assert_eq!(
            block_on(client(&emu).job(job)).unwrap().state,
            JobState::Running,
            "the first project's jobs run on"
        );
    }
    run(&a, &emu, &["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn verify_catches_a_job_that_crashes_after_it_started() {
    // Every deployment's first job goes RUNNING, then fails after 1 s.
    let flags = ["--job-fail-rate", "1", "--job-crash-after", "1s", "--start-delay", "100ms"];
    let emu = Emulator::start(&flags);
    let p = TestProject::two_pipelines();
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Apply complete! 2 created"), "unwatched, the crash goes unseen: {}", r.stdout);

    let emu = Emulator::start(&flags);
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace("[deployment]", "[deployment]\nverify = \"3s\"");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(r.stdout.contains("orders: verifying: job"), "{}", r.stdout);
    assert!(r.stdout.contains("failed within the 3s verify window: JobFailed"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply failed for 1 pipeline: "), "{}", r.stdout);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(state["pipelines"]["orders"]["status"], "failed");
    // A repair starts a second job, which runs, and passes the window (clickstream's
    // first job crashed too, unwatched: the refresh saw it and repairs it as well).
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("2 repaired"), "{}", r.stdout);
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn an_update_whose_job_fails_is_rolled_back_when_asked() {
    let emu = Emulator::start(&["--fail-jobs-of-sql-with", "crash-me"]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let old_job = state_job(&p, "orders");
    let old_sql = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap().sql.unwrap();
    // A change whose job fails at run time, with rollback asked for.
    let spec = p
        .read("pipelines/orders.toml")
        .replace("[source]", "[source]\ngroup_id = \"crash-me\"")
        .replace("[deployment]", "[deployment]\non_failure = \"rollback\"");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("the previous revision is deployed again"), "{}", r.stdout);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(r.stdout.contains("rolled back: the previous revision runs again"), "{}", r.stdout);
    let d = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap();
    assert_eq!(d.sql.as_deref(), Some(old_sql.as_str()), "the previous SQL runs again");
    let job = block_on(client(&emu).job(&state_job(&p, "orders"))).unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.savepoint, Some(format!("sp-{old_job}")), "from the state before the update");
    let h = run(&p, &emu, &["history", "orders"]).code(0).stdout;
    assert!(h.lines().any(|l| cells(l).get(2) == Some(&"rollback")), "{h}");
    let j: serde_json::Value =
        serde_json::from_str(&run(&p, &emu, &["history", "orders", "--format", "json"]).code(0).stdout).unwrap();
    let rows = j.as_array().unwrap();
    assert!(rows.iter().all(|r| r["serial"].is_u64()), "serials are numbers: {j}");
    assert!(rows.iter().any(|r| r["action"] == "rollback"), "{j}");
    // The spec still asks for the change: the plan shows it again.
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("~ pipeline \"orders\""), "{}", r.stdout);
}

#[test]
fn apply_without_credentials_names_the_variables() {
    let p = TestProject::two_pipelines();
    let r = p
        .run_with(
            &["apply", "--auto-approve"],
            &[("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")],
        )
        .code(1);
    assert!(r.stderr.contains("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"), "{}", r.stderr);
    let r = p.run(&["apply"]).code(1);
    assert!(r.stderr.contains("pass --auto-approve"), "{}", r.stderr);
}

#[test]
fn refresh_reports_missing_variables_drift_and_stopped_jobs() {
    let emu = Emulator::bare(&["--variables", "holo_user"]);
    let p = TestProject::two_pipelines();
    let r = run(&p, &emu, &["plan"]).code(1);
    assert!(
        r.stdout
            .contains("references ${secret_values.holo_password}, but the namespace has no variable `holo_password`"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("VVP was not refreshed"), "{}", r.stdout);
    assert!(r.stdout.contains("`holo_password`: create it in VVP"), "no near name: {}", r.stdout);
    // A variable of a near name is offered.
    let near = Emulator::bare(&["--variables", "holo_user,holo_passwrd"]);
    let r = run(&p, &near, &["plan"]).code(1);
    assert!(r.stdout.contains("did you mean `holo_passwrd`? else create it in VVP"), "{}", r.stdout);
    let offline = p.run_with(&["plan"], &[("ALIBABA_CLOUD_ACCESS_KEY_ID", "")]).code(0);
    assert!(offline.stdout.contains("VVP was not refreshed"), "{}", offline.stdout);

    let emu = Emulator::start(&[]);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let c = client(&emu);
    // A job stopped outside flinkform is repaired.
    block_on(c.stop(&state_job(&p, "orders"), vvp_api::Stop::Now)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("! pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("on VVP the job is CANCELLED"), "{}", r.stdout);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("1 repaired"), "{}", r.stdout);
    // A parallelism changed in the console is drift, and apply sets it back.
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap().to_string();
    let mut d = block_on(c.get_deployment(&dep)).unwrap();
    let basic = d.streaming_resource_setting.as_mut().unwrap().basic_resource_setting.as_mut().unwrap();
    basic.parallelism = Some(8);
    block_on(c.update_deployment(&dep, &d)).unwrap();
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("was edited outside flinkform: parallelism is 8 on VVP, 2 when applied"), "{}", r.stdout);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let d = block_on(c.get_deployment(&dep)).unwrap();
    assert_eq!(d.streaming_resource_setting.unwrap().basic_resource_setting.unwrap().parallelism, Some(2));
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    // Labels edited in the console are drift too, and apply sets them back.
    let mut d = block_on(c.get_deployment(&dep)).unwrap();
    d.labels.as_mut().unwrap().remove("flinkform-project");
    block_on(c.update_deployment(&dep, &d)).unwrap();
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("its labels no longer name it this project's pipeline"), "{}", r.stdout);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let labels = block_on(c.get_deployment(&dep)).unwrap().labels.unwrap();
    assert_eq!(labels.get("flinkform-project").map(String::as_str), Some("flinkform-example"));
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    // A deployment deleted outside flinkform is created again.
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap().to_string();
    block_on(c.stop(&state_job(&p, "orders"), vvp_api::Stop::Now)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    block_on(c.delete_deployment(&dep)).unwrap();
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains(&format!("deployment {dep} is gone from VVP")), "{}", r.stdout);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
}

/// The calls the emulator received since `before` (its stats then), by operation.
fn calls_since(emu: &Emulator, before: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    let now = emu.stats();
    let count = |v: &serde_json::Value, op: &str| v["calls"][op].as_u64().unwrap_or(0);
    let ops = now["calls"].as_object().unwrap().keys();
    ops.map(|op| (op.clone(), count(&now, op) - count(before, op))).filter(|(_, n)| *n > 0).collect()
}

#[test]
fn a_plan_refreshes_by_listing_and_asks_alone_only_where_the_listing_leaves_doubt() {
    let emu = Emulator::start(&["--deploy-delay", "0s", "--start-delay", "0s", "--stop-delay", "0s"]);
    // 103 pipelines: two pages of the deployment listing.
    let p = many(101);
    run(&p, &emu, &["apply", "--auto-approve", "--parallelism", "50"]).code(0);
    let listing = |calls: &std::collections::BTreeMap<String, u64>| {
        calls.iter().map(|(op, n)| format!("{op} ×{n}")).collect::<Vec<_>>().join(", ")
    };
    let before = emu.stats();
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    let calls = calls_since(&emu, &before);
    let expected: std::collections::BTreeMap<String, u64> =
        [("GET /deployments".to_string(), 2), ("GET /variables".to_string(), 1)].into();
    assert_eq!(calls, expected, "a plan of 103 running pipelines: {}", listing(&calls));

    // A job stopped outside flinkform: its deployment's job counts decide it (every job
    // stopped), so it costs no call of its own, and the plan repairs it.
    let c = client(&emu);
    block_on(c.stop(&state_job(&p, "orders_07"), vvp_api::Stop::Now)).unwrap();
    // A second job started beside another pipeline's: two live jobs leave the counts
    // undecided, and that pipeline alone is asked about (its recorded job, still live).
    let dep = state_deployment(&p, "orders_42");
    block_on(c.start(&dep, &Restore::None, "default-queue")).unwrap();
    while block_on(c.jobs(&dep)).unwrap().iter().any(|j| j.status.current_job_status == "STARTING") {}
    let before = emu.stats();
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("! pipeline \"orders_07\""), "{}", r.stdout);
    assert!(r.stdout.contains("on VVP the job is CANCELLED"), "{}", r.stdout);
    assert!(!r.stdout.contains("pipeline \"orders_42\""), "its recorded job still runs: {}", r.stdout);
    let calls = calls_since(&emu, &before);
    let expected: std::collections::BTreeMap<String, u64> =
        [("GET /deployments".to_string(), 2), ("GET /jobs/{id}".to_string(), 1), ("GET /variables".to_string(), 1)]
            .into();
    assert_eq!(calls, expected, "{}", listing(&calls));
}

#[test]
fn a_stopped_pipeline_stays_stopped_and_destroy_honours_protect_in_the_spec() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0);
    let spec = p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 4");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("the job stays stopped"), "{}", r.stdout);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("orders: deployed; the job stays stopped"), "{}", r.stdout);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(state["pipelines"]["orders"]["status"], "stopped");
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap();
    assert_eq!(block_on(client(&emu).live_job(dep)).unwrap(), None, "no job was started");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);

    // `protect = true` written in the spec, not yet applied, already stops a destroy.
    let spec = p
        .read("pipelines/clickstream.toml")
        .replace("name = \"clickstream\"", "name = \"clickstream\"\nprotect = true");
    p.write("pipelines/clickstream.toml", &spec);
    let r = run(&p, &emu, &["destroy", "--auto-approve"]).code(1);
    assert!(
        r.stderr.contains("`clickstream` is protected (protect = true in pipelines/clickstream.toml)"),
        "{}",
        r.stderr
    );
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    // Named pipelines go; the protected one stays.
    let r = run(&p, &emu, &["destroy", "nope", "--auto-approve"]).code(1);
    assert!(r.stderr.contains("destroy nope: the state has no pipeline `nope`"), "{}", r.stderr);
    let r = run(&p, &emu, &["destroy", "orders", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Destroy complete! 1 destroyed."), "{}", r.stdout);
    assert!(!r.stdout.contains("Apply complete") && !r.stdout.contains("VVP was not refreshed"), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream"]);
    assert!(p.run(&["state", "list"]).code(0).stdout.starts_with("clickstream\t"), "orders is forgotten");
}

#[test]
fn a_stateful_update_never_restores_a_savepoint_older_than_the_job_s_state() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let first = state_job(&p, "orders");
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0); // takes sp-<first>
    run(&p, &emu, &["start", "orders", "--restore", "latest-savepoint"]).code(0);
    let second = state_job(&p, "orders");
    // The second job stops outside flinkform without a savepoint: its checkpoint is
    // newer than the first job's savepoint.
    block_on(client(&emu).stop(&second, vvp_api::Stop::Now)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let spec = p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 4");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("no job was running: the job starts from its latest state"), "{}", r.stdout);
    let job = block_on(client(&emu).job(&state_job(&p, "orders"))).unwrap();
    assert_eq!(job.restore, Some(Restore::LatestState));
    assert_eq!(job.savepoint, Some(format!("cp-{second}")), "not sp-{first}: that would replay the second job's input");
}

#[test]
fn status_stop_start_destroy_and_import() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let s = run(&p, &emu, &["status"]).code(0).stdout;
    assert_eq!(s.lines().filter(|l| cells(l)[3..] == ["RUNNING", "running"]).count(), 2, "{s}");

    let old_job = state_job(&p, "orders");
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0);
    let s = run(&p, &emu, &["status", "orders"]).code(0).stdout;
    assert!(s.lines().any(|l| cells(l)[3..] == ["CANCELLED", "stopped"]), "{s}");
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "a stopped pipeline stays stopped: {}", r.stdout);
    run(&p, &emu, &["start", "orders", "--restore", "latest-savepoint"]).code(0);
    let job = block_on(client(&emu).job(&state_job(&p, "orders"))).unwrap();
    assert_eq!((job.state, job.savepoint), (JobState::Running, Some(format!("sp-{old_job}"))));
    // As `stop` of a stopped job: nothing to do, said, exit 0.
    let r = run(&p, &emu, &["start", "orders"]).code(0);
    assert!(r.stdout.contains("orders: already running (job "), "{}", r.stdout);

    let r = run(&p, &emu, &["destroy", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Destroy complete! 2 destroyed."), "{}", r.stdout);
    assert!(managed_deployments(&emu).is_empty());
    assert_eq!(p.run(&["state", "list"]).code(0).stdout, "");

    // A deployment made outside flinkform is adopted with import, then brought to the spec.
    let c = client(&emu);
    let draft =
        block_on(c.create_sql_draft("orders", "INSERT INTO x SELECT 1;", "vvr-8.0.11-flink-1.17", None)).unwrap();
    let ticket = block_on(c.deploy(&draft, "default-queue")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let vvp_api::TicketState::Deployed(dep) = block_on(c.ticket(&ticket)).unwrap() else { panic!("not deployed") };
    run(&p, &emu, &["import", "orders", &dep]).code(0);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("~ pipeline \"orders\""), "{}", r.stdout);
    assert!(r.stdout.contains("-INSERT INTO x SELECT 1;"), "{}", r.stdout);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    let s = run(&p, &emu, &["status", "orders"]).code(0).stdout;
    assert!(
        s.lines().any(|l| cells(l)[..2] == ["orders", dep.as_str()] && cells(l)[3..] == ["RUNNING", "running"]),
        "{s}"
    );
}

#[test]
fn ctrl_c_finishes_the_step_records_it_and_exits_130() {
    let emu = Emulator::start(&["--deploy-delay", "800ms", "--start-delay", "800ms"]);
    let p = TestProject::two_pipelines();
    let e = env(&emu);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let code = interrupt_at(p.command(&["apply", "--auto-approve"], &pairs), "deploying draft", "-INT");
    assert_eq!(code, Some(130));
    let state = p.read(".flinkform/state.json");
    assert!(state.contains("\"pending\""), "the interrupted step is journaled");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("resumes at step"), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
}

/// The example with its state in a fresh PostgreSQL schema.
pub(crate) fn on_postgres(schema: &crate::state::TempSchema) -> TestProject {
    let p = TestProject::two_pipelines();
    let cfg = p.read("flinkform.toml").replace(
        "backend = \"local\"\npath = \".flinkform/state.json\"",
        &format!("backend = \"postgres\"\ndsn_env = \"TEST_STATE_DSN\"\nschema = \"{}\"", schema.0),
    );
    p.write("flinkform.toml", &cfg);
    p
}

pub(crate) fn run_pg(p: &TestProject, emu: &Emulator, args: &[&str]) -> Run {
    let mut e = env(emu);
    e.push(("TEST_STATE_DSN", crate::state::pg_dsn()));
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run_with(args, &pairs)
}

#[test]
fn postgres_state_backend_runs_the_whole_flow_and_a_killed_apply_releases_the_lock() {
    let schema = crate::state::TempSchema::default();
    let emu = Emulator::start(&["--deploy-delay", "500ms", "--start-delay", "500ms"]);
    let p = on_postgres(&schema);
    let r = p.run(&["plan"]).code(1);
    assert!(r.stderr.contains("needs a connection string in TEST_STATE_DSN"), "{}", r.stderr);

    // kill -9 in the middle of an apply: its lock goes with its connection.
    let mut e = env(&emu);
    e.push(("TEST_STATE_DSN", crate::state::pg_dsn()));
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(interrupt_at(p.command(&["apply", "--auto-approve"], &pairs), "deploying draft", "-KILL"), None);
    let r = run_pg(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Apply complete!"), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    run_pg(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);

    // An update, then the history and the tables people query.
    let spec = p
        .read("pipelines/orders.toml")
        .replace("parallelism = 2", "parallelism = 2\ntaskmanager = { cpu = 1, memory = \"4Gi\" }");
    p.write("pipelines/orders.toml", &spec);
    run_pg(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let h = run_pg(&p, &emu, &["history", "orders"]).code(0).stdout;
    assert_eq!(h.lines().filter(|l| matches!(cells(l).get(2), Some(&"create" | &"update"))).count(), 2, "{h}");
    assert_eq!(schema.sql(&["SELECT count(*) FROM revisions WHERE name = 'orders'"]), ["2"]);
    assert_eq!(schema.sql(&["SELECT status FROM pipelines WHERE name = 'orders'"]), ["running"]);
    assert_eq!(
        schema.sql(&["SELECT string_agg(status, ',' ORDER BY created_ms) FROM jobs WHERE name = 'orders'"]),
        ["stopped,running"],
        "both jobs' lifecycles: the one the update stopped, and its successor"
    );

    // The state moves to a local file and back without loss.
    let r = run_pg(&p, &emu, &["state", "migrate", "--from", "postgres", "--to", "local"]).code(0);
    assert!(r.stdout.contains("2 pipelines"), "{}", r.stdout);
    let local: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(local["pipelines"]["orders"]["status"], "running");
    let r = run_pg(&p, &emu, &["state", "migrate", "--from", "local", "--to", "postgres"]).code(1);
    assert!(r.stderr.contains("already holds a state"), "{}", r.stderr);

    // Destroy through the postgres backend too.
    std::fs::remove_file(p.path().join("pipelines/clickstream.toml")).unwrap();
    let r = run_pg(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("1 destroyed"), "{}", r.stdout);
    assert_eq!(schema.sql(&["SELECT string_agg(name, ',') FROM pipelines"]), ["orders"]);
    assert_eq!(
        schema.sql(&["SELECT string_agg(DISTINCT status, ',') FROM jobs WHERE name = 'clickstream'"]),
        ["destroyed"]
    );

    // And a local state moves into an empty schema.
    let fresh = crate::state::TempSchema::default();
    let cfg = p.read("flinkform.toml").replace(&schema.0, &fresh.0);
    p.write("flinkform.toml", &cfg);
    let r = run_pg(&p, &emu, &["state", "migrate", "--from", "local", "--to", "postgres"]).code(0);
    assert!(r.stdout.contains("Moved the state"), "{}", r.stdout);
    assert_eq!(fresh.sql(&["SELECT count(*) FROM state_head"]), ["1"]);
}

#[test]
fn sink_ddl_creates_evolves_and_reports_contract_mismatches() {
    let sink = crate::state::TempSchema::default();
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace(
        "table = \"public.orders\"",
        &format!("table = \"{}.orders\"\ndialect = \"postgres\"\ndsn_env = \"TEST_SINK_DSN\"", sink.0),
    );
    p.write("pipelines/orders.toml", &spec);
    let mut e = env(&emu);
    // A password the machine's PostgreSQL never asks for (trust): a canary for the sink DSN.
    const PW: &str = "sink-dsn-canary-5e1d";
    e.push(("TEST_SINK_DSN", format!("{} password={PW}", crate::state::pg_dsn())));
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |args: &[&str]| {
        let r = p.run_with(&[&["-vv"], args].concat(), &pairs);
        assert!(!r.stdout.contains(PW) && !r.stderr.contains(PW), "the sink DSN's password leaked");
        r
    };

    // Without the DSN the plan says so, and apply refuses before touching anything.
    let without: Vec<(&str, &str)> = pairs.iter().filter(|(k, _)| *k != "TEST_SINK_DSN").copied().collect();
    let r = p.run_with(&["plan"], &without).code(1);
    assert!(r.stdout.contains("dsn_env = \"TEST_SINK_DSN\", but TEST_SINK_DSN is not set"), "{}", r.stdout);
    let r = p.run_with(&["apply", "--auto-approve"], &without).code(1);
    assert!(r.stderr.contains("the plan cannot be applied"), "{}", r.stderr);
    assert!(managed_deployments(&emu).is_empty(), "nothing was deployed");

    let r = run(&["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains(&format!("orders: running the sink DDL on {}.orders", sink.0)), "{}", r.stdout);
    let columns = || {
        sink.sql(&["SELECT string_agg(column_name || ':' || udt_name || ':' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'orders'"])
    };
    assert!(
        columns()[0].starts_with("order_id:text:NO,user:jsonb:YES,items:jsonb:YES,total:float8:YES"),
        "{:?}",
        columns()
    );
    run(&["plan", "--detailed-exitcode"]).code(0);

    // A new field: the plan adds a nullable column, apply runs it before redeploying.
    let sample = p.read("samples/orders.jsonl").replacen(
        "\"currency\": \"CNY\"",
        "\"currency\": \"CNY\", \"channel\": \"app\"",
        2,
    );
    p.write("samples/orders.jsonl", &sample);
    let r = run(&["plan"]).code(0);
    assert!(
        r.stdout.contains(&format!("ALTER TABLE \"{}\".\"orders\" ADD COLUMN \"channel\" text;", sink.0)),
        "{}",
        r.stdout
    );
    run(&["apply", "--auto-approve"]).code(0);
    assert!(columns()[0].ends_with("channel:text:YES"), "{:?}", columns());

    // A table altered by hand no longer takes what the job writes: reported before apply.
    sink.sql(&["ALTER TABLE orders ALTER COLUMN total TYPE text", "ALTER TABLE orders ADD COLUMN audit text NOT NULL"]);
    let r = run(&["plan"]).code(1);
    assert!(
        r.stdout.contains("contract mismatch: live column \"total\" is text, but the job writes float8 (DOUBLE)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("contract mismatch: live column \"audit\" is NOT NULL without a default"),
        "{}",
        r.stdout
    );
    let r = run(&["apply", "--auto-approve"]).code(1);
    assert!(r.stderr.contains("the plan cannot be applied"), "{}", r.stderr);
    for file in [".flinkform/state.json", ".flinkform/state.json.backup"] {
        assert!(!p.read(file).contains(PW), "the sink DSN's password is in {file}");
    }
}

#[test]
fn fixed_hologres_properties_and_type_changes_are_plan_errors() {
    let p = TestProject::two_pipelines();
    p.record();
    let spec = p.read("pipelines/orders.toml").replace("[sink]", "[sink]\norientation = \"row\"");
    p.write("pipelines/orders.toml", &spec);
    let r = p.run(&["plan"]).code(1);
    assert!(
        r.stdout.contains("[sink] orientation changes (column → row), but Hologres fixes it when the table is created"),
        "{}",
        r.stdout
    );
    let spec = spec
        .replace("orientation = \"row\"\n", "")
        .replace("[schema]", "[schema]\ncolumns.total = { type = \"STRING\" }");
    p.write("pipelines/orders.toml", &spec);
    let r = p.run(&["plan"]).code(1);
    assert!(
        r.stdout.contains("column \"total\" of \"public\".\"orders\" would change type (float8 → text)"),
        "{}",
        r.stdout
    );
    let fresh = TestProject::two_pipelines().run(&["plan"]).code(0).stdout;
    assert!(
        fresh.contains("note: flinkform does not run the sink DDL of `orders` ([sink] dsn_env is not set)"),
        "{fresh}"
    );
}

#[test]
fn old_hologres_versions_get_set_table_property_in_the_creating_transaction() {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace("[sink]", "[sink]\nhologres_version = \"1.3\"");
    p.write("pipelines/orders.toml", &spec);
    let ddl = p.run(&["render", "orders", "--ddl"]).code(0).stdout;
    insta::assert_snapshot!(ddl);
}

#[test]
fn a_lost_state_adopts_our_deployments_and_brings_them_to_the_plan() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let old_job = state_job(&p, "orders");
    std::fs::remove_file(p.path().join(".flinkform/state.json")).unwrap();
    let spec = p.read("pipelines/orders.toml").replace("watermark_delay = \"5s\"", "watermark_delay = \"10s\"");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("orders: adopting deployment"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("orders: stopping job {old_job} (STOP_WITH_SAVEPOINT)")), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"], "adopted, not duplicated");
    let c = client(&emu);
    let job = block_on(c.job(&state_job(&p, "orders"))).unwrap();
    assert_eq!((job.state, job.restore.as_ref().map(Restore::name)), (JobState::Running, Some("FROM_SAVEPOINT")));
    assert_eq!(job.savepoint, Some(format!("sp-{old_job}")), "the savepoint of the adopted job's stop");
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap();
    let sql = block_on(c.find_deployment("orders")).unwrap().unwrap().sql.unwrap();
    assert!(sql.contains("INTERVAL '10' SECOND"), "the adopted deployment runs the planned SQL ({dep})");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
}

/// What `apply --auto-approve` of the example prints on a pseudo-terminal (util-linux
/// `script`).
fn apply_on_a_terminal(emu: &Emulator) -> String {
    let p = TestProject::two_pipelines();
    let cmd = format!("{} -C {} apply --auto-approve", env!("CARGO_BIN_EXE_flinkform"), p.path().display());
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &cmd, "/dev/null"]).env_remove("NO_COLOR");
    for (k, v) in env(emu) {
        script.env(k, v);
    }
    let out = script.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn on_a_terminal_apply_redraws_a_live_board() {
    let text = apply_on_a_terminal(&Emulator::start(&[]));
    assert!(text.contains("\x1b[1A\x1b[2K"), "redrawn in place: {text:?}");
    assert!(text.contains("orders: RUNNING") && text.contains("clickstream: RUNNING"), "{text:?}");
    assert!(text.contains("Apply complete! 2 created"), "{text:?}");
}

#[test]
fn on_a_terminal_a_slow_step_shows_how_long_it_has_taken() {
    let text = apply_on_a_terminal(&Emulator::start(&["--start-delay", "2500ms"]));
    assert!(
        text.contains("s)\r\n") && (text.contains(" (1s)") || text.contains(" (2s)")),
        "the step's seconds tick: {text:?}"
    );
}

#[test]
fn a_deployment_with_more_than_a_page_of_jobs_has_its_live_job_found_and_stopped() {
    let emu = Emulator::start(&["--start-delay", "0s", "--stop-delay", "0s"]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap().to_string();
    let c = client(&emu);
    // 105 restarts behind flinkform's back: 106 jobs, more than one page of ListJobs.
    block_on(async {
        for _ in 0..105 {
            let live = c.live_job(&dep).await.unwrap().expect("a live job");
            c.stop(&live.id, vvp_api::Stop::Now).await.unwrap();
            while c.live_job(&dep).await.unwrap().is_some() {}
            c.start(&dep, &vvp_api::Restore::None, "default-queue").await.unwrap();
        }
    });
    let jobs = block_on(c.jobs(&dep)).unwrap();
    let mut ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 106, "every page is read");
    run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    run(&p, &emu, &["stop", "orders"]).code(0);
    let jobs = block_on(c.jobs(&dep)).unwrap();
    let live: Vec<&str> =
        jobs.iter().map(|j| j.status.current_job_status.as_str()).filter(|s| *s != "CANCELLED").collect();
    assert_eq!(live, Vec::<&str>::new(), "the live job was found among 106 and stopped");
}

#[test]
fn the_emulator_s_world_survives_its_restart_with_a_state_file() {
    let p = TestProject::two_pipelines();
    let file = p.path().join("vvp-world.json");
    let args = ["--state-file", file.to_str().unwrap()];
    let emu = Emulator::start(&args);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let jobs = (state_job(&p, "orders"), state_job(&p, "clickstream"));
    drop(emu);
    // Restarted on another port from the same file: the same deployments and running jobs.
    let emu = Emulator::start(&args);
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    for job in [jobs.0, jobs.1] {
        assert_eq!(block_on(client(&emu).job(&job)).unwrap().state, JobState::Running, "{job}");
    }
    // And a fresh emulator without the file knows none of it.
    let fresh = Emulator::start(&[]);
    assert_eq!(managed_deployments(&fresh), Vec::<String>::new());
}
