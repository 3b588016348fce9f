//! Engine errors as Python exceptions: one class per SPEC §5 status, each carrying the
//! status, the machine-readable code and the message. The classes are defined in the
//! Python package (`flowlake/__init__.py`), so that they carry docstrings and can also be
//! `ValueError`s or `LookupError`s; they are looked up when an error is raised.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The exception class of a status, by its name in the `flowlake` package.
fn class_name(status: u16) -> &'static str {
    match status {
        400 => "PayloadError",
        404 => "NotFound",
        406 => "NotImplemented",
        500 => "InternalError",
        503 => "Unavailable",
        _ => "Error",
    }
}

/// The Python exception for an engine error: `flowlake.<Class>(message, status, code)`.
pub fn to_py(py: Python<'_>, error: flowlake::Error) -> PyErr {
    let (status, code, message) = (error.status(), error.code(), error.to_string());
    let raised = py
        .import("flowlake")
        .and_then(|package| package.getattr(class_name(status)))
        .and_then(|class| class.call1((message.as_str(), status, code)));
    match raised {
        Ok(instance) => PyErr::from_value(instance),
        // The package could not be imported (only the native module was loaded): the
        // error still says everything, as the CLI's JSON body.
        Err(_) => PyRuntimeError::new_err(error.to_json()),
    }
}

/// An error of the caller's arguments that the command line reports as a usage error
/// (a missing lake folder, a bad option): 400, like a malformed payload.
pub fn usage(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py(
        py,
        flowlake::Error::Usage {
            message: message.into(),
        },
    )
}

/// Converts engine results inside a call that holds the GIL.
pub trait OrRaise<T> {
    /// The value, or the engine error raised as its Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, flowlake::Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| to_py(py, error))
    }
}
