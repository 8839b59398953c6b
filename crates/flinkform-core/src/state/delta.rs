//! Deltas: a state write that names only the pipelines it changed, so that a journal
//! write of a large state costs what changed. A backend appends them to a base state
//! (the local file's `<file>.deltas`) and folds them in later; [`DeltaLines`] and
//! [`Delta::apply`] replay them. One line per delta: the BLAKE3 digest of the JSON, a
//! space, the JSON, a newline. A last line without its newline is a write that never
//! finished (never acknowledged, so nothing was done on its strength) and is not part of
//! the text; any other line that does not check is corruption.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{PipelineState, State, StateError};

/// One write: the state of `serial`, as the pipelines it names differ from the state of
/// `serial - 1` (`None`: removed).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta<'a> {
    /// The lineage of the state written.
    pub lineage: Cow<'a, str>,
    /// The serial written.
    pub serial: u64,
    /// The pipelines changed, as they are now.
    pub pipelines: BTreeMap<Cow<'a, str>, Option<Cow<'a, PipelineState>>>,
}

impl<'a> Delta<'a> {
    /// `state`'s pipelines named in `changed`, as a delta of `state.serial`.
    pub fn of(state: &'a State, changed: &'a BTreeSet<String>) -> Delta<'a> {
        let pipelines =
            changed.iter().map(|n| (Cow::Borrowed(n.as_str()), state.pipelines.get(n).map(Cow::Borrowed))).collect();
        Delta { lineage: Cow::Borrowed(&state.lineage), serial: state.serial, pipelines }
    }

    /// The delta's line: digest, space, JSON, newline.
    pub fn line(&self) -> String {
        let json = serde_json::to_string(self).expect("the state model serializes");
        format!("{} {json}\n", blake3::hash(json.as_bytes()).to_hex())
    }

    /// Applies the delta to `state`, the state it follows: `false` (nothing done) when it
    /// is not newer (left by a fold that did not finish removing it). Another lineage, or
    /// a serial past the next one, is corruption.
    pub fn apply(self, state: &mut State, shown: &str) -> Result<bool, StateError> {
        let corrupt = |reason: String| StateError::Corrupt { path: shown.to_string(), reason };
        if self.lineage != state.lineage {
            return Err(corrupt(format!(
                "a delta of lineage {} follows a state of lineage {}",
                self.lineage, state.lineage
            )));
        }
        if self.serial <= state.serial {
            return Ok(false);
        }
        if self.serial != state.serial + 1 {
            return Err(corrupt(format!("the deltas skip from serial {} to {}", state.serial, self.serial)));
        }
        for (name, p) in self.pipelines {
            match p {
                Some(p) => state.pipelines.insert(name.into_owned(), p.into_owned()),
                None => state.pipelines.remove(name.as_ref()),
            };
        }
        state.serial = self.serial;
        Ok(true)
    }
}

/// A deltas file read a delta at a time, each whole line checked, so that replaying it
/// holds one delta, not the file and all its deltas.
pub struct DeltaLines<R> {
    reader: R,
    shown: String,
    line: Vec<u8>,
    whole: usize,
    index: usize,
}

impl<R: std::io::BufRead> DeltaLines<R> {
    /// Reads deltas from `reader` (`shown` names the file in messages).
    pub fn new(reader: R, shown: &str) -> DeltaLines<R> {
        DeltaLines { reader, shown: shown.to_string(), line: Vec::new(), whole: 0, index: 0 }
    }

    /// The length of the whole lines read so far: what follows them, once the reader is
    /// done, is a write that never finished.
    pub fn whole(&self) -> usize {
        self.whole
    }

    fn corrupt(&self, reason: &str) -> StateError {
        StateError::Corrupt { path: self.shown.clone(), reason: format!("line {}: {reason}", self.index) }
    }

