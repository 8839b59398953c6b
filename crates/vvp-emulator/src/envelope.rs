//! The API's answer envelopes: the gateway's error, a success with its data (or a page
//! of it), and a business error (HTTP 200, `success: false`), as the real API answers.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use vvp_wire::wire::GatewayError;

/// An answer: HTTP status, JSON body, extra headers.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) retry_after_ms: Option<u64>,
}

pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

pub(crate) fn gateway(status: StatusCode, code: &str, message: &str) -> Answer {
    let body = GatewayError {
        request_id: request_id(),
        host_id: "ververica.emulator".into(),
        code: code.into(),
        message: message.into(),
    };
    Answer { status, body: serde_json::to_value(body).expect("serializes"), retry_after_ms: None }
}

pub(crate) fn ok<T: Serialize>(data: T) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: json!({ "requestId": request_id(), "success": true, "httpCode": 200, "data": data }),
        retry_after_ms: None,
    }
}

pub(crate) fn page<T: Serialize>(items: Vec<T>, index: usize, size: usize) -> Answer {
    let total = items.len();
    let data: Vec<T> = items.into_iter().skip((index.max(1) - 1) * size).take(size).collect();
    paged(data, index, size, total)
}

/// Page `index` of `size`, already cut (`data`), of `total` items.
pub(crate) fn paged<T: Serialize>(data: Vec<T>, index: usize, size: usize, total: usize) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: json!({ "requestId": request_id(), "success": true, "httpCode": 200, "data": data,
                      "pageIndex": index, "pageSize": size, "totalSize": total }),
        retry_after_ms: None,
    }
}

/// A business error: HTTP 200, `success: false`, as the real API answers.
pub(crate) fn fail(http: u16, code: &str, message: impl Into<String>) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: json!({ "requestId": request_id(), "success": false, "httpCode": http,
                      "errorCode": code, "errorMessage": message.into() }),
        retry_after_ms: None,
    }
}
