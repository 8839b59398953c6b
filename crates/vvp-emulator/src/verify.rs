//! The gateway's checks: the ACS3-HMAC-SHA256 signature over the raw path and the
//! received SignedHeaders, the body hash, clock skew and nonces.

use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;

use vvp_wire::sign;

use crate::clock::epoch_secs;
use crate::envelope::{Answer, gateway};
use crate::world::World;

/// Parses `x-acs-date` (`YYYY-MM-DDTHH:MM:SSZ`) into epoch seconds.
pub(crate) fn parse_acs_date(s: &str) -> Option<i64> {
    humantime::parse_rfc3339(s).ok()?.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

impl World {
    /// Checks the signature and the freshness of a request, as the gateway does.
    pub(crate) fn verify(
        &mut self,
        method: &str,
        raw_path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), Answer> {
        let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let Some(auth) = header("authorization") else {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: no Authorization header.",
            ));
        };
        let Some(auth) = sign::parse_authorization(auth) else {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            ));
        };
        if auth.access_key_id != self.cfg.access_key_id {
            return Err(gateway(
                StatusCode::NOT_FOUND,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        }
        let Some(date) = header("x-acs-date").and_then(parse_acs_date) else {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ));
        };
        if (epoch_secs() - date).abs() > 15 * 60 {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        let hashed = sign::sha256_hex(body);
        if header("x-acs-content-sha256") != Some(hashed.as_str()) {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the body.",
            ));
        }
        if auth.signed_headers.iter().any(|h| h != &h.to_lowercase())
            || !auth.signed_headers.iter().any(|h| h == "host")
        {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                "SignedHeaders must be lowercase and include host.",
            ));
        }
        let creq = sign::canonical_request(method, raw_path, query, headers, &auth.signed_headers, &hashed);
        let expected = sign::signature(&self.cfg.access_key_secret, &creq);
        if !sign::constant_time_eq(&expected, &auth.signature) {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            ));
        }
        let Some(nonce) = header("x-acs-signature-nonce") else {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "MissingSignatureNonce",
                "SignatureNonce is mandatory for this action.",
            ));
        };
        let now = Instant::now();
        self.nonces.retain(|_, at| now.duration_since(*at) < Duration::from_secs(15 * 60));
        if self.nonces.insert(nonce.to_string(), now).is_some() {
            return Err(gateway(
                StatusCode::BAD_REQUEST,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok(())
    }
}
