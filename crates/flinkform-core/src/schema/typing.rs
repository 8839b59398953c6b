//! How shapes become types in a schema: the timestamp standard and the rule for integers.

use super::{Column, Physical};
use crate::change::Declared;
use crate::diag::Diagnostic;
use crate::infer::{Fields, Fractions, Shape, TsStandard};
use crate::spec::{Dialect, Pipeline, TableConnector};
use crate::types::{FlinkType, Integers};

/// How shapes become types: the timestamp standard, the rule for integers, and how the
/// engine's JSON decoder reads numbers a DOUBLE cannot hold.
#[derive(Clone, Copy)]
pub(super) struct Typing {
    pub(super) standard: TsStandard,
    pub(super) integers: Integers,
    pub(super) fractions: Fractions,
}

impl Typing {
    /// Before VVR 11 (Flink 1.17 and older) the JSON decoder re-prints a number read into
    /// a STRING, so a DECIMAL is the exact reading of fractions a DOUBLE cannot hold.
    pub(super) fn new(pipeline: &Pipeline, standard: TsStandard, integers: Integers) -> Typing {
        let fractions = if pipeline.deployment.vvr.0 >= 11 { Fractions::Text } else { Fractions::Decimal };
        Typing { standard, integers, fractions }
    }

    /// The type of `shape`: the one its source declared where that reads every value
    /// (a change stream's envelope), else the narrowest that reads every value seen.
    pub(super) fn of(&self, shape: &Shape) -> FlinkType {
        if let Declared::Type(t, _) = crate::change::declared(shape, self.standard) {
            return t;
        }
        let t = shape.flink_type_reading(self.standard, self.fractions);
        match self.integers {
            Integers::BigInt => t.promote_ints(),
            Integers::Narrowest => t,
        }
    }
}

/// What the sink's timestamp columns would get wrong, said instead of done silently: a
/// TIMESTAMP_LTZ shifted by older VVR, and nanosecond digits a column that holds
/// microseconds (Hologres and PostgreSQL `timestamp`/`timestamptz`) cuts.
pub(super) fn warn_timestamps(pipeline: &Pipeline, columns: &[Column], diags: &mut Vec<Diagnostic>) {
    // The first table sink's dialect names the database (the columns are the same).
    let Some(dialect) = pipeline.table_sinks().next().map(|s| s.dialect) else { return };
    let jdbc = pipeline.table_sinks().any(|s| s.connector == TableConnector::Jdbc);
    let zone = pipeline.deployment.flink_conf.get("table.local-time-zone");
    for c in columns {
        // A JDBC sink writes a TIMESTAMP_LTZ as the session zone's local time, which its
        // connector binds in the JVM's zone: the two must be the same.
        if let (true, FlinkType::TimestampLtz(_), Some(zone)) = (jdbc, &c.ty, zone) {
            diags.push(Diagnostic::warning(format!(
                "{}: column `{}` is TIMESTAMP_LTZ, written by the JDBC connector as the local time of `table.local-time-zone` ({zone}) and read back in the JVM's zone: unless the job's JVMs run in {zone}, the instants shift",
                pipeline.file, c.name
            )));
        }
        // Before VVR 8.0.6 the Hologres connector writes TIMESTAMP_LTZ into timestamptz
        // shifted by the time-zone offset (8.0.6 added the option that turns it off,
        // which flinkform sets; VVR 11 converts correctly).
        if matches!(c.ty, FlinkType::TimestampLtz(_))
            && dialect == Dialect::Hologres
            && pipeline.deployment.vvr < (8, 0, 6)
        {
            diags.push(Diagnostic::warning(format!(
                "{}: column `{}` is TIMESTAMP_LTZ, and {} writes it into the Hologres timestamptz column shifted by the time-zone offset: use VVR 8.0.6 or later",
                pipeline.file, c.name, pipeline.deployment.engine_version
            )));
        }
        if let FlinkType::Timestamp(p) | FlinkType::TimestampLtz(p) = c.ty
            && p > 6
        {
            let sink = match dialect {
                Dialect::Hologres => "Hologres",
                Dialect::Postgres => "PostgreSQL",
            };
            diags.push(Diagnostic::warning(format!(
                "{}: column `{}` is {} (the sample has {p} fraction digits), but the {sink} column `{}` holds microseconds: digits past the sixth are cut when written; pin `columns.{} = {{ type = \"STRING\" }}` to keep them",
                pipeline.file, c.name, c.ty, c.holo.sql, c.name
            )));
        }
    }
}

/// Before Flink 1.18 (VVR 8 runs Flink 1.17) the JSON format decodes through Jackson's
/// `JsonNode`: a number with a fraction or exponent read into a STRING column comes out
/// re-printed, from a double (`1.10` → `1.1`, `1e400` → `Infinity`, seen on Flink 1.17.2)
/// or, when the table has a DECIMAL column, from a BigDecimal (`1e2` → `1E+2`). Flink
/// 1.18's `JsonParser` decoder (FLINK-32610, the default on VVR 11's Flink 1.20) keeps the
/// text as written. Where a DECIMAL holds the numbers exactly, inference picks it.
pub(super) fn warn_reprinted_numbers(
    pipeline: &Pipeline,
    physical: &[Physical],
    fields: &Fields,
    diags: &mut Vec<Diagnostic>,
) {
    if pipeline.deployment.vvr.0 >= 11 {
        return;
    }
    for p in physical {
        if p.ty == FlinkType::String && fields.get(&p.key).is_some_and(|s| s.fraction) {
            diags.push(Diagnostic::warning(format!(
                "{}: column {} is STRING and the sample has numbers with a fraction or exponent in it: {} (Flink 1.17's JSON decoder) re-prints them (`1.10` → `1.1` or `1e2` → `1E+2`, `1e400` → `Infinity`); VVR 11 keeps the text as written",
                pipeline.file,
                crate::diag::shown_key(&p.key),
                pipeline.deployment.engine_version
            )));
        }
    }
}
