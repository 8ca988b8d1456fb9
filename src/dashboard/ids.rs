//! Job ids as bytes: arq's key names built from any id (a page may show ids no Python `str`
//! could make), and the percent-encoding that puts one in a URL path segment.

use crate::protocol::keys;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but unreserved characters (and `:`, common in cron ids) is encoded, so `/`,
/// `?`, `#`, `%` and quotes in an id never change what the URL means.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

fn prefixed(prefix: &str, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + id.len());
    k.extend_from_slice(prefix.as_bytes());
    k.extend_from_slice(id);
    k
}

pub fn job_key(id: &[u8]) -> Vec<u8> {
    prefixed(keys::JOB_PREFIX, id)
}
pub fn result_key(id: &[u8]) -> Vec<u8> {
    prefixed(keys::RESULT_PREFIX, id)
}
pub fn in_progress_key(id: &[u8]) -> Vec<u8> {
    prefixed(keys::IN_PROGRESS_PREFIX, id)
}
pub fn retry_key(id: &[u8]) -> Vec<u8> {
    prefixed(keys::RETRY_PREFIX, id)
}

/// The id in a key of `prefix`, if it is one.
pub fn id_of<'a>(key: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    key.strip_prefix(prefix.as_bytes())
}

/// An id as one URL path segment (bytes that are not UTF-8 are encoded byte by byte).
pub fn encode_segment(id: &[u8]) -> String {
    percent_encoding::percent_encode(id, SEGMENT).to_string()
}

/// Text (a queue or function name) as a query value.
pub fn encode_query(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A path segment back to the id's bytes.
pub fn decode_segment(segment: &str) -> Vec<u8> {
    percent_decode_str(segment).collect()
}

/// How an id is shown: its text, with bytes that are not UTF-8 replaced.
pub fn display(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_any_bytes() {
        for id in [
            &b"cron:tick:1700000000123"[..],
            b"a/b?c#d%e f\"'<script>",
            b"\xff\x00\xfe",
            "héllo".as_bytes(),
        ] {
            let s = encode_segment(id);
            assert!(
                !s.contains('/') && !s.contains('?') && !s.contains('<'),
                "{s}"
            );
            assert_eq!(decode_segment(&s), id);
        }
        assert_eq!(encode_segment(b"cron:tick:1"), "cron:tick:1");
        assert_eq!(job_key(b"x"), b"arq:job:x");
        assert_eq!(
            id_of(b"arq:result:ab", keys::RESULT_PREFIX),
            Some(&b"ab"[..])
        );
    }
}
