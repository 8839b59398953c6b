//! Environments: `[environments.NAME]` overlays one project; each environment has its own
//! target and state.

use crate::common::TestProject;
use crate::vvp::Emulator;

#[test]
fn dev_and_prod_plan_and_apply_with_their_own_targets_and_states() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    let r = crate::apply::run(&p, &emu, &["--env", "dev", "apply", "--auto-approve"]).code(0);
    assert!(r.stdout.starts_with("Environment: dev\n"), "{}", r.stdout);
    assert!(r.stdout.contains("Apply complete! 2 created"), "{}", r.stdout);
    assert!(p.path().join(".flinkform/dev/state.json").is_file(), "dev has its own state");
    assert!(!p.path().join(".flinkform/state.json").exists() && !p.path().join(".flinkform/prod").exists());
    // The dev deployments went to dev's namespace; prod's state knows nothing of them.
    let dev: serde_json::Value = serde_json::from_str(&p.read(".flinkform/dev/state.json")).unwrap();
    assert_eq!(dev["pipelines"].as_object().unwrap().len(), 2);
    assert_eq!(crate::apply::managed_deployments(&emu), Vec::<String>::new(), "nothing in prod's namespace");
    let r = crate::apply::run(&p, &emu, &["plan"]).code(0);
    assert!(r.stdout.contains("Plan: 2 to add"), "no environment: its own state: {}", r.stdout);
    let r = crate::apply::run(&p, &emu, &["plan", "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["env"], serde_json::Value::Null);
    let r = p.run_with(&["plan", "--format", "json"], &[("FLINKFORM_ENV", "prod")]).code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["env"], "prod");
    assert_eq!(v["summary"]["add"], 2, "prod is planned against prod's (empty) state");
    // The overlays: prod's clickstream runs wider, dev writes to its own database.
    let prod = p.run(&["--env", "prod", "render", "clickstream", "--deployment"]).code(0).stdout;
    assert!(prod.contains("parallelism: 8"), "{prod}");
    let dev = p.run(&["--env", "dev", "render", "clickstream", "--deployment"]).code(0).stdout;
    assert!(dev.contains("parallelism: 4"), "{dev}");
    let sql = p.run(&["--env", "dev", "render", "orders"]).code(0).stdout;
    assert!(sql.contains("analytics_dev"), "{sql}");
    // A saved plan applies only in its environment.
    p.run(&["--env", "prod", "plan", "-out", "prod.json"]).code(0);
    let r = p.run(&["--env", "dev", "apply", "prod.json"]).code(1);
    assert!(r.stderr.contains("saved plan"), "{}", r.stderr);
    // Applied without --env, it names the environment it needs, not a staleness it lacks.
    p.record();
    let r = p.run(&["apply", "prod.json"]).code(1);
    assert!(r.stderr.contains("made for environment `prod`, and this is no environment"), "{}", r.stderr);
    assert!(!r.stderr.contains("stale"), "{}", r.stderr);
    // The comment of each environment is its own.
    let md = p.run(&["--env", "prod", "plan", "--format", "markdown"]).code(0).stdout;
    assert!(md.starts_with("<!-- flinkform:plan project=flinkform-example env=prod "), "{md}");
}

#[test]
fn an_unknown_environment_or_a_bad_overlay_is_an_error_that_says_where() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["--env", "prd", "plan"]).code(1);
    assert!(
        r.stderr.contains("unknown environment `prd`") && r.stderr.contains("did you mean `prod`?"),
        "{}",
        r.stderr
    );
    let config = p.read("flinkform.toml");
    p.write(
        "flinkform.toml",
        &config.replace("[environments.prod.vvp]\nnamespace", "[environments.prod.vvp]\nnamespaec = \"x\"\nnamespace"),
    );
    let r = p.run(&["--env", "prod", "validate"]).code(1);
    assert!(
        r.stderr.contains("unknown key `namespaec` in [vvp]") && r.stderr.contains("flinkform.toml:"),
        "{}",
        r.stderr
    );
    p.run(&["--env", "dev", "validate"]).code(0);
    p.write("flinkform.toml", &format!("{config}\n[environments.dev.pipelines.nope.deployment]\nparallelism = 1\n"));
    let r = p.run(&["--env", "dev", "validate"]).code(1);
    assert!(
        r.stderr.contains("[environments.dev.pipelines.nope] overlays a pipeline that no spec in pipelines/ defines"),
        "{}",
        r.stderr
    );
    let r = p.run(&["--env", "staging", "validate"]).code(1);
    assert!(r.stderr.contains("defined: dev, prod"), "{}", r.stderr);
}

#[test]
fn diff_shows_what_promoting_one_environment_to_another_changes() {
    let p = TestProject::two_pipelines();
    let r = p.run(&["diff", "dev", "prod"]).code(0);
    // dev writes to its own database; prod runs clickstream wider.
    assert!(r.stdout.contains("# clickstream\n") && r.stdout.contains("+parallelism: 8"), "{}", r.stdout);
    assert!(r.stdout.contains("-  'dbname' = 'analytics_dev',\n+  'dbname' = 'analytics',"), "{}", r.stdout);
    assert!(r.stdout.ends_with("2 pipelines differ between dev and prod: clickstream, orders.\n"), "{}", r.stdout);
    let r = p.run(&["diff", "prod", "prod"]).code(0);
    assert_eq!(r.stdout, "prod and prod render every pipeline the same.\n");
    let r = p.run(&["diff", "dev", "qa"]).code(1);
    assert!(r.stderr.contains("unknown environment `qa`"), "{}", r.stderr);
}
