//! The state store conformance suite, run against every backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flinkform::state::{self, LocalStore, State, StateError, StateStore};

/// Two handles on one fresh store location, and a way to overwrite its raw content.
type Handles = (Arc<dyn StateStore>, Arc<dyn StateStore>, Box<dyn Fn(&str)>);
/// Makes [`Handles`] on a new location.
type Factory = dyn Fn() -> Handles;

fn info(who: &str) -> flinkform::state::LockInfo {
    let mut i = flinkform::cli::lock_info("apply");
    i.who = who.into();
    i
}

fn conformance(make: &Factory) {
    // load / save / compare-and-set
    let (a, b, _) = make();
    assert_eq!(a.load().unwrap(), None);
    let s1 = state::commit(a.as_ref(), None, State::new("lin".into())).unwrap();
    assert_eq!(s1.serial, 1);
    assert_eq!(b.load().unwrap().as_ref(), Some(&s1));
    let stale = b.load().unwrap().unwrap();
    let s2 = state::commit(a.as_ref(), Some(&s1), s1.clone()).unwrap();
    assert_eq!(s2.serial, 2);
    let err = state::commit(b.as_ref(), Some(&stale), stale.clone()).unwrap_err();
    assert!(matches!(err, StateError::Conflict { expected: Some(1), found: Some(2) }), "{err}");
    assert_eq!(a.load().unwrap().unwrap().serial, 2, "the stale writer overwrote nothing");
    let other = State::new("other".into());
    assert!(matches!(state::commit(a.as_ref(), Some(&s2), other), Err(StateError::Lineage { .. })));

    // lock contention: one wins, the other fails naming the holder, or waits
    let (a, b, _) = make();
    let g = a.lock(&info("alice"), Duration::ZERO).unwrap();
    match b.lock(&info("bob"), Duration::from_millis(100)) {
        Err(StateError::Locked(holder)) => assert_eq!(holder.who, "alice"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("two holders"),
    }
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(g);
    });
    let start = Instant::now();
    let g2 = b.lock(&info("bob"), Duration::from_secs(10)).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200), "waited for the holder");
    t.join().unwrap();
    drop(g2);

    // corrupt input is refused and never overwritten
    let (a, _, corrupt) = make();
    corrupt("{ not json");
    assert!(matches!(a.load(), Err(StateError::Corrupt { .. })));
    assert!(state::commit(a.as_ref(), None, State::new("x".into())).is_err());
    corrupt("{\"format_version\": 2, \"lineage\": \"x\", \"serial\": 1, \"pipelines\": {}}");
    let err = a.load().unwrap_err().to_string();
    assert!(err.contains("format_version 2 is not supported"), "{err}");
}

#[test]
fn local_backend_conformance() {
    let dirs = std::sync::Mutex::new(Vec::new());
    let make = move || -> Handles {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let a = Arc::new(LocalStore::new(path.clone(), "state.json"));
        let b = Arc::new(LocalStore::new(path.clone(), "state.json"));
        dirs.lock().unwrap().push(dir);
        (a, b, Box::new(move |text: &str| std::fs::write(&path, text).unwrap()))
    };
    conformance(&make);
}

#[test]
fn local_lock_is_released_when_the_holder_is_killed() {
    let p = crate::common::TestProject::example();
    // Another process (flock(1), the same OS lock) holds it, then is killed with SIGKILL.
    std::fs::create_dir_all(p.path().join(".flinkform")).unwrap();
    let mut child = std::process::Command::new("flock")
        .arg("--close") // the lock stays with flock itself, not with `sleep`
        .arg(p.path().join(".flinkform/state.json.lock"))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux");
    let store = LocalStore::new(p.path().join(".flinkform/state.json"), "state");
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.lock(&info("probe"), Duration::ZERO).is_ok() {
        assert!(Instant::now() < deadline, "the holder never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    store.lock(&info("next"), Duration::from_secs(2)).expect("the dead holder's lock is gone");
}
