//! Text arguments of pickle opcodes: UTF-8 that may carry lone surrogates (Python pickles
//! `str` with `surrogatepass`), protocol 0's raw-unicode-escape lines, and integers.

use crate::codec::CodecError;
use lyanna_task_api::Value;
use num_bigint::BigInt;

fn malformed(msg: impl Into<String>) -> CodecError {
    CodecError::Malformed(msg.into())
}

/// Length of the UTF-8 sequence at the start of `b` if it is a surrogate (`ED A0..BF xx`).
fn surrogate_at(b: &[u8]) -> bool {
    matches!(b, [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..])
}

/// A pickled str: plain UTF-8, or UTF-8 with surrogates encoded as 3-byte sequences.
pub(super) fn str_from_utf8(b: &[u8]) -> Result<Value, CodecError> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(Value::Str(s.to_string())),
        Err(_) => {
            let mut rest = b;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(_) => break,
                    Err(e) => {
                        let bad = &rest[e.valid_up_to()..];
                        if !surrogate_at(bad) {
                            return Err(malformed("invalid UTF-8 in str"));
                        }
                        rest = &bad[3..];
                    }
                }
            }
            Ok(Value::SurrogateStr(b.to_vec()))
        }
    }
}

/// Appends code point `c` (a surrogate allowed) as generalized UTF-8.
fn push_code_point(out: &mut Vec<u8>, c: u32) {
    match char::from_u32(c) {
        Some(ch) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        None => out.extend_from_slice(&[
            0xe0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3f) as u8,
            0x80 | (c & 0x3f) as u8,
        ]),
    }
}

/// Protocol 0's UNICODE argument (Python's `raw-unicode-escape`): `\uXXXX` / `\UXXXXXXXX`
/// escapes, every other byte a Latin-1 character (so `é` arrives as the single byte 0xE9).
pub(super) fn raw_unicode_escape(line: &[u8]) -> Result<Value, CodecError> {
    let mut out = Vec::with_capacity(line.len());
    let mut surrogates = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b == b'\\' && matches!(line.get(i + 1), Some(b'u' | b'U')) {
            let width = if line[i + 1] == b'u' { 4 } else { 8 };
            let hex = line
                .get(i + 2..i + 2 + width)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .filter(|&c| c <= 0x10ffff)
                .ok_or_else(|| malformed("bad \\u escape in UNICODE"))?;
            surrogates |= (0xd800..0xe000).contains(&hex);
            push_code_point(&mut out, hex);
            i += 2 + width;
        } else {
            push_code_point(&mut out, u32::from(b));
            i += 1;
        }
    }
    Ok(if surrogates {
        Value::SurrogateStr(out)
    } else {
        // Built from chars only, so valid.
        Value::Str(String::from_utf8(out).map_err(|_| malformed("bad UNICODE text"))?)
    })
}

/// The Latin-1 bytes a str stands for (protocol 0-2 write bytes as `_codecs.encode(s,
/// 'latin1')`), or None if it holds a character above U+00FF.
pub(super) fn latin1(v: &Value) -> Option<Vec<u8>> {
    match v.resolve() {
        Value::Str(s) => s.chars().map(|c| u8::try_from(c as u32).ok()).collect(),
        Value::Bytes(b) | Value::ByteArray(b) => Some(b.clone()),
        _ => None,
    }
}

/// A LONG1/LONG4 body (two's complement, little-endian). Up to 8 bytes (arq's millisecond
/// times: one in every job) it is sign-extended into an i64 without a `BigInt`.
pub(super) fn long_from_le(b: &[u8]) -> Value {
    if b.len() <= 8 {
        let fill = if b.last().is_some_and(|&top| top >= 0x80) {
            0xff
        } else {
            0
        };
        let mut le = [fill; 8];
        le[..b.len()].copy_from_slice(b);
        return Value::Int(i64::from_le_bytes(le));
    }
    Value::big(BigInt::from_signed_bytes_le(b))
}

pub(super) fn parse_int(s: &str) -> Result<Value, CodecError> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    s.parse::<BigInt>()
        .map(Value::big)
        .map_err(|_| malformed(format!("bad integer {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies of up to 8 bytes read as the `BigInt` path reads them, at every length, both
    /// signs and the i64 edges; longer ones still become big ints.
    #[test]
    fn short_longs_match_the_bigint_path() {
        let mut bodies: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff], vec![0x80], vec![0x7f]];
        for n in 1..=9usize {
            for top in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] {
                for fill in [0x00, 0x5a, 0xff] {
                    let mut b = vec![fill; n];
                    b[n - 1] = top;
                    bodies.push(b);
                }
            }
        }
        for b in bodies {
            assert_eq!(
                long_from_le(&b),
                Value::big(BigInt::from_signed_bytes_le(&b)),
                "{b:02x?}"
            );
        }
        assert!(matches!(
            long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff]),
            Value::Int(i64::MIN)
        ));
        assert!(matches!(
            long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0, 0x01]),
            Value::BigInt(_)
        ));
    }

    #[test]
    fn surrogates_and_latin1() {
        assert_eq!(str_from_utf8("é".as_bytes()).unwrap(), Value::str("é"));
        let lone = [0xed, 0xa0, 0xbd];
        assert_eq!(
            str_from_utf8(&lone).unwrap(),
            Value::SurrogateStr(lone.to_vec())
        );
        assert!(str_from_utf8(&[0xff]).is_err());
        assert_eq!(
            raw_unicode_escape(b"\xe9\\u20ac").unwrap(),
            Value::str("é€")
        );
        assert_eq!(
            raw_unicode_escape(b"\xe9\\ud83d").unwrap(),
            Value::SurrogateStr(vec![0xc3, 0xa9, 0xed, 0xa0, 0xbd])
        );
        assert!(raw_unicode_escape(b"\\u12").is_err());
    }
}
