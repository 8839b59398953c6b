//! `apply`, `destroy`, `start` and `stop`: the executor under the state lock, with ctrl-c
//! handling and the progress board.

use super::*;
use crate::apply::Executor;
use crate::interrupt;
use anyhow::Context;
use board::Board;
use flinkform_core::plan::{self as planner, file as planfile};
use plan::observe;
use review::Review;

/// Writes `plan` to stdout as it is made, and flushes.
fn print_plan(plan: &flinkform_core::plan::Plan, style: Style) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = view::write_plan(plan, Format::Text, style, &mut out).and_then(|()| out.flush());
}

pub(super) fn print_now(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Whether `apply` carries out the plan of the specs, or destroys everything.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Mode {
    /// Carry out the plan of the selected pipelines; when a reviewed plan is named
    /// (`--expect-plan`), only if it means the same.
    Apply { expect: Option<String>, select: flinkform_core::select::Selection, allow_empty: bool },
    /// Destroy the pipelines named and those selected (neither: all of them).
    Destroy { names: Vec<String>, select: flinkform_core::select::Selection },
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    root: &Path,
    plan_file: Option<&Path>,
    mode: Mode,
    auto_approve: bool,
    parallelism: usize,
    lock_timeout: Duration,
    style: Style,
    progress: Progress<'_>,
) -> Result<Output, Error> {
    let mut ws = workspace(root)?;
    let runtime = runtime()?;
    let review = Review::of(&mode, &ws, &runtime)?;
    let store = ws.store()?;
    let _guard = take_lock(&*store, "apply", lock_timeout)?;
    let state = store.load()?;
    let plan = match plan_file {
        Some(f) => saved_plan(f, &ws, state.as_ref(), &review, &runtime)?,
        None => {
            let p = match &mode {
                Mode::Apply { select, allow_empty, .. } => {
                    require_pipelines(root, &ws, *allow_empty)?;
                    // Planned on the selection; carried out into the whole state.
                    let planned = narrow(&mut ws, state.as_ref(), select)?;
                    let (desired, inputs) = project::desired_all(&mut ws, planned.as_ref(), progress)?;
                    let observed = observe(&ws, planned.as_ref(), &desired, false)?;
                    let mut p = planner::compute(desired, planned.as_ref(), observed.as_ref(), inputs);
                    p.env = ws.project.config.env.clone();
                    p.selection = (!select.is_all()).then(|| select.shown().to_string());
                    p.require_sink_dsn(env_is_set);
                    review.check(&p, &runtime)?;
                    p
                }
                Mode::Destroy { names, select } => match destroy_plan(&ws, state.as_ref(), names, select)? {
                    Some(p) => p,
                    None => {
                        return ok(format!("{} selects no recorded pipeline: nothing to destroy.\n", select.shown()));
                    }
                },
            };
            print_plan(&p, style);
            if !confirmed(&p, auto_approve)? {
                return Ok(Output { stdout: "\nApply cancelled.\n".to_string().into(), code: exit::ERROR });
            }
            p
        }
    };
    if !plan.errors.is_empty() {
        return Err(anyhow::anyhow!("the plan cannot be applied:\n  {}", plan.errors.join("\n  ")).into());
    }
    if !plan.has_changes() {
        return ok("No changes. Nothing to apply.\n".into());
    }
    let creds = Credentials::from_env().ok_or_else(|| {
        anyhow::anyhow!(
            "no VVP credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)"
        )
    })?;
    let client = Client::new(ws.vvp_target().map_err(Failed::from)?, creds, RetryPolicy::default())
        .map_err(anyhow::Error::from)?;
    let lineage = uuid::Uuid::new_v4().to_string();
    let start = state.unwrap_or_else(|| flinkform_core::state::State::new(lineage));
    let board = Board::new(std::io::stdout().is_terminal());
    let events = |name: &str, msg: &str| board.event(name, msg);
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let executor = Executor::new(&client, &*store, start, timeouts(&ws), now, interrupt::flag(), &events);
    // Ctrl-c from here on lets the steps in flight finish and be journaled.
    let graceful = interrupt::graceful();
    let outcome = runtime.block_on(executor.apply(&plan, parallelism));
    drop(graceful);
    settle(&*store);
    let crate::apply::JournalStats { changes, writes } = outcome.journal;
    tracing::info!(changes, writes, "journal: {changes} changes in {writes} state writes");
    let (said, code) = report(&outcome, matches!(mode, Mode::Destroy { .. }));
    review.finish(&said, code, &runtime);
    Ok(Output { stdout: said.into(), code })
}

/// A plan saved with `plan -out`, refused when the state moved since, or it was made for
/// another environment, or it is not the one reviewed.
fn saved_plan(
    f: &Path,
    ws: &Workspace,
    state: Option<&flinkform_core::state::State>,
    review: &Review,
    runtime: &tokio::runtime::Runtime,
) -> Result<planner::Plan, Error> {
    let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
    let mut p = planfile::from_text(&text).map_err(anyhow::Error::from)?;
    // The environment first: another environment's state is not "changed since".
    let here = ws.project.config.env.as_deref();
    if p.env.as_deref() != here {
        let name = |e: Option<&str>| e.map_or("no environment".to_string(), |e| format!("environment `{e}`"));
        return Err(anyhow::anyhow!(
            "the saved plan was made for {}, and this is {}: apply it with the same --env",
            name(p.env.as_deref()),
            name(here)
        )
        .into());
    }
    planfile::check_fresh(&p, state).map_err(anyhow::Error::from)?;
    p.require_sink_dsn(env_is_set);
    review.check(&p, runtime)?;
    Ok(p)
}

/// The plan of `destroy`: the pipelines named and those selected (neither: all); `None`
/// when a selection selects no recorded pipeline.
fn destroy_plan(
    ws: &Workspace,
    state: Option<&flinkform_core::state::State>,
    names: &[String],
    select: &flinkform_core::select::Selection,
) -> Result<Option<planner::Plan>, Error> {
    let protect = ws.project.pipelines.iter().map(|p| (p.name.clone(), p.protect)).collect();
    let mut names = names.to_vec();
    if !select.is_all() {
        names.extend(selected(ws, state, select)?.iter().flat_map(|s| s.pipelines.keys().cloned()));
        if names.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(planner::destroy(state, &protect, &names, ws.inputs.clone())))
}

/// Whether to go on with plan `p`: yes without asking when `auto_approve` or there is
/// nothing to do; else only a typed `yes` on a terminal.
fn confirmed(p: &planner::Plan, auto_approve: bool) -> Result<bool, Error> {
    if !p.has_changes() || !p.errors.is_empty() || auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow::anyhow!(
            "apply asks for confirmation, and there is no terminal: pass --auto-approve, or apply a saved plan"
        )
        .into());
    }
    print_now("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(answer.trim() == "yes")
}

