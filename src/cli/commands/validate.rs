//! `validate`: the specs and every pipeline's schema, without planning, in every
//! environment (or the one `--env` names), with every error of every file in one run.

use std::collections::HashSet;

use crate::cli::context::{Context, narrow, selection};
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok};
use crate::workspace::{self, Failed, Workspace};
use flinkform_core::diag::Diagnostic;
use flinkform_core::select::Selection;
use flinkform_core::view;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    select: SelectArgs,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let select = selection(&args.select)?;
    let (base, errors) = Workspace::read_env(&ctx.root, ctx.env.as_deref())?;
    ctx.require_pipelines(&base, false)?;
    // Without --env, the project as it is and as each environment overlays it.
    let others = if ctx.env.is_some() { Vec::new() } else { base.project.config.environments.clone() };
    let mut found = check(ctx, base, errors, &select);
    let mut out = found.warnings;
    let mut all = found.errors;
    let mut seen: HashSet<String> = all.iter().map(ToString::to_string).collect();
    for env in &others {
        let (ws, errors) = Workspace::read_env(&ctx.root, Some(env))?;
        found = check(ctx, ws, errors, &select);
        // An error every environment has is said once, without naming one.
        for d in found.errors.into_iter().filter(|d| seen.insert(d.to_string())) {
            all.push(Diagnostic { message: format!("environment `{env}`: {}", d.message), ..d });
        }
    }
    if !all.is_empty() {
        return Err(Failed(all).into());
    }
    let n = found.pipelines;
    let envs = if others.is_empty() { String::new() } else { format!(" in every environment ({})", others.join(", ")) };
    out.push_str(&format!(
        "Success! {} {} valid{envs}.\n",
        view::count(n as u64, "pipeline"),
        if n == 1 { "is" } else { "are" }
    ));
    ok(out)
}

/// What validating one environment found.
struct Found {
    errors: Vec<Diagnostic>,
    warnings: String,
    pipelines: usize,
}

/// The errors of `ws` (its files' `errors`, then each selected pipeline's schema's) and
/// its warnings as text.
fn check(ctx: &Context<'_>, mut ws: Workspace, mut errors: Vec<Diagnostic>, select: &Selection) -> Found {
    let recorded = ws.store().and_then(|s| s.load().map_err(|e| Failed(vec![Diagnostic::error(e.to_string())])));
    let recorded = match recorded {
        Ok(r) => r,
        Err(Failed(ds)) => {
            errors.extend(ds);
            None
        }
    };
    let state = match narrow(&mut ws, recorded, select) {
        Ok(s) => s,
        Err(e) => {
            errors.push(Diagnostic::error(crate::cli::output::error_list(&e).join("; ")));
            None
        }
    };
    let mut warnings = view::diagnostics(&ws.warnings, ctx.style);
    let pipelines = ws.project.pipelines.len();
    match workspace::desired_all(&mut ws, state.as_ref(), ctx.progress) {
        Ok((desired, _)) => {
            for w in desired.iter().flat_map(|d| &d.warnings) {
                warnings.push_str(&format!("warning: {w}\n"));
            }
        }
        Err(Failed(more)) => errors.extend(more.into_iter().filter(Diagnostic::is_error)),
    }
    Found { errors, warnings, pipelines }
}
