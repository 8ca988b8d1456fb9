//! A job's arguments, with accessors that fail the way Python would (`TypeError`).

use crate::{TaskError, Value};

/// Positional and keyword arguments of one call, as the producer sent them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub args: Vec<Value>,
    pub kwargs: Vec<(String, Value)>,
}

impl Args {
    pub fn new(args: Vec<Value>, kwargs: Vec<(String, Value)>) -> Self {
        Args { args, kwargs }
    }

    /// The same arguments with every container and long string behind one `Arc`
    /// ([`Value::Shared`]), so cloning them (for the task call and for the result's `a`/`k`
    /// fields) copies pointers, not a 1M-item list; reads, `==` and encodings are unchanged
    /// (pickle writes the second reference as a BINGET, as Python's result pickle does).
    pub fn into_shared(self) -> Args {
        fn share(v: Value) -> Value {
            let heavy = match &v {
                Value::Str(s) => s.len() > 64,
                Value::Bytes(b) | Value::ByteArray(b) | Value::SurrogateStr(b) => b.len() > 64,
                Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Set(_) => true,
                Value::FrozenSet(_) | Value::Object(_) => true,
                _ => false,
            };
            if heavy {
                Value::Shared(std::sync::Arc::new(v))
            } else {
                v
            }
        }
        Args {
            args: self.args.into_iter().map(share).collect(),
            kwargs: self
                .kwargs
                .into_iter()
                .map(|(k, v)| (k, share(v)))
                .collect(),
        }
    }

    /// Argument `index`, or the keyword `name` (Python lets either fill a parameter).
    pub fn get(&self, index: usize, name: &str) -> Option<&Value> {
        self.args
            .get(index)
            .or_else(|| self.kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v))
    }

    fn required(&self, func: &str, index: usize, name: &str) -> Result<&Value, TaskError> {
        self.get(index, name).ok_or_else(|| {
            TaskError::type_error(format!(
                "{func}() missing required positional argument: '{name}'"
            ))
        })
    }

    /// An integer parameter (bools count, as in Python).
    pub fn int(&self, func: &str, index: usize, name: &str) -> Result<i64, TaskError> {
        let v = self.required(func, index, name)?;
        v.as_i64().ok_or_else(|| {
            TaskError::type_error(format!(
                "{func}() argument '{name}' must be int, not {}",
                v.type_name()
            ))
        })
    }

    /// A number parameter, as f64 (ints and floats both accepted).
    pub fn number(&self, func: &str, index: usize, name: &str) -> Result<f64, TaskError> {
        let v = self.required(func, index, name)?;
        match v.resolve() {
            Value::Float(f) => Ok(*f),
            other => other.as_i64().map(|i| i as f64).ok_or_else(|| {
                TaskError::type_error(format!(
                    "{func}() argument '{name}' must be a number, not {}",
                    other.type_name()
                ))
            }),
        }
    }

    /// A string parameter.
    pub fn string(&self, func: &str, index: usize, name: &str) -> Result<String, TaskError> {
        let v = self.required(func, index, name)?;
        v.as_str().map(str::to_string).ok_or_else(|| {
            TaskError::type_error(format!(
                "{func}() argument '{name}' must be str, not {}",
                v.type_name()
            ))
        })
    }

    fn typed<'a, T>(
        &'a self,
        func: &str,
        index: usize,
        name: &str,
        want: &str,
        pick: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, TaskError> {
        let v = self.required(func, index, name)?;
        pick(v).ok_or_else(|| {
            TaskError::type_error(format!(
                "{func}() argument '{name}' must be {want}, not {}",
                v.type_name()
            ))
        })
    }

    /// A `decimal.Decimal` parameter, as its exact text (`'1.10'`, `'-0'`, `'1E+3'`, `'NaN'`).
    pub fn decimal(&self, func: &str, index: usize, name: &str) -> Result<String, TaskError> {
        self.typed(func, index, name, "Decimal", |v| {
            v.as_decimal().map(str::to_string)
        })
    }

    /// A `uuid.UUID` parameter, as its 16 bytes (big-endian, `UUID.bytes`).
    pub fn uuid(&self, func: &str, index: usize, name: &str) -> Result<[u8; 16], TaskError> {
        self.typed(func, index, name, "UUID", Value::as_uuid)
    }

    /// A `bytes` or `bytearray` parameter.
    pub fn bytes(&self, func: &str, index: usize, name: &str) -> Result<Vec<u8>, TaskError> {
        self.typed(func, index, name, "bytes", |v| {
            v.as_bytes().map(<[u8]>::to_vec)
        })
    }

    /// A `datetime.datetime`, `date` or `time` parameter (the value itself, zone and fold kept).
    pub fn temporal(&self, func: &str, index: usize, name: &str) -> Result<&Value, TaskError> {
        self.typed(func, index, name, "datetime, date or time", |v| {
            matches!(
                v.resolve(),
                Value::DateTime { .. } | Value::Date { .. } | Value::Time { .. }
            )
            .then(|| v.resolve())
        })
    }

    /// Refuses calls with more positional arguments than the function takes.
    pub fn at_most(&self, func: &str, n: usize) -> Result<(), TaskError> {
        if self.args.len() > n {
            return Err(TaskError::type_error(format!(
                "{func}() takes {n} positional arguments but {} were given",
                self.args.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_or_keyword() {
        let a = Args::new(vec![Value::Int(3)], vec![("b".into(), Value::str("x"))]);
        assert_eq!(a.int("f", 0, "a").unwrap(), 3);
        assert_eq!(a.string("f", 1, "b").unwrap(), "x");
        let err = a.int("f", 1, "b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "builtins.TypeError: f() argument 'b' must be int, not str"
        );
        assert!(a.int("f", 2, "c").is_err());
        assert!(a.at_most("f", 0).is_err());
    }

    #[test]
    fn stdlib_types() {
        let u = [7u8; 16];
        let a = Args::new(
            vec![
                Value::Decimal("1.10".into()),
                Value::Uuid(u),
                Value::Shared(std::sync::Arc::new(Value::ByteArray(vec![1, 2]))),
            ],
            vec![],
        );
        assert_eq!(a.decimal("f", 0, "d").unwrap(), "1.10");
        assert_eq!(a.uuid("f", 1, "u").unwrap(), u);
        assert_eq!(a.bytes("f", 2, "b").unwrap(), vec![1, 2]);
        assert_eq!(
            a.uuid("f", 0, "d").unwrap_err().to_string(),
            "builtins.TypeError: f() argument 'd' must be UUID, not Decimal"
        );
        assert!(a.temporal("f", 0, "d").is_err());
    }

    #[test]
    fn shared_args_clone_cheaply_and_read_the_same() {
        let big = Value::List((0..1000).map(Value::Int).collect());
        let a = Args::new(
            vec![big.clone(), Value::Int(1)],
            vec![("k".into(), big.clone())],
        );
        let shared = a.clone().into_shared();
        assert_eq!(shared, a);
        assert!(matches!(shared.args[0], Value::Shared(_)));
        assert_eq!(shared.args[1], Value::Int(1));
        let copy = shared.clone();
        match (&copy.args[0], &shared.args[0]) {
            (Value::Shared(x), Value::Shared(y)) => assert!(std::sync::Arc::ptr_eq(x, y)),
            _ => unreachable!(),
        }
    }
}
