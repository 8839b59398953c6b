//! The state lock: a session advisory lock (PostgreSQL), or a lease row renewed while
//! held (Hologres, which has no advisory locks), with the holder's info in `locks`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use flinkform_core::state::{LockGuard, LockInfo};

use super::{Flavor, Lease, PgConfig, Worker, advisory_key, now_ms};
use crate::pg::PgError;

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
pub(super) fn try_advisory(w: &Worker, lock_key: &str, info: &LockInfo) -> Result<Option<LockInfo>, PgError> {
    let (lock_key, info) = (lock_key.to_string(), info.clone());
    let adv = advisory_key(&lock_key);
    w.call(move |c| async move {
        let got: bool = c.query_one("SELECT pg_try_advisory_lock($1)", &[&adv]).await?.get(0);
        if !got {
            // The holder writes its info right after taking the lock, in its own
            // statement: give it a moment rather than report an unknown holder.
            for _ in 0..20 {
                if let Some(row) = c.query_opt("SELECT * FROM locks WHERE lock_key = $1", &[&lock_key]).await? {
                    return Ok(Some(info_row(&row)));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Ok(Some(unknown_holder()));
        }
        match upsert_info(&c, &lock_key, &info, i64::MAX, None).await {
            Ok(_) => Ok(None),
            // A role that may only read holds the lock without naming itself: enough to
            // plan (others see an unknown holder); a command that writes fails later,
            // at its first write, before it calls VVP.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                tracing::debug!(error = %e, "the state's role cannot write the lock's holder");
                Ok(None)
            }
            Err(e) => Err(e),
        }
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
pub(super) fn try_lease(
    w: &Worker,
    lock_key: &str,
    info: &LockInfo,
    ttl: Duration,
) -> Result<Option<LockInfo>, PgError> {
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

/// Renews a lease every third of its duration while `alive`. Sets `lost` when the
/// row is no longer ours (taken over after it expired) or when renewals failed for
/// longer than the lease lasts: the holder then writes nothing more.
pub(super) fn spawn_renewal(
    cfg: PgConfig,
    lock_key: String,
    lock_id: String,
    alive: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    renewed_at: Arc<std::sync::Mutex<Instant>>,
) {
    std::thread::spawn(move || {
        let every = (cfg.lease_ttl / 3).max(Duration::from_millis(50));
        let mut renewed = Instant::now();
        let mut worker = Worker::connect(&cfg).ok();
        while alive.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            if !alive.load(Ordering::Relaxed) {
                break;
            }
            let (k, id, ttl) = (lock_key.clone(), lock_id.clone(), cfg.lease_ttl);
            let outcome = match &worker {
                Some(w) => w.call(move |c| async move {
                    let now = now_ms();
                    c.execute(
                        "UPDATE locks SET expires_ms = $3 WHERE lock_key = $1 AND lock_id = $2 AND expires_ms >= $4",
                        &[&k, &id, &(now + ttl.as_millis() as i64), &now],
                    )
                    .await
                }),
                None => Err(PgError::Closed),
            };
            match outcome {
                Ok(1) => {
                    renewed = Instant::now();
                    *renewed_at.lock().unwrap_or_else(|e| e.into_inner()) = renewed;
                }
                Ok(_) => {
                    tracing::warn!(lock = %lock_id, "the state lease was taken over or expired");
                    lost.store(true, Ordering::SeqCst);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, lock = %lock_id, "renewing the state lease failed");
                    if renewed.elapsed() >= cfg.lease_ttl {
                        lost.store(true, Ordering::SeqCst);
                        break;
                    }
                    worker = Worker::connect(&cfg).ok();
                }
            }
        }
    });
}

pub(super) struct PgGuard {
    pub(super) worker: Worker,
    pub(super) lock_key: String,
    pub(super) lock_id: String,
    pub(super) flavor: Flavor,
    pub(super) renew: Arc<AtomicBool>,
    pub(super) lease: Arc<std::sync::Mutex<Option<Lease>>>,
}

impl LockGuard for PgGuard {}

impl Drop for PgGuard {
    fn drop(&mut self) {
        self.renew.store(false, Ordering::Relaxed);
        let mut lease = self.lease.lock().unwrap_or_else(|e| e.into_inner());
        if lease.as_ref().is_some_and(|l| l.lock_id == self.lock_id) {
            *lease = None;
        }
        drop(lease);
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
