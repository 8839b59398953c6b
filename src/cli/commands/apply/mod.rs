//! `apply` and `destroy`: a plan carried out by the executor under the state lock, with
//! ctrl-c handling and the progress board; `review` checks the plan is the one reviewed.

mod review;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::plan::observe;
use crate::apply::{Event, Executor, JournalStats, Outcome};
use crate::cli::board::Board;
use crate::cli::context::{
    Context, env_is_set, narrow, runtime, selected, selection, stamp, take_lock, timeouts, vvp_client,
};
use crate::cli::exit;
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok, print_now};
use crate::interrupt;
use crate::workspace::{self, Workspace};
use flinkform_core::plan::meaning::ChangeClass;
use flinkform_core::plan::{self as planner, Plan, file as planfile};
use flinkform_core::select::Selection;
use flinkform_core::state::{AppliedChange, ApplyOutcome, ApplyRecord, PipelineState, Stamp, State, StateStore};
use flinkform_core::view::{self, Format, Style};
use review::Review;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A plan saved with `plan -out FILE`: apply exactly it (refused if the state changed since).
    plan: Option<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// Apply only if the plan means what was reviewed: its digest, a file with the PR
    /// comment or `plan --format json` output, or `github`/`gitlab` (the comment of the
    /// pull or merge request merged as GITHUB_SHA or CI_COMMIT_SHA, which then says what
    /// apply did).
    #[arg(long, value_name = "DIGEST|FILE|github|gitlab")]
    expect_plan: Option<String>,
    /// Apply a project without specs (every recorded pipeline destroyed).
    #[arg(long)]
    allow_empty: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// With --auto-approve and no reviewed plan: let this pipeline's update restart
    /// without state where the plan says its state is lost (repeatable).
    #[arg(long, value_name = "PIPELINE")]
    accept_state_loss: Vec<String>,
    /// Pipelines carried out at the same time (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
    /// How long to wait for the state lock (e.g. "30s").
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    lock_timeout: Duration,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DestroyArgs {
    /// Only these pipelines (the others stay as they are).
    names: Vec<String>,
    #[command(flatten)]
    select: SelectArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// Pipelines carried out at the same time (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
}

/// Whether `apply` carries out the plan of the specs, or destroys.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Carry out the plan of the selected pipelines; when a reviewed plan is named
    /// (`--expect-plan`), only if it means the same.
    Apply { expect: Option<String>, select: Selection, allow_empty: bool, accept_state_loss: Vec<String> },
    /// Destroy the pipelines named and those selected (neither: all of them).
    Destroy { names: Vec<String>, select: Selection },
}

/// How a plan is carried out.
struct Run<'a> {
    plan_file: Option<&'a Path>,
    mode: Mode,
    auto_approve: bool,
    parallelism: usize,
    lock_timeout: Duration,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let mode = Mode::Apply {
        expect: args.expect_plan,
        select: selection(&args.select)?,
        allow_empty: args.allow_empty,
        accept_state_loss: args.accept_state_loss,
    };
    let run = Run {
        plan_file: args.plan.as_deref(),
        mode,
        auto_approve: args.auto_approve,
        parallelism: usize::from(args.parallelism),
        lock_timeout: args.lock_timeout,
    };
    carry_out(ctx, run)
}

pub(crate) fn destroy(ctx: &Context<'_>, args: DestroyArgs) -> Result<Output, Error> {
    let run = Run {
        plan_file: None,
        mode: Mode::Destroy { names: args.names, select: selection(&args.select)? },
        auto_approve: args.auto_approve,
        parallelism: usize::from(args.parallelism),
        lock_timeout: Duration::ZERO,
    };
    carry_out(ctx, run)
}

