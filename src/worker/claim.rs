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

/// The six fields of a claimed job's header, in the script's order: id, score, try, abort
/// score, token, error; `None` where the script gave false. `None` overall when the header is
/// not framed as the script frames it (`{length}:{bytes}` or `-`, nothing after the last).
pub fn header_fields(header: &[u8]) -> Option<[Option<&[u8]>; 6]> {
    let mut rest = header;
    let mut out = [None; 6];
    for slot in &mut out {
        if let Some(after) = rest.strip_prefix(b"-") {
            rest = after;
            continue;
        }
        let colon = rest.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
        let end = (colon + 1).checked_add(len)?;
        *slot = Some(rest.get(colon + 1..end)?);
        rest = &rest[end..];
    }
    rest.is_empty().then_some(out)
}

fn number(field: Option<&[u8]>) -> Option<i64> {
    let text = std::str::from_utf8(field?).ok()?;
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

fn text(field: Option<&[u8]>) -> Option<String> {
    field.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Reads the script's reply: a header and a payload per job. Every claimed id is returned,
/// even one whose fields are odd: its in-progress key is set, so dropping it here would
/// strand it until the lease ran out.
pub(crate) fn parse_reply(mut reply: Vec<RV>, sent_ms: u64) -> Vec<Claimed> {
    reply
        .chunks_exact_mut(2)
        .filter_map(|c| {
            let [RV::BulkString(header), payload] = c else {
                return None;
            };
            let [id, score, job_try, abort, token, error] = header_fields(header)?;
            let raw_id = id?.to_vec();
            let id = String::from_utf8_lossy(&raw_id).into_owned();
            let mut key_error = text(error);
            let job_try = number(job_try).unwrap_or_else(|| {
                key_error.get_or_insert_with(|| "no try counter".into());
                0
            });
            Some(Claimed {
                raw_id,
                id,
                score: number(score).unwrap_or(0),
                // Moved out, not copied: a payload may be tens of MB.
                payload: match std::mem::replace(payload, RV::Nil) {
                    RV::BulkString(b) => Some(b),
                    _ => None,
                },
                job_try,
                abort_requested_ms: number(abort),
                token: String::from_utf8(token?.to_vec()).ok()?,
                key_error,
                sent_ms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames fields as claim.lua's `field()` does.
    fn header(fields: [Option<&[u8]>; 6]) -> RV {
        let mut h = Vec::new();
        for f in fields {
            match f {
                None => h.push(b'-'),
                Some(b) => {
                    h.extend_from_slice(format!("{}:", b.len()).as_bytes());
                    h.extend_from_slice(b);
                }
            }
        }
        RV::BulkString(h)
    }

    #[test]
    fn parses_headers_and_moves_payloads() {
        let reply = vec![
            header([
                Some(b"abc"),
                Some(b"1700000000123"),
                Some(b"2"),
                None,
                Some(b"w|n|1"),
                None,
            ]),
            RV::BulkString(b"\x80\x04N.".to_vec()),
            // An id with the framing's own bytes in it, no payload, a wrong-type key.
            header([
                Some(b"d\xff:-9:e"),
                Some(b"5"),
                Some(b"1"),
                Some(b"1700000000000"),
                Some(b"w|n|2"),
                Some(b"arq:retry:x: WRONGTYPE"),
            ]),
            RV::Nil,
            // No try counter: still returned, with the reason as its key error.
            header([Some(b"t"), Some(b"1.5e3"), None, None, Some(b"w|n|3"), None]),
            RV::BulkString(b"p".to_vec()),
        ];
        let got = parse_reply(reply, 5);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].id, "abc");
        assert!(got[0].id_is_utf8());
        assert_eq!(got[0].score, 1_700_000_000_123);
        assert_eq!(got[0].payload.as_deref(), Some(&b"\x80\x04N."[..]));
        assert_eq!(got[0].job_try, 2);
        assert_eq!(got[0].abort_requested_ms, None);
        assert_eq!(got[0].token, "w|n|1");
        assert_eq!(got[0].key_error, None);
        assert_eq!(got[0].sent_ms, 5);
        assert_eq!(got[1].payload, None);
        assert!(!got[1].id_is_utf8());
        assert_eq!(got[1].raw_id, b"d\xff:-9:e".to_vec());
        assert_eq!(got[1].abort_requested_ms, Some(1_700_000_000_000));
        assert_eq!(got[1].key_error.as_deref(), Some("arq:retry:x: WRONGTYPE"));
        assert_eq!(got[2].score, 1500);
        assert_eq!(got[2].job_try, 0);
        assert_eq!(got[2].key_error.as_deref(), Some("no try counter"));
    }

    #[test]
    fn misframed_headers_are_refused() {
        for bad in [
            &b""[..],
            b"3:ab",
            b"x:abc-----",
            b"1:a-----extra",
            b"99999999999999999999999:a",
            b"18446744073709551615:a-----",
        ] {
            assert_eq!(
                header_fields(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(header_fields(b"1:a-----").is_some());
    }
}
