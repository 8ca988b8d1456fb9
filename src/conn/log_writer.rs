//! Where log lines go: a buffer that one thread of its own writes to stderr. A job task that
//! logs never waits on write(2) (a terminal, a pipe whose reader is slow), and lines logged
//! close together leave in one write instead of one each: once woken, the thread waits
//! [`LINGER`] for more lines before it writes, so a busy worker wakes it (a futex syscall for
//! the logging thread) once per batch, not once per line. The buffer is bounded: past
//! [`HIGH_WATER`] bytes the logging thread writes them itself, as an unbuffered stderr would
//! make it wait. [`flush_log`] writes what is left (the binary calls it before it exits).

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

/// Bytes held before a logging thread has to wait for stderr itself.
const HIGH_WATER: usize = 1 << 20;

/// How long the writer lets lines gather after the first one wakes it. Lines logged meanwhile
/// find the buffer non-empty and do not wake it again; a line reaches stderr at most this
/// much later (the binary's exit and a second signal flush at once).
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

struct Log {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Held by whoever writes to stderr, taken before `pending`: chunks leave in the order
    /// they were logged, whether the thread or a flush writes them.
    writing: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

static LOG: OnceLock<Option<&'static Log>> = OnceLock::new();

/// The buffer and its thread, started on first use; `None` if the thread could not start
/// (lines are then written directly).
fn log() -> Option<&'static Log> {
    *LOG.get_or_init(|| {
        let log: &'static Log = Box::leak(Box::new(Log {
            pending: Mutex::new(Vec::with_capacity(16 * 1024)),
            wake: Condvar::new(),
            writing: Mutex::new(()),
        }));
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_loop(log))
            .ok()
            .map(|_| log)
    })
}

fn write_loop(log: &'static Log) {
    let mut chunk = Vec::with_capacity(16 * 1024);
    loop {
        let _writing = {
            let mut pending = lock(&log.pending);
            while pending.is_empty() {
                pending = log.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            drop(pending);
            std::thread::sleep(LINGER);
            let writing = lock(&log.writing);
            std::mem::swap(&mut *lock(&log.pending), &mut chunk);
            writing
        };
        let _ = std::io::stderr().write_all(&chunk);
        chunk.clear();
        if chunk.capacity() > HIGH_WATER {
            chunk.shrink_to(16 * 1024);
        }
    }
}

/// Hands one line (or several) to the writer.
pub(crate) fn write_line(bytes: &[u8]) {
    let Some(log) = log() else {
        let _ = std::io::stderr().write_all(bytes);
        return;
    };
    let mut pending = lock(&log.pending);
    if pending.len() + bytes.len() > HIGH_WATER {
        // stderr is not keeping up: wait for it, as an unbuffered write would.
        drop(pending);
        flush_log();
        pending = lock(&log.pending);
    }
    let was_empty = pending.is_empty();
    pending.extend_from_slice(bytes);
    drop(pending);
    if was_empty {
        log.wake.notify_one();
    }
}

/// Writes every line logged so far to stderr before returning.
pub fn flush_log() {
    let Some(log) = LOG.get().copied().flatten() else {
        return;
    };
    let _writing = lock(&log.writing);
    let chunk = std::mem::take(&mut *lock(&log.pending));
    let mut err = std::io::stderr();
    let _ = err.write_all(&chunk);
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_and_flush_returns() {
        for i in 0..1000 {
            write_line(format!("log_writer test line {i}\n").as_bytes());
        }
        flush_log();
        let left = log().map_or(0, |l| lock(&l.pending).len());
        assert_eq!(left, 0);
    }
}
