//! The VVP OpenAPI (2022-07-18) as it is on the wire, and nothing else: the JSON shapes
//! ([`wire`]) and the ACS3-HMAC-SHA256 request signature ([`sign`]). Pure: no HTTP, no
//! runtime. Shared by the client (`vvp-api`) and the emulator (`vvp-emulator`), which
//! otherwise know nothing of each other.

pub mod sign;
pub mod wire;
