//! Errors of DataFusion, Parquet, arrow and object stores turned into ours: the variant that
//! says whose fault it is (by the error's type where it has one; by its text where it
//! crossed a layer as text only), with the original kept as the source.

use datafusion::error::DataFusionError;

use super::{Cause, Error};

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
fn tidy(mut error: Error) -> Error {
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
    if let Error::ResourcesExhausted { message, .. }
    | Error::Data { message, .. }
    | Error::Internal { message, .. }
    | Error::StorageUnavailable { message, .. } = &mut error
    {
        *message = once(std::mem::take(message));
    }
    if let Error::ResourcesExhausted { message, .. } = &mut error
        && let Some(bare) = ["Resources exhausted: ", "resources exhausted: "]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
    {
        *message = bare.to_string();
    }
    error
}

impl From<object_store::Error> for Error {
    fn from(err: object_store::Error) -> Self {
        classify_store(&err).caused_by(err)
    }
}

/// Maps a DataFusion error to the variant that says whose fault it is. Our own errors
/// raised inside DataFusion never get here: `From<DataFusionError>` finds them first,
/// along the same chain of sources this descends.
fn classify(err: &DataFusionError) -> Error {
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
