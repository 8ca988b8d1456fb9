//! The pickle machine's state: stack, marks, memo and memory budget.
//!
//! Memo entries are shared, never deep-copied: a container read back with GET becomes one
//! [`Value::Shared`] that every reference points at, so `[row] * 5000` costs one row, not
//! 5000. Only entries some GET reads (found beforehand by [`memo_refs`]) are kept at all.
//! Each allocation is charged to the [`Budget`] before it is made, and every value carries
//! its expanded size (as if shared references were copied), which is bounded too.

use super::dict_keys::{insert_scanning, KeyIndex, SCAN_UP_TO};
use super::memo_refs::{self, IndexSet};
use crate::codec::limits::{Budget, ALLOC_BYTES, SLOT_BYTES};
use crate::codec::{CodecError, Globals, MAX_DEPTH};
use lyanna_task_api::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const ITEM_BYTES: usize = std::mem::size_of::<Item>();
/// Strings up to this size are copied when read back from the memo rather than shared.
const SHARE_ABOVE: usize = 64;

/// Nesting depth and expanded size (nodes, strings counting one per 4 KiB) of a value.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Meta {
    pub depth: usize,
    pub nodes: u64,
}

impl Meta {
    pub(super) fn leaf(v: &Value) -> Meta {
        let len = match v {
            Value::Str(s) => s.len(),
            Value::Bytes(b) | Value::ByteArray(b) | Value::SurrogateStr(b) => b.len(),
            _ => 0,
        };
        Meta {
            depth: 0,
            nodes: 1 + (len / 4096) as u64,
        }
    }
    /// The meta of a container holding values with metas `children`.
    pub(super) fn parent(children: Meta) -> Meta {
        Meta {
            depth: children.depth + 1,
            nodes: children.nodes.saturating_add(1),
        }
    }
    pub(super) fn join(self, other: Meta) -> Meta {
        Meta {
            depth: self.depth.max(other.depth),
            nodes: self.nodes.saturating_add(other.nodes),
        }
    }
}

/// One stack slot. Classes and bound methods only ever appear as the callee of REDUCE /
/// NEWOBJ, or inside the argument tuple of one (`getattr(ZoneInfo, '_unpickle')`).
#[derive(Debug, Clone)]
pub(super) enum Item {
    Val(Value, Meta),
    Class(String, String),
    Method(String, String, String),
    Args(Vec<Item>, Meta),
}

enum Memo {
    /// The value is still on the stack, in this slot (Python memoizes a list right after
    /// creating it and fills it afterwards; a later GET must see the filled list).
    Slot(usize),
    Ready(Item),
}

pub(super) struct Vm<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    pub stack: Vec<Item>,
    pub marks: Vec<usize>,
    memo: HashMap<u32, Memo>,
    /// Memo entries that refer to a live stack slot, by slot.
    pending: BTreeMap<usize, Vec<u32>>,
    /// Key indexes of the dicts being filled, by stack slot.
    dicts: BTreeMap<usize, KeyIndex>,
    defined: IndexSet,
    refs: IndexSet,
    pub budget: Budget,
    stack_peak: usize,
    pub globals: Globals,
}

pub(super) fn malformed(msg: impl Into<String>) -> CodecError {
    CodecError::Malformed(msg.into())
}

fn class_as_value(item: &Item) -> CodecError {
    match item {
        Item::Class(m, n) => malformed(format!("class {m}.{n} used as a value")),
        Item::Method(m, n, a) => malformed(format!("{m}.{n}.{a} used as a value")),
        _ => malformed("a call's argument tuple used as a value"),
    }
}

/// Whether reading `v` back from the memo should share it rather than copy it.
fn is_heavy(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.len() > SHARE_ABOVE,
        Value::Bytes(b) | Value::ByteArray(b) | Value::SurrogateStr(b) => b.len() > SHARE_ABOVE,
        Value::Decimal(d) => d.len() > SHARE_ABOVE,
        Value::Tuple(xs) | Value::FrozenSet(xs) => !xs.is_empty(),
        // Mutable containers even when empty: one referred to while still being filled is
        // a value containing itself, which must be refused, not silently copied.
        Value::List(_) | Value::Set(_) | Value::Dict(_) => true,
        Value::Object(_) | Value::BigInt(_) => true,
        _ => false,
    }
}

/// Heap bytes a copy of a light item allocates.
fn copy_cost(item: &Item) -> usize {
    match item {
        Item::Val(v, _) => match v {
            Value::Str(s) if !s.is_empty() => s.len() + ALLOC_BYTES,
            Value::Decimal(s) => s.len() + ALLOC_BYTES,
            Value::Bytes(b) | Value::ByteArray(b) | Value::SurrogateStr(b) if !b.is_empty() => {
                b.len() + ALLOC_BYTES
            }
            Value::DateTime { tz: Some(_), .. } | Value::Time { tz: Some(_), .. } => {
                4 * ALLOC_BYTES
            }
            _ => 0,
        },
        Item::Class(m, n) => m.len() + n.len() + 2 * ALLOC_BYTES,
        Item::Method(m, n, a) => m.len() + n.len() + a.len() + 3 * ALLOC_BYTES,
        Item::Args(xs, meta) => {
            xs.len() * ITEM_BYTES + (meta.nodes as usize).saturating_mul(SLOT_BYTES)
        }
    }
}

