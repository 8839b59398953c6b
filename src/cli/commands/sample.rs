//! `sample`: the newest messages of a pipeline's topic (or any topic), or the columns
//! inferred from them.

use std::time::Duration;

use super::schema::schema_text;
use crate::cli::context::Context;
use crate::cli::output::{Error, Output, ok};
use crate::sampler::{KafkaSampler, Sampler};
use crate::workspace::Failed;
use flinkform_core::spec::SourceSpec;
use flinkform_core::view;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Pipeline name (or give --topic and --bootstrap-servers).
    #[arg(required_unless_present = "topic")]
    name: Option<String>,
    /// How many of the newest messages.
    #[arg(short = 'n', long = "messages", default_value_t = 20)]
    messages: u64,
    /// Show the inferred columns instead of the messages.
    #[arg(long)]
    schema: bool,
    /// Sample this topic without a spec.
    #[arg(long, requires = "bootstrap_servers", conflicts_with = "name")]
    topic: Option<String>,
    /// Brokers of --topic.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// Give up after this long (with --topic).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub(crate) fn run(ctx: &Context<'_>, args: Args) -> Result<Output, Error> {
    match &args.name {
        Some(name) => pipeline(ctx, name, args.messages, args.schema),
        None => topic(args),
    }
}

/// `sample NAME`: a pipeline's sample (or its schema).
fn pipeline(ctx: &Context<'_>, name: &str, messages: u64, schema: bool) -> Result<Output, Error> {
    if schema {
        return ok(schema_text(&ctx.resolve_one(name, Some(messages))?));
    }
    let ws = ctx.workspace()?;
    let mut p = ws.pipeline(name)?.clone();
    // A topic is sampled at its newest messages; a sample file's newest records are its
    // last ones, so the whole file is read and its tail shown.
    let from_file = p.source.sample.file.is_some();
    p.source.sample.messages = if from_file { u64::MAX } else { messages };
    let lines = view::json_lines(&ws.sample_one(&p, ctx.progress).map_err(Failed::from)?);
    if !from_file {
        return ok(lines);
    }
    let n = usize::try_from(messages).unwrap_or(usize::MAX);
    let all: Vec<&str> = lines.lines().collect();
    ok(all[all.len().saturating_sub(n)..].iter().map(|l| format!("{l}\n")).collect())
}

/// `sample --topic`: an ad-hoc sample of any topic (or its shape).
fn topic(args: Args) -> Result<Output, Error> {
    let source = SourceSpec::adhoc(
        args.topic.unwrap_or_default(),
        args.bootstrap_servers.unwrap_or_default(),
        args.messages,
        args.timeout,
    );
    let mut r = KafkaSampler::default().sample(&[&source]);
    let sample = r.pop().expect("one result").map_err(anyhow::Error::from)?;
    if !args.schema {
        return ok(view::json_lines(&sample));
    }
    let shape = sample.infer(&Default::default());
    ok(format!("{}: {}\n\n{}", sample.origin, view::count(sample.len() as u64, "record"), view::shape_table(&shape)))
}
