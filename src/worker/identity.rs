//! The worker's identity: a name that survives a container restart (`--worker-id`, by
//! default `{host name}/{slot}`), so a worker that starts where a dead one ran takes over its
//! leases at once instead of waiting for them to lapse (as Sidekiq Pro's super_fetch does).
//!
//! Two live processes never share an identity:
//! - on one host, each identity is guarded by an exclusive lock on a file in
//!   `$TMPDIR/lyanna-worker/` (the kernel drops it when the process dies, even on kill -9);
//!   with default flags the first slot whose lock is free is ours, so several workers on one
//!   host start side by side;
//! - in Redis, `{queue}:lyanna:worker:{id}` holds `{host}|{nonce}` (a nonce per process),
//!   renewed with the leases. Holding the file lock while the key names our host means the
//!   process that wrote it is gone: take it over now. A key of another host (or no usable
//!   lock directory) is trusted only once it expires: a live holder renews it and we refuse
//!   (explicit id, exit 64) or try the next slot.
//!
//! Processes that share a host name must share the lock directory (they do by default on one
//! machine; a restarted container is the same pod).

use super::lease::mono_ms;
use crate::conn::Redis;
use redis::aio::MultiplexedConnection;
use std::fs::File;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

static TAKEOVER: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("takeover.lua")));

/// Slots tried with default flags before giving up.
const MAX_SLOTS: usize = 128;

pub(crate) struct Identity {
    pub id: String,
    /// `{host}|{nonce}`: the identity key's value while we hold it.
    pub value: String,
    /// `{id}|{nonce}|`: every token of our claims starts with it.
    pub token_prefix: String,
    pub key: String,
    pub lease_set: String,
    /// Cancelled when another process holds our identity now (we were presumed dead).
    pub lost: CancellationToken,
    _lock: Option<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("worker id {0:?} is in use by a live worker (--worker-id / LYANNA_WORKER_ID must differ per process)")]
    InUse(String),
    #[error("no free worker slot on this host after {MAX_SLOTS} tries")]
    NoSlot,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

pub(crate) fn host_name() -> String {
    let from_file = |p: &str| std::fs::read_to_string(p).ok();
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| from_file("/proc/sys/kernel/hostname"))
        .or_else(|| from_file("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub(crate) fn identity_key(queue: &str, id: &str) -> String {
    format!("{queue}:lyanna:worker:{id}")
}

pub(crate) fn lease_set_key(queue: &str, id: &str) -> String {
    format!("{queue}:lyanna:leases:{id}")
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("lyanna-worker")
}

enum Lock {
    Held(File),
    /// Another live process on this host holds it.
    Busy,
    /// No lock directory we can use: fall back to Redis alone.
    Unavailable,
}

fn try_lock(queue: &str, id: &str) -> Lock {
    let dir = lock_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return Lock::Unavailable;
    }
    let name: String = format!("{queue}.{id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{name}.lock")))
    {
        Ok(f) => f,
        Err(_) => return Lock::Unavailable,
    };
    match file.try_lock() {
        Ok(()) => Lock::Held(file),
        Err(std::fs::TryLockError::WouldBlock) => Lock::Busy,
        Err(std::fs::TryLockError::Error(_)) => Lock::Unavailable,
    }
}

enum Outcome {
    Ours { took_over: bool },
    Live,
}

/// Takes `id` in Redis: at once when free or when its holder is known dead, after watching it
/// expire when its holder is unknown.
async fn take_in_redis(
    conn: &mut MultiplexedConnection,
    key: &str,
    value: &str,
    host: &str,
    locked: bool,
    ttl: Duration,
) -> redis::RedisResult<Outcome> {
    let ttl_ms = ttl.as_millis() as u64;
    let deadline = mono_ms() + ttl_ms / 3 + 2_000;
    let mut last_pttl: Option<i64> = None;
    loop {
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn)
            .await?;
        if set.is_some() {
            return Ok(Outcome::Ours { took_over: false });
        }
        let (held_by, pttl): (Option<String>, i64) =
            redis::pipe().get(key).pttl(key).query_async(conn).await?;
        let Some(held_by) = held_by else { continue };
        if locked && held_by.split('|').next() == Some(host) {
            // Our host, and no live process here holds the lock: the writer is dead.
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(conn)
                .await?;
            return Ok(Outcome::Ours { took_over: true });
        }
        // A holder elsewhere renews every TTL/3: a TTL that goes up means it is alive.
        if last_pttl.is_some_and(|p| pttl > p + 50) || mono_ms() > deadline {
            return Ok(Outcome::Live);
        }
        last_pttl = Some(pttl);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Identity {
    /// Finds our identity and takes over a dead predecessor's leases.
    pub(crate) async fn acquire(
        redis: &Redis,
        queue: &str,
        explicit: Option<&str>,
        ttl: Duration,
    ) -> Result<Identity, IdentityError> {
        let host = host_name();
        let nonce = format!("{:016x}", rand::random::<u64>());
        let value = format!("{host}|{nonce}");
        let mut conn = redis.conn().await?;
        let candidates: Vec<String> = match explicit {
            Some(id) => vec![id.to_string()],
            None => (0..MAX_SLOTS).map(|n| format!("{host}/{n}")).collect(),
        };
        for id in candidates {
            let lock = try_lock(queue, &id);
            let (file, locked) = match lock {
                Lock::Held(f) => (Some(f), true),
                Lock::Busy if explicit.is_some() => return Err(IdentityError::InUse(id)),
                Lock::Busy => continue,
                Lock::Unavailable => (None, false),
            };
            let key = identity_key(queue, &id);
            match take_in_redis(&mut conn, &key, &value, &host, locked, ttl).await? {
                Outcome::Live if explicit.is_some() => return Err(IdentityError::InUse(id)),
                Outcome::Live => continue,
                Outcome::Ours { took_over } => {
                    let me = Identity {
                        token_prefix: format!("{id}|{nonce}|"),
                        lease_set: lease_set_key(queue, &id),
                        key,
                        value,
                        lost: CancellationToken::new(),
                        _lock: file,
                        id,
                    };
                    let released = me.take_over(&mut conn).await?;
                    if released > 0 || took_over {
                        info!(worker_id = %me.id, released, "took over a dead predecessor's leases");
                    }
                    if !locked {
                        warn!(lock_dir = %lock_dir().display(), "no usable lock directory: a restart under this id waits for the old leases to lapse");
                    }
                    return Ok(me);
                }
            }
        }
        Err(IdentityError::NoSlot)
    }

    async fn take_over(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<i64> {
        TAKEOVER
            .key(&self.lease_set)
            .arg(format!("{}|", self.id))
            .arg(&self.token_prefix)
            .invoke_async(conn)
            .await
    }

    /// Gives the identity back at a clean exit, so a successor need not wait.
    pub(crate) async fn release(&self, redis: &Redis) {
        let Ok(mut conn) = redis.conn().await else {
            return;
        };
        let _: redis::RedisResult<i64> = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
        .key(&self.key)
        .arg(&self.value)
        .invoke_async(&mut conn)
        .await;
    }
}
