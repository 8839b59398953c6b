//! The PostgreSQL backend: one state per (workspace, namespace) in tables from
//! `migrations/`, shared by `plan` in pull-request CI and `apply` on merge.
//!
//! Writes are versioned rows plus a compare-and-set on one head row (the commit point),
//! so a writer holding a stale serial fails and nothing is lost. Two flavors:
//! `postgres` (the write in one transaction; the lock is a session advisory lock on a
//! dedicated connection, gone with its connection when the holder dies) and `hologres`
//! (single-statement autocommit writes; the lock is a lease row claimed with a
//! conditional upsert on its primary key, renewed while held, taken over once expired),
//! for where Hologres hosts the state. Both run on PostgreSQL, so both are tested here.
//!
//! Database work runs on a worker thread per connection with its own runtime, so the
//! store can be called from synchronous and asynchronous code alike.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::Client;

use flinkform_core::state::{Delta, LockGuard, LockInfo, State, StateError, StateStore, parse};
use flinkform_core::types::quote_pg_ident;

use crate::pg::PgError;
use lease::{PgGuard, spawn_renewal, try_advisory, try_lease};
use write::{Version, Written, fold, write};

mod archive;
mod lease;
mod write;

/// Where the lock and writes of a PostgreSQL-protocol state live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Plain PostgreSQL: transactions and advisory locks.
    Postgres,
    /// Hologres: no advisory locks, no DML in transactions.
    Hologres,
}

/// Connection and layout settings.
#[derive(Clone)]
pub struct PgConfig {
    /// libpq-style connection string (holds the password: never shown).
    pub dsn: String,
    /// Where the DSN came from (an environment variable name), for messages.
    pub dsn_source: String,
    /// Schema of the tables.
    pub schema: String,
    /// Flavor.
    pub flavor: Flavor,
    /// `workspace/namespace`: which state in the tables.
    pub state_key: String,
    /// Lease duration of the hologres flavor's lock.
    pub lease_ttl: Duration,
}

/// The migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "0001_state.sql", include_str!("../../migrations/0001_state.sql")),
    (2, "0002_state_bodies.sql", include_str!("../../migrations/0002_state_bodies.sql")),
    (3, "0003_history.sql", include_str!("../../migrations/0003_history.sql")),
    (4, "0004_state_deltas.sql", include_str!("../../migrations/0004_state_deltas.sql")),
];

/// Deltas are folded into a body once the chain is this many times the body's size (and
/// at least [`FOLD_MIN`]): each byte of state is written a bounded number of times.
const FOLD_RATIO: usize = 4;
const FOLD_MIN: usize = 1 << 20;

type Task = Box<dyn FnOnce(Arc<Client>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A connection served by its own thread and runtime.
struct Worker {
    tx: tokio::sync::mpsc::UnboundedSender<Task>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Worker {
    fn connect(cfg: &PgConfig) -> Result<Worker, PgError> {
        let pg = crate::pg::config(&cfg.dsn, &cfg.dsn_source)?;
        let from = cfg.dsn_source.clone();
        let schema = cfg.schema.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Task>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), PgError>>();
        std::thread::Builder::new()
            .name("flinkform-postgres".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(PgError::Thread(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = match crate::pg::connect(&pg, &from).await {
                        Ok(c) => Arc::new(c),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    if let Err(e) =
                        client.batch_execute(&format!("SET search_path TO {}", quote_pg_ident(&schema))).await
                    {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                    let _ = ready_tx.send(Ok(()));
                    while let Some(task) = rx.recv().await {
                        task(client.clone()).await;
                    }
                });
            })
            .map_err(PgError::Thread)?;
        ready_rx.recv().map_err(|_| PgError::Closed)??;
        Ok(Worker { tx })
    }

    /// Runs `f` on the connection and waits for its result.
    fn call<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let task: Task = Box::new(move |c| {
            Box::pin(async move {
                let _ = tx.send(f(c).await.map_err(PgError::from));
            })
        });
        self.tx.send(task).map_err(|_| PgError::Closed)?;
        rx.recv().map_err(|_| PgError::Closed)?
    }
}

/// State in PostgreSQL (or Hologres) tables.
pub struct PgStore {
    cfg: PgConfig,
    worker: Worker,
    /// The lease this store holds (Hologres flavor): every write is fenced by it.
    lease: Arc<std::sync::Mutex<Option<Lease>>>,
    /// The state this store last wrote: a write that follows it rewrites the derived
    /// rows of the pipelines that changed only, and may be a delta of it.
    written: std::sync::Mutex<Option<Wrote>>,
}

/// What this store last wrote.
struct Wrote {
    serial: u64,
    lineage: String,
    /// The state, when it was written whole.
    state: Option<State>,
    /// The bytes of the body its chain starts from, and of the chain's deltas.
    body: usize,
    chain: usize,
}

/// The state the head names now, or the one it named before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Current,
    Previous,
}

