//! The state store conformance suite, run against every backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flinkform_core::state::{self, State, StateError, StateStore};
use flinkform_state::LocalStore;

/// Two handles on one fresh store location, and a way to overwrite its raw content.
type Handles = (Arc<dyn StateStore>, Arc<dyn StateStore>, Box<dyn Fn(&str)>);
/// Makes [`Handles`] on a new location.
type Factory = dyn Fn() -> Handles;

fn info(who: &str) -> flinkform_core::state::LockInfo {
    let mut i = flinkform::cli::lock_info("apply");
    i.who = who.into();
    i
}

/// The v1 fixture's `orders` record, as pipeline `name`.
fn pipeline(name: &str) -> flinkform_core::state::PipelineState {
    let fixture = include_str!("../../crates/flinkform-core/tests/fixtures/state/v1.json");
    let mut p = state::parse(fixture, "v1.json").unwrap().pipelines.remove("orders").unwrap();
    p.file = format!("pipelines/{name}.toml");
    p
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
    assert_eq!(b.previous().unwrap().as_ref(), Some(&s1), "each save keeps the state it replaces");
    let err = state::commit(b.as_ref(), Some(&stale), stale.clone()).unwrap_err();
    assert!(matches!(err, StateError::Conflict { expected: Some(1), found: Some(2) }), "{err}");
    assert_eq!(a.load().unwrap().unwrap().serial, 2, "the stale writer overwrote nothing");
    let other = State::new("other".into());
    assert!(matches!(state::commit(a.as_ref(), Some(&s2), other), Err(StateError::Lineage { .. })));

    // compare-and-set without the lock: of writers racing from one serial, one wins
    let (a, b, _) = make();
    let s1 = state::commit(a.as_ref(), None, State::new("lin".into())).unwrap();
    for round in 0..5 {
        let at = a.load().unwrap().unwrap();
        let start = Arc::new(std::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (store, at, start) = (if i % 2 == 0 { a.clone() } else { b.clone() }, at.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    state::commit(store.as_ref(), Some(&at), at.clone()).is_ok()
                })
            })
            .collect();
        let won = racers.into_iter().map(|t| t.join().unwrap()).filter(|w| *w).count();
        assert_eq!(won, 1, "round {round}: writers that all read serial {}", at.serial);
    }
    assert_eq!(a.load().unwrap().unwrap().serial, s1.serial + 5);

    // journal writes (deltas where the backend writes them): read whole by any reader,
    // the state before the last write kept, folded in by settle with nothing changed
    let (a, b, _) = make();
    let mut s = state::commit(a.as_ref(), None, State::new("lin".into())).unwrap();
    let mut earlier = Vec::new();
    for (i, name) in ["p1", "p2", "p1", "p3"].into_iter().enumerate() {
        earlier.push(s.clone());
        if i == 3 {
            s.pipelines.remove("p2");
            state::write_changed(a.as_ref(), &mut s, &[String::from("p2")].into()).unwrap();
        }
        let mut p = pipeline(name);
        p.sql = format!("-- write {i}");
        s.pipelines.insert(name.into(), p);
        state::write_changed(a.as_ref(), &mut s, &[name.to_string()].into()).unwrap();
        assert_eq!(b.load().unwrap().as_ref(), Some(&s), "write {i}");
    }
    assert_eq!(s.pipelines.keys().collect::<Vec<_>>(), ["p1", "p3"]);
    let before = b.previous().unwrap().unwrap();
    assert_eq!(before.serial, s.serial - 1);
    assert!(!before.pipelines.contains_key("p3"), "the state before the last write");
    let stale = earlier[1].clone();
    let err = state::write_changed(b.as_ref(), &mut stale.clone(), &["p1".into()].into()).unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    a.settle().unwrap();
    b.settle().unwrap();
    assert_eq!(b.load().unwrap().as_ref(), Some(&s), "settle changes nothing");
    assert_eq!(b.previous().unwrap().as_ref(), Some(&before), "nor the state before it");
    // of writers racing from one serial, journal writes and whole ones, one wins
    for round in 0..5 {
        let at = a.load().unwrap().unwrap();
        let start = Arc::new(std::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (store, mut at, start) =
                    (if i % 2 == 0 { a.clone() } else { b.clone() }, at.clone(), start.clone());
                std::thread::spawn(move || {
                    let name = format!("racer{i}");
                    at.pipelines.insert(name.clone(), pipeline(&name));
                    start.wait();
                    if i < 4 {
                        state::write_changed(store.as_ref(), &mut at, &[name].into()).map(|()| at)
                    } else {
                        state::write_next(store.as_ref(), &mut at).map(|()| at)
                    }
                    .ok()
                })
            })
            .collect();
        let won: Vec<State> = racers.into_iter().filter_map(|t| t.join().unwrap()).collect();
        assert_eq!(won.len(), 1, "round {round}: writers that all read serial {}", at.serial);
        assert_eq!(b.load().unwrap().as_ref(), Some(&won[0]), "round {round}: the winner's state is stored");
    }

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

    // an unreadable state is replaced only on purpose, set aside, and followed by a
    // serial past it; writes go on from there
    let (written, kept) = a.replace_unreadable(State::new("x".into())).unwrap();
    assert!(written.serial > 1, "serial {} after the unreadable 1 ({kept})", written.serial);
    assert_eq!(a.load().unwrap().as_ref(), Some(&written));
    let next = state::commit(a.as_ref(), Some(&written), written.clone()).unwrap();
    assert_eq!(next.serial, written.serial + 1);

    history(make);
}

