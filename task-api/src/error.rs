//! How a task tells the worker what to do when it does not return a value.

use crate::value::{PyObject, Value};
use std::time::Duration;

/// The error side of a task function.
///
/// `Retry` is arq's `Retry(defer=...)`: the job goes back on the queue `defer` from now and
/// counts a try. `Failed` finishes the job with a failure result carrying `exception`, which a
/// Python client re-raises from `job.result()`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    #[error("retry in {defer:?}")]
    Retry { defer: Duration },
    #[error("{}: {}", .exception.class_path(), .exception.message())]
    Failed { exception: PyObject },
}

impl TaskError {
    /// Fail with `RuntimeError(message)`, what a Python task's plain `raise RuntimeError` stores.
    pub fn fail(message: impl Into<String>) -> Self {
        Self::exception("builtins", "RuntimeError", message)
    }

    /// Fail with `TypeError(message)`: the arguments do not fit the function.
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::exception("builtins", "TypeError", message)
    }

    /// Fail with `ValueError(message)`: an argument has the right type but a bad value.
    pub fn value_error(message: impl Into<String>) -> Self {
        Self::exception("builtins", "ValueError", message)
    }

    /// Fail with the exception `module.name(message)`.
    pub fn exception(module: &str, name: &str, message: impl Into<String>) -> Self {
        TaskError::Failed {
            exception: PyObject::new(module, name, vec![Value::Str(message.into())]),
        }
    }

    /// Retry after `defer` (zero: as soon as a worker is free).
    pub fn retry(defer: Duration) -> Self {
        TaskError::Retry { defer }
    }
}
