//! Test helpers: a throwaway copy of a project and a fluent runner for the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use flinkform::workspace::{self, Workspace};
use flinkform_core::state::{self, State};

/// The repository root (holding the bundled example project).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An HTTP client (this build's reqwest has TLS without a default crypto provider: ring is
/// installed first, as the binary does).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A temporary project directory, deleted on drop.
pub struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    /// A copy of the bundled example (flinkform.toml, pipelines/, samples/).
    pub fn example() -> TestProject {
        let p = TestProject { dir: tempfile::tempdir().unwrap() };
        std::fs::copy(repo().join("flinkform.toml"), p.path().join("flinkform.toml")).unwrap();
        for sub in ["pipelines", "samples"] {
            std::fs::create_dir_all(p.path().join(sub)).unwrap();
            for e in std::fs::read_dir(repo().join(sub)).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), p.path().join(sub).join(e.file_name())).unwrap();
            }
        }
        p
    }

    /// A copy of the bundled example with only its JSON-topic pipelines into Hologres,
    /// `clickstream` and `orders`: what the tests of apply, the CLI and the review loop
    /// count on (the change stream, the lookup join and the JDBC sink have tests of their own).
    pub fn two_pipelines() -> TestProject {
        let p = TestProject::example();
        for name in ["orders_report", "payments", "shop_orders"] {
            std::fs::remove_file(p.path().join("pipelines").join(format!("{name}.toml"))).unwrap();
        }
        p
    }

    /// A copy of a fixture project under tests/fixtures.
    pub fn fixture(name: &str) -> TestProject {
        let p = TestProject { dir: tempfile::tempdir().unwrap() };
        copy_tree(&repo().join("tests/fixtures").join(name), p.path());
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// Runs `flinkform -C <project> args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// The command `flinkform -C <project> args...` with extra environment variables.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flinkform"));
        c.arg("-C").arg(self.path()).args(args).env_remove("RUST_LOG").env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Runs `flinkform -C <project> args...` with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.command(args, env).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `script` with `bash -eo pipefail` in the project, as a CI step runs it, with
    /// this build's `flinkform` first on the PATH and `env` set.
    pub fn bash(&self, script: &str, env: &[(&str, &str)]) -> Run {
        let bin = Path::new(env!("CARGO_BIN_EXE_flinkform")).parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash")
            .args(["-eo", "pipefail", "-c", script])
            .current_dir(self.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Plans and records the plan's outcome into the project's state store, as a
    /// successful apply would. Returns the written state.
    pub fn record(&self) -> State {
        let mut ws = Workspace::load(self.path()).unwrap_or_else(|f| panic!("{:?}", f.0));
        let store = ws.store().unwrap_or_else(|f| panic!("{:?}", f.0));
        let prev = store.load().unwrap();
        let (desired, inputs) =
            workspace::desired_all(&mut ws, prev.as_ref(), &|_, _| {}).unwrap_or_else(|f| panic!("{:?}", f.0));
        let plan = flinkform_core::plan::compute(desired, prev.clone(), None, inputs);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        let next = plan.outcome(prev.as_ref(), "00000000-0000-4000-8000-000000000000", "2026-01-01T00:00:00Z");
        state::commit(&*store, prev.as_ref(), next).unwrap()
    }
}

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(self.code, expected, "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
