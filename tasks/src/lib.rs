//! Task sets lyanna-worker serves, by `--settings` name.
//!
//! # Layout
//! - [`diagnostics`]: `Diagnostics`, the functions of arq's reference bench (`noop`, `echo`,
//!   `sleep_ms`, `fail`, `retry`), for tests, benchmarks and checking a deployment.
//! - [`blog`]: `WorkerSettings`, the lyanna blog's tasks (`mention_users`, cron
//!   `flush_to_db`) against MariaDB, memcached and SMTP, configured from the environment.
#![forbid(unsafe_code)]

pub mod blog;
pub mod diagnostics;

use lyanna_task_api::TaskSet;

/// Names `--settings` accepts.
pub const SETTINGS_NAMES: &[&str] = &["Diagnostics", blog::NAME];

/// Builds the task set named `name`; `Err` names what is wrong (unknown name, bad env).
pub fn task_set(name: &str) -> Result<TaskSet, String> {
    match name {
        "Diagnostics" => Ok(diagnostics::task_set()),
        blog::NAME => blog::task_set(),
        other => Err(format!(
            "unknown task set {other:?} (known: {})",
            SETTINGS_NAMES.join(", ")
        )),
    }
}
