//! Loopback ports.
//!
//! # Why not just bind port 0
//! The OS picks port-0 binds from the ephemeral range, the same range every outgoing
//! connection takes its local port from. A port learnt that way is free only until the next
//! connect of any test running beside us: a worker told `--http-addr 127.0.0.1:<it>` a second
//! later can find it taken by a client's socket (`Address already in use`). So test ports come
//! from below the ephemeral range, where connects never land, and each is reserved across
//! processes (nextest runs every test in its own) by an flock held until this process exits.

use std::fs::{File, OpenOptions};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Test ports come from here: above the well-known and registered ports servers here use,
/// below Linux's default ephemeral range (32768..61000).
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// The lock files of the ports this process holds; dropping one would free its port.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("lyanna-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock dir");
    dir
}

/// A port nothing listens on right now, reserved for this process: no other test process gets
/// it from here, and no outgoing connection takes it (it lies outside the ephemeral range).
pub fn free_port() -> u16 {
    let dir = lock_dir();
    let span = u32::from(RANGE.end - RANGE.start);
    // Start at a random place so that concurrent processes rarely contend for one lock.
    let start = uuid::Uuid::new_v4().as_u128() as u32 % span;
    for step in 0..span {
        let port = RANGE.start + ((start + step) % span) as u16;
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // another live test process holds it
        }
        // Held by no test; also make sure nothing else (a server of the machine) listens.
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        return port;
    }
    panic!("no free port in {RANGE:?}");
}

/// Blocks until `127.0.0.1:port` accepts a connection; panics naming `what` after 10 s.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
