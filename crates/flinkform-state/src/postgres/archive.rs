//! What the PostgreSQL backend keeps beside the state for people to look back at: each
//! revision's texts by digest (`state_texts`) and the log of applies (`state_applies`),
//! each write one statement (Hologres runs no DML in transactions).

use std::collections::BTreeMap;

use flinkform_core::state::{ApplyRecord, StateError};

use super::{PgStore, now_ms};

impl PgStore {
    pub(super) fn keep_texts_here(&self, texts: &[(String, String)]) -> Result<(), StateError> {
        if texts.is_empty() {
            return Ok(());
        }
        let key = self.cfg.state_key.clone();
        let (digests, bodies): (Vec<String>, Vec<String>) = texts.iter().cloned().unzip();
        self.worker
            .call(move |c| async move {
                c.execute(
                    "INSERT INTO state_texts (state_key, digest, body) \
                     SELECT $1, d, b FROM unnest($2::text[], $3::text[]) AS t(d, b) \
                     ON CONFLICT (state_key, digest) DO NOTHING",
                    &[&key, &digests, &bodies],
                )
                .await
                .map(drop)
            })
            .map_err(|e| self.write_err(e))
    }

    pub(super) fn texts_here(&self, digests: &[&str]) -> Result<BTreeMap<String, String>, StateError> {
        let key = self.cfg.state_key.clone();
        let digests: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        let rows = self
            .worker
            .call(move |c| async move {
                c.query(
                    "SELECT digest, body FROM state_texts WHERE state_key = $1 AND digest = ANY($2)",
                    &[&key, &digests],
                )
                .await
            })
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect())
    }

    pub(super) fn log_apply_here(&self, record: &ApplyRecord) -> Result<(), StateError> {
        let (key, id) = (self.cfg.state_key.clone(), record.id.clone());
        let body = serde_json::to_string(record).map_err(|e| self.err(e))?;
        self.worker
            .call(move |c| async move {
                c.execute(
                    "INSERT INTO state_applies (state_key, id, body, written_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (state_key, id) DO NOTHING",
                    &[&key, &id, &body, &now_ms()],
                )
                .await
                .map(drop)
            })
            .map_err(|e| self.write_err(e))
    }

    /// The log's newest `limit` records; a body that does not read is passed over.
    pub(super) fn applies_here(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError> {
        let key = self.cfg.state_key.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .worker
            .call(move |c| async move {
                c.query(
                    "SELECT body FROM state_applies WHERE state_key = $1 ORDER BY written_ms DESC, id LIMIT $2",
                    &[&key, &limit],
                )
                .await
            })
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().filter_map(|r| serde_json::from_str(&r.get::<_, String>(0)).ok()).collect())
    }
}
