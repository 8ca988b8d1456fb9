//! The job a log line belongs to, without a `tracing` span: a task-local tag that the text
//! format writes as the span would be written (`job{job_id=… try=1 function="noop"}: `).
//!
//! A span per job cost about 7,400 instructions of the worker's 58,000 per job (callgrind,
//! 4,000 no-op jobs): a slot in the registry, its fields formatted into a string when it is
//! made and again when the function is recorded, a registry lookup at every enter and exit
//! (each poll of the job's task), and its close. The tag is a value moved into the job's task
//! and swapped into a thread-local at each poll.
//!
//! Only the text format without colours reads the tag ([`JobTag::enable`] is called when that
//! format is installed); JSON logs and the coloured format keep the real span, so their output is
//! what `tracing_subscriber` writes.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static ENABLED: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    static JOB: JobTag;
}

/// A job's id and try, and its function once the payload is decoded.
#[derive(Debug)]
pub struct JobTag {
    id: String,
    job_try: i64,
    function: OnceLock<String>,
}

impl JobTag {
    pub fn new(id: String, job_try: i64) -> JobTag {
        JobTag {
            id,
            job_try,
            function: OnceLock::new(),
        }
    }

    /// Jobs are tagged from now on (the text format that reads tags is installed).
    pub fn enable() {
        ENABLED.store(true, Ordering::Relaxed);
    }

    /// Whether jobs are tagged (else each runs in a `job` span).
    pub fn enabled() -> bool {
        ENABLED.load(Ordering::Relaxed)
    }

    /// Runs `f` with this tag on every line it logs.
    pub fn scope<F: Future>(self, f: F) -> impl Future<Output = F::Output> {
        JOB.scope(self, f)
    }

    /// Runs `f` with this tag on every line it logs (synchronous code).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        JOB.sync_scope(self, f)
    }

    /// Records the function of the job being run (the first record counts).
    pub fn record_function(name: &str) {
        let _ = JOB.try_with(|tag| tag.function.set(name.to_owned()));
    }

    /// Writes the current job's tag followed by `:`, as the span's prefix reads; false when no
    /// job's code is running. `escape` writes the id (from Redis: it may hold control
    /// characters, escaped as a message's are).
    pub(super) fn write_current(
        out: &mut dyn fmt::Write,
        escape: impl FnOnce(&mut dyn fmt::Write, &str) -> fmt::Result,
    ) -> Result<bool, fmt::Error> {
        JOB.try_with(|tag| {
            out.write_str("job{job_id=")?;
            escape(out, &tag.id)?;
            write!(out, " try={}", tag.job_try)?;
            if let Some(function) = tag.function.get() {
                write!(out, " function={function:?}")?;
            }
            out.write_str("}:").map(|()| true)
        })
        .unwrap_or(Ok(false))
    }
}
