-- flinkform state, version 4: journal writes of an apply as deltas, so that a write costs
-- what changed. A delta holds the pipelines one write changed, and follows the version of
-- the serial before it, by that version's writer (a delta of a writer that lost the race
-- for its serial is on no chain). The head names the body the current chain starts from
-- (NULL: the current version is a body) and that of the previous version, and a fold writes
-- the chain's state as a body of the same serial.
CREATE TABLE IF NOT EXISTS state_deltas (
    state_key   text   NOT NULL,
    serial      bigint NOT NULL,
    writer      text   NOT NULL,
    prev_writer text,
    body        text   NOT NULL,
    written_ms  bigint NOT NULL,
    PRIMARY KEY (state_key, serial, writer)
);

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS base_serial bigint;

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS base_writer text;

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS prev_base_serial bigint;

ALTER TABLE state_head ADD COLUMN IF NOT EXISTS prev_base_writer text;
