-- flinkform state, version 2: the body of every write under a writer id of its own,
-- insert-only, so that writers racing for one serial never overwrite or delete each
-- other's body. The head names the serial and the writer of the current body, and
-- those of the one before it (what `state restore` puts back). Bodies written before
-- this migration stay in state_versions and are read from there (head writer NULL).
CREATE TABLE IF NOT EXISTS state_bodies (
    state_key  text   NOT NULL,
    serial     bigint NOT NULL,
    writer     text   NOT NULL,
    body       text   NOT NULL,
    written_ms bigint NOT NULL,
    PRIMARY KEY (state_key, serial, writer)
);

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS writer text;

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS prev_serial bigint;

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS prev_writer text;
