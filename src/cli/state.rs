//! `status`, `import`, `history`, `force-unlock` and `state ...`: the recorded state and
//! what VVP shows of it.

use super::*;
use args::Backend;

/// `status`: each recorded pipeline's deployment and job as VVP shows them.
pub(super) fn status(
    root: &Path,
    only: Option<&str>,
    select: &flinkform_core::select::Selection,
    json: bool,
) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    let all = ws.store()?.load()?;
    let state = narrow(&mut ws, all.as_ref(), select)?;
    if let Some(name) = only {
        recorded(state.as_ref(), name)?;
    }
    let client = vvp_client(&ws)?;
    let observed =
        runtime()?.block_on(crate::refresh::observe(&client, state.as_ref(), &[])).map_err(anyhow::Error::from)?;
    let mut rows = Vec::new();
    for (name, p) in state.iter().flat_map(|s| s.pipelines.iter()).filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
    {
        let live = match observed.pipelines.get(name) {
            Some(flinkform_core::plan::Live::Gone) => "deployment gone".to_string(),
            Some(flinkform_core::plan::Live::Found { job, .. }) => job.clone().unwrap_or_else(|| "no job".into()),
            Some(flinkform_core::plan::Live::Unknown(m)) => format!("unknown ({m})"),
            None => "not deployed".into(),
        };
        let row = [name.clone(), id(&p.remote.deployment_id), id(&p.remote.job_id), live, p.status.to_string()];
        rows.push(row.map(Into::into).to_vec());
    }
    ok(table(&["PIPELINE", "DEPLOYMENT", "JOB", "LIVE STATUS", "RECORDED"], &rows, json))
}

/// `import NAME DEPLOYMENT_ID`: records an existing deployment as pipeline NAME, with the
/// SQL it runs now, so that the next plan shows how to bring it to the spec.
pub(super) fn import(
    root: &Path,
    name: &str,
    deployment_id: &str,
    force: bool,
    progress: Progress<'_>,
) -> Result<Output, Error> {
    let ws = workspace(root)?;
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
        vvp_api::Owner::OtherProject(p) => Some(format!("flinkform project `{}`", p.as_deref().unwrap_or("(unnamed)"))),
        vvp_api::Owner::ThisProject(Some(p)) if p != name => Some(format!("this project's pipeline `{p}`")),
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
    let mut rec = ws.resolve_one(&p, None, progress)?.desired.record;
    rec.sql = live.sql.unwrap_or_default();
    rec.remote.deployment_id = Some(deployment_id.to_string());
    rec.remote.job_id = job.map(|j| j.id);
    rec.status = flinkform_core::state::Status::Imported;
    let mut next = state.clone().unwrap_or_else(|| flinkform_core::state::State::new(uuid::Uuid::new_v4().to_string()));
    next.pipelines.insert(name.to_string(), *rec);
    flinkform_core::state::commit(&*store, state.as_ref(), next)?;
    ok(format!(
        "Imported deployment {deployment_id} as `{name}`. Run `flinkform plan` to see how it differs from the spec.\n"
    ))
}

/// `state list`.
pub(super) fn list(root: &Path, json: bool) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let state = ws.store()?.load()?;
    let recorded = state.iter().flat_map(|s| s.pipelines.iter());
    if !json {
        // One line each, no header: what scripts have read since the first release.
        return ok(recorded.map(|(name, p)| format!("{name}\t{}\t{}\n", p.status, p.file)).collect());
    }
    let rows: Vec<Vec<serde_json::Value>> = recorded
        .map(|(name, p)| {
            [name.clone(), p.status.to_string(), p.file.clone(), id(&p.remote.deployment_id)].map(Into::into).to_vec()
        })
        .collect();
    ok(table(&["NAME", "STATUS", "FILE", "DEPLOYMENT"], &rows, true))
}

/// A recorded id, or `-`.
fn id(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// `state show`.
pub(super) fn show(root: &Path, name: String) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let state = ws.store()?.load()?;
    let p = state.as_ref().and_then(|s| s.pipelines.get(&name)).ok_or_else(|| {
        anyhow::anyhow!("no pipeline `{name}` in the state (`flinkform state list` shows what is recorded)")
    })?;
    let mut out = format!("# {name}\nfile: {}\nstatus: {}\ntopic: {}\n", p.file, p.status, p.topic);
    out.push_str(&format!(
        "deployment id: {}\njob id: {}\n\ncolumns:\n",
        p.remote.deployment_id.as_deref().unwrap_or("-"),
        p.remote.job_id.as_deref().unwrap_or("-")
    ));
    out.push_str(&view::columns_table(&p.columns, "  "));
    out.push_str("\nhistory:\n");
    for h in &p.history {
        out.push_str(&format!("  serial {}  {}  {}  sql {}\n", h.serial, h.at, h.action, short(&h.sql_digest)));
    }
    out.push_str(&format!("\n{}\n{}\n{}", p.sql, p.all_ddl(), p.deployment));
    ok(out)
}

