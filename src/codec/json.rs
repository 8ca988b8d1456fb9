//! JSON, as a queue configured with `json.dumps` / `json.loads` uses it. Tuples are arrays,
//! dict keys become strings the way Python's `json.dumps` makes them; str with lone surrogates
//! are written as `\ud83d` escapes, as Python does; bytes, bytearray, sets, datetimes,
//! `Decimal`, `UUID` and objects cannot be represented (Python's encoder refuses them too).
//! Shared references are written out in full.

use super::limits::{expanded_size, DecodeLimits};
use super::size_scan::charge_json;
use super::{CodecError, MAX_DEPTH};
use lyanna_task_api::Value;
use num_bigint::BigInt;
use std::fmt::Write;

fn unrepresentable(what: &str) -> CodecError {
    CodecError::Unrepresentable {
        codec: "json",
        what: what.to_string(),
    }
}

pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with(bytes, &DecodeLimits::default())
}

/// Decodes, refusing (before parsing) a document whose decoded size may pass its budget.
pub fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Value, CodecError> {
    charge_json(bytes, &mut limits.budget(bytes.len()))?;
    // serde_json stops at 128 levels by itself, below our MAX_DEPTH.
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| CodecError::Malformed(format!("json: {e}")))?;
    Ok(from_json(v))
}

/// A parsed JSON document as a [`Value`] (objects keep their key order).
pub fn from_json(v: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::None,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::big(BigInt::from(u))
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::Str(s),
        J::Array(xs) => Value::List(xs.into_iter().map(from_json).collect()),
        J::Object(kv) => Value::Dict(
            kv.into_iter()
                .map(|(k, v)| (Value::Str(k), from_json(v)))
                .collect(),
        ),
    }
}

pub fn encode(v: &Value) -> Result<Vec<u8>, CodecError> {
    encode_within(v, usize::MAX)
}

/// Encodes, refusing (before writing anything) a value whose encoding would pass
/// `max_bytes`.
pub fn encode_within(v: &Value, max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    if expanded_size(v) > max_bytes as u64 {
        return Err(CodecError::OverBudget {
            limit: max_bytes,
            what: "encoded bytes",
        });
    }
    let mut out = String::with_capacity(64);
    write_json(&mut out, v, 0)?;
    Ok(out.into_bytes())
}

/// The UTF-16 units of generalized UTF-8 (surrogates as 3-byte sequences).
fn utf16_units(b: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (cp, n) = match c {
            0x00..=0x7f => (u32::from(c), 1),
            0xc0..=0xdf if i + 1 < b.len() => {
                ((u32::from(c & 0x1f) << 6) | u32::from(b[i + 1] & 0x3f), 2)
            }
            0xe0..=0xef if i + 2 < b.len() => (
                (u32::from(c & 0x0f) << 12)
                    | (u32::from(b[i + 1] & 0x3f) << 6)
                    | u32::from(b[i + 2] & 0x3f),
                3,
            ),
            _ if i + 3 < b.len() => (
                (u32::from(c & 0x07) << 18)
                    | (u32::from(b[i + 1] & 0x3f) << 12)
                    | (u32::from(b[i + 2] & 0x3f) << 6)
                    | u32::from(b[i + 3] & 0x3f),
                4,
            ),
            _ => (0xfffd, 1),
        };
        match char::from_u32(cp) {
            Some(ch) => {
                let mut buf = [0u16; 2];
                out.extend_from_slice(ch.encode_utf16(&mut buf));
            }
            None => out.push(cp as u16),
        }
        i += n;
    }
    out
}

fn write_surrogate_str(out: &mut String, b: &[u8]) {
    out.push('"');
    for unit in utf16_units(b) {
        match char::from_u32(u32::from(unit)) {
            Some(c @ ' '..='~') if c != '"' && c != '\\' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out.push('"');
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                // Python's ensure_ascii: UTF-16 escapes.
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Python's float repr: shortest round-trip, always with a '.' or exponent.
        let s = format!("{f:?}");
        out.push_str(&s);
    }
}

/// Python's json.dumps turns non-string keys into strings.
fn key_string(k: &Value) -> Result<String, CodecError> {
    Ok(match k.resolve() {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(b) => b.to_string(),
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::None => "null".into(),
        Value::Float(f) => {
            let mut s = String::new();
            write_float(&mut s, *f);
            s
        }
        other => {
            return Err(unrepresentable(&format!(
                "a {} dict key",
                other.type_name()
            )))
        }
    })
}

fn write_json(out: &mut String, v: &Value, depth: usize) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    match v.resolve() {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::SurrogateStr(b) => write_surrogate_str(out, b),
        Value::List(xs) | Value::Tuple(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, x, depth + 1)?;
            }
            out.push(']');
        }
        Value::Dict(kv) => {
            out.push('{');
            for (i, (k, x)) in kv.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, &key_string(k)?);
                out.push_str(": ");
                write_json(out, x, depth + 1)?;
            }
            out.push('}');
        }
        other => return Err(unrepresentable(other.type_name())),
    }
    Ok(())
}