/// A held lease: its lock id, whether renewing it failed (someone took it over, or it
/// expired unrenewed), and when it was last renewed: a holder that was frozen past its
/// lease duration (a paused process, a stalled machine) knows by its own clock.
#[derive(Clone)]
struct Lease {
    lock_id: String,
    lost: Arc<AtomicBool>,
    renewed: Arc<std::sync::Mutex<Instant>>,
}

impl PgStore {
    /// Connects and applies pending migrations (safe when several start at once).
    pub fn open(cfg: PgConfig) -> Result<PgStore, StateError> {
        let store = PgStore {
            worker: Worker::connect(&cfg).map_err(|e| err(&cfg, e))?,
            cfg,
            lease: Default::default(),
            written: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StateError {
        err(&self.cfg, cause)
    }

    /// A write's failure: a role that may not write is said to be one.
    fn write_err(&self, e: PgError) -> StateError {
        match &e {
            PgError::Statement(s) if s.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                self.err(ReadOnly(e))
            }
            _ => self.err(e),
        }
    }

    /// The current state, or the one before it, as the head names them: a body, or a
    /// body and the chain of deltas that follows it. A version trimmed while it was being
    /// read (a fold that finished meanwhile) is read again from the head.
    fn read_body(&self, which: Which) -> Result<Option<State>, StateError> {
        let shown = format!("postgres state {} (schema {})", self.cfg.state_key, self.cfg.schema);
        let mut tries = 0;
        loop {
            let key = self.cfg.state_key.clone();
            let read = self
                .worker
                .call(move |c| async move { read_version(&c, &key, which).await })
                .map_err(|e| self.err(e))?;
            let corrupt = |reason: String| StateError::Corrupt { path: shown.clone(), reason };
            match read {
                Read::None => return Ok(None),
                Read::Missing(_) if which == Which::Previous => return Ok(None),
                Read::Missing(_) if tries < 3 => tries += 1,
                Read::Missing(what) => return Err(corrupt(format!("the head names {what}, which is missing"))),
                Read::Found(body, deltas) => {
                    let mut state = parse(&body, &shown)?;
                    for (serial, text) in deltas {
                        let delta: Delta<'static> = serde_json::from_str(&text)
                            .map_err(|e| corrupt(format!("the delta of serial {serial} is invalid: {e}")))?;
                        if !delta.apply(&mut state, &shown)? {
                            return Err(corrupt(format!("the delta of serial {serial} does not follow its chain")));
                        }
                    }
                    return Ok(Some(state));
                }
            }
        }
    }

    /// Writes `state` (see [`write`]) in one transaction where the flavor has them: the
    /// whole state, or (`changed`) a delta of those pipelines, whose chain starts from a
    /// body of `body` bytes. A delta's write takes a copy of its pipelines only.
    fn write_version(
        &self,
        state: &State,
        expected: Option<u64>,
        changed: Option<&BTreeSet<String>>,
        body: usize,
    ) -> Result<(), StateError> {
        if let Some(e) = self.fenced() {
            return Err(e);
        }
        let fence = self.fence();
        let key = self.cfg.state_key.clone();
        let text = match changed {
            Some(names) => serde_json::to_string(&Delta::of(state, names)),
            None => serde_json::to_string(state),
        }
        .map_err(|e| self.err(e))?;
        let len = text.len();
        // What the head holds now, when this store wrote it: the rows of its unchanged
        // pipelines are already right (a delta's rows are those of its pipelines alone).
        let wrote = {
            let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
            w.take().filter(|b| expected == Some(b.serial) && b.lineage == state.lineage)
        };
        let chain = wrote.as_ref().map_or(0, |b| b.chain);
        let before = wrote.and_then(|w| w.state).filter(|_| changed.is_none());
        let (written_state, names) = match changed {
            Some(names) => {
                let pipelines =
                    names.iter().filter_map(|n| Some((n.clone(), state.pipelines.get(n)?.clone()))).collect();
                (State { pipelines, lineage: state.lineage.clone(), ..*state }, Some(names.clone()))
            }
            None => (state.clone(), None),
        };
        let transactional = self.cfg.flavor == Flavor::Postgres;
        let outcome = self
            .worker
            .call(move |c| async move {
                if transactional {
                    c.batch_execute("BEGIN").await?;
                }
                let version = match &names {
                    Some(names) => Version::Delta(&text, names),
                    None => Version::Body(&text),
                };
                let at = (&written_state, before.as_ref());
                let r = write(&c, &key, at, expected, version, transactional, fence.as_ref()).await;
                match &r {
                    Ok(Written::Done) if transactional => c.batch_execute("COMMIT").await?,
                    _ if transactional => c.batch_execute("ROLLBACK").await?,
                    _ => {}
                }
                r.map(|w| (w, written_state))
            })
            .map_err(|e| self.write_err(e))?;
        let (written, written_state) = outcome;
        match written {
            Written::Done => {
                let wrote = Wrote {
                    serial: state.serial,
                    lineage: state.lineage.clone(),
                    body: if changed.is_some() { body } else { len },
                    chain: if changed.is_some() { chain + len } else { 0 },
                    state: changed.is_none().then_some(written_state),
                };
                *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(wrote);
                Ok(())
            }
            Written::Conflict(found) => Err(StateError::Conflict { expected, found }),
            Written::Fenced => Err(StateError::LeaseLost { path: self.shown() }),
        }
    }

    fn shown(&self) -> String {
        format!("postgres state (schema {}, from {})", self.cfg.schema, self.cfg.dsn_source)
    }

    /// What fences a write: the lock key and the id of the lease this store holds
    /// (Hologres flavor), or nothing.
    fn fence(&self) -> Option<(String, String)> {
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lease.map(|l| (self.lock_key(), l.lock_id))
    }

    fn lock_key(&self) -> String {
        format!("{}/{}", self.cfg.schema, self.cfg.state_key)
    }

    /// Applies the migrations that are not applied yet. A schema whose migrations are
    /// all applied is only read (a role that may only read is enough to plan); the
    /// DDL, which PostgreSQL checks the privileges of even when it would do nothing,
    /// runs only where something is missing.
    fn migrate(&self) -> Result<(), StateError> {
        if self.worker.call(|c| async move { migrated(&c).await }).map_err(|e| self.err(Migrating(e)))? {
            return Ok(());
        }
        let schema = quote_pg_ident(&self.cfg.schema);
        let flavor = self.cfg.flavor;
        let lock_key = advisory_key(&format!("flinkform-migrate:{}", self.cfg.schema));
        let mut attempt = 0;
        loop {
            let schema = schema.clone();
            let r = self.worker.call(move |c| async move {
                if flavor == Flavor::Postgres {
                    c.execute("SELECT pg_advisory_lock($1)", &[&lock_key]).await?;
                }
                let r = apply_migrations(&c, &schema).await;
                if flavor == Flavor::Postgres {
                    c.execute("SELECT pg_advisory_unlock($1)", &[&lock_key]).await?;
                }
                r
            });
            match r {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(changed)) => return Err(self.err(changed)),
                // Hologres has no advisory lock: concurrent first runs may race on the
                // catalog; every migration statement is idempotent, so try again.
                Err(e) if flavor == Flavor::Hologres && attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "retrying migrations");
                    std::thread::sleep(Duration::from_millis(100 * attempt));
                }
                Err(e) => return Err(self.err(Migrating(e))),
            }
        }
    }
}

