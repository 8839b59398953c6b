//! What the local backend keeps beside the state file for people to look back at: each
//! revision's texts by digest (`<file>.texts/<digest>`, written once, atomically) and
//! the log of applies (`<file>.applies`, one JSON line per apply, appended and fsynced).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;

use flinkform_core::state::{ApplyRecord, StateError};

use super::LocalStore;

/// A digest is lower-case hex: anything else names no kept text (and no file).
fn is_digest(d: &str) -> bool {
    !d.is_empty() && d.len() <= 128 && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl LocalStore {
    pub(super) fn keep_texts_here(&self, texts: &[(String, String)]) -> Result<(), StateError> {
        let dir = self.beside(".texts");
        std::fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        for (digest, text) in texts.iter().filter(|(d, _)| is_digest(d)) {
            let path = dir.join(digest);
            if path.exists() {
                continue;
            }
            let tmp = dir.join(format!(".{digest}.tmp.{}", std::process::id()));
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                self.io(e)
            })?;
        }
        Ok(())
    }

    pub(super) fn texts_here(&self, digests: &[&str]) -> Result<BTreeMap<String, String>, StateError> {
        let dir = self.beside(".texts");
        let mut out = BTreeMap::new();
        for d in digests.iter().filter(|d| is_digest(d)) {
            match std::fs::read_to_string(dir.join(d)) {
                Ok(text) => {
                    out.insert(d.to_string(), text);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(out)
    }

    pub(super) fn log_apply_here(&self, record: &ApplyRecord) -> Result<(), StateError> {
        let path = self.beside(".applies");
        let mut line = serde_json::to_string(record).expect("an apply record serializes");
        line.push('\n');
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()
        };
        write().map_err(|e| self.io(e))
    }

    /// The log's newest `limit` records; a line that does not read (an append that never
    /// finished) is passed over.
    pub(super) fn applies_here(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError> {
        let text = match std::fs::read_to_string(self.beside(".applies")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        Ok(text.lines().rev().filter_map(|l| serde_json::from_str(l).ok()).take(limit).collect())
    }
}
