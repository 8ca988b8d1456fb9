//! How many jobs the next claim asks for. A job whose function has returned holds its slot
//! only until its finish is written; that slot takes a new job meanwhile, so a claim overlaps
//! the finish round trip instead of waiting for it. At most max_jobs functions run at once
//! (arq's meaning of max_jobs), and at most 2 x max_jobs jobs are held (running, finishing,
//! or asked for by a claim in flight). While the recent jobs were short, a claim may also go
//! `ahead` of the free slots by up to max_jobs jobs, which wait for a free slot (see
//! `ahead.rs`); the held jobs' cap grows with it.

/// The slots as the poll loop sees them when it may send a claim.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slots {
    pub max_jobs: usize,
    /// Most ids a claim reads (arq's queue_read_limit).
    pub read_limit: usize,
    /// Jobs held by their tasks: running, or finishing.
    pub running: usize,
    /// Of those, jobs whose function has returned and whose finish is being written.
    pub finishing: usize,
    /// Slots reserved by claims in flight.
    pub claiming: usize,
    /// Claims in flight.
    pub claims: usize,
    /// Burst mode with max_burst_jobs: how many more jobs may start.
    pub burst_left: Option<u64>,
    /// Jobs a claim may take beyond the free slots (0, or max_jobs while jobs are short).
    pub ahead: usize,
}

impl Slots {
    /// How many jobs to claim now; `None` when no claim should go out yet (the slots that
    /// free next are worth a claim of their own).
    pub fn claim_size(&self) -> Option<usize> {
        let read_limit = self.read_limit.max(1);
        let finishing = self.finishing.min(self.running);
        let room = self.max_jobs + self.ahead;
        let run_free = room.saturating_sub(self.running - finishing + self.claiming);
        let hold_free = (2 * room).saturating_sub(self.running + self.claiming);
        // No claim larger than max_jobs, ahead or not: its jobs start together.
        let mut want = run_free
            .min(hold_free)
            .min(read_limit)
            .min(self.max_jobs.max(1));
        if let Some(left) = self.burst_left {
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        // A second claim in flight only for a batch worth its round trip: the slots of the
        // rest of a finish batch are freed a moment later.
        let min_batch = if self.claims == 0 {
            1
        } else {
            (self.max_jobs / 2).clamp(1, read_limit)
        };
        (want >= min_batch).then_some(want)
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    fn slots(running: usize, finishing: usize, claiming: usize, claims: usize) -> Slots {
        Slots {
            max_jobs: 100,
            read_limit: 500,
            running,
            finishing,
            claiming,
            claims,
            burst_left: None,
            ahead: 0,
        }
    }

    #[test]
    fn an_idle_worker_claims_every_slot() {
        assert_eq!(slots(0, 0, 0, 0).claim_size(), Some(100));
    }

    #[test]
    fn one_free_slot_is_claimed_while_functions_run() {
        // 99 functions running (long jobs): the last slot takes a due job at once.
        assert_eq!(slots(99, 0, 0, 0).claim_size(), Some(1));
    }

    #[test]
    fn finishing_jobs_free_their_slots_for_a_claim() {
        assert_eq!(slots(100, 100, 0, 0).claim_size(), Some(100));
    }

    #[test]
    fn no_more_than_twice_max_jobs_are_held() {
        assert_eq!(slots(150, 150, 50, 1).claim_size(), None);
        assert_eq!(slots(200, 200, 0, 0).claim_size(), None);
    }

    #[test]
    fn held_jobs_near_the_cap_leave_a_few_slots() {
        assert_eq!(slots(197, 100, 0, 0).claim_size(), Some(3));
    }

    #[test]
    fn a_second_claim_only_for_half_a_batch() {
        // A claim of 60 in flight: 40 slots left, not worth a second round trip yet.
        assert_eq!(slots(40, 40, 60, 1).claim_size(), None);
        assert_eq!(slots(50, 50, 50, 1).claim_size(), Some(50));
    }

    #[test]
    fn a_second_claim_with_a_small_read_limit() {
        // Half a batch (50) is more than a claim may read (10): capped, or none would go out.
        let s = Slots {
            read_limit: 10,
            ..slots(100, 100, 10, 1)
        };
        assert_eq!(s.claim_size(), Some(10));
    }

    #[test]
    fn claims_go_ahead_of_running_functions_while_jobs_are_short() {
        // 100 functions running, none returned: no claim, unless ahead is allowed.
        assert_eq!(slots(100, 0, 0, 0).claim_size(), None);
        let ahead = |running, finishing, claiming, claims| Slots {
            ahead: 100,
            ..slots(running, finishing, claiming, claims)
        };
        assert_eq!(ahead(100, 0, 0, 0).claim_size(), Some(100));
        // Never more than max_jobs in one claim, even from idle.
        assert_eq!(ahead(0, 0, 0, 0).claim_size(), Some(100));
        // A batch ahead already claimed and waiting, the running ones not returned: full.
        assert_eq!(ahead(200, 0, 0, 0).claim_size(), None);
        // Held jobs stay within 2 x (max_jobs + ahead).
        assert_eq!(ahead(350, 350, 40, 1).claim_size(), None);
        assert_eq!(ahead(300, 300, 0, 0).claim_size(), Some(100));
    }

    #[test]
    fn a_burst_limit_caps_the_claim() {
        let s = Slots {
            burst_left: Some(7),
            ..slots(0, 0, 0, 0)
        };
        assert_eq!(s.claim_size(), Some(7));
        let s = Slots {
            burst_left: Some(0),
            ..slots(0, 0, 0, 0)
        };
        assert_eq!(s.claim_size(), None);
    }
}
