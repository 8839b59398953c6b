//! Deltas: a state write that names only the pipelines it changed, so that a journal
//! write of a large state costs what changed. A backend appends them to a base state
//! (the local file's `<file>.deltas`) and folds them in later; [`Deltas::read`] and
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

/// A deltas file read back.
#[derive(Debug)]
pub struct Deltas {
    /// Its whole, checked lines, in order.
    pub deltas: Vec<Delta<'static>>,
    /// The length of the text they span: what follows is a write that never finished.
    pub len: usize,
}

impl Deltas {
    /// Reads a deltas file's text (`shown` names it in messages).
    pub fn read(text: &str, shown: &str) -> Result<Deltas, StateError> {
        let corrupt = |line: usize, reason: &str| StateError::Corrupt {
            path: shown.to_string(),
            reason: format!("line {}: {reason}", line + 1),
        };
        let mut deltas = Vec::new();
        let mut len = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let Some(line) = line.strip_suffix('\n') else { break };
            let (digest, json) = line.split_once(' ').ok_or_else(|| corrupt(i, "no digest"))?;
            if blake3::hash(json.as_bytes()).to_hex().as_str() != digest {
                return Err(corrupt(i, "its digest does not match its content"));
            }
            let delta: Delta<'static> =
                serde_json::from_str(json).map_err(|e| corrupt(i, &format!("invalid content: {e}")))?;
            deltas.push(delta);
            len += line.len() + 1;
        }
        Ok(Deltas { deltas, len })
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
        let read = Deltas::read(&text, "d").unwrap();
        assert_eq!(read.len, text.len());
        let mut replayed = base.clone();
        for d in read.deltas {
            assert!(d.apply(&mut replayed, "d").unwrap());
        }
        assert_eq!(replayed, now);
        // A delta not newer than the state it meets is left out.
        let stale = Deltas::read(&text, "d").unwrap().deltas.into_iter().next().unwrap();
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
            let read = Deltas::read(&text, "d").unwrap();
            assert_eq!((read.deltas.len(), read.len), (1, line.len()), "cut at {cut}");
        }
        let flipped = line.replacen("orders", "ordert", 1);
        let e = Deltas::read(&format!("{flipped}{line}"), "d").unwrap_err();
        assert!(e.to_string().contains("line 1: its digest does not match"), "{e}");
        let e = Deltas::read("{}\n", "d").unwrap_err();
        assert!(e.to_string().contains("line 1: no digest"), "{e}");
        // Serials must follow on: a gap, or another lineage, is refused.
        let mut base = parse(V1, "v1.json").unwrap();
        base.serial -= 1;
        let e = Deltas::read(&line, "d").unwrap().deltas.remove(0).apply(&mut base, "d").unwrap_err();
        assert!(e.to_string().contains("skip from serial"), "{e}");
        base.serial += 1;
        base.lineage = "other".into();
        let e = Deltas::read(&line, "d").unwrap().deltas.remove(0).apply(&mut base, "d").unwrap_err();
        assert!(e.to_string().contains("lineage"), "{e}");
    }
}
