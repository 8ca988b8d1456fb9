//! Claim: pick due jobs off the queue and start them (in-progress key, try counter, abort
//! check), in one Lua script per poll so a batch costs one round trip.

use crate::protocol::keys;
use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value as RV};
use std::sync::LazyLock;

static CLAIM: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("claim.lua")));

/// A job this worker now owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    /// Queue score (ms) when claimed.
    pub score: i64,
    /// The serialized job; `None` when the job key had expired.
    pub payload: Option<Vec<u8>>,
    /// The try counter after this start.
    pub job_try: i64,
    /// When an abort was requested before the job started (ms), if it was.
    pub abort_requested_ms: Option<i64>,
}

pub struct ClaimRequest<'a> {
    pub queue: &'a str,
    pub now_ms: i64,
    pub in_progress_ttl_ms: i64,
    pub max_claim: usize,
    pub read_limit: usize,
    pub aborts_enabled: bool,
}

pub async fn claim(
    conn: &mut MultiplexedConnection,
    req: &ClaimRequest<'_>,
) -> Result<Vec<Claimed>, RedisError> {
    let reply: Vec<RV> = CLAIM
        .key(req.queue)
        .key(keys::ABORT_SET)
        .arg(req.now_ms)
        .arg(req.in_progress_ttl_ms)
        .arg(req.max_claim)
        .arg(req.read_limit)
        .arg(if req.aborts_enabled { "1" } else { "0" })
        .arg(keys::RETRY_TTL_S)
        .invoke_async(conn)
        .await?;
    Ok(parse_reply(reply))
}

fn text(v: &RV) -> Option<String> {
    match v {
        RV::BulkString(b) => String::from_utf8(b.clone()).ok(),
        RV::SimpleString(s) => Some(s.clone()),
        RV::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn number(v: &RV) -> Option<i64> {
    match v {
        RV::Int(i) => Some(*i),
        RV::Double(f) => Some(*f as i64),
        other => text(other)?.parse::<f64>().ok().map(|f| f as i64),
    }
}

/// Reads the script's flat reply; a malformed entry (which only a foreign script could
/// produce) is skipped rather than trusted.
pub(crate) fn parse_reply(reply: Vec<RV>) -> Vec<Claimed> {
    reply
        .chunks_exact(5)
        .filter_map(|c| {
            Some(Claimed {
                id: text(&c[0])?,
                score: number(&c[1])?,
                payload: match &c[2] {
                    RV::BulkString(b) => Some(b.clone()),
                    _ => None,
                },
                job_try: number(&c[3])?,
                abort_requested_ms: number(&c[4]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flat_reply() {
        let reply = vec![
            RV::BulkString(b"abc".to_vec()),
            RV::BulkString(b"1700000000123".to_vec()),
            RV::BulkString(b"\x80\x04N.".to_vec()),
            RV::Int(2),
            RV::Nil,
            RV::BulkString(b"def".to_vec()),
            RV::BulkString(b"5".to_vec()),
            RV::Nil,
            RV::Int(1),
            RV::BulkString(b"1700000000000".to_vec()),
        ];
        let got = parse_reply(reply);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "abc");
        assert_eq!(got[0].score, 1_700_000_000_123);
        assert_eq!(got[0].job_try, 2);
        assert_eq!(got[0].abort_requested_ms, None);
        assert_eq!(got[1].payload, None);
        assert_eq!(got[1].abort_requested_ms, Some(1_700_000_000_000));
    }
}
