-- flinkform state, version 3: what is kept for people to look back at (`flinkform
-- serve`): each revision's SQL and DDL by digest, and a log of applies.

-- Texts by their digest (SHA-256 hex), written once.
CREATE TABLE IF NOT EXISTS state_texts (
    state_key  text   NOT NULL,
    digest     text   NOT NULL,
    body       text   NOT NULL,
    PRIMARY KEY (state_key, digest)
);

-- One row per apply (JSON of flinkform's apply record).
CREATE TABLE IF NOT EXISTS state_applies (
    state_key  text   NOT NULL,
    id         text   NOT NULL,
    body       text   NOT NULL,
    written_ms bigint NOT NULL,
    PRIMARY KEY (state_key, id)
);
