//! `fmt`: flinkform.toml and the specs laid out canonically (comments kept).

use anyhow::Context as _;

use crate::cli::context::Context;
use crate::cli::exit;
use crate::cli::output::{Error, Output};
use crate::workspace::{self, Failed};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Change nothing; exit 1 when a file is not formatted.
    #[arg(long)]
    check: bool,
}

/// `fmt`: flinkform.toml and pipelines/*.toml laid out canonically (or, with `check`,
/// the files that are not, exit 1). A file that would change meaning is left alone.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let (root, check) = (ctx.root.as_path(), args.check);
    let mut files = vec!["flinkform.toml".to_string()];
    files.extend(workspace::spec_files(root).map_err(|d| Failed(vec![d]))?);
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
