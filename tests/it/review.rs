//! The pull-request loop's guarantees, end to end against `vvp-emulator`: a plan that
//! fails still explains itself in the comment and the JSON, and apply on merge carries
//! out only the plan that was reviewed (`--expect-plan`).

use crate::apply::run;
use crate::common::TestProject;
use crate::vvp::Emulator;

#[test]
fn apply_on_merge_refuses_a_plan_whose_meaning_changed_since_review_and_applies_one_that_did_not() {
    let emu = Emulator::start(&[]);
    let p = TestProject::example();
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
    let p = TestProject::example();
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
