//! The globals pickle may name, and what calling each one builds. Pure functions: nothing
//! named in a payload is ever imported or run.

use super::text::latin1;
use super::vm::Item;
use crate::codec::{CodecError, Globals};
use lyanna_task_api::{PyObject, TzInfo, Value};
use num_bigint::{BigInt, Sign};

/// Python 2 names protocol 0-2 pickles use, as Python 3's unpickler maps them.
pub(super) fn py3_module(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        m => m,
    }
}

/// Classes a job payload may name: the datetime family, `Decimal`, `UUID`, `ZoneInfo`,
/// builtin containers, and the two helpers Python's pickler routes some of them through
/// (`copyreg._reconstructor` for UUID at protocols 0-1, `getattr(ZoneInfo, '_unpickle')`).
fn is_safe(module: &str, name: &str) -> bool {
    matches!(
        (module, name),
        (
            "datetime",
            "datetime" | "date" | "time" | "timedelta" | "timezone"
        ) | (
            "builtins",
            "set" | "frozenset" | "bytearray" | "getattr" | "object"
        ) | ("_codecs", "encode")
            | ("decimal", "Decimal")
            | ("uuid", "UUID" | "SafeUUID")
            | ("zoneinfo", "ZoneInfo")
            | ("copyreg", "_reconstructor")
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

fn bad(what: &str, module: &str, name: &str) -> CodecError {
    CodecError::Malformed(format!("bad arguments for {module}.{name}: {what}"))
}

/// The tzinfo objects a datetime or time may carry.
fn tzinfo(v: &Value) -> Option<Box<TzInfo>> {
    let Value::Object(o) = v.resolve() else {
        return None;
    };
    match (o.module.as_str(), o.name.as_str(), o.args.as_slice()) {
        ("datetime", "timezone", [off, rest @ ..]) => {
            let Value::TimeDelta {
                days,
                seconds,
                microseconds: 0,
            } = off.resolve()
            else {
                return None;
            };
            let offset_s = i32::try_from(days * 86_400 + i64::from(*seconds)).ok()?;
            let name = match rest {
                [] => None,
                [n] => Some(n.as_str()?.to_string()),
                _ => return None,
            };
            Some(Box::new(TzInfo::Fixed { offset_s, name }))
        }
        ("zoneinfo", "ZoneInfo", [key]) => Some(Box::new(TzInfo::Zone(key.as_str()?.to_string()))),
        _ => None,
    }
}

fn opt_tz(args: &[Value], at: usize) -> Option<Option<Box<TzInfo>>> {
    match args.get(at).map(Value::resolve) {
        None | Some(Value::None) => Some(None),
        Some(tz) => tzinfo(tz).map(Some),
    }
}

fn datetime(args: &[Value]) -> Option<Value> {
    let b = latin1(args.first()?)?;
    if b.len() != 10 {
        return None;
    }
    let tz = opt_tz(args, 1)?;
    let (month, fold, day) = (b[2] & 0x7f, b[2] & 0x80 != 0, b[3]);
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
        fold,
        tz,
    })
}

fn time(args: &[Value]) -> Option<Value> {
    let b = latin1(args.first()?)?;
    if b.len() != 6 {
        return None;
    }
    let tz = opt_tz(args, 1)?;
    let (hour, fold, minute, second) = (b[0] & 0x7f, b[0] & 0x80 != 0, b[1], b[2]);
    let microsecond = (u32::from(b[3]) << 16) | (u32::from(b[4]) << 8) | u32::from(b[5]);
    let ok = hour < 24 && minute < 60 && second < 60 && microsecond < 1_000_000;
    ok.then_some(Value::Time {
        hour,
        minute,
        second,
        microsecond,
        fold,
        tz,
    })
}

fn date(args: &[Value]) -> Option<Value> {
    let b = latin1(args.first()?)?;
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

/// `str(Decimal)` syntax: `[sign] (digits [. digits] | . digits) [E [sign] digits]`, or
/// `Infinity`, `NaN[digits]`, `sNaN[digits]`.
pub(super) fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "infinity" | "inf") {
        return true;
    }
    if let Some(d) = lower
        .strip_prefix("nan")
        .or_else(|| lower.strip_prefix("snan"))
    {
        return d.bytes().all(|b| b.is_ascii_digit());
    }
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mant_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mant_ok && exp_ok
}

fn decimal(args: &[Value]) -> Option<Value> {
    match args {
        [v] => {
            let s = v.as_str()?;
            is_decimal_text(s).then(|| Value::Decimal(s.to_string()))
        }
        _ => None,
    }
}

fn set_items(args: Vec<Value>, module: &str, name: &str) -> Result<Vec<Value>, CodecError> {
    match args.into_iter().next().map(Value::into_resolved) {
        None => Ok(Vec::new()),
        Some(Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v)) => Ok(v),
        Some(_) => Err(bad("expected an iterable", module, name)),
    }
}

