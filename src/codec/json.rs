//! JSON, as a queue configured with `json.dumps` / `json.loads` uses it. Tuples are arrays,
//! dict keys become strings the way Python's `json.dumps` makes them; bytes, sets, datetimes and
//! objects cannot be represented (Python's encoder refuses them too).

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
                Value::BigInt(BigInt::from(u))
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
    let mut out = String::with_capacity(64);
    write_json(&mut out, v, 0)?;
    Ok(out.into_bytes())
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
    Ok(match k {
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
    match v {
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
