//! The pickle virtual machine's opcode loop, restricted to building data.

use super::opcodes::*;
use super::reduce::{build, call, check_global, py3_module};
use super::text::{long_from_le, parse_int, raw_unicode_escape, str_from_utf8};
use super::vm::{malformed, values, Item, Meta, Vm};
use crate::codec::limits::{DecodeLimits, SLOT_BYTES};
use crate::codec::{CodecError, Globals};
use lyanna_task_api::Value;

/// Decodes one pickle with the default [`DecodeLimits`]. `globals` says what to do with
/// classes outside the safe set.
pub fn decode(data: &[u8], globals: Globals) -> Result<Value, CodecError> {
    decode_with(data, globals, &DecodeLimits::default())
}

/// Decodes one pickle within `limits`.
pub fn decode_with(
    data: &[u8],
    globals: Globals,
    limits: &DecodeLimits,
) -> Result<Value, CodecError> {
    let root = {
        let mut vm = Vm::new(data, globals, limits.budget(data.len()));
        run(&mut vm)?
        // The memo goes here, so references only the tree holds are no longer shared.
    };
    Ok(root.into_resolved())
}

/// A tuple of the items, or the argument tuple of a call when a class is among them.
fn tuple(vm: &mut Vm<'_>, items: Vec<Item>) -> Result<(), CodecError> {
    if items.iter().all(|i| matches!(i, Item::Val(..))) {
        let (vals, meta) = values(items.into_iter())?;
        vm.push_meta(Value::Tuple(vals), Meta::parent(meta))
    } else {
        vm.push_item(Item::Args(items, Meta::default()))
    }
}

fn global(vm: &mut Vm<'_>, module: &str, name: &str) -> Result<(), CodecError> {
    let module = py3_module(module);
    check_global(module, name, vm.globals)?;
    vm.push_item(Item::Class(module.to_string(), name.to_string()))
}

fn reduce_top(vm: &mut Vm<'_>, args: Item) -> Result<(), CodecError> {
    let meta = match &args {
        Item::Val(_, m) | Item::Args(_, m) => *m,
        _ => Meta::default(),
    };
    let callee = vm.pop()?;
    match call(callee, args, vm.globals)? {
        Item::Val(v, _) => vm.push_meta(v, Meta::parent(meta)),
        other => vm.push_item(other),
    }
}

fn bytes_op(vm: &mut Vm<'_>, n: usize, wrap: fn(Vec<u8>) -> Value) -> Result<(), CodecError> {
    let b = vm.take_heap(n)?.to_vec();
    vm.push(wrap(b))
}

fn str_op(vm: &mut Vm<'_>, n: usize) -> Result<(), CodecError> {
    let b = vm.take_heap(n)?;
    let v = str_from_utf8(b)?;
    vm.push(v)
}

