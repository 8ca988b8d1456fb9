//! Sentinel: ask each sentinel in turn where the master is, check with `ROLE` that the node
//! really is master (Sentinel's client guidance: a sentinel's answer may be stale), and listen
//! to every sentinel's events so a failover is followed before the old master's errors show
//! it: writes pause when the leader picks a replica to promote (what the old master takes
//! from then on is lost when it is demoted) and resume on the promoted one.

use super::backoff::Backoff;
use super::node::NodeSpec;
use super::settings::{RedisSettings, SentinelAddr};
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};
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
    /// `config` is for the master connection (it carries the disconnect hook).
    pub async fn find_master(
        &self,
        node: &NodeSpec,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<Found> {
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
            match self.connect_master(node, config, &host, port).await {
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
        config: &AsyncConnectionConfig,
        host: &str,
        port: u16,
    ) -> RedisResult<(Client, MultiplexedConnection)> {
        let client = node.client_at(host, port)?;
        let mut conn = node.connect_with(&client, config).await?;
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

    /// Connects to the master a sentinel just announced (`+promoted-slave`), if `ROLE`
    /// agrees; the sentinels themselves name the old master until the failover ends.
    pub async fn connect_announced(
        &self,
        node: &NodeSpec,
        config: &AsyncConnectionConfig,
        addr: &str,
    ) -> RedisResult<Found> {
        let bad = || RedisError::from((ErrorKind::Io, "bad announced address", addr.to_string()));
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let (client, conn) = self.connect_master(node, config, host, port).await?;
        Ok(Found {
            conn,
            client,
            addr: addr.to_string(),
            via: Some("announcement".to_string()),
        })
    }

    /// Listens to every sentinel's events (each reconnected with backoff when it goes away)
    /// and hands those about our master to `on_event`, until `stop`. All of them, because
    /// only the sentinel leading a failover announces its steps.
    pub async fn watch(&self, stop: CancellationToken, on_event: impl Fn(Event)) {
        let each = (0..self.addrs.len()).map(|i| self.watch_one(i, &stop, &on_event));
        futures::future::join_all(each).await;
    }

    async fn watch_one(&self, i: usize, stop: &CancellationToken, on_event: &impl Fn(Event)) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            let ended = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.listen(i, on_event, &mut backoff) => r,
            };
            if let Err(e) = ended {
                tracing::debug!(sentinel = %self.addrs[i], error = %e, "sentinel subscription ended");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    async fn listen(
        &self,
        i: usize,
        on_event: &impl Fn(Event),
        backoff: &mut Backoff,
    ) -> RedisResult<()> {
        let timed_out = || RedisError::from((ErrorKind::Io, "sentinel did not answer in time"));
        let mut pubsub =
            tokio::time::timeout(self.connect_timeout, self.clients[i].get_async_pubsub())
                .await
                .map_err(|_| timed_out())??;
        pubsub.psubscribe("*").await?;
        backoff.reset();
        tracing::debug!(sentinel = %self.addrs[i], "listening to sentinel events");
        let (mut sink, mut stream) = pubsub.split();
        // A sentinel that vanished without closing the socket is found by a PING.
        let mut ping = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { return Ok(()) };
                    let payload: String = msg.get_payload()?;
                    if let Some(ev) = parse_event(msg.get_channel_name(), &payload, &self.master) {
                        tracing::info!(sentinel = %self.addrs[i], event = msg.get_channel_name(), payload, "sentinel event");
                        on_event(ev);
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

/// The sentinel events that move our connection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The leader picked a replica and is about to promote it: writes to the old master
    /// from now on are lost when it is demoted, so stop writing.
    FailoverStarted,
    /// The replica at this address answers as master now.
    Promoted(String),
    /// The failover is over; the master is at this address.
    Switched(String),
    /// The failover was given up; the old master stays.
    Aborted,
}

/// Reads one sentinel event about `master`. Payloads are `<type> <name> <ip> <port>
/// [@ <master> <ip> <port>]`; `+switch-master` is `<master> <old ip> <old port> <new ip>
/// <new port>`.
pub(crate) fn parse_event(channel: &str, payload: &str, master: &str) -> Option<Event> {
    let parts: Vec<&str> = payload.split_whitespace().collect();
    let about = match parts.iter().position(|w| *w == "@") {
        Some(at) => parts.get(at + 1) == Some(&master),
        None => parts.first() == Some(&"master") && parts.get(1) == Some(&master),
    };
    match channel {
        "+switch-master" => parse_switch_master(payload, master).map(Event::Switched),
        "+selected-slave" | "+failover-state-send-slaveof-noone" if about => {
            Some(Event::FailoverStarted)
        }
        "+promoted-slave" if about => match parts.as_slice() {
            [_, _, ip, port, "@", ..] => Some(Event::Promoted(format!("{ip}:{port}"))),
            _ => None,
        },
        c if c.starts_with("-failover-abort") && about => Some(Event::Aborted),
        _ => None,
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
    fn failover_events() {
        let m = "mymaster";
        let slave = "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379";
        assert_eq!(
            parse_event("+selected-slave", slave, m),
            Some(Event::FailoverStarted)
        );
        assert_eq!(
            parse_event("+promoted-slave", slave, m),
            Some(Event::Promoted("127.0.0.1:6380".into()))
        );
        assert_eq!(parse_event("+promoted-slave", slave, "other"), None);
        assert_eq!(
            parse_event(
                "-failover-abort-not-elected",
                "master mymaster 127.0.0.1 6379",
                m
            ),
            Some(Event::Aborted)
        );
        assert_eq!(
            parse_event(
                "+switch-master",
                "mymaster 127.0.0.1 6379 127.0.0.1 6380",
                m
            ),
            Some(Event::Switched("127.0.0.1:6380".into()))
        );
        assert_eq!(
            parse_event("+sdown", "master mymaster 127.0.0.1 6379", m),
            None
        );
    }

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
