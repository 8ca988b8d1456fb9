//! What a task function sees, and nothing of Redis queues or codecs.
//!
//! # Layout
//! - [`value`]: [`Value`], the data model shared by every codec (a Python object graph's safe subset).
//! - [`args`]: [`Args`], a job's positional and keyword arguments, with typed accessors whose errors
//!   become Python `TypeError` results.
//! - [`error`]: [`TaskError`], how a task tells the worker to retry later or to fail with an exception.
//! - [`context`]: [`JobContext`], the job id, try and times handed to each call.
//! - [`task_set`]: [`TaskSet`], functions and cron jobs registered by name with per-function options,
//!   plus start-up / shut-down hooks.
//!
//! The engine crate (`lyanna-worker`) runs task sets; task crates (`lyanna-tasks`) build them.
#![forbid(unsafe_code)]

pub mod args;
pub mod context;
pub mod error;
pub mod task_set;
pub mod value;

pub use args::Args;
pub use context::{JobContext, RedisProvider};
pub use error::TaskError;
pub use task_set::{CronJob, CronSchedule, FunctionOptions, Hook, TaskFn, TaskFunction, TaskSet};
pub use value::{PyObject, TzInfo, Value};
