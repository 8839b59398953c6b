//! Apply restarts nothing it need not, for real against `vvp-emulator`: applies
//! interrupted (SIGINT) or killed (SIGKILL) at a step and run again as a user would;
//! drift put back in place; `state mv`, `state rm`, `import` and `start
//! --deployment-id` settling in one step. What ran is read from the emulator: every
//! job of the deployment, with the state it restored.

use vvp_api::Vvp;

use crate::apply::{block_on, client, env, interrupt_at, run, state_deployment, state_job};
use crate::common::TestProject;
use crate::vvp::Emulator;

/// A job as the emulator shows it: id, status, and the savepoint or checkpoint it restored.
#[derive(Debug, PartialEq, Eq)]
struct Ran {
    id: String,
    status: String,
    restored: Option<String>,
}

/// Every job of the deployment called `name`, oldest first.
fn jobs(emu: &Emulator, name: &str) -> Vec<Ran> {
    let c = client(emu);
    let dep = block_on(c.find_deployment(name)).unwrap().expect("the deployment exists");
    let mut jobs: Vec<Ran> = block_on(c.jobs(&dep.id))
        .unwrap()
        .into_iter()
        .map(|j| Ran {
            id: j.job_id,
            status: j.status.current_job_status,
            restored: j.restore_strategy.and_then(|r| r.savepoint_id),
        })
        .collect();
    // The emulator's ids end in its sequence number (hex): their order is the order
    // the jobs started in.
    jobs.sort_by_key(|j| j.id.rsplit('-').next().and_then(|n| u64::from_str_radix(n, 16).ok()));
    jobs
}

/// Runs `apply` in `p` and interrupts it with `signal` when it prints `trigger`.
fn interrupted_apply(p: &TestProject, emu: &Emulator, trigger: &str, signal: &str) {
    let e = env(emu);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let code = interrupt_at(p.command(&["apply", "--auto-approve"], &pairs), trigger, signal);
    match signal {
        "-INT" => assert_eq!(code, Some(130), "ctrl-c exits 130"),
        _ => assert_eq!(code, None, "killed"),
    }
}

/// Sets `key = value` in the `[deployment]` section of `orders`.
fn orders_deployment(p: &TestProject, line: &str) {
    let spec = p.read("pipelines/orders.toml").replace("[deployment]", &format!("[deployment]\n{line}"));
    p.write("pipelines/orders.toml", &spec);
}

/// Changes what `orders` runs (its SQL), not what it reads.
fn new_sql(p: &TestProject) {
    let spec = p.read("pipelines/orders.toml").replace("[source]", "[source]\ngroup_id = \"orders-v2\"");
    p.write("pipelines/orders.toml", &spec);
}

fn clean(p: &TestProject, emu: &Emulator) {
    let r = run(p, emu, &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

/// A stateful update interrupted in its verify window, after its new job ran from the
/// savepoint the update's stop took: the re-run keeps that job. (It used to stop it and
/// start a third job from the savepoint taken before the update, processing every
/// record the new job had processed again.)
fn update_interrupted_in_its_verify_window(signal: &str) {
    let emu = Emulator::start(&["--start-delay", "300ms"]);
    let p = TestProject::two_pipelines();
    orders_deployment(&p, "verify = \"3s\"");
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let first = state_job(&p, "orders");
    new_sql(&p);
    interrupted_apply(&p, &emu, "verifying: job", signal);
    let ran = jobs(&emu, "orders");
    assert_eq!(ran.len(), 2, "{ran:?}");
    let second = &ran[1];
    assert_eq!(second.restored, Some(format!("sp-{first}")), "the update's job started from its stop's savepoint");

    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("kept (no stop, no new job)"), "the plan says what apply does:\n{}", r.stdout);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("kept, not started again"), "{}", r.stdout);
    let ran = jobs(&emu, "orders");
    assert_eq!(ran.len(), 2, "no job after the update's own: {ran:?}");
    assert_eq!(ran[1].status, "RUNNING");
    assert_eq!(state_job(&p, "orders"), second.id, "the running job is recorded");
    clean(&p, &emu);
}

#[test]
fn a_stateful_update_interrupted_by_ctrl_c_in_its_verify_window_keeps_its_new_job() {
    update_interrupted_in_its_verify_window("-INT");
}

#[test]
fn a_stateful_update_killed_in_its_verify_window_keeps_its_new_job() {
    update_interrupted_in_its_verify_window("-KILL");
}

/// `flinkform stop`, then an update killed while its draft deploys: the re-run deploys
/// and leaves the job stopped. (It used to start it and record it running.)
#[test]
fn a_stopped_pipeline_whose_update_is_killed_while_deploying_stays_stopped() {
    let emu = Emulator::start(&["--deploy-delay", "600ms"]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0);
    new_sql(&p);
    interrupted_apply(&p, &emu, "deploying draft", "-KILL");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("the job stays stopped"), "{}", r.stdout);
    let ran = jobs(&emu, "orders");
    assert_eq!(ran.len(), 1, "no job started: {ran:?}");
    assert_ne!(ran[0].status, "RUNNING");
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(state["pipelines"]["orders"]["status"], "stopped");
    assert_eq!(state["pipelines"]["orders"]["intent"], "stopped");
    clean(&p, &emu);
}

