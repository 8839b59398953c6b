//! ACS3-HMAC-SHA256, the signature of Alibaba Cloud's V3 API gateway, shared by the
//! client (to sign) and the emulator (to verify). Pure functions over the request's
//! parts as they travel: the raw (already encoded) path, the decoded query, the headers.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name, first line of the string to sign and of `Authorization`.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Lowercase hex SHA-256 of `bytes` (the `x-acs-content-sha256` of a body).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// RFC 3986 encoding: unreserved characters kept, every other UTF-8 byte as `%XX`.
pub fn rfc3986(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: pairs (decoded) sorted by name, values RFC 3986 encoded.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (rfc3986(k), rfc3986(v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical request over the headers named in `signed` (lowercase names; values
/// looked up in `headers`, which holds lowercase names too).
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed: &[String],
    payload_hash: &str,
) -> String {
    let mut canonical_headers = String::new();
    for name in signed {
        let mut values: Vec<&str> = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.trim()).collect();
        values.sort_unstable();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    format!("{method}\n{path}\n{}\n{canonical_headers}\n{}\n{payload_hash}", canonical_query(query), signed.join(";"))
}

/// The hex signature of a canonical request with an access key secret.
pub fn signature(secret: &str, canonical_request: &str) -> String {
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value.
pub fn authorization(access_key_id: &str, signed: &[String], signature: &str) -> String {
    format!("{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}", signed.join(";"))
}

/// The parts of a received `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// The signed header names, as sent.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses an `Authorization` header; `None` when it is not ACS3-HMAC-SHA256 or lacks a part.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut id, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => id = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some(Authorization { access_key_id: id?, signed_headers: signed?, signature: sig? })
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";

    fn headers(action: &str, body: Option<&[u8]>) -> Vec<(String, String)> {
        let mut h = vec![
            ("accept", "application/json".to_string()),
            ("host", "ververica.cn-hangzhou.aliyuncs.com".into()),
            ("user-agent", UA.into()),
            ("workspace", "ws1".into()),
            ("x-acs-action", action.into()),
            ("x-acs-content-sha256", sha256_hex(body.unwrap_or_default())),
            ("x-acs-credentials-provider", "static_ak".into()),
            ("x-acs-date", "2024-01-02T03:04:05Z".into()),
            ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef".into()),
            ("x-acs-version", "2022-07-18".into()),
        ];
        if body.is_some() {
            h.push(("content-type", "application/json; charset=utf-8".into()));
        }
        let mut h: Vec<(String, String)> = h.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        h.sort();
        h
    }

    fn sign(method: &str, path: &str, query: &[(&str, &str)], action: &str, body: Option<&[u8]>) -> (String, String) {
        let h = headers(action, body);
        let signed: Vec<String> = h.iter().map(|(k, _)| k.clone()).collect();
        let q: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let creq = canonical_request(method, path, &q, &h, &signed, &sha256_hex(body.unwrap_or_default()));
        let sig = signature("testsecret", &creq);
        (sha256_hex(creq.as_bytes()), authorization("testid", &signed, &sig))
    }

    #[test]
    fn reference_vector_create_deployment_draft() {
        let body = br#"{"artifact":{"kind":"SQLSCRIPT","sqlArtifact":{"sqlScript":"SELECT 1;"}},"engineVersion":"vvr-8.0.11-flink-1.17","executionMode":"STREAMING","localVariables":[],"name":"vvp-test"}"#;
        assert_eq!(body.len(), 179);
        assert_eq!(sha256_hex(body), "730df92ea75ad53e4d7366f81a6204e25d55b8be11a79db6e40fd3274f492a0a");
        let (creq_hash, auth) =
            sign("POST", "/api/v2/namespaces/ns1/deployment-drafts", &[], "CreateDeploymentDraft", Some(body));
        assert_eq!(creq_hash, "4f40e8615a69fa1b421c7590144d0ed4b35ad2c46a671905d91a7d2956767f6e");
        assert_eq!(
            auth,
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;workspace;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=4f222b5071b2124e41ace50d29ac5cc3c538d3767d576f58c036aed6039d5870"
        );
    }

    #[test]
    fn reference_vector_get_with_query() {
        let q = [("name", "a b:c~d"), ("pageIndex", "1"), ("pageSize", "10")];
        let qs: Vec<(String, String)> = q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(canonical_query(&qs), "name=a%20b%3Ac~d&pageIndex=1&pageSize=10");
        let (creq_hash, auth) = sign("GET", "/api/v2/namespaces/ns1/deployments", &q, "ListDeployments", None);
        assert_eq!(creq_hash, "76d0cc768fad308ee97e3a1d56f87b341f1e4f87c7b4e93e52602a66ddb91d28");
        assert!(auth.ends_with("Signature=770d0f8becf6b6e1e050f85d5ca9270eb745205855af22a4d09047aaa5730cf7"), "{auth}");
    }

    #[test]
    fn reference_vector_raw_action_path() {
        let body = br#"{"stopStrategy":"NONE"}"#;
        assert_eq!(sha256_hex(body), "c03c02cf4082dcf2866abede420386ea400a0c61c8db229b52792e750c7488db");
        let (_, auth) = sign("POST", "/api/v2/namespaces/ns1/jobs/job-1%3Astop", &[], "StopJob", Some(body));
        assert!(auth.ends_with("Signature=75c7cf0526633176486b048a4a180f07bde52047195eb05e30050f8af852c68b"), "{auth}");
    }

    #[test]
    fn encodings_and_authorization_parsing() {
        assert_eq!(rfc3986("a b:c~d/é*"), "a%20b%3Ac~d%2F%C3%A9%2A");
        let a =
            parse_authorization("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;x-acs-date,Signature=ab12").unwrap();
        assert_eq!(a.access_key_id, "ak");
        assert_eq!(a.signed_headers, ["host", "x-acs-date"]);
        assert!(parse_authorization("acs ak:sig").is_none());
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("ab", "abc"));
    }
}
