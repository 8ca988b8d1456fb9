//! The blog's configuration, read from the environment variables its deployment sets (the
//! names and defaults of the Python original's `config.py`), plus a few `LYANNA_*` knobs of
//! ours. Everything is validated here, before anything connects: a bad value is reported with
//! the variable's name (the binary exits 64).

use sqlx::mysql::MySqlConnectOptions;
use std::str::FromStr;
use std::time::Duration;

/// A bad environment value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// A password: printed as `***` by `Debug` and `Display`, so a logged config leaks nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Which post field forms its URL (`PERMALINK_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permalink {
    Id,
    Slug,
    Title,
}

/// How the SMTP connection is secured (`MAIL_TLS`; by default from the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// TLS from the first byte (SMTPS, port 465), as the Python original always did.
    Implicit,
    /// Plain connect, then STARTTLS, refusing to go on without it (port 587 and others).
    StartTls,
    /// No TLS at all: only for local test sinks.
    Off,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub server: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub tls: MailTls,
    /// Extra trusted root certificates (PEM), for a server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl MailConfig {
    /// The original's `CAN_SEND`: server, username and password all set.
    pub fn enabled(&self) -> bool {
        !self.server.is_empty() && !self.username.is_empty() && !self.password.is_empty()
    }
}

/// One memcached entry: a host name (resolved on every use) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McTarget {
    pub host: String,
    pub port: u16,
}

#[derive(Clone)]
pub struct Config {
    pub db: MySqlConnectOptions,
    /// `DB_URL` with its password masked, for logs.
    pub db_url_masked: String,
    pub memcached: Vec<McTarget>,
    pub blog_url: String,
    pub site_title: String,
    pub permalink: Permalink,
    pub mail: MailConfig,
    /// Prefix of the blog's Redis keys (`lyanna:`); tests give each run its own.
    pub key_prefix: String,
    /// Seconds of the minute flush_to_db runs at; `None`: every second (tests only).
    pub flush_seconds: Option<Vec<u32>>,
    /// mention_users' first retry delay; it doubles on each try, up to five minutes.
    pub retry_delay: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("db", &self.db_url_masked)
            .field("memcached", &self.memcached)
            .field("blog_url", &self.blog_url)
            .field("site_title", &self.site_title)
            .field("permalink", &self.permalink)
            .field("mail", &self.mail)
            .field("key_prefix", &self.key_prefix)
            .field("flush_seconds", &self.flush_seconds)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

pub const DEFAULT_DB_URL: &str = "mysql://root:@localhost:3306/test?charset=utf8mb4";
pub const DEFAULT_MEMCACHED_PORT: u16 = 11211;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get` (tests pass a map). Unset and empty mean the default,
    /// except for the mail credentials, where empty is the default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str, default: &str| -> String {
            get(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let db_url = var("DB_URL", DEFAULT_DB_URL);
        let db = parse_db_url(&db_url)?;
        let memcached = parse_memcached(&var("MEMCACHED_HOST", "127.0.0.1"))?;
        let blog_url = var("BLOG_URL", "https://example.com");
        if !(blog_url.starts_with("http://") || blog_url.starts_with("https://")) {
            return Err(bad(
                "BLOG_URL",
                format!("{blog_url:?} is not an http(s) URL"),
            ));
        }
        let permalink = match var("PERMALINK_TYPE", "slug").as_str() {
            "id" => Permalink::Id,
            "slug" => Permalink::Slug,
            "title" => Permalink::Title,
            other => {
                return Err(bad(
                    "PERMALINK_TYPE",
                    format!("{other:?} is not id, slug or title"),
                ))
            }
        };
        let mail = parse_mail(&get, &var)?;
        let flush_seconds = match get("LYANNA_FLUSH_CRON_SECONDS").filter(|v| !v.is_empty()) {
            None => Some(vec![0]),
            Some(v) => parse_seconds(&v)?,
        };
        let retry_delay = {
            let raw = var("LYANNA_RETRY_DELAY", "10");
            raw.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    bad(
                        "LYANNA_RETRY_DELAY",
                        format!("{raw:?} is not 0 to 3600 seconds"),
                    )
                })?
        };
        Ok(Config {
            db,
            db_url_masked: mask_url(&db_url),
            memcached,
            // The original concatenated BLOG_URL and the path, so a trailing slash made `//`.
            blog_url: blog_url.trim_end_matches('/').to_string(),
            site_title: var("SITE_TITLE", "My Blog"),
            permalink,
            mail,
            key_prefix: get("LYANNA_KEY_PREFIX").unwrap_or_else(|| "lyanna:".to_string()),
            flush_seconds,
            retry_delay,
        })
    }
}

