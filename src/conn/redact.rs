//! The last line of defence for secrets in output: a log writer that replaces every known
//! credential by `***` in each line before it reaches stderr. Our own code masks URLs where it
//! formats them (`conn::mask_url`); this catches a library that prints one anyway, at any
//! level.

use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;

/// Secrets shorter than this are left alone: replacing every `ab` in the log would make it
/// unreadable and say which two letters the password has.
const MIN_SECRET_LEN: usize = 3;

/// Replaces each of `secrets` in `text` by `***` (longest first).
pub fn redact(text: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = text.to_vec();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        let needle = s.as_bytes();
        if !out.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                next.extend_from_slice(b"***");
                i += needle.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// A `MakeWriter` for stderr that redacts `secrets` (the fmt layer writes one event per call),
/// through the buffered writer of `log_writer`.
#[derive(Clone)]
pub struct RedactingStderr {
    secrets: Arc<Vec<String>>,
}

impl RedactingStderr {
    pub fn new(secrets: Vec<String>) -> Self {
        RedactingStderr {
            secrets: Arc::new(secrets),
        }
    }
}

pub struct Writer {
    secrets: Arc<Vec<String>>,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.secrets.iter().any(|s| s.len() >= MIN_SECRET_LEN) {
            super::log_writer::write_line(&redact(buf, &self.secrets));
        } else {
            super::log_writer::write_line(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Lines are written by the log writer's thread; `flush_log` waits for them.
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Writer;
    fn make_writer(&'a self) -> Writer {
        Writer {
            secrets: self.secrets.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_secret() {
        let secrets = vec!["hunter22".to_string(), "pw".to_string()];
        let out = redact(b"a hunter22 b hunter22 pw", &secrets);
        assert_eq!(out, b"a *** b *** pw");
        assert_eq!(redact(b"clean", &secrets), b"clean");
    }
}