/// What is kept beside the state: texts by digest, written once and read by any store
/// of the same state; the log of applies, newest first.
fn history(make: &Factory) {
    use flinkform_core::state::{ApplyOutcome, ApplyRecord, Stamp};
    let (a, b, _) = make();
    let digest = |t: &str| flinkform_core::spec::digest(&[t.as_bytes()]);
    let (one, two) = ("SELECT 1;\n", "SELECT 2;\n");
    a.keep_texts(&[(digest(one), one.into()), (digest(two), two.into())]).unwrap();
    // Kept again: the text kept first stays.
    a.keep_texts(&[(digest(one), one.into())]).unwrap();
    let got = b.texts(&[&digest(one), &digest(two), &digest("never kept"), "../not-a-digest"]).unwrap();
    assert_eq!(got, [(digest(one), one.to_string()), (digest(two), two.to_string())].into());
    assert_eq!(b.applies(10).unwrap(), Vec::new());
    let record = |id: &str, outcome| ApplyRecord {
        id: id.into(),
        env: None,
        stamp: Stamp::at("2026-12-07T00:00:00Z"),
        duration_ms: 10,
        outcome,
        changes: Vec::new(),
        said: "said".into(),
        plan: "plan".into(),
    };
    for (i, outcome) in [ApplyOutcome::Applied, ApplyOutcome::Failed, ApplyOutcome::Interrupted].into_iter().enumerate()
    {
        a.log_apply(&record(&format!("a{i}"), outcome)).unwrap();
        // Distinct times for a log ordered by when it was written.
        std::thread::sleep(Duration::from_millis(5));
    }
    let ids: Vec<String> = b.applies(2).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["a2", "a1"]);
    assert_eq!(b.applies(10).unwrap()[1], record("a1", ApplyOutcome::Failed));
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
    let p = crate::common::TestProject::two_pipelines();
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

/// The PostgreSQL server of the tests; the README's test command always sets it.
pub fn pg_dsn() -> String {
    std::env::var("FLINKFORM_TEST_PG")
        .expect("FLINKFORM_TEST_PG is not set: run the tests with ./scripts/test, which checks PostgreSQL")
}

/// A schema that exists for one test and is dropped after it.
pub struct TempSchema(pub String);

impl Default for TempSchema {
    fn default() -> TempSchema {
        TempSchema(format!("ff_test_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl TempSchema {
    /// Runs SQL statements in this schema; returns the first column of the last one's rows.
    pub fn sql(&self, statements: &[&str]) -> Vec<String> {
        run_sql(&self.0, statements)
    }
}

/// Runs SQL statements with `schema` first on the search path.
fn run_sql(schema: &str, statements: &[&str]) -> Vec<String> {
    {
        let dsn = pg_dsn();
        let mut all = vec![format!("SET search_path TO \"{schema}\"")];
        all.extend(statements.iter().map(|s| s.to_string()));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (c, conn) =
                    tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await.expect("connect to the test database");
                tokio::spawn(conn);
                let mut last = Vec::new();
                for s in &all {
                    last = c
                        .simple_query(s)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"))
                        .into_iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                            _ => None,
                        })
                        .collect();
                }
                last
            })
        })
        .join()
        .unwrap()
    }
}