/// Builds the value `module.name(*args)` stands for.
fn reduce(module: &str, name: &str, args: Vec<Value>) -> Result<Value, CodecError> {
    let built = match (module, name) {
        ("datetime", "datetime") => datetime(&args),
        ("datetime", "date") => date(&args),
        ("datetime", "time") => time(&args),
        ("datetime", "timedelta") => timedelta(&args),
        ("datetime", "timezone") | ("zoneinfo", "ZoneInfo") => {
            let obj = Value::object(PyObject::new(module, name, args));
            tzinfo(&obj).map(|_| obj)
        }
        ("decimal", "Decimal") => decimal(&args),
        // Only the UUID's `is_safe` state uses it; it does not change the value.
        ("uuid", "SafeUUID") => Some(Value::None),
        ("builtins", "set") => Some(Value::Set(set_items(args, module, name)?)),
        ("builtins", "frozenset") => Some(Value::FrozenSet(set_items(args, module, name)?)),
        ("builtins", "bytearray") => match args.as_slice() {
            [] => Some(Value::ByteArray(Vec::new())),
            [v] | [v, _] => latin1(v).map(Value::ByteArray),
            _ => None,
        },
        ("_codecs", "encode") => match args.first() {
            None => Some(Value::Bytes(Vec::new())),
            Some(v) => latin1(v).map(Value::Bytes),
        },
        ("uuid", "UUID") => None,
        // Only reachable with Globals::Opaque: keep the call for display.
        _ => Some(Value::object(PyObject::new(module, name, args))),
    };
    // None: arguments Python never writes for this class.
    built.ok_or_else(|| bad("unsupported form", module, name))
}

/// A `UUID` whose state is still to come (NEWOBJ / `copyreg._reconstructor`, then BUILD).
fn blank(module: &str, name: &str, globals: Globals) -> Result<Value, CodecError> {
    if (module, name) != ("uuid", "UUID") && globals == Globals::Refuse {
        return Err(bad("not a class jobs may reconstruct", module, name));
    }
    Ok(Value::object(PyObject::new(module, name, Vec::new())))
}

type Method = (String, String, String);

/// REDUCE / NEWOBJ: `callee(*args)`; a value, or the bound method `getattr` looked up.
pub(super) fn call(callee: Item, args: Item, globals: Globals) -> Result<Item, CodecError> {
    Ok(match call_inner(callee, args, globals)? {
        Ok(v) => Item::Val(v, Default::default()),
        Err((m, n, a)) => Item::Method(m, n, a),
    })
}

fn call_inner(
    callee: Item,
    args: Item,
    globals: Globals,
) -> Result<Result<Value, Method>, CodecError> {
    let v = match (callee, args) {
        (Item::Class(m, n), Item::Val(Value::Tuple(a), _))
            if (m.as_str(), n.as_str()) == ("uuid", "UUID") && a.is_empty() =>
        {
            blank(&m, &n, globals)?
        }
        (Item::Class(m, n), Item::Val(a, _)) => match a.into_resolved() {
            Value::Tuple(a) => reduce(&m, &n, a)?,
            _ => return Err(bad("arguments are not a tuple", &m, &n)),
        },
        (Item::Class(m, n), Item::Args(a, _)) => match (m.as_str(), n.as_str(), a.as_slice()) {
            ("builtins", "getattr", [Item::Class(cm, cn), Item::Val(attr, _)]) => {
                let attr = attr.as_str().unwrap_or_default();
                if globals == Globals::Refuse
                    && (cm.as_str(), cn.as_str(), attr) != ("zoneinfo", "ZoneInfo", "_unpickle")
                {
                    return Err(bad("only ZoneInfo._unpickle may be looked up", &m, &n));
                }
                return Ok(Err((cm.clone(), cn.clone(), attr.to_string())));
            }
            (
                "copyreg",
                "_reconstructor",
                [Item::Class(cm, cn), Item::Class(bm, bn), Item::Val(Value::None, _)],
            ) if (bm.as_str(), bn.as_str()) == ("builtins", "object") => blank(cm, cn, globals)?,
            _ => return Err(bad("a class among the arguments", &m, &n)),
        },
        (Item::Method(m, n, attr), Item::Val(a, _)) => {
            let a = match a.into_resolved() {
                Value::Tuple(a) => a,
                _ => return Err(bad("arguments are not a tuple", &m, &n)),
            };
            match (m.as_str(), n.as_str(), attr.as_str(), a.as_slice()) {
                ("zoneinfo", "ZoneInfo", "_unpickle", [key, _from_cache]) => {
                    reduce("zoneinfo", "ZoneInfo", vec![key.clone()])?
                }
                _ if globals == Globals::Opaque => {
                    Value::object(PyObject::new(m, format!("{n}.{attr}"), a))
                }
                _ => return Err(bad("unsupported method", &m, &attr)),
            }
        }
        (Item::Val(v, _), _) => {
            return Err(CodecError::Malformed(format!(
                "cannot call {}",
                v.type_name()
            )))
        }
        (_, _) => return Err(CodecError::Malformed("bad call".into())),
    };
    Ok(Ok(v))
}

/// BUILD: applies `state` to the object on top of the stack.
pub(super) fn build(top: &mut Value, state: Value) -> Result<(), CodecError> {
    let Value::Object(o) = top else {
        return Err(CodecError::Malformed(format!(
            "cannot BUILD a {}",
            top.type_name()
        )));
    };
    if (o.module.as_str(), o.name.as_str()) == ("uuid", "UUID") && o.args.is_empty() {
        let int = match state.get("int").map(Value::resolve) {
            Some(Value::Int(i)) if *i >= 0 => BigInt::from(*i),
            Some(Value::BigInt(b)) if b.sign() != Sign::Minus => (**b).clone(),
            _ => return Err(bad("state without a valid 'int'", "uuid", "UUID")),
        };
        let (_, be) = int.to_bytes_be();
        if be.len() > 16 {
            return Err(bad("int out of range", "uuid", "UUID"));
        }
        let mut bytes = [0u8; 16];
        bytes[16 - be.len()..].copy_from_slice(&be);
        *top = Value::Uuid(bytes);
        return Ok(());
    }
    o.state = Some(Box::new(state));
    Ok(())
}