fn err(cfg: &PgConfig, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StateError {
    StateError::Database {
        path: format!("postgres state (schema {}, from {})", cfg.schema, cfg.dsn_source),
        source: cause.into(),
    }
}

/// A write refused for want of privileges: the role may only read the state.
#[derive(Debug, thiserror::Error)]
#[error(
    "this role may only read the state: plan works with it, but apply, start, stop and the state commands need a role that may write its tables"
)]
struct ReadOnly(#[source] PgError);

/// Applying the migrations failed.
#[derive(Debug, thiserror::Error)]
#[error("applying migrations failed")]
struct Migrating(#[source] PgError);

/// A version as the head names it.
enum Read {
    /// No state.
    None,
    /// A body, and the deltas that follow it in order (serial, JSON).
    Found(String, Vec<(i64, String)>),
    /// A row the head names is missing (what).
    Missing(String),
}

/// Reads the current version, or the previous one, as the head names it: its body, or
/// the body its chain starts from and the chain's deltas, found by walking back from the
/// version through each delta's predecessor (rows of writers that lost a race are on no
/// chain).
async fn read_version(c: &Client, key: &str, which: Which) -> Result<Read, tokio_postgres::Error> {
    let columns = match which {
        Which::Current => "serial, writer, base_serial, base_writer",
        Which::Previous => "prev_serial, prev_writer, prev_base_serial, prev_base_writer",
    };
    let head = c.query_opt(&format!("SELECT {columns} FROM state_head WHERE state_key = $1"), &[&key]).await?;
    let Some(head) = head else { return Ok(Read::None) };
    let (serial, writer, base_serial, base_writer): (Option<i64>, Option<String>, Option<i64>, Option<String>) =
        (head.get(0), head.get(1), head.get(2), head.get(3));
    let Some(serial) = serial else { return Ok(Read::None) };
    let (body_serial, body_writer) = match base_serial {
        Some(b) => (b, base_writer.clone()),
        None => (serial, writer.clone()),
    };
    let row = match &body_writer {
        Some(w) => {
            c.query_opt(
                "SELECT body FROM state_bodies WHERE state_key = $1 AND serial = $2 AND writer = $3",
                &[&key, &body_serial, w],
            )
            .await?
        }
        // Written before migration 0002.
        None => {
            c.query_opt("SELECT body FROM state_versions WHERE state_key = $1 AND serial = $2", &[&key, &body_serial])
                .await?
        }
    };
    let Some(body) = row.map(|r| r.get::<_, String>(0)) else {
        return Ok(Read::Missing(format!("the body of serial {body_serial}")));
    };
    let Some(base) = base_serial else { return Ok(Read::Found(body, Vec::new())) };
    let rows = c
        .query(
            "SELECT serial, writer, prev_writer, body FROM state_deltas WHERE state_key = $1 AND serial > $2 AND serial <= $3",
            &[&key, &base, &serial],
        )
        .await?;
    let mut rows: HashMap<(i64, String), (Option<String>, String)> =
        rows.into_iter().map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3)))).collect();
    let mut chain = Vec::new();
    let mut at = (serial, writer);
    while at.0 > base {
        let Some((prev, text)) = at.1.clone().and_then(|w| rows.remove(&(at.0, w))) else {
            return Ok(Read::Missing(format!("the delta of serial {}", at.0)));
        };
        chain.push((at.0, text));
        at = (at.0 - 1, prev);
    }
    if at.1 != base_writer {
        return Ok(Read::Missing(format!("the chain of deltas from serial {base}")));
    }
    chain.reverse();
    Ok(Read::Found(body, chain))
}

