//! Prometheus metrics of one worker process (served by the admin server's `/metrics`), all
//! prefixed `lyanna_worker_`: job counters per function (`jobs_{started,completed,failed,
//! retried,aborted}_total`), `job_duration_seconds` and `job_queue_wait_seconds` histograms,
//! `jobs_in_progress`, `slots`, `queue_depth`, `oldest_due_job_age_seconds`,
//! `redis_connections_total` / `redis_reconnects_total`, `cron_enqueued_total`,
//! `leases_lost_total`, `finish_errors_total` and `build_info`.

use crate::worker::execute::Outcome;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

type Labels = Vec<(String, String)>;

/// Functions whose series are kept in [`Metrics::series`]; past this many (names come from
/// job payloads, though only registered functions start), updates go to the families directly.
const MAX_CACHED_FUNCTIONS: usize = 1024;

/// One function's series, cloned out of their families on first use. A clone shares the
/// family's value, so a job's updates cost one map lookup instead of a label set built,
/// hashed and looked up per update. Each is made when first used, as the family would make
/// it: a function that never failed has no failed series.
#[derive(Default)]
struct FunctionSeries {
    started: OnceLock<Counter>,
    completed: OnceLock<Counter>,
    failed: OnceLock<Counter>,
    retried: OnceLock<Counter>,
    duration: OnceLock<Histogram>,
    queue_wait: OnceLock<Histogram>,
}

/// Applies `apply` to `f`'s metric of `fam`: through its cached clone in `slot` (made on first
/// use), or, past the cache's bound (`slot` is `None`), in the family itself.
fn update<M: Clone, C: MetricConstructor<M>>(
    fam: &Family<Labels, M, C>,
    slot: Option<&OnceLock<M>>,
    f: &str,
    apply: impl FnOnce(&M),
) {
    match slot {
        Some(slot) => apply(slot.get_or_init(|| fam.get_or_create(&function(f)).clone())),
        None => apply(&fam.get_or_create(&function(f))),
    }
}

fn function(name: &str) -> Labels {
    vec![("function".to_string(), name.to_string())]
}

fn seconds_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0,
    ])
}

/// Counters and gauges the worker updates as jobs move.
pub struct Metrics {
    registry: Registry,
    started: Family<Labels, Counter>,
    completed: Family<Labels, Counter>,
    failed: Family<Labels, Counter>,
    retried: Family<Labels, Counter>,
    aborted: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
    queue_wait: Family<Labels, Histogram>,
    pub in_progress: Gauge,
    /// Jobs this worker may run at once (`max_jobs`): total slots, `in_progress` the busy ones.
    pub slots: Gauge,
    pub queue_depth: Gauge,
    /// Seconds since the oldest due job that is not running became due (0 when none).
    pub oldest_due_age: Gauge<f64, AtomicU64>,
    pub redis_connections: Counter,
    cron_enqueued: Family<Labels, Counter>,
    leases_lost: Counter,
    finish_errors: Counter,
    series: RwLock<HashMap<String, Arc<FunctionSeries>, foldhash::fast::RandomState>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lyanna_worker");
        let m = Metrics {
            started: Family::default(),
            completed: Family::default(),
            failed: Family::default(),
            retried: Family::default(),
            aborted: Family::default(),
            duration: Family::new_with_constructor(seconds_histogram),
            queue_wait: Family::new_with_constructor(seconds_histogram),
            in_progress: Gauge::default(),
            slots: Gauge::default(),
            queue_depth: Gauge::default(),
            oldest_due_age: Gauge::default(),
            redis_connections: Counter::default(),
            cron_enqueued: Family::default(),
            leases_lost: Counter::default(),
            finish_errors: Counter::default(),
            series: RwLock::default(),
            registry: Registry::default(),
        };
        registry.register(
            "jobs_started",
            "Jobs started, by function",
            m.started.clone(),
        );
        registry.register(
            "jobs_completed",
            "Jobs that returned a value",
            m.completed.clone(),
        );
        registry.register(
            "jobs_failed",
            "Jobs finished with an error (aborts included)",
            m.failed.clone(),
        );
        registry.register(
            "jobs_retried",
            "Jobs put back on the queue to run again",
            m.retried.clone(),
        );
        registry.register(
            "jobs_aborted",
            "Jobs aborted by a client",
            m.aborted.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Run time of a job",
            m.duration.clone(),
        );
        registry.register(
            "job_queue_wait_seconds",
            "Time from when a job was due (enqueue or defer time) to its start",
            m.queue_wait.clone(),
        );
        registry.register(
            "jobs_in_progress",
            "Jobs running in this worker",
            m.in_progress.clone(),
        );
        registry.register(
            "slots",
            "Jobs this worker may run at once (max_jobs)",
            m.slots.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs in the queue set (due, deferred and running)",
            m.queue_depth.clone(),
        );
        registry.register(
            "oldest_due_job_age_seconds",
            "Seconds since the oldest due job that is not running became due (0 when none)",
            m.oldest_due_age.clone(),
        );
        registry.register(
            "redis_connections",
            "Connections made to Redis (reconnects after the first)",
            m.redis_connections.clone(),
        );
        registry.register_collector(Box::new(Reconnects(m.redis_connections.clone())));
        registry.register(
            "cron_enqueued",
            "Cron ticks enqueued by this worker",
            m.cron_enqueued.clone(),
        );
        registry.register(
            "leases_lost",
            "Runs stopped or discarded because their lease was not confirmed in time or went to another worker",
            m.leases_lost.clone(),
        );
        registry.register(
            "finish_errors",
            "Finishes that failed on a key of the wrong type (the job's other writes applied)",
            m.finish_errors.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(vec![
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                (
                    "profile".to_string(),
                    if cfg!(debug_assertions) {
                        "debug"
                    } else {
                        "release"
                    }
                    .to_string(),
                ),
            ]),
        );
        Metrics { registry, ..m }
    }

    /// `f`'s series, made on first use (`None` once too many functions have been seen).
    fn series(&self, f: &str) -> Option<Arc<FunctionSeries>> {
        if let Some(s) = self.series.read().unwrap_or_else(|p| p.into_inner()).get(f) {
            return Some(s.clone());
        }
        let mut all = self.series.write().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_CACHED_FUNCTIONS && !all.contains_key(f) {
            return None;
        }
        Some(all.entry(f.to_string()).or_default().clone())
    }

    pub fn started(&self, f: &str, wait_ms: i64) {
        let s = self.series(f);
        let s = s.as_deref();
        update(&self.started, s.map(|s| &s.started), f, |c| {
            c.inc();
        });
        update(&self.queue_wait, s.map(|s| &s.queue_wait), f, |h| {
            h.observe(wait_ms as f64 / 1000.0)
        });
    }

    pub fn finished(&self, f: &str, outcome: Outcome, seconds: f64) {
        let s = self.series(f);
        let s = s.as_deref();
        let (fam, slot) = match outcome {
            Outcome::Complete => (&self.completed, s.map(|s| &s.completed)),
            Outcome::Failed => (&self.failed, s.map(|s| &s.failed)),
            Outcome::Retried => (&self.retried, s.map(|s| &s.retried)),
        };
        update(fam, slot, f, |c| {
            c.inc();
        });
        update(&self.duration, s.map(|s| &s.duration), f, |h| {
            h.observe(seconds)
        });
    }

    pub fn aborted(&self, f: &str) {
        self.aborted.get_or_create(&function(f)).inc();
    }

    /// A run stopped (or its finish discarded) because its lease was no longer ours.
    pub fn lease_lost(&self) {
        self.leases_lost.inc();
    }

    /// A finish that failed on a key of the wrong type (the job's other writes applied).
    pub fn finish_error(&self) {
        self.finish_errors.inc();
    }

    pub fn cron_enqueued(&self, name: &str) {
        self.cron_enqueued
            .get_or_create(&vec![("name".to_string(), name.to_string())])
            .inc();
    }

    /// The OpenMetrics text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// `redis_reconnects_total`: connections made after the first, derived from