impl Drop for TempSchema {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::panic::catch_unwind(|| run_sql("public", &[&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")]));
    }
}

pub fn pg_config(schema: &str, flavor: flinkform_state::Flavor) -> flinkform_state::PgConfig {
    flinkform_state::PgConfig {
        dsn: pg_dsn(),
        dsn_source: "FLINKFORM_TEST_PG".into(),
        schema: schema.into(),
        flavor,
        state_key: "ws/ns".into(),
        lease_ttl: Duration::from_secs(2),
    }
}

fn pg_conformance(flavor: flinkform_state::Flavor) {
    let schemas = std::sync::Mutex::new(Vec::new());
    let make = move || -> Handles {
        let schema = Arc::new(TempSchema::default());
        let a = Arc::new(flinkform_state::PgStore::open(pg_config(&schema.0, flavor)).unwrap());
        let b = Arc::new(flinkform_state::PgStore::open(pg_config(&schema.0, flavor)).unwrap());
        schemas.lock().unwrap().push(schema.clone());
        (
            a,
            b,
            Box::new(move |text: &str| {
                let body = text.replace('\'', "''");
                schema.sql(&[
                    "INSERT INTO state_head VALUES ('ws/ns', 'x', 1, 0) ON CONFLICT (state_key) DO NOTHING",
                    &format!(
                        "INSERT INTO state_versions SELECT 'ws/ns', serial, '{body}', 0 FROM state_head WHERE state_key = 'ws/ns'
                         ON CONFLICT (state_key, serial) DO UPDATE SET body = excluded.body"
                    ),
                ]);
            }),
        )
    };
    conformance(&make);
}

#[test]
fn postgres_backend_conformance() {
    pg_conformance(flinkform_state::Flavor::Postgres);
}

#[test]
fn hologres_flavor_conformance_on_postgres() {
    pg_conformance(flinkform_state::Flavor::Hologres);
}

#[test]
fn migrations_apply_once_even_when_started_in_parallel() {
    for flavor in [flinkform_state::Flavor::Postgres, flinkform_state::Flavor::Hologres] {
        let schema = TempSchema::default();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let cfg = pg_config(&schema.0, flavor);
                std::thread::spawn(move || flinkform_state::PgStore::open(cfg).map(drop))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        }
        let n = schema.sql(&["SELECT count(*) FROM flinkform_migrations"]);
        assert_eq!(n, [flinkform_state::MIGRATIONS.len().to_string()], "{flavor:?}");
    }
}

#[test]
fn a_changed_migration_is_an_error() {
    let schema = TempSchema::default();
    flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Postgres)).unwrap();
    schema.sql(&["UPDATE flinkform_migrations SET checksum = 'edited' WHERE version = 1"]);
    let e = flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Postgres)).err().unwrap();
    let text = flinkform_core::diag::chain(&e);
    assert!(text.contains("migration 0001_state.sql was changed after it was applied"), "{text}");
}

#[test]
fn hologres_lease_is_renewed_while_held_and_taken_over_once_expired() {
    let schema = TempSchema::default();
    let a = flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Hologres)).unwrap();
    let b = flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Hologres)).unwrap();
    let g = a.lock(&info("alice"), Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_secs(3)); // past the 2 s lease: renewals keep it
    match b.lock(&info("bob"), Duration::ZERO) {
        Err(StateError::Locked(holder)) => assert_eq!(holder.who, "alice"),
        other => panic!("renewed while held, but: {:?}", other.map(|_| ())),
    }
    drop(g);
    drop(b.lock(&info("bob"), Duration::ZERO).expect("released on drop"));
    // A holder that died (kill -9) leaves a lease that nobody renews: it is taken over
    // once it expires, and not before.
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 1500;
    schema.sql(&[&format!(
        "INSERT INTO locks VALUES ('{}/ws/ns', 'dead', 'ghost', 1, 'h', 'apply', 'then', {expires})
         ON CONFLICT (lock_key) DO UPDATE SET lock_id = 'dead', who = 'ghost', expires_ms = {expires}",
        schema.0
    )]);
    assert!(matches!(b.lock(&info("bob"), Duration::ZERO), Err(StateError::Locked(h)) if h.who == "ghost"));
    let start = Instant::now();
    b.lock(&info("bob"), Duration::from_secs(10)).expect("an expired lease is taken over");
    assert!(start.elapsed() >= Duration::from_millis(700), "not before it expired: {:?}", start.elapsed());
}

