//! The job and result maps arq serializes (`serialize_job`, `serialize_result`).

use crate::codec::{fields_value, Field};
use lyanna_task_api::{Args, Value};

/// `{t, f, a, k, et}`: what a producer stores under `arq:job:{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `_job_try` given at enqueue (re-enqueue from inside a job), usually None.
    pub job_try: Option<i64>,
    pub function: String,
    pub args: Args,
    pub enqueue_time_ms: i64,
}

/// `{t, f, a, k, et, s, r, st, ft, q, id}`: what a worker stores under `arq:result:{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    pub job_try: i64,
    pub function: String,
    pub args: Args,
    pub enqueue_time_ms: i64,
    pub success: bool,
    pub result: Value,
    pub start_ms: i64,
    pub finish_ms: i64,
    pub queue_name: String,
    pub job_id: String,
}

/// Why a decoded payload is not a job (arq raises `DeserializationError` for these).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not an arq job: {0}")]
pub struct FormatError(pub String);

impl Job {
    /// The map's fields in arq's order (`serialize_job`).
    pub fn fields(&self) -> [(&'static str, Field<'_>); 5] {
        [
            (
                "t",
                self.job_try.map_or(Field::Value(&Value::None), Field::Int),
            ),
            ("f", Field::Str(&self.function)),
            ("a", Field::Tuple(&self.args.args)),
            ("k", Field::StrDict(&self.args.kwargs)),
            ("et", Field::Int(self.enqueue_time_ms)),
        ]
    }

    pub fn to_value(&self) -> Value {
        fields_value(&self.fields())
    }

    pub fn from_value(v: Value) -> Result<Job, FormatError> {
        let Value::Dict(items) = v else {
            return Err(FormatError(format!(
                "expected a dict, got {}",
                v.type_name()
            )));
        };
        let mut f = Fields::new(items);
        let function = match f.take("f")? {
            Value::Str(s) => s,
            other => {
                return Err(FormatError(format!(
                    "'f' is {}, not str",
                    other.type_name()
                )))
            }
        };
        let args = parse_args(f.take("a")?, f.take("k")?)?;
        let job_try = match f.take("t")? {
            Value::None => None,
            other => Some(int_field("t", &other)?),
        };
        let enqueue_time_ms = int_field("et", &f.take("et")?)?;
        Ok(Job {
            job_try,
            function,
            args,
            enqueue_time_ms,
        })
    }
}

/// A result map's parts, borrowed from where they live (the worker writes one per job, from
/// what it knows of the job: nothing is copied to encode it).
#[derive(Debug, Clone, Copy)]
pub struct ResultRef<'a> {
    pub job_try: i64,
    pub function: &'a str,
    pub args: &'a Args,
    pub enqueue_time_ms: i64,
    pub success: bool,
    pub result: &'a Value,
    pub start_ms: i64,
    pub finish_ms: i64,
    pub queue_name: &'a str,
    pub job_id: &'a str,
}

impl<'a> ResultRef<'a> {
    /// The map's fields in arq's order (`serialize_result`).
    pub fn fields(&self) -> [(&'static str, Field<'a>); 11] {
        [
            ("t", Field::Int(self.job_try)),
            ("f", Field::Str(self.function)),
            ("a", Field::Tuple(&self.args.args)),
            ("k", Field::StrDict(&self.args.kwargs)),
            ("et", Field::Int(self.enqueue_time_ms)),
            ("s", Field::Bool(self.success)),
            ("r", Field::Value(self.result)),
            ("st", Field::Int(self.start_ms)),
            ("ft", Field::Int(self.finish_ms)),
            ("q", Field::Str(self.queue_name)),
            ("id", Field::Str(self.job_id)),
        ]
    }
}

