//! Pickling the stdlib values the way their own `__reduce__` does: `UUID` (NEWOBJ + BUILD),
//! `datetime` / `time` with their tzinfo (`timezone`, `ZoneInfo` through
//! `getattr(ZoneInfo, '_unpickle')`), and the strings and singletons CPython shares.

use super::Pickler;
use crate::codec::pickle::opcodes::*;
use crate::codec::CodecError;
use lyanna_task_api::{PyObject, TzInfo, Value};
use num_bigint::{BigInt, Sign};

fn uuid_int(u: &[u8; 16]) -> Value {
    Value::big(BigInt::from_bytes_be(Sign::Plus, u))
}

fn timedelta_of(offset_s: i32) -> Value {
    let off = i64::from(offset_s);
    Value::TimeDelta {
        days: off.div_euclid(86_400),
        seconds: off.rem_euclid(86_400) as i32,
        microseconds: 0,
    }
}

impl Pickler {
    /// A string CPython interns (module, attribute and key names): written once, then BINGET.
    pub(super) fn save_name(&mut self, key: String, s: &str) -> Result<(), CodecError> {
        match self.names.get(&key) {
            Some(&idx) => self.get(idx),
            None => {
                let idx = self.save_str(s.as_bytes())?;
                self.names.insert(key, idx);
            }
        }
        Ok(())
    }

    /// `uuid.UUID`: NEWOBJ with no arguments, then BUILD with `{'int': n}`.
    pub(super) fn save_uuid(&mut self, u: &[u8; 16]) -> Result<u32, CodecError> {
        self.save_global("uuid", "UUID")?;
        self.write(&[EMPTY_TUPLE, NEWOBJ]);
        let idx = self.memoize();
        self.write(&[EMPTY_DICT]);
        self.memoize();
        self.save_name("sint".into(), "int")?;
        self.save(&uuid_int(u), 1)?;
        self.write(&[SETITEM, BUILD]);
        Ok(idx)
    }

    /// `datetime.datetime` / `datetime.time`: `cls(state_bytes[, tzinfo])`.
    pub(super) fn save_temporal(
        &mut self,
        class: &str,
        state: Vec<u8>,
        tz: Option<&TzInfo>,
        depth: usize,
    ) -> Result<u32, CodecError> {
        self.save_global("datetime", class)?;
        self.save(&Value::Bytes(state), depth + 1)?;
        let n = match tz {
            None => 1,
            Some(tz) => {
                self.save_tz(tz, depth + 1)?;
                2
            }
        };
        self.write(&[TUPLE1 + n - 1]);
        self.memoize();
        self.opcode_boundary();
        self.write(&[REDUCE]);
        Ok(self.memoize())
    }

    fn save_tz(&mut self, tz: &TzInfo, depth: usize) -> Result<(), CodecError> {
        let singleton = match tz {
            TzInfo::Fixed {
                offset_s: 0,
                name: None,
            } => Some("utc".to_string()),
            TzInfo::Zone(key) => Some(format!("zone:{key}")),
            TzInfo::Fixed { .. } => None,
        };
        if let Some(idx) = singleton.as_ref().and_then(|k| self.zones.get(k)) {
            self.get(*idx);
            return Ok(());
        }
        let idx = match tz {
            TzInfo::Fixed { offset_s, name } => {
                let mut args = vec![timedelta_of(*offset_s)];
                if let Some(n) = name {
                    args.push(Value::Str(n.clone()));
                }
                self.save_reduce(&PyObject::new("datetime", "timezone", args), depth)?
            }
            TzInfo::Zone(key) => {
                // getattr(ZoneInfo, '_unpickle')(key, 1), as ZoneInfo.__reduce__ gives.
                self.save_global("builtins", "getattr")?;
                self.save_global("zoneinfo", "ZoneInfo")?;
                self.save_name("a_unpickle".into(), "_unpickle")?;
                self.write(&[TUPLE2]);
                self.memoize();
                self.write(&[REDUCE]);
                self.memoize();
                self.save_str(key.as_bytes())?;
                self.write(&[BININT1, 1, TUPLE2]);
                self.memoize();
                self.write(&[REDUCE]);
                self.memoize()
            }
        };
        if let Some(k) = singleton {
            self.zones.insert(k, idx);
        }
        Ok(())
    }
}
