//! Claims in flight. The poll loop sends a claim and goes on (its other steps, waiting for
//! slots) while Redis runs it, so the slots that free meanwhile can go to a second claim: one
//! claim's round trip overlaps the other's jobs instead of waiting behind them. Each claim
//! reserves the slots it asks for until its reply is in, so claims in flight never ask for
//! more jobs than the worker has room for.
//!
//! Two claims in flight cannot take the same job: each one's `SET NX` of the in-progress key
//! fails for a job the other has set, in Redis, whichever runs first.

use super::claim::{claim, ClaimRequest, Claimed};
use super::shared::Shared;
use crate::protocol::now_ms;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Most claims in flight at once: two, so one's round trip overlaps the other's jobs (a
/// third adds round trips without adding overlap).
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// A claim's reply, with the slots it had reserved.
pub(crate) struct ClaimDone {
    pub want: usize,
    pub result: redis::RedisResult<Vec<Claimed>>,
}

impl ClaimDone {
    /// Every slot asked for was filled: more jobs may be due.
    pub fn full(&self) -> bool {
        self.result.as_ref().is_ok_and(|c| c.len() == self.want)
    }
}

#[derive(Default)]
pub(crate) struct InFlight {
    tasks: JoinSet<ClaimDone>,
    /// The slots each claim in flight reserved, by its task.
    wants: HashMap<tokio::task::Id, usize>,
}

impl InFlight {
    /// Slots reserved by claims in flight.
    pub fn slots(&self) -> usize {
        self.wants.values().sum()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Sends a claim of up to `want` jobs in a task of its own.
    pub fn send(&mut self, shared: &Arc<Shared>, mut conn: MultiplexedConnection, want: usize) {
        let shared = shared.clone();
        // Read now, not when the task runs: a job this worker still holds is never claimed
        // again (the jobs of a claim still in flight are kept out by their SET NX instead).
        let held = shared.leases.ids();
        let first_token = shared.reserve_tokens(want);
        let handle = self.tasks.spawn(async move {
            let s = &shared.settings;
            let req = ClaimRequest {
                queue: &s.queue_name,
                lease_set: &shared.identity.lease_set,
                // Python producers score with round(time * 1000), up to half a ms ahead of
                // our truncated clock; woken by the ZADD's notification within that ms, we
                // would find the job not yet due and sleep past it.
                now_ms: now_ms() + 1,
                in_progress_ttl_ms: shared.lease_ttl.as_millis() as i64,
                max_claim: want,
                read_limit: s.queue_read_limit.max(1),
                aborts_enabled: s.allow_abort_jobs,
                token_prefix: &shared.identity.token_prefix,
                first_token,
                held,
            };
            let result = claim(&mut conn, &req).await;
            ClaimDone { want, result }
        });
        self.wants.insert(handle.id(), want);
    }

    /// The next claim to answer; `None` when none is in flight.
    pub async fn next(&mut self) -> Option<ClaimDone> {
        let joined = self.tasks.join_next_with_id().await?;
        let (id, done) = match joined {
            Ok((id, done)) => (id, done),
            Err(e) => {
                let want = self.wants.get(&e.id()).copied().unwrap_or(0);
                let err = redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "claim task ended without a reply",
                    e.to_string(),
                ));
                (
                    e.id(),
                    ClaimDone {
                        want,
                        result: Err(err),
                    },
                )
            }
        };
        self.wants.remove(&id);
        Some(done)
    }

    /// Drops the claims still in flight: what they claim is left to lapse (its leases run out
    /// and the jobs run again elsewhere).
    pub fn abandon(&mut self) {
        self.tasks.abort_all();
        self.wants.clear();
    }
}