fn carry_out(ctx: &Context<'_>, run: Run<'_>) -> Result<Output, Error> {
    let mut ws = match (&run.mode, run.plan_file) {
        (Mode::Apply { .. }, None) => ctx.workspace_to_plan()?,
        _ => ctx.workspace()?,
    };
    let runtime = runtime()?;
    let review = Review::of(&run.mode, &ws, &runtime)?;
    let store = ws.store()?;
    let _guard = take_lock(&*store, "apply", run.lock_timeout)?;
    let state = store.load()?;
    let plan = match run.plan_file {
        Some(f) => saved_plan(f, &ws, state.as_ref(), &review, &runtime)?,
        None => {
            let p = match &run.mode {
                Mode::Apply { select, allow_empty, expect, accept_state_loss } => {
                    ctx.require_pipelines(&ws, *allow_empty)?;
                    // Planned on the selection; carried out into the whole state.
                    let planned = narrow(&mut ws, state.clone(), select)?;
                    let sources = ws.sources();
                    let (desired, inputs) = workspace::desired_all(&mut ws, planned.as_ref(), ctx.progress)?;
                    let observed = observe(&ws, planned.as_ref(), &desired, false)?;
                    let mut p = planner::compute(desired, planned, observed.as_ref(), inputs);
                    workspace::count_data(&sources, &mut p);
                    p.env = ws.project.config.env.clone();
                    p.selection = (!select.is_all()).then(|| select.shown().to_string());
                    p.require_sink_dsn(env_is_set);
                    review.check(&p, &runtime)?;
                    if expect.is_none() && run.auto_approve {
                        consented(&p, accept_state_loss)?;
                    }
                    p
                }
                Mode::Destroy { names, select } => match destroy_plan(&ws, state.as_ref(), names, select)? {
                    Some(p) => p,
                    None => {
                        return ok(format!("{} selects no recorded pipeline: nothing to destroy.\n", select.shown()));
                    }
                },
            };
            print_plan(&p, ctx.style);
            if !confirmed(&p, run.auto_approve)? {
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
    let client = vvp_client(&ws)?;
    let lineage = uuid::Uuid::new_v4().to_string();
    let start = state.unwrap_or_else(|| State::new(lineage));
    let board = Board::new(std::io::stdout().is_terminal());
    let events = |name: &str, event: Event<'_>| board.event(name, event);
    let stamp = Stamp { review: review.reviewed(), plan: Some(plan.meaning().digest), ..stamp(&ws.root) };
    // The texts of every revision this apply may record, kept before any step.
    let texts: Vec<(String, String)> =
        plan.changes.iter().filter_map(|c| c.after.as_deref()).flat_map(PipelineState::revision_texts).collect();
    store.keep_texts(&texts)?;
    let began = std::time::Instant::now();
    let executor = Executor::new(&client, &*store, start, timeouts(&ws), stamp.clone(), ctx.interrupt.flag(), &events);
    // Ctrl-c from here on lets the steps in flight finish and be journaled.
    let graceful = ctx.interrupt.graceful();
    let outcome = runtime.block_on(executor.apply(&plan, run.parallelism));
    drop(graceful);
    // The executor's state is journaled: it goes before settling reads the stored one.
    drop(executor);
    settle(&*store);
    let JournalStats { changes, writes } = outcome.journal;
    tracing::info!(changes, writes, "journal: {changes} changes in {writes} state writes");
    let (said, code) = report(&outcome, matches!(run.mode, Mode::Destroy { .. }));
    log_apply(&*store, &ws, &plan, &outcome, stamp, began.elapsed(), &said);
    review.finish(&said, code, &runtime);
    Ok(Output { stdout: said.into(), code })
}

/// Adds this apply to the log kept beside the state. The state is whole without it, so
/// a failure is a warning.
fn log_apply(
    store: &dyn StateStore,
    ws: &Workspace,
    plan: &Plan,
    outcome: &Outcome,
    stamp: Stamp,
    took: Duration,
    said: &str,
) {
    let failed: HashMap<&str, &str> = outcome.failed.iter().map(|(n, why)| (n.as_str(), why.as_str())).collect();
    let changes = plan
        .changes
        .iter()
        .filter(|c| c.action != planner::Action::NoOp)
        .map(|c| AppliedChange {
            pipeline: c.name.clone(),
            action: c.action.name().to_string(),
            error: failed.get(c.name.as_str()).map(|e| e.to_string()),
        })
        .collect();
    let mut text = Vec::new();
    let _ = view::write_plan(plan, Format::Text, Style { color: false }, &mut text);
    let record = ApplyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        env: ws.project.config.env.clone(),
        stamp,
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        outcome: match (outcome.interrupted, outcome.failed.is_empty()) {
            (true, _) => ApplyOutcome::Interrupted,
            (false, true) => ApplyOutcome::Applied,
            (false, false) => ApplyOutcome::Failed,
        },
        changes,
        said: said.trim().to_string(),
        plan: ApplyRecord::capped_plan(&String::from_utf8_lossy(&text)),
    };
    if let Err(e) = store.log_apply(&record) {
        tracing::warn!("the apply was not added to the log: {}", flinkform_core::diag::chain(&e));
        eprintln!("warning: the apply was not added to the log: {}", flinkform_core::diag::chain(&e));
    }
}

/// Writes `plan` to stdout as it is made, and flushes.
fn print_plan(plan: &Plan, style: Style) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = view::write_plan(plan, Format::Text, style, &mut out).and_then(|()| out.flush());
}

/// A plan saved with `plan -out`, refused when the state moved since, or it was made for
/// another environment, or it is not the one reviewed.
fn saved_plan(
    f: &Path,
    ws: &Workspace,
    state: Option<&State>,
    review: &Review,
    runtime: &tokio::runtime::Runtime,
) -> Result<Plan, Error> {
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
    state: Option<&State>,
    names: &[String],
    select: &Selection,
) -> Result<Option<Plan>, Error> {
    let protect = ws.project.pipelines.iter().map(|p| (p.name.clone(), p.protect)).collect();
    let mut names = names.to_vec();
    if !select.is_all() {
        names.extend(selected(ws, state, select)?.into_iter().map(str::to_owned));
        if names.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(planner::destroy(state, &protect, &names, ws.inputs.clone())))
}

/// An apply that nobody reviewed (`--auto-approve`, no saved or expected plan) loses no
/// job's state unless told to for that pipeline: the reviewed plan, a typed `yes` or
/// `--accept-state-loss` is the consent.
fn consented(p: &Plan, accepted: &[String]) -> Result<(), Error> {
    let lost: Vec<&str> = p
        .changes
        .iter()
        .filter(|c| c.class() == Some(ChangeClass::StateLoss) && !accepted.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "the plan restarts {} without state (state: lost, above), and nobody reviewed it: apply the reviewed plan (a saved PLANFILE, or --expect-plan), or pass {}",
        lost.join(", "),
        lost.iter().map(|n| format!("--accept-state-loss {n}")).collect::<Vec<_>>().join(" ")
    )
    .into())
}

/// Whether to go on with plan `p`: yes without asking when `auto_approve` or there is
/// nothing to do; else only a typed `yes` on a terminal.
fn confirmed(p: &Plan, auto_approve: bool) -> Result<bool, Error> {
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
fn report(outcome: &Outcome, destroying: bool) -> (String, u8) {
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

/// Folds the deltas an apply journaled into the stored state's plain form. The state is
/// whole without it (a load replays them), so a failure is a warning.
pub(super) fn settle(store: &dyn StateStore) {
    if let Err(e) = store.settle() {
        tracing::warn!(
            "the state's deltas were not folded in (the next write or apply does it): {}",
            flinkform_core::diag::chain(&e)
        );
    }
}
