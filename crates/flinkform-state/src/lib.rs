//! The state backends behind [`flinkform_core::state::StateStore`]: a local JSON file
//! ([`LocalStore`]) and PostgreSQL-protocol databases ([`PgStore`], the postgres and
//! hologres flavors, with the embedded [`MIGRATIONS`]). Backends stay dumb: they load,
//! compare-and-set and lock; serial and lineage rules are the core's.

mod local;
pub mod pg;
mod postgres;

pub use local::LocalStore;
pub use postgres::{Flavor, MIGRATIONS, PgConfig, PgStore};
