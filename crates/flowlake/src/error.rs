//! One error type for the whole engine. Each variant says whose fault it is, so the HTTP
//! status, the SPEC §5 error code and the CLI exit code all follow from the variant alone.

use std::sync::Arc;

use datafusion::error::DataFusionError;
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

impl From<DataFusionError> for Error {
    fn from(err: DataFusionError) -> Self {
        if let Some(ours) = ours_in_chain(&err) {
            return ours.clone();
        }
        tidy(classify(&err)).caused_by(err)
    }
}

impl Error {
    /// This error with `cause` as its source, where it has room for one and none yet.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        match &mut self {
            Error::Catalog { source, .. }
            | Error::EventFile { source, .. }
            | Error::Data { source, .. }
            | Error::ResourcesExhausted { source, .. }
            | Error::StorageUnavailable { source, .. }
            | Error::Internal { source, .. }
                if source.is_none() =>
            {
                *source = Cause::of(cause);
            }
            _ => {}
        }
        self
    }
}

/// Wrappers that errors pick up each time they cross a library boundary; said once is enough.
const WRAPPERS: [&str; 5] = [
    "Parquet error: ",
    "Arrow error: ",
    "External error: ",
    "Execution error: ",
    "Object Store error: ",
];

/// One message without its wrappers said twice, and without a variant's own prefix said again.
fn tidy(error: Error) -> Error {
    fn once(message: String) -> String {
        let mut message = message;
        for wrapper in WRAPPERS {
            let twice = format!("{wrapper}{wrapper}");
            while message.contains(&twice) {
                message = message.replace(&twice, wrapper);
            }
        }
        // DataFusion's and arrow's spellings of the same wrapper, one after the other.
        message.replace("Io error: IO error: ", "IO error: ")
    }
    match error {
        Error::ResourcesExhausted { message, source } => {
            let message = once(message);
            let bare = ["Resources exhausted: ", "resources exhausted: "]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .map(str::to_string)
                .unwrap_or(message);
            Error::ResourcesExhausted {
                message: bare,
                source,
            }
        }
        Error::Data { message, source } => Error::Data {
            message: once(message),
            source,
        },
        Error::Internal { message, source } => Error::Internal {
            message: once(message),
            source,
        },
        Error::StorageUnavailable { message, source } => Error::StorageUnavailable {
            message: once(message),
            source,
        },
        other => other,
    }
}

impl From<object_store::Error> for Error {
    fn from(err: object_store::Error) -> Self {
        classify_store(&err).caused_by(err)
    }
}

/// Maps a DataFusion error to the variant that says whose fault it is. Our own errors raised
/// inside DataFusion (e.g. from the Parquet reader) come back out unchanged, however deep
/// DataFusion, parquet or arrow wrapped them.
fn classify(err: &DataFusionError) -> Error {
    if let Some(ours) = ours_in_chain(err) {
        return ours.clone();
    }
    match err {
        DataFusionError::ResourcesExhausted(message) => Error::ResourcesExhausted {
            message: message.clone(),
            source: None,
        },
        DataFusionError::Context(context, inner) => match classify(inner) {
            Error::Internal { message, source } => Error::Internal {
                message: format!("{context}: {message}"),
                source,
            },
            other => other,
        },
        DataFusionError::Shared(shared) => classify(shared),
        DataFusionError::External(source) => match source.downcast_ref::<DataFusionError>() {
            Some(inner) => classify(inner),
            None => classify_message(&source.to_string(), Some(&**source)),
        },
        DataFusionError::ObjectStore(store_err) => classify_store(store_err),
        DataFusionError::ParquetError(parquet_err) if is_unreachable(parquet_err.as_ref()) => {
            Error::StorageUnavailable {
                message: parquet_err.to_string(),
                source: None,
            }
        }
        DataFusionError::ParquetError(parquet_err) => Error::Data {
            message: parquet_err.to_string(),
            source: None,
        },
        DataFusionError::ArrowError(arrow_err, _) => Error::Data {
            message: arrow_err.to_string(),
            source: None,
        },
        other => classify_message(&other.to_string(), Some(other)),
    }
}

/// The first of our errors in the chain of sources of `err`.
pub fn ours_in_chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Some(ours);
        }
        current = e.source();
    }
    None
}

fn classify_store(err: &object_store::Error) -> Error {
    if is_unreachable(err) {
        Error::StorageUnavailable {
            message: err.to_string(),
            source: None,
        }
    } else if matches!(
        err,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        Error::Internal {
            message: format!(
                "the object store refused the request (check the credentials and the bucket policy): {err}"
            ),
            source: None,
        }
    } else {
        Error::Internal {
            message: format!("object store: {err}"),
            source: None,
        }
    }
}