fn run(vm: &mut Vm<'_>) -> Result<Value, CodecError> {
    loop {
        let at = vm.pos;
        let op = vm.u8()?;
        match op {
            PROTO => {
                let p = vm.u8()?;
                if p > 5 {
                    return Err(malformed(format!("unsupported pickle protocol {p}")));
                }
            }
            FRAME => {
                vm.le::<8>()?;
            }
            STOP => {
                let (v, _) = vm.pop_value()?;
                if !vm.stack.is_empty() || !vm.marks.is_empty() {
                    return Err(malformed("data left on the stack at STOP"));
                }
                return Ok(v);
            }
            MARK => vm.marks.push(vm.stack.len()),
            POP => {
                if vm.marks.last() == Some(&vm.stack.len()) {
                    vm.marks.pop();
                } else {
                    vm.pop()?;
                }
            }
            POP_MARK => {
                vm.pop_mark_items()?;
            }
            DUP => vm.dup()?,
            NONE => vm.push(Value::None)?,
            NEWTRUE => vm.push(Value::Bool(true))?,
            NEWFALSE => vm.push(Value::Bool(false))?,
            BININT => {
                let v = i32::from_le_bytes(vm.le()?);
                vm.push(Value::Int(i64::from(v)))?
            }
            BININT1 => {
                let b = vm.u8()?;
                vm.push(Value::Int(i64::from(b)))?
            }
            BININT2 => {
                let v = u16::from_le_bytes(vm.le()?);
                vm.push(Value::Int(i64::from(v)))?
            }
            LONG1 => {
                let n = vm.u8()? as usize;
                let b = vm.take_heap(n)?;
                vm.push(long_from_le(b))?;
            }
            LONG4 => {
                let n = vm.len32()?;
                let b = vm.take_heap(n)?;
                vm.push(long_from_le(b))?;
            }
            INT => {
                let v = match vm.line()? {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    s => parse_int(s)?,
                };
                vm.push(v)?;
            }
            LONG => {
                let line = vm.line()?;
                vm.budget.charge(line.len())?;
                let v = parse_int(line.trim_end_matches('L'))?;
                vm.push(v)?;
            }
            BINFLOAT => {
                let v = f64::from_be_bytes(vm.le()?);
                vm.push(Value::Float(v))?
            }
            FLOAT => {
                let f = vm.line()?.parse().map_err(|_| malformed("bad FLOAT"))?;
                vm.push(Value::Float(f))?;
            }
            SHORT_BINUNICODE => {
                let n = vm.u8()? as usize;
                str_op(vm, n)?;
            }
            BINUNICODE => {
                let n = vm.len32()?;
                str_op(vm, n)?;
            }
            BINUNICODE8 => {
                let n = vm.len64()?;
                str_op(vm, n)?;
            }
            UNICODE => {
                let line = vm.line_bytes()?;
                vm.budget.charge(line.len() * 2)?;
                let v = raw_unicode_escape(line)?;
                vm.push(v)?;
            }
            SHORT_BINSTRING | BINSTRING => {
                // Python 2 str: Python 3 reads it as ASCII text by default.
                let n = if op == SHORT_BINSTRING {
                    vm.u8()? as usize
                } else {
                    vm.len32()?
                };
                let b = vm.take_heap(n)?;
                if !b.is_ascii() {
                    return Err(malformed("non-ASCII Python 2 string"));
                }
                vm.push(Value::Str(String::from_utf8_lossy(b).into_owned()))?;
            }
            SHORT_BINBYTES => {
                let n = vm.u8()? as usize;
                bytes_op(vm, n, Value::Bytes)?;
            }
            BINBYTES => {
                let n = vm.len32()?;
                bytes_op(vm, n, Value::Bytes)?;
            }
            BINBYTES8 => {
                let n = vm.len64()?;
                bytes_op(vm, n, Value::Bytes)?;
            }
            BYTEARRAY8 => {
                let n = vm.len64()?;
                bytes_op(vm, n, Value::ByteArray)?;
            }
            EMPTY_LIST => vm.push(Value::List(Vec::new()))?,
            EMPTY_DICT => vm.push(Value::Dict(Vec::new()))?,
            EMPTY_SET => vm.push(Value::Set(Vec::new()))?,
            EMPTY_TUPLE => vm.push(Value::Tuple(Vec::new()))?,
            TUPLE1 | TUPLE2 | TUPLE3 => {
                let n = (op - TUPLE1 + 1) as usize;
                vm.budget.charge(n * SLOT_BYTES)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(vm.pop()?);
                }
                items.reverse();
                tuple(vm, items)?;
            }
            TUPLE => {
                let items = vm.pop_mark_items()?;
                vm.budget.charge(items.len() * SLOT_BYTES)?;
                tuple(vm, items)?;
            }
            LIST => {
                let (items, meta) = vm.pop_mark()?;
                vm.push_meta(Value::List(items), Meta::parent(meta))?;
            }
            FROZENSET => {
                let (items, meta) = vm.pop_mark()?;
                vm.push_meta(Value::FrozenSet(items), Meta::parent(meta))?;
            }
            DICT => {
                let (items, meta) = vm.pop_mark()?;
                vm.push(Value::Dict(Vec::new()))?;
                vm.extend_top(items, meta)?;
            }
            APPEND => {
                let (v, meta) = vm.pop_value()?;
                vm.extend_top(vec![v], meta)?;
            }
            SETITEM => {
                let (v, mv) = vm.pop_value()?;
                let (k, mk) = vm.pop_value()?;
                vm.extend_top(vec![k, v], mk.join(mv))?;
            }
            APPENDS | SETITEMS | ADDITEMS => {
                let (items, meta) = vm.pop_mark()?;
                vm.extend_top(items, meta)?;
            }
            MEMOIZE => vm.memoize()?,
            BINPUT => {
                let i = vm.u8()?;
                vm.memo_put(u32::from(i))?;
            }
            LONG_BINPUT => {
                let i = u32::from_le_bytes(vm.le()?);
                vm.memo_put(i)?;
            }
            PUT => {
                let i = vm.line()?.parse().map_err(|_| malformed("bad PUT"))?;
                vm.memo_put(i)?;
            }
            BINGET => {
                let i = vm.u8()?;
                vm.memo_get(u32::from(i))?;
            }
            LONG_BINGET => {
                let i = u32::from_le_bytes(vm.le()?);
                vm.memo_get(i)?;
            }
            GET => {
                let i = vm.line()?.parse().map_err(|_| malformed("bad GET"))?;
                vm.memo_get(i)?;
            }
            GLOBAL => {
                let module = vm.line()?;
                let name = vm.line()?;
                global(vm, module, name)?;
            }
            STACK_GLOBAL => {
                let (name, _) = vm.pop_value()?;
                let (module, _) = vm.pop_value()?;
                match (module.as_str(), name.as_str()) {
                    (Some(m), Some(n)) => global(vm, m, n)?,
                    _ => return Err(malformed("STACK_GLOBAL needs two strings")),
                }
            }
            REDUCE | NEWOBJ => {
                let args = vm.pop()?;
                reduce_top(vm, args)?;
            }
            NEWOBJ_EX => {
                let (_kwargs, _) = vm.pop_value()?;
                let args = vm.pop()?;
                reduce_top(vm, args)?;
            }
            BUILD => {
                let (state, meta) = vm.pop_value()?;
                let (top, top_meta) = vm.top_mut()?;
                build(top, state)?;
                *top_meta = top_meta.join(Meta::parent(meta));
                let nodes = top_meta.nodes;
                vm.budget.check_expanded(nodes)?;
            }
            other => return Err(CodecError::UnsupportedOpcode { opcode: other, at }),
        }
    }
}
