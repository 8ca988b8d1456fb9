//! memcached invalidation on every server. The blog's memcached is several replicas behind
//! one headless service name; the Python client (aiomcache) held that one name and reached
//! whichever replica it resolved to, leaving the others stale. So a delete here goes to every
//! address each configured host resolves to (resolved again on every call, so replicas that
//! come and go are followed).
//!
//! One connection per server address (a client owns one connection), kept between calls and
//! dropped after any error. A batch is written as `noreply` deletes followed by `version`,
//! whose answer proves the server has read every delete before it: one round trip per batch
//! and server, with a timeout on each step.

use super::config::McTarget;
use async_memcached::{AsciiProtocol, Client};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// For one batch on one server: writing the deletes and reading `version`'s answer.
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum McError {
    #[error("memcached host {host}: cannot resolve: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("memcached host {host} resolves to no IPv4 address")]
    NoAddress { host: String },
    #[error("memcached {addr}: {problem}")]
    Server { addr: SocketAddr, problem: String },
}

type Slot = Arc<Mutex<Option<Client>>>;

pub struct Memcache {
    targets: Vec<McTarget>,
    conns: Mutex<HashMap<SocketAddr, Slot>>,
}

impl Memcache {
    pub fn new(targets: Vec<McTarget>) -> Self {
        Memcache {
            targets,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// Every server address, deduplicated. IPv4 only: the client library connects over IPv4
    /// (a host that also resolves to `::1` is the same server on its IPv4 address).
    pub async fn addresses(&self) -> Result<Vec<SocketAddr>, McError> {
        let mut out = BTreeSet::new();
        for t in &self.targets {
            let found: Vec<SocketAddr> = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::lookup_host((t.host.as_str(), t.port)),
            )
            .await
            .map_err(|_| McError::Resolve {
                host: t.host.clone(),
                source: std::io::ErrorKind::TimedOut.into(),
            })?
            .map_err(|source| McError::Resolve {
                host: t.host.clone(),
                source,
            })?
            .collect();
            let v4: Vec<SocketAddr> = found.into_iter().filter(|a| a.is_ipv4()).collect();
            if v4.is_empty() {
                return Err(McError::NoAddress {
                    host: t.host.clone(),
                });
            }
            out.extend(v4);
        }
        Ok(out.into_iter().collect())
    }

    /// Deletes `keys` on every server, all servers at once; a missing key is fine. Keys must
    /// already be in stored form and valid (see `keys::batch_keys`). Fails if any server did not confirm.
    pub async fn delete_everywhere(&self, keys: &[String]) -> Result<usize, McError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let addrs = self.addresses().await?;
        let slots: Vec<(SocketAddr, Slot)> = {
            let mut conns = self.conns.lock().await;
            conns.retain(|a, _| addrs.contains(a));
            addrs
                .iter()
                .map(|a| (*a, conns.entry(*a).or_default().clone()))
                .collect()
        };
        let results = futures::future::join_all(slots.into_iter().map(|(addr, slot)| async move {
            let mut guard = slot.lock().await;
            let r = delete_batch(&mut guard, addr, keys).await;
            if r.is_err() {
                // The reply stream may be out of step now: start again next time.
                *guard = None;
            }
            r
        }))
        .await;
        let n = results.len();
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(n)
    }
}

async fn delete_batch(
    slot: &mut Option<Client>,
    addr: SocketAddr,
    keys: &[String],
) -> Result<(), McError> {
    let err = |problem: String| McError::Server { addr, problem };
    if slot.as_ref().is_none_or(Client::is_closed) {
        let c = tokio::time::timeout(CONNECT_TIMEOUT, Client::new(format!("tcp://{addr}")))
            .await
            .map_err(|_| err(format!("connect: no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| err(e.to_string()))?;
        *slot = Some(c);
    }
    let Some(client) = slot.as_mut() else {
        return Err(err("no connection".into()));
    };
    tokio::time::timeout(BATCH_TIMEOUT, async {
        client.delete_multi_no_reply(keys).await?;
        client.version().await.map(|_| ())
    })
    .await
    .map_err(|_| err(format!("no answer within {BATCH_TIMEOUT:?}")))?
    .map_err(|e| err(e.to_string()))
}
