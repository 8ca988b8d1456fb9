//! The maps the worker writes for every job (arq's result map), as borrowed fields: the
//! codecs write them from these without first building, and then dropping, a [`Value`] tree
//! that copies the job's arguments and result.

use lyanna_task_api::Value;

/// One value of a str-keyed map, borrowed from where it lives.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Int(i64),
    Bool(bool),
    Str(&'a str),
    /// A tuple of these items (arq's `a`).
    Tuple(&'a [Value]),
    /// A dict with these str keys (arq's `k`).
    StrDict(&'a [(String, Value)]),
    Value(&'a Value),
}

impl Field<'_> {
    /// The value this field stands for.
    pub fn to_value(self) -> Value {
        match self {
            Field::Int(i) => Value::Int(i),
            Field::Bool(b) => Value::Bool(b),
            Field::Str(s) => Value::Str(s.to_string()),
            Field::Tuple(items) => Value::Tuple(items.to_vec()),
            Field::StrDict(kv) => Value::Dict(
                kv.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                    .collect(),
            ),
            Field::Value(v) => v.clone(),
        }
    }
}

/// The dict `fields` stand for, keys in order.
pub fn fields_value(fields: &[(&str, Field<'_>)]) -> Value {
    Value::Dict(
        fields
            .iter()
            .map(|(k, f)| (Value::Str((*k).to_string()), f.to_value()))
            .collect(),
    )
}
