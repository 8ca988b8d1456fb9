//! Leases: a job's in-progress key, owned by one run of it and fenced locally.
//!
//! The key's value is a token unique to the run (`{worker id}|{process nonce}|{n}`); Python
//! workers only test that the key exists, so the value is ours to use. Each run has a
//! `Lease` that records until when (on this process's monotonic clock) Redis is known to
//! keep the key with our token: the instant a claim or renewal was *sent*, plus the TTL, minus
//! a margin for the two clocks' drift. Once that instant has passed without a renewal the run
//! is fenced: `Fenced` checks the lease before every poll of the job's future, so even a
//! process resumed after SIGSTOP cannot take one more step of a job whose key may by then
//! belong to another worker. The finish script checks the token again in Redis, atomically,
//! so a fenced or replayed finish writes nothing.

use futures::task::AtomicWaker;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds on this process's monotonic clock (never jumps, keeps counting across a
/// SIGSTOP).
pub(crate) fn mono_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

fn instant_at(ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(*EPOCH + Duration::from_millis(ms))
}

/// How long before the TTL runs out (by our clock) we stop trusting the key: covers a Redis
/// clock running faster than ours and the time a reply spends on the way back.
pub(crate) fn safety_margin(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(2))
}

/// One run's hold on its in-progress key.
#[derive(Debug)]
pub(crate) struct Lease {
    /// Shared, not copied: the claim sends every held id with each claim.
    pub job_id: Arc<[u8]>,
    pub token: String,
    /// `mono_ms()` until which the key is known to hold `token`.
    confirmed_until: AtomicU64,
    lost: AtomicBool,
    /// The loss is in `leases_lost_total` (once, whoever saw it first: the fence while the
    /// job runs, the renewer or the finish script after it ran).
    loss_counted: AtomicBool,
    /// The run's function has returned and its finish is being written: the finish may
    /// remove the key at any moment, so a renewal that finds it gone is not a loss by itself.
    finishing: AtomicBool,
    waker: AtomicWaker,
}

impl Lease {
    pub fn new(job_id: &[u8], token: String, sent_ms: u64, ttl: Duration) -> Self {
        let lease = Lease {
            job_id: Arc::from(job_id),
            token,
            confirmed_until: AtomicU64::new(0),
            lost: AtomicBool::new(false),
            loss_counted: AtomicBool::new(false),
            finishing: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        };
        lease.confirm(sent_ms, ttl);
        lease
    }

    /// Redis confirmed the key (set or extended by a command sent at `sent_ms`).
    pub fn confirm(&self, sent_ms: u64, ttl: Duration) {
        let until = sent_ms + (ttl - safety_margin(ttl)).as_millis() as u64;
        self.confirmed_until.fetch_max(until, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Redis no longer holds our token (expired, deleted, or another worker's claim).
    pub fn lose(&self) {
        self.lost.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The run's function has returned; its finish is on the way.
    pub fn mark_finishing(&self) {
        self.finishing.store(true, Ordering::Release);
    }

    pub fn is_finishing(&self) -> bool {
        self.finishing.load(Ordering::Acquire)
    }

    /// Counts this lease's loss in `leases_lost_total`, unless it already is.
    pub fn count_loss(&self, metrics: &crate::metrics::Metrics) {
        if !self.loss_counted.swap(true, Ordering::AcqRel) {
            metrics.lease_lost();
        }
    }

    pub fn until_ms(&self) -> u64 {
        self.confirmed_until.load(Ordering::Acquire)
    }

    pub fn held(&self) -> bool {
        !self.lost.load(Ordering::Acquire) && mono_ms() < self.until_ms()
    }
}

/// Every lease this worker holds, by job id; the renewer extends them together.
#[derive(Default)]
pub(crate) struct Leases {
    map: Mutex<HashMap<Arc<[u8]>, Arc<Lease>, foldhash::fast::RandomState>>,
}

impl Leases {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Arc<[u8]>, Arc<Lease>, foldhash::fast::RandomState>>
    {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, lease: Arc<Lease>) {
        self.lock().insert(lease.job_id.clone(), lease);
    }

    /// Forgets a lease once its run is over (finish written, or fenced). Only the same lease
    /// is removed: a later run of the same id has its own.
    pub fn remove(&self, lease: &Arc<Lease>) {
        let mut map = self.lock();
        if map
            .get(&lease.job_id)
            .is_some_and(|l| Arc::ptr_eq(l, lease))
        {
            map.remove(&lease.job_id);
        }
    }

    pub fn snapshot(&self) -> Vec<Arc<Lease>> {
        self.lock().values().cloned().collect()
    }

    pub fn ids(&self) -> Vec<Arc<[u8]>> {
        self.lock().keys().cloned().collect()
    }

    /// Whether `lease` is still the one held for its job.
    pub fn holds(&self, lease: &Arc<Lease>) -> bool {
        self.lock()
            .get(&lease.job_id)
            .is_some_and(|l| Arc::ptr_eq(l, lease))
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The job's lease ran out before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseLost;

/// A future that is polled only while its lease is held.
pub(crate) struct Fenced<F> {
    inner: Pin<Box<F>>,
    lease: Arc<Lease>,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed_for: u64,
}

pub(crate) fn fenced<F: Future>(lease: Arc<Lease>, inner: F) -> Fenced<F> {
    let until = lease.until_ms();
    Fenced {
        inner: Box::pin(inner),
        timer: Box::pin(tokio::time::sleep_until(instant_at(until))),
        armed_for: until,
        lease,
    }
}

impl<F: Future> Future for Fenced<F> {
    type Output = Result<F::Output, LeaseLost>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.lease.waker.register(cx.waker());
        loop {
            // Checked before the job's future: after a stall (SIGSTOP, a starved runtime) the
            // first thing that runs is this test, not one more step of the job.
            if !this.lease.held() {
                return Poll::Ready(Err(LeaseLost));
            }
            if let Poll::Ready(v) = this.inner.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            let until = this.lease.until_ms();
            if until != this.armed_for {
                this.timer.as_mut().reset(instant_at(until));
                this.armed_for = until;
            }
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: look at the lease again (a renewal may have moved it on).
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fences_a_job_whose_lease_runs_out() {
        let lease = Arc::new(Lease::new(
            b"a",
            "t".into(),
            mono_ms(),
            Duration::from_millis(500),
        ));
        let started = Instant::now();
        let r = fenced(lease, tokio::time::sleep(Duration::from_secs(10))).await;
        assert_eq!(r, Err(LeaseLost));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(350), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn renewals_keep_it_running_and_loss_stops_it_at_once() {
        let ttl = Duration::from_millis(400);
        let lease = Arc::new(Lease::new(b"a", "t".into(), mono_ms(), ttl));
        let l2 = lease.clone();
        let renew = tokio::spawn(async move {
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                l2.confirm(mono_ms(), ttl);
            }
            l2.lose();
        });
        let started = Instant::now();
        let r = fenced(lease, tokio::time::sleep(Duration::from_secs(10))).await;
        assert_eq!(r, Err(LeaseLost));
        assert!(started.elapsed() >= Duration::from_millis(750));
        assert!(started.elapsed() < Duration::from_millis(1500));
        renew.await.unwrap();
    }

    #[tokio::test]
    async fn a_finished_job_returns_its_value() {
        let lease = Arc::new(Lease::new(
            b"a",
            "t".into(),
            mono_ms(),
            Duration::from_secs(5),
        ));
        assert_eq!(fenced(lease, async { 7 }).await, Ok(7));
    }
}
