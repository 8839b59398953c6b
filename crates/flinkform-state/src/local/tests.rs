//! The local store's own cases: a file changed behind it, deltas, their folds.

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

/// A state with two pipelines (the v1 fixture's), written whole by `store`.
fn fixture(store: &LocalStore) -> State {
    let s = state::parse(include_str!("../../../flinkform-core/tests/fixtures/state/v1.json"), "v1.json").unwrap();
    state::commit(store, None, s).unwrap()
}

fn names(n: &[&str]) -> BTreeSet<String> {
    n.iter().map(|s| s.to_string()).collect()
}

#[test]
fn deltas_are_appended_read_by_any_reader_and_folded_in_by_settle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (a, b) = (LocalStore::new(path.clone(), "state.json"), LocalStore::new(path.clone(), "state.json"));
    let mut s = fixture(&a);
    let base = std::fs::read_to_string(&path).unwrap();
    let first = s.clone();
    s.pipelines.get_mut("orders").unwrap().sql.push_str("-- changed\n");
    state::write_changed(&a, &mut s, &names(&["orders"])).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), base, "a delta leaves the base as it was");
    assert!(dir.path().join("state.json.deltas").is_file());
    assert_eq!(b.load().unwrap().as_ref(), Some(&s), "another reader replays the delta");
    assert_eq!(b.previous().unwrap().as_ref(), Some(&first), "the state before the last delta: the base");
    let second = s.clone();
    s.pipelines.remove("clickstream");
    state::write_changed(&a, &mut s, &names(&["clickstream"])).unwrap();
    assert_eq!(b.load().unwrap().as_ref(), Some(&s), "a removed pipeline");
    assert_eq!(b.previous().unwrap().as_ref(), Some(&second));
    // Written by the other handle, which must see both deltas first.
    s.pipelines.get_mut("orders").unwrap().error = Some("x".into());
    state::write_changed(&b, &mut s, &names(&["orders"])).unwrap();
    let third = a.load().unwrap().unwrap();
    assert_eq!(third, s);
    a.settle().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), to_text(&s), "folded: the base is the state");
    assert!(!dir.path().join("state.json.deltas").exists());
    let mut before = s.clone();
    before.serial -= 1;
    before.pipelines.get_mut("orders").unwrap().error = None;
    assert_eq!(b.previous().unwrap().as_ref(), Some(&before), "the backup is the state before the last write");
    assert_eq!(b.load().unwrap().as_ref(), Some(&s));
    // A whole save over deltas keeps the state they made as its backup.
    s.pipelines.get_mut("orders").unwrap().error = None;
    state::write_changed(&a, &mut s, &names(&["orders"])).unwrap();
    let replaced = s.clone();
    state::write_next(&b, &mut s).unwrap();
    assert_eq!(a.previous().unwrap().as_ref(), Some(&replaced));
    assert!(!dir.path().join("state.json.deltas").exists());
    // A stale writer's delta is refused, and changes nothing.
    let mut stale = replaced.clone();
    let e = state::write_changed(&a, &mut stale, &names(&["orders"])).unwrap_err();
    assert!(matches!(e, StateError::Conflict { expected: Some(_), found: Some(_) }), "{e}");
    assert_eq!(b.load().unwrap().as_ref(), Some(&s));
}

#[test]
fn a_delta_that_never_finished_is_not_read_and_the_next_write_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let deltas = dir.path().join("state.json.deltas");
    let (a, b) = (LocalStore::new(path.clone(), "state.json"), LocalStore::new(path.clone(), "state.json"));
    let mut s = fixture(&a);
    s.pipelines.get_mut("orders").unwrap().sql.push_str("-- one\n");
    state::write_changed(&a, &mut s, &names(&["orders"])).unwrap();
    let whole = std::fs::read_to_string(&deltas).unwrap();
    // kill -9 halfway through the next append: part of a line, no newline.
    let mut next = s.clone();
    next.serial += 1;
    let torn = Delta::of(&next, &names(&["orders"])).line();
    std::fs::write(&deltas, format!("{whole}{}", &torn[..torn.len() / 2])).unwrap();
    assert_eq!(b.load().unwrap().as_ref(), Some(&s), "the torn delta is not part of the state");
    s.pipelines.get_mut("orders").unwrap().sql.push_str("-- two\n");
    state::write_changed(&b, &mut s, &names(&["orders"])).unwrap();
    let text = std::fs::read_to_string(&deltas).unwrap();
    assert!(text.starts_with(&whole) && text.ends_with('\n'), "the torn part was cut before the append");
    let mut read = DeltaLines::new(text.as_bytes(), "d");
    assert!(read.by_ref().all(|d| d.is_ok()));
    assert_eq!(read.whole(), text.len());
    assert_eq!(a.load().unwrap().as_ref(), Some(&s));
    // A delta that does not check, followed by another: corruption, refused and left as it is.
    std::fs::write(&deltas, text.replacen("-- one", "-- One", 1)).unwrap();
    assert!(matches!(a.load(), Err(StateError::Corrupt { .. })));
    let e = state::write_changed(&a, &mut s, &names(&["orders"])).unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(&deltas).unwrap(), text.replacen("-- one", "-- One", 1));
}

#[test]
fn deltas_are_folded_into_the_base_once_they_outgrow_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let deltas = dir.path().join("state.json.deltas");
    let store = LocalStore::new(path.clone(), "state.json");
    let mut s = fixture(&store);
    // Each delta of `orders` is about 100 KB, the base about twice that: the deltas
    // grow to the fold's bound (1 MiB) and are folded in by the write that meets it.
    s.pipelines.get_mut("orders").unwrap().sql = "x".repeat(100_000);
    state::write_next(&store, &mut s).unwrap();
    let (mut folds, mut longest) = (0, 0);
    for i in 0..30 {
        s.pipelines.get_mut("orders").unwrap().error = Some(format!("attempt {i}"));
        state::write_changed(&store, &mut s, &names(&["orders"])).unwrap();
        match std::fs::metadata(&deltas) {
            Ok(m) => longest = longest.max(m.len()),
            Err(_) => {
                folds += 1;
                assert_eq!(std::fs::read_to_string(&path).unwrap(), to_text(&s));
            }
        }
        assert_eq!(LocalStore::new(path.clone(), "state.json").load().unwrap().as_ref(), Some(&s));
    }
    assert!(folds >= 2, "{folds} folds");
    assert!(longest < FOLD_MIN + 120_000, "the deltas grew to {longest} bytes");
}

#[test]
fn a_base_parsed_as_it_is_read_still_says_what_is_wrong_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = LocalStore::new(path.clone(), "state.json");
    let s = fixture(&store);
    assert_eq!(store.load().unwrap(), Some(s.clone()), "read as written");
    let text = to_text(&s);
    let cases = [
        (text.replacen("\"format_version\": 1", "\"format_version\": 99", 1), "format_version 99 is not supported"),
        (text.replacen("\"format_version\": 1,", "", 1), "no format_version"),
        (text.replacen("\"serial\": 1", "\"serial\": \"one\"", 1), "invalid content"),
        (text[..text.len() / 2].to_string(), "not JSON"),
    ];
    for (broken, said) in cases {
        std::fs::write(&path, &broken).unwrap();
        let e = LocalStore::new(path.clone(), "state.json").load().unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }) && e.to_string().contains(said), "{said}: {e}");
    }
}
