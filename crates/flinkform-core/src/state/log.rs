//! What is kept beside the state for people to look back at: who applied a revision,
//! from which commit and review (`Stamp`), and a log of applies (`ApplyRecord`). Read by
//! `flinkform serve`; plans never read them.

use serde::{Deserialize, Serialize};

/// When, by whom and from what a change was applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// When (RFC 3339).
    pub at: String,
    /// Who applied it (the CI actor, or the local user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The commit applied (CI's merge commit, or the checkout's HEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The reviewed pull or merge request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewRef>,
    /// The digest of the plan applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

impl Stamp {
    /// A stamp of the time `at` only.
    pub fn at(at: &str) -> Stamp {
        Stamp { at: at.to_string(), ..Stamp::default() }
    }
}

/// A pull or merge request, as people name it (`owner/repo#7`, `group/project!7`) and
/// where it is on the web.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRef {
    /// Its name.
    pub name: String,
    /// Its web page, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// How an apply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOutcome {
    /// Every change was carried out.
    Applied,
    /// At least one pipeline failed.
    Failed,
    /// Interrupted (ctrl-c, or the lock lost): run again to resume.
    Interrupted,
}

impl ApplyOutcome {
    /// Its spelling.
    pub fn name(self) -> &'static str {
        match self {
            ApplyOutcome::Applied => "applied",
            ApplyOutcome::Failed => "failed",
            ApplyOutcome::Interrupted => "interrupted",
        }
    }
}

/// One apply (or destroy), as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRecord {
    /// Unique id.
    pub id: String,
    /// The environment (`None`: the project's only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// When it started, who ran it, from what.
    pub stamp: Stamp,
    /// How long it took (milliseconds).
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: ApplyOutcome,
    /// Every pipeline it changed: its action, and its error if it failed.
    pub changes: Vec<AppliedChange>,
    /// What apply said at the end.
    pub said: String,
    /// The plan carried out, as text (cut at [`ApplyRecord::PLAN_CAP`] bytes).
    pub plan: String,
}

impl ApplyRecord {
    /// The most of a plan's text an apply record keeps.
    pub const PLAN_CAP: usize = 256 * 1024;

    /// `plan` cut to [`ApplyRecord::PLAN_CAP`] on a line boundary, saying so.
    pub fn capped_plan(plan: &str) -> String {
        if plan.len() <= Self::PLAN_CAP {
            return plan.to_string();
        }
        let cut = plan[..Self::PLAN_CAP].rfind('\n').map_or(0, |i| i + 1);
        format!("{}… (the plan is {} bytes; the first {cut} are kept)\n", &plan[..cut], plan.len())
    }
}

/// A pipeline's part in an apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedChange {
    /// The pipeline.
    pub pipeline: String,
    /// The planned action (`create`, `update`, ...).
    pub action: String,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::ApplyRecord;

    #[test]
    fn a_long_plan_is_cut_on_a_line_boundary_and_says_so() {
        let line = "x".repeat(99) + "\n";
        let plan = line.repeat(3000);
        let kept = ApplyRecord::capped_plan(&plan);
        assert!(kept.len() < ApplyRecord::PLAN_CAP + 100, "{}", kept.len());
        let (body, notice) = kept.rsplit_once("…").unwrap();
        assert!(body.ends_with('\n') && body.len() % 100 == 0, "cut mid-line");
        assert!(notice.contains("the plan is 300000 bytes"), "{notice}");
        assert_eq!(ApplyRecord::capped_plan("short\n"), "short\n");
    }
}
