//! The plan as one sticky comment on a pull request (GitHub) or merge request (GitLab):
//! the comment is found again by its hidden marker (`<!-- flinkform:plan project=…
//! env=… -->`) and, by [`Behavior`], edited in place, or a new one is added (the old
//! ones deleted, hidden or left). A comment marked applied is final and never edited.
//! The review is labelled by the plan's change classes. Each forge is a small
//! [`Forge`]; the flow is written once here. Tokens never reach a message.

pub mod github;
pub mod gitlab;
mod http;

use flinkform_core::plan::meaning::Marker;

pub use http::CommentError;

/// What happens to an earlier comment of the same project and environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Edit it in place (a new one when there is none, or it is final).
    Update,
    /// Leave it, and add a new one.
    New,
    /// Delete it, and add a new one.
    DeleteAndNew,
    /// Hide it as outdated, and add a new one (GitHub only).
    HideAndNew,
}

/// A comment on the review.
#[derive(Clone, Debug)]
pub struct Note {
    /// The forge's id.
    pub id: u64,
    /// GitHub's GraphQL node id (empty on GitLab).
    pub node_id: String,
    /// Its text.
    pub body: String,
    /// Who wrote it (GitHub's `user.login`, GitLab's `author.username`).
    pub author: String,
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// `updated` or `created`.
    pub verb: &'static str,
    /// The comment's page address.
    pub url: String,
    /// Earlier comments deleted.
    pub deleted: usize,
    /// Earlier comments hidden as outdated.
    pub hidden: usize,
    /// `flinkform:` labels added to the review, and removed from it.
    pub labels: (Vec<String>, Vec<String>),
}

/// The prefix of the review labels flinkform owns.
const LABEL_PREFIX: &str = "flinkform:";

/// One review (a pull or merge request) on a forge.
#[allow(async_fn_in_trait)]
pub trait Forge {
    /// The review, as messages name it (`o/r#7`, `group/project!7`).
    fn review(&self) -> String;
    /// The review's web page, where the forge's address tells it.
    fn review_url(&self) -> Option<String>;
    /// Who this token writes comments as: `FLINKFORM_COMMENT_AUTHOR` when set, else the
    /// forge's answer.
    async fn me(&self) -> Result<String, CommentError>;
    /// Every comment of the review, oldest first, every page read.
    async fn notes(&self) -> Result<Vec<Note>, CommentError>;
    /// Adds a comment; returns its address.
    async fn create(&self, body: &str) -> Result<String, CommentError>;
    /// Replaces a comment's text; returns its address.
    async fn edit(&self, note: &Note, body: &str) -> Result<String, CommentError>;
    /// Deletes a comment.
    async fn delete(&self, note: &Note) -> Result<(), CommentError>;
    /// Hides a comment as outdated.
    async fn hide(&self, note: &Note) -> Result<(), CommentError>;
    /// The review's labels.
    async fn labels(&self) -> Result<Vec<String>, CommentError>;
    /// Adds and removes labels.
    async fn relabel(&self, add: &[String], remove: &[String]) -> Result<(), CommentError>;
    /// Makes the review the one merged as commit `sha`, unless one was named.
    async fn merged(&mut self, sha: &str) -> Result<(), CommentError>;
}

/// The review's comments of `marker`'s project and environment that this token wrote,
/// oldest first. A comment is one only where flinkform writes its marker, on its first
/// line: a marker quoted in someone's comment, or a comment by anyone else, is not one
/// (it could not be trusted as the reviewed plan).
async fn ours(forge: &impl Forge, marker: &Marker) -> Result<Vec<(Note, Marker)>, CommentError> {
    let notes = forge.notes().await?;
    let me = forge.me().await?;
    Ok(notes
        .into_iter()
        .filter(|n| n.author == me)
        .filter_map(|n| Marker::find(n.body.lines().next().unwrap_or_default()).map(|m| (n, m)))
        .filter(|(_, m)| m.project == marker.project && m.env == marker.env)
        .collect())
}

/// Who writes comments with this token, when `FLINKFORM_COMMENT_AUTHOR` says.
fn configured_author() -> Option<String> {
    std::env::var("FLINKFORM_COMMENT_AUTHOR").ok().filter(|v| !v.trim().is_empty())
}

/// Posts `body` (which carries the marker) by `behavior`, and labels the review.
pub async fn post(forge: &impl Forge, body: &str, behavior: Behavior) -> Result<Posted, CommentError> {
    let marker = Marker::find(body).ok_or_else(|| CommentError::Setup("the comment has no flinkform marker".into()))?;
    let ours = ours(forge, &marker).await?;
    // A failed plan has no classes to label: the labels stay as the last plan left them.
    let planned = |m: &Marker| !m.meaning.digest.is_empty();
    let labels = if planned(&marker) { sync_labels(forge, &marker).await? } else { Default::default() };
    // Another change applied since this review's last plan: the new plan says so.
    let newest = ours.last().map(|(_, m)| m).filter(|m| planned(m) && planned(&marker) && m.state != marker.state);
    let body = &match newest {
        Some(m) => flinkform_core::view::markdown::outdated(body, m.state, marker.state),
        None => body.to_string(),
    };
    let open: Vec<&Note> = ours.iter().filter(|(_, m)| !m.applied).map(|(n, _)| n).collect();
    if let (Behavior::Update, Some(last)) = (behavior, open.last()) {
        let url = forge.edit(last, body).await?;
        return Ok(Posted { verb: "updated", url, deleted: 0, hidden: 0, labels });
    }
    let (mut deleted, mut hidden) = (0, 0);
    for n in &open {
        match behavior {
            Behavior::DeleteAndNew => {
                forge.delete(n).await?;
                deleted += 1;
            }
            Behavior::HideAndNew => {
                forge.hide(n).await?;
                hidden += 1;
            }
            Behavior::Update | Behavior::New => {}
        }
    }
    let url = forge.create(body).await?;
    Ok(Posted { verb: "created", url, deleted, hidden, labels })
}

/// The newest comment of `project` and `env` on the review: the plan that was reviewed.
pub async fn reviewed(forge: &impl Forge, project: &str, env: &str) -> Result<Note, CommentError> {
    let want = Marker::new(project, env, None, Default::default());
    ours(forge, &want).await?.pop().map(|(n, _)| n).ok_or_else(|| {
        CommentError::Setup(format!(
            "{} has no flinkform plan comment for project {project}: there is no reviewed plan to apply",
            forge.review()
        ))
    })
}

/// Makes the review's `flinkform:` labels the plan's change classes (`flinkform:destroy`,
/// `flinkform:replace`, `flinkform:restart-without-state`, `flinkform:state-loss`), so that branch protection
/// or a CODEOWNERS rule can ask for more review. Other labels are left alone.
async fn sync_labels(forge: &impl Forge, marker: &Marker) -> Result<(Vec<String>, Vec<String>), CommentError> {
    let want: Vec<String> = marker.meaning.classes.iter().map(|c| format!("{LABEL_PREFIX}{}", c.name())).collect();
    let have = forge.labels().await?;
    let add: Vec<String> = want.iter().filter(|w| !have.contains(w)).cloned().collect();
    let remove: Vec<String> = have.into_iter().filter(|h| h.starts_with(LABEL_PREFIX) && !want.contains(h)).collect();
    if !add.is_empty() || !remove.is_empty() {
        forge.relabel(&add, &remove).await?;
    }
    Ok((add, remove))
}
