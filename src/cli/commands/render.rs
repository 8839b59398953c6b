//! `render`: a pipeline's Flink SQL, sink DDL or deployment config (or each selected
//! pipeline's), or a built-in template.

use crate::cli::context::{Context, narrow, selection};
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok};
use crate::workspace;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Pipeline name.
    #[arg(required_unless_present_any = ["template", "select", "target"])]
    name: Option<String>,
    #[command(flatten)]
    select: SelectArgs,
    /// Print this built-in template instead (source, lookup, sink, view, insert, ddl
    /// or deployment), to copy into templates/ and edit.
    #[arg(long, value_parser = template_kinds(), conflicts_with_all = ["name", "ddl", "deployment"])]
    template: Option<String>,
    /// Print the Hologres DDL instead.
    #[arg(long, conflicts_with = "deployment")]
    ddl: bool,
    /// Print the deployment config instead.
    #[arg(long)]
    deployment: bool,
}

/// The kinds `render --template` prints: every built-in template.
fn template_kinds() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(flinkform_core::render::KINDS.iter().map(|(k, _)| *k))
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    if let Some(kind) = &args.template {
        return builtin_template(kind);
    }
    let Some(name) = &args.name else { return render_selected(ctx, &args) };
    let resolved = ctx.resolve_one(name, None)?;
    let r = &resolved.desired.record;
    ok(if args.ddl {
        r.all_ddl()
    } else if args.deployment {
        r.deployment.clone()
    } else {
        r.sql.clone()
    })
}

/// `render --template KIND`: the built-in template of that kind, as compiled in.
fn builtin_template(kind: &str) -> Result<Output, Error> {
    let file = flinkform_core::render::KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f);
    let text = file.and_then(|f| flinkform_core::render::BUILTIN.iter().find(|(n, _)| *n == f)).map(|(_, t)| *t);
    match text {
        Some(t) => ok(t.to_string()),
        None => Err(anyhow::anyhow!("no built-in template of kind `{kind}`").into()),
    }
}

/// `render --select`: each selected pipeline's artifact, under a header naming it.
fn render_selected(ctx: &Context<'_>, args: &Args) -> Result<Output, Error> {
    let select = selection(&args.select)?;
    let mut ws = ctx.workspace()?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded, &select)?;
    let (desired, _) = workspace::desired_all(&mut ws, state.as_ref(), ctx.progress)?;
    let mut out = String::new();
    for d in &desired {
        let r = &d.record;
        let [sql, all_ddl, deploy] = r.artifacts();
        let text = if args.ddl {
            all_ddl
        } else if args.deployment {
            deploy
        } else {
            sql
        };
        let comment = if args.deployment { "#" } else { "--" };
        out.push_str(&format!("{comment} ==== {} ({})\n{text}\n", d.name, r.file));
    }
    ok(out)
}
