//! `comment gitlab` and `apply --expect-plan gitlab` against a local GitLab modelled on
//! GitLab's documented Notes, Merge requests and Commits APIs (`tests/gitlab/server.py`),
//! with the variables GitLab CI sets.

use crate::comment::StandIn;
use crate::common::{Run, TestProject};
use crate::vvp::Emulator;

const TOKEN: &str = "glpat-flinkformTestToken0123";

/// Environment variables, as a CI job gets them.
type Env = Vec<(&'static str, String)>;

/// The variables a merge request pipeline of project 42, MR `mr`, gets.
fn ci(gl: &StandIn, mr: u64, sha: &str) -> Env {
    vec![
        ("GITLAB_TOKEN", TOKEN.into()),
        ("CI_API_V4_URL", gl.api.clone()),
        ("CI_PROJECT_ID", "42".into()),
        ("CI_PROJECT_URL", "https://gitlab.example.com/group/project".into()),
        ("CI_MERGE_REQUEST_IID", mr.to_string()),
        ("CI_COMMIT_SHA", sha.into()),
    ]
}

/// A merge request pipeline's variables with VVP (the emulator), and the variables of the
/// default branch's pipeline for merge commit `sha` (no merge request).
fn with_main(gl: &StandIn, emu: &Emulator, mr: u64, sha: &str) -> (Env, Env) {
    let mut env = ci(gl, mr, &format!("head{mr}"));
    env.extend(crate::apply::env(emu));
    let mut main: Env =
        env.iter().filter(|(k, _)| *k != "CI_MERGE_REQUEST_IID" && *k != "CI_COMMIT_SHA").cloned().collect();
    main.push(("CI_COMMIT_SHA", sha.into()));
    (env, main)
}

fn run(p: &TestProject, env: &[(&'static str, String)], args: &[&str]) -> Run {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = p.run_with(args, &pairs);
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN), "the token leaked");
    r
}

/// The bodies of the notes on MR `mr` that are not GitLab's own.
fn notes(gl: &StandIn, mr: u64) -> Vec<String> {
    let s = gl.state();
    let all = s["notes"].as_array().unwrap();
    all.iter().filter(|n| n["mr"] == mr && n["system"] == false).map(|n| n["body"].as_str().unwrap().into()).collect()
}

#[test]
fn a_merge_request_gets_one_note_found_again_past_many_others_and_labels() {
    let gl = StandIn::gitlab();
    let p = TestProject::two_pipelines();
    p.record();
    let env = ci(&gl, 5, "c1");
    std::fs::remove_file(p.path().join("pipelines/clickstream.toml")).unwrap();
    let r = run(&p, &env, &["comment", "gitlab"]).code(0);
    assert!(
        r.stdout.contains(
            "The plan comment on 42!5 was created: https://gitlab.example.com/group/project/-/merge_requests/5#note_"
        ),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("Labelled 42!5: flinkform:destroy"), "{}", r.stdout);
    // GitLab's own notes and people's, 130 of them, after ours: found on a later page.
    let mut others: Vec<serde_json::Value> =
        (0..130).map(|i| serde_json::json!({"body": format!("looks good {i}")})).collect();
    others.push(serde_json::json!({"body": "added 1 commit", "system": true}));
    gl.control("POST", "seed", Some(serde_json::json!({"mr": 5, "notes": others, "labels": ["backend"]})));
    p.write("pipelines/clickstream.toml", &TestProject::two_pipelines().read("pipelines/clickstream.toml"));
    let r = run(&p, &env, &["comment", "gitlab"]).code(0);
    assert!(r.stdout.contains("was updated"), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Removed from 42!5: flinkform:destroy"), "{}", r.stdout);
    let bodies = notes(&gl, 5);
    assert_eq!(bodies.len(), 131);
    assert!(bodies[0].contains("No changes."), "ours, the first, was edited: {}", bodies[0]);
    assert_eq!(gl.state()["labels"]["5"], serde_json::json!(["backend"]));
    let log = gl.state()["log"].clone();
    let pages: Vec<&str> =
        log.as_array().unwrap().iter().filter(|l| l["method"] == "GET").filter_map(|l| l["query"].as_str()).collect();
    assert!(pages.iter().any(|q| q.contains("page=2")), "a later page was read: {pages:?}");
    // GitLab cannot hide a note.
    let r = run(&p, &env, &["comment", "gitlab", "--behavior", "hide-and-new"]).code(1);
    assert!(r.stderr.contains("GitLab cannot hide a note: use --behavior delete-and-new"), "{}", r.stderr);
    let r = run(&p, &env, &["comment", "gitlab", "--behavior", "delete-and-new"]).code(0);
    assert!(r.stdout.contains("was created (1 earlier comment deleted)"), "{}", r.stdout);
    assert_eq!(notes(&gl, 5).len(), 131);
    gl.assert_contract();
}

#[test]
fn apply_on_merge_reads_the_merged_requests_note_and_writes_the_outcome_into_it() {
    let emu = Emulator::start(&[]);
    let gl = StandIn::gitlab();
    let p = TestProject::two_pipelines();
    let (env, mut merge) = with_main(&gl, &emu, 9, "m9");
    run(&p, &env, &["comment", "gitlab"]).code(0);
    // On the default branch a pipeline has no merge request: it is found from the commit.
    gl.control("POST", "merge", Some(serde_json::json!({"sha": "m9", "mr": 9})));
    let r = run(&p, &merge, &["apply", "--auto-approve", "--expect-plan", "gitlab"]).code(0);
    assert!(r.stdout.contains("Apply complete! 2 created"), "{}\n{}", r.stdout, r.stderr);
    let body = &notes(&gl, 9)[0];
    assert!(
        body.lines().next().unwrap().contains(" applied=true ") && body.contains("**Applied on merge:**"),
        "{body}"
    );
    // A commit of no merge request has no reviewed plan.
    merge.retain(|(k, _)| *k != "CI_COMMIT_SHA");
    merge.push(("CI_COMMIT_SHA", "direct".into()));
    let r = run(&p, &merge, &["apply", "--auto-approve", "--expect-plan", "gitlab"]).code(1);
    assert!(r.stderr.contains("commit direct belongs to no merged merge request"), "{}", r.stderr);
    // Nor does one held only by a merge request still open: its plan was never approved.
    gl.control("POST", "merge", Some(serde_json::json!({"sha": "open1", "mr": 9, "merged": false})));
    merge.retain(|(k, _)| *k != "CI_COMMIT_SHA");
    merge.push(("CI_COMMIT_SHA", "open1".into()));
    let r = run(&p, &merge, &["apply", "--auto-approve", "--expect-plan", "gitlab"]).code(1);
    assert!(r.stderr.contains("commit open1 belongs to no merged merge request"), "{}", r.stderr);
    gl.assert_contract();
}

/// A note carrying this project's marker that someone else wrote (or that quotes the
/// marker below its first line) is not flinkform's: it is neither edited nor taken as
/// the reviewed plan. (Notes used to be chosen by the marker alone.)
#[test]
fn only_the_token_s_own_notes_with_the_marker_first_are_flinkform_s() {
    let emu = Emulator::start(&[]);
    let gl = StandIn::gitlab();
    let p = TestProject::two_pipelines();
    let (env, mut merge) = with_main(&gl, &emu, 6, "m6");
    run(&p, &env, &["comment", "gitlab"]).code(0);
    let ours = notes(&gl, 6)[0].clone();
    // The bot's own note quoting the plan, then someone else's under this project's
    // marker (a forged digest), the newest.
    let quoted = format!("> our plan:\n{ours}");
    let forged = ours.replacen("digest=", "digest=0", 1);
    let seeded = [
        serde_json::json!({"body": quoted, "author": "project_42_bot"}),
        serde_json::json!({"body": forged, "author": "mallory"}),
    ];
    gl.control("POST", "seed", Some(serde_json::json!({"mr": 6, "notes": seeded})));
    p.write("pipelines/orders.toml", &p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 3"));
    let r = run(&p, &env, &["comment", "gitlab"]).code(0);
    assert!(r.stdout.contains("was updated"), "{}\n{}", r.stdout, r.stderr);
    let now = notes(&gl, 6);
    assert!(now[0].contains("parallelism: 3"), "ours was edited: {}", now[0]);
    assert_eq!(now[2], forged, "mallory's note is left as it is");
    // Apply on merge takes the plan flinkform wrote, not the newer forged one.
    merge.retain(|(k, _)| *k != "CI_COMMIT_SHA");
    merge.push(("CI_COMMIT_SHA", "m6".into()));
    gl.control("POST", "merge", Some(serde_json::json!({"sha": "m6", "mr": 6})));
    let r = run(&p, &merge, &["apply", "--auto-approve", "--expect-plan", "gitlab"]).code(0);
    assert!(r.stdout.contains("Apply complete! 2 created"), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(notes(&gl, 6)[2], forged);
    gl.assert_contract();
}

#[test]
fn gitlab_errors_name_the_token_and_its_scope() {
    let gl = StandIn::gitlab();
    let p = TestProject::two_pipelines();
    let mut env = ci(&gl, 5, "c1");
    gl.control("POST", "fail", Some(serde_json::json!({"status": 403, "times": 1, "message": "403 Forbidden"})));
    let r = run(&p, &env, &["comment", "gitlab"]).code(1);
    assert!(r.stderr.contains("GitLab answered 403") && r.stderr.contains("api scope"), "{}", r.stderr);
    gl.control("POST", "fail", Some(serde_json::json!({"status": 429, "times": 1, "headers": {"Retry-After": "1"}})));
    run(&p, &env, &["comment", "gitlab"]).code(0);
    env.retain(|(k, _)| *k != "GITLAB_TOKEN");
    let r = run(&p, &env, &["comment", "gitlab"]).code(1);
    assert!(r.stderr.contains("GITLAB_TOKEN is not set"), "{}", r.stderr);
    gl.assert_contract();
}

/// The `script:` commands of job `job` in the example `.gitlab-ci.yml`.
fn job_script(job: &str) -> Vec<String> {
    let text = std::fs::read_to_string(crate::common::repo().join("examples/ci/gitlab/.gitlab-ci.yml")).unwrap();
    let mut lines = text.lines().skip_while(|l| *l != format!("{job}:")).skip(1);
    let mut out = Vec::new();
    let mut in_script = false;
    for l in lines.by_ref() {
        if !l.starts_with(' ') && !l.is_empty() {
            break;
        }
        if l.trim() == "script:" {
            in_script = true;
        } else if in_script {
            match l.trim().strip_prefix("- ") {
                Some(cmd) => out.push(cmd.to_string()),
                None => in_script = false,
            }
        }
    }
    assert!(!out.is_empty(), "job {job} has no script");
    out
}

/// Runs job `job`'s script as GitLab's runner does (each line in bash, stopping at the
/// first that fails), in the project, with `env`.
fn run_job(p: &TestProject, job: &str, env: &[(&'static str, String)]) -> Vec<Run> {
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("GITLAB_CI", "true"));
    let mut runs = Vec::new();
    for cmd in job_script(job) {
        let r = p.bash(&cmd, &env);
        let failed = r.code != 0;
        runs.push(r);
        if failed {
            break;
        }
    }
    runs
}

#[test]
fn the_example_gitlab_pipeline_plans_the_merge_request_and_applies_it_on_the_default_branch() {
    let emu = Emulator::start(&[]);
    let gl = StandIn::gitlab();
    let p = TestProject::two_pipelines();
    let (env, main) = with_main(&gl, &emu, 3, "m3");
    let runs = run_job(&p, "plan", &env);
    assert!(runs.iter().all(|r| r.code == 0), "{:?}", runs.iter().map(|r| &r.stderr).collect::<Vec<_>>());
    let report: serde_json::Value = serde_json::from_str(&p.read("plan-report.json")).unwrap();
    assert_eq!(report, serde_json::json!({"create": 2, "update": 0, "delete": 0}));
    assert_eq!(notes(&gl, 3).len(), 1);
    gl.control("POST", "merge", Some(serde_json::json!({"sha": "m3", "mr": 3})));
    let runs = run_job(&p, "apply", &main);
    assert_eq!(runs[0].code, 0, "{}\n{}", runs[0].stdout, runs[0].stderr);
    assert!(notes(&gl, 3)[0].contains("**Applied on merge:**"));
    gl.assert_contract();
}
