//! Where the master is and getting back to it: the URL's own address, or whatever the
//! sentinels say (checked with ROLE). One background task at a time finds the master and
//! connects, retrying with capped exponential backoff and jitter, so a burst of errors makes
//! one discovery and a fleet that lost Redis does not hammer it; callers wait in
//! [`Redis::conn`] for its attempts instead of dialling themselves.

use super::backoff::Backoff;
use super::errors::{hint, is_auth_error, is_bad_database, is_refused_command};
use super::node::NodeSpec;
use super::sentinel::{Found, Sentinels};
use super::settings::RedisSettings;
use super::{Inner, Redis};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// First and longest wait between connection attempts (before jitter).
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(2);

pub(crate) enum Locator {
    Direct { client: Box<Client>, addr: String },
    Sentinel(Arc<Sentinels>),
}

impl Locator {
    pub fn new(settings: &RedisSettings, node: &NodeSpec) -> RedisResult<Self> {
        if settings.sentinels.is_empty() {
            let client = node.client()?;
            let addr = client.get_connection_info().addr().to_string();
            return Ok(Locator::Direct {
                client: Box::new(client),
                addr,
            });
        }
        if node.is_unix() {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "Sentinel needs a redis:// or rediss:// URL (for user, password and database)",
            )));
        }
        Ok(Locator::Sentinel(Arc::new(Sentinels::new(settings, node)?)))
    }

    /// Finds the master and opens a connection to it with `config`; during a failover the
    /// node a sentinel announced as promoted is tried first.
    async fn locate(
        &self,
        node: &NodeSpec,
        config: &AsyncConnectionConfig,
        promoted: Option<&str>,
    ) -> RedisResult<Found> {
        if let (Locator::Sentinel(s), Some(addr)) = (self, promoted) {
            match s.connect_announced(node, config, addr).await {
                Ok(found) => return Ok(found),
                Err(e) => {
                    tracing::warn!(node = addr, error = %e, "announced master unusable; asking the sentinels")
                }
            }
        }
        match self {
            Locator::Direct { client, addr } => Ok(Found {
                conn: node.connect_with(client, config).await?,
                client: (**client).clone(),
                addr: addr.clone(),
                via: None,
            }),
            Locator::Sentinel(s) => s.find_master(node, config).await,
        }
    }

    /// Whether a connection that saw an error still reaches a usable master.
    pub async fn verify(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        match self {
            Locator::Direct { .. } => redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map(drop),
            Locator::Sentinel(s) => s.check_role(conn).await,
        }
    }
}

/// The connection in use.
pub(crate) struct Live {
    pub id: u64,
    pub conn: MultiplexedConnection,
    pub client: Client,
    pub addr: String,
}

/// The outcome of the latest connection attempt, for callers waiting in `conn()`.
#[derive(Clone, Default)]
pub(crate) struct Attempt {
    pub error: Option<RedisError>,
}

/// Failures that waiting does not mend: refused credentials, an untrusted certificate, an
/// unknown master name, a bad client setting, a database index the server does not have, a
/// command the ACL refuses. (Redis down, restarting or failing over is waited out.) `conn()`
/// returns these at once; start-up gives up on them.
pub fn is_permanent(e: &RedisError) -> bool {
    is_auth_error(e)
        || is_bad_database(e)
        || is_refused_command(e)
        || super::tls::is_trust_error(e)
        || matches!(
            e.kind(),
            ErrorKind::InvalidClientConfig | ErrorKind::MasterNameNotFoundBySentinel
        )
}

impl Redis {
    /// Starts the reconnecting task unless it runs already.
    pub(super) fn reconnect_in_background(&self) {
        if self.inner.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(reconnect(Arc::downgrade(&self.inner)));
            }
            Err(_) => self.inner.reconnecting.store(false, Ordering::Release),
        }
    }

    /// Clears the reconnecting flag; true when the task may end. A connection dropped
    /// between our install and here found the flag set and started nobody: go on then.
    fn finish_reconnecting(&self) -> bool {
        self.inner.reconnecting.store(false, Ordering::Release);
        self.live().is_some() || self.inner.reconnecting.swap(true, Ordering::AcqRel)
    }
}

