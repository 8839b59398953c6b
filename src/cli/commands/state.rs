//! `state ...`: the recorded state itself, listed, shown, moved between backends,
//! restored from its backup, and edited (records forgotten or renamed).

use std::time::Duration;

use crate::cli::context::{Context, lock_info};
use crate::cli::output::{Error, Output, ok, table};
use flinkform_core::diag::suggest;
use flinkform_core::spec::{PIPELINE_NAME_RULE, pipeline_name_valid};
use flinkform_core::state::{self, PipelineState, State, StateError};
use flinkform_core::view;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// List recorded pipelines.
    List {
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Show one recorded pipeline: columns, SQL, DDL, ids, history.
    Show {
        /// Pipeline name.
        name: String,
    },
    /// Move the state from one backend to the other, without loss (lineage and serial kept).
    #[command(
        after_help = "Example:\n  FLINKFORM_STATE_DSN=postgres://... flinkform state migrate --from local --to postgres"
    )]
    Migrate {
        /// Where the state is now.
        #[arg(long, value_enum)]
        from: Backend,
        /// Where it goes (must hold no state yet).
        #[arg(long, value_enum)]
        to: Backend,
    },
    /// Put the state back to what it was before the last write (the backup every write
    /// keeps), written as a new serial of the same lineage.
    #[command(after_help = "Example:\n  flinkform state restore")]
    Restore,
    /// Forget pipelines: their records leave the state, and nothing on VVP is touched
    /// (the next plan creates them again while their specs exist).
    #[command(after_help = "Example:\n  flinkform state rm orders")]
    Rm {
        /// Pipeline names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Rename a pipeline in the state (with `[pipeline] name`), so that the next plan
    /// updates its deployment in place instead of destroying and creating it.
    #[command(after_help = "Example:\n  flinkform state mv orders orders_eu")]
    Mv {
        /// The recorded name.
        old: String,
        /// The new name.
        new: String,
    },
}

/// A state backend, for `state migrate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// The JSON file.
    Local,
    /// PostgreSQL (or Hologres) tables.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Local => "local",
            Backend::Postgres => "postgres",
        })
    }
}

pub(crate) fn run(ctx: &Context<'_>, command: Command) -> Result<Output, Error> {
    match command {
        Command::List { format } => list(ctx, format == "json"),
        Command::Show { name } => show(ctx, &name),
        Command::Migrate { from, to } => migrate(ctx, from, to),
        Command::Restore => restore(ctx),
        Command::Rm { names } => rm(ctx, &names),
        Command::Mv { old, new } => mv(ctx, &old, &new),
    }
}

/// `state list`.
fn list(ctx: &Context<'_>, json: bool) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
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
pub(super) fn id(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// `state show`.
fn show(ctx: &Context<'_>, name: &str) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
    let state = ws.store()?.load()?;
    let p = state.as_ref().and_then(|s| s.pipelines.get(name)).ok_or_else(|| {
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
        out.push_str(&format!("  serial {}  {}  {}  sql {}\n", h.serial, h.stamp.at, h.action, short(&h.sql_digest)));
    }
    out.push_str(&format!("\n{}\n{}\n{}", p.sql, p.all_ddl(), p.deployment));
    ok(out)
}

/// `state migrate`.
fn migrate(ctx: &Context<'_>, from: Backend, to: Backend) -> Result<Output, Error> {
    if from == to {
        return Err(anyhow::anyhow!("--from and --to are the same backend").into());
    }
    let ws = ctx.workspace()?;
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
fn restore(ctx: &Context<'_>) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
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
    let written = state::commit(&*store, Some(&current), previous)?;
    ok(format!(
        "Restored the state of serial {from} as serial {} (it replaces serial {}). Run `flinkform plan` to see how VVP differs from it.\n",
        written.serial, current.serial
    ))
}

/// The first 12 characters of a digest, or all of it when shorter (a state file may hold
/// anything there).
pub(super) fn short(digest: &str) -> &str {
    digest.char_indices().nth(12).map_or(digest, |(i, _)| &digest[..i])
}

/// `state rm`: records forgotten under the lock, nothing on VVP touched.
fn rm(ctx: &Context<'_>, names: &[String]) -> Result<Output, Error> {
    edit(ctx, "state rm", |state| {
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
fn mv(ctx: &Context<'_>, old: &str, new: &str) -> Result<Output, Error> {
    // A name no spec can have would read as a removed spec: the next plan destroys it.
    if !pipeline_name_valid(new) {
        let rule = PIPELINE_NAME_RULE;
        return Err(anyhow::anyhow!("`{new}` cannot name a pipeline: a pipeline name {rule}").into());
    }
    edit(ctx, "state mv", |state| {
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
    ctx: &Context<'_>,
    what: &str,
    change: impl FnOnce(&mut State) -> anyhow::Result<String>,
) -> Result<Output, Error> {
    let ws = ctx.workspace()?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info(what), Duration::ZERO)?;
    let mut state = store.load()?.ok_or_else(|| anyhow::anyhow!("there is no state yet: nothing to change"))?;
    let said = change(&mut state)?;
    state::write_next(&*store, &mut state)?;
    ok(said)
}

/// Pipeline `name`'s record, or an error with the nearest recorded name.
pub(super) fn recorded<'s>(state: Option<&'s State>, name: &str) -> anyhow::Result<&'s PipelineState> {
    state.and_then(|s| s.pipelines.get(name)).ok_or_else(|| missing(state, name))
}

fn missing(state: Option<&State>, name: &str) -> anyhow::Error {
    let names = state.into_iter().flat_map(|s| s.pipelines.keys().map(String::as_str));
    let near = suggest(name, names);
    anyhow::anyhow!(
        "no pipeline `{name}` in the state{}",
        near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()
    )
}
