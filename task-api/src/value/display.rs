//! Python-`repr`-like rendering, used in logs and in the messages of failed results.

use super::{TzInfo, Value};
use std::fmt;

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

fn bytes_repr(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    f.write_str("b'")?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\'' => f.write_str("\\'")?,
            0x20..=0x7e => write!(f, "{}", c as char)?,
            _ => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_str("'")
}

fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Value], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(close)
}

fn offset(f: &mut fmt::Formatter<'_>, off: i32) -> fmt::Result {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)?;
    if !a.is_multiple_of(60) {
        write!(f, ":{:02}", a % 60)?;
    }
    Ok(())
}

fn zone(f: &mut fmt::Formatter<'_>, tz: &Option<Box<TzInfo>>) -> fmt::Result {
    match tz.as_deref() {
        None => Ok(()),
        Some(TzInfo::Fixed { offset_s, name }) => {
            offset(f, *offset_s)?;
            match name {
                Some(n) => write!(f, " ({n})"),
                None => Ok(()),
            }
        }
        Some(TzInfo::Zone(key)) => write!(f, "[{key}]"),
    }
}

fn clock(f: &mut fmt::Formatter<'_>, h: u8, m: u8, s: u8, us: u32) -> fmt::Result {
    write!(f, "{h:02}:{m:02}:{s:02}")?;
    if us != 0 {
        write!(f, ".{us:06}")?;
    }
    Ok(())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            Value::SurrogateStr(b) => f.write_str(&py_repr(&String::from_utf8_lossy(b))),
            Value::Bytes(b) => bytes_repr(f, b),
            Value::ByteArray(b) => {
                f.write_str("bytearray(")?;
                bytes_repr(f, b)?;
                f.write_str(")")
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
                fold,
                tz,
            } => {
                write!(f, "{year:04}-{month:02}-{day:02}T")?;
                clock(f, *hour, *minute, *second, *microsecond)?;
                zone(f, tz)?;
                if *fold {
                    f.write_str(" fold=1")?;
                }
                Ok(())
            }
            Value::Date { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
            Value::Time {
                hour,
                minute,
                second,
                microsecond,
                fold,
                tz,
            } => {
                clock(f, *hour, *minute, *second, *microsecond)?;
                zone(f, tz)?;
                if *fold {
                    f.write_str(" fold=1")?;
                }
                Ok(())
            }
            Value::TimeDelta {
                days,
                seconds,
                microseconds,
            } => write!(
                f,
                "timedelta(days={days}, seconds={seconds}, microseconds={microseconds})"
            ),
            Value::Decimal(d) => write!(f, "Decimal('{d}')"),
            Value::Uuid(u) => {
                f.write_str("UUID('")?;
                for (i, b) in u.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                f.write_str("')")
            }
            Value::Object(o) => {
                write!(f, "{}", o.name)?;
                seq(f, "(", &o.args, ")")
            }
            Value::Shared(v) => write!(f, "{v}"),
        }
    }
}

/// A `fmt::Write` that keeps the first `max` bytes and then stops the formatter.
struct Prefix {
    out: String,
    max: usize,
}

impl fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max - self.out.len();
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

impl Value {
    /// The first `max` bytes of the repr, and whether it was cut; formatting stops there, so
    /// a log line of `['x' * 1_000_000] * 100` costs `max` bytes, not 100 MB.
    pub fn repr_prefix(&self, max: usize) -> (String, bool) {
        use fmt::Write;
        let mut w = Prefix {
            out: String::new(),
            max,
        };
        let cut = write!(w, "{self}").is_err();
        (w.out, cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn prefix_stops_early() {
        let big = Value::Shared(Arc::new(Value::str("x".repeat(1_000_000))));
        let v = Value::List(vec![big; 100]);
        let (s, cut) = v.repr_prefix(10);
        assert_eq!(s, "['xxxxxxxx");
        assert!(cut);
        assert_eq!(Value::Int(5).repr_prefix(10), ("5".to_string(), false));
    }
}
