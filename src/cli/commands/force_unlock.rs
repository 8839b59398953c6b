//! `force-unlock`: a stuck state lock broken by its id.

use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The lock ID.
    id: String,
}

/// `force-unlock`.
pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    let id = args.id;
    let ws = ctx.workspace()?;
    ws.store()?.force_unlock(&id)?;
    ok(format!("The state lock {id} was released.\n"))
}
