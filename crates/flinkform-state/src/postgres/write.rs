//! A state write: the version (a whole body, or a delta of the pipelines changed since
//! the version before it; insert-only, under the write's own id), the compare-and-set of
//! the head (fenced by the lease in the Hologres flavor), then the derived rows.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use flinkform_core::state::{PipelineState, State};

use super::now_ms;

/// What a write adds: the whole state, or the pipelines changed since the version the
/// head names (a row of `state_deltas` that follows it).
pub(super) enum Version<'a> {
    /// The whole state's JSON.
    Body(&'a str),
    /// The delta's JSON, and the pipelines it names.
    Delta(&'a str, &'a BTreeSet<String>),
}

/// The write itself: the version's row, compare-and-set of the head, then the derived
/// rows (of the pipelines that changed since `before`, the state at `expected` when
/// this store wrote it; of every pipeline when it is `None`).
pub(super) async fn write(
    c: &Client,
    key: &str,
    (state, before): (&State, Option<&State>),
    expected: Option<u64>,
    version: Version<'_>,
    transactional: bool,
    fence: Option<&(String, String)>,
) -> Result<Written, tokio_postgres::Error> {
    let serial = state.serial as i64;
    let lock = if transactional { " FOR UPDATE" } else { "" };
    let found: Option<(i64, Option<String>)> = c
        .query_opt(&format!("SELECT serial, writer FROM state_head WHERE state_key = $1{lock}"), &[&key])
        .await?
        .map(|r| (r.get(0), r.get(1)));
    if found.as_ref().map(|(s, _)| *s as u64) != expected {
        return Ok(Written::Conflict(found.map(|(s, _)| s as u64)));
    }
    let follows = found.and_then(|(_, w)| w);
    let (lock_key, lock_id) = fence.map_or(("", ""), |(k, i)| (k.as_str(), i.as_str()));
    let held = held(fence);
    let now = now_ms();
    let writer = uuid::Uuid::new_v4().simple().to_string();
    // The version, insert-only under this write's own writer id: nobody else's is touched.
    let (table, inserted) = match version {
        Version::Body(body) => ("state_bodies", insert_body(c, key, (serial, &writer), body, now, fence).await?),
        Version::Delta(body, _) => (
            "state_deltas",
            c.execute(
                &format!(
                    "INSERT INTO state_deltas (state_key, serial, writer, prev_writer, body, written_ms)
                     SELECT $1, $2, $3, $8, $7, $4 WHERE {held}"
                ),
                &[&key, &serial, &writer, &now, &lock_key, &lock_id, &body, &follows],
            )
            .await?,
        ),
    };
    if inserted != 1 {
        return Ok(Written::Fenced);
    }
    // The commit point: compare-and-set on the head row (its serial and writer), fenced.
    // The version replaced becomes the previous one, with the base it has; a delta's
    // base is the body its chain starts from.
    let base = match version {
        Version::Body(_) => "base_serial = NULL, base_writer = NULL",
        Version::Delta(..) => {
            "base_serial = COALESCE(base_serial, serial),
             base_writer = CASE WHEN base_serial IS NULL THEN writer ELSE base_writer END"
        }
    };
    let flipped = match expected {
        None => {
            c.execute(
                &format!(
                    "INSERT INTO state_head (state_key, lineage, serial, written_ms, writer)
                     SELECT $1, $2, $3, $4, $7 WHERE {held} ON CONFLICT (state_key) DO NOTHING"
                ),
                &[&key, &state.lineage, &serial, &now, &lock_key, &lock_id, &writer],
            )
            .await?
        }
        Some(old) => {
            c.execute(
                &format!(
                    "UPDATE state_head SET serial = $3, lineage = $2, written_ms = $4, writer = $7,
                       prev_serial = serial, prev_writer = writer,
                       prev_base_serial = base_serial, prev_base_writer = base_writer, {base}
                     WHERE state_key = $1 AND serial = $8 AND writer IS NOT DISTINCT FROM $9 AND {held}"
                ),
                &[&key, &state.lineage, &serial, &now, &lock_key, &lock_id, &writer, &(old as i64), &follows],
            )
            .await?
        }
    };
    if flipped != 1 {
        // Only this write's own version goes: it is nobody else's.
        c.execute(
            &format!("DELETE FROM {table} WHERE state_key = $1 AND serial = $2 AND writer = $3"),
            &[&key, &serial, &writer],
        )
        .await?;
        let now_at: Option<i64> =
            c.query_opt("SELECT serial FROM state_head WHERE state_key = $1", &[&key]).await?.map(|r| r.get(0));
        return Ok(match now_at.map(|s| s as u64) {
            at if at != expected => Written::Conflict(at),
            _ => Written::Fenced,
        });
    }
    match version {
        Version::Body(_) => {
            write_derived(c, key, state, before, None, now).await?;
            trim(c, key).await?;
        }
        Version::Delta(_, changed) => write_derived(c, key, state, before, Some(changed), now).await?,
    }
    Ok(Written::Done)
}

