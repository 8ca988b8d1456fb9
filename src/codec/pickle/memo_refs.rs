//! Which memo entries a pickle ever reads back, found by one pass over its opcodes before
//! decoding. Python's pickler memoizes every str and container but reads back only the ones
//! it meets again, so keeping just those (shared, not copied) keeps decoding linear in time
//! and memory.

use super::opcodes::*;

/// A set of memo indices. Python numbers them 0, 1, 2, ... so a bitmap fits; an index past
/// `bound` (more than the payload has opcodes) is not from Python and is refused.
#[derive(Debug, Default)]
pub(super) struct IndexSet {
    bits: Vec<u64>,
    count: u32,
    bound: u32,
}

impl IndexSet {
    pub(super) fn new(payload_len: usize) -> Self {
        IndexSet {
            bits: Vec::new(),
            count: 0,
            bound: u32::try_from(payload_len)
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        }
    }
    pub(super) fn contains(&self, i: u32) -> bool {
        self.bits
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Adds `i`; false when it is out of bounds.
    pub(super) fn insert(&mut self, i: u32) -> bool {
        if i > self.bound {
            return false;
        }
        let w = (i / 64) as usize;
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << (i % 64)) == 0 {
            self.bits[w] |= 1 << (i % 64);
            self.count += 1;
        }
        true
    }
    /// `len(memo)` in Python's unpickler: what MEMOIZE numbers the next entry.
    pub(super) fn len(&self) -> u32 {
        self.count
    }
}

struct Scan<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Scan<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.data.len()).then(|| self.pos = end)
    }
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.data.get(self.pos..self.pos + N)?);
        self.pos += N;
        Some(a)
    }
    fn line(&mut self) -> Option<&[u8]> {
        let rest = self.data.get(self.pos..)?;
        let n = rest.iter().position(|&b| b == b'\n')?;
        self.pos += n + 1;
        Some(&rest[..n])
    }
    fn line_index(&mut self) -> Option<u32> {
        std::str::from_utf8(self.line()?).ok()?.trim().parse().ok()
    }
}

/// The memo indices read by GET opcodes. Stops quietly at anything malformed: the decoder
/// itself reports the error, at its position.
pub(super) fn referenced(data: &[u8]) -> IndexSet {
    let mut refs = IndexSet::new(data.len());
    let mut s = Scan { data, pos: 0 };
    let _ = scan(&mut s, &mut refs);
    refs
}

fn scan(s: &mut Scan<'_>, refs: &mut IndexSet) -> Option<()> {
    loop {
        let [op] = s.bytes::<1>()?;
        match op {
            STOP => return Some(()),
            PROTO | BININT1 | BINPUT => s.skip(1)?,
            BININT2 => s.skip(2)?,
            BININT | LONG_BINPUT => s.skip(4)?,
            FRAME | BINFLOAT => s.skip(8)?,
            LONG1 | SHORT_BINUNICODE | SHORT_BINSTRING | SHORT_BINBYTES => {
                let [n] = s.bytes::<1>()?;
                s.skip(n as usize)?
            }
            LONG4 | BINUNICODE | BINSTRING | BINBYTES => {
                let n = u32::from_le_bytes(s.bytes()?);
                s.skip(n as usize)?
            }
            BINUNICODE8 | BINBYTES8 | BYTEARRAY8 => {
                let n = u64::from_le_bytes(s.bytes()?);
                s.skip(usize::try_from(n).ok()?)?
            }
            INT | LONG | FLOAT | UNICODE | PUT => {
                s.line()?;
            }
            GLOBAL => {
                s.line()?;
                s.line()?;
            }
            BINGET => {
                let [i] = s.bytes::<1>()?;
                refs.insert(u32::from(i));
            }
            LONG_BINGET => {
                let i = u32::from_le_bytes(s.bytes()?);
                if !refs.insert(i) {
                    return None;
                }
            }
            GET => {
                let i = s.line_index()?;
                if !refs.insert(i) {
                    return None;
                }
            }
            MARK | POP | POP_MARK | DUP | NONE | NEWTRUE | NEWFALSE | EMPTY_LIST | EMPTY_DICT
            | EMPTY_SET | EMPTY_TUPLE | TUPLE1 | TUPLE2 | TUPLE3 | TUPLE | LIST | DICT
            | FROZENSET | APPEND | APPENDS | SETITEM | SETITEMS | ADDITEMS | MEMOIZE
            | STACK_GLOBAL | REDUCE | NEWOBJ | NEWOBJ_EX | BUILD => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_gets_only() {
        // [s, s] at protocol 4: the str is memoized as 1 and read back once.
        let p = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01a\x94h\x01e.";
        let r = referenced(p);
        assert!(r.contains(1));
        assert!(!r.contains(0));
        let mut set = IndexSet::new(4);
        assert!(set.insert(3) && set.insert(3) && set.len() == 1);
        assert!(!set.insert(6));
    }
}
