//! A tiny HTTP/1.1 client for the worker's admin server (`/livez`, `/readyz`, `/metrics`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `GET path` on 127.0.0.1:port: `Some((status, body))` (chunked bodies decoded), or `None`
/// when nothing answers within 2 s.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let (raw, complete) = fetch(port, path)?;
    if !complete {
        return None;
    }
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = status_of(head)?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// The HTTP status of `GET path`, 0 when nothing answers.
pub fn status(port: u16, path: &str) -> u16 {
    http_get(port, path).map_or(0, |(s, _)| s)
}

/// `GET /readyz`: the status code, or `None` when nothing answers (its status line is
/// enough: a body cut short still counts).
pub fn readyz(port: u16) -> Option<u16> {
    let (raw, _) = fetch(port, "/readyz")?;
    status_of(&String::from_utf8_lossy(&raw))
}

/// The first line of a metrics page that starts with `name` (a sample: `name{..} value`).
pub fn metric_line<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    page.lines().find(|l| l.starts_with(name))
}

/// The value of the unlabelled sample `name` on a metrics page (`name value`).
pub fn metric_value(page: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Transfer-Encoding: chunked` body decoded; `None` when it is malformed.
pub fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..n)?);
        body = rest.get(n + 2..)?;
    }
}

/// The raw response: whatever arrived before the server closed (complete) or 2 s of silence
/// (not complete); `None` when nothing did.
fn fetch(port: u16, path: &str) -> Option<(Vec<u8>, bool)> {
    let timeout = Duration::from_secs(2);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    // A read that times out after some bytes keeps them: the caller decides if they suffice.
    let complete = s.read_to_end(&mut raw).is_ok();
    (!raw.is_empty()).then_some((raw, complete))
}

fn status_of(head: &str) -> Option<u16> {
    head.split_whitespace().nth(1)?.parse().ok()
}
