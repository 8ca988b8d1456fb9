//! The stdlib types and shared references, as CPython 3.11 and 3.13 pickle them at
//! protocols 0-5 (tests/vectors/pickle_types.json, from generate_types.py): each decodes to
//! what Python's `pickle.loads` gave, and each protocol-4 pickle (Python's default) is
//! re-encoded byte for byte.

mod codec_support;

use codec_support::{hex, load, normalise, tagged};
use lyanna_task_api::{TzInfo, Value};
use lyanna_worker::codec::{Codec, CodecError, Globals};

#[test]
fn every_protocol_decodes_and_protocol_4_reencodes_exactly() {
    let vectors = load("pickle_types.json");
    assert!(vectors.len() >= 180, "{} vectors", vectors.len());
    let (mut decoded, mut exact) = (0, 0);
    for v in &vectors {
        let name = format!(
            "{} (protocol {})",
            v["name"].as_str().unwrap(),
            v["protocol"]
        );
        let bytes = hex(v["hex"].as_str().unwrap());
        let want = tagged(&v["value"]);
        let got = Codec::Pickle
            .decode(&bytes, Globals::Refuse)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(normalise(&got), normalise(&want), "{name}");
        decoded += 1;
        if v["exact"].as_bool().unwrap() {
            // What we decoded keeps Python's sharing, so it re-encodes to the same bytes.
            let ours = Codec::Pickle.encode(&got).unwrap();
            assert!(ours == bytes, "{name}: encoding differs from Python's");
            exact += 1;
        }
    }
    assert_eq!(decoded, vectors.len());
    assert!(exact >= 30, "only {exact} exact");
}

#[test]
fn shared_references_stay_shared() {
    for v in load("pickle_types.json") {
        if v["name"] != "shared_rows" || v["protocol"] != 4 {
            continue;
        }
        let bytes = hex(v["hex"].as_str().unwrap());
        let got = Codec::Pickle.decode(&bytes, Globals::Refuse).unwrap();
        let rows = got.as_seq().unwrap();
        assert_eq!(rows.len(), 50);
        let Value::Shared(first) = &rows[0] else {
            panic!("row not shared: {:?}", rows[0].type_name())
        };
        assert!(rows
            .iter()
            .all(|r| matches!(r, Value::Shared(a) if std::sync::Arc::ptr_eq(a, first))));
    }
}

#[test]
fn fold_zone_and_names_survive() {
    let find = |name: &str| {
        let v = load("pickle_types.json")
            .into_iter()
            .find(|v| v["name"] == name && v["protocol"] == 4)
            .unwrap();
        Codec::Pickle
            .decode(&hex(v["hex"].as_str().unwrap()), Globals::Refuse)
            .unwrap()
    };
    match find("datetime_ny_fold") {
        Value::DateTime { fold, tz, .. } => {
            assert!(fold);
            assert_eq!(
                tz.as_deref(),
                Some(&TzInfo::Zone("America/New_York".into()))
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        find("datetime_ist").tzinfo(),
        Some(&TzInfo::Fixed {
            offset_s: 19_800,
            name: Some("IST".into())
        })
    );
    assert_eq!(
        find("decimal_big").as_decimal(),
        Some("123456789012345678901234567890.000000001")
    );
    assert_eq!(find("bytearray").type_name(), "bytearray");
    assert_eq!(
        find("uuid").to_string(),
        "UUID('12345678-1234-5678-1234-567812345678')"
    );
}

#[test]
fn msgpack_and_json_carry_what_python_s_do() {
    let bytearray = Value::ByteArray(b"ab".to_vec());
    let back = Codec::Msgpack
        .decode(&Codec::Msgpack.encode(&bytearray).unwrap(), Globals::Refuse)
        .unwrap();
    assert_eq!(
        back,
        Value::Bytes(b"ab".to_vec()),
        "msgpack packs bytearray as bin"
    );
    for v in [
        Value::Decimal("1.1".into()),
        Value::Uuid([0; 16]),
        Value::Time {
            hour: 1,
            minute: 2,
            second: 3,
            microsecond: 0,
            fold: false,
            tz: None,
        },
        Value::SurrogateStr(vec![0xed, 0xa0, 0xbd]),
    ] {
        assert!(
            matches!(
                Codec::Msgpack.encode(&v),
                Err(CodecError::Unrepresentable { .. })
            ),
            "{v}"
        );
    }
    // json.dumps('\ud83d') == '"\\ud83d"'
    let s = Codec::Json
        .encode(&Value::SurrogateStr(vec![b'a', 0xed, 0xa0, 0xbd]))
        .unwrap();
    assert_eq!(s, br#""a\ud83d""#);
    assert!(Codec::Json.encode(&Value::Decimal("1".into())).is_err());
}

#[test]
fn refused_forms_stay_refused() {
    // getattr of anything but ZoneInfo._unpickle, and copyreg._reconstructor of other classes.
    let getattr_os =
        b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x02os\x8c\x06system\x93\x8c\x01x\x86R.";
    assert!(Codec::Pickle.decode(getattr_os, Globals::Refuse).is_err());
    let getattr_zone_other = b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93\x8c\x05clear\x86R).";
    assert!(Codec::Pickle
        .decode(getattr_zone_other, Globals::Refuse)
        .is_err());
    let bad_decimal = b"\x80\x04\x8c\x07decimal\x8c\x07Decimal\x93\x8c\x031x2\x85R.";
    assert!(Codec::Pickle.decode(bad_decimal, Globals::Refuse).is_err());
}

/// Writes our protocol-4 encoding of every vector to $DUMP_OURS (debugging aid).
#[test]
fn dump_ours_when_asked() {
    let Ok(dir) = std::env::var("DUMP_OURS") else {
        return;
    };
    for v in load("pickle_types.json") {
        if v["protocol"] != 4 {
            continue;
        }
        let got = Codec::Pickle
            .decode(&hex(v["hex"].as_str().unwrap()), Globals::Refuse)
            .unwrap();
        let path = format!("{dir}/{}.pkl", v["name"].as_str().unwrap());
        std::fs::write(path, Codec::Pickle.encode(&got).unwrap()).unwrap();
    }
}

/// A task that returns its own args tuple: Python's result pickle refers to one tuple from
/// both `a` and `r`, which must still read as a result.
#[test]
fn result_sharing_its_args_reads_back() {
    use lyanna_worker::protocol::job::JobResult;
    let args = Value::Shared(std::sync::Arc::new(Value::Tuple(vec![
        Value::Int(1),
        Value::str("x".repeat(100)),
    ])));
    let key = |k: &str| Value::str(k);
    let result = Value::Dict(vec![
        (key("t"), Value::Int(1)),
        (key("f"), Value::str("echo")),
        (key("a"), args.clone()),
        (key("k"), Value::Dict(vec![])),
        (key("et"), Value::Int(1)),
        (key("s"), Value::Bool(true)),
        (key("r"), args),
        (key("st"), Value::Int(2)),
        (key("ft"), Value::Int(3)),
        (key("q"), Value::str("arq:queue")),
        (key("id"), Value::str("abc")),
    ]);
    let bytes = Codec::Pickle.encode(&result).unwrap();
    let back = Codec::Pickle.decode(&bytes, Globals::Opaque).unwrap();
    let r = JobResult::from_value(back).unwrap();
    assert_eq!(r.args.args.len(), 2);
    assert_eq!(r.result.as_seq().unwrap()[0], Value::Int(1));
}
