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
    pub held: Vec<std::sync::Arc<[u8]>>,
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
        inv.arg(&**id);
    }
    let sent_ms = mono_ms();
    let reply: Vec<RV> = inv.invoke_async(conn).await?;
    Ok(parse_reply(
        reply,
        req.token_prefix,
        req.first_token,
        sent_ms,
    ))
}

/// The claimed jobs' ids and payloads in a claim's reply, in claim order: the elements after
/// the first (the numbers) that come in pairs of an id and a payload, up to the first error
/// entry (whose number is an integer, never an id).
pub fn claimed_pairs(reply: &mut [RV]) -> impl Iterator<Item = (&[u8], &mut RV)> {
    reply
        .get_mut(1..)
        .unwrap_or_default()
        .chunks_exact_mut(2)
        .map_while(|pair| match pair {
            [RV::BulkString(id), payload] => Some((id.as_slice(), payload)),
            _ => None,
        })
}

/// One job's entry in the reply's numbers: `{score},{try},{abort score}`, empty where false.
#[derive(Default)]
struct Numbers<'a> {
    score: Option<&'a [u8]>,
    job_try: Option<&'a [u8]>,
    abort: Option<&'a [u8]>,
}

fn part(b: Option<&[u8]>) -> Option<&[u8]> {
    b.filter(|b| !b.is_empty())
}

fn numbers(meta: &[u8]) -> impl Iterator<Item = Numbers<'_>> {
    meta.split(|&b| b == b';')
        .take(meta.iter().filter(|&&b| b == b';').count())
        .map(|entry| {
            let mut f = entry.splitn(3, |&b| b == b',');
            Numbers {
                score: part(f.next()),
                job_try: part(f.next()),
                abort: part(f.next()),
            }
        })
}

fn number(field: Option<&[u8]>) -> Option<i64> {
    let text = std::str::from_utf8(field?).ok()?;
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

/// Reads the script's reply (see claim.lua): the numbers, an id and a payload per job, then
/// the wrong-type errors by job number. Every claimed id is returned, even one whose numbers
/// are odd: its in-progress key is set, so dropping it here would strand it until the lease
/// ran out.
pub(crate) fn parse_reply(
    mut reply: Vec<RV>,
    token_prefix: &str,
    first_token: u64,
    sent_ms: u64,
) -> Vec<Claimed> {
    let meta = match reply.first_mut() {
        Some(RV::BulkString(b)) => std::mem::take(b),
        _ => Vec::new(),
    };
    let mut claimed: Vec<Claimed> = claimed_pairs(&mut reply)
        .zip(numbers(&meta).chain(std::iter::repeat_with(Numbers::default)))
        .zip(first_token..)
        .map(|(((id, payload), nums), token)| {
            let raw_id = id.to_vec();
            let id = String::from_utf8_lossy(&raw_id).into_owned();
            let job_try = number(nums.job_try);
            Claimed {
                raw_id,
                id,
                score: number(nums.score).unwrap_or(0),
                // Moved out, not copied: a payload may be tens of MB.
                payload: match std::mem::replace(payload, RV::Nil) {
                    RV::BulkString(b) => Some(b),
                    _ => None,
                },
                job_try: job_try.unwrap_or(0),
                abort_requested_ms: number(nums.abort),
                token: format!("{token_prefix}{token}"),
                key_error: job_try.is_none().then(|| "no try counter".to_string()),
                sent_ms,
            }
        })
        .collect();
    let after_pairs = 1 + 2 * claimed.len();
    for e in reply.get(after_pairs..).unwrap_or_default().chunks_exact(2) {
        if let [RV::Int(k), err] = e {
            let text = match err {
                RV::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                RV::SimpleString(s) => s.clone(),
                other => format!("{other:?}"),
            };
            // Numbered from 1; a try counter of the wrong type also leaves the try empty, and
            // its error says more than "no try counter".
            let job = usize::try_from(*k).ok().and_then(|k| k.checked_sub(1));
            if let Some(c) = job.and_then(|i| claimed.get_mut(i)) {
                c.key_error = Some(text);
            }
        }
    }
    claimed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(b: &[u8]) -> RV {
        RV::BulkString(b.to_vec())
    }

    #[test]
    fn parses_numbers_ids_payloads_and_errors() {
        let reply = vec![
            bulk(b"1700000000123,2,;5,1,1700000000000;1.5e3,,;"),
            bulk(b"abc"),
            bulk(b"\x80\x04N."),
            // An id with the reply's own separators in it, and no payload.
            bulk(b"d\xff,;-9:e"),
            RV::Nil,
            bulk(b"t"),
            bulk(b"p"),
            // Job 2's retry counter holds the wrong type; job 9 is not in this reply.
            RV::Int(2),
            bulk(b"arq:retry:x: WRONGTYPE"),
            RV::Int(9),
            bulk(b"ignored"),
        ];
        let got = parse_reply(reply, "w|n|", 7, 5);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].id, "abc");
        assert!(got[0].id_is_utf8());
        assert_eq!(got[0].score, 1_700_000_000_123);
        assert_eq!(got[0].payload.as_deref(), Some(&b"\x80\x04N."[..]));
        assert_eq!(got[0].job_try, 2);
        assert_eq!(got[0].abort_requested_ms, None);
        assert_eq!(got[0].token, "w|n|7");
        assert_eq!(got[0].key_error, None);
        assert_eq!(got[0].sent_ms, 5);
        assert_eq!(got[1].payload, None);
        assert!(!got[1].id_is_utf8());
        assert_eq!(got[1].raw_id, b"d\xff,;-9:e".to_vec());
        assert_eq!(got[1].abort_requested_ms, Some(1_700_000_000_000));
        assert_eq!(got[1].token, "w|n|8");
        assert_eq!(got[1].key_error.as_deref(), Some("arq:retry:x: WRONGTYPE"));
        // No try counter: still returned, with the reason as its key error.
        assert_eq!(got[2].score, 1500);
        assert_eq!(got[2].job_try, 0);
        assert_eq!(got[2].token, "w|n|9");
        assert_eq!(got[2].key_error.as_deref(), Some("no try counter"));
    }

    #[test]
    fn odd_replies_keep_every_claimed_id() {
        // Numbers missing or short: each id still comes back (its lease is set), failed early
        // for want of a try counter.
        for meta in [RV::Nil, bulk(b""), bulk(b"1,1,")] {
            let reply = vec![meta, bulk(b"a"), bulk(b"p"), bulk(b"b"), RV::Nil];
            let got = parse_reply(reply, "x|", 1, 0);
            assert_eq!(got.len(), 2);
            assert_eq!(got[1].id, "b");
            assert_eq!(got[1].token, "x|2");
            assert_eq!(got[1].key_error.as_deref(), Some("no try counter"));
        }
        assert!(parse_reply(Vec::new(), "x|", 1, 0).is_empty());
        // A lone id without its payload element is not a pair: not a reply the script makes.
        assert!(parse_reply(vec![bulk(b"1,1,;"), bulk(b"a")], "x|", 1, 0).is_empty());
    }
}
