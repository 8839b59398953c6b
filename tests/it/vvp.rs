//! The VVP emulator against Alibaba's official Python SDK, unchanged.

use vvp_api::Vvp;

use std::process::Command;

use clap::Parser;

/// A `vvp-emulator` served in-process on a free loopback port; stopped on drop.
pub struct Emulator {
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub const AK: &str = "test-access-key-id";
pub const SK: &str = "test-access-key-secret-canary-7f3a";

impl Emulator {
    /// Where a client reaches `namespace` of workspace `w` on this emulator.
    pub fn target(&self, namespace: &str) -> vvp_api::Target {
        vvp_api::Target {
            endpoint: self.addr.clone(),
            protocol: "http".into(),
            workspace: "w".into(),
            namespace: namespace.into(),
            project: None,
        }
    }

    /// An emulator whose namespaces have the variables the example's SQL references.
    pub fn start(extra: &[&str]) -> Emulator {
        let mut args = vec!["--variables", "holo_user,holo_password"];
        args.extend(extra);
        Emulator::bare(&args)
    }

    /// An emulator with exactly these arguments (as its command line takes them).
    pub fn bare(extra: &[&str]) -> Emulator {
        let argv = ["vvp-emulator", "--access-key-id", AK, "--access-key-secret", SK].iter().chain(extra);
        let cfg =
            vvp_emulator::Args::try_parse_from(argv).expect("emulator arguments").config().expect("emulator arguments");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Stopped abruptly, as a killed server is: open connections just drop.
                tokio::select! {
                    r = vvp_emulator::serve(cfg, listener, std::future::pending()) => r.expect("the emulator serves"),
                    _ = stopped => {}
                }
            });
        });
        Emulator { addr, stop: Some(stop), thread: Some(thread) }
    }
}

