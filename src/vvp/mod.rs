//! The VVP OpenAPI (2022-07-18): request signing now; the client, wire types and the
//! emulator build on it. Only this module knows the HTTP JSON shapes.

pub mod emulator;
pub mod sign;
pub mod wire;
