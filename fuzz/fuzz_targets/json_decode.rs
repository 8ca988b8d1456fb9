//! Any bytes: the json decoder returns a value or an error, never panics, and what it
//! decodes as a job or result is handled without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lyanna_worker::codec::{Codec, Globals};
use lyanna_worker::protocol::job::{Job, JobResult};

fuzz_target!(|data: &[u8]| {
    for globals in [Globals::Refuse, Globals::Opaque] {
        if let Ok(v) = Codec::Json.decode(data, globals) {
            let _ = Codec::Json.encode(&v);
            let _ = Job::from_value(v.clone());
            let _ = JobResult::from_value(v);
        }
    }
});
