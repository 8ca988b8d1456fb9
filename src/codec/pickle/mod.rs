//! Python pickle, the safe subset arq jobs and results need (protocols 0-5 read, 4 written).
//!
//! Decoding never runs code: the only globals resolved are the datetime family and a few
//! builtins, each turned into a [`Value`] by a pure function ([`reduce`]); anything else is
//! refused in jobs and kept as an opaque object when reading results for display.
//! Encoding writes what CPython's C pickler writes at protocol 4 (framing and MEMOIZE
//! included), so results we store read back in Python exactly as a Python worker's would.

mod decode;
mod encode;
pub mod opcodes;
mod reduce;

pub use decode::decode;
pub use encode::encode;