    /// The next delta; `None` at the end, or at a last line without its newline.
    fn next_delta(&mut self) -> Result<Option<Delta<'static>>, StateError> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|source| StateError::Io { path: self.shown.clone(), source })?;
        let Some(line) = self.line.strip_suffix(b"\n") else { return Ok(None) };
        self.index += 1;
        let line = std::str::from_utf8(line).map_err(|_| self.corrupt("not UTF-8"))?;
        let (digest, json) = line.split_once(' ').ok_or_else(|| self.corrupt("no digest"))?;
        if blake3::hash(json.as_bytes()).to_hex().as_str() != digest {
            return Err(self.corrupt("its digest does not match its content"));
        }
        let delta: Delta<'static> =
            serde_json::from_str(json).map_err(|e| self.corrupt(&format!("invalid content: {e}")))?;
        self.whole += n;
        Ok(Some(delta))
    }
}

impl<R: std::io::BufRead> Iterator for DeltaLines<R> {
    type Item = Result<Delta<'static>, StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_delta().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::parse;

    const V1: &str = include_str!("../../tests/fixtures/state/v1.json");

    fn changed(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn replayed_deltas_give_the_state_they_were_made_of() {
        let base = parse(V1, "v1.json").unwrap();
        let mut now = base.clone();
        let mut text = String::new();
        now.serial += 1;
        now.pipelines.get_mut("orders").unwrap().sql.push_str("-- changed\n\"quoted\" \u{1F600}");
        text += &Delta::of(&now, &changed(&["orders"])).line();
        now.serial += 1;
        now.pipelines.remove("clickstream");
        let copy = now.pipelines["orders"].clone();
        now.pipelines.insert("a \"new\" one".into(), copy);
        text += &Delta::of(&now, &changed(&["clickstream", "a \"new\" one"])).line();
        let mut read = DeltaLines::new(text.as_bytes(), "d");
        let deltas: Vec<Delta<'static>> = read.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(read.whole(), text.len());
        let mut replayed = base.clone();
        for d in deltas {
            assert!(d.apply(&mut replayed, "d").unwrap());
        }
        assert_eq!(replayed, now);
        // A delta not newer than the state it meets is left out.
        let stale = DeltaLines::new(text.as_bytes(), "d").next().unwrap().unwrap();
        assert!(!stale.apply(&mut replayed, "d").unwrap());
        assert_eq!(replayed, now);
    }

    #[test]
    fn a_torn_last_line_is_not_part_of_the_text_and_anything_else_wrong_is_corruption() {
        let mut s = parse(V1, "v1.json").unwrap();
        s.serial += 1;
        let line = Delta::of(&s, &changed(&["orders"])).line();
        for cut in [1, line.len() / 2, line.len() - 1] {
            let text = format!("{line}{}", &line[..cut]);
            let mut read = DeltaLines::new(text.as_bytes(), "d");
            assert_eq!(read.by_ref().map(Result::unwrap).count(), 1, "cut at {cut}");
            assert_eq!(read.whole(), line.len(), "cut at {cut}");
        }
        let flipped = line.replacen("orders", "ordert", 1);
        let e = DeltaLines::new(format!("{flipped}{line}").as_bytes(), "d").next().unwrap().unwrap_err();
        assert!(e.to_string().contains("line 1: its digest does not match"), "{e}");
        let e = DeltaLines::new(&b"{}\n"[..], "d").next().unwrap().unwrap_err();
        assert!(e.to_string().contains("line 1: no digest"), "{e}");
        // Serials must follow on: a gap, or another lineage, is refused.
        let mut base = parse(V1, "v1.json").unwrap();
        base.serial -= 1;
        let first = || DeltaLines::new(line.as_bytes(), "d").next().unwrap().unwrap();
        let e = first().apply(&mut base, "d").unwrap_err();
        assert!(e.to_string().contains("skip from serial"), "{e}");
        base.serial += 1;
        base.lineage = "other".into();
        let e = first().apply(&mut base, "d").unwrap_err();
        assert!(e.to_string().contains("lineage"), "{e}");
    }
}
