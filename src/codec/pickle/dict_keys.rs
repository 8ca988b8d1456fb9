//! Duplicate-key detection while a dict is filled. Python's pickler never writes a key twice,
//! but a crafted payload may, and Python's dict keeps the first position with the last value;
//! we do the same, by a scan while the dict is small (arq's job and result maps: cheaper than
//! hashing every key) and by an index of fingerprints once it is not (no quadratic scan).

use lyanna_task_api::Value;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::LazyLock;

/// Passes fingerprints through: they are already seeded hashes.
#[derive(Default)]
pub(super) struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// Seeded at random per process: a payload cannot be crafted so that many distinct keys
/// share a fingerprint (which would make each insert walk a long chain).
static SEED: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

/// A hash that equal keys share, seeded. Numbers equal in Python (1, 1.0, True) hash alike,
/// as Python's do, though our keys compare structurally (see [`KeyIndex`]).
pub(super) fn fingerprint(v: &Value) -> u64 {
    let mut h = SEED.build_hasher();
    feed(&mut h, v);
    h.finish()
}

fn feed(h: &mut impl Hasher, v: &Value) {
    let mut bytes = |tag: u8, b: &[u8]| {
        h.write_u8(tag);
        h.write_usize(b.len());
        h.write(b);
    };
    match v.resolve() {
        Value::None => h.write_u8(1),
        Value::Bool(b) => {
            h.write_u8(2);
            h.write_i64(i64::from(*b));
        }
        Value::Int(i) => {
            h.write_u8(2);
            h.write_i64(*i);
        }
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            h.write_u8(2);
            h.write_i64(*f as i64);
        }
        Value::Float(f) => {
            h.write_u8(3);
            h.write_u64(f.to_bits());
        }
        Value::BigInt(b) => bytes(4, &b.to_signed_bytes_le()),
        Value::Str(s) => bytes(5, s.as_bytes()),
        Value::SurrogateStr(b) => bytes(5, b),
        Value::Bytes(b) => bytes(6, b),
        Value::Decimal(d) => bytes(9, d.as_bytes()),
        Value::Uuid(u) => bytes(10, u),
        Value::Tuple(xs) => {
            h.write_u8(7);
            h.write_usize(xs.len());
            for x in xs {
                feed(h, x);
            }
        }
        // Order-free: a sum of the members' seeded fingerprints.
        Value::FrozenSet(xs) => {
            h.write_u8(8);
            h.write_u64(
                xs.iter()
                    .fold(0u64, |acc, x| acc.wrapping_add(fingerprint(x))),
            );
        }
        other => bytes(11, other.to_string().as_bytes()),
    }
}

/// Dicts that end up with at most this many items are filled by [`insert_scanning`].
pub(super) const SCAN_UP_TO: usize = 8;

/// Adds `(k, v)` to a small dict, replacing the value of an equal key already there: what
/// [`KeyIndex::insert`] does, by a scan.
pub(super) fn insert_scanning(kv: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    match kv.iter_mut().find(|(ek, _)| *ek == k) {
        Some(slot) => slot.1 = v,
        None => kv.push((k, v)),
    }
}

const NO_MORE: usize = usize::MAX;

/// Positions of a dict's keys by fingerprint. Keys that share a fingerprint but differ (1 and
/// 1.0, or a rare collision) are chained, so every key is found again.
#[derive(Default)]
pub(super) struct KeyIndex {
    /// The newest position of each fingerprint.
    heads: HashMap<u64, usize, BuildHasherDefault<Identity>>,
    /// Per position of the dict: the previous position with the same fingerprint.
    older: Vec<usize>,
}

impl KeyIndex {
    /// The index of a dict filled so far by scanning (its keys are distinct).
    pub(super) fn of(kv: &[(Value, Value)]) -> KeyIndex {
        let mut ix = KeyIndex::default();
        for (at, (k, _)) in kv.iter().enumerate() {
            let older = ix.heads.insert(fingerprint(k), at).unwrap_or(NO_MORE);
            ix.older.push(older);
        }
        ix
    }

    /// Adds `(k, v)` to `kv`, replacing the value of an equal key already there.
    pub(super) fn insert(&mut self, kv: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        let fp = fingerprint(&k);
        let mut at = self.heads.get(&fp).copied().unwrap_or(NO_MORE);
        while let Some((ek, ev)) = kv.get_mut(at) {
            if *ek == k {
                *ev = v;
                return;
            }
            at = self.older.get(at).copied().unwrap_or(NO_MORE);
        }
        let older = self.heads.insert(fp, kv.len()).unwrap_or(NO_MORE);
        self.older.push(older);
        kv.push((k, v));
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

    /// A scan, an index, and an index taken over from a scan agree on every sequence.
    #[test]
    fn scanning_and_indexing_agree() {
        let keys = [
            Value::Int(1),
            Value::str("x"),
            Value::Int(2),
            Value::Float(1.0),
            Value::Bool(true),
            Value::None,
            Value::Tuple(vec![Value::Int(1)]),
            Value::str("y"),
        ];
        // Every sequence of 10 inserts over these keys, drawn from a fixed pseudo-random walk.
        let mut seed = 7u64;
        for _ in 0..500 {
            let seq: Vec<(Value, Value)> = (0..10)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (
                        keys[(seed >> 33) as usize % keys.len()].clone(),
                        Value::Int(i),
                    )
                })
                .collect();
            let (mut scanned, mut indexed, mut handed) = (Vec::new(), Vec::new(), Vec::new());
            let mut ix = KeyIndex::default();
            for (k, v) in seq.iter().cloned() {
                insert_scanning(&mut scanned, k.clone(), v.clone());
                ix.insert(&mut indexed, k, v);
            }
            let (first, rest) = seq.split_at(4);
            for (k, v) in first.iter().cloned() {
                insert_scanning(&mut handed, k, v);
            }
            let mut taken = KeyIndex::of(&handed);
            for (k, v) in rest.iter().cloned() {
                taken.insert(&mut handed, k, v);
            }
            assert_eq!(scanned, indexed, "{seq:?}");
            assert_eq!(scanned, handed, "{seq:?}");
        }
    }
}
