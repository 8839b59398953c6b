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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::Client;

use flinkform_core::state::{LockGuard, LockInfo, State, StateError, StateStore, parse};
use flinkform_core::types::quote_pg_ident;

use crate::pg::PgError;

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
pub const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "0001_state.sql", include_str!("../../../migrations/0001_state.sql"))];

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
}

impl PgStore {
    /// Connects and applies pending migrations (safe when several start at once).
    pub fn open(cfg: PgConfig) -> Result<PgStore, StateError> {
        let store = PgStore { worker: Worker::connect(&cfg).map_err(|e| err(&cfg, e))?, cfg };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StateError {
        err(&self.cfg, cause)
    }

    fn migrate(&self) -> Result<(), StateError> {
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

/// Applying the migrations failed.
#[derive(Debug, thiserror::Error)]
#[error("applying migrations failed")]
struct Migrating(#[source] PgError);

/// A stable 64-bit advisory lock key for a name.
fn advisory_key(name: &str) -> i64 {
    let d = flinkform_core::spec::digest(&[name.as_bytes()]);
    i64::from_str_radix(&d[..15], 16).unwrap_or(0)
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
    fn load(&self) -> Result<Option<State>, StateError> {
        let key = self.cfg.state_key.clone();
        let body = self
            .worker
            .call(move |c| async move {
                let Some(head) = c.query_opt("SELECT serial FROM state_head WHERE state_key = $1", &[&key]).await?
                else {
                    return Ok(None);
                };
                let serial: i64 = head.get(0);
                let row = c
                    .query_opt("SELECT body FROM state_versions WHERE state_key = $1 AND serial = $2", &[&key, &serial])
                    .await?;
                Ok(Some(row.map(|r| r.get::<_, String>(0))))
            })
            .map_err(|e| self.err(e))?;
        let shown = format!("postgres state {} (schema {})", self.cfg.state_key, self.cfg.schema);
        match body {
            None => Ok(None),
            Some(None) => {
                Err(StateError::Corrupt { path: shown, reason: "the head names a version that is missing".into() })
            }
            Some(Some(text)) => parse(&text, &shown).map(Some),
        }
    }

    fn save(&self, state: &State, expected: Option<u64>) -> Result<(), StateError> {
        let key = self.cfg.state_key.clone();
        let body = serde_json::to_string(state).map_err(|e| self.err(e))?;
        let state = state.clone();
        let transactional = self.cfg.flavor == Flavor::Postgres;
        let outcome = self
            .worker
            .call(move |c| async move {
                if transactional {
                    c.batch_execute("BEGIN").await?;
                }
                let r = write(&c, &key, &state, expected, &body, transactional).await;
                match &r {
                    Ok(Ok(())) if transactional => c.batch_execute("COMMIT").await?,
                    _ if transactional => c.batch_execute("ROLLBACK").await?,
                    _ => {}
                }
                r
            })
            .map_err(|e| self.err(e))?;
        outcome.map_err(|found| StateError::Conflict { expected, found })
    }

    fn lock(&self, info: &LockInfo, timeout: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        let lock_key = format!("{}/{}", self.cfg.schema, self.cfg.state_key);
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
                        spawn_renewal(self.cfg.clone(), lock_key.clone(), info.id.clone(), renew.clone());
                    }
                    return Ok(Box::new(PgGuard {
                        worker,
                        lock_key,
                        lock_id: info.id.clone(),
                        flavor: self.cfg.flavor,
                        renew,
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
        let lock_key = format!("{}/{}", self.cfg.schema, self.cfg.state_key);
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
}

/// The write itself: version row, compare-and-set of the head, then the derived rows.
/// `Ok(Err(found))` when the head was not at `expected`.
async fn write(
    c: &Client,
    key: &str,
    state: &State,
    expected: Option<u64>,
    body: &str,
    transactional: bool,
) -> Result<Result<(), Option<u64>>, tokio_postgres::Error> {
    let serial = state.serial as i64;
    let lock = if transactional { " FOR UPDATE" } else { "" };
    let found: Option<i64> = c
        .query_opt(&format!("SELECT serial FROM state_head WHERE state_key = $1{lock}"), &[&key])
        .await?
        .map(|r| r.get(0));
    if found.map(|s| s as u64) != expected {
        return Ok(Err(found.map(|s| s as u64)));
    }
    let now = now_ms();
    c.execute(
        "INSERT INTO state_versions (state_key, serial, body, written_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (state_key, serial) DO UPDATE SET body = excluded.body, written_ms = excluded.written_ms",
        &[&key, &serial, &body, &now],
    )
    .await?;
    // The commit point: compare-and-set on the head row.
    let flipped = match expected {
        None => {
            c.execute(
                "INSERT INTO state_head (state_key, lineage, serial, written_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (state_key) DO NOTHING",
                &[&key, &state.lineage, &serial, &now],
            )
            .await?
        }
        Some(old) => {
            c.execute(
                "UPDATE state_head SET serial = $3, lineage = $2, written_ms = $4 WHERE state_key = $1 AND serial = $5",
                &[&key, &state.lineage, &serial, &now, &(old as i64)],
            )
            .await?
        }
    };
    if flipped != 1 {
        if !transactional {
            c.execute(
                "DELETE FROM state_versions WHERE state_key = $1 AND serial = $2 AND written_ms = $3",
                &[&key, &serial, &now],
            )
            .await?;
        }
        let now_at: Option<i64> =
            c.query_opt("SELECT serial FROM state_head WHERE state_key = $1", &[&key]).await?.map(|r| r.get(0));
        return Ok(Err(now_at.map(|s| s as u64)));
    }
    write_derived(c, key, state, now).await?;
    // Keep the last 50 versions.
    c.execute("DELETE FROM state_versions WHERE state_key = $1 AND serial < $2", &[&key, &(serial - 50)]).await?;
    Ok(Ok(()))
}

/// The rows derived from a written state, for people and dashboards: one per
/// pipeline, its last revision and its job. Idempotent single-row writes.
async fn write_derived(c: &Client, key: &str, state: &State, now: i64) -> Result<(), tokio_postgres::Error> {
    let serial = state.serial as i64;
    let (workspace, namespace) = key.split_once('/').unwrap_or((key, ""));
    let names: Vec<&str> = state.pipelines.keys().map(String::as_str).collect();
    c.execute("DELETE FROM pipelines WHERE state_key = $1 AND NOT (name = ANY($2))", &[&key, &names]).await?;
    for (name, p) in &state.pipelines {
        let digest = flinkform_core::spec::digest(&[p.sql.as_bytes()]);
        c.execute(
            "INSERT INTO pipelines (state_key, name, file, status, topic, sink_table, deployment_id, job_id, sql_digest, serial)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (state_key, name) DO UPDATE SET file = excluded.file, status = excluded.status, topic = excluded.topic,
               sink_table = excluded.sink_table, deployment_id = excluded.deployment_id, job_id = excluded.job_id,
               sql_digest = excluded.sql_digest, serial = excluded.serial",
            &[&key, name, &p.file, &p.status.name(), &p.topic, &p.sink_table, &p.remote.deployment_id, &p.remote.job_id, &digest, &serial],
        )
        .await?;
        if let Some(r) = p.history.last() {
            c.execute(
                "INSERT INTO revisions (state_key, name, serial, action, sql, ddl, sql_digest, ddl_digest, applied_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (state_key, name, serial) DO NOTHING",
                &[
                    &key,
                    name,
                    &(r.serial as i64),
                    &r.action.name(),
                    &p.sql,
                    &p.ddl,
                    &r.sql_digest,
                    &r.ddl_digest,
                    &r.at,
                ],
            )
            .await?;
        }
        if let (Some(dep), Some(job)) = (&p.remote.deployment_id, &p.remote.job_id) {
            let conf = serde_json::to_value(&p.deploy.flink_conf).unwrap_or_default();
            c.execute(
                "INSERT INTO jobs (state_key, job_id, name, deployment_id, workspace, namespace, status, error, flink_conf, created_ms, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                 ON CONFLICT (state_key, job_id) DO UPDATE SET status = excluded.status, error = excluded.error, updated_ms = excluded.updated_ms",
                &[&key, job, name, dep, &workspace, &namespace, &p.status.name(), &p.error, &conf, &now],
            )
            .await?;
        }
    }
    Ok(())
}

fn info_row(r: &tokio_postgres::Row) -> LockInfo {
    LockInfo {
        id: r.get("lock_id"),
        who: r.get("who"),
        pid: r.get::<_, i64>("pid") as u32,
        host: r.get("host"),
        operation: r.get("operation"),
        created: r.get("created"),
    }
}

/// Tries the advisory lock; `Some(holder)` when someone else has it.
fn try_advisory(w: &Worker, lock_key: &str, info: &LockInfo) -> Result<Option<LockInfo>, PgError> {
    let (lock_key, info) = (lock_key.to_string(), info.clone());
    let adv = advisory_key(&lock_key);
    w.call(move |c| async move {
        let got: bool = c.query_one("SELECT pg_try_advisory_lock($1)", &[&adv]).await?.get(0);
        if !got {
            let row = c.query_opt("SELECT * FROM locks WHERE lock_key = $1", &[&lock_key]).await?;
            return Ok(Some(row.as_ref().map(info_row).unwrap_or_else(unknown_holder)));
        }
        upsert_info(&c, &lock_key, &info, i64::MAX, None).await?;
        Ok(None)
    })
}

fn unknown_holder() -> LockInfo {
    LockInfo {
        id: "?".into(),
        who: "another session".into(),
        pid: 0,
        host: "?".into(),
        operation: "?".into(),
        created: "?".into(),
    }
}

/// Writes the lock-info row; with `unless_live_at`, only over a lease that expired
/// before that time (the Hologres flavor's conditional claim).
async fn upsert_info(
    c: &Client,
    lock_key: &str,
    info: &LockInfo,
    expires_ms: i64,
    unless_live_at: Option<i64>,
) -> Result<u64, tokio_postgres::Error> {
    let only_expired = if unless_live_at.is_some() { " WHERE locks.expires_ms < $9" } else { "" };
    let sql = format!(
        "INSERT INTO locks (lock_key, lock_id, who, pid, host, operation, created, expires_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (lock_key) DO UPDATE SET lock_id = excluded.lock_id, who = excluded.who, pid = excluded.pid,
           host = excluded.host, operation = excluded.operation, created = excluded.created, expires_ms = excluded.expires_ms{only_expired}"
    );
    let pid = info.pid as i64;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&lock_key, &info.id, &info.who, &pid, &info.host, &info.operation, &info.created, &expires_ms];
    if let Some(t) = &unless_live_at {
        params.push(t);
    }
    c.execute(&sql, &params).await
}

/// Tries to claim the lease row; `Some(holder)` when an unexpired lease is someone else's.
fn try_lease(w: &Worker, lock_key: &str, info: &LockInfo, ttl: Duration) -> Result<Option<LockInfo>, PgError> {
    let (lock_key, info) = (lock_key.to_string(), info.clone());
    w.call(move |c| async move {
        let now = now_ms();
        upsert_info(&c, &lock_key, &info, now + ttl.as_millis() as i64, Some(now)).await?;
        // No RETURNING with ON CONFLICT on Hologres: read the row back to see who won.
        let row = c.query_one("SELECT * FROM locks WHERE lock_key = $1", &[&lock_key]).await?;
        let holder = info_row(&row);
        Ok(if holder.id == info.id { None } else { Some(holder) })
    })
}

/// Renews a lease every third of its duration while `alive`.
fn spawn_renewal(cfg: PgConfig, lock_key: String, lock_id: String, alive: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(w) = Worker::connect(&cfg) else { return };
        let every = cfg.lease_ttl / 3;
        while alive.load(Ordering::Relaxed) {
            std::thread::sleep(every.max(Duration::from_millis(50)));
            if !alive.load(Ordering::Relaxed) {
                break;
            }
            let (k, id, ttl) = (lock_key.clone(), lock_id.clone(), cfg.lease_ttl);
            let _ = w.call(move |c| async move {
                c.execute(
                    "UPDATE locks SET expires_ms = $3 WHERE lock_key = $1 AND lock_id = $2",
                    &[&k, &id, &(now_ms() + ttl.as_millis() as i64)],
                )
                .await
            });
        }
    });
}

struct PgGuard {
    worker: Worker,
    lock_key: String,
    lock_id: String,
    flavor: Flavor,
    renew: Arc<AtomicBool>,
}

impl LockGuard for PgGuard {}

impl Drop for PgGuard {
    fn drop(&mut self) {
        self.renew.store(false, Ordering::Relaxed);
        let (k, id, flavor) = (self.lock_key.clone(), self.lock_id.clone(), self.flavor);
        let adv = advisory_key(&k);
        let _ = self.worker.call(move |c| async move {
            c.execute("DELETE FROM locks WHERE lock_key = $1 AND lock_id = $2", &[&k, &id]).await?;
            if flavor == Flavor::Postgres {
                c.execute("SELECT pg_advisory_unlock($1)", &[&adv]).await?;
            }
            Ok(())
        });
    }
}
