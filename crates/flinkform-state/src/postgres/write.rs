//! A state write: the body (insert-only, under the write's own id), the compare-and-set
//! of the head (fenced by the lease in the Hologres flavor), then the derived rows.

use tokio_postgres::Client;

use flinkform_core::state::State;

use super::now_ms;

/// The write itself: version row, compare-and-set of the head, then the derived rows
/// (of the pipelines that changed since `before`, the state at `expected` when this
/// store wrote it; of every pipeline when it is `None`).
pub(super) async fn write(
    c: &Client,
    key: &str,
    (state, before): (&State, Option<&State>),
    expected: Option<u64>,
    body: &str,
    transactional: bool,
    fence: Option<&(String, String)>,
) -> Result<Written, tokio_postgres::Error> {
    let serial = state.serial as i64;
    let lock = if transactional { " FOR UPDATE" } else { "" };
    let found: Option<i64> = c
        .query_opt(&format!("SELECT serial FROM state_head WHERE state_key = $1{lock}"), &[&key])
        .await?
        .map(|r| r.get(0));
    if found.map(|s| s as u64) != expected {
        return Ok(Written::Conflict(found.map(|s| s as u64)));
    }
    // Every statement below acts only while this writer still holds the lease (the
    // Hologres flavor's fence): a writer that lost it changes nothing.
    let (lock_key, lock_id) = fence.map_or(("", ""), |(k, i)| (k.as_str(), i.as_str()));
    let held = if fence.is_some() {
        "EXISTS (SELECT 1 FROM locks WHERE lock_key = $5::text AND lock_id = $6::text AND expires_ms >= $4::bigint)"
    } else {
        "($5::text = $5::text AND $6::text = $6::text AND $4::bigint = $4::bigint)"
    };
    let now = now_ms();
    let writer = uuid::Uuid::new_v4().simple().to_string();
    // The body, insert-only under this write's own writer id: nobody else's is touched.
    let inserted = c
        .execute(
            &format!(
                "INSERT INTO state_bodies (state_key, serial, writer, body, written_ms)
                 SELECT $1, $2, $3, $7, $4 WHERE {held}"
            ),
            &[&key, &serial, &writer, &now, &lock_key, &lock_id, &body],
        )
        .await?;
    if inserted != 1 {
        return Ok(Written::Fenced);
    }
    // The commit point: compare-and-set on the head row, fenced.
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
                       prev_serial = serial, prev_writer = writer
                     WHERE state_key = $1 AND serial = $8 AND {held}"
                ),
                &[&key, &state.lineage, &serial, &now, &lock_key, &lock_id, &writer, &(old as i64)],
            )
            .await?
        }
    };
    if flipped != 1 {
        // Only this write's own body goes: it is nobody else's.
        c.execute(
            "DELETE FROM state_bodies WHERE state_key = $1 AND serial = $2 AND writer = $3",
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
    write_derived(c, key, state, before, now).await?;
    // Keep the last 50 versions.
    for table in ["state_bodies", "state_versions"] {
        c.execute(&format!("DELETE FROM {table} WHERE state_key = $1 AND serial < $2"), &[&key, &(serial - 50)])
            .await?;
    }
    Ok(Written::Done)
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
/// that a journal write costs what changed, not the whole state.
async fn write_derived(
    c: &Client,
    key: &str,
    state: &State,
    before: Option<&State>,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    let serial = state.serial as i64;
    let (workspace, namespace) = key.split_once('/').unwrap_or((key, ""));
    let names: Vec<&str> = state.pipelines.keys().map(String::as_str).collect();
    c.execute("DELETE FROM pipelines WHERE state_key = $1 AND NOT (name = ANY($2))", &[&key, &names]).await?;
    let changed = state.pipelines.iter().filter(|(name, p)| before.and_then(|b| b.pipelines.get(*name)) != Some(*p));
    for (name, p) in changed {
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
                    &r.stamp.at,
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
    // A job that is no longer a pipeline's job was stopped by an update, a replace or a
    // repair; the jobs of a pipeline no longer in the state were destroyed with it.
    let (with_job, current): (Vec<&str>, Vec<&str>) =
        state.pipelines.iter().filter_map(|(n, p)| Some((n.as_str(), p.remote.job_id.as_deref()?))).unzip();
    c.execute(
        "UPDATE jobs SET status = 'stopped', updated_ms = $4
         WHERE state_key = $1 AND status NOT IN ('stopped', 'failed', 'destroyed')
           AND (name, job_id) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))
           AND name = ANY($2::text[])",
        &[&key, &with_job, &current, &now],
    )
    .await?;
    c.execute(
        "UPDATE jobs SET status = 'destroyed', updated_ms = $3
         WHERE state_key = $1 AND status <> 'destroyed' AND NOT (name = ANY($2::text[]))",
        &[&key, &names, &now],
    )
    .await?;
    Ok(())
}