impl<'a> Vm<'a> {
    pub(super) fn new(data: &'a [u8], globals: Globals, budget: Budget) -> Self {
        Vm {
            data,
            pos: 0,
            // Room for an arq job map's items without regrowing (not charged: fixed, small).
            stack: Vec::with_capacity(16),
            marks: Vec::with_capacity(4),
            memo: HashMap::new(),
            pending: BTreeMap::new(),
            dicts: BTreeMap::new(),
            defined: IndexSet::new(data.len()),
            refs: memo_refs::referenced(data),
            budget,
            stack_peak: 0,
            globals,
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    /// `n` bytes that are about to be copied into a string or bytes value.
    pub(super) fn take_heap(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > 0 {
            self.budget.charge(n + ALLOC_BYTES)?;
        }
        self.take(n)
    }
    pub(super) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn le<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(super) fn len32(&mut self) -> Result<usize, CodecError> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }
    pub(super) fn len64(&mut self) -> Result<usize, CodecError> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| CodecError::Truncated)
    }
    pub(super) fn line_bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(CodecError::Truncated)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }
    pub(super) fn line(&mut self) -> Result<&'a str, CodecError> {
        let b = self.line_bytes()?;
        std::str::from_utf8(b).map_err(|_| malformed("non-UTF-8 text argument"))
    }

    pub(super) fn push_item(&mut self, item: Item) -> Result<(), CodecError> {
        if self.stack.len() >= self.stack_peak {
            self.budget.charge(ITEM_BYTES)?;
            self.stack_peak += 1;
        }
        self.stack.push(item);
        Ok(())
    }
    pub(super) fn push(&mut self, v: Value) -> Result<(), CodecError> {
        let meta = Meta::leaf(&v);
        self.push_item(Item::Val(v, meta))
    }
    pub(super) fn push_meta(&mut self, v: Value, meta: Meta) -> Result<(), CodecError> {
        if meta.depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        self.budget.check_expanded(meta.nodes)?;
        self.push_item(Item::Val(v, meta))
    }

    /// Settles memo entries and drops dict indexes of slots `from..` before they leave the
    /// stack.
    fn leave_from(&mut self, from: usize) -> Result<(), CodecError> {
        // Checked first: this runs on every pop, and split_off allocates even when it moves
        // nothing.
        if self.dicts.last_key_value().is_some_and(|(&k, _)| k >= from) {
            drop(self.dicts.split_off(&from));
        }
        if self.pending.last_key_value().is_none_or(|(&k, _)| k < from) {
            return Ok(());
        }
        let moved = self.pending.split_off(&from);
        for (slot, idxs) in moved {
            let item = self.share_slot(slot)?;
            for idx in idxs {
                self.memo.insert(idx, Memo::Ready(item.clone()));
            }
        }
        Ok(())
    }

    /// What a reference to stack slot `slot` pushes: the same `Arc` for a heavy value (the
    /// slot itself is turned into a shared value first), a copy for a light one.
    fn share_slot(&mut self, slot: usize) -> Result<Item, CodecError> {
        let item = self
            .stack
            .get_mut(slot)
            .ok_or_else(|| malformed("bad memo slot"))?;
        if let Item::Val(v, _) = item {
            if is_heavy(v) {
                self.budget.charge(SLOT_BYTES + ALLOC_BYTES)?;
                let inner = std::mem::replace(v, Value::None);
                *v = Value::Shared(Arc::new(inner));
            }
        }
        let out = item.clone();
        self.budget.charge(copy_cost(&out))?;
        Ok(out)
    }

    pub(super) fn pop(&mut self) -> Result<Item, CodecError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(malformed("pop across a MARK"));
        }
        let n = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| malformed("stack underflow"))?;
        self.leave_from(n)?;
        self.stack.pop().ok_or_else(|| malformed("stack underflow"))
    }
    pub(super) fn pop_value(&mut self) -> Result<(Value, Meta), CodecError> {
        match self.pop()? {
            Item::Val(v, m) => Ok((v, m)),
            other => Err(class_as_value(&other)),
        }
    }
    /// Items pushed since the last MARK.
    pub(super) fn pop_mark_items(&mut self) -> Result<Vec<Item>, CodecError> {
        let m = self.leave_mark()?;
        Ok(self.stack.drain(m..).collect())
    }
    /// Pops the last MARK and settles the slots above it (about to leave the stack); their
    /// first slot.
    fn leave_mark(&mut self) -> Result<usize, CodecError> {
        let m = self.marks.pop().ok_or_else(|| malformed("no MARK"))?;
        if m > self.stack.len() {
            return Err(malformed("MARK beyond the stack"));
        }
        self.leave_from(m)?;
        Ok(m)
    }
    /// Values pushed since the last MARK, in a new vector (charged), with their joint meta.
    pub(super) fn pop_mark(&mut self) -> Result<(Vec<Value>, Meta), CodecError> {
        let m = self.leave_mark()?;
        self.budget.charge((self.stack.len() - m) * SLOT_BYTES)?;
        // Straight from the stack into the values, without a vector of items between (every
        // job's map goes through here).
        values(self.stack.drain(m..))
    }

    /// The container on top of the stack, for APPEND(S), SETITEM(S), ADDITEMS and BUILD.
    pub(super) fn top_mut(&mut self) -> Result<(&mut Value, &mut Meta), CodecError> {
        top_of(&mut self.stack)
    }

    /// Adds items to the container on top of the stack.
    pub(super) fn extend_top(&mut self, items: Vec<Value>, meta: Meta) -> Result<(), CodecError> {
        let slot = self.stack.len().saturating_sub(1);
        let (top, _) = self.top_mut()?;
        let (len, cap, per) = match &*top {
            Value::List(xs) | Value::Set(xs) => (xs.len(), xs.capacity(), 1),
            Value::Dict(kv) => (kv.len(), kv.capacity(), 2),
            other => {
                return Err(malformed(format!(
                    "cannot add items to {}",
                    other.type_name()
                )))
            }
        };
        let need = len + items.len() / per;
        if need > cap {
            let grown = need.max(cap.saturating_mul(2)) - cap;
            self.budget.charge(grown * per * SLOT_BYTES)?;
        }
        let (top, top_meta) = top_of(&mut self.stack)?;
        let joined = Meta::parent(meta).join(*top_meta);
        if joined.depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        *top_meta = Meta {
            depth: joined.depth,
            nodes: top_meta.nodes.saturating_add(meta.nodes),
        };
        let nodes = top_meta.nodes;
        match top {
            Value::List(xs) | Value::Set(xs) => xs.extend(items),
            Value::Dict(kv) => {
                if !items.len().is_multiple_of(2) {
                    return Err(malformed("odd number of dict items"));
                }
                // Charged above, for at least this much.
                kv.reserve(items.len() / 2);
                let mut it = items.into_iter();
                if kv.len() + it.len() / 2 <= SCAN_UP_TO && !self.dicts.contains_key(&slot) {
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        insert_scanning(kv, k, v);
                    }
                } else {
                    let index = self.dicts.entry(slot).or_insert_with(|| KeyIndex::of(kv));
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        index.insert(kv, k, v);
                    }
                }
            }
            _ => {}
        }
        self.budget.check_expanded(nodes)
    }

    pub(super) fn memo_put(&mut self, idx: u32) -> Result<(), CodecError> {
        let slot = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| malformed("empty stack"))?;
        if !self.defined.insert(idx) {
            return Err(malformed(format!("memo index {idx} out of range")));
        }
        if !self.refs.contains(idx) {
            return Ok(());
        }
        if let Some(Memo::Slot(old)) = self.memo.insert(idx, Memo::Slot(slot)) {
            if let Some(v) = self.pending.get_mut(&old) {
                v.retain(|&i| i != idx);
            }
        }
        self.pending.entry(slot).or_default().push(idx);
        Ok(())
    }
    /// MEMOIZE: the next index is `len(memo)`, as in Python's unpickler.
    pub(super) fn memoize(&mut self) -> Result<(), CodecError> {
        let idx = self.defined.len();
        self.memo_put(idx)
    }
    pub(super) fn memo_get(&mut self, idx: u32) -> Result<(), CodecError> {
        let item = match self.memo.get(&idx) {
            Some(Memo::Ready(item)) => {
                let item = item.clone();
                self.budget.charge(copy_cost(&item))?;
                item
            }
            Some(Memo::Slot(slot)) => self.share_slot(*slot)?,
            None => return Err(malformed(format!("memo {idx} missing"))),
        };
        if let Item::Val(_, meta) = &item {
            self.budget.check_expanded(meta.nodes)?;
        }
        self.push_item(item)
    }
    /// DUP: another reference to the top of the stack.
    pub(super) fn dup(&mut self) -> Result<(), CodecError> {
        let top = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| malformed("empty stack"))?;
        let item = self.share_slot(top)?;
        self.push_item(item)
    }
}

fn top_of(stack: &mut [Item]) -> Result<(&mut Value, &mut Meta), CodecError> {
    match stack.last_mut() {
        Some(Item::Val(Value::Shared(arc), meta)) => match Arc::get_mut(arc) {
            Some(v) => Ok((v, meta)),
            // Only a value that contains itself is filled after a reference to it.
            None => Err(malformed("recursive reference (a value containing itself)")),
        },
        Some(Item::Val(v, meta)) => Ok((v, meta)),
        _ => Err(malformed("expected a container on the stack")),
    }
}

/// The values of `items` (refusing classes) and their joint meta.
pub(super) fn values(
    items: impl ExactSizeIterator<Item = Item>,
) -> Result<(Vec<Value>, Meta), CodecError> {
    let mut meta = Meta::default();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Val(v, m) => {
                meta = meta.join(m);
                out.push(v);
            }
            other => return Err(class_as_value(&other)),
        }
    }
    Ok((out, meta))
}
