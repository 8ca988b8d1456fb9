//! The value model every codec decodes into and encodes from.
//!
//! It is the safe subset of Python objects arq jobs carry: scalars, containers, dates and
//! times, and exception-like objects (`module.Name(*args)`), which failure results need.
//! Dicts keep insertion order and allow any key, as Python's do.

use num_bigint::BigInt;
use std::fmt;

/// A decoded job argument or result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside `i64` (Python ints have no bound).
    BigInt(BigInt),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    FrozenSet(Vec<Value>),
    /// `datetime.datetime`; `utc_offset_s` is `None` for a naive datetime.
    DateTime {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        utc_offset_s: Option<i32>,
    },
    /// `datetime.date`.
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    /// `datetime.timedelta`, normalised as Python does (0 <= seconds < 86400, 0 <= us < 1e6).
    TimeDelta {
        days: i64,
        seconds: i32,
        microseconds: i32,
    },
    /// Any other Python object built by calling a global: exceptions in results, and (when
    /// reading results back for display only) opaque objects.
    Object(PyObject),
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
            [Value::Str(s)] => s.clone(),
            [one] => one.to_string(),
            many => Value::Tuple(many.to_vec()).to_string(),
        }
    }
}

impl Value {
    /// A Python exception object `module.name(message)`.
    pub fn exception(module: &str, name: &str, message: impl Into<String>) -> Value {
        Value::Object(PyObject::new(
            module,
            name,
            vec![Value::Str(message.into())],
        ))
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The Python type name, for error messages (`TypeError: expected int, got str`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::DateTime { .. } => "datetime",
            Value::Date { .. } => "date",
            Value::TimeDelta { .. } => "timedelta",
            Value::Object(_) => "object",
        }
    }

    /// Looks a string key up in a dict (arq's job and result maps are keyed by short strings).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Elements of a list or tuple (arq's positional args arrive as either, by codec).
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
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

/// Python's `repr()` of a str (single quotes unless the text holds one and no double quote).
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python-`repr`-like rendering, used in logs and in the messages of failed results.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(
            f: &mut fmt::Formatter<'_>,
            open: &str,
            items: &[Value],
            close: &str,
        ) -> fmt::Result {
            f.write_str(open)?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str(close)
        }
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Str(s) => f.write_str(&py_repr(s)),
            Value::Bytes(b) => {
                let text: String = b
                    .iter()
                    .map(|&c| match c {
                        b'\\' => "\\\\".to_string(),
                        b'\'' => "\\'".to_string(),
                        0x20..=0x7e => (c as char).to_string(),
                        _ => format!("\\x{c:02x}"),
                    })
                    .collect();
                write!(f, "b'{text}'")
            }
            Value::List(v) => seq(f, "[", v, "]"),
            Value::Tuple(v) if v.len() == 1 => write!(f, "({},)", v[0]),
            Value::Tuple(v) => seq(f, "(", v, ")"),
            Value::Set(v) => seq(f, "{", v, "}"),
            Value::FrozenSet(v) => seq(f, "frozenset({", v, "})"),
            Value::Dict(items) => {
                f.write_str("{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
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
                write!(
                    f,
                    "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
                )?;
                if *microsecond != 0 {
                    write!(f, ".{microsecond:06}")?;
                }
                if let Some(off) = utc_offset_s {
                    let sign = if *off < 0 { '-' } else { '+' };
                    let a = off.unsigned_abs();
                    write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)?;
                }
                Ok(())
            }
            Value::Date { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
            Value::TimeDelta {
                days,
                seconds,
                microseconds,
            } => write!(
                f,
                "timedelta(days={days}, seconds={seconds}, microseconds={microseconds})"
            ),
            Value::Object(o) => {
                write!(f, "{}", o.name)?;
                seq(f, "(", &o.args, ")")
            }
        }
    }
}
