//! lyanna-worker: a worker and client for Python arq's Redis job queue, byte for byte
//! compatible, so Python producers, Python workers and ours share one queue.
//!
//! # Layout
//! - [`codec`]: pickle (safe subset, our own), msgpack and JSON; bytes <-> [`Value`]. Pure,
//!   but for [`codec::decode_job`], which moves big payloads off the async runtime;
//!   [`codec::limits`] holds the per-payload memory budget.
//! - [`protocol`]: arq's key names, job/result maps, health string and cron arithmetic. Pure.
//! - [`conn`]: Redis connectivity: the shared connection to the master (URL or Sentinel,
//!   rediscovered on failover), reconnects with backoff, TLS, readiness, secrets masked;
//!   `conn::script` (EVALSHA with arguments copied once), `conn::refresh` (a fresh connection
//!   after a big reply or command); the log's stderr writer (`conn::log_writer`: redacted,
//!   buffered, written by a thread of its own).
//! - [`worker`]: the job's life in order: [`worker::claim`] (Lua, batched, a lease token per
//!   run; up to two claims in flight, `worker::inflight`; ahead of the free slots while
//!   jobs are short, `worker::ahead`) -> [`worker::admission`] (decode, arq's checks) ->
//!   [`worker::call`] (timeout, abort; under one of max_jobs permits)
//!   -> [`worker::outcome`] -> [`worker::finish`] (one script per batch, token-checked, so
//!   safe to repeat); each run fenced by its [`worker::lease`], renewed by [`worker::renew`] on
//!   its own timer; beside them [`worker::identity`] (takeover of a dead predecessor's leases),
//!   [`worker::abort`], [`worker::cron`], [`worker::health`], `worker::stuck` (jobs behind a
//!   stray in-progress key), [`worker::wakeup`] (keyspace notifications); [`worker::shared`] holds what they all use.
//! - [`client`]: enqueue / status / result / abort / queue summary, for Rust producers and the
//!   CLI.
//! - [`config`]: CLI flags and environment -> validated worker and Redis settings (exit 64 on
//!   a bad value, naming the flag and its variable); a file per concern (`cli`, `common`,
//!   `redis`, `worker`, `dashboard`, `errors`, `values`).
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`admin`]: the HTTP admin server (`/livez`, `/readyz`, `/metrics`, and the dashboard).
//! - [`dashboard`]: the dashboard's read model (per queue counts, workers from the health
//!   keys, throughput from the results, job listings, one job, cron) and its actions (abort,
//!   retry, delete: arq client calls), shared by the pages and the CLI.
//! - [`ui`]: the web dashboard under `/ui`: routes, token/session/CSRF auth, the Host check
//!   (DNS rebinding) and the wrong-token limit, maud pages.
//! - [`commands`]: what each command line does (worker, `--check`, client commands; the
//!   dashboard's `jobs` / `retry` / `delete` in `commands/jobs.rs`) and its output and exit
//!   codes.
//! - `main.rs`: sets up logging (`--log-level`) and the runtime (`--runtime-threads`), turns
//!   signals into the shutdown token and runs a command.
//!
//! Outside the crate: `examples/redis_floor.rs` runs `worker/claim.lua` and `finish.lua` in
//! a minimal loop (the Redis floor of `scripts/bench`); `benches/` holds the harness, the
//! criterion benches and the peers of `scripts/bench --peers`.
//!
//! Task functions and their value model live in `lyanna-task-api`; the task sets
//! (`Diagnostics`, the blog's `WorkerSettings`) in `lyanna-tasks`.
//! The tests' shared harness is the dev-only `lyanna-testkit` crate (`testkit/`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod client;
pub mod codec;
pub mod commands;
pub mod config;
pub mod conn;
pub mod dashboard;
pub mod metrics;
pub mod protocol;
pub mod ui;
pub mod worker;

pub use lyanna_task_api::{Args, JobContext, TaskError, TaskSet, Value};