/// Puts the whole state in place of the current version (the same serial: a chain of
/// deltas folded into a body), if the head still names `at` (serial and writer).
pub(super) async fn fold(
    c: &Client,
    key: &str,
    at: (i64, &str),
    body: &str,
    fence: Option<&(String, String)>,
) -> Result<Written, tokio_postgres::Error> {
    let (lock_key, lock_id) = fence.map_or(("", ""), |(k, i)| (k.as_str(), i.as_str()));
    let held = held(fence);
    let now = now_ms();
    let writer = uuid::Uuid::new_v4().simple().to_string();
    if insert_body(c, key, (at.0, &writer), body, now, fence).await? != 1 {
        return Ok(Written::Fenced);
    }
    let flipped = c
        .execute(
            &format!(
                "UPDATE state_head SET writer = $3, base_serial = NULL, base_writer = NULL
                 WHERE state_key = $1 AND serial = $2 AND writer = $7 AND base_serial IS NOT NULL AND {held}"
            ),
            &[&key, &at.0, &writer, &now, &lock_key, &lock_id, &at.1],
        )
        .await?;
    if flipped != 1 {
        c.execute(
            "DELETE FROM state_bodies WHERE state_key = $1 AND serial = $2 AND writer = $3",
            &[&key, &at.0, &writer],
        )
        .await?;
        return Ok(Written::Conflict(None));
    }
    trim(c, key).await?;
    Ok(Written::Done)
}

/// The condition that this writer still holds the lease (the Hologres flavor's fence), in
/// parameters `$4` (now), `$5` and `$6` (the lock's key and id): every statement of a
/// write acts only under it, so that a writer that lost the lease changes nothing.
fn held(fence: Option<&(String, String)>) -> &'static str {
    if fence.is_some() {
        "EXISTS (SELECT 1 FROM locks WHERE lock_key = $5::text AND lock_id = $6::text AND expires_ms >= $4::bigint)"
    } else {
        "($5::text = $5::text AND $6::text = $6::text AND $4::bigint = $4::bigint)"
    }
}

/// Inserts a body of `(serial, writer)`, fenced; the rows inserted.
async fn insert_body(
    c: &Client,
    key: &str,
    (serial, writer): (i64, &str),
    body: &str,
    now: i64,
    fence: Option<&(String, String)>,
) -> Result<u64, tokio_postgres::Error> {
    let (lock_key, lock_id) = fence.map_or(("", ""), |(k, i)| (k.as_str(), i.as_str()));
    let held = held(fence);
    c.execute(
        &format!(
            "INSERT INTO state_bodies (state_key, serial, writer, body, written_ms)
             SELECT $1, $2, $3, $7, $4 WHERE {held}"
        ),
        &[&key, &serial, &writer, &now, &lock_key, &lock_id, &body],
    )
    .await
}

/// Keeps the last 50 versions' bodies, and the deltas of the chains the head still reads
/// (the current version's and the previous one's); versions left by writers that lost
/// their race go with them.
async fn trim(c: &Client, key: &str) -> Result<(), tokio_postgres::Error> {
    let Some(row) = c
        .query_opt(
            "SELECT serial, COALESCE(base_serial, serial), COALESCE(prev_base_serial, prev_serial, serial)
             FROM state_head WHERE state_key = $1",
            &[&key],
        )
        .await?
    else {
        return Ok(());
    };
    let (serial, base, prev_base): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let needed = base.min(prev_base);
    for table in ["state_bodies", "state_versions"] {
        c.execute(
            &format!("DELETE FROM {table} WHERE state_key = $1 AND serial < $2"),
            &[&key, &(serial - 50).min(needed)],
        )
        .await?;
    }
    c.execute("DELETE FROM state_deltas WHERE state_key = $1 AND serial <= $2", &[&key, &needed]).await?;
    Ok(())
}

