//! Redis connectivity: one shared multiplexed connection to the queue's Redis, rebuilt after
//! connection errors, and the readiness state that follows it.
//!
//! Callers take a connection with [`Redis::conn`], run commands, and hand any error back
//! through [`Redis::report`]; a connection-level error drops the connection so the next
//! `conn()` reconnects (the worker never learns how the address was found).

mod backoff;
mod url;

pub use backoff::Backoff;
pub use url::mask_url;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, ServerErrorKind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL; may hold a password, so never log it unmasked.
    pub url: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl RedisSettings {
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisSettings {
            url: url.into(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
        }
    }
}

/// A start-up failure, with the URL masked.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {source}")]
pub struct ConnectError {
    pub url: String,
    #[source]
    pub source: RedisError,
}

struct Inner {
    client: redis::Client,
    config: AsyncConnectionConfig,
    masked_url: String,
    current: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    ready: AtomicBool,
    reconnects: AtomicU64,
}

/// A cheap-to-clone handle on the queue's Redis.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

/// Errors after which the connection (or the node behind it) cannot be trusted any more.
pub fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly)
                | ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::AuthenticationFailed
        )
}

impl Redis {
    /// Parses the settings without connecting (start-up validation).
    pub fn new(settings: &RedisSettings) -> Result<Self, ConnectError> {
        let masked_url = mask_url(&settings.url);
        let client = redis::Client::open(settings.url.as_str()).map_err(|source| ConnectError {
            url: masked_url.clone(),
            source,
        })?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout));
        Ok(Redis {
            inner: Arc::new(Inner {
                client,
                config,
                masked_url,
                current: tokio::sync::Mutex::new(None),
                ready: AtomicBool::new(false),
                reconnects: AtomicU64::new(0),
            }),
        })
    }

    /// Connects and checks the server answers (PING), so bad passwords fail at start-up.
    pub async fn connect(settings: &RedisSettings) -> Result<Self, ConnectError> {
        let r = Self::new(settings)?;
        let mut c = r.conn().await.map_err(|source| r.connect_error(source))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(|source| r.connect_error(source))?;
        Ok(r)
    }

    fn connect_error(&self, source: RedisError) -> ConnectError {
        ConnectError {
            url: self.inner.masked_url.clone(),
            source,
        }
    }

    /// The URL with its password replaced by `***`.
    pub fn masked_url(&self) -> &str {
        &self.inner.masked_url
    }

    /// The current connection, connecting first when there is none.
    pub async fn conn(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut current = self.inner.current.lock().await;
        if let Some(c) = current.as_ref() {
            return Ok(c.clone());
        }
        let result = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&self.inner.config)
            .await;
        match result {
            Ok(c) => {
                self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
                self.inner.ready.store(true, Ordering::Relaxed);
                *current = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                self.inner.ready.store(false, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// A fresh connection of its own (for subscriptions and blocking commands).
    pub async fn dedicated(&self) -> Result<MultiplexedConnection, RedisError> {
        self.inner
            .client
            .get_multiplexed_async_connection_with_config(&self.inner.config)
            .await
    }

    /// Hands back an error seen on a connection from [`Redis::conn`]; connection-level errors
    /// drop it, so the next call reconnects.
    pub fn report(&self, e: &RedisError) {
        if is_connection_error(e) {
            self.inner.ready.store(false, Ordering::Relaxed);
            if let Ok(mut current) = self.inner.current.try_lock() {
                *current = None;
            }
            tracing::warn!(url = %self.inner.masked_url, error = %e, "Redis connection lost; reconnecting");
        }
    }

    /// Whether the last command reached Redis (readiness).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    /// Connections made since start, the first included.
    pub fn connections_made(&self) -> u64 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }
}

impl lyanna_task_api::RedisProvider for Redis {
    fn connection(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<MultiplexedConnection, RedisError>> {
        Box::pin(self.conn())
    }
}
