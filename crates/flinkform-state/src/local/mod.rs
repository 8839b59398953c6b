//! The local backend: one JSON file, the base, and the deltas appended beside it
//! (`<file>.deltas`, see [`Delta`]), locked with an OS file lock on `<file>.lock` that
//! holds the holder's info. The OS releases the lock when its process dies, even on
//! `kill -9`.
//!
//! A whole save writes the base atomically (temp file, fsync, rename) and keeps the
//! state it replaces as `<file>.backup`; a journal write of an apply
//! ([`StateStore::save_changed`]) appends the pipelines it changed and fsyncs, so it
//! costs what changed, and [`StateStore::settle`] (or a save once the deltas outgrow the
//! base) folds them into the base. Writes check the serial and write under a second,
//! short lock (`<file>.write.lock`), so the compare-and-set holds even between processes
//! that skipped the main lock; reads of a base with deltas take it shared.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use flinkform_core::state::{
    self as state, Delta, DeltaLines, LockGuard, LockInfo, State, StateError, StateStore, parse, write_text,
};

/// Deltas are folded into the base once they are this many times its size (and at
/// least [`FOLD_MIN`]): each byte of state is written a bounded number of times.
const FOLD_RATIO: u64 = 4;
const FOLD_MIN: u64 = 1 << 20;
/// A base modified this recently may have been written again within its timestamp's
/// granularity (two seconds on FAT) with no change to its stamp: its digest is checked.
/// The store dates the bases it writes back by this much.
const RACY: Duration = Duration::from_secs(2);

/// State in a local JSON file.
pub struct LocalStore {
    path: PathBuf,
    shown: String,
    /// The files as this store last read or wrote them.
    known: std::sync::Mutex<Option<Known>>,
}

/// The files as this store last read or wrote them, and what they hold.
#[derive(Clone, Copy)]
struct Known {
    serial: u64,
    base: Stamp,
    digest: blake3::Hash,
    /// The deltas file, when there is one.
    deltas: Option<Stamp>,
    /// How far the deltas file holds whole deltas (where the next one goes), and how
    /// many of them follow the base (none: the file is left from a fold, or empty).
    append_at: u64,
    chain: usize,
}

/// What tells a file's content without reading it: a file replaced by rename has another
/// inode, one written in place another length or modification time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    id: (u64, u64),
    len: u64,
    modified: SystemTime,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Stamp { id, len: meta.len(), modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH) }
    }

    /// Whether the file may have been written again since, within its timestamp's
    /// granularity, with the same length.
    fn racy(&self) -> bool {
        SystemTime::now().duration_since(self.modified).map_or(true, |age| age < RACY)
    }
}

/// The files read in full: the stored state (base and deltas).
struct Disk {
    state: Option<State>,
    known: Option<Known>,
}

/// What a whole save keeps as the backup: the base it replaces (linked), or a file
/// written for it ([`LocalStore::write_backup`]).
enum Backup {
    Base,
    File(PathBuf),
}

/// A writer or reader that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the text of `state` into a new file at `path` as it is made: the file (not
/// yet synced) and the digest of what it holds.
fn write_state_file(path: &Path, state: &State) -> std::io::Result<(File, blake3::Hash)> {
    let mut w =
        Hashing { inner: BufWriter::with_capacity(1 << 16, File::create(path)?), hasher: blake3::Hasher::new() };
    write_text(state, &mut w)?;
    let Hashing { inner, hasher } = w;
    Ok((inner.into_inner().map_err(std::io::IntoInnerError::into_error)?, hasher.finalize()))
}

