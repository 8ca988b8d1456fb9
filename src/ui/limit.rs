//! Guessing the admin token, slowed down: per client address, at most [`MAX_FAILURES`] wrong
//! tokens (at the login form or as `Authorization: Bearer`) per [`WINDOW`]; then 429 with
//! `Retry-After` until the window, which opens at the first failure, ends. Right tokens do not
//! count. Clients are IPv4 addresses or IPv6 /64s (one host usually holds a whole /64); at
//! most [`MAX_CLIENTS`] are remembered: windows that ended go first, then the oldest.
//!
//! Behind `kubectl port-forward` every client is 127.0.0.1: one person's typos lock out the
//! others for a minute at most. `X-Forwarded-For` is not read (anyone can send it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens allowed per client and window.
pub const MAX_FAILURES: u32 = 5;
/// How long a client's failures count, from the first.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Clients remembered at most (about 40 bytes each).
pub const MAX_CLIENTS: usize = 4096;

#[derive(Clone, Copy)]
struct Window {
    opened: Instant,
    failures: u32,
}

/// Failed token attempts per client.
#[derive(Default)]
pub struct LoginLimiter {
    clients: Mutex<HashMap<IpAddr, Window>>,
}

/// The address a client is counted under: IPv4 (an IPv4-mapped IPv6 too) as is, IPv6 by /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl LoginLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves one attempt for `ip` before its token is compared: counted as a failure
    /// until [`succeeded`](Self::succeeded) takes it back. Counting first means concurrent
    /// guesses from one client cannot all pass a check made before any of them failed.
    /// `Err(retry after)` when the client has used up its window.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = client_key(ip);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let open = |w: &Window| now.saturating_duration_since(w.opened) < WINDOW;
        if !clients.contains_key(&key) && clients.len() >= MAX_CLIENTS {
            clients.retain(|_, w| open(w));
            if clients.len() >= MAX_CLIENTS {
                let oldest = clients
                    .iter()
                    .min_by_key(|(_, w)| w.opened)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    clients.remove(&k);
                }
            }
        }
        let w = clients.entry(key).or_insert(Window {
            opened: now,
            failures: 0,
        });
        if !open(w) {
            *w = Window {
                opened: now,
                failures: 0,
            };
        }
        if w.failures >= MAX_FAILURES {
            let left = WINDOW.saturating_sub(now.saturating_duration_since(w.opened));
            return Err(left);
        }
        w.failures += 1;
        Ok(())
    }

    /// The attempt reserved for `ip` had the right token: it does not count.
    pub fn succeeded(&self, ip: IpAddr) {
        let key = client_key(ip);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = clients.get_mut(&key) {
            w.failures = w.failures.saturating_sub(1);
            if w.failures == 0 {
                clients.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().unwrap().len()
    }
}

/// `Retry-After` seconds: the time left, rounded up, at least 1.
pub fn retry_after_secs(left: Duration) -> u64 {
    let s = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn failures_lock_out_one_client_for_the_window() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(l.attempt(A, t0 + Duration::from_secs(i.into())).is_ok());
        }
        let left = l.attempt(A, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(left, WINDOW - Duration::from_secs(10));
        assert_eq!(retry_after_secs(left), 50);
        assert!(
            l.attempt(B, t0 + Duration::from_secs(10)).is_ok(),
            "other client"
        );
        assert!(l
            .attempt(A, t0 + WINDOW - Duration::from_millis(1))
            .is_err());
        assert!(l.attempt(A, t0 + WINDOW).is_ok(), "a new window");
    }

    #[test]
    fn right_tokens_do_not_count() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        for _ in 0..3 * MAX_FAILURES {
            assert!(l.attempt(A, t0).is_ok());
            l.succeeded(A);
        }
        for _ in 0..MAX_FAILURES - 1 {
            assert!(l.attempt(A, t0).is_ok());
        }
        assert!(l.attempt(A, t0).is_ok());
        l.succeeded(A);
        assert!(
            l.attempt(A, t0).is_ok(),
            "the success gave its attempt back"
        );
        assert!(l.attempt(A, t0).is_err());
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i as u16));
            assert!(l.attempt(ip, t0).is_ok());
        }
        let same64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        assert!(l.attempt(same64, t0).is_err());
        let other64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(l.attempt(other64, t0).is_ok());
        for _ in 0..MAX_FAILURES {
            assert!(l.attempt(A, t0).is_ok());
        }
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert!(l.attempt(mapped, t0).is_err());
    }

    #[test]
    fn memory_is_bounded_ended_windows_and_the_oldest_go_first() {
        let l = LoginLimiter::new();
        let t0 = Instant::now();
        let ip = |i: usize| IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i as u32));
        // Locked out at t0, then MAX_CLIENTS - 1 others later.
        for _ in 0..MAX_FAILURES {
            l.attempt(A, t0).unwrap();
        }
        let t1 = t0 + Duration::from_secs(1);
        for i in 0..MAX_CLIENTS - 1 {
            l.attempt(ip(i), t1).unwrap();
        }
        assert_eq!(l.len(), MAX_CLIENTS);
        assert!(l.attempt(A, t1).is_err(), "still remembered");
        // One more client: the oldest (A) is evicted, the table stays full.
        l.attempt(B, t1).unwrap();
        assert_eq!(l.len(), MAX_CLIENTS);
        assert!(l.attempt(A, t1).is_ok(), "A was the oldest");
        // After the window every entry has ended: a new client clears them.
        l.attempt(ip(MAX_CLIENTS), t1 + WINDOW).unwrap();
        assert_eq!(l.len(), 1);
    }
}
