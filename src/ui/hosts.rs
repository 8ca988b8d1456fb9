//! Which `Host` the dashboard answers to, against DNS rebinding: a page of `evil.example`
//! whose name the attacker re-resolves to 127.0.0.1 (or to a pod's IP) is same-origin with
//! whatever answers there, so its script could read the dashboard's pages (job arguments,
//! results). The browser still sends `Host: evil.example`, which is refused here.
//!
//! Always answered: `localhost` and any IP literal (`127.0.0.1`, `[::1]`, a pod IP), with any
//! port. An IP literal cannot be rebound: a page whose origin is an IP is that IP. Names
//! (a Service's, an Ingress's) only when `--ui-allowed-hosts` lists them: `name` exactly,
//! `.domain` for the domain and its subdomains, `*` for any Host.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The names given by `--ui-allowed-hosts`, on top of loopback and IP literals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowedHosts {
    any: bool,
    names: Vec<String>,
    /// `.domain` entries, kept without the dot.
    domains: Vec<String>,
}

/// What a request's Host header says, for [`AllowedHosts::check`].
#[derive(Debug, PartialEq)]
pub enum HostVerdict {
    Allowed,
    /// Well formed, but not a name the operator listed.
    NotAllowed,
    /// Missing, or not `host[:port]`.
    Malformed,
}

/// A DNS name as Host headers and the flag spell it: letters, digits, `-`, `_`, `.`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_port(p: &str) -> bool {
    p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The host of `host[:port]` (`[v6]` bracketed), lowercased without a trailing dot; `Ok(None)`
/// for an IP literal; `Err` when it is not a Host value.
fn host_name(value: &str) -> Result<Option<String>, ()> {
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or(())?;
        ip.parse::<Ipv6Addr>().map_err(|_| ())?;
        return match after.strip_prefix(':') {
            Some(p) if is_port(p) => Ok(None),
            None if after.is_empty() => Ok(None),
            _ => Err(()),
        };
    }
    let host = match value.split_once(':') {
        Some((h, p)) if is_port(p) => h,
        Some(_) => return Err(()),
        None => value,
    };
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(None);
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if !is_name(host) {
        return Err(());
    }
    Ok(Some(host.to_ascii_lowercase()))
}

impl AllowedHosts {
    /// `--ui-allowed-hosts`: a comma list of `name`, `.domain` or `*` (empty entries skipped).
    /// No ports (every port is allowed), schemes or paths.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = AllowedHosts::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                out.any = true;
                continue;
            }
            let (domain, name) = match entry.strip_prefix('.') {
                Some(d) => (true, d),
                None => (false, entry),
            };
            let name = name.strip_suffix('.').unwrap_or(name);
            let bracketed_ip = name
                .strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .is_some_and(|n| n.parse::<Ipv6Addr>().is_ok());
            if bracketed_ip && !domain {
                // Always allowed anyway.
                continue;
            }
            if !is_name(name) || name.starts_with('.') {
                let hint = if let Some(d) = entry.strip_prefix("*.") {
                    format!(" (write .{d} for a domain and its subdomains)")
                } else if entry.contains(':') || entry.contains('/') {
                    " (a host name only: no scheme, port or path; every port is allowed)"
                        .to_string()
                } else {
                    String::new()
                };
                return Err(format!("{entry:?} is not a host name, .domain or *{hint}"));
            }
            let name = name.to_ascii_lowercase();
            if domain {
                out.domains.push(name);
            } else {
                out.names.push(name);
            }
        }
        Ok(out)
    }

    /// Whether a request whose Host (or absolute-form authority) is `value` is answered.
    pub fn check(&self, value: Option<&str>) -> HostVerdict {
        let Some(value) = value else {
            return HostVerdict::Malformed;
        };
        let name = match host_name(value) {
            Err(()) => return HostVerdict::Malformed,
            Ok(None) => return HostVerdict::Allowed,
            Ok(Some(name)) => name,
        };
        let listed = self.names.contains(&name)
            || self.domains.iter().any(|d| {
                name == *d
                    || name
                        .strip_suffix(d.as_str())
                        .is_some_and(|sub| sub.ends_with('.'))
            });
        if self.any || name == "localhost" || listed {
            HostVerdict::Allowed
        } else {
            HostVerdict::NotAllowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HostVerdict::{Allowed, Malformed, NotAllowed};
    use super::*;

    #[test]
    fn defaults_answer_loopback_and_ip_literals_only() {
        let d = AllowedHosts::default();
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.:1",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
            "10.1.2.3:8080",
            "[fd00::5]:80",
        ] {
            assert_eq!(d.check(Some(ok)), Allowed, "{ok}");
        }
        for no in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "lyanna-arq.lyanna.svc",
            "127.0.0.1.nip.io",
        ] {
            assert_eq!(d.check(Some(no)), NotAllowed, "{no}");
        }
        for bad in [
            "",
            ":8080",
            "a b",
            "::1",
            "[::1",
            "[::1]x",
            "[nope]:80",
            "host:80:80",
            "host:http",
            "host:123456",
            "user@host",
            "h\u{0}",
        ] {
            assert_eq!(d.check(Some(bad)), Malformed, "{bad:?}");
        }
        assert_eq!(d.check(None), Malformed);
    }

    #[test]
    fn listed_names_domains_and_any() {
        let a = AllowedHosts::parse(" Lyanna-Arq , .svc.cluster.local., ").unwrap();
        assert_eq!(a.check(Some("lyanna-arq:8080")), Allowed);
        assert_eq!(a.check(Some("LYANNA-ARQ")), Allowed);
        assert_eq!(a.check(Some("svc.cluster.local")), Allowed);
        assert_eq!(a.check(Some("x.lyanna.svc.cluster.local:80")), Allowed);
        assert_eq!(a.check(Some("evilsvc.cluster.local")), NotAllowed);
        assert_eq!(a.check(Some("lyanna-arq.evil")), NotAllowed);
        assert_eq!(a.check(Some("evil.example")), NotAllowed);
        let any = AllowedHosts::parse("*").unwrap();
        assert_eq!(any.check(Some("evil.example")), Allowed);
        assert_eq!(any.check(Some("a b")), Malformed);
        assert_eq!(AllowedHosts::parse("").unwrap(), AllowedHosts::default());
        assert!(AllowedHosts::parse("[::1],127.0.0.1").is_ok());
        for bad in [
            "http://x",
            "x:8080",
            "x/ui",
            "*.example.com",
            "a b",
            "..x",
            ".",
            "[::1",
        ] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad:?}");
        }
        assert!(AllowedHosts::parse("*.example.com")
            .unwrap_err()
            .contains(".example.com"));
    }
}
