//! The sink database (Hologres, or PostgreSQL with `dialect = "postgres"`): runs the
//! planned DDL before a job is deployed, and reads the live table so that the plan can
//! report a contract mismatch before apply. The IO edge of `[sink] dsn_env`.

use std::collections::HashSet;

use flinkform_core::plan::{LiveColumn, LiveTable, SinkDdl};
use flinkform_core::schema::{DimColumn, Dimension};
use flinkform_core::types::FlinkType;
use flinkform_state::pg::PgError;

/// Runs the planned DDL: the CREATE script as one statement batch (one transaction),
/// only where the table does not exist yet (so a property set in it never touches a
/// table made before), then each ADD COLUMN the live table still lacks. Returns what
/// was run.
pub async fn run_ddl(env: &str, schema: &str, table: &str, ddl: &[SinkDdl]) -> Result<Vec<String>, PgError> {
    run_ddl_on(&flinkform_state::pg::connect_env(env).await?, schema, table, ddl).await
}

/// [`run_ddl`] on a connected database.
pub async fn run_ddl_on(
    c: &tokio_postgres::Client,
    schema: &str,
    table: &str,
    ddl: &[SinkDdl],
) -> Result<Vec<String>, PgError> {
    let names = async || -> Result<HashSet<String>, PgError> {
        Ok(columns(c, schema, table).await?.into_iter().map(|r| r.name).collect())
    };
    let mut have = names().await?;
    let mut ran = Vec::new();
    for d in ddl {
        let skip = match d {
            SinkDdl::Create { .. } => !have.is_empty(),
            SinkDdl::AddColumn { column, .. } => have.contains(column),
        };
        if skip {
            continue;
        }
        c.batch_execute(d.sql()).await?;
        ran.push(d.sql().to_string());
        match d {
            SinkDdl::Create { .. } => have = names().await?,
            SinkDdl::AddColumn { column, .. } => {
                have.insert(column.clone());
            }
        }
    }
    Ok(ran)
}

/// A column of a table as `information_schema.columns` has it.
struct ColumnRow {
    name: String,
    udt: String,
    not_null: bool,
    has_default: bool,
    precision: Option<i32>,
    scale: Option<i32>,
    datetime_precision: Option<i32>,
}

/// A table's columns in order; none when the table does not exist.
async fn columns(c: &tokio_postgres::Client, schema: &str, table: &str) -> Result<Vec<ColumnRow>, PgError> {
    let rows = c
        .query(
            "SELECT column_name::text, udt_name::text, is_nullable::text = 'NO', column_default IS NOT NULL,
                    numeric_precision::int4, numeric_scale::int4, datetime_precision::int4
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ColumnRow {
            name: r.get(0),
            udt: r.get(1),
            not_null: r.get(2),
            has_default: r.get(3),
            precision: r.get(4),
            scale: r.get(5),
            datetime_precision: r.get(6),
        })
        .collect())
}

/// The live table, or `None` when it does not exist yet.
pub async fn live_table(env: &str, schema: &str, table: &str) -> Result<Option<LiveTable>, PgError> {
    let c = flinkform_state::pg::connect_env(env).await?;
    let rows = columns(&c, schema, table).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows
        .into_iter()
        .map(|r| LiveColumn { name: r.name, udt: r.udt, not_null: r.not_null, has_default: r.has_default })
        .collect();
    Ok(Some(LiveTable { columns, primary_key: primary_key(&c, schema, table).await? }))
}

/// The primary key columns of a table, in key order.
async fn primary_key(c: &tokio_postgres::Client, schema: &str, table: &str) -> Result<Vec<String>, PgError> {
    let rows = c
        .query(
            "SELECT k.column_name::text FROM information_schema.table_constraints t
             JOIN information_schema.key_column_usage k
               ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema AND k.table_name = t.table_name
             WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = $1 AND t.table_name = $2
             ORDER BY k.ordinal_position",
            &[&schema, &table],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A dimension table (`[[lookup]]`) as the live database has it: each column's type and
/// the primary key, or `None` when it does not exist. Runs on a thread of its own with
/// its own runtime, so it is callable from any code.
pub fn dimension(env: &str, schema: &str, table: &str) -> Result<Option<Dimension>, PgError> {
    let (env, schema, table) = (env.to_string(), schema.to_string(), table.to_string());
    let read = move || -> Result<Option<Dimension>, PgError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PgError::Thread)?;
        rt.block_on(async {
            let c = flinkform_state::pg::connect_env(&env).await?;
            let rows = columns(&c, &schema, &table).await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let columns = rows
                .into_iter()
                .map(|r| {
                    let (sql, ty) = FlinkType::of_postgres(&r.udt, r.precision, r.scale, r.datetime_precision);
                    DimColumn { name: r.name, sql, ty }
                })
                .collect();
            Ok(Some(Dimension { columns, primary_key: primary_key(&c, &schema, &table).await? }))
        })
    };
    std::thread::scope(|s| s.spawn(read).join().expect("the dimension reader panicked"))
}