/// Finds the master and connects, again and again with backoff until it works; publishes
/// each attempt's outcome. Holds only a weak handle while it sleeps, so it ends when the
/// last [`Redis`] handle goes.
/// Waits `wait`, or less when a sentinel event asks to retry now; `false` when the handle is
/// being dropped. Lets go of `this` first, so a waiting task does not keep `Inner` alive.
async fn wait_for_retry(this: Redis, wait: Duration) -> bool {
    let retry_now = this.inner.retry_now.clone();
    let stop = this.inner.stop.clone();
    drop(this);
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = retry_now.notified() => true,
        _ = tokio::time::sleep(wait) => true,
    }
}

async fn reconnect(weak: Weak<Inner>) {
    let mut backoff = Backoff::new(RETRY_BASE, RETRY_CAP);
    let mut failures: u32 = 0;
    let mut down_since: Option<Instant> = None;
    let mut last_kind = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let this = Redis { inner };
        if this.live().is_some() {
            if this.finish_reconnecting() {
                return;
            }
            continue;
        }
        let promoted = match this.failover_pause() {
            Ok(promoted) => promoted,
            Err(wait) => {
                let e = RedisError::from((ErrorKind::Io, "Sentinel failover in progress"));
                this.inner.ready.store(false, Ordering::Relaxed);
                this.inner.attempts.send_replace(Attempt { error: Some(e) });
                if !wait_for_retry(this, wait).await {
                    return;
                }
                continue;
            }
        };
        let id = this.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let config = &this.inner.node.config;
        let url = this.masked_url().to_string();
        let found = this
            .inner
            .locator
            .locate(&this.inner.node, config, promoted.as_deref())
            .await;
        match found {
            Ok(found) => {
                let via = found.via.as_deref().unwrap_or("-").to_string();
                match down_since.take() {
                    Some(since) => {
                        tracing::info!(url, node = %found.addr, sentinel = via, failed_attempts = failures, down_for = ?since.elapsed(), "reconnected to Redis")
                    }
                    None => {
                        tracing::info!(url, node = %found.addr, sentinel = via, "connected to Redis")
                    }
                }
                *this.live() = Some(Live {
                    id,
                    conn: found.conn,
                    client: found.client,
                    addr: found.addr,
                });
                this.inner.connections.fetch_add(1, Ordering::Relaxed);
                this.inner.answering.store(true, Ordering::Relaxed);
                this.inner.ready.store(true, Ordering::Relaxed);
                this.inner.attempts.send_replace(Attempt::default());
                this.start_watching();
                if this.finish_reconnecting() {
                    return;
                }
            }
            Err(e) => {
                this.inner.ready.store(false, Ordering::Relaxed);
                let delay = backoff.next_delay();
                failures += 1;
                down_since.get_or_insert_with(Instant::now);
                // Every attempt is logged at first, then one in ten unless the error changes.
                let kind = Some(e.kind());
                #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87
                if failures <= 5 || failures % 10 == 0 || kind != last_kind {
                    let hint = hint(&e).unwrap_or("");
                    if is_auth_error(&e) {
                        tracing::error!(url, error = %e, hint, retry_in = ?delay, attempt = failures, "Redis refused our credentials; retrying");
                    } else if super::tls::is_trust_error(&e) {
                        tracing::error!(url, error = %e, hint, retry_in = ?delay, attempt = failures, "Redis's TLS certificate is not trusted; retrying");
                    } else if is_permanent(&e) {
                        tracing::error!(url, error = %e, hint, retry_in = ?delay, attempt = failures, "Redis refuses these settings; retrying");
                    } else {
                        tracing::warn!(url, error = %e, hint, retry_in = ?delay, attempt = failures, "cannot reach Redis; retrying");
                    }
                }
                last_kind = kind;
                this.inner.attempts.send_replace(Attempt { error: Some(e) });
                if !wait_for_retry(this, delay).await {
                    return;
                }
            }
        }
    }
}
