//! The pickle virtual machine, restricted to building data.

use super::opcodes::*;
use super::reduce::{check_global, reduce};
use crate::codec::{CodecError, Globals, MAX_DEPTH};
use lyanna_task_api::{PyObject, Value};
use num_bigint::BigInt;
use std::collections::{BTreeMap, HashMap};

/// One stack slot. Classes only ever appear as the callee of REDUCE / NEWOBJ.
enum Memo {
    Ready(Item),
    Slot(usize),
}

#[derive(Clone)]
enum Item {
    Val(Value, usize),
    Class(String, String),
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<u32, Memo>,
    /// Memo entries that refer to a live stack slot, by slot: Python memoizes a list or dict
    /// right after creating it and fills it afterwards, and a later GET must see the filled
    /// container (`f(x, x)` pickles the second `x` as a GET).
    pending: BTreeMap<usize, Vec<u32>>,
    /// Values copied by MEMOIZE/GET are charged here, so a tiny payload cannot make us build a
    /// huge tree by fetching the same memo entry again and again.
    budget: usize,
    globals: Globals,
}

/// Decodes one pickle. `globals` says what to do with classes outside the safe set.
pub fn decode(data: &[u8], globals: Globals) -> Result<Value, CodecError> {
    let mut vm = Vm {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        pending: BTreeMap::new(),
        budget: 1_000_000 + data.len().saturating_mul(16),
        globals,
    };
    vm.run()
}

fn malformed(msg: impl Into<String>) -> CodecError {
    CodecError::Malformed(msg.into())
}

/// A cheap size measure for the copy budget.
fn weight(v: &Value) -> usize {
    match v {
        Value::Str(s) => 1 + s.len() / 8,
        Value::Bytes(b) => 1 + b.len() / 8,
        Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) | Value::FrozenSet(xs) => {
            1 + xs.iter().map(weight).sum::<usize>()
        }
        Value::Dict(kv) => 1 + kv.iter().map(|(k, v)| weight(k) + weight(v)).sum::<usize>(),
        Value::Object(o) => 1 + o.args.iter().map(weight).sum::<usize>(),
        _ => 1,
    }
}

