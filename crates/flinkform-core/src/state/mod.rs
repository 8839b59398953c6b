//! State: what flinkform recorded about each pipeline (schema, rendered SQL and DDL,
//! remote ids, history), and the [`StateStore`] trait its backends (crate
//! `flinkform-state`) implement. The serial/lineage rules live here, once; backends only
//! load, compare-and-set and lock.
//!
//! The types of `model` are the state file format, version [`FORMAT_VERSION`]: their serde
//! form is pinned by a checked-in fixture (`tests/fixtures/state/v1.json`), and a change
//! to it needs a new version.

mod delta;
mod journal;
mod log;
mod model;
pub mod resume;
mod store;
pub use delta::{Delta, DeltaLines};
pub use journal::{Operation, Pending, Step};
pub use log::{AppliedChange, ApplyOutcome, ApplyRecord, ReviewRef, Stamp};
pub use model::{
    ColumnRecord, DeployParams, EvidenceRecord, HOT_FLINK_CONF, HOT_UPDATE_VVR, Intent, KafkaRecord, PipelineState,
    RecordedShape, Remote, Revision, SinkRecord, SinkState, SinkView, State, Status,
};
pub use store::{LockGuard, LockInfo, StateStore, commit, write_changed, write_next};
pub use vvp_wire::model::Restore;

/// Version of the state format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// State backend failures.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state {path}")]
    Io {
        /// The file or resource.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The state database refused or failed a statement, or could not be reached.
    #[error("state {path}")]
    Database {
        /// The database and schema.
        path: String,
        /// What the server (or the connection) said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stored state cannot be read; it is left untouched.
    #[error("state {path} is unreadable and was left untouched: {reason}")]
    Corrupt {
        /// The file or resource.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Someone else wrote since we read.
    #[error("state changed since it was read (expected serial {expected:?}, found {found:?}); run the command again")]
    Conflict {
        /// The serial we read.
        expected: Option<u64>,
        /// The serial stored now.
        found: Option<u64>,
    },
    /// A write from another lineage.
    #[error("state lineage {found} does not match {expected}: this state belongs to another project or was recreated")]
    Lineage {
        /// Ours.
        expected: String,
        /// Theirs.
        found: String,
    },
    /// The lock is held by someone else.
    #[error("state is locked ({0}); wait for it to finish, or if it is dead, run `flinkform force-unlock {id}`", id = .0.id)]
    Locked(Box<LockInfo>),
    /// force-unlock could not do what was asked.
    #[error("{0}")]
    Unlock(String),
    /// The lock's lease expired or was taken over while held: this run no longer owns
    /// the state and writes nothing more.
    #[error(
        "state {path}: the lock's lease was lost (another run may hold it now); nothing more was written: run the command again"
    )]
    LeaseLost {
        /// The database and schema.
        path: String,
    },
}

/// Parses a state file's text (`shown` names it in messages), refusing unknown versions
/// and corrupt content.
pub fn parse(text: &str, shown: &str) -> Result<State, StateError> {
    #[derive(serde::Deserialize)]
    struct Header {
        format_version: Option<u64>,
    }
    let corrupt = |reason: String| StateError::Corrupt { path: shown.to_string(), reason };
    let header: Header = serde_json::from_str(text).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    match header.format_version {
        Some(n) if n == u64::from(FORMAT_VERSION) => {}
        Some(n) => {
            return Err(corrupt(format!(
                "format_version {n} is not supported (this flinkform reads {FORMAT_VERSION}); use a matching flinkform"
            )));
        }
        None => return Err(corrupt("no format_version: not a flinkform state".into())),
    }
    // Parsed straight into the model (not through a JSON value) to keep column order.
    let state: State = serde_json::from_str(text).map_err(|e| corrupt(format!("invalid content: {e}")))?;
    Ok(upgraded(state))
}

/// [`parse`] of the text `r` holds, parsed as it is read: the text is never whole in
/// memory. A text that is not a state of this format is `None` ([`parse`] says why).
pub fn read(r: impl std::io::Read) -> std::io::Result<Option<State>> {
    match serde_json::from_reader::<_, State>(r) {
        Ok(state) if state.format_version == FORMAT_VERSION => Ok(Some(upgraded(state))),
        Err(e) if e.is_io() => Err(e.into()),
        Ok(_) | Err(_) => Ok(None),
    }
}

/// `state` as this version records it: records written before the intent was its own
/// field said "stopped" by the status alone.
fn upgraded(mut state: State) -> State {
    for p in state.pipelines.values_mut().filter(|p| p.status == Status::Stopped) {
        p.intent = Intent::Stopped;
    }
    state
}

/// The state file's text: pretty JSON and a final newline.
pub fn to_text(state: &State) -> String {
    let mut text = Vec::new();
    write_text(state, &mut text).expect("a Vec takes every write");
    String::from_utf8(text).expect("serde_json writes UTF-8")
}

/// Writes [`to_text`] of `state` into `w` as it is made, without holding the text.
pub fn write_text(state: &State, mut w: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, state).map_err(std::io::Error::from)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests;
