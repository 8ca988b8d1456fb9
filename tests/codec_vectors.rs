//! Byte-exact vectors written by the real Python pickle/msgpack/arq (tests/vectors/): every
//! vector decodes to its value, and every vector Python wrote without shared references is
//! re-encoded to the same bytes.

mod codec_support;

use codec_support::{hex, load, normalise, tagged};
use lyanna_task_api::Value;
use lyanna_worker::codec::{Codec, Globals};
use lyanna_worker::protocol::cron::{job_id, next_run, CronTz};
use lyanna_worker::protocol::job::{Job, JobResult};

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
