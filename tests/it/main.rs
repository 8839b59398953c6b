//! One integration test binary: the CLI end to end, planning against recorded state,
//! snapshots of rendered SQL and plans, and the state store conformance suite.

mod answers;
pub mod apply;
mod cli;
pub mod comment;
mod common;
mod docs;
mod env;
mod everyday;
mod flink;
mod flink2;
mod gitlab;
pub mod kafka;
mod layout;
mod plan;
mod render;
mod resume;
mod review;
mod roles;
mod select;
mod serve;
mod sinks;
pub mod state;
mod tls;
pub mod vvp;
