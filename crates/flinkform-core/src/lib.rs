//! flinkform's pure core: specs in, SQL, DDL and plans out. Nothing here does IO, reads
//! a clock or the environment, or knows a wire format: times, ids, samples, templates and
//! what the platforms showed are passed in as values. This crate's dependency list is the
//! proof (`cargo tree -p flinkform-core -e normal`).

pub mod change;
pub mod diag;
pub mod echo;
pub mod infer;
pub mod par;
pub mod plan;
pub mod render;
pub mod sample;
pub mod schema;
pub mod select;
pub mod spec;
pub mod state;
pub mod types;
pub mod view;
pub mod watch;
