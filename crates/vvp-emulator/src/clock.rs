//! The wall clock as the API shows it: epoch seconds.

use std::time::SystemTime;

pub(crate) fn epoch_secs() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
