//! Redis connectivity: one shared multiplexed connection to the queue's master, found
//! directly from the URL or through Sentinel, rebuilt after connection errors, READONLY
//! replies and sentinel failover events, and the readiness state that follows it.
//!
//! Callers take a connection with [`Redis::conn`], run commands, and hand any error back
//! through [`Redis::report`]; the worker never learns how the address was found.
//!
//! - `settings.rs`: [`RedisSettings`] and [`Secret`] (configuration, secrets masked).
//! - `node.rs`: a connection to one data node (URL auth, database, TLS, timeouts).
//! - `tls.rs`: `rediss://` trust (CA file).
//! - `sentinel.rs`: asking sentinels, `ROLE` checks, listening to their events.
//! - `failover.rs`: what those events do: pause writes, move to the promoted master.
//! - `discovery.rs`: where the master is (URL or Sentinel), one (re)discovery at a time,
//!   spaced by capped backoff with jitter.
//! - `readiness.rs`: readiness PINGs with their own short deadline.
//! - `refresh.rs`: a fresh connection after a big reply or command (redis-rs keeps its
//!   buffers at their biggest); `script.rs`: EVALSHA with the arguments copied once.
//! - `errors.rs`: [`ConnectError`] and which errors mean the connection is gone, or cannot
//!   be mended by retrying.
//! - `url.rs`: the one masking rule for connection strings; `redact.rs`: the log writer
//!   that scrubs any credential a library prints anyway.
//! - `log_format.rs`: the text log line without colours, cheaper than the default format;
//!   `job_tag.rs`: the job a line belongs to, which that format writes as its span would be
//!   (cheaper than a span per job); `log_writer.rs`: the thread that writes log lines to
//!   stderr.

mod backoff;
mod discovery;
mod errors;
mod failover;
mod job_tag;
mod log_format;
mod log_writer;
mod node;
mod readiness;
mod redact;
mod refresh;
pub mod script;
mod sentinel;
mod settings;
mod tls;
mod url;

pub use backoff::Backoff;
pub use discovery::is_permanent;
pub use errors::{is_connection_error, ConnectError};
pub use job_tag::JobTag;
pub use log_format::{PlainFields, PlainFormat};
pub use log_writer::flush_log;
pub use readiness::{DEFAULT_READY_TIMEOUT, READY_PERIOD};
pub use redact::{redact, RedactingStderr};
pub use refresh::REFRESH_AFTER_BYTES;
pub use settings::{
    parse_sentinels, RedisSettings, Secret, SentinelAddr, DEFAULT_MASTER_NAME,
    DEFAULT_SENTINEL_PORT,
};
pub use tls::read_ca_file;
pub use url::{check_url_shape, mask_url, mask_urls_in, scrub, secrets_of, UNSHOWN_URL};

use discovery::{Attempt, Live, Locator};
use node::NodeSpec;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

struct Inner {
    node: NodeSpec,
    locator: Locator,
    masked_url: String,
    /// The connection in use; a std mutex held only to clone or swap it, so `conn()` and
    /// `report()` stay cheap.
    live: Mutex<Option<Live>>,
    /// The reconnecting task runs (one at a time: a burst of errors makes one discovery).
    reconnecting: AtomicBool,
    /// Each attempt's outcome, for callers waiting in `conn()`.
    attempts: watch::Sender<Attempt>,
    /// A sentinel event: the reconnecting task need not wait out its backoff or pause.
    retry_now: Arc<Notify>,
    /// A Sentinel failover under way: no writes until it ends (or the pause runs out).
    failover: Mutex<Option<failover::Failover>>,
    /// A health check after a reported error is under way.
    checking: AtomicBool,
    ready: AtomicBool,
    /// The last readiness PING was answered in time (or none failed since we connected).
    answering: AtomicBool,
    next_id: AtomicU64,
    connections: AtomicU64,
    watching: AtomicBool,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A cheap-to-clone handle on the queue's Redis.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

impl Redis {
    /// Parses the settings without connecting (start-up validation).
    pub fn new(settings: &RedisSettings) -> Result<Self, ConnectError> {
        let masked_url = settings.display();
        let fail = |source| ConnectError::new(&masked_url, source);
        let node = NodeSpec::new(settings).map_err(fail)?;
        let locator = Locator::new(settings, &node).map_err(fail)?;
        Ok(Redis {
            inner: Arc::new(Inner {
                node,
                locator,
                masked_url: masked_url.clone(),
                live: Mutex::new(None),
                reconnecting: AtomicBool::new(false),
                attempts: watch::Sender::new(Attempt::default()),
                retry_now: Arc::new(Notify::new()),
                failover: Mutex::new(None),
                checking: AtomicBool::new(false),
                ready: AtomicBool::new(false),
                answering: AtomicBool::new(true),
                next_id: AtomicU64::new(0),
                connections: AtomicU64::new(0),
                watching: AtomicBool::new(false),
                stop: CancellationToken::new(),
            }),
        })
    }

    /// Connects and checks the server answers (PING), so a bad password, an untrusted
    /// certificate or an unknown master fails at start-up with the masked URL.
    pub async fn connect(settings: &RedisSettings) -> Result<Self, ConnectError> {
        let r = Self::new(settings)?;
        let fail = |source| ConnectError::new(r.masked_url(), source);
        let mut c = r.conn().await.map_err(fail)?;
        let _: String = redis::cmd("PING").query_async(&mut c).await.map_err(fail)?;
        Ok(r)
    }