/// `DB_URL` as the blog writes it (`mysql://user:pass@host:port/db?charset=...`). The
/// connection charset is always utf8mb4: we only read text, and utf8mb4 reads utf8mb3 tables
/// too, where the `charset=utf8` of old deployments would turn emoji in titles into `?`.
fn parse_db_url(url: &str) -> Result<MySqlConnectOptions, ConfigError> {
    if !(url.starts_with("mysql://") || url.starts_with("mariadb://")) {
        return Err(bad(
            "DB_URL",
            format!("{} is not a mysql:// URL", mask_url(url)),
        ));
    }
    MySqlConnectOptions::from_str(url)
        .map(|o| o.charset("utf8mb4"))
        .map_err(|e| bad("DB_URL", format!("{}: {e}", mask_url(url))))
}

/// `host`, `host:port`, `[v6]:port`, or a comma-separated list of them.
fn parse_memcached(raw: &str) -> Result<Vec<McTarget>, ConfigError> {
    let mut out: Vec<McTarget> = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(bad("MEMCACHED_HOST", format!("{raw:?} has an empty entry")));
        }
        let (host, port) = split_host_port(entry)
            .ok_or_else(|| bad("MEMCACHED_HOST", format!("{entry:?} is not host[:port]")))?;
        let t = McTarget {
            host: host.to_string(),
            port: port.unwrap_or(DEFAULT_MEMCACHED_PORT),
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn split_host_port(entry: &str) -> Option<(&str, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(port(p.strip_prefix(':')?)?))),
        };
    }
    match entry.split_once(':') {
        None => Some((entry, None)),
        Some((host, p)) if !host.is_empty() && !p.contains(':') => Some((host, Some(port(p)?))),
        Some(_) => None,
    }
}

fn parse_mail(
    get: &impl Fn(&str) -> Option<String>,
    var: &impl Fn(&str, &str) -> String,
) -> Result<MailConfig, ConfigError> {
    let port_raw = var("MAIL_PORT", "465");
    let port = port_raw
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("MAIL_PORT", format!("{port_raw:?} is not a port")))?;
    let tls = match get("MAIL_TLS").filter(|v| !v.is_empty()).as_deref() {
        None if port == 465 => MailTls::Implicit,
        None => MailTls::StartTls,
        Some("implicit") => MailTls::Implicit,
        Some("starttls") => MailTls::StartTls,
        Some("off") => MailTls::Off,
        Some(other) => {
            return Err(bad(
                "MAIL_TLS",
                format!("{other:?} is not implicit, starttls or off"),
            ))
        }
    };
    let ca_pem = match get("MAIL_CA_FILE").filter(|v| !v.is_empty()) {
        None => None,
        Some(path) => {
            Some(std::fs::read(&path).map_err(|e| bad("MAIL_CA_FILE", format!("{path}: {e}")))?)
        }
    };
    let mail = MailConfig {
        server: get("MAIL_SERVER").unwrap_or_else(|| "smtp.qq.com".to_string()),
        port,
        username: get("MAIL_USERNAME").unwrap_or_default(),
        password: Secret::new(get("MAIL_PASSWORD").unwrap_or_default()),
        tls,
        ca_pem,
    };
    if mail.enabled() {
        // The username is also the sender address, as in the original.
        super::mail::check_settings(&mail)?;
    }
    Ok(mail)
}

/// `*` (every second, for tests) or a comma-separated list of seconds 0-59.
fn parse_seconds(raw: &str) -> Result<Option<Vec<u32>>, ConfigError> {
    if raw.trim() == "*" {
        return Ok(None);
    }
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim) {
        match part.parse::<u32>() {
            Ok(s) if s < 60 => out.push(s),
            _ => {
                return Err(bad(
                    "LYANNA_FLUSH_CRON_SECONDS",
                    format!("{raw:?} is not * or seconds 0-59 separated by commas"),
                ))
            }
        }
    }
    Ok(Some(out))
}

/// A URL with the password of its user part replaced by `***`.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, pass)) if !pass.is_empty() => {
            format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
