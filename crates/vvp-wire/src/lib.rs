//! The VVP OpenAPI (2022-07-18) as it is on the wire: the JSON shapes ([`wire`]), the
//! ACS3-HMAC-SHA256 request signature ([`sign`]), and the domain values both the planner
//! and the client name ([`model`]). Pure: no HTTP, no runtime. Shared by the planner
//! (`flinkform-core`), the client (`vvp-api`) and the emulator (`vvp-emulator`), which
//! otherwise know nothing of each other.

pub mod model;
pub mod sign;
pub mod wire;
