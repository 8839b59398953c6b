//! VVP's answers in each form the emulator offers where Alibaba's sources leave room:
//! every recovery that rests on "not found" runs against `990301` (the code Alibaba's
//! Terraform provider takes as not found) and `legacy` (a `…NotFound` code per resource),
//! so no form of the answer can wedge apply or lose track of a deployment; and a VVP
//! that answers in its own spelling must not make any plan a restart.

use vvp_api::Vvp;

use crate::apply::{block_on, client, managed_deployments, run, state_deployment, state_job};
use crate::common::TestProject;
use crate::vvp::Emulator;

const FORMS: [&str; 2] = ["990301", "legacy"];

#[test]
fn deploy_tickets_vvp_forgets_converge_in_one_run_in_every_form() {
    for form in FORMS {
        // Every ticket is forgotten the moment it finishes: apply never sees a result.
        let emu = Emulator::start(&["--ticket-ttl", "0s", "--not-found-code", form]);
        let p = TestProject::two_pipelines();
        let r = run(&p, &emu, &["apply", "--auto-approve"]).code(0);
        assert!(r.stdout.contains("VVP no longer knows deploy ticket"), "{form}: {}", r.stdout);
        assert!(r.stdout.contains("already runs this SQL (draft"), "{form}: {}", r.stdout);
        assert!(r.stdout.contains("Apply complete! 2 created"), "{form}: {}", r.stdout);
        assert_eq!(managed_deployments(&emu), ["clickstream", "orders"], "{form}");
        run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    }
}

/// Deletes pipeline `name`'s deployment as one would in the console: its job stopped,
/// then the deployment deleted.
fn delete_behind_flinkform_s_back(emu: &Emulator, p: &TestProject, name: &str) -> String {
    let c = client(emu);
    let dep = state_deployment(p, name);
    block_on(c.stop(&state_job(p, name), vvp_api::Stop::Now)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    block_on(c.delete_deployment(&dep)).unwrap();
    dep
}

#[test]
fn a_deployment_deleted_in_the_console_is_planned_as_a_create_in_every_form() {
    for form in FORMS {
        let emu = Emulator::start(&["--not-found-code", form]);
        let p = TestProject::two_pipelines();
        run(&p, &emu, &["apply", "--auto-approve"]).code(0);
        let dep = delete_behind_flinkform_s_back(&emu, &p, "orders");
        let r = run(&p, &emu, &["plan", "--detailed-exitcode"]).code(2);
        assert!(r.stdout.contains(&format!("deployment {dep} is gone from VVP")), "{form}: {}", r.stdout);
        assert!(r.stdout.contains("# orders will be created"), "{form}: {}", r.stdout);
        run(&p, &emu, &["apply", "--auto-approve"]).code(0);
        assert_eq!(managed_deployments(&emu), ["clickstream", "orders"], "{form}");
        run(&p, &emu, &["plan", "--detailed-exitcode"]).code(0);
    }
}

#[test]
fn destroy_of_a_deployment_deleted_in_the_console_forgets_it_in_every_form() {
    for form in FORMS {
        let emu = Emulator::start(&["--not-found-code", form]);
        let p = TestProject::two_pipelines();
        run(&p, &emu, &["apply", "--auto-approve"]).code(0);
        delete_behind_flinkform_s_back(&emu, &p, "orders");
        let r = run(&p, &emu, &["destroy", "orders", "--auto-approve"]).code(0);
        assert!(r.stdout.contains("1 destroyed"), "{form}: {}", r.stdout);
        let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
        let orders = &state["pipelines"]["orders"];
        assert!(
            orders.is_null() || orders["status"] == "destroyed",
            "{form}: the state forgets the deployment: {orders}"
        );
        assert_eq!(managed_deployments(&emu), ["clickstream"], "{form}: the other pipeline is untouched");
    }
}

#[test]
fn a_vvp_that_answers_in_its_own_spelling_plans_no_change_after_apply() {
    let emu = Emulator::start(&["--normalize"]);
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml").replace(
        "[deployment]",
        "[deployment]\ntaskmanager = { cpu = 1, memory = \"4Gi\" }\n\
         flink_conf = { \"execution.checkpointing.interval\" = \"10s\", \"table.exec.state.ttl\" = \"2h\" }",
    );
    p.write("pipelines/orders.toml", &spec);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    // What VVP answers is not what was sent...
    let d = block_on(client(&emu).get_deployment(&state_deployment(&p, "orders"))).unwrap();
    let conf = d.flink_conf.unwrap();
    assert_eq!(conf["execution.checkpointing.interval"], "10000", "the emulator normalizes");
    assert!(!d.artifact.unwrap().sql_artifact.unwrap().sql_script.ends_with('\n'));
    // ...and means the same: no drift, no restart.
    let job = state_job(&p, "orders");
    let r = run(&p, &emu, &["plan", "--detailed-exitcode"]);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
    r.code(0);
    run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    assert_eq!(state_job(&p, "orders"), job, "the job runs on");
}
