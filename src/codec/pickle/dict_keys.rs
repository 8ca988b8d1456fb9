//! O(1) duplicate-key detection while a dict is filled. Python's pickler never writes a key
//! twice, but a crafted payload may, and Python's dict keeps the first position with the last
//! value; we do the same without scanning the keys already present.

use lyanna_task_api::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, enough for fingerprints of keys we already hash ourselves.
#[derive(Default)]
pub(super) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
    fn write_u64(&mut self, i: u64) {
        // Keys are already well-mixed fingerprints.
        self.0 = i ^ (i >> 29);
    }
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

fn bytes_hash(tag: u64, b: &[u8]) -> u64 {
    let mut f = Fnv(0);
    f.write(b);
    mix(tag, f.finish())
}

/// A hash that equal keys share (1, 1.0 and True included, as Python's `==` has it).
pub(super) fn fingerprint(v: &Value) -> u64 {
    match v.resolve() {
        Value::None => 1,
        Value::Bool(b) => mix(2, u64::from(*b)),
        Value::Int(i) => mix(2, *i as u64),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => mix(2, *f as i64 as u64),
        Value::Float(f) => mix(3, f.to_bits()),
        Value::BigInt(b) => bytes_hash(4, &b.to_signed_bytes_le()),
        Value::Str(s) => bytes_hash(5, s.as_bytes()),
        Value::SurrogateStr(b) => bytes_hash(5, b),
        Value::Bytes(b) => bytes_hash(6, b),
        Value::Tuple(xs) => xs.iter().fold(7, |h, x| mix(h, fingerprint(x))),
        Value::FrozenSet(xs) => xs.iter().fold(8, |h, x| h ^ mix(8, fingerprint(x))),
        Value::Decimal(d) => bytes_hash(9, d.as_bytes()),
        Value::Uuid(u) => bytes_hash(10, u),
        other => bytes_hash(11, other.to_string().as_bytes()),
    }
}

/// Positions of a dict's keys by fingerprint.
#[derive(Default)]
pub(super) struct KeyIndex(HashMap<u64, usize, BuildHasherDefault<Fnv>>);

impl KeyIndex {
    /// Adds `(k, v)` to `kv`, replacing the value of an equal key already there.
    pub(super) fn insert(&mut self, kv: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        let fp = fingerprint(&k);
        match self.0.get(&fp) {
            Some(&at) if kv.get(at).is_some_and(|(ek, _)| *ek == k) => kv[at].1 = v,
            Some(_) => kv.push((k, v)),
            None => {
                self.0.insert(fp, kv.len());
                kv.push((k, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_replace_in_place() {
        let mut kv = Vec::new();
        let mut ix = KeyIndex::default();
        ix.insert(&mut kv, Value::Int(1), Value::str("a"));
        ix.insert(&mut kv, Value::str("x"), Value::str("b"));
        ix.insert(&mut kv, Value::Int(1), Value::str("c"));
        assert_eq!(kv.len(), 2);
        assert_eq!(kv[0], (Value::Int(1), Value::str("c")));
        assert_eq!(
            fingerprint(&Value::Float(1.0)),
            fingerprint(&Value::Bool(true))
        );
    }
}
