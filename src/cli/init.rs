//! `init`, `fmt`, `man` and `completions`: the project's files and the manual.

use super::*;
use anyhow::Context;
use clap::CommandFactory;

const INIT_CONFIG: &str = include_str!("../../flinkform.toml");
const INIT_PIPELINE: &str = include_str!("../../pipelines/orders.toml");
const INIT_SAMPLE: &str = include_str!("../../samples/orders.jsonl");
/// templates/README.md: every built-in a file here can override, from the one list.
fn templates_readme() -> String {
    let files: Vec<&str> = flinkform_core::render::KINDS.iter().map(|(_, f)| *f).collect();
    format!(
        "Templates placed here override flinkform's built-ins by file name:\n{}.\n\
         Print a built-in with `flinkform render --template KIND` (KIND: {}) to copy and edit it.\n",
        files.join(", "),
        flinkform_core::render::KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
    )
}

pub(super) fn init(root: &Path) -> Result<Output, Error> {
    if root.join("flinkform.toml").exists() {
        return Err(anyhow::anyhow!(
            "{} already holds a flinkform.toml; init leaves existing projects alone",
            root.display()
        )
        .into());
    }
    // A project id of its own: the example's would be shared by every project made by init.
    let id = format!("flinkform-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    // The example's prod overlay is for its clickstream pipeline, which init does not
    // write: a new project's overlays its one pipeline.
    let config = INIT_CONFIG.replace("project = \"flinkform-example\"", &format!("project = \"{id}\"")).replace(
        "[environments.prod.pipelines.clickstream.deployment]\nparallelism = 8",
        "[environments.prod.pipelines.orders.deployment]\nparallelism = 4",
    );
    // The example's sample keeps a broken line to show how it is skipped; a new project's
    // sample is clean.
    let sample: String = INIT_SAMPLE
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        .map(|l| format!("{l}\n"))
        .collect();
    let readme = templates_readme();
    let files = [
        ("flinkform.toml", config.as_str()),
        ("pipelines/orders.toml", INIT_PIPELINE),
        ("samples/orders.jsonl", sample.as_str()),
        ("templates/README.md", readme.as_str()),
    ];
    let mut said = format!("Created a flinkform project in {}:\n", root.display());
    for (rel, text) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // Never overwrite: a file already there is the user's.
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
                said.push_str(&format!("  {rel}\n"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                said.push_str(&format!("  {rel} (kept: it exists)\n"))
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("cannot write {}", path.display())).into()),
        }
    }
    // The state and its lock stay out of git.
    let ignore = root.join(".gitignore");
    let text = std::fs::read_to_string(&ignore).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == ".flinkform/") {
        let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
        std::fs::write(&ignore, format!("{text}{sep}.flinkform/\n"))
            .with_context(|| format!("cannot write {}", ignore.display()))?;
        said.push_str("  .gitignore (.flinkform/)\n");
    }
    said.push_str("Next: edit flinkform.toml for your VVP workspace, then run `flinkform plan`.\n");
    ok(said)
}

/// `man`: the man page, from the same definitions as `--help` (clap_mangen): the global
/// options and every command (each command's own flags: `flinkform CMD --help`, or
/// docs/reference.md).
pub(super) fn man() -> Result<Output, Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(args::Cli::command()).render(&mut buf).context("rendering the man page")?;
    ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `completions`.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<Output, Error> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut args::Cli::command(), "flinkform", &mut buf);
    ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `fmt`: flinkform.toml and pipelines/*.toml laid out canonically (or, with `check`,
/// the files that are not, exit 1). A file that would change meaning is left alone.
pub(super) fn fmt(root: &Path, check: bool) -> Result<Output, Error> {
    let mut files = vec!["flinkform.toml".to_string()];
    files.extend(project::spec_files(root).map_err(|d| Failed(vec![d]))?);
    let (mut changed, mut failed) = (Vec::new(), Vec::new());
    for rel in &files {
        let path = root.join(rel);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match flinkform_core::spec::fmt::format_toml(&text) {
            Ok(f) if f == text => {}
            Ok(f) => {
                if !check {
                    std::fs::write(&path, f).with_context(|| format!("cannot write {}", path.display()))?;
                }
                changed.push(rel.clone());
            }
            Err(e) => failed.push(format!("{rel}: {e}")),
        }
    }
    let mut out = String::new();
    for f in &changed {
        out.push_str(&format!("{}{f}\n", if check { "not formatted: " } else { "formatted " }));
    }
    for f in &failed {
        out.push_str(&format!("cannot format {f}\n"));
    }
    if changed.is_empty() && failed.is_empty() {
        out.push_str(&format!("{} files are formatted.\n", files.len()));
    }
    let code = if failed.is_empty() && (!check || changed.is_empty()) { exit::OK } else { exit::ERROR };
    Ok(Output { stdout: out.into(), code })
}