/// `redis_connections` at scrape time so the two can never disagree.
#[derive(Debug)]
struct Reconnects(Counter);

impl Collector for Reconnects {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(self.0.get().saturating_sub(1));
        let metric = encoder.encode_descriptor(
            "redis_reconnects",
            "Reconnections to Redis after the first connection",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::new();
        m.started("noop", 1500);
        m.finished("noop", Outcome::Complete, 0.25);
        m.aborted("noop");
        m.cron_enqueued("tick");
        m.redis_connections.inc_by(3);
        m.slots.set(4);
        m.oldest_due_age.set(2.5);
        m.lease_lost();
        m.finish_error();
        let text = m.render();
        for want in [
            "lyanna_worker_jobs_started_total{function=\"noop\"} 1",
            "lyanna_worker_jobs_completed_total{function=\"noop\"} 1",
            "lyanna_worker_jobs_aborted_total{function=\"noop\"} 1",
            "lyanna_worker_job_duration_seconds_count{function=\"noop\"} 1",
            "lyanna_worker_job_queue_wait_seconds_sum{function=\"noop\"} 1.5",
            "lyanna_worker_jobs_in_progress 0",
            "lyanna_worker_queue_depth 0",
            "lyanna_worker_slots 4",
            "lyanna_worker_oldest_due_job_age_seconds 2.5",
            "lyanna_worker_leases_lost_total 1",
            "lyanna_worker_finish_errors_total 1",
            "lyanna_worker_redis_connections_total 3",
            "lyanna_worker_redis_reconnects_total 2",
            "lyanna_worker_cron_enqueued_total{name=\"tick\"} 1",
            "# TYPE lyanna_worker_build info",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    /// The cached series count into the families the registry exposes, a series appears
    /// only once used, and functions past the cache's bound are still counted.
    #[test]
    fn cached_series_are_the_exposed_ones() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.started("mail", 10);
            m.finished("mail", Outcome::Complete, 0.1);
        }
        m.finished("mail", Outcome::Retried, 0.1);
        let text = m.render();
        for want in [
            "lyanna_worker_jobs_started_total{function=\"mail\"} 3",
            "lyanna_worker_jobs_completed_total{function=\"mail\"} 3",
            "lyanna_worker_jobs_retried_total{function=\"mail\"} 1",
            "lyanna_worker_job_duration_seconds_count{function=\"mail\"} 4",
            "lyanna_worker_job_queue_wait_seconds_count{function=\"mail\"} 3",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("jobs_failed_total{"), "{text}");

        for i in 0..MAX_CACHED_FUNCTIONS + 5 {
            m.started(&format!("f{i}"), 0);
        }
        m.started("f1028", 0);
        m.finished("f1028", Outcome::Failed, 0.5);
        let text = m.render();
        for want in [
            "lyanna_worker_jobs_started_total{function=\"f0\"} 1",
            "lyanna_worker_jobs_started_total{function=\"f1028\"} 2",
            "lyanna_worker_jobs_failed_total{function=\"f1028\"} 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(m.series.read().unwrap().len(), MAX_CACHED_FUNCTIONS);
    }
}
