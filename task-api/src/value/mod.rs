//! The value model every codec decodes into and encodes from.
//!
//! It is the safe subset of Python objects arq jobs carry: scalars, containers, the stdlib
//! values web apps send every day (dates and times with their zone and fold, `Decimal`,
//! `UUID`, `bytearray`), and exception-like objects (`module.Name(*args)`), which failure
//! results need. Dicts keep insertion order and allow any key, as Python's do.
//!
//! A payload that refers to one object several times (pickle's memo: `[row] * 5000`) decodes
//! to [`Value::Shared`] nodes pointing at one copy; every accessor, `==` and `Display` see
//! through them, and the pickle encoder writes them back as references, as Python does.

mod display;
mod eq;

pub use display::py_repr;

use num_bigint::BigInt;
use std::sync::Arc;

/// A decoded job argument or result.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside `i64` (Python ints have no bound).
    BigInt(Box<BigInt>),
    Float(f64),
    Str(String),
    /// A `str` holding lone surrogates (`'\ud83d'`), which Rust strings cannot: its UTF-8
    /// with each surrogate as a 3-byte sequence (Python's `surrogatepass`), as pickle carries it.
    SurrogateStr(Vec<u8>),
    Bytes(Vec<u8>),
    /// `bytearray` (Python keeps it apart from `bytes`; so do we).
    ByteArray(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    FrozenSet(Vec<Value>),
    /// `datetime.datetime`; `tz` is `None` for a naive datetime. `fold` is PEP 495's (0/1).
    DateTime {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        fold: bool,
        tz: Option<Box<TzInfo>>,
    },
    /// `datetime.date`.
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    /// `datetime.time`, with its zone and fold as for datetimes.
    Time {
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        fold: bool,
        tz: Option<Box<TzInfo>>,
    },
    /// `datetime.timedelta`, normalised as Python does (0 <= seconds < 86400, 0 <= us < 1e6).
    TimeDelta {
        days: i64,
        seconds: i32,
        microseconds: i32,
    },
    /// `decimal.Decimal`, exactly: the text `str(d)` gives (`'1.10'`, `'-0'`, `'1E+3'`,
    /// `'NaN'`), which is also what Python pickles.
    Decimal(String),
    /// `uuid.UUID`, its 16 bytes big-endian (`UUID.bytes`).
    Uuid([u8; 16]),
    /// Any other Python object built by calling a global: exceptions in results, and (when
    /// reading results back for display only) opaque objects.
    Object(Box<PyObject>),
    /// One value the payload refers to more than once; reads and compares as the value.
    Shared(Arc<Value>),
}

/// The `tzinfo` of a datetime or time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TzInfo {
    /// `datetime.timezone(timedelta(seconds=offset_s), name)` (`timezone.utc` is offset 0,
    /// no name).
    Fixed { offset_s: i32, name: Option<String> },
    /// `zoneinfo.ZoneInfo(key)`, e.g. `Europe/Berlin`.
    Zone(String),
}

impl TzInfo {
    pub fn utc() -> Box<TzInfo> {
        Box::new(TzInfo::Fixed {
            offset_s: 0,
            name: None,
        })
    }
    pub fn fixed(offset_s: i32) -> Box<TzInfo> {
        Box::new(TzInfo::Fixed {
            offset_s,
            name: None,
        })
    }
}

/// `module.name(*args)`, optionally with a `__dict__`-like state applied after construction.
#[derive(Debug, Clone, PartialEq)]
pub struct PyObject {
    pub module: String,
    pub name: String,
    pub args: Vec<Value>,
    pub state: Option<Box<Value>>,
}

impl PyObject {
    pub fn new(module: impl Into<String>, name: impl Into<String>, args: Vec<Value>) -> Self {
        PyObject {
            module: module.into(),
            name: name.into(),
            args,
            state: None,
        }
    }

    /// `module.Name`, as Python prints a class's qualified name.
    pub fn class_path(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }

    /// The message of an exception: its single string argument, or its args joined.
    pub fn message(&self) -> String {
        match self.args.as_slice() {
            [] => String::new(),
            [one] => match one.resolve() {
                Value::Str(s) => s.clone(),
                other => other.to_string(),
            },
            many => Value::Tuple(many.to_vec()).to_string(),
        }
    }
}

impl Value {
    /// A Python exception object `module.name(message)`.
    pub fn exception(module: &str, name: &str, message: impl Into<String>) -> Value {
        Value::object(PyObject::new(
            module,
            name,
            vec![Value::Str(message.into())],
        ))
    }

    pub fn object(o: PyObject) -> Value {
        Value::Object(Box::new(o))
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn big(i: BigInt) -> Value {
        match i64::try_from(&i) {
            Ok(small) => Value::Int(small),
            Err(_) => Value::BigInt(Box::new(i)),
        }
    }

    /// A naive or aware datetime with fold 0.
    #[allow(clippy::too_many_arguments)]
    pub fn datetime(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        tz: Option<Box<TzInfo>>,
    ) -> Value {
        Value::DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond,
            fold: false,
            tz,
        }
    }

    /// The value itself, looking through [`Value::Shared`] references.
    pub fn resolve(&self) -> &Value {
        let mut v = self;
        while let Value::Shared(inner) = v {
            v = inner;
        }
        v
    }

    /// The value by ownership, copying a shared one only if another reference remains.
    pub fn into_resolved(self) -> Value {
        match self {
            Value::Shared(arc) => Arc::try_unwrap(arc)
                .unwrap_or_else(|a| (*a).clone())
                .into_resolved(),
            v => v,
        }
    }

    /// The Python type name, for error messages (`TypeError: expected int, got str`).
    pub fn type_name(&self) -> &'static str {
        match self.resolve() {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) | Value::SurrogateStr(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::DateTime { .. } => "datetime",
            Value::Date { .. } => "date",
            Value::Time { .. } => "time",
            Value::TimeDelta { .. } => "timedelta",
            Value::Decimal(_) => "Decimal",
            Value::Uuid(_) => "UUID",
            Value::Object(_) => "object",
            Value::Shared(_) => "object",
        }
    }

    /// Looks a string key up in a dict (arq's job and result maps are keyed by short strings).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.resolve() {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.resolve() {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.resolve() {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Elements of a list or tuple (arq's positional args arrive as either, by codec).
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self.resolve() {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Key/value pairs of a dict.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self.resolve() {
            Value::Dict(kv) => Some(kv),
            _ => None,
        }
    }

    /// The contents of `bytes` or `bytearray`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self.resolve() {
            Value::Bytes(b) | Value::ByteArray(b) => Some(b),
            _ => None,
        }
    }

    /// The exact text of a `Decimal`.
    pub fn as_decimal(&self) -> Option<&str> {
        match self.resolve() {
            Value::Decimal(d) => Some(d),
            _ => None,
        }
    }

    /// The 16 bytes of a `UUID`.
    pub fn as_uuid(&self) -> Option<[u8; 16]> {
        match self.resolve() {
            Value::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The tzinfo of an aware datetime or time.
    pub fn tzinfo(&self) -> Option<&TzInfo> {
        match self.resolve() {
            Value::DateTime { tz, .. } | Value::Time { tz, .. } => tz.as_deref(),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
