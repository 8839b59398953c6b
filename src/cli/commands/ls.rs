//! `ls`: the selected pipelines, and what the state records of each.

use crate::cli::context::{Context, narrow, selection};
use crate::cli::flags::SelectArgs;
use crate::cli::output::{Error, Output, ok, table};
use flinkform_core::spec::Sink;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    select: SelectArgs,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// `ls`: the selected pipelines, and what the state records of each.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let (select, json) = (selection(&args.select)?, args.format == "json");
    let mut ws = ctx.workspace()?;
    let recorded = ws.store()?.load()?;
    let state = narrow(&mut ws, recorded, &select)?;
    let status = |name: &str| {
        state.as_ref().and_then(|s| s.pipelines.get(name)).map_or("not applied".to_string(), |p| p.status.to_string())
    };
    let rows: Vec<Vec<serde_json::Value>> = ws
        .project
        .pipelines
        .iter()
        .map(|p| {
            let table = p.sinks.iter().map(Sink::label).collect::<Vec<_>>().join(",");
            vec![
                p.name.clone().into(),
                p.source.topic.clone().into(),
                table.into(),
                p.tags.clone().into(),
                status(&p.name).into(),
            ]
        })
        .collect();
    ok(table(&["NAME", "TOPIC", "TABLE", "TAGS", "STATUS"], &rows, json))
}