impl JobResult {
    pub fn as_ref(&self) -> ResultRef<'_> {
        ResultRef {
            job_try: self.job_try,
            function: &self.function,
            args: &self.args,
            enqueue_time_ms: self.enqueue_time_ms,
            success: self.success,
            result: &self.result,
            start_ms: self.start_ms,
            finish_ms: self.finish_ms,
            queue_name: &self.queue_name,
            job_id: &self.job_id,
        }
    }

    pub fn to_value(&self) -> Value {
        fields_value(&self.as_ref().fields())
    }

    /// Reads a result; `q` and `id` are optional, as in arq (older workers did not write them).
    pub fn from_value(v: Value) -> Result<JobResult, FormatError> {
        let Value::Dict(items) = v else {
            return Err(FormatError(format!(
                "expected a dict, got {}",
                v.type_name()
            )));
        };
        let mut f = Fields::new(items);
        let function = f.take("f")?.as_str().unwrap_or("<unknown>").to_string();
        let args = parse_args(f.take("a")?, f.take("k")?)?;
        let text = |v: Option<Value>| match v {
            Some(Value::Str(s)) => s,
            _ => "<unknown>".to_string(),
        };
        Ok(JobResult {
            job_try: int_field("t", &f.take("t")?)?,
            function,
            args,
            enqueue_time_ms: int_field("et", &f.take("et")?)?,
            success: matches!(f.take("s")?, Value::Bool(true)),
            result: f.take("r")?,
            start_ms: int_field("st", &f.take("st")?)?,
            finish_ms: int_field("ft", &f.take("ft")?)?,
            queue_name: text(f.take_opt("q")),
            job_id: text(f.take_opt("id")),
        })
    }
}

struct Fields(Vec<(Value, Value)>);

impl Fields {
    fn new(items: Vec<(Value, Value)>) -> Self {
        Fields(items)
    }
    fn take_opt(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k.as_str() == Some(name))?;
        // A field the payload also refers to elsewhere (a task returning its own args tuple)
        // arrives shared; the job and result fields are read as plain values.
        Some(self.0.swap_remove(i).1.into_resolved())
    }
    fn take(&mut self, name: &str) -> Result<Value, FormatError> {
        self.take_opt(name)
            .ok_or_else(|| FormatError(format!("missing field {name:?}")))
    }
}

fn int_field(name: &str, v: &Value) -> Result<i64, FormatError> {
    match v {
        Value::Int(i) => Ok(*i),
        // msgpack/JSON producers may write float timestamps.
        Value::Float(f) if f.is_finite() => Ok(f.round() as i64),
        other => Err(FormatError(format!(
            "{name:?} is {}, not int",
            other.type_name()
        ))),
    }
}

fn parse_args(a: Value, k: Value) -> Result<Args, FormatError> {
    let args = match a {
        Value::Tuple(v) | Value::List(v) => v,
        other => {
            return Err(FormatError(format!(
                "'a' is {}, not a sequence",
                other.type_name()
            )))
        }
    };
    let kwargs = match k {
        Value::Dict(kv) => kv
            .into_iter()
            .map(|(k, v)| match k.into_resolved() {
                Value::Str(s) => Ok((s, v)),
                other => Err(FormatError(format!(
                    "keyword names must be str, got {}",
                    other.type_name()
                ))),
            })
            .collect::<Result<_, _>>()?,
        Value::None => Vec::new(),
        other => {
            return Err(FormatError(format!(
                "'k' is {}, not a dict",
                other.type_name()
            )))
        }
    };
    Ok(Args { args, kwargs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_round_trip_and_errors() {
        let job = Job {
            job_try: None,
            function: "echo".into(),
            args: Args::new(vec![Value::Int(1)], vec![("k".into(), Value::str("v"))]),
            enqueue_time_ms: 1_700_000_000_123,
        };
        assert_eq!(Job::from_value(job.to_value()).unwrap(), job);
        assert!(Job::from_value(Value::Int(3)).is_err());
        assert!(Job::from_value(Value::Dict(vec![])).is_err());
    }
}
