//! What Python callers pass in, made into what the engine takes: payloads as JSON bytes
//! (validated afterwards exactly as the command line validates them) and storage options
//! as the S3 settings of the CLI's flags.

use std::str::FromStr;
use std::time::Duration;

use flowlake::storage::{S3Credentials, S3Options};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

/// The payload's JSON text: a `str`, `bytes` or `bytearray` as given, anything else (a
/// `dict`) through `json.dumps`. The text is not checked here: `Query::from_request`
/// refuses it as it refuses a payload file, with the same 400 and message.
pub fn json_bytes(payload: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = payload.cast::<PyString>() {
        return Ok(text.to_str()?.as_bytes().to_vec());
    }
    if let Ok(bytes) = payload.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(bytes) = payload.cast::<PyByteArray>() {
        return Ok(bytes.to_vec());
    }
    let text = payload
        .py()
        .import("json")?
        .call_method1("dumps", (payload,))
        .map_err(|e| {
            PyTypeError::new_err(format!(
                "the payload must be a dict, or JSON text as str or bytes: {e}"
            ))
        })?;
    Ok(text.cast::<PyString>()?.to_str()?.as_bytes().to_vec())
}

/// The storage options a `Lake`, `ingest` and `compact` take, by their keyword names.
pub const STORAGE_OPTIONS: [&str; 8] = [
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "allow_http",
    "virtual_hosted_style",
    "max_retries",
    "retry_timeout",
];

/// The S3 settings of `storage` (keyword arguments named as the CLI's `--s3-*` flags,
/// plus a key pair), on top of the `AWS_*` environment as for the command line.
pub fn s3_options(storage: Option<&Bound<'_, PyDict>>) -> PyResult<S3Options> {
    let mut options = S3Options::default();
    let Some(storage) = storage else {
        return Ok(options);
    };
    let (mut key_id, mut secret) = (None, None);
    for (key, value) in storage.iter() {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        match key.as_str() {
            "endpoint" => options.endpoint = Some(value.extract()?),
            "region" => options.region = Some(value.extract()?),
            "access_key_id" => key_id = Some(value.extract::<String>()?),
            "secret_access_key" => secret = Some(value.extract::<String>()?),
            "allow_http" => options.allow_http = value.extract()?,
            "virtual_hosted_style" => options.virtual_hosted_style = value.extract()?,
            "max_retries" => options.max_retries = value.extract()?,
            "retry_timeout" => options.retry_timeout = seconds(&key, value.extract()?)?,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "unknown storage option '{key}'; known: {}",
                    STORAGE_OPTIONS.join(", ")
                )));
            }
        }
    }
    options.credentials = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(S3Credentials {
            access_key_id,
            secret_access_key,
        }),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "give both access_key_id and secret_access_key, or neither (then the AWS environment and profiles are used)",
            ));
        }
    };
    Ok(options)
}

/// A duration given in seconds (a non-negative finite number).
pub fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds, not {value}"
        ))
    })
}

/// One of a library enum's names, as the command line's flags take them (in any case); a
/// wrong one is refused with the names it could be.
pub fn named<T: FromStr + strum::VariantNames>(what: &str, name: &str) -> PyResult<T> {
    name.to_ascii_lowercase().parse::<T>().map_err(|_| {
        PyValueError::new_err(format!(
            "{what} '{name}' is not one of {}",
            T::VARIANTS.join(", ")
        ))
    })
}
