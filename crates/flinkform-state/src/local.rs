//! The local backend: one JSON file, written atomically (temp file, fsync, rename),
//! locked with an OS file lock on `<file>.lock` that holds the holder's info. The OS
//! releases the lock when its process dies, even on `kill -9`. Each save checks the
//! serial and renames under a second, short lock (`<file>.write.lock`), so the
//! compare-and-set holds even between processes that skipped the main lock, and keeps
//! the state it replaces as `<file>.backup`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flinkform_core::state::{LockGuard, LockInfo, State, StateError, StateStore, TextCache, parse};

/// State in a local JSON file.
pub struct LocalStore {
    path: PathBuf,
    shown: String,
    /// Each pipeline's text from the last save: a save serializes what changed.
    text: std::sync::Mutex<TextCache>,
    /// The serial and digest of the file as this store last read or wrote it.
    known: std::sync::Mutex<Option<(u64, blake3::Hash)>>,
}

impl LocalStore {
    /// A store at `path`, called `shown` in messages.
    pub fn new(path: PathBuf, shown: impl Into<String>) -> LocalStore {
        LocalStore { path, shown: shown.into(), text: Default::default(), known: Default::default() }
    }

    fn io(&self, source: std::io::Error) -> StateError {
        StateError::Io { path: self.shown.clone(), source }
    }

    /// The state file's path with `suffix` appended.
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(suffix);
        PathBuf::from(p)
    }

    fn open_lock(&self) -> Result<File, StateError> {
        self.open_lock_file(".lock")
    }

    fn open_lock_file(&self, suffix: &str) -> Result<File, StateError> {
        let path = self.beside(suffix);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(|e| self.io(e))
    }

    /// The stored state's serial. When the file holds exactly what this store last read
    /// or wrote (same BLAKE3 digest), that state's serial, without parsing; otherwise a
    /// full load, which refuses a corrupt file.
    fn current_serial(&self) -> Result<Option<u64>, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let digest = blake3::hash(&bytes);
        if let Some((serial, known)) = *self.known()
            && known == digest
        {
            return Ok(Some(serial));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| StateError::Corrupt { path: self.shown.clone(), reason: format!("not UTF-8: {e}") })?;
        let state = parse(&text, &self.shown)?;
        *self.known() = Some((state.serial, digest));
        Ok(Some(state.serial))
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Option<(u64, blake3::Hash)>> {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn read_info(f: &mut File) -> Option<LockInfo> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

struct LocalGuard(File);

impl LockGuard for LocalGuard {}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        // Clear the holder info, then release (closing the file releases the lock too).
        let _ = self.0.set_len(0);
        let _ = self.0.unlock();
    }
}

impl StateStore for LocalStore {
    fn load(&self) -> Result<Option<State>, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let state = parse(&text, &self.shown)?;
                *self.known() = Some((state.serial, blake3::hash(text.as_bytes())));
                Ok(Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        // The compare and the set in one critical section (released when `_writing` drops).
        let _writing = self.open_lock_file(".write.lock")?;
        _writing.lock().map_err(|e| self.io(e))?;
        let found = self.current_serial()?;
        if found != expected {
            return Err(StateError::Conflict { expected, found });
        }
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let text = self.text.lock().unwrap_or_else(std::sync::PoisonError::into_inner).text(state);
        let tmp = dir.join(format!(
            ".{}.tmp.{}",
            self.path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let backup = self.beside(".backup");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            if found.is_some() {
                // The state being replaced becomes the backup (a hard link: no copy, and
                // atomic with the rename below from the backup's point of view).
                let _ = std::fs::remove_file(&backup);
                std::fs::hard_link(&self.path, &backup).or_else(|_| std::fs::copy(&self.path, &backup).map(drop))?;
            }
            std::fs::rename(&tmp, &self.path)?;
            File::open(dir)?.sync_all()
        };
        tracing::info!(serial = state.serial, path = %self.shown, "state written");
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(e)
        })?;
        *self.known() = Some((state.serial, blake3::hash(text.as_bytes())));
        Ok(())
    }

    fn previous(&self) -> Result<Option<State>, StateError> {
        let backup = self.beside(".backup");
        match std::fs::read_to_string(&backup) {
            Ok(text) => parse(&text, &format!("{}.backup", self.shown)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn lock(&self, info: &LockInfo, timeout: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let mut f = self.open_lock()?;
        let start = Instant::now();
        let mut wait = Duration::from_millis(20);
        loop {
            match f.try_lock() {
                Ok(()) => {
                    tracing::debug!(lock = %info.id, operation = %info.operation, "state lock taken");
                    let text = serde_json::to_string(info).map_err(|e| self.io(e.into()))?;
                    f.set_len(0).map_err(|e| self.io(e))?;
                    f.rewind().map_err(|e| self.io(e))?;
                    f.write_all(text.as_bytes()).map_err(|e| self.io(e))?;
                    f.sync_all().map_err(|e| self.io(e))?;
                    return Ok(Box::new(LocalGuard(f)));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= timeout {
                        let holder = read_info(&mut f).unwrap_or_else(|| LockInfo {
                            id: "?".into(),
                            who: "another process".into(),
                            pid: 0,
                            host: "?".into(),
                            operation: "?".into(),
                            created: "?".into(),
                        });
                        return Err(StateError::Locked(Box::new(holder)));
                    }
                    std::thread::sleep(wait.min(timeout.saturating_sub(start.elapsed())));
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(e)),
            }
        }
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let mut f = self.open_lock()?;
        match f.try_lock() {
            Ok(()) => {
                let stale = read_info(&mut f);
                f.set_len(0).map_err(|e| self.io(e))?;
                match stale {
                    Some(i) if i.id == id => Ok(()),
                    _ => Err(StateError::Unlock(format!("no lock with ID {id} is held on {}", self.shown))),
                }
            }
            Err(std::fs::TryLockError::WouldBlock) => match read_info(&mut f) {
                Some(i) if i.id == id => Err(StateError::Unlock(format!(
                    "lock {id} is held by the live process {} on {}; a local lock is released when its process exits: stop that process",
                    i.pid, i.host
                ))),
                Some(i) => Err(StateError::Unlock(format!("the lock held has ID {}, not {id}", i.id))),
                None => Err(StateError::Unlock(format!(
                    "the lock on {} is held by a process that left no info",
                    self.shown
                ))),
            },
            Err(std::fs::TryLockError::Error(e)) => Err(self.io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flinkform_core::state::{self, to_text};

    #[test]
    fn a_file_changed_behind_the_store_is_read_in_full_and_a_corrupt_one_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = LocalStore::new(path.clone(), "state.json");
        let mut s = State::new("lineage-1".into());
        state::write_next(&store, &mut s).unwrap();
        state::write_next(&store, &mut s).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), to_text(&s));
        // Same head, same serial, a broken tail: not what the store wrote, so parsed, and refused.
        let text = to_text(&s);
        let broken = format!("{}\"oops\n", &text[..text.len() - 3]);
        std::fs::write(&path, &broken).unwrap();
        let e = state::write_next(&store, &mut s).unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken, "left as it was");
        // Another writer's valid state: its serial is read, and the compare-and-set refuses.
        let mut other = s.clone();
        other.serial += 5;
        std::fs::write(&path, to_text(&other)).unwrap();
        let e = state::write_next(&store, &mut s).unwrap_err();
        assert!(matches!(e, StateError::Conflict { found: Some(7), .. }), "{e}");
    }
}