/// `state migrate`.
pub(super) fn migrate(root: &Path, from: Backend, to: Backend) -> Result<Output, Error> {
    if from == to {
        return Err(anyhow::anyhow!("--from and --to are the same backend").into());
    }
    let ws = workspace(root)?;
    let (source, target) = (ws.store_of(from == Backend::Postgres)?, ws.store_of(to == Backend::Postgres)?);
    let _a = source.lock(&lock_info("state migrate"), Duration::ZERO)?;
    let _b = target.lock(&lock_info("state migrate"), Duration::ZERO)?;
    let state =
        source.load()?.ok_or_else(|| anyhow::anyhow!("the {from} backend holds no state: nothing to migrate"))?;
    if let Some(t) = target.load()? {
        return Err(anyhow::anyhow!(
            "the {to} backend already holds a state (lineage {}, serial {}); it is left untouched",
            t.lineage,
            t.serial
        )
        .into());
    }
    target.save(&state, None)?;
    ok(format!(
        "Moved the state (lineage {}, serial {}, {} pipelines) from {from} to {to}. Set [state] backend in flinkform.toml to use it.\n",
        state.lineage,
        state.serial,
        state.pipelines.len()
    ))
}

/// `state restore`: the previous state written again as the newest, under the lock.
pub(super) fn restore(root: &Path) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info("state restore"), Duration::ZERO)?;
    let current = match store.load() {
        Err(StateError::Corrupt { path, reason }) => {
            let previous = store.previous()?.ok_or_else(|| {
                anyhow::anyhow!("state {path} is unreadable ({reason}) and there is no earlier state to restore")
            })?;
            let from = previous.serial;
            let (written, kept) = store.replace_unreadable(previous)?;
            return ok(format!(
                "The state was unreadable ({reason}); it is kept as {kept}.\nRestored the state of serial {from} as serial {}. Run `flinkform plan` to see how VVP differs from it.\n",
                written.serial
            ));
        }
        loaded => loaded?.ok_or_else(|| anyhow::anyhow!("there is no state: nothing to restore"))?,
    };
    let previous = store.previous()?.ok_or_else(|| {
        anyhow::anyhow!("there is no earlier state to restore (serial {} is the first)", current.serial)
    })?;
    let from = previous.serial;
    let written = flinkform_core::state::commit(&*store, Some(&current), previous)?;
    ok(format!(
        "Restored the state of serial {from} as serial {} (it replaces serial {}). Run `flinkform plan` to see how VVP differs from it.\n",
        written.serial, current.serial
    ))
}

/// `history`.
pub(super) fn history(root: &Path, name: String, json: bool) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let state = ws.store()?.load()?;
    let p = recorded(state.as_ref(), &name)?;
    let digest = |d: &str| if json { d.to_string() } else { short(d).to_string() };
    let rows: Vec<Vec<serde_json::Value>> = p
        .history
        .iter()
        .map(|h| {
            let text = [h.at.clone(), h.action.to_string(), digest(&h.sql_digest), digest(&h.ddl_digest)];
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

/// `force-unlock`.
pub(super) fn force_unlock(root: &Path, id: String) -> Result<Output, Error> {
    let ws = workspace(root)?;
    ws.store()?.force_unlock(&id)?;
    ok(format!("The state lock {id} was released.\n"))
}

/// The first 12 characters of a digest, or all of it when shorter (a state file may hold
/// anything there).
fn short(digest: &str) -> &str {
    digest.char_indices().nth(12).map_or(digest, |(i, _)| &digest[..i])
}

/// `state rm`: records forgotten under the lock, nothing on VVP touched.
pub(super) fn rm(root: &Path, names: &[String]) -> Result<Output, Error> {
    edit(root, "state rm", |state| {
        for n in names {
            if state.pipelines.remove(n).is_none() {
                return Err(missing(Some(state), n));
            }
        }
        let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        Ok(format!(
            "Removed {list} from the state. Their deployments on VVP are untouched: while their specs exist, the next plan creates them again (`flinkform import` adopts a deployment instead).\n"
        ))
    })
}

/// `state mv`: a record renamed under the lock.
pub(super) fn mv(root: &Path, old: &str, new: &str) -> Result<Output, Error> {
    // A name no spec can have would read as a removed spec: the next plan destroys it.
    if !flinkform_core::spec::pipeline_name_valid(new) {
        let rule = flinkform_core::spec::PIPELINE_NAME_RULE;
        return Err(anyhow::anyhow!("`{new}` cannot name a pipeline: a pipeline name {rule}").into());
    }
    edit(root, "state mv", |state| {
        if state.pipelines.contains_key(new) {
            return Err(anyhow::anyhow!(
                "`{new}` is already in the state: remove it first (`flinkform state rm {new}`)"
            ));
        }
        let p = state.pipelines.remove(old).ok_or_else(|| missing(Some(state), old))?;
        state.pipelines.insert(new.to_string(), p);
        Ok(format!(
            "Renamed `{old}` to `{new}` in the state: the next plan updates its deployment in place instead of destroying `{old}` and creating `{new}` (the SQL names the pipeline, so the job restarts as `upgrade` says; set `group_id` in [source] to keep the consumer group). Rename `[pipeline] name` in the spec to `{new}` if it is not yet.\n"
        ))
    })
}

/// Changes the recorded state under the lock, written as the next serial.
fn edit(
    root: &Path,
    what: &str,
    change: impl FnOnce(&mut flinkform_core::state::State) -> anyhow::Result<String>,
) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info(what), Duration::ZERO)?;
    let mut state = store.load()?.ok_or_else(|| anyhow::anyhow!("there is no state yet: nothing to change"))?;
    let said = change(&mut state)?;
    flinkform_core::state::write_next(&*store, &mut state)?;
    ok(said)
}

