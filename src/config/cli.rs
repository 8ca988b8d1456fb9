//! The command line as clap sees it: the flags (common and worker) and the subcommands.

use super::common::Common;
use super::dashboard::DashboardFlags;
use super::worker::WorkerFlags;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "lyanna-worker",
    version,
    about = "A Rust worker and client for Python arq's Redis job queue"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub worker: WorkerFlags,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Enqueue FUNCTION(ARG..., K=V...); prints the job id.
    Enqueue {
        function: String,
        /// Positional arguments, each parsed as JSON, else taken as a string.
        args: Vec<String>,
        /// Keyword argument K=V (V parsed as JSON, else a string); repeatable.
        #[arg(long = "kwarg", value_name = "K=V")]
        kwargs: Vec<String>,
        #[arg(long)]
        job_id: Option<String>,
        /// Seconds to defer the job by.
        #[arg(long, conflicts_with = "defer_until")]
        defer_by: Option<f64>,
        /// Start no earlier than TIME (RFC 3339, or Unix seconds).
        #[arg(long)]
        defer_until: Option<String>,
        /// Seconds after which the job is dropped if not started.
        #[arg(long)]
        expires: Option<f64>,
    },
    /// Print a job's status: deferred, queued, in_progress, complete or not_found.
    Status { id: String },
    /// Print a job's result as JSON; exit 1 if the job failed, 2 if there is no result.
    Result {
        id: String,
        /// Seconds to wait for the result.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
    /// Abort a job; exit 0 if it ended aborted within --wait seconds.
    Abort {
        id: String,
        #[arg(long, default_value_t = 5.0)]
        wait: f64,
    },
    /// Counts of queued, deferred, in-progress jobs and stored results.
    Queue {
        #[arg(long)]
        json: bool,
    },
    /// List jobs (the dashboard's listing): the queue's jobs by due time, or stored results
    /// newest first.
    Jobs {
        /// all, queued, deferred, in_progress or complete.
        #[arg(long, default_value = "all")]
        state: String,
        /// Only jobs of this function.
        #[arg(long)]
        function: Option<String>,
        /// Only results that succeeded (true) or failed (false).
        #[arg(long)]
        success: Option<bool>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Where the previous page ended (printed after it).
        #[arg(long, default_value_t = 0)]
        cursor: u64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Enqueue a failed job again with the same function and arguments; prints the new id.
    Retry {
        id: String,
        /// Delete the failed result and enqueue under the same id.
        #[arg(long)]
        same_id: bool,
    },
    /// Delete a job's result, so its id can be enqueued again.
    Delete { id: String },
}

impl Cli {
    /// Every secret the command line carries: the Redis credentials and the admin token, for
    /// the log writer and exit messages to scrub.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = self.common.secrets();
        if let Some(t) = &self.dashboard.admin_token {
            out.push(t.expose().to_string());
            out.push(t.expose().trim().to_string());
        }
        out.retain(|s| !s.is_empty());
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }
}
