//! Python pickle, the safe subset arq jobs and results need (protocols 0-5 read, 4 written).
//!
//! Decoding never runs code: the only globals resolved are the datetime family, `Decimal`,
//! `UUID`, `ZoneInfo` and a few builtins, each turned into a [`Value`] by a pure function
//! (`reduce.rs`); anything else is refused in jobs and kept as an opaque object when reading
//! results for display. Decoding is linear in the payload: memo entries are shared
//! (`vm.rs`, `memo_refs.rs`), dict keys indexed (`dict_keys.rs`), and every allocation charged
//! to a budget ([`crate::codec::limits`]).
//! Encoding writes what CPython's C pickler writes at protocol 4 (framing, MEMOIZE and
//! references to shared values included), so results we store read back in Python exactly as
//! a Python worker's would.
//!
//! [`Value`]: lyanna_task_api::Value

mod decode;
mod dict_keys;
mod encode;
mod memo_refs;
pub mod opcodes;
mod reduce;
mod text;
mod vm;

pub use decode::{decode, decode_with};
pub use encode::{encode, encode_fields, encode_within};
