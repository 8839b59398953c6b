//! `diff FROM TO`: how two environments render each pipeline: what promoting one to the
//! other changes.

use std::collections::{BTreeMap, BTreeSet};

use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok};
use crate::workspace;
use flinkform_core::state::PipelineState;
use flinkform_core::view;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The environment promoted from.
    from: String,
    /// The environment promoted to.
    to: String,
}

/// `diff FROM TO`: each pipeline as environment `from` renders it against `to`.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let (from, to) = (args.from.as_str(), args.to.as_str());
    let render = |env: &str| -> Result<BTreeMap<String, PipelineState>, Error> {
        let mut ws = ctx.workspace_in(Some(env))?;
        let state = ws.store()?.load()?;
        let (desired, _) = workspace::desired_all(&mut ws, state.as_ref(), ctx.progress)?;
        Ok(desired.into_iter().map(|d| (d.name, *d.record)).collect())
    };
    let (a, b) = (render(from)?, render(to)?);
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = String::new();
    let mut differ = Vec::new();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        let texts = |p: Option<&PipelineState>| p.map_or_else(Default::default, PipelineState::artifacts);
        let (old, new) = (texts(x), texts(y));
        let mut diffs = String::new();
        for (i, label) in PipelineState::ARTIFACTS.into_iter().enumerate() {
            diffs.push_str(&view::unified(&old[i], &new[i], &format!("{name}/{label}")));
        }
        if !diffs.is_empty() {
            let what = match (x, y) {
                (Some(_), None) => format!(" (only in {from})"),
                (None, Some(_)) => format!(" (only in {to})"),
                _ => String::new(),
            };
            out.push_str(&format!("# {name}{what}\n{diffs}\n"));
            differ.push(name.clone());
        }
    }
    out.push_str(&match differ.len() {
        0 => format!("{from} and {to} render every pipeline the same.\n"),
        n => format!(
            "{} differ{} between {from} and {to}: {}.\n",
            view::count(n as u64, "pipeline"),
            if n == 1 { "s" } else { "" },
            differ.join(", ")
        ),
    });
    ok(out)
}
