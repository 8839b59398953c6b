//! How shapes become types in a schema: the timestamp standard and the rule for integers.

use super::Column;
use crate::diag::Diagnostic;
use crate::infer::{Shape, TsStandard};
use crate::spec::{Dialect, Pipeline};
use crate::types::{FlinkType, Integers};

/// How shapes become types: the timestamp standard and the rule for integers.
#[derive(Clone, Copy)]
pub(super) struct Typing {
    pub(super) standard: TsStandard,
    pub(super) integers: Integers,
}

impl Typing {
    pub(super) fn of(&self, shape: &Shape) -> FlinkType {
        let t = shape.flink_type(self.standard);
        match self.integers {
            Integers::BigInt => t.promote_ints(),
            Integers::Narrowest => t,
        }
    }
}

/// A timestamp column with nanosecond digits feeds a sink column that holds
/// microseconds (Hologres and PostgreSQL `timestamp`/`timestamptz`): said, never cut
/// silently.
pub(super) fn warn_sub_microseconds(pipeline: &Pipeline, columns: &[Column], diags: &mut Vec<Diagnostic>) {
    for c in columns {
        if let FlinkType::Timestamp(p) | FlinkType::TimestampLtz(p) = c.ty
            && p > 6
        {
            let sink = match pipeline.sink.dialect {
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
