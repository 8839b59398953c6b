//! `init`: a new project (flinkform.toml, an example pipeline with a sample file,
//! templates/), never overwriting a file.

use std::io::Write;

use anyhow::Context as _;

use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok};

const INIT_CONFIG: &str = include_str!("../../../flinkform.toml");
const INIT_PIPELINE: &str = include_str!("../../../pipelines/orders.toml");
const INIT_SAMPLE: &str = include_str!("../../../samples/orders.jsonl");
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

pub(crate) fn run(ctx: &Context<'_>) -> Result<Output, Error> {
    let root = ctx.root.as_path();
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