/// Pipeline `name`'s record, or an error with the nearest recorded name.
fn recorded<'s>(
    state: Option<&'s flinkform_core::state::State>,
    name: &str,
) -> anyhow::Result<&'s flinkform_core::state::PipelineState> {
    state.and_then(|s| s.pipelines.get(name)).ok_or_else(|| missing(state, name))
}

fn missing(state: Option<&flinkform_core::state::State>, name: &str) -> anyhow::Error {
    let names = state.into_iter().flat_map(|s| s.pipelines.keys().map(String::as_str));
    let near = flinkform_core::diag::suggest(name, names);
    anyhow::anyhow!(
        "no pipeline `{name}` in the state{}",
        near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()
    )
}

/// `status --job-id`: any job on VVP, by id.
pub(super) fn job_status(root: &Path, id: &str, json: bool) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let client = vvp_client(&ws)?;
    let j = runtime()?.block_on(client.job(id)).map_err(|e| anyhow::Error::from(e).context(format!("job {id}")))?;
    let row =
        [j.id, j.state.to_string(), j.restore.unwrap_or_else(|| "-".into()), j.savepoint.unwrap_or_else(|| "-".into())]
            .map(Into::into)
            .to_vec();
    ok(table(&["JOB", "STATE", "RESTORE", "SAVEPOINT"], &[row], json))
}

/// The recorded pipeline whose deployment is `id`, if any.
pub(super) fn pipeline_of_deployment(root: &Path, id: &str) -> Result<Option<String>, Error> {
    let state = workspace(root)?.store()?.load()?;
    let mut recorded = state.iter().flat_map(|s| s.pipelines.iter());
    Ok(recorded.find(|(_, p)| p.remote.deployment_id.as_deref() == Some(id)).map(|(n, _)| n.clone()))
}

/// `start --deployment-id`: starts any deployment's job and waits until it runs (as long
/// as `[vvp] timeouts.start`); a deployment that already runs a job is left as it is.
pub(super) fn start_deployment(root: &Path, id: &str, restore: vvp_api::Restore) -> Result<Output, Error> {
    use crate::poll::{Backoff, poll_until};
    use std::ops::ControlFlow;
    let ws = workspace(root)?;
    let client = vvp_client(&ws)?;
    let timeout = ws.project.config.vvp.timeouts.start;
    let rt = runtime()?;
    let said = rt.block_on(async {
        let dep = client.deployment(id).await?.ok_or_else(|| anyhow::anyhow!("no deployment {id} in the namespace"))?;
        if let Some(j) = client.live_job(id).await? {
            return anyhow::Ok(format!(
                "deployment {id} ({}) already has job {} ({}): nothing to start\n",
                dep.name, j.id, j.state
            ));
        }
        let queue = dep.settings.resource_queue.clone().unwrap_or_else(|| "default-queue".into());
        let job = client.start(id, &restore, &queue).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let state = poll_until(deadline, Backoff::GROWING, async || {
            let j = client.job(&job.id).await?;
            anyhow::Ok(match j.state {
                vvp_api::JobState::Running | vvp_api::JobState::Failed(_) => ControlFlow::Break(j.state),
                _ => ControlFlow::Continue(()),
            })
        })
        .await?;
        match state {
            Some(vvp_api::JobState::Running) => {
                Ok(format!("deployment {id} ({}): job {} is running\n", dep.name, job.id))
            }
            Some(s) => Err(anyhow::anyhow!("deployment {id} ({}): job {} is {s}", dep.name, job.id)),
            None => Err(anyhow::anyhow!(
                "deployment {id} ({}): job {} did not run within {}s",
                dep.name,
                job.id,
                timeout.as_secs()
            )),
        }
    })?;
    ok(said)
}