/// How a write ended.
pub(super) enum Written {
    Done,
    /// The head was at another serial (the one given).
    Conflict(Option<u64>),
    /// The writer no longer held the lease: nothing was written.
    Fenced,
}

/// The rows derived from a written state, for people and dashboards: one per
/// pipeline (`serial`: the write that last changed it), its last revision and its job.
/// Idempotent single-row writes, for the pipelines that differ from `before` only, so
/// that a journal write costs what changed, not the whole state; `names`, when given,
/// are the only pipelines that may have changed (a delta's), and nothing else is looked at.
async fn write_derived(
    c: &Client,
    key: &str,
    state: &State,
    before: Option<&State>,
    names: Option<&BTreeSet<String>>,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    let serial = state.serial as i64;
    // The pipelines looked at, and those of them no longer in the state.
    let (looked, gone): (Vec<&str>, Vec<&str>) = match names {
        Some(names) => (
            names.iter().map(String::as_str).filter(|n| state.pipelines.contains_key(*n)).collect(),
            names.iter().map(String::as_str).filter(|n| !state.pipelines.contains_key(*n)).collect(),
        ),
        None => (state.pipelines.keys().map(String::as_str).collect(), Vec::new()),
    };
    match names {
        Some(_) => c.execute("DELETE FROM pipelines WHERE state_key = $1 AND name = ANY($2)", &[&key, &gone]).await?,
        None => {
            c.execute("DELETE FROM pipelines WHERE state_key = $1 AND NOT (name = ANY($2))", &[&key, &looked]).await?
        }
    };
    let changed = looked
        .iter()
        .filter_map(|name| state.pipelines.get_key_value(*name))
        .filter(|(name, p)| before.and_then(|b| b.pipelines.get(*name)) != Some(*p));
    write_pipeline_rows(c, key, &changed.collect::<Vec<_>>(), serial, now).await?;
    // A job that is no longer a pipeline's job was stopped by an update, a replace or a
    // repair; the jobs of a pipeline no longer in the state were destroyed with it.
    let (with_job, current): (Vec<&str>, Vec<&str>) =
        looked.iter().filter_map(|n| Some((*n, state.pipelines.get(*n)?.remote.job_id.as_deref()?))).unzip();
    c.execute(
        "UPDATE jobs SET status = 'stopped', updated_ms = $4
         WHERE state_key = $1 AND status NOT IN ('stopped', 'failed', 'destroyed')
           AND (name, job_id) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))
           AND name = ANY($2::text[])",
        &[&key, &with_job, &current, &now],
    )
    .await?;
    let destroyed = match names {
        Some(_) => ("name = ANY($2::text[])", &gone),
        None => ("NOT (name = ANY($2::text[]))", &looked),
    };
    c.execute(
        &format!(
            "UPDATE jobs SET status = 'destroyed', updated_ms = $3
             WHERE state_key = $1 AND status <> 'destroyed' AND {}",
            destroyed.0
        ),
        &[&key, destroyed.1, &now],
    )
    .await?;
    Ok(())
}

