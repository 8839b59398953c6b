//! `flinkform serve` end to end: the example applied through the GitHub workflow
//! against `vvp-emulator` (so that its revisions record the reviewed pull request),
//! served by the real binary, and looked at by independent parts: headless Chromium
//! through WebDriver (`browser`), Prometheus' own parser, a receiver per chat channel
//! that checks each vendor's documented format and signature (`tests/serve/
//! receiver.py`), and a second process putting the server under load.

mod browser;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestProject, repo};
use crate::vvp::{Emulator, SK};

/// The text only `clickstream`'s SQL holds: its jobs fail in the emulator.
const FAILS: &str = "app_clickstream";

/// A project applied as a merged pull request would be, and served.
struct Served {
    /// The project and the emulator the server watches.
    p: TestProject,
    emu: Emulator,
    server: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The example applied on merge of pull request 7 of `o/r` (with `whole`, all of it:
/// the change stream, the lookup and the JDBC sink too; else `clickstream` and `orders`);
/// with `second_revision`, `orders` then changed and applied again by hand, and the
/// `prod` environment applied too.
fn applied(emulator: &[&str], second_revision: bool) -> (TestProject, Emulator) {
    applied_example(emulator, second_revision, false)
}

fn applied_example(emulator: &[&str], second_revision: bool, whole: bool) -> (TestProject, Emulator) {
    let mut args = vec!["--variables", "holo_user,holo_password,pg_user,pg_password"];
    args.extend(emulator);
    let emu = Emulator::bare(&args);
    let gh = crate::comment::StandIn::github("");
    let p = if whole { TestProject::example() } else { TestProject::two_pipelines() };
    let toml = p.read("flinkform.toml");
    // prod in a namespace of its own (the example shares one between default and prod).
    let toml = toml.replace(
        "[environments.prod.vvp]\nnamespace = \"your-namespace\"",
        "[environments.prod.vvp]\nnamespace = \"ns-prod\"",
    );
    p.write("flinkform.toml", &toml);
    let pr = serde_json::json!({"action": "synchronize", "number": 7, "pull_request": {"number": 7}});
    let r = crate::review::run_workflow(&p, &emu, &gh, "flinkform-plan.yml", pr, "head1");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    gh.control("POST", "merge", Some(serde_json::json!({"sha": "m1", "pr": 7})));
    let push = serde_json::json!({"ref": "refs/heads/main", "after": "m1"});
    let r = crate::review::run_workflow(&p, &emu, &gh, "flinkform-apply.yml", push, "m1");
    assert_eq!(r[0].code, 0, "{}\n{}", r[0].stdout, r[0].stderr);
    if second_revision {
        let spec = p.read("pipelines/orders.toml");
        p.write("pipelines/orders.toml", &spec.replace("watermark_delay = \"5s\"", "watermark_delay = \"10s\""));
        let r = run(&p, &emu, &["apply", "--auto-approve"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let r = run(&p, &emu, &["--env", "prod", "apply", "--auto-approve"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    (p, emu)
}

fn run(p: &TestProject, emu: &Emulator, args: &[&str]) -> crate::common::Run {
    let mut env = crate::apply::env(emu);
    env.push(("USER", "alice".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run_with(args, &pairs)
}

impl Served {
    /// `flinkform serve` on `p`, refreshing every second.
    fn start(p: TestProject, emu: Emulator, env: &[(&str, String)]) -> Served {
        let mut all = crate::apply::env(&emu);
        all.extend(env.iter().map(|(k, v)| (*k, v.clone())));
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut server = p
            .command(&["serve", "--listen", "127.0.0.1:0", "--refresh", "1s"], &pairs)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base =
            line.trim().strip_prefix("flinkform serve: listening on ").unwrap_or_else(|| panic!("{line}")).to_string();
        let served = Served { p, emu, server, base };
        served.until("the first refresh", Duration::from_secs(20), || served.get("/healthz").0 == 200);
        served
    }

    /// `GET path`: status and body.
    fn get(&self, path: &str) -> (u16, String) {
        self.get_as(path, "text/html")
    }

    fn get_as(&self, path: &str, accept: &str) -> (u16, String) {
        crate::apply::block_on(async {
            let r = crate::common::http()
                .get(format!("{}{path}", self.base))
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get_as(path, "application/json");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `done`, failing after `within`.
    fn until(&self, what: &str, within: Duration, done: impl Fn() -> bool) {
        let end = Instant::now() + within;
        while !done() {
            assert!(Instant::now() < end, "{what}: not within {within:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A Python script of `tests/serve` with the vendors' venv (`prometheus_client`), or the
/// machine's Python for the stdlib-only ones.
fn python(script: &str, vendors: bool) -> Command {
    let py = if vendors {
        std::env::var("FLINKFORM_TEST_SDK_PYTHON").expect("FLINKFORM_TEST_SDK_PYTHON (set by scripts/test)")
    } else {
        "python3".into()
    };
    let mut c = Command::new(py);
    c.arg(repo().join("tests/serve").join(script));
    c
}

/// The channel receivers, stopped on drop.
struct Receivers {
    child: Child,
    base: String,
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receivers {
    fn start(config: serde_json::Value) -> Receivers {
        let mut child = python("receiver.py", false).arg(config.to_string()).stdout(Stdio::piped()).spawn().unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        Receivers { child, base: format!("http://127.0.0.1:{}", port.trim()) }
    }

    fn list(&self, what: &str) -> Vec<serde_json::Value> {
        crate::apply::block_on(async {
            let r = crate::common::http().get(format!("{}/{what}", self.base)).send().await.unwrap();
            r.json::<Vec<serde_json::Value>>().await.unwrap()
        })
    }
}

#[test]
fn a_failed_job_alerts_once_on_every_channel_naming_the_pull_request_that_last_changed_it() {
    let (p, emu) = applied(&["--job-crash-after", "2s", "--fail-jobs-of-sql-with", FAILS], false);
    let secrets =
        [("dingtalk_secret", "SECdingtalk0123"), ("feishu_secret", "feishuSecret42"), ("webhook_secret", "whsec_7a1")];
    let mut config = serde_json::json!({"dingtalk_token": "dtok", "wecom_key": "wkey", "throttle": ["dingtalk"]});
    for (k, v) in secrets {
        config[k] = v.into();
    }
    let rx = Receivers::start(config);
    let toml = p.read("flinkform.toml");
    let mut alerts = String::new();
    for (kind, signed) in [("dingtalk", true), ("wecom", false), ("feishu", true), ("slack", false), ("webhook", true)]
    {
        let up = kind.to_uppercase();
        alerts.push_str(&format!("\n[[alert]]\nname = \"{kind}\"\nkind = \"{kind}\"\nurl_env = \"T_{up}_URL\"\n"));
        if signed {
            alerts.push_str(&format!("secret_env = \"T_{up}_SECRET\"\n"));
        }
    }
    // A channel that never answers: the others are not held up by it.
    alerts.push_str(
        "\n[[alert]]\nname = \"broken\"\nkind = \"webhook\"\nurl_env = \"T_BROKEN_URL\"\non = [\"failed\"]\n",
    );
    p.write("flinkform.toml", &format!("{toml}{alerts}"));
    let b = &rx.base;
    let env = vec![
        ("T_DINGTALK_URL", format!("{b}/dingtalk/robot/send?access_token=dtok")),
        ("T_DINGTALK_SECRET", secrets[0].1.to_string()),
        ("T_WECOM_URL", format!("{b}/wecom/cgi-bin/webhook/send?key=wkey")),
        ("T_FEISHU_URL", format!("{b}/feishu/open-apis/bot/v2/hook/ftok")),
        ("T_FEISHU_SECRET", secrets[1].1.to_string()),
        ("T_SLACK_URL", format!("{b}/slack/services/T0/B0/x")),
        ("T_WEBHOOK_URL", format!("{b}/webhook")),
        ("T_WEBHOOK_SECRET", secrets[2].1.to_string()),
        ("T_BROKEN_URL", "http://127.0.0.1:9/hook".to_string()),
    ];
    let s = Served::start(p, emu, &env);
    s.until("an alert on each channel", Duration::from_secs(40), || rx.list("_received").len() >= 5);
    // Several refreshes later, still one each: the failure is one transition.
    std::thread::sleep(Duration::from_secs(4));
    let got = rx.list("_received");
    assert_eq!(rx.list("_deviations"), Vec::<serde_json::Value>::new(), "every request as its vendor documents it");
    let mut channels: Vec<&str> = got.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    channels.sort();
    assert_eq!(channels, ["dingtalk", "feishu", "slack", "webhook", "wecom"], "{got:#?}");
    for m in &got {
        let text = m["body"].to_string();
        for part in ["clickstream", "FAILED", "o/r#7", "default"] {
            assert!(text.contains(part), "{part} in the {} alert: {text}", m["channel"]);
        }
        for (_, secret) in secrets {
            assert!(!text.contains(secret), "a signing secret in an alert");
        }
    }
    let hook = got.iter().find(|m| m["channel"] == "webhook").unwrap();
    let alert = &hook["body"]["alerts"][0];
    assert_eq!(alert["on"], "failed");
    assert_eq!(alert["change"]["review"]["name"], "o/r#7");
    assert_eq!(alert["change"]["commit"], "m1");
    // The broken channel gave up after its tries, counted; the others were not held up.
    s.until("the broken channel's failure counted", Duration::from_secs(30), || {
        s.get("/metrics").1.contains("flinkform_alerts_failed_total{channel=\"broken\"} 1")
    });
    let metrics = s.get("/metrics").1;
    assert!(metrics.contains("flinkform_alerts_sent_total{channel=\"dingtalk\"} 1"), "{metrics}");
    for (_, secret) in secrets {
        assert!(!metrics.contains(secret));
    }
}

#[test]
fn metrics_parse_with_prometheus_own_parser_and_carry_every_pipeline_of_every_environment() {
    let (p, emu) = applied(&[], true);
    let s = Served::start(p, emu, &[]);
    let out = python("metrics.py", true).arg(format!("{}/metrics", s.base)).output().unwrap();
    assert!(out.status.success(), "the parser refused /metrics: {}", String::from_utf8_lossy(&out.stderr));
    let families: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let family = |name: &str| families.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let mut pipelines: Vec<(String, String)> = family("flinkform_pipeline_info")["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["labels"]["env"].as_str().unwrap().into(), s["labels"]["pipeline"].as_str().unwrap().into()))
        .collect();
    pipelines.sort();
    let want = [("default", "clickstream"), ("default", "orders"), ("prod", "clickstream"), ("prod", "orders")];
    assert_eq!(pipelines, want.map(|(e, n)| (e.to_string(), n.to_string())));
    // The parser names a counter's family without `_total`; its samples keep it.
    assert_eq!(family("flinkform_alerts_sent")["type"], "counter");
    let running = &family("flinkform_job_running")["samples"];
    assert_eq!(running.as_array().unwrap().len(), 4);
    assert!(running.as_array().unwrap().iter().all(|s| s["value"] == 1.0), "{running}");
    for f in &families {
        let name = f["name"].as_str().unwrap();
        assert!(name.starts_with("flinkform_") || name.starts_with("process_"), "{name}");
        assert!(!f["help"].as_str().unwrap().is_empty(), "{name} has a HELP");
    }
    let refresh = &family("flinkform_refresh_success")["samples"];
    let envs: Vec<&str> = refresh.as_array().unwrap().iter().map(|s| s["labels"]["env"].as_str().unwrap()).collect();
    assert_eq!(envs, ["default", "dev", "prod"]);
}

#[test]
fn the_server_answers_200_clients_for_10_seconds_without_an_error_in_bounded_memory() {
    let (p, emu) = applied(&[], true);
    let s = Served::start(p, emu, &[]);
    let port = s.base.rsplit(':').next().unwrap();
    let paths = ["/", "/lineage", "/applies", "/metrics", "json:/", "/env/default/pipelines/orders", "/healthz"];
    let out = python("load.py", false)
        .args(["127.0.0.1", port, &s.server.id().to_string(), "200", "10"])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["errors"], serde_json::json!({}), "{stats}");
    assert_eq!(stats["statuses"].as_object().unwrap().keys().collect::<Vec<_>>(), ["200"], "{stats}");
    assert!(stats["requests"].as_u64().unwrap() > 1000, "{stats}");
    let rss_mb = stats["max_rss_kb"].as_u64().unwrap() / 1024;
    assert!(rss_mb > 0 && rss_mb < 150, "the server's memory under load: {rss_mb} MiB");
}

/// Everything the server answers, as HTML and as JSON, holds no credential.
#[test]
fn no_page_and_no_answer_holds_a_secret() {
    let (p, emu) = applied(&[], true);
    let s = Served::start(p, emu, &[]);
    let id = s.json("/applies")["applies"][0]["url"].as_str().unwrap().to_string();
    for path in [
        "/",
        "/lineage",
        "/applies",
        "/metrics",
        "/healthz",
        "/env/prod/pipelines/orders",
        "/env/default/pipelines/clickstream",
        id.as_str(),
        "/nowhere",
    ] {
        for accept in ["text/html", "application/json"] {
            let (_, body) = s.get_as(path, accept);
            assert!(!body.contains(SK), "{path} ({accept}) holds the access key secret");
            assert!(!body.contains("ghs_flinkformTestToken"), "{path} ({accept}) holds the forge token");
        }
    }
    let pipeline = s.json("/env/default/pipelines/orders");
    assert!(pipeline["sql"].as_str().unwrap().contains("${secret_values.holo_password}"), "secrets stay references");
    assert_eq!(s.get("/nowhere").0, 404);
}

#[test]
fn a_job_flink_keeps_restarting_alerts_once_and_its_restarts_are_counted() {
    let (p, emu) = applied(&["--restart-jobs-of-sql-with", FAILS], false);
    let rx = Receivers::start(serde_json::json!({"webhook_secret": "whsec_r"}));
    let toml = p.read("flinkform.toml");
    let alert = "\n[[alert]]\nkind = \"webhook\"\nurl_env = \"T_HOOK\"\nsecret_env = \"T_HOOK_SECRET\"\non = [\"restarting\"]\n";
    p.write("flinkform.toml", &format!("{toml}{alert}"));
    let env = vec![("T_HOOK", format!("{}/webhook", rx.base)), ("T_HOOK_SECRET", "whsec_r".to_string())];
    let s = Served::start(p, emu, &env);
    s.until("the restarting alert", Duration::from_secs(20), || !rx.list("_received").is_empty());
    // It goes on restarting for several refreshes: still the one alert.
    std::thread::sleep(Duration::from_secs(4));
    let got = rx.list("_received");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(rx.list("_deviations"), Vec::<serde_json::Value>::new());
    let alert = &got[0]["body"]["alerts"][0];
    assert_eq!((alert["on"].as_str(), alert["pipeline"].as_str()), (Some("restarting"), Some("clickstream")));
    let metrics = s.get("/metrics").1;
    let restarts = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flinkform_job_restarts_total{env=\"default\",pipeline=\"clickstream\"} "))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(restarts.parse::<u64>().unwrap() >= 4, "{restarts}");
    assert!(metrics.contains("flinkform_job_restarts_total{env=\"default\",pipeline=\"orders\"} 0"), "{metrics}");
    let jobs = &s.json("/env/default/pipelines/clickstream")["jobs"];
    assert!(jobs[0]["restarts"].as_u64().unwrap() >= 4, "{jobs}");
}

#[test]
fn drift_and_a_failed_apply_each_alert_once_naming_what_happened() {
    let (p, emu) = applied(&["--fail-jobs-of-sql-with", "INTERVAL '7' SECOND"], false);
    let rx = Receivers::start(serde_json::json!({}));
    let toml = p.read("flinkform.toml");
    let alert = "\n[[alert]]\nkind = \"webhook\"\nurl_env = \"T_HOOK\"\non = [\"drift\", \"apply_failed\"]\n";
    p.write("flinkform.toml", &format!("{toml}{alert}"));
    let s = Served::start(p, emu, &[("T_HOOK", format!("{}/webhook", rx.base))]);
    let alerts = || rx.list("_received").into_iter().map(|m| m["body"]["alerts"][0].clone()).collect::<Vec<_>>();

    // The parallelism changed in the console: drift.
    let c = crate::apply::client(&s.emu);
    let state: serde_json::Value = serde_json::from_str(&s.p.read(".flinkform/state.json")).unwrap();
    let dep = state["pipelines"]["orders"]["remote"]["deployment_id"].as_str().unwrap().to_string();
    let mut d = crate::apply::block_on(c.get_deployment(&dep)).unwrap();
    d.streaming_resource_setting.as_mut().unwrap().basic_resource_setting.as_mut().unwrap().parallelism = Some(8);
    crate::apply::block_on(c.update_deployment(&dep, &d)).unwrap();
    s.until("the drift alert", Duration::from_secs(15), || !alerts().is_empty());
    let got = alerts();
    assert_eq!((got[0]["on"].as_str(), got[0]["pipeline"].as_str()), (Some("drift"), Some("orders")), "{got:#?}");
    assert!(got[0]["what"].as_str().unwrap().contains("parallelism is 8 on VVP, 2 when applied"), "{got:#?}");

    // A change whose new job fails: the apply fails, and says so once.
    let spec = s.p.read("pipelines/orders.toml");
    s.p.write("pipelines/orders.toml", &spec.replace("watermark_delay = \"5s\"", "watermark_delay = \"7s\""));
    let r = run(&s.p, &s.emu, &["apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    s.until("the apply's alert", Duration::from_secs(15), || alerts().len() >= 2);
    std::thread::sleep(Duration::from_secs(3));
    let got = alerts();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!((got[1]["on"].as_str(), got[1]["pipeline"].as_str()), (Some("apply_failed"), Some("orders")));
    assert_eq!(got[1]["change"]["by"], "alice", "{got:#?}");
    assert!(got[1]["diagnosis"][0].as_str().unwrap().contains("JobFailed"), "{got:#?}");
    assert_eq!(rx.list("_deviations"), Vec::<serde_json::Value>::new());
    // The log shows it, failed, on the applies page's JSON.
    let applies = s.json("/applies");
    assert_eq!(applies["applies"][0]["outcome"], "failed", "{applies}");
}

#[test]
fn a_state_is_served_alone_without_the_specs_that_made_it() {
    let (p, emu) = applied(&[], false);
    // What a team's server has: flinkform.toml (environments overlaying pipelines) and
    // the state, no checkout of the specs.
    std::fs::remove_dir_all(p.path().join("pipelines")).unwrap();
    std::fs::remove_dir_all(p.path().join("samples")).unwrap();
    let s = Served::start(p, emu, &[]);
    let listed = s.json("/");
    let names: Vec<&str> =
        listed["pipelines"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["clickstream", "orders"], "{listed}");
    assert_eq!(listed["pipelines"][0]["health"]["job"], "running");
    let page = s.json("/env/default/pipelines/orders");
    assert_eq!(page["revisions"][0]["stamp"]["review"]["name"], "o/r#7", "{page}");
}

#[test]
fn alerts_raised_together_reach_each_channel_as_one_message() {
    // Every job of the whole example fails once it ran two seconds.
    let (p, emu) = applied_example(&["--job-crash-after", "2s", "--fail-jobs-of-sql-with", "INSERT INTO"], false, true);
    let rx = Receivers::start(serde_json::json!({}));
    let toml = p.read("flinkform.toml");
    let alerts =
        "\n[[alert]]\nkind = \"webhook\"\nurl_env = \"T_HOOK\"\n\n[[alert]]\nkind = \"slack\"\nurl_env = \"T_SLACK\"\n";
    p.write("flinkform.toml", &format!("{toml}{alerts}"));
    // Started once every job has failed: the first refresh sees them all at once.
    let c = crate::apply::client(&emu);
    let all_failed = || {
        crate::apply::block_on(async {
            let deps = c.managed_deployments().await.unwrap();
            let mut failed = 0;
            for d in &deps {
                let jobs = c.deployment_jobs(&d.id).await.unwrap();
                failed += usize::from(jobs.first().is_some_and(|j| matches!(j.state, vvp_api::JobState::Failed(_))));
            }
            failed == 5
        })
    };
    let end = Instant::now() + Duration::from_secs(20);
    while !all_failed() {
        assert!(Instant::now() < end, "the jobs did not fail");
        std::thread::sleep(Duration::from_millis(200));
    }
    let env = [("T_HOOK", format!("{}/webhook", rx.base)), ("T_SLACK", format!("{}/slack/services/T/B/x", rx.base))];
    let s = Served::start(p, emu, &env);
    s.until("the alerts", Duration::from_secs(20), || rx.list("_received").len() >= 2);
    std::thread::sleep(Duration::from_secs(3));
    let got = rx.list("_received");
    assert_eq!(got.len(), 2, "one message per channel: {got:#?}");
    let hook = got.iter().find(|m| m["channel"] == "webhook").unwrap();
    let mut failed: Vec<&str> =
        hook["body"]["alerts"].as_array().unwrap().iter().map(|a| a["pipeline"].as_str().unwrap()).collect();
    failed.sort();
    assert_eq!(failed, ["clickstream", "orders", "orders_report", "payments", "shop_orders"]);
    let slack = got.iter().find(|m| m["channel"] == "slack").unwrap()["body"]["text"].as_str().unwrap().to_string();
    assert!(slack.starts_with("flinkform: 5 alerts"), "{slack}");
    assert!(s.get("/metrics").1.contains("flinkform_alerts_sent_total{channel=\"webhook #1\"} 5"));
}
