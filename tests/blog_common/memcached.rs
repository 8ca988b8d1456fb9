//! `memcached` processes for the tests, and a tiny text-protocol client to look at them.

use super::{free_port, wait_for_port};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::Process;

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A `memcached` on a free port (or a given one, to restart it), killed on drop.
pub struct Memcached {
    pub port: u16,
    process: Option<Process>,
}

impl Memcached {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "64",
        ]);
        if running_as_root() {
            cmd.args(["-u", "root"]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let process = Process::spawn("memcached (apt-get install memcached)", &mut cmd);
        wait_for_port(port, "memcached");
        Memcached {
            port,
            process: Some(process),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills it (its drop does).
    pub fn stop(&mut self) {
        self.process = None;
    }

    fn roundtrip(&self, request: &[u8], end: &[&[u8]]) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect memcached");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s.write_all(request).expect("write memcached");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !end.iter().any(|e| out.ends_with(e)) {
            let n = s.read(&mut buf).expect("read memcached");
            assert!(n > 0, "memcached closed the connection");
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    pub fn set(&self, key: &str, value: &str) {
        let req = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
        let r = self.roundtrip(req.as_bytes(), &[b"\r\n"]);
        assert_eq!(r, b"STORED\r\n", "set {key}");
    }

    /// Sets many keys in one round trip.
    pub fn set_many(&self, keys: &[String]) {
        let mut req = Vec::new();
        for k in keys {
            req.extend_from_slice(format!("set {k} 0 0 1 noreply\r\nx\r\n").as_bytes());
        }
        req.extend_from_slice(b"version\r\n");
        self.roundtrip(&req, &[b"\r\n"]);
    }

    pub fn has(&self, key: &str) -> bool {
        let r = self.roundtrip(format!("get {key}\r\n").as_bytes(), &[b"END\r\n"]);
        r.starts_with(b"VALUE")
    }

    /// Which of `keys` are present, in one round trip.
    pub fn present(&self, keys: &[String]) -> Vec<String> {
        let mut req = Vec::new();
        for k in keys {
            req.extend_from_slice(format!("mg {k} k\r\n").as_bytes());
        }
        req.extend_from_slice(b"mn\r\n");
        let r = self.roundtrip(&req, &[b"MN\r\n"]);
        String::from_utf8_lossy(&r)
            .lines()
            .filter_map(|l| l.strip_prefix("HD k"))
            .map(str::to_string)
            .collect()
    }
}
