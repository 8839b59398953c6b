-- flinkform state, version 1. Every statement is idempotent and runs on its own
-- (Hologres allows no DDL and DML in one transaction). Tables are row-oriented with a
-- primary key wherever Hologres would otherwise lock whole tables on write.

-- One row per state (workspace/namespace): the current serial. The commit point of
-- every write is a compare-and-set on this row.
CREATE TABLE IF NOT EXISTS state_head (
    state_key  text   NOT NULL PRIMARY KEY,
    lineage    text   NOT NULL,
    serial     bigint NOT NULL,
    written_ms bigint NOT NULL
);

-- Every written version of a state, whole (JSON of the state file format).
CREATE TABLE IF NOT EXISTS state_versions (
    state_key  text   NOT NULL,
    serial     bigint NOT NULL,
    body       text   NOT NULL,
    written_ms bigint NOT NULL,
    PRIMARY KEY (state_key, serial)
);

-- The current pipelines, for SQL queries by people and dashboards.
CREATE TABLE IF NOT EXISTS pipelines (
    state_key     text   NOT NULL,
    name          text   NOT NULL,
    file          text   NOT NULL,
    status        text   NOT NULL,
    topic         text   NOT NULL,
    sink_table    text   NOT NULL,
    deployment_id text,
    job_id        text,
    sql_digest    text   NOT NULL,
    serial        bigint NOT NULL,
    PRIMARY KEY (state_key, name)
);

-- Every SQL and DDL ever applied (the old tool's flink_sql_record).
CREATE TABLE IF NOT EXISTS revisions (
    state_key  text   NOT NULL,
    name       text   NOT NULL,
    serial     bigint NOT NULL,
    action     text   NOT NULL,
    sql        text   NOT NULL,
    ddl        text   NOT NULL,
    sql_digest text   NOT NULL,
    ddl_digest text   NOT NULL,
    applied_at text   NOT NULL,
    PRIMARY KEY (state_key, name, serial)
);

-- Every job's lifecycle (the old tool's aliyun_flink_jobs).
CREATE TABLE IF NOT EXISTS jobs (
    state_key     text   NOT NULL,
    job_id        text   NOT NULL,
    name          text   NOT NULL,
    deployment_id text   NOT NULL,
    workspace     text   NOT NULL,
    namespace     text   NOT NULL,
    status        text   NOT NULL,
    error         text,
    flink_conf    jsonb  NOT NULL,
    created_ms    bigint NOT NULL,
    updated_ms    bigint NOT NULL,
    PRIMARY KEY (state_key, job_id)
);

-- Who holds the lock of a state (and, for the hologres flavor, the lease itself).
CREATE TABLE IF NOT EXISTS locks (
    lock_key   text   NOT NULL PRIMARY KEY,
    lock_id    text   NOT NULL,
    who        text   NOT NULL,
    pid        bigint NOT NULL,
    host       text   NOT NULL,
    operation  text   NOT NULL,
    created    text   NOT NULL,
    expires_ms bigint NOT NULL
);
