//! The user documentation is true: every TOML block in the README reads as a valid
//! project (its `flinkform.toml` block with each pipeline block), with no error and no
//! warning; the user guide's commands run in order on the example and its specs read;
//! `docs/reference.md` is what the command line's own `--help` says.

use flinkform_core::diag::Source;
use flinkform_core::spec;

#[test]
fn every_toml_block_in_the_readme_is_a_valid_spec() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = blocks(&readme, "toml");
    let (config, pipelines): (Vec<_>, Vec<_>) = blocks.iter().partition(|b| b.contains("version = 1"));
    assert_eq!((config.len(), pipelines.is_empty()), (1, false), "one flinkform.toml block and pipeline blocks");
    let config = Source::new("README.md (flinkform.toml)", config[0].as_str());
    let pipelines: Vec<Source> = pipelines
        .iter()
        .enumerate()
        .map(|(i, b)| Source::new(format!("README.md (pipeline block {})", i + 1), b.as_str()))
        .collect();
    let (project, diags) = spec::load(&config, &pipelines, None);
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "{}", shown.join("\n"));
    let project = project.expect("a project");
    // The options the README shows reach the pipeline.
    assert!(project.pipelines.iter().any(|p| p.source.options.contains_key("properties.max.poll.records")));
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, l) if l == open => current = Some(String::new()),
            (Some(b), "```") => {
                out.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn the_user_guide_runs_its_commands_and_reads_its_specs() {
    let guide = std::fs::read_to_string(crate::common::repo().join("docs/user-guide.md")).unwrap();
    let p = crate::common::TestProject::example();
    let emu = crate::vvp::Emulator::start(&[]);
    let vvp: Vec<(&str, String)> = crate::apply::env(&emu);
    let vvp: Vec<(&str, &str)> = vvp.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lines = |lang: &str| -> Vec<String> {
        blocks(&guide, lang).iter().flat_map(|b| b.lines().map(String::from).collect::<Vec<_>>()).collect()
    };
    let (offline, online) = (lines("sh"), lines("sh emulator"));
    assert!(offline.len() >= 10 && online.len() >= 5, "{offline:?} {online:?}");
    // In order, as a reader types them: the offline ones, then those against VVP.
    let runs = offline.iter().map(|c| (c, &[][..])).chain(online.iter().map(|c| (c, &vvp[..])));
    for (cmd, env) in runs {
        assert!(cmd.starts_with("flinkform "), "not a flinkform command: {cmd}");
        let r = p.bash(cmd, env);
        let ok = r.code == 0 || (r.code == 2 && cmd.contains("--detailed-exitcode"));
        assert!(ok, "`{cmd}` exited {}:\n{}\n{}", r.code, r.stdout, r.stderr);
    }
    // The loop ends with nothing left to do.
    let last = p.bash("flinkform -C shop plan", &vvp);
    assert!(last.stdout.contains("No changes."), "{}", last.stdout);
    // A server runs until stopped: each is started (on a free port rather than the one
    // the guide names), serves its pages, and is stopped.
    let served = lines("sh serve");
    assert!(!served.is_empty());
    for cmd in served {
        serves(&p, &cmd, &vvp);
    }
    let config = Source::new("flinkform.toml", p.read("flinkform.toml"));
    let specs: Vec<Source> = blocks(&guide, "toml")
        .into_iter()
        .enumerate()
        .map(|(i, b)| Source::new(format!("docs/user-guide.md (block {})", i + 1), b))
        .collect();
    let (project, diags) = spec::load(&config, &specs, None);
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(project.is_some() && diags.is_empty(), "{}", shown.join("\n"));
}

/// Runs the guide's `serve` command `cmd` on a free port and checks it serves the
/// pipelines applied above.
fn serves(p: &crate::common::TestProject, cmd: &str, env: &[(&str, &str)]) {
    use std::io::BufRead;
    let args: Vec<String> = cmd
        .split_whitespace()
        .skip(1)
        .map(|a| if a.starts_with("127.0.0.1:") { "127.0.0.1:0".into() } else { a.to_string() })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flinkform"))
        .args(&args)
        .current_dir(p.path())
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("flinkform serve: listening on ")
        .unwrap_or_else(|| panic!("`{cmd}` said {line:?}"))
        .to_string();
    let listed = crate::apply::block_on(async {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let r = crate::common::http()
                .get(format!("{base}/"))
                .header("Accept", "application/json")
                .send()
                .await
                .unwrap();
            let v: serde_json::Value = r.json().await.unwrap();
            if v["pipelines"].as_array().is_some_and(|p| !p.is_empty()) || std::time::Instant::now() > end {
                break v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(listed["pipelines"][0]["name"], "orders", "`{cmd}` serves what was applied: {listed}");
}

/// `docs/reference.md`: every command's `--help`, as the command line defines it.
fn reference() -> String {
    let bin = env!("CARGO_BIN_EXE_flinkform");
    let help = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).env("COLUMNS", "100").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    let mut out = String::from(
        "# flinkform command reference\n\nGenerated from the command line's definitions by `tests/it/docs.rs` (run it with\n`FLINKFORM_UPDATE_DOCS=1` to write it again). The user guide is `docs/user-guide.md`.\n\n",
    );
    out.push_str(&format!("## flinkform\n\n```text\n{}```\n", top));
    let commands = top.split("Commands:").nth(1).unwrap_or_default().split("\n\n").next().unwrap_or_default();
    // A command's line is indented two spaces; its wrapped description, more.
    let names = |list: &str| -> Vec<String> {
        list.lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .filter(|n| n != "help")
            .collect()
    };
    for name in names(commands) {
        let name = name.as_str();
        out.push_str(&format!("\n## flinkform {name}\n\n```text\n{}```\n", help(&[name, "--help"])));
        if name == "state" {
            let sub = help(&["state", "--help"]);
            let subs =
                sub.split("Commands:").nth(1).unwrap_or_default().split("\n\n").next().unwrap_or_default().to_string();
            for s in names(&subs) {
                let s = s.as_str();
                out.push_str(&format!("\n### flinkform state {s}\n\n```text\n{}```\n", help(&["state", s, "--help"])));
            }
        }
    }
    out
}

#[test]
fn the_command_reference_is_generated_from_the_command_line() {
    let path = crate::common::repo().join("docs/reference.md");
    let now = reference();
    if std::env::var_os("FLINKFORM_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == now,
        "docs/reference.md is out of date: run `FLINKFORM_UPDATE_DOCS=1 cargo test --test it -- docs::` and commit it"
    );
    assert!(now.contains("## flinkform plan") && now.contains("### flinkform state mv"), "{now}");
}