/// A stable 64-bit advisory lock key for a name.
fn advisory_key(name: &str) -> i64 {
    let d = flinkform_core::spec::digest(&[name.as_bytes()]);
    i64::from_str_radix(&d[..15], 16).unwrap_or(0)
}

/// Whether every migration is applied, as it is here (a read, no DDL). A missing schema
/// or table, or a migration missing or changed, is `false`: the migration run creates
/// or reports it.
async fn migrated(c: &Client) -> Result<bool, tokio_postgres::Error> {
    use tokio_postgres::error::SqlState;
    let rows = match c.query("SELECT version, checksum FROM flinkform_migrations", &[]).await {
        Ok(rows) => rows,
        Err(e) if matches!(e.code(), Some(&SqlState::UNDEFINED_TABLE | &SqlState::INVALID_SCHEMA_NAME)) => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let applied: std::collections::HashMap<i32, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(MIGRATIONS.iter().all(|(v, _, sql)| applied.get(v) == Some(&flinkform_core::spec::digest(&[sql.as_bytes()]))))
}

/// Applies pending migrations; `Ok(Err(_))` for a changed applied migration.
async fn apply_migrations(c: &Client, schema: &str) -> Result<Result<(), String>, tokio_postgres::Error> {
    c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS flinkform_migrations (
            version    int    NOT NULL PRIMARY KEY,
            name       text   NOT NULL,
            checksum   text   NOT NULL,
            applied_ms bigint NOT NULL)",
    )
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let checksum = flinkform_core::spec::digest(&[sql.as_bytes()]);
        let row = c.query_opt("SELECT checksum FROM flinkform_migrations WHERE version = $1", &[version]).await?;
        match row.map(|r| r.get::<_, String>(0)) {
            Some(applied) if applied == checksum => continue,
            Some(applied) => {
                return Ok(Err(format!(
                    "migration {name} was changed after it was applied (checksum {} in the database, {} here)",
                    applied.get(..12).unwrap_or(&applied),
                    &checksum[..12]
                )));
            }
            None => {}
        }
        // One statement at a time: Hologres runs no multi-statement DDL batches with DML.
        for stmt in sql
            .split(';')
            .map(str::trim)
            .filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim().starts_with("--")))
        {
            c.batch_execute(stmt).await?;
        }
        c.execute(
            "INSERT INTO flinkform_migrations (version, name, checksum, applied_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (version) DO NOTHING",
            &[version, name, &checksum, &now_ms()],
        )
        .await?;
    }
    Ok(Ok(()))
}

