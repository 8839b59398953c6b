//! `status`: each recorded pipeline's deployment and job as VVP shows them, or any job
//! by its id.

use super::state::{id, recorded};
use crate::cli::context::{Context, narrow, runtime, selection, vvp_client};
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok, table};
use flinkform_core::plan::Live;
use vvp_api::Vvp;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only this pipeline.
    #[arg(conflicts_with = "job_id")]
    name: Option<String>,
    #[command(flatten)]
    select: SelectArgs,
    /// Any job on VVP, by its id (recorded or not).
    #[arg(long)]
    job_id: Option<String>,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let json = args.format == "json";
    match &args.job_id {
        Some(id) => job_status(ctx, id, json),
        None => status(ctx, args.name.as_deref(), &args.select, json),
    }
}

/// `status`: each recorded pipeline's deployment and job as VVP shows them.
fn status(ctx: &Context<'_>, only: Option<&str>, select: &SelectArgs, json: bool) -> Result<Output, Error> {
    let select = selection(select)?;
    let mut ws = ctx.workspace()?;
    let all = ws.store()?.load()?;
    let state = narrow(&mut ws, all, &select)?;
    if let Some(name) = only {
        recorded(state.as_ref(), name)?;
    }
    let client = vvp_client(&ws)?;
    let observed = runtime()?
        .block_on(crate::refresh::observe(&client, state.as_ref(), &[], crate::refresh::Depth::STATES))
        .map_err(anyhow::Error::from)?;
    let mut rows = Vec::new();
    for (name, p) in state.iter().flat_map(|s| s.pipelines.iter()).filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
    {
        let live = match observed.pipelines.get(name) {
            Some(Live::Gone) => "deployment gone".to_string(),
            Some(Live::Found { job, .. }) => job.as_ref().map_or_else(|| "no job".into(), ToString::to_string),
            Some(Live::Unknown(m)) => format!("unknown ({m})"),
            None => "not deployed".into(),
        };
        let row = [name.clone(), id(&p.remote.deployment_id), id(&p.remote.job_id), live, p.status.to_string()];
        rows.push(row.map(Into::into).to_vec());
    }
    ok(table(&["PIPELINE", "DEPLOYMENT", "JOB", "LIVE STATUS", "RECORDED"], &rows, json))
}

/// `status --job-id`: any job on VVP, by id.
fn job_status(ctx: &Context<'_>, id: &str, json: bool) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
    let client = vvp_client(&ws)?;
    let j = runtime()?.block_on(client.job(id)).map_err(|e| anyhow::Error::from(e).context(format!("job {id}")))?;
    let row = [
        j.id,
        j.state.to_string(),
        j.restore.map_or_else(|| "-".into(), |r| r.name().to_string()),
        j.savepoint.unwrap_or_else(|| "-".into()),
    ]
    .map(Into::into)
    .to_vec();
    ok(table(&["JOB", "STATE", "RESTORE", "SAVEPOINT"], &[row], json))
}
