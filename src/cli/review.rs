//! `apply --expect-plan`: apply on merge carries out only the plan that was reviewed,
//! named by its digest, a file (the PR comment, or `plan --format json`), or `github`:
//! the merged pull request's flinkform comment, which then says what became of it.

use super::*;
use crate::comment::{GitHub, Target};
use apply::Mode;
use flinkform_core::plan::Plan;
use flinkform_core::plan::meaning::Meaning;

/// The reviewed plan apply must match, if one was named.
pub(super) struct Review {
    expected: Option<Meaning>,
    /// The merged PR's comment: the client, the comment's id and body.
    comment: Option<(GitHub, u64, String)>,
}

impl Review {
    /// Reads what `--expect-plan` names (from GitHub: the PR merged as `GITHUB_SHA`).
    pub(super) fn of(mode: &Mode, ws: &Workspace, rt: &tokio::runtime::Runtime) -> Result<Review, Error> {
        let Mode::Apply { expect: Some(value) } = mode else { return Ok(Review { expected: None, comment: None }) };
        if value == "github" {
            let project = ws.project.config.project.clone().unwrap_or_else(|| "default".into());
            let sha = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty());
            let sha =
                sha.ok_or_else(|| anyhow::anyhow!("--expect-plan github: GITHUB_SHA (the merge commit) is not set"))?;
            let mut github = GitHub::new(Target::for_merge().map_err(anyhow::Error::from)?, Duration::from_secs(60))
                .map_err(anyhow::Error::from)?;
            let (id, body) = rt
                .block_on(async {
                    github.merged_pr(&sha).await?;
                    github.reviewed(&project, "default").await
                })
                .map_err(|e| anyhow::Error::from(e).context("--expect-plan github"))?;
            let expected = Meaning::expected(&body).map_err(|e| anyhow::anyhow!("--expect-plan github: {e}"))?;
            return Ok(Review { expected: Some(expected), comment: Some((github, id, body)) });
        }
        let file = Path::new(value);
        let text = if file.is_file() {
            std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
        } else {
            value.clone()
        };
        let expected = Meaning::expected(&text).map_err(|e| anyhow::anyhow!("--expect-plan: {e}"))?;
        Ok(Review { expected: Some(expected), comment: None })
    }

    /// Refuses a plan that does something other than the reviewed one, naming what
    /// changed (and saying so on the PR). A plan with nothing to do is always safe.
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

    /// Says on the PR what apply did; the comment is final when everything was applied.
    pub(super) fn finish(&self, out: &Output, rt: &tokio::runtime::Runtime) {
        self.say(&out.stdout, out.code == exit::OK, rt);
    }

    fn say(&self, outcome: &str, applied: bool, rt: &tokio::runtime::Runtime) {
        let Some((github, id, body)) = &self.comment else { return };
        let new = view::markdown::after_apply(body, outcome, applied);
        if let Err(e) = rt.block_on(github.edit(*id, &new)) {
            tracing::warn!("could not update the PR comment with the outcome: {e}");
            eprintln!("warning: could not update the PR comment with the outcome: {e}");
        }
    }
}