/// A replace killed after its new deployment's job ran: the re-run keeps that
/// deployment and its job. (It used to delete it and create another, restarting
/// without state a second time.)
#[test]
fn a_replace_killed_after_its_new_job_ran_is_not_done_twice() {
    let emu = Emulator::start(&["--start-delay", "300ms"]);
    let p = TestProject::two_pipelines();
    orders_deployment(&p, "verify = \"3s\"");
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let old = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap().id;
    let spec = p.read("pipelines/orders.toml").replace("topic = \"orders\"", "topic = \"orders_v2\"");
    p.write("pipelines/orders.toml", &spec);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("-/+ pipeline \"orders\""), "{}", r.stdout);
    interrupted_apply(&p, &emu, "verifying: job", "-KILL");
    let made = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap().id;
    assert_ne!(made, old, "the replace made a new deployment");
    let job = jobs(&emu, "orders").pop().unwrap();

    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains(&format!("adopting deployment {made}")), "{}", r.stdout);
    assert_eq!(block_on(client(&emu).find_deployment("orders")).unwrap().unwrap().id, made, "the same deployment");
    let ran = jobs(&emu, "orders");
    assert_eq!(ran.len(), 1, "its one job, kept: {ran:?}");
    assert_eq!(ran[0].id, job.id);
    assert_eq!(ran[0].status, "RUNNING");
    clean(&p, &emu);
}

/// A stateful pipeline stopped with a savepoint, forgotten by `state rm`: apply adopts
/// its own deployment and starts the job from that savepoint. (It used to start it
/// without state.)
#[test]
fn adoption_after_state_rm_starts_from_the_latest_state() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let first = state_job(&p, "orders");
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0);
    run(&p, &emu, &["state", "rm", "orders"]).code(0);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("adopting deployment"), "{}", r.stdout);
    let ran = jobs(&emu, "orders");
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(ran[1].restored, Some(format!("sp-{first}")), "the job starts from the savepoint its stop took");
    clean(&p, &emu);
}

/// Parallelism and the checkpoint interval changed on VVP outside flinkform are put
/// back in place: the same jobs run on, with no stop. (The plan used to restart the
/// stateless pipeline without state, skipping the messages of the gap, and the
/// stateful one from a savepoint.)
#[test]
fn settings_edited_on_vvp_are_put_back_in_place_without_a_restart() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let c = client(&emu);
    let names = ["clickstream", "orders"];
    let before = names.map(|n| state_job(&p, n));
    let applied = names.map(|n| {
        let d = block_on(c.get_deployment(&state_deployment(&p, n))).unwrap();
        d.streaming_resource_setting.unwrap().basic_resource_setting.unwrap().parallelism
    });
    for name in names {
        let dep = state_deployment(&p, name);
        let mut d = block_on(c.get_deployment(&dep)).unwrap();
        let basic = d.streaming_resource_setting.as_mut().unwrap().basic_resource_setting.as_mut().unwrap();
        basic.parallelism = Some(8);
        let conf = d.flink_conf.get_or_insert_with(Default::default);
        conf.insert("execution.checkpointing.interval".into(), serde_json::Value::String("10s".into()));
        block_on(c.update_deployment(&dep, &d)).unwrap();
    }
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("was edited outside flinkform: parallelism is 8 on VVP"), "{}", r.stdout);
    assert!(r.stdout.contains("put back in place"), "{}", r.stdout);
    assert!(!r.stdout.contains("restart without state") && !r.stdout.contains("stop with a savepoint"), "{}", r.stdout);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    for (i, name) in names.into_iter().enumerate() {
        assert_eq!(state_job(&p, name), before[i], "{name}: the same job runs on");
        assert_eq!(jobs(&emu, name).len(), 1, "{name}: no new job");
        let d = block_on(c.get_deployment(&state_deployment(&p, name))).unwrap();
        let basic = d.streaming_resource_setting.unwrap().basic_resource_setting.unwrap();
        assert_eq!(basic.parallelism, applied[i], "{name}: the parallelism is put back");
    }
    clean(&p, &emu);
}

/// `state mv` with the spec renamed converges in one apply. (Every later plan used to
/// say the deployment's labels were edited, and every apply restarted the job again.)
#[test]
fn state_mv_converges_in_one_apply() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("name = \"orders\"", "name = \"orders_eu\""));
    p.run(&["state", "mv", "orders", "orders_eu"]).code(0);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let job = state_job(&p, "orders_eu");
    clean(&p, &emu);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert_eq!(state_job(&p, "orders_eu"), job, "a second apply touches nothing");
    let labels = block_on(client(&emu).get_deployment(&state_deployment(&p, "orders_eu"))).unwrap().labels.unwrap();
    assert_eq!(labels.get("flinkform-pipeline").map(String::as_str), Some("orders_eu"));
}

