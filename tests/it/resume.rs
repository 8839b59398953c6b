//! Interrupted applies resumed for real: `flinkform apply` interrupted (SIGINT) or
//! killed (SIGKILL) at a step against `vvp-emulator`, then run again as a user would.
//! What ran is read from the emulator: every job of the deployment, with the state it
//! restored.

use crate::apply::{block_on, client, env, interrupt_at, run, state_job};
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
