//! Byte-exact vectors written by the real Python pickle/msgpack/arq (tests/vectors/): every
//! vector decodes to its value, and every vector Python wrote without shared references is
//! re-encoded to the same bytes.

use lyanna_task_api::{PyObject, Value};
use lyanna_worker::codec::{Codec, Globals};
use lyanna_worker::protocol::cron::{job_id, next_run, CronTz};
use lyanna_worker::protocol::job::{Job, JobResult};
use num_bigint::BigInt;
use serde_json::Value as J;

fn load(name: &str) -> Vec<J> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn tagged(j: &J) -> Value {
    let (tag, v) = j.as_object().unwrap().iter().next().unwrap();
    let list = |v: &J| v.as_array().unwrap().iter().map(tagged).collect::<Vec<_>>();
    let int = |v: &J, k: &str| v[k].as_i64().unwrap();
    match tag.as_str() {
        "none" => Value::None,
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "int" => {
            let s = v.as_str().unwrap();
            s.parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::BigInt(s.parse::<BigInt>().unwrap()))
        }
        "float" => Value::Float(match v {
            J::String(s) if s == "nan" => f64::NAN,
            J::String(s) if s == "inf" => f64::INFINITY,
            J::String(s) if s == "-inf" => f64::NEG_INFINITY,
            other => other.as_f64().unwrap(),
        }),
        "str" => Value::Str(v.as_str().unwrap().to_string()),
        "bytes" => Value::Bytes(hex(v.as_str().unwrap())),
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
            utc_offset_s: v["utc_offset_s"].as_i64().map(|o| o as i32),
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
        "object" => Value::Object(PyObject::new(
            v["module"].as_str().unwrap(),
            v["name"].as_str().unwrap(),
            list(&v["args"]),
        )),
        other => panic!("unknown tag {other}"),
    }
}

/// Sets compare without order; NaN equals NaN (vectors hold NaN on purpose).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Float(f) if f.is_nan() => Value::Str("<nan>".into()),
        Value::List(xs) => Value::List(xs.iter().map(normalise).collect()),
        Value::Tuple(xs) => Value::Tuple(xs.iter().map(normalise).collect()),
        Value::Set(xs) | Value::FrozenSet(xs) => {
            let mut items: Vec<Value> = xs.iter().map(normalise).collect();
            items.sort_by_key(|x| x.to_string());
            if matches!(v, Value::Set(_)) {
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
        Value::Object(o) => Value::Object(PyObject {
            args: o.args.iter().map(normalise).collect(),
            ..o.clone()
        }),
        other => other.clone(),
    }
}

fn check(file: &str, codec: Codec) {
    let vectors = load(file);
    assert!(vectors.len() > 50, "{file} has too few vectors");
    let mut exact = 0;
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let bytes = hex(v["hex"].as_str().unwrap());
        let want = tagged(&v["value"]);
        let globals = if v["kind"] == "result" {
            Globals::Opaque
        } else {
            Globals::Refuse
        };
        let got = codec
            .decode(&bytes, globals)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            normalise(&got),
            normalise(&want),
            "{name} decodes to its value"
        );
        match v["kind"].as_str().unwrap() {
            "job" => {
                Job::from_value(got.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            "result" => {
                JobResult::from_value(got.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            _ => {}
        }
        if v["exact"].as_bool().unwrap() && !matches!(want, Value::Set(_) | Value::FrozenSet(_)) {
            let ours = codec
                .encode(&want)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(ours == bytes, "{name}: encoding differs from Python's");
            exact += 1;
        }
    }
    assert!(exact > 40, "only {exact} exact vectors in {file}");
}

#[test]
fn pickle_vectors() {
    check("pickle.json", Codec::Pickle);
}

#[test]
fn msgpack_vectors() {
    check("msgpack.json", Codec::Msgpack);
}

/// Aware datetimes: Python fetches the shared 'datetime' module name with BINGET; our encoder
/// memoizes class and module names the same way, so these match byte for byte too.
#[test]
fn pickle_datetimes_match_python() {
    for v in load("pickle.json") {
        let name = v["name"].as_str().unwrap();
        if !name.starts_with("datetime") && name != "list_two_datetimes" {
            continue;
        }
        let ours = Codec::Pickle.encode(&tagged(&v["value"])).unwrap();
        assert_eq!(ours, hex(v["hex"].as_str().unwrap()), "{name}");
    }
}

#[test]
fn cron_vectors_match_python_arq() {
    let vectors = load("cron.json");
    assert!(vectors.len() >= 20);
    for v in vectors {
        let tz = CronTz::parse(v["tz"].as_str().unwrap()).unwrap();
        let s = &v["schedule"];
        let field = |k: &str| {
            s[k].as_array()
                .map(|a| a.iter().map(|x| x.as_u64().unwrap() as u32).collect())
        };
        let schedule = lyanna_task_api::CronSchedule {
            month: field("month"),
            day: field("day"),
            weekday: field("weekday"),
            hour: field("hour"),
            minute: field("minute"),
            second: field("second"),
            microsecond: s["microsecond"].as_u64().unwrap() as u32,
        };
        let parse =
            |t: &str| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
        let mut at = parse(v["now"].as_str().unwrap());
        for (want, id) in v["next_runs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(v["ids"].as_array().unwrap())
        {
            at = next_run(at, &schedule).unwrap();
            assert_eq!(at, parse(want.as_str().unwrap()), "{v}");
            let name = id.as_str().unwrap().rsplit_once(':').unwrap().0;
            assert_eq!(job_id(name, tz.unix_ms(at)), id.as_str().unwrap(), "{v}");
        }
    }
}