/// The pipelines' rows, their last revisions' and their jobs' (idempotent upserts): three
/// statements whatever their number, each carrying a column per array.
async fn write_pipeline_rows(
    c: &Client,
    key: &str,
    changed: &[(&String, &PipelineState)],
    serial: i64,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    if changed.is_empty() {
        return Ok(());
    }
    let (workspace, namespace) = key.split_once('/').unwrap_or((key, ""));
    let col = |f: fn(&PipelineState) -> Option<&str>| changed.iter().map(|(_, p)| f(p)).collect::<Vec<_>>();
    let names: Vec<&str> = changed.iter().map(|(n, _)| n.as_str()).collect();
    let digests: Vec<String> = changed.iter().map(|(_, p)| flinkform_core::spec::digest(&[p.sql.as_bytes()])).collect();
    c.execute(
        "INSERT INTO pipelines (state_key, name, file, status, topic, sink_table, deployment_id, job_id, sql_digest, serial)
         SELECT $1, n, f, s, t, k, d, j, g, $10
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
           AS r(n, f, s, t, k, d, j, g)
         ON CONFLICT (state_key, name) DO UPDATE SET file = excluded.file, status = excluded.status, topic = excluded.topic,
           sink_table = excluded.sink_table, deployment_id = excluded.deployment_id, job_id = excluded.job_id,
           sql_digest = excluded.sql_digest, serial = excluded.serial",
        &[
            &key,
            &names,
            &col(|p| Some(&p.file)),
            &col(|p| Some(p.status.name())),
            &col(|p| Some(&p.topic)),
            &col(|p| Some(&p.sink_table)),
            &col(|p| p.remote.deployment_id.as_deref()),
            &col(|p| p.remote.job_id.as_deref()),
            &digests,
            &serial,
        ],
    )
    .await?;
    let revised: Vec<(&str, &PipelineState, &flinkform_core::state::Revision)> =
        changed.iter().filter_map(|(n, p)| Some((n.as_str(), *p, p.history.last()?))).collect();
    let rcol = |f: fn(&PipelineState, &flinkform_core::state::Revision) -> String| {
        revised.iter().map(|(_, p, r)| f(p, r)).collect::<Vec<_>>()
    };
    c.execute(
        "INSERT INTO revisions (state_key, name, serial, action, sql, ddl, sql_digest, ddl_digest, applied_at)
         SELECT $1, n, v, a, s, d, sd, dd, t
         FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
           AS r(n, v, a, s, d, sd, dd, t)
         ON CONFLICT (state_key, name, serial) DO NOTHING",
        &[
            &key,
            &revised.iter().map(|(n, _, _)| *n).collect::<Vec<_>>(),
            &revised.iter().map(|(_, _, r)| r.serial as i64).collect::<Vec<_>>(),
            &rcol(|_, r| r.action.name().to_string()),
            &rcol(|p, _| p.sql.clone()),
            &rcol(|p, _| p.ddl.clone()),
            &rcol(|_, r| r.sql_digest.clone()),
            &rcol(|_, r| r.ddl_digest.clone()),
            &rcol(|_, r| r.stamp.at.clone()),
        ],
    )
    .await?;
    // A job id named twice (a state edited by hand) is one row, the last pipeline's, as
    // upserts one after the other would leave it.
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let running: Vec<(&str, &str, &str, &PipelineState)> = changed
        .iter()
        .filter_map(|(n, p)| Some((n.as_str(), p.remote.deployment_id.as_deref()?, p.remote.job_id.as_deref()?, *p)))
        .collect();
    for (i, r) in running.iter().enumerate() {
        last.insert(r.2, i);
    }
    let running: Vec<_> = running.iter().enumerate().filter(|(i, r)| last[r.2] == *i).map(|(_, r)| *r).collect();
    let conf: Vec<String> = running
        .iter()
        .map(|(_, _, _, p)| serde_json::to_value(&p.deploy.flink_conf).unwrap_or_default().to_string())
        .collect();
    c.execute(
        "INSERT INTO jobs (state_key, job_id, name, deployment_id, workspace, namespace, status, error, flink_conf, created_ms, updated_ms)
         SELECT $1, j, n, d, $5, $6, s, e, c::jsonb, $10, $10
         FROM unnest($2::text[], $3::text[], $4::text[], $7::text[], $8::text[], $9::text[]) AS r(j, n, d, s, e, c)
         ON CONFLICT (state_key, job_id) DO UPDATE SET status = excluded.status, error = excluded.error, updated_ms = excluded.updated_ms",
        &[
            &key,
            &running.iter().map(|r| r.2).collect::<Vec<_>>(),
            &running.iter().map(|r| r.0).collect::<Vec<_>>(),
            &running.iter().map(|r| r.1).collect::<Vec<_>>(),
            &workspace,
            &namespace,
            &running.iter().map(|r| r.3.status.name()).collect::<Vec<_>>(),
            &running.iter().map(|r| r.3.error.as_deref()).collect::<Vec<_>>(),
            &conf,
            &now,
        ],
    )
    .await?;
    Ok(())
}
