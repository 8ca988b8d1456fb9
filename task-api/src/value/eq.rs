//! `==` on values: structural, as the derived impl would be, but looking through
//! [`Value::Shared`] (a shared subtree equals its copy) and short-cutting a reference compared
//! with itself.

use super::Value;
use std::sync::Arc;

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        if let (Value::Shared(a), Value::Shared(b)) = (self, other) {
            if Arc::ptr_eq(a, b) {
                return true;
            }
        }
        use Value as V;
        match (self.resolve(), other.resolve()) {
            (V::None, V::None) => true,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Int(a), V::Int(b)) => a == b,
            (V::BigInt(a), V::BigInt(b)) => a == b,
            (V::Float(a), V::Float(b)) => a == b,
            (V::Str(a), V::Str(b)) => a == b,
            (V::SurrogateStr(a), V::SurrogateStr(b)) => a == b,
            (V::Bytes(a), V::Bytes(b)) | (V::ByteArray(a), V::ByteArray(b)) => a == b,
            (V::List(a), V::List(b)) | (V::Tuple(a), V::Tuple(b)) => a == b,
            (V::Set(a), V::Set(b)) | (V::FrozenSet(a), V::FrozenSet(b)) => a == b,
            (V::Dict(a), V::Dict(b)) => a == b,
            (
                V::DateTime {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    microsecond,
                    fold,
                    tz,
                },
                V::DateTime {
                    year: y2,
                    month: mo2,
                    day: d2,
                    hour: h2,
                    minute: mi2,
                    second: s2,
                    microsecond: us2,
                    fold: f2,
                    tz: tz2,
                },
            ) => {
                (
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    microsecond,
                    fold,
                    tz,
                ) == (y2, mo2, d2, h2, mi2, s2, us2, f2, tz2)
            }
            (
                V::Date { year, month, day },
                V::Date {
                    year: y2,
                    month: m2,
                    day: d2,
                },
            ) => (year, month, day) == (y2, m2, d2),
            (
                V::Time {
                    hour,
                    minute,
                    second,
                    microsecond,
                    fold,
                    tz,
                },
                V::Time {
                    hour: h2,
                    minute: m2,
                    second: s2,
                    microsecond: us2,
                    fold: f2,
                    tz: tz2,
                },
            ) => (hour, minute, second, microsecond, fold, tz) == (h2, m2, s2, us2, f2, tz2),
            (
                V::TimeDelta {
                    days,
                    seconds,
                    microseconds,
                },
                V::TimeDelta {
                    days: d2,
                    seconds: s2,
                    microseconds: us2,
                },
            ) => (days, seconds, microseconds) == (d2, s2, us2),
            (V::Decimal(a), V::Decimal(b)) => a == b,
            (V::Uuid(a), V::Uuid(b)) => a == b,
            (V::Object(a), V::Object(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_equals_its_copy() {
        let row = Value::Dict(vec![(Value::str("a"), Value::Int(1))]);
        let shared = Value::Shared(Arc::new(row.clone()));
        assert_eq!(shared, row);
        assert_eq!(Value::List(vec![shared.clone()]), Value::List(vec![row]));
        assert_ne!(shared, Value::None);
        assert_ne!(Value::Bytes(vec![1]), Value::ByteArray(vec![1]));
    }
}