impl<'a> Vm<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn le<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn len32(&mut self) -> Result<usize, CodecError> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }
    fn len64(&mut self) -> Result<usize, CodecError> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| CodecError::Truncated)
    }
    fn line(&mut self) -> Result<&'a str, CodecError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(CodecError::Truncated)?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| malformed("non-UTF-8 text argument"))
    }
    fn string(&mut self, n: usize) -> Result<Value, CodecError> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| malformed("invalid UTF-8 in str"))?;
        Ok(Value::Str(s.to_string()))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Item::Val(v, 0));
    }
    fn push_container(&mut self, v: Value, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        self.stack.push(Item::Val(v, depth));
        Ok(())
    }
    fn pop(&mut self) -> Result<Item, CodecError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(malformed("pop across a MARK"));
        }
        let n = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| malformed("stack underflow"))?;
        self.settle_from(n)?;
        self.stack.pop().ok_or_else(|| malformed("stack underflow"))
    }
    /// Freezes memo entries pointing at slots `from..` before those slots leave the stack.
    fn settle_from(&mut self, from: usize) -> Result<(), CodecError> {
        let moved = self.pending.split_off(&from);
        for (slot, idxs) in moved {
            let item = self
                .stack
                .get(slot)
                .cloned()
                .ok_or_else(|| malformed("bad memo slot"))?;
            for idx in idxs {
                self.charge(&item)?;
                self.memo.insert(idx, Memo::Ready(item.clone()));
            }
        }
        Ok(())
    }
    fn pop_value(&mut self) -> Result<(Value, usize), CodecError> {
        match self.pop()? {
            Item::Val(v, d) => Ok((v, d)),
            Item::Class(m, n) => Err(malformed(format!("class {m}.{n} used as a value"))),
        }
    }
    /// Items pushed since the last MARK, with the deepest nesting among them.
    fn pop_mark(&mut self) -> Result<(Vec<Value>, usize), CodecError> {
        let m = self.marks.pop().ok_or_else(|| malformed("no MARK"))?;
        if m > self.stack.len() {
            return Err(malformed("MARK beyond the stack"));
        }
        self.settle_from(m)?;
        let mut depth = 0;
        let mut out = Vec::with_capacity(self.stack.len() - m);
        for item in self.stack.drain(m..) {
            match item {
                Item::Val(v, d) => {
                    depth = depth.max(d);
                    out.push(v);
                }
                Item::Class(md, n) => {
                    return Err(malformed(format!("class {md}.{n} used as a value")))
                }
            }
        }
        Ok((out, depth))
    }
    fn top_mut(&mut self) -> Result<(&mut Value, &mut usize), CodecError> {
        match self.stack.last_mut() {
            Some(Item::Val(v, d)) => Ok((v, d)),
            _ => Err(malformed("expected a container on the stack")),
        }
    }
    /// Adds items to the container on top of the stack (APPEND(S), SETITEM(S), ADDITEMS).
    fn extend_top(&mut self, items: Vec<Value>, depth: usize) -> Result<(), CodecError> {
        let (top, d) = self.top_mut()?;
        *d = (*d).max(depth + 1);
        if *d > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        match top {
            Value::List(xs) | Value::Set(xs) => xs.extend(items),
            Value::Dict(kv) => {
                if !items.len().is_multiple_of(2) {
                    return Err(malformed("odd number of dict items"));
                }
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    // Python's dict replaces an existing key in place.
                    match kv.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(slot) => slot.1 = v,
                        None => kv.push((k, v)),
                    }
                }
            }
            other => {
                return Err(malformed(format!(
                    "cannot add items to {}",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }
    fn charge(&mut self, item: &Item) -> Result<(), CodecError> {
        let w = match item {
            Item::Val(v, _) => weight(v),
            Item::Class(..) => 1,
        };
        self.budget = self
            .budget
            .checked_sub(w)
            .ok_or_else(|| malformed("memo references expand beyond the size limit"))?;
        Ok(())
    }
    fn memo_put(&mut self, idx: u32) -> Result<(), CodecError> {
        let slot = self
            .stack
            .len()
            .checked_sub(1)
            .ok_or_else(|| malformed("empty stack"))?;
        if let Some(Memo::Slot(old)) = self.memo.insert(idx, Memo::Slot(slot)) {
            if let Some(v) = self.pending.get_mut(&old) {
                v.retain(|&i| i != idx);
            }
        }
        self.pending.entry(slot).or_default().push(idx);
        Ok(())
    }
    fn memo_get(&mut self, idx: u32) -> Result<(), CodecError> {
        let item = match self.memo.get(&idx) {
            Some(Memo::Ready(item)) => item.clone(),
            Some(Memo::Slot(slot)) => self
                .stack
                .get(*slot)
                .cloned()
                .ok_or_else(|| malformed("bad memo slot"))?,
            None => return Err(malformed(format!("memo {idx} missing"))),
        };
        self.charge(&item)?;
        self.stack.push(item);
        Ok(())
    }
    fn global(&mut self, module: String, name: String) -> Result<(), CodecError> {
        check_global(&module, &name, self.globals)?;
        self.stack.push(Item::Class(module, name));
        Ok(())
    }
    fn call(&mut self, args: Value, depth: usize) -> Result<(), CodecError> {
        let (module, name) = match self.pop()? {
            Item::Class(m, n) => (m, n),
            Item::Val(v, _) => return Err(malformed(format!("cannot call {}", v.type_name()))),
        };
        let Value::Tuple(args) = args else {
            return Err(malformed("REDUCE arguments are not a tuple"));
        };
        let v = reduce(&module, &name, args)?;
        self.push_container(v, depth + 1)
    }

    fn run(&mut self) -> Result<Value, CodecError> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                PROTO => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(malformed(format!("unsupported pickle protocol {p}")));
                    }
                }
                FRAME => {
                    self.le::<8>()?;
                }
                STOP => {
                    let (v, _) = self.pop_value()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(malformed("data left on the stack at STOP"));
                    }
                    return Ok(v);
                }
                MARK => self.marks.push(self.stack.len()),
                POP => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                POP_MARK => {
                    self.pop_mark()?;
                }
                DUP => {
                    let top = self
                        .stack
                        .last()
                        .cloned()
                        .ok_or_else(|| malformed("empty stack"))?;
                    self.charge(&top)?;
                    self.stack.push(top);
                }
                NONE => self.push(Value::None),
                NEWTRUE => self.push(Value::Bool(true)),
                NEWFALSE => self.push(Value::Bool(false)),
                BININT => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(i64::from(v)))
                }
                BININT1 => {
                    let b = self.u8()?;
                    self.push(Value::Int(b as i64))
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(i64::from(v)))
                }
                LONG1 => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.push(long_from_le(b));
                }
                LONG4 => {
                    let n = self.len32()?;
                    let b = self.take(n)?;
                    self.push(long_from_le(b));
                }
                INT => {
                    let line = self.line()?;
                    let v = match line {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        s => parse_int(s)?,
                    };
                    self.push(v);
                }
                LONG => {
                    let line = self.line()?;
                    let v = parse_int(line.trim_end_matches('L'))?;
                    self.push(v);
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v))
                }
                FLOAT => {
                    let line = self.line()?;
                    let f = line.parse().map_err(|_| malformed("bad FLOAT"))?;
                    self.push(Value::Float(f));
                }
                SHORT_BINUNICODE => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.push(v);
                }
                BINUNICODE => {
                    let n = self.len32()?;
                    let v = self.string(n)?;
                    self.push(v);
                }
                BINUNICODE8 => {
                    let n = self.len64()?;
                    let v = self.string(n)?;
                    self.push(v);
                }
                UNICODE => {
                    let line = self.line()?;
                    self.push(Value::Str(raw_unicode_escape(line)));
                }
                SHORT_BINSTRING | BINSTRING => {
                    // Python 2 str: Python 3 reads it as ASCII text by default.
                    let n = if op == SHORT_BINSTRING {
                        self.u8()? as usize
                    } else {
                        self.len32()?
                    };
                    let b = self.take(n)?;
                    if !b.is_ascii() {
                        return Err(malformed("non-ASCII Python 2 string"));
                    }
                    self.push(Value::Str(String::from_utf8_lossy(b).into_owned()));
                }
                SHORT_BINBYTES => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                BINBYTES => {
                    let n = self.len32()?;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                BINBYTES8 | BYTEARRAY8 => {
                    let n = self.len64()?;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                EMPTY_LIST => self.push(Value::List(Vec::new())),
                EMPTY_DICT => self.push(Value::Dict(Vec::new())),
                EMPTY_SET => self.push(Value::Set(Vec::new())),
                EMPTY_TUPLE => self.push(Value::Tuple(Vec::new())),
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = (op - TUPLE1 + 1) as usize;
                    let mut items = Vec::with_capacity(n);
                    let mut depth = 0;
                    for _ in 0..n {
                        let (v, d) = self.pop_value()?;
                        depth = depth.max(d);
                        items.push(v);
                    }
                    items.reverse();
                    self.push_container(Value::Tuple(items), depth + 1)?;
                }
                TUPLE => {
                    let (items, d) = self.pop_mark()?;
                    self.push_container(Value::Tuple(items), d + 1)?;
                }
                LIST => {
                    let (items, d) = self.pop_mark()?;
                    self.push_container(Value::List(items), d + 1)?;
                }
                FROZENSET => {
                    let (items, d) = self.pop_mark()?;
                    self.push_container(Value::FrozenSet(items), d + 1)?;
                }
                DICT => {
                    let (items, d) = self.pop_mark()?;
                    self.push_container(Value::Dict(Vec::new()), 0)?;
                    self.extend_top(items, d)?;
                }
                APPEND => {
                    let (v, d) = self.pop_value()?;
                    self.extend_top(vec![v], d)?;
                }
                SETITEM => {
                    let (v, dv) = self.pop_value()?;
                    let (k, dk) = self.pop_value()?;
                    self.extend_top(vec![k, v], dk.max(dv))?;
                }
                APPENDS | SETITEMS | ADDITEMS => {
                    let (items, d) = self.pop_mark()?;
                    self.extend_top(items, d)?;
                }
                MEMOIZE => {
                    let idx = u32::try_from(self.memo.len()).map_err(|_| malformed("memo full"))?;
                    self.memo_put(idx)?;
                }
                BINPUT => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?;
                }
                LONG_BINPUT => {
                    let i = u32::from_le_bytes(self.le()?);
                    self.memo_put(i)?;
                }
                PUT => {
                    let i = self.line()?.parse().map_err(|_| malformed("bad PUT"))?;
                    self.memo_put(i)?;
                }
                BINGET => {
                    let i = self.u8()? as u32;
                    self.memo_get(i)?;
                }
                LONG_BINGET => {
                    let i = u32::from_le_bytes(self.le()?);
                    self.memo_get(i)?;
                }
                GET => {
                    let i = self.line()?.parse().map_err(|_| malformed("bad GET"))?;
                    self.memo_get(i)?;
                }
                GLOBAL => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.global(module, name)?;
                }
                STACK_GLOBAL => {
                    let (name, _) = self.pop_value()?;
                    let (module, _) = self.pop_value()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(m, n)?,
                        _ => return Err(malformed("STACK_GLOBAL needs two strings")),
                    }
                }
                REDUCE => {
                    let (args, d) = self.pop_value()?;
                    self.call(args, d)?;
                }
                NEWOBJ => {
                    let (args, d) = self.pop_value()?;
                    self.call(args, d)?;
                }
                NEWOBJ_EX => {
                    let (_kwargs, _) = self.pop_value()?;
                    let (args, d) = self.pop_value()?;
                    self.call(args, d)?;
                }
                BUILD => {
                    let (state, d) = self.pop_value()?;
                    match self.top_mut()? {
                        (Value::Object(PyObject { state: slot, .. }), depth) => {
                            *depth = (*depth).max(d + 1);
                            *slot = Some(Box::new(state));
                        }
                        (other, _) => {
                            return Err(malformed(format!("cannot BUILD a {}", other.type_name())))
                        }
                    }
                }
                other => return Err(CodecError::UnsupportedOpcode { opcode: other, at }),
            }
        }
    }
}

fn long_from_le(b: &[u8]) -> Value {
    let big = BigInt::from_signed_bytes_le(b);
    match i64::try_from(&big) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::BigInt(big),
    }
}

fn parse_int(s: &str) -> Result<Value, CodecError> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    s.parse::<BigInt>()
        .map(Value::BigInt)
        .map_err(|_| malformed(format!("bad integer {s:?}")))
}

/// Protocol 0's UNICODE argument: `\uXXXX` / `\UXXXXXXXX` escapes, other bytes as Latin-1.
fn raw_unicode_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('u') | Some('U')) {
            let width = if chars.next() == Some('u') { 4 } else { 8 };
            let hex: String = chars.by_ref().take(width).collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(ch) => out.push(ch),
                None => out.push(char::REPLACEMENT_CHARACTER),
            }
        } else {
            out.push(c);
        }
    }
    out
}
