//! One look at the keys the dashboard cannot reach from a queue's sorted set: results and
//! in-progress keys (global in arq, not per queue) and health keys. SCAN with a large COUNT,
//! never KEYS: Redis serves other clients between the steps, and a 100k-job keyspace is a few
//! dozen round trips. Two passes run side by side on the multiplexed connection.

use super::ids;
use crate::protocol::keys;
use redis::aio::MultiplexedConnection;

/// Keys looked at per SCAN step.
const SCAN_COUNT: usize = 10_000;
/// Our per-worker health keys: `{queue}:lyanna:health:{worker id}`.
const LYANNA_HEALTH_INFIX: &str = keys::WORKER_HEALTH_INFIX;

/// A health key found.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthKey {
    /// arq's `{queue}:health-check` (Python workers and ours both write it).
    Arq { queue: String, key: Vec<u8> },
    /// Ours, one per worker.
    Lyanna {
        queue: String,
        worker: String,
        key: Vec<u8>,
    },
}

/// What one pass found.
#[derive(Debug, Default)]
pub struct Keyspace {
    pub result_ids: Vec<Vec<u8>>,
    pub in_progress_ids: Vec<Vec<u8>>,
}

/// Every key matching `pattern`.
pub async fn scan(
    conn: &mut MultiplexedConnection,
    pattern: &str,
) -> redis::RedisResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        out.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(out);
        }
    }
}

/// The ids of every key named `{prefix}{id}` (`prefix` is one of arq's key prefixes, which
/// hold no glob characters).
pub async fn scan_ids(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> redis::RedisResult<Vec<Vec<u8>>> {
    Ok(scan(conn, &format!("{prefix}*"))
        .await?
        .iter()
        .filter_map(|k| ids::id_of(k, prefix))
        .map(<[u8]>::to_vec)
        .collect())
}

/// A value read for a listing.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Missing,
    /// Bigger than the listing decodes (its size in bytes).
    TooBig(usize),
    Bytes(Vec<u8>),
}

/// The values of `keys`, each only if at most `max` bytes: STRLEN first, so a page of rows
/// never pulls (and decodes) a 50 MB payload.
pub async fn fetch_small(
    conn: &mut MultiplexedConnection,
    keys: &[Vec<u8>],
    max: usize,
) -> redis::RedisResult<Vec<Fetched>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.strlen(k);
    }
    let sizes: Vec<usize> = pipe.query_async(conn).await?;
    let small: Vec<&Vec<u8>> = keys
        .iter()
        .zip(&sizes)
        .filter(|(_, n)| **n > 0 && **n <= max)
        .map(|(k, _)| k)
        .collect();
    let mut values: std::vec::IntoIter<Option<Vec<u8>>> = if small.is_empty() {
        Vec::new().into_iter()
    } else {
        redis::cmd("MGET")
            .arg(small)
            .query_async::<Vec<Option<Vec<u8>>>>(conn)
            .await?
            .into_iter()
    };
    Ok(sizes
        .iter()
        .map(|&n| match n {
            0 => Fetched::Missing,
            n if n > max => Fetched::TooBig(n),
            _ => values
                .next()
                .flatten()
                .map_or(Fetched::Missing, Fetched::Bytes),
        })
        .collect())
}

/// Classifies a health key (pure).
pub fn health_key(key: &[u8]) -> Option<HealthKey> {
    let text = std::str::from_utf8(key).ok()?;
    // A job whose id ends in `:health-check` is not a queue.
    let job_keys = [
        keys::JOB_PREFIX,
        keys::RESULT_PREFIX,
        keys::IN_PROGRESS_PREFIX,
        keys::RETRY_PREFIX,
    ];
    if job_keys.iter().any(|p| text.starts_with(p)) {
        return None;
    }
    if let Some(queue) = text.strip_suffix(keys::HEALTH_SUFFIX) {
        return Some(HealthKey::Arq {
            queue: queue.to_string(),
            key: key.to_vec(),
        });
    }
    let at = text.rfind(LYANNA_HEALTH_INFIX)?;
    let worker = &text[at + LYANNA_HEALTH_INFIX.len()..];
    (!worker.is_empty()).then(|| HealthKey::Lyanna {
        queue: text[..at].to_string(),
        worker: worker.to_string(),
        key: key.to_vec(),
    })
}

/// Results and in-progress keys, in one pass (`arq:[ir]*`).
pub async fn look(conn: &mut MultiplexedConnection) -> redis::RedisResult<Keyspace> {
    let mut ks = Keyspace::default();
    for k in scan(conn, "arq:[ir]*").await? {
        if let Some(id) = ids::id_of(&k, keys::RESULT_PREFIX) {
            ks.result_ids.push(id.to_vec());
        } else if let Some(id) = ids::id_of(&k, keys::IN_PROGRESS_PREFIX) {
            ks.in_progress_ids.push(id.to_vec());
        }
    }
    Ok(ks)
}

/// Every health key, arq's and ours (another pass: `*health*`).
pub async fn health_keys(conn: &mut MultiplexedConnection) -> redis::RedisResult<Vec<HealthKey>> {
    Ok(scan(conn, "*health*")
        .await?
        .iter()
        .filter_map(|k| health_key(k))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_keys_of_both_kinds() {
        assert_eq!(
            health_key(b"arq:queue:health-check"),
            Some(HealthKey::Arq {
                queue: "arq:queue".into(),
                key: b"arq:queue:health-check".to_vec()
            })
        );
        assert!(matches!(
            health_key(b"q:lyanna:health:host/0"),
            Some(HealthKey::Lyanna { queue, worker, .. }) if queue == "q" && worker == "host/0"
        ));
        assert_eq!(health_key(b"arq:job:healthy"), None);
        assert_eq!(health_key(b"arq:job:x:health-check"), None);
        assert_eq!(health_key(b"q:lyanna:health:"), None);
    }
}
