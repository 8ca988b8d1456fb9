//! Upper bounds of what decoding a msgpack or JSON document allocates, from one pass over
//! its bytes that allocates nothing, so a document over its budget is refused before the
//! parser builds it (neither format has references: its size is its element count).

use super::limits::{Budget, ALLOC_BYTES, SLOT_BYTES};
use super::CodecError;

fn truncated() -> CodecError {
    CodecError::Malformed("msgpack: document ended early".into())
}

/// Elements and str/bin bytes of a msgpack document.
fn msgpack_counts(b: &[u8]) -> Result<(u64, u64), CodecError> {
    let mut pos = 0usize;
    let mut pending: u64 = 1;
    let (mut elems, mut bytes) = (0u64, 0u64);
    let be = |pos: usize, n: usize| -> Result<u64, CodecError> {
        let s = b.get(pos..pos + n).ok_or_else(truncated)?;
        Ok(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    while pending > 0 {
        pending -= 1;
        elems += 1;
        let op = *b.get(pos).ok_or_else(truncated)?;
        pos += 1;
        let (skip, children): (u64, u64) = match op {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(op & 0x0f)),
            0x90..=0x9f => (0, u64::from(op & 0x0f)),
            0xa0..=0xbf => (u64::from(op & 0x1f), 0),
            0xc4 | 0xd9 => (be(pos, 1)? + 1, 0),
            0xc5 | 0xda => (be(pos, 2)? + 2, 0),
            0xc6 | 0xdb => (be(pos, 4)? + 4, 0),
            0xc7 => (be(pos, 1)? + 2, 0),
            0xc8 => (be(pos, 2)? + 3, 0),
            0xc9 => (be(pos, 4)? + 5, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => {
                pos += 2;
                (0, be(pos - 2, 2)?)
            }
            0xdd => {
                pos += 4;
                (0, be(pos - 4, 4)?)
            }
            0xde => {
                pos += 2;
                (0, 2 * be(pos - 2, 2)?)
            }
            0xdf => {
                pos += 4;
                (0, 2 * be(pos - 4, 4)?)
            }
            0xc1 => return Err(CodecError::Malformed("msgpack: reserved byte 0xc1".into())),
        };
        bytes += skip;
        pos = pos
            .checked_add(usize::try_from(skip).map_err(|_| truncated())?)
            .filter(|&p| p <= b.len())
            .ok_or_else(truncated)?;
        pending = pending.saturating_add(children);
        // Every element takes at least one byte: more pending than bytes left is a lie.
        if pending > (b.len() - pos) as u64 {
            return Err(truncated());
        }
    }
    Ok((elems, bytes))
}

/// Charges what decoding a msgpack document will allocate (its elements twice: the parser's
/// tree and ours).
pub(super) fn charge_msgpack(b: &[u8], budget: &mut Budget) -> Result<(), CodecError> {
    let (elems, bytes) = msgpack_counts(b)?;
    let per = (SLOT_BYTES + std::mem::size_of::<rmpv::Value>()) as u64;
    let total = elems
        .saturating_mul(per)
        .saturating_add(bytes + ALLOC_BYTES as u64);
    budget.charge(usize::try_from(total).unwrap_or(usize::MAX))
}

/// Charges what parsing a JSON document may allocate: an element per `,` `[` `{` `:` outside
/// strings (plus one), each twice, and its text.
pub(super) fn charge_json(b: &[u8], budget: &mut Budget) -> Result<(), CodecError> {
    let (mut elems, mut in_str, mut esc) = (1u64, false, false);
    for &c in b {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b',' | b'[' | b'{' | b':' => elems += 1,
                _ => {}
            }
        }
    }
    let per = (SLOT_BYTES + std::mem::size_of::<serde_json::Value>() + ALLOC_BYTES) as u64;
    let total = elems.saturating_mul(per).saturating_add(2 * b.len() as u64);
    budget.charge(usize::try_from(total).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_lies() {
        // [1, "ab", {"k": nil}]
        let doc = [0x93, 0x01, 0xa2, b'a', b'b', 0x81, 0xa1, b'k', 0xc0];
        assert_eq!(msgpack_counts(&doc).unwrap(), (6, 3));
        // array32 claiming 4 billion items in 5 bytes.
        assert!(msgpack_counts(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
