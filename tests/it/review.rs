//! The pull-request loop's guarantees, end to end against `vvp-emulator`: a plan that
//! fails still explains itself in the comment and the JSON, and apply on merge carries
//! out only the plan that was reviewed (`--expect-plan`).

use crate::apply::run;
use crate::common::TestProject;
use crate::vvp::Emulator;

#[test]
fn apply_on_merge_refuses_a_plan_whose_meaning_changed_since_review_and_applies_one_that_did_not() {
    let emu = Emulator::start(&[]);
    let p = TestProject::two_pipelines();
    // The PR's comment, and its JSON plan.
    let comment = run(&p, &emu, &["plan", "--format", "markdown"]).code(0).stdout;
    p.write("comment.md", &comment);
    let json: serde_json::Value =
        serde_json::from_str(&run(&p, &emu, &["plan", "--format", "json"]).code(0).stdout).unwrap();
    let digest = json["digest"].as_str().unwrap().to_string();
    assert!(
        comment.starts_with("<!-- flinkform:plan ") && comment.contains(&format!(" digest={digest} ")),
        "{comment}"
    );

    // Merged with the spec changed after review: refused, naming the pipeline.
    let spec = p.read("pipelines/clickstream.toml");
    p.write("pipelines/clickstream.toml", &spec.replace("parallelism = 4", "parallelism = 6"));
    let r = run(&p, &emu, &["apply", "--auto-approve", "--expect-plan", "comment.md"]).code(1);
    assert!(
        r.stderr.contains("the plan is not the one reviewed, so nothing was applied")
            && r.stderr.contains("`clickstream`: create as reviewed, but what it applies changed"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("`orders`"), "orders is as reviewed: {}", r.stderr);
    let r = run(&p, &emu, &["apply", "--auto-approve", "--expect-plan", &digest]).code(1);
    assert!(r.stderr.contains("the plan now does: `clickstream` create, `orders` create"), "{}", r.stderr);
    assert_eq!(crate::apply::managed_deployments(&emu), Vec::<String>::new(), "nothing was deployed");

    // Back as reviewed, with a fresher sample (more records, the same types): applied.
    p.write("pipelines/clickstream.toml", &spec);
    let sample = p.read("samples/orders.jsonl");
    let first = sample.lines().next().unwrap();
    p.write("samples/orders.jsonl", &format!("{sample}{first}\n"));
    let r = run(&p, &emu, &["apply", "--auto-approve", "--expect-plan", "comment.md"]).code(0);
    assert!(r.stdout.contains("Apply complete! 2 created"), "{}", r.stdout);
}

#[test]
fn a_plan_that_fails_explains_itself_in_the_comment_and_the_json() {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replacen("[source]", "[source]\ntopik = \"x\"", 1));
    let r = p
        .run_with(
            &["plan", "--format", "markdown"],
            &[("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "o/r"), ("GITHUB_RUN_ID", "7")],
        )
        .code(1);
    assert!(
        r.stdout.starts_with("<!-- flinkform:plan project=flinkform-example env=default digest=none "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("**The plan failed: nothing can be applied until it passes.**"), "{}", r.stdout);
    assert!(r.stdout.contains("pipelines/orders.toml") && r.stdout.contains("topik"), "{}", r.stdout);
    assert!(r.stderr.contains("topik"), "stderr still has it: {}", r.stderr);
    let r = p.run(&["plan", "--format", "json"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["failed"], true);
    assert!(v["errors"][0].as_str().unwrap().contains("topik"), "{v}");
    // A failed plan is nothing to apply.
    p.write("comment.md", &p.run(&["plan", "--format", "markdown"]).stdout);
    p.write("pipelines/orders.toml", &spec);
    let r = p.run(&["apply", "--auto-approve", "--expect-plan", "comment.md"]).code(1);
    assert!(r.stderr.contains("the comment's plan failed: there is no reviewed plan to apply"), "{}", r.stderr);
}

/// The `run: |` blocks of a workflow that call flinkform (the install step is left out:
/// the test runs the binary it built), in order.
fn workflow_commands(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(crate::common::repo().join("examples/ci/github").join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "run: |" {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|b| b.trim().is_empty() || b.len() - b.trim_start().len() > indent)
            .map(|b| b.trim())
            .collect();
        if block.iter().any(|b| b.starts_with("flinkform ")) {
            out.push(block.join("\n"));
        }
    }
    assert!(!out.is_empty(), "{file} runs no flinkform command");
    out
}

/// Runs `commands` with bash in the project, as GitHub Actions runs a step, with the
/// variables it sets for `event`.
pub(crate) fn run_workflow(
    p: &TestProject,
    emu: &Emulator,
    gh: &crate::comment::StandIn,
    file: &str,
    event: serde_json::Value,
    sha: &str,
) -> Vec<crate::common::Run> {
    p.write(".github-event.json", &event.to_string());
    let event_path = p.path().join(".github-event.json");
    let event_path = event_path.to_str().unwrap();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", crate::comment::TOKEN),
        ("GITHUB_API_URL", gh.api.as_str()),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "o/r"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_SHA", sha),
        ("GITHUB_EVENT_PATH", event_path),
        ("FLINKFORM_VVP_ENDPOINT", emu.addr.as_str()),
        ("FLINKFORM_VVP_PROTOCOL", "http"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", crate::vvp::AK),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", crate::vvp::SK),
    ];
    workflow_commands(file).iter().map(|script| p.bash(script, &env)).collect()
}

#[test]
fn the_example_github_workflows_plan_each_push_apply_the_reviewed_plan_on_merge_and_refuse_a_changed_one() {
    let emu = Emulator::start(&[]);
    let gh = crate::comment::StandIn::github("");
    let p = TestProject::two_pipelines();
    let pr = |n: u64| serde_json::json!({"action": "synchronize", "number": n, "pull_request": {"number": n}});
    let push = |sha: &str| serde_json::json!({"ref": "refs/heads/main", "after": sha});

    // PR 7: the first push comments the plan; the second edits the same comment.
    let r = run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr(7), "head1");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("parallelism = 2", "parallelism = 3"));
    let r = run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr(7), "head2");
    assert!(r[0].stdout.contains("was updated"), "{}\n{}", r[0].stdout, r[0].stderr);
    assert_eq!(gh.comments_on(7).len(), 1);
    // PR 8 is opened meanwhile, planned against the same state.
    let r = run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr(8), "head8");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);

    // Merged as m1: the reviewed plan is applied, and the comment says so, final.
    gh.control("POST", "merge", Some(serde_json::json!({"sha": "m1", "pr": 7})));
    let r = run_workflow(&p, &emu, &gh, "flinkform-apply.yml", push("m1"), "m1");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    assert!(r[0].stdout.contains("Apply complete! 2 created"), "{}", r[0].stdout);
    let body = &gh.comments_on(7)[0];
    assert!(
        body.starts_with("<!-- flinkform:plan ") && body.lines().next().unwrap().contains(" applied=true "),
        "{body}"
    );
    assert!(body.contains("**Applied on merge:**") && body.contains("Apply complete! 2 created"), "{body}");
    assert_eq!(crate::apply::managed_deployments(&emu), ["clickstream", "orders"]);

    // PR 8 is reviewed, but main changes before it merges (another change lands in the
    // merge): the plan on main is not the reviewed one, and nothing is applied.
    p.write("pipelines/orders.toml", &spec.replace("parallelism = 2", "parallelism = 5"));
    let r = run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr(8), "head3");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    // PR 7 was applied since PR 8's first plan: its comment says the plan was made again.
    let body = &gh.comments_on(8)[0];
    assert!(body.contains("The recorded state changed since this pull request's last plan (serial none → "), "{body}");
    assert_eq!(gh.comments_on(8).len(), 1);
    let clicks = p.read("pipelines/clickstream.toml");
    p.write("pipelines/clickstream.toml", &clicks.replace("parallelism = 4", "parallelism = 6"));
    gh.control("POST", "merge", Some(serde_json::json!({"sha": "m2", "pr": 8})));
    let r = run_workflow(&p, &emu, &gh, "flinkform-apply.yml", push("m2"), "m2");
    assert_eq!(r[0].code, 1, "{}\n{}", r[0].stdout, r[0].stderr);
    assert!(r[0].stderr.contains("`clickstream`: not in the reviewed plan, now"), "{}", r[0].stderr);
    let body = &gh.comments_on(8)[0];
    assert!(body.contains("**Not applied on merge:**") && body.contains("`clickstream`"), "{body}");
    assert!(body.lines().next().unwrap().contains(" applied=false "), "a refused plan's comment stays open: {body}");
    // The first PR's final comment was not touched by the second PR's runs.
    assert!(gh.comments_on(7)[0].contains("Apply complete! 2 created"));
    let jobs = crate::apply::managed_deployments(&emu);
    assert_eq!(jobs, ["clickstream", "orders"], "nothing new deployed");

    // A push whose commit only an open pull request holds has no reviewed plan: PR 9's
    // plan was never approved to apply. (Apply used to fall back to the open one.)
    let r = run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr(9), "head9");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    gh.control("POST", "merge", Some(serde_json::json!({"sha": "o1", "pr": 9, "merged": false})));
    let r = run_workflow(&p, &emu, &gh, "flinkform-apply.yml", push("o1"), "o1");
    assert_eq!(r[0].code, 1, "{}\n{}", r[0].stdout, r[0].stderr);
    assert!(r[0].stderr.contains("commit o1 belongs to no merged pull request"), "{}", r[0].stderr);
    gh.assert_contract();
}

#[test]
fn gitlab_gets_its_merge_request_report_with_a_replace_as_a_delete_and_a_create() {
    let p = TestProject::two_pipelines();
    p.record();
    std::fs::remove_file(p.path().join("pipelines/clickstream.toml")).unwrap();
    let spec = p.read("pipelines/orders.toml");
    // A new topic replaces the pipeline (a new job that starts without state).
    p.write("pipelines/orders.toml", &spec.replace("topic = \"orders\"", "topic = \"orders_v2\""));
    let r = p.run(&["plan", "--gitlab-report", "report.json"]).code(0);
    assert!(r.stdout.contains("0 to add, 0 to change, 1 to replace, 1 to destroy"), "{}", r.stdout);
    let report: serde_json::Value = serde_json::from_str(&p.read("report.json")).unwrap();
    assert_eq!(report, serde_json::json!({"create": 1, "update": 0, "delete": 2}));
}
