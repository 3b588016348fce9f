//! One error type for the whole engine. Each variant says whose fault it is, so the HTTP
//! status, the SPEC §5 error code and the CLI exit code all follow from the variant alone.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The error underneath one of ours, kept in its chain of sources: callers find what
/// caused a failure by type (walking `std::error::Error::source` and downcasting; the
/// underlying error is the next link after this one). It stays behind when an error
/// crosses a cluster (only the message travels).
#[derive(Debug, Clone)]
pub struct Cause(pub Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// `error` as the cause of one of ours.
    pub fn of(error: impl std::error::Error + Send + Sync + 'static) -> Option<Cause> {
        Some(Cause(Arc::new(error)))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// `Result` with flowlake's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request with a valid token was refused (SPEC §6), in the order of checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Denial {
    /// The organization has no active subscription.
    NoSubscription,
    /// The token may not read the organization.
    NoOrgAccess,
    /// The token lacks the `reporting` permission.
    NoReportingPermission,
}

/// Everything that can go wrong between a request and its last response byte. Serializable,
/// so that an error raised on a cluster executor reaches the client as itself.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// The command line is wrong (a flag, a missing lake folder): CLI exit code 2.
    #[error("{message}")]
    Usage { message: String },
    /// The request is malformed: URL attributes, JSON, payload shape or values (400).
    #[error("{message}")]
    BadRequest { message: String },
    /// A filter names a property the engine does not support (406).
    #[error("filter property '{property}' is not supported; supported: {supported}")]
    UnsupportedFilter { property: String, supported: String },
    /// The workflow is not in the catalog for that organization (404).
    #[error("workflow {workflow_id} not found for organization {organization_id}")]
    WorkflowNotFound {
        organization_id: String,
        workflow_id: String,
    },
    /// The workflow exists but its type is not implemented (406).
    #[error(
        "workflow {workflow_id} has type '{kind}', which is not implemented; supported: interaction, web_navigation, user_generated"
    )]
    UnsupportedWorkflowType { workflow_id: String, kind: String },
    /// No token, or an unknown one (401).
    #[error("missing or unknown bearer token")]
    Unauthenticated,
    /// A known token that may not read this (403).
    #[error("{}", denial_message(*.0))]
    Forbidden(Denial),
    /// The lake's catalog files are missing or malformed (500).
    #[error("catalog file {file}: {message}")]
    Catalog {
        file: String,
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
    /// An event file is corrupt or conflicts with the event schema (500). `file` is the
    /// local path or the `s3://bucket/key` URL.
    #[error("event file {file}: {message}")]
    EventFile {
        file: String,
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
    /// An event file is no longer the version its listing saw: rewritten or deleted while
    /// the query read it (500 if it happens again after the engine listed afresh).
    #[error(
        "event file {file} changed while the query read it (rewritten or deleted); run the query again"
    )]
    ObjectChanged { file: String },
    /// A cluster executor did not find a listed event file: it does not see the lake where
    /// the client does, or the file was deleted after the listing (500 if it happens again
    /// after the engine listed afresh).
    #[error(
        "event file {file} was not found on executor {executor}; every executor must see the lake at the path the client reads it from (or the file was deleted after the query listed it)"
    )]
    MissingOnExecutor { file: String, executor: String },
    /// Data could not be read, and no file is known to blame (500).
    #[error("{message}")]
    Data {
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
    /// The query needed more memory than the configured limit (500).
    #[error("resources exhausted: {message}")]
    ResourcesExhausted {
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
    /// The object store could not be reached after retries (503).
    #[error("storage unavailable: {message}")]
    StorageUnavailable {
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
    /// The reader of the output went away before the response was complete (a closed
    /// pipe): the CLI stops quietly, as `cat` and `rg` do.
    #[error("the output was closed before the response was complete")]
    OutputClosed,
    /// The cluster's scheduler or its executors could not be reached (503).
    #[error("cluster unavailable at {address}: {message}")]
    ClusterUnavailable { address: String, message: String },
    /// Anything unexpected: a bug or an unclassified failure (500).
    #[error("{message}")]
    Internal {
        message: String,
        #[source]
        #[serde(skip)]
        source: Option<Cause>,
    },
}

fn denial_message(denial: Denial) -> &'static str {
    match denial {
        Denial::NoSubscription => "the organization has no active subscription",
        Denial::NoOrgAccess => "the token has no access to this organization",
        Denial::NoReportingPermission => "the token lacks the reporting permission",
    }
}

/// The SPEC §5 error body.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The HTTP status.
    pub status: u16,
    /// A machine-readable code: SPEC §5's, or the HTTP layer's (`payload_too_large`, …).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub error: &'static str,
    /// What went wrong, for people; names the offending key, file or value.
    pub message: String,
    /// The server's id of the request (the `X-Request-Id` it answered with); absent on the CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Error {
    /// A 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
        }
    }

    /// A local I/O failure while doing `what`: a 500 that says what, with the I/O error as
    /// its source.
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        Error::Internal {
            message: format!("{what}: {err}"),
            source: Cause::of(err),
        }
    }

    /// A 500 for something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// The HTTP status of SPEC §5.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } | Error::Usage { .. } => 400,
            Error::Unauthenticated => 401,
            Error::Forbidden(_) => 403,
            Error::WorkflowNotFound { .. } => 404,
            Error::UnsupportedFilter { .. } | Error::UnsupportedWorkflowType { .. } => 406,
            Error::Catalog { .. }
            | Error::EventFile { .. }
            | Error::ObjectChanged { .. }
            | Error::MissingOnExecutor { .. }
            | Error::Data { .. }
            | Error::ResourcesExhausted { .. }
            | Error::OutputClosed
            | Error::Internal { .. } => 500,
            Error::StorageUnavailable { .. } | Error::ClusterUnavailable { .. } => 503,
        }
    }

    /// The machine-readable `error` code of SPEC §5.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { .. } | Error::Usage { .. } => "bad_request",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(Denial::NoSubscription) => "no_subscription",
            Error::Forbidden(Denial::NoOrgAccess) => "no_org_access",
            Error::Forbidden(Denial::NoReportingPermission) => "no_reporting_permission",
            Error::WorkflowNotFound { .. } => "not_found",
            Error::UnsupportedFilter { .. } | Error::UnsupportedWorkflowType { .. } => {
                "not_implemented"
            }
            Error::Catalog { .. }
            | Error::EventFile { .. }
            | Error::ObjectChanged { .. }
            | Error::MissingOnExecutor { .. }
            | Error::Data { .. }
            | Error::ResourcesExhausted { .. }
            | Error::OutputClosed
            | Error::Internal { .. } => "internal",
            Error::StorageUnavailable { .. } => "storage_unavailable",
            Error::ClusterUnavailable { .. } => "cluster_unavailable",
        }
    }

    /// The CLI exit code for this error (listed in the README).
    pub fn exit_code(&self) -> i32 {
        if let Error::Usage { .. } = self {
            return 2;
        }
        match self.status() {
            400 => 3,
            401 | 403 => 4,
            404 => 5,
            406 => 6,
            503 => 8,
            _ => 7,
        }
    }

    /// The SPEC §5 body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: self.status(),
            error: self.code(),
            message: self.to_string(),
            request_id: None,
        }
    }

    /// The SPEC §5 body as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            format!(
                r#"{{"status":{},"error":"{}","message":"unprintable error"}}"#,
                self.status(),
                self.code()
            )
        })
    }
}

pub use classify::ours_in_chain;

mod classify;

#[cfg(test)]
mod tests;