impl LocalStore {
    /// A store at `path`, called `shown` in messages.
    pub fn new(path: PathBuf, shown: impl Into<String>) -> LocalStore {
        LocalStore { path, shown: shown.into(), known: Default::default() }
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

    fn dir(&self) -> &Path {
        self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
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

    /// The short write lock, exclusive (released when the file drops).
    fn writing(&self) -> Result<File, StateError> {
        let f = self.open_lock_file(".write.lock")?;
        f.lock().map_err(|e| self.io(e))?;
        Ok(f)
    }

    /// The short write lock, shared, for a read of base and deltas as one; none when
    /// nobody ever wrote here (then there are no deltas to read with the base).
    fn reading(&self) -> Result<Option<File>, StateError> {
        match File::open(self.beside(".write.lock")) {
            Ok(f) => f.lock_shared().map(|()| Some(f)).map_err(|e| self.io(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stamp(&self, path: &Path) -> Result<Option<Stamp>, StateError> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Stamp::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// A file's bytes and the stamp of the very file they were read from.
    fn read_file(&self, path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, StateError> {
        let Some((mut f, stamp)) = self.open_file(path)? else { return Ok(None) };
        let mut bytes = Vec::with_capacity(stamp.len as usize);
        f.read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        Ok(Some((bytes, stamp)))
    }

    /// Opens a file with its stamp (`None`: it does not exist).
    fn open_file(&self, path: &Path) -> Result<Option<(File, Stamp)>, StateError> {
        let open = || -> std::io::Result<(File, Stamp)> {
            let f = File::open(path)?;
            let stamp = Stamp::of(&f.metadata()?);
            Ok((f, stamp))
        };
        match open() {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reads base and deltas in full, refusing anything corrupt, and remembers them.
    /// When deltas follow the base, `before` is shown the state before the last one (the
    /// one before the stored state) as it passes: no copy of it is kept.
    fn read_disk(&self, mut before: impl FnMut(&State) -> Result<(), StateError>) -> Result<Disk, StateError> {
        let Some((mut state, base, digest)) = self.read_base()? else {
            // Deltas without a base follow nothing: the next write removes them.
            *self.known() = None;
            return Ok(Disk { state: None, known: None });
        };
        let deltas_path = self.beside(".deltas");
        let shown = format!("{}.deltas", self.shown);
        let (mut append_at, mut chain, mut deltas) = (0, 0, None);
        if let Some((file, stamp)) = self.open_file(&deltas_path)? {
            deltas = Some(stamp);
            // A delta at a time, one read ahead: the state before the last one applied
            // is the one before the stored state.
            let mut read = DeltaLines::new(std::io::BufReader::new(file), &shown);
            let mut pending = read.next().transpose()?;
            while let Some(d) = pending {
                let next = read.next().transpose()?;
                if next.is_none() && d.serial > state.serial {
                    before(&state)?;
                }
                chain += usize::from(d.apply(&mut state, &shown)?);
                pending = next;
            }
            append_at = read.whole() as u64;
            if chain == 0 {
                append_at = 0; // left from a fold: the next delta starts the file anew
            }
        }
        let known = Known { serial: state.serial, base, digest, deltas, append_at, chain };
        *self.known() = Some(known);
        Ok(Disk { state: Some(state), known: Some(known) })
    }

    /// The base: its state, stamp and digest. It is parsed as it is read; one that does
    /// not parse is read again in full for [`parse`]'s account of what is wrong with it.
    fn read_base(&self) -> Result<Option<(State, Stamp, blake3::Hash)>, StateError> {
        let Some((file, stamp)) = self.open_file(&self.path)? else { return Ok(None) };
        let mut reader = BufReader::with_capacity(1 << 16, Hashing { inner: file, hasher: blake3::Hasher::new() });
        let read = state::read(&mut reader).and_then(|s| std::io::copy(&mut reader, &mut std::io::sink()).map(|_| s));
        if let Some(state) = read.map_err(|e| self.io(e))? {
            return Ok(Some((state, stamp, reader.into_inner().hasher.finalize())));
        }
        let Some((bytes, stamp)) = self.read_file(&self.path)? else { return Ok(None) };
        let digest = blake3::hash(&bytes);
        let text = String::from_utf8(bytes)
            .map_err(|e| StateError::Corrupt { path: self.shown.clone(), reason: format!("not UTF-8: {e}") })?;
        Ok(Some((parse(&text, &self.shown)?, stamp, digest)))
    }

    /// What the files hold now: as this store last read or wrote them when their stamps
    /// say so (a base written within [`RACY`] must also have the same digest), else
    /// read in full.
    fn current(&self) -> Result<Option<Known>, StateError> {
        let remembered = *self.known();
        if let Some(k) = remembered
            && self.stamp(&self.path)? == Some(k.base)
            && self.stamp(&self.beside(".deltas"))? == k.deltas
            && (!k.base.racy() || self.read_file(&self.path)?.is_some_and(|(b, _)| blake3::hash(&b) == k.digest))
        {
            return Ok(Some(k));
        }
        Ok(self.read_disk(skip)?.known)
    }

    /// A temp file beside the state, `kind` naming what it is for.
    fn temp(&self, kind: &str) -> PathBuf {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        self.dir().join(format!(".{name}{kind}.tmp.{}", std::process::id()))
    }

    /// Writes `state` to a synced temp file that [`Backup::File`] makes the backup.
    fn write_backup(&self, state: &State) -> Result<PathBuf, StateError> {
        let tmp = self.temp(".backup");
        let write = || -> std::io::Result<()> { write_state_file(&tmp, state)?.0.sync_all() };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(e)
        })?;
        Ok(tmp)
    }

    /// Writes `state` as the base (temp file, fsync, rename), keeping `backup`, and
    /// removes the deltas it folds in. Texts are written as they are made, never held.
    fn write_base(&self, state: &State, backup: Backup) -> Result<(), StateError> {
        let serial = state.serial;
        let dir = self.dir();
        let tmp = self.temp("");
        let backup_path = self.beside(".backup");
        let write = || -> std::io::Result<blake3::Hash> {
            // Dated back by RACY, so that its stamp is trusted at once: any write after
            // this one dates the file now, which its stamp can tell.
            let (f, digest) = write_state_file(&tmp, state)?;
            f.set_modified(SystemTime::now() - RACY)?;
            f.sync_all()?;
            match &backup {
                Backup::Base if self.path.exists() => {
                    // The base being replaced becomes the backup (a hard link: no copy,
                    // and atomic with the rename below from the backup's point of view).
                    let _ = std::fs::remove_file(&backup_path);
                    std::fs::hard_link(&self.path, &backup_path)
                        .or_else(|_| std::fs::copy(&self.path, &backup_path).map(drop))?;
                }
                Backup::Base => {}
                Backup::File(written) => std::fs::rename(written, &backup_path)?,
            }
            std::fs::rename(&tmp, &self.path)?;
            // Its deltas are folded in (older than the base now, were this not done).
            match std::fs::remove_file(self.beside(".deltas")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            File::open(dir)?.sync_all()?;
            Ok(digest)
        };
        tracing::info!(serial, path = %self.shown, "state written");
        let written = std::fs::create_dir_all(dir).and_then(|()| write());
        let digest = written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            if let Backup::File(f) = &backup {
                let _ = std::fs::remove_file(f);
            }
            self.io(e)
        })?;
        let base = self.stamp(&self.path)?.ok_or_else(|| self.io(std::io::ErrorKind::NotFound.into()))?;
        *self.known() = Some(Known { serial, base, digest, deltas: None, append_at: 0, chain: 0 });
        Ok(())
    }

    /// A whole save of `state` over the files `found` (under the write lock): the state
    /// it replaces is the backup.
    fn save_whole(&self, state: &State, found: Option<Known>) -> Result<(), StateError> {
        match found {
            Some(k) if k.chain > 0 => {
                let replaced = self.read_disk(skip)?.state.expect("deltas follow a base");
                let backup = self.write_backup(&replaced)?;
                drop(replaced);
                self.write_base(state, Backup::File(backup))
            }
            _ => self.write_base(state, Backup::Base),
        }
    }

    /// Appends `delta` to the deltas file of `k` and fsyncs it.
    fn append(&self, k: Known, delta: &Delta<'_>) -> Result<(), StateError> {
        let path = self.beside(".deltas");
        let line = delta.line();
        let write = || -> std::io::Result<Stamp> {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            if k.deltas.map(|s| s.len) != Some(k.append_at) {
                // A delta that never finished, or the deltas of a fold: not kept.
                f.set_len(k.append_at)?;
            }
            f.write_all(line.as_bytes())?;
            f.sync_data()?;
            if k.deltas.is_none() {
                File::open(self.dir())?.sync_all()?;
            }
            Ok(Stamp::of(&f.metadata()?))
        };
        tracing::info!(serial = delta.serial, path = %self.shown, "state delta written");
        let stamp = write().map_err(|e| self.io(e))?;
        *self.known() = Some(Known {
            serial: delta.serial,
            deltas: Some(stamp),
            append_at: k.append_at + line.len() as u64,
            chain: k.chain + 1,
            ..k
        });
        Ok(())
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

/// For [`LocalStore::read_disk`]: the state before the last delta is not wanted.
fn skip(_: &State) -> Result<(), StateError> {
    Ok(())
}

/// The compare of the compare-and-set: the files hold serial `expected`.
fn check(expected: Option<u64>, found: Option<Known>) -> Result<(), StateError> {
    let found = found.map(|k| k.serial);
    if found != expected {
        return Err(StateError::Conflict { expected, found });
    }
    Ok(())
}

/// The largest number after a `"serial":` in `bytes`, however broken the rest is.
fn serials_in(bytes: &[u8]) -> u64 {
    let key = b"\"serial\":";
    let mut max = 0;
    for at in memchr::memmem::find_iter(bytes, key) {
        let rest = &bytes[at + key.len()..];
        let digits = rest.iter().skip_while(|b| b.is_ascii_whitespace()).take_while(|b| b.is_ascii_digit());
        let n = digits.fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')));
        max = max.max(n);
    }
    max
}

impl StateStore for LocalStore {
    fn load(&self) -> Result<Option<State>, StateError> {
        let _reading = self.reading()?;
        Ok(self.read_disk(skip)?.state)
    }

    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        // The compare and the set in one critical section (released when `_writing` drops).
        let _writing = self.writing()?;
        let found = self.current()?;
        check(expected, found)?;
        self.save_whole(state, found)
    }

    fn save_changed(&self, state: &State, changed: &BTreeSet<String>, expected: Option<u64>) -> Result<(), StateError> {
        let _writing = self.writing()?;
        let found = self.current()?;
        check(expected, found)?;
        match found {
            Some(k) if k.append_at < (FOLD_RATIO * k.base.len).max(FOLD_MIN) => {
                self.append(k, &Delta::of(state, changed))
            }
            _ => self.save_whole(state, found),
        }
    }

    fn settle(&self) -> Result<(), StateError> {
        let _writing = self.writing()?;
        // The backup is written as the deltas pass the state before the last one.
        let mut backup = None;
        let disk = self.read_disk(|before| {
            backup = Some(self.write_backup(before)?);
            Ok(())
        });
        let disk = disk.inspect_err(|_| {
            if let Some(f) = &backup {
                let _ = std::fs::remove_file(f);
            }
        })?;
        match (disk.state, backup, disk.known) {
            (Some(state), Some(backup), _) => self.write_base(&state, Backup::File(backup)),
            (_, _, Some(k)) if k.deltas.is_some() => {
                // Deltas that follow nothing (left from a fold, or a write that never
                // finished): removed.
                std::fs::remove_file(self.beside(".deltas")).map_err(|e| self.io(e))?;
                *self.known() = Some(Known { deltas: None, append_at: 0, ..k });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn previous(&self) -> Result<Option<State>, StateError> {
        let _reading = self.reading()?;
        let mut before = None;
        match self.read_disk(|s| {
            before = Some(s.clone());
            Ok(())
        }) {
            Ok(_) if before.is_some() => return Ok(before),
            Ok(_) | Err(StateError::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        let backup = self.beside(".backup");
        match std::fs::read_to_string(&backup) {
            Ok(text) => parse(&text, &format!("{}.backup", self.shown)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn replace_unreadable(&self, mut state: State) -> Result<(State, String), StateError> {
        let _writing = self.writing()?;
        // The serial the unreadable file still shows, where its JSON holds one.
        // Past every serial the unreadable files still show, and past the one after the
        // backup where they show none: a saved plan of the unreadable state is stale.
        let seen = ["", ".deltas"].iter().filter_map(|s| std::fs::read(self.beside(s)).ok()).map(|b| serials_in(&b));
        state.serial = seen.fold(state.serial + 1, u64::max) + 1;
        for suffix in ["", ".deltas"] {
            let from = self.beside(suffix);
            if from.exists() {
                std::fs::rename(&from, self.beside(&format!("{suffix}.unreadable"))).map_err(|e| self.io(e))?;
            }
        }
        *self.known() = None;
        // With no base left, the backup stays as it is.
        self.write_base(&state, Backup::Base)?;
        Ok((state, format!("{}.unreadable", self.shown)))
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

    fn keep_texts(&self, texts: &[(String, String)]) -> Result<(), StateError> {
        self.keep_texts_here(texts)
    }

    fn texts(&self, digests: &[&str]) -> Result<std::collections::BTreeMap<String, String>, StateError> {
        self.texts_here(digests)
    }

    fn log_apply(&self, record: &flinkform_core::state::ApplyRecord) -> Result<(), StateError> {
        self.log_apply_here(record)
    }

    fn applies(&self, limit: usize) -> Result<Vec<flinkform_core::state::ApplyRecord>, StateError> {
        self.applies_here(limit)
    }
}

mod archive;
#[cfg(test)]
mod tests;
