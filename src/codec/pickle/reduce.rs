//! The globals pickle may name, and what calling each one builds. Pure functions: nothing
//! named in a payload is ever imported or run.

use crate::codec::{CodecError, Globals};
use lyanna_task_api::{PyObject, Value};

/// Classes a job payload may carry: the datetime family and builtin containers.
fn is_safe(module: &str, name: &str) -> bool {
    matches!(
        (module, name),
        ("datetime", "datetime" | "date" | "timedelta" | "timezone")
            | (
                "builtins" | "__builtin__",
                "set" | "frozenset" | "bytearray"
            )
            | ("_codecs", "encode")
    )
}

pub(super) fn check_global(module: &str, name: &str, globals: Globals) -> Result<(), CodecError> {
    if globals == Globals::Refuse && !is_safe(module, name) {
        return Err(CodecError::ForbiddenGlobal {
            module: module.to_string(),
            name: name.to_string(),
        });
    }
    Ok(())
}

fn malformed(what: &str, module: &str, name: &str) -> CodecError {
    CodecError::Malformed(format!("bad arguments for {module}.{name}: {what}"))
}

/// Byte-string argument of the datetime constructors (bytes, or latin-1 text from protocol 2).
fn state_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) => Some(b.clone()),
        Value::Str(s) => s.chars().map(|c| u8::try_from(c as u32).ok()).collect(),
        _ => None,
    }
}

/// `datetime.timezone(timedelta)` offset in seconds.
pub(super) fn tz_offset(v: &Value) -> Option<i32> {
    match v {
        Value::Object(PyObject {
            module, name, args, ..
        }) if module == "datetime" && name == "timezone" => match args.first()? {
            Value::TimeDelta {
                days,
                seconds,
                microseconds: 0,
            } => i32::try_from(days * 86_400 + i64::from(*seconds)).ok(),
            _ => None,
        },
        _ => None,
    }
}

fn datetime(args: &[Value]) -> Option<Value> {
    let b = state_bytes(args.first()?)?;
    if b.len() != 10 {
        return None;
    }
    let utc_offset_s = match args.get(1) {
        None | Some(Value::None) => None,
        Some(tz) => Some(tz_offset(tz)?),
    };
    let (month, day) = (b[2] & 0x7f, b[3]);
    let (hour, minute, second) = (b[4], b[5], b[6]);
    let microsecond = (u32::from(b[7]) << 16) | (u32::from(b[8]) << 8) | u32::from(b[9]);
    let ok = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && microsecond < 1_000_000;
    ok.then_some(Value::DateTime {
        year: u16::from_be_bytes([b[0], b[1]]),
        month,
        day,
        hour,
        minute,
        second,
        microsecond,
        utc_offset_s,
    })
}

fn date(args: &[Value]) -> Option<Value> {
    let b = state_bytes(args.first()?)?;
    if b.len() != 4 || !(1..=12).contains(&b[2]) || !(1..=31).contains(&b[3]) {
        return None;
    }
    Some(Value::Date {
        year: u16::from_be_bytes([b[0], b[1]]),
        month: b[2],
        day: b[3],
    })
}

fn timedelta(args: &[Value]) -> Option<Value> {
    let int = |i: usize| args.get(i).map_or(Some(0), Value::as_i64);
    let (days, seconds, us) = (int(0)?, int(1)?, int(2)?);
    // Python pickles the normalised fields; anything else is not from Python.
    if !(0..86_400).contains(&seconds) || !(0..1_000_000).contains(&us) {
        return None;
    }
    Some(Value::TimeDelta {
        days,
        seconds: seconds as i32,
        microseconds: us as i32,
    })
}

fn latin1(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Str(s) => s.chars().map(|c| u8::try_from(c as u32).ok()).collect(),
        Value::Bytes(b) => Some(b.clone()),
        _ => None,
    }
}

/// Builds the value `module.name(*args)` stands for.
pub(super) fn reduce(module: &str, name: &str, args: Vec<Value>) -> Result<Value, CodecError> {
    let built = match (module, name) {
        ("datetime", "datetime") => datetime(&args),
        ("datetime", "date") => date(&args),
        ("datetime", "timedelta") => timedelta(&args),
        ("datetime", "timezone") => match args.first() {
            Some(Value::TimeDelta { .. }) => Some(Value::Object(PyObject::new(module, name, args))),
            _ => None,
        },
        ("builtins" | "__builtin__", "set" | "frozenset") => {
            let items = match args.into_iter().next() {
                None => Vec::new(),
                Some(Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v)) => v,
                Some(_) => return Err(malformed("expected an iterable", module, name)),
            };
            Some(if name == "set" {
                Value::Set(items)
            } else {
                Value::FrozenSet(items)
            })
        }
        ("builtins" | "__builtin__", "bytearray") | ("_codecs", "encode") => match args.first() {
            None => Some(Value::Bytes(Vec::new())),
            Some(v) => latin1(v).map(Value::Bytes),
        },
        // Only reachable with Globals::Opaque: keep the call for display.
        _ => Some(Value::Object(PyObject::new(module, name, args))),
    };
    // None: arguments Python never writes for this class (or, for datetimes, a zone other
    // than a fixed offset, which jobs cannot name anyway).
    built.ok_or_else(|| malformed("unsupported form", module, name))
}
