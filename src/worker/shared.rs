//! What every step of a job's life shares: the settings, the functions by name, Redis, the
//! finisher, the leases, metrics and counters. Below the steps: claim, execute, finish,
//! running, cron and the renewer import it; the poll loop (`worker/mod.rs`) builds it.

use super::ahead::{Ahead, Permits};
use super::execute::Outcome;
use super::finish::Finisher;
use super::identity::Identity;
use super::lease::Leases;
use super::settings::WorkerSettings;
use crate::conn::Redis;
use crate::metrics::Metrics;
use lyanna_task_api::{FunctionOptions, TaskFn};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The worker's per-job maps (running jobs, functions; the lease map, which this module
/// imports, names the same hasher): foldhash, seeded at random per process, hashes a job id
/// in a fraction of SipHash's time, several times per job; ids come from producers, and the
/// random seed keeps crafted collisions out of their reach.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A function or cron job as the worker looks it up by name.
#[derive(Clone)]
pub(crate) struct Entry {
    pub call: TaskFn,
    pub options: FunctionOptions,
    pub is_cron: bool,
}

/// Counters for the health string and burst limits.
#[derive(Default)]
pub struct Counters {
    pub complete: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

/// State every job task shares.
pub(crate) struct Shared {
    pub settings: WorkerSettings,
    pub functions: Map<String, Entry>,
    /// The highest max_tries of any function: a job tried more often than this fails before
    /// its payload is even decoded.
    pub max_tries_any: u32,
    pub redis: Redis,
    pub finisher: Finisher,
    pub metrics: Arc<Metrics>,
    pub counters: Counters,
    pub leases: Arc<Leases>,
    pub identity: Arc<Identity>,
    /// The in-progress key's TTL (the lease).
    pub lease_ttl: Duration,
    /// Numbers the tokens of this process's claims.
    pub next_token: AtomicU64,
    /// Each job task sends its task id here as its last act: the poll loop's free slots.
    pub job_done: tokio::sync::mpsc::UnboundedSender<tokio::task::Id>,
    /// Jobs whose function has returned and whose finish is being written: their slots take
    /// new jobs meanwhile (see `poll.rs`).
    pub finishing: AtomicUsize,
    /// Notified when a job's function returns (a slot is free for the next claim).
    pub slot_freed: tokio::sync::Notify,
    /// The max_jobs permits functions run under (jobs claimed ahead wait for one).
    pub permits: Permits,
    /// Whether claims may go ahead of free slots (the recent jobs were short).
    pub ahead: Ahead,
}

/// Counts a job as finishing while it lives (a guard, so a task dropped mid-finish is not
/// counted for ever).
pub(crate) struct Finishing<'a>(&'a Shared);

impl<'a> Finishing<'a> {
    pub fn new(shared: &'a Shared) -> Self {
        shared.finishing.fetch_add(1, Ordering::AcqRel);
        shared.slot_freed.notify_one();
        Finishing(shared)
    }
}

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        self.0.finishing.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    pub(crate) fn count(&self, outcome: Outcome) {
        let c = match outcome {
            Outcome::Complete => &self.counters.complete,
            Outcome::Failed => &self.counters.failed,
            Outcome::Retried => &self.counters.retried,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reserves `n` token numbers for one claim.
    pub(crate) fn reserve_tokens(&self, n: usize) -> u64 {
        self.next_token.fetch_add(n as u64, Ordering::Relaxed)
    }
}
