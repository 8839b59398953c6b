//! `show PLAN`: a plan saved with `plan -out FILE`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::plan::comment_for;
use crate::cli::context::{Context, ci_log_url, project_id};
use crate::cli::flags::format_parser;
use crate::cli::output::{Error, Output, ok};
use flinkform_core::view::{self, Format};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The saved plan.
    plan: PathBuf,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    format: Format,
}

/// `show PLAN`: a saved plan; as Markdown, the comment `plan` would post for it (the
/// project's marker, the plan's environment), so `comment` finds the same comment.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let (file, format) = (&args.plan, args.format);
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let plan = flinkform_core::plan::file::from_text(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a plan saved with `plan -out`: {e}", file.display()))?;
    if format == Format::Markdown {
        let (project, log) = (project_id(&ctx.root), ci_log_url());
        let comment = comment_for(project.as_deref(), plan.env.as_deref(), &log);
        return ok(view::markdown::plan(&plan, &comment));
    }
    ok(view::plan(&plan, format, ctx.style))
}
