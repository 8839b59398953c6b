//! `comment github` against a local GitHub held to GitHub's own contract
//! (`tests/github/server.py`: GitHub's official OpenAPI description, npm
//! `@octokit/openapi`, validates every request flinkform sends and every answer the
//! server gives).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::{Run, TestProject};

pub const TOKEN: &str = "ghs_flinkformTestToken0123456789";

/// A local forge (`tests/github/server.py` or `tests/gitlab/server.py`), stopped on drop.
pub struct StandIn {
    child: Child,
    pub api: String,
}

impl StandIn {
    /// The local GitHub, its REST API under `prefix` (`/api/v3` as on GitHub Enterprise).
    pub fn github(prefix: &str) -> StandIn {
        let var =
            |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run the tests with ./scripts/test"));
        let mut cmd = Command::new(var("FLINKFORM_TEST_GITHUB_PYTHON"));
        cmd.arg(crate::common::repo().join("tests/github/server.py")).arg(var("FLINKFORM_TEST_GITHUB_OPENAPI"));
        if !prefix.is_empty() {
            cmd.args(["--prefix", prefix]);
        }
        StandIn::spawn(cmd, prefix)
    }

    /// The local GitLab (standard library Python only), its API at `/api/v4`.
    pub fn gitlab() -> StandIn {
        let mut cmd = Command::new("python3");
        cmd.arg(crate::common::repo().join("tests/gitlab/server.py"));
        StandIn::spawn(cmd, "/api/v4")
    }

    fn spawn(mut cmd: Command, prefix: &str) -> StandIn {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("the stand-in starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("server said {line:?}"));
        StandIn { child, api: format!("http://127.0.0.1:{port}{prefix}") }
    }

    pub fn control(&self, method: &str, what: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let root = self.api.split('/').take(3).collect::<Vec<_>>().join("/");
        let mut args = vec!["-s".to_string(), "-X".into(), method.into(), format!("{root}/_control/{what}")];
        if let Some(b) = body {
            args.extend(["-H".into(), "Content-Type: application/json".into(), "-d".into(), b.to_string()]);
        }
        let out = Command::new("curl").args(&args).output().expect("curl runs");
        serde_json::from_slice(&out.stdout).expect("the control answer is JSON")
    }

    pub fn state(&self) -> serde_json::Value {
        self.control("GET", "state", None)
    }

    /// The bodies of the comments on GitHub's o/r#7.
    pub fn comments(&self) -> Vec<String> {
        self.comments_on(7)
    }

    /// The bodies of the comments on o/r#`pr`.
    pub fn comments_on(&self, pr: u64) -> Vec<String> {
        let s = self.state();
        let v = s["comments"].as_array().unwrap();
        v.iter()
            .filter(|c| c["_issue"] == pr.to_string().as_str())
            .map(|c| c["body"].as_str().unwrap().to_string())
            .collect()
    }

    /// No request and no answer broke the forge's contract.
    pub fn assert_contract(&self) {
        let s = self.state();
        assert_eq!(s["violations"], serde_json::json!([]), "requests or answers outside the forge's contract");
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn comment(p: &TestProject, gh: &StandIn, extra: &[&str]) -> Run {
    let mut args = vec!["comment", "github", "--repo", "o/r", "--pr", "7", "--api-url", &gh.api];
    args.extend(extra);
    let r = p.run_with(&args, &[("GITHUB_TOKEN", TOKEN)]);
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN), "the token leaked");
    r
}

/// The example with `n` more copies of `orders` (`orders_0000`…).
fn many(n: usize) -> TestProject {
    let p = TestProject::two_pipelines();
    let spec = p.read("pipelines/orders.toml");
    for i in 0..n {
        let name = format!("orders_{i:04}");
        p.write(
            &format!("pipelines/{name}.toml"),
            &spec
                .replace("name = \"orders\"", &format!("name = \"{name}\""))
                .replace("public.orders", &format!("public.{name}")),
        );
    }
    p
}

#[test]
fn a_pr_with_300_pipelines_gets_one_sticky_comment_within_the_limit_with_every_destroy_in_view() {
    let gh = StandIn::github("");
    let p = many(300);
    p.record();
    // The PR: 50 pipelines removed, and a default changed for every other one.
    for i in 0..50 {
        std::fs::remove_file(p.path().join(format!("pipelines/orders_{i:04}.toml"))).unwrap();
    }
    let config = p.read("flinkform.toml");
    p.write("flinkform.toml", &config.replace("\"60s\"", "\"90s\""));
    let r = comment(&p, &gh, &[]).code(0);
    assert!(
        r.stdout.contains("The plan comment on o/r#7 was created: https://github.com/o/r/pull/7#issuecomment-"),
        "{}",
        r.stdout
    );
    let bodies = gh.comments();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert!(body.chars().count() <= 65_536, "{} characters", body.chars().count());
    let summary = body.lines().find(|l| l.starts_with("**Plan:")).unwrap_or_default();
    assert_eq!(
        summary,
        "**Plan: 0 to add, 252 to change, 0 to replace, 50 to destroy. 1 job restarts without state: clickstream. 1 job skips messages on its restart: clickstream.**"
    );
    for i in 0..50 {
        assert!(body.contains(&format!("| `-` | `orders_{i:04}` | delete |")), "orders_{i:04} is not in view");
    }

    // A second push edits that comment: no new one.
    p.write("flinkform.toml", &config.replace("\"60s\"", "\"120s\""));
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("was updated"), "{}", r.stdout);
    let bodies = gh.comments();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].contains("\"120s\""), "the comment shows the new plan");

    // --behavior new adds one; delete-and-new leaves one.
    comment(&p, &gh, &["--behavior", "new"]).code(0);
    assert_eq!(gh.comments().len(), 2);
    let r = comment(&p, &gh, &["--behavior", "delete-and-new"]).code(0);
    assert!(r.stdout.contains("was created (2 earlier comments deleted)"), "{}", r.stdout);
    assert_eq!(gh.comments().len(), 1);
    gh.assert_contract();
}

