//! `schema`: a pipeline's inferred columns with the evidence behind each type.

use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok};
use crate::workspace::Resolved;
use flinkform_core::view;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Pipeline name.
    name: String,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    ok(schema_text(&ctx.resolve_one(&args.name, None)?))
}

/// A resolved pipeline's columns and warnings, as `schema` and `sample --schema` print them.
pub(super) fn schema_text(resolved: &Resolved) -> String {
    let d = &resolved.desired;
    let mut out = format!(
        "{}: {} columns, json.timestamp-format.standard = {}\nsample: {}\n\n",
        d.name,
        d.record.columns.len(),
        d.record.timestamp_standard.as_str(),
        view::sample_text(&d.sample)
    );
    out.push_str(&view::columns_table(&d.record.columns, ""));
    for w in &d.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
