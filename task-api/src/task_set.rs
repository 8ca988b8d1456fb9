//! Task sets: named async functions with per-function options, cron jobs and hooks.

use crate::{Args, JobContext, TaskError, Value};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A type-erased task function.
pub type TaskFn =
    Arc<dyn Fn(JobContext, Args) -> BoxFuture<'static, Result<Value, TaskError>> + Send + Sync>;

/// A start-up, shut-down or readiness hook; its error is a message for the operator.
pub type Hook = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// arq's per-function overrides; `None` means "use the worker's setting".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionOptions {
    pub timeout: Option<Duration>,
    pub max_tries: Option<u32>,
    /// Zero means "do not store the result".
    pub keep_result: Option<Duration>,
    pub keep_result_forever: Option<bool>,
}

/// A registered function.
#[derive(Clone)]
pub struct TaskFunction {
    pub name: String,
    pub options: FunctionOptions,
    pub call: TaskFn,
}

/// When a cron job fires; a `None` field matches every value (arq's `cron(...)` arguments).
/// `weekday` is 0 = Monday .. 6 = Sunday, as Python's `datetime.weekday()`.
#[derive(Debug, Clone, PartialEq)]
pub struct CronSchedule {
    pub month: Option<Vec<u32>>,
    pub day: Option<Vec<u32>>,
    pub weekday: Option<Vec<u32>>,
    pub hour: Option<Vec<u32>>,
    pub minute: Option<Vec<u32>>,
    pub second: Option<Vec<u32>>,
    pub microsecond: u32,
}

impl Default for CronSchedule {
    /// Every minute at second 0, microsecond 123456: `cron(f, hour=None)`.
    fn default() -> Self {
        CronSchedule {
            month: None,
            day: None,
            weekday: None,
            hour: None,
            minute: None,
            second: Some(vec![0]),
            microsecond: 123_456,
        }
    }
}

/// A cron job: arq enqueues `name` (default `cron:{function}`) on schedule, with unique ids.
#[derive(Clone)]
pub struct CronJob {
    pub name: String,
    pub schedule: CronSchedule,
    pub run_at_startup: bool,
    pub unique: bool,
    /// A fixed job id, shared by every tick (arq's `job_id=`).
    pub job_id: Option<String>,
    pub options: FunctionOptions,
    pub call: TaskFn,
}

/// Functions and cron jobs a worker serves, selected by `--settings NAME`.
#[derive(Clone, Default)]
pub struct TaskSet {
    pub name: String,
    pub functions: HashMap<String, TaskFunction>,
    pub cron_jobs: Vec<CronJob>,
    pub on_startup: Option<Hook>,
    pub on_shutdown: Option<Hook>,
    /// Checks the task set's own dependencies (e.g. the database) for readiness probes.
    pub ready_check: Option<Hook>,
}

fn erase<F, Fut>(f: F) -> TaskFn
where
    F: Fn(JobContext, Args) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
{
    Arc::new(move |ctx, args| Box::pin(f(ctx, args)))
}

impl TaskSet {
    pub fn new(name: impl Into<String>) -> Self {
        TaskSet {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Registers `name` with default options.
    pub fn function<F, Fut>(self, name: &str, f: F) -> Self
    where
        F: Fn(JobContext, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        self.function_with(name, FunctionOptions::default(), f)
    }

    /// Registers `name` with per-function options.
    pub fn function_with<F, Fut>(mut self, name: &str, options: FunctionOptions, f: F) -> Self
    where
        F: Fn(JobContext, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        self.functions.insert(
            name.to_string(),
            TaskFunction {
                name: name.to_string(),
                options,
                call: erase(f),
            },
        );
        self
    }

    /// Registers a cron job named `cron:{function}` with arq's cron defaults
    /// (unique ids, keep_result 0, max_tries 1).
    pub fn cron<F, Fut>(mut self, function: &str, schedule: CronSchedule, f: F) -> Self
    where
        F: Fn(JobContext, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        self.cron_jobs.push(CronJob {
            name: format!("cron:{function}"),
            schedule,
            run_at_startup: false,
            unique: true,
            job_id: None,
            options: FunctionOptions {
                timeout: None,
                max_tries: Some(1),
                keep_result: Some(Duration::ZERO),
                keep_result_forever: Some(false),
            },
            call: erase(f),
        });
        self
    }

    pub fn on_startup<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.on_startup = Some(Arc::new(move || Box::pin(f())));
        self
    }

    pub fn on_shutdown<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.on_shutdown = Some(Arc::new(move || Box::pin(f())));
        self
    }

    pub fn ready_check<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.ready_check = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// The longest per-function timeout, which sizes arq's in-progress key TTL.
    pub fn max_timeout(&self) -> Option<Duration> {
        self.functions
            .values()
            .map(|f| &f.options)
            .chain(self.cron_jobs.iter().map(|c| &c.options))
            .filter_map(|o| o.timeout)
            .max()
    }
}