impl Emulator {
    /// The emulator's `GET /_emulator/stats`: the calls it received, by operation.
    pub fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&self.addr).expect("the emulator listens");
        write!(c, "GET /_emulator/stats HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        let (_, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        serde_json::from_str(body).expect("stats are JSON")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The Python with the official SDK installed; the README's test command always sets it.
fn sdk_python() -> String {
    std::env::var("FLINKFORM_TEST_SDK_PYTHON").expect(
        "FLINKFORM_TEST_SDK_PYTHON is not set: run the tests with ./scripts/test, which installs alibabacloud-ververica20220718",
    )
}

#[test]
fn official_python_sdk_runs_a_whole_lifecycle_against_the_emulator() {
    // Steps of drawn durations (a tenth over five times the median), short enough that
    // the script's polls never give up.
    let delays = ["--deploy-delay", "20ms", "--start-delay", "20ms", "--stop-delay", "20ms"];
    let emu = Emulator::start(&[&delays[..], &["--hot-update-delay", "20ms", "--step-spread", "1.256"]].concat());
    let out = Command::new(sdk_python())
        .arg(crate::common::repo().join("tests/sdk/lifecycle.py"))
        .args([&emu.addr, "ws-1", "my namespace"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SK)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    for step in [
        "CreateDeploymentDraft",
        "DeployDeploymentDraftAsync",
        "GetDeployment",
        "GetDeploymentsByName",
        "StartJobWithParams",
        "ListDeployments",
        "unmodelled filter refused",
        "UpdateDeployment",
        "HotUpdateJob",
        "GetHotUpdateJobResult",
        "GetJobDiagnosis",
        "StopJob",
        "ListSavepoints",
        "DeleteDeployment",
        "wrong secret refused: SignatureDoesNotMatch",
        "lifecycle complete",
    ] {
        assert!(stdout.contains(step), "missing {step}:\n{stdout}");
    }
    // The emulator's count of calls by operation is the SDK's own log of what it did:
    // one `ok STEP` line per call, and the refused one.
    let stats = emu.stats();
    let made = |step: &str| stdout.lines().filter(|l| *l == format!("ok {step}")).count() as u64;
    for (step, operation) in [
        ("CreateDeploymentDraft", "POST /deployment-drafts"),
        ("DeployDeploymentDraftAsync", "POST /deployment-drafts/async-deploy"),
        ("GetDeployDeploymentDraftResult", "GET /deployment-drafts/tickets/{id}/async-deploy"),
        ("GetJob", "GET /jobs/{id}"),
        ("StopJob", "POST /jobs/{id}%3Astop"),
        ("DeleteDeployment", "DELETE /deployments/{id}"),
    ] {
        assert!(made(step) > 0, "the SDK made no {step}:\n{stdout}");
        assert_eq!(stats["calls"][operation].as_u64(), Some(made(step)), "{operation} in {stats}");
    }
    let calls = stdout.lines().filter(|l| l.starts_with("ok ")).count() as u64;
    assert_eq!(stats["total"].as_u64(), Some(calls), "{stats}\n{stdout}");
    // The steps it waited on (deploy, start, hot update, stop) were drawn for its one deployment.
    let steps = stats["steps"].as_object().expect("steps drawn");
    assert_eq!(steps.keys().map(|k| k.starts_with("sdk lifecycle:")).collect::<Vec<_>>(), [true], "{stats}");
}

#[test]
fn client_drafts_round_trip_through_the_emulator() {
    use vvp_api::{Client, Credentials, RetryPolicy};
    use vvp_wire::wire::DeploymentDraft;
    let emu = Emulator::start(&[]);
    let c =
        Client::new(emu.target("a b:c"), Credentials::new(AK.into(), SK.into(), None), RetryPolicy::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let id = c.create_sql_draft("p one", "SELECT 1;", "vvr-8.0.11-flink-1.17", None).await.unwrap();
        let patch = DeploymentDraft { engine_version: Some("vvr-11.1-jdk11-flink-1.20".into()), ..Default::default() };
        let d = c.update_draft(&id, &patch).await.unwrap();
        assert_eq!(d.engine_version.as_deref(), Some("vvr-11.1-jdk11-flink-1.20"));
        assert_eq!(c.get_draft(&id).await.unwrap().name.as_deref(), Some("p one"));
        c.delete_draft(&id).await.unwrap();
        let gone = c.get_draft(&id).await.unwrap_err();
        assert_eq!(gone.code(), Some(vvp_api::NOT_FOUND), "{gone}");
        assert_eq!(gone.kind(), vvp_api::ErrorKind::NotFound, "{gone}");
        assert!(!gone.transient());
        // A wrong secret is a non-retryable gateway error.
        let bad =
            Client::new(emu.target("n"), Credentials::new(AK.into(), "wrong".into(), None), RetryPolicy::default())
                .unwrap();
        let e = bad.variable_names().await.unwrap_err();
        assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e}");
        assert_eq!(e.kind(), vvp_api::ErrorKind::Auth, "{e}");
        assert!(!e.to_string().contains("wrong"), "no secret in the error");

        // An unknown access key (`InvalidAccessKeyId.NotFound`) is an auth failure, never
        // a missing resource: deleting with it must fail, not report the deployment gone.
        let unknown = Client::new(
            emu.target("n"),
            Credentials::new("no-such-key".into(), SK.into(), None),
            RetryPolicy::default(),
        )
        .unwrap();
        let e = unknown.delete("dep-1", "p").await.unwrap_err();
        assert_eq!(e.kind(), vvp_api::ErrorKind::Auth, "{e}");
        assert_eq!(unknown.draft("draft-1").await.unwrap_err().kind(), vvp_api::ErrorKind::Auth);
    });
}

#[test]
fn an_endpoint_that_never_answers_fails_a_call_after_two_timeouts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use vvp_api::{Client, Credentials, RetryPolicy, VvpError};
    // Accepts every connection and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    let target = vvp_api::Target {
        endpoint: addr,
        protocol: "http".into(),
        workspace: "ws".into(),
        namespace: "ns".into(),
        project: None,
    };
    let policy = RetryPolicy { request_timeout: std::time::Duration::from_millis(300), ..RetryPolicy::default() };
    let c = Client::new(target, Credentials::new(AK.into(), SK.into(), None), policy).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = rt.block_on(c.get_deployment("dep-1")).unwrap_err();
    assert!(matches!(e, VvpError::Transport { timed_out: true, .. }), "{e}");
    assert_eq!(accepted.load(Ordering::SeqCst), RetryPolicy::default().timed_out_attempts as usize, "{e}");
}
