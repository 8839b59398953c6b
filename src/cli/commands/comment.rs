//! `comment github|gitlab`: the plan as the review's one sticky comment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::plan;
use crate::cli::context::{Context, runtime};
use crate::cli::exit;
use crate::cli::output::{Error, Output};
use crate::comment::github::{self, GitHub};
use crate::comment::gitlab::{self, GitLab};
use crate::comment::{Behavior, Forge, Posted};
use flinkform_core::view::Format;

/// How long a rate limit is waited out before `comment` gives up.
pub(crate) const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where the pull request is.
    #[arg(value_enum)]
    provider: Provider,
    /// What happens to the previous comment: edit it, or add a new one (keeping,
    /// deleting or hiding the old).
    #[arg(long, value_enum, default_value = "update")]
    behavior: CommentBehavior,
    /// GitHub: OWNER/NAME (default: GITHUB_REPOSITORY); GitLab: the project's id or
    /// path (default: CI_PROJECT_ID).
    #[arg(long)]
    repo: Option<String>,
    /// Pull request number (default: from the event at GITHUB_EVENT_PATH), or merge
    /// request iid (default: CI_MERGE_REQUEST_IID).
    #[arg(long)]
    pr: Option<u64>,
    /// API root, for GitHub Enterprise Server or self-managed GitLab (default:
    /// GITHUB_API_URL or CI_API_V4_URL, else github.com's or gitlab.com's).
    #[arg(long)]
    api_url: Option<String>,
    /// Post this Markdown (from `plan --format markdown`) instead of planning here.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Look at VVP while planning (when credentials are set).
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    refresh: bool,
}

/// Where `comment` posts.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Provider {
    /// A GitHub pull request (github.com or GitHub Enterprise Server).
    Github,
    /// A GitLab merge request (gitlab.com or self-managed).
    Gitlab,
}

/// `comment --behavior`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CommentBehavior {
    /// Edit the previous comment in place (a new one when there is none).
    Update,
    /// Add a new comment, leaving the previous ones.
    New,
    /// Delete the previous comments, then add a new one.
    DeleteAndNew,
    /// Hide the previous comments as outdated, then add a new one.
    HideAndNew,
}

/// Plans (or reads `--body-file`) and posts the Markdown; exits as the plan did, so a
/// failed plan fails the job after its comment explains why.
pub(crate) fn run(ctx: &Context<'_>, opts: Args) -> Result<Output, Error> {
    let setup = |e: crate::comment::CommentError| anyhow::Error::from(e);
    match opts.provider {
        Provider::Github => {
            let target = github::Target::from_env(opts.api_url.clone(), opts.repo.clone(), opts.pr).map_err(setup)?;
            let forge = GitHub::new(target, RATE_LIMIT_WAIT).map_err(setup)?;
            publish(&forge, ctx, &opts)
        }
        Provider::Gitlab => {
            let target = gitlab::Target::from_env(opts.api_url.clone(), opts.repo.clone(), opts.pr).map_err(setup)?;
            let forge = GitLab::new(target, RATE_LIMIT_WAIT).map_err(setup)?;
            publish(&forge, ctx, &opts)
        }
    }
}

fn publish(forge: &impl Forge, ctx: &Context<'_>, opts: &Args) -> Result<Output, Error> {
    let (body, code) = match &opts.body_file {
        Some(f) => (std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?, exit::OK),
        None => {
            let plan_opts = plan::Args {
                select: Default::default(),
                format: Format::Markdown,
                out: None,
                gitlab_report: None,
                detailed_exitcode: false,
                allow_empty: false,
                sample: "required".into(),
                no_cache: false,
                // Only reads the state: concurrent reviews do not wait on each other.
                lock: false,
                lock_timeout: Duration::ZERO,
                refresh: opts.refresh,
                validate: false,
            };
            let out = plan::run(ctx, plan_opts)?;
            (out.stdout.into_text(), out.code)
        }
    };
    // GitHub Actions shows the same Markdown on the run's summary page.
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY ({})", Path::new(&summary).display()))?;
        f.write_all(format!("{body}\n").as_bytes()).context("cannot write GITHUB_STEP_SUMMARY")?;
    }
    let behavior = match opts.behavior {
        CommentBehavior::Update => Behavior::Update,
        CommentBehavior::New => Behavior::New,
        CommentBehavior::DeleteAndNew => Behavior::DeleteAndNew,
        CommentBehavior::HideAndNew => Behavior::HideAndNew,
    };
    let review = forge.review();
    let posted = runtime()?
        .block_on(crate::comment::post(forge, &body, behavior))
        .map_err(|e| anyhow::Error::from(e).context(format!("posting the plan on {review}")))?;
    Ok(Output { stdout: said(&review, &posted).into(), code })
}

/// What `comment` tells the CI log.
fn said(review: &str, posted: &Posted) -> String {
    let earlier = |n: usize, what: &str| match n {
        0 => String::new(),
        1 => format!(" (1 earlier comment {what})"),
        n => format!(" ({n} earlier comments {what})"),
    };
    let earlier = earlier(posted.deleted, "deleted") + &earlier(posted.hidden, "hidden");
    let mut out = format!("The plan comment on {review} was {}{earlier}: {}\n", posted.verb, posted.url);
    let (added, removed) = &posted.labels;
    if !added.is_empty() {
        out.push_str(&format!("Labelled {review}: {}\n", added.join(", ")));
    }
    if !removed.is_empty() {
        out.push_str(&format!("Removed from {review}: {}\n", removed.join(", ")));
    }
    out
}
