//! msgpack as Python's `msgpack.packb` / `unpackb(raw=False)` write and read it: tuples become
//! arrays, str is str, bytes and bytearray are bin (read back as bytes); sets, datetimes,
//! `Decimal`, `UUID`, str with lone surrogates and objects cannot be packed (Python's
//! `msgpack.packb` refuses them too). Shared references are written out in full.

use super::limits::{expanded_size, DecodeLimits};
use super::size_scan::charge_msgpack;
use super::{CodecError, MAX_DEPTH};
use lyanna_task_api::Value;
use num_bigint::BigInt;
use rmpv::Value as Mp;

fn unrepresentable(what: &str) -> CodecError {
    CodecError::Unrepresentable {
        codec: "msgpack",
        what: what.to_string(),
    }
}

pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with(bytes, &DecodeLimits::default())
}

/// Decodes, refusing (before parsing) a document whose decoded size would pass its budget.
pub fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Value, CodecError> {
    charge_msgpack(bytes, &mut limits.budget(bytes.len()))?;
    let mut rd = bytes;
    let v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|e| CodecError::Malformed(format!("msgpack: {e}")))?;
    if !rd.is_empty() {
        return Err(CodecError::Malformed(format!(
            "msgpack: {} bytes after the value",
            rd.len()
        )));
    }
    from_mp(v)
}

fn from_mp(v: Mp) -> Result<Value, CodecError> {
    Ok(match v {
        Mp::Nil => Value::None,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match i.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::big(BigInt::from(i.as_u64().unwrap_or_default())),
        },
        Mp::F32(f) => Value::Float(f64::from(f)),
        Mp::F64(f) => Value::Float(f),
        Mp::String(s) => match s.into_str() {
            Some(s) => Value::Str(s),
            None => {
                return Err(CodecError::Malformed(
                    "msgpack: invalid UTF-8 in str".into(),
                ))
            }
        },
        Mp::Binary(b) => Value::Bytes(b),
        Mp::Array(items) => Value::List(items.into_iter().map(from_mp).collect::<Result<_, _>>()?),
        Mp::Map(kv) => Value::Dict(
            kv.into_iter()
                .map(|(k, v)| Ok((from_mp(k)?, from_mp(v)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        Mp::Ext(t, _) => {
            return Err(CodecError::Malformed(format!(
                "msgpack: extension type {t}"
            )))
        }
    })
}

fn to_mp(v: &Value) -> Result<Mp, CodecError> {
    Ok(match v.resolve() {
        Value::None => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Int(i) if *i >= 0 => Mp::from(*i as u64),
        Value::Int(i) => Mp::from(*i),
        Value::BigInt(b) => match u64::try_from(&**b) {
            Ok(u) => Mp::from(u),
            Err(_) => return Err(unrepresentable("an integer outside 64 bits")),
        },
        Value::Float(f) => Mp::F64(*f),
        Value::Str(s) => Mp::String(s.as_str().into()),
        Value::Bytes(b) | Value::ByteArray(b) => Mp::Binary(b.clone()),
        Value::List(xs) | Value::Tuple(xs) => {
            Mp::Array(xs.iter().map(to_mp).collect::<Result<_, _>>()?)
        }
        Value::Dict(kv) => Mp::Map(
            kv.iter()
                .map(|(k, v)| Ok((to_mp(k)?, to_mp(v)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        other => return Err(unrepresentable(other.type_name())),
    })
}

pub fn encode(v: &Value) -> Result<Vec<u8>, CodecError> {
    encode_within(v, usize::MAX)
}

/// Encodes, refusing (before building anything) a value whose encoding would pass
/// `max_bytes`.
pub fn encode_within(v: &Value, max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    if expanded_size(v) > max_bytes as u64 {
        return Err(CodecError::OverBudget {
            limit: max_bytes,
            what: "encoded bytes",
        });
    }
    let mp = to_mp(v)?;
    let mut out = Vec::with_capacity(64);
    rmpv::encode::write_value(&mut out, &mp)
        .map_err(|e| CodecError::Malformed(format!("msgpack: {e}")))?;
    Ok(out)
}
