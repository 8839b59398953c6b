//! `validate`: the specs and every pipeline's schema, without planning.

use crate::cli::context::{Context, narrow, selection};
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok};
use crate::project;
use flinkform_core::view;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    select: SelectArgs,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let select = selection(&args.select)?;
    let mut ws = ctx.workspace()?;
    ctx.require_pipelines(&ws, false)?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded.as_ref(), &select)?;
    let (desired, _) = project::desired_all(&mut ws, state.as_ref(), ctx.progress)?;
    let mut out = view::diagnostics(&ws.warnings, ctx.style);
    for d in &desired {
        for w in &d.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    let n = desired.len();
    out.push_str(&format!(
        "Success! {} {} valid.\n",
        view::count(n as u64, "pipeline"),
        if n == 1 { "is" } else { "are" }
    ));
    ok(out)
}
