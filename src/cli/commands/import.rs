//! `import`: an existing VVP deployment adopted as a pipeline.

use std::time::Duration;

use crate::cli::context::{Context, lock_info, runtime, vvp_client};
use crate::cli::output::{Error, Output, ok};
use flinkform_core::state::{State, Status, commit};
use vvp_api::{Owner, Vvp};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Pipeline name (a spec in pipelines/).
    name: String,
    /// The VVP deployment id.
    deployment_id: String,
    /// Adopt it even when its labels say another flinkform project or pipeline made it.
    #[arg(long)]
    force: bool,
}

/// `import NAME DEPLOYMENT_ID`: records an existing deployment as pipeline NAME, with the
/// SQL it runs now, so that the next plan shows how to bring it to the spec.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let Args { name, deployment_id, force } = args;
    let (name, deployment_id) = (name.as_str(), deployment_id.as_str());
    let ws = ctx.workspace()?;
    let p = ws.pipeline(name)?.clone();
    let store = ws.store()?;
    let _guard = store.lock(&lock_info("import"), Duration::ZERO)?;
    let state = store.load()?;
    if state.as_ref().is_some_and(|s| s.pipelines.contains_key(name)) {
        return Err(anyhow::anyhow!("`{name}` is already in the state").into());
    }
    let client = vvp_client(&ws)?;
    let rt = runtime()?;
    let live = rt
        .block_on(client.deployment(deployment_id))
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| anyhow::anyhow!("there is no deployment {deployment_id} on VVP"))?;
    let made_by = match &live.owner {
        Owner::OtherProject(p) => Some(format!("flinkform project `{}`", p.as_deref().unwrap_or("(unnamed)"))),
        Owner::ThisProject(Some(p)) if p != name => Some(format!("this project's pipeline `{p}`")),
        _ => None,
    };
    if let (Some(who), false) = (made_by, force) {
        return Err(anyhow::anyhow!(
            "deployment {deployment_id} ({}) is labelled as made by {who}: importing it as `{name}` would take it from there; pass --force to import it anyway",
            live.name
        )
        .into());
    }
    let job = rt.block_on(client.live_job(deployment_id)).map_err(anyhow::Error::from)?;
    let mut rec = ws.resolve_one(&p, None, ctx.progress)?.desired.record;
    rec.sql = live.sql.unwrap_or_default();
    rec.remote.deployment_id = Some(deployment_id.to_string());
    rec.remote.job_id = job.map(|j| j.id);
    rec.status = Status::Imported;
    let mut next = state.clone().unwrap_or_else(|| State::new(uuid::Uuid::new_v4().to_string()));
    next.pipelines.insert(name.to_string(), *rec);
    commit(&*store, state.as_ref(), next)?;
    ok(format!(
        "Imported deployment {deployment_id} as `{name}`. Run `flinkform plan` to see how it differs from the spec.\n"
    ))
}
