//! Big and hostile pickles: linear-time decoding of big dicts and lists, shared references
//! kept shared (and written back shared), memo bombs and budget overruns refused quickly.

use lyanna_task_api::Value;
use lyanna_worker::codec::{Codec, CodecError, DecodeLimits, Globals};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    Codec::Pickle.decode(bytes, Globals::Refuse)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

#[test]
fn dict_of_100k_keys_well_under_a_second() {
    let v = Value::Dict(
        (0..100_000)
            .map(|i| (Value::str(format!("key-{i}")), Value::Int(i)))
            .collect(),
    );
    let bytes = Codec::Pickle.encode(&v).unwrap();
    let (got, took) = timed(|| decode(&bytes).unwrap());
    assert_eq!(got, v);
    // Quadratic decoding took 37-50 s here; linear takes ~15 ms optimized (benches/codecs.rs),
    // and the unoptimized test build has room for a loaded machine.
    let limit = if cfg!(debug_assertions) { 5_000 } else { 300 };
    assert!(took < Duration::from_millis(limit), "{took:?}");
}

#[test]
fn list_of_a_million_items() {
    let v = Value::List((0..1_000_000).map(Value::Int).collect());
    let bytes = Codec::Pickle.encode(&v).unwrap();
    let (got, took) = timed(|| decode(&bytes).unwrap());
    assert_eq!(got.as_seq().unwrap().len(), 1_000_000);
    let limit = if cfg!(debug_assertions) { 10_000 } else { 500 };
    assert!(took < Duration::from_millis(limit), "{took:?}");
}

#[test]
fn shared_rows_and_big_strings_stay_small() {
    let row = Value::Dict(
        (0..50)
            .map(|i| (Value::str(format!("col{i}")), Value::Int(i)))
            .collect(),
    );
    let rows = Value::List(vec![Value::Shared(Arc::new(row)); 5000]);
    let bytes = Codec::Pickle.encode(&rows).unwrap();
    assert!(
        bytes.len() < 12_000,
        "[row] * 5000 pickles to {} bytes",
        bytes.len()
    );
    let got = decode(&bytes).unwrap();
    assert_eq!(got, rows);
    // Echoed back it stays as small as Python's pickle of it.
    assert_eq!(Codec::Pickle.encode(&got).unwrap(), bytes);

    let big = Value::List(vec![
        Value::Shared(Arc::new(Value::str(
            "x".repeat(1_000_000)
        )));
        100
    ]);
    let bytes = Codec::Pickle.encode(&big).unwrap();
    assert!(bytes.len() < 1_001_000);
    let (got, took) = timed(|| decode(&bytes).unwrap());
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert_eq!(Codec::Pickle.encode(&got).unwrap(), bytes);
}

/// `a0 = []; a1 = [a0, a0]; ...; [a0, ..., a63]`: 700 bytes that expand to 2**65 nodes.
fn memo_bomb(levels: u32) -> Vec<u8> {
    let mut p = vec![0x80, 4, b'(', b']', 0x94];
    for i in 0..levels {
        p.push(b'(');
        for _ in 0..2 {
            p.push(b'j');
            p.extend_from_slice(&i.to_le_bytes());
        }
        p.extend_from_slice(b"l\x94");
    }
    p.extend_from_slice(b"l.");
    p
}

#[test]
fn memo_bomb_refused_in_milliseconds() {
    let bytes = memo_bomb(64);
    let (got, took) = timed(|| decode(&bytes));
    assert!(matches!(got, Err(CodecError::OverBudget { .. })), "{got:?}");
    assert!(took < Duration::from_millis(50), "{took:?}");
    // A few levels are an ordinary shared structure.
    let small = decode(&memo_bomb(4)).unwrap();
    assert_eq!(small.as_seq().unwrap().len(), 5);
    assert_eq!(
        small.as_seq().unwrap()[2].to_string(),
        "[[[], []], [[], []]]"
    );
    // JSON cannot carry references: the encoder refuses the expansion before writing.
    let big = decode(&memo_bomb(18)).unwrap();
    assert!(Codec::Json.encode_within(&big, 1 << 20).is_err());
}

#[test]
fn budget_refuses_before_allocating_past_it() {
    // 1M Nones: 1 MB of pickle, 32 MB of slots.
    let v = Value::List(vec![Value::None; 1_000_000]);
    let bytes = Codec::Pickle.encode(&v).unwrap();
    let tight = DecodeLimits {
        max_bytes: 8 << 20,
        ..DecodeLimits::default()
    };
    let (got, took) = timed(|| Codec::Pickle.decode_with(&bytes, Globals::Refuse, &tight));
    let err = got.unwrap_err();
    assert!(err.to_string().contains("budget of 8388608"), "{err}");
    let limit = if cfg!(debug_assertions) { 3_000 } else { 100 };
    assert!(took < Duration::from_millis(limit), "{took:?}");
    assert!(Codec::Pickle.decode(&bytes, Globals::Refuse).is_ok());

    // A str header claiming 4 GB in a 20-byte payload: refused without allocating.
    let lie = b"\x80\x04\x8d\x00\x00\x00\x00\x01\x00\x00\x00x.";
    assert!(decode(lie).is_err());
    // msgpack and JSON documents are measured before they are parsed.
    let mp = Codec::Msgpack.encode(&v).unwrap();
    assert!(matches!(
        Codec::Msgpack.decode_with(&mp, Globals::Refuse, &tight),
        Err(CodecError::OverBudget { .. })
    ));
    let js = Codec::Json.encode(&v).unwrap();
    assert!(matches!(
        Codec::Json.decode_with(&js, Globals::Refuse, &tight),
        Err(CodecError::OverBudget { .. })
    ));
}

#[test]
fn recursive_values_are_refused_not_looped() {
    // l = []; l.append(l)
    let p = b"\x80\x04]\x94h\x00a.";
    assert!(decode(p).is_err());
}
