//! Any bytes the pickle decoder accepts (the stdlib types, shared references and protocol-0
//! text included) re-encode and decode back to an equal value, under the default limits and
//! a tight budget alike; a budget overrun is an error, never a panic or an abort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lyanna_worker::codec::{Codec, DecodeLimits, Globals};

fuzz_target!(|data: &[u8]| {
    let tight = DecodeLimits {
        max_bytes: 64 << 10,
        min_bytes: 16 << 10,
        min_expanded: 10_000,
        ..DecodeLimits::default()
    };
    let _ = Codec::Pickle.decode_with(data, Globals::Refuse, &tight);
    if let Ok(v) = Codec::Pickle.decode(data, Globals::Refuse) {
        // Encoding may refuse (depth is counted per opcode level); it must not panic.
        let Ok(bytes) = Codec::Pickle.encode(&v) else {
            return;
        };
        let back = Codec::Pickle
            .decode(&bytes, Globals::Refuse)
            .expect("our own encoding decodes");
        // NaN never equals itself; compare the renderings then.
        if back != v {
            assert_eq!(back.to_string(), v.to_string());
        }
        let _ = v.repr_prefix(80);
        let _ = Codec::Json.encode_within(&v, 1 << 20);
        let _ = Codec::Msgpack.encode_within(&v, 1 << 20);
    }
});
