//! Command line and environment -> a validated configuration. Every bad value is reported
//! naming its flag and environment variable, with exit code 64 (EX_USAGE), before anything
//! connects.
//!
//! - `cli.rs`: the command line as clap sees it ([`Cli`], the subcommands).
//! - `common.rs`: flags every command takes ([`Common`]: Redis, queue, codec, log format).
//! - `redis.rs`: those flags and the blog's sentinel variables -> [`RedisSettings`].
//! - `worker.rs`: the worker's flags ([`WorkerFlags`]) -> [`WorkerSettings`], the admin
//!   address.
//! - `dashboard.rs`: `--ui`, `--admin-token` and `--ui-allowed-hosts` ([`DashboardFlags`]).
//! - `errors.rs`: [`ConfigError`] (exit 64, naming flag and variable).
//! - `values.rs`: parsers shared by the settings (seconds, ...).
//!
//! [`RedisSettings`]: crate::conn::RedisSettings
//! [`WorkerSettings`]: crate::worker::WorkerSettings

mod cli;
mod common;
mod dashboard;
mod errors;
mod redis;
mod values;
mod worker;

pub use cli::{Cli, Command};
pub use common::Common;
pub use dashboard::DashboardFlags;
pub use errors::{ConfigError, EXIT_USAGE};
pub use worker::{HttpAddr, WorkerFlags};

#[cfg(test)]
pub(crate) fn parse_for_test(args: &[&str]) -> Cli {
    use clap::Parser;
    let mut v = vec!["lyanna-worker"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).unwrap()
}
