//! Protocol-4 pickling, opcode for opcode what CPython's C pickler writes for the same tree,
//! so Python reads our results exactly like its own. A [`Value::Shared`] is written once and
//! referred back to with BINGET, as Python does for an object it meets again; so are the
//! objects CPython keeps one of (`timezone.utc`, a `ZoneInfo` per key, interned names).

use super::opcodes::*;
use crate::codec::{CodecError, Field, MAX_DEPTH};
use lyanna_task_api::{PyObject, Value};
use num_bigint::BigInt;
use std::collections::HashMap;
use std::sync::Arc;

/// CPython's `_FRAME_SIZE_TARGET` and `_FRAME_SIZE_MIN`.
const FRAME_TARGET: usize = 64 * 1024;
const FRAME_MIN: usize = 4;
/// CPython's `_BATCHSIZE` for APPENDS / SETITEMS / ADDITEMS.
const BATCH: usize = 1000;

mod stdlib;

struct Pickler {
    out: Vec<u8>,
    framing: bool,
    frame_start: Option<usize>,
    memo_len: u32,
    /// Classes already written, by (module, name): Python memoizes the class object and
    /// refers back to it with BINGET.
    classes: HashMap<(String, String), u32>,
    /// Module and class name strings already written, to refer back to like CPython does.
    names: HashMap<String, u32>,
    /// Shared values already written, by address.
    shared: HashMap<usize, u32>,
    /// `timezone.utc` and `ZoneInfo` objects already written (singletons in CPython).
    zones: HashMap<String, u32>,
    /// Refuse to grow the output past this many bytes.
    limit: usize,
}

/// Room a result map's encoding starts with.
const RESULT_START: usize = 256;

/// Writes this big or bigger are given room of their own rather than the Vec's doubling.
const BIG_WRITE: usize = 64 * 1024;

/// Pickles `value` (protocol 4).
pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    encode_within(value, usize::MAX)
}

/// Pickles `value`, refusing once the output would pass `max_bytes`.
pub fn encode_within(value: &Value, max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    let mut p = Pickler::new(max_bytes);
    p.out.extend_from_slice(&[PROTO, 4]);
    p.framing = true;
    p.save(value, 0)?;
    p.write(&[STOP]);
    p.commit_frame();
    p.check(0)?;
    Ok(p.out)
}

