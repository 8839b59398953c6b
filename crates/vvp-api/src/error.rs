//! What a VVP call can fail with, and the kinds callers decide on.

/// VVP's `errorCode` for a resource that does not exist: Alibaba's Terraform provider
/// (`alicloud/resource_alicloud_realtime_compute_job.go`, Delete) takes it as not found,
/// and the Go SDK's models (`ververica-20220718`) show it with `文件不存在`.
pub const NOT_FOUND: &str = "990301";

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VvpError {
    /// The API answered with an error (a gateway error, or `success: false`).
    #[error("VVP {action} failed: {code}: {message} (request id {request_id}){}", credential_hint(code))]
    Api {
        /// The operation.
        action: String,
        /// HTTP status of the answer.
        status: u16,
        /// `errorCode` / `Code`.
        code: String,
        /// `errorMessage` / `Message`.
        message: String,
        /// Request id, for Alibaba support.
        request_id: String,
    },
    /// The request did not get an answer.
    #[error("VVP {action}: no answer from {endpoint}: {message}")]
    Transport {
        /// The operation.
        action: String,
        /// Where.
        endpoint: String,
        /// What went wrong.
        message: String,
        /// The request may have reached VVP (false: the connection was never made).
        sent: bool,
        /// The endpoint refused the connection.
        refused: bool,
        /// No answer came within the request timeout (the endpoint may hang).
        timed_out: bool,
    },
    /// The answer was not what the API documents.
    #[error("VVP {action}: unexpected answer: {message}")]
    Decode {
        /// The operation.
        action: String,
        /// What was wrong.
        message: String,
    },
}

/// What kind of failure a [`VvpError`] is: what callers decide on, instead of codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The resource (deployment, draft, job, ticket...) does not exist.
    NotFound,
    /// The resource is not in a state that allows the call (a job already running...).
    Conflict,
    /// The caller is throttled (`Throttling.*`).
    Throttled,
    /// No answer, or a server-side failure: trying again may help.
    Transient,
    /// The credentials or the signature were refused.
    Auth,
    /// Anything else: a bad request, an unexpected answer.
    Other,
}

impl VvpError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        let VvpError::Api { status, code, .. } = self else {
            return match self {
                VvpError::Transport { .. } => ErrorKind::Transient,
                _ => ErrorKind::Other,
            };
        };
        let code = code.as_str();
        if code.starts_with("Throttling") {
            ErrorKind::Throttled
        } else if *status >= 500 || code == "ServiceUnavailable" || code == "InternalError" {
            ErrorKind::Transient
        } else if *status == 401
            || *status == 403
            || ["InvalidAccessKeyId", "Signature", "IncompleteSignature", "MissingSignature", "InvalidTimeStamp"]
                .iter()
                .any(|p| code.starts_with(p))
        {
            ErrorKind::Auth
        } else if code == NOT_FOUND || (code.ends_with("NotFound") && !code.contains('.')) {
            // VVP's `990301`, or a `…NotFound` code; not `InvalidApi.NotFound` (no such
            // operation) or `InvalidAccessKeyId.NotFound` (an auth failure, above).
            ErrorKind::NotFound
        } else if *status == 409 || code.contains("AlreadyRunning") || code.contains("HasRunningJob") {
            ErrorKind::Conflict
        } else {
            ErrorKind::Other
        }
    }

    /// Whether the answer may mean that what was asked for does not exist: a not-found
    /// code, or any other refusal of the request itself (a code nobody documented). Only
    /// a listing can confirm it: callers look before they act on "gone".
    pub fn may_be_gone(&self) -> bool {
        matches!(self, VvpError::Api { .. }) && matches!(self.kind(), ErrorKind::NotFound | ErrorKind::Other)
    }

    /// Whether the call may have taken effect although it failed: not when VVP's gateway
    /// refused it (throttling, signature, bad request) or the connection was never made.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            VvpError::Transport { sent, .. } => *sent,
            VvpError::Api { status, .. } => *status >= 500,
            VvpError::Decode { .. } => true,
        }
    }

    /// Whether trying again may help: transport failures, 5xx, throttling.
    pub fn transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Transient | ErrorKind::Throttled)
    }

    /// The API error code, if the API answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            VvpError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Which credential variable an authentication failure points at.
fn credential_hint(code: &str) -> &'static str {
    if code.starts_with("InvalidAccessKeyId") {
        "; VVP does not know the key in ALIBABA_CLOUD_ACCESS_KEY_ID: check it"
    } else if code.starts_with("SignatureDoesNotMatch") {
        "; ALIBABA_CLOUD_ACCESS_KEY_SECRET is not the secret of ALIBABA_CLOUD_ACCESS_KEY_ID: check it"
    } else if code.starts_with("InvalidSecurityToken") {
        "; ALIBABA_CLOUD_SECURITY_TOKEN is not valid (an STS token expires): get a new one"
    } else {
        ""
    }
}