/// `start --deployment-id` of a recorded pipeline's deployment records the job it
/// starts. (The state used to keep the old, cancelled job, and `status` showed it.)
#[test]
fn start_by_deployment_id_records_the_job_it_starts() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let old = state_job(&p, "orders");
    run(&p, &emu, &["stop", "orders", "--savepoint"]).code(0);
    let dep = state_deployment(&p, "orders");
    run(&p, &emu, &["start", "--deployment-id", &dep]).code(0);
    let job = state_job(&p, "orders");
    assert_ne!(job, old, "the new job is recorded");
    let live = block_on(client(&emu).live_job(&dep)).unwrap().unwrap();
    assert_eq!(live.id, job);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(state["pipelines"]["orders"]["status"], "running");
    assert!(state["pipelines"]["orders"].get("intent").is_none(), "running is the intent once started");
    clean(&p, &emu);
}

/// `import` of a deployment whose labels name another flinkform project is refused
/// without `--force`. (It used to adopt it without a word.)
#[test]
fn import_refuses_another_project_s_deployment_without_force() {
    let emu = Emulator::start(&[]);
    let a = TestProject::two_pipelines();
    run(&a, &emu, &["apply", "--auto-approve"]).code(0);
    let dep = state_deployment(&a, "orders");
    let b = TestProject::two_pipelines();
    let config = b.read("flinkform.toml").replace("project = \"flinkform-example\"", "project = \"other-project\"");
    b.write("flinkform.toml", &config);
    let r = run(&b, &emu, &["import", "orders", &dep]).code(1);
    assert!(r.stderr.contains("is labelled as made by flinkform project `flinkform-example`"), "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(!b.path().join(".flinkform/state.json").exists(), "nothing recorded");
    run(&b, &emu, &["import", "orders", &dep, "--force"]).code(0);
}

/// After `state rm`, the plan says which deployment apply adopts, and apply keeps the
/// running job. (The plan said "new pipeline", and apply printed "starting the job
/// (restore NONE)" while it kept the job.)
#[test]
fn after_state_rm_the_plan_says_adopt_and_apply_keeps_the_running_job() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let (dep, job) = (state_deployment(&p, "orders"), state_job(&p, "orders"));
    run(&p, &emu, &["state", "rm", "orders"]).code(0);
    let r = run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains(&format!("adopt deployment {dep}")), "{}", r.stdout);
    assert!(r.stdout.contains("its live job is kept"), "{}", r.stdout);
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert!(!r.stdout.contains("starting the job"), "{}", r.stdout);
    assert!(r.stdout.contains("kept, not started again"), "{}", r.stdout);
    assert_eq!(state_job(&p, "orders"), job);
    assert_eq!(jobs(&emu, "orders").len(), 1);
    clean(&p, &emu);
}

/// An update whose job fails, rolled back, killed in the middle of its rollback: the
/// re-run tries the update again and rolls back again, and every job it starts restores
/// the state of the newest job that ran before it (never the savepoint of the first
/// stop once a later job ran), with one live job at the end, the previous revision's.
#[test]
fn a_rollback_killed_midway_converges_without_restoring_an_older_state() {
    let emu = Emulator::start(&["--fail-jobs-of-sql-with", "crash-me", "--stop-delay", "300ms"]);
    let p = TestProject::two_pipelines();
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let old_sql = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap().sql.unwrap();
    let spec = p.read("pipelines/orders.toml").replace("[source]", "[source]\ngroup_id = \"crash-me\"");
    p.write("pipelines/orders.toml", &spec);
    orders_deployment(&p, "on_failure = \"rollback\"");
    interrupted_apply(&p, &emu, "rolling back to the previous revision", "-KILL");
    let r = run(&p, &emu, &["apply", "--auto-approve"]).code(1);
    assert!(r.stdout.contains("rolled back: the previous revision runs again"), "{}", r.stdout);
    let d = block_on(client(&emu).find_deployment("orders")).unwrap().unwrap();
    assert_eq!(d.sql.as_deref(), Some(old_sql.as_str()), "the previous revision runs");
    let ran = jobs(&emu, "orders");
    let live: Vec<&Ran> = ran.iter().filter(|j| matches!(j.status.as_str(), "STARTING" | "RUNNING")).collect();
    assert_eq!(live.len(), 1, "{ran:?}");
    for (i, j) in ran.iter().enumerate().skip(1) {
        // The emulator's failing jobs fail as they start: they never ran.
        let newest = ran[..i].iter().rev().find(|k| k.status != "FAILED").unwrap();
        let from = j.restored.as_deref().and_then(|s| s.split_once('-')).map(|(_, job)| job);
        assert_eq!(
            from,
            Some(newest.id.as_str()),
            "{} restored {:?}, not {}'s state: {ran:?}",
            j.id,
            j.restored,
            newest.id
        );
    }
}
