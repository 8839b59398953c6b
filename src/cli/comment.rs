//! `comment github`: the plan as the pull request's one sticky comment.

use super::*;
use crate::comment::{Behavior, GitHub, Target};
use args::{CommentBehavior, CommentProvider};

/// How long a rate limit is waited out before `comment` gives up.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

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
    let CommentProvider::Github = opts.provider;
    let target = Target::from_env(opts.api_url, opts.repo, opts.pr).map_err(anyhow::Error::from)?;
    let (body, code) = match &opts.body_file {
        Some(f) => (std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?, exit::OK),
        None => {
            let plan_opts = plan::Opts {
                format: Format::Markdown,
                out: None,
                gitlab_report: None,
                detailed_exitcode: false,
                // Only reads the state: concurrent pull requests do not wait on each other.
                lock: false,
                lock_timeout: Duration::ZERO,
                refresh: opts.refresh,
                validate: false,
            };
            let out = plan::plan(root, style, progress, plan_opts)?;
            (out.stdout, out.code)
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
    let (repo, pr) = (target.repo.clone(), target.pr);
    let github = GitHub::new(target, RATE_LIMIT_WAIT).map_err(anyhow::Error::from)?;
    let posted = runtime()?
        .block_on(github.post(&body, behavior))
        .map_err(|e| anyhow::Error::from(e).context(format!("posting the plan on {repo}#{pr}")))?;
    let earlier = |n: usize, what: &str| match n {
        0 => String::new(),
        1 => format!(" (1 earlier comment {what})"),
        n => format!(" ({n} earlier comments {what})"),
    };
    let deleted = earlier(posted.deleted, "deleted") + &earlier(posted.hidden, "hidden");
    let mut stdout = format!("The plan comment on {repo}#{pr} was {}{deleted}: {}\n", posted.verb, posted.url);
    let (added, removed) = &posted.labels;
    if !added.is_empty() {
        stdout.push_str(&format!("Labelled {repo}#{pr}: {}\n", added.join(", ")));
    }
    if !removed.is_empty() {
        stdout.push_str(&format!("Removed from {repo}#{pr}: {}\n", removed.join(", ")));
    }
    Ok(Output { stdout, code })
}