#[test]
fn the_comment_is_found_on_a_later_page_among_others_and_other_projects_are_left_alone() {
    let gh = StandIn::github("/api/v3");
    let p = TestProject::two_pipelines();
    comment(&p, &gh, &[]).code(0);
    // 150 comments by people, and one of another project's flinkform, after ours.
    let mut bodies: Vec<String> = (0..150).map(|i| format!("LGTM {i}")).collect();
    bodies.push("<!-- flinkform:plan project=other env=default digest=none applied=false pipelines= -->\nother".into());
    gh.control("POST", "seed", Some(serde_json::json!({"repo": "o/r", "issue": 7, "bodies": bodies})));
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("parallelism = 2", "parallelism = 3"));
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("was updated"), "{}", r.stdout);
    let now = gh.comments();
    assert_eq!(now.len(), 152);
    assert!(now[0].contains("parallelism: 3"), "ours, the first, was edited: {}", now[0]);
    assert!(now[151].ends_with("other"), "another project's comment is not ours");
    let log = gh.state()["log"].clone();
    let pages: Vec<&str> =
        log.as_array().unwrap().iter().filter(|l| l["method"] == "GET").map(|l| l["query"].as_str().unwrap()).collect();
    assert!(pages.contains(&"per_page=100&page=2"), "the second page was read: {pages:?}");
    // hide-and-new: ours is hidden as outdated (GraphQL, at GitHub Enterprise's
    // /api/graphql), a new one added; people's and the other project's stay as they are.
    let r = comment(&p, &gh, &["--behavior", "hide-and-new"]).code(0);
    assert!(r.stdout.contains("was created (1 earlier comment hidden)"), "{}\n{}", r.stdout, r.stderr);
    let state = gh.state();
    let minimized: Vec<&serde_json::Value> =
        state["comments"].as_array().unwrap().iter().filter(|c| c.get("minimized").is_some()).collect();
    assert_eq!(minimized.len(), 1);
    assert_eq!(minimized[0]["minimized"], "OUTDATED");
    assert!(minimized[0]["body"].as_str().unwrap().contains("project=flinkform-example"));
    assert_eq!(gh.comments().len(), 153);
    gh.assert_contract();
}

/// A comment carrying this project's marker that someone else wrote, or that quotes it
/// below its first line, is not flinkform's: it is not edited. (Comments used to be
/// chosen by the marker alone.) A personal token's comments are its user's (`GET /user`).
#[test]
fn only_the_token_s_own_comments_with_the_marker_first_are_flinkform_s() {
    let gh = StandIn::github("");
    let p = TestProject::two_pipelines();
    comment(&p, &gh, &[]).code(0);
    let ours = gh.comments()[0].clone();
    let quoted = format!("> our plan:\n{ours}");
    let forged = ours.replacen("digest=", "digest=0", 1);
    let seed = |body: &str, author: &str| {
        let seed = serde_json::json!({"repo": "o/r", "issue": 7, "bodies": [body], "author": author});
        gh.control("POST", "seed", Some(seed));
    };
    seed(&quoted, "github-actions[bot]");
    seed(&forged, "octocat");
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replace("parallelism = 2", "parallelism = 3"));
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("was updated"), "{}\n{}", r.stdout, r.stderr);
    let now = gh.comments();
    assert!(now[0].contains("parallelism: 3"), "ours was edited: {}", now[0]);
    assert_eq!((&now[1], &now[2]), (&quoted, &forged), "the others are left as they are");
    let args = ["comment", "github", "--repo", "o/r", "--pr", "7", "--api-url", &gh.api];
    let r = p.run_with(&args, &[("GITHUB_TOKEN", "ghp_personalToken0123")]).code(0);
    assert!(r.stdout.contains("was created"), "another author's comment is not this token's: {}", r.stdout);
    let state = gh.state();
    let last = state["comments"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author"], "flinkform-ci");
    gh.assert_contract();
}