impl StateStore for PgStore {
    fn fenced(&self) -> Option<StateError> {
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let lapsed = lease.renewed.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= self.cfg.lease_ttl;
        (lease.lost.load(Ordering::SeqCst) || lapsed).then(|| StateError::LeaseLost { path: self.shown() })
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        self.read_body(Which::Current)
    }

    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        self.write_version(state, expected, None, 0)
    }

    /// A delta of the pipelines `changed` when the head holds the state this store last
    /// wrote and the chain is still short beside its body; else the whole state.
    fn save_changed(&self, state: &State, changed: &BTreeSet<String>, expected: Option<u64>) -> Result<(), StateError> {
        let chained = self.written.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|w| {
            let follows = expected == Some(w.serial) && w.lineage == state.lineage;
            (follows && w.chain < (FOLD_RATIO * w.body).max(FOLD_MIN)).then_some(w.body)
        });
        match chained {
            Some(body) => self.write_version(state, expected, Some(changed), body),
            None => self.save(state, expected),
        }
    }

    /// Folds the current chain of deltas, if any, into a body of the same serial.
    fn settle(&self) -> Result<(), StateError> {
        let key = self.cfg.state_key.clone();
        let head = self
            .worker
            .call(move |c| async move {
                let row = c
                    .query_opt(
                        "SELECT serial, writer FROM state_head WHERE state_key = $1 AND base_serial IS NOT NULL",
                        &[&key],
                    )
                    .await?;
                Ok(row.map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1))))
            })
            .map_err(|e| self.err(e))?;
        let Some((serial, Some(writer))) = head else { return Ok(()) };
        let Some(state) = self.load()? else { return Ok(()) };
        if state.serial as i64 != serial {
            // Another write came first: its chain is its writer's to fold.
            return Ok(());
        }
        let body = serde_json::to_string(&state).map_err(|e| self.err(e))?;
        let len = body.len();
        let fence = self.fence();
        let key = self.cfg.state_key.clone();
        let folded = self
            .worker
            .call(move |c| async move { fold(&c, &key, (serial, &writer), &body, fence.as_ref()).await })
            .map_err(|e| self.write_err(e))?;
        match folded {
            Written::Done => {
                if let Some(w) = self.written.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                    (w.body, w.chain) = (len, 0);
                }
                Ok(())
            }
            // Another write came first: its chain is its writer's to fold.
            Written::Conflict(_) => Ok(()),
            Written::Fenced => Err(StateError::LeaseLost { path: self.shown() }),
        }
    }

    fn previous(&self) -> Result<Option<State>, StateError> {
        self.read_body(Which::Previous)
    }

    fn replace_unreadable(&self, mut state: State) -> Result<(State, String), StateError> {
        let key = self.cfg.state_key.clone();
        let head = self
            .worker
            .call(move |c| async move {
                let row = c.query_opt("SELECT serial FROM state_head WHERE state_key = $1", &[&key]).await?;
                Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)))
            })
            .map_err(|e| self.err(e))?;
        // Every version stays in the state tables: the unreadable one is kept by its serial.
        let head = head.and_then(|h| u64::try_from(h).ok());
        state.serial = state.serial.max(head.unwrap_or(0)) + 1;
        self.save(&state, head)?;
        let kept = head.map_or("nothing".to_string(), |h| format!("the version of serial {h} in the state tables"));
        Ok((state, kept))
    }

    fn lock(&self, info: &LockInfo, timeout: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        let lock_key = self.lock_key();
        let worker = Worker::connect(&self.cfg).map_err(|e| self.err(e))?;
        loop {
            let held = match self.cfg.flavor {
                Flavor::Postgres => try_advisory(&worker, &lock_key, info),
                Flavor::Hologres => try_lease(&worker, &lock_key, info, self.cfg.lease_ttl),
            }
            .map_err(|e| self.err(e))?;
            match held {
                None => {
                    let renew = Arc::new(AtomicBool::new(true));
                    if self.cfg.flavor == Flavor::Hologres {
                        let lost = Arc::new(AtomicBool::new(false));
                        let renewed = Arc::new(std::sync::Mutex::new(Instant::now()));
                        let lease = Lease { lock_id: info.id.clone(), lost: lost.clone(), renewed: renewed.clone() };
                        let (cfg, key, id) = (self.cfg.clone(), lock_key.clone(), info.id.clone());
                        spawn_renewal(cfg, key, id, renew.clone(), lost, renewed);
                        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
                    }
                    return Ok(Box::new(PgGuard {
                        worker,
                        lock_key,
                        lock_id: info.id.clone(),
                        flavor: self.cfg.flavor,
                        renew,
                        lease: self.lease.clone(),
                    }));
                }
                Some(holder) if start.elapsed() >= timeout => return Err(StateError::Locked(Box::new(holder))),
                Some(_) => {
                    std::thread::sleep(wait.min(timeout.saturating_sub(start.elapsed())));
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let lock_key = self.lock_key();
        let (id, flavor) = (id.to_string(), self.cfg.flavor);
        let adv = advisory_key(&lock_key);
        let done = self
            .worker
            .call(move |c| async move {
                let row = c.query_opt("SELECT lock_id FROM locks WHERE lock_key = $1", &[&lock_key]).await?;
                if row.map(|r| r.get::<_, String>(0)).as_deref() != Some(id.as_str()) {
                    return Ok(false);
                }
                if flavor == Flavor::Postgres {
                    // End the holder's session: its advisory lock goes with it.
                    c.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks
                         WHERE locktype = 'advisory' AND granted
                           AND ((classid::bigint << 32) | objid::bigint) = $1 AND pid <> pg_backend_pid()",
                        &[&adv],
                    )
                    .await?;
                }
                c.execute("DELETE FROM locks WHERE lock_key = $1 AND lock_id = $2", &[&lock_key, &id]).await?;
                Ok(true)
            })
            .map_err(|e| self.err(e))?;
        if done {
            Ok(())
        } else {
            Err(StateError::Unlock(format!("no lock with ID {} is held on this state", self.cfg.state_key)))
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