/// Pickles the dict `fields` stand for, opcode for opcode what [`encode`] writes for
/// [`fields_value`](crate::codec::fields_value)`(fields)`, without building that tree.
pub fn encode_fields(fields: &[(&str, Field<'_>)]) -> Result<Vec<u8>, CodecError> {
    let mut p = Pickler::new(usize::MAX);
    // A no-op job's result map is about 200 bytes: one allocation instead of three.
    p.out.reserve(RESULT_START);
    p.out.extend_from_slice(&[PROTO, 4]);
    p.framing = true;
    p.save_fields(fields)?;
    p.write(&[STOP]);
    p.commit_frame();
    p.check(0)?;
    Ok(p.out)
}

impl Pickler {
    fn new(limit: usize) -> Pickler {
        Pickler {
            out: Vec::with_capacity(64),
            framing: false,
            frame_start: None,
            memo_len: 0,
            classes: HashMap::new(),
            names: HashMap::new(),
            shared: HashMap::new(),
            zones: HashMap::new(),
            limit,
        }
    }

    fn write(&mut self, b: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; 9]);
        }
        // A big string or bytes value is written whole: grow to fit it plus a little room
        // for what follows, not to twice the output (a 30 MB string would otherwise leave a
        // 60 MB buffer behind its last opcode).
        if b.len() >= BIG_WRITE && self.out.capacity() - self.out.len() < b.len() {
            self.out.reserve_exact(b.len() + BIG_WRITE);
        }
        self.out.extend_from_slice(b);
    }

    fn commit_frame(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - 9;
        if len >= FRAME_MIN {
            self.out[start] = FRAME;
            self.out[start + 1..start + 9].copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(start..start + 9);
        }
    }

    /// CPython checks after every saved object whether the frame has grown past its target.
    fn opcode_boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.out.len() - start - 9 >= FRAME_TARGET {
                self.commit_frame();
            }
        }
    }

    fn check(&self, more: usize) -> Result<(), CodecError> {
        if self.out.len().saturating_add(more) > self.limit {
            return Err(CodecError::OverBudget {
                limit: self.limit,
                what: "encoded bytes",
            });
        }
        Ok(())
    }

    /// Large str/bytes bodies go outside any frame, as CPython writes them.
    fn write_payload(&mut self, header: &[u8], data: &[u8]) {
        if data.len() >= FRAME_TARGET {
            self.commit_frame();
            self.framing = false;
            self.write(header);
            self.write(data);
            self.framing = true;
        } else {
            self.write(header);
            self.write(data);
        }
    }

    fn memoize(&mut self) -> u32 {
        self.write(&[MEMOIZE]);
        self.memo_len += 1;
        self.memo_len - 1
    }

    fn get(&mut self, idx: u32) {
        if idx < 256 {
            self.write(&[BINGET, idx as u8]);
        } else {
            self.write(Op::new(LONG_BINGET, &idx.to_le_bytes()).bytes());
        }
    }

    /// Writes `v`; returns the memo index Python would give the object itself, if any.
    fn save(&mut self, v: &Value, depth: usize) -> Result<Option<u32>, CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        self.check(0)?;
        let idx = match v {
            Value::None => {
                self.write(&[NONE]);
                None
            }
            Value::Bool(true) => {
                self.write(&[NEWTRUE]);
                None
            }
            Value::Bool(false) => {
                self.write(&[NEWFALSE]);
                None
            }
            Value::Int(i) => {
                self.save_int(*i);
                None
            }
            Value::BigInt(b) => {
                self.save_long(b);
                None
            }
            Value::Float(f) => {
                self.write(Op::new(BINFLOAT, &f.to_be_bytes()).bytes());
                None
            }
            Value::Str(s) => Some(self.save_str(s.as_bytes())?),
            Value::SurrogateStr(b) => Some(self.save_str(b)?),
            Value::Bytes(b) => {
                let header = sized_header(b.len(), SHORT_BINBYTES, BINBYTES, BINBYTES8);
                self.check(b.len())?;
                self.write_payload(header.bytes(), b);
                Some(self.memoize())
            }
            Value::ByteArray(b) => {
                // bytearray() pickles with no arguments, any other with its bytes.
                let args = if b.is_empty() {
                    Vec::new()
                } else {
                    vec![Value::Bytes(b.clone())]
                };
                let o = PyObject::new("builtins", "bytearray", args);
                Some(self.save_reduce(&o, depth)?)
            }
            Value::Tuple(items) => self.save_tuple(items, depth)?,
            Value::List(items) => {
                self.write(&[EMPTY_LIST]);
                let idx = self.memoize();
                self.batched(items, depth, APPEND, APPENDS)?;
                Some(idx)
            }
            Value::Dict(kv) => Some(self.save_dict(kv, |p, (k, v)| {
                p.save(k, depth + 1)?;
                p.save(v, depth + 1)?;
                Ok(())
            })?),
            Value::Set(items) => {
                self.write(&[EMPTY_SET]);
                let idx = self.memoize();
                for chunk in items.chunks(BATCH) {
                    self.write(&[MARK]);
                    for x in chunk {
                        self.save(x, depth + 1)?;
                    }
                    self.write(&[ADDITEMS]);
                }
                Some(idx)
            }
            Value::FrozenSet(items) => {
                self.write(&[MARK]);
                for x in items {
                    self.save(x, depth + 1)?;
                }
                self.write(&[FROZENSET]);
                Some(self.memoize())
            }
            Value::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                fold,
                tz,
            } => {
                let us = microsecond.to_be_bytes();
                let y = year.to_be_bytes();
                let m = month | if *fold { 0x80 } else { 0 };
                let state = vec![
                    y[0], y[1], m, *day, *hour, *minute, *second, us[1], us[2], us[3],
                ];
                Some(self.save_temporal("datetime", state, tz.as_deref(), depth)?)
            }
            Value::Time {
                hour,
                minute,
                second,
                microsecond,
                fold,
                tz,
            } => {
                let us = microsecond.to_be_bytes();
                let h = hour | if *fold { 0x80 } else { 0 };
                let state = vec![h, *minute, *second, us[1], us[2], us[3]];
                Some(self.save_temporal("time", state, tz.as_deref(), depth)?)
            }
            Value::Date { year, month, day } => {
                let y = year.to_be_bytes();
                let state = vec![y[0], y[1], *month, *day];
                Some(self.save_reduce(
                    &PyObject::new("datetime", "date", vec![Value::Bytes(state)]),
                    depth,
                )?)
            }
            Value::TimeDelta {
                days,
                seconds,
                microseconds,
            } => {
                let args = vec![
                    Value::Int(*days),
                    Value::Int(i64::from(*seconds)),
                    Value::Int(i64::from(*microseconds)),
                ];
                Some(self.save_reduce(&PyObject::new("datetime", "timedelta", args), depth)?)
            }
            Value::Decimal(d) => {
                let o = PyObject::new("decimal", "Decimal", vec![Value::Str(d.clone())]);
                Some(self.save_reduce(&o, depth)?)
            }
            Value::Uuid(u) => Some(self.save_uuid(u)?),
            Value::Object(o) => Some(self.save_reduce(o, depth)?),
            Value::Shared(arc) => self.save_shared(arc, depth)?,
        };
        self.opcode_boundary();
        Ok(idx)
    }

    /// A dict of `items`, each pair written by `pair`, batched as CPython batches them.
    fn save_dict<T>(
        &mut self,
        items: &[T],
        mut pair: impl FnMut(&mut Self, &T) -> Result<(), CodecError>,
    ) -> Result<u32, CodecError> {
        self.write(&[EMPTY_DICT]);
        let idx = self.memoize();
        for chunk in items.chunks(BATCH) {
            if let [one] = chunk {
                pair(self, one)?;
                self.write(&[SETITEM]);
            } else {
                self.write(&[MARK]);
                for item in chunk {
                    pair(self, item)?;
                }
                self.write(&[SETITEMS]);
            }
        }
        Ok(idx)
    }

    /// The top-level dict of [`encode_fields`]: each step is the one [`Pickler::save`] takes
    /// for the value the field stands for (its checks and frame boundaries included).
    fn save_fields(&mut self, fields: &[(&str, Field<'_>)]) -> Result<(), CodecError> {
        self.check(0)?;
        self.save_dict(fields, |p, (k, f)| {
            p.save_key(k)?;
            p.save_field(*f, 1)
        })?;
        self.opcode_boundary();
        Ok(())
    }

    /// What `save(&Value::Str(s))` writes.
    fn save_key(&mut self, s: &str) -> Result<(), CodecError> {
        self.check(0)?;
        self.save_str(s.as_bytes())?;
        self.opcode_boundary();
        Ok(())
    }

    /// What `save(&f.to_value(), depth)` writes (fields sit far above the depth limit).
    fn save_field(&mut self, f: Field<'_>, depth: usize) -> Result<(), CodecError> {
        self.check(0)?;
        match f {
            // `save` checks and ends at a frame boundary itself.
            Field::Value(v) => {
                self.save(v, depth)?;
                return Ok(());
            }
            Field::Int(i) => self.save_int(i),
            Field::Bool(b) => self.write(&[if b { NEWTRUE } else { NEWFALSE }]),
            Field::Str(s) => {
                self.save_str(s.as_bytes())?;
            }
            Field::Tuple(items) => {
                self.save_tuple(items, depth)?;
            }
            Field::StrDict(kv) => {
                self.save_dict(kv, |p, (k, v)| {
                    p.save_key(k)?;
                    p.save(v, depth + 1)?;
                    Ok(())
                })?;
            }
        }
        self.opcode_boundary();
        Ok(())
    }

    fn save_shared(&mut self, arc: &Arc<Value>, depth: usize) -> Result<Option<u32>, CodecError> {
        let key = Arc::as_ptr(arc) as usize;
        if let Some(&idx) = self.shared.get(&key) {
            self.get(idx);
            return Ok(Some(idx));
        }
        let idx = self.save(arc, depth)?;
        if let Some(idx) = idx {
            self.shared.insert(key, idx);
        }
        Ok(idx)
    }

    fn save_int(&mut self, i: i64) {
        if (0..256).contains(&i) {
            self.write(&[BININT1, i as u8]);
        } else if (0..65536).contains(&i) {
            let b = (i as u16).to_le_bytes();
            self.write(&[BININT2, b[0], b[1]]);
        } else if let Ok(small) = i32::try_from(i) {
            self.write(Op::new(BININT, &small.to_le_bytes()).bytes());
        } else {
            self.save_i64_long(i);
        }
    }

    /// An int past 32 bits (arq's millisecond timestamps: three in every result) as LONG1
    /// with its shortest two's-complement bytes, as pickle writes it, without a `BigInt`.
    fn save_i64_long(&mut self, i: i64) {
        let le = i.to_le_bytes();
        let mut n = le.len();
        // Drop a top byte that only repeats the sign of the byte below it.
        while n > 1
            && ((le[n - 1] == 0 && le[n - 2] < 0x80) || (le[n - 1] == 0xff && le[n - 2] >= 0x80))
        {
            n -= 1;
        }
        let mut op = [0u8; 10];
        op[0] = LONG1;
        op[1] = n as u8;
        op[2..2 + n].copy_from_slice(&le[..n]);
        self.write(&op[..2 + n]);
    }

    fn save_long(&mut self, b: &BigInt) {
        let bytes = b.to_signed_bytes_le();
        let mut out = if bytes.len() < 256 {
            vec![LONG1, bytes.len() as u8]
        } else {
            let mut h = vec![LONG4];
            h.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            h
        };
        out.extend_from_slice(&bytes);
        self.write(&out);
    }

    /// A str body (UTF-8, surrogates as 3-byte sequences).
    fn save_str(&mut self, s: &[u8]) -> Result<u32, CodecError> {
        self.check(s.len())?;
        let header = sized_header(s.len(), SHORT_BINUNICODE, BINUNICODE, BINUNICODE8);
        self.write_payload(header.bytes(), s);
        let idx = self.memoize();
        self.opcode_boundary();
        Ok(idx)
    }

    fn save_tuple(&mut self, items: &[Value], depth: usize) -> Result<Option<u32>, CodecError> {
        if items.is_empty() {
            self.write(&[EMPTY_TUPLE]);
            return Ok(None);
        }
        if items.len() <= 3 {
            for x in items {
                self.save(x, depth + 1)?;
            }
            self.write(&[TUPLE1 + items.len() as u8 - 1]);
        } else {
            self.write(&[MARK]);
            for x in items {
                self.save(x, depth + 1)?;
            }
            self.write(&[TUPLE]);
        }
        Ok(Some(self.memoize()))
    }

    fn batched(
        &mut self,
        items: &[Value],
        depth: usize,
        one: u8,
        many: u8,
    ) -> Result<(), CodecError> {
        for chunk in items.chunks(BATCH) {
            if let [x] = chunk {
                self.save(x, depth + 1)?;
                self.write(&[one]);
            } else {
                self.write(&[MARK]);
                for x in chunk {
                    self.save(x, depth + 1)?;
                }
                self.write(&[many]);
            }
        }
        Ok(())
    }

    fn save_global(&mut self, module: &str, name: &str) -> Result<(), CodecError> {
        let key = (module.to_string(), name.to_string());
        if let Some(&idx) = self.classes.get(&key) {
            self.get(idx);
        } else {
            // Module names are shared interned strings in CPython; a class name is its own
            // object even when it equals the module's name (datetime.datetime). A builtin
            // function's `__module__` is yet another 'builtins' object than a builtin type's.
            let kind = if (module, name) == ("builtins", "getattr") {
                "f"
            } else {
                "m"
            };
            self.save_name(format!("{kind}{module}"), module)?;
            self.save_name(format!("n{name}"), name)?;
            self.write(&[STACK_GLOBAL]);
            let idx = self.memoize();
            self.classes.insert(key, idx);
        }
        self.opcode_boundary();
        Ok(())
    }

    /// `cls(*args)` (+ BUILD of the state), as `object.__reduce_ex__(4)` gives for exceptions
    /// and the datetime types.
    fn save_reduce(&mut self, o: &PyObject, depth: usize) -> Result<u32, CodecError> {
        self.save_global(&o.module, &o.name)?;
        self.save_tuple(&o.args, depth + 1)?;
        self.opcode_boundary();
        self.write(&[REDUCE]);
        let idx = self.memoize();
        if let Some(state) = &o.state {
            self.save(state, depth + 1)?;
            self.write(&[BUILD]);
        }
        Ok(idx)
    }
}

/// An opcode and its little-endian size or argument: at most 9 bytes, on the stack (a
/// result writes a dozen of them; each was a heap allocation).
struct Op {
    buf: [u8; 9],
    len: usize,
}

impl Op {
    fn new(op: u8, arg: &[u8]) -> Op {
        let mut buf = [0u8; 9];
        buf[0] = op;
        buf[1..1 + arg.len()].copy_from_slice(arg);
        Op {
            buf,
            len: 1 + arg.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn sized_header(len: usize, short: u8, long: u8, huge: u8) -> Op {
    if len < 256 {
        Op::new(short, &[len as u8])
    } else if let Ok(l) = u32::try_from(len) {
        Op::new(long, &l.to_le_bytes())
    } else {
        Op::new(huge, &(len as u64).to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::fields_value;

    /// The borrowed-fields path writes what the Value path writes, byte for byte: memo
    /// references across fields, frames around big strings, and dict batching included.
    #[test]
    fn fields_pickle_like_their_value() {
        let shared = Value::Shared(Arc::new(Value::List(vec![Value::str("x"); 3])));
        let big = Value::str("b".repeat(70 * 1024));
        let args = [
            Value::Int(-5),
            Value::Int(1 << 40),
            Value::str("é"),
            shared.clone(),
            Value::Tuple(vec![Value::None, shared.clone()]),
            big.clone(),
            Value::Float(0.5),
        ];
        let one_kwarg = vec![("only".to_string(), Value::Bool(false))];
        let many_kwargs: Vec<(String, Value)> = (0..2_500)
            .map(|i| (format!("k{i}"), Value::Int(i)))
            .collect();
        let exception = Value::object(PyObject::new(
            "builtins",
            "ValueError",
            vec![Value::str("bad")],
        ));
        let results = [Value::None, shared.clone(), exception, big];
        let kwargs: [&[(String, Value)]; 3] = [&[], &one_kwarg, &many_kwargs];
        for kw in kwargs {
            for r in &results {
                for a in [&args[..0], &args[..3], &args[..]] {
                    let fields = [
                        ("t", Field::Int(3)),
                        ("f", Field::Str("func")),
                        ("a", Field::Tuple(a)),
                        ("k", Field::StrDict(kw)),
                        ("et", Field::Int(1_796_193_247_000)),
                        ("s", Field::Bool(true)),
                        ("r", Field::Value(r)),
                        ("q", Field::Str("arq:queue")),
                    ];
                    assert_eq!(
                        encode_fields(&fields).unwrap(),
                        encode(&fields_value(&fields)).unwrap(),
                        "args {} kwargs {} result {r:.40}",
                        a.len(),
                        kw.len()
                    );
                }
            }
        }
    }

    /// An i64 past 32 bits is written with the bytes the `BigInt` path writes (pickle's
    /// shortest two's complement), at every byte length and its edges.
    #[test]
    fn long_ints_match_the_bigint_path() {
        let mut cases = vec![i64::MIN, i64::MAX, 1_796_193_247_000, -1_796_193_247_000];
        for bits in 31..63 {
            let edge = 1i64 << bits;
            cases.extend([edge - 1, edge, edge + 1, -edge - 1, -edge, -edge + 1]);
        }
        for i in cases.into_iter().filter(|i| i32::try_from(*i).is_err()) {
            let mut fast = Pickler::new(usize::MAX);
            fast.save_int(i);
            let mut slow = Pickler::new(usize::MAX);
            slow.save_long(&BigInt::from(i));
            assert_eq!(fast.out, slow.out, "{i}");
        }
    }

    /// The output of a big string is about its size: the Vec's doubling would have left a
    /// buffer twice the result's size behind the opcodes that follow the string.
    #[test]
    fn big_string_output_is_not_doubled() {
        let s = "x".repeat(3 << 20);
        let value = Value::Tuple(vec![Value::str(s.clone()), Value::Int(1), Value::None]);
        let out = encode(&value).unwrap();
        assert!(out.len() > s.len());
        assert!(
            out.capacity() <= out.len() + 2 * BIG_WRITE,
            "capacity {} for {} bytes",
            out.capacity(),
            out.len()
        );
    }
}
