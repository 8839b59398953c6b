//! `history`: a pipeline's applied revisions and its job.

use super::state::{recorded, short};
use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok, table};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Pipeline name.
    name: String,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// `history`.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let (name, json) = (args.name, args.format == "json");
    let ws = ctx.workspace()?;
    let state = ws.store()?.load()?;
    let p = recorded(state.as_ref(), &name)?;
    let digest = |d: &str| if json { d.to_string() } else { short(d).to_string() };
    let rows: Vec<Vec<serde_json::Value>> = p
        .history
        .iter()
        .map(|h| {
            let text = [h.stamp.at.clone(), h.action.to_string(), digest(&h.sql_digest), digest(&h.ddl_digest)];
            std::iter::once(h.serial.into()).chain(text.map(Into::into)).collect()
        })
        .collect();
    let mut out = table(&["SERIAL", "APPLIED", "ACTION", "SQL", "DDL"], &rows, json);
    if json {
        return ok(out);
    }
    out.push_str(&format!(
        "\ndeployment {}, job {}, status {}{}\n",
        p.remote.deployment_id.as_deref().unwrap_or("-"),
        p.remote.job_id.as_deref().unwrap_or("-"),
        p.status,
        p.error.as_deref().map_or(String::new(), |e| format!(": {e}"))
    ));
    ok(out)
}
