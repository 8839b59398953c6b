//! `init` and `completions`.

use super::*;
use anyhow::Context;
use clap::CommandFactory;

const INIT_CONFIG: &str = include_str!("../../flinkform.toml");
const INIT_PIPELINE: &str = include_str!("../../pipelines/orders.toml");
const INIT_SAMPLE: &str = include_str!("../../samples/orders.jsonl");
const INIT_TEMPLATES: &str = "Templates placed here override flinkform's built-ins by file name:\n\
source.sql.j2, sink.sql.j2, insert.sql.j2, ddl.sql.j2, deployment.yaml.j2.\n\
Print a built-in with `flinkform render NAME` to see what it produces.\n";

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
    let config = INIT_CONFIG.replace("project = \"flinkform-example\"", &format!("project = \"{id}\""));
    let files = [
        ("flinkform.toml", config.as_str()),
        ("pipelines/orders.toml", INIT_PIPELINE),
        ("samples/orders.jsonl", INIT_SAMPLE),
        ("templates/README.md", INIT_TEMPLATES),
    ];
    for (rel, text) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    ok(format!(
        "Created a flinkform project in {}:\n  flinkform.toml\n  pipelines/orders.toml\n  samples/orders.jsonl\n  templates/\nNext: edit flinkform.toml for your VVP workspace, then run `flinkform plan`.\n",
        root.display()
    ))
}

/// `completions`.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<Output, Error> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut args::Cli::command(), "flinkform", &mut buf);
    ok(String::from_utf8_lossy(&buf).into_owned())
}