/// Whether an error chain says the store could not be reached (connect, DNS, timeout).
fn is_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if says_unreachable(&e.to_string()) {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | ConnectionReset | TimedOut | NotConnected
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Whether an error's text says the store could not be reached (errors that crossed the
/// Parquet reader arrive as text only).
fn says_unreachable(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "connection refused",
        "error trying to connect",
        "dns error",
        "timed out",
        "connection reset",
        "error sending request",
        "connection closed before message completed",
        "broken pipe",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

fn classify_message(text: &str, source: Option<&(dyn std::error::Error + 'static)>) -> Error {
    if let Some(src) = source {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(src);
        while let Some(e) = current {
            if let Some(ours) = e.downcast_ref::<Error>() {
                return ours.clone();
            }
            if let Some(store) = e.downcast_ref::<object_store::Error>() {
                return classify_store(store);
            }
            current = e.source();
        }
    }
    if text.contains("Resources exhausted") {
        return Error::ResourcesExhausted {
            message: text.to_string(),
            source: None,
        };
    }
    if says_unreachable(text) {
        return Error::StorageUnavailable {
            message: text.to_string(),
            source: None,
        };
    }
    if text.contains("Parquet error") || text.contains("Arrow error") {
        return Error::Data {
            message: text.to_string(),
            source: None,
        };
    }
    Error::Internal {
        message: text.to_string(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_spec_code() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::bad_request("x"), 400, "bad_request"),
            (Error::Unauthenticated, 401, "unauthenticated"),
            (
                Error::Forbidden(Denial::NoSubscription),
                403,
                "no_subscription",
            ),
            (Error::Forbidden(Denial::NoOrgAccess), 403, "no_org_access"),
            (
                Error::Forbidden(Denial::NoReportingPermission),
                403,
                "no_reporting_permission",
            ),
            (
                Error::WorkflowNotFound {
                    organization_id: "o".into(),
                    workflow_id: "w".into(),
                },
                404,
                "not_found",
            ),
            (
                Error::UnsupportedFilter {
                    property: "p".into(),
                    supported: "label".into(),
                },
                406,
                "not_implemented",
            ),
            (Error::internal("x"), 500, "internal"),
            (
                Error::StorageUnavailable {
                    message: "x".into(),
                    source: None,
                },
                503,
                "storage_unavailable",
            ),
            (
                Error::ClusterUnavailable {
                    address: "df://h:1".into(),
                    message: "x".into(),
                },
                503,
                "cluster_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn resources_exhausted_is_a_500_that_says_so() {
        let err: Error = DataFusionError::ResourcesExhausted("pool full".into()).into();
        assert_eq!(err.status(), 500);
        assert!(err.to_string().starts_with("resources exhausted"));
    }

    #[test]
    fn wrappers_are_said_once() {
        let err: Error =
            DataFusionError::ResourcesExhausted("Resources exhausted: pool full".into()).into();
        assert_eq!(err.to_string(), "resources exhausted: pool full");
        let err: Error =
            DataFusionError::Execution("Parquet error: Parquet error: EOF in x.parquet".into())
                .into();
        assert!(
            !err.to_string().contains("Parquet error: Parquet error"),
            "{err}"
        );
        assert!(
            err.to_string().contains("Parquet error: EOF in x.parquet"),
            "{err}"
        );
        let err: Error = DataFusionError::Execution(
            "Io error: IO error: No space left on device (os error 28)".into(),
        )
        .into();
        assert!(
            err.to_string().contains("IO error: No space left")
                && !err.to_string().contains("Io error"),
            "{err}"
        );
    }

    #[test]
    fn our_error_survives_a_trip_through_datafusion() {
        let inner = Error::Data {
            message: "file a.parquet: bad".into(),
            source: None,
        };
        let err: Error = DataFusionError::External(Box::new(inner)).into();
        assert!(matches!(err, Error::Data { ref message , .. } if message.contains("a.parquet")));
    }

    #[test]
    fn the_underlying_error_stays_in_the_chain_of_sources() {
        use datafusion::parquet::errors::ParquetError;
        let err: Error =
            DataFusionError::ParquetError(Box::new(ParquetError::EOF("x.parquet".into()))).into();
        assert!(matches!(err, Error::Data { .. }), "{err:?}");
        let mut chain = std::error::Error::source(&err);
        let mut found = false;
        while let Some(link) = chain {
            found |= link.downcast_ref::<ParquetError>().is_some();
            chain = link.source();
        }
        assert!(found, "the Parquet error is found by its type: {err:?}");
        let store: Error = object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        }
        .into();
        let source = std::error::Error::source(&store).and_then(|cause| cause.source());
        assert!(
            source.is_some_and(|e| e.downcast_ref::<object_store::Error>().is_some()),
            "{store:?}"
        );
    }

    #[test]
    fn error_json_is_one_line_with_status_error_message() {
        let json = Error::bad_request("limit must be ≥ 1").to_json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"], "bad_request");
        assert_eq!(v["message"], "limit must be ≥ 1");
    }
}
