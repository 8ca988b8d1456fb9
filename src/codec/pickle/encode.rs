//! Protocol-4 pickling, opcode for opcode what CPython's C pickler writes for the same tree
//! (values with no shared references), so Python reads our results exactly like its own.

use super::opcodes::*;
use crate::codec::{CodecError, MAX_DEPTH};
use lyanna_task_api::{PyObject, Value};
use num_bigint::BigInt;
use std::collections::HashMap;

/// CPython's `_FRAME_SIZE_TARGET` and `_FRAME_SIZE_MIN`.
const FRAME_TARGET: usize = 64 * 1024;
const FRAME_MIN: usize = 4;
/// CPython's `_BATCHSIZE` for APPENDS / SETITEMS / ADDITEMS.
const BATCH: usize = 1000;

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
}

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let mut p = Pickler {
        out: Vec::with_capacity(64),
        framing: false,
        frame_start: None,
        memo_len: 0,
        classes: HashMap::new(),
        names: HashMap::new(),
    };
    p.out.extend_from_slice(&[PROTO, 4]);
    p.framing = true;
    p.save(value, 0)?;
    p.write(&[STOP]);
    p.commit_frame();
    Ok(p.out)
}

impl Pickler {
    fn write(&mut self, b: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; 9]);
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
            let mut b = vec![LONG_BINGET];
            b.extend_from_slice(&idx.to_le_bytes());
            self.write(&b);
        }
    }

    fn save(&mut self, v: &Value, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::TooDeep);
        }
        match v {
            Value::None => self.write(&[NONE]),
            Value::Bool(true) => self.write(&[NEWTRUE]),
            Value::Bool(false) => self.write(&[NEWFALSE]),
            Value::Int(i) => self.save_int(*i),
            Value::BigInt(b) => self.save_long(b),
            Value::Float(f) => {
                let mut b = vec![BINFLOAT];
                b.extend_from_slice(&f.to_be_bytes());
                self.write(&b);
            }
            Value::Str(s) => {
                self.save_str(s);
            }
            Value::Bytes(b) => {
                let header = sized_header(b.len(), SHORT_BINBYTES, BINBYTES, BINBYTES8);
                self.write_payload(&header, b);
                self.memoize();
            }
            Value::Tuple(items) => self.save_tuple(items, depth)?,
            Value::List(items) => {
                self.write(&[EMPTY_LIST]);
                self.memoize();
                self.batched(items, depth, APPEND, APPENDS)?;
            }
            Value::Dict(kv) => {
                self.write(&[EMPTY_DICT]);
                self.memoize();
                for chunk in kv.chunks(BATCH) {
                    if let [(k, v)] = chunk {
                        self.save(k, depth + 1)?;
                        self.save(v, depth + 1)?;
                        self.write(&[SETITEM]);
                    } else {
                        self.write(&[MARK]);
                        for (k, v) in chunk {
                            self.save(k, depth + 1)?;
                            self.save(v, depth + 1)?;
                        }
                        self.write(&[SETITEMS]);
                    }
                }
            }
            Value::Set(items) => {
                self.write(&[EMPTY_SET]);
                self.memoize();
                for chunk in items.chunks(BATCH) {
                    self.write(&[MARK]);
                    for x in chunk {
                        self.save(x, depth + 1)?;
                    }
                    self.write(&[ADDITEMS]);
                }
            }
            Value::FrozenSet(items) => {
                self.write(&[MARK]);
                for x in items {
                    self.save(x, depth + 1)?;
                }
                self.write(&[FROZENSET]);
                self.memoize();
            }
            Value::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                utc_offset_s,
            } => {
                let us = microsecond.to_be_bytes();
                let y = year.to_be_bytes();
                let state = vec![
                    y[0], y[1], *month, *day, *hour, *minute, *second, us[1], us[2], us[3],
                ];
                let mut args = vec![Value::Bytes(state)];
                if let Some(off) = utc_offset_s {
                    args.push(Value::Object(timezone(*off)));
                }
                self.save_reduce(&PyObject::new("datetime", "datetime", args), depth)?;
            }
            Value::Date { year, month, day } => {
                let y = year.to_be_bytes();
                let state = vec![y[0], y[1], *month, *day];
                self.save_reduce(
                    &PyObject::new("datetime", "date", vec![Value::Bytes(state)]),
                    depth,
                )?;
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
                self.save_reduce(&PyObject::new("datetime", "timedelta", args), depth)?;
            }
            Value::Object(o) => self.save_reduce(o, depth)?,
        }
        self.opcode_boundary();
        Ok(())
    }

    fn save_int(&mut self, i: i64) {
        if (0..256).contains(&i) {
            self.write(&[BININT1, i as u8]);
        } else if (0..65536).contains(&i) {
            let b = (i as u16).to_le_bytes();
            self.write(&[BININT2, b[0], b[1]]);
        } else if let Ok(small) = i32::try_from(i) {
            let mut b = vec![BININT];
            b.extend_from_slice(&small.to_le_bytes());
            self.write(&b);
        } else {
            self.save_long(&BigInt::from(i));
        }
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

    fn save_str(&mut self, s: &str) -> u32 {
        let header = sized_header(s.len(), SHORT_BINUNICODE, BINUNICODE, BINUNICODE8);
        self.write_payload(&header, s.as_bytes());
        let idx = self.memoize();
        self.opcode_boundary();
        idx
    }

    fn save_tuple(&mut self, items: &[Value], depth: usize) -> Result<(), CodecError> {
        if items.is_empty() {
            self.write(&[EMPTY_TUPLE]);
            return Ok(());
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
        self.memoize();
        Ok(())
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

    fn save_global(&mut self, module: &str, name: &str) {
        let key = (module.to_string(), name.to_string());
        if let Some(&idx) = self.classes.get(&key) {
            self.get(idx);
        } else {
            // Module names are shared interned strings in CPython; a class name is its own
            // object even when it equals the module's name (datetime.datetime).
            for (kind, s) in [('m', module), ('n', name)] {
                let key = format!("{kind}{s}");
                match self.names.get(&key) {
                    Some(&idx) => self.get(idx),
                    None => {
                        let idx = self.save_str(s);
                        self.names.insert(key, idx);
                    }
                }
            }
            self.write(&[STACK_GLOBAL]);
            let idx = self.memoize();
            self.classes.insert(key, idx);
        }
        self.opcode_boundary();
    }

    /// `cls(*args)` (+ BUILD of the state), as `object.__reduce_ex__(4)` gives for exceptions
    /// and the datetime types.
    fn save_reduce(&mut self, o: &PyObject, depth: usize) -> Result<(), CodecError> {
        self.save_global(&o.module, &o.name);
        self.save_tuple(&o.args, depth + 1)?;
        self.opcode_boundary();
        self.write(&[REDUCE]);
        self.memoize();
        if let Some(state) = &o.state {
            self.save(state, depth + 1)?;
            self.write(&[BUILD]);
        }
        Ok(())
    }
}

fn timezone(offset_s: i32) -> PyObject {
    let off = i64::from(offset_s);
    PyObject::new(
        "datetime",
        "timezone",
        vec![Value::TimeDelta {
            days: off.div_euclid(86_400),
            seconds: off.rem_euclid(86_400) as i32,
            microseconds: 0,
        }],
    )
}

fn sized_header(len: usize, short: u8, long: u8, huge: u8) -> Vec<u8> {
    if len < 256 {
        vec![short, len as u8]
    } else if let Ok(l) = u32::try_from(len) {
        let mut h = vec![long];
        h.extend_from_slice(&l.to_le_bytes());
        h
    } else {
        let mut h = vec![huge];
        h.extend_from_slice(&(len as u64).to_le_bytes());
        h
    }
}
