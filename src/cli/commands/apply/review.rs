//! `apply --expect-plan`: apply on merge carries out only the plan that was reviewed,
//! named by its digest, a file (the PR comment, or `plan --format json`), or `github` /
//! `gitlab`: the merged review's flinkform comment, which then says what became of it.

use std::path::Path;

use anyhow::Context as _;

use super::Mode;
use crate::cli::commands::comment::RATE_LIMIT_WAIT;
use crate::cli::exit;
use crate::cli::output::Error;
use crate::comment::github::{self, GitHub};
use crate::comment::gitlab::{self, GitLab};
use crate::comment::{CommentError, Forge, Note};
use crate::workspace::Workspace;
use flinkform_core::plan::Plan;
use flinkform_core::plan::meaning::Meaning;
use flinkform_core::state::ReviewRef;
use flinkform_core::view;

/// The forge the reviewed comment is on.
enum Forged {
    GitHub(GitHub),
    GitLab(GitLab),
}

/// The comment of `project` in `env` on the review merged as commit `sha`.
fn merged_comment<F: Forge>(
    mut forge: F,
    sha: &str,
    project: &str,
    env: &str,
    rt: &tokio::runtime::Runtime,
) -> Result<(F, Note), CommentError> {
    let note = rt.block_on(async {
        forge.merged(sha).await?;
        crate::comment::reviewed(&forge, project, env).await
    })?;
    Ok((forge, note))
}

/// The reviewed plan apply must match, if one was named.
pub(super) struct Review {
    expected: Option<Meaning>,
    /// The merged review's comment.
    comment: Option<(Forged, Note)>,
}

impl Review {
    /// Reads what `--expect-plan` names (from a forge: the review merged as the commit
    /// CI runs for, `GITHUB_SHA` or `CI_COMMIT_SHA`).
    pub(super) fn of(mode: &Mode, ws: &Workspace, rt: &tokio::runtime::Runtime) -> Result<Review, Error> {
        let Mode::Apply { expect: Some(value), .. } = mode else {
            return Ok(Review { expected: None, comment: None });
        };
        let project = ws.project.config.project.clone().unwrap_or_else(|| "default".into());
        let env = ws.project.config.env.clone().unwrap_or_else(|| "default".into());
        let sha = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--expect-plan {value}: {var} (the merge commit) is not set"))
        };
        let context = |e: CommentError| anyhow::Error::from(e).context(format!("--expect-plan {value}"));
        let (forged, note) = match value.as_str() {
            "github" => {
                let f = GitHub::new(github::Target::for_merge().map_err(context)?, RATE_LIMIT_WAIT).map_err(context)?;
                let (f, note) = merged_comment(f, &sha("GITHUB_SHA")?, &project, &env, rt).map_err(context)?;
                (Forged::GitHub(f), note)
            }
            "gitlab" => {
                let f = GitLab::new(gitlab::Target::for_merge().map_err(context)?, RATE_LIMIT_WAIT).map_err(context)?;
                let (f, note) = merged_comment(f, &sha("CI_COMMIT_SHA")?, &project, &env, rt).map_err(context)?;
                (Forged::GitLab(f), note)
            }
            _ => {
                let file = Path::new(value);
                let text = if file.is_file() {
                    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
                } else {
                    value.clone()
                };
                let expected = Meaning::expected(&text).map_err(|e| anyhow::anyhow!("--expect-plan: {e}"))?;
                return Ok(Review { expected: Some(expected), comment: None });
            }
        };
        let expected = Meaning::expected(&note.body).map_err(|e| anyhow::anyhow!("--expect-plan {value}: {e}"))?;
        Ok(Review { expected: Some(expected), comment: Some((forged, note)) })
    }

    /// The merged review this apply carries out, when it was read from a forge.
    pub(super) fn reviewed(&self) -> Option<ReviewRef> {
        let (forged, _) = self.comment.as_ref()?;
        let (name, url) = match forged {
            Forged::GitHub(f) => (f.review(), f.review_url()),
            Forged::GitLab(f) => (f.review(), f.review_url()),
        };
        Some(ReviewRef { name, url })
    }

    /// Refuses a plan that does something other than the reviewed one, naming what
    /// changed (and saying so on the review). A plan with nothing to do is always safe.
    pub(super) fn check(&self, plan: &Plan, rt: &tokio::runtime::Runtime) -> Result<(), Error> {
        let Some(expected) = &self.expected else { return Ok(()) };
        let diffs = expected.differences(&plan.meaning());
        if diffs.is_empty() || !plan.has_changes() {
            return Ok(());
        }
        let why = format!(
            "the plan is not the one reviewed, so nothing was applied:\n  {}\nPlan again and have the new plan reviewed.",
            diffs.join("\n  ")
        );
        self.say(&why, false, rt);
        Err(anyhow::anyhow!("{why}").into())
    }

    /// Says on the review what apply did; the comment is final when everything was applied.
    pub(super) fn finish(&self, said: &str, code: u8, rt: &tokio::runtime::Runtime) {
        self.say(said, code == exit::OK, rt);
    }

    fn say(&self, outcome: &str, applied: bool, rt: &tokio::runtime::Runtime) {
        let Some((forged, note)) = &self.comment else { return };
        let new = view::markdown::after_apply(&note.body, outcome, applied);
        let done = match forged {
            Forged::GitHub(f) => rt.block_on(f.edit(note, &new)),
            Forged::GitLab(f) => rt.block_on(f.edit(note, &new)),
        };
        if let Err(e) = done {
            tracing::warn!("could not update the review's comment with the outcome: {e}");
            eprintln!("warning: could not update the review's comment with the outcome: {e}");
        }
    }
}
