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
        match v {
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
}
