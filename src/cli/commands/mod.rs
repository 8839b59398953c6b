//! One module per command (or per small group that shares its work: `apply` and
//! `destroy`, `start` and `stop`, the `state` subcommands, the manual's outputs), each
//! with its arguments and its `run`.

pub(super) mod apply;
pub(super) mod comment;
pub(super) mod diff;
pub(super) mod fmt;
pub(super) mod force_unlock;
pub(super) mod history;
pub(super) mod import;
pub(super) mod init;
pub(super) mod ls;
pub(super) mod manual;
pub(super) mod operate;
pub(super) mod plan;
pub(super) mod render;
pub(super) mod sample;
pub(super) mod schema;
pub(super) mod serve;
pub(super) mod show;
pub(super) mod state;
pub(super) mod status;
pub(super) mod validate;
