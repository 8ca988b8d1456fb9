//! Where the master is: the URL's own address, or whatever the sentinels say (checked with
//! ROLE). Attempts go through one [`Gate`], which spaces failed attempts by capped
//! exponential backoff with jitter so a fleet that lost Redis does not hammer it, and says
//! in the log what happened and when the next attempt is.

use super::backoff::Backoff;
use super::errors::{hint, is_auth_error};
use super::node::NodeSpec;
use super::sentinel::{Found, Sentinels};
use super::settings::RedisSettings;
use redis::aio::MultiplexedConnection;
use redis::{Client, ErrorKind, RedisError, RedisResult};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) enum Locator {
    Direct { client: Client, addr: String },
    Sentinel(Arc<Sentinels>),
}

impl Locator {
    pub fn new(settings: &RedisSettings, node: &NodeSpec) -> RedisResult<Self> {
        if settings.sentinels.is_empty() {
            let client = node.client()?;
            let addr = client.get_connection_info().addr().to_string();
            return Ok(Locator::Direct { client, addr });
        }
        if node.is_unix() {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "Sentinel needs a redis:// or rediss:// URL (for user, password and database)",
            )));
        }
        Ok(Locator::Sentinel(Arc::new(Sentinels::new(settings, node)?)))
    }

    /// Finds the master and opens a connection to it.
    pub async fn locate(&self, node: &NodeSpec) -> RedisResult<Found> {
        match self {
            Locator::Direct { client, addr } => Ok(Found {
                conn: node.connect(client).await?,
                client: client.clone(),
                addr: addr.clone(),
                via: None,
            }),
            Locator::Sentinel(s) => s.find_master(node).await,
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

impl Live {
    pub fn new(id: u64, found: Found) -> Self {
        Live {
            id,
            conn: found.conn,
            client: found.client,
            addr: found.addr,
        }
    }
}

/// Reconnection pacing, held under the discovery lock.
pub(crate) struct Gate {
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_error: Option<RedisError>,
    failures: u32,
    down_since: Option<Instant>,
}

/// First and longest wait between connection attempts.
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(5);

impl Gate {
    pub fn new() -> Self {
        Gate {
            backoff: Backoff::new(RETRY_BASE, RETRY_CAP),
            retry_at: None,
            last_error: None,
            failures: 0,
            down_since: None,
        }
    }

    /// The last attempt's error while its backoff has not run out (callers fail fast and
    /// retry at their own pace); `None` when an attempt may be made.
    pub fn wait_error(&self, retry_now: bool) -> Option<RedisError> {
        match (&self.retry_at, &self.last_error) {
            (Some(at), Some(e)) if !retry_now && Instant::now() < *at => Some(e.clone()),
            _ => None,
        }
    }

    pub fn connected(&mut self, url: &str, found: &Found) {
        let via = found.via.as_deref().unwrap_or("-");
        match self.down_since.take() {
            Some(since) => tracing::info!(
                url,
                node = %found.addr,
                sentinel = via,
                failed_attempts = self.failures,
                down_for = ?since.elapsed(),
                "reconnected to Redis"
            ),
            None => tracing::info!(url, node = %found.addr, sentinel = via, "connected to Redis"),
        }
        self.backoff.reset();
        self.retry_at = None;
        self.last_error = None;
        self.failures = 0;
    }

    pub fn failed(&mut self, url: &str, e: &RedisError) {
        let delay = self.backoff.next_delay();
        self.retry_at = Some(Instant::now() + delay);
        self.last_error = Some(e.clone());
        self.failures += 1;
        self.down_since.get_or_insert_with(Instant::now);
        let hint = hint(e).unwrap_or("");
        if is_auth_error(e) {
            tracing::error!(url, error = %e, hint, retry_in = ?delay, attempt = self.failures, "Redis refused our credentials; retrying");
        } else {
            tracing::warn!(url, error = %e, hint, retry_in = ?delay, attempt = self.failures, "cannot reach Redis; retrying");
        }
    }
}
