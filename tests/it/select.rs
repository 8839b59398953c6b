//! Selecting pipelines (`--select`, `-target`, `--exclude`): a plan of a selection plans
//! only those and says so; apply carries out only those, into the whole state.

use crate::common::TestProject;
use crate::vvp::Emulator;

/// The example with `orders` tagged `shop`.
fn tagged() -> TestProject {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("name = \"orders\"", "name = \"orders\"\ntags = [\"shop\"]"));
    p
}

#[test]
fn a_selection_plans_only_its_pipelines_and_says_so() {
    let p = tagged();
    for args in [&["plan", "--select", "tag:shop"][..], &["plan", "-target=orders"], &["plan", "--exclude", "click*"]] {
        let r = p.run(args).code(0);
        assert!(
            r.stdout.contains("# orders will be created") && !r.stdout.contains("clickstream"),
            "{args:?}: {}",
            r.stdout
        );
        assert!(r.stdout.contains("Note: this plan covers only the selected pipelines (--"), "{}", r.stdout);
        assert!(r.stdout.contains("Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", r.stdout);
    }
    let r = p.run(&["plan", "-target", "clickstream", "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["selection"], "--select clickstream");
    assert_eq!(v["pipelines"].as_array().unwrap().len(), 1);
    let r = p.run(&["plan"]).code(0);
    assert!(!r.stdout.contains("covers only"), "{}", r.stdout);
    // A selector that matches nothing is said, not planned as nothing.
    let r = p.run(&["plan", "--select", "ordres"]).code(1);
    assert!(r.stderr.contains("`ordres` matches no pipeline (did you mean `orders`?)"), "{}", r.stderr);
    let r = p.run(&["plan", "--select", "tag:nope"]).code(1);
    assert!(r.stderr.contains("`tag:nope` matches no pipeline"), "{}", r.stderr);
    let r = p.run(&["render", "--select", "tag:shop"]).code(0);
    assert!(
        r.stdout.starts_with("-- ==== orders (pipelines/orders.toml)\n") && !r.stdout.contains("clickstream"),
        "{}",
        r.stdout
    );
    let r = p.run(&["validate", "--select", "tag:shop"]).code(0);
    assert!(r.stdout.contains("Success! 1 pipeline is valid in every environment (dev, prod)."), "{}", r.stdout);
}

#[test]
fn a_targeted_apply_touches_only_its_pipelines_and_keeps_the_rest_of_the_state() {
    let emu = Emulator::start(&[]);
    let p = tagged();
    // A saved targeted plan applies only those.
    crate::apply::run(&p, &emu, &["plan", "--select", "orders", "-out", "orders.json"]).code(0);
    let r = crate::apply::run(&p, &emu, &["apply", "orders.json"]).code(0);
    assert!(r.stdout.contains("Apply complete! 1 created"), "{}", r.stdout);
    assert_eq!(crate::apply::managed_deployments(&emu), ["orders"]);
    let r = crate::apply::run(&p, &emu, &["apply", "--auto-approve", "-target=clickstream"]).code(0);
    assert!(r.stdout.contains("Apply complete! 1 created"), "{}", r.stdout);
    assert_eq!(crate::apply::managed_deployments(&emu), ["clickstream", "orders"]);
    let state: serde_json::Value = serde_json::from_str(&p.read(".flinkform/state.json")).unwrap();
    assert_eq!(state["pipelines"].as_object().unwrap().len(), 2, "the second apply kept orders in the state");
    // A removed spec is destroyed only when the selection names it.
    std::fs::remove_file(p.path().join("pipelines/orders.toml")).unwrap();
    let r = crate::apply::run(&p, &emu, &["plan", "--select", "clickstream"]).code(0);
    assert!(!r.stdout.contains("destroy") || r.stdout.contains("0 to destroy"), "{}", r.stdout);
    let r = crate::apply::run(&p, &emu, &["plan", "--select", "orders"]).code(0);
    assert!(r.stdout.contains("# orders will be destroyed"), "{}", r.stdout);
}

#[test]
fn status_and_destroy_take_the_selection_too() {
    let emu = Emulator::start(&[]);
    let p = tagged();
    crate::apply::run(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let r = crate::apply::run(&p, &emu, &["status", "--select", "tag:shop"]).code(0);
    assert!(r.stdout.contains("\norders  ") && !r.stdout.contains("clickstream"), "{}", r.stdout);
    let r = crate::apply::run(&p, &emu, &["destroy", "--select", "tag:shop", "--auto-approve"]).code(0);
    assert!(r.stdout.contains("Destroy complete! 1 destroyed."), "{}", r.stdout);
    // The reason is the command, not a spec that was never removed.
    assert!(r.stdout.contains("because: `flinkform destroy` asks for it: the job stops"), "{}", r.stdout);
    assert!(!r.stdout.contains("removed"), "{}", r.stdout);
    assert_eq!(crate::apply::managed_deployments(&emu), ["clickstream"]);
}
