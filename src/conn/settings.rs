//! How to reach Redis, as configuration hands it over: the URL, passwords kept apart from it,
//! the sentinels, TLS trust and timeouts. Passwords are [`Secret`]s and the URL is masked, so
//! `Debug` output of any of this can go to a log.

use super::url::mask_url;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Sentinel's own default port, used when a sentinel address has none.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// The master name the blog's deployment gives its sentinels.
pub const DEFAULT_MASTER_NAME: &str = "mymaster";

/// A password or token: `Debug` and `Display` print `***`; [`Secret::expose`] is the only way
/// to the value, so every use of it can be found by that name.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// One sentinel's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for SentinelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `host[:port][,host[:port]...]` (IPv6 hosts in brackets); the port defaults to 26379.
pub fn parse_sentinels(list: &str) -> Result<Vec<SentinelAddr>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = if let Some(rest) = item.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{item:?}: unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("{item:?} is not host:port")),
            }
        } else {
            match item.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (item, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{item:?} has no host"));
        }
        let port = match port {
            None => DEFAULT_SENTINEL_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("{item:?}: {p:?} is not a port")),
            },
        };
        out.push(SentinelAddr {
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err("no sentinel address given".to_string());
    }
    Ok(out)
}

/// How to reach the queue's Redis.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://`, `rediss://` or `unix://` URL: scheme (TLS or not), user, password and
    /// database. With sentinels its host and port are not used.
    pub url: String,
    /// Replaces (or adds) the URL's password, so the secret can live apart from the URL.
    pub password: Option<Secret>,
    /// Sentinels to ask for the master; empty: connect to the URL's host.
    pub sentinels: Vec<SentinelAddr>,
    /// The master's name at the sentinels.
    pub master_name: String,
    /// The sentinels' own password (`requirepass` on the sentinels).
    pub sentinel_password: Option<Secret>,
    /// PEM file with the CA certificates that `rediss://` servers are checked against,
    /// instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// How long one command may wait for its reply.
    pub command_timeout: Duration,
}

impl RedisSettings {
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisSettings {
            url: url.into(),
            password: None,
            sentinels: Vec::new(),
            master_name: DEFAULT_MASTER_NAME.to_string(),
            sentinel_password: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
        }
    }

    /// Where we connect, for logs and errors: the URL with any password shown as `***`, or
    /// for Sentinel `redis+sentinel://[user:***@]host:port,.../master/db`.
    pub fn display(&self) -> String {
        let masked = mask_url(&self.url);
        let with_pw = match &self.password {
            Some(_) => add_masked_password(&masked),
            None => masked,
        };
        if self.sentinels.is_empty() {
            return with_pw;
        }
        let (scheme, rest) = with_pw.split_once("://").unwrap_or(("redis", &with_pw));
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let userinfo = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        let db = path.trim_start_matches('/');
        let hosts: Vec<String> = self.sentinels.iter().map(|s| s.to_string()).collect();
        let db = if db.is_empty() { "0" } else { db };
        format!(
            "{scheme}+sentinel://{userinfo}{}/{}/{db}",
            hosts.join(","),
            self.master_name
        )
    }
}

/// `redis://h` -> `redis://:***@h`; `redis://user@h` -> `redis://user:***@h`.
fn add_masked_password(masked: &str) -> String {
    let Some((scheme, rest)) = masked.split_once("://") else {
        return masked.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let user = match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.split(':').next().unwrap_or(""),
        None => "",
    };
    // A lone `redis://name@h` was masked whole (it may be a token): both parts show `***`.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{user}:***@{host}{path}")
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &mask_url(&self.url))
            .field("password", &self.password)
            .field("sentinels", &self.sentinels)
            .field("master_name", &self.master_name)
            .field("sentinel_password", &self.sentinel_password)
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let mut r = RedisSettings::from_url("redis://app:pw1@h:6379/2");
        r.password = Some(Secret::new("pw2"));
        r.sentinel_password = Some(Secret::new("pw3"));
        let dbg = format!("{r:?}");
        for pw in ["pw1", "pw2", "pw3"] {
            assert!(!dbg.contains(pw), "{dbg}");
            assert!(!r.display().contains(pw));
        }
    }

    #[test]
    fn display_shows_where_without_secrets() {
        let mut r = RedisSettings::from_url("redis://h:6379/2");
        assert_eq!(r.display(), "redis://h:6379/2");
        r.password = Some(Secret::new("x"));
        assert_eq!(r.display(), "redis://:***@h:6379/2");
        r.url = "rediss://app:old@h/1".into();
        assert_eq!(r.display(), "rediss://app:***@h/1");
        r.url = "rediss://app@h/1".into();
        assert_eq!(r.display(), "rediss://***:***@h/1");
        r.url = "rediss://app:old@h/1".into();
        r.sentinels = parse_sentinels("s1:26379,s2").unwrap();
        assert_eq!(
            r.display(),
            "rediss+sentinel://app:***@s1:26379,s2:26379/mymaster/1"
        );
        r.password = None;
        r.url = "redis://localhost:6379".into();
        assert_eq!(r.display(), "redis+sentinel://s1:26379,s2:26379/mymaster/0");
    }

    #[test]
    fn sentinel_lists() {
        let v = parse_sentinels("a:1, b ,[::1]:3,[fe80::1]").unwrap();
        assert_eq!(
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["a:1", "b:26379", "[::1]:3", "[fe80::1]:26379"]
        );
        assert!(parse_sentinels("").is_err());
        assert!(parse_sentinels("a:x").is_err());
        assert!(parse_sentinels("a:0").is_err());
        assert!(parse_sentinels(":1").is_err());
        assert!(parse_sentinels("[::1").is_err());
    }
}