#[test]
fn the_pr_comes_from_the_github_actions_event_and_a_failed_plan_still_comments() {
    let gh = StandIn::github("");
    let p = TestProject::two_pipelines();
    p.write("event.json", r#"{"action": "synchronize", "number": 7, "pull_request": {"number": 7}}"#);
    let spec = p.read("pipelines/orders.toml");
    p.write("pipelines/orders.toml", &spec.replacen("[source]", "[source]\ntopik = \"x\"", 1));
    let event = p.path().join("event.json");
    let env = [
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_REPOSITORY", "o/r"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_API_URL", gh.api.as_str()),
    ];
    let r = p.run_with(&["comment", "github"], &env).code(1);
    assert!(r.stdout.contains("was created"), "{}\n{}", r.stdout, r.stderr);
    let bodies = gh.comments();
    assert!(bodies[0].contains("**The plan failed") && bodies[0].contains("topik"), "{}", bodies[0]);
    // Fixed on the next push: the same comment now shows the plan, as does the run's
    // summary page.
    p.write("pipelines/orders.toml", &spec);
    let summary = p.path().join("step-summary.md");
    let mut env = env.to_vec();
    env.push(("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()));
    p.run_with(&["comment", "github"], &env).code(0);
    assert!(std::fs::read_to_string(&summary).unwrap().contains("**Plan: 2 to add"));
    let bodies = gh.comments();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].contains("**Plan: 2 to add"), "{}", bodies[0]);
    gh.assert_contract();
}

#[test]
fn permission_errors_say_what_to_grant_and_rate_limits_are_waited_out() {
    let gh = StandIn::github("");
    let p = TestProject::two_pipelines();
    gh.control(
        "POST",
        "fail",
        Some(serde_json::json!({"status": 403, "times": 1, "message": "Resource not accessible by integration"})),
    );
    let r = comment(&p, &gh, &[]).code(1);
    assert!(
        r.stderr.contains("GitHub answered 403 to list the PR's comments: Resource not accessible by integration")
            && r.stderr.contains("permissions: pull-requests: write"),
        "{}",
        r.stderr
    );
    gh.control(
        "POST",
        "fail",
        Some(serde_json::json!({"status": 403, "times": 1, "message": "API rate limit exceeded", "headers": {"retry-after": "1"}})),
    );
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("was created"), "{}\n{}", r.stdout, r.stderr);
    let r = p.run_with(&["comment", "github", "--repo", "o/r", "--pr", "7"], &[("GITHUB_TOKEN", "")]).code(1);
    assert!(r.stderr.contains("GITHUB_TOKEN is not set"), "{}", r.stderr);
    gh.assert_contract();
}

#[test]
fn the_pr_is_labelled_with_the_plans_change_classes_and_other_labels_are_left_alone() {
    let gh = StandIn::github("");
    let p = TestProject::two_pipelines();
    p.record();
    gh.control("POST", "seed", Some(serde_json::json!({"repo": "o/r", "issue": 7, "labels": ["bug"]})));
    let clicks = p.read("pipelines/clickstream.toml");
    std::fs::remove_file(p.path().join("pipelines/clickstream.toml")).unwrap();
    let spec = p.read("pipelines/orders.toml");
    // A restart (a Flink option a running job cannot take in place) without state.
    let stateless = "[deployment]\nupgrade = \"stateless\"\nflink_conf = { \"table.exec.state.ttl\" = \"1h\" }";
    p.write("pipelines/orders.toml", &spec.replace("[deployment]", stateless));
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("Labelled o/r#7: flinkform:destroy, flinkform:restart-without-state"), "{}", r.stdout);
    let labels = |gh: &StandIn| gh.state()["labels"]["o/r/issues/7"].clone();
    assert_eq!(labels(&gh), serde_json::json!(["bug", "flinkform:destroy", "flinkform:restart-without-state"]));
    // The next push destroys nothing: that label goes, the others stay.
    p.write("pipelines/clickstream.toml", &clicks);
    let r = comment(&p, &gh, &[]).code(0);
    assert!(r.stdout.contains("Removed from o/r#7: flinkform:destroy"), "{}", r.stdout);
    assert_eq!(labels(&gh), serde_json::json!(["bug", "flinkform:restart-without-state"]));
    gh.assert_contract();
}