    /// Where we connect, passwords replaced by `***`.
    pub fn masked_url(&self) -> &str {
        &self.inner.masked_url
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live_conn(&self) -> Option<MultiplexedConnection> {
        self.live().as_ref().map(|l| l.conn.clone())
    }

    /// The current connection. Without one, waits (up to the connect timeout) for the
    /// background task to find the master and connect; while Redis is merely unreachable it
    /// keeps waiting, other failures (credentials, certificate, master name) come back at
    /// once. Returns the last attempt's error when time is up.
    pub async fn conn(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(c) = self.live_conn() {
            return Ok(c);
        }
        let mut attempts = self.inner.attempts.subscribe();
        self.reconnect_in_background();
        let deadline = tokio::time::Instant::now() + self.inner.node.connect_timeout;
        let mut last = None;
        loop {
            if let Some(c) = self.live_conn() {
                return Ok(c);
            }
            match tokio::time::timeout_at(deadline, attempts.changed()).await {
                Ok(Ok(())) => {
                    let e = attempts.borrow_and_update().error.clone();
                    match e {
                        Some(e) if is_permanent(&e) => return Err(e),
                        Some(e) => last = Some(e),
                        None => {}
                    }
                }
                _ => break,
            }
        }
        if let Some(c) = self.live_conn() {
            return Ok(c);
        }
        let e = last.or_else(|| self.inner.attempts.borrow().error.clone());
        Err(e.unwrap_or_else(|| {
            RedisError::from((redis::ErrorKind::Io, "Redis connection not ready yet"))
        }))
    }

    /// The client of the current master, connecting first when there is none.
    async fn current_client(&self) -> Result<redis::Client, RedisError> {
        if let Some(c) = self.live().as_ref().map(|l| l.client.clone()) {
            return Ok(c);
        }
        self.conn().await?;
        let client = self.live().as_ref().map(|l| l.client.clone());
        client.ok_or_else(|| RedisError::from((redis::ErrorKind::Io, "Redis connection lost")))
    }

    /// A fresh connection of its own to the current master (for blocking commands).
    pub async fn dedicated(&self) -> Result<MultiplexedConnection, RedisError> {
        let client = self.current_client().await?;
        self.inner.node.connect(&client).await
    }

    /// A pub/sub connection to the current master (keyspace notifications).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, RedisError> {
        self.current_client().await?.get_async_pubsub().await
    }

    /// Hands back an error seen on a connection from [`Redis::conn`]. Cheap: connection-level
    /// errors (and READONLY) start one background check of the current connection (PING, or
    /// ROLE behind Sentinel); only if that fails is it dropped and the master found again.
    /// Errors of a connection already replaced do not drop its successor.
    pub fn report(&self, e: &RedisError) {
        if !is_connection_error(e) {
            return;
        }
        if self.inner.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let reason = e.to_string();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let this = self.clone();
                rt.spawn(async move {
                    this.check(&reason).await;
                    this.inner.checking.store(false, Ordering::Release);
                });
            }
            Err(_) => {
                self.drop_live(None, &reason);
                self.inner.checking.store(false, Ordering::Release);
            }
        }
    }

    async fn check(&self, reason: &str) {
        let Some((id, mut conn)) = self.live().as_ref().map(|l| (l.id, l.conn.clone())) else {
            return;
        };
        let limit = self.inner.node.command_timeout.min(Duration::from_secs(5));
        let verdict = tokio::time::timeout(limit, self.inner.locator.verify(&mut conn)).await;
        match verdict {
            Ok(Ok(())) => {
                tracing::debug!(
                    error = reason,
                    "Redis error reported, connection still healthy"
                );
                self.inner.ready.store(true, Ordering::Relaxed);
                self.inner.answering.store(true, Ordering::Relaxed);
            }
            Ok(Err(e)) => self.drop_live(Some(id), &format!("{reason}; check: {e}")),
            Err(_) => self.drop_live(Some(id), &format!("{reason}; check timed out")),
        }
    }

    /// Drops the connection (only `id`'s, when given) and starts finding the master again.
    fn drop_live(&self, id: Option<u64>, reason: &str) {
        let mut live = self.live();
        if live
            .as_ref()
            .is_some_and(|l| id.is_none_or(|id| l.id == id))
        {
            let old = live.take();
            self.inner.ready.store(false, Ordering::Relaxed);
            drop(live);
            if let Some(old) = old {
                tracing::warn!(url = %self.inner.masked_url, node = %old.addr, error = reason, "Redis connection lost; finding the master again");
            }
            self.reconnect_in_background();
        }
    }

    /// Whether Redis answers: true after a connection was made and until an error shows it
    /// is gone, or a readiness PING ([`Redis::watch_readiness`]) goes unanswered.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && self.inner.answering.load(Ordering::Relaxed)
    }

    /// Connections made since start, the first included.
    pub fn connections_made(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }
}

impl lyanna_task_api::RedisProvider for Redis {
    fn connection(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<MultiplexedConnection, RedisError>> {
        Box::pin(self.conn())
    }
}
