//! Claiming ahead: while the jobs are short, a claim may go out before slots are free for its
//! jobs, so Redis runs the next claim while the worker runs this batch instead of the two
//! taking turns. Without it a claim waits for the functions of the batch before it to return
//! (claims in flight count against max_jobs), and a drain of no-op jobs alternates between
//! Redis working and the worker working: about 1.0 ms and 0.6 ms per 100 jobs on the bench VM.
//!
//! At most max_jobs functions still run at once: each job takes one of max_jobs permits
//! ([`Permits`]) before its function runs, in claim order, and lets it go once its result
//! is made (so its finish time comes before the next job's start). A job claimed ahead
//! holds its lease (renewed as any other) while it waits, so it waits only behind short
//! jobs: claiming ahead is allowed only once the last [`SHORT_STREAK`]-or-max_jobs functions
//! (whichever is more) each took less than [`SHORT_MS`], and stops at the first that does
//! not. A batch of long jobs that starts while it is allowed can hold at most one claim's
//! worth of jobs (max_jobs) behind it, until the first of its functions returns. A payload
//! of [`BIG_PAYLOAD`] bytes or more stops it too: the jobs held (up to 4 x max_jobs while it
//! is on, 2 x max_jobs off) hold their payloads.

use std::sync::atomic::{AtomicU64, Ordering};

/// A function that took less than this is short.
pub(crate) const SHORT_MS: i64 = 5;

/// Short functions in a row before claims go ahead of free slots (at least max_jobs).
pub(crate) const SHORT_STREAK: u64 = 32;

/// A claimed payload this big stops claiming ahead until a new streak of short functions.
pub(crate) const BIG_PAYLOAD: usize = 64 << 10;

/// The recent functions' durations, as far as claiming ahead cares.
#[derive(Default)]
pub(crate) struct Ahead {
    /// Functions in a row that were short, since the last one that was not.
    short_streak: AtomicU64,
}

impl Ahead {
    /// Records how long a function took.
    pub fn note(&self, took_ms: i64) {
        if took_ms < SHORT_MS {
            self.short_streak.fetch_add(1, Ordering::Relaxed);
        } else {
            self.short_streak.store(0, Ordering::Relaxed);
        }
    }

    /// Records the size of a claimed job's payload.
    pub fn note_payload(&self, bytes: usize) {
        if bytes >= BIG_PAYLOAD {
            self.short_streak.store(0, Ordering::Relaxed);
        }
    }

    /// How many jobs a claim may take beyond the free slots now: max_jobs while the recent
    /// functions were all short, else none.
    pub fn allowed(&self, max_jobs: usize) -> usize {
        let streak = self.short_streak.load(Ordering::Relaxed);
        if streak >= SHORT_STREAK.max(max_jobs as u64) {
            max_jobs
        } else {
            0
        }
    }
}

/// The max_jobs permits a job's function runs under.
pub(crate) struct Permits(tokio::sync::Semaphore);

impl Permits {
    pub fn new(max_jobs: usize) -> Self {
        Permits(tokio::sync::Semaphore::new(max_jobs.max(1)))
    }

    /// Waits for a permit (first come, first served: jobs start in claim order). `None` once
    /// `cut_short` ends first (an abort or the shutdown: the job goes on to end as such at
    /// once, with no function run).
    pub async fn acquire(
        &self,
        cut_short: impl std::future::Future<Output = ()>,
    ) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::select! {
            biased;
            p = self.0.acquire() => p.ok(),
            _ = cut_short => None,
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.0.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions(a: &Ahead, n: usize, took_ms: i64) {
        (0..n).for_each(|_| a.note(took_ms));
    }

    #[test]
    fn ahead_only_after_a_streak_of_short_functions() {
        let a = Ahead::default();
        assert_eq!(a.allowed(100), 0);
        functions(&a, 99, 0);
        assert_eq!(a.allowed(100), 0, "fewer short functions than max_jobs");
        a.note(4);
        assert_eq!(a.allowed(100), 100);
        // One long function stops it until a new streak.
        a.note(5);
        assert_eq!(a.allowed(100), 0);
        functions(&a, 31, 1);
        assert_eq!(a.allowed(10), 0, "the streak is at least SHORT_STREAK");
        a.note(1);
        assert_eq!(a.allowed(10), 10);
        // A big payload stops it as a long function does; a small one does not.
        a.note_payload(BIG_PAYLOAD - 1);
        assert_eq!(a.allowed(10), 10);
        a.note_payload(BIG_PAYLOAD);
        assert_eq!(a.allowed(10), 0);
    }

    #[tokio::test]
    async fn permits_cap_functions_and_give_way_to_an_abort() {
        let p = Permits::new(2);
        let a = p.acquire(std::future::pending()).await;
        let b = p.acquire(std::future::pending()).await;
        assert!(a.is_some() && b.is_some());
        assert_eq!(p.available(), 0);
        // No permit left: the abort ends the wait.
        assert!(p.acquire(std::future::ready(())).await.is_none());
        drop(a);
        // A free permit wins over an abort that is also ready (biased): the job runs and
        // then sees the abort itself.
        assert!(p.acquire(std::future::ready(())).await.is_some());
    }
}
