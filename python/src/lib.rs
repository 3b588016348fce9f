//! `flowlake._flowlake`: the native module under the `flowlake` Python package. The
//! engine library answers; this crate only turns Python arguments into its requests and its
//! answers into Arrow (the PyCapsule interface, no copy) and Python exceptions. The
//! documented API is the package's (`flowlake/__init__.py`).

mod answer;
mod errors;
mod lake;
mod payload;
mod runtime;
mod writers;

use pyo3::prelude::*;

/// The native half of the `flowlake` package.
#[pymodule]
fn _flowlake(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("STORAGE_OPTIONS", payload::STORAGE_OPTIONS.to_vec())?;
    module.add_class::<lake::NativeLake>()?;
    module.add_class::<answer::AnswerBatches>()?;
    module.add_function(wrap_pyfunction!(writers::ingest, module)?)?;
    module.add_function(wrap_pyfunction!(writers::compact, module)?)?;
    Ok(())
}