#[test]
fn a_hologres_writer_that_lost_its_lease_writes_nothing() {
    let schema = TempSchema::default();
    let a = flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Hologres)).unwrap();
    let b = flinkform_state::PgStore::open(pg_config(&schema.0, flinkform_state::Flavor::Hologres)).unwrap();
    let _ga = a.lock(&info("alice"), Duration::ZERO).unwrap();
    let s1 = state::commit(&a, None, State::new("lin".into())).unwrap();
    // Alice stalls (a long GC pause, a frozen VM): her lease expires and Bob takes it.
    schema.sql(&[&format!("UPDATE locks SET expires_ms = 0 WHERE lock_key = '{}/ws/ns'", schema.0)]);
    let _gb = b.lock(&info("bob"), Duration::from_secs(5)).expect("an expired lease is taken over");
    // Alice wakes up and writes from what she read: fenced, whatever her serial.
    let e = state::commit(&a, Some(&s1), s1.clone()).unwrap_err();
    assert!(matches!(e, StateError::LeaseLost { .. }), "{e}");
    let e = state::commit(&a, Some(&s1), s1.clone()).unwrap_err();
    assert!(matches!(e, StateError::LeaseLost { .. }), "and again: {e}");
    assert_eq!(b.load().unwrap().unwrap().serial, 1, "nothing of Alice's landed");
    // Her renewal finds the lease taken over: she is fenced between steps too (apply stops
    // before its next remote call), while Bob, who holds it, is not.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while a.fenced().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(matches!(a.fenced(), Some(StateError::LeaseLost { .. })), "alice is fenced");
    assert!(b.fenced().is_none(), "bob holds the lease");
    let s2 = state::commit(&b, Some(&s1), s1.clone()).expect("the holder writes");
    assert_eq!(a.load().unwrap(), Some(s2));
    assert_eq!(
        schema.sql(&["SELECT count(*) FROM state_bodies WHERE serial > 2"]),
        ["0"],
        "the fenced writes left no body"
    );
}

