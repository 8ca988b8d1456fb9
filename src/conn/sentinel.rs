//! Sentinel: ask each sentinel in turn where the master is, check with `ROLE` that the node
//! really is master (Sentinel's client guidance: a sentinel's answer may be stale), and listen
//! for `+switch-master` so a failover is followed before the old master's errors show it.

use super::backoff::Backoff;
use super::node::NodeSpec;
use super::settings::{RedisSettings, SentinelAddr};
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A master found and verified: its connection, a client for more connections to it, and
/// where it is.
pub(crate) struct Found {
    pub conn: MultiplexedConnection,
    pub client: Client,
    pub addr: String,
    pub via: Option<String>,
}

pub(crate) struct Sentinels {
    addrs: Vec<SentinelAddr>,
    clients: Vec<Client>,
    master: String,
    /// The sentinel that answered last is asked first next time.
    first: AtomicUsize,
    role_denied_logged: AtomicBool,
    connect_timeout: Duration,
}

/// How much a failure says about the configuration, to pick the error that explains it best.
fn weight(e: &RedisError) -> u8 {
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm) => 3,
        ErrorKind::InvalidClientConfig => 3,
        _ if super::tls::is_trust_error(e) => 3,
        ErrorKind::MasterNameNotFoundBySentinel => 1,
        _ => 2,
    }
}

impl Sentinels {
    pub fn new(settings: &RedisSettings, node: &NodeSpec) -> RedisResult<Self> {
        let password = settings.sentinel_password.as_ref().map(|s| s.expose());
        let clients = settings
            .sentinels
            .iter()
            .map(|a| node.sentinel_client(a, password))
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(Sentinels {
            addrs: settings.sentinels.clone(),
            clients,
            master: settings.master_name.clone(),
            first: AtomicUsize::new(0),
            role_denied_logged: AtomicBool::new(false),
            connect_timeout: settings.connect_timeout,
        })
    }

    /// Asks each sentinel in turn for the master, connects to the address it gives and keeps
    /// it only if `ROLE` says master. The error, when no sentinel leads to a master, lists
    /// what each one said, with the kind of the most telling failure (auth over I/O).
    pub async fn find_master(&self, node: &NodeSpec) -> RedisResult<Found> {
        let n = self.addrs.len();
        let start = self.first.load(Ordering::Relaxed) % n;
        let mut said = Vec::new();
        let mut kind = ErrorKind::MasterNameNotFoundBySentinel;
        let mut worst = 0;
        let mut note = |e: &RedisError, text: String, said: &mut Vec<String>| {
            if weight(e) > worst {
                worst = weight(e);
                kind = match e.kind() {
                    ErrorKind::MasterNameNotFoundBySentinel
                    | ErrorKind::AuthenticationFailed
                    | ErrorKind::InvalidClientConfig => e.kind(),
                    ErrorKind::Server(ServerErrorKind::NoPerm) => ErrorKind::AuthenticationFailed,
                    _ => ErrorKind::Io,
                };
            }
            said.push(text);
        };
        for k in 0..n {
            let i = (start + k) % n;
            let sentinel = &self.addrs[i];
            let (host, port) = match self.ask(i, node).await {
                Ok(Some(hp)) => hp,
                Ok(None) => {
                    let e = RedisError::from((ErrorKind::MasterNameNotFoundBySentinel, "unknown"));
                    let text = format!("sentinel {sentinel}: no master named {:?}", self.master);
                    note(&e, text, &mut said);
                    continue;
                }
                Err(e) => {
                    note(&e, format!("sentinel {sentinel}: {e}"), &mut said);
                    continue;
                }
            };
            match self.connect_master(node, &host, port).await {
                Ok((client, conn)) => {
                    self.first.store(i, Ordering::Relaxed);
                    return Ok(Found {
                        conn,
                        client,
                        addr: format!("{host}:{port}"),
                        via: Some(sentinel.to_string()),
                    });
                }
                Err(e) => {
                    let text = format!("master {host}:{port} (from sentinel {sentinel}): {e}");
                    note(&e, text, &mut said);
                }
            }
        }
        Err(RedisError::from((
            kind,
            "no master found through the sentinels",
            said.join("; "),
        )))
    }

