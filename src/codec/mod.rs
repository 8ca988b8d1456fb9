//! Codecs: bytes <-> [`Value`], pure and I/O-free.
//!
//! arq lets every queue pick its serializer; all workers and producers of a queue must agree.
//! Pickle is arq's default (and lyanna's); msgpack and JSON are the common alternatives.

mod fields;
mod job;
pub mod json;
pub mod limits;
pub mod msgpack;
pub mod pickle;
mod size_scan;

pub use fields::{fields_value, Field};
pub use job::decode_job;
pub use limits::{Budget, DecodeLimits};

use lyanna_task_api::{PyObject, Value};

/// Largest payload we decode or encode (arq has no limit; a runaway value must not take the
/// worker's memory with it).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Deepest nesting of containers we build (dropping deeper trees could exhaust the stack).
pub const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("payload ended early")]
    Truncated,
    #[error("payload of {0} bytes is larger than the {MAX_PAYLOAD_BYTES} byte limit")]
    TooLarge(usize),
    #[error("values nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {at}")]
    UnsupportedOpcode { opcode: u8, at: usize },
    #[error("refusing to load global {module}.{name}: jobs may only carry the datetime types, Decimal, UUID, ZoneInfo and builtin containers")]
    ForbiddenGlobal { module: String, name: String },
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("{codec} cannot represent {what}")]
    Unrepresentable { codec: &'static str, what: String },
    #[error("refused: the payload needs more than its budget of {limit} {what}")]
    OverBudget { limit: usize, what: &'static str },
}

/// How pickle treats globals other than the datetime family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Globals {
    /// Job payloads: refuse (no code is ever run, and no unknown class is trusted).
    Refuse,
    /// Results read back for display: keep as opaque `module.Name(args)` objects.
    Opaque,
}

/// A queue's serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pickle,
    Msgpack,
    Json,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pickle" => Ok(Codec::Pickle),
            "msgpack" => Ok(Codec::Msgpack),
            "json" => Ok(Codec::Json),
            other => Err(format!(
                "unknown codec {other:?} (expected pickle, msgpack or json)"
            )),
        }
    }
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pickle => "pickle",
            Codec::Msgpack => "msgpack",
            Codec::Json => "json",
        }
    }

    pub fn encode(self, value: &Value) -> Result<Vec<u8>, CodecError> {
        let out = match self {
            Codec::Pickle => pickle::encode(value)?,
            Codec::Msgpack => msgpack::encode(value)?,
            Codec::Json => json::encode(value)?,
        };
        if out.len() > MAX_PAYLOAD_BYTES {
            return Err(CodecError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// Encodes the dict `fields` stand for: what `encode(&fields_value(fields))` writes,
    /// byte for byte, but pickle writes it straight from the borrowed fields.
    pub fn encode_fields(self, fields: &[(&str, Field<'_>)]) -> Result<Vec<u8>, CodecError> {
        let out = match self {
            Codec::Pickle => pickle::encode_fields(fields)?,
            Codec::Msgpack | Codec::Json => return self.encode(&fields_value(fields)),
        };
        if out.len() > MAX_PAYLOAD_BYTES {
            return Err(CodecError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// Decodes with the default [`DecodeLimits`].
    pub fn decode(self, bytes: &[u8], globals: Globals) -> Result<Value, CodecError> {
        self.decode_with(bytes, globals, &DecodeLimits::default())
    }

    /// Decodes within `limits` (checked while decoding, before each allocation).
    pub fn decode_with(
        self,
        bytes: &[u8],
        globals: Globals,
        limits: &DecodeLimits,
    ) -> Result<Value, CodecError> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(CodecError::TooLarge(bytes.len()));
        }
        match self {
            Codec::Pickle => pickle::decode_with(bytes, globals, limits),
            Codec::Msgpack => msgpack::decode_with(bytes, limits),
            Codec::Json => json::decode_with(bytes, limits),
        }
    }

    /// Encodes, refusing once the output would pass `max_bytes`.
    pub fn encode_within(self, value: &Value, max_bytes: usize) -> Result<Vec<u8>, CodecError> {
        let max = max_bytes.min(MAX_PAYLOAD_BYTES);
        let out = match self {
            Codec::Pickle => pickle::encode_within(value, max)?,
            Codec::Msgpack => msgpack::encode_within(value, max)?,
            Codec::Json => json::encode_within(value, max)?,
        };
        if out.len() > max {
            return Err(CodecError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// The `r` field of a failure result: the exception itself where the codec can carry it
    /// (pickle, so Python's `job.result()` re-raises it), else its message, which Python's
    /// client raises as `SerializationError(message)` (arq itself stores
    /// "unable to serialize result" there; a message says more).
    pub fn exception_value(self, exc: &PyObject) -> Value {
        match self {
            Codec::Pickle => Value::object(exc.clone()),
            Codec::Msgpack | Codec::Json => {
                let msg = exc.message();
                if msg.is_empty() {
                    Value::Str(exc.name.clone())
                } else {
                    Value::Str(format!("{}: {msg}", exc.name))
                }
            }
        }
    }
}
