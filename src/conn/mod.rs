//! Redis connectivity: one shared multiplexed connection to the queue's master, found
//! directly from the URL or through Sentinel, rebuilt after connection errors, READONLY
//! replies and `+switch-master`, and the readiness state that follows it.
//!
//! Callers take a connection with [`Redis::conn`], run commands, and hand any error back
//! through [`Redis::report`]; the worker never learns how the address was found.
//!
//! - `settings.rs`: [`RedisSettings`] and [`Secret`] (configuration, secrets masked).
//! - `node.rs`: a connection to one data node (URL auth, database, TLS, timeouts).
//! - `tls.rs`: `rediss://` trust (CA file).
//! - `sentinel.rs`: asking sentinels, `ROLE` checks, the `+switch-master` listener.
//! - `discovery.rs`: where the master is (URL or Sentinel), one (re)discovery at a time,
//!   spaced by capped backoff with jitter.
//! - `errors.rs`: [`ConnectError`] and which errors mean the connection is gone.

mod backoff;
mod discovery;
mod errors;
mod node;
mod sentinel;
mod settings;
mod tls;
mod url;

pub use backoff::Backoff;
pub use errors::{is_connection_error, ConnectError};
pub use settings::{
    parse_sentinels, RedisSettings, Secret, SentinelAddr, DEFAULT_MASTER_NAME,
    DEFAULT_SENTINEL_PORT,
};
pub use tls::read_ca_file;
pub use url::mask_url;

use discovery::{Gate, Live, Locator};
use node::NodeSpec;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Inner {
    node: NodeSpec,
    locator: Locator,
    masked_url: String,
    /// The connection in use; a std mutex held only to clone or swap it, so `conn()` and
    /// `report()` stay cheap.
    live: Mutex<Option<Live>>,
    /// Serializes discovery: a burst of errors from one broken connection makes one.
    gate: tokio::sync::Mutex<Gate>,
    /// Set by `+switch-master`: the next attempt need not wait out the backoff.
    retry_now: AtomicBool,
    /// A health check after a reported error is under way.
    checking: AtomicBool,
    ready: AtomicBool,
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
                gate: tokio::sync::Mutex::new(Gate::new()),
                retry_now: AtomicBool::new(false),
                checking: AtomicBool::new(false),
                ready: AtomicBool::new(false),
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

    /// The current connection, finding the master and connecting first when there is none.
    /// While Redis is unreachable this fails fast between attempts (capped backoff with
    /// jitter), returning the last attempt's error.
    pub async fn conn(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(l) = self.live().as_ref() {
            return Ok(l.conn.clone());
        }
        let mut gate = self.inner.gate.lock().await;
        // Whoever held the gate before us may have connected already.
        if let Some(l) = self.live().as_ref() {
            return Ok(l.conn.clone());
        }
        let retry_now = self.inner.retry_now.swap(false, Ordering::Relaxed);
        if let Some(e) = gate.wait_error(retry_now) {
            return Err(e);
        }
        match self.inner.locator.locate(&self.inner.node).await {
            Ok(found) => {
                let conn = found.conn.clone();
                gate.connected(&self.inner.masked_url, &found);
                let id = self.inner.connections.fetch_add(1, Ordering::Relaxed) + 1;
                *self.live() = Some(Live::new(id, found));
                self.inner.ready.store(true, Ordering::Relaxed);
                self.start_watching();
                Ok(conn)
            }
            Err(e) => {
                self.inner.ready.store(false, Ordering::Relaxed);
                gate.failed(&self.inner.masked_url, &e);
                Err(e)
            }
        }
    }

    /// A fresh connection of its own to the current master (for subscriptions and blocking
    /// commands).
    pub async fn dedicated(&self) -> Result<MultiplexedConnection, RedisError> {
        let client = match self.live().as_ref().map(|l| l.client.clone()) {
            Some(c) => c,
            None => {
                self.conn().await?;
                let client = self.live().as_ref().map(|l| l.client.clone());
                client.ok_or_else(|| {
                    RedisError::from((redis::ErrorKind::Io, "Redis connection lost"))
                })?
            }
        };
        self.inner.node.connect(&client).await
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
            }
            Ok(Err(e)) => {
                self.drop_live(Some(id), &format!("{reason}; check: {e}"));
                let _ = self.conn().await;
            }
            Err(_) => {
                self.drop_live(Some(id), &format!("{reason}; check timed out"));
                let _ = self.conn().await;
            }
        }
    }

    /// Drops the connection (only `id`'s, when given) so the next `conn()` finds the master.
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
        }
    }

    /// Sentinel only: listen for `+switch-master` while this handle lives.
    fn start_watching(&self) {
        let Locator::Sentinel(sentinels) = &self.inner.locator else {
            return;
        };
        if self.inner.watching.swap(true, Ordering::Relaxed) {
            return;
        }
        let sentinels = sentinels.clone();
        let stop = self.inner.stop.clone();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            sentinels
                .watch(stop, move |addr| {
                    if let Some(inner) = weak.upgrade() {
                        Redis { inner }.switch_master(addr);
                    }
                })
                .await;
        });
    }

    /// A sentinel announced a new master: leave the old one now and connect to the new one
    /// without waiting for a caller or for the backoff.
    fn switch_master(&self, addr: &str) {
        let current = self.live().as_ref().map(|l| l.addr.clone());
        if current.as_deref() == Some(addr) {
            return;
        }
        self.drop_live(None, &format!("sentinel announced a new master at {addr}"));
        self.inner.retry_now.store(true, Ordering::Relaxed);
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.conn().await;
        });
    }

    /// Whether Redis answers: true after a connection was made and until an error shows it
    /// is gone (readiness).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
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