    async fn ask(&self, i: usize, node: &NodeSpec) -> RedisResult<Option<(String, u16)>> {
        let mut c = node.connect(&self.clients[i]).await?;
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master)
            .query_async(&mut c)
            .await
    }

    async fn connect_master(
        &self,
        node: &NodeSpec,
        host: &str,
        port: u16,
    ) -> RedisResult<(Client, MultiplexedConnection)> {
        let client = node.client_at(host, port)?;
        let mut conn = node.connect(&client).await?;
        self.check_role(&mut conn).await?;
        Ok((client, conn))
    }

    /// Ok when the node says it is master. An ACL user without `ROLE` cannot tell: it is
    /// trusted (with one warning) rather than locked out.
    pub async fn check_role(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        match role(conn).await {
            Ok(r) if r == "master" => Ok(()),
            Ok(r) => Err(RedisError::from((
                ErrorKind::Io,
                "not the master",
                format!("ROLE says {r}"),
            ))),
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoPerm) => {
                if !self.role_denied_logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the Redis user may not run ROLE; the master's role cannot be checked \
                         after a failover (allow +role)"
                    );
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Listens for `+switch-master` on one sentinel at a time (the next one when it goes
    /// away) and calls `on_switch` with the new master's address, until `stop`.
    pub async fn watch(&self, stop: CancellationToken, on_switch: impl Fn(&str)) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut i = self.first.load(Ordering::Relaxed);
        loop {
            let n = i % self.addrs.len();
            let ended = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.listen(n, &on_switch, &mut backoff) => r,
            };
            if let Err(e) = ended {
                tracing::debug!(sentinel = %self.addrs[n], error = %e, "sentinel subscription ended");
            }
            i += 1;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    async fn listen(
        &self,
        i: usize,
        on_switch: &impl Fn(&str),
        backoff: &mut Backoff,
    ) -> RedisResult<()> {
        let timed_out = || RedisError::from((ErrorKind::Io, "sentinel did not answer in time"));
        let mut pubsub =
            tokio::time::timeout(self.connect_timeout, self.clients[i].get_async_pubsub())
                .await
                .map_err(|_| timed_out())??;
        pubsub.subscribe("+switch-master").await?;
        backoff.reset();
        tracing::debug!(sentinel = %self.addrs[i], "listening for +switch-master");
        let (mut sink, mut stream) = pubsub.split();
        // A sentinel that vanished without closing the socket is found by a PING.
        let mut ping = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { return Ok(()) };
                    let payload: String = msg.get_payload()?;
                    if let Some(addr) = parse_switch_master(&payload, &self.master) {
                        tracing::info!(sentinel = %self.addrs[i], new_master = %addr, "sentinel announced a new master");
                        on_switch(&addr);
                    }
                }
                _ = ping.tick() => {
                    tokio::time::timeout(self.connect_timeout, sink.ping::<redis::Value>())
                        .await
                        .map_err(|_| timed_out())??;
                }
            }
        }
    }
}

/// The node's role: `master`, `slave` or `sentinel`.
pub(crate) async fn role(conn: &mut MultiplexedConnection) -> RedisResult<String> {
    let reply: Vec<redis::Value> = redis::cmd("ROLE").query_async(conn).await?;
    match reply.first() {
        Some(v) => Ok(redis::from_redis_value_ref(v)?),
        None => Err(RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "empty ROLE reply",
        ))),
    }
}

/// `+switch-master` payload: `<name> <old ip> <old port> <new ip> <new port>`; the new
/// address when it is about our master.
pub(crate) fn parse_switch_master(payload: &str, master: &str) -> Option<String> {
    let parts: Vec<&str> = payload.split_whitespace().collect();
    match parts.as_slice() {
        [name, _, _, ip, port] if *name == master => Some(format!("{ip}:{port}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_master_messages() {
        let p = "mymaster 127.0.0.1 6379 127.0.0.1 6380";
        assert_eq!(
            parse_switch_master(p, "mymaster").as_deref(),
            Some("127.0.0.1:6380")
        );
        assert_eq!(parse_switch_master(p, "other"), None);
        assert_eq!(parse_switch_master("mymaster x", "mymaster"), None);
    }
}
