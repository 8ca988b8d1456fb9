//! Property tests: every codec round-trips the values it can represent, and no byte string
//! makes a decoder panic.

use lyanna_task_api::{PyObject, TzInfo, Value};
use lyanna_worker::codec::{Codec, Globals};
use num_bigint::BigInt;
use proptest::prelude::*;
use std::sync::Arc;

fn scalar(floats: bool) -> BoxedStrategy<Value> {
    let mut options = vec![
        Just(Value::None).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        any::<i64>().prop_map(Value::Int).boxed(),
        ".{0,40}".prop_map(Value::Str).boxed(),
    ];
    if floats {
        options.push((-1e300f64..1e300).prop_map(Value::Float).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn pickle_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        scalar(true),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        (any::<u128>(), any::<bool>()).prop_map(|(n, neg)| {
            let b = BigInt::from(n) * BigInt::from(1u64 << 40);
            Value::big(if neg { -b } else { b })
        }),
        (
            1u16..9999,
            1u8..13,
            1u8..29,
            0u8..24,
            0u8..60,
            0u8..60,
            0u32..1_000_000,
            proptest::option::of(-86_399i32..86_399)
        )
            .prop_map(
                |(year, month, day, hour, minute, second, microsecond, off)| Value::DateTime {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    microsecond,
                    fold: false,
                    tz: off.map(|o| TzInfo::fixed(o / 60 * 60)),
                }
            ),
        (1u16..9999, 1u8..13, 1u8..29).prop_map(|(year, month, day)| Value::Date {
            year,
            month,
            day
        }),
        (-999_999_999i64..999_999_999, 0i32..86_400, 0i32..1_000_000).prop_map(
            |(days, seconds, microseconds)| Value::TimeDelta {
                days,
                seconds,
                microseconds
            }
        ),
        stdlib_value(),
        ".{0,20}".prop_map(|m| Value::object(PyObject::new(
            "builtins",
            "RuntimeError",
            vec![Value::Str(m)]
        ))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Tuple),
            dict_of(inner.clone()),
            // One subtree referred to several times, as `[row] * n` pickles.
            (inner.clone(), 2usize..5).prop_map(|(v, n)| {
                let shared = Value::Shared(Arc::new(v));
                Value::List(vec![shared; n])
            }),
        ]
    })
}

/// Decimal, UUID, time, zoned and named-offset datetimes with fold, bytearray, surrogates.
fn stdlib_value() -> BoxedStrategy<Value> {
    let tz = prop_oneof![
        Just(None),
        Just(Some(TzInfo::utc())),
        (-86_399i32..86_399, proptest::option::of("[A-Z]{1,5}")).prop_map(|(o, name)| Some(
            Box::new(TzInfo::Fixed {
                offset_s: o / 60 * 60,
                name
            })
        )),
        prop_oneof![Just("Europe/Berlin"), Just("America/New_York"), Just("UTC")]
            .prop_map(|k| Some(Box::new(TzInfo::Zone(k.to_string())))),
    ];
    prop_oneof![
        ("-?[0-9]{1,30}(\\.[0-9]{1,10})?(E[+-][0-9]{1,3})?").prop_map(Value::Decimal),
        Just(Value::Decimal("NaN".into())),
        any::<[u8; 16]>().prop_map(Value::Uuid),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::ByteArray),
        ("[a-z]{0,5}", 0xd800u32..0xe000).prop_map(|(s, c)| {
            let mut b = s.into_bytes();
            b.extend_from_slice(&[
                0xe0 | (c >> 12) as u8,
                0x80 | ((c >> 6) & 0x3f) as u8,
                0x80 | (c & 0x3f) as u8,
            ]);
            Value::SurrogateStr(b)
        }),
        (
            0u8..24,
            0u8..60,
            0u8..60,
            0u32..1_000_000,
            any::<bool>(),
            tz.clone()
        )
            .prop_map(
                |(hour, minute, second, microsecond, fold, tz)| Value::Time {
                    hour,
                    minute,
                    second,
                    microsecond,
                    fold,
                    tz
                }
            ),
        (1u16..9999, 1u8..13, 1u8..29, 0u8..24, any::<bool>(), tz).prop_map(
            |(year, month, day, hour, fold, tz)| Value::DateTime {
                year,
                month,
                day,
                hour,
                minute: 30,
                second: 0,
                microsecond: 0,
                fold,
                tz
            }
        ),
    ]
    .boxed()
}

/// Dicts with distinct string keys over `inner` values.
fn dict_of(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    proptest::collection::vec((".{0,8}".prop_map(Value::Str), inner), 0..8).prop_map(|kv| {
        let mut seen = std::collections::HashSet::new();
        Value::Dict(
            kv.into_iter()
                .filter(|(k, _)| seen.insert(k.to_string()))
                .collect(),
        )
    })
}

fn plain_value(floats: bool, bytes: bool) -> impl Strategy<Value = Value> {
    let leaf = if bytes {
        prop_oneof![
            scalar(floats),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes)
        ]
        .boxed()
    } else {
        scalar(floats)
    };
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            dict_of(inner.clone()),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn pickle_round_trips(v in pickle_value()) {
        let bytes = Codec::Pickle.encode(&v).unwrap();
        prop_assert_eq!(Codec::Pickle.decode(&bytes, Globals::Opaque).unwrap(), v);
    }

    #[test]
    fn msgpack_round_trips(v in plain_value(true, true)) {
        let bytes = Codec::Msgpack.encode(&v).unwrap();
        prop_assert_eq!(Codec::Msgpack.decode(&bytes, Globals::Refuse).unwrap(), v);
    }

    #[test]
    fn json_round_trips(v in plain_value(false, false)) {
        let bytes = Codec::Json.encode(&v).unwrap();
        prop_assert_eq!(Codec::Json.decode(&bytes, Globals::Refuse).unwrap(), v);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for codec in [Codec::Pickle, Codec::Msgpack, Codec::Json] {
            let _ = codec.decode(&bytes, Globals::Opaque);
            let _ = codec.decode(&bytes, Globals::Refuse);
        }
    }

    /// Mutated real payloads (closer to valid than random bytes) never panic either.
    #[test]
    fn mutated_pickles_never_panic(v in pickle_value(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = Codec::Pickle.encode(&v).unwrap();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let _ = Codec::Pickle.decode(&bytes, Globals::Opaque);
    }
}

#[test]
fn memo_bombs_and_deep_nesting_are_refused() {
    // EMPTY_LIST, MEMOIZE, then GET+APPEND doubling the list many times: a few hundred bytes
    // that would expand exponentially if copies were free.
    let mut p = vec![0x80, 4, b']', 0x94];
    for i in 0..60u8 {
        p.extend_from_slice(&[b']', 0x94, b'h', i, b'h', i, b'e']);
    }
    p.push(b'.');
    assert!(Codec::Pickle.decode(&p, Globals::Opaque).is_err());
    // 100,000 nested lists.
    let mut p = vec![0x80, 4];
    p.extend(std::iter::repeat_n(b']', 100_000));
    p.extend(std::iter::repeat_n(b'a', 99_999));
    p.push(b'.');
    assert!(Codec::Pickle.decode(&p, Globals::Opaque).is_err());
}
