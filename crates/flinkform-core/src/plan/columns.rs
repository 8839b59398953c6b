//! How recorded columns compare with planned ones: found by their sink name, and whether
//! a type widens to another (a column change the sink table takes in place).

use std::collections::HashMap;

use crate::state::ColumnRecord;
use crate::types::FlinkType;

/// Columns by sink name.
pub(super) fn by_sink_name(columns: &[ColumnRecord]) -> HashMap<&str, &ColumnRecord> {
    columns.iter().map(|c| (c.sink_name.as_str(), c)).collect()
}

/// True when a column of type `old` can take every value of `new` written by Flink
/// without a replace: equal, or a widening (INT → BIGINT → DECIMAL/DOUBLE, anything →
/// STRING, a higher timestamp precision, nested types widening field by field).
pub fn widens(old: &str, new: &str) -> bool {
    match (FlinkType::parse(old), FlinkType::parse(new)) {
        (Ok(o), Ok(n)) => widens_type(&o, &n),
        _ => old == new,
    }
}

fn widens_type(o: &FlinkType, n: &FlinkType) -> bool {
    use FlinkType::*;
    match (o, n) {
        _ if o == n => true,
        (_, String) => true,
        (Int, BigInt | Decimal(..) | Double) | (BigInt, Decimal(..) | Double) => true,
        (Timestamp(p), Timestamp(q)) | (TimestampLtz(p), TimestampLtz(q)) => q >= p,
        (Array(a), Array(b)) | (Map(a), Map(b)) => widens_type(a, b),
        (Row(a), Row(b)) => {
            let b: HashMap<&str, &FlinkType> = b.iter().map(|(k, t)| (k.as_str(), t)).collect();
            a.iter().all(|(k, t)| b.get(k.as_str()).is_some_and(|t2| widens_type(t, t2)))
        }
        (Row(a), Map(v)) => a.iter().all(|(_, t)| widens_type(t, v)),
        _ => false,
    }
}
