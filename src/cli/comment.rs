//! `comment github|gitlab`: the plan as the review's one sticky comment.

use super::*;
use crate::comment::github::{self, GitHub};
use crate::comment::gitlab::{self, GitLab};
use crate::comment::{Behavior, Forge, Posted};
use args::{CommentBehavior, CommentProvider};

/// How long a rate limit is waited out before `comment` gives up.
pub(super) const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// What `comment` was asked for.
pub(super) struct Opts {
    pub(super) provider: CommentProvider,
    pub(super) behavior: CommentBehavior,
    pub(super) repo: Option<String>,
    pub(super) pr: Option<u64>,
    pub(super) api_url: Option<String>,
    pub(super) body_file: Option<PathBuf>,
    pub(super) refresh: bool,
}

/// Plans (or reads `--body-file`) and posts the Markdown; exits as the plan did, so a
/// failed plan fails the job after its comment explains why.
pub(super) fn comment(root: &Path, style: Style, progress: Progress<'_>, opts: Opts) -> Result<Output, Error> {
    let setup = |e: crate::comment::CommentError| anyhow::Error::from(e);
    match opts.provider {
        CommentProvider::Github => {
            let target = github::Target::from_env(opts.api_url.clone(), opts.repo.clone(), opts.pr).map_err(setup)?;
            let forge = GitHub::new(target, RATE_LIMIT_WAIT).map_err(setup)?;
            publish(&forge, root, style, progress, &opts)
        }
        CommentProvider::Gitlab => {
            let target = gitlab::Target::from_env(opts.api_url.clone(), opts.repo.clone(), opts.pr).map_err(setup)?;
            let forge = GitLab::new(target, RATE_LIMIT_WAIT).map_err(setup)?;
            publish(&forge, root, style, progress, &opts)
        }
    }
}

fn publish(
    forge: &impl Forge,
    root: &Path,
    style: Style,
    progress: Progress<'_>,
    opts: &Opts,
) -> Result<Output, Error> {
    let (body, code) = match &opts.body_file {
        Some(f) => (std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?, exit::OK),
        None => {
            let plan_opts = args::PlanArgs {
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
            let out = plan::plan(root, style, progress, plan_opts)?;
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
