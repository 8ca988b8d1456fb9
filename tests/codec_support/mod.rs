//! The tagged value format of tests/vectors/ (README.md there, and generate_types.py for the
//! stdlib types), shared by the codec vector tests.
#![allow(dead_code)]

use lyanna_task_api::{PyObject, TzInfo, Value};
use num_bigint::BigInt;
use serde_json::Value as J;

pub fn load(name: &str) -> Vec<J> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn tz(v: &J) -> Option<Box<TzInfo>> {
    match v {
        J::Null => None,
        J::Object(o) if o.contains_key("zone") => {
            Some(Box::new(TzInfo::Zone(o["zone"].as_str().unwrap().into())))
        }
        J::Object(o) => Some(Box::new(TzInfo::Fixed {
            offset_s: o["offset_s"].as_i64().unwrap() as i32,
            name: o["name"].as_str().map(str::to_string),
        })),
        _ => panic!("bad tz {v}"),
    }
}

pub fn tagged(j: &J) -> Value {
    let (tag, v) = j.as_object().unwrap().iter().next().unwrap();
    let list = |v: &J| v.as_array().unwrap().iter().map(tagged).collect::<Vec<_>>();
    let int = |v: &J, k: &str| v[k].as_i64().unwrap();
    let fold = |v: &J| v["fold"].as_i64() == Some(1);
    match tag.as_str() {
        "none" => Value::None,
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "int" => Value::big(v.as_str().unwrap().parse::<BigInt>().unwrap()),
        "float" => Value::Float(match v {
            J::String(s) if s == "nan" => f64::NAN,
            J::String(s) if s == "inf" => f64::INFINITY,
            J::String(s) if s == "-inf" => f64::NEG_INFINITY,
            other => other.as_f64().unwrap(),
        }),
        "str" => Value::Str(v.as_str().unwrap().to_string()),
        "strs" => Value::SurrogateStr(hex(v.as_str().unwrap())),
        "bytes" => Value::Bytes(hex(v.as_str().unwrap())),
        "bytearray" => Value::ByteArray(hex(v.as_str().unwrap())),
        "list" => Value::List(list(v)),
        "tuple" => Value::Tuple(list(v)),
        "set" => Value::Set(list(v)),
        "frozenset" => Value::FrozenSet(list(v)),
        "dict" => Value::Dict(
            v.as_array()
                .unwrap()
                .iter()
                .map(|kv| (tagged(&kv[0]), tagged(&kv[1])))
                .collect(),
        ),
        "datetime" => Value::DateTime {
            year: int(v, "year") as u16,
            month: int(v, "month") as u8,
            day: int(v, "day") as u8,
            hour: int(v, "hour") as u8,
            minute: int(v, "minute") as u8,
            second: int(v, "second") as u8,
            microsecond: int(v, "microsecond") as u32,
            fold: fold(v),
            tz: match v.get("utc_offset_s") {
                Some(off) => off.as_i64().map(|o| TzInfo::fixed(o as i32)),
                None => tz(&v["tz"]),
            },
        },
        "time" => Value::Time {
            hour: int(v, "hour") as u8,
            minute: int(v, "minute") as u8,
            second: int(v, "second") as u8,
            microsecond: int(v, "microsecond") as u32,
            fold: fold(v),
            tz: tz(&v["tz"]),
        },
        "date" => Value::Date {
            year: int(v, "year") as u16,
            month: int(v, "month") as u8,
            day: int(v, "day") as u8,
        },
        "timedelta" => Value::TimeDelta {
            days: int(v, "days"),
            seconds: int(v, "seconds") as i32,
            microseconds: int(v, "microseconds") as i32,
        },
        "decimal" => Value::Decimal(v.as_str().unwrap().to_string()),
        "uuid" => Value::Uuid(hex(v.as_str().unwrap()).try_into().unwrap()),
        "object" => Value::object(PyObject::new(
            v["module"].as_str().unwrap(),
            v["name"].as_str().unwrap(),
            list(&v["args"]),
        )),
        other => panic!("unknown tag {other}"),
    }
}

/// Sets compare without order; NaN equals NaN (vectors hold NaN on purpose); shared
/// references compare as copies.
pub fn normalise(v: &Value) -> Value {
    match v.resolve() {
        Value::Float(f) if f.is_nan() => Value::Str("<nan>".into()),
        Value::List(xs) => Value::List(xs.iter().map(normalise).collect()),
        Value::Tuple(xs) => Value::Tuple(xs.iter().map(normalise).collect()),
        r @ (Value::Set(xs) | Value::FrozenSet(xs)) => {
            let mut items: Vec<Value> = xs.iter().map(normalise).collect();
            items.sort_by_key(|x| x.to_string());
            if matches!(r, Value::Set(_)) {
                Value::Set(items)
            } else {
                Value::FrozenSet(items)
            }
        }
        Value::Dict(kv) => Value::Dict(
            kv.iter()
                .map(|(k, v)| (normalise(k), normalise(v)))
                .collect(),
        ),
        Value::Object(o) => Value::object(PyObject {
            args: o.args.iter().map(normalise).collect(),
            ..(**o).clone()
        }),
        other => other.clone(),
    }
}