/// What apply (or, `destroying`, destroy) says it did, and its exit code.
fn report(outcome: &crate::apply::Outcome, destroying: bool) -> (String, u8) {
    let mut text = String::new();
    for (name, why) in &outcome.failed {
        text.push_str(&format!("\nerror: {name}: {why}\n"));
    }
    let (verb, again) = if destroying { ("Destroy", "destroy") } else { ("Apply", "apply") };
    let counts = if destroying {
        format!("{} destroyed", outcome.done.destroy)
    } else {
        format!(
            "{} created, {} updated, {} replaced, {} destroyed{}",
            outcome.done.add,
            outcome.done.change,
            outcome.done.replace,
            outcome.done.destroy,
            if outcome.done.repair > 0 { format!(", {} repaired", outcome.done.repair) } else { String::new() }
        )
    };
    let code = if outcome.interrupted {
        text.push_str(&format!("\n{verb} interrupted: {counts}. Run {again} again to resume.\n"));
        interrupt::EXIT
    } else if outcome.failed.is_empty() {
        text.push_str(&format!("\n{verb} complete! {counts}.\n"));
        exit::OK
    } else {
        text.push_str(&format!(
            "\n{verb} failed for {}: {counts}. The state records every step taken; fix the cause and run {again} again.\n",
            view::count(outcome.failed.len() as u64, "pipeline")
        ));
        exit::ERROR
    };
    (text, code)
}

type Op<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::apply::Error>> + 'a>>;

/// `start` / `stop`: one pipeline, under the state lock, journaled.
pub(super) fn operate(
    root: &Path,
    name: &str,
    what: &str,
    op: impl for<'e> FnOnce(&'e Executor<'e, Client>, &'e str) -> Op<'e>,
) -> Result<Output, Error> {
    let ws = workspace(root)?;
    let store = ws.store()?;
    let _guard = store.lock(&lock_info(what), Duration::ZERO)?;
    let state = store.load()?.ok_or_else(|| anyhow::anyhow!("there is no state yet: run apply first"))?;
    let client = vvp_client(&ws)?;
    let events = |n: &str, msg: &str| print_now(&format!("{n}: {msg}\n"));
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let ex = Executor::new(&client, &*store, state, timeouts(&ws), now, interrupt::flag(), &events);
    let graceful = interrupt::graceful();
    let done = runtime()?.block_on(op(&ex, name));
    drop(graceful);
    settle(&*store);
    done.with_context(|| format!("{what} {name}"))?;
    ok(format!("{name}: {what} done.\n"))
}

/// Folds the deltas an apply journaled into the stored state's plain form. The state is
/// whole without it (a load replays them), so a failure is a warning.
fn settle(store: &dyn flinkform_core::state::StateStore) {
    if let Err(e) = store.settle() {
        tracing::warn!(
            "the state's deltas were not folded in (the next write or apply does it): {}",
            flinkform_core::diag::chain(&e)
        );
    }
}
