//! Where the state lives: the [`StateStore`] trait its backends implement, the state
//! lock's holder, and the serial and lineage rules of every write, written once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ApplyRecord, FORMAT_VERSION, State, StateError};

/// Who holds (or asks for) the state lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id, for `force-unlock`.
    pub id: String,
    /// User (and CI run, when known).
    pub who: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// `plan`, `apply`, ...
    pub operation: String,
    /// When the lock was taken (RFC 3339).
    pub created: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ID {}, held by {} for `{}` (pid {} on {}) since {}",
            self.id, self.who, self.operation, self.pid, self.host, self.created
        )
    }
}

/// A held lock; dropping it releases the lock.
pub trait LockGuard: Send {}

/// A place where the state lives. Backends stay dumb: serial and lineage rules are
/// in [`commit`].
pub trait StateStore: Send + Sync {
    /// The stored state, or `None` when there is none yet.
    fn load(&self) -> Result<Option<State>, StateError>;
    /// Writes `state` if the stored serial is still `expected` (compare-and-set).
    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError>;
    /// [`StateStore::save`] of a `state` whose pipelines differ from the stored state's
    /// only where `changed` names them: a backend may write just those, as a [`Delta`](super::Delta)
    /// ([`StateStore::settle`] folds them in later). The default writes the whole state.
    fn save_changed(&self, state: &State, changed: &BTreeSet<String>, expected: Option<u64>) -> Result<(), StateError> {
        let _ = changed;
        self.save(state, expected)
    }
    /// Folds the deltas [`StateStore::save_changed`] wrote into the stored state's plain
    /// form, the same serial and content; the default has none to fold.
    fn settle(&self) -> Result<(), StateError> {
        Ok(())
    }
    /// The state before the stored one (the backup every save keeps), if any; also
    /// when the stored one cannot be read.
    fn previous(&self) -> Result<Option<State>, StateError>;
    /// Puts `state` in place of a stored state that cannot be read, which is set aside,
    /// not deleted; the serial follows every serial the store can still read. Returns
    /// what it wrote and where the unreadable state went.
    fn replace_unreadable(&self, state: State) -> Result<(State, String), StateError>;
    /// Takes the exclusive lock, waiting up to `timeout` with backoff.
    fn lock(&self, info: &LockInfo, timeout: Duration) -> Result<Box<dyn LockGuard>, StateError>;
    /// Breaks the lock with this id.
    fn force_unlock(&self, id: &str) -> Result<(), StateError>;
    /// `Some` once the lock this store holds is no longer surely held (a lease that was
    /// taken over, or not renewed within its duration): the holder stops before its
    /// next step. Backends whose lock cannot lapse never say so.
    fn fenced(&self) -> Option<StateError> {
        None
    }
    /// Keeps texts (each revision's SQL and DDL) by their digest, beside the state; a
    /// text kept before is left as it is.
    fn keep_texts(&self, texts: &[(String, String)]) -> Result<(), StateError>;
    /// The kept texts of these digests (those never kept are absent).
    fn texts(&self, digests: &[&str]) -> Result<BTreeMap<String, String>, StateError>;
    /// Adds an apply to the log kept beside the state.
    fn log_apply(&self, record: &ApplyRecord) -> Result<(), StateError>;
    /// The newest `limit` applies of the log, newest first.
    fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError>;
}

/// Writes `next` as the successor of `prev` (`None`: no state yet): same lineage,
/// serial + 1, compare-and-set on `prev`'s serial. Returns the written state.
pub fn commit(store: &dyn StateStore, prev: Option<&State>, mut next: State) -> Result<State, StateError> {
    if let Some(p) = prev
        && p.lineage != next.lineage
    {
        return Err(StateError::Lineage { expected: p.lineage.clone(), found: next.lineage });
    }
    next.serial = prev.map_or(0, |p| p.serial);
    write_next(store, &mut next)?;
    Ok(next)
}

/// Writes `state` as its own successor: serial + 1, compare-and-set on the serial it
/// had (a state of serial 0 was never written: it must not exist yet).
pub fn write_next(store: &dyn StateStore, state: &mut State) -> Result<(), StateError> {
    next_serial(state, |s, expected| store.save(s, expected))
}

/// [`write_next`] of a state that differs from the stored one only in the pipelines
/// `changed` names ([`StateStore::save_changed`]).
pub fn write_changed(store: &dyn StateStore, state: &mut State, changed: &BTreeSet<String>) -> Result<(), StateError> {
    next_serial(state, |s, expected| store.save_changed(s, changed, expected))
}

/// Bumps the serial and writes with `save(state, expected serial)`; on failure the serial
/// is as it was.
fn next_serial(
    state: &mut State,
    save: impl FnOnce(&State, Option<u64>) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let expected = (state.serial > 0).then_some(state.serial);
    state.serial += 1;
    state.format_version = FORMAT_VERSION;
    save(state, expected).inspect_err(|_| state.serial -= 1)
}
