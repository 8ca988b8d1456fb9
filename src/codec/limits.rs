//! How much memory decoding one payload may take, and how big a result's encoding may grow.
//!
//! The budget of a payload of `n` bytes is `min(max_bytes, min_bytes + bytes_per_byte * n)`
//! bytes of decoded values (string and container storage, the decoder's stack and memo), and
//! `min_expanded + expanded_per_byte * n` "expanded" nodes: the size the value would have if
//! every shared reference were copied, which bounds what a consumer walking the tree (an
//! encoder without references, a task, a log line) has to visit. Both are charged while
//! decoding, before each allocation, so a payload over budget is refused before the worker
//! allocates past it.

use super::CodecError;
use lyanna_task_api::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What `size_of::<Value>()` is on 64-bit targets; charged per container slot.
pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Value>();
/// Allocator overhead charged per heap allocation (a string, a box).
pub(crate) const ALLOC_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Decoded bytes allowed per payload byte. 64 covers everything Python's pickler writes
    /// (a 1-byte `None` in a list takes a 32-byte slot, twice while the list doubles).
    pub bytes_per_byte: usize,
    /// Decoded bytes every payload may use, however small.
    pub min_bytes: usize,
    /// Hard cap on one payload's decoded bytes, whatever its size.
    pub max_bytes: usize,
    /// Expanded nodes allowed per payload byte, and for every payload.
    pub expanded_per_byte: u64,
    pub min_expanded: u64,
    /// Payloads at least this big are decoded on a blocking thread, off the async runtime.
    pub inline_below: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            bytes_per_byte: 64,
            min_bytes: 4 << 20,
            max_bytes: 256 << 20,
            expanded_per_byte: 8,
            min_expanded: 4_000_000,
            inline_below: 64 << 10,
        }
    }
}

impl DecodeLimits {
    /// The decoded-bytes budget of a payload of `len` bytes.
    pub fn bytes_for(&self, len: usize) -> usize {
        self.bytes_per_byte
            .saturating_mul(len)
            .saturating_add(self.min_bytes)
            .min(self.max_bytes)
    }

    /// The expanded-node budget of a payload of `len` bytes.
    pub fn expanded_for(&self, len: usize) -> u64 {
        self.expanded_per_byte
            .saturating_mul(len as u64)
            .saturating_add(self.min_expanded)
    }

    /// A fresh budget for a payload of `len` bytes.
    pub fn budget(&self, len: usize) -> Budget {
        Budget {
            limit: self.bytes_for(len),
            used: 0,
            expanded_limit: self.expanded_for(len),
        }
    }

    /// No limit but the hard cap (for callers that decode trusted bytes).
    pub fn capped(max_bytes: usize) -> Self {
        DecodeLimits {
            bytes_per_byte: usize::MAX,
            min_bytes: max_bytes,
            max_bytes,
            expanded_per_byte: u64::MAX,
            min_expanded: u64::MAX,
            ..DecodeLimits::default()
        }
    }
}

/// The memory one decode has used so far, and its limits.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    used: usize,
    expanded_limit: u64,
}

impl Budget {
    /// Charges `bytes` about to be allocated; refuses once the total would pass the limit.
    pub fn charge(&mut self, bytes: usize) -> Result<(), CodecError> {
        let used = self.used.saturating_add(bytes);
        if used > self.limit {
            return Err(CodecError::OverBudget {
                limit: self.limit,
                what: "decoded values",
            });
        }
        self.used = used;
        Ok(())
    }

    /// Checks the expanded size of a value being built.
    pub fn check_expanded(&self, nodes: u64) -> Result<(), CodecError> {
        if nodes > self.expanded_limit {
            return Err(CodecError::OverBudget {
                limit: usize::try_from(self.expanded_limit).unwrap_or(usize::MAX),
                what: "nodes once shared references are expanded",
            });
        }
        Ok(())
    }

    pub fn used(&self) -> usize {
        self.used
    }
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Bytes a reference-free encoding of `v` (JSON, msgpack) would take, roughly, counting each
/// shared subtree as often as it is referenced; computed in time linear in the shared tree,
/// so a value built to expand exponentially is measured, not walked.
pub fn expanded_size(v: &Value) -> u64 {
    fn walk(v: &Value, seen: &mut HashMap<usize, u64>) -> u64 {
        match v {
            Value::Shared(arc) => {
                let key = Arc::as_ptr(arc) as usize;
                if let Some(&n) = seen.get(&key) {
                    return n;
                }
                let n = walk(arc, seen);
                seen.insert(key, n);
                n
            }
            Value::Str(s) => 2 + s.len() as u64,
            Value::Bytes(b) | Value::ByteArray(b) | Value::SurrogateStr(b) => 2 + b.len() as u64,
            Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) | Value::FrozenSet(xs) => xs
                .iter()
                .fold(2, |acc: u64, x| acc.saturating_add(1 + walk(x, seen))),
            Value::Dict(kv) => kv.iter().fold(2, |acc: u64, (k, x)| {
                acc.saturating_add(2 + walk(k, seen) + walk(x, seen))
            }),
            Value::Object(o) => o
                .args
                .iter()
                .fold(16, |acc: u64, x| acc.saturating_add(1 + walk(x, seen))),
            _ => 24,
        }
    }
    walk(v, &mut HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_with_floor_and_cap() {
        let l = DecodeLimits::default();
        assert_eq!(l.bytes_for(0), 4 << 20);
        assert_eq!(l.bytes_for(1 << 20), (64 << 20) + (4 << 20));
        assert_eq!(l.bytes_for(100 << 20), 256 << 20);
        let mut b = l.budget(0);
        assert!(b.charge(4 << 20).is_ok());
        assert!(matches!(b.charge(1), Err(CodecError::OverBudget { .. })));
        assert!(b.check_expanded(4_000_000).is_ok());
        assert!(b.check_expanded(4_000_001).is_err());
    }
}
