//! Claim: pick due jobs off the queue and start them (lease, try counter, abort check), in one
//! Lua script per poll so a batch costs one round trip.

use super::lease::mono_ms;
use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value as RV};
use std::sync::LazyLock;

static CLAIM: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("claim.lua")));

/// A job this worker now owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The id as Redis holds it (arq ids are bytes; ours are used as keys byte for byte).
    pub raw_id: Vec<u8>,
    /// The id for logs and results (`raw_id` when it is UTF-8, else a lossy rendering).
    pub id: String,
    /// Queue score (ms) when claimed.
    pub score: i64,
    /// The serialized job; `None` when the job key had expired.
    pub payload: Option<Vec<u8>>,
    /// The try counter after this start (0 when it could not be counted).
    pub job_try: i64,
    /// When an abort was requested before the job started (ms), if it was.
    pub abort_requested_ms: Option<i64>,
    /// The value of our in-progress key for this run.
    pub token: String,
    /// A key of this job held the wrong type (the job cannot run; it is failed).
    pub key_error: Option<String>,
    /// `mono_ms()` when the claim was sent: the lease is good from then for one TTL.
    pub sent_ms: u64,
}

impl Claimed {
    pub fn id_is_utf8(&self) -> bool {
        self.id.as_bytes() == self.raw_id.as_slice()
    }
}

pub struct ClaimRequest<'a> {
    pub queue: &'a str,
    pub lease_set: &'a str,
    pub now_ms: i64,
    pub in_progress_ttl_ms: i64,
    pub max_claim: usize,
    pub read_limit: usize,
    pub aborts_enabled: bool,
    /// `{worker id}|{nonce}|`; each claimed job's token is this plus a number.
    pub token_prefix: &'a str,
    pub first_token: u64,
    /// Ids this worker still holds: never claimed again while it does.
    pub held: Vec<Vec<u8>>,
}

pub async fn claim(
    conn: &mut MultiplexedConnection,
    req: &ClaimRequest<'_>,
) -> Result<Vec<Claimed>, RedisError> {
    let mut inv = CLAIM.key(req.queue);
    inv.key(crate::protocol::keys::ABORT_SET)
        .key(req.lease_set)
        .arg(req.now_ms)
        .arg(req.in_progress_ttl_ms)
        .arg(req.max_claim)
        .arg(req.read_limit)
        .arg(if req.aborts_enabled { "1" } else { "0" })
        .arg(crate::protocol::keys::RETRY_TTL_S)
        .arg(req.token_prefix)
        .arg(req.first_token);
    for id in &req.held {
        inv.arg(id.as_slice());
    }
    let sent_ms = mono_ms();
    let reply: Vec<RV> = inv.invoke_async(conn).await?;
    Ok(parse_reply(reply, sent_ms))
}

fn bytes(v: &RV) -> Option<Vec<u8>> {
    match v {
        RV::BulkString(b) => Some(b.clone()),
        RV::SimpleString(s) => Some(s.clone().into_bytes()),
        RV::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn text(v: &RV) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn number(v: &RV) -> Option<i64> {
    match v {
        RV::Int(i) => Some(*i),
        RV::Double(f) => Some(*f as i64),
        other => text(other)?.parse::<f64>().ok().map(|f| f as i64),
    }
}

/// Reads the script's flat reply. Every claimed id is returned, even one whose fields are odd:
/// its in-progress key is set, so dropping it here would strand it until the lease ran out.
pub(crate) fn parse_reply(mut reply: Vec<RV>, sent_ms: u64) -> Vec<Claimed> {
    reply
        .chunks_exact_mut(7)
        .filter_map(|c| {
            let raw_id = bytes(&c[0])?;
            let id = String::from_utf8_lossy(&raw_id).into_owned();
            let mut key_error = text(&c[6]);
            let job_try = number(&c[3]).unwrap_or_else(|| {
                key_error.get_or_insert_with(|| "no try counter".into());
                0
            });
            Some(Claimed {
                raw_id,
                id,
                score: number(&c[1]).unwrap_or(0),
                // Moved out, not copied: a payload may be tens of MB.
                payload: match std::mem::replace(&mut c[2], RV::Nil) {
                    RV::BulkString(b) => Some(b),
                    _ => None,
                },
                job_try,
                abort_requested_ms: number(&c[4]),
                token: text(&c[5])?,
                key_error,
                sent_ms,
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
            RV::BulkString(b"w|n|1".to_vec()),
            RV::Nil,
            RV::BulkString(b"d\xffef".to_vec()),
            RV::BulkString(b"5".to_vec()),
            RV::Nil,
            RV::Nil,
            RV::BulkString(b"1700000000000".to_vec()),
            RV::BulkString(b"w|n|2".to_vec()),
            RV::BulkString(b"arq:retry:x: WRONGTYPE".to_vec()),
        ];
        let got = parse_reply(reply, 5);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "abc");
        assert!(got[0].id_is_utf8());
        assert_eq!(got[0].score, 1_700_000_000_123);
        assert_eq!(got[0].job_try, 2);
        assert_eq!(got[0].abort_requested_ms, None);
        assert_eq!(got[0].token, "w|n|1");
        assert_eq!(got[0].key_error, None);
        assert_eq!(got[1].payload, None);
        assert!(!got[1].id_is_utf8());
        assert_eq!(got[1].raw_id, b"d\xffef".to_vec());
        assert_eq!(got[1].abort_requested_ms, Some(1_700_000_000_000));
        assert_eq!(got[1].key_error.as_deref(), Some("arq:retry:x: WRONGTYPE"));
    }
}