#[test]
fn force_unlock_breaks_a_stuck_lock_in_both_flavors() {
    for flavor in [flinkform_state::Flavor::Postgres, flinkform_state::Flavor::Hologres] {
        let schema = TempSchema::default();
        let a = flinkform_state::PgStore::open(pg_config(&schema.0, flavor)).unwrap();
        let b = flinkform_state::PgStore::open(pg_config(&schema.0, flavor)).unwrap();
        let stuck = info("stuck-ci-job");
        let g = a.lock(&stuck, Duration::ZERO).unwrap();
        let e = b.force_unlock("not-the-id").unwrap_err().to_string();
        assert!(e.contains("no lock with ID"), "{flavor:?}: {e}");
        b.force_unlock(&stuck.id).unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        drop(b.lock(&info("next"), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{flavor:?}: {e}")));
        drop(g);
    }
}

#[test]
fn postgres_derived_rows_follow_each_write_whichever_store_made_the_one_before() {
    use flinkform_state::{Flavor, PgStore};
    let schema = TempSchema::default();
    let a = PgStore::open(pg_config(&schema.0, Flavor::Postgres)).unwrap();
    let b = PgStore::open(pg_config(&schema.0, Flavor::Postgres)).unwrap();
    let fixture = include_str!("../../crates/flinkform-core/tests/fixtures/state/v1.json");
    let mut s = state::parse(fixture, "v1.json").unwrap();
    s.serial = 0;
    let rows = || {
        schema.sql(&["SELECT string_agg(name || '=' || coalesce(job_id, '-') || '@' || serial, ' ' ORDER BY name) FROM pipelines"])
    };
    let job = |s: &mut State, name: &str, id: &str| s.pipelines.get_mut(name).unwrap().remote.job_id = Some(id.into());
    job(&mut s, "orders", "j1");
    job(&mut s, "clickstream", "c1");
    state::write_next(&a, &mut s).unwrap();
    assert_eq!(rows(), ["clickstream=c1@1 orders=j1@1"]);
    // After its own write, a store rewrites the rows of what changed only.
    job(&mut s, "orders", "j2");
    state::write_next(&a, &mut s).unwrap();
    assert_eq!(rows(), ["clickstream=c1@1 orders=j2@2"]);
    // Another store's write in between: every row is written again.
    let mut t = b.load().unwrap().unwrap();
    job(&mut t, "clickstream", "c3");
    state::write_next(&b, &mut t).unwrap();
    assert_eq!(rows(), ["clickstream=c3@3 orders=j2@3"]);
    assert!(matches!(state::write_next(&a, &mut s.clone()), Err(StateError::Conflict { .. })));
    let mut u = a.load().unwrap().unwrap();
    job(&mut u, "orders", "j4");
    state::write_next(&a, &mut u).unwrap();
    assert_eq!(rows(), ["clickstream=c3@4 orders=j4@4"]);
}

#[test]
fn postgres_journal_writes_are_rows_of_what_changed_folded_by_settle() {
    use flinkform_state::{Flavor, PgStore};
    for flavor in [Flavor::Postgres, Flavor::Hologres] {
        let schema = TempSchema::default();
        let a = PgStore::open(pg_config(&schema.0, flavor)).unwrap();
        let b = PgStore::open(pg_config(&schema.0, flavor)).unwrap();
        let mut s = State::new("lin".into());
        for i in 0..200 {
            s.pipelines.insert(format!("p{i:03}"), pipeline(&format!("p{i:03}")));
        }
        state::write_next(&a, &mut s).unwrap();
        let count = |table: &str| schema.sql(&[&format!("SELECT count(*) FROM {table}")])[0].parse::<u64>().unwrap();
        let bodies = count("state_bodies");
        // Ten journal writes of one pipeline each: ten delta rows, each naming its own
        // pipeline and no other; no body written.
        for i in 0..10 {
            let name = format!("p{:03}", i * 7);
            s.pipelines.get_mut(&name).unwrap().remote.job_id = Some(format!("job-{i}"));
            state::write_changed(&a, &mut s, &[name.clone()].into()).unwrap();
            assert_eq!(b.load().unwrap().as_ref(), Some(&s), "write {i}, read by another store");
        }
        assert_eq!(count("state_bodies"), bodies, "{flavor:?}: no whole body per journal write");
        assert_eq!(count("state_deltas"), 10, "{flavor:?}");
        let longest = schema.sql(&["SELECT max(length(body)) FROM state_deltas"])[0].parse::<usize>().unwrap();
        let whole = schema.sql(&["SELECT max(length(body)) FROM state_bodies"])[0].parse::<usize>().unwrap();
        assert!(longest * 50 < whole, "{flavor:?}: a delta of {longest} bytes beside a body of {whole}");
        let other = schema.sql(&["SELECT count(*) FROM state_deltas WHERE body LIKE '%\"p001\"%'"]);
        assert_eq!(other, ["0"], "{flavor:?}: no delta names a pipeline it did not change");
        // The derived rows follow each write.
        let jobs = schema.sql(&[
            "SELECT string_agg(name || '=' || job_id, ' ' ORDER BY name) FROM pipelines WHERE job_id LIKE 'job-_'",
        ]);
        let want: Vec<String> = (0..10).map(|i| format!("p{:03}=job-{i}", i * 7)).collect();
        assert_eq!(jobs, [want.join(" ")], "{flavor:?}");
        // A removal is a delta too: its rows go.
        s.pipelines.remove("p199");
        state::write_changed(&a, &mut s, &["p199".into()].into()).unwrap();
        assert_eq!(schema.sql(&["SELECT count(*) FROM pipelines WHERE name = 'p199'"]), ["0"]);
        let before = b.previous().unwrap().unwrap();
        assert!(before.pipelines.contains_key("p199"), "{flavor:?}: the state before the last write");
        // Settle folds the chain into a body of the same serial; nothing read changes,
        // and the deltas no chain needs go.
        a.settle().unwrap();
        assert_eq!(b.load().unwrap().as_ref(), Some(&s), "{flavor:?}");
        assert_eq!(b.previous().unwrap().as_ref(), Some(&before), "{flavor:?}");
        assert_eq!(count("state_bodies"), bodies + 1, "{flavor:?}");
        state::write_next(&a, &mut s).unwrap();
        assert_eq!(count("state_deltas"), 0, "{flavor:?}: the chain's deltas go with the next body");
        assert_eq!(b.load().unwrap().as_ref(), Some(&s));
    }
}
