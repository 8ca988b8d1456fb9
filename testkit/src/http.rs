//! The one HTTP/1.1 client of the tests, blocking, for loopback servers (the admin server's
//! probes and metrics, the dashboard, chromedriver): any method, headers and body; the
//! answer's status, headers (names lowercased) and body (de-chunked). One connection per
//! request (`Connection: close`); the answer ends at its `Content-Length` or last chunk,
//! since some servers (chromedriver) keep the connection open whatever the request asks. No
//! redirects are followed: tests look at the 303s themselves. The probe helpers
//! ([`http_get`], [`status`], [`readyz`]) give up after 2 s, for polling a server that may
//! not be up; [`request`] waits 60 s and panics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe helpers wait for a connection and for the answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` on 127.0.0.1:port with `headers` and a form `body` (its Content-Type added
/// when not empty); panics when nothing answers within 60 s (a loaded machine).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut all = headers.to_vec();
    if !body.is_empty() {
        all.push(("Content-Type", "application/x-www-form-urlencoded"));
    }
    try_request(
        port,
        method,
        path,
        &all,
        body.as_bytes(),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{method} {path} on {port}: {e}"))
}

pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(port, "GET", path, headers, "")
}

pub fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    request(port, "POST", path, headers, body)
}

/// `POST path` of a form built from `fields`.
pub fn post_form(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> Answer {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", form_value(k), form_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    post(port, path, headers, &body)
}

/// `method path` on 127.0.0.1:port (with `Host: 127.0.0.1:port` unless `headers` name
/// another); `Err` when the connection fails or no complete answer arrives within `timeout`
/// (for polling a server that may not be up yet).
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut s = send(port, method, path, headers, body, timeout)?;
    let raw = read_answer(&mut s)?;
    parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "malformed HTTP answer: {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            ),
        )
    })
}

/// `GET path` on 127.0.0.1:port: `Some((status, body))`, or `None` when no complete answer
/// arrives within 2 s.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    try_request(port, "GET", path, &[], b"", PROBE_TIMEOUT)
        .ok()
        .map(|a| (a.status, a.body))
}

/// The HTTP status of `GET path`, 0 when nothing answers within 2 s.
pub fn status(port: u16, path: &str) -> u16 {
    http_get(port, path).map_or(0, |(s, _)| s)
}

/// `GET /readyz`: the status code, or `None` when nothing answers within 2 s. Its status line
/// is enough: an answer cut short (a server going away) still counts.
pub fn readyz(port: u16) -> Option<u16> {
    let mut s = send(port, "GET", "/readyz", &[], b"", PROBE_TIMEOUT).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 512];
    while !raw.contains(&b'\n') {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&raw);
    line.split_whitespace().nth(1)?.parse().ok()
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

/// Connects and writes the request; the answer is the caller's to read.
fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    ));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    Ok(s)
}

/// `application/x-www-form-urlencoded` of one value: every byte but the unreserved ones of
/// RFC 3986 as `%XX` (fit for a path segment and a query value too).
pub fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads one answer: up to the end of its body by `Content-Length`, by the last chunk, or
/// else by the connection's end.
fn read_answer(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            if complete(&raw, split) {
                return Ok(raw);
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Whether `raw` (headers end at `split`) holds the whole body already.
fn complete(raw: &[u8], split: usize) -> bool {
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    let no_body = head
        .split(' ')
        .nth(1)
        .is_some_and(|c| c.starts_with('1') || c == "204" || c == "304");
    if no_body {
        return true;
    }
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k == "content-length" {
                return v.parse::<usize>().is_ok_and(|n| body.len() >= n);
            }
            if k == "transfer-encoding" && v.contains("chunked") {
                return dechunk(body).is_some();
            }
        }
    }
    false
}

fn parse(raw: &[u8]) -> Option<Answer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match (chunked, length) {
        (true, _) => dechunk(rest)?,
        (false, Some(n)) => rest.get(..n)?.to_vec(),
        (false, None) => rest.to_vec(),
    };
    Some(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..eol]).ok()?;
        let n = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[eol + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..n)?);
        body = body.get(n + 2..)?;
    }
}
